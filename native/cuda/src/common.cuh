// Shared helpers of the MambaRef CUDA library (internal; not part of the C ABI).
#pragma once
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cstdio>
#include <cstdarg>
#include "mambaref_cuda.h"

namespace mr {

// Records the message for mr_last_error() and returns the status.
int fail(int status, const char* fmt, ...);
// Maps a CUDA error to a status (with the CUDA message); MR_OK when err == cudaSuccess.
int cuda_status(cudaError_t err, const char* what);

#define MR_CHECK_CUDA(expr, what)                         \
    do {                                                  \
        cudaError_t e_ = (expr);                          \
        if (e_ != cudaSuccess) return ::mr::cuda_status(e_, what); \
    } while (0)

#define MR_REQUIRE(cond, ...)                                               \
    do {                                                                    \
        if (!(cond)) return ::mr::fail(MR_ERR_INVALID_ARGUMENT, __VA_ARGS__); \
    } while (0)

constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// softplus with PyTorch's threshold (x > 20 → x), accurate for small e^x.
__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }
__device__ __forceinline__ float silu(float x) { return x / (1.f + expf(-x)); }

// Milliseconds per call of run() (which returns a status), by CUDA events over iters calls after one warm-up
// call; the events are released on every path.
template <typename Run>
int time_calls(Run run, int32_t iters, float* ms_per_call) {
    MR_REQUIRE(ms_per_call && iters >= 1, "timing: ms_per_call is NULL or iters < 1");
    int st = run();
    if (st) return st;
    cudaEvent_t e0, e1;
    MR_CHECK_CUDA(cudaEventCreate(&e0), "timing event");
    cudaError_t err = cudaEventCreate(&e1);
    if (err != cudaSuccess) {
        cudaEventDestroy(e0);
        return cuda_status(err, "timing event");
    }
    cudaEventRecord(e0);
    for (int i = 0; i < iters && st == MR_OK; i++) st = run();
    cudaEventRecord(e1);
    err = cudaEventSynchronize(e1);
    float ms = 0;
    if (st == MR_OK && err == cudaSuccess) cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    if (st) return st;
    if (err != cudaSuccess) return cuda_status(err, "timing sync");
    *ms_per_call = ms / iters;
    return MR_OK;
}

}  // namespace mr
