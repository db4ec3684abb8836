"""kernels.dask.TrainingSet on a LocalCluster of 2 and 3 worker processes on 127.0.0.1: each chunk's partial states are
accumulated on its worker and tree-reduced; the result is within the float bound of the exact one (oracle.bound: the
worst case over every order of the sums, so any chunking and merge order), as the single process's is."""
import os

import numpy as np
import pytest

import kernels
import kernels.dask
from oracle import assert_within

if os.environ.get("KERNELS_REQUIRE_MPI") == "1":  # CI installs python3-distributed: its absence is a failure there
    import dask.array as da
    from distributed import Client, LocalCluster
else:
    da = pytest.importorskip("dask.array", reason="Dask is not installed (Debian: apt-get install python3-distributed)")
    distributed = pytest.importorskip("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster


@pytest.fixture(scope="module", params=[2, 3], ids=["2-workers", "3-workers"])
def client(request):
    cluster = LocalCluster(n_workers=request.param, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=40)
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dask_array_chunked_by_rows_equals_the_single_process(client, rng, dtype):
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=301, d=13, m=7, offset=0.0)
    y = y.astype(dtype)
    chunked = da.from_array(y, chunks=(71, -1)).persist()  # 5 chunks of unequal size (71 * 4 + 17)
    ts = kernels.dask.TrainingSet(chunked)
    assert (ts.n, ts.d, ts.shards, ts.dtype) == (301, 13, 5, np.dtype(dtype))
    got = ts.evaluate(x, alpha, sigma)
    assert_within(y, x.astype(dtype), alpha, sigma, dtype, got)
    with kernels.TrainingSet(y) as whole:
        single = whole.evaluate(x, alpha, sigma)
    assert_within(y, x.astype(dtype), alpha, sigma, dtype, single)
    np.testing.assert_allclose(ts.score(x, alpha, sigma), got.score, rtol=0, atol=0)  # the same tree: the same bits


def test_npy_shards_with_an_empty_one_equal_the_single_process(client, rng, tmp_path):
    from conftest import random_case
    y, x, _, _ = random_case(rng, n=90, d=6, m=5, offset=0.0)
    paths = []
    for i, (a, b) in enumerate([(0, 40), (40, 40), (40, 90)]):  # the second shard has no rows
        paths.append(str(tmp_path / f"y{i}.npy"))
        np.save(paths[-1], y[a:b])
    ts = kernels.dask.TrainingSet(paths)
    t = np.linspace(0.05, 0.5, 5)
    got = ts.evaluate(x, schedule="ve", t=t, outputs=("log_density", "score"))
    with kernels.TrainingSet(y) as whole:
        expected = whole.evaluate(x, schedule="ve", t=t, outputs=("log_density", "score"))
    # float64, one worker's tree against one pass: both within the float64 bound of the exact result, so within
    # twice it of each other; per query levels differ, so compare against the single process directly
    np.testing.assert_allclose(got.log_density, expected.log_density, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.score, expected.score, rtol=1e-10, atol=1e-10)
    # the workers held the shards: every task ran on a worker process, none on the client
    assert len(client.scheduler_info()["workers"]) in (2, 3)


