// Mamba-1 selective scan forward (MATH.md §2).
//
// Per-token B and C with N <= 16 (the Mamba-1 case) take the fast path of scan_warp.cuh (warps of 8 channels);
// everything else takes the general kernel below.
//
// General kernel: one block of 128 threads handles CPB channels of one batch row; TPC threads share a channel and
// each keeps NPT state entries in registers (N <= NPT*TPC). The sequence is walked in chunks of TT tokens:
//   load:   u, δ, z tiles (coalesced along L) → Δ = softplus(δ + bias), Δu into shared memory (transposed);
//           per-token B/C of the groups the block touches → shared memory;
//   scan:   h = exp2(Δ·A·log2e)·h + Δu·B_t, y_t = Σ C_t·h (partial sums reduced across the TPC lanes);
//   store:  out = (y + D·u)·silu(z), coalesced along L.
#include "common.cuh"
#include "scan_warp.cuh"
#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace mr {

struct ScanParams {
    mr_scan_args a;
    int groups_in_block;  // max number of B/C groups one block touches (shared-memory tiles)
    int bc_smem;          // 1: per-token B/C tiles in shared memory; 0: read from global memory
};

template <int NPT, int TPC>
struct ScanCfg {
    static constexpr int kThreads = 128;
    static constexpr int CPB = kThreads / TPC;                  // channels per block
    static constexpr int TT = (2048 / CPB) < 64 ? (2048 / CPB) : 64;  // tokens per chunk
    static constexpr int NP = NPT * TPC;                        // padded state size
    static constexpr int LD = CPB + 1;                          // row stride of [TT][CPB] tiles
};

template <int NPT, int TPC>
static size_t scan_smem_bytes(int groups_in_block, int bc_smem) {
    using C = ScanCfg<NPT, TPC>;
    size_t f = 4 * (size_t)C::TT * C::LD + (size_t)C::kThreads * (C::TT + 1) + (bc_smem ? 2 * (size_t)groups_in_block * C::TT * C::NP : 0);
    return f * sizeof(float);
}

