// Mamba-2 chunked SSD forward (MATH.md §3): the four steps fused, one block per (P-tile, head, batch row),
// walking the chunks of Q = 64 tokens in order with the running state on chip (with seq_idx, every decay across a
// change of sequence is 0, so the state restarts at each packed sequence):
//   (1) diagonal block   Y  = (C Bᵀ ∘ decay ∘ causal mask ∘ Δ) X
//   (4) off-diagonal     Y += diag(exp(cum)) C S'ᵀ                      (S' = state before the chunk)
//   (2) chunk state      S_c = (X ∘ exp(cum_last − cum) Δ)ᵀ B
//   (3) state passing    S' ← exp(cum_last) S' + S_c
// Tensor-core path (f16/bf16 storage): WMMA 16×16×16 products with float32 accumulation; the running state stays
// float32 in accumulator fragments and a 16-bit copy feeds step (4). float32 path: CUDA-core products in smem.
#include "common.cuh"
#include <mma.h>
#include <cstdlib>
#include <cstring>

namespace mr {

namespace wm = nvcuda::wmma;

constexpr int kQ = 64;       // chunk length
constexpr int kPT = 32;      // head-dim tile per block
constexpr int kNMax = 128;   // largest state size (padded to 16)
constexpr int kSsdThreads = 256;

struct SsdShape {
    int NP;  // N padded to a multiple of 16
};

// Δ for the chunk and the inclusive prefix sums cum_i = Σ_{s<=i} Δ_s A (tokens past the end get Δ = 0), in two
// steps so that the loads can be issued ahead: dt_load gives lane l of warp 0 the raw dt of tokens 2l, 2l + 1;
// dt_finish (warp 0) adds the bias, applies softplus / the limit and writes Δ and the prefix sums.
template <typename T>
__device__ __forceinline__ void dt_load(const mr_ssd_args& a, int b, int h, int t0, int cl, float (&raw)[2]) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int i = lane * 2 + r;
        raw[r] = i < cl ? to_f(((const T*)a.dt)[((long long)b * a.length + t0 + i) * a.heads + h]) : 0.f;
    }
}
// s_w (may be NULL): the chunk-state weights w_i = exp(cum_last − cum_i)·Δ_i.
__device__ __forceinline__ void dt_finish(const mr_ssd_args& a, int h, int cl, const float (&raw)[2], float* s_dt, float* s_cum,
                                          float* s_w = nullptr) {
    const int lane = threadIdx.x & 31;
    const float A = a.A[h];
    float v[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int i = lane * 2 + r;
        float dt = 0.f;
        if (i < cl) {
            dt = raw[r] + (a.dt_bias ? a.dt_bias[h] : 0.f);
            if (a.dt_softplus) dt = softplus(dt);
            if (a.dt_limit) dt = fminf(fmaxf(dt, a.dt_min), a.dt_max);
        }
        s_dt[i] = dt;
        v[r] = dt * A;
    }
    const float pair = v[0] + v[1];
    float incl = pair;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
        const float o = __shfl_up_sync(0xffffffffu, incl, off);
        if (lane >= off) incl += o;
    }
    const float excl = incl - pair;
    s_cum[lane * 2] = excl + v[0];
    s_cum[lane * 2 + 1] = incl;
    if (s_w) {
        const float last = __shfl_sync(0xffffffffu, incl, 31);
        s_w[lane * 2] = __expf(last - (excl + v[0])) * s_dt[lane * 2];
        s_w[lane * 2 + 1] = __expf(last - incl) * s_dt[lane * 2 + 1];
    }
}
template <typename T>
__device__ __forceinline__ void chunk_dt(const mr_ssd_args& a, int b, int h, int t0, int cl, float* s_dt, float* s_cum) {
    if (threadIdx.x < 32) {
        float raw[2];
        dt_load<T>(a, b, h, t0, cl, raw);
        dt_finish(a, h, cl, raw, s_dt, s_cum);
    }
}

