using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// Caller-owned destinations for one evaluation of M queries. Any of the four may be empty (not wanted);
/// a non-empty one must hold at least its shape: log-density M, score M×D (row-major), denoiser M×D,
/// divergence M. Asking for several at once costs one pass over the training set.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public readonly ref struct ScoreOutputs<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>ℓ(x) per query (length M), or empty.</summary>
    public Span<T> LogDensity { get; init; }

    /// <summary>s(x) = ∇ℓ(x) per query (M×D), or empty.</summary>
    public Span<T> Score { get; init; }

    /// <summary>m(x) = E[X₀ | X_t = x] per query (M×D), or empty.</summary>
    public Span<T> Denoiser { get; init; }

    /// <summary>div s(x) = tr ∇²ℓ(x) per query (length M), or empty.</summary>
    public Span<T> Divergence { get; init; }

    /// <summary>The state's moments these outputs need (a shard's state needs them all).</summary>
    internal Moments Needs =>
        (Score.IsEmpty && Divergence.IsEmpty ? Moments.None : Moments.Displacement)
        | (Denoiser.IsEmpty && Divergence.IsEmpty ? Moments.None : Moments.Points)
        | (Divergence.IsEmpty ? Moments.None : Moments.Spread);

    /// <summary>True when no output is requested.</summary>
    public bool IsEmpty => LogDensity.IsEmpty && Score.IsEmpty && Denoiser.IsEmpty && Divergence.IsEmpty;

    internal void Validate(int queryCount, int dimension)
    {
        if (IsEmpty)
            throw new ArgumentException("No output requested: set at least one of LogDensity, Score, Denoiser, Divergence.", "outputs");
        long md = (long)queryCount * dimension;
        if (!LogDensity.IsEmpty) Guard.RequireLength(LogDensity, queryCount, nameof(LogDensity), $"M = {queryCount} queries");
        if (!Score.IsEmpty) Guard.RequireLength(Score, md, nameof(Score), $"M×D = {queryCount}×{dimension}");
        if (!Denoiser.IsEmpty) Guard.RequireLength(Denoiser, md, nameof(Denoiser), $"M×D = {queryCount}×{dimension}");
        if (!Divergence.IsEmpty) Guard.RequireLength(Divergence, queryCount, nameof(Divergence), $"M = {queryCount} queries");
    }

    /// <summary>Rejects any destination that overlaps the queries it is computed from.</summary>
    internal void RequireNoOverlap(ReadOnlySpan<T> queries)
    {
        Guard.RequireNoOverlap(queries, LogDensity, nameof(LogDensity));
        Guard.RequireNoOverlap(queries, Score, nameof(Score));
        Guard.RequireNoOverlap(queries, Denoiser, nameof(Denoiser));
        Guard.RequireNoOverlap(queries, Divergence, nameof(Divergence));
    }
}

/// <summary>
/// Which sums of the log-sum-exp state a backend forms beyond the normaliser (<see cref="PartialRow"/>): the score needs
/// the displacement sums, the denoiser the point sums, the divergence the spread (whose merge takes the means' difference
/// from either). The log-density alone needs none: every weight then counts in the normaliser only.
/// </summary>
[Flags]
internal enum Moments
{
    None = 0,
    Displacement = 1,
    Points = 2,
    Spread = Displacement | Points | 4,
    All = Displacement | Points | Spread,
}
