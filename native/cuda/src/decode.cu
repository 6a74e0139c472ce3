// Language-model decode on the GPU (MATH.md §2, §3 "Decode step", model of §2): the weights stay resident in
// device memory and every per-token operation runs here: embedding row, RMSNorm, the projections (matrix-vector
// products, one warp per output row), the conv step, the selective-state / SSD step, the gate and norm, the residual
// add, norm_f and lm_head. Only the logits of the last consumed token are copied back to the host.
// Per token and layer, 5 kernels: Mamba-1 = RMSNorm + in_proj, conv, x_proj, dt_proj + scan step + gate, out_proj
// + residual (+1 for FalconMamba's dt/B/C norms); Mamba-2 = RMSNorm + in_proj, conv, SSD step, gated norm, out_proj
// + residual.
// The sequence of launches for one token is captured once into a CUDA graph (per state buffer pair) and replayed.
#include "common.cuh"
#include <cstdlib>
#include <cstring>

struct mr_lm {
    mr_lm_config cfg;
    mr_lm_layer* layers;  // host copy of the layer table
    int pj, conv_dim, xw;
    // scratch (device)
    float *hidden, *proj, *xc, *xdbl, *y, *gated, *logits;
    int* token;  // device copy of the token being consumed
    // CUDA graph of one decode step for the last (conv_state, ssm_state) pair it was captured with
    cudaStream_t stream;
    cudaGraphExec_t graph;
    float *graph_conv, *graph_ssm;
};

namespace mr {
namespace {

constexpr int kWarp = 32;

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ float block_sum(float v) {
    __shared__ float part[32];
    __shared__ float total;
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    v = warp_sum(v);
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)(blockDim.x / kWarp) ? part[lane] : 0.f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    float r = total;
    __syncthreads();
    return r;
}

// hidden = embedding[token]
__global__ void embed_kernel(const float* __restrict__ emb, const int* __restrict__ token, int H, float* __restrict__ hidden) {
    const long long row = (long long)(*token) * H;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < H; i += gridDim.x * blockDim.x) hidden[i] = emb[row + i];
}

// y[r] (+)= W[r,:]·x' + bias[r], where x' = x, or RMSNorm(x)·norm_w when norm_w is given (each block then computes
// 1/rms of x itself, which saves a launch). `wpr` warps (1, 2, 4 or 8) share one row, so that few rows still fill
// the GPU; 16-byte loads of W and x when cols % 4 == 0.
__global__ void gemv_kernel(const float* __restrict__ W, const float* __restrict__ x, const float* __restrict__ norm_w,
                            float eps, const float* __restrict__ bias, int rows, int cols, int accumulate, int wpr,
                            float* __restrict__ y) {
    __shared__ float red[8];
    float inv = 1.f;
    if (norm_w) {
        float ss = 0.f;
        for (int i = threadIdx.x; i < cols; i += blockDim.x) ss = fmaf(x[i], x[i], ss);
        inv = rsqrtf(block_sum(ss) / cols + eps);
    }
    const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
    const int wi = warp % wpr;  // this warp's share of the row
    const int row = blockIdx.x * (blockDim.x / kWarp / wpr) + warp / wpr;
    const bool active = row < rows;
    float acc = 0.f;
    if (active) {
        const float* w = W + (long long)row * cols;
        const int stride = kWarp * wpr;
        if ((cols & 3) == 0) {
            const float4* w4 = reinterpret_cast<const float4*>(w);
            const float4* x4 = reinterpret_cast<const float4*>(x);
            const float4* n4 = reinterpret_cast<const float4*>(norm_w);
            const int c4 = cols / 4;
#pragma unroll 4
            for (int i = lane + kWarp * wi; i < c4; i += stride) {
                const float4 a = __ldg(w4 + i);
                float4 b = __ldg(x4 + i);
                if (norm_w) {
                    const float4 g = __ldg(n4 + i);
                    b = make_float4(b.x * inv * g.x, b.y * inv * g.y, b.z * inv * g.z, b.w * inv * g.w);
                }
                acc = fmaf(a.x, b.x, fmaf(a.y, b.y, fmaf(a.z, b.z, fmaf(a.w, b.w, acc))));
            }
        } else {
            for (int i = lane + kWarp * wi; i < cols; i += stride) {
                const float xv = norm_w ? x[i] * inv * norm_w[i] : x[i];
                acc = fmaf(__ldg(w + i), xv, acc);
            }
        }
        acc = warp_sum(acc);
    }
    if (wpr > 1) {
        if (lane == 0) red[warp] = acc;
        __syncthreads();
        if (wi != 0) return;
        for (int k = 1; k < wpr; k++) acc += red[warp + k];
    }
    if (active && lane == 0) {
        if (bias) acc += bias[row];
        y[row] = accumulate ? y[row] + acc : acc;
    }
}

