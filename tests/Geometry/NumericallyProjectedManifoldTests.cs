using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics.Geometry;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The numerically projected manifolds (wavy circle, lima bean, bump images) and the segment: projections are
/// idempotent, land on the manifold, are true (global) minimisers against a fine brute-force grid, and leave a
/// residual x − P(x) normal to an orthonormal tangent basis.
/// <para>
/// Error analysis (float64, u = 2⁻⁵³). Polar curves: Newton on g′(θ) = 0 stops when a step is below
/// 4u(|θ| + 2π) ≈ 6e−15; convergence is quadratic, so θ is then accurate to the rounding of g′, which is
/// ≤ 8u(‖x − c‖ + ‖c‖)‖c′‖, divided by g″ ≥ 2(‖c′‖² − ‖x − c‖‖c″‖) (≥ ‖c′‖² for x within half the reach). With
/// r ≤ 2, |r′| ≤ 3, |r″| ≤ 9 and ‖x‖ ≤ 3 that is |δθ| ≲ 1e−14, so points move by ≤ ‖c′‖|δθ| ≲ 5e−14 and the
/// tangential part of the residual, |⟨x − c, c′⟩|/‖c′‖, is ≲ g″|δθ|/(2‖c′‖) + rounding ≲ 1e−13: tolerances 1e−12.
/// Bump images (W pixels a side): the gradient of f = ‖x − img‖² is a sum of 2W² products, rounded by
/// ≤ γ_{2W}‖x‖‖∂img‖ (dot products of length W, twice), and the Hessian on the manifold is ≈ 2‖∂img‖², so the
/// parameters err by ≲ W u ‖x‖/‖∂img‖ and the image by ≲ W u ‖x‖ (3.6e−15‖x‖ at W = 16); the tangential part of the
/// residual by the same. Tolerance 100 W u (‖x‖ + 1), a factor ≥ 25 above.
/// </para>
/// </summary>
public class NumericallyProjectedManifoldTests
{
    private const double U = 1.0 / (1L << 53);

    // ---------------------------------------------------------------- polar curves

    public sealed record CurveCase(int Kind, double Amplitude, int Frequency, int Dimension, int Seed)
    {
        public PolarCurve Build() => Kind == 0
            ? new WavyCircle(Amplitude, Frequency, Dimension)
            : new LimaBean(1 + Amplitude, Dimension);

        public override string ToString() =>
            Kind == 0 ? $"wavy A={Amplitude:G4} f={Frequency} D={Dimension} seed={Seed}" : $"bean s={1 + Amplitude:G4} D={Dimension} seed={Seed}";
    }

    private static readonly Arbitrary<CurveCase> CurveCases = (
        from kind in Gen.Choose(0, 1)
        from amplitudeMilli in Gen.Choose(0, 400)
        from frequency in Gen.Choose(1, 9)
        from dimension in Gen.Choose(2, 5)
        from seed in Gen.Choose(0, int.MaxValue)
        select new CurveCase(kind, amplitudeMilli / 1000.0, frequency, dimension, seed)).ToArbitrary();

    [Property(MaxTest = 40)]
    public Property PolarCurves_ProjectToTheGlobalMinimiser_WithANormalResidual() =>
        Prop.ForAll(CurveCases, CheckCurve);

    [Fact]
    public void PolarCurves_OnFixedCases_ProjectToTheGlobalMinimiser_WithANormalResidual()
    {
        CheckCurve(new CurveCase(0, 0.3, 5, 3, 1));
        CheckCurve(new CurveCase(0, 0.4, 9, 2, 2));
        CheckCurve(new CurveCase(1, 0, 1, 2, 3));
        CheckCurve(new CurveCase(1, 0.4, 1, 4, 4));
    }

