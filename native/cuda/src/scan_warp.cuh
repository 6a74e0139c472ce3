// Mamba-1 selective scan forward, fast path for N <= 16 with per-token B and C (MATH.md §2), included by scan.cu.
//
// A block of WPB warps handles 8·WPB channels of one batch row; every warp owns 8 channels with 4 lanes per channel
// (state slices s of 4 states each, kept in registers). The sequence is walked in chunks of TT tokens through an
// NSTAGE-deep cp.async pipeline; the block shares one copy of the B and C rows of its group per chunk (the only
// block barrier, once per chunk). Per chunk and warp:
//   E: lane (channel c, slice s) forms Δ = softplus(δ + bias) and Δu for its channel's tokens s·TT/4 .. (one or two
//      16-byte vectors) → s_dd [8][TT] as (Δ, Δu) pairs; 16-bit B/C rows → float32 (float32 storage: read in place)
//   S: 4 tokens at a time: h = 2^(Δ·A·log2e)·h + Δu·B_t over the lane's 4 states, the partial y_t = Σ C_t·h in
//      registers for the whole chunk, then → s_y [4 slices][8][TT]
//   O: the lane sums the 4 slices' partials of its own tokens: out = (y + D·u)·silu(z) (u kept in registers from E),
//      16-byte stores.
// Lane bits (c0, s0, s1, c1, c2): lanes n and n^1 share a slice (the same B/C addresses), lanes n and n^2 share a
// channel (the same Δ address), so the shared-memory return path packs two lanes per register for every broadcast
// read of the recurrence. Row paddings make the other 16-byte accesses conflict-free. native/cuda/README.md has
// the measured alternatives.
#pragma once
#include "common.cuh"

