/*
 * kernels.h: the C ABI of Kernels (libkernels.so: a dispatcher over NativeAOT builds of src/Native).
 *
 * The empirical score of a noised training set Y (N points in R^D) at a noise level (alpha, sigma):
 *   p(x) = (1/N) sum_i N(x; alpha y_i, sigma^2 I),  log-density l(x) = log p(x),  score s(x) = grad l(x),
 *   denoiser m(x) = E[X0 | Xt = x] (Tweedie),  divergence div s(x) = tr grad^2 l(x),
 * plus density smoothing (KDE, closed form) and log-domain smoothing (Monte Carlo) with a Gaussian kernel N(0, h^2 I).
 * The mathematics is in DESIGN.md; the managed API (Kernels.Numerics) computes exactly the same numbers.
 *
 * Conventions (every function):
 *   - Returns a kn_status: KN_SUCCESS (0) or a negative code; on failure kn_last_error() gives the reason. Arguments
 *     are all validated before anything is written, so a rejected call leaves every output untouched; after a failure
 *     inside the computation (out of memory, a device error) the outputs' contents are unspecified. Nothing else the
 *     caller owns is ever written.
 *   - Matrices are row-major and dense: training data N x D, queries M x D, score and denoiser outputs M x D;
 *     log-density and divergence outputs have length M. Sizes are int64_t; N, M >= 1, D >= 1, N*D and M*D below 2^31 - 64.
 *   - Output buffers are caller-owned and must not overlap the queries. Any output pointer may be NULL (not wanted),
 *     but at least one must be given.
 *   - _f32 functions take float buffers and need a set created with kn_training_set_create_f32; _f64 the same with
 *     double. Mixing gives KN_ERROR_PRECISION_MISMATCH. Noise levels and kernel widths are always double.
 *   - Thread safety: a kn_training_set is immutable; any number of threads may evaluate with the same set at once.
 *     Freeing a set while another thread is still evaluating with it is safe (that evaluation completes, and the set's
 *     backend, an OpenCL context say, is released when it returns); every later use of the freed handle returns
 *     KN_ERROR_INVALID_HANDLE. kn_last_error() is per thread.
 *   - Handles are validated on every call: NULL, freed or garbage handles give KN_ERROR_INVALID_HANDLE, never a crash.
 *   - Platform: linux-x64. libkernels.so is a small dispatcher: at the first call it loads, from its own folder,
 *     libkernels-x86-64-v4.so (AVX-512) or libkernels-x86-64-v3.so (AVX2 + FMA), whichever this CPU runs, and
 *     forwards every call; keep the three files together. On a CPU with neither, every call returns
 *     KN_ERROR_UNSUPPORTED_CPU (a variant's own NativeAOT runtime would abort the process instead: see
 *     native/README.md). KERNELS_ISA=x86-64-v3|x86-64-v4 in the environment forces a variant.
 *   - Fork: the library runs a .NET runtime (thread pool, GC, finalizer), which does not survive fork(): a child keeps
 *     only the forking thread, and an evaluation there would wait forever for threads that no longer exist. So in a
 *     process forked after the parent's first kn_ call, every function returning kn_status returns KN_ERROR_FORKED at
 *     once, without running any library code, and kn_last_error() says why (handles inherited from the parent are
 *     unusable there, and need no kn_training_set_free: they go with the child). A child forked before the parent's
 *     first kn_ call, or a fork followed by exec, uses the library normally. Python: multiprocessing forks by default on
 *     Linux; use multiprocessing.set_start_method('spawn') (or 'forkserver'), or make no kn_ call before the pool starts.
 *     (The dispatcher makes this check; a variant linked directly makes it too, in its exports.)
 */
#ifndef KERNELS_H
#define KERNELS_H

#include <stdint.h>

