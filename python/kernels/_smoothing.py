"""Log-domain smoothing over a training set evaluated elsewhere (shards on Dask workers, say): the perturbed queries
TrainingSet.smooth evaluates (kn_smoothing_rows_*), and the fold of their per-row values into its outputs."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from . import _arrays
from ._errors import raise_for
from ._library import library
from ._training_set import OUTPUTS, Outputs, _ANTITHETIC, _FIXED


def smoothing_rows(x: np.ndarray, h: float, draws: int, *, seed: int = 0, antithetic: bool = False,
                   fixed: bool = False) -> np.ndarray:
    """The (M*K, D) perturbed queries of :meth:`TrainingSet.smooth` for queries ``x`` (float32 or float64, C-contiguous):
    row q*K + k is x_q + z, z ~ N(0, h^2 I) draw k of query q (keyed by seed, query and draw: the same on any machine),
    summed in float64 and rounded once to x's dtype."""
    width = _arrays.real(h, "h")
    k = _arrays.integer(draws, "draws", 1, 2**31 - 1)
    key = _arrays.integer(seed, "seed", 0, 2**64 - 1)
    flags = (_ANTITHETIC if antithetic else 0) | (_FIXED if fixed else 0)
    m, d = x.shape
    rows = np.empty((m * k, d), x.dtype)
    function = library().kn_smoothing_rows_f32 if x.dtype == np.float32 else library().kn_smoothing_rows_f64
    status = function(width, k, key, flags, x.ctypes.data, m, d, rows.ctypes.data)
    if status != 0:
        raise_for(status, function.__name__, {"queries": "x"})
    return rows


def fold(per_row: Outputs, x: np.ndarray, draws: int, antithetic: bool, alpha: float, sigma: float,
         outputs: Sequence[str], standard_error: bool) -> Outputs:
    """:meth:`TrainingSet.smooth`'s outputs from the finished values of its M*K rows (``per_row``, in the evaluation's
    dtype): per query the mean over the K rows in float64 (each antithetic pair averaged first), the denoiser by Tweedie's
    formula from the mean score, and the score's standard error over the independent units."""
    m, d = x.shape
    units = draws // 2 if antithetic else draws

    def unit_values(values: np.ndarray, width: int) -> np.ndarray:
        v = values.astype(np.float64).reshape(m, draws, width)
        return 0.5 * (v[:, 0::2] + v[:, 1::2]) if antithetic else v

    result: Dict[str, Optional[np.ndarray]] = {name: None for name in OUTPUTS + ("score_error",)}
    if "log_density" in outputs:
        result["log_density"] = unit_values(per_row.log_density, 1).mean(axis=1)[:, 0].astype(x.dtype)
    if "divergence" in outputs:
        result["divergence"] = unit_values(per_row.divergence, 1).mean(axis=1)[:, 0].astype(x.dtype)
    if per_row.score is not None:
        v = unit_values(per_row.score, d)
        mean = v.mean(axis=1)
        if "score" in outputs:
            result["score"] = mean.astype(x.dtype)
        if "denoiser" in outputs:
            result["denoiser"] = ((x.astype(np.float64) + sigma * sigma * mean) / alpha).astype(x.dtype)
        if standard_error:
            spread = ((v - mean[:, None, :]) ** 2).sum(axis=1)
            result["score_error"] = np.sqrt(spread / ((units - 1.0) * units)).astype(x.dtype)
    return Outputs(**result)


def row_outputs(outputs: Sequence[str], standard_error: bool) -> tuple:
    """The per-row outputs the smoothed ones need (the denoiser and the standard error come from the row scores)."""
    needed = {"score" if name == "denoiser" else name for name in outputs}
    if standard_error:
        needed.add("score")
    return tuple(name for name in OUTPUTS if name in needed)


def check_smooth_arguments(outputs: Sequence[str], draws: int, antithetic: bool, standard_error: bool) -> tuple:
    """The outputs as a tuple, with the checks TrainingSet.smooth makes before evaluating."""
    if isinstance(outputs, str):
        outputs = (outputs,)
    unknown = [name for name in outputs if name not in OUTPUTS]
    if unknown or not outputs:
        raise ValueError(f"outputs = {tuple(outputs)!r}; choose one or more of {', '.join(OUTPUTS)}.")
    units = draws // 2 if antithetic else draws
    if standard_error and units < 2:
        raise ValueError(f"standard_error needs at least 2 independent draws (pairs when antithetic) but draws = {draws}; "
                         "use more draws.")
    return tuple(outputs)
