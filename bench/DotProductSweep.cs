using System.Numerics;
using System.Runtime.Intrinsics;
using Kernels.Numerics;
using Kernels.Numerics.Cpu;

namespace Kernels.Bench;

/// <summary>
/// The expansion path's distance part alone, for <see cref="DistanceBenchmarks"/>: the dot products of every query with
/// every training point by the CPU backend's micro-kernel (<c>FusedScoreKernel.Dots4</c>), tile by tile and block by
/// block as the score runs them, nothing kept, so the distance part (2·N·M·D flops) can be set against the FMA ceiling.
/// M is a multiple of four here.
/// </summary>
internal static unsafe class DotProductSweep<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static int W => Vector512<T>.Count;

    /// <summary>Every query's dot products with every point of <paramref name="train"/>, on <paramref name="dop"/> threads (−1: all cores).</summary>
    public static void Run(TrainingSet<T> train, ReadOnlySpan<T> queries, int dop)
    {
        const int queryBlock = FusedScoreKernel<T>.QueryBlock, queryTile = FusedScoreKernel<T>.QueryTile;
        var layout = CpuLayout<T>.Of(train);
        int d = train.Dimension, m = queries.Length / d, groups = layout.GroupCount;
        int tileGroups = Math.Min(Math.Max(4, FusedScoreKernel<T>.TileBytes / (W * d * sizeof(T))) & ~3, groups), stride = tileGroups * W;
        int blocks = (m + queryBlock - 1) / queryBlock;
        fixed (T* px = queries)
        fixed (T* pGroups = layout.Groups)
        {
            T* x = px, g = pGroups;
            Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = dop }, b =>
            {
                var dots = new T[queryBlock * stride];
                fixed (T* pDots = dots)
                {
                    int q0 = b * queryBlock, nq = Math.Min(queryBlock, m - q0);
                    for (int g0 = 0; g0 < groups; g0 += tileGroups)
                        for (int qt = 0; qt + queryTile <= nq; qt += queryTile)
                            FusedScoreKernel<T>.Dots4(x + (long)(q0 + qt) * d, g + (long)g0 * d * W, (long)d * W, Math.Min(tileGroups, groups - g0), d,
                                pDots + qt * stride, stride);
                }
            });
        }
    }
}
