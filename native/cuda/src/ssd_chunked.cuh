// Mamba-2 chunked SSD forward for f16/bf16 storage (MATH.md §3), included by ssd.cu after dt_load / dt_finish.
// Chunks of Q = 64 tokens; float32 accumulation throughout:
//   K0  Δ, prefix sums cum_t = Σ_{s<=t} Δ_s A and weights w_t = Δ_t·exp(cum_last − cum_t) per (batch row, head,
//       chunk) into the workspace, one warp per chunk, so that the later kernels copy them with the chunk's rows.
//   K12 chunk states and state passing fused: one block per (32-wide P tile, head, batch row) walks the chunks with
//       the running state S' in mma.sync accumulators: store S'_c (16-bit, for K3), S' ← exp(cum_last)·S' + (X∘w)ᵀB.
//       For small batches (fewer blocks than half the SMs) the split pair instead: K1 every chunk's state in
//       parallel (WMMA, float32 out), K2 one thread per state entry walking the chunks (elementwise).
//   K3  chunk outputs Y = (C Bᵀ ∘ exp(cum_r − cum_s) Δ_s, s <= r) X + diag(exp(cum)) C S'ᵀ, then (Y + D x)·silu(z):
//       one block per (chunk, head group, batch row), mma.sync with the fragments in registers; C Bᵀ once per block.
// Tensor-core products take 16-bit operands: x·w (K12, K1) and the masked decay matrix (K3) are formed in float32 and
// rounded once; S'_c is stored in 16 bits because it only feeds K3's product. The intermediate states live in a
// stream-ordered workspace (cudaMallocAsync; the default pool keeps it between calls). P and N are zero padded to
// multiples of 16. MAMBAREF_CUDA_SSD_STATES=fused|split forces the state path, MAMBAREF_CUDA_SSD_HB the heads per K3
// block, MAMBAREF_CUDA_SSD_PROFILE=1 prints per-kernel times (benchmarks and tests only).
#pragma once
#include <algorithm>
#include <cstring>

namespace mr {
namespace cssd {

namespace wm = nvcuda::wmma;
constexpr int kThreads = 256;

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
    unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    int n = valid ? 16 : 0;  // 0 → zero-filled
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int K>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(K)); }
constexpr int kWarps = kThreads / 32;

struct Dims {
    int PP, NP;  // padded head dim / state size
    int nc;      // chunks
    int hb;      // heads per block
    int vx, vbc; // 16-byte loads of x/z/out rows and of B/C rows are possible (sizes and alignment)
};

// This thread's 16-byte pieces of a [rows][WP] 16-bit tile, row by row: piece v = threadIdx.x + kThreads·k is at row
// v / (WP/8), column 8·(v % (WP/8)); built once per kernel and copied, so that no copy divides.
struct RowIter {
    int t, c, dt, dc;
    __device__ __forceinline__ explicit RowIter(int WP) {
        const int vpr = WP / 8;
        t = threadIdx.x / vpr;
        c = (threadIdx.x % vpr) * 8;
        dt = kThreads / vpr;
        dc = (kThreads % vpr) * 8;
    }
    __device__ __forceinline__ void next(int WP) {
        t += dt;
        c += dc;
        if (c >= WP) {
            c -= WP;
            t++;
        }
    }
};

// Shared-memory row strides are padded by 16 bytes (8 16-bit or 4 float elements) so that the rows of a 16×16
// fragment fall in different banks (an unpadded 128- or 256-byte stride puts all of them in the same banks).
// Rows [rows][W] of a 16-bit tensor whose row t starts at base + t * stride (elements), W valid of WP padded columns,
// into shared memory rows of ld elements; rows >= cl and columns >= W are zero. vec (W % 8 == 0 and 16-byte aligned
// rows): 16-byte cp.async copies at the positions of it (RowIter(WP)); otherwise plain element loads.
template <typename T>
__device__ __forceinline__ void async_rows(T* dst, int ld, const T* base, long long stride, int cl, int W, int WP, bool vec,
                                           RowIter it, int rows = kQ) {
    if (!vec) {
        const T zero = from_f<T>(0.f);
        for (int i = threadIdx.x; i < rows * WP; i += kThreads) {
            const int t = i / WP, c = i % WP;
            dst[t * ld + c] = (t < cl && c < W) ? base[t * stride + c] : zero;
        }
        return;
    }
    for (; it.t < rows; it.next(WP)) {
        const int t = it.t, c8 = it.c;
        const bool ok = t < cl && c8 < W;
        cp_async16(dst + t * ld + c8, ok ? base + t * stride + c8 : base, ok);
    }
}

