using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The direct pass of <see cref="FusedScoreKernel{T}"/>: squared distances ‖x − α y‖² by direct differences over a tile of
/// point groups (four queries at a time where it can), then each query's logits, weights and kept rows into its state.
/// </summary>
internal static unsafe partial class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private sealed partial class Job
    {
        /// <summary>
        /// The direct pass over the tile of groups [g0, g0 + ng) for the block's queries that are not refining candidates:
        /// squared distances four queries at a time where a whole tile of them goes direct (else one by one, with the same
        /// FMA chains), then each query's logits, weights and kept rows (<see cref="AddTile{TAlpha}"/>).
        /// </summary>
        private void DirectTile<TAlpha>(int q0, int nq, int g0, int ng, Scratch s, T* pGroups, T* pRows, T* pDist, T* pW)
            where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, n = Train.Count, distStride = TileGroups * W;
            int lanes = ng * W, valid = Math.Min(n - g0 * W, lanes);
            T* tile = pGroups + (long)g0 * d * W;
            var refine = s.Refine;
            for (int qt = 0; qt < nq; qt += QueryTile)
            {
                int nt = Math.Min(QueryTile, nq - qt);
                T* xt = Queries + (long)(q0 + qt) * d;
                int expanded = 0;
                for (int j = 0; j < nt; j++) expanded += refine[qt + j] ? 1 : 0;
                if (expanded == nt) continue;
                if (nt == QueryTile && expanded == 0)
                {
                    SquaredDistances4<TAlpha>(xt, tile, ng, d, Alpha, AlphaLow, pDist, distStride);
                }
                else
                {
                    // a partial or mixed tile: the direct queries one by one (the same FMA chains as the 4-query kernel)
                    for (int j = 0; j < nt; j++)
                    {
                        if (!refine[qt + j])
                            SquaredDistances<TAlpha>(xt + j * d, tile, ng, d, Alpha, AlphaLow, pDist + j * distStride);
                    }
                }
                for (int j = 0; j < nt; j++)
                {
                    if (refine[qt + j]) continue;
                    AddTile<TAlpha>(xt + j * d, s.State.Row(qt + j), pDist + j * distStride, pW, ng, valid, pRows + (long)g0 * W * d, s);
                }
            }
        }

        /// <summary>
        /// One query's tile: logits from its squared distances <paramref name="dist"/> (−∞ before lane <paramref name="first"/>
        /// and from lane <paramref name="valid"/> on),
        /// the state rescaled to a grown maximum, weights into <paramref name="weights"/>, the negligible ones into the sum only,
        /// the kept ones merged row by row from the tile's rows at <paramref name="tileRows"/>.
        /// </summary>
        private void AddTile<TAlpha>(T* x, PartialRow row, T* dist, T* weights, int ng, int valid, T* tileRows, Scratch s, int first = 0)
            where TAlpha : struct, IAlphaMode
        {
            T largest = Simd<T>.Logits(dist, weights, ng, valid, NegHalfInvVariance, first);
            if (!row.Rescale(double.CreateTruncating(largest))) return; // every distance so far overflowed T

            var (negligible, heavy) = Simd<T>.Exponentiate(weights, ng, T.CreateTruncating(row.Max), CutWeight);
            row.AddNegligible(double.CreateTruncating(negligible));
            if (heavy > 0) MergeHeavyLanes<TAlpha>(x, tileRows, weights, ng, s, row);
        }
    }

    /// <summary>dist[g·W + lane] = ‖x − α y‖² for the <paramref name="ng"/> groups at <paramref name="tile"/>.</summary>
    private static void SquaredDistances<TAlpha>(T* x, T* tile, int ng, int d, T alpha, T alphaLow, T* dist)
        where TAlpha : struct, IAlphaMode
    {
        var na = Vector512.Create(-alpha);
        var nal = Vector512.Create(-alphaLow);
        long stride = (long)d * W;
        int g = 0;
        // Four groups at once: four independent FMA chains hide the FMA latency.
        for (; g + 4 <= ng; g += 4)
        {
            T* y0 = tile + g * stride, y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k++)
            {
                var xk = Vector512.Create(x[k]);
                int o = k * W;
                a0 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y0 + o), xk, a0);
                a1 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y1 + o), xk, a1);
                a2 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y2 + o), xk, a2);
                a3 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y3 + o), xk, a3);
            }
            a0.Store(dist + g * W);
            a1.Store(dist + (g + 1) * W);
            a2.Store(dist + (g + 2) * W);
            a3.Store(dist + (g + 3) * W);
        }
        for (; g < ng; g++)
        {
            T* y = tile + g * stride;
            Vector512<T> a = default;
            for (int k = 0; k < d; k++)
                a = SquareAdd<TAlpha>(na, nal, Vector512.Load(y + k * W), Vector512.Create(x[k]), a);
            a.Store(dist + g * W);
        }
    }

    /// <summary>
    /// The micro-kernel: squared distances of four consecutive queries (rows of <paramref name="x"/>) to the tile's
    /// groups, two groups at a time: per coordinate two training vectors and four broadcasts feed eight independent
    /// FMA chains, so loads are shared and the FMA latency is hidden. dist of query j starts at dist + j·distStride.
    /// </summary>
    private static void SquaredDistances4<TAlpha>(T* x, T* tile, int ng, int d, T alpha, T alphaLow, T* dist, int distStride)
        where TAlpha : struct, IAlphaMode
    {
        var na = Vector512.Create(-alpha);
        var nal = Vector512.Create(-alphaLow);
        long stride = (long)d * W;
        T* x0 = x, x1 = x + d, x2 = x1 + d, x3 = x2 + d;
        T* d0 = dist, d1 = dist + distStride, d2 = d1 + distStride, d3 = d2 + distStride;
        int g = 0;
        for (; g + 2 <= ng; g += 2)
        {
            T* ya = tile + g * stride, yb = ya + stride;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int k = 0; k < d; k++)
            {
                var va = Vector512.Load(ya + k * W);
                var vb = Vector512.Load(yb + k * W);
                var v0 = Vector512.Create(x0[k]);
                var v1 = Vector512.Create(x1[k]);
                var v2 = Vector512.Create(x2[k]);
                var v3 = Vector512.Create(x3[k]);
                a0 = SquareAdd<TAlpha>(na, nal, va, v0, a0); b0 = SquareAdd<TAlpha>(na, nal, vb, v0, b0);
                a1 = SquareAdd<TAlpha>(na, nal, va, v1, a1); b1 = SquareAdd<TAlpha>(na, nal, vb, v1, b1);
                a2 = SquareAdd<TAlpha>(na, nal, va, v2, a2); b2 = SquareAdd<TAlpha>(na, nal, vb, v2, b2);
                a3 = SquareAdd<TAlpha>(na, nal, va, v3, a3); b3 = SquareAdd<TAlpha>(na, nal, vb, v3, b3);
            }
            int o = g * W;
            a0.Store(d0 + o); b0.Store(d0 + o + W);
            a1.Store(d1 + o); b1.Store(d1 + o + W);
            a2.Store(d2 + o); b2.Store(d2 + o + W);
            a3.Store(d3 + o); b3.Store(d3 + o + W);
        }
        if (g < ng)
        {
            T* ya = tile + g * stride;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k++)
            {
                var va = Vector512.Load(ya + k * W);
                a0 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x0[k]), a0);
                a1 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x1[k]), a1);
                a2 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x2[k]), a2);
                a3 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x3[k]), a3);
            }
            int o = g * W;
            a0.Store(d0 + o); a1.Store(d1 + o); a2.Store(d2 + o); a3.Store(d3 + o);
        }
    }

    /// <summary>acc + (x − α y)², the difference formed as in <see cref="Simd{T}.Difference{TAlpha}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> SquareAdd<TAlpha>(Vector512<T> na, Vector512<T> nal, Vector512<T> y, Vector512<T> x, Vector512<T> acc)
        where TAlpha : struct, IAlphaMode
    {
        var t = Simd<T>.Difference<TAlpha>(na, nal, y, x);
        return Simd<T>.Fma(t, t, acc);
    }
}