#if defined(_WIN32)
#define KN_API __declspec(dllimport)
#elif defined(__GNUC__)
#define KN_API __attribute__((visibility("default")))
#else
#define KN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define KN_VERSION_MAJOR 0
#define KN_VERSION_MINOR 1
#define KN_VERSION_PATCH 0
/* KN_VERSION == kn_version() when the header matches the library. */
#define KN_MAKE_VERSION(major, minor, patch) ((major) * 10000u + (minor) * 100u + (patch))
#define KN_VERSION KN_MAKE_VERSION(KN_VERSION_MAJOR, KN_VERSION_MINOR, KN_VERSION_PATCH)
#define KN_VERSION_STRING "0.1.0"

/* Status codes: OpenCL's negative codes where they apply (device errors), then the library's own from -2000. */
typedef enum kn_status {
    KN_SUCCESS = 0,
    KN_ERROR_DEVICE_NOT_FOUND = -1,        /* CL_DEVICE_NOT_FOUND */
    KN_ERROR_OUT_OF_RESOURCES = -5,        /* CL_OUT_OF_RESOURCES; also too many live handles (2^24) */
    KN_ERROR_OUT_OF_HOST_MEMORY = -6,      /* CL_OUT_OF_HOST_MEMORY: an allocation failed */
    KN_ERROR_BUILD_PROGRAM_FAILURE = -11,  /* CL_BUILD_PROGRAM_FAILURE: the message holds the build log */
    KN_ERROR_INVALID_VALUE = -30,          /* CL_INVALID_VALUE: alpha, sigma, h <= 0; draws < 1; bad flags, backend or threads; overlap;
                                              values so large that the arithmetic overflows (h = 1e300: the message
                                              names the arguments and what to change) */
    KN_ERROR_PLATFORM_NOT_FOUND = -1001,   /* CL_PLATFORM_NOT_FOUND_KHR: no OpenCL ICD installed */
    KN_ERROR_INVALID_HANDLE = -2000,       /* NULL, freed or never-issued kn_training_set */
    KN_ERROR_NULL_POINTER = -2001,         /* a required pointer is NULL (or every output pointer is NULL) */
    KN_ERROR_INVALID_SIZE = -2002,         /* N, M < 1, D < 1, d unlike the set's D, or a size overflowing */
    KN_ERROR_NOT_FINITE = -2003,           /* NaN or infinity in data, queries, alpha, sigma or h */
    KN_ERROR_PRECISION_MISMATCH = -2004,   /* an _f32 call on a float64 set or the reverse */
    KN_ERROR_BACKEND_UNAVAILABLE = -2005,  /* no OpenCL runtime (the message says what to install), no device matching
                                              KERNELS_OPENCL_DEVICE, or a float64 set on a device without fp64 */
    KN_ERROR_UNSUPPORTED_CPU = -2006,      /* no variant of the library runs on this CPU (needs AVX2 + FMA) */
    KN_ERROR_LOAD_FAILED = -2007,          /* the dispatcher could not load its variant (missing file, wrong version) */
    KN_ERROR_DEVICE_FAILURE = -2008,       /* an OpenCL call failed with a CL status not named above; the message names
                                              the call and the status, e.g. "returned -4 (CL_MEM_OBJECT_ALLOCATION_FAILURE)" */
    KN_ERROR_FORKED = -2009,               /* this process was forked after libkernels started (see "Fork" above):
                                              nothing runs in the child; make the first kn_ call after the fork */
    KN_ERROR_INTERNAL = -2999              /* a bug: the message names the internal exception; please report it */
} kn_status;

