using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The kept-row merge of <see cref="FusedScoreKernel{T}"/>: the rows whose weight is above the negligible one, summed
/// <see cref="CandidateChunk"/> at a time in T (weights, displacements, point sums, then the chunk's centred spread by the
/// corrected two-pass algorithm, each only where the outputs need it) and merged into the query's <see cref="PartialRow"/>
/// in double.
/// </summary>
internal static unsafe partial class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private sealed partial class Job
    {
        /// <summary>
        /// Merges the tile's kept lanes (weight above the negligible one) into <paramref name="row"/>, <see cref="CandidateChunk"/>
        /// rows at a time, read from the row-major copy at <paramref name="rows"/> (the tile's first point).
        /// </summary>
        private void MergeHeavyLanes<TAlpha>(T* x, T* rows, T* w, int ng, Scratch s, PartialRow row) where TAlpha : struct, IAlphaMode
        {
            var threshold = Vector512.Create(CutWeight);
            fixed (int* indices = s.HeavyIndices)
            fixed (T* weights = s.HeavyWeights)
            {
                int h = 0;
                for (int g = 0; g < ng; g++)
                {
                    ulong heavy = Vector512.GreaterThan(Vector512.Load(w + g * W), threshold).ExtractMostSignificantBits();
                    while (heavy != 0)
                    {
                        int lane = g * W + BitOperations.TrailingZeroCount(heavy);
                        heavy &= heavy - 1;
                        indices[h] = lane;
                        weights[h++] = w[lane];
                        if (h == CandidateChunk)
                        {
                            MergeRows<TAlpha>(x, rows, indices, weights, h, s, row);
                            h = 0;
                        }
                    }
                }
                if (h > 0) MergeRows<TAlpha>(x, rows, indices, weights, h, s, row);
            }
        }

        /// <summary>
        /// Merges <paramref name="count"/> ≤ <see cref="CandidateChunk"/> kept rows (indices into <paramref name="rows"/> and
        /// weights relative to the state's reference) into <paramref name="row"/>. Pass 1 sums Σ w, Σ w (α y − x) and Σ w y in T,
        /// four rows per pass over the accumulators; pass 2 sums each row's squared distance from the chunk's own mean
        /// displacement μ (the rows are still in cache), so the chunk's spread never cancels, and the deviations o = Σ w (d − μ),
        /// whose ‖o‖²/Σ w it takes off (the corrected two-pass algorithm: the spread is about the exact mean of the rounded
        /// displacements, though μ is rounded); the sums then move to double and merge by the parallel-variance rule.
        /// </summary>
        private void MergeRows<TAlpha>(T* x, T* rows, int* indices, T* weights, int count, Scratch s, PartialRow row)
            where TAlpha : struct, IAlphaMode
        {
            if (count == 0) return;
            int d = Dimension;
            T* v = s.ChunkDisplacement, p = s.ChunkPoints, o = s.ChunkOffset;
            bool points = (Needs & Moments.Points) != 0, spreads = (Needs & Moments.Spread) == Moments.Spread;
            new Span<T>(v, d).Clear();
            if (points) new Span<T>(p, d).Clear();
            if (spreads) new Span<T>(o, d).Clear();
            T mass = T.Zero;
            for (int j = 0; j < count; j++) mass += weights[j];
            double spread = 0;
            if (d >= W)
            {
                var av = Vector512.Create(Alpha);
                var avl = Vector512.Create(AlphaLow);
                var fresh = Simd<T>.TailLanes(d);
                for (int j = 0; j < count; j += 4)
                {
                    // past the last row: the chunk's first row with weight 0, a no-op
                    T* y0 = rows + (long)indices[j] * d;
                    T* y1 = j + 1 < count ? rows + (long)indices[j + 1] * d : y0;
                    T* y2 = j + 2 < count ? rows + (long)indices[j + 2] * d : y0;
                    T* y3 = j + 3 < count ? rows + (long)indices[j + 3] * d : y0;
                    T w1 = j + 1 < count ? weights[j + 1] : T.Zero, w2 = j + 2 < count ? weights[j + 2] : T.Zero, w3 = j + 3 < count ? weights[j + 3] : T.Zero;
                    if ((Needs & Moments.Points) != 0)
                        AddRows4<TAlpha, WithPoints>(x, y0, y1, y2, y3, weights[j], w1, w2, w3, d, av, avl, fresh, v, p);
                    else
                        AddRows4<TAlpha, WithoutPoints>(x, y0, y1, y2, y3, weights[j], w1, w2, w3, d, av, avl, fresh, v, p);
                }
                var inverseMass = Vector512.Create(T.One / mass);
                for (int j = 0; (Needs & Moments.Spread) == Moments.Spread && j < count; j += 4)
                {
                    T* y0 = rows + (long)indices[j] * d;
                    T* y1 = j + 1 < count ? rows + (long)indices[j + 1] * d : y0;
                    T* y2 = j + 2 < count ? rows + (long)indices[j + 2] * d : y0;
                    T* y3 = j + 3 < count ? rows + (long)indices[j + 3] * d : y0;
                    var (q0, q1, q2, q3) = SquaredDeviations4<TAlpha>(x, y0, y1, y2, y3, weights[j], j + 1 < count ? weights[j + 1] : T.Zero,
                        j + 2 < count ? weights[j + 2] : T.Zero, j + 3 < count ? weights[j + 3] : T.Zero, d, av, avl, fresh, v, inverseMass, o);
                    spread += double.CreateTruncating(weights[j]) * double.CreateTruncating(q0);
                    if (j + 1 < count) spread += double.CreateTruncating(weights[j + 1]) * double.CreateTruncating(q1);
                    if (j + 2 < count) spread += double.CreateTruncating(weights[j + 2]) * double.CreateTruncating(q2);
                    if (j + 3 < count) spread += double.CreateTruncating(weights[j + 3]) * double.CreateTruncating(q3);
                }
            }
            else
            {
                // D below one vector (only with the query-lanes kernel switched off): the same sums, a coordinate at a time
                for (int j = 0; j < count; j++)
                {
                    T* y = rows + (long)indices[j] * d;
                    for (int k = 0; k < d; k++)
                    {
                        v[k] = T.FusedMultiplyAdd(weights[j], ScalarDisplacement<TAlpha>(x[k], y[k], Alpha, AlphaLow), v[k]);
                        p[k] = T.FusedMultiplyAdd(weights[j], y[k], p[k]);
                    }
                }
                T inverseMass = T.One / mass;
                for (int j = 0; (Needs & Moments.Spread) == Moments.Spread && j < count; j++)
                {
                    T* y = rows + (long)indices[j] * d;
                    T q = T.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        T t = ScalarDisplacement<TAlpha>(x[k], y[k], Alpha, AlphaLow) - v[k] * inverseMass;
                        q = T.FusedMultiplyAdd(t, t, q);
                        o[k] = T.FusedMultiplyAdd(weights[j], t, o[k]);
                    }
                    spread += double.CreateTruncating(weights[j]) * double.CreateTruncating(q);
                }
            }
            if (!spreads)
            {
                // no spread wanted: the sums add, nothing else (no means to compare)
                row.AddKept(double.CreateTruncating(mass));
                Simd<T>.AddWidened(v, row.Displacement, d);
                if (points) Simd<T>.AddWidened(p, row.Points, d);
                return;
            }
            double offset = 0;
            for (int k = 0; k < d; k++)
            {
                double t = double.CreateTruncating(o[k]);
                offset += t * t;
            }
            spread = Math.Max(0, spread - offset / double.CreateTruncating(mass));
            Simd<T>.Widen(v, s.WideDisplacement, d);
            Simd<T>.Widen(p, s.WidePoints, d);
            row.Merge(Level.Alpha, 1, double.CreateTruncating(mass), s.WideDisplacement.AsSpan(0, d), s.WidePoints.AsSpan(0, d), spread);
        }
    }

    /// <summary>
    /// v[k] += Σ_j w_j (α y_jk − x_k) and p[k] += Σ_j w_j y_jk for four rows (a zero weight adds nothing); D ≥ one vector, the
    /// last vector overlapping the previous one, masked to not add twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRows4<TAlpha, TPoints>(T* x, T* y0, T* y1, T* y2, T* y3, T w0, T w1, T w2, T w3, int d,
        Vector512<T> av, Vector512<T> avl, Vector512<T> fresh, T* v, T* p) where TAlpha : struct, IAlphaMode where TPoints : struct, IFlag
    {
        Vector512<T> v0 = Vector512.Create(w0), v1 = Vector512.Create(w1), v2 = Vector512.Create(w2), v3 = Vector512.Create(w3);
        int k = 0;
        for (; k + W <= d; k += W) AddRows4At<TAlpha, TPoints>(x, y0, y1, y2, y3, v0, v1, v2, v3, k, av, avl, v, p);
        if (k < d) AddRows4At<TAlpha, TPoints>(x, y0, y1, y2, y3, v0 & fresh, v1 & fresh, v2 & fresh, v3 & fresh, d - W, av, avl, v, p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRows4At<TAlpha, TPoints>(T* x, T* y0, T* y1, T* y2, T* y3, Vector512<T> w0, Vector512<T> w1, Vector512<T> w2, Vector512<T> w3,
        int k, Vector512<T> av, Vector512<T> avl, T* v, T* p) where TAlpha : struct, IAlphaMode where TPoints : struct, IFlag
    {
        var nx = -Vector512.Load(x + k);
        var a = Vector512.Load(v + k);
        var r0 = Vector512.Load(y0 + k);
        var r1 = Vector512.Load(y1 + k);
        var r2 = Vector512.Load(y2 + k);
        var r3 = Vector512.Load(y3 + k);
        a = Simd<T>.Fma(w0, Simd<T>.Difference<TAlpha>(av, avl, r0, nx), a);
        a = Simd<T>.Fma(w1, Simd<T>.Difference<TAlpha>(av, avl, r1, nx), a);
        a = Simd<T>.Fma(w2, Simd<T>.Difference<TAlpha>(av, avl, r2, nx), a);
        a = Simd<T>.Fma(w3, Simd<T>.Difference<TAlpha>(av, avl, r3, nx), a);
        a.Store(v + k);
        if (TPoints.IsSet) Simd<T>.Fma(w3, r3, Simd<T>.Fma(w2, r2, Simd<T>.Fma(w1, r1, Simd<T>.Fma(w0, r0, Vector512.Load(p + k))))).Store(p + k);
    }

    /// <summary>
    /// ‖(α y_j − x) − μ‖² for four rows, μ = v·<paramref name="inverseMass"/> the chunk's mean displacement (the same
    /// differences as <see cref="AddRows4{TAlpha, TPoints}"/>, so the spread is of exactly the displacements that were summed), and
    /// o[k] += Σ_j w_j ((α y_jk − x_k) − μ_k).
    /// </summary>
    private static (T, T, T, T) SquaredDeviations4<TAlpha>(T* x, T* y0, T* y1, T* y2, T* y3, T w0, T w1, T w2, T w3, int d,
        Vector512<T> av, Vector512<T> avl, Vector512<T> fresh, T* v, Vector512<T> inverseMass, T* o) where TAlpha : struct, IAlphaMode
    {
        Vector512<T> v0 = Vector512.Create(w0), v1 = Vector512.Create(w1), v2 = Vector512.Create(w2), v3 = Vector512.Create(w3);
        Vector512<T> q0 = default, q1 = default, q2 = default, q3 = default;
        int k = 0;
        for (; k + W <= d; k += W)
        {
            var nx = -Vector512.Load(x + k);
            var mean = Vector512.Load(v + k) * inverseMass;
            var t0 = Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y0 + k), nx) - mean;
            var t1 = Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y1 + k), nx) - mean;
            var t2 = Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y2 + k), nx) - mean;
            var t3 = Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y3 + k), nx) - mean;
            q0 = Simd<T>.Fma(t0, t0, q0);
            q1 = Simd<T>.Fma(t1, t1, q1);
            q2 = Simd<T>.Fma(t2, t2, q2);
            q3 = Simd<T>.Fma(t3, t3, q3);
            Simd<T>.Fma(v3, t3, Simd<T>.Fma(v2, t2, Simd<T>.Fma(v1, t1, Simd<T>.Fma(v0, t0, Vector512.Load(o + k))))).Store(o + k);
        }
        if (k < d)
        {
            int tail = d - W;
            var nx = -Vector512.Load(x + tail);
            var mean = Vector512.Load(v + tail) * inverseMass;
            var t0 = (Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y0 + tail), nx) - mean) & fresh;
            var t1 = (Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y1 + tail), nx) - mean) & fresh;
            var t2 = (Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y2 + tail), nx) - mean) & fresh;
            var t3 = (Simd<T>.Difference<TAlpha>(av, avl, Vector512.Load(y3 + tail), nx) - mean) & fresh;
            q0 = Simd<T>.Fma(t0, t0, q0);
            q1 = Simd<T>.Fma(t1, t1, q1);
            q2 = Simd<T>.Fma(t2, t2, q2);
            q3 = Simd<T>.Fma(t3, t3, q3);
            Simd<T>.Fma(v3, t3, Simd<T>.Fma(v2, t2, Simd<T>.Fma(v1, t1, Simd<T>.Fma(v0, t0, Vector512.Load(o + tail))))).Store(o + tail);
        }
        return (Vector512.Sum(q0), Vector512.Sum(q1), Vector512.Sum(q2), Vector512.Sum(q3));
    }

    /// <summary>α y − x as <see cref="Simd{T}.Difference{TAlpha}"/> forms it, one coordinate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ScalarDisplacement<TAlpha>(T x, T y, T alpha, T alphaLow) where TAlpha : struct, IAlphaMode
    {
        T t = T.FusedMultiplyAdd(alpha, y, -x);
        return TAlpha.IsExact ? t : T.FusedMultiplyAdd(alphaLow, y, t);
    }
}
