using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// The low-rank Hessian factor (<see cref="Hessian.Factor{T}"/>) against the float64 reference
/// <see cref="ScoreReference.Hessian"/> and MathNet's dense symmetric eigen-decomposition of it. One suite, every backend
/// (the backend gives the pivot m of the host pass; the factor itself is formed on the host in double).
/// <para>
/// The bound, per entry of H (<see cref="EntryBound"/>). Both paths recompute the logits in double from the same stored
/// values (the fast path by FMA differences and Vector512 sums, the reference by FMA differences and a plain loop), so no
/// float32 rounding enters: with u = 2⁻⁵³, each logit carries |Δu_i| ≤ δ_i = γ_{D+6}|u_i| + 8u, so each weight ratio
/// p̃_i/p_i lies in [e^{−2δ}, e^{2δ}] (δ the largest δ_i over the points within 40 nats of the maximum) and the two paths'
/// weights differ by at most (e^{4δ} − 1) p_i. C = Σ p_i (y_i − m)(y_i − m)ᵀ is about the mean, so a common error of m
/// enters to second order only and each entry moves by at most Σ |Δp_i| ‖y_i − m‖² plus the rounding of the sums
/// (γ_{N+D+8} Σ p_i ‖y_i − m‖² for each path). The cut-off c drops a relative mass ≤ N e^{−c}, which moves C by at most
/// N e^{−c}·2 (max_i ‖y_i − m‖² + tr C). With S = Σ p_i ‖y_i − m‖² = tr C and R = max_i ‖y_i − m‖² (from the reference):
/// <c>E = 2 (α²/σ⁴) [(2γ_{N+D+8} + e^{4δ} − 1) S + 2 (N e^{−c} + N e^{−39}) (R + S)] + 4u/σ²</c>, the factor 2 for the
/// second-order terms, 4u/σ² for the rounding of the diagonal shift.
/// </para>
/// </summary>
public abstract class HessianProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private const double U = ErrorBound.UnitRoundoffDouble;

    /// <summary>The per-entry bound on |H_fast − H_reference| written in the class summary.</summary>
    public static double EntryBound(double[] train, int d, ReadOnlySpan<double> x, NoiseLevel level, double cut)
    {
        int n = train.Length / d;
        double[] logits = ScoreReference.Logits(train, d, x, level);
        double[] p = ScoreReference.Weights(train, d, x, level);
        double[] m = ScoreReference.Denoiser(train, d, x, level);
        double delta = LogitError(logits, d), s = 0, r = 0;
        for (int i = 0; i < n; i++)
        {
            double t = 0;
            for (int k = 0; k < d; k++) t += (train[i * d + k] - m[k]) * (train[i * d + k] - m[k]);
            s += p[i] * t;
            r = Math.Max(r, t);
        }
        double c2 = level.Alpha / level.Sigma / level.Sigma * (level.Alpha / level.Sigma / level.Sigma);
        double dropped = Math.Min(1, n * Math.Exp(-cut)) + n * Math.Exp(-39);
        return 2 * c2 * ((2 * ErrorBound.Gamma(n + d + 8, U) + (Math.Exp(4 * delta) - 1)) * s + 2 * dropped * (r + s))
            + 4 * U / level.Sigma / level.Sigma;
    }

    /// <summary>δ of the class summary: the largest logit error γ_{D+6}|u_i| + 8u over the points within 40 nats of the largest.</summary>
    public static double LogitError(double[] logits, int d)
    {
        double max = logits.Max(), delta = 0;
        foreach (double u in logits)
            if (u >= max - 40) delta = Math.Max(delta, ErrorBound.Gamma(d + 6, U) * Math.Abs(u) + 8 * U);
        return delta;
    }

    private static int Queries(Problem p) => Math.Min(p.M, 6);

    private HessianFactor[] Factors<T>(Problem p, out double[] trainD, out double[] queriesD, int maxRank = Hessian.DefaultMaxRank)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, tD, qD) = p.Build<T>();
        trainD = tD;
        queriesD = qD;
        var model = new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D), Backend);
        return Hessian.Factor(model, queries.AsSpan(0, Queries(p) * p.D), p.Level, maxRank);
    }

    private static void DenseWithinBound(HessianFactor f, double[] trainD, int d, ReadOnlySpan<double> x, NoiseLevel level, double cut, string context)
    {
        double[] expected = ScoreReference.Hessian(trainD, d, x, level);
        double[] actual = f.Dense();
        double bound = EntryBound(trainD, d, x, level, cut);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound,
                $"H[{i / d},{i % d}] = {actual[i]:R}, reference {expected[i]:R}, |error| {Math.Abs(actual[i] - expected[i]):G3} > bound {bound:G3}; rank {f.Rank}; {context}");
    }

    private void DenseMatchesReference<T>(Problem p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var factors = Factors<T>(p, out var trainD, out var queriesD);
        double cut = ScorePartials.NegligibleLogit<T>(p.N);
        for (int q = 0; q < factors.Length; q++)
            DenseWithinBound(factors[q], trainD, p.D, queriesD.AsSpan(q * p.D, p.D), p.Level, cut, $"{typeof(T).Name} {Backend.Name} query {q}: {p}");
    }

    /// <summary>(i) Dense() equals the reference Hessian within <see cref="EntryBound"/>, float32 and float64 inputs.</summary>
    [BackendProperty(MaxTest = 80)]
    public Property Dense_Float32_MatchesReference() => Prop.ForAll(Problem.Arbitrary, DenseMatchesReference<float>);

    [BackendProperty(MaxTest = 40)]
    public Property Dense_Float64_MatchesReference() => Prop.ForAll(Problem.Arbitrary, DenseMatchesReference<double>);

    /// <summary>
    /// (ii) Multiply equals Dense times a random vector: both sum r + D products in double, so each component differs by
    /// at most 2γ_{r+D} (‖F‖²_F ‖v‖ + ‖v‖/σ²) (|Σ_j f_ja (f_j·v)| ≤ Σ_j ‖f_j‖² ‖v‖).
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property Multiply_EqualsDenseTimesVector() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var factors = Factors<float>(p, out _, out _);
            var rng = new Random(p.Seed);
            foreach (var f in factors)
            {
                int d = p.D;
                var v = Enumerable.Range(0, d).Select(_ => Problem.Gaussian(rng)).ToArray();
                var h = f.Dense();
                var hv = new double[d];
                f.Multiply(v, hv);
                double normV = Math.Sqrt(v.Sum(t => t * t)), normF = f.Rows.ToArray().Sum(t => t * t);
                double bound = 2 * ErrorBound.Gamma(f.Rank + d + 2, U) * (normF * normV + normV / p.Sigma / p.Sigma) * 2;
                for (int a = 0; a < d; a++)
                {
                    double expected = 0;
                    for (int b = 0; b < d; b++) expected += h[a * d + b] * v[b];
                    Assert.True(Math.Abs(hv[a] - expected) <= bound, $"(Hv)[{a}] = {hv[a]:R} vs dense {expected:R}, bound {bound:G3}; {p}");
                }
            }
        });

    private static readonly Arbitrary<Problem> SmallD = Problem.Arbitrary.Generator
        .Select(p => p with { D = Math.Min(p.D, 40) }).ToArbitrary();

    /// <summary>
    /// (iii) Eigen top-k and bottom-k equal MathNet's dense eigen-decomposition of the reference Hessian, D ≤ 40. By Weyl
    /// each eigenvalue moves by at most ‖ΔH‖₂ ≤ D·E (E the entry bound), plus each eigensolver's backward error,
    /// 64 (D + r) u (‖H‖_F + 1/σ²) (and the Gram path's cut of μ below 64 r u μ_max, inside it). Eigenvectors are compared
    /// as projectors where the gap g is clear (g > 10 × the eigenvalue tolerance): Davis–Kahan gives
    /// ‖P − P̃‖_F ≤ √2 ‖sin Θ‖_F ≤ 2√(2k)·tol/g.
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property Eigen_MatchesDenseEigenDecomposition() =>
        Prop.ForAll(SmallD, Gen.Choose(0, 10_000).ToArbitrary(), (p, pick) =>
        {
            var factors = Factors<float>(p, out var trainD, out var queriesD);
            double cut = ScorePartials.NegligibleLogit<float>(p.N);
            int d = p.D;
            for (int q = 0; q < factors.Length; q++)
            {
                var f = factors[q];
                var x = queriesD.AsSpan(q * d, d);
                var h = ScoreReference.Hessian(trainD, d, x, p.Level);
                var evd = Matrix<double>.Build.Dense(d, d, (i, j) => h[i * d + j]).Evd(Symmetricity.Symmetric);
                var order = Enumerable.Range(0, d).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
                var lambda = order.Select(i => evd.EigenValues[i].Real).ToArray();
                double normH = Math.Sqrt(h.Sum(t => t * t));
                double tol = d * EntryBound(trainD, d, x, p.Level, cut) + 64 * (d + f.Rank) * U * (normH + 1 / p.Sigma / p.Sigma);
                int k = 1 + (pick + q) % d;
                foreach (bool largest in new[] { true, false })
                {
                    var eig = f.Eigen(k, largest);
                    int first = largest ? 0 : d - k;
                    for (int i = 0; i < k; i++)
                        Assert.True(Math.Abs(eig.Values[i] - lambda[first + i]) <= tol,
                            $"{(largest ? "top" : "bottom")}-{k} value {i} = {eig.Values[i]:R}, dense {lambda[first + i]:R}, tol {tol:G3}; query {q}: {p}");
                    AssertOrthonormal(eig, k, d, p.ToString());
                    // the projector onto the k vectors, where the spectrum has a clear gap at its edge
                    int edge = largest ? k : d - k; // gap between lambda[edge − 1] and lambda[edge]
                    if (edge <= 0 || edge >= d) continue;
                    double gap = lambda[edge - 1] - lambda[edge];
                    if (gap <= 10 * tol) continue;
                    double proj = 0;
                    for (int a = 0; a < d; a++)
                        for (int b = 0; b < d; b++)
                        {
                            double mine = 0, theirs = 0;
                            for (int i = 0; i < k; i++) mine += eig.Vector(i)[a] * eig.Vector(i)[b];
                            for (int i = first; i < first + k; i++) theirs += evd.EigenVectors[a, order[i]] * evd.EigenVectors[b, order[i]];
                            proj += (mine - theirs) * (mine - theirs);
                        }
                    double allowed = 2 * Math.Sqrt(2 * k) * tol / gap + 1e-9;
                    Assert.True(Math.Sqrt(proj) <= allowed,
                        $"{(largest ? "top" : "bottom")}-{k} projector differs by {Math.Sqrt(proj):G3} > {allowed:G3} (gap {gap:G3}); query {q}: {p}");
                }
            }
        });

    private static void AssertOrthonormal(HessianEigen eig, int k, int d, string context)
    {
        for (int i = 0; i < k; i++)
            for (int j = 0; j <= i; j++)
            {
                double dot = 0;
                for (int a = 0; a < d; a++) dot += eig.Vector(i)[a] * eig.Vector(j)[a];
                Assert.True(Math.Abs(dot - (i == j ? 1 : 0)) <= 1e-10, $"vectors {i}, {j}: dot {dot:G6}; {context}");
            }
    }

    /// <summary>
    /// (iv) D = 784, pixels ±1, α = 0.316, σ = 0.949 (the tests' pixel-like case), with a few heavy points: the training set
    /// holds four near-copies of its first rows (three pixels flipped each), and the queries are noised copies of them.
    /// The rank is at most the number of kept points, every eigenvalue past the span is exactly −1/σ², the completion is
    /// orthonormal and H maps it to −v/σ², and every top eigenpair has a small residual ‖Hv − λv‖.
    /// </summary>
    [BackendFact]
    public void PixelLike_FewHeavyPoints_SpanAndConstantEigenvalue()
    {
        const int n = 300, d = 784, m = 4;
        var rng = new Random(3);
        var train = Enumerable.Range(0, n * d).Select(_ => rng.NextDouble() < 0.19 ? 1f : -1f).ToArray();
        for (int c = 1; c <= 4; c++)
        {
            Array.Copy(train, 0, train, c * d, d);
            for (int t = 0; t < 3; t++) train[c * d + rng.Next(d)] *= -1;
        }
        var level = new NoiseLevel(0.316, 0.949);
        var queries = Enumerable.Range(0, m * d).Select(i => (float)(level.Alpha * train[(i / d) * d + i % d] + 0.3 * level.Sigma * Problem.Gaussian(rng))).ToArray();
        var model = new EmpiricalScore<float>(new TrainingSet<float>(train, n, d), Backend);
        var factors = Hessian.Factor(model, queries, level);
        double floor = -1 / level.Sigma / level.Sigma;
        int heavy = 0;
        foreach (var f in factors)
        {
            Assert.True(f.Rank >= 1 && f.Rank <= n);
            heavy = Math.Max(heavy, f.Rank);
            int k = Math.Min(d, f.Rank + 3);
            var eig = f.Eigen(k, largest: true);
            for (int i = f.Rank - 1; i < k; i++) Assert.Equal(floor, eig.Values[i]); // rows sum to 0 with weights √w: rank ≤ r − 1
            AssertOrthonormal(eig, k, d, "pixel-like");
            var hv = new double[d];
            double scaleH = f.Rows.ToArray().Sum(t => t * t) + 1 / level.Sigma / level.Sigma;
            for (int i = 0; i < k; i++)
            {
                f.Multiply(eig.Vector(i), hv);
                double residual = 0;
                for (int a = 0; a < d; a++) residual += Math.Pow(hv[a] - eig.Values[i] * eig.Vector(i)[a], 2);
                Assert.True(Math.Sqrt(residual) <= 1e-12 * scaleH, $"pair {i} of rank {f.Rank}: residual {Math.Sqrt(residual):G3}");
            }
            var bottom = f.Eigen(d - f.Rank, largest: false);
            Assert.All(bottom.Values, v => Assert.Equal(floor, v));
            for (int j = 0; j < f.Rank; j++)
                for (int i = 0; i < bottom.Values.Count; i += 97)
                    Assert.True(Math.Abs(HessianFactorDot(f.Row(j), bottom.Vector(i))) <= 1e-12 * Math.Sqrt(scaleH));
        }
        Assert.True(heavy >= 2, $"the case should keep a few heavy points; the largest rank was {heavy}");
    }

    private static double HessianFactorDot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>
    /// (v) Far queries (10³ to 10⁶ σ from every point) and tiny α (OU t up to 20, α = e^{−20} ≈ 2e−9): Dense stays within
    /// the bound, in float32 and float64.
    /// </summary>
    [BackendProperty(MaxTest = 40)]
    public Property FarQueriesAndTinyAlpha_DenseWithinBound() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), Gen.Choose(0, 3).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (seed, far, tPick) =>
        {
            var rng = new Random(seed);
            int n = 2 + rng.Next(30), d = 1 + rng.Next(12);
            double t = 0.05 * Math.Pow(400, tPick / 1000.0); // OU t from 0.05 to 20
            var level = NoiseSchedule.OrnsteinUhlenbeck.At(t);
            double distance = Math.Pow(10, 3 + far) * level.Sigma;
            var train = Enumerable.Range(0, n * d).Select(_ => (float)Problem.Gaussian(rng)).ToArray();
            var direction = Enumerable.Range(0, d).Select(_ => Problem.Gaussian(rng)).ToArray();
            double norm = Math.Sqrt(direction.Sum(v => v * v));
            var queries = new float[2 * d];
            for (int k = 0; k < d; k++)
            {
                queries[k] = (float)(level.Alpha * train[k] + distance * direction[k] / norm); // far from every point
                queries[d + k] = (float)(level.Alpha * train[d + k] + level.Sigma * Problem.Gaussian(rng)); // near, tiny α
            }
            var trainD = Problem.Widen(train);
            var queriesD = Problem.Widen(queries);
            var model = new EmpiricalScore<float>(new TrainingSet<float>(train, n, d), Backend);
            var factors = Hessian.Factor(model, queries, level);
            for (int q = 0; q < 2; q++)
                DenseWithinBound(factors[q], trainD, d, queriesD.AsSpan(q * d, d), level, ScorePartials.NegligibleLogit<float>(n),
                    $"{Backend.Name} t={t:G4} distance={distance:G3} N={n} D={d} query {q}");
            var modelD = new EmpiricalScore<double>(new TrainingSet<double>(trainD, n, d), Backend);
            var factorsD = Hessian.Factor<double>(modelD, queriesD, level);
            for (int q = 0; q < 2; q++)
                DenseWithinBound(factorsD[q], trainD, d, queriesD.AsSpan(q * d, d), level, ScorePartials.NegligibleLogit<double>(n),
                    $"double {Backend.Name} t={t:G4} distance={distance:G3} N={n} D={d} query {q}");
        });

    /// <summary>(vi) The factor is the same bit for bit for any thread count.</summary>
    [BackendProperty(MaxTest = 40)]
    public Property ThreadCount_ChangesNoBits() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, _, _) = p.Build<float>();
            var model = new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, p.D), Backend);
            var one = Hessian.Factor(model, queries, p.Level, maxDegreeOfParallelism: 1);
            foreach (int threads in new[] { 2, 3, -1 })
            {
                var other = Hessian.Factor(model, queries, p.Level, maxDegreeOfParallelism: threads);
                for (int q = 0; q < p.M; q++)
                {
                    Assert.True(one[q].Rows.SequenceEqual(other[q].Rows), $"rows of query {q} differ at {threads} threads: {p}");
                    Assert.True(one[q].Weights.SequenceEqual(other[q].Weights));
                    Assert.True(one[q].Mean.SequenceEqual(other[q].Mean));
                }
            }
        });

    /// <summary>
    /// The rank cap keeps the largest weights: a capped factor's points are the first of the uncapped one's (both sorted by
    /// weight), <see cref="HessianFactor.Capped"/> says whether any were left out, and the weights sum to 1; where D is
    /// within the cap, a factor over more points than the cap is the D×D square root over all of them.
    /// </summary>
    [BackendProperty(MaxTest = 40)]
    public Property RankCap_KeepsTheLargestWeights() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(1, 4).ToArbitrary(), (p, cap) =>
        {
            var (train, queries, _, _) = p.Build<float>();
            var model = new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, p.D), Backend);
            var full = Hessian.Factor(model, queries, p.Level);
            var capped = Hessian.Factor(model, queries, p.Level, maxRank: cap);
            for (int q = 0; q < p.M; q++)
            {
                if (full[q].Rank > cap && p.D <= cap)
                {
                    // D within the cap: every kept point enters through the D×D square root, nothing is dropped
                    Assert.True(capped[q].IsSquareRoot);
                    Assert.False(capped[q].Capped);
                    Assert.Equal(p.D, capped[q].Rank);
                    Assert.True(full[q].Indices.SequenceEqual(capped[q].Indices));
                    Assert.Equal(full[q].DroppedMass, capped[q].DroppedMass);
                    continue;
                }
                Assert.Equal(Math.Min(cap, full[q].Rank), capped[q].Rank);
                Assert.Equal(full[q].Rank > cap, capped[q].Capped);
                Assert.True(full[q].Indices[..capped[q].Rank].SequenceEqual(capped[q].Indices));
                Assert.InRange(capped[q].Weights.ToArray().Sum(), 1 - 1e-12, 1 + 1e-12);
                Assert.True(capped[q].DroppedMass >= full[q].DroppedMass - 1e-12);
            }
        });

    /// <summary>
    /// More kept points than the cap with D within it: the factor is the D×D square root over every kept point, and its
    /// dense Hessian equals the reference within <see cref="EntryBound"/> plus the square root's own rounding (a backward
    /// stable eigen-decomposition of C reproduces it within 64 D u ‖C‖, scaled by α²/σ⁴).
    /// </summary>
    [BackendFact]
    public void MorePointsThanTheCap_SmallD_SquareRootIsExact()
    {
        var rng = new Random(41);
        const int n = 60, d = 3, m = 5;
        var train = Enumerable.Range(0, n * d).Select(_ => Problem.Gaussian(rng)).ToArray();
        var queries = Enumerable.Range(0, m * d).Select(_ => 0.5 * Problem.Gaussian(rng)).ToArray();
        var level = new NoiseLevel(0.9, 1.5); // broad: every point within the cut-off
        var model = new EmpiricalScore<double>(new TrainingSet<double>(train, n, d), Backend);
        var factors = Hessian.Factor(model, queries, level, maxRank: 4);
        double cut = ScorePartials.NegligibleLogit<double>(n);
        for (int q = 0; q < m; q++)
        {
            var f = factors[q];
            Assert.True(f.IsSquareRoot);
            Assert.False(f.Capped);
            Assert.Equal(d, f.Rank);
            Assert.Equal(n, f.Indices.Length);
            var x = queries.AsSpan(q * d, d);
            var expected = ScoreReference.Hessian(train, d, x, level);
            var actual = f.Dense();
            double normC = Math.Sqrt(expected.Select((v, i) => i % (d + 1) == 0 ? v + 1 / level.Variance : v).Sum(v => v * v));
            double bound = EntryBound(train, d, x, level, cut) + 64 * d * U * normC;
            for (int i = 0; i < d * d; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= bound, $"query {q}, H[{i / d},{i % d}] = {actual[i]:R}, reference {expected[i]:R}, bound {bound:G3}");
        }
    }

    /// <summary>(vii) Bad inputs are rejected with messages naming the parameter.</summary>
    [BackendFact]
    public void BadInputs_NameTheParameter()
    {
        var model = new EmpiricalScore<float>(new TrainingSet<float>(new float[] { 0, 1, 2, 3, 4, 5 }, 2, 3), Backend);
        var level = new NoiseLevel(1, 0.5);
        var queries = new float[] { 0, 0, 0 };
        Assert.Equal("maxRank", Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.Factor(model, queries, level, maxRank: 0)).ParamName);
        Assert.Equal("queries", Assert.Throws<ArgumentException>(() => Hessian.Factor(model, new float[4], level)).ParamName);
        Assert.Equal("queries", Assert.Throws<ArgumentException>(() => Hessian.Factor(model, Array.Empty<float>(), level)).ParamName);
        var nan = Assert.Throws<ArgumentException>(() => Hessian.Factor(model, new[] { 0f, float.NaN, 0f }, level));
        Assert.Equal("queries", nan.ParamName);
        Assert.Contains("NaN", nan.Message);
        Assert.Equal("level", Assert.Throws<ArgumentException>(() => Hessian.Factor(model, queries, default)).ParamName);
        Assert.Equal("maxDegreeOfParallelism", Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.Factor(model, queries, level, maxDegreeOfParallelism: 0)).ParamName);
        var f = Hessian.Factor(model, queries, level)[0];
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => f.Eigen(0)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => f.Eigen(4, largest: false)).ParamName);
        Assert.Equal("v", Assert.Throws<ArgumentException>(() => f.Multiply(new double[2], new double[3])).ParamName);
        Assert.Equal("result", Assert.Throws<ArgumentException>(() => f.Multiply(new double[3], new double[4])).ParamName);
        Assert.Equal("h", Assert.Throws<ArgumentException>(() => f.Dense(new double[8])).ParamName);
    }
}

/// <summary>The Hessian suite with the pivot pass on the SIMD CPU backend.</summary>
public sealed class CpuHessianProperties : HessianProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