/* Where a set evaluates. Both give the same outputs within float rounding (the OpenCL kernel keeps each query's
 * log-sum-exp state in double when the device has fp64, and the host finishes it with the CPU backend's code).
 *   KN_BACKEND_CPU     SIMD CPU backend, multi-threaded (threads: see kn_training_set_create_*).
 *   KN_BACKEND_OPENCL  OpenCL on the device named by the environment variable KERNELS_OPENCL_DEVICE, read at create:
 *                      "cpu", "gpu", "accelerator", a device index or part of a device's name; unset or empty = the
 *                      first GPU, else the first device (`clinfo -l` lists them). The set owns an OpenCL context with
 *                      the training data resident on the device, released by kn_training_set_free. Calls on one set
 *                      are serialised on its device queue; threads is recorded but unused. Errors: no OpenCL runtime or
 *                      no matching device gives KN_ERROR_BACKEND_UNAVAILABLE (the message says what to install or lists
 *                      the devices); an OpenCL call failing gives its CL status where kn_status has it, else
 *                      KN_ERROR_DEVICE_FAILURE. */
typedef enum kn_backend {
    KN_BACKEND_CPU = 0,
    KN_BACKEND_OPENCL = 1
} kn_backend;

typedef enum kn_precision {
    KN_PRECISION_F32 = 0,
    KN_PRECISION_F64 = 1
} kn_precision;

/* Flags of kn_smoothed_*: combine with |. */
#define KN_DRAWS_ANTITHETIC 1u /* K/2 pairs (z, -z); K must be even; exact for scores linear in x */
#define KN_DRAWS_FIXED 2u      /* every query uses the same K draws (common random numbers: smooth in x, for ODE solvers) */

/* An opaque training set bound to a backend. Not a pointer to memory: never dereference it. */
typedef struct kn_training_set kn_training_set;

/* ---- library ---------------------------------------------------------------------------------------------- */

/* KN_MAKE_VERSION(major, minor, patch) of the loaded library. Thread-safe. */
KN_API uint32_t kn_version(void);

/* "major.minor.patch" (KN_VERSION_STRING); a static string, never freed. Thread-safe. */
KN_API const char* kn_version_string(void);

/* The reason for the last failing call on this thread (UTF-8, NUL-terminated); "" after a successful call.
 * Owned by the library; valid until the next kn_ call on the same thread. */
KN_API const char* kn_last_error(void);

/* The enumerator's name ("KN_ERROR_INVALID_HANDLE"), or "KN_UNKNOWN_STATUS"; a static string. Thread-safe. */
KN_API const char* kn_status_name(kn_status status);

/* The variant serving the calls: "x86-64-v4" or "x86-64-v3" (the instruction sets it was compiled for), or "" when
 * none could be loaded. Thread-safe. */
KN_API const char* kn_variant(void);

/* 1 when this CPU runs the x86-64-v3 variant (AVX, AVX2, FMA, BMI1, BMI2; every such CPU also has the MOVBE, LZCNT and
 * F16C that v3 adds), else 0. Header-only: it runs in the caller, before any library code. The dispatcher makes this
 * check itself; call it only when linking a variant (libkernels-x86-64-v3.so) directly, where the first call on a CPU
 * without these sets would abort the process. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
static inline int kn_cpu_supported(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
}
#endif

/* ---- training sets ---------------------------------------------------------------------------------------- */

/* Creates a training set from data (N x D row-major, n = N >= 1, d = D >= 1, every value finite). The data are
 * copied and validated once: the caller may free or reuse `data` on return. backend: KN_BACKEND_CPU or
 * KN_BACKEND_OPENCL (see kn_backend: the device is chosen, the context created and the data uploaded here, so this is
 * where a missing OpenCL runtime is reported, as KN_ERROR_BACKEND_UNAVAILABLE); threads: 0 for all cores, else the
 * most threads one call uses (results do not depend on it, bit for bit; the OpenCL backend ignores it).
 * On success *set receives the handle (free it with kn_training_set_free); on failure *set is NULL. */
KN_API kn_status kn_training_set_create_f32(const float* data, int64_t n, int64_t d, kn_backend backend,
                                            int32_t threads, kn_training_set** set);
KN_API kn_status kn_training_set_create_f64(const double* data, int64_t n, int64_t d, kn_backend backend,
                                            int32_t threads, kn_training_set** set);

