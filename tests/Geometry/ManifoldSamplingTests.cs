using Kernels.Numerics.Geometry;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// Sample and Grid for every manifold: points lie on the manifold (distance ≤ 1e−12·scale: a point is formed by a few
/// roundings of sin/cos and products, ≤ 10u relative; the numerically projected ones add their projection's error,
/// see <see cref="NumericallyProjectedManifoldTests"/>), draws are deterministic per seed and differ between seeds, cover the parameter
/// range evenly, and bad counts throw naming the parameter.
/// </summary>
public class ManifoldSamplingTests
{
    /// <summary>Each manifold with a map from its points to parameters in [0, 1)^d, for the coverage check.</summary>
    public static TheoryData<string> Names => new(Cases.Keys);

    private static readonly Dictionary<string, (Manifold M, Func<double[], double[]> Parameters)> Cases = new()
    {
        ["circle"] = (new Circle(2, [1, -1], 4), p => [Angle(p[0] - 1, p[1] + 1)]),
        ["sphere S1"] = (new Sphere(1, 3, 2), p => [Angle(p[0], p[1])]),
        ["sphere S2"] = (new Sphere(2, 4, 3), p => [(p[2] / 3 + 1) / 2, Angle(p[0], p[1])]), // Archimedes: z uniform
        ["sphere S3"] = (new Sphere(3, 4), p => [Angle(p[0], p[1]), Angle(p[2], p[3])]),
        ["flat"] = (new AffineSubspace([1, 2, 3], [1, 0, 0, 0, 1, 0]).WithExtent(2), p => [(p[0] - 1 + 2) / 4, (p[1] - 2 + 2) / 4]),
        ["line"] = (AffineSubspace.Line([0, 0], [3, 4]), p => [(p[0] / 0.6 + 1) / 2]),
        ["torus"] = (new Torus(3, 1), p => [Angle(p[0], p[1]), Angle(Math.Sqrt(p[0] * p[0] + p[1] * p[1]) - 3, p[2])]),
        ["wavy"] = (new WavyCircle(0.3, 5, 3), p => [Angle(p[0], p[1])]),
        ["bean"] = (new LimaBean(2), p => [Angle(p[0], p[1])]),
        ["segment"] = (new Segment([1, 1, 1], [2, 3, 4]), p => [p[0] - 1]),
        ["bumps"] = (new BumpImages(12, 0.5, 0.25), p => [Locate(new BumpImages(12, 0.5, 0.25), p)[0] / (2 * Math.PI)]),
        ["bump square"] = (new BumpImages(12, 0.5, 0.25, square: true), p => Locate(new BumpImages(12, 0.5, 0.25, true), p).Select(v => (v + 0.5) / 1.0).ToArray()),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void Sample_LiesOnTheManifold_IsDeterministic_AndCoversTheParameters(string name)
    {
        var (m, parameters) = Cases[name];
        const int count = 1200;
        var a = m.Sample(count, 42);
        Assert.Equal(count * m.Dimension, a.Length);
        Assert.Equal(a, m.Sample(count, 42));
        Assert.NotEqual(a, m.Sample(count, 43));
        Assert.Equal(a.AsSpan(0, 10 * m.Dimension).ToArray(), m.Sample(10, 42)); // a prefix is a smaller draw
        Assert.Empty(m.Sample(0, 1));

        // Each parameter, binned into 6: every bin holds 200 ± 6σ (σ = √(1200·(1/6)(5/6)) ≈ 12.9) for a uniform draw.
        // The seed is fixed, so this is deterministic; the window only says what a uniform sampler must satisfy.
        int d = m.IntrinsicDimension;
        var bins = new int[d, 6];
        double scale = Scale(m);
        for (int i = 0; i < count; i++)
        {
            var p = a.AsSpan(i * m.Dimension, m.Dimension).ToArray();
            Assert.True(m.Distance(p) <= 1e-12 * scale, $"{name}: sample {i} is {m.Distance(p):G3} off the manifold");
            var t = parameters(p);
            for (int j = 0; j < t.Length; j++)
            {
                Assert.InRange(t[j], -1e-12, 1 + 1e-12);
                bins[j, Math.Clamp((int)(t[j] * 6), 0, 5)]++;
            }
        }
        int measured = parameters(a.AsSpan(0, m.Dimension).ToArray()).Length;
        for (int j = 0; j < measured; j++)
            for (int b = 0; b < 6; b++)
                Assert.InRange(bins[j, b], 200 - 78, 200 + 78);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Grid_LiesOnTheManifold(string name)
    {
        var (m, _) = Cases[name];
        int count = m.IntrinsicDimension switch { 1 => 37, 2 => 36, _ => 27 };
        var grid = m.Grid(count);
        Assert.Equal(count * m.Dimension, grid.Length);
        double scale = Scale(m);
        for (int i = 0; i < count; i++)
        {
            var p = grid.AsSpan(i * m.Dimension, m.Dimension);
            Assert.True(m.Distance(p) <= 1e-12 * scale, $"{name}: grid point {i} is {m.Distance(p):G3} off the manifold");
        }
        Assert.Equal(grid, m.Grid(count));
    }

    [Fact]
    public void Grid_OnAClosedCurve_IsEquispacedInTheAngle()
    {
        var circle = new Circle(1, dimension: 2);
        var grid = circle.Grid(8);
        for (int k = 0; k < 8; k++)
        {
            Assert.Equal(Math.Cos(2 * Math.PI * k / 8), grid[2 * k], 15);
            Assert.Equal(Math.Sin(2 * Math.PI * k / 8), grid[2 * k + 1], 15);
        }
        var wavy = new WavyCircle(0.2, 3);
        var w = wavy.Grid(5);
        for (int k = 0; k < 5; k++)
            Assert.Equal(2 * Math.PI * k / 5, wavy.Locate(w.AsSpan(2 * k, 2)), 12);
        var line = AffineSubspace.Line([0, 0], [1, 0]).WithExtent(3);
        Assert.Equal([-3.0, 0, 0, 0, 3, 0], line.Grid(3));
        var torus = new Torus(3, 1).Grid(4); // θ ∈ {0, π}, φ ∈ {0, π}: (4,0,0), (2,0,0), (−4,0,0), (−2,0,0)
        Assert.Equal([4.0, 0, 0, 2, 0, 0, -4, 0, 0, -2, 0, 0], torus.Select(v => Math.Round(v, 12) + 0.0).ToArray());
    }

    [Fact]
    public void BadCounts_Throw_NamingTheParameter()
    {
        foreach (var (m, _) in Cases.Values)
        {
            Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => m.Sample(-1, 0)).ParamName);
            Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => m.Grid(0)).ParamName);
        }
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new Torus(3, 1).Grid(10));
        Assert.Equal("count", ex.ParamName);
        Assert.Contains("pass 9 or 16", ex.Message);
        Assert.Equal("count", Assert.Throws<ArgumentOutOfRangeException>(() => new BumpImages(8, 0.5, 0.3, true).Grid(1)).ParamName);
        Assert.Equal("extent", Assert.Throws<ArgumentOutOfRangeException>(() => AffineSubspace.Line([0, 0], [1, 0]).WithExtent(0)).ParamName);
    }

    [Fact]
    public void BadConstructorArguments_Throw_NamingTheParameter()
    {
        Assert.Equal("amplitude", Assert.Throws<ArgumentOutOfRangeException>(() => new WavyCircle(1, 3)).ParamName);
        Assert.Equal("amplitude", Assert.Throws<ArgumentOutOfRangeException>(() => new WavyCircle(double.NaN, 3)).ParamName);
        Assert.Equal("frequency", Assert.Throws<ArgumentOutOfRangeException>(() => new WavyCircle(0.2, 0)).ParamName);
        Assert.Equal("dimension", Assert.Throws<ArgumentOutOfRangeException>(() => new WavyCircle(0.2, 2, 1)).ParamName);
        Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => new LimaBean(-1)).ParamName);
        Assert.Equal("end", Assert.Throws<ArgumentException>(() => new Segment([1, 2], [1, 2])).ParamName);
        Assert.Equal("end", Assert.Throws<ArgumentException>(() => new Segment([1, 2], [1, 2, 3])).ParamName);
        Assert.Equal("start", Assert.Throws<ArgumentException>(() => new Segment([1], [2])).ParamName);
        Assert.Equal("start", Assert.Throws<ArgumentException>(() => new Segment([1, double.NaN], [2, 2])).ParamName);
        Assert.Equal("width", Assert.Throws<ArgumentOutOfRangeException>(() => new BumpImages(1, 0.5, 0.1)).ParamName);
        Assert.Equal("pathRadius", Assert.Throws<ArgumentOutOfRangeException>(() => new BumpImages(8, double.PositiveInfinity, 0.1)).ParamName);
        Assert.Equal("bumpWidth", Assert.Throws<ArgumentOutOfRangeException>(() => new BumpImages(8, 0.5, 0)).ParamName);
        var bumps = new BumpImages(8, 0.5, 0.3);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => bumps.Project(new double[63], new double[64])).ParamName);
        Assert.Equal("parameters", Assert.Throws<ArgumentException>(() => bumps.ImageAt([0.1, 0.2], new double[64])).ParamName);
    }

    private static double Scale(Manifold m) => m switch
    {
        BumpImages b => Math.Sqrt(b.Dimension),
        _ => 10,
    };

    private static double Angle(double x, double y)
    {
        double t = Math.Atan2(y, x) / (2 * Math.PI);
        return t < 0 ? t + 1 : t;
    }

    private static double[] Locate(BumpImages m, double[] p)
    {
        var t = new double[m.IntrinsicDimension];
        m.Locate(p, t);
        return t;
    }
}
