using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The expansion pass of <see cref="FusedScoreKernel{T}"/> (float32, D ≥ 32): which queries may take it, the dot products
/// x·y by the register-blocked micro-kernel, the expansion logits and their lower bound, the candidates and their refinement
/// by exact direct distances.
/// </summary>
internal static unsafe partial class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private sealed partial class Job
    {
        /// <summary>
        /// Marks the block's queries whose expansion error bound E = BoundFactor (‖x‖ + α max‖y‖)² is at most
        /// <see cref="ExpansionBoundLimit"/> nats (never NaN or ∞) and keeps their ‖x‖²; true when any is marked.
        /// </summary>
        private bool MarkExpansion(int q0, int nq, double[] squaredNorms, bool[] expansion)
        {
            if (ScaledNorms is null) return false;
            bool any = false;
            for (int q = 0; q < nq; q++)
            {
                var x = new ReadOnlySpan<T>(Queries + (long)(q0 + q) * Dimension, Dimension);
                double sum = 0;
                foreach (T v in x)
                {
                    double w = double.CreateTruncating(v);
                    sum += w * w;
                }
                squaredNorms[q] = sum;
                expansion[q] = BoundFactor * Math.Pow(Math.Sqrt(sum) + MaxScaledNorm, 2) <= ExpansionBoundLimit;
                any |= expansion[q];
            }
            return any;
        }

        /// <summary>The largest α‖y‖ over the groups [g0, g0 + ng).</summary>
        private double TileScaledNorm(int g0, int ng)
        {
            T best = T.Zero;
            foreach (T v in ScaledNorms.AsSpan(g0 * W, ng * W)) best = T.Max(best, v);
            return double.CreateTruncating(best);
        }

        /// <summary>
        /// The expansion path's first phase over the groups [sg0, send): the block's dot products by the micro-kernel, turned
        /// into expansion logits ũ = (‖x‖² + α²‖y‖² − 2α x·y)·(−1/(2σ²)) stored per query (−∞ in padding lanes), within E of the
        /// true logits, and each query's lower bound L = max(ũ − E) of its largest true logit over the super-tile (E from each
        /// tile's largest α‖y‖).
        /// </summary>
        private void ExpansionPass(int q0, int nq, int sg0, int send, Scratch s, T* pGroups, T* pDist, T* pExpanded)
        {
            int d = Dimension, distStride = TileGroups * W, superLanes = SuperGroups * W;
            var expansion = s.Expansion;
            for (int q = 0; q < nq; q++) s.Lower[q] = double.NegativeInfinity;
            var twoAlpha = Vector512.Create(T.CreateTruncating(2 * Level.Alpha));
            var scale = Vector512.Create(NegHalfInvVariance);
            var minusInf = Vector512.Create(T.NegativeInfinity);
            fixed (T* pNy = ScaledSquaredNorms)
            {
                for (int g0 = sg0; g0 < send; g0 += TileGroups)
                {
                    int ng = Math.Min(TileGroups, send - g0);
                    T* tile = pGroups + (long)g0 * d * W;
                    // the block's dot products: the tile (200 kB at D = 784) stays in L2 while every query of the block passes it
                    for (int qt = 0; qt < nq; qt += QueryTile)
                    {
                        int nt = Math.Min(QueryTile, nq - qt);
                        T* xt = Queries + (long)(q0 + qt) * d;
                        int expanded = 0;
                        for (int j = 0; j < nt; j++) expanded += expansion[qt + j] ? 1 : 0;
                        if (expanded == 0) continue;
                        if (nt == QueryTile && expanded == QueryTile)
                            Dots4(xt, tile, (long)d * W, ng, d, pDist + qt * distStride, distStride);
                        else
                            for (int j = 0; j < nt; j++)
                                if (expansion[qt + j]) Dots1(xt + j * d, tile, (long)d * W, ng, d, pDist + (qt + j) * distStride);
                    }
                    double tileNorm = TileScaledNorm(g0, ng);
                    for (int q = 0; q < nq; q++)
                    {
                        if (!expansion[q]) continue;
                        var nx = Vector512.Create(T.CreateTruncating(s.SquaredNorms[q]));
                        T* dots = pDist + q * distStride;
                        T* estimates = pExpanded + (long)q * superLanes + (g0 - sg0) * W;
                        var best = minusInf;
                        for (int g = 0; g < ng; g++)
                        {
                            int o = g * W;
                            // padding lanes have α²‖y‖² = +∞, so ũ = −∞ there without a select
                            var u = Simd<T>.Fma(-twoAlpha, Vector512.Load(dots + o), nx + Vector512.Load(pNy + g0 * W + o)) * scale;
                            u.Store(estimates + o);
                            best = Vector512.Max(best, u);
                        }
                        double bound = BoundFactor * Math.Pow(Math.Sqrt(s.SquaredNorms[q]) + tileNorm, 2);
                        s.Lower[q] = Math.Max(s.Lower[q], double.CreateTruncating(Simd<T>.MaxOf(best)) - bound);
                    }
                }
            }
        }

        /// <summary>The points of the super-tile [sg0, send) that query <paramref name="q"/> would refine (see <see cref="RefineCandidates"/>).</summary>
        private int CountCandidates(Scratch s, int q, int sg0, int send, T* estimates)
        {
            var limit = Vector512.Create(CandidateLimit(s, q));
            int count = 0, lanes = (send - sg0) * W;
            for (int o = 0; o < lanes; o += W)
                count += BitOperations.PopCount(Vector512.GreaterThanOrEqual(Vector512.Load(estimates + o), limit).ExtractMostSignificantBits());
            return count;
        }

        /// <summary>The expansion logit from which a point is a candidate: max(L, running maximum) − cut − E (E the query's bound over the set).</summary>
        private T CandidateLimit(Scratch s, int q) =>
            T.CreateTruncating(Math.Max(s.Lower[q], s.State.Row(q).Max) - Cut - QueryBound(s, q));

        /// <summary>E of query <paramref name="q"/> over the whole set: the largest error of any of its expansion logits.</summary>
        private double QueryBound(Scratch s, int q) => BoundFactor * Math.Pow(Math.Sqrt(s.SquaredNorms[q]) + MaxScaledNorm, 2);

        /// <summary>
        /// The expansion path's second phase for query <paramref name="q"/> over the super-tile [sg0, send): the points with
        /// ũ + E ≥ max(L, running maximum) − cut (E the query's bound over the whole set) get their exact logits from
        /// direct-difference distances, then weights, sums and weighted displacements, <see cref="CandidateChunk"/> points at a
        /// time (each chunk's rows are read four at a time, and its sums are formed in T before the state moves to double).
        /// Every other point is below e^{−cut} of the maximum and is dropped.
        /// </summary>
        private void RefineCandidates<TAlpha>(int q, T* x, Scratch s, int sg0, int send, T* estimates, T* pRows)
            where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, lanes = (send - sg0) * W, first = sg0 * W;
            var limit = Vector512.Create(CandidateLimit(s, q));
            var na = Vector512.Create(-Alpha);
            var nal = Vector512.Create(-AlphaLow);
            fixed (int* chunk = s.ChunkIndices)
            fixed (T* distances = s.ChunkDistances)
            fixed (T* logits = s.ChunkLogits)
            {
                int c = 0;
                for (int o = 0; o <= lanes; o += W)
                {
                    if (o < lanes)
                    {
                        ulong bits = Vector512.GreaterThanOrEqual(Vector512.Load(estimates + o), limit).ExtractMostSignificantBits();
                        while (bits != 0)
                        {
                            chunk[c++] = first + o + BitOperations.TrailingZeroCount(bits);
                            bits &= bits - 1;
                        }
                        if (c + W <= CandidateChunk) continue; // room for another group's candidates
                    }
                    if (c == 0) continue;
                    int j = 0;
                    for (; j + 4 <= c; j += 4)
                    {
                        DirectDistances4<TAlpha>(x, pRows + (long)chunk[j] * d, pRows + (long)chunk[j + 1] * d, pRows + (long)chunk[j + 2] * d,
                            pRows + (long)chunk[j + 3] * d, d, na, nal, Alpha, AlphaLow,
                            out distances[j], out distances[j + 1], out distances[j + 2], out distances[j + 3]);
                    }
                    for (; j < c; j++)
                        distances[j] = DirectDistance<TAlpha>(x, pRows + (long)chunk[j] * d, d, na, nal, Alpha, AlphaLow);
                    int ng = (c + W - 1) / W;
                    for (j = c; j < ng * W; j++) distances[j] = T.Zero;
                    T largest = Simd<T>.Logits(distances, logits, ng, c, NegHalfInvVariance);
                    var row = s.State.Row(q);
                    if (row.Rescale(double.CreateTruncating(largest)))
                    {
                        var (negligible, _) = Simd<T>.Exponentiate(logits, ng, T.CreateTruncating(row.Max), CutWeight);
                        row.AddNegligible(double.CreateTruncating(negligible));
                        int h = 0;
                        for (j = 0; j < c; j++)
                        {
                            if (!(logits[j] > CutWeight)) continue;
                            s.HeavyIndices[h] = chunk[j];
                            s.HeavyWeights[h++] = logits[j];
                        }
                        fixed (int* heavyIndices = s.HeavyIndices)
                        fixed (T* heavyWeights = s.HeavyWeights)
                            MergeRows<TAlpha>(x, pRows, heavyIndices, heavyWeights, h, s, row);
                    }
                    c = 0;
                }
            }
        }
    }

    /// <summary>dots[g·W + lane] = x·y for the <paramref name="ng"/> groups at <paramref name="tile"/> (group stride <paramref name="gs"/>), four groups per step.</summary>
    private static void Dots1(T* x, T* tile, long gs, int ng, int d, T* dots)
    {
        int g = 0;
        for (; g + 4 <= ng; g += 4)
        {
            T* y0 = tile + g * gs, y1 = y0 + gs, y2 = y1 + gs, y3 = y2 + gs;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k++)
            {
                var xk = Vector512.Create(x[k]);
                int o = k * W;
                a0 = Simd<T>.Fma(Vector512.Load(y0 + o), xk, a0);
                a1 = Simd<T>.Fma(Vector512.Load(y1 + o), xk, a1);
                a2 = Simd<T>.Fma(Vector512.Load(y2 + o), xk, a2);
                a3 = Simd<T>.Fma(Vector512.Load(y3 + o), xk, a3);
            }
            T* o0 = dots + g * W;
            a0.Store(o0); a1.Store(o0 + W); a2.Store(o0 + 2 * W); a3.Store(o0 + 3 * W);
        }
        for (; g < ng; g++)
        {
            T* y = tile + g * gs;
            Vector512<T> a = default;
            for (int k = 0; k < d; k++)
                a = Simd<T>.Fma(Vector512.Load(y + k * W), Vector512.Create(x[k]), a);
            a.Store(dots + g * W);
        }
    }

    /// <summary>
    /// The expansion path's micro-kernel: x·y for four queries (rows of <paramref name="x"/>) and the tile's groups (stride
    /// <paramref name="gs"/>), four groups per step: per coordinate four training vectors and four broadcasts feed sixteen
    /// independent FMA chains held in registers, one FMA per coordinate and pair (its share of the FMA ceiling:
    /// README.md, Performance; bench/DistanceBenchmarks.cs measures it alone). dots of query j start at dots + j·stride.
    /// </summary>
    internal static void Dots4(T* x, T* tile, long gs, int ng, int d, T* dots, int stride)
    {
        T* x0 = x, x1 = x + d, x2 = x1 + d, x3 = x2 + d;
        int g = 0;
        for (; g + 4 <= ng; g += 4)
        {
            T* ya = tile + g * gs, yb = ya + gs, yc = yb + gs, yd = yc + gs;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default;
            Vector512<T> e0 = default, e1 = default, e2 = default, e3 = default;
            for (int k = 0; k < d; k++)
            {
                int o = k * W;
                var va = Vector512.Load(ya + o);
                var vb = Vector512.Load(yb + o);
                var vc = Vector512.Load(yc + o);
                var vd = Vector512.Load(yd + o);
                var v = Vector512.Create(x0[k]);
                a0 = Simd<T>.Fma(va, v, a0); b0 = Simd<T>.Fma(vb, v, b0); c0 = Simd<T>.Fma(vc, v, c0); e0 = Simd<T>.Fma(vd, v, e0);
                v = Vector512.Create(x1[k]);
                a1 = Simd<T>.Fma(va, v, a1); b1 = Simd<T>.Fma(vb, v, b1); c1 = Simd<T>.Fma(vc, v, c1); e1 = Simd<T>.Fma(vd, v, e1);
                v = Vector512.Create(x2[k]);
                a2 = Simd<T>.Fma(va, v, a2); b2 = Simd<T>.Fma(vb, v, b2); c2 = Simd<T>.Fma(vc, v, c2); e2 = Simd<T>.Fma(vd, v, e2);
                v = Vector512.Create(x3[k]);
                a3 = Simd<T>.Fma(va, v, a3); b3 = Simd<T>.Fma(vb, v, b3); c3 = Simd<T>.Fma(vc, v, c3); e3 = Simd<T>.Fma(vd, v, e3);
            }
            T* p0 = dots + g * W, p1 = p0 + stride, p2 = p1 + stride, p3 = p2 + stride;
            a0.Store(p0); b0.Store(p0 + W); c0.Store(p0 + 2 * W); e0.Store(p0 + 3 * W);
            a1.Store(p1); b1.Store(p1 + W); c1.Store(p1 + 2 * W); e1.Store(p1 + 3 * W);
            a2.Store(p2); b2.Store(p2 + W); c2.Store(p2 + 2 * W); e2.Store(p2 + 3 * W);
            a3.Store(p3); b3.Store(p3 + W); c3.Store(p3 + 2 * W); e3.Store(p3 + 3 * W);
        }
        for (; g < ng; g++)
        {
            for (int j = 0; j < QueryTile; j++)
                Dots1(x + j * d, tile + g * gs, gs, 1, d, dots + j * stride + g * W);
        }
    }

    /// <summary>‖x − α y‖² of one row-major point by direct differences, vectorised over coordinates (the candidates' exact distance).</summary>
    private static T DirectDistance<TAlpha>(T* x, T* y, int d, Vector512<T> na, Vector512<T> nal, T alpha, T alphaLow)
        where TAlpha : struct, IAlphaMode
    {
        Vector512<T> acc = default;
        int k = 0;
        for (; k + W <= d; k += W)
        {
            var t = Simd<T>.Difference<TAlpha>(na, nal, Vector512.Load(y + k), Vector512.Load(x + k));
            acc = Simd<T>.Fma(t, t, acc);
        }
        return Tail<TAlpha>(x, y, k, d, Vector512.Sum(acc), alpha, alphaLow);
    }

    /// <summary>
    /// <see cref="DirectDistance{TAlpha}"/> of four rows at once, each with the same operations in the same order (so the
    /// same bits): four independent loads streams and FMA chains.
    /// </summary>
    private static void DirectDistances4<TAlpha>(T* x, T* y0, T* y1, T* y2, T* y3, int d, Vector512<T> na, Vector512<T> nal,
        T alpha, T alphaLow, out T d0, out T d1, out T d2, out T d3) where TAlpha : struct, IAlphaMode
    {
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
        int k = 0;
        for (; k + W <= d; k += W)
        {
            var xk = Vector512.Load(x + k);
            var t0 = Simd<T>.Difference<TAlpha>(na, nal, Vector512.Load(y0 + k), xk);
            var t1 = Simd<T>.Difference<TAlpha>(na, nal, Vector512.Load(y1 + k), xk);
            var t2 = Simd<T>.Difference<TAlpha>(na, nal, Vector512.Load(y2 + k), xk);
            var t3 = Simd<T>.Difference<TAlpha>(na, nal, Vector512.Load(y3 + k), xk);
            a0 = Simd<T>.Fma(t0, t0, a0);
            a1 = Simd<T>.Fma(t1, t1, a1);
            a2 = Simd<T>.Fma(t2, t2, a2);
            a3 = Simd<T>.Fma(t3, t3, a3);
        }
        d0 = Tail<TAlpha>(x, y0, k, d, Vector512.Sum(a0), alpha, alphaLow);
        d1 = Tail<TAlpha>(x, y1, k, d, Vector512.Sum(a1), alpha, alphaLow);
        d2 = Tail<TAlpha>(x, y2, k, d, Vector512.Sum(a2), alpha, alphaLow);
        d3 = Tail<TAlpha>(x, y3, k, d, Vector512.Sum(a3), alpha, alphaLow);
    }

    /// <summary>sum + Σ_{k ≥ k0} (x_k − α y_k)², the scalar tail of a direct distance.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Tail<TAlpha>(T* x, T* y, int k0, int d, T sum, T alpha, T alphaLow) where TAlpha : struct, IAlphaMode
    {
        for (int k = k0; k < d; k++)
        {
            T t = T.FusedMultiplyAdd(-alpha, y[k], x[k]);
            if (!TAlpha.IsExact) t = T.FusedMultiplyAdd(-alphaLow, y[k], t);
            sum = T.FusedMultiplyAdd(t, t, sum);
        }
        return sum;
    }
}
