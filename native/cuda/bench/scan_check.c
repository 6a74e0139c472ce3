/* Checks mr_selective_scan_fwd against a float64 recurrence on the host over random shapes that exercise every
 * path of the dispatcher (N < 16, odd lengths, L = 1, groups, h0, no z / D / bias / softplus, static B or C,
 * f32 / f16 / bf16 storage). Exit status 2 when a case exceeds the tolerance (MATH.md float32; state-spaces/mamba's
 * 16-bit ones, on the rounded inputs). Usage: mambaref_cuda_scan_check [cases] [seed]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "mambaref_cuda.h"
#include "host16.h"

static uint32_t rng = 1u;
static uint32_t next(void) { rng = rng * 1664525u + 1013904223u; return rng >> 8; }
static float frand(float lo, float hi) { return lo + (hi - lo) * (next() * (1.0f / 16777216.0f)); }
static int irand(int lo, int hi) { return lo + (int)(next() % (uint32_t)(hi - lo + 1)); }

static void die(int st, const char* what) {
    if (st) { fprintf(stderr, "%s: %s\n", what, mr_last_error()); exit(1); }
}
/* Random tensor of n values in [lo, hi): host copy (rounded to the storage type) and a device copy. */
static float* make(size_t n, float lo, float hi, int dtype, void** dev) {
    size_t es = dtype == MR_F32 ? 4 : 2;
    float* h = (float*)malloc(n * sizeof(float) + 4);
    unsigned char* raw = (unsigned char*)malloc(n * es + 4);
    for (size_t i = 0; i < n; i++) {
        float v = frand(lo, hi);
        if (dtype == MR_F32) memcpy(raw + 4 * i, &v, 4);
        else { uint16_t q = to16(v, dtype); memcpy(raw + 2 * i, &q, 2); v = from16(q, dtype); }
        h[i] = v;
    }
    die(mr_malloc(dev, n * es + 16), "malloc");
    die(mr_memcpy_h2d(*dev, raw, n * es), "h2d");
    free(raw);
    return h;
}
static double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }

