using Kernels.Numerics;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// Bad input to the score API (training sets, queries, noise levels, output buffers, the CPU backend) gets an exception
/// naming the parameter, the bad value or row, and the remedy.
/// </summary>
public class ScoreInputValidationTests
{
    private static readonly NoiseLevel Level = new(0.9, 0.5);
    private static readonly TrainingSet<float> Train = new(new float[] { 0, 1, 2, 3, 4, 5 }, 3, 2);
    private static readonly EmpiricalScore<float> Model = new(Train);

    [Theory]
    [InlineData(0, 2, "count")]
    [InlineData(-1, 2, "count")]
    [InlineData(3, 0, "dimension")]
    public void TrainingSet_WithEmptyShape_NamesTheParameter(int n, int d, string parameter)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new TrainingSet<float>(new float[6], n, d));
        Assert.Equal(parameter, ex.ParamName);
    }

    [Fact]
    public void TrainingSet_WithMismatchedLength_SaysWhatItExpected()
    {
        var ex = Assert.Throws<ArgumentException>(() => new TrainingSet<float>(new float[7], 3, 2));
        Assert.Equal("data", ex.ParamName);
        Assert.Contains("3 × 2 = 6", ex.Message);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "+infinity")]
    [InlineData(float.NegativeInfinity, "-infinity")]
    public void TrainingSet_WithNonFiniteValue_NamesRowAndColumn(float bad, string shown)
    {
        var data = new float[] { 0, 1, 2, 3, 4, 5, 6, 7 };
        data[5] = bad;
        var ex = Assert.Throws<ArgumentException>(() => new TrainingSet<float>(data, 4, 2));
        Assert.Equal("data", ex.ParamName);
        Assert.Contains($"training row 2 has {shown} in column 1", ex.Message);
    }

    [Fact]
    public void Queries_WithNaN_NameRowAndColumn()
    {
        var x = new float[] { 0, 0, 1, 1, 2, 2, 3, float.NaN };
        var ex = Assert.Throws<ArgumentException>(() => Model.Score(x, Level));
        Assert.Equal("queries", ex.ParamName);
        Assert.Contains("query row 3 has NaN in column 1", ex.Message);
    }

    [Fact]
    public void Queries_NotWholeRows_AreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Model.LogDensity(new float[5], Level));
        Assert.Equal("queries", ex.ParamName);
        Assert.Contains("not a whole number of rows of dimension 2", ex.Message);
    }

    [Fact]
    public void Queries_Empty_AreRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Model.Score(ReadOnlySpan<float>.Empty, Level, new float[2]));
        Assert.Equal("queries", ex.ParamName);
    }

    [Theory]
    [InlineData(1.0, 0.0, "sigma")]
    [InlineData(1.0, -0.5, "sigma")]
    [InlineData(1.0, double.NaN, "sigma")]
    [InlineData(1.0, double.PositiveInfinity, "sigma")]
    [InlineData(0.0, 1.0, "alpha")]
    [InlineData(-0.5, 1.0, "alpha")]
    [InlineData(double.NaN, 1.0, "alpha")]
    public void NoiseLevel_OutOfRange_NamesTheParameterAndValue(double alpha, double sigma, string parameter)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new NoiseLevel(alpha, sigma));
        Assert.Equal(parameter, ex.ParamName);
        Assert.Contains("must be finite and > 0", ex.Message);
    }

    [Fact]
    public void DefaultNoiseLevel_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Model.Score(new float[2], default));
        Assert.Equal("level", ex.ParamName);
    }

    [Fact]
    public void Sigma_TooSmallForFloat32_AsksForDouble()
    {
        var ex = Assert.Throws<MagnitudeOverflowException>(() => Model.Score(new float[2], new NoiseLevel(1, 1e-30)));
        Assert.Equal("level", ex.ParamName);
        Assert.Contains("use double precision", ex.Message);
        var model64 = new EmpiricalScore<double>(new TrainingSet<double>(new double[] { 0, 1, 2, 3 }, 2, 2));
        Assert.All(model64.Score(new double[] { 0, 1 }, new NoiseLevel(1, 1e-30)), v => Assert.True(double.IsFinite(v)));
        // in double the remedy is to rescale, not a wider type
        var tiny = Assert.Throws<MagnitudeOverflowException>(() => model64.Score(new double[] { 0, 1 }, new NoiseLevel(1, 1e-160)));
        Assert.Contains("rescale the data and sigma", tiny.Message);
        Assert.DoesNotContain("double precision", tiny.Message);
    }

    [Theory]
    [InlineData("logdensity", 3)]
    [InlineData("score", 5)]
    [InlineData("denoise", 0)]
    [InlineData("divergence", 1)]
    public void Destination_TooShort_SaysHowMuchIsNeeded(string what, int length)
    {
        var x = new float[6]; // M = 3
        var dest = new float[length];
        ArgumentException ex = what switch
        {
            "logdensity" => Assert.Throws<ArgumentException>(() => Model.LogDensity(x, Level, dest.AsSpan(0, Math.Min(length, 2)))),
            "score" => Assert.Throws<ArgumentException>(() => Model.Score(x, Level, dest)),
            "denoise" => Assert.Throws<ArgumentException>(() => Model.Denoise(x, Level, dest)),
            _ => Assert.Throws<ArgumentException>(() => Model.Divergence(x, Level, dest)),
        };
        Assert.Equal("destination", ex.ParamName);
        Assert.Contains("too short", ex.Message);
    }

    [Fact]
    public void Evaluate_WithNoOutput_OrAShortOne_IsRejected()
    {
        var x = new float[6];
        Assert.Throws<ArgumentException>(() => Model.Evaluate(x, Level, default));
        var ex = Assert.Throws<ArgumentException>(() => Model.Evaluate(x, Level, new ScoreOutputs<float> { Score = new float[6], LogDensity = new float[2] }));
        Assert.Equal("LogDensity", ex.ParamName);
        Assert.Contains("M = 3", ex.Message);
    }

    [Fact]
    public void Destination_OverlappingQueries_IsRejected_AndQueriesAreUntouched()
    {
        var buffer = new float[] { 0.5f, 1.5f, 2.5f, 3.5f };
        var ex = Assert.Throws<ArgumentException>(() => Model.Score(buffer.AsSpan(0, 2), Level, buffer.AsSpan(1, 2)));
        Assert.Contains("overlaps queries", ex.Message);
        Assert.Equal(new float[] { 0.5f, 1.5f, 2.5f, 3.5f }, buffer);
    }

    [Fact]
    public void Accumulate_WithPartialsOfAnotherShape_IsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => Model.Accumulate(new float[6], ScorePartials.Identity(2, 2, Level)));
        Assert.Equal("partials", ex.ParamName);
        Assert.Contains("ScorePartials.Identity(3, 2", ex.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void CpuBackend_WithBadThreadCount_IsRejected(int dop)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new CpuBackend(dop));
        Assert.Equal("maxDegreeOfParallelism", ex.ParamName);
    }

    [Fact]
    public void UnsupportedElementType_IsRejected()
    {
        Assert.Throws<NotSupportedException>(() => new TrainingSet<Half>(new Half[] { Half.One }, 1, 1));
    }

    [Fact]
    public void FarQueries_InFloat32_ThrowInsteadOfNaN()
    {
        // squared distances of 1e40 overflow float32: every weight would be 0/0
        var model = new EmpiricalScore<float>(new TrainingSet<float>(new float[] { 0, 0 }, 1, 2));
        var ex = Assert.Throws<MagnitudeOverflowException>(() => model.Score(new float[] { 1e20f, 1e20f }, new NoiseLevel(1, 1)));
        Assert.Contains("query row 0", ex.Message);
        Assert.Equal("queries", ex.ParamName);
        Assert.Contains("double precision", ex.Message);
    }
}
