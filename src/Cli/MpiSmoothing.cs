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
/// <item>kde with gaussian:H: the Gaussian N(0, h² I) kernel's density smoothing is the empirical distribution at
///   σ² + h², so it is the score verbs' sharded evaluation at that level.</item>
/// <item>kde with aniso and tangent kernels: the covariance σ² I + Σ_k(x) changes with the query, so each rank
///   accumulates the Mahalanobis states of its rows (<see cref="KdeScore{T}.Accumulate"/>, <see cref="KdeStateBatch"/>),
///   they are reduced to rank 0 as whole records with the log-sum-exp merge, and rank 0 finishes them
///   (<see cref="KdeScore{T}.Finish"/>): the same accumulate, merge and finish as one process runs.</item>
/// </list>
/// Tangent spaces fitted to the training set are built across the ranks by <see cref="MpiTangents"/> (line, knn, ridge;
/// ridge's ',project' form is refused there, saying why).
/// </summary>
internal static class MpiSmoothing
{
    /// <summary><c>kernels kde score|logdensity|denoise … --shard mpi</c>.</summary>
    public static int RunKde(ParseResult parse, Quantity quantity, CommonOptions common, SmoothingCommands.KernelOptions options)
    {
        KernelSpec spec = parse.GetRequiredValue(options.Kernel);
        if (spec.Kind != KernelKind.Gaussian) return RunAnisotropicKde(parse, quantity, common, options, spec);
        string verb = $"kde {ScoreCommands.VerbName(quantity)}";
        return MpiShard.RunEmpirical(parse, quantity, common, verb, (dimension, level) =>
        {
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

    /// <summary>KDE with a per-query covariance (aniso, tangent): Mahalanobis states per rank, reduced, finished on rank 0.</summary>
    private static int RunAnisotropicKde(ParseResult parse, Quantity quantity, CommonOptions common, SmoothingCommands.KernelOptions options, KernelSpec spec) =>
        MpiShard.Run(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, mpi =>
        {
            var clock = Stopwatch.StartNew();
            long trainRows = 0;
            TangentSpec tangent = parse.GetValue(options.Tangent)!; // the validator requires it with these kernels
            var (level, float64, outPath, query, backend, shard) = mpi.Collective(deferred: true, local: () =>
            {
                string path = common.OutPath(parse);
                var queries = MatrixFile.Read(parse.GetRequiredValue(common.Query), "--query", "M");
                bool wide = common.Float64(parse);
                var evaluator = common.Backend(parse); // a per-query covariance runs on the host: only its thread limit applies
                object? rows = ReadShard(mpi, parse, common, queries, wide, evaluator, out trainRows);
                return (common.Level(parse), wide, path, queries, evaluator, rows);
            });
            using var owned = backend as IDisposable;
            int[] shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), query);
            string timing = float64
                ? Kde(mpi, (EmpiricalScore<double>?)shard, trainRows, quantity, query, level, spec, tangent, outPath, shape)
                : Kde(mpi, (EmpiricalScore<float>?)shard, trainRows, quantity, query, level, spec, tangent, outPath, shape);
            return CommonOptions.Summary(outPath, $"kde {ScoreCommands.VerbName(quantity)}", shape, float64,
                $"{SmoothingCommands.KernelText(spec, tangent)}, {query.Rows} queries against N={trainRows} points in D={query.Columns} at {level}, " +
                $"{mpi.Description}; rank 0: {timing}, in all {clock.Elapsed.TotalSeconds:F3} s");
        });

    /// <summary>This rank's rows of --train as an <see cref="EmpiricalScore{T}"/> of the command's precision (null: no rows).</summary>
    private static object? ReadShard(MpiShard.Session mpi, ParseResult parse, CommonOptions common, MatrixFile queries, bool float64, IScoreBackend backend,
        out long trainRows) =>
        float64
            ? mpi.ReadShard<double>(parse.GetRequiredValue(common.Train), queries.Columns, backend, out trainRows)
            : mpi.ReadShard<float>(parse.GetRequiredValue(common.Train), queries.Columns, backend, out trainRows);

    /// <summary>Accumulates, reduces and (rank 0) finishes and writes; returns rank 0's time split.</summary>
    private static string Kde<T>(MpiShard.Session mpi, EmpiricalScore<T>? shard, long trainRows, Quantity quantity, MatrixFile query, NoiseLevel level,
        KernelSpec spec, TangentSpec tangent, string outPath, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var clock = Stopwatch.StartNew();
        T[] queries = query.Values<T>();
        int d = query.Columns;
        var kernel = Kernel(mpi, spec, tangent, shard, trainRows, query, level);
        double fitted = clock.Elapsed.TotalSeconds;
        var states = mpi.Collective(() =>
        {
            try
            {
                return shard is null ? KdeStateBatch.Identity(query.Rows, d, level) : new KdeScore<T>(shard, kernel).Accumulate(queries, level);
            }
            catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
            {
                throw problem;
            }
            catch (ArgumentException e) when (e.ParamName == "kernel")
            {
                throw new InputException($"--kernel {spec.Text}: {CliErrors.Describe(e)}");
            }
        });
        double accumulated = clock.Elapsed.TotalSeconds;
        mpi.Reduce(states);
        double reduced = clock.Elapsed.TotalSeconds;
        mpi.Collective(() =>
        {
            if (!mpi.IsRoot) return 0;
            var result = new T[ScoreCommands.IsScalar(quantity) ? query.Rows : query.Rows * d];
            var outputs = quantity switch
            {
                Quantity.Score => new ScoreOutputs<T> { Score = result },
                Quantity.LogDensity => new ScoreOutputs<T> { LogDensity = result },
                Quantity.Denoise => new ScoreOutputs<T> { Denoiser = result },
                _ => throw new ArgumentOutOfRangeException(nameof(quantity)),
            };
            KdeScore<T>.Finish(kernel, states, queries, outputs);
            CommonOptions.RequireFinite(result, $"kde {ScoreCommands.VerbName(quantity)}", ScoreCommands.IsScalar(quantity) ? 1 : d);
            MatrixFile.Write(outPath, result, shape);
            return 0;
        });
        return $"agree and fit the tangent spaces {fitted:F3} s, accumulate {accumulated - fitted:F3} s, reduce {query.Rows} states of {KdeStateBatch.RecordBytes(d)} bytes " +
               $"{reduced - accumulated:F3} s, finish and write {clock.Elapsed.TotalSeconds - reduced:F3} s";
    }

    /// <summary>
    /// The smoothing kernel on every rank: its tangent space built across the ranks where it is fitted to the training set
    /// (<see cref="MpiTangents"/>), analytic ones and none on each rank alone.
    /// </summary>
    private static SmoothingKernel Kernel<T>(MpiShard.Session mpi, KernelSpec kernel, TangentSpec? tangent, EmpiricalScore<T>? shard, long trainRows, MatrixFile query,
        NoiseLevel level)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tangents = tangent is null ? null : MpiTangents.Build(mpi, tangent, shard, trainRows, query.Values<T>(), query.Columns, level);
        return mpi.Collective(deferred: true, local: () => kernel.Build(tangents));
    }

