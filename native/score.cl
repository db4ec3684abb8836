/*
 * score.cl: the fused, streamed empirical-score kernel of the OpenCL backend (Kernels.Interop.OpenClBackend).
 *
 * For M queries x against N training points y_i at a noise level (alpha, sigma) it computes, per query, the
 * log-sum-exp state of Kernels.Numerics.ScorePartials: with logits u_i = -|x - alpha y_i|^2 / (2 sigma^2),
 *   max    u* = max_i u_i,
 *   sum    S  = sum_i e^(u_i - u*),
 *   second Q  = sum_i e^(u_i - u*) |alpha y_i - x|^2,
 *   disp   V  = sum_i e^(u_i - u*) (alpha y_i - x)        (D values),
 * and never forms the M x N matrix. The host turns the state into outputs with ScorePartials' own finish, so the
 * CPU and OpenCL backends differ only by the rounding inside this file.
 *
 * Work is split two ways so a GPU has enough work-groups: blocks of WG queries (one work-item per query) times
 * `shards` near-equal shards of the training set (in whole point vectors; a shard may be empty). Each work-group
 * streams its shard against its queries and writes the shard's state (max relative to the shard's own maximum; the
 * e^-36 cut-off below stays valid since a shard's maximum is at most the global one); merge_shards then combines
 * the shards' states per query on the device, in ACC, so only M states cross the bus. With one shard the state is
 * written in place and there is nothing to merge. Phases, per tile of GROUPS x LANES training points:
 *  1. distances: the tile is staged through __local memory DCHUNK coordinates at a time (so any D fits; the group
 *     loads it cooperatively, then every work-item streams it against its own query), in the transposed layout
 *     [group][coordinate][lane] so one vector load serves LANES points. Differences are direct,
 *     fma(-alpha_lo, y, fma(-alpha, y, x)) with alpha split exactly into two REALs, squared by FMA: no
 *     |x|^2 - 2 alpha x.y expansion, hence no cancellation when sigma is small against |x| or a common offset;
 *  2. logits and the tile maximum; the running state (in ACC, double when the device has fp64) is rescaled once
 *     per tile when the maximum grows;
 *  3. weights e^(u - u*), their sum and their second moment, summed over the tile in REAL (at most
 *     GROUPS x LANES <= 128 terms) and added to the ACC state;
 *  4. weighted displacements over the tile's heavy points only (weight above e^-36 of the running maximum: below
 *     that no digit of a float or double result changes), vectorised over coordinates from the row-major copy
 *     of the training set, summed in REAL over the tile and added to V in ACC, which lives in global memory
 *     (one row of D per query), so D has no upper limit.
 * The range is padded up to a multiple of WG (PoCL has no non-uniform work-groups): extra work-items take part
 * in the tile loads and barriers but read a valid query and write nothing.
 *
 * Compile-time parameters (the host passes -D...; the defaults let the file build on its own):
 *   REAL_IS_DOUBLE 0|1   precision of inputs and of the inner loops
 *   ACC_IS_DOUBLE  0|1   precision of the running state (1 needs cl_khr_fp64)
 *   SPLIT_ALPHA    0|1   alpha is not exact in REAL: carry its low part (a second FMA per difference)
 *   LANES          2|4|8|16  points per vector
 *   GROUPS         vectors of points per tile (independent FMA chains per work-item)
 *   DCHUNK         coordinates per staged slice of the tile
 *   WG             work-items (queries) per work-group, the local size the host must use
 */

#ifndef REAL_IS_DOUBLE
#define REAL_IS_DOUBLE 0
#endif
#ifndef ACC_IS_DOUBLE
#define ACC_IS_DOUBLE 1
#endif
#ifndef SPLIT_ALPHA
#define SPLIT_ALPHA 1
#endif
#ifndef LANES
#define LANES 16
#endif
#ifndef GROUPS
#define GROUPS 4
#endif
#ifndef DCHUNK
#define DCHUNK 128
#endif
#ifndef WG
#define WG 16
#endif