int main(int argc, char** argv) {
    int cases = argc > 1 ? atoi(argv[1]) : 60;
    rng = argc > 2 ? (uint32_t)atoi(argv[2]) : 7u;
    int failures = 0;
    for (int cs = 0; cs < cases; cs++) {
        const int dts[3] = {MR_F32, MR_BF16, MR_F16};
        int dt = dts[cs % 3];
        int B = irand(1, 3), N = (cs % 5 == 0) ? irand(17, 40) : irand(1, 16);
        int G = (cs % 4 == 1) ? 2 : 1;
        int D = 16 * irand(1, 6) * G;
        if (cs % 7 == 3) D = G * irand(1, 40);  /* channel counts that are no multiple of 16 */
        if (cs % 7 == 5) D = G * 8 * (2 * irand(0, 4) + 1);  /* odd multiples of 8 per group: one-warp fast-path blocks */
        int Ls[8] = {1, 8, 64, 96, 200, 264, 1000, 1032};
        int L = Ls[cs % 8];
        if (cs % 11 == 5) L = irand(1, 300);
        int bvar = cs % 9 != 4, cvar = cs % 13 != 6;
        int has_z = cs % 6 != 2, has_D = cs % 5 != 3, has_bias = cs % 4 != 2, softp = cs % 7 != 1, has_h0 = cs % 3 == 1;
        size_t es = dt == MR_F32 ? 4 : 2;
        mr_scan_args a;
        memset(&a, 0, sizeof a);
        a.batch = B; a.dim = D; a.length = L; a.state = N; a.groups_b = a.groups_c = G;
        a.b_variable = bvar; a.c_variable = cvar; a.dtype = dt; a.delta_softplus = softp;
        void *du, *ddl, *dA, *dB, *dC, *dD = NULL, *dz = NULL, *dbias = NULL, *dh0 = NULL, *dout, *dlast;
        float* u = make((size_t)B * D * L, -1, 1, dt, &du);
        float* dl = make((size_t)B * D * L, softp ? -3.f : 0.f, softp ? 1.f : 0.5f, dt, &ddl);
        float* A = make((size_t)D * N, -4, -0.2f, MR_F32, &dA);
        float* Bm = bvar ? make((size_t)B * G * N * L, -1, 1, dt, &dB) : make((size_t)D * N, -1, 1, MR_F32, &dB);
        float* Cm = cvar ? make((size_t)B * G * N * L, -1, 1, dt, &dC) : make((size_t)D * N, -1, 1, MR_F32, &dC);
        float* Dv = has_D ? make(D, -1, 1, MR_F32, &dD) : NULL;
        float* z = has_z ? make((size_t)B * D * L, -2, 2, dt, &dz) : NULL;
        float* bias = has_bias ? make(D, softp ? -1.f : 0.f, softp ? 1.f : 0.5f, MR_F32, &dbias) : NULL; /* Δ >= 0 without softplus */
        float* h0 = has_h0 ? make((size_t)B * D * N, -1, 1, MR_F32, &dh0) : NULL;
        a.u = du; a.delta = ddl; a.A = (const float*)dA; a.B = dB; a.C = dC; a.D = (const float*)dD; a.z = dz;
        a.delta_bias = (const float*)dbias; a.h0 = (const float*)dh0;
        die(mr_malloc(&dout, (size_t)B * D * L * es + 16), "malloc");
        die(mr_memset(dout, 0xFF, (size_t)B * D * L * es), "memset");  /* NaN poison */
        die(mr_malloc(&dlast, sizeof(float) * B * D * N), "malloc");
        die(mr_memset(dlast, 0xFF, sizeof(float) * B * D * N), "memset");
        a.out = dout; a.last_state = (float*)dlast;
        die(mr_selective_scan_fwd(&a), "scan");
        die(mr_synchronize(), "sync");
        unsigned char* raw = (unsigned char*)malloc((size_t)B * D * L * es);
        float* last = (float*)malloc(sizeof(float) * B * D * N);
        die(mr_memcpy_d2h(raw, dout, (size_t)B * D * L * es), "d2h");
        die(mr_memcpy_d2h(last, dlast, sizeof(float) * B * D * N), "d2h");
        double rtol = dt == MR_F32 ? 3e-4 : dt == MR_F16 ? 3e-3 : 3e-2, atol = dt == MR_F32 ? 1e-5 : dt == MR_F16 ? 5e-3 : 5e-2;
        double worst = 0;
        double* h = (double*)malloc(sizeof(double) * N);
        int cpgB = D / G;
        for (int bb = 0; bb < B; bb++)
            for (int d = 0; d < D; d++) {
                size_t row = ((size_t)bb * D + d) * L;
                int g = d / cpgB;
                for (int n = 0; n < N; n++) h[n] = h0 ? h0[((size_t)bb * D + d) * N + n] : 0;
                for (int t = 0; t < L; t++) {
                    double x = (double)dl[row + t] + (bias ? bias[d] : 0);
                    double delta = softp ? softplus_d(x) : x, y = 0;
                    for (int n = 0; n < N; n++) {
                        double bv = bvar ? Bm[(((size_t)bb * G + g) * N + n) * L + t] : Bm[(size_t)d * N + n];
                        double cv = cvar ? Cm[(((size_t)bb * G + g) * N + n) * L + t] : Cm[(size_t)d * N + n];
                        h[n] = exp(delta * A[(size_t)d * N + n]) * h[n] + delta * bv * u[row + t];
                        y += cv * h[n];
                    }
                    if (Dv) y += Dv[d] * u[row + t];
                    if (z) y *= z[row + t] / (1 + exp(-(double)z[row + t]));
                    float got;
                    if (dt == MR_F32) memcpy(&got, raw + 4 * (row + t), 4);
                    else { uint16_t q; memcpy(&q, raw + 2 * (row + t), 2); got = from16(q, dt); }
                    double r = fabs(got - y) / (atol + rtol * fabs(y));
                    if (!(r <= worst)) worst = r;
                }
                for (int n = 0; n < N; n++) {
                    double r = fabs(last[((size_t)bb * D + d) * N + n] - h[n]) / (1e-5 + 3e-4 * fabs(h[n]) + (dt == MR_F32 ? 0 : atol));
                    if (!(r <= worst)) worst = r;
                }
            }
        int ok = worst <= 1;
        if (!ok) failures++;
        printf("case %2d %-4s B=%d D=%-4d L=%-4d N=%-2d G=%d bvar=%d cvar=%d z=%d D=%d bias=%d sp=%d h0=%d: worst %.3f %s\n", cs,
               dt == MR_F32 ? "f32" : dt == MR_F16 ? "f16" : "bf16", B, D, L, N, G, bvar, cvar, has_z, has_D, has_bias, softp,
               has_h0, worst, ok ? "ok" : "FAIL");
        free(raw); free(last); free(h);
        free(u); free(dl); free(A); free(Bm); free(Cm); free(Dv); free(z); free(bias); free(h0);
        mr_free(du); mr_free(ddl); mr_free(dA); mr_free(dB); mr_free(dC); mr_free(dout); mr_free(dlast);
        if (dD) mr_free(dD);
        if (dz) mr_free(dz);
        if (dbias) mr_free(dbias);
        if (dh0) mr_free(dh0);
    }
    printf("%d of %d cases failed\n", failures, cases);
    return failures ? 2 : 0;
}