/* Frees a training set and its backend (an OpenCL set's context and device buffers; if another thread is still
 * evaluating with it, when that call returns). NULL is a no-op (KN_SUCCESS); a second free gives KN_ERROR_INVALID_HANDLE. */
KN_API kn_status kn_training_set_free(kn_training_set* set);

/* N, D, precision, backend and thread setting of a set; any output pointer may be NULL. */
KN_API kn_status kn_training_set_info(const kn_training_set* set, int64_t* n, int64_t* d, kn_precision* precision,
                                      kn_backend* backend, int32_t* threads);

/* ---- the empirical score ---------------------------------------------------------------------------------- */

/* Log-density (M), score (M x D), denoiser (M x D) and divergence (M) of the M x D queries at one noise level
 * (alpha > 0, sigma > 0), in one fused pass over the training set. d must equal the set's D (a shape check).
 * Outputs may be NULL (not wanted). */
KN_API kn_status kn_evaluate_f32(const kn_training_set* set, const float* queries, int64_t m, int64_t d,
                                 double alpha, double sigma,
                                 float* log_density, float* score, float* denoiser, float* divergence);
KN_API kn_status kn_evaluate_f64(const kn_training_set* set, const double* queries, int64_t m, int64_t d,
                                 double alpha, double sigma,
                                 double* log_density, double* score, double* denoiser, double* divergence);

/* As kn_evaluate_*, with a level per query: alpha[q], sigma[q] (arrays of length M) for query q. Queries sharing
 * a level are evaluated together; results equal those of single-level calls exactly. */
KN_API kn_status kn_evaluate_levels_f32(const kn_training_set* set, const float* queries, int64_t m, int64_t d,
                                        const double* alpha, const double* sigma,
                                        float* log_density, float* score, float* denoiser, float* divergence);
KN_API kn_status kn_evaluate_levels_f64(const kn_training_set* set, const double* queries, int64_t m, int64_t d,
                                        const double* alpha, const double* sigma,
                                        double* log_density, double* score, double* denoiser, double* divergence);

/* ---- density smoothing (KDE, closed form) ----------------------------------------------------------------- */

/* The score of p * N(0, h^2 I) (h > 0): the same mixture with sigma^2 -> sigma^2 + h^2, exact. The denoiser is
 * Tweedie's E[X0 | x] under the smoothed mixture. Shapes and ownership as kn_evaluate_*; the _levels forms take
 * alpha[q], sigma[q] per query as kn_evaluate_levels_* does. */
KN_API kn_status kn_kde_f32(const kn_training_set* set, double h, const float* queries, int64_t m, int64_t d,
                            double alpha, double sigma,
                            float* log_density, float* score, float* denoiser, float* divergence);
KN_API kn_status kn_kde_f64(const kn_training_set* set, double h, const double* queries, int64_t m, int64_t d,
                            double alpha, double sigma,
                            double* log_density, double* score, double* denoiser, double* divergence);
KN_API kn_status kn_kde_levels_f32(const kn_training_set* set, double h, const float* queries, int64_t m, int64_t d,
                                   const double* alpha, const double* sigma,
                                   float* log_density, float* score, float* denoiser, float* divergence);
KN_API kn_status kn_kde_levels_f64(const kn_training_set* set, double h, const double* queries, int64_t m, int64_t d,
                                   const double* alpha, const double* sigma,
                                   double* log_density, double* score, double* denoiser, double* divergence);

/* ---- log-domain smoothing (Monte Carlo) ------------------------------------------------------------------- */