// One conv step per channel: state [C, K] (newest last) shifts left and takes x[c]; out[c] = silu(bias + Σ_k w·state).
__global__ void conv_step_kernel(const float* __restrict__ x, float* __restrict__ state, const float* __restrict__ w,
                                 const float* __restrict__ bias, int C, int K, float* __restrict__ out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float* s = state + (long long)c * K;
    const float* wc = w + (long long)c * K;
    float acc = bias ? bias[c] : 0.f;
    for (int j = 0; j + 1 < K; j++) {
        const float v = s[j + 1];
        s[j] = v;
        acc = fmaf(wc[j], v, acc);
    }
    const float xn = x[c];
    s[K - 1] = xn;
    acc = fmaf(wc[K - 1], xn, acc);
    out[c] = silu(acc);
}

// FalconMamba: weightless RMSNorm of dt_in [0,R), B [R,R+N), C [R+N,R+2N) of x_proj's output, in place (3 warps).
__global__ void bcdt_norm_kernel(float* __restrict__ xdbl, int R, int N, float eps) {
    const int seg = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
    if (seg > 2) return;
    float* v = xdbl + (seg == 0 ? 0 : seg == 1 ? R : R + N);
    const int n = seg == 0 ? R : N;
    float ss = 0.f;
    for (int i = lane; i < n; i += kWarp) ss = fmaf(v[i], v[i], ss);
    const float inv = rsqrtf(warp_sum(ss) / n + eps);
    __syncwarp();
    for (int i = lane; i < n; i += kWarp) v[i] *= inv;
}

// Mamba-1 step, one warp per channel d: δ = softplus(dt_proj[d,:]·dt_in + dt_bias[d]); h[n] = exp(δA[d,n]) h[n] + δ B[n] u;
// y = Σ C[n] h[n] + D u; y ·= silu(z).
__global__ void m1_step_kernel(const float* __restrict__ xc, const float* __restrict__ z, const float* __restrict__ xdbl,
                               const float* __restrict__ dt_proj, const float* __restrict__ dt_bias, const float* __restrict__ A,
                               const float* __restrict__ Dskip, int inner, int R, int N, float* __restrict__ state, float* __restrict__ y) {
    const int lane = threadIdx.x % kWarp;
    const int d = blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
    if (d >= inner) return;
    float dt = 0.f;
    for (int k = lane; k < R; k += kWarp) dt = fmaf(dt_proj[(long long)d * R + k], xdbl[k], dt);
    dt = warp_sum(dt) + (dt_bias ? dt_bias[d] : 0.f);
    dt = softplus(dt);
    const float u = xc[d];
    const float* Bv = xdbl + R;
    const float* Cv = xdbl + R + N;
    float* h = state + (long long)d * N;
    float acc = 0.f;
    for (int n = lane; n < N; n += kWarp) {
        const float hn = expf(dt * A[(long long)d * N + n]) * h[n] + dt * Bv[n] * u;
        h[n] = hn;
        acc = fmaf(Cv[n], hn, acc);
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        float out = acc + (Dskip ? Dskip[d] * u : 0.f);
        y[d] = out * silu(z[d]);
    }
}

