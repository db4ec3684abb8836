using System.CommandLine;
using System.CommandLine.Parsing;
using System.Numerics;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Cli;

/// <summary>
/// The verbs <c>smooth score|logdensity|divergence</c> (log-domain smoothing E_z[f(x + z)], Monte Carlo over K draws per
/// query, with optional standard errors) and <c>kde score|logdensity|denoise</c> (density smoothing p̂ * k, closed form
/// for a Gaussian kernel). They share the inputs, noise level and output options of the score verbs (<see cref="CommonOptions"/>).
/// </summary>
internal static class SmoothingCommands
{
    /// <summary>The quantities of <c>kernels smooth</c>.</summary>
    public static readonly Quantity[] SmoothQuantities = [Quantity.Score, Quantity.LogDensity, Quantity.Divergence];

    /// <summary>The quantities of <c>kernels kde</c>.</summary>
    public static readonly Quantity[] KdeQuantities = [Quantity.Score, Quantity.LogDensity, Quantity.Denoise];

    /// <summary>--kernel and --tangent, which both verbs have (each command owns its own instances).</summary>
    internal class KernelOptions
    {
        public KernelOptions(bool gaussianOnly)
        {
            Kernel = new Option<KernelSpec>("--kernel")
            {
                Description = gaussianOnly
                    ? "Gaussian smoothing kernel: gaussian:H (N(0, H^2 I)), aniso:HT,HN (standard deviation HT along the tangent " +
                      "space at the query, HN normal to it; needs --tangent) or tangent:H (H along the tangent space only; needs --tangent)."
                    : "Smoothing kernel: gaussian:H (N(0, H^2 I)), aniso:HT,HN (standard deviation HT along the tangent space at " +
                      "the query, HN normal to it; needs --tangent), tangent:H (H along the tangent space only; needs --tangent) " +
                      "or ball:R (uniform on the ball of radius R).",
                HelpName = "SPEC",
                Required = true,
                CustomParser = r => KernelSpec.Parse(r, gaussianOnly),
            };
        }

        public Option<KernelSpec> Kernel { get; }

        public Option<TangentSpec?> Tangent { get; } = new("--tangent")
        {
            Description = "Tangent space at each query, for the aniso and tangent kernels: circle[:R] (the circle of radius R, " +
                          "default 1, about the origin in the plane of the first two coordinates), sphere[:R] (the sphere S^(D-1) " +
                          "of radius R about the origin), line (the principal line of --train: its mean and top principal " +
                          "direction), knn:K[,D] (local PCA of the K nearest training points, tangent dimension D, or chosen " +
                          "by the largest eigenvalue gap when D is left out) or ridge:D[,project] (the top-D Hessian eigenvectors of " +
                          "--train's noised log-density at the command's level, at the query or, with ',project', at its ridge projection).",
            HelpName = "TSPEC",
            CustomParser = r => TangentSpec.Parse(r),
        };

        /// <summary>aniso and tangent need --tangent; gaussian and ball refuse it.</summary>
        public void Validate(CommandResult result)
        {
            // From the token, not GetValue: a value that failed to parse is reported on its own.
            if (result.GetResult(Kernel) is not { Implicit: false, Tokens.Count: > 0 } kernel ||
                !KernelSpec.TryParse(kernel.Tokens[^1].Value, out KernelSpec? spec, out _))
                return;
            bool tangent = CommonOptions.Given(result, Tangent);
            if (spec.NeedsTangent && !tangent)
                result.AddError(
                    $"--kernel {spec.Text} needs --tangent, the tangent space at each query: {TangentSpec.Forms}.");
            else if (!spec.NeedsTangent && tangent)
                result.AddError(
                    $"--tangent applies only to the aniso:HT,HN and tangent:H kernels, not to the isotropic --kernel {spec.Text}; drop --tangent or use one of those.");
        }
    }

    /// <summary>The options of one <c>smooth</c> verb.</summary>
    internal sealed class SmoothOptions() : KernelOptions(gaussianOnly: false)
    {
        public Option<int> Draws { get; } = new("--draws")
        {
            Description = "Draws K per query (even with --antithetic).",
            HelpName = "K",
            Required = true,
            CustomParser = r => Parsers.Integer(r),
        };

        public Option<ulong> Seed { get; } = new("--seed")
        {
            Description = "Seed of the random draws; the same seed gives the same bits whatever --threads and --batch-rows.",
            HelpName = "S",
            DefaultValueFactory = _ => 0,
            CustomParser = r => Parsers.Seed(r),
        };

