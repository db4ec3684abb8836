/*
 * smoothing.cl: perturbed queries for log-domain smoothing on the device (Kernels.Numerics.Smoothing.LogSmoothedScore
 * through Kernels.Interop.OpenClBackend), so the M K perturbed rows x_q + z are made where the score kernel reads
 * them and never cross the bus.
 *
 * It reproduces the host's draws (Kernels.Numerics.Smoothing.Philox and the draw-layout contract of SmoothingDraws)
 * formula for formula, in double:
 *  1. Philox-4x32-10 (Salmon et al., SC'11; Random123's known answers are checked by the tests through philox_blocks):
 *     the 4 x 32 bits of counter (c0, c1, c2, c3) under key (k0, k1).
 *  2. Box-Muller: normal j of a unit (a draw, or an antithetic pair) k of query q comes from the block with counter
 *     (j / 4, k, q, tag) and key (seed mod 2^32, seed / 2^32); words (x0, x1) give normals 4 floor(j/4) and +1,
 *     (x2, x3) give +2 and +3, each pair as r = sqrt(-2 ln u1), (r cospi(2 b 2^-32), r sinpi(2 b 2^-32)) with
 *     u1 = (a + 1/2) 2^-32. Fixed draws use q = 0 and tag = 1, others tag = 0.
 *  3. perturb_rows: one work-item per perturbed row r of a batch (query q = r / K, draw r % K; antithetic pairs share
 *     xi, the odd draw negated) writes
 *        z = h_N xi + (h_T - h_N) B B^T xi
 *     (B the query's rank x D tangent basis, as the host's PrepareFrame computes it; rank 0 and h_N = h is the
 *     isotropic Gaussian z = h xi), then x + z in double, rounded once to REAL, exactly the host's sums in the host's
 *     order (FP_CONTRACT off: no fused multiply-add the host does not do). The normals are generated twice for a
 *     tangent kernel (once for B^T xi, once for z) rather than stored: a Philox block is cheaper than a round trip to
 *     global memory. Only log, sqrt and sinpi/cospi may differ from the host's libm, by a few ulps of double.
 * The ball and covariance kernels stay on the host (their draws are made there and uploaded with the queries).
 *
 * Compile-time parameters (the host passes -D...; the defaults let the file build on its own):
 *   REAL_IS_DOUBLE 0|1   precision of the queries and of the perturbed rows (the arithmetic is double either way,
 *                        so the device needs cl_khr_fp64)
 *   MAX_RANK       >= 1  the largest tangent dimension (private storage for B^T xi)
 */

#ifndef REAL_IS_DOUBLE
#define REAL_IS_DOUBLE 0
#endif
#ifndef MAX_RANK
#define MAX_RANK 4
#endif
#if MAX_RANK < 1
#error MAX_RANK must be at least 1
#endif

#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#pragma OPENCL FP_CONTRACT OFF

#if REAL_IS_DOUBLE
#define REAL double
#else
#define REAL float
#endif

/* Philox-4x32-10: ten rounds, the key bumped by the Weyl increments between rounds. */
static uint4 philox(uint4 c, uint2 key)
{
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            key.x += 0x9E3779B9u;
            key.y += 0xBB67AE85u;
        }
        const uint hi0 = mul_hi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
        const uint hi1 = mul_hi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
        c = (uint4)(hi1 ^ c.y ^ key.x, lo1, hi0 ^ c.w ^ key.y, lo0);
    }
    return c;
}

/* Philox.BoxMuller: (r cos 2 pi u2, r sin 2 pi u2), u1 = (a + 1/2) 2^-32 in (0, 1), u2 = b 2^-32 (exact products). */
static double2 box_muller(uint a, uint b)
{
    const double r = sqrt(-2 * log(((double)a + 0.5) * (1.0 / 4294967296.0)));
    const double t = (double)b * (2.0 / 4294967296.0);
    return (double2)(r * cospi(t), r * sinpi(t));
}

/* Normal j of the stream (unit, q, tag); `block` caches the last Philox block (index `have`) across calls in j order. */
static double normal_at(int j, uint unit, uint q, uint tag, uint2 key, int *have, double4 *block)
{
    const int b = j >> 2;
    if (b != *have) {
        const uint4 x = philox((uint4)((uint)b, unit, q, tag), key);
        const double2 first = box_muller(x.x, x.y), second = box_muller(x.z, x.w);
        *block = (double4)(first, second);
        *have = b;
    }
    const int i = j & 3;
    return i == 0 ? block->x : i == 1 ? block->y : i == 2 ? block->z : block->w;
}

__kernel void perturb_rows(__global const REAL *queries,   /* the batch's queries from first_query, row-major, D each */
                           const int d, const int k,       /* D, and K draws per query */
                           const long start,               /* global index of the batch's first row */
                           const int rows, const int first_query,
                           const uint seed_lo, const uint seed_hi,
                           const int antithetic, const int fixed_draws,
                           const double normal_scale, const double tangent_scale,
                           __global const double *frames,  /* per query of the batch: rank x D basis, frame_length doubles */
                           __global const int *ranks,      /* per query of the batch */
                           const int frame_length,         /* 0: isotropic, no frames read */
                           __global REAL *out)             /* rows x D */
{
    const int row = (int)get_global_id(0);
    if (row >= rows) return;
    const long r = start + row;
    const int q = (int)(r / k), draw = (int)(r % k);
    const int local_q = q - first_query;
    const uint unit = (uint)(antithetic ? draw >> 1 : draw);
    const double sign = antithetic && (draw & 1) ? -1.0 : 1.0;
    const uint stream_q = fixed_draws ? 0u : (uint)q, tag = fixed_draws ? 1u : 0u;
    const uint2 key = (uint2)(seed_lo, seed_hi);
    __global const REAL *x = queries + (size_t)local_q * d;
    __global REAL *target = out + (size_t)row * d;

    const int rank = frame_length > 0 ? min(ranks[local_q], MAX_RANK) : 0;
    __global const double *basis = frames + (size_t)local_q * frame_length;
    double c[MAX_RANK];
    int have = -1;
    double4 block = (double4)(0);
    /* c_t = (h_T - h_N) b_t . xi, summed in j order as the host does */
    for (int t = 0; t < rank; t++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += basis[t * d + j] * normal_at(j, unit, stream_q, tag, key, &have, &block);
        c[t] = s * (tangent_scale - normal_scale);
    }
    for (int j = 0; j < d; j++) {
        double z = normal_scale * normal_at(j, unit, stream_q, tag, key, &have, &block);
        for (int t = 0; t < rank; t++) z += c[t] * basis[t * d + j];
        /* the host negates z for the odd draw of a pair: the same value, since negation is exact */
        target[j] = (REAL)((double)x[j] + sign * z);
    }
}

/* Tests: the Philox blocks of `count` (c0, c1, c2, c3, k0, k1) sextets, four words each. */
__kernel void philox_blocks(__global const uint *input, __global uint *output, const int count)
{
    const int i = (int)get_global_id(0);
    if (i >= count) return;
    __global const uint *p = input + 6 * i;
    vstore4(philox((uint4)(p[0], p[1], p[2], p[3]), (uint2)(p[4], p[5])), i, output);
}
