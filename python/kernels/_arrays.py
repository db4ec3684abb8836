"""Argument checks and conversions shared by the wrappers: each failure names the Python argument and the remedy."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple, Union

import numpy as np

from ._errors import raise_for
from ._library import library

Level = Union[Tuple[float, float], Tuple[np.ndarray, np.ndarray]]

FLOAT_TYPES = (np.dtype(np.float32), np.dtype(np.float64))


def precision(dtype: Any, argument: str) -> np.dtype:
    """float32 or float64, else TypeError naming ``argument``."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{argument} = {dtype!r} is not a NumPy dtype; use numpy.float32 or numpy.float64.") from None
    if resolved not in FLOAT_TYPES:
        raise TypeError(f"{argument} = {resolved}; kernels computes in numpy.float32 or numpy.float64 only.")
    return resolved


def matrix(values: Any, argument: str, dtype: np.dtype, columns: Optional[int] = None) -> np.ndarray:
    """``values`` as a C-contiguous (rows, columns) array of ``dtype``: converted once when it is not one already.
    Non-real dtypes raise TypeError, a wrong shape ValueError; NaN and infinities are left to the library, which names
    the row and column."""
    if type(values) is not np.ndarray:
        try:
            values = np.asarray(values)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{argument} could not be read as a numeric array ({error}); pass a 2-D NumPy array.") from None
    if values.dtype.kind not in "fiu":
        raise TypeError(f"{argument} has dtype {values.dtype}; pass real numbers (float32 or float64, or integers to convert).")
    if values.ndim != 2:
        hint = f"; for one point of dimension {values.shape[0]} use {argument}.reshape(1, -1)" if values.ndim == 1 else ""
        raise ValueError(f"{argument} has shape {values.shape}; pass a 2-D array, one point per row{hint}.")
    if values.shape[0] < 1 or values.shape[1] < 1:
        raise ValueError(f"{argument} has shape {values.shape}; it needs at least one row and one column.")
    if columns is not None and values.shape[1] != columns:
        raise ValueError(f"{argument} has {values.shape[1]} columns but the training set has dimension D = {columns}; "
                         f"pass an (M, {columns}) array.")
    if values.dtype != dtype or not values.flags.c_contiguous:
        values = np.ascontiguousarray(values, dtype=dtype)
    return values


def output(out: Any, argument: str, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A new array of ``shape`` and ``dtype``, or ``out`` after checking it is exactly that (written in place)."""
    if out is None:
        return np.empty(shape, dtype)
    if type(out) is not np.ndarray:
        raise TypeError(f"{argument} is a {type(out).__name__}; pass a numpy.ndarray of shape {shape} and dtype {dtype}, "
                        f"or None for a new array.")
    if out.dtype != dtype:
        raise TypeError(f"{argument} has dtype {out.dtype} but this call computes {dtype}; pass a {dtype} array "
                        f"(results are written in place, never converted).")
    if out.shape != shape:
        raise ValueError(f"{argument} has shape {out.shape}; it must be {shape}.")
    if not out.flags.c_contiguous:
        raise ValueError(f"{argument} is not C-contiguous (a view with strides {out.strides}); pass a C-contiguous array, "
                         f"e.g. numpy.empty({shape}, {dtype.name}).")
    if not out.flags.writeable:
        raise ValueError(f"{argument} is read-only; pass a writeable array.")
    return out


def real(value: Any, argument: str) -> float:
    """A real scalar as float (its range is checked by the library, which names it); TypeError otherwise."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
        return float(value)
    raise TypeError(f"{argument} = {value!r} is not a real number; pass a float.")


def integer(value: Any, argument: str, minimum: int, maximum: int) -> int:
    """An integer in [minimum, maximum]; TypeError or ValueError naming ``argument`` otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{argument} = {value!r} is not an integer.")
    if not minimum <= int(value) <= maximum:
        raise ValueError(f"{argument} = {value}; it must be between {minimum} and {maximum}.")
    return int(value)


def schedule_level(schedule: str, t: float) -> Tuple[float, float]:
    """(alpha(t), sigma(t)) of a named schedule, computed by the library (the managed NoiseSchedule)."""
    if not isinstance(schedule, str):
        raise TypeError(f"schedule = {schedule!r}; pass a name: 'ou', 'vp', 've' or 'edm'.")
    alpha, sigma = np.empty(1), np.empty(1)
    status = library().kn_schedule_level(schedule.encode(), real(t, "t"), alpha.ctypes.data, sigma.ctypes.data)
    if status != 0:
        raise_for(status, "kn_schedule_level", {"name": "schedule"})
    return float(alpha[0]), float(sigma[0])


def levels(rows: int, alpha: Any, sigma: Any, schedule: Optional[str], t: Any) -> Level:
    """The noise level of a call: one (alpha, sigma) pair of floats, or per-query float64 arrays of length ``rows``.
    Either alpha and sigma, or schedule and t (a scalar or one t per query) are given, never both."""
    if schedule is not None or t is not None:
        if alpha is not None or sigma is not None:
            raise ValueError("pass either alpha and sigma, or schedule and t, not both.")
        if schedule is None or t is None:
            raise ValueError(f"schedule = {schedule!r}, t = {t!r}: a schedule needs both its name and the time t.")
        if np.ndim(t) == 0:
            return schedule_level(schedule, t)
        times = vector(t, "t", rows)
        pairs = {value: schedule_level(schedule, value) for value in np.unique(times).tolist()}
        return (np.array([pairs[value][0] for value in times.tolist()]),
                np.array([pairs[value][1] for value in times.tolist()]))
    if alpha is None or sigma is None:
        raise ValueError(f"alpha = {alpha!r}, sigma = {sigma!r}: give the noise level as alpha and sigma "
                         f"(or as schedule='ve', t=0.04).")
    if np.ndim(alpha) == 0 and np.ndim(sigma) == 0:
        return real(alpha, "alpha"), real(sigma, "sigma")
    return (np.broadcast_to(vector(alpha, "alpha", rows) if np.ndim(alpha) else real(alpha, "alpha"), (rows,)).copy(),
            np.broadcast_to(vector(sigma, "sigma", rows) if np.ndim(sigma) else real(sigma, "sigma"), (rows,)).copy())


def vector(values: Any, argument: str, rows: int) -> np.ndarray:
    """One float64 value per query: shape (rows,)."""
    array = np.asarray(values)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{argument} has dtype {array.dtype}; pass real numbers.")
    if array.shape != (rows,):
        raise ValueError(f"{argument} has shape {array.shape}; pass a scalar or one value per query, shape ({rows},).")
    return np.ascontiguousarray(array, dtype=np.float64)
