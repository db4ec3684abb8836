using Kernels.Numerics;
using Xunit;

namespace Kernels.Tests;

/// <summary>Each schedule against its closed form (DESIGN.md §1), to a few float64 ulps, including small t where 1 − e^{−x} cancels.</summary>
public class ScheduleTests
{
    private const double Tolerance = 1e-14; // a few ulps of relative error: exp, log, sqrt and one product

    private static void Close(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= Tolerance * Math.Abs(expected), $"expected {expected:R}, got {actual:R}");

    [Theory]
    [InlineData(1e-12)]
    [InlineData(1e-6)]
    [InlineData(0.3)]
    [InlineData(2.0)]
    [InlineData(10.0)]
    public void OrnsteinUhlenbeck_MatchesItsClosedForm(double t)
    {
        var level = NoiseSchedule.OrnsteinUhlenbeck.At(t);
        Close(Math.Exp(-t), level.Alpha);
        // σ² = 1 − e^{−2t}; the series 2t − 2t² + (4/3)t³ is exact to rounding for small t
        double variance = t < 1e-4 ? 2 * t - 2 * t * t + 4.0 / 3 * t * t * t : 1 - Math.Exp(-2 * t);
        Close(variance, level.Variance);
        var fast = new OrnsteinUhlenbeckSchedule(3).At(t);
        Close(Math.Exp(-3 * t), fast.Alpha);
        Close(t < 1e-4 ? (6 * t - 18 * t * t + 36 * t * t * t) / 3 : (1 - Math.Exp(-6 * t)) / 3, fast.Variance);
    }

    [Theory]
    [InlineData(1e-10)]
    [InlineData(0.01)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void VariancePreserving_PreservesVariance_AndMatchesItsClosedForm(double t)
    {
        var level = NoiseSchedule.VariancePreserving.At(t);
        double integral = 0.1 * t + 0.5 * 19.9 * t * t;
        Close(Math.Exp(-0.5 * integral), level.Alpha);
        Assert.True(Math.Abs(level.Alpha * level.Alpha + level.Variance - 1) <= 4e-16);
        if (t < 1e-6) Close(integral - integral * integral / 2, level.Variance); // no cancellation at small t
    }

    [Fact]
    public void VarianceExploding_HasVarianceT_AndEdm_HasSigmaT()
    {
        var ve = NoiseSchedule.VarianceExploding.At(9);
        Assert.Equal(1.0, ve.Alpha);
        Assert.Equal(3.0, ve.Sigma);
        var edm = NoiseSchedule.Edm.At(9);
        Assert.Equal(1.0, edm.Alpha);
        Assert.Equal(9.0, edm.Sigma);
    }

    [Theory]
    [InlineData("ou", typeof(OrnsteinUhlenbeckSchedule))]
    [InlineData("VP", typeof(VariancePreservingSchedule))]
    [InlineData("ve", typeof(VarianceExplodingSchedule))]
    [InlineData("edm", typeof(EdmSchedule))]
    public void Parse_KnowsEveryName(string name, Type type) => Assert.IsType(type, NoiseSchedule.Parse(name));

    [Fact]
    public void Parse_UnknownName_ListsTheKnownOnes()
    {
        var ex = Assert.Throws<ArgumentException>(() => NoiseSchedule.Parse("cosine"));
        Assert.Contains("ou, vp, ve, edm", ex.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void At_NonPositiveOrNonFiniteTime_NamesT(double t)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.VarianceExploding.At(t));
        Assert.Equal("t", ex.ParamName);
    }

    [Fact]
    public void OrnsteinUhlenbeck_AtLargeTime_RejectsVanishingAlpha()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => NoiseSchedule.OrnsteinUhlenbeck.At(1e4));
        Assert.Equal("alpha", ex.ParamName);
    }
}
