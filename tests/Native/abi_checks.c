/*
 * abi_checks.c: the C ABI's contract, checked from C (run by NativeAbiTests; one line per check: "ok NAME" or
 * "FAIL NAME: ..."; the exit code is the number of failures).
 *
 *   abi_checks errors    bad arguments give the documented status and a readable kn_last_error(), never a crash,
 *                        and leave the caller's outputs untouched; freed, stale and garbage handles are rejected
 *   abi_checks promises  per-query levels, KDE and thread counts give exactly what kernels.h promises
 *   abi_checks threads   8 pthreads evaluating on one shared set (plus one creating and freeing other sets) get,
 *                        bit for bit, the results of the same calls made before on one thread
 *   abi_checks opencl FILE   sets on KN_BACKEND_OPENCL (needs an OpenCL runtime): every function answers, info says
 *                        OPENCL, freeing while threads evaluate is safe; writes the data and the CPU and OpenCL outputs
 *                        to FILE for the test to compare within the error bound
 *   abi_checks opencl-unavailable FRAGMENT   creating an OpenCL set (run with no runtime, or no matching device)
 *                        gives KN_ERROR_BACKEND_UNAVAILABLE with FRAGMENT in the message, and the CPU still works
 *   abi_checks variant   prints "ok variant=NAME", the variant the dispatcher loaded
 *   abi_checks refused STATUS   the dispatcher could not load a variant: every call returns STATUS (a number) with a
 *                        message, and nothing crashes
 *   abi_checks fork [VARIANT.so]   a child forked before the first kn_ call works normally; a child forked after the
 *                        parent evaluated (thread pool started) gets KN_ERROR_FORKED from every call within seconds,
 *                        never a hang (the parent kills it after FORK_TIMEOUT s); the parent carries on unharmed.
 *                        Through the dispatcher, or with VARIANT.so, against that variant opened directly (its own guard)
 */
#define _DEFAULT_SOURCE /* fork, waitpid, kill, usleep under -std=c11 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include "kernels.h"

static int failures;

static void report(int ok, const char* name, const char* detail)
{
    if (ok) printf("ok %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, detail);
        failures++;
    }
    fflush(stdout);
}

/* The call returned `expected` and kn_last_error() contains `fragment` (and is empty exactly on success). */
static void expect(const char* name, kn_status got, kn_status expected, const char* fragment)
{
    const char* message = kn_last_error();
    char detail[1024];
    int ok = got == expected && strstr(message, fragment) != NULL && (got == KN_SUCCESS) == (message[0] == 0);
    snprintf(detail, sizeof detail, "status %s (%d), expected %s; message \"%s\", expected to contain \"%s\"",
             kn_status_name(got), (int)got, kn_status_name(expected), message, fragment);
    report(ok, name, detail);
}

/* As expect, and the message is the library's own: none of .NET's " (Parameter 'name')" or "Actual value was" suffixes. */
static void expect_own(const char* name, kn_status got, kn_status expected, const char* fragment)
{
    expect(name, got, expected, fragment);
    const char* message = kn_last_error();
    char check[160], detail[1024];
    snprintf(check, sizeof check, "%s: no .NET suffix", name);
    snprintf(detail, sizeof detail, "message \"%s\"", message);
    report(strstr(message, "(Parameter '") == NULL && strstr(message, "Actual value was") == NULL, check, detail);
}

static uint64_t lcg_state = 42;
static float uniform(void) /* in [-1, 1) */
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg_state >> 40) / (double)(1ull << 24) * 2 - 1);
}

#define N 257 /* not a multiple of any vector width */
#define D 5
#define M 37

static float train[N * D], queries[M * D];

static kn_training_set* make_set(int threads)
{
    kn_training_set* set = NULL;
    kn_status s = kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, threads, &set);
    if (s != KN_SUCCESS) {
        printf("FAIL setup: %s: %s\n", kn_status_name(s), kn_last_error());
        exit(100);
    }
    return set;
}