// Mamba-2 step, one warp per (head h, channel p): Δ = clamp(softplus(dt[h] + dt_bias[h])); s[n] = exp(ΔA[h]) s[n] + Δ x B[n];
// y = Σ C[n] s[n] + D[h] x (the gate is applied in the gated norm).
__global__ void m2_step_kernel(const float* __restrict__ xbc, const float* __restrict__ dtv, const float* __restrict__ dt_bias,
                               const float* __restrict__ A, const float* __restrict__ Dskip, int heads, int P, int G, int N,
                               float dt_min, float dt_max, float* __restrict__ state, float* __restrict__ y) {
    const int lane = threadIdx.x % kWarp;
    const int hp = blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
    if (hp >= heads * P) return;
    const int h = hp / P, g = h / (heads / G), inner = heads * P;
    float dt = softplus(dtv[h] + (dt_bias ? dt_bias[h] : 0.f));
    dt = fminf(fmaxf(dt, dt_min), dt_max);
    const float dA = expf(dt * A[h]);
    const float x = xbc[hp];
    const float* Bv = xbc + inner + (long long)g * N;
    const float* Cv = xbc + inner + (long long)G * N + (long long)g * N;
    float* s = state + (long long)hp * N;
    float acc = 0.f;
    for (int n = lane; n < N; n += kWarp) {
        const float sn = dA * s[n] + dt * x * Bv[n];
        s[n] = sn;
        acc = fmaf(Cv[n], sn, acc);
    }
    acc = warp_sum(acc);
    if (lane == 0) y[hp] = acc + (Dskip ? Dskip[h] * x : 0.f);
}

// Mamba-2 gated RMSNorm, one block per group: v = y·silu(z); out = v / sqrt(mean(v²) + eps) · w.
__global__ void gated_norm_kernel(const float* __restrict__ y, const float* __restrict__ z, const float* __restrict__ w,
                                  int size, float eps, float* __restrict__ out) {
    const long long off = (long long)blockIdx.x * size;
    float ss = 0.f;
    for (int i = threadIdx.x; i < size; i += blockDim.x) {
        const float v = y[off + i] * silu(z[off + i]);
        ss = fmaf(v, v, ss);
    }
    const float inv = rsqrtf(block_sum(ss) / size + eps);
    for (int i = threadIdx.x; i < size; i += blockDim.x) out[off + i] = y[off + i] * silu(z[off + i]) * inv * w[off + i];
}

constexpr int kGemvThreads = 256;

// Warps per row: enough that the launch has about 4096 warps (half of an H100/H200's resident warps), at most 8.
int warps_per_row(int rows) {
    int w = 1;
    while (w < 8 && (long long)rows * w < 4096) w *= 2;
    return w;
}

void gemv(cudaStream_t st, const float* W, const float* x, const float* norm_w, float eps, const float* bias, int rows,
          int cols, int accumulate, float* y) {
    const int wpr = warps_per_row(rows);
    const int per = kGemvThreads / kWarp / wpr;
    gemv_kernel<<<(rows + per - 1) / per, kGemvThreads, 0, st>>>(W, x, norm_w, eps, bias, rows, cols, accumulate, wpr, y);
}

// The launches of one token (the token already in m->token), ending with the hidden state of the last layer.
void enqueue_token(mr_lm* m, float* conv_state, float* ssm_state) {
    const mr_lm_config& c = m->cfg;
    cudaStream_t st = m->stream;
    const int H = c.hidden, inner = c.inner, N = c.state, K = c.conv_kernel;
    embed_kernel<<<(H + 255) / 256, 256, 0, st>>>(c.embedding, m->token, H, m->hidden);
    for (int l = 0; l < c.layers; l++) {
        const mr_lm_layer& w = m->layers[l];
        float* cs = conv_state + (long long)l * m->conv_dim * K;
        float* ss = ssm_state + (long long)l * inner * N;
        gemv(st, w.in_proj, m->hidden, w.norm, c.eps, w.in_proj_bias, m->pj, H, 0, m->proj);
        if (c.arch == 1) {
            conv_step_kernel<<<(inner + 127) / 128, 128, 0, st>>>(m->proj, cs, w.conv_weight, w.conv_bias, inner, K, m->xc);
            gemv(st, w.x_proj, m->xc, nullptr, 0.f, nullptr, m->xw, inner, 0, m->xdbl);
            if (c.bcdt_rmsnorm) bcdt_norm_kernel<<<1, 96, 0, st>>>(m->xdbl, c.dt_rank, N, c.mixer_eps);
            m1_step_kernel<<<(inner + 7) / 8, 256, 0, st>>>(m->xc, m->proj + inner, m->xdbl, w.dt_proj, w.dt_bias, w.A, w.D,
                                                            inner, c.dt_rank, N, ss, m->y);
            gemv(st, w.out_proj, m->y, nullptr, 0.f, w.out_proj_bias, H, inner, 1, m->hidden);
        } else {
            conv_step_kernel<<<(m->conv_dim + 127) / 128, 128, 0, st>>>(m->proj + inner, cs, w.conv_weight, w.conv_bias,
                                                                         m->conv_dim, K, m->xc);
            m2_step_kernel<<<(inner + 7) / 8, 256, 0, st>>>(m->xc, m->proj + inner + m->conv_dim, w.dt_bias, w.A, w.D, c.heads,
                                                            c.head_dim, c.groups, N, c.dt_min, c.dt_max, ss, m->y);
            gated_norm_kernel<<<c.groups, 256, 0, st>>>(m->y, m->proj, w.gated_norm, inner / c.groups, c.eps, m->gated);
            gemv(st, w.out_proj, m->gated, nullptr, 0.f, w.out_proj_bias, H, inner, 1, m->hidden);
        }
    }
}

