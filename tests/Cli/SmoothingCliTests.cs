using Kernels.Cli;
using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Io;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The <c>kernels smooth …</c> and <c>kde …</c> verbs, run in-process through <see cref="Program.Run"/> with temporary
/// files: results equal to the library's (bit for bit: the CLI adds no arithmetic of its own), standard-error files,
/// tangent-space kernels, and every spec and draw error (non-zero exit, a message naming the option, no output file).
/// </summary>
public sealed class SmoothingCliTests : IDisposable
{
    private const int N = 37, D = 3, M = 11, Draws = 16;
    private const ulong Seed = 20240611;

    private static readonly NoiseLevel Level = new(0.9, 0.6);

    private readonly string _dir;
    private readonly string _train, _query, _out, _stderr;
    private readonly float[] _trainValues, _queryValues;

    public SmoothingCliTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kernels-smoothing-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _train = Path.Combine(_dir, "train.npy");
        _query = Path.Combine(_dir, "query.npy");
        _out = Path.Combine(_dir, "out.npy");
        _stderr = Path.Combine(_dir, "se.npy");

        var rng = new Random(7);
        _trainValues = CliRun.RandomMatrix(rng, N, D);
        _queryValues = CliRun.RandomMatrix(rng, M, D);
        Npy.Write(_train, _trainValues, N, D);
        Npy.Write(_query, _queryValues, M, D);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static CliResult Cli(params string[] args) => CliRun.Run(args);

    private static readonly string[] LevelArgs = ["--alpha", Level.Alpha.ToString("R"), "--sigma", Level.Sigma.ToString("R")];

    /// <summary>smooth VERB on the test files at <see cref="Level"/> with <see cref="Draws"/> draws and <see cref="Seed"/>.</summary>
    private string[] Smooth(string verb, string kernel, params string[] extra) =>
        [.. SmoothBare(verb, kernel, extra), "--draws", Draws.ToString(), "--seed", Seed.ToString()];

    /// <summary>smooth VERB without --draws and --seed (for tests that give their own).</summary>
    private string[] SmoothBare(string verb, string kernel, params string[] extra) =>
        ["smooth", verb, "--train", _train, "--query", _query, "--out", _out, .. LevelArgs, "--kernel", kernel, .. extra];

    private string[] Kde(string verb, string kernel, params string[] extra) =>
        ["kde", verb, "--train", _train, "--query", _query, "--out", _out, .. LevelArgs, "--kernel", kernel, .. extra];

    private NpyArray RunAndRead(string[] args)
    {
        var r = Cli(args);
        CliRun.AssertSucceeded(r);
        return Npy.Read(_out);
    }

    private TrainingSet<float> Set => new(_trainValues, N, D);

    private LogSmoothedScore<float> Library(SmoothingKernel kernel, bool antithetic = false, bool fixedDraws = false) =>
        new(new EmpiricalScore<float>(Set), kernel, new SmoothingDraws(Draws, Seed, antithetic, fixedDraws));

    // ------------------------------------------------------------------ (a) smooth equals the library

    [Fact]
    public void SmoothScore_Gaussian_EqualsLibraryBitForBit()
    {
        var result = RunAndRead(Smooth("score", "gaussian:0.25"));

        Assert.Equal(typeof(float), result.ElementType);
        Assert.Equal(new[] { M, D }, result.Shape);
        float[] expected = Library(SmoothingKernel.Gaussian(0.25)).Score(_queryValues, Level);
        Assert.Equal(expected, result.ToSingle());
    }

    [Fact]
    public void SmoothLogDensityAndDivergence_AreOneValuePerQuery_AndEqualLibrary()
    {
        var model = Library(SmoothingKernel.Gaussian(0.25), antithetic: true, fixedDraws: true);

        var logDensity = RunAndRead(Smooth("logdensity", "gaussian:0.25", "--antithetic", "--fixed"));
        Assert.Equal(new[] { M }, logDensity.Shape);
        Assert.Equal(model.LogDensity(_queryValues, Level), logDensity.ToSingle());

        var divergence = RunAndRead(Smooth("divergence", "gaussian:0.25", "--antithetic", "--fixed"));
        Assert.Equal(new[] { M }, divergence.Shape);
        Assert.Equal(model.Divergence(_queryValues, Level), divergence.ToSingle());
    }

