// Mamba-2 chunked SSD forward for f16/bf16 storage with every chunk in parallel (MATH.md §3), included by ssd.cu
// after chunk_dt. Three kernels, as state-spaces/mamba splits the work, so that no block walks the sequence:
//   K1 chunk states   S_c = (X ∘ Δ·exp(cum_last − cum))ᵀ B            one block per (chunk, head group, batch row):
//                     [P×Q]·[Q×N] tensor-core products, float32 out; B of the chunk loaded once per head group.
//   K2 state passing  S'_0 = h0, S'_{c+1} = exp(cum_last,c)·S'_c + S_c   one thread per state entry (b, h, p, n),
//                     walking the chunks (elementwise, memory bound); S'_c stored 16-bit for K3, h_L in float32.
//   K3 chunk outputs  Y = (C Bᵀ ∘ decay ∘ mask ∘ Δ) X + diag(exp(cum)) C S'ᵀ, then (Y + D x)·silu(z)
//                     one block per (chunk, head group, batch row); C Bᵀ is computed once and reused by the heads of
//                     the group (one B/C group); the exp(cum) row scaling is applied in float32 after the product
//                     (through the warp's output tile, which then seeds the accumulator of the diagonal product).
// WMMA 16×16×16 products, float32 accumulation. Intermediate states live in a stream-ordered workspace
// (cudaMallocAsync; the default pool keeps it between calls). P and N are zero padded to multiples of 16.
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

// Shared-memory row strides are padded by 16 bytes (8 16-bit or 4 float elements) so that the rows of a 16×16
// fragment fall in different banks (an unpadded 128- or 256-byte stride puts all of them in the same banks).
// Rows [Q][W] of a 16-bit tensor whose token t row starts at base + t * stride (elements), W valid of WP padded
// columns; tokens >= cl and columns >= W are zero. vec: 16-byte loads (W % 8 == 0 and aligned rows).
template <typename T>
__device__ __forceinline__ void load_rows(T* dst, int ld, const T* base, long long stride, int cl, int W, int WP, bool vec) {
    const T zero = from_f<T>(0.f);
    if (vec) {
        const int vpr = WP / 8;
        for (int v = threadIdx.x; v < kQ * vpr; v += kThreads) {
            const int t = v / vpr, c8 = (v % vpr) * 8;
            uint4 r = make_uint4(0, 0, 0, 0);
            if (t < cl && c8 < W) r = __ldg(reinterpret_cast<const uint4*>(base + t * stride + c8));
            *reinterpret_cast<uint4*>(dst + t * ld + c8) = r;
        }
    } else {
        for (int i = threadIdx.x; i < kQ * WP; i += kThreads) {
            const int t = i / WP, c = i % WP;
            dst[t * ld + c] = (t < cl && c < W) ? base[t * stride + c] : zero;
        }
    }
}

// Rows [Q][W] of x into shared memory with 16-byte cp.async (zero-filled past cl / W) when vec, else plain loads.
template <typename T>
__device__ __forceinline__ void async_rows(T* dst, int ld, const T* base, long long stride, int cl, int W, int WP, bool vec) {
    if (!vec) {
        load_rows<T>(dst, ld, base, stride, cl, W, WP, false);
        return;
    }
    const int vpr = WP / 8;
    for (int v = threadIdx.x; v < kQ * vpr; v += kThreads) {
        const int t = v / vpr, c8 = (v % vpr) * 8;
        const bool ok = t < cl && c8 < W;
        cp_async16(dst + t * ld + c8, ok ? base + t * stride + c8 : base, ok);
    }
}

// ---- K2: state passing ----
template <typename T>
__global__ void __launch_bounds__(256) state_passing_kernel(mr_ssd_args a, Dims dm, const float* S_loc, const float* decay, T* S_prev) {
    const int H = a.heads, P = a.head_dim, N = a.state;
    const long long PN = (long long)dm.PP * dm.NP;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int h = blockIdx.y, b = blockIdx.z;
    if (i >= PN) return;
    const int p = (int)(i / dm.NP), n = (int)(i % dm.NP);
    const bool valid = p < P && n < N;
    float s = (valid && a.initial_states) ? a.initial_states[(((long long)b * H + h) * P + p) * N + n] : 0.f;
    const float* dec = decay + ((long long)b * H + h) * dm.nc;
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
            s = fmaf(dec[c + j], s, v[j]);
        }
    }
    for (; c < dm.nc; c++) {
        S_prev[base + c * cstride] = from_f<T>(s);
        s = fmaf(dec[c], s, S_loc[base + c * cstride]);
    }
    if (valid && a.final_states) a.final_states[(((long long)b * H + h) * P + p) * N + n] = s;
}

