using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Kernels.Numerics;
using Kernels.Numerics.Diagnostics;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels bench scaling</c>: how the fused score's time grows with N·M (at fixed D) and with D (at fixed N, M), on
/// one thread and on --threads threads, on generated data (±1 pixels with 19% on; queries are noised training points
/// x = αy_j + σz, the recipe of bench/compare-peers). Prints one JSON line per timed point, then one summary line: the
/// exponent of time against N·M and against D (least squares on the logarithms of the fastest runs) and the speed-up
/// t(1 thread) / t(T threads) per size. Everything runs in this process, back to back, with the FMA ceiling measured
/// in the same run on each thread count (their ratio is the most speed-up the host offered during the run).
/// </summary>
/// <remarks>
/// The D sweep runs at two noise levels. At the fixed (α, σ) the gaps between logits grow in proportion to D, so the
/// kernel's float32 cut-off drops more of the weighted-sum work as D grows and time need not grow with D. At the
/// matched level σ_D = σ·√(D / D₀) (D₀ = --d) the gaps α²‖y_i − y_j‖²/(2σ_D²) and α z·(y_i − y_j)/σ_D keep the
/// distribution they have at D₀, so the same share of points survives the cut-off and the sweep isolates how the
/// arithmetic grows with D.
/// </remarks>
internal static class ScalingCommand
{
    /// <summary>The sweeps: sizes, data, threads and timing.</summary>
    private sealed class Options
    {
        public Option<int[]> NValues { get; } = new("--n-values")
        {
            Description = "Training-set sizes N of the N·M sweep, comma-separated.",
            HelpName = "N1,N2,…",
            DefaultValueFactory = _ => [1500, 3000, 6000, 12000],
            CustomParser = r => CountList(r),
        };