    [Fact]
    public void SmoothScore_Float64_ThreadsAndBatchRows_DoNotChangeTheBits()
    {
        var set = new TrainingSet<double>(_trainValues.Select(v => (double)v).ToArray(), N, D);
        var model = new LogSmoothedScore<double>(new EmpiricalScore<double>(set), SmoothingKernel.Ball(0.4), new SmoothingDraws(Draws, Seed));
        double[] expected = model.Score(_queryValues.Select(v => (double)v).ToArray(), Level);

        var result = RunAndRead(Smooth("score", "ball:0.4", "--precision", "float64", "--threads", "1", "--batch-rows", "6"));

        Assert.Equal(typeof(double), result.ElementType);
        Assert.Equal(expected, result.Double!);
    }

    [Fact]
    public void StderrOut_WritesStandardErrorsOfTheOutputsShape()
    {
        var r = Cli(Smooth("score", "gaussian:0.25", "--stderr-out", _stderr));
        CliRun.AssertSucceeded(r);
        Assert.Contains(_stderr, r.Out);

        var errors = Npy.Read(_stderr);
        Assert.Equal(typeof(float), errors.ElementType);
        Assert.Equal(new[] { M, D }, errors.Shape);
        Assert.All(errors.ToSingle(), e => Assert.True(float.IsFinite(e) && e >= 0, $"standard error {e}"));
        Assert.Contains(errors.ToSingle(), e => e > 0);

        var scoreError = new float[M * D];
        Library(SmoothingKernel.Gaussian(0.25)).Evaluate(_queryValues, Level, new SmoothedOutputs<float> { ScoreError = scoreError });
        Assert.Equal(scoreError, errors.ToSingle());

        CliRun.AssertSucceeded(Cli(Smooth("logdensity", "gaussian:0.25", "--stderr-out", _stderr)));
        Assert.Equal(new[] { M }, Npy.Read(_stderr).Shape);
        Assert.All(Npy.Read(_stderr).ToSingle(), e => Assert.True(float.IsFinite(e) && e >= 0, $"standard error {e}"));
    }

    [Fact]
    public void Success_PrintsWhatKernelAndDraws()
    {
        var r = Cli(Smooth("divergence", "gaussian:0.25", "--antithetic"));

        CliRun.AssertSucceeded(r);
        Assert.Contains(_out, r.Out);
        Assert.Contains("smooth divergence", r.Out);
        Assert.Contains($"({M},)", r.Out);
        Assert.Contains("float32", r.Out);
        Assert.Contains("gaussian:0.25", r.Out);
        Assert.Contains($"{Draws} draws", r.Out);
    }

    // ------------------------------------------------------------------ (b) kde equals the library

    [Fact]
    public void KdeScore_Gaussian_EqualsLibrary()
    {
        var result = RunAndRead(Kde("score", "gaussian:0.25"));

        Assert.Equal(new[] { M, D }, result.Shape);
        float[] expected = new KdeScore<float>(new EmpiricalScore<float>(Set), SmoothingKernel.Gaussian(0.25)).Score(_queryValues, Level);
        Assert.Equal(expected, result.ToSingle());
    }

    [Fact]
    public void KdeLogDensityAndDenoise_AnisotropicOnACircle_EqualLibrary()
    {
        var model = new KdeScore<float>(new EmpiricalScore<float>(Set), SmoothingKernel.Anisotropic(new Circle(1.5, null, D), 0.4, 0.1));

        var logDensity = RunAndRead(Kde("logdensity", "aniso:0.4,0.1", "--tangent", "circle:1.5"));
        Assert.Equal(new[] { M }, logDensity.Shape);
        Assert.Equal(model.LogDensity(_queryValues, Level), logDensity.ToSingle());

        var denoised = RunAndRead(Kde("denoise", "aniso:0.4,0.1", "--tangent", "circle:1.5"));
        Assert.Equal(new[] { M, D }, denoised.Shape);
        Assert.Equal(model.Denoise(_queryValues, Level), denoised.ToSingle());
    }