// ---- K1: chunk states (per head in turn: loads, then the products) ----
template <typename T>
__global__ void __launch_bounds__(kThreads) chunk_state_kernel(mr_ssd_args a, Dims dm, float* S_loc, float* decay) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int c = blockIdx.x, hg = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int PP = dm.PP, NP = dm.NP, t0 = c * kQ, cl = min(kQ, L - t0);
    const int LB = NP + 8, LX = PP + 8;
    const int warp = threadIdx.x / 32;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T* sB = (T*)smem_raw;      // [Q][LB]
    T* sXs = sB + kQ * LB;     // [Q][LX]
    float* s_dt = (float*)(sXs + kQ * LX);
    float* s_cum = s_dt + kQ;
    const T* x = (const T*)a.x;
    int gl = -1;
    for (int hi = 0; hi < dm.hb; hi++) {
        const int h = hg * dm.hb + hi, g = h / (H / G);
        if (g != gl) {
            __syncthreads();
            load_rows<T>(sB, LB, (const T*)a.B + ((long long)b * L + t0) * G * N + (long long)g * N, (long long)G * N, cl, N,
                         NP, dm.vbc);
            gl = g;
        }
        chunk_dt<T>(a, b, h, t0, cl, s_dt, s_cum);
        load_rows<T>(sXs, LX, x + (((long long)b * L + t0) * H + h) * P, (long long)H * P, cl, P, PP, dm.vx);
        __syncthreads();
        const float cum_last = s_cum[kQ - 1];
        for (int i = threadIdx.x; i < kQ * PP; i += kThreads) {
            const int t = i / PP, j = t * LX + i % PP;
            sXs[j] = from_f<T>(to_f(sXs[j]) * __expf(cum_last - s_cum[t]) * s_dt[t]);
        }
        if (threadIdx.x == 0) decay[((long long)b * H + h) * dm.nc + c] = __expf(cum_last);
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
                wm::load_matrix_sync(fa, sXs + k * LX + tp * 16, LX);
                wm::load_matrix_sync(fb, sB + k * LB + tn * 16, LB);
                wm::mma_sync(acc, fa, fb, acc);
            }
            wm::store_matrix_sync(out + tp * 16 * NP + tn * 16, acc, NP, wm::mem_row_major);
        }
        __syncthreads();
    }
#endif
}