#if REAL_IS_DOUBLE || ACC_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#if REAL_IS_DOUBLE
#define REAL double
#define IREAL long
#else
#define REAL float
#define IREAL int
#endif
#if ACC_IS_DOUBLE
#define ACC double
#else
#define ACC float
#endif

typedef CAT(REAL, LANES) realv;   /* LANES points, or LANES coordinates */
typedef CAT(IREAL, LANES) maskv;  /* comparison results of realv */
typedef CAT(ACC, LANES) accv;
#define VLOAD CAT(vload, LANES)
#define VSTORE CAT(vstore, LANES)
#define TO_ACCV CAT(convert_, CAT(ACC, LANES))

#if LANES == 2
#define IOTA ((maskv)(0, 1))
#elif LANES == 4
#define IOTA ((maskv)(0, 1, 2, 3))
#elif LANES == 8
#define IOTA ((maskv)(0, 1, 2, 3, 4, 5, 6, 7))
#elif LANES == 16
#define IOTA ((maskv)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#else
#error LANES must be 2, 4, 8 or 16
#endif

#define TILE_POINTS (GROUPS * LANES)
#if TILE_POINTS > 128
#error GROUPS * LANES must be at most 128: tile sums in REAL are bounded by gamma_128 (tests/Support/ErrorBound.cs)
#endif

/* e^-36 ~ 2.3e-16: a lighter weight changes no digit of a float or double result. */
#define NEGLIGIBLE ((REAL)2.3195228302435696e-16)

/* Horizontal reductions of a realv, as a tree (rounding error grows with log2 LANES, within the bound). */
static REAL hsum(realv v)
{
#if LANES == 16
    CAT(REAL, 8) a8 = v.lo + v.hi;
    CAT(REAL, 4) a = a8.lo + a8.hi;
#elif LANES == 8
    CAT(REAL, 4) a = v.lo + v.hi;
#elif LANES == 4
    CAT(REAL, 4) a = v;
#endif
#if LANES >= 4
    CAT(REAL, 2) b = a.lo + a.hi;
#else
    CAT(REAL, 2) b = v;
#endif
    return b.x + b.y;
}

static REAL hmax(realv v)
{
#if LANES == 16
    CAT(REAL, 8) a8 = fmax(v.lo, v.hi);
    CAT(REAL, 4) a = fmax(a8.lo, a8.hi);
#elif LANES == 8
    CAT(REAL, 4) a = fmax(v.lo, v.hi);
#elif LANES == 4
    CAT(REAL, 4) a = v;
#endif
#if LANES >= 4
    CAT(REAL, 2) b = fmax(a.lo, a.hi);
#else
    CAT(REAL, 2) b = v;
#endif
    return fmax(b.x, b.y);
}

