using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Kernels.Numerics.Cpu;

namespace Kernels.Numerics.Models;

/// <summary>
/// Closed-form training of a random-feature score (DESIGN.md §5). The loss is quadratic in A: with
/// <c>U = ∫ w E[f fᵀ]/P</c> (P×P) and <c>V = ∫ w E[α y fᵀ]/P</c> (D×P) accumulated over the draws, gradient flow has the
/// closed form <c>A(τ)/√P = (A_0/√P − V U⁺) e^{−2τU} + V U⁺</c>.
/// </summary>
public static class RandomFeatureTrainer
{
    /// <summary>Feature rows per block: the packed block (P·R values) stays in the second-level cache for P in the thousands.</summary>
    internal const int BlockRows = 256;

    /// <summary>
    /// Accumulates U and V over the N·m_z·L draws of <paramref name="options"/> in blocks of <see cref="BlockRows"/> rows
    /// (the features of one block only: never the whole feature matrix), in the working type T with every block's sums
    /// added into double U and V, then decomposes U once. The result is the same bit for bit for any thread count.
    /// </summary>
    /// <param name="train">The training set Y (N×D).</param>
    /// <param name="features">The random features (their D must be Y's).</param>
    /// <param name="options">The time grid, draws, weighting and A_0.</param>
    public static RandomFeatureFit Fit<T>(TrainingSet<T> train, RandomFeatures features, RandomFeatureTraining? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(features);
        options ??= new RandomFeatureTraining();
        options.Validate(features.TimeMax);
        if (train.Dimension != features.Dimension)
            throw new ArgumentException(
                $"train has dimension D = {train.Dimension} but the features were drawn for D = {features.Dimension}; draw them for the training set's dimension.",
                nameof(train));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var draws = new TrainingDraws(TrainingDraws.Widen(train.Data), train.Count, train.Dimension, features, options);
        var (u, v, c) = Accumulate<T>(draws, features, options.MaxDegreeOfParallelism);
        double accumulate = clock.Elapsed.TotalSeconds;
        var (values, vectors) = SymmetricEigen.Decompose(u, features.Count);
        return new RandomFeatureFit(features, options, u, v, c, values, vectors,
            new FitTiming(accumulate, clock.Elapsed.TotalSeconds - accumulate, draws.Rows, SymmetricEigen.Implementation));
    }

    /// <summary>U (P×P), V (D×P) and the target's weighted mean square C = Σ_ρ c_ρ α²‖y‖², all in double.</summary>
    internal static unsafe (double[] U, double[] V, double C) Accumulate<T>(TrainingDraws draws, RandomFeatures features, int dop)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var panels = new FeaturePanels<T>(features);
        int p = features.Count, d = features.Dimension, w = FeaturePanels<T>.Width, q = panels.PanelCount, block = BlockRows;
        var offsets = new T[draws.Options.Nodes][];
        for (int l = 0; l < offsets.Length; l++) offsets[l] = panels.Offsets(draws.Times[l]);
        var u = new double[(long)p * p];
        var v = new double[(long)d * p];
        double c = 0;
        var g = new T[(long)(q + SymmetricRankUpdate<T>.TilePanels - 1) * block * w]; // zero panels past the last: partners in the last tile
        var inputs = new T[block * d];
        var scales = new T[block];
        var targets = new T[block * d];
        var nodes = new int[block];
        var options = new ParallelOptions { MaxDegreeOfParallelism = dop };
        long total = draws.Rows;
        for (long start = 0; start < total; start += block)
        {
            int rows = (int)Math.Min(block, total - start);
            // the block's inputs, targets and row scales √c_ρ (so that GᵀG sums c_ρ f fᵀ and (√c α y)ᵀ G sums c_ρ α y fᵀ)
            Parallel.For(0, rows, options, () => (new double[d], new double[d]), (r, _, buffers) =>
            {
                var (x, y) = buffers;
                long row = start + r;
                draws.Row(row, x, y);
                double s = Math.Sqrt(draws.RowWeight(row));
                nodes[r] = draws.NodeOf(row);
                scales[r] = T.CreateTruncating(s);
                for (int k = 0; k < d; k++)
                {
                    inputs[r * d + k] = T.CreateTruncating(x[k]);
                    targets[r * d + k] = T.CreateTruncating(s * y[k]);
                }
                return buffers;
            }, _ => { });
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < d; k++)
                {
                    double a = double.CreateTruncating(targets[r * d + k]);
                    c += a * a;
                }
            // features, scaled by √c_ρ, in panels
            int chunks = (rows + 15) / 16;
            Parallel.For(0, chunks, options, chunk =>
            {
                int r0 = chunk * 16, r1 = Math.Min(rows, r0 + 16);
                panels.Preactivate(inputs, r0, r1, r => offsets[nodes[r]], g, block);
                for (int qq = 0; qq < q; qq++)
                {
                    var span = g.AsSpan((int)(((long)qq * block + r0) * w), (r1 - r0) * w);
                    panels.Activate(span);
                    for (int r = r0; r < r1; r++)
                        System.Numerics.Tensors.TensorPrimitives.Multiply(span.Slice((r - r0) * w, w), scales[r], span.Slice((r - r0) * w, w));
                }
            });
            AccumulateTargets(g, targets, rows, d, q, w, block, v, p, options);
            SymmetricRankUpdate<T>.Update(g, q, rows, block, p, u, dop);
        }
        SymmetricRankUpdate<T>.Mirror(u, p);
        for (long i = 0; i < u.LongLength; i++) u[i] /= p;
        for (long i = 0; i < v.LongLength; i++) v[i] /= p;
        return (u, v, c);
    }

    /// <summary>V[k, ·] += Σ_r target[r, k] G[r, ·] for one block, panel by panel (in T over the block, then into double V).</summary>
    private static unsafe void AccumulateTargets<T>(T[] g, T[] targets, int rows, int d, int q, int w, int block, double[] v, int p,
        ParallelOptions options) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Parallel.For(0, q, options, panel => AccumulatePanel(g, targets, rows, d, w, block, v, p, panel));
    }

    // Tiered compilation would run a fit's first blocks (most of a small fit) in unoptimised code: the hot loops opt out
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AccumulatePanel<T>(T[] g, T[] targets, int rows, int d, int w, int block, double[] v, int p, int panel)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> sums = stackalloc T[Vector512<T>.Count];
        fixed (T* gp = g)
        fixed (T* tp = targets)
        {
            T* gq = gp + (long)panel * block * w;
            for (int k = 0; k < d; k++)
            {
                var acc = Vector512<T>.Zero;
                for (int r = 0; r < rows; r++)
                    acc = Simd<T>.Fma(Vector512.Create(tp[r * d + k]), Vector512.Load(gq + (long)r * w), acc);
                acc.CopyTo(sums);
                int count = Math.Min(w, p - panel * w);
                for (int lane = 0; lane < count; lane++)
                    v[(long)k * p + panel * w + lane] += double.CreateTruncating(sums[lane]);
            }
        }
    }
}

/// <summary>Where a fit's time went: accumulating U and V over the rows, and the eigen-decomposition.</summary>
/// <param name="AccumulateSeconds">Seconds for U and V.</param>
/// <param name="DecomposeSeconds">Seconds for U's eigen-decomposition.</param>
/// <param name="Rows">N·m_z·L feature rows.</param>
/// <param name="Decomposition">Which eigen-decomposition ran (LAPACK dsyevd or MathNet's managed one).</param>
public sealed record FitTiming(double AccumulateSeconds, double DecomposeSeconds, long Rows, string Decomposition);