// Packed sequences: s_seq[0] = seq_idx of the token before the chunk (of the chunk's first token when t0 = 0, so the
// initial state carries into the row's first sequence), s_seq[1 + i] = seq_idx of token i (padding repeats the last
// token's). All zero without seq_idx. Decays across a change of seq_idx are 0 (MATH.md §3).
__device__ __forceinline__ void chunk_seq(const mr_ssd_args& a, int b, int t0, int cl, int* s_seq) {
    const int i = threadIdx.x;
    if (i <= kQ) {
        int v = 0;
        if (a.seq_idx) v = a.seq_idx[(long long)b * a.length + (i == 0 ? max(t0 - 1, 0) : t0 + min(i - 1, cl - 1))];
        s_seq[i] = v;
    }
}

// ------------------------------------------------------------------------------------------------------------
// Tensor-core kernel (T = __half or __nv_bfloat16).
// ------------------------------------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kSsdThreads, 3) ssd_tc_kernel(mr_ssd_args a, int NP) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800  // bf16 WMMA needs sm_80+; the build targets sm_90
    const int p0 = blockIdx.x * kPT, h = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int g = h / (H / G);
    const int tid = threadIdx.x, warp = tid / 32;

    extern __shared__ __align__(128) unsigned char smem_raw[];
    T* sB = (T*)smem_raw;                 // [Q][NP]
    T* sC = sB + kQ * NP;                 // [Q][NP] (scaled by exp(cum_i) after G)
    T* sX = sC + kQ * NP;                 // [Q][PT]
    T* sXs = sX + kQ * kPT;               // [Q][PT]
    T* sM = sXs + kQ * kPT;               // [Q][Q]
    T* sSh = sM + kQ * kQ;                // [PT][NP] 16-bit copy of the state
    float* sG = (float*)(sSh + kPT * NP); // [Q][Q] f32; also Y [Q][PT] and S [PT][NP]
    float* s_dt = sG + kQ * kQ;           // sized max(Q*Q, PT*NP) = 4096 floats
    float* s_cum = s_dt + kQ;
    __shared__ int s_seq[kQ + 1];

    // State fragments: [PT × NP] = 2 × (NP/16) tiles over 8 warps.
    constexpr int kMaxStateFrags = (kPT / 16) * (kNMax / 16) / (kSsdThreads / 32);  // 2
    wm::fragment<wm::accumulator, 16, 16, 16, float> sacc[kMaxStateFrags];
    const int stiles = (kPT / 16) * (NP / 16);

    // Initial state → sG (f32, zero padded) → fragments and 16-bit copy.
    for (int i = tid; i < kPT * NP; i += kSsdThreads) {
        int p = i / NP, n = i % NP;
        float v = 0.f;
        if (a.initial_states && p0 + p < P && n < N) v = a.initial_states[(((long long)b * H + h) * P + p0 + p) * N + n];
        sG[i] = v;
        sSh[i] = from_f<T>(v);
    }
    __syncthreads();
