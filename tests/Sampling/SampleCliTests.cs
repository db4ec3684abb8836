using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Sampling;

/// <summary>
/// <c>kernels sample</c> and <c>kernels likelihood</c> against the managed API on the same inputs: the verbs build the same
/// model, grid and start, so their files must hold the API's results bit for bit.
/// </summary>
public sealed class SampleCliTests : IDisposable
{
    private const int N = 9, D = 3;
    private readonly string _dir;
    private readonly string _train, _out;
    private readonly float[] _trainValues;

    public SampleCliTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kernels-sample-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _train = Path.Combine(_dir, "train.npy");
        _out = Path.Combine(_dir, "out.npy");
        _trainValues = CliRun.RandomMatrix(new Random(7), N, D);
        Npy.Write(_train, _trainValues, N, D);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static readonly string[] Schedule = ["--schedule", "ve", "--t-max", "4", "--t-min", "0.01", "--steps", "30"];

    private static TimeGrid Grid => TimeGrid.Geometric(4, 0.01, 30);

    private double DataVariance => _trainValues.Sum(v => (double)v * v) / _trainValues.Length;

    [Fact]
    public void Sample_Sde_Smoothed_MatchesTheApi()
    {
        CliRun.AssertSucceeded(CliRun.Run(["sample", "--train", _train, .. Schedule, "--kernel", "gaussian:0.2", "--draws", "16",
            "--count", "40", "--seed", "5", "--out", _out]));
        var exact = new EmpiricalScore<float>(new TrainingSet<float>(_trainValues, N, D));
        var model = new LogSmoothedScore<float>(exact, SmoothingKernel.Gaussian(0.2), new SmoothingDraws(16, 0, antithetic: true, fixedDraws: true));
        var expected = new ReverseSampler<float>(model, NoiseSchedule.VarianceExploding, Grid)
            .Sample(40, new SamplerOptions { Seed = 5 }, DataVariance).Samples;
        var written = Npy.Read(_out);
        Assert.Equal(new[] { 40, D }, written.Shape);
        Assert.Equal(expected, written.Single);
    }

    [Fact]
    public void Sample_Ode_Float64_MatchesTheApi()
    {
        CliRun.AssertSucceeded(CliRun.Run(["sample", "--train", _train, .. Schedule, "--method", "ode", "--count", "10",
            "--precision", "float64", "--out", _out]));
        var model = new EmpiricalScore<double>(new TrainingSet<double>(_trainValues.Select(v => (double)v).ToArray(), N, D));
        var expected = new ReverseSampler<double>(model, NoiseSchedule.VarianceExploding, Grid)
            .Sample(10, new SamplerOptions { Method = SamplerMethod.Heun }, DataVariance).Samples;
        Assert.Equal(expected, Npy.Read(_out).Double);
    }

    [Fact]
    public void Likelihood_Kde_MatchesTheApi_AndPrintsTheNll()
    {
        string query = Path.Combine(_dir, "query.npy");
        var points = CliRun.RandomMatrix(new Random(8), 12, D);
        Npy.Write(query, points, 12, D);
        var result = CliRun.Run(["likelihood", "--train", _train, "--query", query, .. Schedule, "--kernel", "gaussian:0.3", "--kde",
            "--out", _out]);
        CliRun.AssertSucceeded(result);
        Assert.Contains("mean NLL", result.Out);
        var exact = new EmpiricalScore<float>(new TrainingSet<float>(_trainValues, N, D));
        var expected = ProbabilityFlow.LogLikelihood(new KdeScore<float>(exact, SmoothingKernel.Gaussian(0.3)), NoiseSchedule.VarianceExploding,
            Grid, points);
        Assert.Equal(expected.Select(v => (float)v).ToArray(), Npy.Read(_out).Single);
    }

    [Fact]
    public void Sample_RejectsAnInvertedGrid_NamingTheOption_AndWritesNothing()
    {
        var result = CliRun.Run(["sample", "--train", _train, "--schedule", "ve", "--t-max", "0.1", "--t-min", "1", "--count", "3", "--out", _out]);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: --t-max", result.Error);
        Assert.False(File.Exists(_out));
    }

