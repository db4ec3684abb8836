using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Measures;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The sample measures against brute force and closed forms.
/// <para>
/// Error analysis (u = 2⁻⁵³). Nearest: TensorPrimitives.Distance and the naive loop both sum D squared differences
/// (relative error ≤ γ_{D+2} each, whatever the order), so distances agree to 2γ_{D+2}·d and the index must agree
/// whenever the reference's first and second distances are further apart than that. Fréchet: the cross trace is a
/// sum of singular values of an m×m matrix (m = min-side sample count, or D), each off by ≲ 10·m·u·σ₁ (backward-stable
/// SVD) after forming the matrix (≲ γ_{n+D}·trace) and, on the covariance path, square roots whose product is Σ to
/// ≲ 10·D·u·λ₁: in all ≲ 20(m + n + D)·m·u·(tr Σa + tr Σb), the tolerance below; the mean term adds
/// ≲ 4u·(‖μa‖ + ‖μb‖)‖μa − μb‖. Split: t = Σ⟨b_r, v⟩b_r errs by ≲ (D + 2d)u‖v‖ and ⟨n, b_r⟩ by that plus the basis's
/// departure from orthonormality (≲ 10Du for these bases): tolerance 20(D + d)u‖v‖.
/// </para>
/// </summary>
public class MeasuresTests
{
    private const double U = 1.0 / (1L << 53);

    private static double Gamma(int n) => n * U / (1 - n * U);

    // ---------------------------------------------------------------- nearest neighbours

    public sealed record NearestCase(int M, int N, int D, int Seed, bool Duplicates)
    {
        public override string ToString() => $"M={M} N={N} D={D} seed={Seed} duplicates={Duplicates}";
    }

    private static readonly Arbitrary<NearestCase> NearestCases = (
        from m in Gen.Choose(1, 40)
        from n in Gen.Choose(2, 70)
        from d in Gen.Choose(1, 19)
        from seed in Gen.Choose(0, int.MaxValue)
        from duplicates in Gen.Elements(false, true)
        select new NearestCase(m, n, d, seed, duplicates)).ToArbitrary();

    [Property(MaxTest = 150)]
    public Property Nearest_MatchesBruteForce() =>
        Prop.ForAll(NearestCases, c =>
        {
            var rng = new Random(c.Seed);
            var train = Enumerable.Range(0, c.N * c.D).Select(_ => 4 * rng.NextDouble() - 2).ToArray();
            if (c.Duplicates)
            {
                // Exact repeats of training rows, and samples equal to training rows: ties at distance 0.
                for (int a = 0; a < c.D; a++)
                    train[(c.N - 1) * c.D + a] = train[a];
            }
            var samples = Enumerable.Range(0, c.M * c.D).Select(_ => 4 * rng.NextDouble() - 2).ToArray();
            if (c.Duplicates)
                train.AsSpan(0, c.D).CopyTo(samples);
            var nn = SampleMeasures.Nearest(samples, train, c.D);
            for (int i = 0; i < c.M; i++)
            {
                var d = Enumerable.Range(0, c.N).Select(j =>
                    Math.Sqrt(Enumerable.Range(0, c.D).Sum(a => Sq(samples[i * c.D + a] - train[j * c.D + a])))).ToArray();
                var sorted = d.Select((v, j) => (v, j)).OrderBy(p => p.v).ThenBy(p => p.j).ToArray();
                double tol = 2 * Gamma(c.D + 2) * sorted[1].v + 1e-300;
                Assert.True(Math.Abs(nn.Distance[i] - sorted[0].v) <= tol, $"sample {i}: first {nn.Distance[i]:R} vs {sorted[0].v:R} at {c}");
                Assert.True(Math.Abs(nn.SecondDistance[i] - sorted[1].v) <= tol, $"sample {i}: second {nn.SecondDistance[i]:R} vs {sorted[1].v:R} at {c}");
                if (sorted[1].v - sorted[0].v > tol)
                    Assert.Equal(sorted[0].j, nn.Index[i]);
                else if (sorted[1].v == sorted[0].v && c.Duplicates && i == 0)
                    Assert.Equal(0, nn.Index[i]); // an exact tie goes to the lower index
            }
        });

