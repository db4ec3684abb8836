using System.Numerics;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// An optional capability of an <see cref="IScoreBackend"/>: it makes the perturbed queries x_q + z of a smoothing batch
/// itself (on its device, from the <see cref="SmoothingDraws"/> layout contract) and evaluates them there, so the rows
/// never cross the bus; only the per-row outputs come back. <see cref="LogSmoothedScore{T}"/> uses it when the backend
/// has it and the kernel is linear-Gaussian (<see cref="SmoothingKernel.DeviceScales"/>), else makes the rows on the host.
/// </summary>
public interface IPerturbingBackend : IScoreBackend
{
    /// <summary>Whether <see cref="EvaluatePerturbed{T}"/> can run for element type T (it needs double arithmetic on the device).</summary>
    bool CanPerturb<T>() where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Evaluates the requested outputs (log-density, score, divergence; never the denoiser, which needs the rows) for the
    /// rows [Start, Start + Rows) of the M·K perturbed queries: row r is draw r mod K of query r / K, exactly as
    /// <see cref="SmoothingKernel.Draw"/> makes it (up to libm's last bits), x + z computed in double and rounded once to T.
    /// </summary>
    /// <param name="train">The training set.</param>
    /// <param name="queries">The queries FirstQuery … of the batch (every query a row of the batch belongs to), D each.</param>
    /// <param name="batch">The rows and how to draw them.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="outputs">Per-row destinations (length Rows, or Rows×D for the score).</param>
    void EvaluatePerturbed<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, in PerturbedBatch batch, NoiseLevel level, ScoreOutputs<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>
/// A batch of perturbed queries for <see cref="IPerturbingBackend"/>: the draw plan, the global rows, and the kernel
/// z = h_N ξ + (h_T − h_N) B Bᵀ ξ with each query's tangent basis B (rank × D, from <see cref="SmoothingKernel.PrepareFrame"/>;
/// rank 0 and h_T = h_N = h for the isotropic Gaussian).
/// </summary>
public readonly ref struct PerturbedBatch
{
    /// <summary>The draw plan (K, seed, antithetic, fixed).</summary>
    public required SmoothingDraws Draws { get; init; }

    /// <summary>The global index (q·K + draw) of the batch's first row.</summary>
    public required long Start { get; init; }

    /// <summary>Rows in the batch.</summary>
    public required int Rows { get; init; }

    /// <summary>The query of the first row: the first row of <c>queries</c>, frames and ranks.</summary>
    public required int FirstQuery { get; init; }

    /// <summary>h_T.</summary>
    public required double TangentScale { get; init; }

    /// <summary>h_N.</summary>
    public required double NormalScale { get; init; }

    /// <summary>Doubles of basis per query (0: isotropic, <see cref="Frames"/> and <see cref="Ranks"/> unused).</summary>
    public int FrameLength { get; init; }

    /// <summary>Per query of the batch, its basis (FrameLength doubles, the first rank·D used).</summary>
    public ReadOnlySpan<double> Frames { get; init; }

    /// <summary>Per query of the batch, its tangent dimension.</summary>
    public ReadOnlySpan<int> Ranks { get; init; }
}
