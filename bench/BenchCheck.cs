using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace Kernels.Bench;

/// <summary>
/// The regression gate (`dotnet cake --target=BenchCheck`): a short, in-process run of the benchmarks tagged "Check"
/// on the cases small, latent, mnist and a small smoothed one (see <see cref="Excluded"/>), each read as its share of the FMA ceiling measured in the same run
/// (GFLOP/s ÷ the all-cores FMA ceiling, both from the fastest of 20 iterations: other processes only slow a run down,
/// so the fastest is the steadiest figure on a shared host). The shares are written as JSON and compared with the committed baseline
/// (bench/baseline.json): the gate fails when a share falls below (1 − threshold) of its baseline. Shares, not times,
/// so that a host that is uniformly faster or slower (or busier, within reason) compares fairly.
/// </summary>
public static class BenchCheck
{
    /// <summary>
    /// Left out of the gate: big and smoothed take seconds per call; circle (N = 100, D = 2: microseconds of work per
    /// query) varied up to 14-fold between runs on the shared 2-core host, which would make the gate cry wolf.
    /// All three stay in the suites.
    /// </summary>
    private static readonly string[] Excluded = ["big", "smoothed", "circle"];

    /// <summary>Arguments: --baseline FILE, --out FILE, --threshold F (default: the baseline's), --update.</summary>
    public static int Run(string[] args, TextWriter stdout)
    {
        string baselinePath = Option(args, "--baseline") ?? "bench/baseline.json";
        string outPath = Option(args, "--out") ?? "artifacts/bench-check/results.json";
        string? thresholdText = Option(args, "--threshold");
        bool update = args.Contains("--update");

        var job = Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
            .WithIterationTime(TimeInterval.FromMilliseconds(50)).WithWarmupCount(2).WithIterationCount(20);
        var config = Suite.Config(ManualConfig.CreateMinimumViable()).AddJob(job)
            .WithArtifactsPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, "BenchmarkDotNet.Artifacts"));

        // The ceiling first and last, the larger kept: one measurement taken while another process holds a core halves it.
        var runs = new[] { typeof(FmaCeiling), typeof(DistanceBenchmarks), typeof(ScoreBenchmarks), typeof(SmoothingBenchmarks), typeof(FmaCeiling) }
            .Select(type => BenchmarkConverter.TypeToBenchmarks(type, config))
            .Select(info => new BenchmarkRunInfo(info.BenchmarksCases.Where(IsChecked).ToArray(), info.Type, info.Config))
            .ToArray();
        var summaries = BenchmarkRunner.Run(runs);

        var gflops = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var summary in summaries)
            foreach (var benchmarkCase in summary.BenchmarksCases)
            {
                double value = GflopsColumn.Throughput(summary, benchmarkCase, fastest: true);
                string key = Key(benchmarkCase);
                gflops[key] = gflops.TryGetValue(key, out double earlier) && !(value > earlier) ? earlier : value;
            }
        const string ceilingKey = "FmaCeiling.AllCores";
        if (!gflops.TryGetValue(ceilingKey, out double ceiling) || !double.IsFinite(ceiling))
        {
            stdout.WriteLine("BenchCheck: the FMA ceiling was not measured; nothing to compare.");
            return 2;
        }
        var shares = gflops.Where(p => p.Key != ceilingKey && double.IsFinite(p.Value))
            .ToDictionary(p => p.Key, p => p.Value / ceiling);

        var baseline = File.Exists(baselinePath) ? JsonNode.Parse(File.ReadAllText(baselinePath))!.AsObject() : null;
        double threshold = thresholdText is not null ? double.Parse(thresholdText, CultureInfo.InvariantCulture)
            : baseline?["threshold"]?.GetValue<double>() ?? 0.25;
        if (!(threshold > 0 && threshold < 1))
            throw new ArgumentOutOfRangeException(nameof(args), threshold, "--threshold must lie strictly between 0 and 1 (a fraction, e.g. 0.25).");

        var result = new JsonObject
        {
            ["ceiling_gflops"] = Math.Round(ceiling, 2),
            ["threshold"] = threshold,
            ["machine"] = $"{Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
            ["load_average"] = LoadAverage(),
            ["date_utc"] = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
            ["gflops"] = ToJson(gflops.Where(p => p.Key != ceilingKey), 3),
            ["share_of_ceiling"] = ToJson(shares.OrderBy(p => p.Key, StringComparer.Ordinal), 6),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        File.WriteAllText(outPath, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        stdout.WriteLine($"BenchCheck: FMA ceiling {ceiling:F1} GFLOP/s; results in {outPath}");

        if (update)
        {
            File.WriteAllText(baselinePath, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            stdout.WriteLine($"BenchCheck: baseline {baselinePath} rewritten from this run (threshold {threshold:P0}).");
            return 0;
        }
        if (baseline?["share_of_ceiling"] is not JsonObject expected)
        {
            stdout.WriteLine($"BenchCheck: no baseline at {baselinePath}; make one with --update.");
            return 2;
        }

        int failures = 0;
        stdout.WriteLine($"{"benchmark",-60} {"baseline",9} {"now",9} {"change",8}");
        foreach (var (key, node) in expected.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            double before = node!.GetValue<double>();
            if (!shares.TryGetValue(key, out double now))
            {
                stdout.WriteLine($"{key,-60} {before,9:P2} {"missing",9}   (not run: renamed or removed? refresh the baseline)");
                failures++;
                continue;
            }
            double change = now / before - 1;
            bool failed = now < before * (1 - threshold);
            failures += failed ? 1 : 0;
            int percent = (int)Math.Round(change * 100); // an int: no "-0"
            stdout.WriteLine($"{key,-60} {before,9:P2} {now,9:P2} {percent,7:+0;-0;0}%{(failed ? "  REGRESSION" : "")}");
        }
        foreach (string key in shares.Keys.Except(expected.Select(p => p.Key)).Order(StringComparer.Ordinal))
            stdout.WriteLine($"{key,-60} {"new",9} {shares[key],9:P2}   (not in the baseline; refresh it to gate it)");
        stdout.WriteLine(failures == 0
            ? $"BenchCheck: passed (no share of the ceiling fell by more than {threshold:P0})."
            : $"BenchCheck: FAILED: {failures} benchmark(s) fell by more than {threshold:P0} of their baseline share (or were missing).");
        return failures == 0 ? 0 : 1;
    }

    private static bool IsChecked(BenchmarkCase benchmarkCase) =>
        benchmarkCase.Descriptor.HasCategory("Check") &&
        !(benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Case")?.Value is BenchCase c && Excluded.Contains(c.Name));

    /// <summary>"Class.Method(case)": stable across runs, unlike BenchmarkDotNet's display names.</summary>
    private static string Key(BenchmarkCase benchmarkCase)
    {
        string name = $"{benchmarkCase.Descriptor.Type.Name}.{benchmarkCase.Descriptor.WorkloadMethod.Name}";
        var parameters = benchmarkCase.Parameters.Items.Select(p => p.Value?.ToString()).ToArray();
        return parameters.Length == 0 ? name : $"{name}({string.Join(",", parameters)})";
    }

    private static JsonObject ToJson(IEnumerable<KeyValuePair<string, double>> values, int digits)
    {
        var o = new JsonObject();
        foreach (var (key, value) in values) o[key] = Math.Round(value, digits);
        return o;
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    private static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return null;
        if (i + 1 >= args.Length) throw new ArgumentException($"{name} needs a value.", nameof(args));
        return args[i + 1];
    }
}
