"""Partial states: shards evaluated separately and merged in any order equal the whole."""
import itertools

import numpy as np
import pytest

import kernels
from oracle import assert_within


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shards_merged_in_any_order_equal_the_whole(rng, dtype):
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=120, d=5, m=9, offset=0.0)
    cuts = np.sort(rng.choice(np.arange(1, 120), size=3, replace=False))
    shards = np.split(y.astype(dtype), cuts)
    states = []
    for shard in shards:
        with kernels.TrainingSet(shard) as ts:
            states.append(ts.accumulate(x, kernels.partial_states(9, 5, alpha, sigma)))
    with kernels.TrainingSet(y.astype(dtype)) as whole:
        expected = whole.evaluate(x, alpha, sigma)
    finished = []
    for order in itertools.permutations(range(4)):
        merged = states[order[0]].copy()
        for i in order[1:]:
            kernels.merge(merged, states[i])
        assert merged["count"].tolist() == [120] * 9
        got = kernels.finish(merged, outputs=kernels.OUTPUTS, dtype=dtype)
        assert_within(y.astype(dtype), x.astype(dtype), alpha, sigma, dtype, got)
        finished.append(got)
    # a tree of merges ((0 + 1) + (2 + 3)) too
    left, right = kernels.merge(states[0].copy(), states[1]), kernels.merge(states[2].copy(), states[3])
    assert_within(y.astype(dtype), x.astype(dtype), alpha, sigma, dtype,
                  kernels.finish(kernels.merge(left, right), outputs=kernels.OUTPUTS, dtype=dtype))
    # one shard's state accumulated in sequence equals the merged one within the same bound, and the whole's result
    sequential = kernels.partial_states(9, 5, alpha, sigma)
    for shard in shards:
        with kernels.TrainingSet(shard) as ts:
            ts.accumulate(x, sequential)
    assert_within(y.astype(dtype), x.astype(dtype), alpha, sigma, dtype,
                  kernels.finish(sequential, outputs=kernels.OUTPUTS, dtype=dtype))
    assert_within(y.astype(dtype), x.astype(dtype), alpha, sigma, dtype, expected)


def test_one_shard_finishes_to_evaluate_and_records_carry_their_level(rng):
    from conftest import random_case
    y, x, _, _ = random_case(rng, n=40, d=3, m=6, offset=0.0)
    t = np.array([0.01, 0.1, 0.01, 0.5, 0.1, 0.2])
    with kernels.TrainingSet(y) as ts:
        states = ts.accumulate(x, kernels.partial_states(6, 3, schedule="vp", t=t))
        got = kernels.finish(states, outputs=kernels.OUTPUTS)
        expected = ts.evaluate(x, schedule="vp", t=t)
    for a, b in zip(got[:4], expected[:4]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert states.dtype == kernels.partial_dtype(3) and states.dtype.itemsize == (8 + 2 * 3) * 8
    assert (states["version"] == kernels.LAYOUT_VERSION).all() and (states["count"] == 40).all()
    # the bytes are the layout kernels.h documents: a record survives a round trip through raw bytes (as MPI sends it)
    again = np.frombuffer(states.tobytes(), kernels.partial_dtype(3)).copy()
    np.testing.assert_array_equal(kernels.finish(again).score, got.score)