#pragma unroll
    for (int f = 0; f < kMaxStateFrags; f++) {
        int tile = warp + f * (kSsdThreads / 32);
        if (tile < stiles) {
            int tp = tile / (NP / 16), tn = tile % (NP / 16);
            wm::load_matrix_sync(sacc[f], sG + tp * 16 * NP + tn * 16, NP, wm::mem_row_major);
        }
    }
    __syncthreads();

    const T* x = (const T*)a.x;
    const T* Bg = (const T*)a.B;
    const T* Cg = (const T*)a.C;
    const T* z = (const T*)a.z;
    const T zero = from_f<T>(0.f);
    const bool vec_bc = N % 8 == 0;  // rows of B and C start 16-byte aligned
    const bool vec_x = P % 8 == 0;   // rows of x start 16-byte aligned (tile of 32 = 4 × 8)

    for (int t0 = 0; t0 < L; t0 += kQ) {
        const int cl = min(kQ, L - t0);
        // ---- load the chunk ----
        chunk_dt<T>(a, b, h, t0, cl, s_dt, s_cum);
        chunk_seq(a, b, t0, cl, s_seq);
        if (vec_bc) {
            // 16-byte loads (8 elements), all issued before any is used.
            constexpr int kPer = kQ * kNMax / 8 / kSsdThreads;  // 4
            uint4 rb[kPer], rc[kPer];
            const int vpr = NP / 8;
#pragma unroll
            for (int j = 0; j < kPer; j++) {
                int v = tid + j * kSsdThreads, t = v / vpr, n8 = (v % vpr) * 8;
                rb[j] = make_uint4(0, 0, 0, 0);
                rc[j] = rb[j];
                if (v < kQ * vpr && t < cl && n8 < N) {
                    long long idx = (((long long)b * L + t0 + t) * G + g) * N + n8;
                    rb[j] = __ldg(reinterpret_cast<const uint4*>(Bg + idx));
                    rc[j] = __ldg(reinterpret_cast<const uint4*>(Cg + idx));
                }
            }
#pragma unroll
            for (int j = 0; j < kPer; j++) {
                int v = tid + j * kSsdThreads;
                if (v < kQ * vpr) {
                    *reinterpret_cast<uint4*>(sB + v * 8) = rb[j];
                    *reinterpret_cast<uint4*>(sC + v * 8) = rc[j];
                }
            }
        } else {
            for (int i = tid; i < kQ * NP; i += kSsdThreads) {
                int t = i / NP, n = i % NP;
                T vb = zero, vc = zero;
                if (t < cl && n < N) {
                    long long idx = (((long long)b * L + t0 + t) * G + g) * N + n;
                    vb = Bg[idx];
                    vc = Cg[idx];
                }
                sB[i] = vb;
                sC[i] = vc;
            }
        }
        if (vec_x) {
            // one 16-byte load per thread: 64 rows × 4 vectors of 8
            int t = tid / 4, p8 = (tid % 4) * 8;
            uint4 rx = make_uint4(0, 0, 0, 0);
            if (t < cl && p0 + p8 < P) rx = __ldg(reinterpret_cast<const uint4*>(x + (((long long)b * L + t0 + t) * H + h) * P + p0 + p8));
            *reinterpret_cast<uint4*>(sX + t * kPT + p8) = rx;
        } else {
            for (int i = tid; i < kQ * kPT; i += kSsdThreads) {
                int t = i / kPT, p = i % kPT;
                sX[i] = (t < cl && p0 + p < P) ? x[(((long long)b * L + t0 + t) * H + h) * P + p0 + p] : zero;
            }
        }
        __syncthreads();

        // ---- G = C Bᵀ [Q × Q] (16 tiles, 2 per warp) ----
        for (int tile = warp; tile < 16; tile += kSsdThreads / 32) {
            int ti = tile / 4, tj = tile % 4;
            wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
            wm::fill_fragment(acc, 0.f);
            for (int k = 0; k < NP; k += 16) {
                wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
                wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::col_major> fb;
                wm::load_matrix_sync(fa, sC + ti * 16 * NP + k, NP);
                wm::load_matrix_sync(fb, sB + tj * 16 * NP + k, NP);
                wm::mma_sync(acc, fa, fb, acc);
            }
            wm::store_matrix_sync(sG + ti * 16 * kQ + tj * 16, acc, kQ, wm::mem_row_major);
        }
        __syncthreads();

        // ---- M, scaled C, scaled X ----
        const float cum_last = s_cum[kQ - 1];
        for (int i = tid; i < kQ * kQ; i += kSsdThreads) {
            int r = i / kQ, c = i % kQ;
            float m = c <= r && s_seq[1 + r] == s_seq[1 + c] ? sG[i] * __expf(s_cum[r] - s_cum[c]) * s_dt[c] : 0.f;
            sM[i] = from_f<T>(m);
        }
        for (int i = tid; i < kQ * NP; i += kSsdThreads) {
            int t = i / NP;
            sC[i] = from_f<T>(s_seq[1 + t] == s_seq[0] ? to_f(sC[i]) * __expf(s_cum[t]) : 0.f);
        }
        for (int i = tid; i < kQ * kPT; i += kSsdThreads) {
            int t = i / kPT;
            sXs[i] = from_f<T>(s_seq[1 + t] == s_seq[kQ] ? to_f(sX[i]) * __expf(cum_last - s_cum[t]) * s_dt[t] : 0.f);
        }
        __syncthreads();

        // ---- Y = M X + Cs Shᵀ [Q × PT] (8 tiles, 1 per warp) ----
        {
            int ti = warp / 2, tj = warp % 2;
            wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
            wm::fill_fragment(acc, 0.f);
            for (int k = 0; k < kQ; k += 16) {
                wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
                wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::row_major> fb;
                wm::load_matrix_sync(fa, sM + ti * 16 * kQ + k, kQ);
                wm::load_matrix_sync(fb, sX + k * kPT + tj * 16, kPT);
                wm::mma_sync(acc, fa, fb, acc);
            }
            for (int k = 0; k < NP; k += 16) {
                wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
                wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::col_major> fb;
                wm::load_matrix_sync(fa, sC + ti * 16 * NP + k, NP);
                wm::load_matrix_sync(fb, sSh + tj * 16 * NP + k, NP);
                wm::mma_sync(acc, fa, fb, acc);
            }
            wm::store_matrix_sync(sG + ti * 16 * kPT + tj * 16, acc, kPT, wm::mem_row_major);
        }
        // ---- state update in registers: S = exp(cum_last) S + Xsᵀ B ----
        {
            const float e = s_seq[kQ] == s_seq[0] ? __expf(cum_last) : 0.f;
#pragma unroll
            for (int f = 0; f < kMaxStateFrags; f++) {
                int tile = warp + f * (kSsdThreads / 32);
                if (tile < stiles) {
                    int tp = tile / (NP / 16), tn = tile % (NP / 16);
                    for (int q = 0; q < sacc[f].num_elements; q++) sacc[f].x[q] *= e;
                    for (int k = 0; k < kQ; k += 16) {
                        wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::col_major> fa;
                        wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::row_major> fb;
                        wm::load_matrix_sync(fa, sXs + k * kPT + tp * 16, kPT);
                        wm::load_matrix_sync(fb, sB + k * NP + tn * 16, NP);
                        wm::mma_sync(sacc[f], fa, fb, sacc[f]);
                    }
                }
            }
        }
        __syncthreads();

        // ---- epilogue: out = (Y + D x) silu(z) ----
        for (int i = tid; i < kQ * kPT; i += kSsdThreads) {
            int t = i / kPT, p = i % kPT;
            if (t < cl && p0 + p < P) {
                float y = sG[i];
                if (a.D) y = fmaf(a.d_per_channel ? a.D[h * P + p0 + p] : a.D[h], to_f(sX[i]), y);
                long long idx = (((long long)b * L + t0 + t) * H + h) * P + p0 + p;
                if (z) y *= silu(to_f(z[idx]));
                ((T*)a.out)[idx] = from_f<T>(y);
            }
        }
        __syncthreads();
        // ---- state → sG (f32) → sSh (16-bit) ----
#pragma unroll
        for (int f = 0; f < kMaxStateFrags; f++) {
            int tile = warp + f * (kSsdThreads / 32);
            if (tile < stiles) {
                int tp = tile / (NP / 16), tn = tile % (NP / 16);
                wm::store_matrix_sync(sG + tp * 16 * NP + tn * 16, sacc[f], NP, wm::mem_row_major);
            }
        }
        __syncthreads();
        for (int i = tid; i < kPT * NP; i += kSsdThreads) sSh[i] = from_f<T>(sG[i]);
        __syncthreads();
    }

    if (a.final_states) {
        for (int i = tid; i < kPT * NP; i += kSsdThreads) {
            int p = i / NP, n = i % NP;
            if (p0 + p < P && n < N) a.final_states[(((long long)b * H + h) * P + p0 + p) * N + n] = sG[i];
        }
    }
