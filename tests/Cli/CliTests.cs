using Kernels.Cli;
using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The <c>kernels</c> command line, run in-process through <see cref="Program.Run"/> with temporary files: results
/// against the float64 reference, output shapes and dtypes, the schedule spelling of a noise level, every expected
/// error (non-zero exit, a message on stderr, no output file), help on every verb and the example data set.
/// </summary>
public sealed class CliTests : IDisposable
{
    private const int N = 37, D = 3, M = 11;

    /// <summary>
    /// Tolerances are the fast path's rounding-error bounds against the float64 reference (tests/Support/ErrorBound.cs),
    /// at float32's or float64's unit roundoff: the CLI must add no error of its own.
    /// </summary>
    private const double U32 = ErrorBound.UnitRoundoffSingle, U64 = ErrorBound.UnitRoundoffDouble;

    private static readonly NoiseLevel Level = new(0.9, 0.6);

    private readonly string _dir;
    private readonly string _train, _query, _out;
    private readonly double[] _trainValues, _queryValues; // the float32 file contents, widened

    public CliTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kernels-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _train = Path.Combine(_dir, "train.npy");
        _query = Path.Combine(_dir, "query.npy");
        _out = Path.Combine(_dir, "out.npy");

        var rng = new Random(20240611);
        float[] train = CliRun.RandomMatrix(rng, N, D), query = CliRun.RandomMatrix(rng, M, D);
        Npy.Write(_train, train, N, D);
        Npy.Write(_query, query, M, D);
        _trainValues = train.Select(v => (double)v).ToArray();
        _queryValues = query.Select(v => (double)v).ToArray();
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static CliResult Cli(params string[] args) => CliRun.Run(args);

    private string[] Args(string verb, params string[] extra) =>
        [verb, "--train", _train, "--query", _query, "--out", _out, .. extra];

    private static string[] LevelArgs(NoiseLevel level) =>
        ["--alpha", level.Alpha.ToString("R"), "--sigma", level.Sigma.ToString("R")];

    private NpyArray RunAndRead(string verb, params string[] extra)
    {
        var r = Cli(Args(verb, extra));
        CliRun.AssertSucceeded(r);
        return Npy.Read(_out);
    }

    private ReadOnlySpan<double> QueryRow(int q) => _queryValues.AsSpan(q * D, D);

    private static double Norm(double[] v)
    {
        double s = 0;
        foreach (double x in v) s += x * x;
        return Math.Sqrt(s);
    }

    private static double DistanceSquared(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
        return s;
    }

    private void AssertRowsMatch(double[] actual, Func<ReadOnlySpan<double>, double[]> reference, NoiseLevel level, double u,
        Func<ErrorBound, double> pick, string what)
    {
        for (int q = 0; q < M; q++)
        {
            double[] expected = reference(QueryRow(q));
            double error = Math.Sqrt(DistanceSquared(actual.AsSpan(q * D, D), expected));
            double bound = pick(ErrorBound.For(_trainValues, D, QueryRow(q), level, u));
            Assert.True(error <= bound, $"{what}, query {q}: |actual - reference| = {error:E3} > {bound:E3}");
        }
    }

    private void AssertScalarsMatch(double[] actual, Func<int, double> reference, Func<ErrorBound, double> pick, string what)
    {
        for (int q = 0; q < actual.Length; q++)
        {
            double expected = reference(q);
            double error = Math.Abs(actual[q] - expected);
            double bound = pick(ErrorBound.For(_trainValues, D, QueryRow(q), Level, U32));
            Assert.True(error <= bound, $"{what}, query {q}: |{actual[q]:R} - {expected:R}| = {error:E3} > {bound:E3}");
        }
    }

    // ------------------------------------------------------------------ (a) score against the reference

    [Fact]
    public void Score_Float32_MatchesReference()
    {
        var result = RunAndRead("score", LevelArgs(Level));

        Assert.Equal(typeof(float), result.ElementType);
        Assert.Equal(new[] { M, D }, result.Shape);
        AssertRowsMatch(result.ToDouble(), x => ScoreReference.Score(_trainValues, D, x, Level), Level, U32, b => b.Score, "score");
    }