__device__ __forceinline__ void ldsm4(unsigned (&r)[4], const void* p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
__device__ __forceinline__ void ldsm4t(unsigned (&r)[4], const void* p) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
}
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&d)[4], const unsigned (&a)[4], unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
// Two floats as a 16-bit pair (lo in the low half).
template <typename T>
__device__ __forceinline__ unsigned pack2(float lo, float hi);
template <>
__device__ __forceinline__ unsigned pack2<__nv_bfloat16>(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&v);
}
template <>
__device__ __forceinline__ unsigned pack2<__half>(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<unsigned*>(&v);
}
template <typename T>
__device__ __forceinline__ float2 unpack2(unsigned v);
template <>
__device__ __forceinline__ float2 unpack2<__nv_bfloat16>(unsigned v) {
    return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&v));
}
template <>
__device__ __forceinline__ float2 unpack2<__half>(unsigned v) {
    return __half22float2(*reinterpret_cast<__half2*>(&v));
}

// ---- K0: Δ, prefix sums and chunk-state weights of every (batch row, head, chunk) ----
// [B][H][nc][3][Q] floats: Δ_t, cum_t = Σ_{s<=t} Δ_s A, w_t = Δ_t·exp(cum_last − cum_t). One warp per chunk, so that
// K12 and K3 copy them with the chunk's other rows instead of forming them on their critical path.
constexpr int kDtRow = 3 * kQ;
__global__ void __launch_bounds__(32) dt_prep_kernel(mr_ssd_args a, Dims dm, float* dtw) {
    const int c = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int t0 = c * kQ, cl = min(kQ, a.length - t0);
    float* o = dtw + (((long long)b * a.heads + h) * dm.nc + c) * kDtRow;
    float raw[2];
    if (a.dtype == MR_F16) dt_load<__half>(a, b, h, t0, cl, raw);
    else dt_load<__nv_bfloat16>(a, b, h, t0, cl, raw);
    dt_finish(a, h, cl, raw, o, o + kQ, o + 2 * kQ);
}

// The n16 = 16-byte pieces of a row of floats [n16·4] → shared memory (threads 0..n16−1).
__device__ __forceinline__ void async_floats(float* dst, const float* src, int n16) {
    if ((int)threadIdx.x < n16) cp_async16(dst + 4 * threadIdx.x, src + 4 * threadIdx.x, true);
}

// ---- Split alternative to K12 for small batches (K12 walks the chunks; with few (P tile, head, batch row) blocks the
// GPU would idle): K1 forms every chunk's state in parallel (float32), K2 passes them along the chunks elementwise. ----
// K1: one block per (chunk, head group, batch row); per head S_c = (X ∘ w)ᵀ B with WMMA 16×16×16 products.
template <typename T>
__global__ void __launch_bounds__(kThreads) chunk_state_kernel(mr_ssd_args a, Dims dm, const float* dtw, float* S_loc) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int c = blockIdx.x, hg = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int PP = dm.PP, NP = dm.NP, t0 = c * kQ, cl = min(kQ, L - t0);
    const int LB = NP + 8, LX = PP + 8;
    const int warp = threadIdx.x / 32;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T* sB = (T*)smem_raw;   // [Q][LB]
    T* sX = sB + kQ * LB;   // [Q][LX]
    float* s_w = (float*)(sX + kQ * LX);
    const T* x = (const T*)a.x;
    const RowIter itN(NP), itX(PP);
    const int g = hg * dm.hb / (H / G);  // the block's heads share one group
    async_rows<T>(sB, LB, (const T*)a.B + ((long long)b * L + t0) * G * N + (long long)g * N, (long long)G * N, cl, N, NP, dm.vbc,
                  itN);
    for (int hi = 0; hi < dm.hb; hi++) {
        const int h = hg * dm.hb + hi;
        async_rows<T>(sX, LX, x + (((long long)b * L + t0) * H + h) * P, (long long)H * P, cl, P, PP, dm.vx, itX);
        async_floats(s_w, dtw + (((long long)b * H + h) * dm.nc + c) * kDtRow + 2 * kQ, kQ / 4);
        cp_async_commit();
        cp_async_wait<0>();
        __syncthreads();
        for (int i = threadIdx.x; i < kQ * PP; i += kThreads) {
            const int t = i / PP, j = t * LX + i % PP;
            sX[j] = from_f<T>(to_f(sX[j]) * s_w[t]);
        }
        __syncthreads();
        float* out = S_loc + (((long long)b * dm.nc + c) * H + h) * (long long)PP * NP;
        const int tiles = (PP / 16) * (NP / 16);
        for (int tile = warp; tile < tiles; tile += kWarps) {
            const int tp = tile / (NP / 16), tn = tile % (NP / 16);
            wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
            wm::fill_fragment(acc, 0.f);
#pragma unroll
            for (int k = 0; k < kQ; k += 16) {
                wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::col_major> fa;
                wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::row_major> fb;
                wm::load_matrix_sync(fa, sX + k * LX + tp * 16, LX);
                wm::load_matrix_sync(fb, sB + k * LB + tn * 16, LB);
                wm::mma_sync(acc, fa, fb, acc);
            }
            wm::store_matrix_sync(out + tp * 16 * NP + tn * 16, acc, NP, wm::mem_row_major);
        }
        __syncthreads();
    }
