"""Every class of bad input raises a clear ValueError or TypeError naming the argument; none crashes the interpreter."""
import numpy as np
import pytest

import kernels

Y = np.random.default_rng(1).normal(size=(20, 3))
X = np.random.default_rng(2).normal(size=(5, 3))


@pytest.fixture
def ts():
    with kernels.TrainingSet(Y) as s:
        yield s


def raises(kind, fragment, call):
    with pytest.raises(kind) as info:
        call()
    assert fragment in str(info.value), str(info.value)
    return info.value


def test_bad_training_data():
    raises(ValueError, "data: training row 4 has NaN in column 1", lambda: kernels.TrainingSet(np.where(np.arange(60).reshape(20, 3) == 13, np.nan, Y)))
    raises(ValueError, "data has shape (3,)", lambda: kernels.TrainingSet(np.ones(3)))
    raises(ValueError, "data has shape (0, 3)", lambda: kernels.TrainingSet(np.ones((0, 3))))
    raises(TypeError, "data has dtype complex128", lambda: kernels.TrainingSet(np.ones((2, 2), complex)))
    raises(TypeError, "data has dtype <U1", lambda: kernels.TrainingSet([["a", "b"]]))
    raises(TypeError, "dtype = int32", lambda: kernels.TrainingSet(Y, dtype=np.int32))
    raises(ValueError, "backend = 'gpu'", lambda: kernels.TrainingSet(Y, backend="gpu"))
    raises(ValueError, "threads = -1", lambda: kernels.TrainingSet(Y, threads=-1))
    raises(TypeError, "threads = 1.5", lambda: kernels.TrainingSet(Y, threads=1.5))


def test_bad_queries(ts):
    bad = X.copy()
    bad[1, 2] = np.nan
    error = raises(ValueError, "x: query row 1 has NaN in column 2", lambda: ts.score(bad, 1.0, 0.5))
    assert error.status_name == "KN_ERROR_NOT_FINITE"
    bad[1, 2] = np.inf
    raises(ValueError, "x: query row 1 has +infinity", lambda: ts.score(bad, 1.0, 0.5))
    raises(ValueError, "x has 2 columns but the training set has dimension D = 3", lambda: ts.score(np.ones((4, 2)), 1.0, 0.5))
    raises(ValueError, "x has shape (3,)", lambda: ts.score(np.ones(3), 1.0, 0.5))
    raises(ValueError, "x has shape (0, 3)", lambda: ts.score(np.ones((0, 3)), 1.0, 0.5))
    raises(TypeError, "x has dtype bool", lambda: ts.score(np.ones((2, 3), bool), 1.0, 0.5))


def test_bad_levels_and_schedules(ts):
    raises(ValueError, "sigma = 0", lambda: ts.score(X, 1.0, 0.0))
    raises(ValueError, "alpha = -1", lambda: ts.score(X, -1.0, 0.5))
    raises(ValueError, "alpha = NaN", lambda: ts.score(X, float("nan"), 0.5))
    raises(TypeError, "sigma = '0.5' is not a real number", lambda: ts.score(X, 1.0, "0.5"))
    raises(ValueError, "alpha = None, sigma = None", lambda: ts.score(X))
    raises(ValueError, "not both", lambda: ts.score(X, 1.0, 0.5, schedule="ve", t=0.1))
    raises(ValueError, "schedule: Unknown schedule 'cosine'", lambda: ts.score(X, schedule="cosine", t=0.1))
    raises(ValueError, "needs both its name and the time t", lambda: ts.score(X, schedule="ve"))
    raises(ValueError, "t must be finite and > 0", lambda: ts.score(X, schedule="ve", t=-0.1))
    raises(ValueError, "t = NaN", lambda: ts.score(X, schedule="ve", t=float("nan")))
    raises(ValueError, "sigma has shape (4,)", lambda: ts.score(X, 1.0, np.ones(4)))
    raises(ValueError, "sigma[2] = 0", lambda: ts.score(X, 1.0, np.array([1, 1, 0, 1, 1.0])))


