/* Times the selective scan and the SSD of libmambaref_cuda.so at the benchmark shapes (CUDA events, inputs on
 * the device, one warm-up call). Usage: mambaref_cuda_bench [iters]. Byte model: every per-token tensor read once
 * and the output written once, in the storage type (parameters and states ignored: < 0.2 %). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "mambaref_cuda.h"

#define PEAK_GBS 4800.0 /* H200 HBM3e */

static void die(int st, const char* what) {
    if (st) {
        fprintf(stderr, "%s: %s\n", what, mr_last_error());
        exit(1);
    }
}

static uint32_t rng = 12345u;
static float frand(float lo, float hi) {
    rng = rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * ((rng >> 8) * (1.0f / 16777216.0f));
}

static uint16_t to16(float x, int dtype) {
    uint32_t b;
    memcpy(&b, &x, 4);
    if (dtype == MR_BF16) return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    /* float → half (normal range only; inputs are small) */
    uint32_t sign = (b >> 16) & 0x8000u;
    int32_t exp = (int32_t)((b >> 23) & 0xFF) - 127 + 15;
    uint32_t mant = b & 0x7FFFFFu;
    if (exp <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)h;
}

static void* upload(size_t n, float lo, float hi, int dtype) {
    size_t es = dtype == MR_F32 ? 4 : 2;
    unsigned char* host = (unsigned char*)malloc(n * es);
    for (size_t i = 0; i < n; i++) {
        float v = frand(lo, hi);
        if (dtype == MR_F32) memcpy(host + 4 * i, &v, 4);
        else { uint16_t h = to16(v, dtype); memcpy(host + 2 * i, &h, 2); }
    }
    void* d;
    die(mr_malloc(&d, n * es), "malloc");
    die(mr_memcpy_h2d(d, host, n * es), "h2d");
    free(host);
    return d;
}

static const char* name(int dt) { return dt == MR_F32 ? "f32" : dt == MR_F16 ? "f16" : "bf16"; }

