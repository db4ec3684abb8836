"""The float64 NumPy oracle of the tests (DESIGN.md's formulas, written directly) and the error bound a result in working
precision must meet, from the conditioning of the mixture (a port of tests/Support/ErrorBound.cs: how far rounding the
logits, each difference alpha y - x, the sums and the outputs moves the exact answer, plus the points the cut-off drops).

One term is added to that port: the product alpha y and the difference x - alpha y are rounded relative to the sizes of
x and alpha y, not of their difference, so far from the origin (offsets of 1e4 here) with alpha != 1 each displacement
carries u (|x| + alpha |y_i|) per component, which moves its logit by that times |d_i| / sigma^2: the conditioning of the
problem in the rounded inputs (no formula can do better than the inputs' own resolution)."""
import math

import numpy as np

U32 = 2.0 ** -24
U64 = 2.0 ** -53


def logits(y, x, alpha, sigma):
    """u_iq = -||x_q - alpha y_i||^2 / (2 sigma^2), shape (M, N), from the differences themselves (no expansion)."""
    diff = x[:, None, :] - alpha * y[None, :, :]
    return -np.einsum("mnd,mnd->mn", diff, diff) / (2 * sigma * sigma)


def reference(y, x, alpha, sigma):
    """log-density (M,), score (M, D), denoiser (M, D), divergence (M,) in float64."""
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    n, d = y.shape
    u = logits(y, x, alpha, sigma)
    top = u.max(axis=1, keepdims=True)
    e = np.exp(u - top)
    s = e.sum(axis=1, keepdims=True)
    p = e / s
    log_density = top[:, 0] + np.log(s[:, 0]) - math.log(n) - 0.5 * d * math.log(2 * math.pi) - d * math.log(sigma)
    disp = alpha * y[None, :, :] - x[:, None, :]
    mean = np.einsum("mn,mnd->md", p, disp)
    score = mean / sigma / sigma
    denoiser = p @ y
    dev = disp - mean[:, None, :]
    spread = np.einsum("mn,mnd,mnd->m", p, dev, dev)
    divergence = spread / sigma ** 4 - d / sigma ** 2
    return log_density, score, denoiser, divergence


def _gamma(n, u):
    return n * u / (1 - n * u)


def _logsumexp(v):
    top = v.max()
    return top if top == -np.inf else top + math.log(np.exp(v - top).sum())


def _one(y, x, alpha, sigma, u, g_acc, cut):
    n, d = y.shape
    lg = logits(y, x[None, :], alpha, sigma)[0]
    u_max = lg.max()
    lse = u_max + math.log(np.exp(lg - u_max).sum())
    p = np.exp(lg - lse)
    m = p @ y
    disp = alpha * y - x
    di = np.sqrt((disp * disp).sum(1))
    size = alpha * np.sqrt((y * y).sum(1)) + math.sqrt((x * x).sum())  # what x - alpha y is rounded relative to
    delta = _gamma(d + 6, u) * np.abs(lg) + 8 * u + 2 * u * size * di / sigma / sigma
    log_high = _logsumexp(lg - lse + delta)
    log_low = _logsumexp(lg - lse - delta)
    lp = lg - lse
    up = delta - log_low
    down = delta + log_high
    with np.errstate(over="ignore"):
        rise = np.where(up < 1, np.exp(lp) * np.maximum(0, np.expm1(np.minimum(up, 1))), np.exp(lp + up))
    fall = np.exp(lp) * (1 - np.exp(-down))
    c = np.minimum(1, np.maximum(rise, fall))
    mean = p @ disp
    di2 = (disp * disp).sum(1)
    dev2 = ((disp - mean) ** 2).sum(1)
    y2 = (y * y).sum(1)
    ydev2 = ((y - m) ** 2).sum(1)
    spread = (p * dev2).sum()
    rms = math.sqrt(((p + c) * (di + size) ** 2).sum())
    point_norms = ((p + c) * np.sqrt(y2)).sum()
    move_mean = (c * np.sqrt(dev2)).sum()
    move_spread = (c * dev2).sum()
    move_point = (c * np.sqrt(ydev2)).sum()
    largest_point = math.sqrt(y2.max())
    dropped = 0.0 if math.isinf(cut) else n * math.exp(-cut)
    ld, s, den, div = reference(y, x[None, :], alpha, sigma)
    score = float(np.linalg.norm(s[0]))
    disp_error = move_mean + (g_acc + 4 * u) * rms + dropped * sigma * math.sqrt(2 * abs(u_max) + 80)
    point_error = move_point + (g_acc + 4 * u) * point_norms + dropped * (largest_point + np.linalg.norm(m))
    spread_error = (move_spread + move_mean ** 2 + 4 * u * rms * math.sqrt(spread) + g_acc * spread
                    + 2 * g_acc * min(rms, alpha * point_norms) * math.sqrt(spread))
    dropped_spread = 4 * dropped * (2 * abs(u_max) + 80) / sigma / sigma
    tiny = np.finfo(np.float32).smallest_subnormal if u == U32 else np.finfo(np.float64).smallest_subnormal
    return np.array([
        2 * (max(log_high, -log_low) + g_acc + u * abs(ld[0])),
        2 * (disp_error / sigma / sigma + 4 * u * score + tiny * math.sqrt(d)),
        2 * (point_error + 2 * u * np.linalg.norm(m) + tiny * math.sqrt(d)),
        2 * ((spread_error + 6 * u * spread) / sigma ** 4 + dropped_spread + 3 * u * d / sigma / sigma
             + u * abs(div[0]) + tiny)])


def bound(y, x, alpha, sigma, dtype):
    """Per query (M, 4): the largest error allowed in log-density, ||score||, ||denoiser|| and divergence for a result
    computed in ``dtype`` (its own rounding, sums of at most 128 terms before double, the float cut-off ln N + 18 or 36
    nats) plus the float64 oracle's own error."""
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    n, d = y.shape
    u = U32 if np.dtype(dtype) == np.float32 else U64
    cut = min(36.0, math.log(max(1, n)) + 18) if u == U32 else 36.0
    return np.array([_one(y, q, alpha, sigma, u, _gamma(128, u), cut)
                     + _one(y, q, alpha, sigma, U64, _gamma(n + d + 8, U64), math.inf) for q in x])


def assert_within(y, x, alpha, sigma, dtype, got):
    """Asserts each output in ``got`` (an Outputs) is within the bound of the oracle, query by query."""
    ld, s, den, div = reference(y, x, alpha, sigma)
    b = bound(y, x, alpha, sigma, dtype)
    errors = np.stack([np.abs(got.log_density - ld), np.linalg.norm(got.score - s, axis=1),
                       np.linalg.norm(got.denoiser - den, axis=1), np.abs(got.divergence - div)], axis=1)
    bad = np.argwhere(errors > b)
    assert bad.size == 0, (f"{len(bad)} outputs exceed the bound; first: query {bad[0][0]}, output "
                           f"{['log_density', 'score', 'denoiser', 'divergence'][bad[0][1]]}: error "
                           f"{errors[tuple(bad[0])]:.3g} > bound {b[tuple(bad[0])]:.3g}")