#endif
}

// ------------------------------------------------------------------------------------------------------------
// float32 kernel: the same steps with CUDA-core products (16×16 thread grid, register micro-tiles).
// ------------------------------------------------------------------------------------------------------------
__global__ void __launch_bounds__(kSsdThreads) ssd_f32_kernel(mr_ssd_args a, int NP) {
    const int p0 = blockIdx.x * kPT, h = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int g = h / (H / G);
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int LDN = NP + 1;  // padded row stride of the [Q][N] tiles

    extern __shared__ __align__(16) float smf[];
    float* sB = smf;                 // [Q][LDN]
    float* sC = sB + kQ * LDN;       // [Q][LDN]
    float* sX = sC + kQ * LDN;       // [Q][PT+1]
    float* sXs = sX + kQ * (kPT + 1);  // [Q][PT+1]
    float* sM = sXs + kQ * (kPT + 1);  // [Q][Q+1]
    float* sS = sM + kQ * (kQ + 1);  // [PT][LDN] running state
    float* sY = sS + kPT * LDN;      // [Q][PT+1]
    float* s_dt = sY + kQ * (kPT + 1);
    float* s_cum = s_dt + kQ;
    const int LX = kPT + 1, LM = kQ + 1;
    __shared__ int s_seq[kQ + 1];

    for (int i = tid; i < kPT * LDN; i += kSsdThreads) {
        int p = i / LDN, n = i % LDN;
        sS[i] = (a.initial_states && p0 + p < P && n < N) ? a.initial_states[(((long long)b * H + h) * P + p0 + p) * N + n] : 0.f;
    }

    const float* x = (const float*)a.x;
    const float* Bg = (const float*)a.B;
    const float* Cg = (const float*)a.C;
    const float* z = (const float*)a.z;

    for (int t0 = 0; t0 < L; t0 += kQ) {
        const int cl = min(kQ, L - t0);
        __syncthreads();
        chunk_dt<float>(a, b, h, t0, cl, s_dt, s_cum);
        chunk_seq(a, b, t0, cl, s_seq);
        for (int i = tid; i < kQ * NP; i += kSsdThreads) {
            int t = i / NP, n = i % NP;
            float vb = 0.f, vc = 0.f;
            if (t < cl && n < N) {
                long long idx = (((long long)b * L + t0 + t) * G + g) * N + n;
                vb = Bg[idx];
                vc = Cg[idx];
            }
            sB[t * LDN + n] = vb;
            sC[t * LDN + n] = vc;
        }
        for (int i = tid; i < kQ * kPT; i += kSsdThreads) {
            int t = i / kPT, p = i % kPT;
            sX[t * LX + p] = (t < cl && p0 + p < P) ? x[(((long long)b * L + t0 + t) * H + h) * P + p0 + p] : 0.f;
        }
        __syncthreads();

        // G = C Bᵀ → M (rows ty+16r, cols tx+16s), 4×4 per thread.
        {
            float acc[4][4] = {};
            for (int k = 0; k < NP; k++) {
                float cv[4], bv[4];
#pragma unroll
                for (int r = 0; r < 4; r++) cv[r] = sC[(ty + 16 * r) * LDN + k];
#pragma unroll
                for (int s = 0; s < 4; s++) bv[s] = sB[(tx + 16 * s) * LDN + k];
#pragma unroll
                for (int r = 0; r < 4; r++)
#pragma unroll
                    for (int s = 0; s < 4; s++) acc[r][s] = fmaf(cv[r], bv[s], acc[r][s]);
            }
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int s = 0; s < 4; s++) {
                    int i = ty + 16 * r, j = tx + 16 * s;
                    sM[i * LM + j] = j <= i && s_seq[1 + i] == s_seq[1 + j] ? acc[r][s] * expf(s_cum[i] - s_cum[j]) * s_dt[j] : 0.f;
                }
        }
        const float cum_last = s_cum[kQ - 1];
        for (int i = tid; i < kQ * kPT; i += kSsdThreads) {
            int t = i / kPT, p = i % kPT;
            sXs[t * LX + p] = s_seq[1 + t] == s_seq[kQ] ? sX[t * LX + p] * expf(cum_last - s_cum[t]) * s_dt[t] : 0.f;
        }
        __syncthreads();

        // Y = M X + diag(exp(cum)) C Sᵀ : [Q × PT], rows ty+16r (4), cols tx+16s (2).
        {
            float acc[4][2] = {}, acc2[4][2] = {};
            for (int k = 0; k < kQ; k++) {
                float mv[4], xv[2];
#pragma unroll
                for (int r = 0; r < 4; r++) mv[r] = sM[(ty + 16 * r) * LM + k];
#pragma unroll
                for (int s = 0; s < 2; s++) xv[s] = sX[k * LX + tx + 16 * s];
#pragma unroll
                for (int r = 0; r < 4; r++)
#pragma unroll
                    for (int s = 0; s < 2; s++) acc[r][s] = fmaf(mv[r], xv[s], acc[r][s]);
            }
            for (int k = 0; k < NP; k++) {
                float cv[4], sv[2];
#pragma unroll
                for (int r = 0; r < 4; r++) cv[r] = sC[(ty + 16 * r) * LDN + k];
#pragma unroll
                for (int s = 0; s < 2; s++) sv[s] = sS[(tx + 16 * s) * LDN + k];
#pragma unroll
                for (int r = 0; r < 4; r++)
#pragma unroll
                    for (int s = 0; s < 2; s++) acc2[r][s] = fmaf(cv[r], sv[s], acc2[r][s]);
            }
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int s = 0; s < 2; s++) {
                    int i = ty + 16 * r;
                    sY[i * LX + tx + 16 * s] = acc[r][s] + (s_seq[1 + i] == s_seq[0] ? expf(s_cum[i]) : 0.f) * acc2[r][s];
                }
        }
        __syncthreads();

        // Epilogue, and the state update S = exp(cum_last) S + Xsᵀ B ([PT × NP]: rows ty+16r (2), cols tx+16s).
        for (int i = tid; i < kQ * kPT; i += kSsdThreads) {
            int t = i / kPT, p = i % kPT;
            if (t < cl && p0 + p < P) {
                float y = sY[t * LX + p];
                if (a.D) y = fmaf(a.d_per_channel ? a.D[h * P + p0 + p] : a.D[h], sX[t * LX + p], y);
                long long idx = (((long long)b * L + t0 + t) * H + h) * P + p0 + p;
                if (z) y *= silu(z[idx]);
                ((float*)a.out)[idx] = y;
            }
        }
        {
            const float e = s_seq[kQ] == s_seq[0] ? expf(cum_last) : 0.f;
            const int ns = NP / 16;  // up to 8 columns per thread
            float acc[2][kNMax / 16];
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int s = 0; s < kNMax / 16; s++) acc[r][s] = s < ns ? e * sS[(ty + 16 * r) * LDN + tx + 16 * s] : 0.f;
            for (int k = 0; k < kQ; k++) {
                float xv[2];
#pragma unroll
                for (int r = 0; r < 2; r++) xv[r] = sXs[k * LX + ty + 16 * r];
#pragma unroll
                for (int s = 0; s < kNMax / 16; s++) {
                    if (s < ns) {
                        float bv = sB[k * LDN + tx + 16 * s];
#pragma unroll
                        for (int r = 0; r < 2; r++) acc[r][s] = fmaf(xv[r], bv, acc[r][s]);
                    }
                }
            }
            __syncthreads();  // everyone has read sS for Y and the old state before it is overwritten
