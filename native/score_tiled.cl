/*
 * score_tiled.cl: the tiled score kernel of the OpenCL backend, float32 only. The host appends it to score.cl, whose
 * types, reductions, DIFF, scale_rows and merge_kept (phase 4) it uses; its results are the same state (PartialRow)
 * as score_partials', and its shards merge with merge_shards as before.
 *
 * The distances come from a matrix product, as in the fused attention kernels: each work-group holds a block of TQ
 * queries and streams tiles of TP = TPV x LANES training points of its shard through __local memory, DK coordinates
 * at a time; each work-item accumulates a register tile of RQ queries x VP point vectors of dot products x.y, one FMA
 * per coordinate and pair. The dot products become expansion logits
 *   ~u = (|x|^2 + alpha^2 |y|^2 - 2 alpha x.y) * (-1 / (2 sigma^2)),
 * within E = bound_factor (|x| + max alpha|y|)^2 of the true logits (the host's bound_factor is the CPU expansion
 * path's, FusedScoreKernel: gamma_{D+k} of the products' and the sums' roundings). They are never used as weights:
 *  1. per query, the running reference u_ref (always at or below the query's largest true logit) rises to the tile's
 *     max(~u) - E, a proven lower bound of that logit (a seeding pass, max_only, computes it over every shard first);
 *  2. the candidates, ~u + E >= u_ref - cut, get their logit from direct differences (score.cl's DIFF, alpha split);
 *     every other point is provably below e^-cut of the largest weight and is dropped, as on the CPU;
 *  3. the candidates' weights e^(u - u_ref): the negligible ones count in S only, the kept ones go through merge_kept
 *     (the displacement and point sums and the spread, vectorised over coordinates).
 * A query whose E exceeds EXPANSION_LIMIT nats (sigma small against |x| + alpha|y|: the memorization regime), or any
 * query when the host passes expand = 0, makes every point a candidate: the direct path, exact as score_partials.
 * Phases 2-3 run one work-item per query (a loop when the group has fewer work-items than queries), reading the
 * tile's logits from __local memory; the per-query state lives in __local (scalars) and global (the D-rows) memory.
 *
 * Compile-time parameters (the host's tuner picks them per device; defaults build on their own), beyond score.cl's:
 *   TQ     queries per work-group          RQ   queries per work-item's register tile (1, 2, 4 or 8; TQ % RQ == 0)
 *   TPV    point vectors per tile          VP   point vectors per work-item's register tile (1, 2 or 4; TPV % VP == 0)
 *   STAGE  1: stage DK coordinates of the queries and the tile through __local memory at a time (a GPU); 0: read
 *          them from global memory (a CPU, whose caches stage them; no barrier inside the dot products)
 *   PEND   kept candidates a query holds before merging them (at most 128)
 *   work-items per group: (TQ / RQ) x (TPV / VP)
 */

#ifndef TQ
#define TQ 32
#endif
#ifndef RQ
#define RQ 4
#endif
#ifndef TPV
#define TPV 4
#endif
#ifndef VP
#define VP 1
#endif
#ifndef DK
#define DK 32
#endif
#ifndef STAGE
#define STAGE 1
#endif
#ifndef PEND
#define PEND 64
#endif
/* the CPU expansion path's limit: beyond it nearly every point would be a candidate anyway */
#define EXPANSION_LIMIT 4

#define TP (TPV * LANES)
#define WGQ (TQ / RQ)
#define WGP (TPV / VP)
#define WGT (WGQ * WGP)
#if TQ % RQ != 0 || TPV % VP != 0
#error TQ must be a multiple of RQ and TPV a multiple of VP
#endif
#if PEND > 128 || PEND < 1
#error PEND must be from 1 to 128: merge_kept's sums in REAL are bounded by gamma_128 (tests/Support/ErrorBound.cs)
#endif
#if TP > 128
#error TPV * LANES must be at most 128: a tile's candidates are listed in private arrays of that size
#endif

