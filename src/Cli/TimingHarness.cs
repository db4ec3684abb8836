using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Kernels.Cli;

/// <summary>
/// The timing options that <c>kernels bench OP</c> and <c>kernels bench scaling</c> share: --repeat, --warmup,
/// --warmup-seconds, --min-seconds and --no-ceiling. A command may reword a description (scaling's fits use the fastest
/// run, not the median), never the option's name, default or parsing.
/// </summary>
internal sealed class TimingOptions
{
    public Option<int> Repeat { get; } = new("--repeat")
    {
        Description = "Timed runs R; the median is reported (with the fastest and slowest).",
        HelpName = "R",
        DefaultValueFactory = _ => 5,
        CustomParser = r => Parsers.Count(r, minimum: 1),
    };

    public Option<int> Warmup { get; } = new("--warmup")
    {
        Description = "Untimed runs first (the JIT's tiers, caches, the thread pool).",
        HelpName = "W",
        DefaultValueFactory = _ => 1,
        CustomParser = r => Parsers.Count(r, minimum: 0),
    };

    public Option<double> WarmupSeconds { get; } = new("--warmup-seconds")
    {
        Description = "Keep warming up until this much time has passed, and (when above 0) for at least 40 calls or 5 s, so the JIT has promoted the kernel's methods.",
        HelpName = "S",
        DefaultValueFactory = _ => 0.5,
        CustomParser = r => Parsers.Number(r),
    };

    public Option<double> MinSeconds { get; } = new("--min-seconds")
    {
        Description = "Keep timing runs beyond --repeat until this much timed work (at most 1000 runs): steadier medians for fast operations.",
        HelpName = "S",
        DefaultValueFactory = _ => 0,
        CustomParser = r => Parsers.Number(r),
    };

    public Option<bool> NoCeiling { get; } = new("--no-ceiling")
    {
        Description = "Skip the FMA-ceiling measurement (about 0.3 s per thread count); the ceiling fields are then null.",
    };

    public IEnumerable<Option> All => [Repeat, Warmup, WarmupSeconds, MinSeconds, NoCeiling];

    /// <summary>The parsed plan, its time budgets checked (0 to 3600 s) with a message naming the option.</summary>
    public TimingPlan Plan(ParseResult parse)
    {
        double warmupSeconds = parse.GetValue(WarmupSeconds), minSeconds = parse.GetValue(MinSeconds);
        if (!(warmupSeconds >= 0 && warmupSeconds <= 3600))
            throw new InputException($"--warmup-seconds {warmupSeconds}: give a number of seconds from 0 to 3600.");
        if (!(minSeconds >= 0 && minSeconds <= 3600))
            throw new InputException($"--min-seconds {minSeconds}: give a number of seconds from 0 to 3600.");
        return new TimingPlan(parse.GetValue(Repeat), parse.GetValue(Warmup), warmupSeconds, minSeconds, parse.GetValue(NoCeiling));
    }
}

/// <summary>How to time: at least <paramref name="Repeat"/> timed runs after at least <paramref name="Warmup"/> untimed ones.</summary>
/// <param name="WarmupSeconds">Keep warming up until this much time has passed (and, when above 0, until the JIT has promoted the methods).</param>
/// <param name="MinSeconds">Keep timing beyond <paramref name="Repeat"/> until each operation's timed runs add up to this much.</param>
/// <param name="NoCeiling">Skip the FMA-ceiling measurement.</param>
internal sealed record TimingPlan(int Repeat, int Warmup, double WarmupSeconds, double MinSeconds, bool NoCeiling);

/// <summary>What timing one operation measured: the seconds of each timed run, the untimed runs before them, and the bytes the last run allocated.</summary>
internal sealed record Measurement(double[] Seconds, int WarmupRuns, long AllocatedBytes)
{
    public double Min => Seconds.Min();

    public double Max => Seconds.Max();

    public double Median
    {
        get
        {
            double[] s = [.. Seconds.Order()];
            return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
        }
    }

    /// <summary>GFLOP/s at the median time.</summary>
    public double Gflops(double flops) => flops / Median / 1e9;
}

/// <summary>The one warm-up-and-time loop of the bench commands, and the JSON fields every timing line shares.</summary>
internal static class TimingHarness
{
    /// <summary>Warm-up calls that let the JIT promote the kernel's methods, unless they take longer than <see cref="TierUpSeconds"/>.</summary>
    private const int TierUpCalls = 40;

    private const double TierUpSeconds = 5;

    /// <summary>Most runs the time-based warm-up or timing adds.</summary>
    public const int MaxRuns = 1000;

    /// <summary>Times one operation by <paramref name="plan"/>.</summary>
    public static Measurement Measure(TimingPlan plan, Action operation) => Measure(plan, [operation])[0];

