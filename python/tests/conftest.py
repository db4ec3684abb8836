import os
import zlib
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # oracle.py


def random_case(rng, n=None, d=None, m=None, offset=None):
    """Y (N, D), X (M, D), alpha, sigma: shapes from 1 up (not multiples of any vector width), data around a common
    offset (up to 1e4: the far-from-origin case where an expanded ||x||^2 - 2 x.y + ||y||^2 cancels), queries near noised
    points or far from the data."""
    n = n or int(rng.choice([1, 2, 3, 7, 17, 64, 129, 300]))
    d = d or int(rng.choice([1, 2, 3, 5, 8, 13, 33]))
    m = m or int(rng.integers(1, 40))
    offset = rng.choice([0.0, 10.0, 1e4]) if offset is None else offset
    alpha = float(rng.uniform(0.2, 1.2))
    sigma = float(10 ** rng.uniform(-1.5, 0.5))
    y = rng.normal(size=(n, d)) + offset
    picks = rng.integers(0, n, size=m)
    x = alpha * y[picks] + sigma * rng.normal(size=(m, d)) * rng.choice([0.5, 1.0, 3.0])
    return y, x, alpha, sigma


@pytest.fixture
def rng(request):
    # a fixed seed per test, from its name: a failure reproduces
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))