def test_bad_out_arrays(ts):
    raises(TypeError, "out has dtype float32 but this call computes float64", lambda: ts.score(X, 1.0, 0.5, out=np.empty((5, 3), np.float32)))
    raises(ValueError, "out has shape (3, 5); it must be (5, 3)", lambda: ts.score(X, 1.0, 0.5, out=np.empty((3, 5))))
    raises(ValueError, "out is not C-contiguous", lambda: ts.score(X, 1.0, 0.5, out=np.empty((3, 5)).T))
    raises(ValueError, "out is not C-contiguous", lambda: ts.score(X, 1.0, 0.5, out=np.empty((5, 6))[:, ::2]))
    read_only = np.empty((5, 3))
    read_only.flags.writeable = False
    raises(ValueError, "out is read-only", lambda: ts.score(X, 1.0, 0.5, out=read_only))
    raises(TypeError, "out is a list", lambda: ts.score(X, 1.0, 0.5, out=[[0.0] * 3] * 5))
    raises(ValueError, "out has arrays for ['score']", lambda: ts.evaluate(X, 1.0, 0.5, outputs=("divergence",), out={"score": np.empty((5, 3))}))
    raises(ValueError, "outputs = ('gradient',)", lambda: ts.evaluate(X, 1.0, 0.5, outputs=("gradient",)))
    raises(ValueError, "outputs = ()", lambda: ts.evaluate(X, 1.0, 0.5, outputs=()))
    # an output overlapping the queries is refused by the library before anything is written
    both = np.ascontiguousarray(X.copy())
    raises(ValueError, "overlap", lambda: ts.score(both, 1.0, 0.5, out=both))


def test_bad_smoothing_arguments(ts):
    raises(ValueError, "h = 0", lambda: ts.kde(X, 0.0, 1.0, 0.5))
    raises(ValueError, "h = -1", lambda: ts.smooth(X, -1.0, 8, 1.0, 0.5))
    raises(ValueError, "draws = 0", lambda: ts.smooth(X, 0.1, 0, 1.0, 0.5))
    raises(ValueError, "antithetic draws come in pairs", lambda: ts.smooth(X, 0.1, 7, 1.0, 0.5, antithetic=True))
    raises(ValueError, "score_error needs at least 2 independent draws", lambda: ts.smooth(X, 0.1, 1, 1.0, 0.5, standard_error=True))
    raises(ValueError, "kernel = 'epanechnikov'", lambda: ts.kde(X, 0.1, 1.0, 0.5, kernel="epanechnikov"))
    raises(ValueError, "seed = -1", lambda: ts.smooth(X, 0.1, 8, 1.0, 0.5, seed=-1))
    raises(ValueError, "one noise level", lambda: ts.smooth(X, 0.1, 8, 1.0, np.full(5, 0.5)))


def test_precision_and_closed_sets():
    with kernels.TrainingSet(Y, dtype=np.float32) as single:
        # a float64 out= on a float32 set is refused, not silently converted
        raises(TypeError, "computes float32", lambda: single.score(X, 1.0, 0.5, out=np.empty((5, 3))))
    closed = kernels.TrainingSet(Y)
    closed.close()
    closed.close()  # idempotent
    assert closed.closed and "closed" in repr(closed)
    raises(ValueError, "this TrainingSet is closed", lambda: closed.score(X, 1.0, 0.5))


def test_bad_partial_states(ts):
    states = kernels.partial_states(5, 3, 1.0, 0.5)
    raises(TypeError, "states has dtype float64", lambda: ts.accumulate(X, np.zeros(5)))
    raises(ValueError, "states has shape (4,)", lambda: ts.accumulate(X, kernels.partial_states(4, 3, 1.0, 0.5)))
    raises(TypeError, "pass partial states of dimension 3", lambda: ts.accumulate(X, kernels.partial_states(5, 2, 1.0, 0.5)))
    raises(ValueError, "count = 0", lambda: kernels.finish(states))
    other = ts.accumulate(X, kernels.partial_states(5, 3, 1.0, 0.25))
    raises(ValueError, "merge states of one noise level only", lambda: kernels.merge(ts.accumulate(X, states), other))
    corrupt = kernels.partial_states(5, 3, 1.0, 0.5)
    corrupt["magic"][2] = 0
    raises(ValueError, "states[2] is not a partial-state record", lambda: ts.accumulate(X, corrupt))
    future = kernels.partial_states(5, 3, 1.0, 0.5)
    future["version"] = 99
    raises(ValueError, "layout version 99", lambda: kernels.finish(future))
    raises(ValueError, "sigma = 0", lambda: kernels.partial_states(5, 3, 1.0, 0.0))
    raises(TypeError, "not an array of partial states", lambda: kernels.finish(np.zeros(3)))
