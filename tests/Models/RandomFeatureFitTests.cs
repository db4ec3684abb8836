using System.Numerics;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Models;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests.Models;

/// <summary>
/// Closed-form training of the random-feature score (<see cref="RandomFeatureTrainer"/>) against the float64 reference
/// (<see cref="RandomFeatureReference"/>), explicit gradient descent and the normal equations.
/// </summary>
public sealed class RandomFeatureFitTests
{
    /// <summary>A random small problem: shapes include P and D that are not multiples of the vector width.</summary>
    internal static (double[] Points, int N, RandomFeatures Features, RandomFeatureTraining Options) Problem(int seed, int maxFeatures = 40)
    {
        var rng = new Random(seed);
        int n = rng.Next(1, 4), d = rng.Next(1, 5), p = rng.Next(1, maxFeatures + 1), k = rng.Next(0, 4);
        var points = Enumerable.Range(0, n * d).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
        var schedule = rng.Next(2) == 0 ? NoiseSchedule.OrnsteinUhlenbeck : NoiseSchedule.VarianceExploding;
        double tMax = 0.5 + rng.NextDouble() * 2;
        var features = RandomFeatures.Draw(d, p, k, schedule, tMax, (ulong)rng.NextInt64(),
            rng.Next(2) == 0 ? FeatureActivation.Relu : FeatureActivation.Tanh);
        var options = new RandomFeatureTraining
        {
            TimeMin = 0.01 + rng.NextDouble() * 0.1,
            Nodes = 3 + 2 * rng.Next(3),
            Draws = rng.Next(1, 4),
            Weighting = (TimeWeighting)rng.Next(3),
        };
        return (points, n, features, options);
    }

    /// <summary>
    /// U, V and C of the blocked SIMD pass equal the reference's within the rounding of both. Each preactivation is a sum of
    /// D + 2K + 2 terms formed in T (inputs and offsets rounded to T first: two more roundings), so the feature moves by
    /// ε_j ≤ (γ_{D+2K+5}(u_T) + γ_{D+2K+3}(u₆₄)) Z_j with Z_j its sum of |terms| (act is 1-Lipschitz). An entry of U then
    /// moves by (1/P) Σ_ρ c_ρ (ε_i |f_j| + |f_i| ε_j + ε_i ε_j), plus the row scale √c rounded in T (2u_T relative to c)
    /// and the sums: at most 128 rows in T (γ_128(u_T)), then the blocks in double (γ_{R}(u₆₄)), relative to |U|; V and C
    /// alike with the target α y rounded once more. Factor 2 for second-order terms.
    /// </summary>
    [Property(MaxTest = 25)]
    public void Accumulate_Float64_EqualsReference(int seed) => AccumulateEqualsReference<double>(seed);

    /// <inheritdoc cref="Accumulate_Float64_EqualsReference"/>
    [Property(MaxTest = 25)]
    public void Accumulate_Float32_EqualsReference(int seed) => AccumulateEqualsReference<float>(seed);

    private static void AccumulateEqualsReference<T>(int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (points, n, features, options) = Problem(seed);
        int p = features.Count, d = features.Dimension, e = features.EmbeddingLength;
        var draws = new TrainingDraws(points, n, d, features, options);
        var (u, v, c) = RandomFeatureTrainer.Accumulate<T>(draws, features, 2);
        var (ur, vr, cr, absU, absV) = RandomFeatureReference.Accumulate(points, n, features, options);
        double uT = ErrorBound.UnitRoundoff<T>(), u64 = ErrorBound.UnitRoundoffDouble;
        double gz = ErrorBound.Gamma(d + e + 5, uT) + ErrorBound.Gamma(d + e + 3, u64);
        double sums = ErrorBound.Gamma(RandomFeatureTrainer.BlockRows, uT) + 4 * uT + ErrorBound.Gamma((int)Math.Min(draws.Rows + 8, int.MaxValue / 2), u64);
        var boundU = new double[p * p];
        var boundV = new double[d * p];
        var x = new double[d];
        var y = new double[d];
        for (long row = 0; row < draws.Rows; row++)
        {
            draws.Row(row, x, y);
            double t = draws.Times[draws.NodeOf(row)], cw = draws.RowWeight(row);
            var f = RandomFeatureReference.Features(features, x, t);
            var eps = RandomFeatureReference.PreactivationMagnitudes(features, x, t).Select(z => gz * z).ToArray();
            for (int i = 0; i < p; i++)
                for (int j = 0; j < p; j++)
                    boundU[i * p + j] += cw * (eps[i] * Math.Abs(f[j]) + Math.Abs(f[i]) * eps[j] + eps[i] * eps[j]) / p;
            for (int k = 0; k < d; k++)
                for (int j = 0; j < p; j++)
                    boundV[k * p + j] += cw * Math.Abs(y[k]) * eps[j] / p;
        }
        for (int i = 0; i < p * p; i++)
        {
            double bound = 2 * (boundU[i] + sums * absU[i]) + double.Epsilon;
            Assert.True(Math.Abs(u[i] - ur[i]) <= bound, $"U[{i / p},{i % p}] = {u[i]:R}, reference {ur[i]:R}, bound {bound:E3} (P={p}, D={d})");
        }
        for (int i = 0; i < d * p; i++)
        {
            double bound = 2 * (boundV[i] + (sums + 2 * uT) * absV[i]) + double.Epsilon;
            Assert.True(Math.Abs(v[i] - vr[i]) <= bound, $"V[{i / p},{i % p}] = {v[i]:R}, reference {vr[i]:R}, bound {bound:E3}");
        }
        Assert.True(Math.Abs(c - cr) <= 2 * (sums + 4 * uT) * cr, $"C = {c:R}, reference {cr:R}");
    }

