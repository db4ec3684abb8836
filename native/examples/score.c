/*
 * score.c: the empirical score of a small training set through the C ABI (libkernels.so).
 *
 *   dotnet cake --target=Native        # builds artifacts/native/{libkernels.so,kernels.h,score}
 *   artifacts/native/score             # or: gcc score.c -I native/include -L artifacts/native -lkernels -Wl,-rpath,'$ORIGIN'
 *
 * Prints the training points, then per query: x, log-density, score, denoiser and divergence at (alpha, sigma) = (1, 0.2),
 * with 9 significant digits (enough to read every float back exactly). Lines starting with '#' are comments.
 */
#include <math.h>
#include <stdio.h>
#include "kernels.h"

#define PI 3.14159265358979323846
#define N 12
#define M 6
#define D 2

static int check(kn_status status, const char* what)
{
    if (status == KN_SUCCESS) return 0;
    fprintf(stderr, "%s failed: %s: %s\n", what, kn_status_name(status), kn_last_error());
    return 1;
}

int main(void)
{
    float train[N * D], queries[M * D];
    float log_density[M], score[M * D], denoiser[M * D], divergence[M];
    const double alpha = 1.0, sigma = 0.2;

    for (int i = 0; i < N; i++) { /* twelve points on the unit circle */
        train[i * D] = (float)cos(2 * PI * i / N);
        train[i * D + 1] = (float)sin(2 * PI * i / N);
    }
    for (int q = 0; q < M; q++) { /* queries spiralling out from inside the circle */
        queries[q * D] = (float)((0.3 + 0.2 * q) * cos(0.9 * q));
        queries[q * D + 1] = (float)((0.3 + 0.2 * q) * sin(0.9 * q));
    }

    if (!kn_cpu_supported()) { /* before any kn_ call: on a CPU without AVX2/FMA that call would abort */
        fprintf(stderr, "this CPU lacks AVX2/FMA, which libkernels is compiled for\n");
        return 1;
    }
    printf("# kernels %s: N = %d points on the unit circle, D = %d, alpha = %g, sigma = %g\n",
           kn_version_string(), N, D, alpha, sigma);
    if (kn_version() != KN_VERSION) fprintf(stderr, "warning: header %u, library %u\n", KN_VERSION, kn_version());

    kn_training_set* set = NULL;
    if (check(kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, 0, &set), "kn_training_set_create_f32")) return 1;
    if (check(kn_evaluate_f32(set, queries, M, D, alpha, sigma, log_density, score, denoiser, divergence),
              "kn_evaluate_f32")) return 1;

    for (int i = 0; i < N; i++) printf("train %d %.9g %.9g\n", i, train[i * D], train[i * D + 1]);
    printf("# query q: x0 x1 log_density score0 score1 denoiser0 denoiser1 divergence\n");
    for (int q = 0; q < M; q++)
        printf("query %d %.9g %.9g %.9g %.9g %.9g %.9g %.9g %.9g\n", q, queries[q * D], queries[q * D + 1], log_density[q],
               score[q * D], score[q * D + 1], denoiser[q * D], denoiser[q * D + 1], divergence[q]);

    /* Errors come back as a status and a reason, never as a crash: here, zero queries. */
    kn_status status = kn_evaluate_f32(set, queries, 0, D, alpha, sigma, log_density, NULL, NULL, NULL);
    printf("# expected failure: %s: %s\n", kn_status_name(status), kn_last_error());

    return check(kn_training_set_free(set), "kn_training_set_free");
}
