using Kernels.Numerics;
using Kernels.Numerics.Reference;

namespace Kernels.Tests.Support;

/// <summary>
/// Error bounds for one query's outputs from the conditioning of the mixture, evaluated with the float64 reference's
/// intermediate values: how far rounding the logits, each difference α y − x, the sums and the outputs moves the exact
/// answer, and the points the cut-off drops. Nothing here depends on how a formula is arranged: a backend whose formula
/// cancels (a second moment about the query less the squared mean, or x + V/S divided by α) fails these bounds.
/// <para>
/// With unit roundoff u of the working type and γ_n = n u / (1 − n u), from the reference's weights p_i, logits u_i
/// (u* the largest), displacements d_i = α y_i − x, their mean d̄, denoiser m:
/// <list type="bullet">
/// <item>logits: each difference x − α y is formed with at most two roundings, its square accumulated by FMAs over D
///   terms and scaled by the rounded −1/(2σ²): |Δu_i| ≤ γ_{D+6} |u_i|; points with non-negligible weight have
///   |u_i| ≤ |u*| + O(1), so each normalised weight p_i moves by a relative ≤ 2η, η = γ_{D+6}(|u*| + 1) + 8u (with the
///   exponential and the subtraction of the maximum). A weighted mean Σ p_i z_i then moves by ≤ 2η Σ p_i ‖z_i − z̄‖: about
///   its mean, not about the query;</item>
/// <item>one rounding per difference: each d_i carries ≤ 2u ‖d_i‖ (componentwise 2u), so a mean of them ≤ 2u·rms,
///   rms = √(Σ p_i ‖d_i‖²), and their spread Σ p_i ‖d_i − d̄‖² = tr C_d moves by ≤ 4u·rms·√(tr C_d) (first order);</item>
/// <item>sums in T run over at most 128 terms before they move to double (γ_acc = γ_128): the displacement sum errs by
///   ≤ γ_acc·rms, the point sum by ≤ γ_acc Σ p_i ‖y_i‖, a spread by ≤ γ_acc tr C_d, and the difference of two groups' means
///   in the parallel-variance merge by ≤ γ_acc·min(rms, α Σ p_i ‖y_i‖) (taken from whichever sums are smaller), which
///   moves the merged spread by twice that times √(tr C_d);</item>
/// <item>the cut-off c (<see cref="ScorePartials.NegligibleLogit{T}"/>) drops a relative mass ≤ N e^{−c} at logits at
///   least c below the maximum, whose distance from x is then at most σ √(2|u*| + 2c + …): they pull a displacement mean by
///   ≤ N e^{−c} σ √(2|u*| + 80), a spread by ≤ 4 N e^{−c} σ² (2|u*| + 80), a point mean by ≤ N e^{−c} (max ‖y_i‖ + ‖m‖);</item>
/// <item>outputs: a handful of roundings each (u times the output's size, the divergence's two terms each with
///   their own), and near zero the smallest subnormal of T (an output below T's range rounds to 0 or a subnormal).</item>
/// </list>
/// First-order terms carry a factor 2 for the second-order ones. The float64 reference's own error is the same bound at
/// u = 2⁻⁵³ with its sums running over all N points (γ_{N+D+8} in place of γ_acc); the two are added.
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
        int n = train.Length / d;
        double cut = u == UnitRoundoffSingle ? ScorePartials.NegligibleLogit<float>(n) : ScorePartials.NegligibleLogit<double>(n);
        var fast = Bound(train, d, x, level, u, Gamma(128, u), cut);
        var reference = Bound(train, d, x, level, UnitRoundoffDouble, Gamma(n + d + 8, UnitRoundoffDouble), double.PositiveInfinity);
        return new ErrorBound(fast.LogDensity + reference.LogDensity, fast.Score + reference.Score,
            fast.Denoiser + reference.Denoiser, fast.Divergence + reference.Divergence);
    }

    private static ErrorBound Bound(double[] train, int d, ReadOnlySpan<double> x, NoiseLevel level, double u, double gAcc, double cut)
    {
        int n = train.Length / d;
        double[] logits = ScoreReference.Logits(train, d, x, level);
        double[] p = ScoreReference.Weights(train, d, x, level);
        double[] m = ScoreReference.Denoiser(train, d, x, level);
        double uMax = logits.Max(), alpha = level.Alpha, sigma = level.Sigma;

        // the mixture's moments about the query and about the mean, in displacement and point units
        var mean = new double[d];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++) mean[k] += p[i] * (alpha * train[i * d + k] - x[k]);
        double meanSquare = 0, spread = 0, spreadRoot = 0, pointNorms = 0, pointSpread = 0, largestPoint = 0;
        for (int i = 0; i < n; i++)
        {
            double di2 = 0, dev2 = 0, y2 = 0, ydev2 = 0;
            for (int k = 0; k < d; k++)
            {
                double y = train[i * d + k], di = alpha * y - x[k];
                di2 += di * di;
                dev2 += (di - mean[k]) * (di - mean[k]);
                y2 += y * y;
                ydev2 += (y - m[k]) * (y - m[k]);
            }
            meanSquare += p[i] * di2;
            spread += p[i] * dev2;
            spreadRoot += p[i] * Math.Sqrt(dev2);
            pointNorms += p[i] * Math.Sqrt(y2);
            pointSpread += p[i] * Math.Sqrt(ydev2);
            largestPoint = Math.Max(largestPoint, Math.Sqrt(y2));
        }
        double rms = Math.Sqrt(meanSquare);

        double eta = Gamma(d + 6, u) * (Math.Abs(uMax) + 1) + 8 * u;
        double droppedMass = double.IsPositiveInfinity(cut) ? 0 : n * Math.Exp(-cut);
        double droppedPull = droppedMass * sigma * Math.Sqrt(2 * Math.Abs(uMax) + 80);
        double droppedSpread = 4 * droppedMass * sigma * sigma * (2 * Math.Abs(uMax) + 80);

        double score = Norm(ScoreReference.Score(train, d, x, level));
        double logDensity = ScoreReference.LogDensity(train, d, x, level);
        double divergence = ScoreReference.Divergence(train, d, x, level);
        double s2 = sigma * sigma, s4 = s2 * s2;

        double displacementError = 2 * eta * spreadRoot + (gAcc + 4 * u) * rms + droppedPull;
        double pointError = 2 * eta * pointSpread + (gAcc + 4 * u) * pointNorms + droppedMass * (largestPoint + Norm(m));
        double spreadError = 4 * eta * spread + 4 * u * rms * Math.Sqrt(spread) + gAcc * spread
                             + 2 * gAcc * Math.Min(rms, alpha * pointNorms) * Math.Sqrt(spread) + droppedSpread;

        // rounding an output to T near zero errs by up to the smallest subnormal, whatever u says
        double tiny = u == UnitRoundoffSingle ? float.Epsilon : double.Epsilon;
        const double secondOrder = 2;
        return new ErrorBound(
            secondOrder * (3 * eta + gAcc + u * Math.Abs(logDensity)),
            secondOrder * (displacementError / s2 + 4 * u * score + tiny * Math.Sqrt(d)),
            secondOrder * (pointError + 2 * u * Norm(m) + tiny * Math.Sqrt(d)),
            secondOrder * (spreadError / s4 + 6 * u * spread / s4 + 3 * u * d / s2 + u * Math.Abs(divergence) + tiny));
    }

    public static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double t in v) s += t * t;
        return Math.Sqrt(s);
    }
}
