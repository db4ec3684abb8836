/* The machine's float32 FMA ceiling in GFLOP/s, for bench/compare-peers: every thread runs twelve independent
 * FMA chains held in registers (no memory traffic), enough to cover the FMA latency on two ports. Distinct
 * run-time seeds keep the compiler from merging the chains. The widest vectors the build target has are used
 * (AVX-512, else AVX2). Prints one line: {"threads": T, "bits": B, "gflops": G}, the best of twenty measurements of about 30 ms (other processes only slow it down).
 * Build: gcc -O2 -march=native -fopenmp fmaceiling.c -o fmaceiling ; run: ./fmaceiling [threads]          */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define STEPS 20000000L
#define CHAINS 12 /* the chains written out in chains() */

#if defined(__AVX512F__)
typedef __m512 vec;
#define BITS 512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
static float total(vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__FMA__)
typedef __m256 vec;
#define BITS 256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float total(vec v) { float t[8]; _mm256_storeu_ps(t, v); return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7]; }
#else
#error "needs FMA: build with -march=native on an x86-64 with FMA"
#endif

/* Written out rather than as a loop over an array: -O2 does not unroll it, and the array would live in memory. */
static float chains(float seed) {
    const vec m = SET1(0.9999999f), c = SET1(1e-7f);
    vec a0 = SET1(seed), a1 = SET1(seed + 1), a2 = SET1(seed + 2), a3 = SET1(seed + 3), a4 = SET1(seed + 4),
        a5 = SET1(seed + 5), a6 = SET1(seed + 6), a7 = SET1(seed + 7), a8 = SET1(seed + 8), a9 = SET1(seed + 9),
        a10 = SET1(seed + 10), a11 = SET1(seed + 11);
    for (long i = 0; i < STEPS; i++) {
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);
    }
    vec s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
    return total(ADD(s, ADD(ADD(a8, a9), ADD(a10, a11))));
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : omp_get_num_procs();
    if (threads < 1) { fprintf(stderr, "threads must be at least 1 (got %s)\n", argv[1]); return 2; }
    double flops = (double)threads * STEPS * CHAINS * (BITS / 32) * 2.0, best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 20; rep++) { /* best of 20 short runs: a window with every core free */
        float sum = 0;
        double t0 = omp_get_wtime();
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        sum += chains((float)(argc + omp_get_thread_num()));
        double t = omp_get_wtime() - t0;
        sink += sum;
        if (flops / t > best) best = flops / t;
    }
    printf("{\"threads\": %d, \"bits\": %d, \"gflops\": %.1f}\n", threads, BITS, best / 1e9);
    return sink == 12345.0f; /* never: keeps the chains' results observable */
}
