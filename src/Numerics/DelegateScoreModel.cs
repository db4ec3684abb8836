using System.Numerics;

namespace Kernels.Numerics;

/// <summary>A score field given as a function: fills the requested outputs for M×D queries at a noise level.</summary>
/// <typeparam name="T">float or double.</typeparam>
public delegate void ScoreFunction<T>(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Wraps a user's score function (a trained network, an analytic field) as an <see cref="IScoreModel{T}"/>, so samplers
/// and likelihoods run on it. Queries are validated before the function sees them; it must fill every non-empty output
/// it is given (an output it cannot provide, such as a log-density, should throw <see cref="NotSupportedException"/>).
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class DelegateScoreModel<T> : IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ScoreFunction<T> _function;

    /// <summary>Wraps <paramref name="function"/> for queries of dimension <paramref name="dimension"/>.</summary>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="function">The score function.</param>
    public DelegateScoreModel(int dimension, ScoreFunction<T> function)
    {
        Guard.RequireFloatOrDouble<T>();
        if (dimension < 1)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 1.");
        ArgumentNullException.ThrowIfNull(function);
        Dimension = dimension;
        _function = function;
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
    {
        Guard.RequireLevel(level);
        int m = Guard.RequireQueries(queries, Dimension);
        outputs.Validate(m, Dimension);
        outputs.RequireNoOverlap(queries);
        _function(queries, level, outputs);
    }
}