static int run_errors(void)
{
    kn_training_set* set = (kn_training_set*)0x1; /* must be reset to NULL by a failing create */
    float ld[M], s[M * D];
    double ld64[M];

    expect("create: data NULL", kn_training_set_create_f32(NULL, N, D, KN_BACKEND_CPU, 0, &set), KN_ERROR_NULL_POINTER, "data is NULL");
    report(set == NULL, "create: failure leaves *set NULL", "*set was not reset");
    expect("create: set NULL", kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, 0, NULL), KN_ERROR_NULL_POINTER, "set is NULL");
    expect("create: N = 0", kn_training_set_create_f32(train, 0, D, KN_BACKEND_CPU, 0, &set), KN_ERROR_INVALID_SIZE, "n = 0");
    expect("create: N < 0", kn_training_set_create_f32(train, -4, D, KN_BACKEND_CPU, 0, &set), KN_ERROR_INVALID_SIZE, "n = -4");
    expect("create: D = 0", kn_training_set_create_f32(train, N, 0, KN_BACKEND_CPU, 0, &set), KN_ERROR_INVALID_SIZE, "d = 0");
    expect("create: N*D overflows", kn_training_set_create_f32(train, 1 << 30, 1 << 20, KN_BACKEND_CPU, 0, &set),
           KN_ERROR_INVALID_SIZE, "n × d");
    train[2 * D + 1] = NAN;
    expect("create: NaN data", kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, 0, &set), KN_ERROR_NOT_FINITE,
           "row 2 has NaN in column 1");
    train[2 * D + 1] = INFINITY;
    expect("create: infinite data", kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, 0, &set), KN_ERROR_NOT_FINITE,
           "+infinity in column 1");
    train[2 * D + 1] = 0.25f;
    expect("create: unknown backend", kn_training_set_create_f32(train, N, D, (kn_backend)7, 0, &set), KN_ERROR_INVALID_VALUE, "backend = 7");
    expect("create: negative threads", kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, -3, &set), KN_ERROR_INVALID_VALUE, "threads = -3");
    report(set == NULL, "create: every failure left *set NULL", "*set was written");

    expect("create: valid", kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, 2, &set), KN_SUCCESS, "");
    int64_t n = 0, d = 0;
    kn_precision precision = KN_PRECISION_F64;
    kn_backend backend = KN_BACKEND_OPENCL;
    int32_t threads = 0;
    expect("info: valid", kn_training_set_info(set, &n, &d, &precision, &backend, &threads), KN_SUCCESS, "");
    report(n == N && d == D && precision == KN_PRECISION_F32 && backend == KN_BACKEND_CPU && threads == 2, "info: values", "wrong N, D, precision, backend or threads");
    expect("info: NULL outputs allowed", kn_training_set_info(set, NULL, NULL, NULL, NULL, NULL), KN_SUCCESS, "");

    for (int i = 0; i < M; i++) ld[i] = -12345.0f;
    expect("evaluate: queries NULL", kn_evaluate_f32(set, NULL, M, D, 1, 0.5, ld, s, NULL, NULL), KN_ERROR_NULL_POINTER, "queries is NULL");
    expect("evaluate: M = 0", kn_evaluate_f32(set, queries, 0, D, 1, 0.5, ld, s, NULL, NULL), KN_ERROR_INVALID_SIZE, "m = 0");
    expect("evaluate: wrong d", kn_evaluate_f32(set, queries, M, D + 1, 1, 0.5, ld, s, NULL, NULL), KN_ERROR_INVALID_SIZE, "d = 6 but the training set has dimension D = 5");
    expect("evaluate: no outputs", kn_evaluate_f32(set, queries, M, D, 1, 0.5, NULL, NULL, NULL, NULL), KN_ERROR_NULL_POINTER, "outputs");
    expect("evaluate: alpha = 0", kn_evaluate_f32(set, queries, M, D, 0, 0.5, ld, NULL, NULL, NULL), KN_ERROR_INVALID_VALUE, "alpha = 0");
    expect("evaluate: sigma < 0", kn_evaluate_f32(set, queries, M, D, 1, -1, ld, NULL, NULL, NULL), KN_ERROR_INVALID_VALUE, "sigma = -1");
    expect("evaluate: sigma NaN", kn_evaluate_f32(set, queries, M, D, 1, NAN, ld, NULL, NULL, NULL), KN_ERROR_NOT_FINITE, "sigma = NaN");
    queries[7 * D + 3] = NAN;
    expect("evaluate: NaN query", kn_evaluate_f32(set, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_ERROR_NOT_FINITE, "query row 7 has NaN in column 3");
    queries[7 * D + 3] = 0.5f;
    int untouched = 1;
    for (int i = 0; i < M; i++) untouched &= ld[i] == -12345.0f;
    report(untouched, "evaluate: failures leave outputs untouched", "log_density was written by a failing call");
    expect("evaluate: output overlaps queries", kn_evaluate_f32(set, queries, M, D, 1, 0.5, NULL, queries, NULL, NULL),
           KN_ERROR_INVALID_VALUE, "overlaps queries");
    expect("evaluate: f64 call on an f32 set", kn_evaluate_f64(set, (const double*)queries, 1, D, 1, 0.5, ld64, NULL, NULL, NULL),
           KN_ERROR_PRECISION_MISMATCH, "float32");
    expect("evaluate: valid", kn_evaluate_f32(set, queries, M, D, 1, 0.5, ld, s, NULL, NULL), KN_SUCCESS, "");

    double alphas[M], sigmas[M];
    for (int q = 0; q < M; q++) alphas[q] = 1, sigmas[q] = 0.5;
    expect("levels: alpha NULL", kn_evaluate_levels_f32(set, queries, M, D, NULL, sigmas, ld, NULL, NULL, NULL), KN_ERROR_NULL_POINTER, "alpha is NULL");
    sigmas[2] = 0;
    expect("levels: sigma[2] = 0", kn_evaluate_levels_f32(set, queries, M, D, alphas, sigmas, ld, NULL, NULL, NULL), KN_ERROR_INVALID_VALUE, "sigma[2] = 0");
    sigmas[2] = 0.5;
    alphas[5] = INFINITY;
    expect("levels: alpha[5] infinite", kn_evaluate_levels_f32(set, queries, M, D, alphas, sigmas, ld, NULL, NULL, NULL), KN_ERROR_NOT_FINITE, "alpha[5]");
    alphas[5] = 1;

    expect("kde: h = 0", kn_kde_f32(set, 0, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_ERROR_INVALID_VALUE, "h = 0");
    expect("kde: h NaN", kn_kde_f32(set, NAN, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_ERROR_NOT_FINITE, "h = NaN");
    /* Overflow: the message names the argument that caused it (KDE widens sigma^2 to sigma^2 + h^2) and the remedy. */
    expect_own("kde: h = 1e300 overflows, named", kn_kde_f32(set, 1e300, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL),
               KN_ERROR_INVALID_VALUE, "h = 1E+300 is too large");
    expect_own("kde: h = 1e300 overflows, remedy", kn_kde_f32(set, 1e300, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL),
               KN_ERROR_INVALID_VALUE, "use a kernel width h below 1e154");
    expect_own("kde: sigma = 1e200 overflows, named", kn_kde_f32(set, 1, queries, M, D, 1, 1e200, ld, NULL, NULL, NULL),
               KN_ERROR_INVALID_VALUE, "sigma = 1E+200 is too large");
    expect_own("kde levels: h = 1e300 overflows, named", kn_kde_levels_f32(set, 1e300, queries, M, D, alphas, sigmas, ld, NULL, NULL, NULL),
               KN_ERROR_INVALID_VALUE, "h = 1E+300 is too large");
    expect_own("smoothed: h = 1e300 overflows, named", kn_smoothed_f32(set, 1e300, 4, 1, 0, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL, NULL),
               KN_ERROR_INVALID_VALUE, "h = 1E+300");
    expect("smoothed: draws = 0", kn_smoothed_f32(set, 0.1, 0, 1, 0, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL, NULL), KN_ERROR_INVALID_VALUE, "draws = 0");
    expect("smoothed: odd antithetic draws", kn_smoothed_f32(set, 0.1, 5, 1, KN_DRAWS_ANTITHETIC, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL, NULL),
           KN_ERROR_INVALID_VALUE, "K must be even");
    expect("smoothed: unknown flags", kn_smoothed_f32(set, 0.1, 4, 1, 8, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL, NULL), KN_ERROR_INVALID_VALUE, "flags = 0x8");
    expect("smoothed: error from one draw", kn_smoothed_f32(set, 0.1, 1, 1, 0, queries, M, D, 1, 0.5, NULL, NULL, NULL, NULL, s),
           KN_ERROR_INVALID_VALUE, "score_error");
    expect("smoothed: valid", kn_smoothed_f32(set, 0.1, 4, 1, KN_DRAWS_ANTITHETIC, queries, M, D, 1, 0.5, ld, s, NULL, NULL, NULL), KN_SUCCESS, "");

    /* Handles: freed, stale after slot reuse, garbage, NULL. */
    kn_training_set* freed = set;
    expect("free: valid", kn_training_set_free(set), KN_SUCCESS, "");
    expect("freed handle: evaluate", kn_evaluate_f32(freed, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_ERROR_INVALID_HANDLE, "already freed");
    expect("freed handle: info", kn_training_set_info(freed, &n, NULL, NULL, NULL, NULL), KN_ERROR_INVALID_HANDLE, "already freed");
    expect("freed handle: double free", kn_training_set_free(freed), KN_ERROR_INVALID_HANDLE, "already freed");
    kn_training_set* reused = make_set(1); /* takes the freed slot */
    expect("stale handle after slot reuse", kn_evaluate_f32(freed, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_ERROR_INVALID_HANDLE, "already freed");
    expect("new handle in the reused slot works", kn_evaluate_f32(reused, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_SUCCESS, "");
    int local = 0;
    expect("garbage handle: stack address", kn_evaluate_f32((kn_training_set*)&local, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL),
           KN_ERROR_INVALID_HANDLE, "not a handle");
    expect("garbage handle: 0xdeadbeef4b", kn_training_set_free((kn_training_set*)(uintptr_t)0xdeadbeef4bull), KN_ERROR_INVALID_HANDLE, "");
    expect("NULL handle: evaluate", kn_evaluate_f32(NULL, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_ERROR_INVALID_HANDLE, "set is NULL");
    expect("NULL handle: free is a no-op", kn_training_set_free(NULL), KN_SUCCESS, "");
    expect("free: reused", kn_training_set_free(reused), KN_SUCCESS, "");

    /* The header's enumerators and the library agree, name by name. */
#define NAME(code) report(strcmp(kn_status_name(code), #code) == 0, "status name " #code, kn_status_name(code))
    NAME(KN_SUCCESS); NAME(KN_ERROR_DEVICE_NOT_FOUND); NAME(KN_ERROR_OUT_OF_RESOURCES); NAME(KN_ERROR_OUT_OF_HOST_MEMORY);
    NAME(KN_ERROR_BUILD_PROGRAM_FAILURE); NAME(KN_ERROR_INVALID_VALUE); NAME(KN_ERROR_PLATFORM_NOT_FOUND);
    NAME(KN_ERROR_INVALID_HANDLE); NAME(KN_ERROR_NULL_POINTER); NAME(KN_ERROR_INVALID_SIZE); NAME(KN_ERROR_NOT_FINITE);
    NAME(KN_ERROR_PRECISION_MISMATCH); NAME(KN_ERROR_BACKEND_UNAVAILABLE);
    NAME(KN_ERROR_UNSUPPORTED_CPU); NAME(KN_ERROR_LOAD_FAILED); NAME(KN_ERROR_DEVICE_FAILURE); NAME(KN_ERROR_FORKED);
    NAME(KN_ERROR_INTERNAL);
    report(strcmp(kn_status_name((kn_status)12345), "KN_UNKNOWN_STATUS") == 0, "status name of an unknown code", kn_status_name((kn_status)12345));
    report(kn_version() == KN_VERSION && strcmp(kn_version_string(), KN_VERSION_STRING) == 0, "version: header matches library",
           kn_version_string());
    return failures;
}

static int same(const float* a, const float* b, int count) { return memcmp(a, b, sizeof(float) * count) == 0; }

static int run_promises(void)
{
    kn_training_set* all = make_set(0);
    kn_training_set* one = make_set(1);
    float ld[M], s[M * D], m[M * D], div[M], ld2[M], s2[M * D], m2[M * D], div2[M];
    double alphas[M], sigmas[M];

    kn_evaluate_f32(all, queries, M, D, 0.9, 0.3, ld, s, m, div);
    kn_evaluate_f32(one, queries, M, D, 0.9, 0.3, ld2, s2, m2, div2);
    report(same(ld, ld2, M) && same(s, s2, M * D) && same(m, m2, M * D) && same(div, div2, M),
           "threads = 0 and threads = 1 agree bit for bit", "results differ");

    /* Three levels interleaved over the queries: each query equals the single-level call at its level. */
    const double la[3] = {1.0, 0.8, 0.5}, ls[3] = {0.2, 0.6, 1.5};
    for (int q = 0; q < M; q++) alphas[q] = la[q % 3], sigmas[q] = ls[q % 3];
    expect("levels: valid", kn_evaluate_levels_f32(all, queries, M, D, alphas, sigmas, ld, s, m, div), KN_SUCCESS, "");
    int ok = 1;
    for (int q = 0; q < M; q++) {
        kn_evaluate_f32(one, queries + q * D, 1, D, alphas[q], sigmas[q], ld2, s2, m2, div2);
        ok &= ld[q] == ld2[0] && same(s + q * D, s2, D) && same(m + q * D, m2, D) && div[q] == div2[0];
    }
    report(ok, "levels: each query equals its single-level result bit for bit", "a query differs");

    /* Isotropic Gaussian KDE is the same mixture at sigma^2 + h^2. */
    const double h = 0.35;
    kn_kde_f32(all, h, queries, M, D, 0.9, 0.3, ld, s, m, div);
    kn_evaluate_f32(all, queries, M, D, 0.9, sqrt(0.3 * 0.3 + h * h), ld2, s2, m2, div2);
    report(same(ld, ld2, M) && same(s, s2, M * D) && same(m, m2, M * D) && same(div, div2, M),
           "kde: equals evaluate at sqrt(sigma^2 + h^2)", "results differ");
    kn_kde_levels_f32(all, h, queries, M, D, alphas, sigmas, ld, NULL, NULL, NULL);
    ok = 1;
    for (int q = 0; q < M; q++) {
        kn_evaluate_f32(one, queries + q * D, 1, D, alphas[q], sqrt(sigmas[q] * sigmas[q] + h * h), ld2, NULL, NULL, NULL);
        ok &= ld[q] == ld2[0];
    }
    report(ok, "kde levels: each query equals the exact score at its smoothed level", "a query differs");

    /* Smoothing: reproducible for a seed, independent of the thread count; antithetic standard errors are finite. */
    float se[M * D];
    kn_smoothed_f32(all, 0.2, 16, 7, KN_DRAWS_ANTITHETIC, queries, M, D, 0.9, 0.3, ld, s, NULL, NULL, se);
    kn_smoothed_f32(one, 0.2, 16, 7, KN_DRAWS_ANTITHETIC, queries, M, D, 0.9, 0.3, ld2, s2, NULL, NULL, NULL);
    report(same(ld, ld2, M) && same(s, s2, M * D), "smoothed: same seed, any thread count, same result", "results differ");
    ok = 1;
    for (int i = 0; i < M * D; i++) ok &= isfinite(se[i]) && se[i] >= 0;
    report(ok, "smoothed: standard errors finite and >= 0", "bad standard error");
    kn_smoothed_f32(one, 0.2, 16, 8, KN_DRAWS_ANTITHETIC, queries, M, D, 0.9, 0.3, NULL, s2, NULL, NULL, NULL);
    report(!same(s, s2, M * D), "smoothed: another seed, other draws", "seed ignored");

    kn_training_set_free(all);
    kn_training_set_free(one);
    return failures;
}

/* ---- threads ---------------------------------------------------------------------------------------------------- */

#define THREADS 8
#define ROUNDS 25

typedef struct {
    int id;
    kn_training_set* set;
    float expected_ld[M], expected_s[M * D], expected_kde[M], expected_smoothed[M * D];
    double alphas[M], sigmas[M];
    int bad;
    char why[256];
} task;

static void compute(task* t, float* ld, float* s, float* kde, float* smoothed)
{
    kn_evaluate_levels_f32(t->set, queries, M, D, t->alphas, t->sigmas, ld, s, NULL, NULL);
    kn_kde_f32(t->set, 0.1 + 0.05 * t->id, queries, M, D, 1, 0.3, kde, NULL, NULL, NULL);
    kn_smoothed_f32(t->set, 0.2, 8, (uint64_t)t->id, 0, queries, M, D, 1, 0.4, NULL, smoothed, NULL, NULL, NULL);
}

static void* worker(void* arg)
{
    task* t = arg;
    float ld[M], s[M * D], kde[M], smoothed[M * D];
    char fragment[32];
    for (int r = 0; r < ROUNDS && !t->bad; r++) {
        compute(t, ld, s, kde, smoothed);
        if (!same(ld, t->expected_ld, M) || !same(s, t->expected_s, M * D) || !same(kde, t->expected_kde, M) ||
            !same(smoothed, t->expected_smoothed, M * D)) {
            t->bad = 1;
            snprintf(t->why, sizeof t->why, "thread %d round %d: results differ from the single-threaded ones", t->id, r);
        }
        /* The last error is per thread: each thread's own failure, interleaved with the others'. */
        snprintf(fragment, sizeof fragment, "m = -%d;", t->id + 1);
        kn_status status = kn_evaluate_f32(t->set, queries, -(t->id + 1), D, 1, 0.3, ld, NULL, NULL, NULL);
        if (status != KN_ERROR_INVALID_SIZE || strstr(kn_last_error(), fragment) == NULL) {
            t->bad = 1;
            snprintf(t->why, sizeof t->why, "thread %d: last error \"%s\" is not its own (%s)", t->id, kn_last_error(), fragment);
        }
    }
    return NULL;
}

static volatile int churn_done;
static int churn_bad;

static void* churn(void* arg)
{
    (void)arg;
    float ld[1];
    while (!churn_done) { /* create and free sets beside the evaluations: the shared handle table under contention */
        kn_training_set* other = NULL;
        if (kn_training_set_create_f32(train, 16, D, KN_BACKEND_CPU, 1, &other) != KN_SUCCESS ||
            kn_evaluate_f32(other, queries, 1, D, 1, 0.3, ld, NULL, NULL, NULL) != KN_SUCCESS ||
            kn_training_set_free(other) != KN_SUCCESS ||
            kn_evaluate_f32(other, queries, 1, D, 1, 0.3, ld, NULL, NULL, NULL) != KN_ERROR_INVALID_HANDLE)
            churn_bad = 1;
    }
    return NULL;
}

static int run_threads(void)
{
    kn_training_set* set = make_set(0);
    static task tasks[THREADS];
    pthread_t ids[THREADS], churner;
    float kde[M];
    for (int i = 0; i < THREADS; i++) {
        task* t = &tasks[i];
        t->id = i;
        t->set = set;
        for (int q = 0; q < M; q++) t->alphas[q] = 1.0 - 0.05 * ((q + i) % 4), t->sigmas[q] = 0.2 + 0.1 * ((q * 7 + i) % 5);
        compute(t, t->expected_ld, t->expected_s, t->expected_kde, t->expected_smoothed);
    }
    pthread_create(&churner, NULL, churn, NULL);
    for (int i = 0; i < THREADS; i++) pthread_create(&ids[i], NULL, worker, &tasks[i]);
    for (int i = 0; i < THREADS; i++) pthread_join(ids[i], NULL);
    churn_done = 1;
    pthread_join(churner, NULL);
    for (int i = 0; i < THREADS; i++) {
        char name[64];
        snprintf(name, sizeof name, "thread %d: %d rounds match the single-threaded results", i, ROUNDS);
        report(!tasks[i].bad, name, tasks[i].why);
    }
    report(!churn_bad, "create/evaluate/free churn beside the evaluations", "a create, evaluate or free failed or a freed handle worked");
    kn_kde_f32(set, 0.1, queries, M, D, 1, 0.3, kde, NULL, NULL, NULL);
    report(same(kde, tasks[0].expected_kde, M), "the shared set still evaluates afterwards", "results differ");
    expect("free: shared set", kn_training_set_free(set), KN_SUCCESS, "");
    return failures;
}

/* ---- OpenCL ----------------------------------------------------------------------------------------------------- */

static int all_finite(const float* a, int count)
{
    for (int i = 0; i < count; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

static void write_rows(FILE* f, const char* tag, const float* ld, const float* s, const float* m, const float* div)
{
    for (int q = 0; q < M; q++) {
        fprintf(f, "%s %d %.9g", tag, q, ld[q]);
        for (int k = 0; k < D; k++) fprintf(f, " %.9g", s[q * D + k]);
        for (int k = 0; k < D; k++) fprintf(f, " %.9g", m[q * D + k]);
        fprintf(f, " %.9g\n", div[q]);
    }
}

#define OPENCL_THREADS 4

typedef struct {
    kn_training_set* set;
    const float* expected_ld;
    volatile int successes;
    int bad;
    char why[256];
} opencl_task;

static volatile int opencl_freeing, opencl_freed; /* set before kn_training_set_free is called, and after it returned */

/* Evaluates until the handle is refused: every call succeeds with the expected result until the free, and every call
 * that starts after kn_training_set_free returned is refused (one running while it runs may still succeed). */
static void* opencl_worker(void* arg)
{
    opencl_task* t = arg;
    float ld[M];
    for (int round = 0; !t->bad; round++) {
        int after_free = opencl_freed;
        kn_status status = kn_evaluate_f32(t->set, queries, M, D, 0.9, 0.3, ld, NULL, NULL, NULL);
        if (status == KN_ERROR_INVALID_HANDLE) {
            if (!opencl_freeing) {
                t->bad = 1;
                snprintf(t->why, sizeof t->why, "round %d: refused before the free: %s", round, kn_last_error());
            }
            break;
        }
        if (status != KN_SUCCESS || !same(ld, t->expected_ld, M) || after_free) {
            t->bad = 1;
            snprintf(t->why, sizeof t->why, "round %d: %s (%s)%s", round, kn_status_name(status), kn_last_error(),
                     after_free ? ": a call started after the free was not refused" : ", or results differ");
        }
        t->successes++;
    }
    return NULL;
}

static int run_opencl(const char* path)
{
    const double alpha = 0.9, sigma = 0.3;
    kn_training_set *gpu = NULL, *gpu64 = NULL, *cpu = make_set(1);
    expect("opencl: create f32", kn_training_set_create_f32(train, N, D, KN_BACKEND_OPENCL, 0, &gpu), KN_SUCCESS, "");
    if (gpu == NULL) return failures; /* the message above says why (no runtime: what to install) */
    kn_backend backend = KN_BACKEND_CPU;
    kn_precision precision = KN_PRECISION_F64;
    expect("opencl: info", kn_training_set_info(gpu, NULL, NULL, &precision, &backend, NULL), KN_SUCCESS, "");
    report(backend == KN_BACKEND_OPENCL && precision == KN_PRECISION_F32, "opencl: info says OPENCL, F32", "wrong backend or precision");

    float ld[M], s[M * D], m[M * D], div[M], cld[M], cs[M * D], cm[M * D], cdiv[M];
    expect("opencl: evaluate", kn_evaluate_f32(gpu, queries, M, D, alpha, sigma, ld, s, m, div), KN_SUCCESS, "");
    expect("opencl: cpu evaluate", kn_evaluate_f32(cpu, queries, M, D, alpha, sigma, cld, cs, cm, cdiv), KN_SUCCESS, "");
    FILE* f = fopen(path, "w");
    if (f == NULL) {
        report(0, "opencl: open the output file", path);
        return failures;
    }
    fprintf(f, "level %.17g %.17g\n", alpha, sigma);
    for (int i = 0; i < N; i++) {
        fprintf(f, "train %d", i);
        for (int k = 0; k < D; k++) fprintf(f, " %.9g", train[i * D + k]);
        fprintf(f, "\n");
    }
    for (int q = 0; q < M; q++) {
        fprintf(f, "query %d", q);
        for (int k = 0; k < D; k++) fprintf(f, " %.9g", queries[q * D + k]);
        fprintf(f, "\n");
    }
    write_rows(f, "cpu", cld, cs, cm, cdiv);
    write_rows(f, "opencl", ld, s, m, div);
    fclose(f);

    /* The other entry points run on the device too (their numbers are the CPU's within rounding, checked in-process). */
    double alphas[M], sigmas[M];
    for (int q = 0; q < M; q++) alphas[q] = 1.0 - 0.1 * (q % 3), sigmas[q] = 0.2 + 0.2 * (q % 3);
    expect("opencl: levels", kn_evaluate_levels_f32(gpu, queries, M, D, alphas, sigmas, ld, s, NULL, NULL), KN_SUCCESS, "");
    report(all_finite(ld, M) && all_finite(s, M * D), "opencl: levels finite", "NaN or infinity");
    expect("opencl: kde", kn_kde_f32(gpu, 0.2, queries, M, D, alpha, sigma, ld, s, NULL, NULL), KN_SUCCESS, "");
    report(all_finite(ld, M) && all_finite(s, M * D), "opencl: kde finite", "NaN or infinity");
    float se[M * D];
    expect("opencl: smoothed", kn_smoothed_f32(gpu, 0.2, 8, 3, KN_DRAWS_ANTITHETIC, queries, M, D, alpha, sigma, NULL, s, NULL, NULL, se),
           KN_SUCCESS, "");
    report(all_finite(s, M * D) && all_finite(se, M * D), "opencl: smoothed finite", "NaN or infinity");
    expect("opencl: precision mismatch", kn_evaluate_f64(gpu, NULL, 1, D, 1, 1, NULL, NULL, NULL, NULL), KN_ERROR_PRECISION_MISMATCH, "float32");

    /* float64 where the device has fp64; else refused at create, saying so. */
    static double train64[N * D], queries64[M * D], ld64[M];
    for (int i = 0; i < N * D; i++) train64[i] = train[i];
    for (int i = 0; i < M * D; i++) queries64[i] = queries[i];
    kn_status s64 = kn_training_set_create_f64(train64, N, D, KN_BACKEND_OPENCL, 0, &gpu64);
    if (s64 == KN_ERROR_BACKEND_UNAVAILABLE)
        report(strstr(kn_last_error(), "fp64") != NULL, "opencl: f64 refused for want of fp64", kn_last_error());
    else {
        expect("opencl: create f64", s64, KN_SUCCESS, "");
        expect("opencl: evaluate f64", kn_evaluate_f64(gpu64, queries64, M, D, alpha, sigma, ld64, NULL, NULL, NULL), KN_SUCCESS, "");
        int ok = 1;
        for (int q = 0; q < M; q++) ok &= isfinite(ld64[q]);
        report(ok, "opencl: f64 finite", "NaN or infinity");
        expect("opencl: free f64", kn_training_set_free(gpu64), KN_SUCCESS, "");
    }

    /* Free while threads evaluate: their calls finish on a live context, then the handle is refused. */
    float expected[M];
    kn_evaluate_f32(gpu, queries, M, D, alpha, sigma, expected, NULL, NULL, NULL);
    static opencl_task tasks[OPENCL_THREADS];
    pthread_t ids[OPENCL_THREADS];
    for (int i = 0; i < OPENCL_THREADS; i++) {
        tasks[i] = (opencl_task){.set = gpu, .expected_ld = expected};
        pthread_create(&ids[i], NULL, opencl_worker, &tasks[i]);
    }
    /* Free once every thread has evaluated at least twice, so the free lands among their calls. */
    for (int i = 0; i < OPENCL_THREADS; i++)
        while (tasks[i].successes < 2 && !tasks[i].bad) sched_yield();
    opencl_freeing = 1;
    expect("opencl: free while evaluating", kn_training_set_free(gpu), KN_SUCCESS, "");
    opencl_freed = 1;
    for (int i = 0; i < OPENCL_THREADS; i++) pthread_join(ids[i], NULL);
    for (int i = 0; i < OPENCL_THREADS; i++) {
        char name[96];
        snprintf(name, sizeof name, "opencl: thread %d: results until the free, then KN_ERROR_INVALID_HANDLE", i);
        report(!tasks[i].bad, name, tasks[i].why);
    }
    expect("opencl: freed handle", kn_evaluate_f32(gpu, queries, M, D, alpha, sigma, ld, NULL, NULL, NULL), KN_ERROR_INVALID_HANDLE,
           "already freed");
    expect("opencl: free twice", kn_training_set_free(gpu), KN_ERROR_INVALID_HANDLE, "already freed");
    kn_training_set_free(cpu);
    return failures;
}

static int run_opencl_unavailable(const char* fragment)
{
    kn_training_set* set = (kn_training_set*)0x1;
    expect("opencl unavailable: create f32", kn_training_set_create_f32(train, N, D, KN_BACKEND_OPENCL, 0, &set),
           KN_ERROR_BACKEND_UNAVAILABLE, fragment);
    report(set == NULL, "opencl unavailable: *set NULL", "*set was not reset");
    expect("opencl unavailable: create f64", kn_training_set_create_f64((const double*)queries, 2, 2, KN_BACKEND_OPENCL, 0, &set),
           KN_ERROR_BACKEND_UNAVAILABLE, "KN_BACKEND_CPU");
    kn_training_set* cpu = make_set(1);
    float ld[M];
    expect("opencl unavailable: the CPU backend still works", kn_evaluate_f32(cpu, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL),
           KN_SUCCESS, "");
    kn_training_set_free(cpu);
    return failures;
}

static int run_refused(kn_status expected)
{
    kn_training_set* set = (kn_training_set*)0x1;
    float ld[M];
    const char* fragment = expected == KN_ERROR_UNSUPPORTED_CPU ? "KERNELS_ISA" : "could not load";
    expect("refused: create", kn_training_set_create_f32(train, N, D, KN_BACKEND_CPU, 0, &set), expected, fragment);
    report(set == NULL, "refused: create leaves *set NULL", "*set was not reset");
    expect("refused: evaluate", kn_evaluate_f32(NULL, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), expected, fragment);
    expect("refused: smoothed", kn_smoothed_f64(NULL, 0.1, 2, 0, 0, NULL, 1, 1, 1, 1, NULL, NULL, NULL, NULL, NULL), expected, fragment);
    expect("refused: free", kn_training_set_free(NULL), expected, fragment);
    report(strcmp(kn_variant(), "") == 0, "refused: no variant", kn_variant());
    report(kn_version() == KN_VERSION && strcmp(kn_version_string(), KN_VERSION_STRING) == 0, "refused: version still answers", kn_version_string());
    report(strstr(kn_status_name(expected), "KN_ERROR_") == kn_status_name(expected), "refused: status named", kn_status_name(expected));
    return failures;
}

/* ---- fork ------------------------------------------------------------------------------------------------------ */

#define FORK_TIMEOUT 20 /* seconds: the refusal takes microseconds; a hang is what this catches */

/* The functions under test: the dispatcher's (linked) or a variant's, opened directly. */
typedef struct {
    kn_status (*create)(const float*, int64_t, int64_t, kn_backend, int32_t, kn_training_set**);
    kn_status (*evaluate)(const kn_training_set*, const float*, int64_t, int64_t, double, double, float*, float*, float*, float*);
    kn_status (*info)(const kn_training_set*, int64_t*, int64_t*, kn_precision*, kn_backend*, int32_t*);
    kn_status (*free)(kn_training_set*);
    const char* (*last_error)(void);
    const char* (*status_name)(kn_status);
} kn_api;

static void expect_api(const kn_api* api, const char* name, kn_status got, kn_status expected, const char* fragment)
{
    const char* message = api->last_error();
    char detail[1024];
    int ok = got == expected && strstr(message, fragment) != NULL && (got == KN_SUCCESS) == (message[0] == 0);
    snprintf(detail, sizeof detail, "status %d, expected %d; message \"%s\", expected to contain \"%s\"", (int)got, (int)expected,
             message, fragment);
    report(ok, name, detail);
}

/* The child's exit code (its failures), or -1 when it ran past FORK_TIMEOUT seconds (then it is killed and reaped). */
static int wait_child(pid_t child)
{
    int status;
    for (int waited = 0; waited < FORK_TIMEOUT * 100; waited++) {
        pid_t done = waitpid(child, &status, WNOHANG);
        if (done == child) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        usleep(10000);
    }
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    return -1;
}

static void expect_child(pid_t child, const char* name)
{
    char detail[160];
    int code = child < 0 ? -2 : wait_child(child);
    snprintf(detail, sizeof detail, code == -1 ? "the child hung: killed after %d s" : code == -2 ? "fork failed" : "the child exited with %d",
             code == -1 ? FORK_TIMEOUT : code);
    report(code == 0, name, detail);
}

static int run_fork(const char* variant_path)
{
    kn_api api = {kn_training_set_create_f32, kn_evaluate_f32, kn_training_set_info, kn_training_set_free, kn_last_error, kn_status_name};
    if (variant_path != NULL) {
        void* library = dlopen(variant_path, RTLD_NOW | RTLD_LOCAL);
        if (library == NULL) {
            printf("FAIL fork: could not open %s: %s\n", variant_path, dlerror());
            return 1;
        }
#define KN_SYMBOL(field, symbol) *(void**)&api.field = dlsym(library, symbol)
        KN_SYMBOL(create, "kn_training_set_create_f32");
        KN_SYMBOL(evaluate, "kn_evaluate_f32");
        KN_SYMBOL(info, "kn_training_set_info");
        KN_SYMBOL(free, "kn_training_set_free");
        KN_SYMBOL(last_error, "kn_last_error");
        KN_SYMBOL(status_name, "kn_status_name");
#undef KN_SYMBOL
        if (!api.create || !api.evaluate || !api.info || !api.free || !api.last_error || !api.status_name) {
            printf("FAIL fork: %s lacks a kn_ function\n", variant_path);
            return 1;
        }
    }
    float expected[M], ld[M];

    /* A child forked before the parent's first call loads the library itself and works. */
    fflush(stdout);
    pid_t early = fork();
    if (early == 0) {
        failures = 0;
        kn_training_set* set = NULL;
        expect_api(&api, "fork: early child: create", api.create(train, N, D, KN_BACKEND_CPU, 0, &set), KN_SUCCESS, "");
        expect_api(&api, "fork: early child: evaluate", api.evaluate(set, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_SUCCESS, "");
        expect_api(&api, "fork: early child: free", api.free(set), KN_SUCCESS, "");
        fflush(stdout);
        _exit(failures);
    }
    expect_child(early, "fork: early child worked and exited");

    /* The parent evaluates with threads = 0 (all cores): the thread pool runs, and a fork from now on is refused. */
    kn_training_set* set = NULL;
    expect_api(&api, "fork: parent: create", api.create(train, N, D, KN_BACKEND_CPU, 0, &set), KN_SUCCESS, "");
    expect_api(&api, "fork: parent: evaluate", api.evaluate(set, queries, M, D, 1, 0.5, expected, NULL, NULL, NULL), KN_SUCCESS, "");

    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        failures = 0;
        for (int q = 0; q < M; q++) ld[q] = -7;
        expect_api(&api, "fork: child: evaluate refused", api.evaluate(set, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL),
                   KN_ERROR_FORKED, "forked");
        expect_api(&api, "fork: child: the message says what to do", api.evaluate(set, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL),
                   KN_ERROR_FORKED, "set_start_method('spawn')");
        int untouched = 1;
        for (int q = 0; q < M; q++) untouched &= ld[q] == -7;
        report(untouched, "fork: child: outputs untouched", "log_density was written");
        kn_training_set* other = (kn_training_set*)0x1;
        expect_api(&api, "fork: child: create refused", api.create(train, N, D, KN_BACKEND_CPU, 1, &other), KN_ERROR_FORKED, "forked");
        report(other == NULL, "fork: child: create leaves *set NULL", "*set was not reset");
        int64_t n = -1;
        expect_api(&api, "fork: child: info refused", api.info(set, &n, NULL, NULL, NULL, NULL), KN_ERROR_FORKED, "forked");
        report(n == -1, "fork: child: info writes nothing", "n was written");
        expect_api(&api, "fork: child: free refused", api.free(set), KN_ERROR_FORKED, "forked");
        expect_api(&api, "fork: child: free NULL refused", api.free(NULL), KN_ERROR_FORKED, "forked");
        report(strcmp(api.status_name(KN_ERROR_FORKED), "KN_ERROR_FORKED") == 0, "fork: child: status named",
               api.status_name(KN_ERROR_FORKED));
        fflush(stdout);
        _exit(failures);
    }
    expect_child(child, "fork: child refused every call at once and exited");

    /* The parent is unharmed: the same call gives the same result, bit for bit. */
    expect_api(&api, "fork: parent: evaluate after the fork", api.evaluate(set, queries, M, D, 1, 0.5, ld, NULL, NULL, NULL), KN_SUCCESS, "");
    report(same(ld, expected, M), "fork: parent: same results after the fork", "results differ");
    expect_api(&api, "fork: parent: free", api.free(set), KN_SUCCESS, "");
    return failures;
}

int main(int argc, char** argv)
{
    const char* mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "refused") == 0 && argc > 2) return run_refused((kn_status)atoi(argv[2]));
    if (strcmp(mode, "variant") == 0) {
        printf("ok variant=%s\n", kn_variant());
        return kn_variant()[0] == 0;
    }
    if (!kn_cpu_supported()) {
        printf("FAIL cpu: this CPU lacks AVX2/FMA\n");
        return 1;
    }
    for (int i = 0; i < N * D; i++) train[i] = uniform();
    for (int i = 0; i < M * D; i++) queries[i] = 1.2f * uniform();
    if (strcmp(mode, "errors") == 0) return run_errors();
    if (strcmp(mode, "promises") == 0) return run_promises();
    if (strcmp(mode, "threads") == 0) return run_threads();
    if (strcmp(mode, "opencl") == 0 && argc > 2) return run_opencl(argv[2]);
    if (strcmp(mode, "opencl-unavailable") == 0 && argc > 2) return run_opencl_unavailable(argv[2]);
    if (strcmp(mode, "fork") == 0) return run_fork(argc > 2 ? argv[2] : NULL);
    fprintf(stderr, "usage: abi_checks errors|promises|threads|opencl FILE|opencl-unavailable FRAGMENT|variant|refused STATUS|fork [VARIANT.so]\n");
    return 100;
}
