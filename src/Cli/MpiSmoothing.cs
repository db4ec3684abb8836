using System.CommandLine;
using System.Diagnostics;
using System.Numerics;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels smooth … --shard mpi</c> and <c>kernels kde … --shard mpi</c> under <c>mpirun -np P</c>, on
/// <see cref="MpiShard.Session"/>:
/// <list type="bullet">
/// <item>smooth: every rank makes the same perturbed queries x_q + z (Philox keyed by seed, query and draw: never by
///   rank), in the same batches; per batch each rank accumulates the partial states of its own rows, the states are
///   reduced to rank 0, which finishes them into per-row values and folds them over the draws in draw order exactly as
///   one process does. Each draw's state merges exactly across shards, so the result differs from one process's only by
///   the reordering of the sums inside each state, whatever P.</item>
/// <item>kde: the Gaussian N(0, h² I) kernel's density smoothing is the empirical distribution at σ² + h², so it is the
///   score verbs' sharded evaluation at that level.</item>
/// </list>
/// Kernels about a tangent space fitted to the training set (line, knn, ridge) are refused: no rank holds the whole set.
/// </summary>
internal static class MpiSmoothing
{
    private const string Context = "--shard mpi";

    /// <summary><c>kernels kde score|logdensity|denoise … --shard mpi</c>.</summary>
    public static int RunKde(ParseResult parse, Quantity quantity, CommonOptions common, SmoothingCommands.KernelOptions options)
    {
        KernelSpec spec = parse.GetRequiredValue(options.Kernel);
        string verb = $"kde {ScoreCommands.VerbName(quantity)}";
        return MpiShard.RunEmpirical(parse, quantity, common, verb, (dimension, level) =>
        {
            if (spec.Kind != KernelKind.Gaussian)
                throw new InputException(
                    $"--kernel {spec.Text} with {Context}: only the isotropic gaussian:H kernel's KDE is sharded (it is the empirical " +
                    "distribution at sigma^2 + H^2); the anisotropic and tangent kernels' covariance changes with each query: run them without --shard.");
            try
            {
                return KdeScore<double>.IsotropicLevel(spec.Build(null), dimension, level)!.Value;
            }
            catch (ArgumentException e)
            {
                throw new InputException($"--kernel {spec.Text}: {CliErrors.Describe(e)}");
            }
        }, $"{SmoothingCommands.KernelText(spec, null)}, ", parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error);
    }