    /// <summary>--no-pruning (the full pass for every query) is within the same bound, at a small σ where the pruned path would run.</summary>
    [Fact]
    public void Score_NoPruning_MatchesReference_AndIsRefusedWithOpenCl()
    {
        var small = new NoiseLevel(1, 0.01);
        var result = RunAndRead("score", [.. LevelArgs(small), "--no-pruning"]);
        AssertRowsMatch(result.ToDouble(), x => ScoreReference.Score(_trainValues, D, x, small), small, U32, b => b.Score, "score without pruning");
        File.Delete(_out);
        var refused = Cli(Args("score", [.. LevelArgs(small), "--backend", "opencl", "--no-pruning"]));
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--no-pruning", refused.Error);
        Assert.False(File.Exists(_out));
    }

    // ------------------------------------------------------------------ (b) the other verbs

    [Fact]
    public void LogDensity_IsOneValuePerQuery_AndMatchesReference()
    {
        var result = RunAndRead("logdensity", LevelArgs(Level));

        Assert.Equal(new[] { M }, result.Shape);
        AssertScalarsMatch(result.ToDouble(), q => ScoreReference.LogDensity(_trainValues, D, QueryRow(q), Level),
            b => b.LogDensity, "log-density");
    }

    [Fact]
    public void Denoise_IsMByD_AndMatchesReference()
    {
        var result = RunAndRead("denoise", LevelArgs(Level));

        Assert.Equal(new[] { M, D }, result.Shape);
        AssertRowsMatch(result.ToDouble(), x => ScoreReference.Denoiser(_trainValues, D, x, Level), Level, U32, b => b.Denoiser, "denoiser");
    }

    [Fact]
    public void Divergence_IsOneValuePerQuery_AndMatchesReference()
    {
        var result = RunAndRead("divergence", LevelArgs(Level));

        Assert.Equal(new[] { M }, result.Shape);
        AssertScalarsMatch(result.ToDouble(), q => ScoreReference.Divergence(_trainValues, D, QueryRow(q), Level),
            b => b.Divergence, "divergence");
    }

    // ------------------------------------------------------------------ (c) schedules

    [Fact]
    public void Schedule_Ve_AtT_0_04_IsAlpha1Sigma0_2()
    {
        // σ = √0.04 is exactly 0.2 in float64, so both spellings give the same level and the same bits.
        Assert.Equal(new NoiseLevel(1, 0.2), NoiseSchedule.Parse("ve").At(0.04));

        float[] bySchedule = RunAndRead("score", "--schedule", "ve", "--t", "0.04").ToSingle();
        float[] byLevel = RunAndRead("score", "--alpha", "1", "--sigma", "0.2").ToSingle();

        Assert.Equal(byLevel, bySchedule);
    }

    [Theory]
    [InlineData("ou", 0.3)]
    [InlineData("vp", 0.5)]
    [InlineData("edm", 0.8)]
    public void Schedule_UsesTheLevelAtT(string schedule, double t)
    {
        var level = NoiseSchedule.Parse(schedule).At(t);

        var result = RunAndRead("score", "--schedule", schedule, "--t", t.ToString("R"));

        AssertRowsMatch(result.ToDouble(), x => ScoreReference.Score(_trainValues, D, x, level), level, U32, b => b.Score, $"score ({schedule})");
    }

    // ------------------------------------------------------------------ (d) precision and threads