    /// <summary>
    /// Warms each operation up in turn, then times them in rounds, one run of each per round, so a change in the host's
    /// load falls on all of them alike and their ratio (a speed-up) compares like with like.
    /// </summary>
    public static Measurement[] Measure(TimingPlan plan, IReadOnlyList<Action> operations)
    {
        var warmupRuns = new int[operations.Count];
        for (int k = 0; k < operations.Count; k++)
        {
            var warm = Stopwatch.StartNew();
            // also until the JIT has promoted the kernel's methods (about 30 calls each; a slow operation stops after 5 s, and its
            // long loops are promoted within a call anyway): timing earlier tiers made medians swing 35-100 ms at mnist's size
            while (warmupRuns[k] < plan.Warmup || (warm.Elapsed.TotalSeconds < plan.WarmupSeconds && warmupRuns[k] < MaxRuns)
                   || (warmupRuns[k] < TierUpCalls && warm.Elapsed.TotalSeconds < TierUpSeconds && plan.WarmupSeconds > 0))
            {
                operations[k]();
                warmupRuns[k]++;
            }
        }
        var seconds = operations.Select(_ => new List<double>(plan.Repeat)).ToArray();
        var total = new double[operations.Count];
        var allocated = new long[operations.Count];
        for (int runs = 0; runs < plan.Repeat || (total.Any(t => t < plan.MinSeconds) && runs < MaxRuns); runs++)
        {
            for (int k = 0; k < operations.Count; k++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                var clock = Stopwatch.StartNew();
                operations[k]();
                double elapsed = clock.Elapsed.TotalSeconds;
                allocated[k] = GC.GetTotalAllocatedBytes(precise: true) - before;
                seconds[k].Add(elapsed);
                total[k] += elapsed;
            }
        }
        return [.. Enumerable.Range(0, operations.Count).Select(k => new Measurement([.. seconds[k]], warmupRuns[k], allocated[k]))];
    }

    /// <summary>One JSON object on one line, its fields written by <paramref name="body"/>.</summary>
    public static string JsonLine(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// The fields of every timing line, in this order: warmup, repeat, seconds (the median), min_seconds, max_seconds,
    /// flops, gflops (at the median), ceiling_gflops and fraction_of_ceiling (both null when the ceiling was not measured).
    /// </summary>
    public static void WriteTimes(Utf8JsonWriter json, Measurement timing, double flops, double? ceiling)
    {
        double gflops = timing.Gflops(flops);
        json.WriteNumber("warmup", timing.WarmupRuns);
        json.WriteNumber("repeat", timing.Seconds.Length);
        json.WriteNumber("seconds", timing.Median);
        json.WriteNumber("min_seconds", timing.Min);
        json.WriteNumber("max_seconds", timing.Max);
        json.WriteNumber("flops", flops);
        json.WriteNumber("gflops", Math.Round(gflops, 3));
        if (ceiling is double c)
        {
            json.WriteNumber("ceiling_gflops", Math.Round(c, 3));
            json.WriteNumber("fraction_of_ceiling", Math.Round(gflops / c, 5));
        }
        else
        {
            json.WriteNull("ceiling_gflops");
            json.WriteNull("fraction_of_ceiling");
        }
    }
}

/// <summary>
/// The process's resident memory around a measurement: the working set before it and the peak during it, after a
/// collection so what the runs add beyond the inputs already loaded is the computation's own memory.
/// </summary>
internal sealed class PeakMemory
{
    private readonly double _beforeMiB;
    private readonly bool _peakReset;

    private PeakMemory(double beforeMiB, bool peakReset) => (_beforeMiB, _peakReset) = (beforeMiB, peakReset);

    /// <summary>Collects, reads the working set, and resets the high-water mark where the OS allows it.</summary>
    public static PeakMemory Start()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return new PeakMemory(process.WorkingSet64 / 1048576.0, ResetPeakWorkingSet());
    }

    /// <summary>The peak since <see cref="Start"/> (since the process began where it could not be reset); read right after the runs, before anything else allocates.</summary>
    public MemoryUse Stop()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return new MemoryUse(_beforeMiB, process.PeakWorkingSet64 / 1048576.0, _peakReset);
    }

    /// <summary>
    /// Resets the kernel's high-water mark of the resident set (Linux: 5 written to /proc/self/clear_refs), so the peak
    /// read after the runs is theirs and not that of reading and converting the inputs; false where that is refused.
    /// </summary>
    private static bool ResetPeakWorkingSet()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return false;
        }
    }
}

/// <summary>The working set before the runs and the peak over them (or over the process, where <paramref name="PeakReset"/> is false).</summary>
internal sealed record MemoryUse(double BeforeMiB, double PeakMiB, bool PeakReset)
{
    /// <summary>Writes rss_before_mib, peak_working_set_mib, peak_growth_mib and peak_over (runs, or process).</summary>
    public void WriteTo(Utf8JsonWriter json)
    {
        json.WriteNumber("rss_before_mib", Math.Round(BeforeMiB, 1));
        json.WriteNumber("peak_working_set_mib", Math.Round(PeakMiB, 1));
        json.WriteNumber("peak_growth_mib", Math.Round(Math.Max(0, PeakMiB - BeforeMiB), 1));
        json.WriteString("peak_over", PeakReset ? "runs" : "process");
    }
}
