using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Models;

/// <summary>
/// The random-feature score model (DESIGN.md §5): the scaled posterior mean <c>m(x, t) = A f(x, t)/√P</c> with the fixed
/// random features f of <see cref="RandomFeatures"/> and trained coefficients A (D×P), the score
/// <c>s(x, t) = (m(x, t) − x)/σ_t²</c>. As an <see cref="IScoreModel{T}"/> it takes a noise level and maps it back to its
/// time on the model's own schedule (<see cref="RandomFeatures.TimeOf"/>), so samplers, likelihoods and diagnostics run
/// it as they run the empirical score; <see cref="EvaluateAt"/> takes the time directly. Outputs: score, denoiser
/// (the estimate m/α of E[X₀ | X_t = x]) and divergence (exact: <c>(Σ_p act′(z_p) (W_x A)_pp/√P − D)/σ²</c>); no
/// log-density. Queries are evaluated in blocks of 64 rows on all cores, in the working type T.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed unsafe class RandomFeatureScore<T> : IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int BlockRows = 64;

    private readonly double[] _coefficients;
    private readonly T[] _scaled;       // A/√P in T, D×(Q·W) row-major, zero-padded
    private readonly double[] _trace;   // (W_x A)_pp/√P = Σ_k A[k,p] W_x[p,k]/√P, for the divergence
    private readonly FeaturePanels<T> _panels;

    /// <summary>The model with features <paramref name="features"/> and coefficients A (D×P row-major, kept).</summary>
    /// <param name="features">The random features.</param>
    /// <param name="coefficients">A, D×P row-major, finite.</param>
    /// <param name="tau">The training time A was taken at (recorded; +∞ for the converged model).</param>
    public RandomFeatureScore(RandomFeatures features, double[] coefficients, double tau = double.PositiveInfinity)
    {
        Guard.RequireFloatOrDouble<T>();
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(coefficients);
        int p = features.Count, d = features.Dimension;
        if (coefficients.Length != (long)d * p)
            throw new ArgumentException($"coefficients has {coefficients.Length} values but A is D×P = {d}×{p}; pass A for these features.", nameof(coefficients));
        for (int i = 0; i < coefficients.Length; i++)
            if (!double.IsFinite(coefficients[i]))
                throw new ArgumentException($"coefficients holds {coefficients[i]} at row {i / p}, column {i % p}; A must be finite.", nameof(coefficients));
        if (!(tau >= 0))
            throw new ArgumentOutOfRangeException(nameof(tau), tau, $"tau = {tau}; the training time must be >= 0 (or infinity).");
        Features = features;
        Tau = tau;
        _coefficients = coefficients;
        _panels = new FeaturePanels<T>(features);
        int padded = _panels.PaddedCount;
        double scale = 1 / Math.Sqrt(p);
        _scaled = new T[(long)d * padded];
        _trace = new double[p];
        var wx = features.Spatial;
        for (int k = 0; k < d; k++)
            for (int j = 0; j < p; j++)
            {
                double b = coefficients[(long)k * p + j] * scale;
                _scaled[(long)k * padded + j] = T.CreateTruncating(b);
                _trace[j] += b * wx[j * d + k];
            }
    }

    /// <summary>The random features.</summary>
    public RandomFeatures Features { get; }

    /// <summary>A, D×P row-major.</summary>
    public ReadOnlySpan<double> Coefficients => _coefficients;

    /// <summary>The training time of A (+∞: converged).</summary>
    public double Tau { get; }

    /// <summary>Threads, −1 for all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <inheritdoc/>
    public int Dimension => Features.Dimension;

    /// <inheritdoc/>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
    {
        Guard.RequireLevel(level);
        EvaluateAt(queries, Features.TimeOf(level), outputs);
    }

    /// <summary>Score, denoiser and/or divergence at M queries (M×D) at time <paramref name="t"/> (level from the model's schedule).</summary>
    /// <param name="queries">M×D row-major, finite.</param>
    /// <param name="t">The time, 0 &lt; t.</param>
    /// <param name="outputs">Destinations; the log-density is not available (a NotSupportedException).</param>
    public void EvaluateAt(ReadOnlySpan<T> queries, double t, ScoreOutputs<T> outputs)
    {
        var level = Features.Schedule.At(t);
        int d = Dimension;
        int m = Guard.RequireQueries(queries, d);
        outputs.Validate(m, d);
        outputs.RequireNoOverlap(queries);
        if (!outputs.LogDensity.IsEmpty)
            throw new NotSupportedException("The random-feature model has no log-density (only its score): leave LogDensity empty, or use the probability-flow likelihood, which integrates the divergence.");
        var offsets = _panels.Offsets(t);
        int blocks = (m + BlockRows - 1) / BlockRows;
        var mean = new double[(long)m * d];            // m(x, t) in double, for the score and the denoiser
        var divergence = outputs.Divergence.IsEmpty ? null : new double[m];
        var inputs = queries.ToArray();
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = MaxDegreeOfParallelism }, b =>
            Block(inputs, b * BlockRows, Math.Min(m, (b + 1) * BlockRows), offsets, mean, divergence));
        double inverseVariance = 1 / level.Variance, inverseAlpha = 1 / level.Alpha;
        var score = outputs.Score;
        var denoiser = outputs.Denoiser;
        for (long i = 0; i < (long)m * d; i++)
        {
            if (!score.IsEmpty) score[(int)i] = T.CreateTruncating((mean[i] - double.CreateTruncating(queries[(int)i])) * inverseVariance);
            if (!denoiser.IsEmpty) denoiser[(int)i] = T.CreateTruncating(mean[i] * inverseAlpha);
        }
        if (divergence is not null)
            for (int r = 0; r < m; r++) outputs.Divergence[r] = T.CreateTruncating((divergence[r] - d) * inverseVariance);
    }

    /// <summary>The scaled posterior mean m(x, t) = A f/√P at M queries, M×D in double.</summary>
    /// <param name="queries">M×D row-major, finite.</param>
    /// <param name="t">The time.</param>
    public double[] Mean(ReadOnlySpan<T> queries, double t)
    {
        Features.Schedule.At(t);
        int m = Guard.RequireQueries(queries, Dimension);
        var offsets = _panels.Offsets(t);
        var mean = new double[(long)m * Dimension];
        var inputs = queries.ToArray();
        int blocks = (m + BlockRows - 1) / BlockRows;
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = MaxDegreeOfParallelism }, b =>
            Block(inputs, b * BlockRows, Math.Min(m, (b + 1) * BlockRows), offsets, mean, null));
        return mean;
    }

    /// <summary>Rows [r0, r1): features of the block (packed), then m = (A/√P) f per row and, when asked, Σ_p act′(z_p) trace_p.</summary>
    private void Block(T[] inputs, int r0, int r1, T[] offsets, double[] mean, double[]? divergence)
    {
        int d = Dimension, w = FeaturePanels<T>.Width, q = _panels.PanelCount, rows = r1 - r0, p = Features.Count;
        var g = new T[(long)q * rows * w];
        var local = inputs.AsSpan(r0 * d, rows * d);
        _panels.Preactivate(local, 0, rows, _ => offsets, g, rows);
        if (divergence is not null)
        {
            for (int r = 0; r < rows; r++)
            {
                double sum = 0;
                for (int j = 0; j < p; j++)
                    sum += FeaturePanels<T>.Derivative(Features.Activation, double.CreateTruncating(g[((long)(j / w) * rows + r) * w + j % w])) * _trace[j];
                divergence[r0 + r] = sum;
            }
        }
        _panels.Activate(g);
        fixed (T* gp = g)
        fixed (T* bp = _scaled)
        {
            int padded = _panels.PaddedCount;
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < d; k++)
                {
                    var acc = Vector512<T>.Zero;
                    T* bk = bp + (long)k * padded;
                    for (int qq = 0; qq < q; qq++)
                        acc = Cpu.Simd<T>.Fma(Vector512.Load(bk + qq * w), Vector512.Load(gp + ((long)qq * rows + r) * w), acc);
                    mean[(long)(r0 + r) * d + k] = double.CreateTruncating(Vector512.Sum(acc));
                }
        }
    }
}
