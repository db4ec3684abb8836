using System.Text.Json;
using Kernels.Cli;
using Kernels.Numerics.Io;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// <c>kernels bench OP</c>, run in-process through <see cref="Program.Run"/> on small temporary files: one JSON line
/// with every documented field, flop counts by the stated convention (4·M·N·D, times K when smoothed), GFLOP/s and the
/// fraction of the ceiling consistent with the seconds printed, and the usual errors (bad --repeat, mismatched D,
/// missing --draws) as a non-zero exit with a message naming the option.
/// </summary>
public sealed class BenchCliTests : IDisposable
{
    private const int N = 29, D = 5, M = 7;

    private static readonly string[] Fields =
    [
        "op", "precision", "backend", "n", "m", "d", "k", "threads", "warmup", "repeat", "seconds", "min_seconds", "max_seconds", "flops",
        "gflops", "ceiling_gflops", "fraction_of_ceiling", "allocated_bytes_per_run", "rss_before_mib", "peak_working_set_mib",
        "peak_growth_mib", "peak_over",
    ];

    private static readonly string[] LevelArgs = ["--alpha", "0.9", "--sigma", "0.6"];

    private readonly string _dir, _train, _query, _wide;

    public BenchCliTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kernels-bench-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _train = Path.Combine(_dir, "train.npy");
        _query = Path.Combine(_dir, "query.npy");
        _wide = Path.Combine(_dir, "wide.npy");
        var rng = new Random(11);
        Npy.Write(_train, CliRun.RandomMatrix(rng, N, D), N, D);
        Npy.Write(_query, CliRun.RandomMatrix(rng, M, D), M, D);
        Npy.Write(_wide, CliRun.RandomMatrix(rng, M, D + 1), M, D + 1);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private string[] Bench(string op, params string[] extra) => ["bench", op, "--train", _train, "--query", _query, .. LevelArgs, .. extra];

    /// <summary>Runs the verb, checks it printed exactly one JSON object with every field, and returns it.</summary>
    private static JsonElement RunJson(string[] args, string[]? fields = null)
    {
        var r = CliRun.Run(args);
        CliRun.AssertSucceeded(r);
        string[] lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        JsonElement json = JsonDocument.Parse(lines[0]).RootElement;
        foreach (string field in fields ?? Fields)
            Assert.True(json.TryGetProperty(field, out _), $"field {field} missing from {lines[0]}");
        return json;
    }

    [Theory]
    [InlineData("score", "float32")]
    [InlineData("logdensity", "float64")]
    [InlineData("denoise", "float32")]
    [InlineData("divergence", "float64")]
    public void Score_verbs_print_consistent_timings_and_the_ceiling(string op, string precision)
    {
        JsonElement json = RunJson(Bench(op, "--repeat", "3", "--warmup", "1", "--warmup-seconds", "0", "--precision", precision, "--threads", "1"));

        Assert.Equal(op, json.GetProperty("op").GetString());
        Assert.Equal(precision, json.GetProperty("precision").GetString());
        Assert.Equal((N, M, D, 1), (json.GetProperty("n").GetInt32(), json.GetProperty("m").GetInt32(), json.GetProperty("d").GetInt32(), json.GetProperty("k").GetInt32()));
        Assert.Equal((1, 1, 3), (json.GetProperty("threads").GetInt32(), json.GetProperty("warmup").GetInt32(), json.GetProperty("repeat").GetInt32()));
        Assert.Equal(4.0 * M * N * D, json.GetProperty("flops").GetDouble());
        AssertConsistent(json);
    }

    [Fact]
    public void Smooth_counts_the_draws_in_the_flops()
    {
        JsonElement json = RunJson(Bench("smooth", "--kernel", "gaussian:0.3", "--draws", "6", "--repeat", "2"));

        Assert.Equal(6, json.GetProperty("k").GetInt32());
        Assert.Equal(4.0 * M * 6 * N * D, json.GetProperty("flops").GetDouble());
        Assert.Equal(Environment.ProcessorCount, json.GetProperty("threads").GetInt32());
        AssertConsistent(json);
    }