    [Fact]
    public void PrecisionFloat64_WritesF8_AndMatchesReferenceTightly()
    {
        var r = Cli(Args("score", [.. LevelArgs(Level), "--precision", "float64"]));
        CliRun.AssertSucceeded(r);

        Assert.Contains("'descr': '<f8'", System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(_out)));
        var result = Npy.Read(_out);
        Assert.Equal(typeof(double), result.ElementType);
        Assert.Equal(new[] { M, D }, result.Shape);
        AssertRowsMatch(result.Double!, x => ScoreReference.Score(_trainValues, D, x, Level), Level, U64, b => b.Score, "float64 score");
    }

    [Fact]
    public void Float64Inputs_WithDefaultPrecision_AreConvertedAndWriteF4()
    {
        string train64 = Path.Combine(_dir, "train64.npy"), query64 = Path.Combine(_dir, "query64.npy");
        Npy.Write(train64, _trainValues, N, D);
        Npy.Write(query64, _queryValues, M, D);

        var r = Cli(["score", "--train", train64, "--query", query64, "--out", _out, .. LevelArgs(Level)]);
        CliRun.AssertSucceeded(r);

        var result = Npy.Read(_out);
        Assert.Equal(typeof(float), result.ElementType);
        // the float64 files hold exactly the float32 values: same inputs, same computation, same bits
        Assert.Equal(RunAndRead("score", LevelArgs(Level)).ToSingle(), result.ToSingle());
    }

    [Fact]
    public void Threads_DoNotChangeTheResult()
    {
        float[] one = RunAndRead("score", [.. LevelArgs(Level), "--threads", "1"]).ToSingle();
        float[] all = RunAndRead("score", LevelArgs(Level)).ToSingle();

        Assert.Equal(all, one);
    }

    [Fact]
    public void Success_PrintsWhatWasWritten()
    {
        var r = Cli(Args("logdensity", LevelArgs(Level)));

        CliRun.AssertSucceeded(r);
        Assert.Contains(_out, r.Out);
        Assert.Contains($"({M},)", r.Out);
    }

    // ------------------------------------------------------------------ (e) errors

    /// <summary>Runs a failing command: non-zero exit, a message naming the problem on stderr, no output, no stray files.</summary>
    private void AssertFails(string[] args, params string[] messageFragments)
    {
        string[] before = Directory.GetFiles(_dir);

        var r = Cli(args);

        Assert.NotEqual(0, r.ExitCode);
        foreach (string fragment in messageFragments)
            Assert.Contains(fragment, r.Error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", r.Error); // no stack trace
        Assert.False(File.Exists(_out), "an output file was written");
        Assert.Equal(before.Order(), Directory.GetFiles(_dir).Order()); // no temporary file left either
    }

    [Fact]
    public void MissingTrainingFile_Fails()
    {
        string missing = Path.Combine(_dir, "nope.npy");
        AssertFails(["score", "--train", missing, "--query", _query, "--out", _out, .. LevelArgs(Level)], "error:", "--train", "nope.npy");
    }

    [Fact]
    public void MismatchedDimensions_Fails()
    {
        string query2 = Path.Combine(_dir, "query2.npy");
        Npy.Write(query2, new float[M * 2], M, 2);

        AssertFails(["score", "--train", _train, "--query", query2, "--out", _out, .. LevelArgs(Level)],
            "--query has D=2 columns but --train has D=3");
    }

    [Fact]
    public void NaNInTrainingFile_FailsNamingTheRow()
    {
        float[] train = _trainValues.Select(v => (float)v).ToArray();
        train[5 * D + 1] = float.NaN;
        Npy.Write(_train, train, N, D);

        AssertFails(Args("score", LevelArgs(Level)), "error:", "--train", "row 5", "NaN");
    }

    [Fact]
    public void NaNInQueryFile_FailsNamingTheRow()
    {
        float[] query = _queryValues.Select(v => (float)v).ToArray();
        query[7 * D] = float.PositiveInfinity;
        Npy.Write(_query, query, M, D);

        AssertFails(Args("denoise", LevelArgs(Level)), "--query", "row 7", "infinity");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0.5")]
    [InlineData("NaN")]
    public void NonPositiveSigma_Fails(string sigma) =>
        AssertFails(Args("score", "--alpha", "1", "--sigma", sigma), "sigma", "> 0");

    [Fact]
    public void NonPositiveT_Fails() =>
        AssertFails(Args("score", "--schedule", "ve", "--t", "0"), "t must be finite and > 0");

    [Theory]
    [InlineData("--alpha", "1", "--sigma", "0.2", "--schedule", "ve", "--t", "0.04")]
    [InlineData("--alpha", "1", "--schedule", "ve", "--t", "0.04")]
    [InlineData("--sigma", "0.2", "--t", "0.04")]
    public void LevelAndSchedule_Fails(params string[] level) =>
        AssertFails(Args("score", level), "not both");

    [Fact]
    public void AlphaWithoutSigma_Fails() =>
        AssertFails(Args("score", "--alpha", "1"), "--alpha and --sigma go together");

    [Fact]
    public void ScheduleWithoutT_Fails() =>
        AssertFails(Args("score", "--schedule", "vp"), "--schedule needs --t");

    [Fact]
    public void NoNoiseLevel_Fails() =>
        AssertFails(Args("score"), "Give a noise level");

    [Fact]
    public void UnknownSchedule_Fails() =>
        AssertFails(Args("score", "--schedule", "cosine", "--t", "0.5"), "cosine");

    [Fact]
    public void UnknownPrecision_Fails() =>
        AssertFails(Args("score", [.. LevelArgs(Level), "--precision", "float16"]), "float16");

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    public void ThreadsBelowOne_Fails(string threads) =>
        AssertFails(Args("score", [.. LevelArgs(Level), "--threads", threads]), "--threads must be at least 1");

    [Theory]
    [InlineData("--alpha", "abc", "'abc' is not a number")]
    [InlineData("--threads", "x", "'x' is not a whole number")]
    public void UnparseableValue_Fails(string option, string value, string message)
    {
        string[] args = option == "--alpha"
            ? Args("score", option, value, "--sigma", "0.5")
            : Args("score", [.. LevelArgs(Level), option, value]);
        AssertFails(args, option, message);
    }

    [Fact]
    public void MissingRequiredOption_Fails() =>
        AssertFails(["score", "--train", _train, "--out", _out, .. LevelArgs(Level)], "--query");

    [Fact]
    public void OneDimensionalInput_FailsExplainingTheReshape()
    {
        string vector = Path.Combine(_dir, "vector.npy");
        Npy.Write(vector, new float[] { 1, 2, 3 }, 3);

        AssertFails(["score", "--train", vector, "--query", _query, "--out", _out, .. LevelArgs(Level)], "--train", "(3,)", "reshape");
    }

    [Fact]
    public void NotAnNpyFile_Fails()
    {
        File.WriteAllText(_query, "x,y,z\n1,2,3\n");

        AssertFails(Args("score", LevelArgs(Level)), "error:", "--query", "not a .npy file");
    }

    [Fact]
    public void Float64BeyondFloat32Range_FailsSuggestingFloat64()
    {
        var train = (double[])_trainValues.Clone();
        train[2 * D] = 1e300;
        Npy.Write(_train, train, N, D);

        AssertFails(Args("score", LevelArgs(Level)), "row 2", "float32 range", "--precision float64");
    }

    [Fact]
    public void OverflowInFloat32_FailsAndWritesNothing()
    {
        // finite in float32, but squared distances (~1e40) are not
        Npy.Write(_train, Enumerable.Repeat(3e19f, N * D).ToArray(), N, D);

        AssertFails(Args("logdensity", LevelArgs(Level)), "error:", "row 0", "overflow");
    }

    [Fact]
    public void MissingOutputDirectory_Fails()
    {
        string outPath = Path.Combine(_dir, "no-such-dir", "out.npy");

        var r = Cli(["score", "--train", _train, "--query", _query, "--out", outPath, .. LevelArgs(Level)]);

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("does not exist", r.Error);
        Assert.False(Directory.Exists(Path.GetDirectoryName(outPath)));
    }

    [Fact]
    public void FailedRun_LeavesAnExistingOutputUntouched()
    {
        byte[] previous = [1, 2, 3];
        File.WriteAllBytes(_out, previous);
        string query2 = Path.Combine(_dir, "query2.npy");
        Npy.Write(query2, new float[M * 2], M, 2);

        var r = Cli(["score", "--train", _train, "--query", query2, "--out", _out, .. LevelArgs(Level)]);

        Assert.Equal(1, r.ExitCode);
        Assert.Equal(previous, File.ReadAllBytes(_out));
    }

    // ------------------------------------------------------------------ (f) help

    [Theory]
    [InlineData("score")]
    [InlineData("logdensity")]
    [InlineData("denoise")]
    [InlineData("divergence")]
    public void Help_OnEachScoreVerb_ListsTheOptions(string verb)
    {
        var r = Cli(verb, "--help");

        Assert.Equal(0, r.ExitCode);
        foreach (string option in new[] { "--train", "--query", "--alpha", "--sigma", "--schedule", "--t", "--out", "--precision", "--threads" })
            Assert.Contains(option, r.Out);
        Assert.Contains("float32", r.Out);
    }

    [Fact]
    public void Help_OnExampleAndRoot()
    {
        var example = Cli("example", "--help");
        Assert.Equal(0, example.ExitCode);
        foreach (string option in new[] { "--out", "--points", "--queries", "--sigma", "--seed" })
            Assert.Contains(option, example.Out);

        var root = Cli("--help");
        Assert.Equal(0, root.ExitCode);
        foreach (string verb in new[] { "score", "logdensity", "denoise", "divergence", "example" })
            Assert.Contains(verb, root.Out);
    }

    // ------------------------------------------------------------------ (g) example

    [Fact]
    public void Example_WritesTheThreeFiles()
    {
        string dir = Path.Combine(_dir, "example");

        var r = Cli("example", "--out", dir);

        CliRun.AssertSucceeded(r);
        var train = Npy.Read(Path.Combine(dir, "train.npy"));
        var query = Npy.Read(Path.Combine(dir, "query.npy"));
        var score = Npy.Read(Path.Combine(dir, "score.npy"));
        Assert.Equal(new[] { 12, 2 }, train.Shape);
        Assert.Equal(new[] { 200, 2 }, query.Shape);
        Assert.Equal(new[] { 200, 2 }, score.Shape);
        Assert.Contains(Path.Combine(dir, "score.npy"), r.Out);

        double[] y = train.ToDouble(), x = query.ToDouble(), s = score.ToDouble();
        for (int i = 0; i < 12; i++)
            Assert.Equal(1.0, Math.Sqrt(y[2 * i] * y[2 * i] + y[2 * i + 1] * y[2 * i + 1]), 6); // on the unit circle
        Assert.All(x, v => Assert.InRange(v, -1.5, 1.5));
        var level = new NoiseLevel(1, 0.2);
        for (int q = 0; q < 200; q++)
        {
            double[] expected = ScoreReference.Score(y, 2, x.AsSpan(2 * q, 2), level);
            double error = Math.Sqrt(DistanceSquared(s.AsSpan(2 * q, 2), expected));
            double bound = ErrorBound.For(y, 2, x.AsSpan(2 * q, 2), level, U32).Score;
            Assert.True(error <= bound, $"example score, query {q}: error {error:E3} > bound {bound:E3}");
        }
    }

    /// <summary>Issue 14: --points or --queries past what one array of N×2 values holds overflowed with .NET's bare message.</summary>
    [Theory]
    [InlineData("--points", "2147483647", "4294967294")]
    [InlineData("--queries", "1500000000", "3000000000")]
    public void Example_WithACountPastOneArray_NamesTheOptionTheValueAndTheLimit(string option, string value, string values)
    {
        string dir = Path.Combine(_dir, "huge");
        var r = Cli("example", "--out", dir, option, value);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith($"error: {option} {value} with D = 2 makes {values} values, more than one array holds", r.Error);
        Assert.Contains($"use {option} {Array.MaxLength / 2} or less", r.Error);
        Assert.DoesNotContain("Arithmetic operation resulted in an overflow", r.Error);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Example_IsDeterministicGivenTheSeed()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b"), c = Path.Combine(_dir, "c");

        CliRun.AssertSucceeded(Cli("example", "--out", a, "--points", "5", "--queries", "7", "--sigma", "0.3", "--seed", "42"));
        CliRun.AssertSucceeded(Cli("example", "--out", b, "--points", "5", "--queries", "7", "--sigma", "0.3", "--seed", "42"));
        CliRun.AssertSucceeded(Cli("example", "--out", c, "--points", "5", "--queries", "7", "--sigma", "0.3", "--seed", "43"));

        foreach (string file in new[] { "train.npy", "query.npy", "score.npy" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, file)), File.ReadAllBytes(Path.Combine(b, file)));
        Assert.Equal(new[] { 7, 2 }, Npy.Read(Path.Combine(a, "query.npy")).Shape);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a, "query.npy")), File.ReadAllBytes(Path.Combine(c, "query.npy")));
    }

    [Fact]
    public void Example_WithBadArguments_WritesNothing()
    {
        string dir = Path.Combine(_dir, "bad");

        Assert.NotEqual(0, Cli("example", "--out", dir, "--sigma", "0").ExitCode);
        Assert.NotEqual(0, Cli("example", "--out", dir, "--points", "0").ExitCode);
        Assert.False(Directory.Exists(dir));
    }
}