/* E_z[l(x + z)], E_z[s(x + z)], (x + sigma^2 E_z[s(x + z)])/alpha and E_z[div s(x + z)] for z ~ N(0, h^2 I), estimated
 * from `draws` = K >= 1 draws per query (Philox-4x32-10 keyed by (seed, query index, draw index): reproducible on any
 * thread count). flags: KN_DRAWS_ANTITHETIC (K even), KN_DRAWS_FIXED, or 0. score_error (M x D, may be NULL) receives
 * the Monte Carlo standard error of each score component (needs >= 2 independent draws or pairs).
 * One level per call: the draws are keyed by the query's index in this call. */
KN_API kn_status kn_smoothed_f32(const kn_training_set* set, double h, int32_t draws, uint64_t seed, uint32_t flags,
                                 const float* queries, int64_t m, int64_t d, double alpha, double sigma,
                                 float* log_density, float* score, float* denoiser, float* divergence,
                                 float* score_error);
KN_API kn_status kn_smoothed_f64(const kn_training_set* set, double h, int32_t draws, uint64_t seed, uint32_t flags,
                                 const double* queries, int64_t m, int64_t d, double alpha, double sigma,
                                 double* log_density, double* score, double* denoiser, double* divergence,
                                 double* score_error);

/* The M*K perturbed queries kn_smoothed_* evaluates, into rows (M*K x D): row q*K + k is x_q + z, z ~ N(0, h^2 I) draw k
 * of query q (the same Philox layout), summed in double and rounded once to the precision. For log-domain smoothing over
 * a training set sharded elsewhere: evaluate these rows on every shard (kn_partial_accumulate_*), merge the states
 * (kn_partial_merge), finish each row (kn_partial_finish_*) and average each query's K rows, each antithetic pair first
 * (and (x + sigma^2 * mean score)/alpha for the denoiser): kn_smoothed_*'s result up to the order of the sums. No set is
 * needed: the rows depend on the queries and the draws only. */
KN_API kn_status kn_smoothing_rows_f32(double h, int32_t draws, uint64_t seed, uint32_t flags,
                                       const float* queries, int64_t m, int64_t d, float* rows);
KN_API kn_status kn_smoothing_rows_f64(double h, int32_t draws, uint64_t seed, uint32_t flags,
                                       const double* queries, int64_t m, int64_t d, double* rows);

/* ---- noise schedules ----------------------------------------------------------------------------------------- */

/* (alpha(t), sigma(t)) of a named schedule, as the managed NoiseSchedule computes them: "ou" (Ornstein-Uhlenbeck, rate 1),
 * "vp" (variance preserving, beta from 0.1 to 20), "ve" (variance exploding, sigma^2 = t), "edm" (sigma = t); names are
 * case-insensitive. t finite and > 0. */
KN_API kn_status kn_schedule_level(const char* name, double t, double* alpha, double* sigma);

/* ---- partial states: evaluate shards anywhere, merge exactly -------------------------------------------------- */

/* The streamed log-sum-exp state of one query against part of a training set (DESIGN.md; ScorePartials in the managed
 * API), as a caller-owned record, so each shard of a training set can be evaluated in its own process or machine and the
 * records merged in any order (the merge is commutative and associative up to rounding) before finishing. A batch is m
 * records laid end to end, KN_PARTIAL_BYTES(d) bytes each, 8-byte aligned, in the host's byte order (little-endian on
 * linux-x64). Layout version KN_PARTIAL_LAYOUT_VERSION (1), record of query q:
 *   uint32 magic 0x53504E4B ("KNPS" in memory), uint32 layout version, int64 count (training points merged in),
 *   double alpha, sigma (the record's noise level), max (reference logit u*, -inf for none), sum (S, every point's
 *   weight), mass (the kept points' weight), spread (their centred second moment), double displacement[d] (V),
 *   double points[d] (P)
 * (the fields of the managed serialised state, format version 2, per query). A record is self-contained: it merges and
 * finishes without any other metadata, so an MPI reduction may treat one record as one element (never split a record:
 * declare it as KN_PARTIAL_BYTES(d) contiguous bytes). Different records of a batch may hold different levels. */
