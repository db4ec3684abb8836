using System.Buffers;
using System.Numerics;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// Log-domain (score) smoothing of the empirical distribution (DESIGN.md §3): ℓ_k(x) = E_z[ℓ(x + z)] and
/// s_k(x) = E_z[s(x + z)], plus E_z[div s(x + z)], for a <see cref="SmoothingKernel"/>, estimated from K draws per query
/// (<see cref="SmoothingDraws"/>) with per-query Monte Carlo standard errors on request.
/// <para>
/// The M·K perturbed queries x + z are streamed through the score backend in batches of <see cref="BatchRows"/> rows:
/// memory is O(batch·D + M·D), never M×K×D or M×K×N. Each perturbed query is rounded once to T, the precision of the
/// evaluation, and draws are accumulated per query in draw order in float64 (Welford), so the result does not depend on
/// the thread count or the batch size. A backend that can draw (the OpenCL backend, an <c>IPerturbingBackend</c>) makes the
/// rows of Gaussian, tangent and anisotropic kernels itself from the same Philox layout, so they never cross the bus; the
/// folding on the host is the same.
/// </para>
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class LogSmoothedScore<T> : IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int BatchBytes = 4 << 20;

    /// <summary>Smooths <paramref name="score"/> with <paramref name="kernel"/> using <paramref name="draws"/>.</summary>
    /// <param name="score">The empirical score (training set and backend).</param>
    /// <param name="kernel">The smoothing kernel; its tangent space or factor must have the training set's dimension.</param>
    /// <param name="draws">How many draws, which seed, antithetic or fixed.</param>
    /// <param name="batchRows">Perturbed queries per pass through the backend (0: about 4 MB of them); results do not depend on it.</param>
    public LogSmoothedScore(EmpiricalScore<T> score, SmoothingKernel kernel, SmoothingDraws draws, int batchRows = 0)
        : this(score?.Dimension ?? throw new ArgumentNullException(nameof(score)), kernel, draws, batchRows, score.ParallelOptions)
    {
        Empirical = score;
    }

    /// <summary>
    /// Smooths whatever <paramref name="rows"/> evaluates (a training set sharded over processes, say) in dimension
    /// <paramref name="dimension"/>: the same draws, batches and folding as over an <see cref="EmpiricalScore{T}"/>.
    /// </summary>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="rows">Evaluates each batch of perturbed queries.</param>
    /// <param name="kernel">The smoothing kernel; its tangent space or factor must have dimension D.</param>
    /// <param name="draws">How many draws, which seed, antithetic or fixed.</param>
    /// <param name="batchRows">Perturbed queries per batch (0: about 4 MB of them); results do not depend on it.</param>
    /// <param name="maxDegreeOfParallelism">Threads for drawing and folding (-1: every core).</param>
    public LogSmoothedScore(int dimension, IPerturbedRowEvaluator<T> rows, SmoothingKernel kernel, SmoothingDraws draws, int batchRows = 0,
        int maxDegreeOfParallelism = -1)
        : this(dimension, kernel, draws, batchRows, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism })
    {
        ArgumentNullException.ThrowIfNull(rows);
        _rows = rows;
    }

    private LogSmoothedScore(int dimension, SmoothingKernel kernel, SmoothingDraws draws, int batchRows, ParallelOptions parallel)
    {
        Guard.RequireFloatOrDouble<T>();
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(draws);
        ArgumentOutOfRangeException.ThrowIfNegative(batchRows);
        kernel.RequireDimension(dimension, nameof(kernel));
        Dimension = dimension;
        Kernel = kernel;
        Draws = draws;
        _parallel = parallel;
        int automatic = Math.Clamp(BatchBytes / (dimension * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()), 256, 1 << 15);
        // even, so antithetic pairs never straddle a batch; at most what one array of rows × D values holds (a larger
        // request, --batch-rows 2147483647 say, overflowed the buffer's length; results do not depend on it)
        BatchRows = Math.Min(batchRows == 0 ? automatic : Math.Max(2, batchRows), Array.MaxLength / dimension) & ~1;
    }

    private readonly IPerturbedRowEvaluator<T>? _rows;
    private readonly ParallelOptions _parallel;

    /// <summary>The score being smoothed; null when batches go to an <see cref="IPerturbedRowEvaluator{T}"/>.</summary>
    public EmpiricalScore<T>? Empirical { get; }

    /// <summary>The smoothing kernel.</summary>
    public SmoothingKernel Kernel { get; }

    /// <summary>The draw plan.</summary>
    public SmoothingDraws Draws { get; }

    /// <summary>Perturbed queries per pass through the backend (even).</summary>
    public int BatchRows { get; }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs) =>
        Evaluate(queries, level, new SmoothedOutputs<T>
        {
            LogDensity = outputs.LogDensity,
            Score = outputs.Score,
            Denoiser = outputs.Denoiser,
            Divergence = outputs.Divergence,
        });

    /// <summary>s_k(x) for M queries, as a new M×D array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Score(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[Guard.RowCount(queries, Dimension, nameof(queries)) * Dimension];
        Evaluate(queries, level, new SmoothedOutputs<T> { Score = result });
        return result;
    }

    /// <summary>ℓ_k(x) for M queries, as a new array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] LogDensity(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[Guard.RowCount(queries, Dimension, nameof(queries))];
        Evaluate(queries, level, new SmoothedOutputs<T> { LogDensity = result });
        return result;
    }

    /// <summary>E_z[div s(x + z)] for M queries, as a new array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Divergence(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[Guard.RowCount(queries, Dimension, nameof(queries))];
        Evaluate(queries, level, new SmoothedOutputs<T> { Divergence = result });
        return result;
    }

    /// <summary>Evaluates the requested smoothed quantities and standard errors in one stream over the M·K perturbed queries.</summary>
    /// <param name="queries">M×D row-major queries, every value finite.</param>
    /// <param name="level">The noise level (α, σ).</param>
    /// <param name="outputs">Caller-owned destinations.</param>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, SmoothedOutputs<T> outputs)
    {
        Guard.RequireLevel(level);
        int m = Guard.RequireQueries(queries, Dimension);
        outputs.Validate(m, Dimension);
        outputs.RequireNoOverlap(queries);
        if (outputs.WantsErrors && Draws.Units < 2)
            throw new ArgumentException(
                $"Standard errors need at least 2 independent units but {Draws} has {Draws.Units}; use more draws.", nameof(outputs));

        int d = Dimension;
        var logDensity = new Moments(!outputs.LogDensity.IsEmpty || !outputs.LogDensityError.IsEmpty, m, 1, !outputs.LogDensityError.IsEmpty);
        var score = new Moments(!outputs.Score.IsEmpty || !outputs.Denoiser.IsEmpty || !outputs.ScoreError.IsEmpty, m, d, !outputs.ScoreError.IsEmpty);
        var divergence = new Moments(!outputs.Divergence.IsEmpty || !outputs.DivergenceError.IsEmpty, m, 1, !outputs.DivergenceError.IsEmpty);
        T[] queryCopy = queries.ToArray(); // the batches run on worker threads, which cannot capture a span

        Stream(queryCopy, m, level, logDensity, score, divergence);

        logDensity.WriteMean(outputs.LogDensity);
        score.WriteMean(outputs.Score);
        divergence.WriteMean(outputs.Divergence);
        logDensity.WriteError(outputs.LogDensityError, Draws.Units);
        score.WriteError(outputs.ScoreError, Draws.Units);
        divergence.WriteError(outputs.DivergenceError, Draws.Units);
        if (!outputs.Denoiser.IsEmpty)
        {
            // Tweedie's formula for the smoothed score: m_k = (x + σ² s_k)/α.
            for (int i = 0; i < m * d; i++)
                outputs.Denoiser[i] = T.CreateTruncating((double.CreateTruncating(queryCopy[i]) + level.Variance * score.Mean[i]) / level.Alpha);
        }
    }

    private void Stream(T[] queries, int m, NoiseLevel level, Moments logDensity, Moments score, Moments divergence)
    {
        int d = Dimension, k = Draws.Count, batch = BatchRows;
        long total = (long)m * k;
        int frameLength = Kernel.FrameLength(d);
        int maxQueries = (int)Math.Min(m, batch / k + 2);
        var frames = new double[maxQueries * frameLength];
        var ranks = new int[maxQueries];
        int batchCapacity = (int)Math.Min(batch, total);
        // Linear-Gaussian kernels on a backend that can draw: the rows are made where they are evaluated.
        var scales = Kernel.DeviceScales.GetValueOrDefault();
        var device = Kernel.DeviceScales is not null && Empirical?.Backend is IPerturbingBackend p && p.CanPerturb<T>() ? p : null;
        // the batch buffers (about 4 MB each) are rented: a call allocates nothing proportional to the batch
        var perturbed = device is null ? ArrayPool<T>.Shared.Rent(batchCapacity * d) : null;
        var rowScores = score.Wanted ? ArrayPool<T>.Shared.Rent(batchCapacity * d) : null;
        var rowLogDensity = logDensity.Wanted ? ArrayPool<T>.Shared.Rent(batchCapacity) : null;
        var rowDivergence = divergence.Wanted ? ArrayPool<T>.Shared.Rent(batchCapacity) : null;
        try
        {
            StreamBatches(queries, m, level, logDensity, score, divergence, frames, ranks, device, scales, perturbed, rowScores,
                rowLogDensity, rowDivergence);
        }
        finally
        {
            foreach (var rented in new[] { perturbed, rowScores, rowLogDensity, rowDivergence })
                if (rented is not null) ArrayPool<T>.Shared.Return(rented);
        }
    }

    private void StreamBatches(T[] queries, int m, NoiseLevel level, Moments logDensity, Moments score, Moments divergence,
        double[] frames, int[] ranks, IPerturbingBackend? device, (double Tangent, double Normal) scales, T[]? perturbed,
        T[]? rowScores, T[]? rowLogDensity, T[]? rowDivergence)
    {
        int d = Dimension, k = Draws.Count, batch = BatchRows;
        long total = (long)m * k;
        int frameLength = Kernel.FrameLength(d);
        var parallel = _parallel;

        for (long start = 0; start < total; start += batch)
        {
            int rows = (int)Math.Min(batch, total - start);
            int firstQuery = (int)(start / k), lastQuery = (int)((start + rows - 1) / k);

            PrepareFrames(queries, firstQuery, lastQuery, frames, ranks);

            var rowOutputs = new ScoreOutputs<T>
            {
                LogDensity = rowLogDensity.AsSpan(0, rowLogDensity is null ? 0 : rows),
                Score = rowScores.AsSpan(0, rowScores is null ? 0 : rows * d),
                Divergence = rowDivergence.AsSpan(0, rowDivergence is null ? 0 : rows),
            };
            if (device is not null)
            {
                int queryCount = lastQuery - firstQuery + 1;
                device.EvaluatePerturbed(Empirical!.TrainingSet, queries.AsSpan(firstQuery * d, queryCount * d), new PerturbedBatch
                {
                    Draws = Draws,
                    Start = start,
                    Rows = rows,
                    FirstQuery = firstQuery,
                    TangentScale = scales.Tangent,
                    NormalScale = scales.Normal,
                    FrameLength = frameLength,
                    Frames = frames.AsSpan(0, queryCount * frameLength),
                    Ranks = ranks.AsSpan(0, frameLength > 0 ? queryCount : 0),
                }, level, rowOutputs);
            }
            else
            {
                PerturbOnHost(queries, start, rows, firstQuery, frames, ranks, perturbed!);
                if (_rows is not null) _rows.Evaluate(perturbed.AsSpan(0, rows * d), level, rowOutputs);
                else Empirical!.Backend.Evaluate(Empirical.TrainingSet, perturbed.AsSpan(0, rows * d), level, rowOutputs);
            }

            // Each query's rows are contiguous and folded in draw order: deterministic under any parallel split.
            Parallel.For(firstQuery, lastQuery + 1, parallel, q =>
            {
                long first = Math.Max(start, (long)q * k), end = Math.Min(start + rows, (long)(q + 1) * k);
                int step = Draws.Antithetic ? 2 : 1;
                for (long r = first; r < end; r += step)
                {
                    int row = (int)(r - start), unit = (int)((r - (long)q * k) / step);
                    logDensity.Add(q, unit, rowLogDensity, row, step);
                    score.Add(q, unit, rowScores, row, step);
                    divergence.Add(q, unit, rowDivergence, row, step);
                }
            });
        }
    }

    /// <summary>
    /// The M·K perturbed queries a smoother of <paramref name="kernel"/> and <paramref name="draws"/> evaluates (on the
    /// host; a device that draws makes the same ones up to libm's last bits): row q·K + k is x_q + z, z draw k of query q,
    /// summed in double and rounded once to T. A training set sharded elsewhere (over Dask workers, through the C ABI)
    /// evaluates these rows on every shard, merges their states, finishes each row and averages each query's K rows (an
    /// antithetic pair first) to give the smoother's result.
    /// </summary>
    /// <param name="kernel">The smoothing kernel (dimension <paramref name="dimension"/>).</param>
    /// <param name="draws">The draw plan.</param>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="dimension">D.</param>
    /// <param name="destination">Receives M·K×D values.</param>
    /// <param name="maxDegreeOfParallelism">Threads (-1: every core).</param>
    public static void PerturbedQueries(SmoothingKernel kernel, SmoothingDraws draws, ReadOnlySpan<T> queries, int dimension, Span<T> destination,
        int maxDegreeOfParallelism = -1)
    {
        var smoother = new LogSmoothedScore<T>(dimension, kernel, draws, 0, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism });
        int m = Guard.RequireQueries(queries, dimension), k = draws.Count;
        long total = (long)m * k;
        if (destination.Length < total * dimension)
            throw new ArgumentException($"destination holds {destination.Length} values but M·K×D = {m}·{k}×{dimension} = {total * dimension}.", nameof(destination));
        T[] x = queries.ToArray();
        int batch = smoother.BatchRows, frameLength = kernel.FrameLength(dimension), maxQueries = (int)Math.Min(m, batch / k + 2);
        var frames = new double[maxQueries * frameLength];
        var ranks = new int[maxQueries];
        var rows = new T[(int)Math.Min(batch, total) * dimension];
        for (long start = 0; start < total; start += batch)
        {
            int count = (int)Math.Min(batch, total - start);
            int firstQuery = (int)(start / k), lastQuery = (int)((start + count - 1) / k);
            smoother.PrepareFrames(x, firstQuery, lastQuery, frames, ranks);
            smoother.PerturbOnHost(x, start, count, firstQuery, frames, ranks, rows);
            rows.AsSpan(0, count * dimension).CopyTo(destination.Slice((int)(start * dimension), count * dimension));
        }
    }

    /// <summary>The kernel's frames (tangent bases at each query, say) of queries [first, last] of a batch.</summary>
    private void PrepareFrames(T[] queries, int firstQuery, int lastQuery, double[] frames, int[] ranks)
    {
        int d = Dimension, frameLength = Kernel.FrameLength(d);
        if (frameLength == 0) return;
        Parallel.For(firstQuery, lastQuery + 1, _parallel, q =>
        {
            var xd = Widen(queries.AsSpan(q * d, d));
            ranks[q - firstQuery] = Kernel.PrepareFrame(xd, frames.AsSpan((q - firstQuery) * frameLength, frameLength));
        });
    }

    /// <summary>Rows [start, start + rows) of the M·K perturbed queries into <paramref name="perturbed"/>, drawn on the host.</summary>
    private void PerturbOnHost(T[] queries, long start, int rows, int firstQuery, double[] frames, int[] ranks, T[] perturbed)
    {
        int d = Dimension, k = Draws.Count, frameLength = Kernel.FrameLength(d), normals = Kernel.NormalCount(d);
        const int rowsPerTask = 16;
        Parallel.For(0, (rows + rowsPerTask - 1) / rowsPerTask, _parallel, task =>
        {
            double[] scratch = ArrayPool<double>.Shared.Rent(normals + d);
            var xi = scratch.AsSpan(0, normals);
            var z = scratch.AsSpan(normals, d);
            for (int row = task * rowsPerTask; row < Math.Min(rows, (task + 1) * rowsPerTask); row++)
            {
                long r = start + row;
                int q = (int)(r / k), draw = (int)(r % k);
                int f = q - firstQuery;
                Kernel.Perturb(frames.AsSpan(f * frameLength, frameLength), frameLength > 0 ? ranks[f] : 0, Draws, q, draw, xi, z);
                var x = queries.AsSpan(q * d, d);
                var target = perturbed.AsSpan(row * d, d);
                for (int j = 0; j < d; j++)
                    target[j] = T.CreateTruncating(double.CreateTruncating(x[j]) + z[j]);
            }
            ArrayPool<double>.Shared.Return(scratch);
        });
    }

    private static double[] Widen(ReadOnlySpan<T> x)
    {
        var result = new double[x.Length];
        for (int j = 0; j < x.Length; j++) result[j] = double.CreateTruncating(x[j]);
        return result;
    }

    /// <summary>Per-query running mean and sum of squared deviations (Welford) of a width-w quantity, in float64.</summary>
    private sealed class Moments
    {
        private readonly int _width;
        private readonly double[]? _m2;

        public Moments(bool wanted, int queries, int width, bool errors)
        {
            Wanted = wanted;
            _width = width;
            Mean = wanted ? new double[queries * width] : [];
            _m2 = wanted && errors ? new double[queries * width] : null;
        }

        public bool Wanted { get; }

        public double[] Mean { get; }

        /// <summary>Folds unit <paramref name="unit"/> of query q: the row at <paramref name="row"/>, or the mean of an antithetic pair.</summary>
        public void Add(int q, int unit, T[]? rows, int row, int step)
        {
            if (!Wanted) return;
            double n = unit + 1;
            for (int j = 0; j < _width; j++)
            {
                double v = double.CreateTruncating(rows![row * _width + j]);
                if (step == 2) v = 0.5 * (v + double.CreateTruncating(rows[(row + 1) * _width + j]));
                int i = q * _width + j;
                double delta = v - Mean[i];
                Mean[i] += delta / n;
                if (_m2 is not null) _m2[i] += delta * (v - Mean[i]);
            }
        }

        public void WriteMean(Span<T> destination)
        {
            if (destination.IsEmpty) return;
            for (int i = 0; i < Mean.Length; i++) destination[i] = T.CreateTruncating(Mean[i]);
        }

        /// <summary>√(s²/U) with s² the unbiased sample variance over U units.</summary>
        public void WriteError(Span<T> destination, int units)
        {
            if (destination.IsEmpty) return;
            for (int i = 0; i < _m2!.Length; i++)
                destination[i] = T.CreateTruncating(Math.Sqrt(_m2[i] / ((units - 1.0) * units)));
        }
    }
}