/* The register tile as named variables (acc<r>_<j>), not an array: PoCL keeps an array in memory, which costs the
   dot products most of their speed. EACH_ROW(F) expands F(0) ... F(RQ - 1); the vectors likewise. */
#if RQ == 1
#define EACH_ROW(F) F(0)
#elif RQ == 2
#define EACH_ROW(F) F(0) F(1)
#elif RQ == 4
#define EACH_ROW(F) F(0) F(1) F(2) F(3)
#elif RQ == 8
#define EACH_ROW(F) F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7)
#else
#error RQ must be 1, 2, 4 or 8
#endif
#if VP == 1
#define EACH_VECTOR(F) F(0)
#define ROW_FMAS(r) acc##r##_0 = fma(xr, y0, acc##r##_0);
#define ROW_DECLARE(r) realv acc##r##_0 = (realv)(0);
#elif VP == 2
#define EACH_VECTOR(F) F(0) F(1)
#define ROW_FMAS(r) acc##r##_0 = fma(xr, y0, acc##r##_0); acc##r##_1 = fma(xr, y1, acc##r##_1);
#define ROW_DECLARE(r) realv acc##r##_0 = (realv)(0), acc##r##_1 = (realv)(0);
#elif VP == 4
#define EACH_VECTOR(F) F(0) F(1) F(2) F(3)
#define ROW_FMAS(r) acc##r##_0 = fma(xr, y0, acc##r##_0); acc##r##_1 = fma(xr, y1, acc##r##_1); \
                    acc##r##_2 = fma(xr, y2, acc##r##_2); acc##r##_3 = fma(xr, y3, acc##r##_3);
