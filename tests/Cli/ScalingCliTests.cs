using System.Text.Json;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// <c>kernels bench scaling</c>, run in-process on tiny sweeps: one JSON line per size and thread count with the
/// documented fields and consistent numbers, a summary whose exponents and speed-ups follow from the printed times,
/// the matched-noise D sweep's σ, the Markdown form, and argument errors that name the option and the bad value.
/// </summary>
public sealed class ScalingCliTests
{
    private static readonly string[] PointFields =
    [
        "kind", "sweep", "precision", "backend", "n", "m", "d", "sigma", "threads", "warmup", "repeat", "seconds", "min_seconds",
        "max_seconds", "flops", "gflops", "ceiling_gflops", "fraction_of_ceiling",
    ];

    private static readonly string[] SummaryFields =
    [
        "kind", "precision", "threads", "fitted_on", "seed", "ceiling_gflops", "ceiling_speedup", "fits", "speedups", "speedup_min", "speedup_max",
    ];

    /// <summary>Sizes that take milliseconds, not multiples of the vector width (D = 37, 33, 70; N = 41, 83).</summary>
    private static readonly string[] Tiny =
    [
        "bench", "scaling", "--n-values", "41,83", "--m", "9", "--d", "37", "--d-values", "33,70", "--d-sweep-n", "50",
        "--repeat", "2", "--warmup", "0", "--warmup-seconds", "0",
    ];