namespace mr {
namespace wscan {

constexpr int NS = 16;  // state slots (N <= 16, zero padded)

// 16-byte global → shared copy of which the first `bytes` (16 or 0) are read, the rest zero-filled.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int bytes) {
    const unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(gmem), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ float ex2_mufu(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
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

// Lane → channel c (8 per warp) and state slice s (4 per channel): the bit layout described at the top.
__device__ __forceinline__ int lane_channel(int lane) { return (lane & 1) | ((lane >> 3) << 1); }
__device__ __forceinline__ int lane_slice(int lane) { return (lane >> 1) & 3; }

template <typename T, int NSTAGE, int TT, int WPB>
struct Cfg {
    static constexpr int SW = 4, NPT = 4, CW = 8;  // per warp; a block of WPB warps shares the B/C rows
    static constexpr int ES = sizeof(T);
    static constexpr int VE = 16 / ES;
    static constexpr int TPL = TT / SW;        // tokens per lane in the elementwise phases: NV 16-byte vectors
    static constexpr int NV = TPL / VE;
    static constexpr int RB = TT * ES + (NV == 1 ? 0 : 16);  // u, δ, z stage rows (padded when NV > 1)
    static constexpr int VPR = TT * ES / 16;
    static constexpr int RS = 32 / VPR;
    static constexpr int RBB = TT * ES + 16;   // 16-bit B/C stage rows (padded)
    static constexpr int FRB = TT * 4 + 16;    // float32 B/C rows
    static constexpr int XB = 128 / SW;
    static constexpr int BCF = 2 * NS * FRB + 2 * SW * XB;
    static constexpr int UZB = 3 * CW * RB;      // one warp's u, δ, z rows
    static constexpr int STAGE = WPB * UZB + (ES == 4 ? BCF : 2 * NS * RBB);
    static constexpr int BCI = NS / RS;          // B (and C) copy instructions per chunk, split over the warps
    // s_dd row (channel) stride and s_y row / slice strides, in floats: chosen so that the 16-byte accesses of the
    // 8 lanes of a quarter warp (c0, s0, s1) fall into distinct banks (except the s_dd writes of 32-token chunks: 2-way)
    static constexpr int DDW = TT * 2 + 4;
    static constexpr int YRW = TPL == 4 ? TT : TT + 4;
    static constexpr int SYW = CW * YRW + (TPL == 4 ? 4 : 8);
    static constexpr int WSM = (ES == 4 ? 0 : BCF) + CW * DDW * 4 + SW * SYW * 4;  // per-warp scratch bytes
    static constexpr size_t SMEM = (size_t)NSTAGE * STAGE + (size_t)WPB * WSM;
    static_assert(NV * VE == TPL && RS * VPR == 32 && CW % RS == 0 && NS % RS == 0 && RS % NPT == 0 && (2 * BCI) % WPB == 0, "layout");
};

template <typename T, int NSTAGE, int TT, int WPB>
__global__ void __launch_bounds__(32 * WPB, 12 / WPB) scan_kernel(mr_scan_args a) {
    using C = Cfg<T, NSTAGE, TT, WPB>;
    constexpr int NPT = C::NPT, CW = C::CW, VE = C::VE, VPR = C::VPR, RS = C::RS, RB = C::RB, RBB = C::RBB, ES = C::ES;
    constexpr int FRB = C::FRB, XB = C::XB, DDW = C::DDW, YRW = C::YRW, SYW = C::SYW, TPL = C::TPL;
    const int D = a.dim, L = a.length, N = a.state;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int b = blockIdx.y, db = blockIdx.x * CW * WPB, d0 = db + warp * CW;
    const int gB = db / (D / a.groups_b), gC = db / (D / a.groups_c);
    const bool has_z = a.z != nullptr;

    extern __shared__ __align__(16) unsigned char smem[];
    unsigned char* stages = smem;
    unsigned char* s_bcf = smem + NSTAGE * C::STAGE + warp * C::WSM;
    float* s_dd = reinterpret_cast<float*>(s_bcf + (ES == 4 ? 0 : C::BCF));
    float* s_y = s_dd + CW * DDW;

    const long long row0 = ((long long)b * D + d0) * L;
    const T* Bg = (const T*)a.B + ((long long)b * a.groups_b + gB) * N * (long long)L;
    const T* Cg = (const T*)a.C + ((long long)b * a.groups_c + gC) * N * (long long)L;

    // Copy role: per chunk every lane issues CW / RS copies of each of its warp's u, δ, z row blocks and 2·BCI / WPB of
    // the block's B and C row blocks (16 bytes of column col of row r0 + m·RS each). Rows of states >= N are
    // zero-filled (source size 0, source address row 0); so are tokens >= L, in the last chunk only.
    const int col = lane % VPR, r0 = lane / VPR;
    const long long rowl = row0 + (long long)r0 * L + col * VE;
    const T* pu = (const T*)a.u + rowl;
    const T* pd = (const T*)a.delta + rowl;
    const T* pz = has_z ? (const T*)a.z + rowl : pu;
    const long long step = (long long)RS * L;
    constexpr int NBC = 2 * C::BCI / WPB;  // B/C copies per lane and chunk
    const T* pbc[NBC];
    bool bcok[NBC];
    int bcoff[NBC];
#pragma unroll
    for (int jj = 0; jj < NBC; jj++) {
        const int j = jj * WPB + warp;  // B row blocks 0 .. BCI-1, then C
        const bool isc = j >= C::BCI;
        const int m = isc ? j - C::BCI : j;
        const bool ok = r0 + m * RS < N;
        pbc[jj] = (isc ? Cg : Bg) + (ok ? (long long)(r0 + m * RS) * L : 0) + col * VE;
        bcok[jj] = ok;
        const int row = (isc ? NS : 0) + m * RS + r0;
        bcoff[jj] = WPB * C::UZB + (ES == 4 ? row * FRB + (row / NPT) * XB : row * RBB) + col * 16;
    }
    const int soff = warp * C::UZB + r0 * RB + col * 16;
    // Chunk k's copies into the stage at byte offset st_off; ts / sz: token offset and source size of the lane's
    // 16-byte pieces (constant in every chunk but the last).
    auto issue = [&](int k, int st_off) {
        const int t0 = k * TT;
        unsigned char* sp = stages + st_off;
        auto copy = [&](int ts, int sz) {
#pragma unroll
            for (int m = 0; m < CW / RS; m++) {
                cp_async16(sp + soff + m * RS * RB, pu + m * step + ts, sz);
                cp_async16(sp + soff + (CW + m * RS) * RB, pd + m * step + ts, sz);
                cp_async16(sp + soff + (2 * CW + m * RS) * RB, pz + m * step + ts, has_z ? sz : 0);
            }
#pragma unroll
            for (int jj = 0; jj < NBC; jj++) cp_async16(sp + bcoff[jj], pbc[jj] + ts, bcok[jj] ? sz : 0);
        };
        if (t0 + TT <= L) {
            copy(t0, 16);
        } else {
            const bool in = t0 + col * VE < L;
            copy(in ? t0 : 0, in ? 16 : 0);
        }
    };
    auto next_stage = [](int off) { return off + C::STAGE == NSTAGE * C::STAGE ? 0 : off + C::STAGE; };

    const int c = lane_channel(lane), s = lane_slice(lane);
    const int d = d0 + c;
    float h[NPT], A2[NPT];
#pragma unroll
    for (int k = 0; k < NPT; k++) {
        const int n = s * NPT + k;
        A2[k] = n < N ? a.A[(long long)d * N + n] * kLog2e : 0.f;
        h[k] = (n < N && a.h0) ? a.h0[((long long)b * D + d) * N + n] : 0.f;
    }
    const float bias = a.delta_bias ? a.delta_bias[d] : 0.f;
    const float Dd = a.D ? a.D[d] : 0.f;
    const int boff = (s * NPT) * FRB + s * XB;
    const int coff = (NS + s * NPT) * FRB + (NS / NPT + s) * XB;
    const int te = s * TPL;  // this lane's tokens in the elementwise phases

    const int nchunks = (L + TT - 1) / TT;
    int st_issue = 0, st_use = 0;  // byte offsets of the stage the next copies go to / the current chunk is in
#pragma unroll
    for (int st = 0; st < NSTAGE - 1; st++) {
        if (st < nchunks) issue(st, st_issue);
        cp_async_commit();
        st_issue = next_stage(st_issue);
    }

    for (int k = 0; k < nchunks; k++) {
        const int t0 = k * TT;
        cp_async_wait<NSTAGE - 2>();
        if constexpr (WPB == 1) __syncwarp(); else __syncthreads();
        if (k + NSTAGE - 1 < nchunks) issue(k + NSTAGE - 1, st_issue);
        cp_async_commit();
        st_issue = next_stage(st_issue);
        const unsigned char* stg = stages + st_use + warp * C::UZB;
        const unsigned char* stg_bc = stages + st_use + WPB * C::UZB;
        st_use = next_stage(st_use);
        const bool in = t0 + te < L;

        // ---- E: (Δ, Δu) of this lane's channel and tokens → s_dd; D·u kept for the output ----
        float uu[TPL];
        {
            float dl[TPL];
#pragma unroll
            for (int v = 0; v < C::NV; v++) {
                load_vec<T>(stg + (CW + c) * RB + (te + v * VE) * ES, dl + v * VE);
                load_vec<T>(stg + c * RB + (te + v * VE) * ES, uu + v * VE);
            }
            float o[2 * TPL];
#pragma unroll
            for (int i = 0; i < TPL; i++) {
                float dt = dl[i] + bias;
                if (a.delta_softplus) dt = softplus_fast(dt);
                dt = in ? dt : 0.f;
                o[2 * i] = dt;
                o[2 * i + 1] = dt * uu[i];
            }
#pragma unroll
            for (int i = 0; i < TPL / 2; i++)
                *reinterpret_cast<float4*>(s_dd + c * DDW + 2 * te + 4 * i) = make_float4(o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]);
        }
        const unsigned char* bcf;
        if constexpr (ES == 4) {
            bcf = stg_bc;
        } else {
            const int q = lane;
#pragma unroll
            for (int g = 0; g < VPR; g++) {
                float v[VE];
                load_vec<T>(stg_bc + q * RBB + g * 16, v);
#pragma unroll
                for (int i = 0; i < VE / 4; i++)
                    *reinterpret_cast<float4*>(s_bcf + q * FRB + (q / NPT) * XB + (g * VE + 4 * i) * 4) =
                        make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
            }
            bcf = s_bcf;
        }
        __syncwarp();

        // ---- S: the recurrence over the chunk, 4 tokens at a time; partial y of the lane's 4 states in registers ----
        float yp[TT];
        {
            const float* dd = s_dd + c * DDW;
            const unsigned char* bp = bcf + boff;
            const unsigned char* cp = bcf + coff;
            float4 v[2][2], bt[2][NPT], ct[2][NPT];
            auto load = [&](int t, int buf) {
                v[buf][0] = *reinterpret_cast<const float4*>(dd + 2 * t);
                v[buf][1] = *reinterpret_cast<const float4*>(dd + 2 * t + 4);
#pragma unroll
                for (int kk = 0; kk < NPT; kk++) {
                    bt[buf][kk] = *reinterpret_cast<const float4*>(bp + kk * FRB + t * 4);
                    ct[buf][kk] = *reinterpret_cast<const float4*>(cp + kk * FRB + t * 4);
                }
            };
            auto compute = [&](int buf, int t) {
                const float dts[4] = {v[buf][0].x, v[buf][0].z, v[buf][1].x, v[buf][1].z};
                const float dus[4] = {v[buf][0].y, v[buf][0].w, v[buf][1].y, v[buf][1].w};
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    float y = 0.f;
#pragma unroll
                    for (int kk = 0; kk < NPT; kk++) {
                        const float bq = q == 0 ? bt[buf][kk].x : q == 1 ? bt[buf][kk].y : q == 2 ? bt[buf][kk].z : bt[buf][kk].w;
                        const float cq = q == 0 ? ct[buf][kk].x : q == 1 ? ct[buf][kk].y : q == 2 ? ct[buf][kk].z : ct[buf][kk].w;
                        const float x = dts[q] * A2[kk];
                        const float e = ex2_mufu(x);
                        h[kk] = fmaf(e, h[kk], dus[q] * bq);
                        y = kk == 0 ? cq * h[kk] : fmaf(cq, h[kk], y);
                    }
                    yp[t + q] = y;
                }
            };
            load(0, 0);
#pragma unroll
            for (int t = 0; t < TT; t += 8) {
                load(t + 4, 1);
                compute(0, t);
                if (t + 8 < TT) load(t + 8, 0);
                compute(1, t + 4);
            }
        }
        // ---- the 4 slices' partial sums meet in shared memory ----
        {
            float* yw = s_y + s * SYW + c * YRW;
#pragma unroll
            for (int j = 0; j < TT / 4; j++)
                *reinterpret_cast<float4*>(yw + 4 * j) = make_float4(yp[4 * j], yp[4 * j + 1], yp[4 * j + 2], yp[4 * j + 3]);
        }
        __syncwarp();

        // ---- O: out = (y + D u) silu(z) for this lane's channel and tokens ----
        if (in) {
            float o[TPL], zz[TPL];
            if (has_z) {
#pragma unroll
                for (int v = 0; v < C::NV; v++) load_vec<T>(stg + (2 * CW + c) * RB + (te + v * VE) * ES, zz + v * VE);
            }
#pragma unroll
            for (int i = 0; i < TPL; i += 4) {
                float4 y4 = *reinterpret_cast<const float4*>(s_y + c * YRW + te + i);
#pragma unroll
                for (int sl = 1; sl < 4; sl++) {
                    const float4 p = *reinterpret_cast<const float4*>(s_y + sl * SYW + c * YRW + te + i);
                    y4.x += p.x; y4.y += p.y; y4.z += p.z; y4.w += p.w;
                }
                o[i] = fmaf(Dd, uu[i], y4.x);
                o[i + 1] = fmaf(Dd, uu[i + 1], y4.y);
                o[i + 2] = fmaf(Dd, uu[i + 2], y4.z);
                o[i + 3] = fmaf(Dd, uu[i + 3], y4.w);
            }
            if (has_z) {
#pragma unroll
                for (int i = 0; i < TPL; i++) o[i] *= silu(zz[i]);
            }
#pragma unroll
            for (int v = 0; v < C::NV; v++) store_vec<T>((T*)a.out + row0 + (long long)c * L + t0 + te + v * VE, o + v * VE);
        }
    }
    cp_async_wait<0>();

