/* MambaRef CUDA library: plain C ABI (no C++ types cross this boundary).
 *
 * Every function returns an int status (MR_OK = 0); on failure mr_last_error() gives a message
 * (thread-local, valid until the next call on the same thread). Pointers named d_* are device
 * pointers from mr_malloc; all tensors are dense row-major. Element types: MR_F32, MR_F16, MR_BF16.
 * Shapes and names follow MATH.md §2/§3 (mamba_ssm selective_scan_fn, mamba_chunk_scan_combined).
 * Calls are asynchronous on the default stream except the copies and mr_synchronize.
 */
#ifndef MAMBAREF_CUDA_H
#define MAMBAREF_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MR_API __declspec(dllexport)
#else
#define MR_API __attribute__((visibility("default")))
#endif

#define MR_ABI_VERSION 2

enum mr_status {
    MR_OK = 0,
    MR_ERR_INVALID_ARGUMENT = 1,
    MR_ERR_NO_DEVICE = 2,
    MR_ERR_CUDA = 3,
    MR_ERR_OUT_OF_MEMORY = 4,
    MR_ERR_UNSUPPORTED = 5
};

enum mr_dtype { MR_F32 = 0, MR_F16 = 1, MR_BF16 = 2 };

/* Library and device. */
MR_API int mr_abi_version(void);
MR_API const char* mr_last_error(void);
MR_API int mr_device_count(int* count);
/* name: buffer of name_len bytes (NUL-terminated on return). */
MR_API int mr_device_info(int device, char* name, int name_len, int* cc_major, int* cc_minor,
                          uint64_t* total_bytes, int* sm_count);
MR_API int mr_set_device(int device);
MR_API int mr_synchronize(void);

/* Device memory. */
MR_API int mr_malloc(void** d_ptr, uint64_t bytes);
MR_API int mr_free(void* d_ptr);
MR_API int mr_memcpy_h2d(void* d_dst, const void* src, uint64_t bytes);
MR_API int mr_memcpy_d2h(void* dst, const void* d_src, uint64_t bytes);
MR_API int mr_memset(void* d_dst, int value, uint64_t bytes);

/* Mamba-1 selective scan forward (MATH.md §2).
 * u, delta, z, out: [B,D,L] of `dtype`; B, C: [B,G,N,L] of `dtype` (b_variable/c_variable = 1) or
 * static [D,N] float32 (= 0); A [D,N], D [D], delta_bias [D], h0 [B,D,N], last_state [B,D,N]: float32.
 * D, z, delta_bias, h0, last_state may be NULL. N <= 256. */
typedef struct mr_scan_args {
    int32_t batch, dim, length, state;
    int32_t groups_b, groups_c;
    int32_t b_variable, c_variable;
    int32_t dtype;
    int32_t delta_softplus;
    const void* u;
    const void* delta;
    const float* A;
    const void* B;
    const void* C;
    const float* D;
    const void* z;
    const float* delta_bias;
    const float* h0;
    void* out;
    float* last_state;
} mr_scan_args;
MR_API int mr_selective_scan_fwd(const mr_scan_args* args);

/* Mamba-1 decode step, float32: u, delta, z, y [B,D]; B, C [B,G,N]; state [B,D,N] updated in place. */
typedef struct mr_scan_step_args {
    int32_t batch, dim, state, groups;
    int32_t delta_softplus;
    int32_t reserved;
    const float* u;
    const float* delta;
    const float* A;
    const float* B;
    const float* C;
    const float* D;
    const float* z;
    const float* delta_bias;
    float* ssm_state;
    float* y;
} mr_scan_step_args;
MR_API int mr_selective_scan_step(const mr_scan_step_args* args);

/* Mamba-2 chunked SSD forward (MATH.md §3), the four steps fused per (batch, head, P-tile), chunk by chunk.
 * x, z, out: [B,L,H,P] of `dtype`; dt [B,L,H], B, C [B,L,G,N] of `dtype`; A [H], dt_bias [H], D [H] or
 * [H,P] (d_per_channel = 1), initial_states / final_states [B,H,P,N]: float32 (may be NULL, as may z,
 * D, dt_bias). dtype MR_F16 / MR_BF16 uses tensor-core matrix products (float32 accumulation);
 * MR_F32 uses float32 CUDA-core products. chunk_size: 0 = default (64); supported: 64.
 * dt is clamped to [dt_min, dt_max] when dt_limit = 1. Any P; N <= 128.
 * seq_idx [B,L] int32 (may be NULL; ABI 2): packed sequences, the state restarts at 0 wherever seq_idx changes
 * between t-1 and t (initial_states apply to each row's first sequence); final_states is then the state at the
 * end of each row (its last sequence); mr_ssd_varlen_states gives every sequence's final state. */
typedef struct mr_ssd_args {
    int32_t batch, length, heads, head_dim, groups, state;
    int32_t dtype;
    int32_t chunk_size;
    int32_t dt_softplus;
    int32_t dt_limit;
    float dt_min, dt_max;
    int32_t d_per_channel;
    int32_t reserved;
    const void* x;
    const void* dt;
    const float* A;
    const void* B;
    const void* C;
    const float* D;
    const void* z;
    const float* dt_bias;
    const float* initial_states;
    void* out;
    float* final_states;
    const int32_t* seq_idx;
} mr_ssd_args;
MR_API int mr_ssd_fwd(const mr_ssd_args* args);

