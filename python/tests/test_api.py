"""The NumPy API against the float64 NumPy oracle (oracle.py) on random cases, within the conditioning bound."""
import math

import numpy as np
import pytest

import kernels
from oracle import assert_within, reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_evaluate_matches_the_float64_oracle_on_random_cases(rng, dtype):
    for _ in range(25):
        y, x, alpha, sigma = random_case_local(rng)
        with kernels.TrainingSet(y.astype(dtype)) as ts:
            assert ts.dtype == dtype and (ts.n, ts.d) == y.shape
            got = ts.evaluate(x.astype(dtype), alpha=alpha, sigma=sigma)
        for a in got[:4]:
            assert a.dtype == dtype
        # the bound is for the inputs as the set sees them: rounded to dtype
        assert_within(y.astype(dtype), x.astype(dtype), alpha, sigma, dtype, got)


def random_case_local(rng):
    from conftest import random_case
    return random_case(rng)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 3), (7, 1, 4), (1, 1, 9), (40, 1, 1)])
def test_edge_shapes_n1_d1_m1(rng, shape):
    from conftest import random_case
    n, d, m = shape
    y, x, alpha, sigma = random_case(rng, n=n, d=d, m=m)
    with kernels.TrainingSet(y) as ts:
        assert_within(y, x, alpha, sigma, np.float64, ts.evaluate(x, alpha=alpha, sigma=sigma))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_offsets_keep_their_digits(rng, dtype):
    # every point and query 1e4 from the origin: the oracle works from differences, and so must the library
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=50, d=6, m=20, offset=1e4)
    alpha = 1.0  # x - alpha*y is then a difference of nearby numbers, as in the far-from-origin regime
    x = y[:20] + sigma * rng.normal(size=(20, 6))
    with kernels.TrainingSet(y.astype(dtype)) as ts:
        got = ts.evaluate(x.astype(dtype), alpha=alpha, sigma=sigma)
    assert_within(y.astype(dtype), x.astype(dtype), alpha, sigma, dtype, got)


def test_single_output_methods_and_output_subsets(rng):
    # one output alone may take a different (cheaper) path than all four, so each is held to the oracle's bound
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=100, d=4, m=30)
    with kernels.TrainingSet(y) as ts:
        singles = kernels.Outputs(ts.log_density(x, alpha, sigma), ts.score(x, alpha, sigma), ts.denoise(x, alpha, sigma),
                                  ts.divergence(x, alpha, sigma))
        two = ts.evaluate(x, alpha, sigma, outputs=("score", "divergence"))
        assert two.log_density is None and two.denoiser is None
        np.testing.assert_array_equal(ts.score(x, alpha, sigma), singles.score)  # deterministic
    assert singles.score.shape == (30, 4) and singles.log_density.shape == (30,)
    assert_within(y, x, alpha, sigma, np.float64, singles)
    assert_within(y, x, alpha, sigma, np.float64, singles._replace(score=two.score, divergence=two.divergence))


@pytest.mark.parametrize("name", ["ou", "vp", "ve", "edm"])
def test_schedules_by_name_and_t(rng, name):
    from conftest import random_case
    y, x, _, _ = random_case(rng, n=60, d=3, m=10, offset=0.0)
    t = 0.04
    alpha, sigma = kernels.schedule_level(name, t)
    # DESIGN.md's schedules, written out here as the oracle of the level itself
    expected = {"ou": (math.exp(-t), math.sqrt(-math.expm1(-2 * t))),
                "vp": (math.exp(-0.5 * (0.1 * t + 0.5 * 19.9 * t * t)), math.sqrt(-math.expm1(-(0.1 * t + 0.5 * 19.9 * t * t)))),
                "ve": (1.0, math.sqrt(t)), "edm": (1.0, t)}[name]
    np.testing.assert_allclose((alpha, sigma), expected, rtol=1e-14)
    with kernels.TrainingSet(y) as ts:
        np.testing.assert_array_equal(ts.score(x, schedule=name, t=t), ts.score(x, alpha=alpha, sigma=sigma))
        assert_within(y, x, alpha, sigma, np.float64, ts.evaluate(x, schedule=name.upper(), t=t))


