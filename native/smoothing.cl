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
 *  3. the rows: perturbed row r of a batch is draw r % K of query q = r / K (antithetic pairs share xi, the odd draw
 *     negated), x + z with
 *        z = h_N xi + (h_T - h_N) B B^T xi
 *     (B the query's rank x D tangent basis, as the host's PrepareFrame computes it; rank 0 and h_N = h is the
 *     isotropic Gaussian z = h xi), computed in double and rounded once to REAL. Three kernels, each with a flat range
 *     (which a CPU runtime vectorises across work-items and a GPU coalesces):
 *       normals               one work-item per (row, Philox block): xi into a rows x D double scratch buffer;
 *       tangent_coefficients  tangent kernels only, one per row: c_t = (h_T - h_N) b_t . xi;
 *       perturb_rows          one per (row, coordinate): x + h_N xi + sum_t c_t b_t.
 *     Every sum is the host's in the host's order (FP_CONTRACT off: no fused multiply-add the host does not do), so
 *     only log, sqrt and sinpi/cospi may differ from the host's libm, by a few ulps of double.
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

/*
 * Philox.BoxMuller on both word pairs of a block, (x0, x1) and (x2, x3): (r cos 2 pi u2, r sin 2 pi u2) with
 * u1 = (a + 1/2) 2^-32 in (0, 1), u2 = b 2^-32 (exact conversions and products), as double2 so a CPU runtime can use
 * its vector log and sinpi/cospi. Returns the four normals in order.
 */
static double4 box_muller(uint4 x)
{
    const double2 r = sqrt(-2 * log((convert_double2((uint2)(x.x, x.z)) + 0.5) * (1.0 / 4294967296.0)));
    const double2 t = convert_double2((uint2)(x.y, x.w)) * (2.0 / 4294967296.0);
    const double2 c = r * cospi(t), s = r * sinpi(t);
    return (double4)(c.x, s.x, c.y, s.y);
}

/* The draw row r of a batch is: query q = r / K, draw r % K; its unit (a draw, or an antithetic pair) and stream. */
#define ROW_STREAM(row)                                                              \
    const long r_ = start + (row);                                                   \
    const int q = (int)(r_ / k), draw = (int)(r_ % k);                               \
    const uint unit = (uint)(antithetic ? draw >> 1 : draw);                         \
    const uint stream_q = fixed_draws ? 0u : (uint)q, tag = fixed_draws ? 1u : 0u;

/* Phase 1, one work-item per (row, Philox block): normals 4b .. 4b + 3 of the row's unit into xi (rows x D). */
__kernel void normals(const int d, const int k, const long start, const int rows,
                      const uint seed_lo, const uint seed_hi, const int antithetic, const int fixed_draws,
                      __global double *xi)
{
    const int blocks = (d + 3) >> 2;
    const long g = (long)get_global_id(0);
    if (g >= (long)rows * blocks) return;
    const int row = (int)(g / blocks), b = (int)(g % blocks);
    ROW_STREAM(row)
    const double4 v = box_muller(philox((uint4)((uint)b, unit, stream_q, tag), (uint2)(seed_lo, seed_hi)));
    __global double *out = xi + (size_t)row * d + 4 * b;
    const int left = d - 4 * b;
    if (left >= 4) {
        vstore4(v, 0, out);
    } else {
        out[0] = v.x;
        if (left > 1) out[1] = v.y;
        if (left > 2) out[2] = v.z;
    }
}

/* Phase 2 (tangent kernels only), one work-item per row: c_t = (h_T - h_N) b_t . xi, summed in j order as the host does. */
__kernel void tangent_coefficients(const int d, const int k, const long start, const int rows, const int first_query,
                                   const double normal_scale, const double tangent_scale,
                                   __global const double *frames, __global const int *ranks, const int frame_length,
                                   __global const double *xi, __global double *coefficients) /* rows x MAX_RANK */
{
    const int row = (int)get_global_id(0);
    if (row >= rows) return;
    const int local_q = (int)((start + row) / k) - first_query;
    const int rank = min(ranks[local_q], MAX_RANK);
    __global const double *basis = frames + (size_t)local_q * frame_length;
    __global const double *v = xi + (size_t)row * d;
    for (int t = 0; t < rank; t++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += basis[t * d + j] * v[j];
        coefficients[row * MAX_RANK + t] = s * (tangent_scale - normal_scale);
    }
}

/* Phase 3, one work-item per (row, coordinate): x + z in double, z = h_N xi + sum_t c_t b_t (t in order), rounded once. */
__kernel void perturb_rows(__global const REAL *queries,   /* the batch's queries from first_query, row-major, D each */
                           const int d, const int k,       /* D, and K draws per query */
                           const long start,               /* global index of the batch's first row */
                           const int rows, const int first_query,
                           const int antithetic,
                           const double normal_scale,
                           __global const double *frames,  /* per query of the batch: rank x D basis, frame_length doubles */
                           __global const int *ranks,      /* per query of the batch */
                           const int frame_length,         /* 0: isotropic, no frames, ranks or coefficients read */
                           __global const double *xi,      /* rows x D, phase 1 */
                           __global const double *coefficients, /* rows x MAX_RANK, phase 2 */
                           __global REAL *out)             /* rows x D */
{
    const long g = (long)get_global_id(0);
    if (g >= (long)rows * d) return;
    const int row = (int)(g / d), j = (int)(g % d);
    const long r = start + row;
    const int local_q = (int)(r / k) - first_query, draw = (int)(r % k);
    double z = normal_scale * xi[g];
    if (frame_length > 0) {
        const int rank = min(ranks[local_q], MAX_RANK);
        __global const double *basis = frames + (size_t)local_q * frame_length;
        for (int t = 0; t < rank; t++) z += coefficients[row * MAX_RANK + t] * basis[t * d + j];
    }
    /* the host negates z for the odd draw of a pair: the same value, since negation is exact */
    if (antithetic && (draw & 1)) z = -z;
    out[g] = (REAL)((double)queries[(size_t)local_q * d + j] + z);
}

/* Tests: the Philox blocks of `count` (c0, c1, c2, c3, k0, k1) sextets, four words each. */
__kernel void philox_blocks(__global const uint *input, __global uint *output, const int count)
{
    const int i = (int)get_global_id(0);
    if (i >= count) return;
    __global const uint *p = input + 6 * i;
    vstore4(philox((uint4)(p[0], p[1], p[2], p[3]), (uint2)(p[4], p[5])), i, output);
}
