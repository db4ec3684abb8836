"""A training set sharded across Dask workers: each chunk of rows stays on the worker that holds it and accumulates
partial log-sum-exp states for the broadcast queries there; a tree reduction merges the states (exactly, in any order,
up to rounding) and the client finishes them. Needs ``dask`` and ``distributed`` (Debian: python3-distributed).

    >>> from distributed import Client, LocalCluster
    >>> import dask.array as da, kernels.dask
    >>> client = Client(LocalCluster(n_workers=2, processes=True, host="127.0.0.1", dashboard_address=None))
    >>> ts = kernels.dask.TrainingSet(da.from_array(Y, chunks=(100_000, -1)).persist())
    >>> s = ts.score(X, alpha=1.0, sigma=0.5)          # equals kernels.TrainingSet(Y).score(X, 1.0, 0.5)

Workers load libkernels.so in their own process (start them by spawn, Debian's default; never fork a process that has
loaded it).
"""
from __future__ import annotations

import math
import os
from typing import Any, List, Optional, Sequence

import numpy as np

from . import _arrays
from ._smoothing import check_smooth_arguments, fold, row_outputs, smoothing_rows
from ._training_set import OUTPUTS, Outputs, _gaussian

__all__ = ["TrainingSet"]


def _accumulate(chunk: Any, queries: np.ndarray, alpha: Any, sigma: Any, schedule: Optional[str], t: Any,
                dtype: Any) -> np.ndarray:
    """On a worker: the partial states of one chunk of rows (a path to a .npy shard, or the rows) for every query."""
    import kernels

    rows = np.load(chunk, mmap_mode="r") if isinstance(chunk, str) else chunk
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != queries.shape[1]:
        raise ValueError(f"a chunk of the training set has shape {rows.shape}; every chunk is (rows, {queries.shape[1]}): "
                         "chunk the array by rows only (chunks=(rows, -1)).")
    states = kernels.partial_states(queries.shape[0], queries.shape[1], alpha, sigma, schedule=schedule, t=t)
    if rows.shape[0] == 0:
        return states  # an empty chunk contributes the identity
    with kernels.TrainingSet(rows, dtype=dtype) as shard:
        shard.accumulate(queries, states)
    return states


