using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// The empirical (noised) distribution of a training set and its exact score (DESIGN.md §2):
/// <c>p̂(x) = (1/N) Σ_i N(x; α y_i, σ² I)</c>, with log-density ℓ, score s = ∇ℓ, denoiser
/// m = E[X₀ | X_t = x] and divergence tr ∇²ℓ, for M queries at one noise level. This is the library's
/// entry point: it validates inputs once and hands them to a backend (<see cref="CpuBackend"/> by default).
/// </summary>
/// <typeparam name="T">float (the fast default) or double.</typeparam>
public sealed class EmpiricalScore<T> : IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Binds a training set to a backend.</summary>
    /// <param name="trainingSet">The training set Y.</param>
    /// <param name="backend">The backend; null for <see cref="CpuBackend.Default"/>.</param>
    public EmpiricalScore(TrainingSet<T> trainingSet, IScoreBackend? backend = null)
    {
        ArgumentNullException.ThrowIfNull(trainingSet);
        TrainingSet = trainingSet;
        Backend = backend ?? CpuBackend.Default;
    }

    /// <summary>The training set Y.</summary>
    public TrainingSet<T> TrainingSet { get; }

    /// <summary>The backend every evaluation goes through.</summary>
    public IScoreBackend Backend { get; }

    /// <summary>Threads for the work a smoother does around the backend: the backend's own limit (<see cref="IScoreBackend.MaxDegreeOfParallelism"/>).</summary>
    internal ParallelOptions ParallelOptions => new() { MaxDegreeOfParallelism = Backend.MaxDegreeOfParallelism };

    /// <summary>The dimension D.</summary>
    public int Dimension => TrainingSet.Dimension;

    /// <summary>Evaluates any subset of log-density, score, denoiser and divergence in one pass over the training set.</summary>
    /// <param name="queries">M×D row-major queries, every value finite.</param>
    /// <param name="level">The noise level (α, σ).</param>
    /// <param name="outputs">Caller-owned destinations; each non-empty one must hold its shape.</param>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
    {
        int m = ValidateQueries(queries, level);
        outputs.Validate(m, Dimension);
        outputs.RequireNoOverlap(queries);
        Backend.Evaluate(TrainingSet, queries, level, outputs);
    }

    /// <summary>ℓ(x) = log p̂(x) for M queries into <paramref name="destination"/> (length ≥ M).</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="destination">Receives M values.</param>
    public void LogDensity(ReadOnlySpan<T> queries, NoiseLevel level, Span<T> destination) =>
        Evaluate(queries, level, new ScoreOutputs<T> { LogDensity = Required(destination, RowCount(queries), 1) });

    /// <summary>s(x) = ∇ℓ(x) = (α m(x) − x)/σ² for M queries into <paramref name="destination"/> (M×D).</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="destination">Receives M×D values.</param>
    public void Score(ReadOnlySpan<T> queries, NoiseLevel level, Span<T> destination) =>
        Evaluate(queries, level, new ScoreOutputs<T> { Score = Required(destination, RowCount(queries), Dimension) });

    /// <summary>m(x) = Σ_i w_i(x) y_i (Tweedie's denoiser) for M queries into <paramref name="destination"/> (M×D).</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="destination">Receives M×D values.</param>
    public void Denoise(ReadOnlySpan<T> queries, NoiseLevel level, Span<T> destination) =>
        Evaluate(queries, level, new ScoreOutputs<T> { Denoiser = Required(destination, RowCount(queries), Dimension) });

    /// <summary>div s(x) = tr ∇²ℓ(x) = (α²/σ⁴) tr C(x) − D/σ² for M queries into <paramref name="destination"/> (length ≥ M).</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="destination">Receives M values.</param>
    public void Divergence(ReadOnlySpan<T> queries, NoiseLevel level, Span<T> destination) =>
        Evaluate(queries, level, new ScoreOutputs<T> { Divergence = Required(destination, RowCount(queries), 1) });

    /// <summary>ℓ(x) for M queries, as a new array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] LogDensity(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[RowCount(queries)];
        LogDensity(queries, level, result);
        return result;
    }

    /// <summary>s(x) for M queries, as a new M×D array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Score(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[RowCount(queries) * Dimension];
        Score(queries, level, result);
        return result;
    }

    /// <summary>m(x) for M queries, as a new M×D array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Denoise(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[RowCount(queries) * Dimension];
        Denoise(queries, level, result);
        return result;
    }

    /// <summary>div s(x) for M queries, as a new array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Divergence(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        var result = new T[RowCount(queries)];
        Divergence(queries, level, result);
        return result;
    }

    /// <summary>
    /// Streams this training set (one shard of a larger one, say) against the queries and merges the state into
    /// <paramref name="partials"/>; combine the shards' states with <see cref="ScorePartials.Combine"/> and
    /// call <see cref="ScorePartials.Finish{T}"/> for the exact result over the union.
    /// </summary>
    /// <param name="queries">M×D row-major queries, the same for every shard.</param>
    /// <param name="partials">A state for M queries of this dimension (start from <see cref="ScorePartials.Identity(int, int, NoiseLevel)"/>).</param>
    public void Accumulate(ReadOnlySpan<T> queries, ScorePartials partials)
    {
        ArgumentNullException.ThrowIfNull(partials);
        int m = ValidateQueries(queries, partials.Level);
        if (partials.QueryCount != m || partials.Dimension != Dimension)
            throw new ArgumentException(
                $"partials holds M×D = {partials.QueryCount}×{partials.Dimension} but queries are {m}×{Dimension}; create it with ScorePartials.Identity({m}, {Dimension}, level).",
                nameof(partials));
        Backend.Accumulate(TrainingSet, queries, partials);
    }

    /// <summary>The state of this training set against the queries, starting from the identity.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public ScorePartials Accumulate(ReadOnlySpan<T> queries, NoiseLevel level) => Accumulate(queries, level, StateOutput.Unspecified);

    /// <summary>
    /// The state of this training set against the queries for one output only (<see cref="ScorePartials.Output"/>: it
    /// forms only the sums that output needs), starting from the identity.
    /// </summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="output">The output the state will be finished to (<see cref="StateOutput.Unspecified"/>: any).</param>
    public ScorePartials Accumulate(ReadOnlySpan<T> queries, NoiseLevel level, StateOutput output)
    {
        var partials = ScorePartials.Identity(Math.Max(1, RowCount(queries)), Dimension, ValidLevel(level), output);
        Accumulate(queries, partials);
        return partials;
    }

    private int RowCount(ReadOnlySpan<T> queries) => Guard.RowCount(queries, Dimension, nameof(queries));

    private int ValidateQueries(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        Guard.RequireLevel(level);
        return Guard.RequireQueries(queries, Dimension);
    }

    private static NoiseLevel ValidLevel(NoiseLevel level) => Guard.RequireLevel(level);

    private static Span<T> Required(Span<T> destination, int queryCount, int perQuery)
    {
        Guard.RequireLength(destination, Math.Max(1L, (long)queryCount * perQuery), nameof(destination),
            perQuery == 1 ? $"M = {queryCount} queries" : $"M×D = {queryCount}×{perQuery}");
        return destination;
    }
}