    [Fact]
    public void MemorizationShare_CountsSamplesMuchNearerTheirNearest()
    {
        double[] train = [0, 10, 20];
        double[] samples = [0.1, 5, 3, 2];
        var nn = SampleMeasures.Nearest(samples, train, 1);
        Assert.Equal([0, 0, 0, 0], nn.Index);
        Assert.Equal([0.1, 5, 3, 2], nn.Distance);
        Assert.Equal([9.9, 5, 7, 8], nn.SecondDistance);
        Assert.Equal(0.5, SampleMeasures.MemorizationShare(nn)); // 0.1 < 9.9/3 and 2 < 8/3; not 3 (7/3) nor 5
        Assert.Equal(0.75, SampleMeasures.MemorizationShare(nn, 1)); // strict: the tie at 5 does not count
        Assert.Equal(0, SampleMeasures.MemorizationShare(nn, 0.01));
        Assert.Equal("ratio", Assert.Throws<ArgumentOutOfRangeException>(() => SampleMeasures.MemorizationShare(nn, 0)).ParamName);
        Assert.Equal("ratio", Assert.Throws<ArgumentOutOfRangeException>(() => SampleMeasures.MemorizationShare(nn, double.NaN)).ParamName);
        Assert.Equal("nn", Assert.Throws<ArgumentException>(() => SampleMeasures.MemorizationShare(nn with { SecondDistance = [1] })).ParamName);
        Assert.Equal("training", Assert.Throws<ArgumentException>(() => SampleMeasures.Nearest(samples, [1.0], 1)).ParamName);
        Assert.Equal("samples", Assert.Throws<ArgumentException>(() => SampleMeasures.Nearest([1, double.NaN], train, 1)).ParamName);
    }

    // ---------------------------------------------------------------- Fréchet distance

    public sealed record FrechetCase(int NA, int NB, int D, int Seed)
    {
        public override string ToString() => $"na={NA} nb={NB} D={D} seed={Seed}";

        public (double[] A, double[] B) Sets()
        {
            var rng = new Random(Seed);
            var mix = Enumerable.Range(0, D * D).Select(_ => rng.NextDouble() - 0.5).ToArray();
            double[] Set(int n, double shift)
            {
                var s = new double[n * D];
                for (int i = 0; i < n; i++)
                    for (int a = 0; a < D; a++)
                    {
                        double z = 0;
                        for (int b = 0; b < D; b++)
                            z += mix[a * D + b] * (2 * rng.NextDouble() - 1);
                        s[i * D + a] = z + shift;
                    }
                return s;
            }
            return (Set(NA, 0), Set(NB, 1));
        }
    }

    private static readonly Arbitrary<FrechetCase> FrechetCases = (
        from na in Gen.Choose(2, 40)
        from nb in Gen.Choose(2, 40)
        from d in Gen.Choose(1, 25)
        from seed in Gen.Choose(0, int.MaxValue)
        select new FrechetCase(na, nb, d, seed)).ToArbitrary();

    private static double Tolerance(double[] a, int na, double[] b, int nb, int d)
    {
        double trace = Trace(a, na, d) + Trace(b, nb, d);
        int m = Math.Max(Math.Min(na, nb), d);
        return 20.0 * (m + na + nb + d) * m * U * trace + 1e-300;
    }

    [Property(MaxTest = 120)]
    public Property Frechet_IsSymmetric_ZeroOnIdenticalSets_AndPathIndependent() =>
        Prop.ForAll(FrechetCases, c =>
        {
            var (a, b) = c.Sets();
            double tol = Tolerance(a, c.NA, b, c.NB, c.D);
            double ab = SampleMeasures.FrechetDistance(a, c.NA, b, c.NB, c.D);
            double ba = SampleMeasures.FrechetDistance(b, c.NB, a, c.NA, c.D);
            Assert.True(Math.Abs(ab - ba) <= tol, $"FD(a, b) = {ab:R} but FD(b, a) = {ba:R} at {c}");
            foreach (bool path in new[] { true, false })
            {
                double forced = SampleMeasures.FrechetDistance(a, c.NA, b, c.NB, c.D, path);
                Assert.True(Math.Abs(forced - ab) <= tol, $"path {(path ? "samples" : "covariances")} gives {forced:R}, default {ab:R} at {c}");
                double self = SampleMeasures.FrechetDistance(a, c.NA, a, c.NA, c.D, path);
                Assert.True(self >= 0 && self <= Tolerance(a, c.NA, a, c.NA, c.D), $"FD(a, a) = {self:R} on path {path} at {c}");
            }
            // A shifted copy: the same covariance, so FD = ‖δ‖².
            var delta = Enumerable.Range(0, c.D).Select(k => 0.5 + 0.1 * k).ToArray();
            var shifted = a.Select((v, i) => v + delta[i % c.D]).ToArray();
            double expected = delta.Sum(v => v * v);
            double got = SampleMeasures.FrechetDistance(a, c.NA, shifted, c.NA, c.D);
            double meanTol = 4 * U * (10 + expected) * Math.Sqrt(expected) * c.D;
            Assert.True(Math.Abs(got - expected) <= 2 * Tolerance(a, c.NA, a, c.NA, c.D) + meanTol, $"shifted: {got:R} vs ‖δ‖² = {expected:R} at {c}");
        });