#endif
}
inline size_t k1_smem(const Dims& dm) { return (size_t)kQ * (dm.NP + 8) * 2 + (size_t)kQ * (dm.PP + 8) * 2 + kQ * 4; }

// K2: one thread per state entry (b, h, p, n) walks the chunks: S'_0 = h0, S'_{c+1} = exp(cum_last,c)·S'_c + S_c;
// S'_c stored 16-bit for K3, the final state in float32.
template <typename T>
__global__ void __launch_bounds__(256) state_passing_kernel(mr_ssd_args a, Dims dm, const float* dtw, const float* S_loc, T* S_prev) {
    const int H = a.heads, P = a.head_dim, N = a.state;
    const long long PN = (long long)dm.PP * dm.NP;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int h = blockIdx.y, b = blockIdx.z;
    if (i >= PN) return;
    const int p = (int)(i / dm.NP), n = (int)(i % dm.NP);
    const bool valid = p < P && n < N;
    float s = (valid && a.initial_states) ? a.initial_states[(((long long)b * H + h) * P + p) * N + n] : 0.f;
    const float* cum_last = dtw + ((long long)b * H + h) * dm.nc * kDtRow + 2 * kQ - 1;  // chunk c: cum_last[c·kDtRow]
    const long long cstride = (long long)H * PN;
    const long long base = ((long long)b * dm.nc * H + h) * PN + i;
    constexpr int U = 8;  // loads of U chunks in flight
    int c = 0;
    for (; c + U <= dm.nc; c += U) {
        float v[U];
#pragma unroll
        for (int j = 0; j < U; j++) v[j] = __ldcs(S_loc + base + (c + j) * cstride);
#pragma unroll
        for (int j = 0; j < U; j++) {
            S_prev[base + (c + j) * cstride] = from_f<T>(s);
            s = fmaf(__expf(cum_last[(long long)(c + j) * kDtRow]), s, v[j]);
        }
    }
    for (; c < dm.nc; c++) {
        S_prev[base + c * cstride] = from_f<T>(s);
        s = fmaf(__expf(cum_last[(long long)c * kDtRow]), s, S_loc[base + c * cstride]);
    }
    if (valid && a.final_states) a.final_states[(((long long)b * H + h) * P + p) * N + n] = s;
}

// ---- K12: chunk states and state passing fused ----
// One block per (32-wide P tile, head, batch row) walks the chunks in order. The running state S' [32 × NP] stays
// float32 in mma.sync accumulators (warp w: rows 16·(w & 1).., columns 32·(w >> 1)..); per chunk the 16-bit copy of
// S'_c goes to the workspace for K3 straight from the registers, then
//   S' ← exp(cum_last)·S' + (X ∘ w)ᵀ B,   w_t = Δ_t·exp(cum_last − cum_t),
// with the weights applied to the A fragments of Xᵀ (loaded transposed) in float32 and rounded once to 16 bits.
// Three stages: chunks c+1 and c+2 (x and B rows, and the chunk's Δ / prefix sums / weights from K0, by cp.async)
// are in flight while chunk c is computed.
constexpr int kPT12 = 32;
constexpr int kStages12 = 3;

inline size_t k12_smem(const Dims& dm) {
    const size_t LB = dm.NP + 8, LX = kPT12 + 8;
    return kStages12 * ((size_t)kQ * LB * 2 + (size_t)kQ * LX * 2 + 3 * kQ * 4);
}

