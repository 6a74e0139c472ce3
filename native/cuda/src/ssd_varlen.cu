// Final state of every packed sequence of a seq_idx batch (mamba_ssm's varlen_states, MATH.md §3): one thread per
// (state entry p·N + n, head, sequence) runs the float32 recurrence h = exp(Δ A) h + Δ x B over the sequence's tokens.
#include "common.cuh"

namespace mr {

template <typename T>
__global__ void ssd_varlen_kernel(mr_ssd_args a, const int32_t* __restrict__ rows, const int32_t* __restrict__ starts,
                                  const int32_t* __restrict__ ends, float* __restrict__ out) {
    const int P = a.head_dim, N = a.state, H = a.heads, G = a.groups, L = a.length;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int h = blockIdx.y, s = blockIdx.z;
    if (i >= P * N) return;
    const int p = i / N, n = i % N, g = h / (H / G);
    const int b = rows[s], t0 = starts[s], t1 = ends[s];
    const T* x = (const T*)a.x;
    const T* dtp = (const T*)a.dt;
    const T* Bp = (const T*)a.B;
    const float A = a.A[h], bias = a.dt_bias ? a.dt_bias[h] : 0.f;
    float st = (t0 == 0 && a.initial_states) ? a.initial_states[(((long long)b * H + h) * P + p) * N + n] : 0.f;
    for (int t = t0; t < t1; t++) {
        const long long bt = (long long)b * L + t;
        float dt = to_f(dtp[bt * H + h]) + bias;
        if (a.dt_softplus) dt = softplus(dt);
        if (a.dt_limit) dt = fminf(fmaxf(dt, a.dt_min), a.dt_max);
        st = expf(dt * A) * st + dt * to_f(x[(bt * H + h) * P + p]) * to_f(Bp[(bt * G + g) * N + n]);
    }
    out[(((long long)s * H + h) * P + p) * N + n] = st;
}

}  // namespace mr

using namespace mr;

extern "C" int mr_ssd_varlen_states(const mr_ssd_args* a, int32_t num_seqs, const int32_t* d_seq_rows,
                                    const int32_t* d_seq_start, const int32_t* d_seq_end, float* varlen_states) {
    MR_REQUIRE(a, "args is NULL");
    MR_REQUIRE(num_seqs >= 1 && d_seq_rows && d_seq_start && d_seq_end && varlen_states,
               "ssd varlen states: num_seqs >= 1 and the sequence table and output are required");
    MR_REQUIRE(a->batch >= 1 && a->length >= 1 && a->heads >= 1 && a->head_dim >= 1 && a->state >= 1,
               "ssd varlen states: batch, length, heads, head_dim, state must be >= 1");
    MR_REQUIRE(a->groups >= 1 && a->heads % a->groups == 0, "ssd varlen states: groups (%d) must divide heads (%d)", a->groups, a->heads);
    MR_REQUIRE(a->x && a->dt && a->A && a->B, "ssd varlen states: x, dt, A, B are required");
    MR_REQUIRE(num_seqs <= 65535, "ssd varlen states: at most 65535 sequences (got %d)", num_seqs);
    const int threads = 128;
    dim3 grid((unsigned)((a->head_dim * a->state + threads - 1) / threads), (unsigned)a->heads, (unsigned)num_seqs);
    switch (a->dtype) {
        case MR_F32: ssd_varlen_kernel<float><<<grid, threads>>>(*a, d_seq_rows, d_seq_start, d_seq_end, varlen_states); break;
        case MR_F16: ssd_varlen_kernel<__half><<<grid, threads>>>(*a, d_seq_rows, d_seq_start, d_seq_end, varlen_states); break;
        case MR_BF16: ssd_varlen_kernel<__nv_bfloat16><<<grid, threads>>>(*a, d_seq_rows, d_seq_start, d_seq_end, varlen_states); break;
        default: return fail(MR_ERR_INVALID_ARGUMENT, "ssd varlen states: unknown dtype %d", a->dtype);
    }
    MR_CHECK_CUDA(cudaGetLastError(), "ssd varlen states launch");
    return MR_OK;
}