#pragma unroll
            for (int r = 0; r < 2; r++)
#pragma unroll
                for (int s = 0; s < kNMax / 16; s++)
                    if (s < ns) sS[(ty + 16 * r) * LDN + tx + 16 * s] = acc[r][s];
        }
    }
    __syncthreads();
    if (a.final_states) {
        for (int i = tid; i < kPT * NP; i += kSsdThreads) {
            int p = i / NP, n = i % NP;
            if (p0 + p < P && n < N) a.final_states[(((long long)b * H + h) * P + p0 + p) * N + n] = sS[p * LDN + n];
        }
    }
}

template <typename T>
static int launch_tc(const mr_ssd_args& a, int NP) {
    int dev = 0, major = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (major < 8) return fail(MR_ERR_UNSUPPORTED, "ssd: the f16/bf16 tensor-core path needs compute capability 8.0 or newer");
    size_t elems16 = 2 * (size_t)kQ * NP + 2 * (size_t)kQ * kPT + (size_t)kQ * kQ + (size_t)kPT * NP;
    size_t floats = (size_t)(kQ * kQ > kPT * NP ? kQ * kQ : kPT * NP) + 2 * kQ;
    size_t bytes = elems16 * 2 + floats * 4;
    auto kernel = ssd_tc_kernel<T>;
    MR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), "ssd smem attribute");
    dim3 grid((a.head_dim + kPT - 1) / kPT, a.heads, a.batch);
    kernel<<<grid, kSsdThreads, bytes>>>(a, NP);
    MR_CHECK_CUDA(cudaGetLastError(), "ssd (tensor cores) launch");
    return MR_OK;
}