template <typename T>
__device__ __forceinline__ unsigned scale2(unsigned v, float2 w) {
    const float2 f = unpack2<T>(v);
    return pack2<T>(f.x * w.x, f.y * w.y);
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 3) state_scan_kernel(mr_ssd_args a, Dims dm, const float* dtw, T* S_prev) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int p0 = blockIdx.x * kPT12, h = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int g = h / (H / G);
    const int PP = dm.PP, NP = dm.NP, nc = dm.nc;
    const int LB = NP + 8, LX = kPT12 + 8;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, gid = lane >> 2, tig = lane & 3;
    const int mrow = 16 * (warp & 1), n0 = 32 * (warp >> 1);
    const bool active = p0 + mrow < PP && n0 < NP;  // this warp has a 16-row tile and columns
    const int ntv = active ? min(4, (NP - n0) / 8) : 0;  // even (NP is a multiple of 16)
    const int PW = min(kPT12, P - p0);
    extern __shared__ __align__(128) unsigned char smem_raw[];
    const int SB = kQ * LB * 2 + kQ * LX * 2 + 3 * kQ * 4;
    auto sB = [&](int s) { return (T*)(smem_raw + s * SB); };
    auto sX = [&](int s) { return (T*)(smem_raw + s * SB + kQ * LB * 2); };
    auto s_dt = [&](int s) { return (float*)(smem_raw + s * SB + kQ * LB * 2 + kQ * LX * 2); };
    auto s_cum = [&](int s) { return s_dt(s) + kQ; };
    auto s_w = [&](int s) { return s_dt(s) + 2 * kQ; };
    const T* x = (const T*)a.x;
    const bool vx = dm.vx && (P - p0) >= 8;
    const RowIter itB(NP), itX(kPT12);
    const float* dtw_bh = dtw + ((long long)b * H + h) * nc * kDtRow;
    auto issue = [&](int c, int s) {
        const int t0 = c * kQ, cl = min(kQ, L - t0);
        async_rows<T>(sB(s), LB, (const T*)a.B + ((long long)b * L + t0) * G * N + (long long)g * N, (long long)G * N, cl, N, NP,
                      dm.vbc, itB);
        async_rows<T>(sX(s), LX, x + (((long long)b * L + t0) * H + h) * P + p0, (long long)H * P, cl, PW, kPT12, vx, itX);
        async_floats(s_dt(s), dtw_bh + (long long)c * kDtRow, kDtRow / 4);
        cp_async_commit();
    };

    // acc[j]: rows p0 + mrow + gid (+8), columns n0 + 8 j + 2 tig (+1)
    float acc[4][4];
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int p = p0 + mrow + gid + (e >> 1) * 8, n = n0 + 8 * j + 2 * tig + (e & 1);
            acc[j][e] = (a.initial_states && j < ntv && p < P && n < N) ? a.initial_states[(((long long)b * H + h) * P + p) * N + n] : 0.f;
        }
    const int trow = (lane & 7) + ((lane >> 3) & 1) * 8, tcol = (lane >> 4) * 8;  // ldmatrix.trans of B (k-major rows)
    const int arow = (lane & 7) + ((lane >> 4) << 3), acol = ((lane >> 3) & 1) * 8;  // ldmatrix.trans of Xᵀ
    issue(0, 0);
    if (nc > 1) issue(1, 1);
    else cp_async_commit();
    for (int c = 0; c < nc; c++) {
        const int s = c % kStages12;
        __syncthreads();  // the stage of chunk c − 1 is no longer read
        if (c + 2 < nc) issue(c + 2, (c + 2) % kStages12);
        else cp_async_commit();  // an empty group keeps the count: chunk c's group is the third newest
        cp_async_wait<2>();
        __syncthreads();
        if (active) {
            T* out = S_prev + (((long long)b * nc + c) * H + h) * (long long)PP * NP + (long long)(p0 + mrow + gid) * NP + n0 + 2 * tig;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                if (j < ntv) {
                    *reinterpret_cast<unsigned*>(out + 8 * j) = pack2<T>(acc[j][0], acc[j][1]);
                    *reinterpret_cast<unsigned*>(out + 8 * NP + 8 * j) = pack2<T>(acc[j][2], acc[j][3]);
                }
            }
            const float dec = __expf(s_cum(s)[kQ - 1]);
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[j][e] *= dec;
            const T* xs = sX(s);
            const T* bs = sB(s);
            const float* w = s_w(s);
#pragma unroll
            for (int kk = 0; kk < kQ / 16; kk++) {
                unsigned af[4];
                ldsm4t(af, xs + (16 * kk + arow) * LX + mrow + acol);
                const int kb = 16 * kk + 2 * tig;
                const float2 w0 = *reinterpret_cast<const float2*>(w + kb), w1 = *reinterpret_cast<const float2*>(w + kb + 8);
                af[0] = scale2<T>(af[0], w0);
                af[1] = scale2<T>(af[1], w0);
                af[2] = scale2<T>(af[2], w1);
                af[3] = scale2<T>(af[3], w1);
#pragma unroll
                for (int jj = 0; jj < 2; jj++) {
                    if (2 * jj < ntv) {
                        unsigned bf[4];
                        ldsm4t(bf, bs + (16 * kk + trow) * LB + n0 + 16 * jj + tcol);
                        mma16816<T>(acc[2 * jj], af, bf[0], bf[1]);
                        mma16816<T>(acc[2 * jj + 1], af, bf[2], bf[3]);
                    }
                }
            }
        }
    }
    if (a.final_states && active) {
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int p = p0 + mrow + gid + (e >> 1) * 8, n = n0 + 8 * j + 2 * tig + (e & 1);
                if (j < ntv && p < P && n < N) a.final_states[(((long long)b * H + h) * P + p) * N + n] = acc[j][e];
            }
    }