    if (a.last_state) {
#pragma unroll
        for (int k = 0; k < NPT; k++) {
            const int n = s * NPT + k;
            if (n < N) a.last_state[((long long)b * D + d) * N + n] = h[k];
        }
    }
}


// Whether the fast path applies with cw channels per block: per-token B and C, N <= 16, every block's channels
// inside one group of B and of C, L a multiple of the 16-byte vector, 16-byte aligned tensors.
inline bool applicable(const mr_scan_args& a, int es, int cw) {
    auto al = [](const void* p) { return ((uintptr_t)p & 15) == 0; };
    const int ve = 16 / es;
    return a.b_variable && a.c_variable && a.state <= NS && (a.dim / a.groups_b) % cw == 0 &&
           (a.dim / a.groups_c) % cw == 0 && a.length % ve == 0 && al(a.u) && al(a.delta) && al(a.B) && al(a.C) &&
           al(a.out) && (!a.z || al(a.z));
}

template <typename T, int NSTAGE, int TT, int WPB>
int launch_cfg(const mr_scan_args& a) {
    using C = Cfg<T, NSTAGE, TT, WPB>;
    auto kernel = scan_kernel<T, NSTAGE, TT, WPB>;
    MR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM), "scan smem attribute");
    dim3 grid(a.dim / (C::CW * WPB), a.batch);
    kernel<<<grid, 32 * WPB, C::SMEM>>>(a);
    MR_CHECK_CUDA(cudaGetLastError(), "selective scan (fast path) launch");
    return MR_OK;
}

// Launches the fast path when it applies (returns MR_OK or an error status) and returns -1 when it does not. Two
// warps per block (16 channels) where the groups allow, else one. Float32 storage: 16-token chunks, 3 stages;
// 16-bit storage: 32-token chunks, 2 stages (H200 measurements in native/cuda/README.md).
template <typename T>
int try_launch(const mr_scan_args& a) {
    constexpr int es = (int)sizeof(T);
    constexpr int NSTAGE = es == 4 ? 3 : 2, TT = es == 4 ? 16 : 32;
    if (applicable(a, es, 16)) return launch_cfg<T, NSTAGE, TT, 2>(a);
    if (applicable(a, es, 8)) return launch_cfg<T, NSTAGE, TT, 1>(a);
    return -1;
}

}  // namespace wscan
}  // namespace mr
