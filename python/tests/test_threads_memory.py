"""Threads share one TrainingSet (the GIL is released in every native call); create/free cycles do not grow memory."""
import gc
import threading
import time

import numpy as np

import kernels


def test_eight_threads_sharing_one_set_agree_with_serial_results():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(2000, 16))
    queries = [rng.normal(size=(64, 16)) for _ in range(8)]
    with kernels.TrainingSet(y, threads=1) as ts:
        serial = [ts.evaluate(q, 0.9, 0.4) for q in queries]
        results = [None] * 8
        errors = []
        start = threading.Barrier(8)

        def work(i):
            try:
                start.wait()
                for _ in range(5):
                    results[i] = ts.evaluate(queries[i], 0.9, 0.4)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    for got, expected in zip(results, serial):
        for a, b in zip(got[:4], expected[:4]):
            np.testing.assert_array_equal(a, b)  # bit for bit: results do not depend on threads


def test_native_calls_release_the_gil():
    # while one thread is inside a long native call (about 0.1 s alone on a quiet core), another keeps running Python:
    # a held GIL would leave it one or two ticks (the loop's first check), released it ticks every millisecond or so
    rng = np.random.default_rng(4)
    with kernels.TrainingSet(rng.normal(size=(20000, 64)), threads=1) as ts:
        x = rng.normal(size=(1000, 64))
        ts.score(x[:10], 1.0, 1.0)
        ticks = []
        worker = threading.Thread(target=lambda: ts.score(x, 1.0, 1.0))
        worker.start()
        while worker.is_alive():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
        worker.join()
    assert len(ticks) >= 5, f"only {len(ticks)} ticks of the main thread during the native call: the GIL was held"


def _resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_ten_thousand_create_free_cycles_do_not_grow_memory():
    y = np.random.default_rng(5).normal(size=(50, 4))
    x = y[:3]

    def cycles(count):
        for i in range(count):
            if i % 2:
                with kernels.TrainingSet(y) as ts:  # released by close()
                    ts.score(x, 1.0, 0.5)
            else:
                kernels.TrainingSet(y).score(x, 1.0, 0.5)  # released by garbage collection
        gc.collect()

    cycles(2000)  # warm: the runtime's heaps and the handle table reach their working size
    before = _resident_bytes()
    cycles(10000)
    grown = _resident_bytes() - before
    # a leak of the set (50 x 4 doubles, its backend, its handle) would be >= 1.6 kB a cycle, 16 MB over 10 000
    assert grown < 4 * 2 ** 20, f"resident memory grew by {grown / 2 ** 20:.1f} MiB over 10 000 cycles"
