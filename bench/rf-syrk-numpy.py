#!/usr/bin/python3
"""The NumPy peer of RandomFeatureBenchmarks (bench/RandomFeatureBenchmarks.cs): what a user would write for the random-feature
fit's accumulation, float32 features in blocks of 256 rows and `X.T @ X` on OpenBLAS (NumPy calls syrk for it), each block's
product added into a float64 U, at P = 2000.

  syrk        16 blocks of 256 random rows: U += X.T @ X  (flops R*P*(P+1), as the C# benchmark counts them)
  accumulate  the fit's U and V for N = 4 points in 2-D, m_z = 32, L = 33 (4224 rows): features relu(X W_x^T + c(t)) per block,
              scaled by sqrt(c_rho), U += F.T @ F, V += Y.T @ F

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/rf-syrk-numpy.py [--repeat 5]
Prints one line per case: best-of-repeat seconds and GFLOP/s.
"""
import argparse
import time

import numpy as np

P, ROWS, BLOCKS = 2000, 256, 16


def best(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    blocks = [rng.random((ROWS, P), dtype=np.float32) for _ in range(BLOCKS)]
    u = np.zeros((P, P))

    def syrk():
        for x in blocks:
            u[...] += x.T @ x

    seconds = best(syrk, args.repeat)
    flops = BLOCKS * ROWS * P * (P + 1)
    print(f"numpy syrk      P={P} rows={BLOCKS * ROWS}: {seconds * 1e3:8.1f} ms  {flops / seconds / 1e9:7.1f} GFLOP/s")

    n, d, mz, nodes, k = 4, 2, 32, 33, 128
    y = np.array([[0, 0], [5, 0], [0, 5], [2.5, 2.5]])
    wx = (rng.standard_normal((P, d)) / np.sqrt(d)).astype(np.float32)
    wt = rng.standard_normal((P, 2 * k + 1)) / np.sqrt(2 * k + 1)
    b = rng.standard_normal(P)
    t = np.linspace(1e-3, 10, nodes)
    h = t[1] - t[0]
    simpson = np.full(nodes, 2.0)
    simpson[1::2] = 4
    simpson[0] = simpson[-1] = 1
    simpson *= h / 3
    harm = np.arange(1, k + 1)
    phi = np.concatenate([np.ones((nodes, 1)), np.sin(2 * np.pi * np.outer(t, harm) / t[-1]), np.cos(2 * np.pi * np.outer(t, harm) / t[-1])], axis=1)
    offsets = (phi @ wt.T + b).astype(np.float32)  # (L, P)
    alpha, sigma = np.exp(-t), np.sqrt(-np.expm1(-2 * t))
    rows_node = n * mz
    total = rows_node * nodes

    def accumulate():
        uu = np.zeros((P, P))
        vv = np.zeros((d, P))
        for start in range(0, total, ROWS):
            idx = np.arange(start, min(start + ROWS, total))
            node = idx // rows_node
            point = (idx % rows_node) // mz
            target = alpha[node, None] * y[point]
            x = (target + sigma[node, None] * rng.standard_normal((len(idx), d))).astype(np.float32)
            scale = np.sqrt(simpson[node] / rows_node).astype(np.float32)
            f = np.maximum(x @ wx.T + offsets[node], 0) * scale[:, None]
            uu += f.T @ f
            vv += (target * scale[:, None]).astype(np.float32).T @ f
        return uu, vv

    seconds = best(accumulate, args.repeat)
    flops = total * P * (P + 1)
    print(f"numpy accumulate P={P} rows={total}: {seconds * 1e3:8.1f} ms  {flops / seconds / 1e9:7.1f} GFLOP/s (syrk flops)")


if __name__ == "__main__":
    main()
