"""kernels: exact log-sum-exp quantities of noised training sets (log-density, score, denoiser, divergence), their
smoothings, and mergeable partial states, from NumPy, over the bundled C library libkernels.so.

    >>> import numpy as np, kernels
    >>> ts = kernels.TrainingSet(np.random.default_rng(0).normal(size=(1000, 2)))
    >>> ts.score(np.zeros((3, 2)), alpha=1.0, sigma=0.5).shape
    (3, 2)

Start with :class:`TrainingSet` (``help(kernels.TrainingSet.score)``); shards merge with :func:`partial_states`,
:meth:`TrainingSet.accumulate`, :func:`merge` and :func:`finish`.
"""
from ._errors import KernelsError, KernelsTypeError, KernelsValueError
from ._library import library as _load_library
from ._partial import LAYOUT_VERSION, finish, merge, partial_dtype, partial_states
from ._training_set import OUTPUTS, Outputs, TrainingSet
from ._arrays import schedule_level
from ._version import __version__


def native_version() -> str:
    """The version of the loaded libkernels.so ("major.minor.patch")."""
    return _load_library().kn_version_string().decode()


def native_variant() -> str:
    """The instruction sets of the libkernels variant serving calls: "x86-64-v4" (AVX-512) or "x86-64-v3" (AVX2)."""
    return _load_library().kn_variant().decode()


__all__ = ["TrainingSet", "Outputs", "OUTPUTS", "partial_dtype", "partial_states", "merge", "finish", "LAYOUT_VERSION",
           "schedule_level", "KernelsError", "KernelsValueError", "KernelsTypeError", "native_version", "native_variant",
           "__version__"]