    [Theory]
    [InlineData(3, false)]
    [InlineData(3, true)]
    [InlineData(40, true)]
    [InlineData(40, false)]
    public void Frechet_OfDiagonalCovariances_HasTheClosedForm(int d, bool samplePath)
    {
        // μ ± t_k e_k for each k: mean μ, covariance diag(2t_k²/(2D − 1)) exactly (each centred row has one non-zero).
        var rng = new Random(d);
        double[] Set(double[] mean, double[] t)
        {
            var s = new double[2 * d * d];
            for (int k = 0; k < d; k++)
                for (int sign = 0; sign < 2; sign++)
                {
                    var row = s.AsSpan((2 * k + sign) * d, d);
                    mean.CopyTo(row);
                    row[k] += sign == 0 ? t[k] : -t[k];
                }
            return s;
        }
        var ma = Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray();
        var mb = Enumerable.Range(0, d).Select(_ => rng.NextDouble()).ToArray();
        var ta = Enumerable.Range(0, d).Select(_ => 0.1 + rng.NextDouble()).ToArray();
        var tb = Enumerable.Range(0, d).Select(_ => 0.1 + rng.NextDouble()).ToArray();
        var a = Set(ma, ta);
        var b = Set(mb, tb);
        int n = 2 * d;
        double expected = 0;
        for (int k = 0; k < d; k++)
        {
            double sa = Math.Sqrt(2 * ta[k] * ta[k] / (n - 1)), sb = Math.Sqrt(2 * tb[k] * tb[k] / (n - 1));
            expected += Sq(ma[k] - mb[k]) + Sq(sa - sb);
        }
        double got = SampleMeasures.FrechetDistance(a, n, b, n, d, samplePath);
        double tol = Tolerance(a, n, b, n, d) + 4 * U * d * (1 + expected);
        Assert.True(Math.Abs(got - expected) <= tol, $"{got:R} vs closed form {expected:R} (tolerance {tol:G3})");
    }

    [Fact]
    public void Frechet_BadArguments_Throw_NamingTheParameter()
    {
        var a = new double[6];
        Assert.Equal("countA", Assert.Throws<ArgumentOutOfRangeException>(() => SampleMeasures.FrechetDistance(a, 1, a, 3, 2)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => SampleMeasures.FrechetDistance(a, 3, a, 2, 2)).ParamName);
        Assert.Equal("dimension", Assert.Throws<ArgumentOutOfRangeException>(() => SampleMeasures.FrechetDistance(a, 3, a, 3, 0)).ParamName);
    }

    // ---------------------------------------------------------------- distance to a manifold and tangent/normal split

    [Fact]
    public void DistanceToManifold_IsThePerSampleDistance()
    {
        var circle = new Circle(2, dimension: 3);
        double[] samples = [3, 4, 0, 0, 0, 1, 1, 0, 0];
        var d = SampleMeasures.DistanceToManifold(circle, samples);
        Assert.Equal([3.0, Math.Sqrt(5), 1], d.Select(v => Math.Round(v, 14)).ToArray());
        Assert.Equal("samples", Assert.Throws<ArgumentException>(() => SampleMeasures.DistanceToManifold(circle, new double[4])).ParamName);
    }

