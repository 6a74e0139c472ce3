/* Times the selective scan and the SSD of libmambaref_cuda.so at the benchmark shapes (CUDA events, inputs on
 * the device, one warm-up call) and checks every timed output against a float64 recurrence on the host for a few
 * sampled channels / heads (MATH.md §2, §3 tolerances; the exit status is 2 when a check fails).
 * Usage: mambaref_cuda_bench [iters] [scan|ssd]. Byte model: every per-token tensor read once and the output
 * written once, in the storage type (parameters and states ignored: < 0.2 %). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "mambaref_cuda.h"
#include "host16.h"

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

/* Random device tensor; when keep is not NULL, *keep receives the host values as stored (rounded to 16 bits). */
static void* upload_keep(size_t n, float lo, float hi, int dtype, float** keep) {
    size_t es = dtype == MR_F32 ? 4 : 2;
    unsigned char* host = (unsigned char*)malloc(n * es);
    if (keep) *keep = (float*)malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float v = frand(lo, hi);
        if (dtype == MR_F32) memcpy(host + 4 * i, &v, 4);
        else { uint16_t h = to16(v, dtype); memcpy(host + 2 * i, &h, 2); v = from16(h, dtype); }
        if (keep) (*keep)[i] = v;
    }
    void* d;
    die(mr_malloc(&d, n * es), "malloc");
    die(mr_memcpy_h2d(d, host, n * es), "h2d");
    free(host);
    return d;
}
static void* upload(size_t n, float lo, float hi, int dtype) { return upload_keep(n, lo, hi, dtype, NULL); }

static float read_el(const unsigned char* raw, size_t i, int dtype) {
    if (dtype == MR_F32) { float v; memcpy(&v, raw + 4 * i, 4); return v; }
    uint16_t h; memcpy(&h, raw + 2 * i, 2);
    return from16(h, dtype);
}
static void tolerance(int dtype, double* rtol, double* atol) {
    /* MATH.md (float32); 16-bit: state-spaces/mamba test_selective_scan.py, as the C# backend tests */
    if (dtype == MR_F32) { *rtol = 3e-4; *atol = 1e-5; }
    else if (dtype == MR_F16) { *rtol = 3e-3; *atol = 5e-3; }
    else { *rtol = 3e-2; *atol = 5e-2; }
}
static int failures = 0;
static double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }

static const char* name(int dt) { return dt == MR_F32 ? "f32" : dt == MR_F16 ? "f16" : "bf16"; }

