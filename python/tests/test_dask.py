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