static int launch_f32(const mr_ssd_args& a, int NP) {
    int LDN = NP + 1;
    size_t floats = 2 * (size_t)kQ * LDN + 2 * (size_t)kQ * (kPT + 1) + (size_t)kQ * (kQ + 1) + (size_t)kPT * LDN +
                    (size_t)kQ * (kPT + 1) + 2 * kQ;
    size_t bytes = floats * 4;
    MR_CHECK_CUDA(cudaFuncSetAttribute(ssd_f32_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes), "ssd smem attribute");
    dim3 grid((a.head_dim + kPT - 1) / kPT, a.heads, a.batch);
    ssd_f32_kernel<<<grid, kSsdThreads, bytes>>>(a, NP);
    MR_CHECK_CUDA(cudaGetLastError(), "ssd (float32) launch");
    return MR_OK;
}

}  // namespace mr

#include "ssd_chunked.cuh"

namespace mr {
template <typename T>
static int launch_chunked(const mr_ssd_args& a) {
    int dev = 0, major = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (major < 8) return fail(MR_ERR_UNSUPPORTED, "ssd: the f16/bf16 tensor-core path needs compute capability 8.0 or newer");
    return cssd::launch<T>(a);
}
}  // namespace mr

using namespace mr;

extern "C" int mr_ssd_fwd(const mr_ssd_args* a) {
    MR_REQUIRE(a, "args is NULL");
    MR_REQUIRE(a->batch >= 1 && a->length >= 1 && a->heads >= 1 && a->head_dim >= 1 && a->state >= 1,
               "ssd: batch, length, heads, head_dim, state must be >= 1");
    MR_REQUIRE(a->groups >= 1 && a->heads % a->groups == 0, "ssd: groups (%d) must divide heads (%d)", a->groups, a->heads);
    if (a->state > kNMax) return fail(MR_ERR_UNSUPPORTED, "ssd: state size %d > %d is not supported", a->state, kNMax);
    if (a->chunk_size != 0 && a->chunk_size != kQ) return fail(MR_ERR_UNSUPPORTED, "ssd: chunk size %d not supported (64)", a->chunk_size);
    MR_REQUIRE(a->x && a->dt && a->A && a->B && a->C && a->out, "ssd: x, dt, A, B, C, out are required");
    int NP = (a->state + 15) / 16 * 16;
    // MAMBAREF_CUDA_SSD_KERNEL=legacy selects the fused sequential kernel for f16/bf16 (benchmark comparisons).
    static const char* kernel = getenv("MAMBAREF_CUDA_SSD_KERNEL");
    // The chunked path (ssd_chunked.cuh) stages a head's [P × N] state per chunk in shared memory (P <= 128) and has
    // no seq_idx (packed sequences take the fused kernel).
    const bool legacy = (kernel && !strcmp(kernel, "legacy")) || a->head_dim > 128 || a->seq_idx != nullptr;
    switch (a->dtype) {
        case MR_F32: return launch_f32(*a, NP);
        case MR_F16: return legacy ? launch_tc<__half>(*a, NP) : launch_chunked<__half>(*a);
        case MR_BF16: return legacy ? launch_tc<__nv_bfloat16>(*a, NP) : launch_chunked<__nv_bfloat16>(*a);
        default: return fail(MR_ERR_INVALID_ARGUMENT, "ssd: unknown dtype %d", a->dtype);
    }
}

extern "C" int mr_time_ssd(const mr_ssd_args* a, int32_t iters, float* ms_per_call) {
    return mr::time_calls([a] { return mr_ssd_fwd(a); }, iters, ms_per_call);
}
