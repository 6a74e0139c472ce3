// Mamba-1 selective scan forward, fast path for N <= 16 with per-token B and C (MATH.md §2), included by scan.cu.
//
// Every warp is its own block and runs its own pipeline (only __syncwarp, no block barrier): CW = 32 / SW channels
// of one batch row, all 16 (zero-padded) states; lane = channel·SW + slice, each lane keeping NPT = 16 / SW state
// entries of its channel in registers. The sequence is walked in chunks of TT tokens with an NSTAGE-deep cp.async
// pipeline (u, δ, z rows of the warp's channels and the B, C rows of its group, 16-byte copies). Per chunk:
//   E: Δ = softplus(δ + bias) and Δu once per (channel, token) → s_dd [CW][TT] as (Δ, Δu) pairs; 16-bit B/C
//      rows → float32 (float32 storage: read in place)
//   S: 4 tokens at a time: h = 2^(Δ·A·log2e)·h + Δu·B_t and the partial y_t = Σ C_t·h over the lane's states
//      → s_y [SW][CW][TT]; B/C come as 16-byte reads of 4 tokens of one state row, the same for every channel
//      of the warp (a broadcast), so shared-memory traffic per state update is small
//   O: out = (Σ partials + D·u)·silu(z), 16-byte stores.
// The warps of a multiprocessor drift apart freely, so the exponentials of some overlap the copies and the
// elementwise phases of others. On the H200, SW = 4 (8 channels, 4 states per lane, 16-token chunks, 2 stages)
// is fastest for float32 storage and SW = 2 (16 channels, 8 states per lane, 32-token chunks, 3 stages) for
// 16-bit storage (native/cuda/README.md has the measured alternatives).
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

template <typename T, int SW, int NSTAGE, int TT>
struct Cfg {
    static constexpr int NPT = NS / SW;        // states per lane
    static constexpr int CW = 32 / SW;         // channels per warp
    static constexpr int ES = sizeof(T);
    static constexpr int VE = 16 / ES;         // elements per 16-byte vector
    static constexpr int VPR = TT / VE;        // vectors per stage row
    static constexpr int RS = 32 / VPR;        // rows covered by one warp-wide copy instruction
    static constexpr int RB = TT * ES + 16;    // stage row bytes, padded: conflict-free 16-byte column reads
    static constexpr int ROWS = 3 * CW + 2 * NS;  // u, δ, z rows of the channels; B, C rows of the group
    // float32 B/C rows (the stage itself for T = float, else a converted copy): row q at q·FRB + (q / NPT)·XB, the
    // extra XB per state slice puts the SW slices' 16-byte reads of one token group into different banks.
    static constexpr int FRB = TT * 4 + 16;
    static constexpr int XB = 128 / SW;
    static constexpr int BCF = 2 * NS * FRB + 2 * SW * XB;  // bytes of a float32 B/C block
    static constexpr int STAGE = 3 * CW * RB + (ES == 4 ? BCF : 2 * NS * RB);
    static constexpr int JV = ROWS / RS;       // copies per lane per chunk
    static constexpr int DDW = TT * 2 + 4;     // s_dd row (channel) stride in floats: (Δ, Δu) pairs along t
    static constexpr int YRW = TT + 4;         // s_y row stride in floats
    static constexpr int SYW = CW * YRW + 32 / SW;  // s_y slice stride in floats (slices in different banks)
    static constexpr size_t SMEM = (size_t)NSTAGE * STAGE + (ES == 4 ? 0 : BCF) + (size_t)CW * DDW * 4 + (size_t)SW * SYW * 4;
    static_assert(ROWS % RS == 0 && CW % RS == 0 && NS % RS == 0 && (CW * VPR) % 32 == 0 && TT % 4 == 0, "layout");
};