int main(int argc, char** argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 20;
    char dev[256];
    int maj, min, sms;
    uint64_t mem;
    die(mr_device_info(0, dev, sizeof dev, &maj, &min, &mem, &sms), "device");
    printf("device: %s sm_%d%d, %d SMs, %.0f GiB; peak assumed %.0f GB/s\n", dev, maj, min, sms, mem / 1073741824.0, PEAK_GBS);

    /* Mamba-1: B=8, D=1536, L=4096, N=16, one group of per-token B/C, D, z, delta_bias, softplus. */
    {
        const int B = 8, D = 1536, L = 4096, N = 16;
        int dts[2] = {MR_F32, MR_BF16};
        for (int k = 0; k < 2; k++) {
            int dt = dts[k];
            size_t es = dt == MR_F32 ? 4 : 2;
            mr_scan_args a;
            memset(&a, 0, sizeof a);
            a.batch = B; a.dim = D; a.length = L; a.state = N; a.groups_b = a.groups_c = 1;
            a.b_variable = a.c_variable = 1; a.dtype = dt; a.delta_softplus = 1;
            a.u = upload((size_t)B * D * L, -1, 1, dt);
            a.delta = upload((size_t)B * D * L, -3, 1, dt);
            float* A_host = (float*)malloc(sizeof(float) * D * N);
            for (int i = 0; i < D * N; i++) A_host[i] = -(float)(i % N + 1);
            void* dA; die(mr_malloc(&dA, sizeof(float) * D * N), "malloc"); die(mr_memcpy_h2d(dA, A_host, sizeof(float) * D * N), "h2d");
            a.A = (const float*)dA;
            a.B = upload((size_t)B * N * L, -1, 1, dt);
            a.C = upload((size_t)B * N * L, -1, 1, dt);
            a.D = (const float*)upload(D, -1, 1, MR_F32);
            a.z = upload((size_t)B * D * L, -2, 2, dt);
            a.delta_bias = (const float*)upload(D, -1, 1, MR_F32);
            void* out; die(mr_malloc(&out, (size_t)B * D * L * es), "malloc"); a.out = out;
            void* last; die(mr_malloc(&last, sizeof(float) * B * D * N), "malloc"); a.last_state = (float*)last;
            float ms;
            die(mr_time_selective_scan(&a, iters, &ms), "scan");
            double bytes = (double)es * (4.0 * B * D * L + 2.0 * B * N * L);
            double gbs = bytes / (ms * 1e-3) / 1e9;
            double bound_us = bytes / (PEAK_GBS * 1e9) * 1e6;
            printf("scan %-4s B=%d D=%d L=%d N=%d: %8.1f us  %6.0f GB/s  %5.1f%% of peak  HBM-bound %.1f us  ratio %.2fx  %.3e updates/s\n",
                   name(dt), B, D, L, N, ms * 1e3, gbs, 100 * gbs / PEAK_GBS, bound_us, ms * 1e3 / bound_us,
                   (double)B * D * L * N / (ms * 1e-3));
            mr_free((void*)a.u); mr_free((void*)a.delta); mr_free(dA); mr_free((void*)a.B); mr_free((void*)a.C);
            mr_free((void*)a.D); mr_free((void*)a.z); mr_free((void*)a.delta_bias); mr_free(out); mr_free(last);
            free(A_host);
        }
    }

    /* Mamba-2: B=8, L=4096, H=24, P=64, N=128, G=1, D per head, z, dt_bias, softplus. */
    {
        const int B = 8, L = 4096, H = 24, P = 64, N = 128, Q = 64;
        int dts[3] = {MR_F32, MR_F16, MR_BF16};
        size_t count = (size_t)B * L * H * P;
        float* ref = (float*)malloc(count * sizeof(float));
        float* got = (float*)malloc(count * sizeof(float));
        for (int k = 0; k < 3; k++) {
            int dt = dts[k];
            rng = 777u; /* the same inputs (rounded to the storage type) for every dtype */
            size_t es = dt == MR_F32 ? 4 : 2;
            mr_ssd_args a;
            memset(&a, 0, sizeof a);
            a.batch = B; a.length = L; a.heads = H; a.head_dim = P; a.groups = 1; a.state = N; a.dtype = dt;
            a.chunk_size = 64; a.dt_softplus = 1;
            a.x = upload((size_t)B * L * H * P, -1, 1, dt);
            a.dt = upload((size_t)B * L * H, -4, -1, dt);
            a.A = (const float*)upload(H, -8, -1, MR_F32);
            a.B = upload((size_t)B * L * N, -1, 1, dt);
            a.C = upload((size_t)B * L * N, -1, 1, dt);
            a.D = (const float*)upload(H, 0, 1, MR_F32);
            a.z = upload((size_t)B * L * H * P, -2, 2, dt);
            a.dt_bias = (const float*)upload(H, -1, 1, MR_F32);
            void* out; die(mr_malloc(&out, (size_t)B * L * H * P * es), "malloc"); a.out = out;
            void* fin; die(mr_malloc(&fin, sizeof(float) * B * H * P * N), "malloc"); a.final_states = (float*)fin;
            float ms;
            die(mr_time_ssd(&a, iters, &ms), "ssd");
            double flops = (double)B * H * (L / Q) * 2.0 * Q * ((double)Q * N + (double)Q * P + 2.0 * P * N);
            double bytes = (double)es * (3.0 * B * L * H * P + (double)B * L * H + 2.0 * B * L * N);
            printf("ssd  %-4s B=%d L=%d H=%d P=%d N=%d: %8.1f us  %6.2f TFLOP/s (%.1f GFLOP model)  %6.0f GB/s  %5.1f%% of peak  %.3e tokens/s\n",
                   name(dt), B, L, H, P, N, ms * 1e3, flops / (ms * 1e-3) / 1e12, flops / 1e9, bytes / (ms * 1e-3) / 1e9,
                   100 * bytes / (ms * 1e-3) / 1e9 / PEAK_GBS, (double)B * L / (ms * 1e-3));
            /* sanity: mean |out| and the largest difference from the float32 path */
            {
                unsigned char* raw = (unsigned char*)malloc(count * es);
                die(mr_memcpy_d2h(raw, out, count * es), "d2h");
                double sum = 0, maxdiff = 0;
                for (size_t i = 0; i < count; i++) {
                    float v;
                    if (dt == MR_F32) memcpy(&v, raw + 4 * i, 4);
                    else {
                        uint16_t hbits; memcpy(&hbits, raw + 2 * i, 2);
                        if (dt == MR_BF16) { uint32_t w = (uint32_t)hbits << 16; memcpy(&v, &w, 4); }
                        else {
                            uint32_t sgn = (hbits & 0x8000u) << 16, e = (hbits >> 10) & 0x1F, m = hbits & 0x3FF, w;
                            if (e == 0) w = sgn; else w = sgn | ((e - 15 + 127) << 23) | (m << 13);
                            memcpy(&v, &w, 4);
                        }
                    }
                    got[i] = v;
                    sum += v < 0 ? -v : v;
                    if (dt != MR_F32) { double dd = v - ref[i]; if (dd < 0) dd = -dd; if (dd > maxdiff) maxdiff = dd; }
                }
                if (dt == MR_F32) memcpy(ref, got, count * sizeof(float));
                printf("     check: mean |out| %.5f; max |out - out_f32| %.4g\n", sum / count, maxdiff);
                free(raw);
            }
            mr_free((void*)a.x); mr_free((void*)a.dt); mr_free((void*)a.A); mr_free((void*)a.B); mr_free((void*)a.C);
            mr_free((void*)a.D); mr_free((void*)a.z); mr_free((void*)a.dt_bias); mr_free(out); mr_free(fin);
        }
    }
    return 0;
}
