namespace Kernels.Numerics;

/// <summary>
/// A noise level (α, σ) of the forward process <c>X_t = α X_0 + σ Z</c>, <c>Z ~ N(0, I)</c>.
/// Validated on construction: α and σ finite and strictly positive.
/// </summary>
public readonly record struct NoiseLevel
{
    /// <summary>The signal scale α &gt; 0.</summary>
    public double Alpha { get; }

    /// <summary>The noise standard deviation σ &gt; 0.</summary>
    public double Sigma { get; }

    /// <summary>Creates a noise level; throws when α or σ is not finite and positive.</summary>
    /// <param name="alpha">Signal scale α, finite and &gt; 0.</param>
    /// <param name="sigma">Noise standard deviation σ, finite and &gt; 0.</param>
    public NoiseLevel(double alpha, double sigma)
    {
        if (!(alpha > 0) || !double.IsFinite(alpha))
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha,
                $"alpha must be finite and > 0 (got {alpha}); a schedule's alpha vanishes only in the limit t → ∞: use a finite t.");
        if (!(sigma > 0) || !double.IsFinite(sigma))
            throw new ArgumentOutOfRangeException(nameof(sigma), sigma,
                $"sigma must be finite and > 0 (got {sigma}); the empirical score is singular at sigma = 0: use t_min > 0.");
        Alpha = alpha;
        Sigma = sigma;
    }

    /// <summary>The variance σ².</summary>
    public double Variance => Sigma * Sigma;

    /// <inheritdoc/>
    public override string ToString() => $"(alpha={Alpha:R}, sigma={Sigma:R})";
}