template <typename T, int SW, int NSTAGE, int TT>
__global__ void __launch_bounds__(32) scan_kernel(mr_scan_args a) {
    using C = Cfg<T, SW, NSTAGE, TT>;
    constexpr int NPT = C::NPT, CW = C::CW, VE = C::VE, VPR = C::VPR, RS = C::RS, RB = C::RB, ES = C::ES;
    constexpr int FRB = C::FRB, XB = C::XB, DDW = C::DDW, YRW = C::YRW, SYW = C::SYW;
    const int D = a.dim, L = a.length, N = a.state;
    const int b = blockIdx.y, d0 = blockIdx.x * CW;
    const int lane = threadIdx.x;
    const int gB = d0 / (D / a.groups_b), gC = d0 / (D / a.groups_c);
    const bool has_z = a.z != nullptr;

    extern __shared__ __align__(16) unsigned char smem[];
    unsigned char* stages = smem;
    unsigned char* s_bcf = smem + NSTAGE * C::STAGE;  // 16-bit types: float32 B/C of the current chunk
    float* s_dd = reinterpret_cast<float*>(s_bcf + (ES == 4 ? 0 : C::BCF));  // [CW][TT] (Δ, Δu), row stride DDW
    float* s_y = s_dd + CW * DDW;                                             // [SW][CW][TT] partial y

    const long long row0 = ((long long)b * D + d0) * L;  // element offset of channel d0, token 0
    const T* Bg = (const T*)a.B + ((long long)b * a.groups_b + gB) * N * (long long)L;
    const T* Cg = (const T*)a.C + ((long long)b * a.groups_c + gC) * N * (long long)L;

    // Copies: lane owns column col of rows r0 + j·RS (j < JV). Row blocks: u [0, CW), δ [CW, 2CW), z [2CW, 3CW),
    // B [3CW, 3CW+16), C [3CW+16, 3CW+32); the block of each j is a compile-time fact. Rows of states >= N and
    // tokens >= L are zero-filled (source size 0; the source address then stays a valid one).
    const int col = lane % VPR, r0 = lane / VPR;
    const T* pu = (const T*)a.u + row0 + (long long)r0 * L + col * VE;
    const T* pd = (const T*)a.delta + row0 + (long long)r0 * L + col * VE;
    const T* pz = has_z ? (const T*)a.z + row0 + (long long)r0 * L + col * VE : pu;
    const T* pb = Bg + (long long)(r0 < N ? r0 : 0) * L + col * VE;
    const T* pc = Cg + (long long)(r0 < N ? r0 : 0) * L + col * VE;
    const long long step = (long long)RS * L;
    unsigned nmask = 0;  // bit m: state row r0 + m·RS exists
#pragma unroll
    for (int m = 0; m < NS / RS; m++) nmask |= (r0 + m * RS < N) ? 1u << m : 0u;
    const int soff = r0 * RB + col * 16;
    const int soff_bc = ES == 4 ? r0 * FRB + (r0 / NPT) * XB + col * 16 : r0 * RB + col * 16;
    auto issue = [&](int k, int st) {
        const int t0 = k * TT;
        const bool in = t0 + col * VE < L;
        const int ts = in ? t0 : 0;
        const int sz = in ? 16 : 0;
        unsigned char* sp = stages + st * C::STAGE;
#pragma unroll
        for (int m = 0; m < CW / RS; m++) {
            cp_async16(sp + soff + m * RS * RB, pu + m * step + ts, sz);
            cp_async16(sp + soff + (CW + m * RS) * RB, pd + m * step + ts, sz);
            cp_async16(sp + soff + (2 * CW + m * RS) * RB, pz + m * step + ts, has_z ? sz : 0);
        }
#pragma unroll
        for (int m = 0; m < NS / RS; m++) {
            const bool ok = (nmask >> m) & 1u;
            const T* qb = ok ? pb + m * step : pb;
            const T* qc = ok ? pc + m * step : pc;
            const int zs = ok ? sz : 0;
            if constexpr (ES == 4) {
                // rows q = r0 + m·RS (B) and 16 + q (C) at q·FRB + (q / NPT)·XB; (m·RS) / NPT + r0 / NPT = q / NPT
                cp_async16(sp + 3 * CW * RB + soff_bc + m * RS * FRB + ((m * RS) / NPT) * XB, qb + ts, zs);
                cp_async16(sp + 3 * CW * RB + soff_bc + (NS + m * RS) * FRB + ((NS + m * RS) / NPT) * XB, qc + ts, zs);
            } else {
                cp_async16(sp + 3 * CW * RB + soff_bc + m * RS * RB, qb + ts, zs);
                cp_async16(sp + 3 * CW * RB + soff_bc + (NS + m * RS) * RB, qc + ts, zs);
            }
        }
    };

    // Scan role: channel c, state slice s (states s·NPT .. +NPT-1). Elementwise role: channel lane % CW.
    const int c = lane / SW, s = lane % SW;
    const int d = d0 + c;
    float h[NPT], A2[NPT];
#pragma unroll
    for (int k = 0; k < NPT; k++) {
        const int n = s * NPT + k;
        A2[k] = n < N ? a.A[(long long)d * N + n] * kLog2e : 0.f;
        h[k] = (n < N && a.h0) ? a.h0[((long long)b * D + d) * N + n] : 0.f;
    }
    const int ce = lane % CW;
    const float bias_e = a.delta_bias ? a.delta_bias[d0 + ce] : 0.f;
    const float D_e = a.D ? a.D[d0 + ce] : 0.f;
    // Byte offsets of this lane's first B and C rows inside a float32 B/C block.
    const int boff = (s * NPT) * FRB + s * XB;
    const int coff = (NS + s * NPT) * FRB + (NS / NPT + s) * XB;

    const int nchunks = (L + TT - 1) / TT;
#pragma unroll
    for (int st = 0; st < NSTAGE - 1; st++) {
        if (st < nchunks) issue(st, st);
        cp_async_commit();
    }

    for (int k = 0; k < nchunks; k++) {
        const int t0 = k * TT;
        cp_async_wait<NSTAGE - 2>();
        __syncwarp();  // chunk k visible to the warp; every lane is done with chunk k-1 (its stage is free)
        if (k + NSTAGE - 1 < nchunks) issue(k + NSTAGE - 1, (k + NSTAGE - 1) % NSTAGE);
        cp_async_commit();
        const unsigned char* stg = stages + (k % NSTAGE) * C::STAGE;

        // ---- E: (Δ, Δu) per (channel, token) → s_dd; 16-bit B/C rows → float32 ----
#pragma unroll
        for (int j = 0; j < CW * VPR / 32; j++) {
            const int g = lane / CW + j * (32 / CW), t = g * VE;
            float dl[VE], uu[VE];
            load_vec<T>(stg + (CW + ce) * RB + t * ES, dl);
            load_vec<T>(stg + ce * RB + t * ES, uu);
            const bool in = t0 + t < L;
            float o[2 * VE];
#pragma unroll
            for (int i = 0; i < VE; i++) {
                float dt = dl[i] + bias_e;
                if (a.delta_softplus) dt = softplus_fast(dt);
                dt = in ? dt : 0.f;  // tokens past the end leave the state unchanged
                o[2 * i] = dt;
                o[2 * i + 1] = dt * uu[i];
            }
#pragma unroll
            for (int i = 0; i < VE / 2; i++)
                *reinterpret_cast<float4*>(s_dd + ce * DDW + 2 * t + 4 * i) = make_float4(o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]);
        }
        const unsigned char* bcf;
        if constexpr (ES == 4) {
            bcf = stg + 3 * CW * RB;
        } else {
            const int q = lane;  // B/C row
#pragma unroll
            for (int g = 0; g < VPR; g++) {
                float v[VE];
                load_vec<T>(stg + (3 * CW + q) * RB + g * 16, v);
#pragma unroll
                for (int i = 0; i < VE / 4; i++)
                    *reinterpret_cast<float4*>(s_bcf + q * FRB + (q / NPT) * XB + (g * VE + 4 * i) * 4) =
                        make_float4(v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]);
            }
            bcf = s_bcf;
        }
        __syncwarp();

        // ---- S: the recurrence over the chunk, 4 tokens at a time; the next group's operands are loaded before
        // this group is computed ----
        {
            const float* dd = s_dd + c * DDW;
            const unsigned char* bp = bcf + boff;
            const unsigned char* cp = bcf + coff;
            float* yp = s_y + s * SYW + c * YRW;
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
                float yv[4];
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    float y0 = 0.f, y1 = 0.f;
#pragma unroll
                    for (int kk = 0; kk < NPT; kk++) {
                        const float bq = q == 0 ? bt[buf][kk].x : q == 1 ? bt[buf][kk].y : q == 2 ? bt[buf][kk].z : bt[buf][kk].w;
                        const float cq = q == 0 ? ct[buf][kk].x : q == 1 ? ct[buf][kk].y : q == 2 ? ct[buf][kk].z : ct[buf][kk].w;
                        const float x = dts[q] * A2[kk];
                        h[kk] = fmaf(ex2_mufu(x), h[kk], dus[q] * bq);
                        if (kk & 1) y1 = fmaf(cq, h[kk], y1); else y0 = fmaf(cq, h[kk], y0);
                    }
                    yv[q] = y0 + y1;
                }
                *reinterpret_cast<float4*>(yp + t) = make_float4(yv[0], yv[1], yv[2], yv[3]);
            };
            // Buffer indices are literals, so the operand arrays stay in registers even if the loop is not unrolled.
            load(0, 0);