#define ROW_DECLARE(r) realv acc##r##_0 = (realv)(0), acc##r##_1 = (realv)(0), acc##r##_2 = (realv)(0), acc##r##_3 = (realv)(0);
#else
#error VP must be 1, 2 or 4
#endif
#define DECLARE_ROW(r) ROW_DECLARE(r)
#define LOAD_VECTOR(j) const realv y##j = LOAD_Y(j);
#define STEP_ROW(r) { const realv xr = (realv)(LOAD_X(r)); ROW_FMAS(r) }
/* ~u of row r's vectors into the __local logits: (|x|^2 + alpha^2 |y|^2 - 2 alpha x.y) * (-1/(2 sigma^2)) */
#define STORE_VECTOR_OF(r, j) { \
        const int g = pj + (j) * WGP, t = qi + (r) * WGQ; \
        const realv ny = alpha_sq * VLOAD(0, norms + (size_t)min(g0 + g, gend - 1) * LANES); \
        VSTORE(fma((realv)(minus_two_alpha), acc##r##_##j, (realv)(sq_norms[t]) + ny) * neg_half_inv_var, 0, logits + t * TP + g * LANES); }
#if VP == 1
#define STORE_ROW(r) STORE_VECTOR_OF(r, 0)
#elif VP == 2
#define STORE_ROW(r) STORE_VECTOR_OF(r, 0) STORE_VECTOR_OF(r, 1)
#else
#define STORE_ROW(r) STORE_VECTOR_OF(r, 0) STORE_VECTOR_OF(r, 1) STORE_VECTOR_OF(r, 2) STORE_VECTOR_OF(r, 3)
#endif

/* Merges a query's pending kept candidates (weights against its current reference) into its state and empties the list. */
static void flush_pending(__local const int *idx, __local const REAL *w, __local int *count, __local REAL *kept,
                          __global const REAL *x, __global const REAL *rows, const int d, const REAL alpha, const REAL alpha_lo,
                          const ACC alpha_acc, __global ACC *v, __global ACC *p, __local ACC *mass, __local ACC *spread)
{
    const int h = *count;
    if (h == 0) return;
    int heavy[PEND];
    REAL hw[PEND];
    for (int j = 0; j < h; j++) {
        heavy[j] = idx[j];
        hw[j] = w[j];
    }
    ACC mass_t = *mass, spread_t = *spread;
    merge_kept(x, rows, d, heavy, hw, h, *kept, alpha, alpha_lo, alpha_acc, v, p, &mass_t, &spread_t);
    *mass = mass_t;
    *spread = spread_t;
    *count = 0;
    *kept = 0;
}

/* Moves a query's reference logit up to `to`, rescaling its state (no-op unless `to` is larger). */
static void raise_reference(__local ACC *ref, __local ACC *sum, __local ACC *mass, __local ACC *spread,
                            __global ACC *v, __global ACC *p, const int d, const ACC to)
{
    if (!(to > *ref)) return;
    const ACC a = exp(*ref - to);
    if (*mass > 0) scale_rows(v, p, d, a);
    *sum *= a;
    *mass *= a;
    *spread *= a;
    *ref = to;
}

__kernel __attribute__((reqd_work_group_size(WGT, 1, 1)))
void score_tiled(__global const REAL *groups,   /* ceil(N/LANES) x D x LANES, zero-padded */
                 __global const REAL *rows,     /* N x D, row-major */
                 __global const REAL *norms,    /* |y|^2 per point, ceil(N/LANES) x LANES (padding unread) */
                 const int n, const int d,
                 __global const REAL *queries,  /* M x D, row-major */
                 const int m,
                 const REAL alpha, const REAL alpha_lo, const REAL neg_half_inv_var,
                 const ACC alpha_acc,
                 const REAL negligible,         /* weights at or below it count in S only */
                 const ACC cut,                 /* candidates: ~u + E >= u_ref - cut */
                 const ACC bound_factor,        /* E = bound_factor (|x| + max_scaled_norm)^2 */
                 const ACC max_scaled_norm,     /* max alpha |y| over the training set */
                 const int expand,              /* 0: every point is a candidate (no bound holds) */
                 const int shards,
                 const int max_only,            /* 1: only the shards' lower bounds max(~u) - E into out_seed */
                 __global const ACC *seed_max,  /* seed_shards x M: lower bounds from a seeding pass, or unused */
                 const int seed_shards,
                 __global ACC *out_seed,        /* shards x M, written by the seeding pass only */
                 __global ACC *out_scalars,     /* shards x M x 4: reference, sum, mass, spread */
                 __global ACC *out_disp,        /* shards x M x D */
                 __global ACC *out_points)      /* shards x M x D */
{
#if STAGE
    __local REAL xs[DK * TQ];           /* the queries' slice, [coordinate][query] */
    __local realv ys[DK * TPV];         /* the tile's slice, [coordinate][point vector] */
#endif
    __local REAL logits[TQ * TP];       /* the tile's expansion logits, [query][point] */
    __local REAL sq_norms[TQ];          /* |x|^2 in REAL, for ~u */
    __local ACC bound[TQ], ref[TQ], total[TQ], mass[TQ], spread[TQ];
    __local int pend_idx[TQ * PEND], pend_n[TQ]; /* kept candidates waiting for merge_kept, per query */
    __local REAL pend_w[TQ * PEND], pend_kept[TQ];

    const int lid = (int)get_local_id(0);
    const int qi = lid / WGP, pj = lid - (lid / WGP) * WGP;
    const int qblocks = (m + TQ - 1) / TQ;
    const int group = (int)get_group_id(0);
    const int shard = group / qblocks;
    const int q0 = (group - shard * qblocks) * TQ;
    const int ngroups = (n + LANES - 1) / LANES;
    const int gbegin = (int)((long)shard * ngroups / shards), gend = (int)((long)(shard + 1) * ngroups / shards);
    const REAL minus_two_alpha = -2 * alpha;
    const REAL alpha_sq = (REAL)(alpha_acc * alpha_acc);

    /* per query: |x|^2 (in ACC), its bound E (+inf: not expandable) and the state, seeded when a seed is given */
    for (int t = lid; t < TQ; t += WGT) {
        __global const REAL *x = queries + (size_t)min(q0 + t, m - 1) * d;
        ACC s = 0;
        for (int k = 0; k < d; k++) s += (ACC)x[k] * (ACC)x[k];
        const ACC e = bound_factor * (sqrt(s) + max_scaled_norm) * (sqrt(s) + max_scaled_norm);
        sq_norms[t] = (REAL)s;
        bound[t] = expand && e <= EXPANSION_LIMIT ? e : (ACC)INFINITY;
        ACC r = -INFINITY;
        for (int j = 0; j < seed_shards; j++) r = fmax(r, seed_max[(size_t)j * m + min(q0 + t, m - 1)]);
        ref[t] = r;
        total[t] = 0;
        mass[t] = 0;
        pend_n[t] = 0;
        pend_kept[t] = 0;
        spread[t] = 0;
    }

    for (int g0 = gbegin; g0 < gend; g0 += TPV) {
        const int tile_points = min(TPV, gend - g0) * LANES;
        /* points of this tile that exist (the last vector of the set may be partly padding) */
        const int valid = min(tile_points, n - g0 * LANES);

        /* phase 1: dot products, RQ x VP register tiles */
#if !STAGE
        /* everyone is done with the previous tile's logits; no barrier then until they are written, so a CPU compiler
           keeps the register tile in registers (a value live across a barrier goes to memory per work-item) */
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        EACH_ROW(DECLARE_ROW)
#if STAGE
        /* the slices staged in __local memory, so every value read from global memory serves the whole group */
        for (int k0 = 0; k0 < d; k0 += DK) {
            const int kc = min(DK, d - k0);
            barrier(CLK_LOCAL_MEM_FENCE); /* everyone is done with the previous slice (and the previous tile's logits) */
            for (int t = 0; t < TQ; t++) {
                __global const REAL *x = queries + (size_t)min(q0 + t, m - 1) * d + k0;
                for (int k = lid; k < kc; k += WGT) xs[k * TQ + t] = x[k];
            }
            for (int g = 0; g < TPV; g++) {
                __global const REAL *y = groups + ((size_t)min(g0 + g, gend - 1) * d + k0) * LANES;
                for (int k = lid; k < kc; k += WGT) ys[k * TPV + g] = VLOAD(k, y);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int k = 0; k < kc; k++) {
#define LOAD_Y(j) ys[k * TPV + pj + (j) * WGP]
#define LOAD_X(r) xs[k * TQ + qi + (r) * WGQ]
                EACH_VECTOR(LOAD_VECTOR)
                EACH_ROW(STEP_ROW)
#undef LOAD_Y
#undef LOAD_X
            }
        }
#else
        /* straight from global memory (a CPU's caches do the staging; no barrier splits the loop) */
        {
            __global const REAL *xq = queries + (size_t)min(q0 + qi, m - 1) * d;
            __global const REAL *yq = groups + (size_t)min(g0 + pj, gend - 1) * d * LANES;
            /* rows past M repeat the last query, vectors past the shard its last vector (their results are unread) */
            const int xrows = max(0, min(RQ - 1, (m - 1 - (q0 + qi)) / WGQ));
            const int yvecs = max(0, min(VP - 1, (gend - 1 - (g0 + pj)) / WGP));
            for (int k = 0; k < d; k++) {
#define LOAD_Y(j) VLOAD(k, yq + (size_t)min((j), yvecs) * WGP * d * LANES)
#define LOAD_X(r) xq[(size_t)min((r), xrows) * WGQ * d + k]
                EACH_VECTOR(LOAD_VECTOR)
                EACH_ROW(STEP_ROW)
#undef LOAD_Y
#undef LOAD_X
            }
        }
#endif
        EACH_ROW(STORE_ROW)
        barrier(CLK_LOCAL_MEM_FENCE);

        /* phases 2-3, a work-item per query: the reference, the candidates' exact logits, weights and sums */
        for (int t = lid; t < TQ; t += WGT) {
            const int q = q0 + t;
            const ACC e = bound[t];
            REAL best = -INFINITY;
            for (int i = 0; e < INFINITY && i < valid; i++) best = fmax(best, logits[t * TP + i]);
            if (max_only) {
                if (e < INFINITY) ref[t] = fmax(ref[t], (ACC)best - e);
                continue;
            }
            if (q >= m) continue;
            const size_t slot = (size_t)shard * m + q;
            __global const REAL *x = queries + (size_t)q * d;
            __global ACC *v = out_disp + slot * d;
            __global ACC *p = out_points + slot * d;
#define FLUSH(t) flush_pending(pend_idx + (t) * PEND, pend_w + (t) * PEND, &pend_n[t], &pend_kept[t], x, rows, d, alpha, alpha_lo, \
                               alpha_acc, v, p, &mass[t], &spread[t])
#define RAISE(t, to) if ((to) > ref[t]) { FLUSH(t); raise_reference(&ref[t], &total[t], &mass[t], &spread[t], v, p, d, (to)); }
            if (e < INFINITY) RAISE(t, (ACC)best - e);
            /* candidates: every valid point when not expandable (e = +inf makes the limit -inf) */
            const ACC limit = ref[t] - cut - e;
            int cand[TP];
            REAL cand_logit[TP];
            int c = 0;
            REAL top = -INFINITY;
            for (int i = 0; i < valid; i++) {
                if (!((ACC)logits[t * TP + i] >= limit) && e < INFINITY) continue;
                /* the exact logit by direct differences, vectorised over coordinates */
                __global const REAL *y = rows + (size_t)(g0 * LANES + i) * d;
                realv sv = (realv)(0);
                int k = 0;
                for (; k + LANES <= d; k += LANES) {
                    const realv dv = DIFF(-alpha, -alpha_lo, VLOAD(0, y + k), VLOAD(0, x + k));
                    sv = fma(dv, dv, sv);
                }
                REAL dist = hsum(sv);
                for (; k < d; k++) {
                    const REAL dk = DIFF(-alpha, -alpha_lo, y[k], x[k]);
                    dist = fma(dk, dk, dist);
                }
                const REAL u = dist * neg_half_inv_var;
                cand[c] = g0 * LANES + i;
                cand_logit[c++] = u;
                top = fmax(top, u);
            }
            RAISE(t, (ACC)top);
            /* every candidate's distance overflowed REAL: nothing to add (the host reports the query) */
            if (!(ref[t] > -INFINITY) || c == 0) continue;
            /* weights: the negligible ones count in S only, the kept ones wait in the query's pending list (merged
               PEND at a time, or before the reference rises, or at the shard's end: one pass over the D-rows per batch) */
            const REAL shift = (REAL)ref[t];
            REAL light = 0;
            for (int j = 0; j < c; j++) {
                const REAL w = exp(cand_logit[j] - shift);
                if (!(w > negligible)) {
                    light += w;
                    continue;
                }
                if (pend_n[t] == PEND) FLUSH(t);
                pend_idx[t * PEND + pend_n[t]] = cand[j];
                pend_w[t * PEND + pend_n[t]] = w;
                pend_n[t]++;
                pend_kept[t] += w;
                total[t] += w;
            }
            total[t] += light;
        }
    }

    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = lid; t < TQ; t += WGT) {
        const int q = q0 + t;
        if (q >= m) continue;
        const size_t slot = (size_t)shard * m + q;
        if (max_only) {
            out_seed[slot] = ref[t];
            continue;
        }
        __global const REAL *x = queries + (size_t)q * d;
        __global ACC *v = out_disp + slot * d;
        __global ACC *p = out_points + slot * d;
        FLUSH(t);
        if (!(mass[t] > 0))
            for (int k = 0; k < d; k++) out_disp[slot * d + k] = out_points[slot * d + k] = 0;
        out_scalars[4 * slot] = ref[t];
        out_scalars[4 * slot + 1] = total[t];
        out_scalars[4 * slot + 2] = mass[t];
        out_scalars[4 * slot + 3] = spread[t];
    }
}