// ---- K3: chunk outputs (per head in turn: loads, then the products) ----
template <typename T>
__global__ void __launch_bounds__(kThreads, 2) chunk_scan_kernel(mr_ssd_args a, Dims dm, const T* S_prev) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const int c = blockIdx.x, hg = blockIdx.y, b = blockIdx.z;
    const int L = a.length, H = a.heads, P = a.head_dim, N = a.state, G = a.groups;
    const int PP = dm.PP, NP = dm.NP, t0 = c * kQ, cl = min(kQ, L - t0);
    const int LB = NP + 8, LX = PP + 8, LM = kQ + 8, LG = kQ + 4, LY = PP + 4;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    extern __shared__ __align__(128) unsigned char smem_raw[];
    T* sB = (T*)smem_raw;          // [Q][LB]
    T* sC = sB + kQ * LB;          // [Q][LB]
    T* sS = sC + kQ * LB;          // [PP][LB] state before the chunk
    T* sX = sS + PP * LB;          // [Q][LX]
    T* sM = sX + kQ * LX;          // [Q][LM]
    float* sG = (float*)(sM + kQ * LM);  // [Q][LG] C Bᵀ
    float* sY = sG + kQ * LG;      // [Q][LY]
    float* s_dt = sY + kQ * LY;
    float* s_cum = s_dt + kQ;
    const T* x = (const T*)a.x;
    const T* z = (const T*)a.z;
    const bool vx = dm.vx;
    int gl = -1;
    for (int hi = 0; hi < dm.hb; hi++) {
        const int h = hg * dm.hb + hi, g = h / (H / G);
        if (g != gl) {
            __syncthreads();
            const long long off = ((long long)b * L + t0) * G * N + (long long)g * N;
            load_rows<T>(sB, LB, (const T*)a.B + off, (long long)G * N, cl, N, NP, dm.vbc);
            load_rows<T>(sC, LB, (const T*)a.C + off, (long long)G * N, cl, N, NP, dm.vbc);
            __syncthreads();
            for (int tile = warp; tile < 16; tile += kWarps) {
                const int ti = tile / 4, tj = tile % 4;
                wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
                wm::fill_fragment(acc, 0.f);
                for (int k = 0; k < NP; k += 16) {
                    wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
                    wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::col_major> fb;
                    wm::load_matrix_sync(fa, sC + ti * 16 * LB + k, LB);
                    wm::load_matrix_sync(fb, sB + tj * 16 * LB + k, LB);
                    wm::mma_sync(acc, fa, fb, acc);
                }
                wm::store_matrix_sync(sG + ti * 16 * LG + tj * 16, acc, LG, wm::mem_row_major);
            }
            gl = g;
        }
        chunk_dt<T>(a, b, h, t0, cl, s_dt, s_cum);
        load_rows<T>(sX, LX, x + (((long long)b * L + t0) * H + h) * P, (long long)H * P, cl, P, PP, vx);
        {
            const uint4* src = reinterpret_cast<const uint4*>(S_prev + (((long long)b * dm.nc + c) * H + h) * (long long)PP * NP);
            const int vpr = NP / 8;
            for (int v = threadIdx.x; v < PP * vpr; v += kThreads)
                *reinterpret_cast<uint4*>(sS + (v / vpr) * LB + (v % vpr) * 8) = __ldcs(src + v);
        }
        __syncthreads();
        for (int i = threadIdx.x; i < kQ * kQ; i += kThreads) {
            const int r = i / kQ, s = i % kQ;
            const float m = s <= r ? sG[r * LG + s] * __expf(s_cum[r] - s_cum[s]) * s_dt[s] : 0.f;
            sM[r * LM + s] = from_f<T>(m);
        }
        __syncthreads();
        // Y tile = diag(exp(cum)) (C S'ᵀ) + M X: the off-diagonal part goes through this warp's sY tile once to scale
        // its rows, then is loaded back as the accumulator of M X.
        const int tiles = 4 * (PP / 16);
        for (int tile = warp; tile < tiles; tile += kWarps) {
            const int ti = tile / (PP / 16), tj = tile % (PP / 16);
            float* yt = sY + ti * 16 * LY + tj * 16;
            wm::fragment<wm::accumulator, 16, 16, 16, float> acc;
            wm::fill_fragment(acc, 0.f);
            for (int k = 0; k < NP; k += 16) {
                wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
                wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::col_major> fb;
                wm::load_matrix_sync(fa, sC + ti * 16 * LB + k, LB);
                wm::load_matrix_sync(fb, sS + tj * 16 * LB + k, LB);
                wm::mma_sync(acc, fa, fb, acc);
            }
            wm::store_matrix_sync(yt, acc, LY, wm::mem_row_major);
            __syncwarp();
#pragma unroll
            for (int e = lane; e < 256; e += 32) {
                const int r = e / 16;
                yt[r * LY + e % 16] *= __expf(s_cum[ti * 16 + r]);
            }
            __syncwarp();
            wm::load_matrix_sync(acc, yt, LY, wm::mem_row_major);
#pragma unroll
            for (int k = 0; k < kQ; k += 16) {
                wm::fragment<wm::matrix_a, 16, 16, 16, T, wm::row_major> fa;
                wm::fragment<wm::matrix_b, 16, 16, 16, T, wm::row_major> fb;
                wm::load_matrix_sync(fa, sM + ti * 16 * LM + k, LM);
                wm::load_matrix_sync(fb, sX + k * LX + tj * 16, LX);
                wm::mma_sync(acc, fa, fb, acc);
            }
            wm::store_matrix_sync(yt, acc, LY, wm::mem_row_major);
        }
        __syncthreads();
        // epilogue: out = (Y + D x) silu(z)
        T* out = (T*)a.out + (((long long)b * L + t0) * H + h) * P;
        const float* Dh = a.D ? (a.d_per_channel ? a.D + (long long)h * P : a.D + h) : nullptr;
        if (vx) {
            const int vpr = PP / 8;
            for (int v = threadIdx.x; v < kQ * vpr; v += kThreads) {
                const int t = v / vpr, p8 = (v % vpr) * 8;
                if (t >= cl || p8 >= P) continue;
                const long long go = (long long)t * H * P + p8;
                float zz[8];
                if (z) {
                    uint4 zr = __ldcs(reinterpret_cast<const uint4*>(z + (((long long)b * L + t0) * H + h) * P + go));
                    const T* zt = reinterpret_cast<const T*>(&zr);
#pragma unroll
                    for (int j = 0; j < 8; j++) zz[j] = to_f(zt[j]);
                }
                uint4 o;
                T* ot = reinterpret_cast<T*>(&o);
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    const int p = p8 + j;
                    float y = sY[t * LY + p];
                    if (Dh) y = fmaf(a.d_per_channel ? Dh[p] : Dh[0], to_f(sX[t * LX + p]), y);
                    if (z) y *= silu(zz[j]);
                    ot[j] = from_f<T>(y);
                }
                *reinterpret_cast<uint4*>(out + go) = o;
            }
        } else {
            for (int i = threadIdx.x; i < kQ * PP; i += kThreads) {
                const int t = i / PP, p = i % PP;
                if (t >= cl || p >= P) continue;
                const long long go = (long long)t * H * P + p;
                float y = sY[t * LY + p];
                if (Dh) y = fmaf(a.d_per_channel ? Dh[p] : Dh[0], to_f(sX[t * LX + p]), y);
                if (z) y *= silu(to_f(z[(((long long)b * L + t0) * H + h) * P + go]));
                out[go] = from_f<T>(y);
            }
        }
        __syncthreads();
    }
