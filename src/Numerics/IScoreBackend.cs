using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// A compute backend for the empirical score. Every public operation of the library goes through this
/// interface: the CPU backend (<see cref="CpuBackend"/>, the default) implements it here, the OpenCL backend in
/// Kernels.Interop, so the API and its tests are written once. Inputs are validated by the caller-facing API
/// (<see cref="EmpiricalScore{T}"/>) before a backend sees them.
/// </summary>
public interface IScoreBackend
{
    /// <summary>A short name for messages and the command line (cpu, opencl).</summary>
    string Name { get; }

    /// <summary>
    /// The most host threads a call may use, −1 for all cores. Work a caller does on the host around the backend (a
    /// smoother's draws and sums, say) uses the same limit. A backend whose work runs elsewhere (a device) reports −1.
    /// </summary>
    int MaxDegreeOfParallelism => -1;

    /// <summary>
    /// A backend computing exactly what this one computes (the same bits) on at most <paramref name="threads"/> host
    /// threads per call, so a caller may run independent calls side by side on its own threads; null when this backend's
    /// calls do not run on host threads that can be limited (a device backend, which serialises its calls).
    /// </summary>
    /// <param name="threads">A thread count ≥ 1.</param>
    IScoreBackend? WithMaxDegreeOfParallelism(int threads) => null;

    /// <summary>
    /// Builds now what this backend keeps per training set (the CPU backend's transposed copy, a device's resident upload),
    /// which it otherwise builds on the first call that needs it, so that call, or a measurement of time or memory, does
    /// not carry the set's one-off cost. Results do not depend on it. The default does nothing.
    /// </summary>
    /// <param name="train">The training set later calls will use.</param>
    void Prepare<T>(TrainingSet<T> train) where T : unmanaged, IFloatingPointIeee754<T> { }

    /// <summary>
    /// Evaluates the requested outputs for the M×D <paramref name="queries"/> against the whole training set in one
    /// fused, streamed pass (no M×N matrix).
    /// </summary>
    void Evaluate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Screens the training set for passes that need each query's heavy points by index (the Hessian's factor): calls
    /// <paramref name="consume"/> once per block of consecutive queries (every query in exactly one block), possibly from
    /// several threads, with each query's superset of the points whose logit is within
    /// <see cref="ScorePartials.NegligibleLogit{T}"/> + <paramref name="margin"/> nats of the query's largest, found without
    /// evaluating every distance exactly, so the caller evaluates only those. Returns false, calling nothing,
    /// where this backend has no screen for the type, dimension or level; the caller then evaluates every point. The
    /// default has none.
    /// </summary>
    /// <param name="train">The training set.</param>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="consume">Receives each block of queries' candidates.</param>
    /// <param name="margin">Nats past the cut-off the candidates must reach, finite and ≥ 0 (the Hessian's factor keeps
    /// points within the cut-off plus ln 2: <see cref="Ridges.Hessian.Factor{T}"/>).</param>
    bool Screen<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScreenedCandidates consume, double margin = 0)
        where T : unmanaged, IFloatingPointIeee754<T> => false;

    /// <summary>
    /// Streams <paramref name="train"/> (typically one shard of a larger set) against the queries and merges the
    /// resulting log-sum-exp state into <paramref name="partials"/> (see <see cref="ScorePartials"/>).
    /// </summary>
    void Accumulate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials)
        where T : unmanaged, IFloatingPointIeee754<T>;
}