/* c + (a + a_lo) y with one rounding per term: x - alpha y (a = -alpha, c = x) or alpha y - x (a = alpha, c = -x). */
#if SPLIT_ALPHA
#define DIFF(a, a_lo, y, c) fma((a_lo), (y), fma((a), (y), (c)))
#else
#define DIFF(a, a_lo, y, c) fma((a), (y), (c))
#endif

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void score_partials(__global const REAL *groups,   /* ceil(N/LANES) x D x LANES, zero-padded */
                    __global const REAL *rows,     /* N x D, row-major */
                    const int n, const int d,
                    __global const REAL *queries,  /* M x D, row-major */
                    const int m,
                    const REAL alpha, const REAL alpha_lo, const REAL neg_half_inv_var,
                    const int shards,
                    const int max_only,            /* 1: only the shards' maxima (a seeding pass), nothing else written */
                    __global const ACC *seed_max,  /* seed_shards x M: maxima of a seeding pass, or unused */
                    const int seed_shards,         /* 0: no seed */
                    __global ACC *out_max, __global ACC *out_sum, __global ACC *out_second, /* shards x M */
                    __global ACC *out_disp)        /* shards x M x D */
{
    __local realv tile[GROUPS * DCHUNK];

    /* work-group = shard * qblocks + query block: neighbouring groups share a shard, whose points stay in cache */
    const int lid = (int)get_local_id(0);
    const int qblocks = (m + WG - 1) / WG;
    const int group = (int)get_group_id(0);
    const int shard = group / qblocks;
    const int q = (group - shard * qblocks) * WG + lid;
    const bool active = q < m;
    /* padding work-items stream the last query so every load stays in bounds; they write nothing */
    const size_t slot = (size_t)shard * m + min(q, m - 1);
    __global const REAL *x = queries + (size_t)min(q, m - 1) * d;
    __global ACC *v = out_disp + slot * d;
    /* the shard's point vectors [gbegin, gend): near-equal parts of the vectors (empty when shards > vectors) */
    const int ngroups = (n + LANES - 1) / LANES;
    const int gbegin = (int)((long)shard * ngroups / shards), gend = (int)((long)(shard + 1) * ngroups / shards);

    /* A seed (the maxima of a max_only pass over the same shards) starts the state at the query's global maximum, so
       weights and the heavy set are relative to it rather than to this shard's running maximum: in a shard far from
       the query most points lie within 36 nats of the shard's own maximum, but few within 36 of the global one. The
       state is valid against any reference at or below the maximum (a recomputed logit may exceed the seed by a
       rounding; the rescale below then moves the reference up as usual). */
    ACC mx = -INFINITY, sum = 0, second = 0;
    for (int s = 0; s < seed_shards; s++) mx = fmax(mx, seed_max[(size_t)s * m + min(q, m - 1)]);
    /* v holds a value once the first heavy point is added (stored, not added, so no zero-fill pass over the shards'
       states); a shard with weight always has one (its maximum's weight is 1), and one without is zero-filled below */
    bool vset = false;

    for (int g0 = gbegin; g0 < gend; g0 += GROUPS) {
        realv dist[GROUPS];
        for (int g = 0; g < GROUPS; g++) dist[g] = (realv)(0);

        /* phase 1: squared distances, the tile staged DCHUNK coordinates at a time */
        for (int k0 = 0; k0 < d; k0 += DCHUNK) {
            const int kc = min(DCHUNK, d - k0);
            barrier(CLK_LOCAL_MEM_FENCE); /* everyone is done with the previous slice */
            for (int e = lid; e < GROUPS * kc; e += WG) {
                const int g = e / kc, k = e - g * kc;
                tile[g * DCHUNK + k] = g0 + g < gend
                    ? VLOAD(0, groups + ((size_t)(g0 + g) * d + k0 + k) * LANES)
                    : (realv)(0);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int k = 0; k < kc; k++) {
                const realv xk = (realv)(x[k0 + k]);
                for (int g = 0; g < GROUPS; g++) {
                    const realv t = DIFF(-alpha, -alpha_lo, tile[g * DCHUNK + k], xk);
                    dist[g] = fma(t, t, dist[g]);
                }
            }
        }

        /* phase 2: logits, with points past N (padding) at -inf, and the tile maximum */
        realv logit[GROUPS];
        REAL tmax = -INFINITY;
        for (int g = 0; g < GROUPS; g++) {
            const int valid = g0 + g < gend ? n - (g0 + g) * LANES : 0; /* lanes holding this shard's real points */
            logit[g] = select(dist[g] * neg_half_inv_var, (realv)(-INFINITY), IOTA >= (maskv)(valid));
            tmax = fmax(tmax, hmax(logit[g]));
        }
        if (max_only) {
            mx = fmax(mx, (ACC)tmax);
            continue;
        }
        if ((ACC)tmax > mx) {
            const ACC a = exp(mx - (ACC)tmax);
            if (vset)
                for (int k = 0; k < d; k++) v[k] *= a;
            sum *= a;
            second *= a;
            mx = tmax;
        }

        /* every distance so far overflowed REAL: nothing to add (the host reports the query) */
        if (mx > -INFINITY) {
            /* phase 3: weights, their sum and second moment */
            const REAL shift = (REAL)mx;
            realv w[GROUPS];
            REAL tsum = 0, tsecond = 0;
            for (int g = 0; g < GROUPS; g++) {
                w[g] = exp(logit[g] - shift);
                tsum += hsum(w[g]);
                tsecond += hsum(w[g] * dist[g]);
            }
            sum += tsum;
            second += tsecond;

            /* phase 4: weighted displacements over the heavy points, vectorised over coordinates */
            int heavy[TILE_POINTS];
            REAL hw[TILE_POINTS];
            int h = 0;
            for (int g = 0; g < GROUPS; g++) {
                if (!any(w[g] > (realv)(NEGLIGIBLE))) continue;
                REAL lanes[LANES];
                VSTORE(w[g], 0, lanes);
                /* branch-free compaction: whether a lane is heavy is data-dependent and mispredicts */
                for (int l = 0; l < LANES; l++) {
                    heavy[h] = (g0 + g) * LANES + l;
                    hw[h] = lanes[l];
                    h += lanes[l] > NEGLIGIBLE;
                }
            }
            if (active && h > 0) {
                int k = 0;
                for (; k + LANES <= d; k += LANES) {
                    const realv nx = -VLOAD(0, x + k);
                    realv s = (realv)(0);
                    for (int j = 0; j < h; j++)
                        s = fma((realv)(hw[j]), DIFF(alpha, alpha_lo, VLOAD(0, rows + (size_t)heavy[j] * d + k), nx), s);
                    VSTORE(vset ? VLOAD(0, v + k) + TO_ACCV(s) : TO_ACCV(s), 0, v + k);
                }
                for (; k < d; k++) {
                    const REAL nx = -x[k];
                    REAL s = 0;
                    for (int j = 0; j < h; j++)
                        s = fma(hw[j], DIFF(alpha, alpha_lo, rows[(size_t)heavy[j] * d + k], nx), s);
                    v[k] = vset ? v[k] + s : (ACC)s;
                }
                vset = true;
            }
        }
    }

    if (active && max_only) {
        out_max[slot] = mx;
    } else if (active) {
        if (!vset)
            for (int k = 0; k < d; k++) v[k] = 0;
        out_max[slot] = mx;
        out_sum[slot] = sum;
        out_second[slot] = second;
    }
}

