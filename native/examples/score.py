#!/usr/bin/env python3
"""The empirical score of a small training set through the C ABI, from Python with ctypes (standard library only).

    dotnet cake --target=Native                        # builds artifacts/native/libkernels.so
    python3 native/examples/score.py [path/to/libkernels.so]

Same data as score.c, in float64: prints the training points, then per query x, log-density, score, denoiser and
divergence at (alpha, sigma) = (1, 0.2), with repr() digits (exact). Lines starting with '#' are comments.
"""
import ctypes
import math
import os
import sys
from array import array

N, M, D = 12, 6, 2
ALPHA, SIGMA = 1.0, 0.2

here = os.path.dirname(os.path.abspath(__file__))
path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "KERNELS_LIBRARY", os.path.join(here, "..", "..", "artifacts", "native", "libkernels.so"))
kn = ctypes.CDLL(path)

dp = ctypes.POINTER(ctypes.c_double)
kn.kn_version_string.restype = ctypes.c_char_p
kn.kn_last_error.restype = ctypes.c_char_p
kn.kn_status_name.restype = ctypes.c_char_p
kn.kn_status_name.argtypes = [ctypes.c_int]
kn.kn_training_set_create_f64.argtypes = [dp, ctypes.c_int64, ctypes.c_int64, ctypes.c_int, ctypes.c_int32,
                                          ctypes.POINTER(ctypes.c_void_p)]
kn.kn_training_set_free.argtypes = [ctypes.c_void_p]
kn.kn_evaluate_f64.argtypes = [ctypes.c_void_p, dp, ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_double,
                               dp, dp, dp, dp]


def buffer(values):
    """A float64 array and a pointer to its data (the array must outlive the pointer's use)."""
    a = array("d", values)
    return a, ctypes.cast(a.buffer_info()[0], dp)


def check(status, what):
    if status != 0:
        raise RuntimeError(f"{what}: {kn.kn_status_name(status).decode()}: {kn.kn_last_error().decode()}")


train, train_p = buffer(v for i in range(N) for v in (math.cos(2 * math.pi * i / N), math.sin(2 * math.pi * i / N)))
queries, queries_p = buffer(v for q in range(M) for v in ((0.3 + 0.2 * q) * math.cos(0.9 * q), (0.3 + 0.2 * q) * math.sin(0.9 * q)))
log_density, log_density_p = buffer([0.0] * M)
score, score_p = buffer([0.0] * (M * D))
denoiser, denoiser_p = buffer([0.0] * (M * D))
divergence, divergence_p = buffer([0.0] * M)

print(f"# kernels {kn.kn_version_string().decode()}: N = {N} points on the unit circle, D = {D}, alpha = {ALPHA}, sigma = {SIGMA}")
handle = ctypes.c_void_p()
check(kn.kn_training_set_create_f64(train_p, N, D, 0, 0, ctypes.byref(handle)), "kn_training_set_create_f64")
try:
    check(kn.kn_evaluate_f64(handle, queries_p, M, D, ALPHA, SIGMA, log_density_p, score_p, denoiser_p, divergence_p),
          "kn_evaluate_f64")
    for i in range(N):
        print(f"train {i} {train[i * D]!r} {train[i * D + 1]!r}")
    print("# query q: x0 x1 log_density score0 score1 denoiser0 denoiser1 divergence")
    for q in range(M):
        row = [queries[q * D], queries[q * D + 1], log_density[q], score[q * D], score[q * D + 1],
               denoiser[q * D], denoiser[q * D + 1], divergence[q]]
        print(f"query {q} " + " ".join(repr(v) for v in row))
    # Errors come back as a status and a reason, never as a crash: here, NaN in the queries.
    queries[3] = math.nan
    status = kn.kn_evaluate_f64(handle, queries_p, M, D, ALPHA, SIGMA, log_density_p, None, None, None)
    print(f"# expected failure: {kn.kn_status_name(status).decode()}: {kn.kn_last_error().decode()}")
finally:
    check(kn.kn_training_set_free(handle), "kn_training_set_free")
