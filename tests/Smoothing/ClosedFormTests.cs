using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Smoothing;

/// <summary>
/// Smoothing checked in closed form. The float32 tolerances are the fused kernel's <see cref="ErrorBound"/> at each
/// perturbed query (averaged over draws) plus the named extra terms: the rounding of x + z to T (≤ u‖x + z‖ per draw),
/// and where a draw's offset matters, its first- and second-order effect through the score and the Hessian.
/// </summary>
public class ClosedFormTests
{
    private static (T[] Queries, double[] QueriesD) Widened<T>(Problem p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (_, q, _, qd) = p.Build<T>();
        return (q, qd);
    }

    /// <summary>
    /// h → 0 gives the empirical score: with h = 10⁻⁶σ each perturbed query (rounded to T) is within δ = max‖x' − x‖
    /// of x, so |ℓ_k − ℓ| ≤ ‖s‖δ + ‖H‖δ² and ‖s_k − s‖ ≤ ‖H‖δ, with ‖H‖ the largest Frobenius norm of the Hessian at x
    /// and at the perturbed queries (doubled for its variation between them), beside the kernel's rounding bound.
    /// </summary>
    private static void TinyScaleGivesEmpirical<T>(Problem p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        var draws = new SmoothingDraws(5, seed: (ulong)p.Seed);
        var kernel = SmoothingKernel.Gaussian(1e-6 * p.Sigma);
        var model = new LogSmoothedScore<T>(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D)), kernel, draws);
        var (ld, s) = (new T[p.M], new T[p.M * p.D]);
        model.Evaluate(queries, p.Level, new SmoothedOutputs<T> { LogDensity = ld, Score = s });
        double u = ErrorBound.UnitRoundoff<T>();
        for (int q = 0; q < p.M; q++)
        {
            var x = queriesD.AsSpan(q * p.D, p.D);
            double delta = 0, bLd = 0, bS = 0, hessian = ErrorBound.Norm(ScoreReference.Hessian(trainD, p.D, x, p.Level));
            for (int k = 0; k < draws.Count; k++)
            {
                var xk = SmoothingCase.PerturbedQuery<T>(kernel, draws, x, q, k);
                double dist = 0;
                for (int j = 0; j < p.D; j++) dist += (xk[j] - x[j]) * (xk[j] - x[j]);
                delta = Math.Max(delta, Math.Sqrt(dist));
                hessian = Math.Max(hessian, ErrorBound.Norm(ScoreReference.Hessian(trainD, p.D, xk, p.Level)));
                var b = ErrorBound.For(trainD, p.D, xk, p.Level, u);
                bLd += b.LogDensity / draws.Count;
                bS += b.Score / draws.Count;
            }
            double[] score = ScoreReference.Score(trainD, p.D, x, p.Level);
            Expect.Within(double.CreateTruncating(ld[q]), ScoreReference.LogDensity(trainD, p.D, x, p.Level),
                bLd + 2 * (ErrorBound.Norm(score) * delta + hessian * delta * delta), "log-density at h → 0", q, p.ToString());
            Expect.Within(Problem.Widen(s).AsSpan(q * p.D, p.D), score, bS + 2 * hessian * delta, "score at h → 0", q, p.ToString());
        }
    }

    [Property(MaxTest = 40)]
    public Property TinyScale_Float32_GivesTheEmpiricalScore() =>
        Prop.ForAll(Problem.Arbitrary, p => TinyScaleGivesEmpirical<float>(p with { M = Math.Min(p.M, 16) }));

    [Property(MaxTest = 30)]
    public Property TinyScale_Float64_GivesTheEmpiricalScore() =>
        Prop.ForAll(Problem.Arbitrary, p => TinyScaleGivesEmpirical<double>(p with { M = Math.Min(p.M, 16) }));

    /// <summary>
    /// N = 1: the score (αy − x)/σ² is linear, so an antithetic pair averages to it exactly; only rounding remains:
    /// the kernel's bound at both perturbed queries and the rounding of x ± z to float32, ‖δ₊ + δ₋‖/(2σ²) ≤ u(‖x'₊‖ + ‖x'₋‖)/(2σ²).
    /// Its divergence is the constant −D/σ², so the smoothed divergence is too (within the kernel's bound). The standard
    /// error of the pair means is then rounding noise: below the same tolerance.
    /// </summary>
    [Property(MaxTest = 60)]
    public Property Antithetic_SmoothingOfALinearScore_IsExact() =>
        Prop.ForAll(Problem.Arbitrary, SmoothingCase.Arbitrary, (p0, c) =>
        {
            var p = p0 with { N = 1, M = Math.Min(p0.M, 12) };
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var kernel = (c with { Problem = p }).Kernel();
            var draws = new SmoothingDraws(6, c.Seed, antithetic: true, fixedDraws: c.Fixed);
            var model = new LogSmoothedScore<float>(new EmpiricalScore<float>(new TrainingSet<float>(train, 1, p.D)), kernel, draws);
            var (s, se, div) = (new float[p.M * p.D], new float[p.M * p.D], new float[p.M]);
            model.Evaluate(queries, p.Level, new SmoothedOutputs<float> { Score = s, ScoreError = se, Divergence = div });
            double u = ErrorBound.UnitRoundoffSingle;
            for (int q = 0; q < p.M; q++)
            {
                var x = queriesD.AsSpan(q * p.D, p.D);
                double bS = 0, bDiv = 0, inputRounding = 0;
                for (int k = 0; k < draws.Count; k++)
                {
                    var xk = SmoothingCase.PerturbedQuery<float>(kernel, draws, x, q, k);
                    var b = ErrorBound.For(trainD, p.D, xk, p.Level, u);
                    bS += b.Score / draws.Count;
                    bDiv += b.Divergence / draws.Count;
                    inputRounding += u * ErrorBound.Norm(xk) / p.Level.Variance / draws.Count;
                }
                double tolerance = bS + inputRounding + ErrorBound.For(trainD, p.D, x, p.Level, u).Score;
                var exact = new double[p.D];
                for (int j = 0; j < p.D; j++) exact[j] = (p.Alpha * trainD[j] - x[j]) / p.Level.Variance;
                string context = $"{p}; {kernel}";
                Expect.Within(Problem.Widen(s).AsSpan(q * p.D, p.D), exact, tolerance, "antithetic score of N = 1", q, context);
                Expect.Within(Problem.Widen(se).AsSpan(q * p.D, p.D), new double[p.D], tolerance, "its standard error", q, context);
                Expect.Within(div[q], -p.D / p.Level.Variance, bDiv, "divergence of N = 1", q, context);
            }
        });

    /// <summary>
    /// N = 1 and an isotropic Gaussian kernel: log-domain smoothing keeps the score and shifts the log-density by the
    /// constant −D h²/(2σ²) (E‖z‖² = D h²), while KDE replaces σ² by σ² + h² (a Gaussian of that variance about α y).
    /// The log-density is checked statistically: |ℓ̂_k − (ℓ − D h²/(2σ²))| ≤ 5 SE + the rounding bound (plain Monte Carlo,
    /// 400 draws, fixed seeds; a false failure has probability below 10⁻⁵ per query).
    /// </summary>
    [Fact]
    public void SinglePoint_LogSmoothingKeepsTheScore_KdeInflatesTheVariance()
    {
        const int d = 3;
        var y = new float[] { 0.4f, -1.2f, 2.0f };
        var level = new NoiseLevel(0.8, 0.3);
        const double h = 0.25;
        var empirical = new EmpiricalScore<float>(new TrainingSet<float>(y, 1, d));
        var queries = new float[] { 0.5f, -1, 1.4f, 0.3f, -0.8f, 1.9f, 2, 0, -1 };
        int m = queries.Length / d;
        var yd = Problem.Widen(y);
        var qd = Problem.Widen(queries);

        var smoothed = new LogSmoothedScore<float>(empirical, SmoothingKernel.Gaussian(h), new SmoothingDraws(400, seed: 3));
        var (ld, ldErr) = (new float[m], new float[m]);
        smoothed.Evaluate(queries, level, new SmoothedOutputs<float> { LogDensity = ld, LogDensityError = ldErr });

        var kde = new KdeScore<float>(empirical, SmoothingKernel.Gaussian(h));
        float[] kdeScore = kde.Score(queries, level), kdeLd = kde.LogDensity(queries, level), kdeDen = kde.Denoise(queries, level);
        var inflated = new NoiseLevel(level.Alpha, Math.Sqrt(level.Variance + h * h));

        for (int q = 0; q < m; q++)
        {
            var x = qd.AsSpan(q * d, d);
            double r2 = 0;
            for (int j = 0; j < d; j++) r2 += (x[j] - level.Alpha * yd[j]) * (x[j] - level.Alpha * yd[j]);
            double logGauss(double v) => -r2 / (2 * v) - d / 2.0 * Math.Log(2 * Math.PI * v);
            double rounding = ErrorBound.For(yd, d, x, level, ErrorBound.UnitRoundoffSingle).LogDensity * 4; // draws move x by ~h: same order
            Expect.Within(ld[q], logGauss(level.Variance) - d * h * h / (2 * level.Variance), 5 * ldErr[q] + rounding, "smoothed log-density of N = 1", q, "");

            var bound = ErrorBound.For(yd, d, x, inflated, ErrorBound.UnitRoundoffSingle);
            Expect.Within(kdeLd[q], logGauss(inflated.Variance), bound.LogDensity, "KDE log-density of N = 1", q, "");
            var exact = new double[d];
            for (int j = 0; j < d; j++) exact[j] = (level.Alpha * yd[j] - x[j]) / inflated.Variance;
            Expect.Within(Problem.Widen(kdeScore).AsSpan(q * d, d), exact, bound.Score, "KDE score of N = 1", q, "");
            Expect.Within(Problem.Widen(kdeDen).AsSpan(q * d, d), yd, bound.Denoiser, "KDE denoiser of N = 1", q, "");
        }
    }
}