#endif
}

inline int heads_per_block(const mr_ssd_args& a) {
    static const char* env = getenv("MAMBAREF_CUDA_SSD_HB");
    int want = env ? atoi(env) : 4;
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
    const long long PN = (long long)dm.PP * dm.NP;
    const size_t n_states = (size_t)a.batch * dm.nc * a.heads * PN;
    const size_t bytes_loc = n_states * sizeof(float);
    const size_t bytes_prev = n_states * sizeof(T);
    const size_t bytes_dec = (size_t)a.batch * a.heads * dm.nc * sizeof(float);
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
    const size_t off_prev = (bytes_loc + 255) / 256 * 256, off_dec = off_prev + (bytes_prev + 255) / 256 * 256;
    MR_CHECK_CUDA(cudaMallocAsync((void**)&ws, off_dec + bytes_dec, 0), "ssd workspace");
    float* S_loc = (float*)ws;
    T* S_prev = (T*)(ws + off_prev);
    float* decay = (float*)(ws + off_dec);

    dim3 grid(dm.nc, a.heads / dm.hb, a.batch);
    const size_t LB = dm.NP + 8, LX = dm.PP + 8, LM = kQ + 8;
    const size_t sm1 = (size_t)kQ * LB * 2 + (size_t)kQ * LX * 2 + 2 * kQ * 4;
    const size_t sm3 = (2 * (size_t)kQ * LB + (size_t)dm.PP * LB + (size_t)kQ * LX + (size_t)kQ * LM) * 2 +
                       ((size_t)kQ * (kQ + 4) + (size_t)kQ * (dm.PP + 4) + 2 * kQ) * 4;
    auto k1 = chunk_state_kernel<T>;
    auto k3 = chunk_scan_kernel<T>;
    cudaError_t err = cudaFuncSetAttribute(k1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm1);
    if (err == cudaSuccess) err = cudaFuncSetAttribute(k3, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm3);
    // MAMBAREF_CUDA_SSD_PROFILE=1: per-kernel times on stderr (events between the launches; benchmarks only).
    static const bool profile = getenv("MAMBAREF_CUDA_SSD_PROFILE") != nullptr;
    cudaEvent_t ev[4];
    if (profile)
        for (auto& e : ev) cudaEventCreate(&e);
    if (err == cudaSuccess) {
        if (profile) cudaEventRecord(ev[0]);
        k1<<<grid, kThreads, sm1>>>(a, dm, S_loc, decay);
        if (profile) cudaEventRecord(ev[1]);
        dim3 g2((unsigned)((PN + 255) / 256), a.heads, a.batch);
        state_passing_kernel<T><<<g2, 256>>>(a, dm, S_loc, decay, S_prev);
        if (profile) cudaEventRecord(ev[2]);
        k3<<<grid, kThreads, sm3>>>(a, dm, S_prev);
        if (profile) cudaEventRecord(ev[3]);
        err = cudaGetLastError();
    }
    if (profile) {
        float t[3] = {0, 0, 0};
        cudaEventSynchronize(ev[3]);
        for (int i = 0; i < 3; i++) cudaEventElapsedTime(&t[i], ev[i], ev[i + 1]);
        fprintf(stderr, "ssd kernels (hb=%d): chunk_state %.1f us, state_passing %.1f us, chunk_scan %.1f us\n", dm.hb, t[0] * 1e3, t[1] * 1e3, t[2] * 1e3);
        for (auto& e : ev) cudaEventDestroy(e);
    }
    cudaError_t ferr = cudaFreeAsync(ws, 0);
    if (err != cudaSuccess) return cuda_status(err, "ssd (chunked) launch");
    MR_CHECK_CUDA(ferr, "ssd workspace free");
    return MR_OK;
}

}  // namespace cssd
}  // namespace mr