    /// <summary><c>kernels smooth score|logdensity|divergence … --shard mpi</c>.</summary>
    public static int RunSmooth(ParseResult parse, Quantity quantity, CommonOptions common, SmoothingCommands.SmoothOptions options) =>
        MpiShard.Run(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, mpi =>
        {
            var clock = Stopwatch.StartNew();
            long trainRows = 0;
            // every rank reads its options, queries and shard, builds the smoother and accumulates the first batch before
            // it first needs MPI (the first batch's agreement also says whether these steps failed anywhere)
            var (level, float64, outPath, setting, query, kernel, backend, shard) = mpi.Collective(deferred: true, local: () =>
            {
                string path = common.OutPath(parse);
                var smoothing = SmoothingCommands.ReadSetting(parse, options, path);
                var queries = MatrixFile.Read(parse.GetRequiredValue(common.Query), "--query", "M");
                var built = smoothing.Kernel.Build(smoothing.Tangent?.Build(queries.Columns, Context));
                bool wide = common.Float64(parse);
                var evaluator = common.Backend(parse);
                object? rows = wide
                    ? mpi.ReadShard<double>(parse.GetRequiredValue(common.Train), queries.Columns, evaluator, out trainRows)
                    : mpi.ReadShard<float>(parse.GetRequiredValue(common.Train), queries.Columns, evaluator, out trainRows);
                return (common.Level(parse), wide, path, smoothing, queries, built, evaluator, rows);
            });
            using var owned = backend as IDisposable;
            int[] shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), query);
            string timing = float64
                ? Smooth(mpi, (EmpiricalScore<double>?)shard, quantity, query, level, backend, setting, kernel, outPath, shape)
                : Smooth(mpi, (EmpiricalScore<float>?)shard, quantity, query, level, backend, setting, kernel, outPath, shape);
            return CommonOptions.Summary(outPath, $"smooth {ScoreCommands.VerbName(quantity)}", shape, float64,
                $"{SmoothingCommands.Describe(setting)}, {query.Rows} queries against N={trainRows} points in D={query.Columns} at {level}, " +
                $"{mpi.Description}; rank 0: {timing} in {clock.Elapsed.TotalSeconds:F3} s" +
                (setting.ErrorPath is null ? "" : $"; standard errors in {setting.ErrorPath}"));
        });

    /// <summary>Smooths on every rank, writes on rank 0; returns rank 0's time split.</summary>
    private static string Smooth<T>(MpiShard.Session mpi, EmpiricalScore<T>? shard, Quantity quantity, MatrixFile query,
        NoiseLevel level, IScoreBackend backend, SmoothingCommands.SmoothSetting setting, SmoothingKernel kernel, string outPath, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rows = new ShardRows<T>(mpi, shard, query.Columns);
        var model = mpi.Collective(deferred: true, local: () => SmoothingCommands.Model(setting,
            () => new LogSmoothedScore<T>(query.Columns, rows, kernel, setting.Draws, setting.BatchRows, backend.MaxDegreeOfParallelism)));
        // Every collective inside runs on every rank in batch order; this one only catches what fails on one rank outside them.
        var result = mpi.Collective(() => SmoothingCommands.Evaluate(model, quantity, query, level, setting, check: false));
        mpi.Collective(() =>
        {
            if (!mpi.IsRoot) return 0;
            string verb = ScoreCommands.VerbName(quantity);
            int width = ScoreCommands.IsScalar(quantity) ? 1 : query.Columns;
            CommonOptions.RequireFinite(result.Values, $"smooth {verb}", width);
            if (result.Errors is not null) CommonOptions.RequireFinite(result.Errors, $"standard error of the smooth {verb}", width);
            SmoothingCommands.Write(result, outPath, setting, shape);
            return 0;
        });
        return rows.Timing;
    }

    /// <summary>
    /// One batch of perturbed queries on every rank: this rank's states for them, reduced to rank 0, finished there into
    /// the per-row values the smoother folds (other ranks fold zeros and write nothing).
    /// </summary>
    private sealed class ShardRows<T>(MpiShard.Session mpi, EmpiricalScore<T>? shard, int dimension) : IPerturbedRowEvaluator<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        private readonly Stopwatch _accumulate = new(), _reduce = new();
        private int _batches;

        /// <summary>Rank 0's time split, for the summary.</summary>
        public string Timing =>
            $"{_batches} batch{(_batches == 1 ? "" : "es")}, accumulate {_accumulate.Elapsed.TotalSeconds:F3} s, wait, reduce and finish {_reduce.Elapsed.TotalSeconds:F3} s";

        /// <summary>The one output asked for (its state forms only the sums it needs), or Unspecified for several.</summary>
        private static StateOutput OutputOf(ScoreOutputs<T> outputs) =>
            (outputs.LogDensity.IsEmpty, outputs.Score.IsEmpty, outputs.Denoiser.IsEmpty, outputs.Divergence.IsEmpty) switch
            {
                (false, true, true, true) => StateOutput.LogDensity,
                (true, false, true, true) => StateOutput.Score,
                (true, true, false, true) => StateOutput.Denoiser,
                (true, true, true, false) => StateOutput.Divergence,
                _ => StateOutput.Unspecified,
            };

        public void Evaluate(ReadOnlySpan<T> rows, NoiseLevel level, ScoreOutputs<T> outputs)
        {
            _batches++;
            if (mpi.Size == 1 && shard is not null)
            {
                // one rank: its states are the result, finished where they are (no wire records to copy)
                _accumulate.Start();
                shard.Accumulate(rows, level, OutputOf(outputs)).Finish(rows, outputs);
                _accumulate.Stop();
                return;
            }
            _accumulate.Start();
            PartialStateBatch? batch = null;
            string? failure = null;
            try
            {
                batch = MpiShard.Session.Partials(shard, rows, dimension, level, OutputOf(outputs));
            }
            catch (Exception e) when (e is ArgumentException or ArithmeticException)
            {
                failure = CliErrors.Describe(e);
            }
            _accumulate.Stop();
            _reduce.Start();
            mpi.Agree(failure);
            mpi.Reduce(batch!);
            try
            {
                if (mpi.IsRoot) batch!.Finish(outputs);
                else
                {
                    outputs.LogDensity.Clear();
                    outputs.Score.Clear();
                    outputs.Divergence.Clear();
                }
            }
            catch (Exception e) when (e is ArgumentException or ArithmeticException or InvalidOperationException)
            {
                failure = CliErrors.Describe(e);
            }
            mpi.Agree(failure);
            _reduce.Stop();
        }
    }
}
