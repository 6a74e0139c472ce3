// Mamba-1 selective scan forward, fast path for N <= 16 with per-token B and C (MATH.md §2), included by scan.cu.
//
// One block = CPB = 32 channels of one batch row (all inside one B/C group); TPC = 16 / NPT threads per channel,
// each keeping NPT of the 16 (zero-padded) state entries in registers. The sequence is walked in chunks of TT
// tokens with a two-stage cp.async pipeline: while chunk k is computed, chunk k+1 (u, δ, z rows of the block's
// channels and the B/C rows of its group, 16-byte copies) is in flight. Per chunk:
//   E: Δ = softplus(δ + bias) and Δu, once per (channel, token) → s_dd [TT][CPB]; B/C transposed → s_bc [TT][2·16]
//   S: h = 2^(Δ·A·log2e)·h + Δu·B_t and the partial y_t = Σ C_t·h per thread → s_y [TT][CPB·TPC]
//   O: out = (Σ partials + D·u)·silu(z), 16-byte stores.
// TPC = 8 (NPT = 2) adds lane pairs by a shuffle so that s_y keeps 4 partials per channel.
// The exponentials of the state update are the throughput limit (the MUFU pipe does 16 per clock per SM); NPOLY
// of each thread's NPT exponentials are instead evaluated as a degree-5 polynomial on the FMA pipe (Cody–Waite
// split 2^x = 2^j·2^f, |f| <= 1/2; max relative error 2.4e-7, the same order as ex2.approx), so both pipes work.
#pragma once
#include "common.cuh"

namespace mr {
namespace cscan {

constexpr int CPB = 32;  // channels per block
constexpr int TT = 32;   // tokens per chunk
constexpr int NS = 16;   // state slots (N <= 16, zero padded)

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    int n = valid ? 16 : 0;  // 0 → the 16 bytes are zero-filled
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ float ex2_mufu(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

// 2^x on the FMA pipe: x = j + f with j = round(x) (1.5·2^23 trick), 2^f by a near-minimax polynomial of degree 5,
// 2^j added to the exponent bits. |x| is clamped to 126 (the MUFU version flushes below 2^-126 to zero; here the
// result is a denormal ≤ 2^-125.5, equally negligible next to any O(1) term).
__device__ __forceinline__ float ex2_poly(float x) {
    x = fminf(fmaxf(x, -126.f), 126.f);
    const float t = x + 12582912.f;
    const float j = t - 12582912.f;
    const float f = x - j;
    float p = 1.327645616e-03f;
    p = fmaf(p, f, 9.675540961e-03f);
    p = fmaf(p, f, 5.550713465e-02f);
    p = fmaf(p, f, 2.402212024e-01f);
    p = fmaf(p, f, 6.931469440e-01f);
    p = fmaf(p, f, 1.000000119e+00f);
    return __int_as_float(__float_as_int(p) + (__float_as_int(t) << 23));
}

// softplus(x) = max(x, 0) + log1p(exp(−|x|)) with MUFU exp2/log2: log(u) for u = 1 + e, corrected by the rounding
// of u ((u − 1) − e, divided by u ≈ 2 − u: the correction is itself ≤ 2^-24). x > 20 → x as in PyTorch.
__device__ __forceinline__ float softplus_fast(float x) {
    const float e = ex2_mufu(-fabsf(x) * kLog2e);
    const float uu = 1.f + e;
    float l;
    asm("lg2.approx.ftz.f32 %0, %1;" : "=f"(l) : "f"(uu));
    l = fmaf(l, 0.69314718055994531f, -((uu - 1.f) - e) * (2.f - uu));
    return x > 20.f ? x : fmaxf(x, 0.f) + l;
}

// VE = 16 / sizeof(T) consecutive elements of a 16-byte aligned shared-memory vector, as floats.
template <typename T>
__device__ __forceinline__ void load_vec(const unsigned char* p, float* v);
template <>
__device__ __forceinline__ void load_vec<float>(const unsigned char* p, float* v) {
    float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
}
template <>
__device__ __forceinline__ void load_vec<__half>(const unsigned char* p, float* v) {
    uint4 q = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&q);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __half22float2(h[i]);
        v[2 * i] = f.x; v[2 * i + 1] = f.y;
    }
}
template <>
__device__ __forceinline__ void load_vec<__nv_bfloat16>(const unsigned char* p, float* v) {
    uint4 q = *reinterpret_cast<const uint4*>(p);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&q);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __bfloat1622float2(h[i]);
        v[2 * i] = f.x; v[2 * i + 1] = f.y;
    }
}
template <typename T>
__device__ __forceinline__ void store_vec(T* g, const float* v);
template <>
__device__ __forceinline__ void store_vec<float>(float* g, const float* v) {
    *reinterpret_cast<float4*>(g) = make_float4(v[0], v[1], v[2], v[3]);
}
template <>
__device__ __forceinline__ void store_vec<__half>(__half* g, const float* v) {
    uint4 q;
    __half2* h = reinterpret_cast<__half2*>(&q);
#pragma unroll
    for (int i = 0; i < 4; i++) h[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(g) = q;
}
template <>
__device__ __forceinline__ void store_vec<__nv_bfloat16>(__nv_bfloat16* g, const float* v) {
    uint4 q;
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&q);
#pragma unroll
    for (int i = 0; i < 4; i++) h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
    *reinterpret_cast<uint4*>(g) = q;
}