    private static void CheckCurve(CurveCase c)
    {
        var curve = c.Build();
        var rng = new Random(c.Seed);
        int dim = curve.Dimension;
        var p = new double[dim];
        var pp = new double[dim];
        var basis = new double[dim];
        const int fine = 1 << 18;
        var fineCos = new double[fine];
        var fineSin = new double[fine];
        var fineR = new double[fine];
        for (int k = 0; k < fine; k++)
        {
            double theta = 2 * Math.PI * k / fine;
            (fineSin[k], fineCos[k]) = Math.SinCos(theta);
            fineR[k] = curve.Radius(theta).R;
        }
        for (int q = 0; q < 12; q++)
        {
            // Points near the curve (spread ≤ 0.05, well inside the reach) and a few anywhere in a box of side 6.
            var x = new double[dim];
            if (q < 8)
            {
                curve.PointAt(2 * Math.PI * rng.NextDouble(), x);
                for (int a = 0; a < dim; a++)
                    x[a] += 0.05 * (2 * rng.NextDouble() - 1);
            }
            else
            {
                for (int a = 0; a < dim; a++)
                    x[a] = 3 * (2 * rng.NextDouble() - 1);
            }
            string at = $"{c} x=[{string.Join(", ", x.Select(v => v.ToString("G6")))}]";
            curve.Project(x, p);
            curve.Project(p, pp);
            for (int a = 0; a < dim; a++)
                Assert.True(Math.Abs(pp[a] - p[a]) <= 1e-12, $"not idempotent in coordinate {a}: {pp[a]:R} vs {p[a]:R} at {at}");
            Assert.True(curve.Distance(p) <= 1e-12, $"projection off the curve by {curve.Distance(p):G3} at {at}");
            for (int a = 2; a < dim; a++)
                Assert.Equal(0, p[a]);

            // Global: no angle of a 2^18-point grid is nearer (up to rounding), and the grid's best is within its
            // resolution: g(θ_grid) − g(θ*) ≤ ½ g″ (Δθ/2)² with g″ ≤ 2(‖c′‖² + ‖x − c‖‖c″‖) ≤ 2(13 + 8·12) < 250.
            double px = x[0], py = x[1], rest = 0;
            for (int a = 2; a < dim; a++)
                rest += x[a] * x[a];
            double best = double.PositiveInfinity;
            for (int k = 0; k < fine; k++)
            {
                double dx = px - fineR[k] * fineCos[k], dy = py - fineR[k] * fineSin[k];
                best = Math.Min(best, dx * dx + dy * dy);
            }
            double ours = Sq(px - p[0]) + Sq(py - p[1]);
            double resolution = 0.5 * 250 * Sq(Math.PI / fine);
            Assert.True(ours <= best + 1e-12, $"a grid angle is nearer: {best:R} < {ours:R} at {at}");
            Assert.True(ours >= best - resolution - 1e-12, $"grid best {best:R} is further than resolution from ours {ours:R} at {at}");
            Assert.Equal(Math.Sqrt(ours + rest), curve.Distance(x), 12);

            // The residual is normal to the unit tangent (the curve's projection minimises within a tube of half the reach).
            Assert.Equal(1, curve.TangentBasis(x, basis));
            Assert.Equal(1, Math.Sqrt(basis.Sum(v => v * v)), 12);
            if (q < 8)
            {
                double dot = 0;
                for (int a = 0; a < dim; a++)
                    dot += (x[a] - p[a]) * basis[a];
                Assert.True(Math.Abs(dot) <= 1e-12, $"<x - P(x), t> = {dot:G3} at {at}");
            }
        }
    }

    [Fact]
    public void LimaBean_IsNonConvex_AndWavyCircleWithZeroAmplitude_IsTheUnitCircle()
    {
        // Signed curvature numerator r² + 2r′² − r r″ of a polar curve: negative somewhere means a dent.
        var bean = new LimaBean();
        double least = double.PositiveInfinity, most = double.NegativeInfinity;
        for (int k = 0; k < 3600; k++)
        {
            var (r, r1, r2) = bean.Radius(2 * Math.PI * k / 3600);
            Assert.True(r > 0);
            double kappa = r * r + 2 * r1 * r1 - r * r2;
            least = Math.Min(least, kappa);
            most = Math.Max(most, kappa);
        }
        Assert.True(least < 0 && most > 0, $"curvature numerator range [{least}, {most}]");
        var (bottom, _, _) = bean.Radius(-Math.PI / 2);
        Assert.Equal(0.55, bottom, 14);

        var circle = new WavyCircle(0, 3);
        var p = new double[2];
        circle.Project([3, 4], p);
        Assert.Equal(0.6, p[0], 14);
        Assert.Equal(0.8, p[1], 14);
    }

    [Fact]
    public void PolarCurves_ProjectManyMatchesProject_AndTheOriginIsDeterministic()
    {
        var curve = new WavyCircle(0.2, 4, 3);
        var rng = new Random(8);
        var xs = Enumerable.Range(0, 3 * 50).Select(_ => 2 * rng.NextDouble() - 1).ToArray();
        var many = new double[xs.Length];
        curve.ProjectMany(xs, many);
        var one = new double[3];
        for (int i = 0; i < 50; i++)
        {
            curve.Project(xs.AsSpan(3 * i, 3), one);
            Assert.Equal(one, many.AsSpan(3 * i, 3).ToArray());
        }
        var first = new double[3];
        var second = new double[3];
        curve.Project([0, 0, 0], first);
        curve.Project([0, 0, 0], second);
        Assert.Equal(first, second);
    }

    // ---------------------------------------------------------------- segment

