namespace Kernels.Numerics;

/// <summary>
/// A noise schedule maps a time t to a noise level (α(t), σ(t)) (DESIGN.md §1).
/// </summary>
public abstract class NoiseSchedule
{
    /// <summary>A short name (ou, vp, ve, edm) as the command line spells it.</summary>
    public abstract string Name { get; }

    /// <summary>The noise level at time <paramref name="t"/> &gt; 0.</summary>
    /// <param name="t">Time, finite and strictly positive (σ(0) = 0 is singular).</param>
    public NoiseLevel At(double t)
    {
        if (!(t > 0) || !double.IsFinite(t))
            throw new ArgumentOutOfRangeException(nameof(t), t,
                $"t must be finite and > 0 for the {Name} schedule (got {t}); sample down to a t_min > 0.");
        var (alpha, sigma) = Evaluate(t);
        return new NoiseLevel(alpha, sigma);
    }

    /// <summary>(α, σ) at a validated time t &gt; 0.</summary>
    protected abstract (double Alpha, double Sigma) Evaluate(double t);

    /// <summary>
    /// The coefficients of the forward SDE <c>dX = f(t) X dt + g(t) dB</c> whose marginals are this schedule's:
    /// f = d log α / dt and g² = dσ²/dt − 2 f σ². Samplers run its reverse (DESIGN.md §4): the reverse-time SDE
    /// <c>dX = [f X − g² s] dt + g dB̄</c> and the probability-flow ODE <c>dX/dt = f X − ½ g² s</c>.
    /// </summary>
    /// <param name="t">Time, finite and strictly positive.</param>
    public (double Drift, double DiffusionSquared) Sde(double t)
    {
        At(t); // the same validation as the level
        return SdeCoefficients(t);
    }

    /// <summary>(f, g²) at a validated time t &gt; 0, in closed form.</summary>
    protected abstract (double Drift, double DiffusionSquared) SdeCoefficients(double t);

    /// <summary>Ornstein–Uhlenbeck <c>dX = −aX dt + √2 dB</c> with rate a = 1.</summary>
    public static NoiseSchedule OrnsteinUhlenbeck { get; } = new OrnsteinUhlenbeckSchedule(1.0);

    /// <summary>Variance preserving with the DDPM linear β from 0.1 to 20 over t ∈ [0, 1].</summary>
    public static NoiseSchedule VariancePreserving { get; } = new VariancePreservingSchedule(0.1, 20.0);

    /// <summary>Variance exploding (Brownian motion): α = 1, σ² = t.</summary>
    public static NoiseSchedule VarianceExploding { get; } = new VarianceExplodingSchedule();

    /// <summary>EDM (Karras et al.): α = 1, σ = t.</summary>
    public static NoiseSchedule Edm { get; } = new EdmSchedule();

    /// <summary>Parses ou, vp, ve or edm (the defaults above).</summary>
    /// <param name="name">The schedule's short name, case-insensitive.</param>
    public static NoiseSchedule Parse(string name) => name.ToLowerInvariant() switch
    {
        "ou" => OrnsteinUhlenbeck,
        "vp" => VariancePreserving,
        "ve" => VarianceExploding,
        "edm" => Edm,
        _ => throw new ArgumentException($"Unknown schedule '{name}'; expected one of ou, vp, ve, edm.", nameof(name)),
    };

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>Ornstein–Uhlenbeck: α = e^{−a t}, σ² = (1 − e^{−2 a t}) / a.</summary>
public sealed class OrnsteinUhlenbeckSchedule : NoiseSchedule
{
    /// <summary>The mean-reversion rate a &gt; 0.</summary>
    public double Rate { get; }

    /// <summary>Creates the schedule with rate <paramref name="rate"/>.</summary>
    /// <param name="rate">The rate a, finite and &gt; 0.</param>
    public OrnsteinUhlenbeckSchedule(double rate)
    {
        if (!(rate > 0) || !double.IsFinite(rate))
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "The OU rate a must be finite and > 0.");
        Rate = rate;
    }

