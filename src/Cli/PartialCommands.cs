using System.CommandLine;
using System.Numerics;
using Kernels.Numerics;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels partial score|logdensity|denoise|divergence … --out P.kst</c> writes the partial states of a shard of the
/// training set against every query (<see cref="PartialStateBatch"/>'s layout); <c>kernels merge P1.kst P2.kst …
/// --query X.npy --out S.npy</c> merges shards in any order and writes the verb's output.
/// </summary>
internal static class PartialCommands
{
    /// <summary>The <c>partial</c> command with one subcommand per quantity.</summary>
    public static Command CreatePartial()
    {
        var partial = new Command("partial",
            "Partial states of one shard of the training set against every query (a .kst file): evaluate each shard anywhere, then `kernels merge` them.");
        foreach (Quantity quantity in Enum.GetValues<Quantity>())
        {
            var options = new CommonOptions();
            var command = new Command(ScoreCommands.VerbName(quantity),
                $"Partial states for `{ScoreCommands.VerbName(quantity)}` of --train (one shard) at --query; writes a .kst batch (layout in the README).");
            options.AddTo(command);
            command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () => ExecutePartial(parse, quantity, options)));
            partial.Subcommands.Add(command);
        }
        return partial;
    }

    /// <summary>The <c>merge</c> command.</summary>
    public static Command CreateMerge()
    {
        var states = new Argument<string[]>("states") { Description = "The .kst batches of the shards (any order, at least one).", Arity = ArgumentArity.OneOrMore };
        var query = new Option<string>("--query") { Description = "The (M, D) queries the shards were evaluated at (.npy); checked against the batches.", Required = true };
        var output = new Option<string>("--out") { Description = "Where to write the merged output (.npy): the verb the batches were made by, in their precision.", Required = true };
        var command = new Command("merge", "Merges the partial states of shards (.kst) and writes the output of the verb that made them.");
        command.Arguments.Add(states);
        command.Options.Add(query);
        command.Options.Add(output);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            string outPath = parse.GetRequiredValue(output);
            MatrixFile.RequireWritableLocation(outPath, "--out");
            var queries = MatrixFile.Read(parse.GetRequiredValue(query), "--query", "M");
            string[] paths = parse.GetRequiredValue(states);
            var merged = Read(paths[0]);
            foreach (string path in paths.Skip(1)) merged.Merge(Read(path), path, paths[0]);
            if (merged.QueryCount != queries.Rows || merged.Dimension != queries.Columns)
                throw new InputException(
                    $"--query {queries.Path} has shape {queries.ShapeText} but the batches hold M×D = {merged.QueryCount}×{merged.Dimension}; pass the queries the shards were evaluated at.");
            var quantity = QuantityOf(merged.Output);
            int[] shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), queries);
            bool float64 = merged.PrecisionBits == 64;
            if (float64) WriteFinished<double>(merged, quantity, outPath, shape);
            else WriteFinished<float>(merged, quantity, outPath, shape);
            parse.InvocationConfiguration.Output.WriteLine(CommonOptions.Summary(outPath, ScoreCommands.VerbName(quantity), shape, float64,
                $"{paths.Length} shard{(paths.Length == 1 ? "" : "s")} merged"));
            return 0;
        }));
        return command;
    }

    private static int ExecutePartial(ParseResult parse, Quantity quantity, CommonOptions options)
    {
        NoiseLevel level = options.Level(parse);
        bool float64 = options.Float64(parse);
        var backend = options.Backend(parse);
        using var owned = backend as IDisposable;
        string outPath = options.OutPath(parse);
        var (train, query) = options.ReadInputs(parse);
        var batch = float64 ? Accumulate<double>(train, query, level, backend, quantity) : Accumulate<float>(train, query, level, backend, quantity);
        WriteAtomically(outPath, batch.WriteTo);
        parse.InvocationConfiguration.Output.WriteLine(
            $"wrote {outPath}: partial states for {ScoreCommands.VerbName(quantity)}, {query.Rows} queries, D={query.Columns}, {(float64 ? "float64" : "float32")}, " +
            $"{PartialStateBatch.HeaderBytes + batch.Records.Length} bytes, {CommonOptions.Problem(train, query, level)}");
        return 0;
    }

    private static PartialStateBatch Accumulate<T>(MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend, Quantity quantity)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new EmpiricalScore<T>(CommonOptions.TrainingSet<T>(train), backend);
        try
        {
            return PartialStateBatch.FromPartials(model.Accumulate(query.Values<T>(), level), PartialStateBatch.PrecisionOf<T>(), OutputOf(quantity));
        }
        catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
        {
            throw problem;
        }
    }

    private static PartialStateBatch Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file.", path);
        using var stream = File.OpenRead(path);
        try
        {
            return PartialStateBatch.ReadFrom(stream, path);
        }
        catch (InvalidDataException e)
        {
            throw new InputException(e.Message);
        }
    }

    /// <summary>Finishes the merged states and writes the verb's output atomically, refusing non-finite values.</summary>
    public static void WriteFinished<T>(PartialStateBatch batch, Quantity quantity, string outPath, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T[] result = Finish<T>(batch, quantity);
        CommonOptions.RequireFinite(result, ScoreCommands.VerbName(quantity), ScoreCommands.IsScalar(quantity) ? 1 : batch.Dimension);
        MatrixFile.Write(outPath, result, shape);
    }

    /// <summary>The quantity's values from merged states (M or M×D).</summary>
    public static T[] Finish<T>(PartialStateBatch batch, Quantity quantity) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = batch.QueryCount;
        var result = new T[ScoreCommands.IsScalar(quantity) ? m : m * batch.Dimension];
        batch.Finish(quantity switch
        {
            Quantity.Score => new ScoreOutputs<T> { Score = result },
            Quantity.LogDensity => new ScoreOutputs<T> { LogDensity = result },
            Quantity.Denoise => new ScoreOutputs<T> { Denoiser = result },
            Quantity.Divergence => new ScoreOutputs<T> { Divergence = result },
            _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
        });
        return result;
    }

    /// <summary>The batch header's name for a verb.</summary>
    public static StateOutput OutputOf(Quantity quantity) => quantity switch
    {
        Quantity.Score => StateOutput.Score,
        Quantity.LogDensity => StateOutput.LogDensity,
        Quantity.Denoise => StateOutput.Denoiser,
        Quantity.Divergence => StateOutput.Divergence,
        _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
    };

    private static Quantity QuantityOf(StateOutput output) => output switch
    {
        StateOutput.Score => Quantity.Score,
        StateOutput.LogDensity => Quantity.LogDensity,
        StateOutput.Denoiser => Quantity.Denoise,
        StateOutput.Divergence => Quantity.Divergence,
        _ => throw new InputException("the batches do not say which output they were made for (made through the C ABI); finish them with kn_partial_finish_*."),
    };

    /// <summary>Writes to a temporary file beside <paramref name="path"/> and renames it over: no partial file on failure.</summary>
    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string temporary = path + $".{Environment.ProcessId}.tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write)) write(stream);
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