#endif
}

// ---- K3: chunk outputs with mma.sync (fragments in registers) ----
// One block per (chunk, head group, batch row); 8 warps: warp w owns the 16 rows 16·(w & 3).. of the chunk and
// half (w >> 2) of every 64-column pass over P. C Bᵀ (its row strip, float32) is formed once per block and kept in
// registers; per head, the masked decay M = C Bᵀ ∘ exp(cum_r − cum_s) Δ_s (s ≤ r) is built from it in registers and
// rounded to 16 bits directly into A fragments; Y = diag(exp(cum)) C S'ᵀ + M X accumulates in float32 and the
// epilogue (Y + D x)·silu(z) is applied in registers. The next head's x and S' are copied (cp.async) while a head is
// computed. m16n8k16 fragment layouts (PTX ISA): A rows gid / gid + 8 and columns 2·tig, 2·tig + 8; B columns gid,
// rows 2·tig, 2·tig + 8; C/D rows gid / gid + 8, columns 2·tig (+1); gid = lane / 4, tig = lane % 4.
inline size_t k3_smem(const Dims& dm) {
    const size_t LB = dm.NP + 8, LX = dm.PP + 8;
    return 2 * (size_t)kQ * LB * 2 + 2 * (2 * (size_t)kQ * LX * 2 + (size_t)dm.PP * LB * 2 + 2 * kQ * 4);
}