def test_per_query_levels_equal_single_level_calls(rng):
    from conftest import random_case
    y, x, _, _ = random_case(rng, n=80, d=5, m=12)
    t = rng.choice([0.01, 0.1, 0.5], size=12)
    with kernels.TrainingSet(y) as ts:
        batch = ts.evaluate(x, schedule="vp", t=t)
        for q in range(12):
            one = ts.evaluate(x[q:q + 1], schedule="vp", t=float(t[q]))
            for a, b in zip(batch[:4], one[:4]):
                np.testing.assert_array_equal(a[q], b[0])
        alphas, sigmas = rng.uniform(0.5, 1, 12), rng.uniform(0.1, 1, 12)
        got = ts.score(x, alpha=alphas, sigma=sigmas)
        for q in range(12):
            np.testing.assert_array_equal(got[q], ts.score(x[q:q + 1], float(alphas[q]), float(sigmas[q]))[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_arrays_are_written_in_place(rng, dtype):
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=30, d=3, m=7)
    with kernels.TrainingSet(y, dtype=dtype) as ts:
        s = np.empty((7, 3), dtype)
        returned = ts.score(x, alpha, sigma, out=s)
        assert returned is s
        out = {"log_density": np.empty(7, dtype), "divergence": np.empty(7, dtype)}
        got = ts.evaluate(x, alpha, sigma, outputs=("log_density", "divergence"), out=out)
        assert got.log_density is out["log_density"] and got.divergence is out["divergence"]
        np.testing.assert_array_equal(s, ts.score(x, alpha, sigma))


def test_inputs_are_converted_once_to_the_set_precision(rng):
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=30, d=3, m=7)
    with kernels.TrainingSet(y, dtype=np.float32) as ts:
        fortran = np.asfortranarray(x)
        np.testing.assert_array_equal(ts.score(fortran, alpha, sigma), ts.score(x.astype(np.float32), alpha, sigma))
        np.testing.assert_array_equal(ts.score(x.tolist(), alpha, sigma), ts.score(x.astype(np.float32), alpha, sigma))
    with kernels.TrainingSet(np.arange(6).reshape(3, 2)) as ts:  # integers: float64
        assert ts.dtype == np.float64


def test_kde_is_the_mixture_with_sigma_squared_plus_h_squared(rng):
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=70, d=4, m=15, offset=0.0)
    h = 0.3
    wider = math.sqrt(sigma * sigma + h * h)
    with kernels.TrainingSet(y) as ts:
        got = ts.kde(x, h, alpha, sigma, outputs=kernels.OUTPUTS)
    # Tweedie's denoiser under the smoothed mixture is the wider mixture's denoiser: the same formula at sigma' = wider
    assert_within(y, x, alpha, wider, np.float64, got)


def test_log_domain_smoothing_agrees_with_its_standard_error(rng):
    # E_z[s(x + z)] by Monte Carlo with the library's draws, against the oracle's mean over its own draws: the two
    # estimates of one expectation differ by a normal variable of standard deviation sqrt(se_lib^2 + se_oracle^2)
    y = rng.normal(size=(40, 2))
    x = rng.normal(size=(6, 2))
    alpha, sigma, h, k = 1.0, 0.5, 0.4, 4000
    with kernels.TrainingSet(y) as ts:
        got = ts.smooth(x, h, k, alpha, sigma, seed=7, standard_error=True)
        again = ts.smooth(x, h, k, alpha, sigma, seed=7, standard_error=True)
        np.testing.assert_array_equal(got.score, again.score)  # reproducible
        anti = ts.smooth(x, h, 64, alpha, sigma, seed=7, antithetic=True, fixed=True, outputs=kernels.OUTPUTS)
        assert all(a is not None for a in anti[:4])
    z = rng.normal(size=(k, 2)) * h
    oracle = np.stack([reference(y, q + z, alpha, sigma)[1] for q in x])  # (M, K, D)
    mean = oracle.mean(axis=1)
    se = oracle.std(axis=1, ddof=1) / math.sqrt(k)
    combined = np.sqrt(got.score_error ** 2 + se ** 2)
    assert np.all(np.abs(got.score - mean) <= 5 * combined), (got.score, mean, combined)


def test_version_and_variant():
    assert kernels.native_version() == kernels.__version__
    assert kernels.native_variant() in ("x86-64-v3", "x86-64-v4")


def test_help_tells_shapes_and_units():
    doc = kernels.TrainingSet.score.__doc__ + kernels.TrainingSet.evaluate.__doc__
    for phrase in ("(M, D)", "alpha", "sigma", "schedule", "out"):
        assert phrase in doc