    [Fact]
    public void Kde_without_the_ceiling_prints_nulls_for_it()
    {
        JsonElement json = RunJson(Bench("kde", "--kernel", "gaussian:0.3", "--repeat", "1", "--no-ceiling"));

        Assert.Equal(4.0 * M * N * D, json.GetProperty("flops").GetDouble());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("ceiling_gflops").ValueKind);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("fraction_of_ceiling").ValueKind);
    }

    /// <summary>
    /// Seconds are ordered (min ≤ median ≤ max, all positive); GFLOP/s is flops / median / 1e9 and the fraction is
    /// GFLOP/s / ceiling, each printed rounded (3 and 5 decimals), so they agree to that rounding; the peak working set
    /// is at least what the process held before the runs.
    /// </summary>
    private static void AssertConsistent(JsonElement json)
    {
        double seconds = json.GetProperty("seconds").GetDouble();
        double min = json.GetProperty("min_seconds").GetDouble(), max = json.GetProperty("max_seconds").GetDouble();
        Assert.True(0 < min && min <= seconds && seconds <= max, $"seconds {min} <= {seconds} <= {max}");
        double gflops = json.GetProperty("gflops").GetDouble();
        Assert.Equal(json.GetProperty("flops").GetDouble() / seconds / 1e9, gflops, 0.0005 + 1e-12 * gflops);
        if (json.GetProperty("ceiling_gflops").ValueKind == JsonValueKind.Number)
        {
            double ceiling = json.GetProperty("ceiling_gflops").GetDouble();
            Assert.True(ceiling > 0, $"ceiling {ceiling}");
            Assert.Equal(gflops / ceiling, json.GetProperty("fraction_of_ceiling").GetDouble(), 0.00001 + 0.0005 / ceiling);
        }
        Assert.True(json.GetProperty("allocated_bytes_per_run").GetInt64() >= 0);
        Assert.True(json.GetProperty("peak_working_set_mib").GetDouble() > 0);
        Assert.True(json.GetProperty("peak_growth_mib").GetDouble() >= 0);
    }

    [Fact]
    public void Repeat_below_one_is_a_usage_error_naming_it()
    {
        var r = CliRun.Run(Bench("score", "--repeat", "0"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--repeat must be at least 1", r.Error);
        Assert.DoesNotContain("\"seconds\"", r.Out); // usage errors print help, never a timing
    }

    [Fact]
    public void Queries_of_another_dimension_are_refused_naming_query()
    {
        var r = CliRun.Run(["bench", "score", "--train", _train, "--query", _wide, .. LevelArgs, "--no-ceiling"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--query has D=6 columns but --train has D=5", r.Error);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void Min_seconds_keeps_timing_past_repeat()
    {
        JsonElement json = RunJson(Bench("score", "--repeat", "1", "--min-seconds", "0.05", "--warmup-seconds", "0", "--no-ceiling"));
        int runs = json.GetProperty("repeat").GetInt32();
        // the runs stop once their sum passes 0.05 s (so the count times the slowest run covers it), or at 1000 runs
        Assert.True(runs == 1000 || runs * json.GetProperty("max_seconds").GetDouble() >= 0.05, $"{runs} runs");
        Assert.True(runs > 1 || json.GetProperty("seconds").GetDouble() >= 0.05, $"{runs} runs");
    }

    [Fact]
    public void Smooth_needs_draws_and_a_kernel()
    {
        var r = CliRun.Run(Bench("smooth", "--no-ceiling"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--draws", r.Error);
        Assert.Contains("--kernel", r.Error);
    }

    /// <summary>bench project: one JSON line whose round time is positive and whose ratio is its quotient by the score's time.</summary>
    [Fact]
    public void Project_PrintsRoundAndScoreTimes()
    {
        JsonElement json = RunJson(Bench("project", "--dim", "2", "--iterations", "2", "--repeat", "2", "--warmup", "1", "--threads", "1"),
            ["op", "precision", "backend", "n", "m", "d", "ridge_dim", "rounds", "steps_per_start", "mean_rank", "repeat",
             "seconds_per_round", "score_seconds", "round_over_score", "peak_growth_mib"]);
        Assert.Equal("project", json.GetProperty("op").GetString());
        Assert.Equal(2, json.GetProperty("ridge_dim").GetInt32());
        Assert.Equal(2, json.GetProperty("steps_per_start").GetDouble());
        double round = json.GetProperty("seconds_per_round").GetDouble(), score = json.GetProperty("score_seconds").GetDouble();
        Assert.True(round > 0 && score > 0);
        Assert.Equal(Math.Round(round / score, 3), json.GetProperty("round_over_score").GetDouble());
        Assert.InRange(json.GetProperty("mean_rank").GetDouble(), 1, N);
    }

    [Fact]
    public void Project_DimNotBelowD_Fails()
    {
        var r = CliRun.Run(Bench("project", "--dim", D.ToString()));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"--dim {D}", r.Error);
    }
}
