/*
 * dispatch.c: libkernels.so, the library C callers link. It holds no kernels: on first use it picks the variant of the
 * NativeAOT library this CPU can run, libkernels-x86-64-v4.so (AVX-512) or libkernels-x86-64-v3.so (AVX2 + FMA), from
 * the folder it was itself loaded from, and forwards every kn_ call to it.
 *
 * Why a C dispatcher: a NativeAOT image checks the instruction sets it was compiled for when its runtime starts (at the
 * first call into it) and aborts the process when one is missing, before any of the library's own code can answer.
 * Only code outside the image can choose safely, and can refuse cleanly: on a CPU without AVX2/FMA every call returns
 * KN_ERROR_UNSUPPORTED_CPU with a message instead of killing the host.
 *
 * KERNELS_ISA=x86-64-v3 or x86-64-v4 in the environment forces a variant (for tests and measurements); a variant this
 * CPU cannot run, or any other name, is refused with KN_ERROR_UNSUPPORTED_CPU.
 *
 * Fork: a variant's .NET runtime does not survive fork(): the child has only the forking thread, so the runtime's thread
 * pool, finalizer and GC suspension wait forever on threads that no longer exist (an evaluation with threads = 0 hung).
 * The dispatcher records the pid that loaded the variant and, in any other process (a forked child), answers every call
 * with KN_ERROR_FORKED here, in C, without entering the variant. A child forked before the parent's first kn_ call loads
 * its own variant and works normally.
 *
 * Build: gcc -shared -fPIC -O2 dispatch.c -I ../include -Wl,-soname,libkernels.so -ldl -pthread -o libkernels.so
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "kernels.h"

/* A message longer than its buffer is cut, deliberately: snprintf never overflows. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* Every forwarded function returning kn_status: X(name, parameter list, argument list). */
#define KN_FORWARDED(X)                                                                                                  \
    X(kn_training_set_free, (kn_training_set * set), (set))                                                             \
    X(kn_training_set_info, (const kn_training_set* set, int64_t* n, int64_t* d, kn_precision* precision,                \
                             kn_backend* backend, int32_t* threads), (set, n, d, precision, backend, threads))          \
    X(kn_evaluate_f32, (const kn_training_set* set, const float* queries, int64_t m, int64_t d, double alpha,            \
                        double sigma, float* log_density, float* score, float* denoiser, float* divergence),             \
      (set, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                     \
    X(kn_evaluate_f64, (const kn_training_set* set, const double* queries, int64_t m, int64_t d, double alpha,           \
                        double sigma, double* log_density, double* score, double* denoiser, double* divergence),         \
      (set, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                     \
    X(kn_evaluate_levels_f32, (const kn_training_set* set, const float* queries, int64_t m, int64_t d,                   \
                               const double* alpha, const double* sigma, float* log_density, float* score,               \
                               float* denoiser, float* divergence),                                                      \
      (set, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                     \
    X(kn_evaluate_levels_f64, (const kn_training_set* set, const double* queries, int64_t m, int64_t d,                  \
                               const double* alpha, const double* sigma, double* log_density, double* score,             \
                               double* denoiser, double* divergence),                                                    \
      (set, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                     \
    X(kn_kde_f32, (const kn_training_set* set, double h, const float* queries, int64_t m, int64_t d, double alpha,       \
                   double sigma, float* log_density, float* score, float* denoiser, float* divergence),                  \
      (set, h, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                  \
    X(kn_kde_f64, (const kn_training_set* set, double h, const double* queries, int64_t m, int64_t d, double alpha,      \
                   double sigma, double* log_density, double* score, double* denoiser, double* divergence),              \
      (set, h, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                  \
    X(kn_kde_levels_f32, (const kn_training_set* set, double h, const float* queries, int64_t m, int64_t d,              \
                          const double* alpha, const double* sigma, float* log_density, float* score, float* denoiser,   \
                          float* divergence),                                                                            \
      (set, h, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                  \
    X(kn_kde_levels_f64, (const kn_training_set* set, double h, const double* queries, int64_t m, int64_t d,             \
                          const double* alpha, const double* sigma, double* log_density, double* score,                  \
                          double* denoiser, double* divergence),                                                         \
      (set, h, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence))                                  \
    X(kn_smoothed_f32, (const kn_training_set* set, double h, int32_t draws, uint64_t seed, uint32_t flags,              \
                        const float* queries, int64_t m, int64_t d, double alpha, double sigma, float* log_density,      \
                        float* score, float* denoiser, float* divergence, float* score_error),                           \
      (set, h, draws, seed, flags, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence, score_error)) \
    X(kn_smoothed_f64, (const kn_training_set* set, double h, int32_t draws, uint64_t seed, uint32_t flags,              \
                        const double* queries, int64_t m, int64_t d, double alpha, double sigma, double* log_density,    \
                        double* score, double* denoiser, double* divergence, double* score_error),                       \
      (set, h, draws, seed, flags, queries, m, d, alpha, sigma, log_density, score, denoiser, divergence, score_error)) \
    X(kn_smoothing_rows_f32, (double h, int32_t draws, uint64_t seed, uint32_t flags, const float* queries, int64_t m,   \
                              int64_t d, float* rows), (h, draws, seed, flags, queries, m, d, rows))                    \
    X(kn_smoothing_rows_f64, (double h, int32_t draws, uint64_t seed, uint32_t flags, const double* queries, int64_t m,  \
                              int64_t d, double* rows), (h, draws, seed, flags, queries, m, d, rows))                   \
    X(kn_schedule_level, (const char* name, double t, double* alpha, double* sigma), (name, t, alpha, sigma))            \
    X(kn_partial_init, (void* states, int64_t m, int64_t d, double alpha, double sigma), (states, m, d, alpha, sigma))    \
    X(kn_partial_accumulate_f32, (const kn_training_set* set, const float* queries, int64_t m, int64_t d, void* states), \
      (set, queries, m, d, states))                                                                                     \
    X(kn_partial_accumulate_f64, (const kn_training_set* set, const double* queries, int64_t m, int64_t d,              \
                                  void* states), (set, queries, m, d, states))                                          \
    X(kn_partial_merge, (void* into, const void* from, int64_t m, int64_t d), (into, from, m, d))                       \
    X(kn_partial_finish_f32, (const void* states, int64_t m, int64_t d, float* log_density, float* score,               \
                              float* denoiser, float* divergence),                                                      \
      (states, m, d, log_density, score, denoiser, divergence))                                                         \
    X(kn_partial_finish_f64, (const void* states, int64_t m, int64_t d, double* log_density, double* score,             \
                              double* denoiser, double* divergence),                                                    \
      (states, m, d, log_density, score, denoiser, divergence))                                                         \
    X(kn_partial_batch_header, (void* header, int64_t m, int64_t d, int32_t precision_bits), (header, m, d, precision_bits)) \
    X(kn_partial_batch_check, (const void* header, int64_t m, int64_t d, int32_t precision_bits),                       \
      (header, m, d, precision_bits))

#define KN_FIELD(name, parameters, arguments) kn_status(*name) parameters;

static struct {
    KN_FORWARDED(KN_FIELD)
    kn_status (*kn_training_set_create_f32)(const float*, int64_t, int64_t, kn_backend, int32_t, kn_training_set**);
    kn_status (*kn_training_set_create_f64)(const double*, int64_t, int64_t, kn_backend, int32_t, kn_training_set**);
    uint32_t (*kn_version)(void);
    const char* (*kn_version_string)(void);
    const char* (*kn_last_error)(void);
    const char* (*kn_status_name)(kn_status);
    const char* (*kn_variant)(void);
} impl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static kn_status load_status = KN_SUCCESS;
static char load_error[1024];
static const char* variant = "";

/* The process whose variant (and .NET runtime) was loaded; 0 until load() opens one. Written once, before the first
 * call into the variant; read without the once-lock, so atomically. */
static pid_t loaded_pid;

static const char forked_error[] =
    "this process was forked from the one that loaded libkernels; the .NET runtime inside libkernels does not survive "
    "fork(), so no kn_ function can run in this child: fork before the parent's first kn_ call, or start workers that "
    "load libkernels themselves (fork + exec; Python: multiprocessing.set_start_method('spawn') or 'forkserver').";

/* 1 in a process forked after the variant was loaded: then nothing may call into the variant. */
static int forked(void)
{
    pid_t owner = __atomic_load_n(&loaded_pid, __ATOMIC_ACQUIRE);
    return owner != 0 && owner != getpid();
}

static int cpu_has_v3(void) { return kn_cpu_supported(); }

static int cpu_has_v4(void)
{
    return cpu_has_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

static void fail(kn_status status, const char* message)
{
    load_status = status;
    snprintf(load_error, sizeof load_error, "%s", message);
}

static void load(void)
{
    const char* forced = getenv("KERNELS_ISA");
    char message[1024];
    if (forced != NULL && forced[0] != 0) {
        int known = strcmp(forced, "x86-64-v3") == 0 || strcmp(forced, "x86-64-v4") == 0;
        int runs = strcmp(forced, "x86-64-v4") == 0 ? cpu_has_v4() : cpu_has_v3();
        if (!known || !runs) {
            snprintf(message, sizeof message,
                     "KERNELS_ISA=%s %s; unset it, or use x86-64-v3 (AVX2 + FMA) or x86-64-v4 (AVX-512).", forced,
                     known ? "names a variant this CPU cannot run" : "is not a variant of libkernels");
            fail(KN_ERROR_UNSUPPORTED_CPU, message);
            return;
        }
        variant = strcmp(forced, "x86-64-v4") == 0 ? "x86-64-v4" : "x86-64-v3";
    } else if (cpu_has_v4())
        variant = "x86-64-v4";
    else if (cpu_has_v3())
        variant = "x86-64-v3";
    else {
        fail(KN_ERROR_UNSUPPORTED_CPU,
             "This CPU lacks AVX2, FMA or BMI2, which libkernels needs (x86-64-v3, Haswell or Excavator and later); "
             "no kn_ function can run here.");
        return;
    }

    /* The variants lie beside this library, wherever the caller found it. */
    Dl_info self;
    char path[4096];
    if (dladdr((void*)&load, &self) == 0 || self.dli_fname == NULL) {
        fail(KN_ERROR_LOAD_FAILED, "libkernels.so could not find its own path (dladdr failed).");
        return;
    }
    const char* slash = strrchr(self.dli_fname, '/');
    int folder = slash == NULL ? 0 : (int)(slash - self.dli_fname + 1);
    snprintf(path, sizeof path, "%.*slibkernels-%s.so", folder, self.dli_fname, variant);
    void* library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(message, sizeof message, "could not load %s: %s; install it beside libkernels.so.", path, dlerror());
        fail(KN_ERROR_LOAD_FAILED, message);
        return;
    }
    /* From here on the variant's runtime may start (kn_version below calls into it): a fork from now on is refused. */
    __atomic_store_n(&loaded_pid, getpid(), __ATOMIC_RELEASE);

#define KN_RESOLVE(name)                                                                                                 \
    do {                                                                                                                 \
        void* symbol = dlsym(library, #name);                                                                            \
        if (symbol == NULL) {                                                                                            \
            snprintf(message, sizeof message, "%s has no %s: a variant of another version? Reinstall libkernels.", path, \
                     #name);                                                                                             \
            fail(KN_ERROR_LOAD_FAILED, message);                                                                         \
            return;                                                                                                      \
        }                                                                                                                \
        memcpy(&impl.name, &symbol, sizeof symbol);                                                                      \
    } while (0);
#define KN_RESOLVE_FORWARDED(name, parameters, arguments) KN_RESOLVE(name)
    KN_FORWARDED(KN_RESOLVE_FORWARDED)
    KN_RESOLVE(kn_training_set_create_f32)
    KN_RESOLVE(kn_training_set_create_f64)
    KN_RESOLVE(kn_version)
    KN_RESOLVE(kn_version_string)
    KN_RESOLVE(kn_last_error)
    KN_RESOLVE(kn_status_name)
    KN_RESOLVE(kn_variant)
    if (impl.kn_version() != KN_VERSION) {
        snprintf(message, sizeof message, "%s is version %s but libkernels.so is %d.%d.%d; reinstall both together.",
                 path, impl.kn_version_string(), KN_VERSION_MAJOR, KN_VERSION_MINOR, KN_VERSION_PATCH);
        fail(KN_ERROR_LOAD_FAILED, message);
    }
}

/* KN_SUCCESS when calls may go to the variant; else why not. The fork check comes first: in a forked child the
 * variant must not be entered at all (not even to set its last error). */
static kn_status check(void)
{
    if (forked()) return KN_ERROR_FORKED;
    pthread_once(&once, load);
    return load_status;
}

static int ready(void) { return check() == KN_SUCCESS; }

#define KN_FORWARD(name, parameters, arguments)                                                                          \
    KN_API kn_status name parameters                                                                                     \
    {                                                                                                                    \
        kn_status status = check();                                                                                      \
        return status == KN_SUCCESS ? impl.name arguments : status;                                                      \
    }
KN_FORWARDED(KN_FORWARD)

KN_API kn_status kn_training_set_create_f32(const float* data, int64_t n, int64_t d, kn_backend backend, int32_t threads,
                                            kn_training_set** set)
{
    kn_status status = check();
    if (status == KN_SUCCESS) return impl.kn_training_set_create_f32(data, n, d, backend, threads, set);
    if (set != NULL) *set = NULL;
    return status;
}

KN_API kn_status kn_training_set_create_f64(const double* data, int64_t n, int64_t d, kn_backend backend, int32_t threads,
                                            kn_training_set** set)
{
    kn_status status = check();
    if (status == KN_SUCCESS) return impl.kn_training_set_create_f64(data, n, d, backend, threads, set);
    if (set != NULL) *set = NULL;
    return status;
}

/* Answered here without loading a variant: the dispatcher and its variants are always the same version. */
KN_API uint32_t kn_version(void) { return KN_VERSION; }

KN_API const char* kn_version_string(void) { return ready() ? impl.kn_version_string() : KN_VERSION_STRING; }

/* In a forked child every call failed with KN_ERROR_FORKED, so the fork is always the reason. */
KN_API const char* kn_last_error(void)
{
    kn_status status = check();
    return status == KN_SUCCESS ? impl.kn_last_error() : status == KN_ERROR_FORKED ? forked_error : load_error;
}

KN_API const char* kn_status_name(kn_status status)
{
    if (ready()) return impl.kn_status_name(status);
    switch (status) { /* every kn_status, so a forked child or a refused load still names what it gets */
#define KN_NAME(status)                                                                                                  \
    case status: return #status;
    KN_NAME(KN_SUCCESS)
    KN_NAME(KN_ERROR_DEVICE_NOT_FOUND)
    KN_NAME(KN_ERROR_OUT_OF_RESOURCES)
    KN_NAME(KN_ERROR_OUT_OF_HOST_MEMORY)
    KN_NAME(KN_ERROR_BUILD_PROGRAM_FAILURE)
    KN_NAME(KN_ERROR_INVALID_VALUE)
    KN_NAME(KN_ERROR_PLATFORM_NOT_FOUND)
    KN_NAME(KN_ERROR_INVALID_HANDLE)
    KN_NAME(KN_ERROR_NULL_POINTER)
    KN_NAME(KN_ERROR_INVALID_SIZE)
    KN_NAME(KN_ERROR_NOT_FINITE)
    KN_NAME(KN_ERROR_PRECISION_MISMATCH)
    KN_NAME(KN_ERROR_BACKEND_UNAVAILABLE)
    KN_NAME(KN_ERROR_UNSUPPORTED_CPU)
    KN_NAME(KN_ERROR_LOAD_FAILED)
    KN_NAME(KN_ERROR_DEVICE_FAILURE)
    KN_NAME(KN_ERROR_FORKED)
    KN_NAME(KN_ERROR_INTERNAL)
#undef KN_NAME
    default: return "KN_UNKNOWN_STATUS";
    }
}

/* The variant's own answer (its compiled instruction sets), so a wrong file under the right name shows; in a forked
 * child the name chosen at load (the variant is loaded, only not callable). */
KN_API const char* kn_variant(void) { return forked() ? variant : ready() ? impl.kn_variant() : ""; }