#pragma unroll
            for (int t = 0; t < TT; t += 8) {
                load(t + 4, 1);
                compute(0, t);
                if (t + 8 < TT) load(t + 8, 0);
                compute(1, t + 4);
            }
        }
        __syncwarp();

        // ---- O: out = (y + D u) silu(z) ----
#pragma unroll
        for (int j = 0; j < CW * VPR / 32; j++) {
            const int g = lane / CW + j * (32 / CW), t = g * VE;
            if (t0 + t >= L) continue;
            float uu[VE], zz[VE], o[VE];
            load_vec<T>(stg + ce * RB + t * ES, uu);
            if (has_z) load_vec<T>(stg + (2 * CW + ce) * RB + t * ES, zz);
#pragma unroll
            for (int i = 0; i < VE; i += 4) {
                float4 y4 = *reinterpret_cast<const float4*>(s_y + ce * YRW + t + i);
#pragma unroll
                for (int sl = 1; sl < SW; sl++) {
                    const float4 p = *reinterpret_cast<const float4*>(s_y + sl * SYW + ce * YRW + t + i);
                    y4.x += p.x; y4.y += p.y; y4.z += p.z; y4.w += p.w;
                }
                o[i] = y4.x; o[i + 1] = y4.y; o[i + 2] = y4.z; o[i + 3] = y4.w;
            }
#pragma unroll
            for (int i = 0; i < VE; i++) {
                float y = fmaf(D_e, uu[i], o[i]);
                if (has_z) y *= silu(zz[i]);
                o[i] = y;
            }
            store_vec<T>((T*)a.out + row0 + (long long)ce * L + t0 + t, o);
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

// Whether the warp path applies: per-token B and C, N <= 16, every warp's channels inside one group of B and of C,
// L a multiple of the 16-byte vector, 16-byte aligned tensors.
inline bool applicable(const mr_scan_args& a, int es, int cw) {
    auto al = [](const void* p) { return ((uintptr_t)p & 15) == 0; };
    const int ve = 16 / es;
    return a.b_variable && a.c_variable && a.state <= NS && (a.dim / a.groups_b) % cw == 0 &&
           (a.dim / a.groups_c) % cw == 0 && a.length % ve == 0 && al(a.u) && al(a.delta) && al(a.B) && al(a.C) &&
           al(a.out) && (!a.z || al(a.z));
}

// TT32: tokens per chunk for float32 storage; 16-bit types take twice as many (the same bytes per row).
template <typename T, int SW, int NSTAGE, int TT32>
int launch_cfg(const mr_scan_args& a) {
    constexpr int TT = sizeof(T) == 4 ? TT32 : 2 * TT32;
    using C = Cfg<T, SW, NSTAGE, TT>;
    auto kernel = scan_kernel<T, SW, NSTAGE, TT>;
    MR_CHECK_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::SMEM), "scan smem attribute");
    dim3 grid(a.dim / C::CW, a.batch);
    kernel<<<grid, 32, C::SMEM>>>(a);
    MR_CHECK_CUDA(cudaGetLastError(), "selective scan (fast path) launch");
    return MR_OK;
}

// Channels per warp of the configuration used for storage type T.
template <typename T>
constexpr int channels_per_warp() { return sizeof(T) == 4 ? 8 : 16; }

template <typename T>
int launch(const mr_scan_args& a) {
    if constexpr (sizeof(T) == 4) return launch_cfg<T, 4, 2, 16>(a);
    else return launch_cfg<T, 2, 3, 16>(a);
}

}  // namespace wscan
}  // namespace mr