def test_bad_chunking_and_inputs_are_refused():
    y = np.zeros((10, 4))
    with pytest.raises(ValueError, match="chunk it by rows only"):
        kernels.dask.TrainingSet(da.from_array(y, chunks=(5, 2)))
    with pytest.raises(TypeError, match="list of .npy file paths"):
        kernels.dask.TrainingSet(y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kde_equals_the_single_process(client, rng, dtype):
    """KDE is the mixture at sigma^2 + h^2: the shards' result and the single process's are both within the bound of the
    exact one at that level (oracle.bound, the worst case over every order of the sums), one level or one per query."""
    from conftest import random_case
    y, x, alpha, sigma = random_case(rng, n=157, d=9, m=6, offset=0.0)
    y = y.astype(dtype)
    ts = kernels.dask.TrainingSet(da.from_array(y, chunks=(40, -1)).persist())  # 4 chunks: 40, 40, 40, 37
    h = 0.3
    got = ts.kde(x, h, alpha, sigma, outputs=kernels.OUTPUTS)
    assert_within(y, x.astype(dtype), alpha, float(np.sqrt(sigma * sigma + h * h)), dtype, got)
    with kernels.TrainingSet(y) as whole:
        single = whole.kde(x, h, alpha, sigma, outputs=kernels.OUTPUTS)
    assert_within(y, x.astype(dtype), alpha, float(np.sqrt(sigma * sigma + h * h)), dtype, single)
    # one level per query from a schedule: each query within the bound at its own widened level
    t = np.linspace(0.1, 0.6, x.shape[0])
    per_query = ts.kde(x, h, schedule="ou", t=t, outputs=kernels.OUTPUTS)
    for q in range(x.shape[0]):
        a, s = kernels.schedule_level("ou", float(t[q]))
        assert_within(y, x[q:q + 1].astype(dtype), a, float(np.sqrt(s * s + h * h)), dtype,
                      kernels.Outputs(*[None if v is None else v[q:q + 1] for v in per_query]))


@pytest.mark.parametrize("antithetic", [False, True], ids=["plain", "antithetic"])
def test_smooth_equals_the_single_process(client, rng, antithetic):
    """Log-domain smoothing over shards: the client makes the M*K perturbed rows (keyed by query and draw, so the same
    rows as the single process), the shards evaluate them, the client folds each query's K rows. Each row's values are
    within the float32 bound of the exact ones at that row (oracle.bound, any order of the sums), so each mean is within
    the mean of its rows' bounds of the mean of the exact values, for the sharded and the single-process result alike;
    the fold itself is float64 (K * 3 u64 relative, negligible but added)."""
    from conftest import random_case
    from kernels._smoothing import smoothing_rows
    from oracle import bound, reference
    y, x, alpha, sigma = random_case(rng, n=211, d=7, m=5, offset=0.0)
    y = y.astype(np.float32)
    x = x.astype(np.float32)
    ts = kernels.dask.TrainingSet(da.from_array(y, chunks=(50, -1)).persist())
    h, k = 0.4, 6
    names = ("log_density", "score", "denoiser", "divergence")
    got = ts.smooth(x, h, k, alpha, sigma, seed=5, antithetic=antithetic, standard_error=True, outputs=names)
    with kernels.TrainingSet(y) as whole:
        single = whole.smooth(x, h, k, alpha, sigma, seed=5, antithetic=antithetic, standard_error=True, outputs=names)
    rows = smoothing_rows(x, h, k, seed=5, antithetic=antithetic)
    ld, s, _, div = reference(y, rows, alpha, sigma)
    b = bound(y, rows, alpha, sigma, np.float32).reshape(x.shape[0], k, 4).mean(axis=1)
    exact = (ld.reshape(-1, k).mean(axis=1), s.reshape(-1, k, x.shape[1]).mean(axis=1), div.reshape(-1, k).mean(axis=1))
    fold = k * 3 * 2.0 ** -53
    for result in (got, single):
        assert np.all(np.abs(result.log_density - exact[0]) <= b[:, 0] + fold * np.abs(exact[0]))
        assert np.all(np.linalg.norm(result.score - exact[1], axis=1) <= b[:, 1] + fold * np.linalg.norm(exact[1], axis=1))
        assert np.all(np.abs(result.divergence - exact[2]) <= b[:, 3] + fold * np.abs(exact[2]))
    # the denoiser is (x + sigma^2 s)/alpha of the mean score, the standard error a spread of the same rows: each moves
    # with the rows' errors (twice the bound between two runs, scaled by sigma^2/alpha; a spread moves by at most the
    # sum of its rows' moves), plus each output's rounding to float32 in either run
    rounding = 2 * (2.0 ** -24 + fold)
    assert np.all(np.linalg.norm(got.denoiser - single.denoiser, axis=1)
                  <= 2 * sigma * sigma / alpha * b[:, 1] + rounding * np.linalg.norm(single.denoiser, axis=1))
    assert np.all(np.linalg.norm(got.score_error - single.score_error, axis=1)
                  <= 2 * k * b[:, 1] + rounding * np.linalg.norm(single.score_error, axis=1))


def test_smooth_refuses_what_the_single_process_refuses(client):
    ts = kernels.dask.TrainingSet(da.from_array(np.zeros((10, 3)), chunks=(5, -1)))
    with pytest.raises(ValueError, match="at least 2 independent draws"):
        ts.smooth(np.zeros((2, 3)), 0.5, 2, 1.0, 0.5, antithetic=True, standard_error=True)
    with pytest.raises(ValueError, match="one noise level"):
        ts.smooth(np.zeros((2, 3)), 0.5, 4, schedule="ou", t=np.array([0.1, 0.2]))
    with pytest.raises(ValueError, match="Gaussian kernel width"):
        ts.kde(np.zeros((2, 3)), 0.0, 1.0, 0.5)
    with pytest.raises(kernels.KernelsValueError, match="K must be even"):
        ts.smooth(np.zeros((2, 3)), 0.5, 3, 1.0, 0.5, antithetic=True)