/* Mamba-2 decode step, float32: x, z, y [B,H,P]; dt [B,H]; B, C [B,G,N]; state [B,H,P,N] in place. */
typedef struct mr_ssd_step_args {
    int32_t batch, heads, head_dim, groups, state;
    int32_t dt_softplus;
    int32_t dt_limit;
    float dt_min, dt_max;
    int32_t d_per_channel;
    const float* x;
    const float* dt;
    const float* A;
    const float* B;
    const float* C;
    const float* D;
    const float* z;
    const float* dt_bias;
    float* ssm_state;
    float* y;
} mr_ssd_step_args;
MR_API int mr_ssd_step(const mr_ssd_step_args* args);

/* Causal depthwise conv1d + bias (+ SiLU when silu = 1), float32: x, out [B,D,L], weight [D,K], bias [D]
 * (may be NULL). Left zero padding (a fresh sequence). */
MR_API int mr_causal_conv1d_fwd(int32_t batch, int32_t dim, int32_t length, int32_t kernel,
                                const float* x, const float* weight, const float* bias, int32_t silu,
                                float* out);

/* One conv step, float32: conv_state [B,D,K] shifts left and takes x [B,D];
 * out [B,D] = act(bias + sum_k state[k]·weight[k]). */
MR_API int mr_causal_conv1d_step(int32_t batch, int32_t dim, int32_t kernel, const float* x,
                                 float* conv_state, const float* weight, const float* bias,
                                 int32_t silu, float* out);

/* Timing helper for benchmarks: elapsed milliseconds of `iters` calls of mr_selective_scan_fwd /
 * mr_ssd_fwd (after one warm-up), measured with CUDA events. */
MR_API int mr_time_selective_scan(const mr_scan_args* args, int32_t iters, float* ms_per_call);
MR_API int mr_time_ssd(const mr_ssd_args* args, int32_t iters, float* ms_per_call);

/* ---- ABI 2 additions ------------------------------------------------------------------------------------ */

/* Final state of every packed sequence (mamba_ssm's varlen_states): the sequences are the runs of equal seq_idx
 * along each row of a->seq_idx, numbered row by row; d_seq_rows / d_seq_start / d_seq_end [num_seqs] (device,
 * int32) give each one's row and token range [start, end). Reads x, dt, A, B, C, dt_bias, dt limits and
 * initial_states (for a sequence starting at token 0) of a; writes varlen_states [num_seqs, H, P, N] float32.
 * A float32 recurrence over each sequence's tokens. */
MR_API int mr_ssd_varlen_states(const mr_ssd_args* a, int32_t num_seqs, const int32_t* d_seq_rows,
                                const int32_t* d_seq_start, const int32_t* d_seq_end, float* varlen_states);

/* Language-model decode on the GPU (decode.cu). Weights are float32 device pointers, row-major as PyTorch stores
 * them (Linear weights [out, in]); A = -exp(A_log). Optional pointers may be NULL. */
typedef struct mr_lm_layer {
    const float* norm;          /* [hidden] pre-mixer RMSNorm weight */
    const float* in_proj;       /* [in_proj_size, hidden] */
    const float* in_proj_bias;  /* [in_proj_size] or NULL */
    const float* conv_weight;   /* [conv_dim, conv_kernel] */
    const float* conv_bias;     /* [conv_dim] or NULL */
    const float* x_proj;        /* Mamba-1: [dt_rank + 2N, inner] */
    const float* dt_proj;       /* Mamba-1: [inner, dt_rank] */
    const float* dt_bias;       /* Mamba-1: [inner] (dt_proj.bias); Mamba-2: [heads]; or NULL */
    const float* A;             /* Mamba-1: [inner, N]; Mamba-2: [heads] */
    const float* D;             /* Mamba-1: [inner]; Mamba-2: [heads]; or NULL */
    const float* gated_norm;    /* Mamba-2: [inner] */
    const float* out_proj;      /* [hidden, inner] */
    const float* out_proj_bias; /* [hidden] or NULL */
} mr_lm_layer;

typedef struct mr_lm_config {
    int32_t arch;                      /* 1 = Mamba-1, 2 = Mamba-2 */
    int32_t hidden, layers, vocab, inner, state, conv_kernel;
    int32_t dt_rank;                   /* Mamba-1 */
    int32_t heads, head_dim, groups;   /* Mamba-2 */
    int32_t bcdt_rmsnorm;              /* FalconMamba: weightless RMSNorm of dt_in, B, C with mixer_eps */
    float eps, mixer_eps;              /* RMSNorm epsilons */
    float dt_min, dt_max;              /* Mamba-2 dt_limit (0, +inf = none) */
    const float* embedding;            /* [vocab, hidden] */
    const float* norm_f;               /* [hidden] */
    const float* lm_head;              /* [vocab, hidden] (may be the embedding) */
    const mr_lm_layer* layer_weights;  /* host array of `layers` entries, copied by mr_lm_create */
} mr_lm_config;

typedef struct mr_lm mr_lm;
MR_API int mr_lm_create(const mr_lm_config* config, mr_lm** model);
MR_API int mr_lm_destroy(mr_lm* model);
/* Consumes `count` tokens (host array) one after another, updating one sequence's state in place:
 * conv_state [layers, conv_dim, conv_kernel] (newest input last) and ssm_state [layers, inner, N] (Mamba-2:
 * [layers, heads, head_dim, N]), float32 device buffers. Then, when logits (host, vocab floats) is not NULL,
 * norm_f and lm_head of the last token are computed and copied there. Synchronous. */
MR_API int mr_lm_step(mr_lm* model, const int32_t* tokens, int32_t count, float* conv_state, float* ssm_state, float* logits);

#ifdef __cplusplus
}
#endif
#endif
