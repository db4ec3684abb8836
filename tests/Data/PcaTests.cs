using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics.Data;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// PCA against a brute-force reference (the D×D sample covariance summed naively and decomposed by MathNet), on
/// random shapes that take both the Gram (N ≤ D) and the covariance (N &gt; D) path.
/// <para>
/// Error analysis (u = 2⁻⁵³): a backward-stable symmetric eigensolver on an m×m matrix perturbs it by ≲ c·m·u·‖S‖
/// (c ≈ 10 covers Householder tridiagonalisation plus implicit QL); forming S adds ≤ γ_N‖S‖ (scatter) or γ_D (Gram).
/// Eigenvalues then move by that much (Weyl) and an eigenvector whose eigenvalue is separated by a gap g from the
/// rest turns by ≲ that/g (Davis–Kahan). Both solutions carry it, so the tolerances are twice
/// 10·(m + N + D)·u·λ₁ for eigenvalues and the same over g for directions, g being the relative gap to the
/// neighbouring eigenvalues (components with g below 1e−6·λ₁ are not compared one by one).
/// </para>
/// </summary>
public class PcaTests
{
    private const double U = 1.0 / (1L << 53);

    public sealed record Case(int N, int D, int K, int Rank, int Seed)
    {
        public override string ToString() => $"N={N} D={D} k={K} rank={Rank} seed={Seed}";

        /// <summary>Rows μ + Σ_j z_ij a_j over Rank random directions with scales 1 … 10, plus noise 1e−3 when Rank = D.</summary>
        public double[] Data()
        {
            var rng = new Random(Seed);
            var mean = Enumerable.Range(0, D).Select(_ => 10 * rng.NextDouble() - 5).ToArray();
            var dirs = Enumerable.Range(0, Rank * D).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            var data = new double[N * D];
            for (int i = 0; i < N; i++)
            {
                mean.CopyTo(data, i * D);
                for (int j = 0; j < Rank; j++)
                {
                    double z = (1 + 9.0 * j / Math.Max(Rank - 1, 1)) * (2 * rng.NextDouble() - 1);
                    for (int a = 0; a < D; a++)
                        data[i * D + a] += z * dirs[j * D + a];
                }
            }
            return data;
        }
    }

    private static readonly Arbitrary<Case> Cases = (
        from n in Gen.Choose(2, 45)
        from d in Gen.Choose(2, 33)
        from rank in Gen.Choose(1, Math.Min(n - 1, d))
        from k in Gen.Choose(1, Math.Min(n, d))
        from seed in Gen.Choose(0, int.MaxValue)
        select new Case(n, d, k, rank, seed)).ToArbitrary();

    [Property(MaxTest = 150)]
    public Property Fit_MatchesTheBruteForceReference() => Prop.ForAll(Cases, CheckAgainstReference);

    [Theory]
    [InlineData(10, 30, 3, 3, 1)]   // Gram path
    [InlineData(200, 12, 4, 4, 2)]  // covariance path
    [InlineData(7, 7, 7, 6, 3)]     // k = min(N, D): the last direction completes the basis
    public void Fit_OnFixedCases_MatchesTheReference(int n, int d, int k, int rank, int seed) =>
        CheckAgainstReference(new Case(n, d, k, rank, seed));

    private static void CheckAgainstReference(Case c)
    {
        var data = c.Data();
        var pca = Pca.Fit(data, c.N, c.D, c.K);
        Assert.Equal(c.K, pca.Components);

        // Reference: the naive covariance, MathNet EVD, descending, same sign rule.
        var mean = new double[c.D];
        for (int a = 0; a < c.D; a++)
            mean[a] = Enumerable.Range(0, c.N).Sum(i => data[i * c.D + a]) / c.N;
        var cov = Matrix<double>.Build.Dense(c.D, c.D, (a, b) =>
            Enumerable.Range(0, c.N).Sum(i => (data[i * c.D + a] - mean[a]) * (data[i * c.D + b] - mean[b])) / (c.N - 1));
        var evd = cov.Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, c.D).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
        var lambda = order.Select(i => Math.Max(0, evd.EigenValues[i].Real)).ToArray();
        double top = Math.Max(lambda[0], 1e-300);
        double eigTolerance = 2 * 10 * (Math.Min(c.N, c.D) + c.N + c.D) * U * top;

        for (int a = 0; a < c.D; a++)
            Assert.Equal(mean[a], pca.Mean[a], 1e-12 * (1 + Math.Abs(mean[a])));
        for (int t = 0; t < c.K; t++)
            Assert.True(Math.Abs(pca.ExplainedVariance[t] - lambda[t]) <= eigTolerance,
                $"λ{t} = {pca.ExplainedVariance[t]:R}, reference {lambda[t]:R}, at {c}");
        Assert.Equal(cov.Trace(), pca.TotalVariance, 1e-12 * (1 + cov.Trace()));

