using Kernels.Numerics.Diagnostics;
using System.CommandLine;
using System.Diagnostics;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels bench OP</c>: times one operation in-process on the user's own .npy data (after warm-up runs, the median
/// of --repeat runs) and prints one JSON line with the seconds, GFLOP/s, and the fraction of the float32 FMA ceiling
/// measured in the same run (<see cref="FmaCeiling"/>), plus allocations and the process's peak working set.
/// OP is score, logdensity, denoise or divergence (one pass of the fused kernel, 4·M·N·D flops), smooth (the log-domain
/// smoothed score over K draws, 4·M·K·N·D) or kde (the KDE score, 4·M·N·D).
/// </summary>
internal static class BenchCommand
{
    /// <summary>The <c>bench</c> verb and its operations.</summary>
    public static Command Create()
    {
        var bench = new Command("bench",
            "Time an operation on your data in-process: warm-up, then the median of --repeat runs; prints one JSON line with " +
            "seconds, GFLOP/s (4·M·N·D per score pass, 4·M·K·N·D smoothed) and the fraction of the float32 FMA ceiling measured in the same run.");
        foreach (Quantity quantity in Enum.GetValues<Quantity>())
        {
            var common = new CommonOptions();
            var timing = new TimingOptions();
            var command = new Command(ScoreCommands.VerbName(quantity), $"Time `kernels {ScoreCommands.VerbName(quantity)}` (without writing a file).");
            common.AddInputsTo(command, timing.All);
            command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error,
                () => Execute(parse, ScoreCommands.VerbName(quantity), common, timing, new EmpiricalBuilder(quantity), draws: 1)));
            bench.Subcommands.Add(command);
        }

        {
            var common = new CommonOptions();
            var timing = new TimingOptions();
            var smooth = new SmoothingCommands.SmoothOptions();
            var command = new Command("smooth", "Time `kernels smooth score`: the log-domain smoothed score over --draws K draws per query.");
            common.AddInputsTo(command, [smooth.Kernel, smooth.Tangent, smooth.Draws, smooth.Seed, smooth.Antithetic, smooth.Fixed, smooth.BatchRows, .. timing.All]);
            command.Validators.Add(smooth.Validate);
            command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error,
                () => Execute(parse, "smooth", common, timing, new SmoothBuilder(smooth), parse.GetValue(smooth.Draws))));
            bench.Subcommands.Add(command);
        }

        {
            var common = new CommonOptions();
            var timing = new TimingOptions();
            var kde = new SmoothingCommands.KernelOptions(gaussianOnly: true);
            var command = new Command("kde", "Time `kernels kde score`: the score of the density smoothed by a Gaussian kernel.");
            common.AddInputsTo(command, [kde.Kernel, kde.Tangent, .. timing.All]);
            command.Validators.Add(kde.Validate);
            command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error,
                () => Execute(parse, "kde", common, timing, new KdeBuilder(kde), draws: 1)));
            bench.Subcommands.Add(command);
        }

        bench.Subcommands.Add(ScalingCommand.Create());
        return bench;
    }

    /// <summary>--repeat and --warmup.</summary>
    private sealed class TimingOptions
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
            Description = "Skip the FMA-ceiling measurement (about 0.3 s); fraction_of_ceiling is then null.",
        };

        public IEnumerable<Option> All => [Repeat, Warmup, WarmupSeconds, MinSeconds, NoCeiling];
    }

    /// <summary>One operation over fixed queries and preallocated outputs, for timing.</summary>
    private delegate void Operation<T>(T[] queries, NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T>;

    private static Operation<T> Empirical<T>(TrainingSet<T> set, Quantity quantity, IScoreBackend backend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new EmpiricalScore<T>(set, backend);
        T[]? result = null;
        return (queries, level) =>
        {
            int m = queries.Length / set.Dimension;
            result ??= new T[ScoreCommands.IsScalar(quantity) ? m : m * set.Dimension];
            model.Evaluate(queries, level, quantity switch
            {
                Quantity.Score => new ScoreOutputs<T> { Score = result },
                Quantity.LogDensity => new ScoreOutputs<T> { LogDensity = result },
                Quantity.Denoise => new ScoreOutputs<T> { Denoiser = result },
                _ => new ScoreOutputs<T> { Divergence = result },
            });
        };
    }

    private static Operation<T> Smoothed<T>(ParseResult parse, TrainingSet<T> set, IScoreBackend backend, SmoothingCommands.SmoothOptions options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = parse.GetValue(options.Draws);
        SmoothingDraws draws;
        try
        {
            draws = new SmoothingDraws(count, parse.GetValue(options.Seed), parse.GetValue(options.Antithetic), parse.GetValue(options.Fixed));
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--draws {count}: {CliErrors.Describe(e)}");
        }
        KernelSpec spec = parse.GetRequiredValue(options.Kernel);
        LogSmoothedScore<T> model;
        try
        {
            model = new LogSmoothedScore<T>(new EmpiricalScore<T>(set, backend), spec.Build(parse.GetValue(options.Tangent)?.Build(set)),
                draws, parse.GetValue(options.BatchRows) ?? 0);
        }
        catch (ArgumentException e) when (e.ParamName is "kernel" or "batchRows")
        {
            throw new InputException($"{(e.ParamName == "kernel" ? $"--kernel {spec.Text}" : "--batch-rows")}: {CliErrors.Describe(e)}");
        }
        T[]? result = null;
        return (queries, level) =>
        {
            result ??= new T[queries.Length];
            model.Evaluate(queries, level, new SmoothedOutputs<T> { Score = result });
        };
    }

    private static Operation<T> Kde<T>(ParseResult parse, TrainingSet<T> set, IScoreBackend backend, SmoothingCommands.KernelOptions options)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelSpec spec = parse.GetRequiredValue(options.Kernel);
        KdeScore<T> model;
        try
        {
            model = new KdeScore<T>(new EmpiricalScore<T>(set, backend), spec.Build(parse.GetValue(options.Tangent)?.Build(set)));
        }
        catch (ArgumentException e) when (e.ParamName == "kernel")
        {
            throw new InputException($"--kernel {spec.Text}: {CliErrors.Describe(e)}");
        }
        T[]? result = null;
        return (queries, level) =>
        {
            result ??= new T[queries.Length];
            model.Evaluate(queries, level, new ScoreOutputs<T> { Score = result });
        };
    }

    /// <summary>Builds the timed operation in the precision of the run.</summary>
    private abstract class Builder
    {
        public abstract Operation<T> Build<T>(ParseResult parse, TrainingSet<T> set, IScoreBackend backend) where T : unmanaged, IFloatingPointIeee754<T>;
    }

    private sealed class EmpiricalBuilder(Quantity quantity) : Builder
    {
        public override Operation<T> Build<T>(ParseResult parse, TrainingSet<T> set, IScoreBackend backend) => Empirical(set, quantity, backend);
    }

    private sealed class SmoothBuilder(SmoothingCommands.SmoothOptions options) : Builder
    {
        public override Operation<T> Build<T>(ParseResult parse, TrainingSet<T> set, IScoreBackend backend) => Smoothed(parse, set, backend, options);
    }

    private sealed class KdeBuilder(SmoothingCommands.KernelOptions options) : Builder
    {
        public override Operation<T> Build<T>(ParseResult parse, TrainingSet<T> set, IScoreBackend backend) => Kde(parse, set, backend, options);
    }

    /// <summary>Warm-up calls that let the JIT promote the kernel's methods, unless they take longer than <see cref="TierUpSeconds"/>.</summary>
    private const int TierUpCalls = 40;

    private const double TierUpSeconds = 5;

    /// <summary>Most runs the time-based warm-up or timing adds.</summary>
    private const int MaxRuns = 1000;

    /// <summary>What one bench run measured.</summary>
    private sealed record Timing(double[] Seconds, int WarmupRuns, long AllocatedBytes, double RssBeforeMiB, double PeakMiB, bool PeakReset);

    /// <summary>The time-based parts of the warm-up and of the timed runs.</summary>
    private sealed record Budget(double WarmupSeconds, double MinSeconds);

    private static int Execute(ParseResult parse, string op, CommonOptions common, TimingOptions timing, Builder builder, int draws)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = common.Level(parse);
        bool float64 = common.Float64(parse);
        IScoreBackend backend = common.Backend(parse);
        using var owned = backend as IDisposable;
        // the ceiling on as many threads as the CPU path uses (all cores for OpenCL, whose PoCL device is the CPU here)
        int threads = backend is CpuBackend { MaxDegreeOfParallelism: > 0 } cpu ? cpu.MaxDegreeOfParallelism : Environment.ProcessorCount;
        int repeat = parse.GetValue(timing.Repeat), warmup = parse.GetValue(timing.Warmup);
        var budget = new Budget(parse.GetValue(timing.WarmupSeconds), parse.GetValue(timing.MinSeconds));
        if (!(budget.WarmupSeconds >= 0 && budget.WarmupSeconds <= 3600))
            throw new InputException($"--warmup-seconds {budget.WarmupSeconds}: give a number of seconds from 0 to 3600.");
        if (!(budget.MinSeconds >= 0 && budget.MinSeconds <= 3600))
            throw new InputException($"--min-seconds {budget.MinSeconds}: give a number of seconds from 0 to 3600.");
        var (train, query) = common.ReadInputs(parse);

        Timing t = float64
            ? Time<double>(parse, builder, train, query, level, backend, repeat, warmup, budget)
            : Time<float>(parse, builder, train, query, level, backend, repeat, warmup, budget);
        double? ceiling = parse.GetValue(timing.NoCeiling) ? null : FmaCeiling.Measure(threads);

        double[] sorted = [.. t.Seconds.Order()];
        int r = sorted.Length;
        double median = r % 2 == 1 ? sorted[r / 2] : 0.5 * (sorted[r / 2 - 1] + sorted[r / 2]);
        double flops = 4.0 * query.Rows * draws * train.Rows * train.Columns;
        double gflops = flops / median / 1e9;

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("op", op);
            json.WriteString("precision", float64 ? "float64" : "float32");
            json.WriteString("backend", backend is CpuBackend ? "cpu" : "opencl");
            json.WriteNumber("n", train.Rows);
            json.WriteNumber("m", query.Rows);
            json.WriteNumber("d", train.Columns);
            json.WriteNumber("k", draws);
            json.WriteNumber("threads", threads);
            json.WriteNumber("warmup", t.WarmupRuns);
            json.WriteNumber("repeat", r);
            json.WriteNumber("seconds", median);
            json.WriteNumber("min_seconds", sorted[0]);
            json.WriteNumber("max_seconds", sorted[^1]);
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
            json.WriteNumber("allocated_bytes_per_run", t.AllocatedBytes);
            json.WriteNumber("rss_before_mib", Math.Round(t.RssBeforeMiB, 1));
            json.WriteNumber("peak_working_set_mib", Math.Round(t.PeakMiB, 1));
            json.WriteNumber("peak_growth_mib", Math.Round(Math.Max(0, t.PeakMiB - t.RssBeforeMiB), 1));
            json.WriteString("peak_over", t.PeakReset ? "runs" : "process"); // whether the high-water mark could be reset before the runs
            json.WriteEndObject();
        }
        stdout.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        return 0;
    }

    private static Timing Time<T>(ParseResult parse, Builder builder, MatrixFile train, MatrixFile query, NoiseLevel level,
        IScoreBackend backend, int repeat, int warmup, Budget budget) where T : unmanaged, IFloatingPointIeee754<T>
    {
        TrainingSet<T> set = CommonOptions.TrainingSet<T>(train);
        T[] queries = query.Values<T>();
        Operation<T> operation = builder.Build(parse, set, backend);
        // The inputs are loaded; what the runs add beyond the current working set is the computation's own memory.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        double before = process.WorkingSet64 / 1048576.0;
        bool peakReset = ResetPeakWorkingSet();

        void Run()
        {
            try
            {
                operation(queries, level);
            }
            catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
            {
                throw problem;
            }
        }

        var warm = Stopwatch.StartNew();
        int warmupRuns = 0;
        // also until the JIT has promoted the kernel's methods (about 30 calls each; a slow operation stops after 5 s, and its
        // long loops are promoted within a call anyway): timing earlier tiers made medians swing 35-100 ms at mnist's size
        while (warmupRuns < warmup || (warm.Elapsed.TotalSeconds < budget.WarmupSeconds && warmupRuns < MaxRuns)
               || (warmupRuns < TierUpCalls && warm.Elapsed.TotalSeconds < TierUpSeconds && budget.WarmupSeconds > 0))
        {
            Run();
            warmupRuns++;
        }
        var seconds = new List<double>(repeat);
        long allocated = 0;
        while (seconds.Count < repeat || (seconds.Sum() < budget.MinSeconds && seconds.Count < MaxRuns))
        {
            long total = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            Run();
            seconds.Add(clock.Elapsed.TotalSeconds);
            allocated = GC.GetTotalAllocatedBytes(precise: true) - total;
        }
        process.Refresh();
        return new Timing([.. seconds], warmupRuns, allocated, before, process.PeakWorkingSet64 / 1048576.0, peakReset);
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
