using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// The exact score of Gaussian data X₀ ~ N(μ, τ² I) pushed through the forward process: X_t ~ N(α μ, v I) with
/// v = α² τ² + σ². Log-density −‖x − αμ‖²/(2v) − (D/2) log(2π v), score −(x − αμ)/v, denoiser
/// μ + (α τ²/v)(x − αμ), divergence −D/v. The closed form that samplers and likelihoods are tested against, and a
/// reference "learned" score with no memorization at all.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class GaussianScore<T> : IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly double[] _mean;

    /// <summary>Creates the model of N(μ, τ² I).</summary>
    /// <param name="mean">μ (length D ≥ 1), finite.</param>
    /// <param name="variance">τ² ≥ 0, finite (0: a single point).</param>
    public GaussianScore(ReadOnlySpan<double> mean, double variance)
    {
        Guard.RequireFloatOrDouble<T>();
        if (mean.IsEmpty)
            throw new ArgumentException("mean is empty; pass the D coordinates of the data's mean.", nameof(mean));
        Guard.RequireFinite(mean, mean.Length, nameof(mean), "mean");
        if (!(variance >= 0) || !double.IsFinite(variance))
            throw new ArgumentOutOfRangeException(nameof(variance), variance, "The data variance tau^2 must be finite and >= 0.");
        _mean = mean.ToArray();
        Variance = variance;
    }

    /// <summary>μ.</summary>
    public ReadOnlySpan<double> Mean => _mean;

    /// <summary>τ².</summary>
    public double Variance { get; }

    /// <inheritdoc/>
    public int Dimension => _mean.Length;

    /// <summary>The per-coordinate variance α² τ² + σ² of X_t at <paramref name="level"/>.</summary>
    /// <param name="level">The noise level.</param>
    public double MarginalVariance(NoiseLevel level) => level.Alpha * level.Alpha * Variance + level.Variance;

    /// <inheritdoc/>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
    {
        Guard.RequireLevel(level);
        int d = Dimension, m = Guard.RequireQueries(queries, d);
        outputs.Validate(m, d);
        outputs.RequireNoOverlap(queries);
        double a = level.Alpha, v = MarginalVariance(level), shrink = a * Variance / v;
        double logNormaliser = -0.5 * d * Math.Log(2 * Math.PI * v);
        for (int i = 0; i < m; i++)
        {
            double r2 = 0;
            for (int j = 0; j < d; j++)
            {
                int k = i * d + j;
                double r = double.CreateTruncating(queries[k]) - a * _mean[j];
                r2 += r * r;
                if (!outputs.Score.IsEmpty) outputs.Score[k] = T.CreateTruncating(-r / v);
                if (!outputs.Denoiser.IsEmpty) outputs.Denoiser[k] = T.CreateTruncating(_mean[j] + shrink * r);
            }
            if (!outputs.LogDensity.IsEmpty) outputs.LogDensity[i] = T.CreateTruncating(-0.5 * r2 / v + logNormaliser);
            if (!outputs.Divergence.IsEmpty) outputs.Divergence[i] = T.CreateTruncating(-d / v);
        }
    }
}
