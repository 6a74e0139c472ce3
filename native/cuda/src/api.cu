// Library entry points: errors, device queries, memory, conv1d, decode steps, timing.
#include "common.cuh"
#include <cstring>

namespace mr {

static thread_local char g_last_error[1024];

int fail(int status, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return status;
}

int cuda_status(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return MR_OK;
    cudaGetLastError();  // clear sticky-free errors
    int status = MR_ERR_CUDA;
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) status = MR_ERR_NO_DEVICE;
    if (err == cudaErrorMemoryAllocation) status = MR_ERR_OUT_OF_MEMORY;
    return fail(status, "%s: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
}

// ---- causal depthwise conv1d ------------------------------------------------------------------
__global__ void conv1d_fwd_kernel(int B, int D, int L, int K, const float* __restrict__ x,
                                  const float* __restrict__ w, const float* __restrict__ bias, int act,
                                  float* __restrict__ out) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    long long total = (long long)B * D * L;
    if (i >= total) return;
    int t = (int)(i % L);
    long long row = i / L;
    int d = (int)(row % D);
    const float* xr = x + row * L;
    float acc = bias ? bias[d] : 0.f;
    for (int j = 0; j < K; j++) {
        int tau = t - (K - 1) + j;
        if (tau >= 0) acc = fmaf(w[d * K + j], xr[tau], acc);
    }
    out[i] = act ? silu(acc) : acc;
}

__global__ void conv1d_step_kernel(int B, int D, int K, const float* __restrict__ x, float* __restrict__ state,
                                   const float* __restrict__ w, const float* __restrict__ bias, int act,
                                   float* __restrict__ out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= B * D) return;
    int d = i % D;
    float* s = state + (long long)i * K;
    for (int j = 0; j + 1 < K; j++) s[j] = s[j + 1];
    s[K - 1] = x[i];
    float acc = bias ? bias[d] : 0.f;
    for (int j = 0; j < K; j++) acc = fmaf(w[d * K + j], s[j], acc);
    out[i] = act ? silu(acc) : acc;
}

// ---- decode steps ------------------------------------------------------------------------------
__global__ void scan_step_kernel(mr_scan_step_args a) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= a.batch * a.dim) return;
    int b = i / a.dim, d = i % a.dim, N = a.state;
    int g = d / (a.dim / a.groups);
    float dt = a.delta[i] + (a.delta_bias ? a.delta_bias[d] : 0.f);
    if (a.delta_softplus) dt = softplus(dt);
    float u = a.u[i];
    const float* Bp = a.B + ((long long)b * a.groups + g) * N;
    const float* Cp = a.C + ((long long)b * a.groups + g) * N;
    float* h = a.ssm_state + (long long)i * N;
    float y = 0.f;
    for (int n = 0; n < N; n++) {
        float hn = expf(dt * a.A[d * N + n]) * h[n] + dt * Bp[n] * u;
        h[n] = hn;
        y = fmaf(Cp[n], hn, y);
    }
    if (a.D) y += a.D[d] * u;
    if (a.z) y *= silu(a.z[i]);
    a.y[i] = y;
}

__global__ void ssd_step_kernel(mr_ssd_step_args a) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int HP = a.heads * a.head_dim;
    if (i >= a.batch * HP) return;
    int b = i / HP, hp = i % HP, h = hp / a.head_dim, N = a.state;
    int g = h / (a.heads / a.groups);
    float dt = a.dt[b * a.heads + h] + (a.dt_bias ? a.dt_bias[h] : 0.f);
    if (a.dt_softplus) dt = softplus(dt);
    if (a.dt_limit) dt = fminf(fmaxf(dt, a.dt_min), a.dt_max);
    float dA = expf(dt * a.A[h]);
    float x = a.x[i];
    const float* Bp = a.B + ((long long)b * a.groups + g) * N;
    const float* Cp = a.C + ((long long)b * a.groups + g) * N;
    float* s = a.ssm_state + (long long)i * N;
    float y = 0.f;
    for (int n = 0; n < N; n++) {
        float sn = dA * s[n] + dt * x * Bp[n];
        s[n] = sn;
        y = fmaf(Cp[n], sn, y);
    }
    if (a.D) y += (a.d_per_channel ? a.D[hp] : a.D[h]) * x;
    if (a.z) y *= silu(a.z[i]);
    a.y[i] = y;
}

}  // namespace mr

using namespace mr;