template <typename T, int NPT, int NPOLY, int NSTAGE>
struct Cfg {
    static constexpr int TPC = NS / NPT;          // threads per channel
    static constexpr int THREADS = CPB * TPC;     // 128 / 64 / 32
    static constexpr int WARPS = THREADS / 32;
    static constexpr int ES = sizeof(T);
    static constexpr int VE = 16 / ES;            // elements per 16-byte vector
    static constexpr int VPR = TT / VE;           // vectors per stage row
    static constexpr int RB = TT * ES + 16;       // stage row bytes, padded: conflict-free 16-byte column reads
    static constexpr int ROWS = 3 * CPB + 2 * NS; // u, δ, z rows of the channels; B, C rows of the group
    static constexpr int STAGE = ROWS * RB;
    static constexpr int YP = TPC > 4 ? 4 : TPC;  // partial sums of y per channel kept in s_y (TPC = 8: pairs added by shuffle)
    static constexpr int YS = CPB * YP;           // s_y row stride (floats)
    static constexpr size_t SMEM = (size_t)NSTAGE * STAGE + (size_t)TT * CPB * 8 + (size_t)TT * 2 * NS * 4 + (size_t)TT * YS * 4;
};

template <typename T, int NPT, int NPOLY, int NSTAGE>
__global__ void __launch_bounds__(Cfg<T, NPT, NPOLY, NSTAGE>::THREADS)
chunked_scan_kernel(mr_scan_args a) {
    using C = Cfg<T, NPT, NPOLY, NSTAGE>;
    constexpr int TPC = C::TPC, VE = C::VE, VPR = C::VPR, RB = C::RB, YS = C::YS, YP = C::YP;
    const int D = a.dim, L = a.length, N = a.state;
    const int b = blockIdx.y, d0 = blockIdx.x * CPB;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int gB = d0 / (D / a.groups_b), gC = d0 / (D / a.groups_c);
    const bool has_z = a.z != nullptr;

    extern __shared__ __align__(16) unsigned char smem[];
    unsigned char* stages = smem;
    float2* s_dd = reinterpret_cast<float2*>(smem + NSTAGE * C::STAGE);
    float* s_bc = reinterpret_cast<float*>(s_dd + TT * CPB);
    float* s_y = s_bc + TT * 2 * NS;

    const T* u = (const T*)a.u;
    const T* delta = (const T*)a.delta;
    const T* z = (const T*)a.z;
    const T* Bg = (const T*)a.B + ((long long)b * a.groups_b + gB) * N * (long long)L;
    const T* Cg = (const T*)a.C + ((long long)b * a.groups_c + gC) * N * (long long)L;
    const long long row0 = ((long long)b * D + d0) * L;  // element offset of channel d0, token 0

    // The 16-byte copies of a chunk: rows u 0..31, δ 32..63, z 64..95, B 96..111, C 112..127 of VPR vectors each.
    // Thread tid owns vectors tid + j·THREADS: the same stage offsets and the same token column in every chunk, so
    // their source rows are resolved once here and each chunk only adds t0.
    constexpr int kVec = C::ROWS * VPR, JV = (kVec + C::THREADS - 1) / C::THREADS;
    static_assert(kVec % C::THREADS == 0 && C::THREADS % VPR == 0, "copy layout");
    const int col = tid % VPR;
    const T* src[JV];
    unsigned okmask = 0;
#pragma unroll
    for (int j = 0; j < JV; j++) {
        const int r = (tid + j * C::THREADS) / VPR;
        bool ok = true;
        const T* p;
        if (r < 3 * CPB) {
            const int which = r / CPB, ch = r % CPB;
            ok = which != 2 || has_z;
            p = (which == 0 ? u : which == 1 ? delta : (has_z ? z : u)) + row0 + (long long)ch * L;
        } else {
            const int n = (r - 3 * CPB) % NS;
            ok = n < N;
            p = (r < 3 * CPB + NS ? Bg : Cg) + (long long)(ok ? n : 0) * L;
        }
        src[j] = p + col * VE;
        okmask |= ok ? 1u << j : 0u;
    }
    const int soff = (tid / VPR) * RB + col * 16;
    auto issue = [&](int k, int s) {
        const int t0 = k * TT;
        const bool in = t0 + col * VE < L;
        unsigned char* st = stages + s * C::STAGE + soff;
#pragma unroll
        for (int j = 0; j < JV; j++) {
            const bool v = in && ((okmask >> j) & 1u);
            cp_async16(st + j * (C::THREADS / VPR) * RB, v ? src[j] + t0 : src[j], v);
        }
    };

    // Per-thread constants. Scan role: channel c, state slots sub*NPT .. +NPT-1. Elementwise role: channel lane.
    const int c = warp * (32 / TPC) + lane / TPC, sub = lane % TPC;
    const int d = d0 + c;
    float h[NPT], A2[NPT];
#pragma unroll
    for (int k = 0; k < NPT; k++) {
        const int n = sub * NPT + k;
        A2[k] = n < N ? a.A[(long long)d * N + n] * kLog2e : 0.f;
        h[k] = (n < N && a.h0) ? a.h0[((long long)b * D + d) * N + n] : 0.f;
    }
    const int de = d0 + lane;
    const float bias_e = a.delta_bias ? a.delta_bias[de] : 0.f;
    const float D_e = a.D ? a.D[de] : 0.f;

    const int nchunks = (L + TT - 1) / TT;
#pragma unroll
    for (int s = 0; s < NSTAGE - 1; s++) {
        if (s < nchunks) issue(s, s);
        cp_async_commit();
    }

    for (int k = 0; k < nchunks; k++) {
        const int t0 = k * TT;
        cp_async_wait<NSTAGE - 2>();
        __syncthreads();  // chunk k visible to all; every thread is done with chunk k-1 (its stage is free)
        if (k + NSTAGE - 1 < nchunks) issue(k + NSTAGE - 1, (k + NSTAGE - 1) % NSTAGE);
        cp_async_commit();
        const unsigned char* st = stages + (k % NSTAGE) * C::STAGE;

        // ---- E: Δ, Δu per (channel, token); B/C transposed to [token][B 0..15 | C 0..15] ----
        for (int g = warp; g < VPR; g += C::WARPS) {
            const int t = g * VE;
            float dl[VE], uu[VE];
            load_vec<T>(st + (CPB + lane) * RB + t * C::ES, dl);
            load_vec<T>(st + lane * RB + t * C::ES, uu);
            const bool in = t0 + t < L;
#pragma unroll
            for (int i = 0; i < VE; i++) {
                float dt = dl[i] + bias_e;
                if (a.delta_softplus) dt = softplus_fast(dt);
                dt = in ? dt : 0.f;  // tokens past the end leave the state unchanged
                s_dd[(t + i) * CPB + lane] = make_float2(dt, dt * uu[i]);
            }
            float bc[VE];
            load_vec<T>(st + (3 * CPB + lane) * RB + t * C::ES, bc);
#pragma unroll
            for (int i = 0; i < VE; i++) s_bc[(t + i) * 2 * NS + lane] = bc[i];
        }
        __syncthreads();

        // ---- S: the recurrence over the chunk, U tokens at a time; the operands of the next U tokens are loaded
        // before this group's partial sums are stored (the compiler cannot move shared loads above those stores) ----
        {
            constexpr int U = 4;
            constexpr int BW = NPT >= 4 ? 4 : 2;  // floats per B/C shared load
            const float2* dd = s_dd + c;
            const float* bp = s_bc + sub * NPT;
            float* yp = s_y + c * YP + sub / (TPC / YP);
            float2 v[2][U];
            float bt[2][U][NPT], ct[2][U][NPT];
            auto load = [&](int t, int buf) {
#pragma unroll
                for (int q = 0; q < U; q++) {
                    v[buf][q] = dd[(t + q) * CPB];
#pragma unroll
                    for (int k = 0; k < NPT; k += BW) {
                        if constexpr (BW == 4) {
                            float4 b4 = *reinterpret_cast<const float4*>(bp + (t + q) * 2 * NS + k);
                            float4 c4 = *reinterpret_cast<const float4*>(bp + (t + q) * 2 * NS + NS + k);
                            bt[buf][q][k] = b4.x; bt[buf][q][k + 1] = b4.y; bt[buf][q][k + 2] = b4.z; bt[buf][q][k + 3] = b4.w;
                            ct[buf][q][k] = c4.x; ct[buf][q][k + 1] = c4.y; ct[buf][q][k + 2] = c4.z; ct[buf][q][k + 3] = c4.w;
                        } else {
                            float2 b2 = *reinterpret_cast<const float2*>(bp + (t + q) * 2 * NS + k);
                            float2 c2 = *reinterpret_cast<const float2*>(bp + (t + q) * 2 * NS + NS + k);
                            bt[buf][q][k] = b2.x; bt[buf][q][k + 1] = b2.y;
                            ct[buf][q][k] = c2.x; ct[buf][q][k + 1] = c2.y;
                        }
                    }
                }
            };
            load(0, 0);
#pragma unroll
            for (int g = 0; g < TT / U; g++) {
                const int cur = g & 1;
                if (g + 1 < TT / U) load((g + 1) * U, cur ^ 1);
                float yv[U];
#pragma unroll
                for (int q = 0; q < U; q++) {
                    float y0 = 0.f, y1 = 0.f;
#pragma unroll
                    for (int k = 0; k < NPT; k++) {
                        const float x = v[cur][q].x * A2[k];
                        const float e = k < NPOLY ? ex2_poly(x) : ex2_mufu(x);
                        h[k] = fmaf(e, h[k], v[cur][q].y * bt[cur][q][k]);
                        if (k & 1) y1 = fmaf(ct[cur][q][k], h[k], y1); else y0 = fmaf(ct[cur][q][k], h[k], y0);
                    }
                    yv[q] = y0 + y1;
                }
                if constexpr (TPC > YP) {
#pragma unroll
                    for (int q = 0; q < U; q++) yv[q] += __shfl_xor_sync(0xffffffffu, yv[q], 1);
                    if ((sub & 1) == 0) {
#pragma unroll
                        for (int q = 0; q < U; q++) yp[(g * U + q) * YS] = yv[q];
                    }
                } else {
#pragma unroll
                    for (int q = 0; q < U; q++) yp[(g * U + q) * YS] = yv[q];
                }
            }
        }
        __syncthreads();

        // ---- O: out = (y + D u) silu(z) ----
        for (int g = warp; g < VPR; g += C::WARPS) {
            const int t = g * VE;
            if (t0 + t >= L) continue;
            float uu[VE], zz[VE], o[VE];
            load_vec<T>(st + lane * RB + t * C::ES, uu);
            if (has_z) load_vec<T>(st + (2 * CPB + lane) * RB + t * C::ES, zz);
#pragma unroll
            for (int i = 0; i < VE; i++) {
                const float* yr = s_y + (t + i) * YS + lane * YP;
                float y = 0.f;
                if constexpr (YP == 4) {
                    float4 p = *reinterpret_cast<const float4*>(yr);
                    y = (p.x + p.y) + (p.z + p.w);
                } else if constexpr (YP == 2) {
                    float2 p = *reinterpret_cast<const float2*>(yr);
                    y = p.x + p.y;
                } else {
                    y = yr[0];
                }
                y = fmaf(D_e, uu[i], y);
                if (has_z) y *= silu(zz[i]);
                o[i] = y;
            }
            store_vec<T>((T*)a.out + row0 + (long long)lane * L + t0 + t, o);
        }
    }
    cp_async_wait<0>();

    if (a.last_state) {
#pragma unroll
        for (int k = 0; k < NPT; k++) {
            const int n = sub * NPT + k;
            if (n < N) a.last_state[((long long)b * D + d) * N + n] = h[k];
        }
    }
}