    [Property(MaxTest = 100)]
    public Property TangentNormalSplit_AddsUpToV_AndTheNormalIsOrthogonal() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var rng = new Random(seed);
            int kind = rng.Next(3);
            ITangentSpace space = kind switch
            {
                0 => new Circle(1.5, [0.5, -0.5], rng.Next(2, 6)),
                1 => new Sphere(2, rng.Next(3, 9)),
                _ => new WavyCircle(0.25, 3, rng.Next(2, 5)),
            };
            int dim = space.Dimension, m = rng.Next(1, 30);
            var points = Enumerable.Range(0, m * dim).Select(_ => 4 * rng.NextDouble() - 2).ToArray();
            var vectors = Enumerable.Range(0, m * dim).Select(_ => 10 * rng.NextDouble() - 5).ToArray();
            var t = new double[m * dim];
            var n = new double[m * dim];
            SampleMeasures.TangentNormalSplit(space, points, vectors, t, n);
            var basis = new double[space.MaxTangentDimension * dim];
            for (int i = 0; i < m; i++)
            {
                var v = vectors.AsSpan(i * dim, dim);
                double norm = Math.Sqrt(v.ToArray().Sum(x => x * x));
                int d = space.TangentBasis(points.AsSpan(i * dim, dim), basis);
                double tol = 20 * (dim + d) * U * norm;
                for (int a = 0; a < dim; a++)
                    Assert.True(Math.Abs(t[i * dim + a] + n[i * dim + a] - v[a]) <= tol, $"seed {seed} row {i}: t + n ≠ v in {a}");
                for (int r = 0; r < d; r++)
                {
                    double dot = 0, dotT = 0;
                    for (int a = 0; a < dim; a++)
                    {
                        dot += n[i * dim + a] * basis[r * dim + a];
                        dotT += t[i * dim + a] * n[i * dim + a];
                    }
                    Assert.True(Math.Abs(dot) <= tol, $"seed {seed} row {i}: <n, b{r}> = {dot:G3}");
                    Assert.True(Math.Abs(dotT) <= tol * norm, $"seed {seed} row {i}: <t, n> = {dotT:G3}");
                }
            }
        });

    [Fact]
    public void TangentNormalSplit_RejectsOverlappingBuffers()
    {
        var circle = new Circle();
        var buffer = new double[4];
        Assert.Equal("normal", Assert.Throws<ArgumentException>(() =>
            SampleMeasures.TangentNormalSplit(circle, [1, 0], [0, 1], buffer.AsSpan(0, 2), buffer.AsSpan(1, 2))).ParamName);
        Assert.Equal("vectors", Assert.Throws<ArgumentException>(() =>
            SampleMeasures.TangentNormalSplit(circle, [1, 0, 2, 0], [0, 1], new double[4], new double[4])).ParamName);
        double[] t = new double[2], n = new double[2];
        SampleMeasures.TangentNormalSplit(circle, [2, 0], [3, 4], t, n);
        Assert.Equal([0.0, 4], t);
        Assert.Equal([3.0, 0], n);
    }

    [Fact]
    public void FloatOverloads_EqualTheDoubleMeasuresOfTheWidenedInputs()
    {
        var rng = new Random(4);
        float[] a = Enumerable.Range(0, 30 * 3).Select(_ => (float)rng.NextDouble()).ToArray();
        float[] b = Enumerable.Range(0, 20 * 3).Select(_ => (float)rng.NextDouble()).ToArray();
        double[] wa = a.Select(v => (double)v).ToArray(), wb = b.Select(v => (double)v).ToArray();
        Assert.Equal(SampleMeasures.FrechetDistance(wa, 30, wb, 20, 3), SampleMeasures.FrechetDistance<float>(a, 30, b, 20, 3));
        var nn = SampleMeasures.Nearest<float>(a, b, 3);
        var wide = SampleMeasures.Nearest(wa, wb, 3);
        Assert.Equal(wide.Index, nn.Index);
        Assert.Equal(wide.Distance, nn.Distance);
        var circle = new Circle(1, dimension: 3);
        Assert.Equal(SampleMeasures.DistanceToManifold(circle, wa), SampleMeasures.DistanceToManifold<float>(circle, a));
    }

    private static double Trace(double[] s, int n, int d)
    {
        double total = 0;
        for (int a = 0; a < d; a++)
        {
            double mean = 0;
            for (int i = 0; i < n; i++)
                mean += s[i * d + a];
            mean /= n;
            for (int i = 0; i < n; i++)
                total += Sq(s[i * d + a] - mean);
        }
        return total / (n - 1);
    }

    private static double Sq(double v) => v * v;
}
