using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Reference;

namespace Kernels.Tests.Support;

/// <summary>
/// Rounding-error bounds of the fused kernel for one query, from the float64 reference's intermediate values.
/// <para>
/// With unit roundoff u of the working type and γ_n = n u / (1 − n u):
/// <list type="bullet">
/// <item>each difference x_k − α y_k is formed by one or two FMAs with α split exactly (relative error 2u), its
///   square accumulated by FMAs over D terms: ‖x − αy‖² has relative error γ_{D+4}; scaling by the rounded
///   −1/(2σ²) adds 2u: every logit u_i carries |Δu_i| ≤ γ_{D+6} |u_i|;</item>
/// <item>a weight e^{u_i − u*} then carries error from Δu_i, Δu* and the exponential (≤ 8u with the subtraction);
///   points with non-negligible weight have |u_i| ≤ |u*| + O(1), so every normalised weight p_i has relative
///   error ≤ 2η, η = γ_{D+6}(|u*| + 1) + 8u (first order; the bounds below carry a factor 2 for second-order terms);</item>
/// <item>sums inside a tile run per lane over at most 64 groups, then a 16-lane reduction, before the state
///   moves to double: γ_acc = γ_128 covers them and the tile-level Sum and Dot (the query-lanes kernel at D ≤ 16 sums
///   each query over at most 64 points, even and odd points of its tile apart, then adds the two);</item>
/// <item>the displacement Σ p_i (α y_i − x) then errs by ≤ (2η + γ_acc + 4u)·rms, rms = √(Σ p_i ‖α y_i − x‖²),
///   plus the points dropped as negligible (logit more than c below the maximum, c = 36 in double and
///   min(36, ln N + 18) in float): ≤ N e^{−c} σ √(2|u*| + 80) (2c + 8 ≤ 80);</item>
/// <item>score = displacement/σ², denoiser = (x + displacement)/α, divergence = (Q/S − ‖V/S‖²)/σ⁴ − D/σ² with Q/S = rms²
///   (three terms of the same relative error), and each result is rounded once to T at the end.</item>
/// </list>
/// The float64 reference's own error is bounded by the same expressions at u = 2⁻⁵³ plus the cancellation of its
/// textbook m = Σ w y and α m − x (≤ γ_{N+2} (α‖m‖ + ‖x‖) per coordinate) and of its divergence, a trace summed over D diagonal
/// entries of a Hessian whose entries are sums over N points (≤ γ_{N+D+4} (D/σ² + rms²/σ⁴)): both are added.
/// </para>
/// </summary>
public readonly record struct ErrorBound(double LogDensity, double Score, double Denoiser, double Divergence)
{
    public const double UnitRoundoffSingle = 1.0 / (1 << 24);
    public const double UnitRoundoffDouble = 1.0 / (1L << 53);

    public static double Gamma(int n, double u) => n * u / (1 - n * u);

    public static double UnitRoundoff<T>() => typeof(T) == typeof(float) ? UnitRoundoffSingle : UnitRoundoffDouble;

    /// <summary>The bound for the fast path in working precision <paramref name="u"/>, plus the reference's own error.</summary>
    public static ErrorBound For(double[] train, int d, ReadOnlySpan<double> x, NoiseLevel level, double u)
    {
        var fast = Kernel(train, d, x, level, u, out var r);
        var reference = Kernel(train, d, x, level, UnitRoundoffDouble, out _);
        double refCancellation = Gamma(train.Length / d + 2, UnitRoundoffDouble) * Math.Sqrt(d) * (level.Alpha * r.DenoiserNorm + r.QueryNorm);
        double refTrace = Gamma(train.Length / d + d + 4, UnitRoundoffDouble) * (d / level.Variance + r.MeanSquare / (level.Variance * level.Variance));
        return new ErrorBound(
            fast.LogDensity + reference.LogDensity,
            fast.Score + reference.Score + 2 * refCancellation / level.Variance,
            fast.Denoiser + reference.Denoiser + 2 * refCancellation / level.Alpha,
            fast.Divergence + reference.Divergence + 2 * refTrace);
    }

    private readonly record struct Facts(double DenoiserNorm, double QueryNorm, double MeanSquare);

    private static ErrorBound Kernel(double[] train, int d, ReadOnlySpan<double> x, NoiseLevel level, double u, out Facts facts)
    {
        int n = train.Length / d;
        double[] logits = ScoreReference.Logits(train, d, x, level);
        double[] p = ScoreReference.Weights(train, d, x, level);
        double uMax = logits.Max();
        double meanSquare = 0;
        for (int i = 0; i < n; i++) meanSquare += p[i] * -2 * level.Variance * logits[i]; // p_i ‖α y_i − x‖²
        double rms = Math.Sqrt(meanSquare);

        double eta = Gamma(d + 6, u) * (Math.Abs(uMax) + 1) + 8 * u;
        double gAcc = Gamma(128, u);
        double cut = u == UnitRoundoffSingle ? FusedScoreKernel<float>.NegligibleLogit(n) : FusedScoreKernel<double>.NegligibleLogit(n);
        double dropped = n * Math.Exp(-cut) * level.Sigma * Math.Sqrt(2 * Math.Abs(uMax) + 80);
        double displacement = (2 * eta + gAcc + 4 * u) * rms + dropped;

        double[] m = ScoreReference.Denoiser(train, d, x, level);
        double[] s = ScoreReference.Score(train, d, x, level);
        double logDensity = ScoreReference.LogDensity(train, d, x, level);
        double divergence = ScoreReference.Divergence(train, d, x, level);
        facts = new Facts(Norm(m), Norm(x), meanSquare);

        const double secondOrder = 2;
        return new ErrorBound(
            secondOrder * (3 * eta + gAcc + u * Math.Abs(logDensity)),
            secondOrder * (displacement / level.Variance + u * Norm(s)),
            secondOrder * (displacement / level.Alpha + u * Norm(m)),
            secondOrder * (3 * (2 * eta + gAcc + Gamma(d + 4, u)) * meanSquare / (level.Variance * level.Variance)
                           + 3 * dropped * rms / (level.Variance * level.Variance) + u * Math.Abs(divergence)));
    }

    public static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double t in v) s += t * t;
        return Math.Sqrt(s);
    }
}
