"""Loading libkernels.so (bundled in this package) and declaring the C functions (native/include/kernels.h)."""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Optional

_HERE = os.path.dirname(os.path.abspath(__file__))

#: The environment variable naming another libkernels.so to load (the dispatcher; its variants must lie beside it).
LIBRARY_VARIABLE = "KERNELS_LIBRARY"

_c_int64 = ctypes.c_int64
_c_double = ctypes.c_double
_c_void_p = ctypes.c_void_p
_status = ctypes.c_int

# name: argument types. Every pointer is passed as an integer address (c_void_p): the wrappers pass NumPy buffers'
# addresses, which is the cheapest conversion ctypes has.
_EVALUATE = [_c_void_p, _c_void_p, _c_int64, _c_int64, _c_double, _c_double, _c_void_p, _c_void_p, _c_void_p, _c_void_p]
_EVALUATE_LEVELS = [_c_void_p, _c_void_p, _c_int64, _c_int64, _c_void_p, _c_void_p,
                    _c_void_p, _c_void_p, _c_void_p, _c_void_p]
_KDE = [_c_void_p, _c_double] + _EVALUATE[1:]
_KDE_LEVELS = [_c_void_p, _c_double] + _EVALUATE_LEVELS[1:]
_SMOOTHED = [_c_void_p, _c_double, ctypes.c_int32, ctypes.c_uint64, ctypes.c_uint32, _c_void_p, _c_int64, _c_int64,
             _c_double, _c_double, _c_void_p, _c_void_p, _c_void_p, _c_void_p, _c_void_p]
_SIGNATURES = {
    "kn_training_set_create_f32": [_c_void_p, _c_int64, _c_int64, ctypes.c_int, ctypes.c_int32, _c_void_p],
    "kn_training_set_create_f64": [_c_void_p, _c_int64, _c_int64, ctypes.c_int, ctypes.c_int32, _c_void_p],
    "kn_training_set_free": [_c_void_p],
    "kn_training_set_info": [_c_void_p, _c_void_p, _c_void_p, _c_void_p, _c_void_p, _c_void_p],
    "kn_evaluate_f32": _EVALUATE,
    "kn_evaluate_f64": _EVALUATE,
    "kn_evaluate_levels_f32": _EVALUATE_LEVELS,
    "kn_evaluate_levels_f64": _EVALUATE_LEVELS,
    "kn_kde_f32": _KDE,
    "kn_kde_f64": _KDE,
    "kn_kde_levels_f32": _KDE_LEVELS,
    "kn_kde_levels_f64": _KDE_LEVELS,
    "kn_smoothed_f32": _SMOOTHED,
    "kn_smoothed_f64": _SMOOTHED,
    "kn_smoothing_rows_f32": [_c_double, ctypes.c_int32, ctypes.c_uint64, ctypes.c_uint32, _c_void_p, _c_int64, _c_int64, _c_void_p],
    "kn_smoothing_rows_f64": [_c_double, ctypes.c_int32, ctypes.c_uint64, ctypes.c_uint32, _c_void_p, _c_int64, _c_int64, _c_void_p],
    "kn_schedule_level": [ctypes.c_char_p, _c_double, _c_void_p, _c_void_p],
    "kn_partial_init": [_c_void_p, _c_int64, _c_int64, _c_double, _c_double],
    "kn_partial_accumulate_f32": [_c_void_p, _c_void_p, _c_int64, _c_int64, _c_void_p],
    "kn_partial_accumulate_f64": [_c_void_p, _c_void_p, _c_int64, _c_int64, _c_void_p],
    "kn_partial_merge": [_c_void_p, _c_void_p, _c_int64, _c_int64],
    "kn_partial_finish_f32": [_c_void_p, _c_int64, _c_int64, _c_void_p, _c_void_p, _c_void_p, _c_void_p],
    "kn_partial_finish_f64": [_c_void_p, _c_int64, _c_int64, _c_void_p, _c_void_p, _c_void_p, _c_void_p],
}

_lock = threading.Lock()
_library: Optional[ctypes.CDLL] = None


def library_path() -> str:
    """The libkernels.so this package loads: $KERNELS_LIBRARY when set, else the copy bundled in the package."""
    return os.environ.get(LIBRARY_VARIABLE) or os.path.join(_HERE, "_native", "libkernels.so")


def library() -> ctypes.CDLL:
    """The loaded library with every function declared (loaded once, at the first call)."""
    global _library
    if _library is not None:
        return _library
    with _lock:
        if _library is None:
            path = library_path()
            if not os.path.exists(path):
                raise ImportError(
                    f"libkernels.so not found at {path}: install the kernels wheel (it bundles the library), or set "
                    f"{LIBRARY_VARIABLE} to a libkernels.so built by `dotnet cake --target=Native`.")
            # CDLL (not PyDLL): ctypes releases the GIL for the length of every call, so threads evaluate in parallel.
            lib = ctypes.CDLL(path)
            for name, argtypes in _SIGNATURES.items():
                function = getattr(lib, name)
                function.argtypes = argtypes
                function.restype = _status
            for name in ("kn_version_string", "kn_last_error", "kn_variant"):
                getattr(lib, name).argtypes = []
                getattr(lib, name).restype = ctypes.c_char_p
            lib.kn_status_name.argtypes = [_status]
            lib.kn_status_name.restype = ctypes.c_char_p
            lib.kn_version.argtypes = []
            lib.kn_version.restype = ctypes.c_uint32
            _library = lib
    return _library