#define KN_PARTIAL_LAYOUT_VERSION 1u
#define KN_PARTIAL_MAGIC 0x53504E4Bu
#define KN_PARTIAL_BYTES(d) ((int64_t)(8 + 2 * (int64_t)(d)) * 8)

typedef struct kn_partial_header {
    uint32_t magic;   /* KN_PARTIAL_MAGIC */
    uint32_t version; /* KN_PARTIAL_LAYOUT_VERSION */
    int64_t count;    /* training points merged into this state */
    double alpha, sigma;
    double max, sum, mass, spread;
    /* followed by double displacement[d], double points[d] */
} kn_partial_header;

/* Writes m identity records (no points yet) of dimension d at the level (alpha, sigma) into states (m *
 * KN_PARTIAL_BYTES(d) bytes). To give queries different levels, init each record (or range) separately. */
KN_API kn_status kn_partial_init(void* states, int64_t m, int64_t d, double alpha, double sigma);

/* Streams the set (one shard) against the M x D queries and merges its state into record q of states, at record q's
 * level; the set's precision picks _f32 or _f64. Every shard must see the same queries in the same order. */
KN_API kn_status kn_partial_accumulate_f32(const kn_training_set* set, const float* queries, int64_t m, int64_t d,
                                           void* states);
KN_API kn_status kn_partial_accumulate_f64(const kn_training_set* set, const double* queries, int64_t m, int64_t d,
                                           void* states);

/* into[q] <- into[q] (+) from[q] for q < m: record by record, each pair at one level (else KN_ERROR_INVALID_VALUE, nothing
 * written). from is read only; into == from is allowed, partial overlap is not. */
KN_API kn_status kn_partial_merge(void* into, const void* from, int64_t m, int64_t d);

/* The outputs of the merged records: log-density (m), score (m x d), denoiser (m x d), divergence (m), each at its
 * record's level over the count points merged in; outputs may be NULL (not wanted), at least one given. A record with
 * count = 0 gives KN_ERROR_INVALID_VALUE. The result equals kn_evaluate_* on the union of the shards up to the rounding
 * of the merge order. */
KN_API kn_status kn_partial_finish_f32(const void* states, int64_t m, int64_t d,
                                       float* log_density, float* score, float* denoiser, float* divergence);
KN_API kn_status kn_partial_finish_f64(const void* states, int64_t m, int64_t d,
                                       double* log_density, double* score, double* denoiser, double* divergence);

/* A batch on the wire (a .kst file of `kernels partial`, a message): a 32-byte little-endian header, then the m records.
 * Header: uint32 magic 0x54534E4B ("KNST" in memory), uint32 batch layout version KN_PARTIAL_BATCH_VERSION (1), int64 d,
 * int64 m, uint32 precision_bits (32: shards evaluated with _f32, 64: with _f64), uint32 output (0 from the C ABI; the
 * CLI writes 1 score, 2 log-density, 3 denoiser, 4 divergence). The managed PartialStateBatch and the CLI read and
 * write the same bytes. */
#define KN_PARTIAL_BATCH_MAGIC 0x54534E4Bu
#define KN_PARTIAL_BATCH_VERSION 1u
#define KN_PARTIAL_BATCH_HEADER_BYTES 32

/* Writes the header of a batch of m records of dimension d evaluated in precision_bits (32 or 64). */
KN_API kn_status kn_partial_batch_header(void* header, int64_t m, int64_t d, int32_t precision_bits);

/* KN_SUCCESS when header (KN_PARTIAL_BATCH_HEADER_BYTES bytes read from a batch) is of this layout version, d, m and
 * precision_bits; else KN_ERROR_INVALID_VALUE with kn_last_error naming the field that differs and both values. */
KN_API kn_status kn_partial_batch_check(const void* header, int64_t m, int64_t d, int32_t precision_bits);

#ifdef __cplusplus
}
#endif

#endif /* KERNELS_H */