        public Option<int> M { get; } = new("--m")
        {
            Description = "Queries M at every point of both sweeps.",
            HelpName = "M",
            DefaultValueFactory = _ => 1000,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public Option<int> D { get; } = new("--d")
        {
            Description = "Dimension D of the N·M sweep.",
            HelpName = "D",
            DefaultValueFactory = _ => 784,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public Option<int[]> DValues { get; } = new("--d-values")
        {
            Description = "Dimensions D of the D sweep, comma-separated.",
            HelpName = "D1,D2,…",
            DefaultValueFactory = _ => [64, 128, 256, 512, 1024],
            CustomParser = r => CountList(r),
        };

        public Option<int> DSweepN { get; } = new("--d-sweep-n")
        {
            Description = "Training-set size N of the D sweep.",
            HelpName = "N",
            DefaultValueFactory = _ => 6000,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public Option<string> Sweep { get; } = new("--sweep")
        {
            Description = "Which sweeps to run: nm (N·M at fixed D), d (D at fixed N, M) or all.",
            DefaultValueFactory = _ => "all",
        };

        public Option<string> DNoise { get; } = new("--d-noise")
        {
            Description = "Noise level of the D sweep: fixed (--alpha, --sigma at every D), matched (sigma·sqrt(D/--d), which keeps " +
                          "the spread of the logits, and so the share of points the float32 cut-off keeps, as at D = --d) or both.",
            DefaultValueFactory = _ => "both",
        };

        public Option<int> Threads { get; } = new("--threads")
        {
            Description = "Threads T of the parallel runs; every point is also timed on one thread, and the speed-up is t(1)/t(T) " +
                          "(default: all cores; 1 times one thread only).",
            HelpName = "T",
            DefaultValueFactory = _ => Environment.ProcessorCount,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public Option<double> Alpha { get; } = new("--alpha")
        {
            Description = "Signal scale alpha of the noise level.",
            HelpName = "A",
            DefaultValueFactory = _ => 0.316,
            CustomParser = r => Parsers.Number(r),
        };

        public Option<double> Sigma { get; } = new("--sigma")
        {
            Description = "Noise standard deviation sigma of the noise level.",
            HelpName = "S",
            DefaultValueFactory = _ => 0.949,
            CustomParser = r => Parsers.Number(r),
        };

        public Option<int> Seed { get; } = new("--seed")
        {
            Description = "Seed of the generated data (each point's data depend on it and on N, D).",
            HelpName = "SEED",
            DefaultValueFactory = _ => 1,
            CustomParser = r => Parsers.Count(r, minimum: 0),
        };

        public Option<string> Precision { get; } = new("--precision")
        {
            Description = "Precision of the computation.",
            DefaultValueFactory = _ => "float32",
        };

        /// <summary>--repeat, --warmup, --warmup-seconds, --min-seconds and --no-ceiling, shared with <c>bench OP</c>.</summary>
        public TimingOptions Timing { get; } = new();

        public Option<string> Format { get; } = new("--format")
        {
            Description = "json: one JSON line per point, then a summary line; markdown: the same as two tables and the fits.",
            DefaultValueFactory = _ => "json",
        };

        public Options()
        {
            Sweep.AcceptOnlyFromAmong("all", "nm", "d");
            DNoise.AcceptOnlyFromAmong("both", "fixed", "matched");
            Precision.AcceptOnlyFromAmong("float32", "float64");
            Format.AcceptOnlyFromAmong("json", "markdown");
            // the same options as bench OP, described for a sweep: the fits use each point's fastest run, and only the
            // first point needs the JIT warmed up
            Timing.Repeat.Description = "Timed runs R per point and thread count; the fits use the fastest (other jobs only slow a run down), the lines also give the median.";
            Timing.Warmup.Description = "Untimed runs before each point's timed runs (caches, the thread pool).";
            Timing.WarmupSeconds.Description = "Before the first point only: keep warming up until this much time has passed, and (when above 0) for at least " +
                                               "40 calls or 5 s per thread count, so the JIT has promoted the kernel's methods.";
            Timing.MinSeconds.Description = "Keep timing each point beyond --repeat until each thread count's runs add up to this much (at most 1000 runs).";
        }

        public IEnumerable<Option> All =>
            [NValues, M, D, DValues, DSweepN, Sweep, DNoise, Threads, Alpha, Sigma, Seed, Precision, .. Timing.All, Format];
    }

    /// <summary>A comma-separated list of whole numbers ≥ 1 (also accepted as separate tokens).</summary>
    private static int[] CountList(ArgumentResult result)
    {
        string name = result.Parent is OptionResult option ? option.Option.Name : result.Argument.Name;
        var values = new List<int>();
        foreach (string part in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.TrimEntries)))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
            {
                result.AddError($"{name}: '{part}' is not a whole number; give sizes like 1500,3000,6000.");
                return [];
            }
            if (value < 1)
            {
                result.AddError($"{name}: every size must be at least 1 (got {value}).");
                return [];
            }
            values.Add(value);
        }
        if (values.Count == 0)
            result.AddError($"{name}: give at least one size.");
        return [.. values];
    }

