using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Smoothing;

/// <summary>Bad smoothing input: an exception naming the parameter and the bad value, never a NaN.</summary>
public class SmoothingValidationTests
{
    private static readonly EmpiricalScore<float> Model = new(new TrainingSet<float>(new float[] { 0, 0, 1, 0, 0, 1 }, 3, 2));

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Scales_MustBePositiveAndFinite(double bad)
    {
        Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Gaussian(bad)).ParamName);
        Assert.Equal("radius", Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Ball(bad)).ParamName);
        Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Tangent(new Circle(), bad)).ParamName);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Gaussian(bad));
        Assert.Contains(bad.ToString(), ex.Message);
    }

    [Fact]
    public void AnisotropicScales_MayNotBothBeZeroOrNegative()
    {
        Assert.Equal("tangentScale", Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Anisotropic(new Circle(), 0, 0)).ParamName);
        Assert.Equal("normalScale", Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Anisotropic(new Circle(), 1, -1)).ParamName);
        Assert.Equal("tangentScale", Assert.Throws<ArgumentOutOfRangeException>(() => SmoothingKernel.Anisotropic(new Circle(), double.NaN, 1)).ParamName);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(-3, false)]
    [InlineData(5, true)]
    public void DrawCount_MustBeAtLeastOneAndEvenForPairs(int count, bool antithetic)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SmoothingDraws(count, antithetic: antithetic));
        Assert.Equal("count", ex.ParamName);
        Assert.Contains(count.ToString(), ex.Message);
    }

    [Fact]
    public void KernelDimension_MustMatchTheData()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            new LogSmoothedScore<float>(Model, SmoothingKernel.Tangent(new FixedSubspace(3, 1, 0), 0.1), new SmoothingDraws(4)));
        Assert.Equal("kernel", ex.ParamName);
        Assert.Contains("D = 3", ex.Message);
        Assert.Equal("kernel", Assert.Throws<ArgumentException>(() => new KdeScore<float>(Model, SmoothingKernel.Covariance([1, 0, 0], 3))).ParamName);
    }

    [Fact]
    public void CovarianceFactor_MustBeAWholeFiniteNonzeroMatrix()
    {
        Assert.Equal("factor", Assert.Throws<ArgumentException>(() => SmoothingKernel.Covariance([1, 2, 3], 2)).ParamName);
        Assert.Equal("factor", Assert.Throws<ArgumentException>(() => SmoothingKernel.Covariance([1, double.NaN], 2)).ParamName);
        Assert.Equal("factor", Assert.Throws<ArgumentException>(() => SmoothingKernel.Covariance([0, 0], 2)).ParamName);
    }

    [Fact]
    public void StandardErrors_NeedTwoUnits_AndQueriesAreChecked()
    {
        var one = new LogSmoothedScore<float>(Model, SmoothingKernel.Gaussian(0.1), new SmoothingDraws(1));
        var se = new float[2];
        Assert.Equal("outputs", Assert.Throws<ArgumentException>(() =>
            one.Evaluate(new float[] { 0, 0 }, new NoiseLevel(1, 0.5), new SmoothedOutputs<float> { ScoreError = se })).ParamName);
        var ex = Assert.Throws<ArgumentException>(() => one.Score(new float[] { 0, float.NaN }, new NoiseLevel(1, 0.5)));
        Assert.Equal("queries", ex.ParamName);
        Assert.Contains("column 1", ex.Message);
        Assert.Equal("level", Assert.Throws<ArgumentException>(() => one.Score(new float[] { 0, 0 }, default)).ParamName);
    }
}