template <typename T>
__global__ void __launch_bounds__(kThreads, 2) chunk_out_kernel(mr_ssd_args a, Dims dm, const float* dtw, const T* S_prev) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int c = blockIdx.x, hg = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int PP = dm.PP, NP = dm.NP, t0 = c * kQ, cl = min(kQ, L - t0);
    const int LB = NP + 8, LX = PP + 8;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int rs = warp & 3, wc = warp >> 2, gid = lane >> 2, tig = lane & 3;
    const int r0 = rs * 16 + gid;  // this thread's rows r0 and r0 + 8
    const int h0 = hg * dm.hb, g = h0 / (H / G);
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T* sC = (T*)smem_raw;
    T* sB = sC + kQ * LB;
    // two stages of [x rows | z rows | S' rows | Δ | prefix sums]
    unsigned char* st0 = (unsigned char*)(sB + kQ * LB);
    const int SB = 2 * kQ * LX * 2 + PP * LB * 2 + 2 * kQ * 4;
    auto sX = [&](int s) { return (T*)(st0 + s * SB); };
    auto sZ = [&](int s) { return (T*)(st0 + s * SB + kQ * LX * 2); };
    auto sS = [&](int s) { return (T*)(st0 + s * SB + 2 * kQ * LX * 2); };
    auto s_dt = [&](int s) { return (float*)(st0 + s * SB + 2 * kQ * LX * 2 + PP * LB * 2); };
    auto s_cum = [&](int s) { return s_dt(s) + kQ; };
    const T* x = (const T*)a.x;
    const T* z = (const T*)a.z;
    const RowIter itX(PP), itN(NP);
    auto issue = [&](int hi, int s) {
        const int h = h0 + hi;
        const long long xo = (((long long)b * L + t0) * H + h) * P;
        async_rows<T>(sX(s), LX, x + xo, (long long)H * P, cl, P, PP, dm.vx, itX);
        if (z) async_rows<T>(sZ(s), LX, z + xo, (long long)H * P, cl, P, PP, dm.vx, itX);
        async_rows<T>(sS(s), LB, S_prev + (((long long)b * dm.nc + c) * H + h) * (long long)PP * NP, NP, PP, NP, NP, true, itN, PP);
        async_floats(s_dt(s), dtw + (((long long)b * H + h) * dm.nc + c) * kDtRow, 2 * kQ / 4);  // Δ and prefix sums
        cp_async_commit();
    };
    {
        const long long off = ((long long)b * L + t0) * G * N + (long long)g * N;
        async_rows<T>(sB, LB, (const T*)a.B + off, (long long)G * N, cl, N, NP, dm.vbc, itN);
        async_rows<T>(sC, LB, (const T*)a.C + off, (long long)G * N, cl, N, NP, dm.vbc, itN);
    }
    issue(0, 0);
    const int arow = rs * 16 + (lane & 15), acol = (lane >> 4) * 8;                  // ldmatrix A (row-major)
    const int brow = (lane & 7) + ((lane >> 4) << 3), bcol = ((lane >> 3) & 1) * 8;  // ldmatrix B (n-major rows)
    const int trow = (lane & 7) + ((lane >> 3) & 1) * 8, tcol = (lane >> 4) * 8;     // ldmatrix.trans B (k-major rows)
    float gs[8][4];  // C Bᵀ, rows r0 / r0 + 8, columns 8 j + 2 tig (+1)
    for (int hi = 0; hi < dm.hb; hi++) {
        const int s = hi & 1, h = h0 + hi;
        __syncthreads();  // stage s^1 (head hi − 1) is no longer read
        if (hi + 1 < dm.hb) {
            issue(hi + 1, s ^ 1);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        if (hi == 0) {
#pragma unroll
            for (int j = 0; j < 8; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) gs[j][e] = 0.f;
            for (int k = 0; k < NP; k += 16) {
                unsigned af[4];
                ldsm4(af, sC + arow * LB + k + acol);
#pragma unroll
                for (int jj = 0; jj < 4; jj++) {
                    if (jj <= rs) {  // columns past the strip's last row are masked out
                        unsigned bf[4];
                        ldsm4(bf, sB + (16 * jj + brow) * LB + k + bcol);
                        mma16816<T>(gs[2 * jj], af, bf[0], bf[1]);
                        mma16816<T>(gs[2 * jj + 1], af, bf[2], bf[3]);
                    }
                }
            }
        }
        const float* cum = s_cum(s);
        const float* dt = s_dt(s);
        const float cr0 = cum[r0], cr1 = cum[r0 + 8];
        unsigned mf[4][4];
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            if (kk <= rs) {
                float m[2][4];
#pragma unroll
                for (int hf = 0; hf < 2; hf++) {
                    const int j = 2 * kk + hf, sc = 8 * j + 2 * tig;
                    const float c0 = cum[sc], c1 = cum[sc + 1], d0 = dt[sc], d1 = dt[sc + 1];
                    m[hf][0] = sc <= r0 ? gs[j][0] * __expf(cr0 - c0) * d0 : 0.f;
                    m[hf][1] = sc + 1 <= r0 ? gs[j][1] * __expf(cr0 - c1) * d1 : 0.f;
                    m[hf][2] = sc <= r0 + 8 ? gs[j][2] * __expf(cr1 - c0) * d0 : 0.f;
                    m[hf][3] = sc + 1 <= r0 + 8 ? gs[j][3] * __expf(cr1 - c1) * d1 : 0.f;
                }
                mf[kk][0] = pack2<T>(m[0][0], m[0][1]);
                mf[kk][1] = pack2<T>(m[0][2], m[0][3]);
                mf[kk][2] = pack2<T>(m[1][0], m[1][1]);
                mf[kk][3] = pack2<T>(m[1][2], m[1][3]);
            }
        }
        const float e0 = __expf(cr0), e1 = __expf(cr1);
        const T* xs = sX(s);
        const T* zs = sZ(s);
        const T* ss = sS(s);
        const float* Dh = a.D ? (a.d_per_channel ? a.D + (long long)h * P : a.D + h) : nullptr;
        for (int pp = 0; pp < PP; pp += 64) {
            const int pc = pp + wc * 32;
            if (pc >= PP) continue;
            const int ntv = min(4, (PP - pc) / 8);  // 2 or 4 column tiles of 8
            float y[4][4];
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) y[j][e] = 0.f;
            for (int k = 0; k < NP; k += 16) {
                unsigned af[4];
                ldsm4(af, sC + arow * LB + k + acol);
#pragma unroll
                for (int jj = 0; jj < 2; jj++) {
                    if (2 * jj < ntv) {
                        unsigned bf[4];
                        ldsm4(bf, ss + (pc + 16 * jj + brow) * LB + k + bcol);
                        mma16816<T>(y[2 * jj], af, bf[0], bf[1]);
                        mma16816<T>(y[2 * jj + 1], af, bf[2], bf[3]);
                    }
                }
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                y[j][0] *= e0; y[j][1] *= e0;
                y[j][2] *= e1; y[j][3] *= e1;
            }
#pragma unroll
            for (int kk = 0; kk < 4; kk++) {
                if (kk <= rs) {
#pragma unroll
                    for (int jj = 0; jj < 2; jj++) {
                        if (2 * jj < ntv) {
                            unsigned bf[4];
                            ldsm4t(bf, xs + (16 * kk + trow) * LX + pc + 16 * jj + tcol);
                            mma16816<T>(y[2 * jj], mf[kk], bf[0], bf[1]);
                            mma16816<T>(y[2 * jj + 1], mf[kk], bf[2], bf[3]);
                        }
                    }
                }
            }
            // epilogue: out = (Y + D x)·silu(z), two columns per fragment row
            T* out = (T*)a.out + (((long long)b * L + t0) * H + h) * P;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                if (j >= ntv) continue;
                const int p = pc + 8 * j + 2 * tig;
#pragma unroll
                for (int rr = 0; rr < 2; rr++) {
                    const int r = r0 + 8 * rr;
                    if (r >= cl || p >= P) continue;
                    const long long go = (long long)r * H * P + p;
                    float v[2] = {y[j][2 * rr], y[j][2 * rr + 1]};
                    const bool two = p + 1 < P;
                    if (dm.vx) {  // P % 8 == 0 and aligned rows: pairs
                        const float2 xv = unpack2<T>(*reinterpret_cast<const unsigned*>(xs + r * LX + p));
                        if (Dh) {
                            v[0] = fmaf(a.d_per_channel ? Dh[p] : Dh[0], xv.x, v[0]);
                            v[1] = fmaf(a.d_per_channel ? Dh[p + 1] : Dh[0], xv.y, v[1]);
                        }
                        if (z) {
                            const float2 zv = unpack2<T>(*reinterpret_cast<const unsigned*>(zs + r * LX + p));
                            v[0] *= silu(zv.x);
                            v[1] *= silu(zv.y);
                        }
                        *reinterpret_cast<unsigned*>(out + go) = pack2<T>(v[0], v[1]);
                    } else {
#pragma unroll
                        for (int q = 0; q < 2; q++) {
                            if (q == 1 && !two) break;
                            float w = v[q];
                            if (Dh) w = fmaf(a.d_per_channel ? Dh[p + q] : Dh[0], to_f(xs[r * LX + p + q]), w);
                            if (z) w *= silu(to_f(zs[r * LX + p + q]));
                            out[go + q] = from_f<T>(w);
                        }
                    }
                }
            }
        }
    }