def _merge(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """On a worker: left (+) right, into a copy (a task's inputs may be read by others)."""
    import kernels

    return kernels.merge(left.copy(), right)


class TrainingSet:
    """A training set Y of N points in R^D held by Dask workers, with the quantities of :class:`kernels.TrainingSet`
    (evaluate, score, log_density, denoise, divergence, kde, smooth), computed shard by shard.

    Parameters
    ----------
    data : dask.array.Array of shape (N, D), or sequence of str
        The rows, chunked by rows only (``chunks=(rows, -1)``; persist it so the chunks stay where they are), or the
        paths of .npy shards of shape (rows_i, D) that every worker can read (each is opened by the worker that
        evaluates it, memory-mapped).
    dtype : float32 or float64
        The precision of the evaluation (default: float64 for float64 data, else float32).
    client : distributed.Client, optional
        The client to compute with (default: the current one, or Dask's default scheduler when there is none).
    """

    def __init__(self, data: Any, *, dtype: Any = None, client: Any = None):
        self._client = client
        if isinstance(data, (list, tuple)):
            if not data or not all(isinstance(p, (str, os.PathLike)) for p in data):
                raise TypeError("data is a sequence but not of .npy paths; pass a dask array chunked by rows or a list of "
                                ".npy file paths.")
            headers = [np.load(os.fspath(p), mmap_mode="r") for p in data]
            shapes = [h.shape for h in headers]
            if any(len(s) != 2 for s in shapes) or len({s[1] for s in shapes}) != 1:
                raise ValueError(f"the .npy shards have shapes {shapes}; each must be (rows, D) with one D for all.")
            self._chunks: List[Any] = [os.fspath(p) for p in data]
            self._n, self._d = sum(s[0] for s in shapes), shapes[0][1]
            source_dtype = np.result_type(*[h.dtype for h in headers])
        else:
            import dask.array as da

            if not isinstance(data, da.Array) or data.ndim != 2:
                raise TypeError(f"data is {type(data).__name__}; pass a 2-D dask array chunked by rows, or a list of .npy "
                                "file paths.")
            if len(data.chunks[1]) != 1:
                raise ValueError(f"data is chunked along its columns too (chunks {data.chunks[1]}); chunk it by rows only: "
                                 "data.rechunk({1: -1}).")
            self._chunks = list(data.to_delayed().ravel())
            self._n, self._d = int(data.shape[0]), int(data.shape[1])
            source_dtype = data.dtype
        if self._n < 1 or self._d < 1:
            raise ValueError(f"the training set has shape ({self._n}, {self._d}); it needs N >= 1 rows and D >= 1 columns.")
        if dtype is None:
            dtype = np.float64 if source_dtype == np.float64 else np.float32
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype = {dtype!r}; pass numpy.float32 or numpy.float64.")
        self._dtype = np.dtype(dtype)

    @property
    def n(self) -> int:
        """Number of training points N (all shards)."""
        return self._n

    @property
    def d(self) -> int:
        """Dimension D."""
        return self._d

    @property
    def dtype(self) -> np.dtype:
        """The evaluation precision."""
        return self._dtype

    @property
    def shards(self) -> int:
        """Number of chunks (each accumulated on the worker that holds it)."""
        return len(self._chunks)

    def partial_states(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                       t: Any = None) -> np.ndarray:
        """The merged partial states of every shard for the queries (finish them with :func:`kernels.finish`)."""
        import dask
        from dask import delayed

        queries = np.ascontiguousarray(x, dtype=self._dtype)
        if queries.ndim != 2 or queries.shape[1] != self._d:
            raise ValueError(f"x has shape {np.shape(x)}; pass (M, {self._d}) queries, D the training set's dimension.")
        # the queries once per worker, not once per task
        client = self._current_client()
        # unique keys per call (hash=False, pure=False): identical keys from a previous call whose futures are being
        # released race with this call's and can be cancelled under it; the tree is the same, so the bits are too
        shared = client.scatter(queries, broadcast=True, hash=False) if client is not None else queries
        level = (alpha, sigma, schedule, t)
        states = [delayed(_accumulate, pure=False)(chunk, shared, *level, self._dtype) for chunk in self._chunks]
        while len(states) > 1:  # a binary tree: depth log2(shards), each merge on a worker holding one side
            paired = [delayed(_merge, pure=False)(states[i], states[i + 1]) for i in range(0, len(states) - 1, 2)]
            states = paired + ([states[-1]] if len(states) % 2 else [])
        if client is not None:
            return client.compute(states[0]).result()
        return dask.compute(states[0])[0]

    def evaluate(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None, t: Any = None,
                 outputs: Sequence[str] = OUTPUTS) -> Outputs:
        """As :meth:`kernels.TrainingSet.evaluate` over the union of the shards (up to the rounding of the merge
        order): log_density (M,), score (M, D), denoiser (M, D), divergence (M,); the ones not asked for are None."""
        import kernels

        states = self.partial_states(x, alpha, sigma, schedule=schedule, t=t)
        return kernels.finish(states, outputs, dtype=self._dtype)

    def score(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
              t: Any = None) -> np.ndarray:
        """The score s(x) = grad log p(x), shape (M, D). Arguments as :meth:`kernels.TrainingSet.score`."""
        return self.evaluate(x, alpha, sigma, schedule=schedule, t=t, outputs=("score",)).score

    def log_density(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                    t: Any = None) -> np.ndarray:
        """log p(x), shape (M,)."""
        return self.evaluate(x, alpha, sigma, schedule=schedule, t=t, outputs=("log_density",)).log_density

    def denoise(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                t: Any = None) -> np.ndarray:
        """The denoiser m(x) = E[X_0 | X_t = x], shape (M, D)."""
        return self.evaluate(x, alpha, sigma, schedule=schedule, t=t, outputs=("denoiser",)).denoiser

    def divergence(self, x: Any, alpha: Any = None, sigma: Any = None, *, schedule: Optional[str] = None,
                   t: Any = None) -> np.ndarray:
        """div s(x) = trace of the Hessian of log p(x), shape (M,)."""
        return self.evaluate(x, alpha, sigma, schedule=schedule, t=t, outputs=("divergence",)).divergence

    # ------------------------------------------------------------------------------------------------------ smoothing
    def kde(self, x: Any, h: float, alpha: Any = None, sigma: Any = None, *, kernel: str = "gaussian",
            schedule: Optional[str] = None, t: Any = None, outputs: Sequence[str] = ("score",)) -> Outputs:
        """As :meth:`kernels.TrainingSet.kde` over the union of the shards: the density smoothed by N(0, h^2 I) is the
        same mixture with sigma^2 -> sigma^2 + h^2, so every shard accumulates its states at that level."""
        _gaussian(kernel)
        width = _arrays.real(h, "h")
        if not (math.isfinite(width) and width > 0):
            raise ValueError(f"h = {h!r}; the Gaussian kernel width must be finite and > 0 (h = 0 is the exact score: "
                             "call evaluate).")
        queries = _arrays.matrix(x, "x", self._dtype, self._d)
        level_alpha, level_sigma = _arrays.levels(queries.shape[0], alpha, sigma, schedule, t)
        # sqrt(sigma^2 + h^2) in float64, as the library widens it (the same bits)
        widened = np.sqrt(np.asarray(level_sigma) * np.asarray(level_sigma) + width * width)
        if not np.all(np.isfinite(widened)):
            raise ValueError(f"h = {h!r} is too large: KDE widens the noise variance to sigma^2 + h^2, which overflows a "
                             "double; use a kernel width h below 1e154.")
        return self.evaluate(queries, level_alpha, widened if isinstance(level_sigma, np.ndarray) else float(widened),
                             outputs=outputs)

    def smooth(self, x: Any, h: float, draws: int, alpha: Any = None, sigma: Any = None, *, kernel: str = "gaussian",
               seed: int = 0, antithetic: bool = False, fixed: bool = False, standard_error: bool = False,
               schedule: Optional[str] = None, t: Any = None, outputs: Sequence[str] = ("score",)) -> Outputs:
        """As :meth:`kernels.TrainingSet.smooth` over the union of the shards. The client makes the M*K perturbed
        queries (keyed by seed, query and draw: never by shard), the shards evaluate them as one batch of queries,
        their states are tree-reduced, and the client finishes each row and averages each query's K rows (each
        antithetic pair first): the single process's result up to the order of the sums. The rows' states pass in
        blocks of whole queries of about 64 MB."""
        _gaussian(kernel)
        k = _arrays.integer(draws, "draws", 1, 2**31 - 1)
        names = check_smooth_arguments(outputs, k, antithetic, standard_error)
        queries = _arrays.matrix(x, "x", self._dtype, self._d)
        m = queries.shape[0]
        level = _arrays.levels(m, alpha, sigma, schedule, t)
        if isinstance(level[0], np.ndarray):
            raise ValueError("smooth takes one noise level for all queries: pass scalar alpha and sigma (or a scalar t).")
        rows = smoothing_rows(queries, h, k, seed=seed, antithetic=antithetic, fixed=fixed)
        evaluated = row_outputs(names, standard_error)
        block = k * max(1, (64 << 20) // (k * (8 + 2 * self._d) * 8))  # whole queries per block
        parts = [self.evaluate(rows[start:start + block], level[0], level[1], outputs=evaluated)
                 for start in range(0, m * k, block)]
        per_row = Outputs(**{name: None if parts[0][i] is None else np.concatenate([p[i] for p in parts])
                             for i, name in enumerate(Outputs._fields)})
        return fold(per_row, queries, k, antithetic, level[0], level[1], names, standard_error)

    def _current_client(self) -> Any:
        if self._client is not None:
            return self._client
        try:
            from distributed import get_client

            return get_client()
        except (ImportError, ValueError):
            return None

    def __repr__(self) -> str:
        return f"kernels.dask.TrainingSet(n={self._n}, d={self._d}, dtype={self._dtype.name}, shards={len(self._chunks)})"
