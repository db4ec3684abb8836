using System.CommandLine;
using System.CommandLine.Parsing;
using System.Numerics;
using Kernels.Interop;
using Kernels.Numerics;

namespace Kernels.Cli;

/// <summary>
/// The options every evaluating verb shares (score, logdensity, denoise, divergence, and the smooth and kde verbs):
/// the training set and queries, the noise level as --alpha/--sigma or --schedule/--t with its validator, the output
/// file, the precision and the thread count; plus the steps they share: reading and checking the inputs, building the
/// training set, refusing non-finite results, and the summary line. Each command owns its own instance.
/// </summary>
internal sealed class CommonOptions
{
    public Option<string> Train { get; } = new("--train")
    {
        Description = "Training set Y: a 2-D .npy file of shape (N, D), float32 or float64, one point per row.",
        HelpName = "Y.npy",
        Required = true,
    };

    public Option<string> Query { get; } = new("--query")
    {
        Description = "Query points X: a 2-D .npy file of shape (M, D), with the same D as --train.",
        HelpName = "X.npy",
        Required = true,
    };

    public Option<double?> Alpha { get; } = new("--alpha")
    {
        Description = "Signal scale alpha > 0 of the noise level X_t = alpha X_0 + sigma Z (give with --sigma).",
        HelpName = "A",
        CustomParser = r => Parsers.Number(r),
    };

    public Option<double?> Sigma { get; } = new("--sigma")
    {
        Description = "Noise standard deviation sigma > 0 (give with --alpha).",
        HelpName = "S",
        CustomParser = r => Parsers.Number(r),
    };

    public Option<string?> Schedule { get; } = new("--schedule")
    {
        Description = "Instead of --alpha/--sigma: a noise schedule evaluated at --t. " +
                      "ou: alpha = e^-t, sigma^2 = 1 - e^-2t; vp: DDPM linear beta 0.1..20; ve: alpha = 1, sigma^2 = t; edm: alpha = 1, sigma = t.",
    };

    public Option<double?> Time { get; } = new("--t")
    {
        Description = "Time t > 0 at which to evaluate --schedule.",
        HelpName = "T",
        CustomParser = r => Parsers.Number(r),
    };

    public Option<string> Out { get; } = new("--out")
    {
        Description = "Output .npy file; written atomically, and not at all if anything fails.",
        HelpName = "OUT.npy",
        Required = true,
    };

    public Option<string> Precision { get; } = new("--precision")
    {
        Description = "Precision of the computation and of the output file; inputs are converted to it.",
        DefaultValueFactory = _ => "float32",
    };

    public Option<string> BackendName { get; } = new("--backend")
    {
        Description = "Where to compute: cpu (the SIMD CPU path) or opencl (any OpenCL device: PoCL on a CPU, a GPU driver; " +
                      "see `kernels devices`). Both give the same results within float rounding.",
        DefaultValueFactory = _ => "cpu",
    };

    public Option<string?> Device { get; } = new("--device")
    {
        Description = "With --backend opencl: which device, as default, cpu, gpu, an index from `kernels devices`, or part of its name " +
                      $"(default: ${OpenClDeviceSelector.EnvironmentVariable} when set, else the first GPU, else the first device).",
        HelpName = "DEVICE",
    };

    public Option<int?> Threads { get; } = new("--threads")
    {
        Description = "Most CPU threads to use with --backend cpu (default: all cores). Results do not depend on it.",
        HelpName = "N",
        CustomParser = r => Parsers.Count(r, minimum: 1),
    };

    public Option<bool> NoPruning { get; } = new("--no-pruning")
    {
        Description = "With --backend cpu: visit every training point for every query, even where most are provably negligible " +
                      "(small sigma); for timing the pruned path against the full pass. Results change only within the cut-off's bound.",
    };

    public Option<int?> OpenClShards { get; } = new("--opencl-shards")
    {
        Description = $"With --backend opencl: split the training set into exactly N shards (1 to {OpenClOptions.MaxShards}) instead of " +
                      "the count chosen from the device; for tuning on a new device. Results change only by rounding.",
        HelpName = "N",
        CustomParser = r =>
        {
            int shards = Parsers.Count(r, minimum: 1);
            if (shards > OpenClOptions.MaxShards) r.AddError($"--opencl-shards must be at most {OpenClOptions.MaxShards} (got {shards}).");
            return shards;
        },
    };

    public Option<string?> OpenClSeed { get; } = new("--opencl-seed")
    {
        Description = "With --backend opencl: run (on) or skip (off) the max-only seeding pass instead of the device's choice; " +
                      "for tuning on a new device. Results change only by rounding.",
    };

    public Option<string?> OpenClKernel { get; } = new("--opencl-kernel")
    {
        Description = "With --backend opencl, float32: run the tiled score kernel (dot products in register tiles, exact differences " +
                      "for the candidates) or the classic one (direct differences to every point) instead of the tuner's cached choice " +
                      "for the device; for A/B timing. Results change only by rounding.",
    };

