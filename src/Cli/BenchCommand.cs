using Kernels.Interop;
using Kernels.Numerics.Diagnostics;
using System.CommandLine;
using System.Numerics;
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
        bench.Subcommands.Add(BenchProjectCommand.Create());
        return bench;
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

    /// <summary>What one bench run measured: its times and the memory around them.</summary>
    private sealed record Timing(Measurement Runs, MemoryUse Memory);

    private static int Execute(ParseResult parse, string op, CommonOptions common, TimingOptions timing, Builder builder, int draws)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = common.Level(parse);
        bool float64 = common.Float64(parse);
        IScoreBackend backend = common.Backend(parse);
        using var owned = backend as IDisposable;
        // the ceiling on as many threads as the CPU path uses (all cores for OpenCL, whose PoCL device is the CPU here)
        int threads = backend.MaxDegreeOfParallelism is > 0 and var limit ? limit : Environment.ProcessorCount;
        TimingPlan plan = timing.Plan(parse);
        var (train, query) = common.ReadInputs(parse);

        Timing t = float64
            ? Time<double>(parse, builder, train, query, level, backend, plan)
            : Time<float>(parse, builder, train, query, level, backend, plan);
        double? ceiling = plan.NoCeiling ? null : FmaCeiling.Measure(threads);
        double flops = 4.0 * query.Rows * draws * train.Rows * train.Columns;

        stdout.WriteLine(TimingHarness.JsonLine(json =>
        {
            json.WriteString("op", op);
            json.WriteString("precision", float64 ? "float64" : "float32");
            json.WriteString("backend", backend.Name);
            // which score kernel ran: the tuner's choice, or --opencl-kernel's
            if (backend is OpenClBackend openCl) json.WriteString("opencl_kernel", openCl.LastKernel.ToString().ToLowerInvariant());
            json.WriteNumber("n", train.Rows);
            json.WriteNumber("m", query.Rows);
            json.WriteNumber("d", train.Columns);
            json.WriteNumber("k", draws);
            json.WriteNumber("threads", threads);
            TimingHarness.WriteTimes(json, t.Runs, flops, ceiling);
            json.WriteNumber("allocated_bytes_per_run", t.Runs.AllocatedBytes);
            t.Memory.WriteTo(json);
        }));
        return 0;
    }

    private static Timing Time<T>(ParseResult parse, Builder builder, MatrixFile train, MatrixFile query, NoiseLevel level,
        IScoreBackend backend, TimingPlan plan) where T : unmanaged, IFloatingPointIeee754<T>
    {
        TrainingSet<T> set = CommonOptions.TrainingSet<T>(train);
        T[] queries = query.Values<T>();
        Operation<T> operation = builder.Build(parse, set, backend);
        // The inputs are loaded (and laid out or uploaded as the backend keeps them); what the runs add beyond the current
        // working set is the computation's own memory.
        backend.Prepare(set);
        var memory = PeakMemory.Start();
        Measurement runs = TimingHarness.Measure(plan, () =>
        {
            try
            {
                operation(queries, level);
            }
            catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
            {
                throw problem;
            }
        });
        return new Timing(runs, memory.Stop());
    }
}
