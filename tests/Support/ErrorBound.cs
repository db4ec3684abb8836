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
///   terms and scaled by the rounded −1/(2σ²); with the exponential and the subtraction of the maximum every logit
///   carries |Δu_i| ≤ δ_i = γ_{D+6}|u_i| + 8u. The weights p_i ∝ e^{u_i} then move to p̃_i ∝ p_i e^{Δ_i}: with the
///   normaliser Σ p_j e^{Δ_j} in [N_lo, N_hi], |p̃_i − p_i| ≤ c_i = min(1, max(p_i (e^{δ_i}/N_lo − 1), p_i (1 − e^{−δ_i}/N_hi))),
///   evaluated from logs (not linearised: far from the data float32 logits err by more than their gaps, and every
///   point within that error of the maximum may take the weight). A weighted mean Σ p_i z_i then moves by ≤ Σ c_i ‖z_i − z̄‖:
///   about its mean, not about the query; a spread by ≤ Σ c_i ‖z_i − z̄‖² plus the square of the mean's move; the
///   log-density by ≤ max(log N_hi, −log N_lo);</item>
/// <item>one rounding per difference: each d_i carries ≤ 2u ‖d_i‖ (componentwise 2u), so a mean of them ≤ 2u·rms,
///   rms = √(Σ (p_i + c_i) ‖d_i‖²), and their spread Σ p_i ‖d_i − d̄‖² = tr C_d moves by ≤ 4u·rms·√(tr C_d) (first order);</item>
/// <item>sums in T run over at most 128 terms before they move to double (γ_acc = γ_128): the displacement sum errs by
///   ≤ γ_acc·rms, the point sum by ≤ γ_acc Σ p_i ‖y_i‖, a spread by ≤ γ_acc tr C_d, and the difference of two groups' means
///   in the parallel-variance merge by ≤ γ_acc·min(rms, α Σ p_i ‖y_i‖) (taken from whichever sums are smaller), which
///   moves the merged spread by twice that times √(tr C_d);</item>
/// <item>the cut-off c (<see cref="ScorePartials.NegligibleLogit{T}"/>) drops a relative mass ≤ N e^{−c} at logits at
///   least c below the maximum, whose distance from x is then at most σ √(2|u*| + 2c + …): they pull a displacement mean by
///   ≤ N e^{−c} σ √(2|u*| + 80), a spread by ≤ 4 N e^{−c} σ² (2|u*| + 80), a point mean by ≤ N e^{−c} (max ‖y_i‖ + ‖m‖),
///   and, where a backend leaves them out of the normaliser too (points it proves negligible without computing them), the
///   log-density by ≤ N e^{−c};</item>
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
        double lse = uMax + Math.Log(logits.Sum(v => Math.Exp(v - uMax)));

        // logit errors: δ_i = γ_{D+6}|u_i| + 8u (the distance, its scaling, the exponential and the subtraction of the
        // maximum); the normaliser Σ p_j e^{Δ_j} then lies in [N_lo, N_hi] and each weight moves by at most c_i
        var delta = logits.Select(v => Gamma(d + 6, u) * Math.Abs(v) + 8 * u).ToArray();
        double logHigh = LogSumExp(logits.Select((v, i) => v - lse + delta[i]));
        double logLow = LogSumExp(logits.Select((v, i) => v - lse - delta[i]));
        var c = new double[n];
        for (int i = 0; i < n; i++)
        {
            double lp = logits[i] - lse, up = delta[i] - logLow, down = delta[i] + logHigh;
            // p (e^{up} − 1) and p (1 − e^{−down}), from logs so that a weight that underflows double still counts
            double rise = up < 1 ? Math.Exp(lp) * Math.Max(0, Math.Exp(up) - 1) : Math.Exp(lp + up);
            double fall = Math.Exp(lp) * (1 - Math.Exp(-down));
            c[i] = Math.Min(1, Math.Max(rise, fall));
        }

        // the mixture's moments about the mean, in displacement and point units, and the sizes that rounding scales with
        var mean = new double[d];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++) mean[k] += p[i] * (alpha * train[i * d + k] - x[k]);
        double spread = 0, meanSquare = 0, pointNorms = 0, moveMean = 0, moveSpread = 0, movePoint = 0, largestPoint = 0;
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
            spread += p[i] * dev2;
            // sizes under the perturbed weights too (p + c bounds them)
            meanSquare += (p[i] + c[i]) * di2;
            pointNorms += (p[i] + c[i]) * Math.Sqrt(y2);
            moveMean += c[i] * Math.Sqrt(dev2);
            moveSpread += c[i] * dev2;
            movePoint += c[i] * Math.Sqrt(ydev2);
            largestPoint = Math.Max(largestPoint, Math.Sqrt(y2));
        }
        double rms = Math.Sqrt(meanSquare);

        double droppedMass = double.IsPositiveInfinity(cut) ? 0 : n * Math.Exp(-cut);
        double score = Norm(ScoreReference.Score(train, d, x, level));
        double logDensity = ScoreReference.LogDensity(train, d, x, level);
        double divergence = ScoreReference.Divergence(train, d, x, level);

        // in displacement units, then divided by σ² or σ⁴ one σ at a time (σ² may overflow)
        double displacementError = moveMean + (gAcc + 4 * u) * rms + droppedMass * sigma * Math.Sqrt(2 * Math.Abs(uMax) + 80);
        double pointError = movePoint + (gAcc + 4 * u) * pointNorms + droppedMass * (largestPoint + Norm(m));
        double spreadError = moveSpread + moveMean * moveMean + 4 * u * rms * Math.Sqrt(spread) + gAcc * spread
                             + 2 * gAcc * Math.Min(rms, alpha * pointNorms) * Math.Sqrt(spread);
        double droppedSpread = 4 * droppedMass * (2 * Math.Abs(uMax) + 80) / sigma / sigma; // over σ⁴, as σ² (…)/σ⁴

        // rounding an output to T near zero errs by up to the smallest subnormal, whatever u says
        double tiny = u == UnitRoundoffSingle ? float.Epsilon : double.Epsilon;
        const double secondOrder = 2;
        return new ErrorBound(
            // a backend may leave points it proves negligible out of the normaliser (the expansion and pruned paths): log S
            // is then low by at most −log(1 − N e^{−c}) ≈ N e^{−c}
            secondOrder * (Math.Max(logHigh, -logLow) + gAcc + u * Math.Abs(logDensity) + droppedMass),
            secondOrder * (displacementError / sigma / sigma + 4 * u * score + tiny * Math.Sqrt(d)),
            secondOrder * (pointError + 2 * u * Norm(m) + tiny * Math.Sqrt(d)),
            secondOrder * ((spreadError + 6 * u * spread) / sigma / sigma / sigma / sigma + droppedSpread + 3 * u * d / sigma / sigma
                           + u * Math.Abs(divergence) + tiny));
    }

    private static double LogSumExp(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double max = v.Max();
        return double.IsNegativeInfinity(max) ? max : max + Math.Log(v.Sum(t => Math.Exp(t - max)));
    }

    public static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double t in v) s += t * t;
        return Math.Sqrt(s);
    }
}