#endif
}

inline int heads_per_block(const mr_ssd_args& a) {
    static const char* env = getenv("MAMBAREF_CUDA_SSD_HB");
    int want = env ? atoi(env) : 8;
    if (want < 1) want = 1;
    const int hpg = a.heads / a.groups;  // a block's heads share one B/C group (loaded once, C Bᵀ formed once)
    int hb = 1;
    for (int k = 1; k <= want && k <= hpg; k++)
        if (hpg % k == 0) hb = k;
    return hb;
}

template <typename T>
int launch(const mr_ssd_args& a) {
    Dims dm;
    dm.PP = (a.head_dim + 15) / 16 * 16;
    dm.NP = (a.state + 15) / 16 * 16;
    dm.nc = (a.length + kQ - 1) / kQ;
    dm.hb = heads_per_block(a);
    auto al = [](const void* p) { return ((uintptr_t)p & 15) == 0; };
    dm.vx = a.head_dim % 8 == 0 && al(a.x) && al(a.out) && (!a.z || al(a.z));
    dm.vbc = a.state % 8 == 0 && al(a.B) && al(a.C);
    const size_t n_states = (size_t)a.batch * dm.nc * a.heads * dm.PP * dm.NP;
    const size_t bytes_prev = (n_states * sizeof(T) + 255) / 256 * 256;
    const size_t bytes_dtw = ((size_t)a.batch * a.heads * dm.nc * kDtRow * sizeof(float) + 255) / 256 * 256;
    // States: the fused K12 when it has at least half as many blocks as the GPU has SMs (B=2 at the benchmark shape:
    // 220 µs against 244 µs for K1 + K2; B=1: 198 against 168 µs), else K1 + K2 (every chunk in parallel,
    // float32 chunk states in the workspace). MAMBAREF_CUDA_SSD_STATES=fused|split forces one (tests, benchmarks).
    static int sms = 0;
    if (!sms) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) sms = 132;
    }
    static const char* states_env = getenv("MAMBAREF_CUDA_SSD_STATES");
    const long long k12_blocks = (long long)((dm.PP + kPT12 - 1) / kPT12) * a.heads * a.batch;
    const bool fused = states_env && !strcmp(states_env, "fused") ? true
                       : states_env && !strcmp(states_env, "split") ? false
                                                                    : 2 * k12_blocks >= sms;
    const size_t bytes_loc = fused ? 0 : n_states * sizeof(float);
    static bool pool_set = false;
    if (!pool_set) {
        // Keep freed workspace in the default pool between calls instead of returning it to the driver.
        int dev = 0;
        cudaMemPool_t pool;
        if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {
            uint64_t keep = UINT64_MAX;
            cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
        }
        pool_set = true;
    }
    unsigned char* ws = nullptr;
    MR_CHECK_CUDA(cudaMallocAsync((void**)&ws, bytes_prev + bytes_dtw + bytes_loc, 0), "ssd workspace");
    T* S_prev = (T*)ws;
    float* dtw = (float*)(ws + bytes_prev);
    float* S_loc = (float*)(ws + bytes_prev + bytes_dtw);

    const dim3 grid(dm.nc, a.heads / dm.hb, a.batch);
    const size_t sm1 = k1_smem(dm), sm12 = k12_smem(dm), sm3 = k3_smem(dm);
    auto k1 = chunk_state_kernel<T>;
    auto k12 = state_scan_kernel<T>;
    auto k3 = chunk_out_kernel<T>;
    cudaError_t err = cudaFuncSetAttribute(k1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm1);
    if (err == cudaSuccess) err = cudaFuncSetAttribute(k12, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm12);
    if (err == cudaSuccess) err = cudaFuncSetAttribute(k3, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm3);
    // MAMBAREF_CUDA_SSD_PROFILE=1: per-kernel times on stderr (events between the launches; benchmarks only).
    static const bool profile = getenv("MAMBAREF_CUDA_SSD_PROFILE") != nullptr;
    cudaEvent_t ev[4];
    if (profile)
        for (auto& e : ev) cudaEventCreate(&e);
    if (err == cudaSuccess) {
        if (profile) cudaEventRecord(ev[0]);
        dt_prep_kernel<<<dim3(dm.nc, a.heads, a.batch), 32>>>(a, dm, dtw);
        if (profile) cudaEventRecord(ev[1]);
        if (fused) {
            k12<<<dim3((unsigned)((dm.PP + kPT12 - 1) / kPT12), a.heads, a.batch), kThreads, sm12>>>(a, dm, dtw, S_prev);
        } else {
            k1<<<grid, kThreads, sm1>>>(a, dm, dtw, S_loc);
            const long long PN = (long long)dm.PP * dm.NP;
            state_passing_kernel<T><<<dim3((unsigned)((PN + 255) / 256), a.heads, a.batch), 256>>>(a, dm, dtw, S_loc, S_prev);
        }
        if (profile) cudaEventRecord(ev[2]);
        k3<<<grid, kThreads, sm3>>>(a, dm, dtw, S_prev);
        if (profile) cudaEventRecord(ev[3]);
        err = cudaGetLastError();
    }
    if (profile) {
        float t[3] = {0, 0, 0};
        cudaEventSynchronize(ev[3]);
        for (int i = 0; i < 3; i++) cudaEventElapsedTime(&t[i], ev[i], ev[i + 1]);
        fprintf(stderr, "ssd kernels (hb=%d, %s): K0 %.1f us, states %.1f us, K3 %.1f us\n", dm.hb, fused ? "K12" : "K1+K2", t[0] * 1e3,
                t[1] * 1e3, t[2] * 1e3);
        for (auto& e : ev) cudaEventDestroy(e);
    }
    cudaError_t ferr = cudaFreeAsync(ws, 0);
    if (err != cudaSuccess) return cuda_status(err, "ssd (chunked) launch");
    MR_CHECK_CUDA(ferr, "ssd workspace free");
    return MR_OK;
}

}  // namespace cssd
}  // namespace mr
