/*
 * score.cl: the fused, streamed empirical-score kernel of the OpenCL backend (Kernels.Interop.OpenClBackend).
 *
 * For M queries x against N training points y_i at a noise level (alpha, sigma) it computes, per query, the
 * log-sum-exp state of Kernels.Numerics.PartialRow (its definition and laws are there): with logits
 * u_i = -|x - alpha y_i|^2 / (2 sigma^2), displacements d_i = alpha y_i - x and weights e_i = e^(u_i - u*),
 *   scalars  u* (max), S (sum of every weight), mass (sum of the kept weights), spread (sum of e_i |d_i - V/mass|^2)
 *   disp     V = sum e_i d_i over the kept points   (D values)
 *   points   P = sum e_i y_i over the kept points   (D values)
 * and never forms the M x N matrix. The host merges or finishes the state with PartialRow's own code, so the CPU and
 * OpenCL backends differ only by the rounding inside this file.
 *
 * Work is split two ways so a GPU has enough work-groups: blocks of WG queries (one work-item per query) times
 * `shards` near-equal shards of the training set (in whole point vectors; a shard may be empty). Each work-group
 * streams its shard against its queries and writes the shard's state; merge_shards then combines the shards' states
 * per query on the device, in ACC, so only M states cross the bus. With one shard the state is written in place and
 * there is nothing to merge. Phases, per tile of GROUPS x LANES training points:
 *  1. distances: the tile is staged through __local memory DCHUNK coordinates at a time (so any D fits; the group
 *     loads it cooperatively, then every work-item streams it against its own query), in the transposed layout
 *     [group][coordinate][lane] so one vector load serves LANES points. Differences are direct,
 *     fma(-alpha_lo, y, fma(-alpha, y, x)) with alpha split exactly into two REALs, squared by FMA: no
 *     |x|^2 - 2 alpha x.y expansion, hence no cancellation when sigma is small against |x| or a common offset;
 *  2. logits and the tile maximum; the running state (in ACC, double when the device has fp64) is rescaled once
 *     per tile when the maximum grows;
 *  3. weights e^(u - u*); those at or below the host's negligible weight (the cut-off rule of ScorePartials, passed as
 *     an argument since it depends on N) count in S only;
 *  4. the kept points' sums (merge_kept, shared with score_tiled.cl), vectorised over coordinates from the row-major
 *     copy of the training set: per slice of LANES coordinates, sum w d and sum w y over the kept points (in REAL, at
 *     most GROUPS x LANES <= 128 terms), then the squared deviations from the tile's own (rounded) mean and the
 *     deviations themselves, whose squared sum over the mass it takes off (a second pass over the same rows, in cache:
 *     the corrected two-pass algorithm), so the tile's spread is about the exact mean of its displacements; the tile
 *     merges into the running state by the parallel-variance rule, whose correction takes only a difference of means
 *     (from the displacement or the point sums, whichever are the smaller). V and P live in global memory (a row of D
 *     each per query), so D has no upper limit.
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
 *   MOMENTS        the sums the outputs need: bit 1 the displacement sums (score), bit 2 the point sums (denoiser),
 *                  7 everything (the divergence: the spread, whose merge takes the means from either; a shard's state)
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
#ifndef MOMENTS
#define MOMENTS 7
#endif
#define WANT_POINTS ((MOMENTS & 2) != 0)
#define WANT_SPREAD (MOMENTS == 7)

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

#if LANES == 16
#define ACC_HSUM(v) hsum_acc8((v).lo + (v).hi)
#elif LANES == 8
#define ACC_HSUM(v) hsum_acc8(v)
#elif LANES == 4
#define ACC_HSUM(v) ((v).x + (v).y + (v).z + (v).w)
#else
#define ACC_HSUM(v) ((v).x + (v).y)
#endif
#if LANES >= 8
static ACC hsum_acc8(CAT(ACC, 8) v)
{
    CAT(ACC, 4) a = v.lo + v.hi;
    CAT(ACC, 2) b = a.lo + a.hi;
    return b.x + b.y;
}
#endif

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

/* The parallel-variance merge of PartialRow, in one place for the tile merge and the shard merge: the correction is
   c |mu_other - mu_state|^2 with c = mass added / (mass + added); sqrt(c) goes into each mean's factor, so a state
   whose mass shrank towards underflow is never divided by alone. */
static void merge_factors(const ACC mass, const ACC added, ACC *state_factor, ACC *other_factor)
{
    *state_factor = sqrt(added / (mass + added)) / sqrt(mass);
    *other_factor = sqrt(mass / (mass + added)) / sqrt(added);
}

/* The squared gap of the means from the displacement sums (gv, norms nv) or the point sums (gp, np, times alpha^2),
   whichever are the smaller: their rounding is relative to their own size. */