    /// <inheritdoc/>
    public override string Name => "ou";

    /// <inheritdoc/>
    // −expm1 keeps σ² accurate at small t, where 1 − e^{−2at} cancels.
    protected override (double, double) Evaluate(double t) =>
        (Math.Exp(-Rate * t), Math.Sqrt(-ExpM1(-2 * Rate * t) / Rate));

    /// <inheritdoc/>
    // f = −a; g² = 2e^{−2at} + 2a(1 − e^{−2at})/a = 2: the SDE dX = −aX dt + √2 dB itself.
    protected override (double, double) SdeCoefficients(double t) => (-Rate, 2.0);

    /// <summary>e^x − 1 to a few ulp for all x (Kahan's trick: the rounding of e^x cancels in (u − 1)/log u).</summary>
    internal static double ExpM1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        return um1 == -1.0 ? -1.0 : um1 * x / Math.Log(u);
    }
}

/// <summary>
/// Variance preserving with linear β(t) = β_min + t (β_max − β_min):
/// α = exp(−½ ∫₀ᵗ β), σ² = 1 − α².
/// </summary>
public sealed class VariancePreservingSchedule : NoiseSchedule
{
    /// <summary>β at t = 0.</summary>
    public double BetaMin { get; }

    /// <summary>β at t = 1.</summary>
    public double BetaMax { get; }

    /// <summary>Creates the schedule.</summary>
    /// <param name="betaMin">β(0) ≥ 0.</param>
    /// <param name="betaMax">β(1) ≥ β(0), with β(0) + β(1) &gt; 0.</param>
    public VariancePreservingSchedule(double betaMin, double betaMax)
    {
        if (!(betaMin >= 0) || !double.IsFinite(betaMin))
            throw new ArgumentOutOfRangeException(nameof(betaMin), betaMin, "beta_min must be finite and >= 0.");
        if (!(betaMax >= betaMin) || !double.IsFinite(betaMax) || betaMax + betaMin <= 0)
            throw new ArgumentOutOfRangeException(nameof(betaMax), betaMax, "beta_max must be finite, >= beta_min and > 0.");
        BetaMin = betaMin;
        BetaMax = betaMax;
    }

    /// <inheritdoc/>
    public override string Name => "vp";

    /// <inheritdoc/>
    protected override (double, double) Evaluate(double t)
    {
        double integral = BetaMin * t + 0.5 * (BetaMax - BetaMin) * t * t;
        return (Math.Exp(-0.5 * integral), Math.Sqrt(-OrnsteinUhlenbeckSchedule.ExpM1(-integral)));
    }

    /// <inheritdoc/>
    // f = −β/2; g² = βe^{−B} + β(1 − e^{−B}) = β(t).
    protected override (double, double) SdeCoefficients(double t)
    {
        double beta = BetaMin + t * (BetaMax - BetaMin);
        return (-0.5 * beta, beta);
    }
}

/// <summary>Variance exploding (paper 1's Brownian motion): α = 1, σ² = t.</summary>
public sealed class VarianceExplodingSchedule : NoiseSchedule
{
    /// <inheritdoc/>
    public override string Name => "ve";

    /// <inheritdoc/>
    protected override (double, double) Evaluate(double t) => (1.0, Math.Sqrt(t));

    /// <inheritdoc/>
    protected override (double, double) SdeCoefficients(double t) => (0.0, 1.0);
}

/// <summary>EDM: α = 1, σ = t.</summary>
public sealed class EdmSchedule : NoiseSchedule
{
    /// <inheritdoc/>
    public override string Name => "edm";

    /// <inheritdoc/>
    protected override (double, double) Evaluate(double t) => (1.0, t);

    /// <inheritdoc/>
    // g² = dσ²/dt = 2t.
    protected override (double, double) SdeCoefficients(double t) => (0.0, 2 * t);
}