        public Option<bool> Antithetic { get; } = new("--antithetic")
        {
            Description = "Use K/2 antithetic pairs (z, -z): exact for a score linear in x, and less variance near it.",
        };

        public Option<bool> Fixed { get; } = new("--fixed")
        {
            Description = "Use the same K draws for every query (common random numbers): the result is a smooth, deterministic function of x.",
        };

        public Option<string?> StderrOut { get; } = new("--stderr-out")
        {
            Description = "Also write the Monte Carlo standard error of each output value to this .npy file (same shape as --out; needs at least 2 independent draws).",
            HelpName = "SE.npy",
        };

        public Option<int?> BatchRows { get; } = new("--batch-rows")
        {
            Description = "Perturbed queries per pass through the evaluator (default: about 4 MB of them). Results do not depend on it.",
            HelpName = "B",
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public IEnumerable<Option> All => [Kernel, Tangent, Draws, Seed, Antithetic, Fixed, StderrOut, BatchRows];
    }

    /// <summary><c>kernels smooth</c> and its verbs.</summary>
    public static Command CreateSmooth()
    {
        var smooth = new Command("smooth",
            "Log-domain smoothing: E_z[f(x + z)] of the score, log-density or divergence f of the noised empirical distribution, " +
            "z drawn from a smoothing kernel (--kernel), estimated from K draws per query (--draws), reproducible given --seed.");
        foreach (Quantity quantity in SmoothQuantities)
        {
            var common = new CommonOptions();
            var options = new SmoothOptions();
            var command = new Command(ScoreCommands.VerbName(quantity), SmoothDescription(quantity));
            var shard = ShardOption();
            common.AddTo(command, [.. options.All, shard]);
            command.Validators.Add(options.Validate);
            command.SetAction(parse =>
                CliErrors.Guarded(parse.InvocationConfiguration.Error, () => MpiShard.Sharded(parse.GetValue(shard))
                    ? MpiSmoothing.RunSmooth(parse, quantity, common, options)
                    : ExecuteSmooth(parse, quantity, common, options, MpiShard.AloneNote(parse.GetValue(shard)))));
            smooth.Subcommands.Add(command);
        }
        return smooth;
    }

    /// <summary><c>kernels kde</c> and its verbs.</summary>
    public static Command CreateKde()
    {
        var kde = new Command("kde",
            "Density smoothing (KDE): the score, log-density or denoiser of the noised empirical distribution convolved with a " +
            "Gaussian kernel (--kernel), in closed form.");
        foreach (Quantity quantity in KdeQuantities)
        {
            var common = new CommonOptions();
            var options = new KernelOptions(gaussianOnly: true);
            var command = new Command(ScoreCommands.VerbName(quantity), KdeDescription(quantity));
            var shard = ShardOption();
            common.AddTo(command, options.Kernel, options.Tangent, shard);
            command.Validators.Add(options.Validate);
            command.SetAction(parse =>
                CliErrors.Guarded(parse.InvocationConfiguration.Error, () => MpiShard.Sharded(parse.GetValue(shard))
                    ? MpiSmoothing.RunKde(parse, quantity, common, options)
                    : ExecuteKde(parse, quantity, common, options, MpiShard.AloneNote(parse.GetValue(shard)))));
            kde.Subcommands.Add(command);
        }
        return kde;
    }

    private static string SmoothDescription(Quantity quantity) => quantity switch
    {
        Quantity.Score =>
            "Smoothed score s_k(x) = E_z[s(x + z)] at each query, z ~ the kernel; writes an (M, D) array (and its standard errors with --stderr-out).",
        Quantity.LogDensity =>
            "Smoothed log-density E_z[log p(x + z)] at each query, z ~ the kernel; writes an (M,) array (and its standard errors with --stderr-out).",
        Quantity.Divergence =>
            "Smoothed divergence E_z[div s(x + z)] at each query, z ~ the kernel; writes an (M,) array (and its standard errors with --stderr-out).",
        _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
    };

    private static string KdeDescription(Quantity quantity) => quantity switch
    {
        Quantity.Score =>
            "Score grad log (p * k)(x) of the density smoothed by the Gaussian kernel k (the mixture with covariance sigma^2 I + Sigma_k) at each query; writes an (M, D) array.",
        Quantity.LogDensity =>
            "Log-density log (p * k)(x) of the density smoothed by the Gaussian kernel k at each query; writes an (M,) array.",
        Quantity.Denoise =>
            "Denoiser E[X_0 | X_t = x] (Tweedie) under the density smoothed by the Gaussian kernel k at each query; writes an (M, D) array.",
        _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
    };