    public CommonOptions()
    {
        OpenClSeed.AcceptOnlyFromAmong("on", "off");
        OpenClKernel.AcceptOnlyFromAmong("tiled", "classic");
        Schedule.AcceptOnlyFromAmong("ou", "vp", "ve", "edm");
        Precision.AcceptOnlyFromAmong("float32", "float64");
        BackendName.AcceptOnlyFromAmong("cpu", "opencl");
    }

    /// <summary>
    /// Adds the shared options to <paramref name="command"/>, the verb's own <paramref name="specific"/> ones between
    /// the inputs and the output (so help reads in order), and the noise-level validator.
    /// </summary>
    public void AddTo(Command command, params IEnumerable<Option> specific) => Add(command, [.. specific, Out]);

    /// <summary>As <see cref="AddTo"/> without --out, for a verb that writes no file (<c>bench</c>).</summary>
    public void AddInputsTo(Command command, params IEnumerable<Option> specific) => Add(command, specific);

    private void Add(Command command, IEnumerable<Option> specific)
    {
        foreach (Option option in (IEnumerable<Option>)[Train, Query, Alpha, Sigma, Schedule, Time, .. specific, Precision, BackendName, Device, OpenClShards, OpenClSeed, OpenClKernel, Threads, NoPruning])
            command.Options.Add(option);
        command.Validators.Add(ValidateNoiseLevel);
        command.Validators.Add(result =>
        {
            if (Given(result, Device) && result.GetValue(BackendName) != "opencl")
                result.AddError("--device selects an OpenCL device: give it with --backend opencl.");
            foreach (var tuning in new Option[] { OpenClShards, OpenClSeed, OpenClKernel })
                if (Given(result, tuning) && result.GetValue(BackendName) != "opencl")
                    result.AddError($"{tuning.Name} tunes the OpenCL backend: give it with --backend opencl.");
            if (Given(result, NoPruning) && result.GetValue(BackendName) == "opencl")
                result.AddError("--no-pruning tunes the CPU backend: the OpenCL backend visits every point anyway; leave it out with --backend opencl.");
        });
    }

    /// <summary>True when <paramref name="option"/> was given on the command line (presence only: never parses it).</summary>
    public static bool Given(CommandResult result, Option option) => result.GetResult(option) is { Implicit: false };

    /// <summary>Which options go together is a usage error, reported by the parser like a missing option.</summary>
    private void ValidateNoiseLevel(CommandResult result)
    {
        // Presence only: GetValue would throw here for a value that failed to parse (reported on its own).
        bool alpha = Given(result, Alpha), sigma = Given(result, Sigma);
        bool schedule = Given(result, Schedule), time = Given(result, Time);
        if ((alpha || sigma) && (schedule || time))
            result.AddError("Give the noise level either as --alpha/--sigma or as --schedule/--t, not both.");
        else if (alpha != sigma)
            result.AddError("--alpha and --sigma go together: give both (a noise level) or neither (and use --schedule with --t).");
        else if (schedule && !time)
            result.AddError("--schedule needs --t, the time at which to evaluate it.");
        else if (time && !schedule)
            result.AddError("--t needs --schedule (ou, vp, ve or edm).");
        else if (!alpha && !schedule)
            result.AddError("Give a noise level: --alpha A --sigma S, or --schedule ou|vp|ve|edm --t T.");
    }

    /// <summary>The noise level as given (the validator has made sure exactly one spelling is there); the library checks its range.</summary>
    public NoiseLevel Level(ParseResult parse) =>
        parse.GetValue(Alpha) is double alpha
            ? new NoiseLevel(alpha, parse.GetValue(Sigma)!.Value)
            : NoiseSchedule.Parse(parse.GetValue(Schedule)!).At(parse.GetValue(Time)!.Value);

    /// <summary>True for --precision float64.</summary>
    public bool Float64(ParseResult parse) => parse.GetValue(Precision) == "float64";

    /// <summary>
    /// The backend of --backend: the CPU path limited to --threads, or an OpenCL backend on --device tuned by
    /// --opencl-shards, --opencl-seed and --opencl-kernel (which the caller disposes; it is <see cref="IDisposable"/>).
    /// </summary>
    public IScoreBackend Backend(ParseResult parse) =>
        parse.GetValue(BackendName) == "opencl"
            ? new OpenClBackend(parse.GetValue(Device) is { } device ? OpenClDeviceSelector.Parse(device) : OpenClDeviceSelector.FromEnvironment(),
                options: new OpenClOptions
                {
                    Shards = parse.GetValue(OpenClShards),
                    SeedMaxima = parse.GetValue(OpenClSeed) switch { "on" => true, "off" => false, _ => null },
                    ScoreKernel = parse.GetValue(OpenClKernel) switch { "tiled" => OpenClScoreKernel.Tiled, "classic" => OpenClScoreKernel.Classic, _ => null },
                })
            : new CpuBackend(parse.GetValue(Threads) ?? -1) { Pruning = !parse.GetValue(NoPruning) };

