using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// The ridge residual (<see cref="RidgeResidual.Evaluate{T}"/>) against a float64 reference: the dense Hessian of
/// <see cref="ScoreReference.Hessian"/>, MathNet's symmetric eigen-decomposition of it, and <see cref="ScoreReference.Score"/>.
/// <para>
/// The bound. With tol the eigenvalue tolerance of <see cref="HessianProperties"/> (D × the entry bound plus both eigensolvers'
/// backward error), each eigenvalue moves by at most tol (Weyl), so the gap by 2 tol; where the reference gap g clears
/// 10 tol (and 10⁻⁶ of the spectrum's scale), Davis–Kahan bounds the top-d projector's move by 2√(2d)·tol/g (Frobenius).
/// The residual ‖(I − P)g‖ then moves by at most ‖ΔP‖‖g‖ + ‖Δg‖ (‖Δg‖ ≤ √D times the score's componentwise bound of
/// <see cref="ErrorBound"/>) plus the rounding of the projection, 8(D + d)u‖g‖.
/// </para>
/// </summary>
public abstract class RidgeResidualProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private const double U = ErrorBound.UnitRoundoffDouble;

    private static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double t in v) s += t * t;
        return Math.Sqrt(s);
    }

    /// <summary>
    /// Random problems with D ≤ 12 in float64, every d in [1, D − 1]: residual, normalised residual, gap and curvature
    /// agree with the dense reference within the bound where the gap is clear; cases whose gap is not clear are skipped
    /// and counted (past the span of the kept points every gap is 0), and at least 100 must be checked.
    /// </summary>
    [BackendFact]
    public void MatchesDenseReference_WhereTheGapIsClear()
    {
        var rng = new Random(20261205);
        int checkedCases = 0, skipped = 0;
        for (int trial = 0; trial < 60; trial++)
        {
            int n = 2 + rng.Next(30), dim = 2 + rng.Next(11), m = 3;
            double sigma = Math.Exp(Math.Log(0.05) + rng.NextDouble() * Math.Log(40)); // 0.05 to 2, data of scale 1
            double alpha = trial % 3 == 0 ? 1 : 0.2 + 0.8 * rng.NextDouble();
            var level = new NoiseLevel(alpha, sigma);
            var train = Enumerable.Range(0, n * dim).Select(_ => Problem.Gaussian(rng)).ToArray();
            var queries = new double[m * dim];
            for (int q = 0; q < m; q++)
            {
                int j = rng.Next(n);
                for (int k = 0; k < dim; k++) queries[q * dim + k] = alpha * train[j * dim + k] + sigma * (0.3 + q) * Problem.Gaussian(rng);
            }
            var model = new EmpiricalScore<double>(new TrainingSet<double>(train, n, dim), Backend);
            double cut = ScorePartials.NegligibleLogit<double>(n);
            for (int d = 1; d < dim; d++)
            {
                var points = RidgeResidual.Evaluate(model, queries, level, d);
                Assert.Equal(m, points.Length);
                for (int q = 0; q < m; q++)
                {
                    var x = queries.AsSpan(q * dim, dim);
                    var h = ScoreReference.Hessian(train, dim, x, level);
                    var g = ScoreReference.Score(train, dim, x, level);
                    var dense = new double[dim, dim];
                    for (int a = 0; a < dim; a++)
                        for (int b = 0; b < dim; b++) dense[a, b] = h[a * dim + b];
                    var evd = Matrix<double>.Build.DenseOfArray(dense).Evd(Symmetricity.Symmetric);
                    var order = Enumerable.Range(0, dim).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
                    var lambda = order.Select(i => evd.EigenValues[i].Real).ToArray();
                    double normH = Norm(h);
                    int rank = Math.Min(n, Hessian.DefaultMaxRank);
                    double tol = dim * HessianProperties.EntryBound(train, dim, x, level, cut)
                        + 64 * (dim + rank) * U * (normH + 1 / sigma / sigma);
                    double gapRef = lambda[d - 1] - lambda[d];
                    double scale = lambda.Max(Math.Abs);
                    string context = $"{Backend.Name} trial {trial} N={n} D={dim} d={d} query {q} {level}";
                    if (gapRef <= Math.Max(10 * tol, 1e-6 * scale))
                    {
                        skipped++;
                        continue;
                    }
                    checkedCases++;
                    // reference residual: g less its projection on the top-d eigenvectors
                    var rest = (double[])g.Clone();
                    for (int i = 0; i < d; i++)
                    {
                        var v = evd.EigenVectors.Column(order[i]);
                        double dot = 0;
                        for (int a = 0; a < dim; a++) dot += v[a] * g[a];
                        for (int a = 0; a < dim; a++) rest[a] -= dot * v[a];
                    }
                    double rRef = Norm(rest), normG = Norm(g);
                    double scoreError = Math.Sqrt(dim) * ErrorBound.For(train, dim, x, level, U).Score;
                    double allowed = 2 * Math.Sqrt(2 * d) * tol / gapRef * normG + scoreError + 8 * (dim + d) * U * normG + 1e-300;
                    var p = points[q];
                    Assert.True(Math.Abs(p.Residual - rRef) <= allowed,
                        $"residual {p.Residual:R}, reference {rRef:R}, |error| {Math.Abs(p.Residual - rRef):G3} > {allowed:G3}; {context}");
                    if (normG > 0)
                        Assert.True(Math.Abs(p.NormalizedResidual - rRef / normG) <= 2 * allowed / normG,
                            $"normalised residual {p.NormalizedResidual:R}, reference {rRef / normG:R}; {context}");
                    Assert.True(Math.Abs(p.EigenGap - gapRef) <= 2 * tol,
                        $"gap {p.EigenGap:R}, reference {gapRef:R}, tol {tol:G3}; {context}");
                    if (Math.Abs(lambda[d]) > tol) Assert.Equal(lambda[d] < 0, p.CurvatureOk);
                }
            }
        }
        // past the span of the kept points every eigenvalue is −1/σ² (a zero gap), so many (d, query) pairs are skipped
        Assert.True(checkedCases >= 100, $"only {checkedCases} cases checked, {skipped} skipped for an unclear gap");
    }

    /// <summary>
    /// Training points on a line in D = 3, y_i = (t_i, 0, 0): at x = (t, a, b) near the line the top eigenvector is the
    /// line's direction, so for d = 1 the residual is the norm of the normal part (g₂, g₃) of the reference score, and
    /// the gap is clear; for d = 2 the two normal eigenvalues are both −1/σ², a zero gap, reported and not thrown.
    /// </summary>
    [BackendFact]
    public void PointsOnALine_ResidualIsTheNormalScore()
    {
        const int n = 21, dim = 3;
        var train = new double[n * dim];
        for (int i = 0; i < n; i++) train[i * dim] = 0.1 * i;
        var level = new NoiseLevel(1, 0.3);
        var queries = new double[] { 1.03, 0.05, -0.02, 0.47, -0.1, 0.2, 1.5, 0.01, 0 };
        var model = new EmpiricalScore<double>(new TrainingSet<double>(train, n, dim), Backend);
        var points = RidgeResidual.Evaluate(model, queries, level, 1);
        var model32 = new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), n, dim), Backend);
        var points32 = RidgeResidual.Evaluate(model32, queries.Select(v => (float)v).ToArray(), level, 1);
        var flat = RidgeResidual.Evaluate(model, queries, level, 2);
        for (int q = 0; q < 3; q++)
        {
            var x = queries.AsSpan(q * dim, dim);
            var g = ScoreReference.Score(train, dim, x, level);
            double normal = Math.Sqrt(g[1] * g[1] + g[2] * g[2]);
            Assert.True(Math.Abs(points[q].Residual - normal) <= 1e-12 * Norm(g), $"query {q}: residual {points[q].Residual:R}, normal score {normal:R}");
            Assert.True(Math.Abs(points32[q].Residual - normal) <= 1e-6 * Norm(g), $"float32 query {q}: residual {points32[q].Residual:R}, normal score {normal:R}");
            Assert.True(Math.Abs(points[q].NormalizedResidual - normal / Norm(g)) <= 1e-12);
            Assert.True(points[q].EigenGap > 0.1 / level.Sigma / level.Sigma, $"query {q}: gap {points[q].EigenGap}");
            Assert.True(points[q].CurvatureOk);
            Assert.Equal(0, flat[q].EigenGap);
            Assert.True(flat[q].CurvatureOk);
        }
    }

    /// <summary>g = 0 (the midpoint of two points, α = 1): residual 0 and normalised residual 0, not NaN.</summary>
    [BackendFact]
    public void ZeroScore_NormalizedResidualIsZero()
    {
        var model = new EmpiricalScore<double>(new TrainingSet<double>(new double[] { -1, 0, 1, 0 }, 2, 2), Backend);
        var p = RidgeResidual.Evaluate(model, new double[] { 0, 0 }, new NoiseLevel(1, 0.5), 1)[0];
        Assert.Equal(0, p.Residual);
        Assert.Equal(0, p.NormalizedResidual);
    }

    /// <summary>Ridge dimensions outside 1 ≤ d &lt; D are refused, naming "dimension", its value and the range.</summary>
    [BackendFact]
    public void BadDimension_NamesTheParameter()
    {
        var model = new EmpiricalScore<float>(new TrainingSet<float>(new float[] { 0, 1, 2, 3, 4, 5 }, 2, 3), Backend);
        var level = new NoiseLevel(1, 0.5);
        var queries = new float[] { 0, 0, 0 };
        foreach (int d in new[] { 0, -1, 3, 4 })
        {
            var e = Assert.ThrowsAny<ArgumentException>(() => RidgeResidual.Evaluate(model, queries, level, d));
            Assert.Equal("dimension", e.ParamName);
            Assert.Contains($"dimension = {d}", e.Message);
            Assert.Contains("D = 3", e.Message);
        }
        var line = new EmpiricalScore<float>(new TrainingSet<float>(new float[] { 0, 1 }, 2, 1), Backend);
        Assert.Equal("dimension", Assert.ThrowsAny<ArgumentException>(() => RidgeResidual.Evaluate(line, new float[] { 0 }, level, 1)).ParamName);
    }
}

/// <summary>The ridge residual suite on the SIMD CPU backend.</summary>
public sealed class CpuRidgeResidualProperties : RidgeResidualProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