extern "C" {

int mr_abi_version(void) { return MR_ABI_VERSION; }

const char* mr_last_error(void) { return g_last_error; }

int mr_device_count(int* count) {
    MR_REQUIRE(count, "count is NULL");
    *count = 0;
    MR_CHECK_CUDA(cudaGetDeviceCount(count), "cudaGetDeviceCount");
    return MR_OK;
}

int mr_device_info(int device, char* name, int name_len, int* cc_major, int* cc_minor, uint64_t* total_bytes,
                   int* sm_count) {
    cudaDeviceProp p;
    MR_CHECK_CUDA(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties");
    if (name && name_len > 0) {
        strncpy(name, p.name, (size_t)name_len - 1);
        name[name_len - 1] = 0;
    }
    if (cc_major) *cc_major = p.major;
    if (cc_minor) *cc_minor = p.minor;
    if (total_bytes) *total_bytes = p.totalGlobalMem;
    if (sm_count) *sm_count = p.multiProcessorCount;
    return MR_OK;
}

int mr_set_device(int device) {
    MR_CHECK_CUDA(cudaSetDevice(device), "cudaSetDevice");
    return MR_OK;
}

int mr_synchronize(void) {
    MR_CHECK_CUDA(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    return MR_OK;
}

int mr_malloc(void** d_ptr, uint64_t bytes) {
    MR_REQUIRE(d_ptr, "d_ptr is NULL");
    *d_ptr = nullptr;
    MR_CHECK_CUDA(cudaMalloc(d_ptr, bytes ? bytes : 1), "cudaMalloc");
    return MR_OK;
}

int mr_free(void* d_ptr) {
    if (!d_ptr) return MR_OK;
    MR_CHECK_CUDA(cudaFree(d_ptr), "cudaFree");
    return MR_OK;
}

int mr_memcpy_h2d(void* d_dst, const void* src, uint64_t bytes) {
    MR_CHECK_CUDA(cudaMemcpy(d_dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host to device");
    return MR_OK;
}

int mr_memcpy_d2h(void* dst, const void* d_src, uint64_t bytes) {
    MR_CHECK_CUDA(cudaMemcpy(dst, d_src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device to host");
    return MR_OK;
}

int mr_memset(void* d_dst, int value, uint64_t bytes) {
    MR_CHECK_CUDA(cudaMemset(d_dst, value, bytes), "cudaMemset");
    return MR_OK;
}

int mr_causal_conv1d_fwd(int32_t batch, int32_t dim, int32_t length, int32_t kernel, const float* x,
                         const float* weight, const float* bias, int32_t silu_act, float* out) {
    MR_REQUIRE(batch >= 1 && dim >= 1 && length >= 1 && kernel >= 1, "conv1d: batch, dim, length, kernel must be >= 1");
    MR_REQUIRE(x && weight && out, "conv1d: x, weight and out are required");
    long long total = (long long)batch * dim * length;
    int threads = 256;
    conv1d_fwd_kernel<<<(unsigned)((total + threads - 1) / threads), threads>>>(batch, dim, length, kernel, x, weight,
                                                                                 bias, silu_act, out);
    MR_CHECK_CUDA(cudaGetLastError(), "conv1d launch");
    return MR_OK;
}

int mr_causal_conv1d_step(int32_t batch, int32_t dim, int32_t kernel, const float* x, float* conv_state,
                          const float* weight, const float* bias, int32_t silu_act, float* out) {
    MR_REQUIRE(batch >= 1 && dim >= 1 && kernel >= 1, "conv1d step: batch, dim, kernel must be >= 1");
    MR_REQUIRE(x && conv_state && weight && out, "conv1d step: x, conv_state, weight and out are required");
    int total = batch * dim, threads = 256;
    conv1d_step_kernel<<<(total + threads - 1) / threads, threads>>>(batch, dim, kernel, x, conv_state, weight, bias,
                                                                     silu_act, out);
    MR_CHECK_CUDA(cudaGetLastError(), "conv1d step launch");
    return MR_OK;
}

int mr_selective_scan_step(const mr_scan_step_args* a) {
    MR_REQUIRE(a, "args is NULL");
    MR_REQUIRE(a->batch >= 1 && a->dim >= 1 && a->state >= 1, "scan step: batch, dim, state must be >= 1");
    MR_REQUIRE(a->groups >= 1 && a->dim % a->groups == 0, "scan step: groups (%d) must divide dim (%d)", a->groups, a->dim);
    MR_REQUIRE(a->u && a->delta && a->A && a->B && a->C && a->ssm_state && a->y, "scan step: u, delta, A, B, C, ssm_state, y are required");
    int total = a->batch * a->dim, threads = 128;
    scan_step_kernel<<<(total + threads - 1) / threads, threads>>>(*a);
    MR_CHECK_CUDA(cudaGetLastError(), "scan step launch");
    return MR_OK;
}

int mr_ssd_step(const mr_ssd_step_args* a) {
    MR_REQUIRE(a, "args is NULL");
    MR_REQUIRE(a->batch >= 1 && a->heads >= 1 && a->head_dim >= 1 && a->state >= 1, "ssd step: sizes must be >= 1");
    MR_REQUIRE(a->groups >= 1 && a->heads % a->groups == 0, "ssd step: groups (%d) must divide heads (%d)", a->groups, a->heads);
    MR_REQUIRE(a->x && a->dt && a->A && a->B && a->C && a->ssm_state && a->y, "ssd step: x, dt, A, B, C, ssm_state, y are required");
    int total = a->batch * a->heads * a->head_dim, threads = 128;
    ssd_step_kernel<<<(total + threads - 1) / threads, threads>>>(*a);
    MR_CHECK_CUDA(cudaGetLastError(), "ssd step launch");
    return MR_OK;
}

}  // extern "C"
