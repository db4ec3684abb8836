"""TrainingSet: a validated training set held by libkernels, and the quantities of its noised empirical distribution."""
from __future__ import annotations

import ctypes
import weakref
from typing import Any, Dict, NamedTuple, Optional, Sequence

import numpy as np

from . import _arrays
from ._errors import raise_for
from ._library import library

#: Names of the outputs an evaluation can return, in the order of :class:`Outputs`.
OUTPUTS = ("log_density", "score", "denoiser", "divergence")

_BACKENDS = {"cpu": 0, "opencl": 1}
_RENAME = {"queries": "x", "data": "data"}
_ANTITHETIC, _FIXED = 1, 2


class Outputs(NamedTuple):
    """The arrays an evaluation computed; the ones not asked for are None.

    log_density: (M,) log p(x).  score: (M, D) grad log p(x), units 1/length.  denoiser: (M, D) E[X0 | Xt = x], units of
    the data.  divergence: (M,) div s(x), units 1/length^2.  score_error: (M, D) Monte Carlo standard error of each score
    component (log-domain smoothing with ``standard_error=True`` only).
    """

    log_density: Optional[np.ndarray] = None
    score: Optional[np.ndarray] = None
    denoiser: Optional[np.ndarray] = None
    divergence: Optional[np.ndarray] = None
    score_error: Optional[np.ndarray] = None


def _free(handle: int) -> None:
    library().kn_training_set_free(handle)


