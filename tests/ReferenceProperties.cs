using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>The float64 reference against calculus: its score is ∇ℓ and its divergence the trace of ∇s.</summary>
public class ReferenceProperties
{
    /// <summary>Small problems with σ ≥ 0.05 scales and no offset, where central differences are well conditioned.</summary>
    private static readonly Arbitrary<Problem> Smooth = (
        from n in Gen.Choose(1, 12)
        from d in Gen.Choose(1, 6)
        from alpha in Gen.Choose(100, 1000).Select(i => i / 1000.0)
        from sigma in Gen.Choose(50, 2000).Select(i => i / 1000.0)
        from seed in Gen.Choose(0, int.MaxValue)
        select new Problem(n, 3, d, alpha, sigma, 1.0, 0.0, seed)).ToArbitrary();

    /// <summary>
    /// Central differences with step h: truncation ≤ h² max|f‴|/6 and rounding ≤ ε_f / h, where ε_f bounds the error
    /// of the differenced function. Derivatives of ℓ beyond the second are cumulants of the posterior over the points
    /// α y_i, scaled by 1/σ²: |∂ⁿℓ| ≤ (2αR)ⁿ/σ²ⁿ with R = max‖y_i‖ (a distribution on a ball of radius αR has central
    /// moments below (2αR)ⁿ). With h = 1e−5 σ both terms are small; the assertion allows 4× their sum.
    /// </summary>
    private static double DifferenceBound(double h, double third, double valueError) => 4 * (h * h * third / 6 + valueError / h);

    private static double Radius(double[] train, int d) =>
        Enumerable.Range(0, train.Length / d).Max(i => ErrorBound.Norm(train.AsSpan(i * d, d)));

    [Property(MaxTest = 100)]
    public Property Score_IsTheGradientOfTheLogDensity() =>
        Prop.ForAll(Smooth, p =>
        {
            var (_, _, train, queries) = p.Build<double>();
            double r2 = 2 * p.Alpha * Radius(train, p.D), s2 = p.Level.Variance;
            for (int q = 0; q < p.M; q++)
            {
                var x = queries.AsSpan(q * p.D, p.D).ToArray();
                var s = ScoreReference.Score(train, p.D, x, p.Level);
                double h = 1e-5 * p.Sigma;
                // ℓ is evaluated with relative error ≲ γ_{N+D+8} on terms of size |u*| + |log-normaliser|
                double lError = ErrorBound.Gamma(p.N + p.D + 8, ErrorBound.UnitRoundoffDouble) *
                                (Math.Abs(ScoreReference.LogDensity(train, p.D, x, p.Level)) + ScoreReference.Logits(train, p.D, x, p.Level).Max(Math.Abs) + p.D * 10);
                double tol = DifferenceBound(h, Math.Pow(r2, 3) / (s2 * s2 * s2), lError);
                for (int k = 0; k < p.D; k++)
                {
                    var xp = (double[])x.Clone(); xp[k] += h;
                    var xm = (double[])x.Clone(); xm[k] -= h;
                    double fd = (ScoreReference.LogDensity(train, p.D, xp, p.Level) - ScoreReference.LogDensity(train, p.D, xm, p.Level)) / (2 * h);
                    Assert.True(Math.Abs(fd - s[k]) <= tol, $"∂ℓ/∂x_{k}: difference {fd:R} vs score {s[k]:R}, |Δ| {Math.Abs(fd - s[k]):G3} > {tol:G3}, {p}");
                }
            }
        });

    [Property(MaxTest = 100)]
    public Property Divergence_IsTheTraceOfTheHessian() =>
        Prop.ForAll(Smooth, p =>
        {
            var (_, _, train, queries) = p.Build<double>();
            double r2 = 2 * p.Alpha * Radius(train, p.D), s2 = p.Level.Variance;
            for (int q = 0; q < p.M; q++)
            {
                var x = queries.AsSpan(q * p.D, p.D).ToArray();
                double h = 1e-5 * p.Sigma, trace = 0;
                // the score is (α m − x)/σ² with m a weighted sum of N points: error ≲ γ_{N+D+8} (αR + ‖x‖)/σ²
                double sError = ErrorBound.Gamma(p.N + p.D + 8, ErrorBound.UnitRoundoffDouble) * (r2 + ErrorBound.Norm(x)) / s2;
                double tol = p.D * DifferenceBound(h, Math.Pow(r2, 4) / (s2 * s2 * s2 * s2), sError);
                for (int k = 0; k < p.D; k++)
                {
                    var xp = (double[])x.Clone(); xp[k] += h;
                    var xm = (double[])x.Clone(); xm[k] -= h;
                    trace += (ScoreReference.Score(train, p.D, xp, p.Level)[k] - ScoreReference.Score(train, p.D, xm, p.Level)[k]) / (2 * h);
                }
                double div = ScoreReference.Divergence(train, p.D, x, p.Level);
                Assert.True(Math.Abs(trace - div) <= tol, $"tr ∇s by differences {trace:R} vs divergence {div:R}, |Δ| {Math.Abs(trace - div):G3} > {tol:G3}, {p}");
            }
        });

    /// <summary>The posterior weights are a probability vector: non-negative, summing to 1 within N rounding errors.</summary>
    [Property(MaxTest = 100)]
    public Property Weights_SumToOne() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (_, _, train, queries) = p.Build<double>();
            var w = ScoreReference.Weights(train, p.D, queries.AsSpan(0, p.D), p.Level);
            Assert.All(w, wi => Assert.True(wi >= 0));
            Assert.True(Math.Abs(w.Sum() - 1) <= ErrorBound.Gamma(2 * p.N + 2, ErrorBound.UnitRoundoffDouble), $"Σw = {w.Sum():R}, {p}");
        });
}