    /// <summary>The --out path, checked to be a possible output file before any work.</summary>
    public string OutPath(ParseResult parse)
    {
        string path = parse.GetRequiredValue(Out);
        MatrixFile.RequireWritableLocation(path, "--out");
        return path;
    }

    /// <summary>Reads --train and --query and checks that they live in the same dimension.</summary>
    public (MatrixFile Train, MatrixFile Query) ReadInputs(ParseResult parse)
    {
        var train = MatrixFile.Read(parse.GetRequiredValue(Train), "--train", "N");
        var query = MatrixFile.Read(parse.GetRequiredValue(Query), "--query", "M");
        if (query.Columns != train.Columns)
            throw new InputException(
                $"--query has D={query.Columns} columns but --train has D={train.Columns}; the queries must be points of the same space (shapes {query.ShapeText} and {train.ShapeText}).");
        return (train, query);
    }

    /// <summary>The training set in precision <typeparamref name="T"/>; the library's objections name --train.</summary>
    public static TrainingSet<T> TrainingSet<T>(MatrixFile train) where T : unmanaged, IFloatingPointIeee754<T>
    {
        try
        {
            return new TrainingSet<T>(train.Values<T>(), train.Rows, train.Columns);
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--train {train.Path}: {CliErrors.Describe(e)}");
        }
    }

    /// <summary>The library's objection to the queries, naming --query; null for any other exception.</summary>
    /// <summary>
    /// Evaluates one quantity of any score model (empirical or smoothed) at the queries into a new array, turning a
    /// rejected query into an input error that names --query.
    /// </summary>
    public static T[] Evaluate<T>(IScoreModel<T> model, Quantity quantity, T[] queries, NoiseLevel level, MatrixFile query)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = queries.Length / model.Dimension;
        var result = new T[ScoreCommands.IsScalar(quantity) ? m : m * model.Dimension];
        var outputs = quantity switch
        {
            Quantity.Score => new ScoreOutputs<T> { Score = result },
            Quantity.LogDensity => new ScoreOutputs<T> { LogDensity = result },
            Quantity.Denoise => new ScoreOutputs<T> { Denoiser = result },
            Quantity.Divergence => new ScoreOutputs<T> { Divergence = result },
            _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
        };
        try
        {
            model.Evaluate(queries, level, outputs);
        }
        catch (ArgumentException e) when (QueryProblem(e, query) is { } problem)
        {
            throw problem;
        }
        return result;
    }

    public static InputException? QueryProblem(ArgumentException e, MatrixFile query) =>
        e.ParamName == "queries" ? new InputException($"--query {query.Path}: {CliErrors.Describe(e)}") : null;

    /// <summary>
    /// Finite inputs give finite results unless an intermediate overflows (squared distances of huge values in
    /// float32, say): refuse to write such a file rather than hand NaNs downstream.
    /// </summary>
    /// <param name="result">The values about to be written.</param>
    /// <param name="what">What they are, for the message ("score", "smooth score", …).</param>
    /// <param name="perRow">Values per query row (1 or D).</param>
    public static void RequireFinite<T>(T[] result, string what, int perRow) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < result.Length; i++)
        {
            if (!T.IsFinite(result[i]))
                throw new ArithmeticException(
                    $"the {what} of query row {i / perRow} is {result[i]}: an intermediate overflowed {(typeof(T) == typeof(float) ? "float32; use --precision float64 or rescale" : "float64; rescale")} the data. Nothing was written.");
        }
    }

    /// <summary>
    /// Refuses a row count whose rows × <paramref name="columns"/> values do not fit one array (which would otherwise fail
    /// deep inside with .NET's bare "Arithmetic operation resulted in an overflow"), naming the option, the value and the
    /// largest that fits.
    /// </summary>
    /// <param name="option">The option giving the count ("--count").</param>
    /// <param name="count">Its value.</param>
    /// <param name="columns">Values per row (the dimension D).</param>
    /// <param name="remedy">What else to do, after "use OPTION LIMIT or less".</param>
    public static void RequireArrayFits(string option, int count, int columns, string remedy)
    {
        long values = (long)count * columns;
        if (values > Array.MaxLength)
            throw new InputException(
                $"{option} {count} with D = {columns} makes {values} values, more than one array holds ({Array.MaxLength}); " +
                $"use {option} {Array.MaxLength / columns} or less{remedy}.");
    }

    /// <summary>The output shape: (M,) for one value per query, (M, D) for one row.</summary>
    public static int[] Shape(bool scalar, MatrixFile query) => scalar ? [query.Rows] : [query.Rows, query.Columns];

    /// <summary>The success line: "wrote OUT: what, shape (…), precision, details".</summary>
    public static string Summary(string outPath, string what, int[] shape, bool float64, string details) =>
        $"wrote {outPath}: {what}, shape ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), " +
        $"{(float64 ? "float64" : "float32")}, {details}";

    /// <summary>"M queries against N=… points in D=… at (alpha=…, sigma=…)".</summary>
    public static string Problem(MatrixFile train, MatrixFile query, NoiseLevel level) =>
        $"{query.Rows} queries against N={train.Rows} points in D={train.Columns} at {level}";
}