class TrainingSet:
    """A training set Y of N points in R^D, validated and copied once into libkernels, and the exact quantities of its
    noised empirical distribution p(x) = (1/N) sum_i N(x; alpha y_i, sigma^2 I) (the forward process X_t = alpha X_0 +
    sigma Z applied to the points of Y).

    Parameters
    ----------
    data : array_like, shape (N, D)
        The training points, one per row; every value finite. Copied: the array may change afterwards.
    dtype : numpy.float32 or numpy.float64, optional
        The precision of every computation with this set. Default: float32 when ``data`` is float32, else float64.
    backend : {"cpu", "opencl"}
        "cpu" (SIMD, multi-threaded) or "opencl" (the device KERNELS_OPENCL_DEVICE names).
    threads : int
        The most threads one call uses; 0 = all cores. Results do not depend on it, bit for bit.

    The set holds a native handle: release it with :meth:`close` or a ``with`` block (it is also released when the object
    is garbage-collected). Any number of threads may evaluate with one set at once; the GIL is released during each call.

    Example
    -------
    >>> import numpy as np, kernels
    >>> ts = kernels.TrainingSet(np.random.default_rng(0).normal(size=(1000, 2)))
    >>> s = ts.score(np.zeros((5, 2)), alpha=1.0, sigma=0.5)          # (5, 2)
    >>> s = ts.score(np.zeros((5, 2)), schedule="ve", t=0.04)          # sigma = sqrt(t)
    """

    def __init__(self, data: Any, *, dtype: Any = None, backend: str = "cpu", threads: int = 0):
        if dtype is None:
            dtype = np.float32 if getattr(data, "dtype", None) == np.float32 else np.float64
        self._dtype = _arrays.precision(dtype, "dtype")
        if backend not in _BACKENDS:
            raise ValueError(f"backend = {backend!r}; use 'cpu' or 'opencl'.")
        threads = _arrays.integer(threads, "threads", 0, 2**31 - 1)
        values = _arrays.matrix(data, "data", self._dtype)
        self._suffix = "f32" if self._dtype == np.float32 else "f64"
        lib = library()
        handle = ctypes.c_void_p()
        status = getattr(lib, "kn_training_set_create_" + self._suffix)(
            values.ctypes.data, values.shape[0], values.shape[1], _BACKENDS[backend], threads, ctypes.addressof(handle))
        if status != 0:
            raise_for(status, "kn_training_set_create_" + self._suffix, _RENAME)
        self._handle: Optional[int] = handle.value
        self._finalizer = weakref.finalize(self, _free, handle.value)
        self._n, self._d = values.shape
        self._backend = backend
        self._threads = threads
        self._evaluate = getattr(lib, "kn_evaluate_" + self._suffix)
        self._evaluate_levels = getattr(lib, "kn_evaluate_levels_" + self._suffix)
        self._kde = getattr(lib, "kn_kde_" + self._suffix)
        self._kde_levels = getattr(lib, "kn_kde_levels_" + self._suffix)
        self._smoothed = getattr(lib, "kn_smoothed_" + self._suffix)
        self._accumulate = getattr(lib, "kn_partial_accumulate_" + self._suffix)

    # ------------------------------------------------------------------------------------------------ the set itself
    @property
    def n(self) -> int:
        """N, the number of training points."""
        return self._n

    @property
    def d(self) -> int:
        """D, the dimension."""
        return self._d

    @property
    def dtype(self) -> np.dtype:
        """The precision of inputs and outputs: float32 or float64."""
        return self._dtype

    @property
    def backend(self) -> str:
        """"cpu" or "opencl"."""
        return self._backend

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._handle is None

    def close(self) -> None:
        """Releases the native set now (idempotent). Calls after it raise ValueError."""
        self._handle = None
        self._finalizer()

    def __enter__(self) -> "TrainingSet":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"N={self._n}, D={self._d}"
        return f"kernels.TrainingSet({state}, dtype={self._dtype.name}, backend={self._backend!r})"

    def _live(self) -> int:
        handle = self._handle
        if handle is None:
            raise ValueError("this TrainingSet is closed; create a new one.")
        return handle

    # --------------------------------------------------------------------------------------------- exact quantities
    def evaluate(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None, t: Any = None,
                 outputs: Sequence[str] = OUTPUTS, out: Optional[Dict[str, np.ndarray]] = None) -> Outputs:
        """Several quantities of the noised empirical distribution in one fused pass over the training set.

        Parameters
        ----------
        x : array_like, shape (M, D)
            Query points, one per row (converted once to the set's dtype when it differs).
        alpha, sigma : float or array_like of shape (M,)
            The noise level: signal scale alpha > 0 and noise standard deviation sigma > 0 (units of the data), one for
            all queries or one per query.
        schedule, t : str and float or array_like of shape (M,)
            Instead of alpha and sigma: a schedule by name ("ou", "vp", "ve", "edm") at time t > 0.
        outputs : sequence of str
            Any of "log_density", "score", "denoiser", "divergence".
        out : dict of str to numpy.ndarray, optional
            Arrays to write into, by output name: C-contiguous, of the set's dtype and the output's shape.

        Returns
        -------
        Outputs
            log_density (M,), score (M, D), denoiser (M, D), divergence (M,); the ones not asked for are None.
        """
        return self._run(self._evaluate, self._evaluate_levels, None, x, alpha, sigma, schedule, t, outputs, out)

    def score(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None, t: Any = None,
              out: Optional[np.ndarray] = None) -> np.ndarray:
        """The score s(x) = grad log p(x) of the noised training set at M query points.

        p(x) = (1/N) sum_i N(x; alpha y_i, sigma^2 I) is the training set pushed through X_t = alpha X_0 + sigma Z, and
        s(x) = (alpha m(x) - x) / sigma^2 with m the denoiser: it points from x towards the nearby noised points.

        Parameters
        ----------
        x : array_like, shape (M, D)
            Query points, one per row, D the set's dimension (converted once to the set's dtype when it differs).
        alpha, sigma : float, or array_like of shape (M,)
            Signal scale alpha > 0 and noise standard deviation sigma > 0 (units of the data): one level for all
            queries, or one per query.
        schedule, t : str, and float or array_like of shape (M,)
            Instead of alpha and sigma: "ou", "vp", "ve" or "edm" at time t > 0 (``schedule="ve", t=0.04`` is
            alpha = 1, sigma = 0.2).
        out : numpy.ndarray, optional
            Written in place and returned: shape (M, D), C-contiguous, the set's dtype (anything else raises).

        Returns
        -------
        numpy.ndarray, shape (M, D), the set's dtype, in 1/units of the data.

        Raises ValueError or TypeError naming the argument for bad input (NaN in x, sigma <= 0, a wrong shape...).
        Several quantities at once: :meth:`evaluate`.
        """
        return self._run(self._evaluate, self._evaluate_levels, None, x, alpha, sigma, schedule, t, ("score",),
                         None if out is None else {"score": out}, "out").score

    def log_density(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                    t: Any = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """log p(x), shape (M,). Arguments as :meth:`evaluate`."""
        return self._run(self._evaluate, self._evaluate_levels, None, x, alpha, sigma, schedule, t, ("log_density",),
                         None if out is None else {"log_density": out}, "out").log_density

    def denoise(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None, t: Any = None,
                out: Optional[np.ndarray] = None) -> np.ndarray:
        """The denoiser E[X0 | Xt = x] (Tweedie: (x + sigma^2 s(x)) / alpha), shape (M, D), in units of the data.
        Arguments as :meth:`evaluate`."""
        return self._run(self._evaluate, self._evaluate_levels, None, x, alpha, sigma, schedule, t, ("denoiser",),
                         None if out is None else {"denoiser": out}, "out").denoiser

    def divergence(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                   t: Any = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """div s(x) = trace of the Hessian of log p(x), shape (M,). Arguments as :meth:`evaluate`."""
        return self._run(self._evaluate, self._evaluate_levels, None, x, alpha, sigma, schedule, t, ("divergence",),
                         None if out is None else {"divergence": out}, "out").divergence

    # ------------------------------------------------------------------------------------------------------ smoothing
    def kde(self, x: Any, h: float, alpha: Any = None, sigma: Any = None, *, kernel: str = "gaussian",
            schedule: Optional[str] = None, t: Any = None, outputs: Sequence[str] = ("score",),
            out: Optional[Dict[str, np.ndarray]] = None) -> Outputs:
        """Density-domain smoothing (KDE), closed form: the quantities of p * N(0, h^2 I), i.e. the same mixture with
        sigma^2 -> sigma^2 + h^2. ``h`` > 0 is the kernel width in units of the data; ``kernel`` must be "gaussian" (the
        one kernel the C ABI offers). Other arguments and the result as :meth:`evaluate`."""
        _gaussian(kernel)
        return self._run(self._kde, self._kde_levels, _arrays.real(h, "h"), x, alpha, sigma, schedule, t, outputs, out)

    def smooth(self, x: Any, h: float, draws: int, alpha: Any = None, sigma: Any = None, *, kernel: str = "gaussian",
               seed: int = 0, antithetic: bool = False, fixed: bool = False, standard_error: bool = False,
               schedule: Optional[str] = None, t: Any = None, outputs: Sequence[str] = ("score",),
               out: Optional[Dict[str, np.ndarray]] = None) -> Outputs:
        """Log-domain smoothing (Monte Carlo): E_z[log p(x + z)], E_z[s(x + z)], the denoiser of the smoothed score and
        E_z[div s(x + z)] for z ~ N(0, h^2 I), from ``draws`` = K >= 1 draws per query.

        Parameters beyond :meth:`evaluate`'s
        ------------------------------------
        h : float
            Kernel width > 0, units of the data. ``kernel`` must be "gaussian".
        draws : int
            K, draws per query (even when ``antithetic``).
        seed : int
            Philox key: the same seed gives the same draws on any thread count.
        antithetic : bool
            K/2 pairs (z, -z): exact for scores linear in x.
        fixed : bool
            Every query uses the same K draws (common random numbers: smooth in x, for ODE solvers).
        standard_error : bool
            Also return ``score_error`` (M, D), the Monte Carlo standard error of each score component (needs at least 2
            independent draws or pairs).

        One level for all queries (alpha and sigma scalars, or a scalar t).
        """
        _gaussian(kernel)
        handle = self._live()
        width = _arrays.real(h, "h")
        k = _arrays.integer(draws, "draws", 1, 2**31 - 1)
        key = _arrays.integer(seed, "seed", 0, 2**64 - 1)
        flags = (_ANTITHETIC if antithetic else 0) | (_FIXED if fixed else 0)
        queries = _arrays.matrix(x, "x", self._dtype, self._d)
        level = _arrays.levels(queries.shape[0], alpha, sigma, schedule, t)
        if isinstance(level[0], np.ndarray):
            raise ValueError("smooth takes one noise level for all queries: pass scalar alpha and sigma (or a scalar t).")
        names = tuple(outputs) + (("score_error",) if standard_error else ())
        arrays = self._outputs(queries.shape[0], names, out, OUTPUTS + ("score_error",))
        pointers = [0 if a is None else a.ctypes.data for a in arrays]
        status = self._smoothed(handle, width, k, key, flags, queries.ctypes.data, queries.shape[0], self._d,
                                level[0], level[1], *pointers)
        if status != 0:
            raise_for(status, self._smoothed.__name__, _RENAME)
        return Outputs(*arrays)

    # ------------------------------------------------------------------------------------------------ partial states
    def accumulate(self, x: Any, states: np.ndarray) -> np.ndarray:
        """Streams this set (one shard of a larger training set) against the queries and merges its log-sum-exp state
        into ``states`` in place, each record at its own level; returns ``states``. Make ``states`` with
        :func:`kernels.partial_states`, merge shards' states with :func:`kernels.merge` and finish with
        :func:`kernels.finish`. Every shard must see the same queries in the same order."""
        from ._partial import checked_states  # the partial module imports this one

        handle = self._live()
        queries = _arrays.matrix(x, "x", self._dtype, self._d)
        checked_states(states, "states", queries.shape[0], self._d, writeable=True)
        status = self._accumulate(handle, queries.ctypes.data, queries.shape[0], self._d, states.ctypes.data)
        if status != 0:
            raise_for(status, self._accumulate.__name__, _RENAME)
        return states

    # --------------------------------------------------------------------------------------------------- internals
    def _outputs(self, rows: int, names: Sequence[str], out: Optional[Dict[str, np.ndarray]],
                 known: Sequence[str], label: Optional[str] = None) -> list:
        """The output arrays in ``known``'s order (None where not asked for), from ``out`` or new."""
        if isinstance(names, str):
            names = (names,)
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise ValueError(f"outputs = {tuple(names)!r}; choose one or more of {', '.join(known)}.")
        if out is not None:
            if not isinstance(out, dict):
                raise TypeError(f"out is a {type(out).__name__}; pass a dict from output name to array.")
            extra = [name for name in out if name not in names]
            if extra:
                raise ValueError(f"out has arrays for {extra}, which were not asked for in outputs = {tuple(names)!r}.")
        arrays = []
        for name in known:
            if name not in names:
                arrays.append(None)
                continue
            shape = (rows,) if name in ("log_density", "divergence") else (rows, self._d)
            arrays.append(_arrays.output(None if out is None else out.get(name), label or f"out[{name!r}]",
                                         shape, self._dtype))
        return arrays

    def _run(self, single: Any, per_query: Any, h: Optional[float], x: Any, alpha: Any, sigma: Any,
             schedule: Optional[str], t: Any, outputs: Sequence[str], out: Optional[Dict[str, np.ndarray]],
             label: Optional[str] = None) -> Outputs:
        handle = self._live()
        queries = _arrays.matrix(x, "x", self._dtype, self._d)
        rows = queries.shape[0]
        if schedule is None and t is None and type(alpha) is float and type(sigma) is float:
            level = (alpha, sigma)  # the common case, without the general checks
        else:
            level = _arrays.levels(rows, alpha, sigma, schedule, t)
        arrays = self._outputs(rows, outputs, out, OUTPUTS, label)
        pointers = [0 if a is None else a.ctypes.data for a in arrays]
        head = (handle,) if h is None else (handle, h)
        if isinstance(level[0], np.ndarray):
            status = per_query(*head, queries.ctypes.data, rows, self._d, level[0].ctypes.data, level[1].ctypes.data,
                               *pointers)
            function = per_query
        else:
            status = single(*head, queries.ctypes.data, rows, self._d, level[0], level[1], *pointers)
            function = single
        if status != 0:
            raise_for(status, function.__name__, _RENAME)
        return Outputs(*arrays)


def _gaussian(kernel: str) -> None:
    if kernel != "gaussian":
        raise ValueError(f"kernel = {kernel!r}; the C ABI offers the Gaussian kernel only: use kernel='gaussian' "
                         f"(the managed API has the others).")
