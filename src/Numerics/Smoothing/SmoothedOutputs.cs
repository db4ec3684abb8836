using System.Numerics;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// Caller-owned destinations for one evaluation of a log-domain smoothed score at M queries: the estimates and, on request,
/// their Monte Carlo standard errors (same shapes). Any may be empty (not wanted); a non-empty one must hold its shape.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public readonly ref struct SmoothedOutputs<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>ℓ_k(x) = E_z[ℓ(x + z)] per query (length M), or empty.</summary>
    public Span<T> LogDensity { get; init; }

    /// <summary>s_k(x) = E_z[s(x + z)] per query (M×D), or empty.</summary>
    public Span<T> Score { get; init; }

    /// <summary>(x + σ² s_k(x))/α, the denoiser that Tweedie's formula gives for s_k (M×D), or empty.</summary>
    public Span<T> Denoiser { get; init; }

    /// <summary>E_z[div s(x + z)] per query (length M), or empty.</summary>
    public Span<T> Divergence { get; init; }

    /// <summary>Standard error of <see cref="LogDensity"/> (length M), or empty.</summary>
    public Span<T> LogDensityError { get; init; }

    /// <summary>Standard error of each component of <see cref="Score"/> (M×D), or empty.</summary>
    public Span<T> ScoreError { get; init; }

    /// <summary>Standard error of <see cref="Divergence"/> (length M), or empty.</summary>
    public Span<T> DivergenceError { get; init; }

    internal bool WantsErrors => !LogDensityError.IsEmpty || !ScoreError.IsEmpty || !DivergenceError.IsEmpty;

    internal void Validate(int queryCount, int dimension)
    {
        if (LogDensity.IsEmpty && Score.IsEmpty && Denoiser.IsEmpty && Divergence.IsEmpty && !WantsErrors)
            throw new ArgumentException("No output requested: set at least one of LogDensity, Score, Denoiser, Divergence or their errors.", "outputs");
        long md = (long)queryCount * dimension;
        string m = $"M = {queryCount} queries", mxd = $"M×D = {queryCount}×{dimension}";
        if (!LogDensity.IsEmpty) Guard.RequireLength(LogDensity, queryCount, nameof(LogDensity), m);
        if (!Score.IsEmpty) Guard.RequireLength(Score, md, nameof(Score), mxd);
        if (!Denoiser.IsEmpty) Guard.RequireLength(Denoiser, md, nameof(Denoiser), mxd);
        if (!Divergence.IsEmpty) Guard.RequireLength(Divergence, queryCount, nameof(Divergence), m);
        if (!LogDensityError.IsEmpty) Guard.RequireLength(LogDensityError, queryCount, nameof(LogDensityError), m);
        if (!ScoreError.IsEmpty) Guard.RequireLength(ScoreError, md, nameof(ScoreError), mxd);
        if (!DivergenceError.IsEmpty) Guard.RequireLength(DivergenceError, queryCount, nameof(DivergenceError), m);
    }

    /// <summary>Rejects any destination that overlaps the queries it is computed from.</summary>
    internal void RequireNoOverlap(ReadOnlySpan<T> queries)
    {
        new ScoreOutputs<T> { LogDensity = LogDensity, Score = Score, Denoiser = Denoiser, Divergence = Divergence }.RequireNoOverlap(queries);
        Guard.RequireNoOverlap(queries, LogDensityError, nameof(LogDensityError));
        Guard.RequireNoOverlap(queries, ScoreError, nameof(ScoreError));
        Guard.RequireNoOverlap(queries, DivergenceError, nameof(DivergenceError));
    }
}
