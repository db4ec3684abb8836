using System.Numerics;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// What a <see cref="LogSmoothedScore{T}"/> built without a training set evaluates its batches of perturbed queries with:
/// for example a training set sharded over processes, where each process accumulates the partial states of its own rows
/// for the batch, the states are reduced, and the finished per-row values come back. The smoother makes the rows (keyed
/// by query and draw only) and folds the values in draw order, so the result depends on the evaluator's rounding alone,
/// never on how it splits the training set.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public interface IPerturbedRowEvaluator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Writes the requested per-row outputs (any of log-density, score, divergence) of the empirical distribution at
    /// <paramref name="level"/> for <paramref name="rows"/> (R×D, row-major). It is called once per batch, in batch order,
    /// on the calling thread.
    /// </summary>
    /// <param name="rows">The perturbed queries of one batch.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="outputs">Per-row destinations (R values, or R×D for the score).</param>
    void Evaluate(ReadOnlySpan<T> rows, NoiseLevel level, ScoreOutputs<T> outputs);
}