    private static (JsonElement[] Points, JsonElement Summary) RunJson(params string[] extra)
    {
        var r = CliRun.Run([.. Tiny, .. extra]);
        CliRun.AssertSucceeded(r);
        JsonElement[] lines = [.. r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)];
        Assert.True(lines.Length >= 2, r.Out);
        foreach (JsonElement point in lines[..^1])
        {
            Assert.Equal("point", point.GetProperty("kind").GetString());
            foreach (string field in PointFields)
                Assert.True(point.TryGetProperty(field, out _), $"field {field} missing from {point}");
        }
        Assert.Equal("summary", lines[^1].GetProperty("kind").GetString());
        foreach (string field in SummaryFields)
            Assert.True(lines[^1].TryGetProperty(field, out _), $"field {field} missing from {lines[^1]}");
        return (lines[..^1], lines[^1]);
    }

    private static double Min(JsonElement[] points, string sweep, int n, int d, int threads) =>
        points.Single(p => p.GetProperty("sweep").GetString() == sweep && p.GetProperty("n").GetInt32() == n
                           && p.GetProperty("d").GetInt32() == d && p.GetProperty("threads").GetInt32() == threads)
              .GetProperty("min_seconds").GetDouble();

    [Fact]
    public void Every_sweep_prints_its_points_and_a_summary_that_follows_from_them()
    {
        var (points, summary) = RunJson("--threads", "2", "--no-ceiling");

        // nm: 2 sizes, d fixed and matched: 2 sizes each; every size on 1 and 2 threads
        Assert.Equal(12, points.Length);
        Assert.Equal(["d", "d-matched", "nm"], points.Select(p => p.GetProperty("sweep").GetString()).Distinct().Order());
        foreach (JsonElement p in points)
        {
            int n = p.GetProperty("n").GetInt32(), d = p.GetProperty("d").GetInt32();
            Assert.Equal(9, p.GetProperty("m").GetInt32());
            Assert.Equal(2, p.GetProperty("repeat").GetInt32());
            Assert.Equal(4.0 * n * 9 * d, p.GetProperty("flops").GetDouble());
            double min = p.GetProperty("min_seconds").GetDouble(), median = p.GetProperty("seconds").GetDouble(), max = p.GetProperty("max_seconds").GetDouble();
            Assert.True(0 < min && min <= median && median <= max, $"{min} <= {median} <= {max}");
            Assert.Equal(JsonValueKind.Null, p.GetProperty("ceiling_gflops").ValueKind);
            // σ: as given, except the matched D sweep's σ·√(D/37) (the printed value is the double itself)
            double sigma = p.GetProperty("sweep").GetString() == "d-matched" ? 0.949 * Math.Sqrt(d / 37.0) : 0.949;
            Assert.Equal(sigma, p.GetProperty("sigma").GetDouble());
            Assert.Equal(p.GetProperty("sweep").GetString() == "nm" ? 37 : 50, p.GetProperty("sweep").GetString() == "nm" ? d : n);
        }

        Assert.Equal("min_seconds", summary.GetProperty("fitted_on").GetString());
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("ceiling_speedup").ValueKind);
        JsonElement[] fits = [.. summary.GetProperty("fits").EnumerateArray()];
        Assert.Equal(6, fits.Length); // three sweeps × two thread counts
        foreach (JsonElement fit in fits)
        {
            string sweep = fit.GetProperty("sweep").GetString()!;
            int threads = fit.GetProperty("threads").GetInt32();
            (double X, double T)[] series = sweep == "nm"
                ? [(41.0 * 9, Min(points, sweep, 41, 37, threads)), (83.0 * 9, Min(points, sweep, 83, 37, threads))]
                : [(33.0, Min(points, sweep, 50, 33, threads)), (70.0, Min(points, sweep, 50, 70, threads))];
            // two points: the exponent is the slope between them (printed to 4 decimals)
            double slope = Math.Log(series[1].T / series[0].T) / Math.Log(series[1].X / series[0].X);
            Assert.Equal(slope, fit.GetProperty("exponent").GetDouble(), 0.00005 + 1e-12);
            Assert.Equal(1.0, fit.GetProperty("r2").GetDouble());
            Assert.Equal(sweep == "nm" ? "n*m" : "d", fit.GetProperty("against").GetString());
        }
        JsonElement[] speedups = [.. summary.GetProperty("speedups").EnumerateArray()];
        Assert.Equal(6, speedups.Length);
        foreach (JsonElement s in speedups)
        {
            string sweep = s.GetProperty("sweep").GetString()!;
            int n = s.GetProperty("n").GetInt32(), d = s.GetProperty("d").GetInt32();
            double expected = Min(points, sweep, n, d, 1) / Min(points, sweep, n, d, 2);
            Assert.Equal(expected, s.GetProperty("speedup").GetDouble(), 0.00005 + 1e-12);
            Assert.Equal(expected / 2, s.GetProperty("efficiency").GetDouble(), 0.00005 + 1e-12);
            Assert.Equal(JsonValueKind.Null, s.GetProperty("ceiling_speedup").ValueKind); // --no-ceiling
        }
        Assert.Equal(speedups.Min(s => s.GetProperty("speedup").GetDouble()), summary.GetProperty("speedup_min").GetDouble());
    }

    [Fact]
    public void The_ceiling_is_measured_per_thread_count_and_scales_each_point()
    {
        var (points, summary) = RunJson("--sweep", "nm", "--threads", "2", "--precision", "float64");

        Assert.Equal(4, points.Length);
        double c1 = summary.GetProperty("ceiling_gflops").GetProperty("1").GetDouble(), c2 = summary.GetProperty("ceiling_gflops").GetProperty("2").GetDouble();
        Assert.True(c1 > 0 && c2 > 0, $"ceilings {c1}, {c2}");
        // printed rounded to 3 decimals (ceilings) and 4 (their ratio)
        Assert.Equal(c2 / c1, summary.GetProperty("ceiling_speedup").GetDouble(), 0.00005 + 0.001 / c1);
        // and just before each size, a ratio of two positive rates
        Assert.All(summary.GetProperty("speedups").EnumerateArray(), s => Assert.True(s.GetProperty("ceiling_speedup").GetDouble() > 0, $"{s}"));
        foreach (JsonElement p in points)
        {
            Assert.Equal("float64", p.GetProperty("precision").GetString());
            double ceiling = p.GetProperty("ceiling_gflops").GetDouble(), gflops = p.GetProperty("gflops").GetDouble();
            Assert.Equal(p.GetProperty("threads").GetInt32() == 1 ? c1 : c2, ceiling);
            Assert.Equal(p.GetProperty("flops").GetDouble() / p.GetProperty("seconds").GetDouble() / 1e9, gflops, 0.0005 + 1e-12 * gflops);
            Assert.Equal(gflops / ceiling, p.GetProperty("fraction_of_ceiling").GetDouble(), 0.00001 + 0.0005 / ceiling);
        }
    }

    [Fact]
    public void One_thread_and_one_size_leave_the_speedups_and_the_exponent_empty()
    {
        var r = CliRun.Run(["bench", "scaling", "--sweep", "d", "--d-noise", "fixed", "--d-values", "33", "--d-sweep-n", "50", "--m", "9",
            "--repeat", "2", "--warmup-seconds", "0", "--threads", "1", "--no-ceiling"]);
        CliRun.AssertSucceeded(r);
        string[] lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        JsonElement[] points = [.. lines[..^1].Select(l => JsonDocument.Parse(l).RootElement)];
        JsonElement summary = JsonDocument.Parse(lines[^1]).RootElement;

        JsonElement point = Assert.Single(points);
        Assert.Equal((1, 33, "d"), (point.GetProperty("threads").GetInt32(), point.GetProperty("d").GetInt32(), point.GetProperty("sweep").GetString()));
        JsonElement fit = Assert.Single(summary.GetProperty("fits").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, fit.GetProperty("exponent").ValueKind);
        Assert.Empty(fit.GetProperty("local_exponents").EnumerateArray());
        Assert.Empty(summary.GetProperty("speedups").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("speedup_min").ValueKind);
    }

    /// <summary>
    /// The data are a function of (seed, N, D) alone, across processes too (a salted hash would not be); 19% of the
    /// 100·50 training values are +1: the share's standard deviation is √(0.19·0.81/5000) ≈ 0.0055, and 0.03 is over 5 of them.
    /// </summary>
    [Fact]
    public void Generated_pixels_are_deterministic_and_19_percent_on()
    {
        var level = new Kernels.Numerics.NoiseLevel(0.316, 0.949);
        var (train, queries) = Kernels.Cli.ScalingCommand.Pixels<float>(100, 7, 50, level, seed: 3);
        var (train2, queries2) = Kernels.Cli.ScalingCommand.Pixels<float>(100, 7, 50, level, seed: 3);
        Assert.Equal(train, train2);
        Assert.Equal(queries, queries2);
        Assert.NotEqual(train, Kernels.Cli.ScalingCommand.Pixels<float>(100, 7, 50, level, seed: 4).Train);
        Assert.All(train, v => Assert.True(v is 1f or -1f, $"{v}"));
        Assert.Equal(0.19, train.Count(v => v == 1f) / 5000.0, 0.03);
        Assert.Equal(7 * 50, queries.Length);
        // the first 32 values of a fixed (seed, N, D), pinned: another process (another day, another host) generates the same data
        Assert.Equal("01000000001000000010110110000100", string.Concat(train[..32].Select(v => v > 0 ? '1' : '0')));
    }

    [Fact]
    public void Markdown_prints_the_table_and_the_fits()
    {
        var r = CliRun.Run([.. Tiny, "--threads", "2", "--no-ceiling", "--format", "markdown"]);
        CliRun.AssertSucceeded(r);
        Assert.Contains("| sweep | N | M | D | σ | 1 thread ms | 2 threads ms | speed-up | ceiling's ratio |", r.Out);
        Assert.Contains("| nm | 83 | 9 | 37 | 0.949 |", r.Out);
        Assert.Contains("| time ∝ (N·M)^p | 2 |", r.Out);
        Assert.Contains("| time ∝ D^p, matched σ | 1 |", r.Out);
        Assert.Contains("Speed-up t(1)/t(2):", r.Out);
        Assert.DoesNotContain("{", r.Out);
    }

    [Theory]
    [InlineData("--n-values", "100,0", "--n-values: every size must be at least 1 (got 0)")]
    [InlineData("--d-values", "64,abc", "--d-values: 'abc' is not a whole number")]
    [InlineData("--threads", "0", "--threads must be at least 1 (got 0)")]
    [InlineData("--m", "-3", "--m must be at least 1 (got -3)")]
    [InlineData("--repeat", "0", "--repeat must be at least 1 (got 0)")]
    public void Bad_sizes_are_usage_errors_naming_the_option(string option, string value, string message)
    {
        var r = CliRun.Run(["bench", "scaling", option, value]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains(message, r.Error);
        Assert.DoesNotContain("\"kind\"", r.Out); // usage errors print help, never a timing
    }

    [Fact]
    public void A_bad_noise_level_names_both_options_and_the_rule()
    {
        var r = CliRun.Run(["bench", "scaling", "--sigma", "0", "--no-ceiling"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--alpha 0.316 --sigma 0: sigma must be finite and > 0", r.Error);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void Sizes_beyond_one_array_are_refused_before_any_timing()
    {
        var r = CliRun.Run(["bench", "scaling", "--n-values", "100,3000000", "--d", "1024", "--no-ceiling"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--n-values 3000000 with --d 1024: N·D = 3072000000 values exceed", r.Error);
        Assert.Contains("give smaller sizes", r.Error);
        Assert.Equal("", r.Out);
    }
}
