using System.CommandLine;
using System.Numerics;
using Kernels.Numerics;

namespace Kernels.Cli;

/// <summary>What a verb computes; each is one pass of the fused kernel.</summary>
internal enum Quantity
{
    /// <summary>s(x) = ∇ℓ(x), M×D.</summary>
    Score,

    /// <summary>ℓ(x) = log p̂(x), length M.</summary>
    LogDensity,

    /// <summary>m(x) = E[X₀ | X_t = x], M×D.</summary>
    Denoise,

    /// <summary>div s(x) = tr ∇²ℓ(x), length M.</summary>
    Divergence,
}

/// <summary>
/// The verbs <c>score</c>, <c>logdensity</c>, <c>denoise</c> and <c>divergence</c>: read a training set and queries
/// from .npy files, evaluate at one noise level, write one .npy file.
/// </summary>
internal static class ScoreCommands
{
    /// <summary>The options of one verb (each command owns its own instances).</summary>
    private sealed class Options
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

        public Option<int?> Threads { get; } = new("--threads")
        {
            Description = "Most CPU threads to use (default: all cores). Results do not depend on it.",
            HelpName = "N",
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public Options()
        {
            Schedule.AcceptOnlyFromAmong("ou", "vp", "ve", "edm");
            Precision.AcceptOnlyFromAmong("float32", "float64");
        }

        public IEnumerable<Option> All => [Train, Query, Alpha, Sigma, Schedule, Time, Out, Precision, Threads];
    }

    /// <summary>The verb for <paramref name="quantity"/>.</summary>
    public static Command Create(Quantity quantity)
    {
        var options = new Options();
        var command = new Command(VerbName(quantity), Description(quantity));
        foreach (Option option in options.All)
            command.Options.Add(option);

        // Which options go together is a usage error, reported by the parser like a missing option.
        command.Validators.Add(result =>
        {
            // Presence only: GetValue would throw here for a value that failed to parse (reported on its own).
            bool Given(Option option) => result.GetResult(option) is { Implicit: false };
            bool alpha = Given(options.Alpha), sigma = Given(options.Sigma);
            bool schedule = Given(options.Schedule), time = Given(options.Time);
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
        });

        command.SetAction(parseResult =>
            CliErrors.Guarded(parseResult.InvocationConfiguration.Error, () => Execute(parseResult, quantity, options)));
        return command;
    }

    /// <summary>The verb's name on the command line.</summary>
    public static string VerbName(Quantity quantity) => quantity switch
    {
        Quantity.Score => "score",
        Quantity.LogDensity => "logdensity",
        Quantity.Denoise => "denoise",
        Quantity.Divergence => "divergence",
        _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
    };

    private static string Description(Quantity quantity) => quantity switch
    {
        Quantity.Score =>
            "Score s(x) = grad log p(x) = (alpha m(x) - x) / sigma^2 of the noised empirical distribution at each query; writes an (M, D) array.",
        Quantity.LogDensity =>
            "Log-density log p(x) of the noised empirical distribution p(x) = (1/N) sum_i N(x; alpha y_i, sigma^2 I) at each query; writes an (M,) array.",
        Quantity.Denoise =>
            "Denoiser m(x) = E[X_0 | X_t = x] = sum_i w_i(x) y_i (Tweedie) at each query; writes an (M, D) array.",
        Quantity.Divergence =>
            "Divergence div s(x) = trace of the Hessian of log p(x) at each query; writes an (M,) array.",
        _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
    };

    /// <summary>True for the verbs that write one value per query (length M) rather than one row (M×D).</summary>
    public static bool IsScalar(Quantity quantity) => quantity is Quantity.LogDensity or Quantity.Divergence;

    private static int Execute(ParseResult parse, Quantity quantity, Options options)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = parse.GetValue(options.Alpha) is double alpha
            ? new NoiseLevel(alpha, parse.GetValue(options.Sigma)!.Value)
            : NoiseSchedule.Parse(parse.GetValue(options.Schedule)!).At(parse.GetValue(options.Time)!.Value);
        string trainPath = parse.GetRequiredValue(options.Train);
        string queryPath = parse.GetRequiredValue(options.Query);
        string outPath = parse.GetRequiredValue(options.Out);
        bool float64 = parse.GetValue(options.Precision) == "float64";
        var backend = new CpuBackend(parse.GetValue(options.Threads) ?? -1);

        MatrixFile.RequireWritableLocation(outPath, "--out");
        var train = MatrixFile.Read(trainPath, "--train", "N");
        var query = MatrixFile.Read(queryPath, "--query", "M");
        if (query.Columns != train.Columns)
            throw new InputException(
                $"--query has D={query.Columns} columns but --train has D={train.Columns}; the queries must be points of the same space (shapes {query.ShapeText} and {train.ShapeText}).");

        int[] shape = IsScalar(quantity) ? [query.Rows] : [query.Rows, query.Columns];
        if (float64)
            MatrixFile.Write(outPath, Evaluate<double>(quantity, train, query, level, backend), shape);
        else
            MatrixFile.Write(outPath, Evaluate<float>(quantity, train, query, level, backend), shape);

        stdout.WriteLine(
            $"wrote {outPath}: {VerbName(quantity)}, shape ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), " +
            $"{(float64 ? "float64" : "float32")}, {query.Rows} queries against N={train.Rows} points in D={train.Columns} at {level}");
        return 0;
    }

    /// <summary>Computes everything in memory first: nothing is written unless this returns.</summary>
    private static T[] Evaluate<T>(Quantity quantity, MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TrainingSet<T> set;
        try
        {
            set = new TrainingSet<T>(train.Values<T>(), train.Rows, train.Columns);
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--train {train.Path}: {CliErrors.Describe(e)}");
        }

        T[] queries = query.Values<T>();
        var model = new EmpiricalScore<T>(set, backend);
        T[] result;
        try
        {
            result = quantity switch
            {
                Quantity.Score => model.Score(queries, level),
                Quantity.LogDensity => model.LogDensity(queries, level),
                Quantity.Denoise => model.Denoise(queries, level),
                Quantity.Divergence => model.Divergence(queries, level),
                _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
            };
        }
        catch (ArgumentException e) when (e.ParamName == "queries")
        {
            throw new InputException($"--query {query.Path}: {CliErrors.Describe(e)}");
        }

        // Finite inputs give finite results unless an intermediate overflows (squared distances of huge values in
        // float32, say): refuse to write such a file rather than hand NaNs downstream.
        int perRow = IsScalar(quantity) ? 1 : query.Columns;
        for (int i = 0; i < result.Length; i++)
        {
            if (!T.IsFinite(result[i]))
                throw new ArithmeticException(
                    $"the {VerbName(quantity)} of query row {i / perRow} is {result[i]}: an intermediate overflowed {(typeof(T) == typeof(float) ? "float32; use --precision float64 or rescale" : "float64; rescale")} the data. Nothing was written.");
        }
        return result;
    }
}