    /// <summary>U is symmetric (exactly: the lower triangle is a copy) and positive semi-definite: its eigenvalues are at least
    /// −P·γ_P(u₆₄)·λ_max, what rounding of a Gram matrix's entries can push a zero eigenvalue to.</summary>
    [Property(MaxTest = 20)]
    public void U_IsSymmetricPositiveSemiDefinite(int seed)
    {
        var (points, n, features, options) = Problem(seed);
        var fit = RandomFeatureTrainer.Fit(new TrainingSet<float>(points.Select(v => (float)v).ToArray(), n, features.Dimension), features, options);
        int p = features.Count;
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++)
                Assert.Equal(fit.U[i * p + j], fit.U[j * p + i]);
        double max = fit.Eigenvalues[^1];
        double floor = -p * ErrorBound.Gamma(Math.Max(p, 128), ErrorBound.UnitRoundoffSingle) * Math.Max(max, 0) - double.Epsilon;
        Assert.True(fit.Eigenvalues[0] >= floor, $"smallest eigenvalue {fit.Eigenvalues[0]:E3} below {floor:E3}");
    }

    /// <summary>
    /// The closed form A(τ) equals explicit gradient descent A ← A − η D ∇L(A) with the gradient formed row by row from the
    /// reference features (not from U and V), n = τ/η steps from a Gaussian A_0. In U's eigenbasis each coordinate of
    /// B − B_∞ is multiplied by (1 − 2ηλ)^n instead of e^{−2τλ}; they differ by at most n(2ηλ)²/2 = 2τηλ², so
    /// ‖B_GD − B(τ)‖_max ≤ 2τηλ_max² ‖B_0 − B_∞‖_F, plus the rounding of n steps (n·R·P·u₆₄ relative).
    /// </summary>
    [Fact]
    public void ClosedForm_EqualsGradientDescent()
    {
        var points = new[] { 1.0, 0.5, -1.0, 0.25, 0.3, -0.8 };
        const int n = 3, d = 2, p = 5;
        var features = RandomFeatures.Draw(d, p, 1, NoiseSchedule.OrnsteinUhlenbeck, 1.0, 7);
        var options = new RandomFeatureTraining { TimeMin = 0.05, Nodes = 3, Draws = 6, Initial = InitialCoefficients.Gaussian };
        var fit = RandomFeatureTrainer.Fit(new TrainingSet<double>(points, n, d), features, options);
        Assert.True(fit.Eigenvalues[0] >= fit.Threshold, "the test needs every eigenvalue kept");
        double lambdaMax = fit.Eigenvalues[^1];
        double tau = 1.5 / lambdaMax;
        const int steps = 20000;
        double eta = tau / steps;

        var draws = new TrainingDraws(points, n, d, features, options);
        int rows = (int)draws.Rows;
        var f = new double[rows][];
        var target = new double[rows][];
        var weight = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            var x = new double[d];
            target[r] = new double[d];
            draws.Row(r, x, target[r]);
            f[r] = RandomFeatureReference.Features(features, x, draws.Times[draws.NodeOf(r)]);
            weight[r] = draws.RowWeight(r);
        }
        var a = fit.Coefficients(0); // A_0
        double root = Math.Sqrt(p);
        var gradient = new double[d * p];
        for (int s = 0; s < steps; s++)
        {
            Array.Clear(gradient);
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < d; k++)
                {
                    double m = 0;
                    for (int j = 0; j < p; j++) m += a[k * p + j] * f[r][j];
                    double residual = m / root - target[r][k];
                    for (int j = 0; j < p; j++) gradient[k * p + j] += 2 * weight[r] * residual * f[r][j] / root; // D·∇L
                }
            for (int i = 0; i < a.Length; i++) a[i] -= eta * gradient[i];
        }
        var closed = fit.Coefficients(tau);
        var start = fit.Coefficients(0);
        var limit = fit.Coefficients(double.PositiveInfinity);
        double spread = Math.Sqrt(start.Zip(limit, (s0, s1) => (s0 - s1) * (s0 - s1)).Sum()) / root;
        double scale = limit.Concat(start).Max(Math.Abs);
        double bound = root * (2 * tau * eta * lambdaMax * lambdaMax * spread) + (double)steps * rows * p * ErrorBound.UnitRoundoffDouble * scale;
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - closed[i]) <= bound, $"A[{i}]: gradient descent {a[i]:R}, closed form {closed[i]:R}, bound {bound:E3}");
        // and the flow moved: A(τ) is neither A_0 nor A(∞)
        Assert.True(a.Zip(start, (x0, x1) => Math.Abs(x0 - x1)).Max() > 100 * bound);
        Assert.True(a.Zip(limit, (x0, x1) => Math.Abs(x0 - x1)).Max() > 100 * bound);
    }

    /// <summary>
    /// τ = ∞ solves the normal equations B U = V (every eigenvalue kept), solved here by MathNet's LU. Perturbation bound:
    /// ‖ΔB‖ ≤ κ(U)·(P·γ_P(u₆₄))·‖B‖ for both the eigen route and the solve, so the entries agree within twice that, times 4.
    /// </summary>
    [Fact]
    public void ConvergedModel_SolvesTheNormalEquations()
    {
        var points = new[] { 1.0, 0.5, -1.0, 0.25, 0.3, -0.8, 2, 2 };
        const int n = 4, d = 2, p = 12;
        var features = RandomFeatures.Draw(d, p, 2, NoiseSchedule.OrnsteinUhlenbeck, 2.0, 11);
        var options = new RandomFeatureTraining { TimeMin = 0.05, Nodes = 5, Draws = 8 };
        var fit = RandomFeatureTrainer.Fit(new TrainingSet<double>(points, n, d), features, options);
        Assert.True(fit.Eigenvalues[0] >= fit.Threshold, "the test needs every eigenvalue kept");
        var u = Matrix<double>.Build.Dense(p, p, (i, j) => fit.U[i * p + j]);
        var vt = Matrix<double>.Build.Dense(p, d, (j, k) => fit.V[k * p + j]);
        var bt = u.Solve(vt); // Uᵀ Bᵀ = Vᵀ
        var a = fit.Coefficients(double.PositiveInfinity);
        double kappa = fit.Eigenvalues[^1] / fit.Eigenvalues[0];
        double scale = bt.Enumerate().Max(Math.Abs);
        double bound = 8 * kappa * p * ErrorBound.Gamma(p, ErrorBound.UnitRoundoffDouble) * scale;
        for (int k = 0; k < d; k++)
            for (int j = 0; j < p; j++)
                Assert.True(Math.Abs(a[k * p + j] / Math.Sqrt(p) - bt[j, k]) <= bound, $"B[{k},{j}] = {a[k * p + j] / Math.Sqrt(p):R}, normal equations {bt[j, k]:R}, bound {bound:E3}");
        // and the loss from U, V, C equals the reference loss on the draws (both exact up to rounding relative to C)
        double loss = fit.Loss(a), reference = RandomFeatureReference.Loss(points, n, features, options, a);
        Assert.True(Math.Abs(loss - reference) <= 1e-9 * fit.TargetMeanSquare, $"loss {loss:R}, reference {reference:R}");
    }

    /// <summary>The same seed gives the same U, V and A bit for bit; 1 and 2 threads give the same bits; another seed differs.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fit_IsDeterministicBySeed_AndThreadCountInvariant(bool float64)
    {
        var rng = new Random(5);
        var points = Enumerable.Range(0, 7 * 3).Select(_ => rng.NextDouble()).ToArray();
        RandomFeatureFit Fit(ulong seed, int threads)
        {
            var features = RandomFeatures.Draw(3, 37, 3, NoiseSchedule.OrnsteinUhlenbeck, 1.0, seed);
            var options = new RandomFeatureTraining { TimeMin = 0.01, Nodes = 7, Draws = 5, MaxDegreeOfParallelism = threads, Initial = InitialCoefficients.Gaussian };
            return float64
                ? RandomFeatureTrainer.Fit(new TrainingSet<double>(points, 7, 3), features, options)
                : RandomFeatureTrainer.Fit(new TrainingSet<float>(points.Select(v => (float)v).ToArray(), 7, 3), features, options);
        }
        var one = Fit(42, 1);
        var two = Fit(42, 2);
        var again = Fit(42, 2);
        var other = Fit(43, 2);
        Assert.True(one.U.SequenceEqual(two.U) && one.V.SequenceEqual(two.V), "U, V differ between 1 and 2 threads");
        Assert.True(two.U.SequenceEqual(again.U), "U differs between two runs");
        Assert.Equal(one.Coefficients(3.0), two.Coefficients(3.0));
        Assert.Equal(one.Coefficients(double.PositiveInfinity), again.Coefficients(double.PositiveInfinity));
        Assert.False(one.U.SequenceEqual(other.U));
    }

    /// <summary>
    /// Both eigen-decompositions (LAPACK where it loads, MathNet always) are backward stable: Q Λ Qᵀ reproduces the matrix
    /// within c·n·u₆₄·‖U‖ (c = 16 for the constants of Householder tridiagonalisation and the QR/divide-and-conquer steps),
    /// Q is orthonormal to the same order, and their eigenvalues agree within twice that (Weyl).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(70)]
    public void EigenDecomposition_ReconstructsTheMatrix(int n)
    {
        var rng = new Random(n);
        var x = Enumerable.Range(0, n * (n + 3)).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var u = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int r = 0; r < n + 3; r++) u[i * n + j] += x[r * n + i] * x[r * n + j];
        double norm = Math.Sqrt(u.Sum(v => v * v));
        double bound = 16 * n * ErrorBound.UnitRoundoffDouble * norm;
        var results = new[] { SymmetricEigen.Decompose(u, n), SymmetricEigen.Decompose(u, n, managed: true) };
        foreach (var (values, vectors) in results)
        {
            for (int m = 1; m < n; m++) Assert.True(values[m] >= values[m - 1], "eigenvalues not ascending");
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    double sum = 0, dot = 0;
                    for (int m = 0; m < n; m++)
                    {
                        sum += vectors[i * n + m] * values[m] * vectors[j * n + m];
                        dot += vectors[m * n + i] * vectors[m * n + j];
                    }
                    Assert.True(Math.Abs(sum - u[i * n + j]) <= bound, $"({i},{j}): {sum:R} vs {u[i * n + j]:R} ({SymmetricEigen.Implementation})");
                    Assert.True(Math.Abs(dot - (i == j ? 1 : 0)) <= 16 * n * ErrorBound.UnitRoundoffDouble, "Q not orthonormal");
                }
        }
        for (int m = 0; m < n; m++)
            Assert.True(Math.Abs(results[0].Values[m] - results[1].Values[m]) <= 2 * bound, $"eigenvalue {m}: {results[0].Values[m]:R} vs {results[1].Values[m]:R}");
    }

    /// <summary>Bad input names the parameter, the value and the remedy.</summary>
    [Fact]
    public void BadInput_Throws()
    {
        var ou = NoiseSchedule.OrnsteinUhlenbeck;
        Assert.Contains("P >= 1", Assert.Throws<ArgumentOutOfRangeException>("features", () => RandomFeatures.Draw(2, 0, 1, ou, 1, 0)).Message);
        Assert.Contains("K >= 0", Assert.Throws<ArgumentOutOfRangeException>("harmonics", () => RandomFeatures.Draw(2, 3, -1, ou, 1, 0)).Message);
        var features = RandomFeatures.Draw(2, 3, 1, ou, 1, 0);
        var train = new TrainingSet<double>(new[] { 0.0, 1, 1, 0 }, 2, 2);
        Assert.Contains("t_min < t_max", Assert.Throws<ArgumentOutOfRangeException>("TimeMin",
            () => RandomFeatureTrainer.Fit(train, features, new RandomFeatureTraining { TimeMin = 1.0 })).Message);
        Assert.Contains("odd", Assert.Throws<ArgumentOutOfRangeException>("Nodes",
            () => RandomFeatureTrainer.Fit(train, features, new RandomFeatureTraining { Nodes = 4 })).Message);
        Assert.Contains("sigma2", Assert.Throws<ArgumentException>("name", () => RandomFeatureTraining.ParseWeighting("sigma3")).Message);
        var fit = RandomFeatureTrainer.Fit(train, features, new RandomFeatureTraining { Nodes = 3, Draws = 2 });
        Assert.Contains(">= 0", Assert.Throws<ArgumentOutOfRangeException>("tau", () => fit.Coefficients(-1)).Message);
        var wrongD = new TrainingSet<double>(new[] { 0.0, 1, 1 }, 1, 3);
        Assert.Contains("D = 2", Assert.Throws<ArgumentException>("train", () => RandomFeatureTrainer.Fit(wrongD, features)).Message);
    }
}