        var u = pca.Directions.ToArray();
        for (int r = 0; r < c.K; r++)
            for (int s = 0; s <= r; s++)
            {
                double dot = Enumerable.Range(0, c.D).Sum(a => u[r * c.D + a] * u[s * c.D + a]);
                Assert.True(Math.Abs(dot - (r == s ? 1 : 0)) <= 1e-12, $"<u{r}, u{s}> = {dot:R} at {c}");
            }
        for (int t = 0; t < c.K; t++)
        {
            double gap = Math.Min(t > 0 ? lambda[t - 1] - lambda[t] : double.PositiveInfinity, t + 1 < c.D ? lambda[t] - lambda[t + 1] : double.PositiveInfinity);
            if (gap < 1e-6 * top || lambda[t] <= eigTolerance)
                continue;
            var reference = evd.EigenVectors.Column(order[t]).ToArray();
            int big = 0;
            for (int a = 1; a < c.D; a++)
                if (Math.Abs(reference[a]) > Math.Abs(reference[big]))
                    big = a;
            if (reference[big] < 0)
                reference = reference.Select(v => -v).ToArray();
            double tolerance = eigTolerance / gap + 1e-14;
            double worst = Enumerable.Range(0, c.D).Max(a => Math.Abs(reference[a] - u[t * c.D + a]));
            // Near-equal largest components can flip the sign rule between the two solutions: compare up to sign then.
            double flipped = Enumerable.Range(0, c.D).Max(a => Math.Abs(reference[a] + u[t * c.D + a]));
            Assert.True(Math.Min(worst, flipped) <= tolerance, $"direction {t} differs by {worst:G3} (tolerance {tolerance:G3}) at {c}");
        }
    }

    [Property(MaxTest = 100)]
    public Property DecodeEncode_IsTheIdentityOnTheSpan() =>
        Prop.ForAll(Cases, c =>
        {
            var data = c.Data();
            var pca = Pca.Fit(data, c.N, c.D, Math.Min(Math.Max(c.K, c.Rank), Math.Min(c.N, c.D)));
            // The rows lie in a Rank-flat through the mean and k ≥ Rank: the projection reproduces them. Error: the
            // fitted flat tilts by ≲ 2·10(m + N + D)u·λ₁/λ_Rank (class remarks, the gap to the zero eigenvalues being
            // λ_Rank), times ‖x − μ‖ ≤ 10√(Rank·D), plus the rounding of encode/decode (≲ 4(D + k)u‖x‖, ‖x‖ ≤ 5√D + ‖x − μ‖).
            var back = pca.Decode(pca.Encode(data));
            var variance = pca.ExplainedVariance;
            double spread = 10 * Math.Sqrt(c.Rank * c.D), norm = 5 * Math.Sqrt(c.D) + spread;
            double tilt = 2 * 10 * (Math.Min(c.N, c.D) + c.N + c.D) * U * variance[0] / variance[c.Rank - 1];
            double tolerance = tilt * spread + 4 * (c.D + pca.Components) * U * norm;
            for (int i = 0; i < data.Length; i++)
                Assert.True(Math.Abs(back[i] - data[i]) <= tolerance, $"entry {i}: {back[i]:R} vs {data[i]:R} (tolerance {tolerance:G3}) at {c}");
            var codes = pca.Encode(data.AsSpan(0, c.D));
            var decoded = pca.Decode(codes);
            Assert.Equal(pca.Encode(decoded), codes, (x, y) => Math.Abs(x - y) <= tolerance);
        });

    [Fact]
    public void ExplainedVarianceRatio_OfAFullFit_SumsToOne()
    {
        var data = new Case(50, 6, 6, 6, 9).Data();
        var pca = Pca.Fit(data, 50, 6, 6);
        Assert.Equal(1, pca.ExplainedVarianceRatio().Sum(), 12);
        Assert.Throws<InvalidOperationException>(() => pca.ToSubspace());
        var flat = Pca.Fit(data, 50, 6, 2).ToSubspace();
        Assert.Equal(2, flat.IntrinsicDimension);
    }

    [Fact]
    public void BadArguments_Throw_NamingTheParameter()
    {
        var data = new double[12];
        Assert.Equal("components", Assert.Throws<ArgumentOutOfRangeException>(() => Pca.Fit(data, 4, 3, 0)).ParamName);
        Assert.Equal("components", Assert.Throws<ArgumentOutOfRangeException>(() => Pca.Fit(data, 4, 3, 4)).ParamName);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => Pca.Fit(data, 5, 3, 1)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => Pca.Fit(data, 0, 3, 1)).ParamName);
        data[7] = double.NaN;
        var nan = Assert.Throws<ArgumentException>(() => Pca.Fit(data, 4, 3, 1));
        Assert.Contains("row 2", nan.Message);
        var pca = Pca.Fit(new double[] { 0, 0, 1, 1, 2, 0 }, 3, 2, 1);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => pca.Encode(new double[3])).ParamName);
        Assert.Equal("codes", Assert.Throws<ArgumentException>(() => pca.Decode([double.PositiveInfinity])).ParamName);
    }
}