int main(int argc, char** argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 20;
    const char* only = argc > 2 ? argv[2] : "";
    int do_scan = !*only || !strcmp(only, "scan"), do_ssd = !*only || !strcmp(only, "ssd");
    char dev[256];
    int maj, min, sms;
    uint64_t mem;
    die(mr_device_info(0, dev, sizeof dev, &maj, &min, &mem, &sms), "device");
    printf("device: %s sm_%d%d, %d SMs, %.0f GiB; peak assumed %.0f GB/s\n", dev, maj, min, sms, mem / 1073741824.0, PEAK_GBS);

    /* Mamba-1: B=8, D=1536, L=4096, N=16, one group of per-token B/C, D, z, delta_bias, softplus. */
    if (do_scan) {
        const int B = 8, D = 1536, L = 4096, N = 16;
        int dts[2] = {MR_F32, MR_BF16};
        for (int k = 0; k < 2; k++) {
            int dt = dts[k];
            size_t es = dt == MR_F32 ? 4 : 2;
            mr_scan_args a;
            memset(&a, 0, sizeof a);
            a.batch = B; a.dim = D; a.length = L; a.state = N; a.groups_b = a.groups_c = 1;
            a.b_variable = a.c_variable = 1; a.dtype = dt; a.delta_softplus = 1;
            float *hu, *hdl, *hB, *hC, *hD, *hz, *hbias;
            a.u = upload_keep((size_t)B * D * L, -1, 1, dt, &hu);
            a.delta = upload_keep((size_t)B * D * L, -3, 1, dt, &hdl);
            float* A_host = (float*)malloc(sizeof(float) * D * N);
            for (int i = 0; i < D * N; i++) A_host[i] = -(float)(i % N + 1);
            void* dA; die(mr_malloc(&dA, sizeof(float) * D * N), "malloc"); die(mr_memcpy_h2d(dA, A_host, sizeof(float) * D * N), "h2d");
            a.A = (const float*)dA;
            a.B = upload_keep((size_t)B * N * L, -1, 1, dt, &hB);
            a.C = upload_keep((size_t)B * N * L, -1, 1, dt, &hC);
            a.D = (const float*)upload_keep(D, -1, 1, MR_F32, &hD);
            a.z = upload_keep((size_t)B * D * L, -2, 2, dt, &hz);
            a.delta_bias = (const float*)upload_keep(D, -1, 1, MR_F32, &hbias);
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
            /* float64 recurrence for sampled channels over the whole sequence */
            {
                const int samples[6][2] = {{0, 0}, {0, 31}, {3, 777}, {5, 1024}, {7, 1535}, {6, 40}};
                unsigned char* raw = (unsigned char*)malloc((size_t)L * es);
                float* last = (float*)malloc(sizeof(float) * N);
                double rtol, atol, worst = 0;
                tolerance(dt, &rtol, &atol);
                for (int s = 0; s < 6; s++) {
                    int bb = samples[s][0], d = samples[s][1];
                    size_t row = ((size_t)bb * D + d) * L;
                    die(mr_memcpy_d2h(raw, (unsigned char*)out + row * es, (size_t)L * es), "d2h");
                    die(mr_memcpy_d2h(last, a.last_state + ((size_t)bb * D + d) * N, sizeof(float) * N), "d2h");
                    double h[64] = {0};
                    for (int t = 0; t < L; t++) {
                        double dl = softplus_d((double)hdl[row + t] + hbias[d]), y = 0;
                        for (int n = 0; n < N; n++) {
                            size_t bi = ((size_t)bb * N + n) * L + t;
                            h[n] = exp(dl * A_host[d * N + n]) * h[n] + dl * hB[bi] * hu[row + t];
                            y += hC[bi] * h[n];
                        }
                        y += hD[d] * hu[row + t];
                        y *= hz[row + t] / (1 + exp(-(double)hz[row + t]));
                        double r = fabs(read_el(raw, t, dt) - y) / (atol + rtol * fabs(y));
                        if (r > worst) worst = r;
                    }
                    for (int n = 0; n < N; n++) {
                        double r = fabs(last[n] - h[n]) / (3e-4 * fabs(h[n]) + 1e-5);
                        if (r > worst) worst = r;
                    }
                }
                printf("     check vs float64 (6 channels x %d tokens, out and last_state): worst error/tolerance %.3f %s\n", L, worst,
                       worst <= 1 ? "ok" : "FAIL");
                if (!(worst <= 1)) failures++;
                free(raw); free(last);
            }
            free(hu); free(hdl); free(hB); free(hC); free(hD); free(hz); free(hbias);
            mr_free((void*)a.u); mr_free((void*)a.delta); mr_free(dA); mr_free((void*)a.B); mr_free((void*)a.C);
            mr_free((void*)a.D); mr_free((void*)a.z); mr_free((void*)a.delta_bias); mr_free(out); mr_free(last);
            free(A_host);
        }
    }

    /* Mamba-2: B=8, L=4096, H=24, P=64, N=128, G=1, D per head, z, dt_bias, softplus. */
    if (do_ssd) {
        /* MAMBAREF_BENCH_SSD_BATCH: another batch size (e.g. 1, the prefill of one prompt) */
        const int B = getenv("MAMBAREF_BENCH_SSD_BATCH") && atoi(getenv("MAMBAREF_BENCH_SSD_BATCH")) > 0 ? atoi(getenv("MAMBAREF_BENCH_SSD_BATCH")) : 8;
        const int L = 4096, H = 24, P = 64, N = 128, Q = 64;
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
            float *hx, *hdt, *hA, *hB, *hC, *hD, *hz, *hbias;
            a.x = upload_keep((size_t)B * L * H * P, -1, 1, dt, &hx);
            a.dt = upload_keep((size_t)B * L * H, -4, -1, dt, &hdt);
            a.A = (const float*)upload_keep(H, -8, -1, MR_F32, &hA);
            a.B = upload_keep((size_t)B * L * N, -1, 1, dt, &hB);
            a.C = upload_keep((size_t)B * L * N, -1, 1, dt, &hC);
            a.D = (const float*)upload_keep(H, 0, 1, MR_F32, &hD);
            a.z = upload_keep((size_t)B * L * H * P, -2, 2, dt, &hz);
            a.dt_bias = (const float*)upload_keep(H, -1, 1, MR_F32, &hbias);
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
            /* float64 recurrence for two heads over the whole sequence (out and final state) */
            {
                const int samples[2][2] = {{0, 0}, {B - 1, 23}};
                double* hs = (double*)malloc(sizeof(double) * P * N);
                float* fin_h = (float*)malloc(sizeof(float) * P * N);
                double rtol, atol, worst = 0;
                tolerance(dt, &rtol, &atol);
                for (int s = 0; s < 2; s++) {
                    int bb = samples[s][0], h = samples[s][1];
                    memset(hs, 0, sizeof(double) * P * N);
                    for (int t = 0; t < L; t++) {
                        size_t tok = (size_t)bb * L + t;
                        double dd = softplus_d((double)hdt[tok * H + h] + hbias[h]), da = exp(dd * hA[h]);
                        const float* bt = hB + tok * N;
                        const float* ct = hC + tok * N;
                        for (int p = 0; p < P; p++) {
                            size_t xi = (tok * H + h) * P + p;
                            double xv = dd * hx[xi], y = 0;
                            double* hr = hs + (size_t)p * N;
                            for (int n = 0; n < N; n++) {
                                hr[n] = da * hr[n] + xv * bt[n];
                                y += hr[n] * ct[n];
                            }
                            y += hD[h] * hx[xi];
                            y *= hz[xi] / (1 + exp(-(double)hz[xi]));
                            double r = fabs(got[xi] - y) / (atol + rtol * fabs(y));
                            if (r > worst) worst = r;
                        }
                    }
                    die(mr_memcpy_d2h(fin_h, (float*)fin + ((size_t)bb * H + h) * P * N, sizeof(float) * P * N), "d2h");
                    for (int i = 0; i < P * N; i++) {
                        double r = fabs(fin_h[i] - hs[i]) / (atol + rtol * fabs(hs[i]));
                        if (r > worst) worst = r;
                    }
                }
                printf("     check vs float64 (2 heads x %d tokens, out and final state): worst error/tolerance %.3f %s\n", L, worst,
                       worst <= 1 ? "ok" : "FAIL");
                if (!(worst <= 1)) failures++;
                free(hs); free(fin_h);
            }
            free(hx); free(hdt); free(hA); free(hB); free(hC); free(hD); free(hz); free(hbias);
            mr_free((void*)a.x); mr_free((void*)a.dt); mr_free((void*)a.A); mr_free((void*)a.B); mr_free((void*)a.C);
            mr_free((void*)a.D); mr_free((void*)a.z); mr_free((void*)a.dt_bias); mr_free(out); mr_free(fin);
        }
    }
    if (failures) fprintf(stderr, "%d check(s) FAILED\n", failures);
    return failures ? 2 : 0;
}