void release(mr_lm* m) {
    if (!m) return;
    if (m->graph) cudaGraphExecDestroy(m->graph);
    if (m->stream) cudaStreamDestroy(m->stream);
    float* bufs[] = {m->hidden, m->proj, m->xc, m->xdbl, m->y, m->gated, m->logits};
    for (float* b : bufs) cudaFree(b);
    cudaFree(m->token);
    free(m->layers);
    free(m);
}

}  // namespace
}  // namespace mr

using namespace mr;

extern "C" int mr_lm_create(const mr_lm_config* c, mr_lm** out) {
    MR_REQUIRE(c && out, "lm create: config and out are required");
    *out = nullptr;
    MR_REQUIRE(c->arch == 1 || c->arch == 2, "lm create: arch must be 1 (Mamba-1) or 2 (Mamba-2), got %d", c->arch);
    MR_REQUIRE(c->hidden >= 1 && c->layers >= 1 && c->vocab >= 1 && c->inner >= 1 && c->state >= 1 && c->conv_kernel >= 1,
               "lm create: hidden, layers, vocab, inner, state, conv_kernel must be >= 1");
    MR_REQUIRE(c->embedding && c->norm_f && c->lm_head && c->layer_weights, "lm create: embedding, norm_f, lm_head and layer table are required");
    if (c->arch == 1) {
        MR_REQUIRE(c->dt_rank >= 1, "lm create: dt_rank must be >= 1 for Mamba-1");
    } else {
        MR_REQUIRE(c->heads >= 1 && c->head_dim >= 1 && c->heads * c->head_dim == c->inner,
                   "lm create: heads (%d) x head_dim (%d) must equal inner (%d)", c->heads, c->head_dim, c->inner);
        MR_REQUIRE(c->groups >= 1 && c->heads % c->groups == 0, "lm create: groups (%d) must divide heads (%d)", c->groups, c->heads);
    }
    int H = c->hidden, inner = c->inner, N = c->state;
    int conv_dim = c->arch == 1 ? inner : inner + 2 * c->groups * N;
    int pj = c->arch == 1 ? 2 * inner : inner + conv_dim + c->heads;
    int xw = c->arch == 1 ? c->dt_rank + 2 * N : 0;
    for (int l = 0; l < c->layers; l++) {
        const mr_lm_layer& w = c->layer_weights[l];
        MR_REQUIRE(w.norm && w.in_proj && w.conv_weight && w.A && w.out_proj, "lm create: layer %d lacks norm, in_proj, conv, A or out_proj", l);
        if (c->arch == 1) MR_REQUIRE(w.x_proj && w.dt_proj, "lm create: layer %d lacks x_proj or dt_proj", l);
        else MR_REQUIRE(w.gated_norm, "lm create: layer %d lacks the gated norm weight", l);
    }

    mr_lm* m = (mr_lm*)calloc(1, sizeof(mr_lm));
    if (!m) return fail(MR_ERR_OUT_OF_MEMORY, "lm create: host allocation failed");
    m->cfg = *c;
    m->layers = (mr_lm_layer*)malloc(sizeof(mr_lm_layer) * (size_t)c->layers);
    if (!m->layers) {
        release(m);
        return fail(MR_ERR_OUT_OF_MEMORY, "lm create: host allocation failed");
    }
    memcpy(m->layers, c->layer_weights, sizeof(mr_lm_layer) * (size_t)c->layers);
    m->cfg.layer_weights = m->layers;
    m->pj = pj;
    m->conv_dim = conv_dim;
    m->xw = xw;
    struct { float** p; long long n; } bufs[] = {
        {&m->hidden, H}, {&m->proj, pj}, {&m->xc, conv_dim}, {&m->xdbl, xw > 0 ? xw : 1},
        {&m->y, inner}, {&m->gated, inner}, {&m->logits, c->vocab}};
    for (auto& b : bufs) {
        cudaError_t e = cudaMalloc((void**)b.p, (size_t)b.n * sizeof(float));
        if (e != cudaSuccess) {
            release(m);
            return cuda_status(e, "lm create: scratch allocation");
        }
    }
    cudaError_t e = cudaMalloc((void**)&m->token, sizeof(int));
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        release(m);
        return cuda_status(e, "lm create");
    }
    *out = m;
    return MR_OK;
}

