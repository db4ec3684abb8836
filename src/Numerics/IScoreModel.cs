using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// Anything that gives a score field at a noise level: the empirical score, its log-domain or density smoothings, or a
/// user's model. Samplers and measures take this, so they work with every score the library builds.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public interface IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The dimension D of queries.</summary>
    int Dimension { get; }

    /// <summary>Evaluates any subset of log-density, score, denoiser and divergence at M queries (M×D, row-major).</summary>
    /// <param name="queries">M×D row-major queries, every value finite.</param>
    /// <param name="level">The noise level (α, σ).</param>
    /// <param name="outputs">Caller-owned destinations; each non-empty one must hold its shape.</param>
    void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs);
}