template <typename T, int NPT, int TPC>
__global__ void __launch_bounds__(128, 3) selective_scan_kernel(ScanParams P) {
    using Cfg = ScanCfg<NPT, TPC>;
    constexpr int CPB = Cfg::CPB, TT = Cfg::TT, NP = Cfg::NP, LD = Cfg::LD;
    const mr_scan_args& a = P.a;
    const int D = a.dim, L = a.length, N = a.state;
    const int b = blockIdx.y, d0 = blockIdx.x * CPB;
    const int tid = threadIdx.x, c = tid / TPC, sub = tid % TPC, d = d0 + c;
    const bool active = d < D;
    const int dg = min(d, D - 1);
    const int cpgB = D / a.groups_b, cpgC = D / a.groups_c;
    const int gB = dg / cpgB, gC = dg / cpgC;
    const int gB0 = d0 / cpgB, gC0 = d0 / cpgC;

    extern __shared__ float sm[];
    float* s_dt = sm;
    float* s_du = s_dt + TT * LD;
    float* s_u = s_du + TT * LD;
    float* s_z = s_u + TT * LD;
    float* s_y = s_z + TT * LD;
    float* s_B = s_y + Cfg::kThreads * (TT + 1);  // s_y: per-lane partial sums [c][sub][TT+1]
    float* s_C = s_B + P.groups_in_block * TT * NP;

    const T* u = (const T*)a.u;
    const T* delta = (const T*)a.delta;
    const T* z = (const T*)a.z;
    const T* Bv = (const T*)a.B;
    const T* Cv = (const T*)a.C;
    const float* Bs = (const float*)a.B;
    const float* Cs = (const float*)a.C;

    float h[NPT], A2[NPT], bst[NPT], cst[NPT];
#pragma unroll
    for (int k = 0; k < NPT; k++) {
        int n = sub * NPT + k;
        bool v = active && n < N;
        A2[k] = v ? a.A[dg * N + n] * kLog2e : 0.f;
        h[k] = (v && a.h0) ? a.h0[((long long)b * D + d) * N + n] : 0.f;
        bst[k] = (v && !a.b_variable) ? Bs[dg * N + n] : 0.f;
        cst[k] = (v && !a.c_variable) ? Cs[dg * N + n] : 0.f;
    }

    // Raw u, δ, z of one chunk, held in registers so the next chunk's loads fly during the current scan.
    constexpr int IT = CPB * TT / Cfg::kThreads;
    float ru[IT], rd[IT], rz[IT];
    auto prefetch = [&](int t0) {
        const int cl = min(TT, L - t0);
#pragma unroll
        for (int j = 0; j < IT; j++) {
            int i = tid + j * Cfg::kThreads, cc = i / TT, t = i % TT, dd = d0 + cc;
            ru[j] = 0.f; rd[j] = 0.f; rz[j] = 0.f;
            if (dd < D && t < cl) {
                long long idx = ((long long)b * D + dd) * L + t0 + t;
                ru[j] = to_f(u[idx]);
                rd[j] = to_f(delta[idx]);
                if (z) rz[j] = to_f(z[idx]);
            }
        }
    };
    prefetch(0);

    for (int t0 = 0; t0 < L; t0 += TT) {
        const int cl = min(TT, L - t0);
        // ---- registers → shared memory (Δ = softplus(δ + bias), Δu) ----
#pragma unroll
        for (int j = 0; j < IT; j++) {
            int i = tid + j * Cfg::kThreads, cc = i / TT, t = i % TT, dd = d0 + cc;
            float dt = 0.f;
            if (dd < D && t < cl) {
                dt = rd[j] + (a.delta_bias ? a.delta_bias[dd] : 0.f);
                if (a.delta_softplus) dt = softplus(dt);
            }
            s_dt[t * LD + cc] = dt;
            s_du[t * LD + cc] = dt * ru[j];
            s_u[t * LD + cc] = ru[j];
            s_z[t * LD + cc] = rz[j];
        }
        if (P.bc_smem) {
            constexpr int kPer = (NP * TT + Cfg::kThreads - 1) / Cfg::kThreads;
            for (int gi = 0; gi < P.groups_in_block; gi++) {
#pragma unroll
            for (int j = 0; j < kPer; j++) {
                int r = tid + j * Cfg::kThreads;
                if (r >= NP * TT) break;
                int n = r / TT, t = r % TT;
                float vb = 0.f, vc = 0.f;
                if (n < N && t < cl) {
                    if (a.b_variable && gB0 + gi < a.groups_b)
                        vb = to_f(Bv[(((long long)b * a.groups_b + gB0 + gi) * N + n) * L + t0 + t]);
                    if (a.c_variable && gC0 + gi < a.groups_c)
                        vc = to_f(Cv[(((long long)b * a.groups_c + gC0 + gi) * N + n) * L + t0 + t]);
                }
                s_B[(gi * TT + t) * NP + n] = vb;
                s_C[(gi * TT + t) * NP + n] = vc;
            }
            }
        }
        __syncthreads();
        if (t0 + TT < L) prefetch(t0 + TT);

        // ---- scan ----
        const float* sB = s_B + (gB - gB0) * TT * NP + sub * NPT;
        const float* sC = s_C + (gC - gC0) * TT * NP + sub * NPT;
        // Fixed trip count (tokens past the end have Δ = 0, Δu = 0, B = C = 0: the state is unchanged).
#pragma unroll 2
        for (int t = 0; t < (P.bc_smem ? TT : cl); t++) {
            const float dt = s_dt[t * LD + c], du = s_du[t * LD + c];
            float bt[NPT], ct[NPT];
            if (P.bc_smem) {
                if constexpr (NPT % 4 == 0) {
#pragma unroll
                    for (int k = 0; k < NPT; k += 4) {
                        float4 vb = *reinterpret_cast<const float4*>(sB + t * NP + k);
                        float4 vc = *reinterpret_cast<const float4*>(sC + t * NP + k);
                        bt[k] = vb.x; bt[k + 1] = vb.y; bt[k + 2] = vb.z; bt[k + 3] = vb.w;
                        ct[k] = vc.x; ct[k + 1] = vc.y; ct[k + 2] = vc.z; ct[k + 3] = vc.w;
                    }
                } else {
#pragma unroll
                    for (int k = 0; k < NPT; k += 2) {
                        float2 vb = *reinterpret_cast<const float2*>(sB + t * NP + k);
                        float2 vc = *reinterpret_cast<const float2*>(sC + t * NP + k);
                        bt[k] = vb.x; bt[k + 1] = vb.y;
                        ct[k] = vc.x; ct[k + 1] = vc.y;
                    }
                }
            } else {
#pragma unroll
                for (int k = 0; k < NPT; k++) {
                    int n = sub * NPT + k;
                    bool v = active && n < N;
                    bt[k] = (v && a.b_variable) ? to_f(Bv[(((long long)b * a.groups_b + gB) * N + n) * L + t0 + t]) : 0.f;
                    ct[k] = (v && a.c_variable) ? to_f(Cv[(((long long)b * a.groups_c + gC) * N + n) * L + t0 + t]) : 0.f;
                }
            }
            if (!a.b_variable) {
#pragma unroll
                for (int k = 0; k < NPT; k++) bt[k] = bst[k];
            }
            if (!a.c_variable) {
#pragma unroll
                for (int k = 0; k < NPT; k++) ct[k] = cst[k];
            }
            float y0 = 0.f, y1 = 0.f;
#pragma unroll
            for (int k = 0; k < NPT; k++) {
                float dA = exp2f(dt * A2[k]);
                h[k] = fmaf(dA, h[k], du * bt[k]);
                if (k & 1) y1 = fmaf(ct[k], h[k], y1); else y0 = fmaf(ct[k], h[k], y0);
            }
            // Partial sums of this lane's states; the store phase adds the TPC partials of a channel.
            s_y[(c * TPC + sub) * (TT + 1) + t] = y0 + y1;
        }
        __syncthreads();

        // ---- store ----
        for (int i = tid; i < CPB * TT; i += Cfg::kThreads) {
            int cc = i / TT, t = i % TT, dd = d0 + cc;
            if (dd < D && t < cl) {
                float y = 0.f;
#pragma unroll
                for (int q = 0; q < TPC; q++) y += s_y[(cc * TPC + q) * (TT + 1) + t];
                if (a.D) y = fmaf(a.D[dd], s_u[t * LD + cc], y);
                if (z) y *= silu(s_z[t * LD + cc]);
                ((T*)a.out)[((long long)b * D + dd) * L + t0 + t] = from_f<T>(y);
            }
        }
        __syncthreads();
    }

    if (a.last_state) {
#pragma unroll
        for (int k = 0; k < NPT; k++) {
            int n = sub * NPT + k;
            if (active && n < N) a.last_state[((long long)b * D + d) * N + n] = h[k];
        }
    }
}

