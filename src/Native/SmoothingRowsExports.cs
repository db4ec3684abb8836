using System.Numerics;
using System.Runtime.InteropServices;
using Kernels.Numerics.Smoothing;

namespace Kernels.Native;

/// <summary>
/// kn_smoothing_rows_*: the M·K perturbed queries kn_smoothed_* evaluates (row q·K + k = x_q + z, z ~ N(0, h² I) draw k
/// of query q), so that log-domain smoothing over a training set sharded elsewhere (Dask workers, MPI ranks) evaluates
/// the same rows on every shard with kn_partial_accumulate_*, merges them, finishes each row with kn_partial_finish_* and
/// averages each query's K rows (each antithetic pair first): kn_smoothed_*'s result, up to the order of the sums.
/// </summary>
public static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "kn_smoothing_rows_f32")]
    internal static int SmoothingRowsF32(double h, int draws, ulong seed, uint flags, float* queries, long m, long d, float* rows) =>
        SmoothingRows(h, draws, seed, flags, queries, m, d, rows);

    [UnmanagedCallersOnly(EntryPoint = "kn_smoothing_rows_f64")]
    internal static int SmoothingRowsF64(double h, int draws, ulong seed, uint flags, double* queries, long m, long d, double* rows) =>
        SmoothingRows(h, draws, seed, flags, queries, m, d, rows);

    private static int SmoothingRows<T>(double h, int draws, ulong seed, uint flags, T* queries, long m, long d, T* rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (queries == null) throw NullArgument("queries", "pass an M×D row-major array of query points");
            if (rows == null) throw NullArgument("rows", "pass M·K×D values to receive the perturbed queries");
            int count = AtLeastOne(m, "m", "the number of queries M"), dimension = AtLeastOne(d, "d", "the dimension D");
            var plan = Draws(draws, seed, flags);
            var x = new ReadOnlySpan<T>(queries, Length(count, dimension, "m × d"));
            RequireFinite(x, dimension, "queries", "query");
            long total = (long)count * plan.Count;
            int length = total <= int.MaxValue ? Length((int)total, dimension, "m × draws × d")
                : throw new NativeException(Status.InvalidSize, $"m × draws = {total} rows exceeds {int.MaxValue}; split the queries into smaller blocks.");
            LogSmoothedScore<T>.PerturbedQueries(SmoothingKernel.Gaussian(Width(h)), plan, x, dimension, new Span<T>(rows, length));
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e, $"h = {h}");
        }
    }
}