static ACC merge_gap(const ACC alpha, const ACC gv, const ACC gp, const ACC nv, const ACC np)
{
    return alpha * alpha * np < nv ? alpha * alpha * gp : gv;
}

/* Scales a state's two rows of D values by a (the rescale when the reference logit grows). */
static void scale_rows(__global ACC *v, __global ACC *p, const int d, const ACC a)
{
    for (int k = 0; k < d; k++) {
        v[k] *= a;
        if (WANT_POINTS) p[k] *= a;
    }
}

/* Phase 4, shared by both score kernels: the h kept points (indices into rows, weights hw relative to the state's
   reference, their sum kept > 0) merge into the state (v, p in global memory, mass and spread): per slice of LANES
   coordinates, sum w d and sum w y over the kept points (in REAL, at most 128 terms), then the squared deviations from
   the kept points' own (rounded) mean and the deviations themselves, whose squared sum over the mass it takes off (a
   second pass over the same rows, in cache: the corrected two-pass algorithm), so their spread is about the exact mean
   of their displacements; they merge into the running state by the parallel-variance rule, whose correction takes only
   a difference of means (from the displacement or the point sums, whichever are the smaller). */
static void merge_kept(__global const REAL *x, __global const REAL *rows, const int d, const int *heavy, const REAL *hw,
                       const int h, const REAL kept, const REAL alpha, const REAL alpha_lo, const ACC alpha_acc,
                       __global ACC *v, __global ACC *p, ACC *mass_io, ACC *spread_io)
{
    const bool spreads = WANT_SPREAD, points = WANT_POINTS;
    const ACC mass = *mass_io;
    ACC spread = *spread_io;
    const REAL inv_kept = (REAL)1 / kept;
    const ACC acc_kept = (ACC)kept, acc_inv_kept = (ACC)1 / acc_kept;
    ACC f_state = 0, f_tile = 0;
    if (spreads && mass > 0) merge_factors(mass, acc_kept, &f_state, &f_tile);
    realv dev = (realv)(0), offv = (realv)(0);
    accv gapv = (accv)(0), gapp = (accv)(0), normv = (accv)(0), normp = (accv)(0);
    ACC gv = 0, gp = 0, nv = 0, np = 0;
    REAL devs = 0, offs = 0;
    int k = 0;
    for (; k + LANES <= d; k += LANES) {
        const realv nx = -VLOAD(0, x + k);
        realv sv = (realv)(0), sp = (realv)(0);
        for (int j = 0; j < h; j++) {
            const realv y = VLOAD(0, rows + (size_t)heavy[j] * d + k);
            sv = fma((realv)(hw[j]), DIFF(alpha, alpha_lo, y, nx), sv);
            if (points) sp = fma((realv)(hw[j]), y, sp);
        }
        const realv mean = sv * inv_kept;
        realv o = (realv)(0);
        for (int j = 0; spreads && j < h; j++) {
            const realv t = DIFF(alpha, alpha_lo, VLOAD(0, rows + (size_t)heavy[j] * d + k), nx) - mean;
            dev = fma((realv)(hw[j]) * t, t, dev);
            o = fma((realv)(hw[j]), t, o);
        }
        offv = fma(o, o, offv);
        if (mass > 0) {
            const accv old = VLOAD(0, v + k), oldp = VLOAD(0, p + k);
            const accv a = old * f_state, b = TO_ACCV(sv) * f_tile;
            const accv c = oldp * f_state, e = TO_ACCV(sp) * f_tile;
            gapv += (a - b) * (a - b);
            gapp += (c - e) * (c - e);
            normv += a * a + b * b;
            normp += c * c + e * e;
            VSTORE(old + TO_ACCV(sv), 0, v + k);
            VSTORE(oldp + TO_ACCV(sp), 0, p + k);
        } else {
            VSTORE(TO_ACCV(sv), 0, v + k);
            VSTORE(TO_ACCV(sp), 0, p + k);
        }
    }
    for (; k < d; k++) {
        const REAL nx = -x[k];
        REAL sv = 0, sp = 0;
        for (int j = 0; j < h; j++) {
            const REAL y = rows[(size_t)heavy[j] * d + k];
            sv = fma(hw[j], DIFF(alpha, alpha_lo, y, nx), sv);
            if (points) sp = fma(hw[j], y, sp);
        }
        const REAL mean = sv * inv_kept;
        REAL o = 0;
        for (int j = 0; spreads && j < h; j++) {
            const REAL t = DIFF(alpha, alpha_lo, rows[(size_t)heavy[j] * d + k], nx) - mean;
            devs = fma(hw[j] * t, t, devs);
            o = fma(hw[j], t, o);
        }
        offs = fma(o, o, offs);
        if (mass > 0) {
            const ACC a = v[k] * f_state, b = (ACC)sv * f_tile;
            const ACC c = p[k] * f_state, e = (ACC)sp * f_tile;
            gv += (a - b) * (a - b);
            gp += (c - e) * (c - e);
            nv += a * a + b * b;
            np += c * c + e * e;
            v[k] += sv;
            p[k] += sp;
        } else {
            v[k] = sv;
            p[k] = sp;
        }
    }
    const ACC tile_spread = fmax((ACC)0, (ACC)(hsum(dev) + devs) - (ACC)(hsum(offv) + offs) * acc_inv_kept);
    if (mass > 0) {
        spread += tile_spread + merge_gap(alpha_acc, ACC_HSUM(gapv) + gv, ACC_HSUM(gapp) + gp, ACC_HSUM(normv) + nv, ACC_HSUM(normp) + np);
    } else {
        spread = tile_spread;
    }
    *mass_io = mass + kept;
    *spread_io = spread;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void score_partials(__global const REAL *groups,   /* ceil(N/LANES) x D x LANES, zero-padded */
                    __global const REAL *rows,     /* N x D, row-major */
                    const int n, const int d,
                    __global const REAL *queries,  /* M x D, row-major */
                    const int m,
                    const REAL alpha, const REAL alpha_lo, const REAL neg_half_inv_var,
                    const ACC alpha_acc,           /* alpha in ACC, for the merge's choice of means */
                    const REAL negligible,         /* weights at or below it count in S only */
                    const int shards,
                    const int max_only,            /* 1: only the shards' maxima (a seeding pass) into out_seed */
                    __global const ACC *seed_max,  /* seed_shards x M: maxima of a seeding pass, or unused */
                    const int seed_shards,         /* 0: no seed */
                    __global ACC *out_seed,        /* shards x M, written by the seeding pass only */
                    __global ACC *out_scalars,     /* shards x M x 4: max, sum, mass, spread */
                    __global ACC *out_disp,        /* shards x M x D */
                    __global ACC *out_points)      /* shards x M x D */
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
    __global ACC *p = out_points + slot * d;
    /* the shard's point vectors [gbegin, gend): near-equal parts of the vectors (empty when shards > vectors) */
    const int ngroups = (n + LANES - 1) / LANES;
    const int gbegin = (int)((long)shard * ngroups / shards), gend = (int)((long)(shard + 1) * ngroups / shards);

    /* A seed (the maxima of a max_only pass over the same shards) starts the state at the query's global maximum, so
       weights and the kept set are relative to it rather than to this shard's running maximum: in a shard far from
       the query most points lie within the cut-off of the shard's own maximum, but few within it of the global one.
       The state is valid against any reference at or below the maximum (a recomputed logit may exceed the seed by a
       rounding; the rescale below then moves the reference up as usual). */
    ACC mx = -INFINITY, sum = 0, mass = 0, spread = 0;
    for (int s = 0; s < seed_shards; s++) mx = fmax(mx, seed_max[(size_t)s * m + min(q, m - 1)]);

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
            if (mass > 0) scale_rows(v, p, d, a);
            sum *= a;
            mass *= a;
            spread *= a;
            mx = tmax;
        }

        /* every distance so far overflowed REAL: nothing to add (the host reports the query) */
        if (mx > -INFINITY) {
            /* phase 3: weights; the negligible ones count in S only */
            const REAL shift = (REAL)mx;
            realv w[GROUPS];
            REAL light = 0;
            for (int g = 0; g < GROUPS; g++) {
                w[g] = exp(logit[g] - shift);
                light += hsum(select(w[g], (realv)(0), w[g] > (realv)(negligible)));
            }
            sum += light;

            /* phase 4: the kept points' sums and spread, vectorised over coordinates */
            int heavy[TILE_POINTS];
            REAL hw[TILE_POINTS];
            int h = 0;
            REAL kept = 0;
            for (int g = 0; g < GROUPS; g++) {
                if (!any(w[g] > (realv)(negligible))) continue;
                REAL lanes[LANES];
                VSTORE(w[g], 0, lanes);
                /* branch-free compaction: whether a lane is kept is data-dependent and mispredicts */
                for (int l = 0; l < LANES; l++) {
                    const bool keep = lanes[l] > negligible;
                    heavy[h] = (g0 + g) * LANES + l;
                    hw[h] = lanes[l];
                    kept += keep ? lanes[l] : (REAL)0;
                    h += keep;
                }
            }
            if (active && h > 0) merge_kept(x, rows, d, heavy, hw, h, kept, alpha, alpha_lo, alpha_acc, v, p, &mass, &spread);
            sum += kept;
        }
    }

    if (active && max_only) {
        out_seed[slot] = mx;
    } else if (active) {
        if (!(mass > 0))
            for (int k = 0; k < d; k++) v[k] = p[k] = 0;
        out_scalars[4 * slot] = mx;
        out_scalars[4 * slot + 1] = sum;
        out_scalars[4 * slot + 2] = mass;
        out_scalars[4 * slot + 3] = spread;
    }
}