    private static int ExecuteSmooth(ParseResult parse, Quantity quantity, CommonOptions common, SmoothOptions options, string note)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = common.Level(parse);
        bool float64 = common.Float64(parse);
        var backend = common.Backend(parse);
        using var owned = backend as IDisposable;
        string outPath = common.OutPath(parse);
        var setting = ReadSetting(parse, options, outPath);

        var (train, query) = common.ReadInputs(parse);
        int[] shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), query);
        if (float64) Write(Smooth<double>(quantity, train, query, level, backend, setting), outPath, setting, shape);
        else Write(Smooth<float>(quantity, train, query, level, backend, setting), outPath, setting, shape);

        stdout.WriteLine(CommonOptions.Summary(outPath, $"smooth {ScoreCommands.VerbName(quantity)}", shape, float64,
            $"{Describe(setting)}, {CommonOptions.Problem(train, query, level)}" + (setting.ErrorPath is null ? "" : $"; standard errors in {setting.ErrorPath}")) + note);
        return 0;
    }

    /// <summary>--shard: mpi, the one way a smoothing verb is sharded.</summary>
    private static Option<string?> ShardOption()
    {
        var shard = new Option<string?>("--shard")
        {
            Description = "mpi: under `mpirun -np P`, each rank reads its rows of --train only, the partial states are reduced with MPI " +
                          "(draws are keyed by query and draw, so the result does not depend on P), rank 0 writes --out.",
        };
        shard.AcceptOnlyFromAmong("mpi");
        return shard;
    }

    /// <summary>The smooth options beyond the shared ones, checked (--stderr-out's location, the draw plan).</summary>
    internal static SmoothSetting ReadSetting(ParseResult parse, SmoothOptions options, string outPath)
    {
        string? errorPath = parse.GetValue(options.StderrOut);
        if (errorPath is not null)
        {
            MatrixFile.RequireWritableLocation(errorPath, "--stderr-out");
            if (string.Equals(Path.GetFullPath(errorPath), Path.GetFullPath(outPath), StringComparison.Ordinal))
                throw new InputException($"--stderr-out {errorPath} is the --out file; give the standard errors a file of their own.");
        }

        int count = parse.GetValue(options.Draws);
        bool antithetic = parse.GetValue(options.Antithetic);
        SmoothingDraws draws;
        try
        {
            draws = new SmoothingDraws(count, parse.GetValue(options.Seed), antithetic, parse.GetValue(options.Fixed));
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--draws {count}{(antithetic ? " with --antithetic" : "")}: {CliErrors.Describe(e)}");
        }
        return new SmoothSetting(
            parse.GetRequiredValue(options.Kernel), parse.GetValue(options.Tangent), draws, parse.GetValue(options.BatchRows) ?? 0, errorPath);
    }

    /// <summary>"kernel … , K draws, seed S" for the summary.</summary>
    internal static string Describe(SmoothSetting setting) => $"{KernelText(setting.Kernel, setting.Tangent)}, {setting.Draws}";

    /// <summary>"kernel …" for the summary.</summary>
    internal static string KernelText(KernelSpec kernel, TangentSpec? tangent) =>
        $"kernel {kernel.Text}{(tangent is null ? "" : $" (tangent {tangent.Text})")}";

    /// <summary>Writes the standard errors (when asked for) and then the values, each atomically.</summary>
    internal static void Write<T>((T[] Values, T[]? Errors) result, string outPath, SmoothSetting setting, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (result.Errors is not null) MatrixFile.Write(setting.ErrorPath!, result.Errors, shape);
        MatrixFile.Write(outPath, result.Values, shape);
    }

    /// <summary>What <c>smooth</c> needs beyond the shared options.</summary>
    internal sealed record SmoothSetting(KernelSpec Kernel, TangentSpec? Tangent, SmoothingDraws Draws, int BatchRows, string? ErrorPath);

    /// <summary>Computes everything in memory first: nothing is written unless this returns.</summary>
    private static (T[] Values, T[]? Errors) Smooth<T>(
        Quantity quantity, MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend, SmoothSetting setting)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TrainingSet<T> set = CommonOptions.TrainingSet<T>(train);
        SmoothingKernel kernel = setting.Kernel.Build(setting.Tangent?.Build(set, backend, level));
        var model = Model(setting, () => new LogSmoothedScore<T>(new EmpiricalScore<T>(set, backend), kernel, setting.Draws, setting.BatchRows));
        return Evaluate(model, quantity, query, level, setting, check: true);
    }

    /// <summary>The smoother <paramref name="create"/> makes, its objections to the kernel or --batch-rows named by option.</summary>
    internal static LogSmoothedScore<T> Model<T>(SmoothSetting setting, Func<LogSmoothedScore<T>> create)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        try
        {
            return create();
        }
        catch (ArgumentException e) when (e.ParamName is "kernel" or "batchRows")
        {
            string option = e.ParamName == "batchRows" ? $"--batch-rows {setting.BatchRows}"
                : setting.Tangent is { } tangent ? $"--tangent {tangent.Text}" : $"--kernel {setting.Kernel.Text}";
            throw new InputException($"{option}: {CliErrors.Describe(e)}");
        }
    }

    /// <summary>
    /// The smoothed quantity at every query (and its standard errors when asked for), in memory; with
    /// <paramref name="check"/> every value must be finite (a sharded run's other ranks, which write nothing, skip it).
    /// </summary>
    internal static (T[] Values, T[]? Errors) Evaluate<T>(
        LogSmoothedScore<T> model, Quantity quantity, MatrixFile query, NoiseLevel level, SmoothSetting setting, bool check)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] queries = query.Values<T>();
        int width = ScoreCommands.IsScalar(quantity) ? 1 : query.Columns;
        var values = new T[query.Rows * width];
        T[]? errors = setting.ErrorPath is null ? null : new T[values.Length];
        try
        {
            switch (quantity)
            {
                case Quantity.Score:
                    model.Evaluate(queries, level, new SmoothedOutputs<T> { Score = values, ScoreError = errors });
                    break;
                case Quantity.LogDensity:
                    model.Evaluate(queries, level, new SmoothedOutputs<T> { LogDensity = values, LogDensityError = errors });
                    break;
                case Quantity.Divergence:
                    model.Evaluate(queries, level, new SmoothedOutputs<T> { Divergence = values, DivergenceError = errors });
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(quantity));
            }
        }
        catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
        {
            throw problem;
        }
        catch (ArgumentException e) when (e.ParamName == "outputs" && errors is not null)
        {
            throw new InputException($"--stderr-out with --draws {setting.Draws.Count}{(setting.Draws.Antithetic ? " --antithetic" : "")}: {CliErrors.Describe(e)}");
        }

        if (!check) return (values, errors);
        string verb = ScoreCommands.VerbName(quantity);
        CommonOptions.RequireFinite(values, $"smooth {verb}", width);
        if (errors is not null)
            CommonOptions.RequireFinite(errors, $"standard error of the smooth {verb}", width);
        return (values, errors);
    }

    private static int ExecuteKde(ParseResult parse, Quantity quantity, CommonOptions common, KernelOptions options, string note)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = common.Level(parse);
        bool float64 = common.Float64(parse);
        var backend = common.Backend(parse);
        using var owned = backend as IDisposable;
        string outPath = common.OutPath(parse);
        KernelSpec kernel = parse.GetRequiredValue(options.Kernel);
        TangentSpec? tangent = parse.GetValue(options.Tangent);

        var (train, query) = common.ReadInputs(parse);
        int[] shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), query);
        if (float64)
            MatrixFile.Write(outPath, Kde<double>(quantity, train, query, level, backend, kernel, tangent), shape);
        else
            MatrixFile.Write(outPath, Kde<float>(quantity, train, query, level, backend, kernel, tangent), shape);

        stdout.WriteLine(CommonOptions.Summary(outPath, $"kde {ScoreCommands.VerbName(quantity)}", shape, float64,
            $"{KernelText(kernel, tangent)}, {CommonOptions.Problem(train, query, level)}") + note);
        return 0;
    }

    /// <summary>Computes everything in memory first: nothing is written unless this returns.</summary>
    private static T[] Kde<T>(Quantity quantity, MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend,
        KernelSpec kernelSpec, TangentSpec? tangentSpec)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TrainingSet<T> set = CommonOptions.TrainingSet<T>(train);
        T[] queries = query.Values<T>();
        SmoothingKernel kernel = kernelSpec.Build(tangentSpec?.Build(set, backend, level));
        KdeScore<T> model;
        try
        {
            model = new KdeScore<T>(new EmpiricalScore<T>(set, backend), kernel);
        }
        catch (ArgumentException e) when (e.ParamName == "kernel")
        {
            throw new InputException($"--kernel {kernelSpec.Text}: {CliErrors.Describe(e)}");
        }

        T[] result = CommonOptions.Evaluate(model, quantity, queries, level, query);

        CommonOptions.RequireFinite(result, $"kde {ScoreCommands.VerbName(quantity)}", ScoreCommands.IsScalar(quantity) ? 1 : query.Columns);
        return result;
    }
}
