using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Smoothing;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// <see cref="RidgeTangentSpace{T}"/>: the top-d Hessian eigenvectors at x (or at x's ridge projection) as a tangent
/// space, checked against the factor it is read from and against geometry whose ridge is known.
/// </summary>
public sealed class RidgeTangentSpaceTests
{
    private static EmpiricalScore<double> Model(double[] train, int d) => new(new TrainingSet<double>(train, train.Length / d, d), CpuBackend.Default);

    /// <summary>
    /// Training points on a line in D = 5: at points off the line (within a few σ) the 1-D ridge tangent is the line's
    /// direction. The Hessian's top eigenvector along the line is separated from the normal ones by a gap of order
    /// (spacing/σ)² / σ², so its angle to the line is at rounding level times the condition (1/gap): 1e-9 is far above that.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PointsOnALine_TangentIsTheLine(bool atProjection)
    {
        const int d = 5, n = 9;
        var direction = new[] { 1.0, 2, -1, 0.5, 3 };
        double length = Math.Sqrt(direction.Sum(v => v * v));
        var u = direction.Select(v => v / length).ToArray();
        var offset = new[] { 0.3, -0.2, 0.1, 0.4, 0.0 };
        var train = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++) train[i * d + k] = offset[k] + (i - 4) * 0.7 * u[k];
        var level = new NoiseLevel(0.9, 0.5);
        var tangents = new RidgeTangentSpace<double>(Model(train, d), level, 1, atProjection);
        Assert.Equal(d, tangents.Dimension);
        Assert.Equal(1, tangents.MaxTangentDimension);
        var rng = new Random(3);
        var basis = new double[d];
        for (int trial = 0; trial < 10; trial++)
        {
            var x = new double[d];
            double along = rng.NextDouble() * 4 - 2;
            for (int k = 0; k < d; k++) x[k] = 0.9 * (offset[k] + along * u[k]) + 0.3 * (rng.NextDouble() - 0.5);
            Assert.Equal(1, tangents.TangentBasis(x, basis));
            double cosine = Math.Abs(basis.Zip(u, (a, b) => a * b).Sum());
            Assert.True(1 - cosine <= 1e-9, $"trial {trial}: |cos| = {cosine:R}");
        }
    }

    /// <summary>The basis at x is exactly the factor's top-d eigenvectors at x, rounded to T first (the same code path, same bits).</summary>
    [Fact]
    public void EqualsTheFactorsTopEigenvectors()
    {
        const int d = 4, n = 30;
        var rng = new Random(11);
        var train = Enumerable.Range(0, n * d).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var model = Model(train, d);
        var level = new NoiseLevel(0.8, 0.4);
        var tangents = new RidgeTangentSpace<double>(model, level, 2);
        var x = new[] { 0.1, -0.3, 0.2, 0.05 };
        var basis = new double[2 * d];
        tangents.TangentBasis(x, basis);
        var expected = Hessian.Factor(model, x, level)[0].Eigen(2).Vectors.ToArray();
        Assert.Equal(expected, basis);
    }

    /// <summary>
    /// Tangent-projected smoothing along the ridge of points on a circle runs through the smoothing API: its score is
    /// finite and differs from the exact score (the draws move the query), and the same seed gives the same bits.
    /// </summary>
    [Fact]
    public void DrivesTangentSmoothing()
    {
        const int d = 2, n = 24;
        var train = new double[n * d];
        for (int i = 0; i < n; i++)
        {
            train[2 * i] = Math.Cos(2 * Math.PI * i / n);
            train[2 * i + 1] = Math.Sin(2 * Math.PI * i / n);
        }
        var model = Model(train, d);
        var level = new NoiseLevel(1, 0.2);
        var kernel = SmoothingKernel.Tangent(new RidgeTangentSpace<double>(model, level, 1), 0.1);
        var smoothed = new LogSmoothedScore<double>(model, kernel, new SmoothingDraws(16, 5, false, false));
        var queries = new[] { 1.1, 0.05, -0.2, 0.9 };
        var a = new double[4];
        var b = new double[4];
        smoothed.Evaluate(queries, level, new SmoothedOutputs<double> { Score = a });
        smoothed.Evaluate(queries, level, new SmoothedOutputs<double> { Score = b });
        Assert.All(a, v => Assert.True(double.IsFinite(v)));
        Assert.Equal(a, b);
        Assert.NotEqual(model.Score(queries, level), a);
    }

    [Fact]
    public void BadInput_NamesTheParameter()
    {
        var model = Model([0, 0, 1, 1, 2, 0], 2);
        var level = new NoiseLevel(1, 0.5);
        Assert.Equal("dimension", Assert.Throws<ArgumentOutOfRangeException>(() => new RidgeTangentSpace<double>(model, level, 0)).ParamName);
        Assert.Equal("dimension", Assert.Throws<ArgumentOutOfRangeException>(() => new RidgeTangentSpace<double>(model, level, 2)).ParamName);
        Assert.Equal("tolerance", Assert.Throws<ArgumentOutOfRangeException>(() => new RidgeTangentSpace<double>(model, level, 1, true, double.NaN)).ParamName);
        Assert.Equal("maxIterations", Assert.Throws<ArgumentOutOfRangeException>(() => new RidgeTangentSpace<double>(model, level, 1, true, 1e-6, 0)).ParamName);
        Assert.Equal("level", Assert.Throws<ArgumentException>(() => new RidgeTangentSpace<double>(model, default, 1)).ParamName);
        var tangents = new RidgeTangentSpace<double>(model, level, 1);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => tangents.TangentBasis(new double[3], new double[2])).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => tangents.TangentBasis(new[] { 0, double.NaN }, new double[2])).ParamName);
        Assert.Equal("basis", Assert.Throws<ArgumentException>(() => tangents.TangentBasis(new double[2], new double[1])).ParamName);
    }
}