extern "C" int mr_lm_destroy(mr_lm* m) {
    if (!m) return MR_OK;
    cudaStreamSynchronize(m->stream);
    release(m);
    return MR_OK;
}

extern "C" int mr_lm_step(mr_lm* m, const int32_t* tokens, int32_t count, float* conv_state, float* ssm_state, float* logits) {
    MR_REQUIRE(m && tokens && count >= 1 && conv_state && ssm_state, "lm step: model, tokens (count >= 1) and both states are required");
    const mr_lm_config& c = m->cfg;
    for (int i = 0; i < count; i++)
        MR_REQUIRE(tokens[i] >= 0 && tokens[i] < c.vocab, "lm step: token %d at position %d is outside 0..%d", tokens[i], i, c.vocab - 1);
    if (!m->graph || m->graph_conv != conv_state || m->graph_ssm != ssm_state) {
        if (m->graph) {
            cudaGraphExecDestroy(m->graph);
            m->graph = nullptr;
        }
        cudaGraph_t g;
        MR_CHECK_CUDA(cudaStreamBeginCapture(m->stream, cudaStreamCaptureModeThreadLocal), "lm step: graph capture");
        enqueue_token(m, conv_state, ssm_state);
        cudaError_t launch = cudaGetLastError();
        cudaError_t end = cudaStreamEndCapture(m->stream, &g);
        MR_CHECK_CUDA(launch, "lm step: kernel launch during capture");
        MR_CHECK_CUDA(end, "lm step: graph capture");
        cudaError_t inst = cudaGraphInstantiateWithFlags(&m->graph, g, 0);
        cudaGraphDestroy(g);
        MR_CHECK_CUDA(inst, "lm step: graph instantiate");
        m->graph_conv = conv_state;
        m->graph_ssm = ssm_state;
    }
    for (int i = 0; i < count; i++) {
        MR_CHECK_CUDA(cudaMemcpyAsync(m->token, tokens + i, sizeof(int32_t), cudaMemcpyHostToDevice, m->stream), "lm step: token copy");
        MR_CHECK_CUDA(cudaGraphLaunch(m->graph, m->stream), "lm step: graph launch");
    }
    if (logits) {
        gemv(m->stream, c.lm_head, m->hidden, c.norm_f, c.eps, nullptr, c.vocab, c.hidden, 0, m->logits);
        MR_CHECK_CUDA(cudaGetLastError(), "lm step: lm_head launch");
        MR_CHECK_CUDA(cudaMemcpyAsync(logits, m->logits, (size_t)c.vocab * sizeof(float), cudaMemcpyDeviceToHost, m->stream), "lm step: logits copy");
    }
    MR_CHECK_CUDA(cudaStreamSynchronize(m->stream), "lm step");
    return MR_OK;
}