/*
 * The shards' states merged into one per query, in ACC, by PartialRow's combine: each shard rescaled by
 * e^(max_s - max) and merged in shard order (deterministic), spreads by the parallel-variance rule. Shards holding
 * no weight (empty, or every distance overflowed) are skipped, so no e^(-inf - -inf) arises; when every shard is
 * empty the query keeps max -inf, sum 0 as the unsharded kernel leaves it. One work-group per query; its work-items
 * stride the D coordinates (each owns its coordinates of the running rows in out_disp/out_points) and reduce each
 * shard's squared gaps of means and the means' norms through `part` (four ACC per work-item); every work-item tracks
 * the scalars alike.
 */
__kernel void merge_shards(const int shards, const int m, const int d, const ACC alpha,
                           __global const ACC *part_scalars, /* shards x M x 4 */
                           __global const ACC *part_disp,    /* shards x M x D */
                           __global const ACC *part_points,  /* shards x M x D */
                           __global ACC *out_scalars,        /* M x 4 */
                           __global ACC *out_disp,           /* M x D */
                           __global ACC *out_points,         /* M x D */
                           __local ACC *part)                /* 4 x local size */
{
    const bool spreads = WANT_SPREAD;
    const int q = (int)get_group_id(0);
    const int lid = (int)get_local_id(0), size = (int)get_local_size(0);
    __global ACC *v = out_disp + (size_t)q * d;
    __global ACC *p = out_points + (size_t)q * d;

    ACC mx = -INFINITY;
    for (int s = 0; s < shards; s++)
        if (part_scalars[4 * ((size_t)s * m + q) + 1] > 0) mx = fmax(mx, part_scalars[4 * ((size_t)s * m + q)]);

    /* every work-item reaches every barrier: the loop has no early exit, a shard without weight merges as zeros */
    ACC sum = 0, mass = 0, spread = 0;
    for (int s = 0; s < shards; s++) {
        const size_t i = (size_t)s * m + q;
        const bool weighted = part_scalars[4 * i + 1] > 0;
        const ACC c = weighted ? exp(part_scalars[4 * i] - mx) : (ACC)0;
        const ACC shard_mass = part_scalars[4 * i + 2];
        const ACC added = weighted ? c * shard_mass : (ACC)0;
        const bool merge = added > 0 && mass > 0; /* the same decision in every work-item */
        __global const ACC *sv = part_disp + i * d;
        __global const ACC *sp = part_points + i * d;
        /* the shard's mean is its unscaled sums over its unscaled mass: its factor takes c and shard_mass apart */
        ACC f_state = 0, f_shard = 0;
        if (spreads && merge) {
            merge_factors(mass, added, &f_state, &f_shard);
            f_shard *= added / shard_mass;
        }
        ACC gv = 0, gp = 0, nv = 0, np = 0;
        for (int k = lid; spreads && merge && k < d; k += size) {
            const ACC a = sv[k] * f_shard, b = v[k] * f_state, e = sp[k] * f_shard, f = p[k] * f_state;
            gv += (a - b) * (a - b);
            gp += (e - f) * (e - f);
            nv += a * a + b * b;
            np += e * e + f * f;
        }
        part[4 * lid] = gv;
        part[4 * lid + 1] = gp;
        part[4 * lid + 2] = nv;
        part[4 * lid + 3] = np;
        barrier(CLK_LOCAL_MEM_FENCE);
        ACC tv = 0, tp = 0, tnv = 0, tnp = 0;
        for (int j = 0; j < size; j++) {
            tv += part[4 * j];
            tp += part[4 * j + 1];
            tnv += part[4 * j + 2];
            tnp += part[4 * j + 3];
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read part before the next shard writes it */
        if (weighted) sum += c * part_scalars[4 * i + 1];
        if (added > 0) {
            spread = merge ? spread + c * part_scalars[4 * i + 3] + merge_gap(alpha, tv, tp, tnv, tnp) : c * part_scalars[4 * i + 3];
            for (int k = lid; k < d; k += size) {
                v[k] = merge ? v[k] + c * sv[k] : c * sv[k];
                p[k] = merge ? p[k] + c * sp[k] : c * sp[k];
            }
            mass += added;
        }
    }
    if (!(mass > 0))
        for (int k = lid; k < d; k += size) v[k] = p[k] = 0;
    if (lid == 0) {
        out_scalars[4 * q] = mx;
        out_scalars[4 * q + 1] = sum;
        out_scalars[4 * q + 2] = mass;
        out_scalars[4 * q + 3] = spread;
    }
}