    // ------------------------------------------------------------------ (c) tangent-space kernels

    [Fact]
    public void SmoothScore_TangentKernelOnACircle_RunsAndDiffersFromIsotropic()
    {
        // points on the unit circle in D = 2, queries near it
        const int points = 24, queries = 9;
        var circle = new float[points * 2];
        for (int i = 0; i < points; i++)
        {
            circle[2 * i] = (float)Math.Cos(2 * Math.PI * i / points);
            circle[2 * i + 1] = (float)Math.Sin(2 * Math.PI * i / points);
        }
        var near = new float[queries * 2];
        for (int q = 0; q < queries; q++)
        {
            double r = 0.8 + 0.05 * q, theta = 0.7 * q;
            near[2 * q] = (float)(r * Math.Cos(theta));
            near[2 * q + 1] = (float)(r * Math.Sin(theta));
        }
        Npy.Write(_train, circle, points, 2);
        Npy.Write(_query, near, queries, 2);

        float[] tangent = RunAndRead(Smooth("score", "tangent:0.3", "--tangent", "circle")).ToSingle();
        float[] isotropic = RunAndRead(Smooth("score", "gaussian:0.3")).ToSingle();

        Assert.Equal(queries * 2, tangent.Length);
        Assert.All(tangent, v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(isotropic, tangent);

        var model = new LogSmoothedScore<float>(new EmpiricalScore<float>(new TrainingSet<float>(circle, points, 2)),
            SmoothingKernel.Tangent(new Circle(1, null, 2), 0.3), new SmoothingDraws(Draws, Seed));
        Assert.Equal(model.Score(near, Level), tangent);
    }

    [Theory]
    [InlineData("sphere")]
    [InlineData("sphere:2")]
    [InlineData("line")]
    [InlineData("knn:8")]
    [InlineData("knn:8,2")]
    [InlineData("ridge:1")]
    [InlineData("ridge:2,project")]
    public void SmoothScore_EveryTangentSpec_Runs(string tangent)
    {
        var result = RunAndRead(Smooth("score", "aniso:0.3,0.05", "--tangent", tangent));

        Assert.Equal(new[] { M, D }, result.Shape);
        Assert.All(result.ToSingle(), v => Assert.True(float.IsFinite(v)));
    }

    // ------------------------------------------------------------------ (d) errors

    /// <summary>Runs a failing command: non-zero exit, the fragments on stderr, no stack trace, no output or error file, no stray files.</summary>
    private void AssertFails(string[] args, params string[] messageFragments)
    {
        string[] before = Directory.GetFiles(_dir);

        var r = Cli(args);

        Assert.NotEqual(0, r.ExitCode);
        foreach (string fragment in messageFragments)
            Assert.Contains(fragment, r.Error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", r.Error);
        Assert.False(File.Exists(_out), "an output file was written");
        Assert.False(File.Exists(_stderr), "a standard-error file was written");
        Assert.Equal(before.Order(), Directory.GetFiles(_dir).Order());
    }

    [Theory]
    [InlineData("gauss:1", "is not a kernel")]
    [InlineData("gaussian", "one number")]
    [InlineData("gaussian:abc", "'abc' is not a number")]
    [InlineData("aniso:0.1", "two numbers")]
    [InlineData("ball:1,2", "one number")]
    public void BadKernelSpec_Fails(string kernel, string message) =>
        AssertFails(Smooth("score", kernel), "--kernel", $"'{kernel}'", message, "gaussian:H, aniso:HT,HN, tangent:H or ball:R");

    [Theory]
    [InlineData("gaussian:0")]
    [InlineData("gaussian:-1")]
    [InlineData("ball:NaN")]
    [InlineData("aniso:0,0")]
    public void NonPositiveKernelScale_FailsWithExitCode1(string kernel)
    {
        string[] args = kernel.StartsWith("aniso", StringComparison.Ordinal) ? Smooth("score", kernel, "--tangent", "line") : Smooth("score", kernel);
        AssertFails(args, "error:", $"--kernel {kernel}");
        Assert.Equal(1, Cli(args).ExitCode);
    }

    [Theory]
    [InlineData("aniso:0.3,0.05")]
    [InlineData("tangent:0.3")]
    public void AnisotropicKernelWithoutTangent_Fails(string kernel) =>
        AssertFails(Smooth("score", kernel), "--tangent", kernel);

    [Theory]
    [InlineData("gaussian:0.3")]
    [InlineData("ball:0.3")]
    public void IsotropicKernelWithTangent_Fails(string kernel) =>
        AssertFails(Smooth("score", kernel, "--tangent", "circle"), "--tangent", kernel);

    [Theory]
    [InlineData("torus", "is not a tangent space")]
    [InlineData("circle:x", "'x' is not a number")]
    [InlineData("knn", "knn takes K")]
    [InlineData("knn:3,1,2", "knn takes K")]
    [InlineData("line:2", "line takes no parameters")]
    [InlineData("ridge", "ridge takes D")]
    [InlineData("ridge:x", "'x' is not a whole number")]
    [InlineData("ridge:1,near", "ridge takes D")]
    public void BadTangentSpec_Fails(string tangent, string message) =>
        AssertFails(Smooth("score", "tangent:0.3", "--tangent", tangent), "--tangent", $"'{tangent}'", message, "circle[:R], sphere[:R], line, knn:K[,D] or ridge:D[,project]");

    /// <summary>--tangent ridge:1 is the library's <see cref="RidgeTangentSpace{T}"/> at the command's level, bit for bit.</summary>
    [Fact]
    public void SmoothScore_RidgeTangent_EqualsTheLibrary()
    {
        var result = RunAndRead(Smooth("score", "tangent:0.3", "--tangent", "ridge:1"));
        var empirical = new EmpiricalScore<float>(Set);
        var model = new LogSmoothedScore<float>(empirical,
            SmoothingKernel.Tangent(new Kernels.Numerics.Ridges.RidgeTangentSpace<float>(empirical, Level, 1), 0.3), new SmoothingDraws(Draws, Seed));
        Assert.Equal(model.Score(_queryValues, Level), result.ToSingle());
    }

    [Fact]
    public void RidgeTangentDimensionNotBelowD_Fails() =>
        AssertFails(Smooth("score", "tangent:0.3", "--tangent", $"ridge:{D}"), "error:", $"--tangent ridge:{D}", "1 <= dimension < D");

    [Fact]
    public void RidgeTangentWithoutOneLevel_FailsInSample()
    {
        string[] args = ["sample", "--train", _train, "--out", _out, "--count", "4", "--schedule", "ve", "--t-max", "1", "--t-min", "0.01", "--steps", "4", "--kernel", "tangent:0.3", "--tangent", "ridge:1"];
        var r = Cli(args);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--tangent ridge:1", r.Error);
        Assert.Contains("one noise level", r.Error);
        Assert.False(File.Exists(_out));
    }

    [Fact]
    public void BallKernelForKde_FailsSayingKdeNeedsAGaussian() =>
        AssertFails(Kde("score", "ball:0.3"), "--kernel", "ball:0.3", "Gaussian", "kernels smooth");

    [Fact]
    public void ZeroDraws_Fails()
    {
        string[] args = SmoothBare("score", "gaussian:0.3", "--draws", "0");
        AssertFails(args, "error:", "--draws 0", "at least 1");
    }

    [Fact]
    public void OddDrawsWithAntithetic_Fails()
    {
        string[] args = SmoothBare("score", "gaussian:0.3", "--antithetic", "--draws", "5");
        AssertFails(args, "error:", "--draws 5", "--antithetic", "even");
    }

    [Fact]
    public void KnnWithMoreNeighboursThanPoints_Fails() =>
        AssertFails(Smooth("score", "tangent:0.3", "--tangent", $"knn:{N + 1}", "--stderr-out", _stderr),
            "error:", $"--tangent knn:{N + 1}", $"N = {N}");

    [Fact]
    public void KnnTangentDimensionNotBelowD_Fails() =>
        AssertFails(Smooth("score", "tangent:0.3", "--tangent", $"knn:8,{D}"), "error:", $"--tangent knn:8,{D}", "1 <= d < D");

    [Fact]
    public void CircleInOneDimension_Fails()
    {
        Npy.Write(_train, _trainValues, N * D, 1);
        Npy.Write(_query, _queryValues, M * D, 1);
        AssertFails(Smooth("score", "tangent:0.3", "--tangent", "circle"), "error:", "--tangent circle", "D >= 2", "D=1");
    }

    [Fact]
    public void StandardErrorsFromOneDraw_Fail()
    {
        string[] args = SmoothBare("score", "gaussian:0.3", "--stderr-out", _stderr, "--draws", "1");
        AssertFails(args, "error:", "--stderr-out", "--draws 1");
    }

    [Fact]
    public void StderrOutSameAsOut_Fails() =>
        AssertFails(Smooth("score", "gaussian:0.3", "--stderr-out", _out), "error:", "--stderr-out", "--out");

    [Theory]
    [InlineData("--seed", "-1", "is not a seed")]
    [InlineData("--seed", "x", "is not a seed")]
    [InlineData("--draws", "many", "is not a whole number")]
    [InlineData("--batch-rows", "0", "at least 1")]
    public void BadDrawOptions_Fail(string option, string value, string message)
    {
        string[] args = option == "--batch-rows"
            ? Smooth("score", "gaussian:0.3", option, value)
            : SmoothBare("score", "gaussian:0.3", option == "--seed" ? ["--draws", "4", option, value] : [option, value]);
        AssertFails(args, option, message);
    }

    [Fact]
    public void MissingNoiseLevel_FailsLikeTheScoreVerbs() =>
        AssertFails(["smooth", "score", "--train", _train, "--query", _query, "--out", _out, "--kernel", "gaussian:0.3", "--draws", "4"],
            "Give a noise level");

    [Fact]
    public void MissingDraws_Fails() =>
        AssertFails(SmoothBare("score", "gaussian:0.3"), "--draws");

    [Fact]
    public void KdeHasNoDrawOptions() =>
        AssertFails([.. Kde("score", "gaussian:0.3"), "--draws", "4"], "--draws");

    // ------------------------------------------------------------------ (e) help

    [Theory]
    [InlineData("smooth", "score")]
    [InlineData("smooth", "logdensity")]
    [InlineData("smooth", "divergence")]
    public void Help_OnEachSmoothVerb_ListsTheOptions(string group, string verb)
    {
        var r = Cli(group, verb, "--help");

        Assert.Equal(0, r.ExitCode);
        foreach (string option in new[] { "--train", "--query", "--alpha", "--sigma", "--schedule", "--t", "--kernel", "--tangent",
                     "--draws", "--seed", "--antithetic", "--fixed", "--stderr-out", "--batch-rows", "--out", "--precision", "--threads" })
            Assert.Contains(option, r.Out);
    }

    [Theory]
    [InlineData("score")]
    [InlineData("logdensity")]
    [InlineData("denoise")]
    public void Help_OnEachKdeVerb_ListsTheOptions(string verb)
    {
        var r = Cli("kde", verb, "--help");

        Assert.Equal(0, r.ExitCode);
        foreach (string option in new[] { "--train", "--query", "--alpha", "--sigma", "--kernel", "--tangent", "--out", "--precision", "--threads" })
            Assert.Contains(option, r.Out);
        Assert.DoesNotContain("--draws", r.Out);
    }

    [Fact]
    public void Help_OnRoot_ListsSmoothAndKde()
    {
        var r = Cli("--help");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("smooth", r.Out);
        Assert.Contains("kde", r.Out);
    }
}