// Whether the fast path applies: per-token B and C, N <= 16, every block of 32 channels inside one group of B and
// of C, L a multiple of the 16-byte vector, 16-byte aligned tensors.
inline bool applicable(const mr_scan_args& a, int es) {
    auto al = [](const void* p) { return ((uintptr_t)p & 15) == 0; };
    const int ve = 16 / es;
    return a.b_variable && a.c_variable && a.state <= NS && (a.dim / a.groups_b) % CPB == 0 &&
           (a.dim / a.groups_c) % CPB == 0 && a.length % ve == 0 && al(a.u) && al(a.delta) && al(a.B) && al(a.C) &&
           al(a.out) && (!a.z || al(a.z));
}

template <typename T, int NPT, int NPOLY, int NSTAGE>
int launch(const mr_scan_args& a) {
    using C = Cfg<T, NPT, NPOLY, NSTAGE>;
    auto kernel = chunked_scan_kernel<T, NPT, NPOLY, NSTAGE>;
    MR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM), "scan smem attribute");
    dim3 grid(a.dim / CPB, a.batch);
    kernel<<<grid, C::THREADS, C::SMEM>>>(a);
    MR_CHECK_CUDA(cudaGetLastError(), "selective scan (chunked) launch");
    return MR_OK;
}

}  // namespace cscan
}  // namespace mr