    /// <summary>The <c>bench scaling</c> command.</summary>
    public static Command Create()
    {
        var options = new Options();
        var command = new Command("scaling",
            "Time the fused score on generated data (±1 pixels, 19% on; queries noised training points) over a sweep of N·M at fixed D " +
            "and of D at fixed N and M, on one thread and on --threads; prints one JSON line per point and a summary with the exponent " +
            "of time against N·M and against D (log-log least squares of the fastest runs) and the speed-up t(1)/t(T) per size.");
        foreach (Option option in options.All)
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () => Execute(parse, options)));
        return command;
    }

    /// <summary>One timed point: a size on one thread count.</summary>
    /// <param name="Offered">The FMA ceiling's ratio T threads / 1 thread measured just before this size (null: not measured).</param>
    internal sealed record Point(string Sweep, int N, int M, int D, double Sigma, int Threads, Measurement Timing, double? Ceiling,
        double? Offered = null)
    {
        public double Flops => 4.0 * N * M * D;

        public double Min => Timing.Min;

        public double Median => Timing.Median;

        public double Gflops => Timing.Gflops(Flops);
    }

    private static int Execute(ParseResult parse, Options options)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        int m = parse.GetValue(options.M), d = parse.GetValue(options.D), dSweepN = parse.GetValue(options.DSweepN);
        int[] nValues = parse.GetValue(options.NValues)!, dValues = parse.GetValue(options.DValues)!;
        int threads = parse.GetValue(options.Threads);
        string sweep = parse.GetValue(options.Sweep)!, dNoise = parse.GetValue(options.DNoise)!;
        bool float64 = parse.GetValue(options.Precision) == "float64", markdown = parse.GetValue(options.Format) == "markdown";
        TimingPlan plan = options.Timing.Plan(parse);
        NoiseLevel level;
        try
        {
            level = new NoiseLevel(parse.GetValue(options.Alpha), parse.GetValue(options.Sigma));
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--alpha {parse.GetValue(options.Alpha)} --sigma {parse.GetValue(options.Sigma)}: {CliErrors.Describe(e)}");
        }

        // the sizes, checked before any timing so a long sweep never fails half-way
        var sizes = new List<(string Sweep, int N, int D, NoiseLevel Level)>();
        if (sweep is "all" or "nm")
            sizes.AddRange(nValues.Distinct().Order().Select(n => ("nm", n, d, level)));
        if (sweep is "all" or "d" && dNoise is "both" or "fixed")
            sizes.AddRange(dValues.Distinct().Order().Select(dd => ("d", dSweepN, dd, level)));
        if (sweep is "all" or "d" && dNoise is "both" or "matched")
            sizes.AddRange(dValues.Distinct().Order().Select(dd => ("d-matched", dSweepN, dd, new NoiseLevel(level.Alpha, level.Sigma * Math.Sqrt((double)dd / d)))));
        foreach (var (s, n, dd, _) in sizes)
        {
            string source = s == "nm" ? $"--n-values {n} with --d {dd}" : $"--d-sweep-n {n} with --d-values {dd}";
            if ((long)n * dd > Array.MaxLength)
                throw new InputException($"{source}: N·D = {(long)n * dd} values exceed the {Array.MaxLength} of one array; give smaller sizes.");
            if ((long)m * dd > Array.MaxLength)
                throw new InputException($"--m {m} with D = {dd}: M·D = {(long)m * dd} values exceed the {Array.MaxLength} of one array; give a smaller --m.");
        }

        int[] threadCounts = threads == 1 ? [1] : [1, threads];
        // the ceiling on each thread count, measured in this run before the points (a short window with every core free is likely)
        var ceilings = threadCounts.ToDictionary(t => t, t => plan.NoCeiling ? (double?)null : FmaCeiling.Measure(t));

        var points = new List<Point>();
        TimingPlan pointPlan = plan; // the time-based warm-up before the first point only: the methods stay promoted
        bool measureCeiling = !plan.NoCeiling;
        foreach (var (s, n, dd, pointLevel) in sizes)
        {
            // what the host offers right now: another job taking a core during the sweep shows here, size by size
            // (three short measurements each, about 0.15 s)
            double? offered = measureCeiling && threads > 1 ? FmaCeiling.Measure(threads, repeats: 3) / FmaCeiling.Measure(1, repeats: 3) : null;
            Measurement[] timings = float64
                ? TimeSize<double>(n, m, dd, threadCounts, pointLevel, parse.GetValue(options.Seed), pointPlan)
                : TimeSize<float>(n, m, dd, threadCounts, pointLevel, parse.GetValue(options.Seed), pointPlan);
            pointPlan = plan with { WarmupSeconds = 0 };
            for (int k = 0; k < threadCounts.Length; k++)
            {
                var point = new Point(s, n, m, dd, pointLevel.Sigma, threadCounts[k], timings[k], ceilings[threadCounts[k]], offered);
                points.Add(point);
                if (!markdown)
                {
                    stdout.WriteLine(PointJson(point, float64));
                    stdout.Flush(); // a long sweep shows its progress
                }
            }
        }

        var summary = Summarise(points, threads);
        if (markdown)
            stdout.Write(Markdown(points, summary, threads, float64, ceilings));
        else
            stdout.WriteLine(SummaryJson(summary, threads, float64, parse.GetValue(options.Seed), ceilings));
        return 0;
    }

    /// <summary>
    /// The score of M generated queries against N generated points in D on each thread count, timed by
    /// <see cref="TimingHarness.Measure(TimingPlan, IReadOnlyList{Action})"/>: its rounds alternate between the counts,
    /// so a change in the host's load falls on both alike and the speed-up compares like with like.
    /// </summary>
    private static Measurement[] TimeSize<T>(int n, int m, int d, int[] threadCounts, NoiseLevel level, int seed, TimingPlan plan)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries) = Pixels<T>(n, m, d, level, seed);
        var set = new TrainingSet<T>(train, n, d);
        var score = new T[queries.Length];
        Action[] runs = [.. threadCounts.Select(t =>
        {
            var model = new EmpiricalScore<T>(set, new CpuBackend(t));
            return (Action)(() => model.Evaluate(queries, level, new ScoreOutputs<T> { Score = score }));
        })];
        return TimingHarness.Measure(plan, runs);
    }

    /// <summary>
    /// ±1 pixels with 19% on (N×D) and M queries, each a noised training point αy_j + σz: the "pixels" recipe of
    /// bench/compare-peers and bench/BenchData.cs (the same kind of data, not the same bits). Seeded by (seed, N, D),
    /// so one size gives the same data on both thread counts.
    /// </summary>
    internal static (T[] Train, T[] Queries) Pixels<T>(int n, int m, int d, NoiseLevel level, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // HashCode.Combine is salted per process: mix by hand so the data are the same from run to run
        var rng = new Random(unchecked((int)((uint)seed * 0x9E3779B1u ^ (uint)n * 0x85EBCA6Bu ^ (uint)d * 0xC2B2AE35u) & int.MaxValue));
        var train = new T[n * d];
        for (int i = 0; i < train.Length; i++)
            train[i] = rng.NextDouble() < 0.19 ? T.One : -T.One;
        var queries = new T[m * d];
        for (int q = 0; q < m; q++)
        {
            int j = rng.Next(n);
            for (int k = 0; k < d; k++)
            {
                double z = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                queries[q * d + k] = T.CreateTruncating(level.Alpha * double.CreateTruncating(train[j * d + k]) + level.Sigma * z);
            }
        }
        return (train, queries);
    }

    /// <summary>A fit of the fastest times of one sweep on one thread count against its size (N·M or D).</summary>
    internal sealed record SweepFit(string Sweep, int Threads, int Points, PowerLaw? Law, double[] LocalExponents);

    /// <summary>t(1)/t(T) at one size, from the fastest runs of each.</summary>
    internal sealed record Speedup(string Sweep, int N, int M, int D, double Value, double Efficiency, double? Offered);

    internal sealed record Summary(IReadOnlyList<SweepFit> Fits, IReadOnlyList<Speedup> Speedups);

    /// <summary>The fits of each sweep on each thread count, and the speed-ups of every size timed on both counts.</summary>
    internal static Summary Summarise(IReadOnlyList<Point> points, int threads)
    {
        var fits = new List<SweepFit>();
        foreach (var group in points.GroupBy(p => (p.Sweep, p.Threads)))
        {
            Point[] series = [.. group];
            double[] x = [.. series.Select(p => p.Sweep == "nm" ? (double)p.N * p.M : p.D)], y = [.. series.Select(p => p.Min)];
            bool fittable = x.Distinct().Count() >= 2;
            fits.Add(new SweepFit(group.Key.Sweep, group.Key.Threads, series.Length,
                fittable ? PowerLawFit.Fit(x, y) : null, fittable ? PowerLawFit.LocalExponents(x, y) : []));
        }
        var speedups = new List<Speedup>();
        if (threads > 1)
        {
            foreach (var one in points.Where(p => p.Threads == 1))
            {
                if (points.FirstOrDefault(p => p.Threads == threads && p.Sweep == one.Sweep && p.N == one.N && p.D == one.D) is { } many)
                {
                    double value = one.Min / many.Min;
                    speedups.Add(new Speedup(one.Sweep, one.N, one.M, one.D, value, value / threads, many.Offered));
                }
            }
        }
        return new Summary(fits, speedups);
    }

    private static string PointJson(Point p, bool float64) => TimingHarness.JsonLine(json =>
    {
        json.WriteString("kind", "point");
        json.WriteString("sweep", p.Sweep);
        json.WriteString("precision", float64 ? "float64" : "float32");
        json.WriteString("backend", "cpu");
        json.WriteNumber("n", p.N);
        json.WriteNumber("m", p.M);
        json.WriteNumber("d", p.D);
        json.WriteNumber("sigma", p.Sigma);
        json.WriteNumber("threads", p.Threads);
        TimingHarness.WriteTimes(json, p.Timing, p.Flops, p.Ceiling);
    });

    private static string SummaryJson(Summary summary, int threads, bool float64, int seed, Dictionary<int, double?> ceilings) => TimingHarness.JsonLine(json =>
    {
        json.WriteString("kind", "summary");
        json.WriteString("precision", float64 ? "float64" : "float32");
        json.WriteNumber("threads", threads);
        json.WriteString("fitted_on", "min_seconds");
        json.WriteNumber("seed", seed);
        json.WriteStartObject("ceiling_gflops");
        foreach (var (t, c) in ceilings)
        {
            if (c is double v) json.WriteNumber(t.ToString(CultureInfo.InvariantCulture), Math.Round(v, 3));
            else json.WriteNull(t.ToString(CultureInfo.InvariantCulture));
        }
        json.WriteEndObject();
        // the most speed-up the host offered during the run: other jobs on the cores lower it below T
        if (threads > 1 && ceilings[1] is double c1 && ceilings[threads] is double ct)
            json.WriteNumber("ceiling_speedup", Math.Round(ct / c1, 4));
        else
            json.WriteNull("ceiling_speedup");
        json.WriteStartArray("fits");
        foreach (var fit in summary.Fits)
        {
            json.WriteStartObject();
            json.WriteString("sweep", fit.Sweep);
            json.WriteString("against", fit.Sweep == "nm" ? "n*m" : "d");
            json.WriteNumber("threads", fit.Threads);
            json.WriteNumber("points", fit.Points);
            if (fit.Law is PowerLaw law)
            {
                json.WriteNumber("exponent", Math.Round(law.Exponent, 4));
                json.WriteNumber("r2", Math.Round(law.RSquared, 5));
            }
            else
            {
                json.WriteNull("exponent"); // one size: nothing to fit
                json.WriteNull("r2");
            }
            json.WriteStartArray("local_exponents");
            foreach (double e in fit.LocalExponents)
                json.WriteNumberValue(Math.Round(e, 4));
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("speedups");
        foreach (var s in summary.Speedups)
        {
            json.WriteStartObject();
            json.WriteString("sweep", s.Sweep);
            json.WriteNumber("n", s.N);
            json.WriteNumber("m", s.M);
            json.WriteNumber("d", s.D);
            json.WriteNumber("speedup", Math.Round(s.Value, 4));
            json.WriteNumber("efficiency", Math.Round(s.Efficiency, 4));
            if (s.Offered is double o) json.WriteNumber("ceiling_speedup", Math.Round(o, 4));
            else json.WriteNull("ceiling_speedup");
            json.WriteEndObject();
        }
        json.WriteEndArray();
        if (summary.Speedups.Count > 0)
        {
            json.WriteNumber("speedup_min", Math.Round(summary.Speedups.Min(s => s.Value), 4));
            json.WriteNumber("speedup_max", Math.Round(summary.Speedups.Max(s => s.Value), 4));
        }
        else
        {
            json.WriteNull("speedup_min");
            json.WriteNull("speedup_max");
        }
    });

    private static string Markdown(IReadOnlyList<Point> points, Summary summary, int threads, bool float64, Dictionary<int, double?> ceilings)
    {
        static string Ms(double s) => (s * 1e3).ToString(s < 0.01 ? "0.00" : "0.0", CultureInfo.InvariantCulture);
        static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
        var text = new StringBuilder();
        text.AppendLine($"Fused score, {(float64 ? "float64" : "float32")}, CPU; times are the fastest of each point's runs (median in brackets); " +
                        "GFLOP/s = 4·N·M·D / median; FMA ceiling " +
                        string.Join(", ", ceilings.Select(c => $"{(c.Value is double v ? F(v, "0") : "not measured")} GFLOP/s on {c.Key} thread{(c.Key == 1 ? "" : "s")}")) + ".");
        text.AppendLine();
        text.AppendLine(threads > 1
            ? $"| sweep | N | M | D | σ | 1 thread ms | {threads} threads ms | speed-up | ceiling's ratio | GFLOP/s ({threads} threads) | of ceiling |"
            : "| sweep | N | M | D | σ | 1 thread ms | GFLOP/s | of ceiling |");
        text.AppendLine(threads > 1 ? "|---|---|---|---|---|---|---|---|---|---|---|" : "|---|---|---|---|---|---|---|---|");
        foreach (var one in points.Where(p => p.Threads == 1))
        {
            var many = points.FirstOrDefault(p => p.Threads == threads && p.Sweep == one.Sweep && p.N == one.N && p.D == one.D) ?? one;
            string share = many.Ceiling is double c ? F(many.Gflops / c, "0.0%") : "–";
            text.Append($"| {one.Sweep} | {one.N} | {one.M} | {one.D} | {F(one.Sigma, "0.###")} | {Ms(one.Min)} ({Ms(one.Median)}) ");
            if (threads > 1)
                text.Append($"| {Ms(many.Min)} ({Ms(many.Median)}) | {F(one.Min / many.Min, "0.00")}× | {(many.Offered is double o ? F(o, "0.00") + "×" : "–")} ");
            text.AppendLine($"| {F(many.Gflops, "0.0")} | {share} |");
        }
        text.AppendLine();
        text.AppendLine("| fit | threads | exponent | R² | between consecutive sizes |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (var fit in summary.Fits)
        {
            string against = fit.Sweep switch { "nm" => "time ∝ (N·M)^p", "d" => "time ∝ D^p, fixed σ", _ => "time ∝ D^p, matched σ" };
            text.AppendLine(fit.Law is PowerLaw law
                ? $"| {against} | {fit.Threads} | {F(law.Exponent, "0.000")} | {F(law.RSquared, "0.0000")} | {string.Join(", ", fit.LocalExponents.Select(e => F(e, "0.00")))} |"
                : $"| {against} | {fit.Threads} | – (one size) | – | |");
        }
        if (summary.Speedups.Count > 0)
        {
            string offered = ceilings[1] is double c1 && ceilings[threads] is double ct
                ? $"; the FMA ceiling's own ratio, the most the host offered, was {F(ct / c1, "0.00")}× at the start and " +
                  $"{F(summary.Speedups.Min(s => s.Offered ?? double.NaN), "0.00")}–{F(summary.Speedups.Max(s => s.Offered ?? double.NaN), "0.00")}× just before each size"
                : "";
            text.AppendLine();
            text.AppendLine($"Speed-up t(1)/t({threads}): {F(summary.Speedups.Min(s => s.Value), "0.00")}–{F(summary.Speedups.Max(s => s.Value), "0.00")}× " +
                            $"over {summary.Speedups.Count} sizes (efficiency {F(summary.Speedups.Min(s => s.Efficiency), "0%")}–{F(summary.Speedups.Max(s => s.Efficiency), "0%")}){offered}.");
        }
        return text.ToString();
    }
}