template <typename T, int NPT, int TPC>
static int launch_scan(const mr_scan_args& a) {
    using Cfg = ScanCfg<NPT, TPC>;
    ScanParams p;
    p.a = a;
    // Groups a block of CPB consecutive channels can touch.
    int cpg = std::min(a.dim / a.groups_b, a.dim / a.groups_c);
    int gib = std::min(Cfg::CPB / std::max(cpg, 1) + 2, std::max(a.groups_b, a.groups_c));
    p.groups_in_block = gib;
    size_t bytes = scan_smem_bytes<NPT, TPC>(gib, 1);
    p.bc_smem = (a.b_variable || a.c_variable) && bytes <= 160 * 1024;
    if (!p.bc_smem) {
        p.groups_in_block = 0;
        bytes = scan_smem_bytes<NPT, TPC>(0, 0);
    }
    auto kernel = selective_scan_kernel<T, NPT, TPC>;
    MR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), "scan smem attribute");
    dim3 grid((a.dim + Cfg::CPB - 1) / Cfg::CPB, a.batch);
    kernel<<<grid, Cfg::kThreads, bytes>>>(p);
    MR_CHECK_CUDA(cudaGetLastError(), "selective scan launch");
    return MR_OK;
}

// The fast path (scan_warp.cuh) where it applies, else the general kernel above. MAMBAREF_CUDA_SCAN_KERNEL=legacy
// (read once per process; benchmarks) forces the general kernel.
template <typename T>
static int dispatch_scan(const mr_scan_args& a) {
    int N = a.state;
    static const char* env = getenv("MAMBAREF_CUDA_SCAN_KERNEL");
    const bool legacy = env && !strcmp(env, "legacy");
    if (env && *env && !legacy)
        return fail(MR_ERR_INVALID_ARGUMENT, "MAMBAREF_CUDA_SCAN_KERNEL: unknown value '%s' (only 'legacy')", env);
    if (!legacy) {
        const int st = wscan::try_launch<T>(a);
        if (st >= 0) return st;
    }
    if (N <= 4) return launch_scan<T, 4, 1>(a);
    if (N <= 8) return launch_scan<T, 4, 2>(a);
    if (N <= 16) {
        // 2 states per thread (16 channels per block) when 4 per thread would leave fewer than ~6 blocks per SM.
        static int sms = 0;
        if (!sms && cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) sms = 132;
        long long blocks4 = (long long)a.batch * ((a.dim + 31) / 32);
        if (blocks4 < 6LL * sms) return launch_scan<T, 2, 8>(a);
        return launch_scan<T, 4, 4>(a);
    }
    if (N <= 32) return launch_scan<T, 4, 8>(a);
    if (N <= 64) return launch_scan<T, 4, 16>(a);
    if (N <= 128) return launch_scan<T, 4, 32>(a);
    return launch_scan<T, 8, 32>(a);
}

}  // namespace mr

using namespace mr;

extern "C" int mr_selective_scan_fwd(const mr_scan_args* a) {
    MR_REQUIRE(a, "args is NULL");
    MR_REQUIRE(a->batch >= 1 && a->dim >= 1 && a->length >= 1 && a->state >= 1,
               "selective scan: batch, dim, length, state must be >= 1 (got %d, %d, %d, %d)", a->batch, a->dim, a->length, a->state);
    MR_REQUIRE(a->state <= 256, "selective scan: state size %d > 256 is not supported", a->state);
    MR_REQUIRE(a->groups_b >= 1 && a->dim % a->groups_b == 0 && a->groups_c >= 1 && a->dim % a->groups_c == 0,
               "selective scan: groups (%d, %d) must divide dim %d", a->groups_b, a->groups_c, a->dim);
    MR_REQUIRE(a->u && a->delta && a->A && a->B && a->C && a->out, "selective scan: u, delta, A, B, C, out are required");
    switch (a->dtype) {
        case MR_F32: return dispatch_scan<float>(*a);
        case MR_F16: return dispatch_scan<__half>(*a);
        case MR_BF16: return dispatch_scan<__nv_bfloat16>(*a);
        default: return fail(MR_ERR_INVALID_ARGUMENT, "selective scan: unknown dtype %d", a->dtype);
    }
}

extern "C" int mr_time_selective_scan(const mr_scan_args* a, int32_t iters, float* ms_per_call) {
    return mr::time_calls([a] { return mr_selective_scan_fwd(a); }, iters, ms_per_call);
}
