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
    /// <summary>The verb for <paramref name="quantity"/>.</summary>
    public static Command Create(Quantity quantity)
    {
        var options = new CommonOptions();
        var command = new Command(VerbName(quantity), Description(quantity));
        var shard = new Option<string?>("--shard")
        {
            Description = "mpi: under `mpirun -np P`, each rank reads its rows of --train only, the partial states are reduced with MPI, rank 0 writes --out.",
        };
        shard.AcceptOnlyFromAmong("mpi");
        options.AddTo(command, shard);

        command.SetAction(parseResult =>
            CliErrors.Guarded(parseResult.InvocationConfiguration.Error, () => MpiShard.Sharded(parseResult.GetValue(shard))
                ? MpiShard.Run(parseResult, quantity, options, parseResult.InvocationConfiguration.Output!, parseResult.InvocationConfiguration.Error!)
                : Execute(parseResult, quantity, options, MpiShard.AloneNote(parseResult.GetValue(shard)))));
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

    private static int Execute(ParseResult parse, Quantity quantity, CommonOptions options, string note)
    {
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = options.Level(parse);
        bool float64 = options.Float64(parse);
        var backend = options.Backend(parse);
        using var owned = backend as IDisposable;
        string outPath = options.OutPath(parse);
        var (train, query) = options.ReadInputs(parse);

        int[] shape = CommonOptions.Shape(IsScalar(quantity), query);
        if (float64)
            MatrixFile.Write(outPath, Evaluate<double>(quantity, train, query, level, backend), shape);
        else
            MatrixFile.Write(outPath, Evaluate<float>(quantity, train, query, level, backend), shape);

        stdout.WriteLine(CommonOptions.Summary(outPath, VerbName(quantity), shape, float64, CommonOptions.Problem(train, query, level)) + note);
        return 0;
    }

    /// <summary>Computes everything in memory first: nothing is written unless this returns.</summary>
    private static T[] Evaluate<T>(Quantity quantity, MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TrainingSet<T> set = CommonOptions.TrainingSet<T>(train);
        T[] queries = query.Values<T>();
        var model = new EmpiricalScore<T>(set, backend);
        T[] result = CommonOptions.Evaluate(model, quantity, queries, level, query);

        CommonOptions.RequireFinite(result, VerbName(quantity), IsScalar(quantity) ? 1 : query.Columns);
        return result;
    }
}