/*
 * The shards' states merged into one per query, in ACC: the state is a monoid (rescale each by e^(max_s - max), add),
 * so this is exact up to ACC rounding: per term one exp (OpenCL: <= 3 ulp) and one product, then a sum over the
 * shards in shard order (deterministic). Shards holding no weight (empty, or every distance overflowed) are skipped,
 * so no e^(-inf - -inf) arises; when every shard is empty the query keeps max -inf, sum 0 as the unsharded kernel
 * leaves it. One work-group per query; its work-items share the scales through `scale` (shards ACC values) and
 * stride the D coordinates, so consecutive work-items read consecutive displacement values.
 */
__kernel void merge_shards(const int shards, const int m, const int d,
                           __global const ACC *part_max, __global const ACC *part_sum, __global const ACC *part_second,
                           __global const ACC *part_disp, /* shards x M x D */
                           __global ACC *out_max, __global ACC *out_sum, __global ACC *out_second,
                           __global ACC *out_disp,        /* M x D */
                           __local ACC *scale)            /* shards */
{
    const int q = (int)get_group_id(0);
    const int lid = (int)get_local_id(0), size = (int)get_local_size(0);

    ACC mx = -INFINITY;
    for (int s = 0; s < shards; s++)
        if (part_sum[(size_t)s * m + q] > 0) mx = fmax(mx, part_max[(size_t)s * m + q]);
    for (int s = lid; s < shards; s += size) {
        const size_t i = (size_t)s * m + q;
        scale[s] = part_sum[i] > 0 ? exp(part_max[i] - mx) : (ACC)0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    if (lid == 0) {
        ACC sum = 0, second = 0;
        for (int s = 0; s < shards; s++) {
            if (scale[s] == 0) continue;
            const size_t i = (size_t)s * m + q;
            sum += scale[s] * part_sum[i];
            second += scale[s] * part_second[i];
        }
        out_max[q] = mx;
        out_sum[q] = sum;
        out_second[q] = second;
    }
    for (int k = lid; k < d; k += size) {
        ACC acc = 0;
        for (int s = 0; s < shards; s++)
            if (scale[s] != 0) acc += scale[s] * part_disp[((size_t)s * m + q) * d + k];
        out_disp[(size_t)q * d + k] = acc;
    }
}
