"""Partial log-sum-exp states as NumPy structured arrays: evaluate shards of a training set anywhere, merge exactly."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from . import _arrays
from ._errors import raise_for
from ._library import library
from ._training_set import OUTPUTS, Outputs

#: KN_PARTIAL_LAYOUT_VERSION: the record layout below (kernels.h, "partial states").
LAYOUT_VERSION = 1
#: KN_PARTIAL_MAGIC: the first four bytes of every record, "KNPS".
MAGIC = 0x53504E4B


def partial_dtype(d: int) -> np.dtype:
    """The structured dtype of one query's state for dimension ``d`` (kernels.h's record, (8 + 2d) * 8 bytes):
    magic, version, count (training points merged in), alpha, sigma, max, sum, mass, spread, displacement (d,),
    points (d,)."""
    d = _arrays.integer(d, "d", 1, 2**31 - 1)
    return np.dtype([("magic", "<u4"), ("version", "<u4"), ("count", "<i8"), ("alpha", "<f8"), ("sigma", "<f8"),
                     ("max", "<f8"), ("sum", "<f8"), ("mass", "<f8"), ("spread", "<f8"),
                     ("displacement", "<f8", (d,)), ("points", "<f8", (d,))])


def partial_states(m: int, d: int, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                   t: Any = None) -> np.ndarray:
    """M identity states (no training points yet) of dimension D at a noise level: a structured array of shape (M,)
    and dtype :func:`partial_dtype`. The level is alpha and sigma, or schedule and t, each a scalar or one per query."""
    m = _arrays.integer(m, "m", 1, 2**31 - 1)
    dtype = partial_dtype(d)
    level = _arrays.levels(m, alpha, sigma, schedule, t)
    states = np.empty(m, dtype)
    lib = library()
    if isinstance(level[0], np.ndarray):
        for q in range(m):
            status = lib.kn_partial_init(states[q:].ctypes.data, 1, d, float(level[0][q]), float(level[1][q]))
            if status != 0:
                raise_for(status, "kn_partial_init", {f"alpha = ": f"alpha[{q}] = "})
    else:
        status = lib.kn_partial_init(states.ctypes.data, m, d, level[0], level[1])
        if status != 0:
            raise_for(status, "kn_partial_init")
    return states


def merge(into: np.ndarray, other: np.ndarray) -> np.ndarray:
    """into[q] <- into[q] (+) other[q] for every query, in place; returns ``into``. The merge is exact up to rounding,
    commutative and associative: shards' states merged in any order finish to the same outputs. Both arrays hold the
    same queries at the same levels (each record carries its level and is checked)."""
    d = _dimension(into, "into")
    checked_states(into, "into", None, d, writeable=True)
    checked_states(other, "other", into.shape[0], d, writeable=False)
    status = library().kn_partial_merge(into.ctypes.data, other.ctypes.data, into.shape[0], d)
    if status != 0:
        raise_for(status, "kn_partial_merge", {"from": "other"})
    return into


def finish(states: np.ndarray, outputs: Sequence[str] = ("score",), dtype: Any = np.float64,
           out: Optional[Dict[str, np.ndarray]] = None) -> Outputs:
    """The outputs of merged states, as :meth:`TrainingSet.evaluate` over the union of the shards would give them (up
    to the rounding of the merge order): log_density (M,), score (M, D), denoiser (M, D), divergence (M,), each at its
    record's level. ``dtype`` is float32 or float64; ``out`` as in :meth:`TrainingSet.evaluate`."""
    d = _dimension(states, "states")
    checked_states(states, "states", None, d, writeable=False)
    precision = _arrays.precision(dtype, "dtype")
    if isinstance(outputs, str):
        outputs = (outputs,)
    unknown = [name for name in outputs if name not in OUTPUTS]
    if unknown or not outputs:
        raise ValueError(f"outputs = {tuple(outputs)!r}; choose one or more of {', '.join(OUTPUTS)}.")
    m = states.shape[0]
    arrays = []
    for name in OUTPUTS:
        if name not in outputs:
            arrays.append(None)
            continue
        shape = (m,) if name in ("log_density", "divergence") else (m, d)
        arrays.append(_arrays.output(None if out is None else out.get(name), f"out[{name!r}]", shape, precision))
    function = library().kn_partial_finish_f32 if precision == np.float32 else library().kn_partial_finish_f64
    status = function(states.ctypes.data, m, d, *[0 if a is None else a.ctypes.data for a in arrays])
    if status != 0:
        raise_for(status, function.__name__)
    return Outputs(*arrays)


def _dimension(states: Any, argument: str) -> int:
    if type(states) is not np.ndarray or states.dtype.names is None or "displacement" not in states.dtype.names:
        raise TypeError(f"{argument} is not an array of partial states; make one with kernels.partial_states(m, d, ...).")
    return states.dtype["displacement"].shape[0]


def checked_states(states: Any, argument: str, rows: Optional[int], d: int, writeable: bool) -> None:
    """TypeError or ValueError unless ``states`` is a C-contiguous (rows,) array of partial_dtype(d)."""
    if type(states) is not np.ndarray or states.dtype != partial_dtype(d):
        found = states.dtype if isinstance(states, np.ndarray) else type(states).__name__
        raise TypeError(f"{argument} has dtype {found}; pass partial states of dimension {d} "
                        f"(kernels.partial_states(m, {d}, ...)).")
    if states.ndim != 1 or (rows is not None and states.shape[0] != rows):
        raise ValueError(f"{argument} has shape {states.shape}; it must hold one state per query, shape "
                         f"({rows if rows is not None else 'M'},).")
    if not states.flags.c_contiguous:
        raise ValueError(f"{argument} is not C-contiguous; pass the array kernels.partial_states made, or a copy.")
    if writeable and not states.flags.writeable:
        raise ValueError(f"{argument} is read-only; pass a writeable array (it is updated in place).")