    [Fact]
    public void Sample_RejectsSmoothingOptionsWithoutAKernel()
    {
        var result = CliRun.Run(["sample", "--train", _train, .. Schedule, "--kde", "--count", "3", "--out", _out]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("give --kernel too", result.Error);
        var tangent = CliRun.Run(["sample", "--train", _train, .. Schedule, "--kernel", "tangent:0.1", "--count", "3", "--out", _out]);
        Assert.NotEqual(0, tangent.ExitCode);
        Assert.Contains("needs --tangent", tangent.Error);
    }

    /// <summary>Issue 14: --count past what one array of M×D values holds said only "Arithmetic operation resulted in an overflow".</summary>
    [Fact]
    public void Sample_WithACountPastOneArray_NamesTheOptionTheValueAndTheLimit_AndWritesNothing()
    {
        var result = CliRun.Run(["sample", "--train", _train, .. Schedule, "--count", "2147483647", "--out", _out]);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: --count 2147483647 with D = 3 makes 6442450941 values", result.Error);
        Assert.Contains($"use --count {Array.MaxLength / D} or less", result.Error);
        AssertOwnWords(result.Error);
        Assert.False(File.Exists(_out));
    }

    [Fact]
    public void Sample_WithStepsOrDrawsPastTheirRange_NamesTheOptionAndTheLimit()
    {
        var steps = CliRun.Run(["sample", "--train", _train, "--schedule", "ve", "--t-max", "4", "--t-min", "0.01", "--steps", "2147483647",
            "--count", "2", "--out", _out]);
        Assert.Equal(1, steps.ExitCode);
        Assert.StartsWith("error: --steps: steps = 2147483647", steps.Error);
        Assert.Contains($"use at most {Array.MaxLength - 1} steps", steps.Error);
        AssertOwnWords(steps.Error);

        // odd --draws are rounded up to antithetic pairs: int.MaxValue would overflow (it read "K must be at least 1")
        var draws = CliRun.Run(["sample", "--train", _train, .. Schedule, "--kernel", "gaussian:0.1", "--draws", "2147483647", "--count", "2", "--out", _out]);
        Assert.NotEqual(0, draws.ExitCode);
        Assert.Contains("--draws must be at most 2147483646 (got 2147483647)", draws.Error);
        AssertOwnWords(draws.Error);

        var huge = CliRun.Run(["sample", "--train", _train, .. Schedule, "--count", "99999999999", "--out", _out]);
        Assert.NotEqual(0, huge.ExitCode);
        Assert.Contains("--count 99999999999 is too large; use at most 2147483647", huge.Error);
        Assert.False(File.Exists(_out));
    }

    /// <summary>Issue 14: an --out name of 239–255 bytes failed (the temporary name added 17 bytes to it); 255 bytes of UTF-8 now write.</summary>
    [Fact]
    public void Sample_ToAnOutNameOf255Bytes_Writes_AndLeavesNoTemporaryFile()
    {
        string name = string.Concat(Enumerable.Repeat("é", 125)) + "n.npy"; // 125 two-byte characters + 5 bytes
        Assert.Equal(255, System.Text.Encoding.UTF8.GetByteCount(name));
        string dir = Path.Combine(_dir, "long");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        CliRun.AssertSucceeded(CliRun.Run(["sample", "--train", _train, .. Schedule, "--count", "4", "--out", path]));
        Assert.Equal(new[] { 4, D }, Npy.Read(path).Shape);
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(dir));
    }

    private static void AssertOwnWords(string error)
    {
        Assert.DoesNotContain("Arithmetic operation resulted in an overflow", error);
        Assert.DoesNotContain("(Parameter '", error);
        Assert.DoesNotContain("Actual value was", error);
    }

    [Fact]
    public void Likelihood_RejectsQueriesOfAnotherDimension()
    {
        string query = Path.Combine(_dir, "query2.npy");
        Npy.Write(query, new float[8], 4, 2);
        var result = CliRun.Run(["likelihood", "--train", _train, "--query", query, .. Schedule, "--out", _out]);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--query has D=2 columns but --train has D=3", result.Error);
    }
}