    [Fact]
    public void Segment_ClampsToItsEnds_AndIsExactAtThem()
    {
        var segment = new Segment([1, 2, 3], [4, 6, 3]);
        Assert.Equal(5, segment.Length, 15);
        var p = new double[3];
        segment.Project([-10, -10, 7], p);
        Assert.Equal([1.0, 2, 3], p);
        segment.Project([40, 60, -2], p);
        Assert.Equal([4.0, 6, 3], p);
        segment.Project([2.5, 4, 9], p); // the midpoint, 6 above
        Assert.Equal([2.5, 4, 3], p.Select(v => Math.Round(v, 13)).ToArray());
        Assert.Equal(6, segment.Distance([2.5, 4, 9]), 13);
        var b = new double[3];
        segment.TangentBasis([0, 0, 0], b);
        Assert.Equal([0.6, 0.8, 0], b.Select(v => Math.Round(v, 15)).ToArray());
        var grid = segment.Grid(4);
        Assert.Equal([1.0, 2, 3], grid[..3]);
        Assert.Equal([4.0, 6, 3], grid[9..]);
        Assert.Equal([2.5, 4, 3], segment.Grid(1));
    }

    [Property(MaxTest = 100)]
    public Property Segment_InteriorProjections_AreIdempotentAndNormal() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var rng = new Random(seed);
            int dim = rng.Next(2, 9);
            var s = Enumerable.Range(0, dim).Select(_ => 4 * rng.NextDouble() - 2).ToArray();
            var e = Enumerable.Range(0, dim).Select(_ => 4 * rng.NextDouble() - 2).ToArray();
            var segment = new Segment(s, e);
            var x = Enumerable.Range(0, dim).Select(_ => 6 * rng.NextDouble() - 3).ToArray();
            var p = new double[dim];
            var pp = new double[dim];
            var b = new double[dim];
            segment.Project(x, p);
            segment.Project(p, pp);
            // Rounding: t = ⟨x − s, u⟩/L and (1 − t)s + t e carry a few u·(‖x‖ + ‖s‖ + ‖e‖) ≤ 1e−14.
            for (int a = 0; a < dim; a++)
                Assert.True(Math.Abs(pp[a] - p[a]) <= 1e-13, $"seed {seed}: not idempotent in {a}");
            double t = segment.Locate(x);
            segment.TangentBasis(x, b);
            if (t > 0 && t < 1)
            {
                double dot = x.Select((v, a) => (v - p[a]) * b[a]).Sum();
                Assert.True(Math.Abs(dot) <= 1e-13, $"seed {seed}: <x - P(x), u> = {dot:G3}");
            }
        });

    // ---------------------------------------------------------------- bump images

    public sealed record BumpCase(bool Square, int Width, double Radius, double BumpWidth, int Seed)
    {
        public override string ToString() => $"{(Square ? "square" : "circle")} W={Width} R={Radius:G3} w={BumpWidth:G3} seed={Seed}";
    }

    private static readonly Arbitrary<BumpCase> BumpCases = (
        from square in Gen.Elements(false, true)
        from width in Gen.Choose(6, 19)
        from radiusCenti in Gen.Choose(10, 70)
        from widthCenti in Gen.Choose((int)Math.Ceiling(200.0 / width), 45) // resolved bumps: w ≥ 2/W, the pixel spacing
        from seed in Gen.Choose(0, int.MaxValue)
        select new BumpCase(square, width, radiusCenti / 100.0, widthCenti / 100.0, seed)).ToArbitrary();

    [Property(MaxTest = 25)]
    public Property BumpImages_ProjectToTheGlobalMinimiser_WithANormalResidual() =>
        Prop.ForAll(BumpCases, CheckBumps);

    [Fact]
    public void BumpImages_OnFixedCases_ProjectToTheGlobalMinimiser_WithANormalResidual()
    {
        CheckBumps(new BumpCase(false, 16, 0.5, 0.1, 1));
        CheckBumps(new BumpCase(true, 16, 0.5, 0.1, 2));
        CheckBumps(new BumpCase(true, 7, 0.3, 0.3, 3));
    }

    private static void CheckBumps(BumpCase c)
    {
        var m = new BumpImages(c.Width, c.Radius, c.BumpWidth, c.Square);
        int dim = m.Dimension, d = m.IntrinsicDimension;
        var rng = new Random(c.Seed);
        var p = new double[dim];
        var pp = new double[dim];
        var basis = new double[d * dim];
        var parameters = new double[d];
        var truth = new double[d];
        for (int q = 0; q < 5; q++)
        {
            if (c.Square)
            {
                truth[0] = c.Radius * (2 * rng.NextDouble() - 1);
                truth[1] = c.Radius * (2 * rng.NextDouble() - 1);
            }
            else
            {
                truth[0] = 2 * Math.PI * rng.NextDouble();
            }
            var x = new double[dim];
            m.ImageAt(truth, x);
            double noise = q == 0 ? 0 : 0.02 * q;
            for (int a = 0; a < dim; a++)
                x[a] += noise * (2 * rng.NextDouble() - 1);
            double xNorm = Math.Sqrt(x.Sum(v => v * v));
            double tolerance = 100 * c.Width * U * (xNorm + 1);
            string at = $"{c} query={q} noise={noise}";

            m.Project(x, p);
            m.Project(p, pp);
            for (int a = 0; a < dim; a++)
                Assert.True(Math.Abs(pp[a] - p[a]) <= tolerance, $"not idempotent at pixel {a}: {pp[a]:R} vs {p[a]:R} at {at}");
            Assert.True(m.Distance(p) <= tolerance, $"projection off the manifold by {m.Distance(p):G3} at {at}");
            if (q == 0)
                Assert.True(m.Distance(x) <= tolerance, $"a manifold image is {m.Distance(x):G3} away at {at}");

            // Global: no centre of a brute-force grid (spacing ≤ w/20) gives a nearer image.
            double ours = SquaredDistance(x, p);
            double best = BruteForce(m, x, c);
            Assert.True(ours <= best + tolerance * xNorm, $"brute force finds {best:R} < ours {ours:R} at {at}");

            Assert.Equal(d, m.TangentBasis(x, basis));
            AssertOrthonormal(basis, d, dim, at);
            m.Locate(x, parameters);
            bool interior = !c.Square || parameters.All(v => Math.Abs(v) < c.Radius);
            if (interior)
            {
                for (int r = 0; r < d; r++)
                {
                    double dot = 0;
                    for (int a = 0; a < dim; a++)
                        dot += (x[a] - p[a]) * basis[r * dim + a];
                    Assert.True(Math.Abs(dot) <= tolerance, $"<x - P(x), b{r}> = {dot:G3} at {at}");
                }
            }
        }
    }

    private static double BruteForce(BumpImages m, double[] x, BumpCase c)
    {
        var img = new double[m.Dimension];
        double best = double.PositiveInfinity;
        if (c.Square)
        {
            int n = (int)Math.Ceiling(2 * c.Radius / (c.BumpWidth / 20)) + 1;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    m.ImageAt([c.Radius * (-1 + 2.0 * i / (n - 1)), c.Radius * (-1 + 2.0 * j / (n - 1))], img);
                    best = Math.Min(best, SquaredDistance(x, img));
                }
        }
        else
        {
            int n = (int)Math.Ceiling(2 * Math.PI * c.Radius / (c.BumpWidth / 20));
            for (int k = 0; k < n; k++)
            {
                m.ImageAt([2 * Math.PI * k / n], img);
                best = Math.Min(best, SquaredDistance(x, img));
            }
        }
        return best;
    }

    [Fact]
    public void BumpImages_PixelLayout_IsRowYColumnX()
    {
        var m = new BumpImages(4, 0.5, 0.3, square: true);
        var img = new double[16];
        m.ImageAt([0.75, -0.75], img); // the centre of pixel (row 0, column 3): x = s_3 = 0.75, y = s_0 = −0.75
        Assert.Equal(1, img[3], 15);
        Assert.Equal(Math.Exp(-0.25 / (2 * 0.09)), img[2], 15); // one pixel (0.5) to the left
        Assert.Equal(Math.Exp(-0.25 / (2 * 0.09)), img[7], 15); // one pixel down
    }

    [Fact]
    public void BumpImages_At64x64_ProjectAThousandImagesQuickly()
    {
        var m = new BumpImages(64, 0.5, 0.1);
        var xs = m.Sample(1000, 11);
        var rng = new Random(3);
        for (int i = 0; i < xs.Length; i++)
            xs[i] += 0.05 * (2 * rng.NextDouble() - 1);
        var ps = new double[xs.Length];
        var watch = System.Diagnostics.Stopwatch.StartNew();
        m.ProjectMany(xs, ps);
        watch.Stop();
        // A loose ceiling (≈ 0.3 s measured on 2 cores) that only a pathological regression would cross.
        Assert.True(watch.Elapsed.TotalSeconds < 20, $"1000 projections took {watch.Elapsed.TotalSeconds:F2} s");
        Assert.All(Enumerable.Range(0, 1000), i => Assert.True(m.Distance(ps.AsSpan(i * 4096, 4096)) < 1e-10));
    }

    // ---------------------------------------------------------------- helpers

    private static double SquaredDistance(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += Sq(a[i] - b[i]);
        return sum;
    }

    private static void AssertOrthonormal(double[] basis, int d, int dim, string at)
    {
        for (int r = 0; r < d; r++)
            for (int s = 0; s <= r; s++)
            {
                double dot = 0;
                for (int a = 0; a < dim; a++)
                    dot += basis[r * dim + a] * basis[s * dim + a];
                Assert.True(Math.Abs(dot - (r == s ? 1 : 0)) <= 1e-12, $"<b{r}, b{s}> = {dot:R} at {at}");
            }
    }

    private static double Sq(double v) => v * v;
}