    /// <summary><c>kernels smooth score|logdensity|divergence … --shard mpi</c>.</summary>
    public static int RunSmooth(ParseResult parse, Quantity quantity, CommonOptions common, SmoothingCommands.SmoothOptions options) =>
        MpiShard.Run(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, mpi =>
        {
            var clock = Stopwatch.StartNew();
            long trainRows = 0;
            // every rank reads its options, queries and shard, builds the smoother and accumulates the first batch before
            // it first needs MPI (the first batch's agreement also says whether these steps failed anywhere)
            var (level, float64, outPath, setting, query, backend, shard) = mpi.Collective(deferred: true, local: () =>
            {
                string path = common.OutPath(parse);
                var smoothing = SmoothingCommands.ReadSetting(parse, options, path);
                var queries = MatrixFile.Read(parse.GetRequiredValue(common.Query), "--query", "M");
                bool wide = common.Float64(parse);
                var evaluator = common.Backend(parse);
                object? rows = ReadShard(mpi, parse, common, queries, wide, evaluator, out trainRows);
                return (common.Level(parse), wide, path, smoothing, queries, evaluator, rows);
            });
            using var owned = backend as IDisposable;
            var kernel = float64
                ? Kernel(mpi, setting.Kernel, setting.Tangent, (EmpiricalScore<double>?)shard, trainRows, query, level)
                : Kernel(mpi, setting.Kernel, setting.Tangent, (EmpiricalScore<float>?)shard, trainRows, query, level);
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
