using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The CPU backend's own copy of a training set, in the layout the points-in-lanes kernel streams: points transposed in
/// groups of one vector width, so distances vectorise over points for any D, plus ‖y_i‖² per point for the expansion path.
/// Built on the first CPU call that needs it, or by <see cref="CpuBackend.Prepare{T}"/> (<see cref="Of"/>), and kept for as long as the <see cref="TrainingSet{T}"/>
/// lives (held weakly), so a set only ever evaluated elsewhere (OpenCL, the query-lanes kernel) never pays for it.
/// </summary>
internal sealed class CpuLayout<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly ConditionalWeakTable<TrainingSet<T>, CpuLayout<T>> Cache = new();

    /// <summary>The layout of <paramref name="train"/>, built on first use (thread-safe: one instance per set is kept).</summary>
    public static CpuLayout<T> Of(TrainingSet<T> train) => Cache.GetValue(train, static t => new CpuLayout<T>(t));

    /// <summary>Whether the layout of <paramref name="train"/> has been built (tests read it).</summary>
    internal static bool IsBuilt(TrainingSet<T> train) => Cache.TryGetValue(train, out _);

    private readonly TrainingSet<T> _train;
    private double[]? _squaredNorms;

    private CpuLayout(TrainingSet<T> train)
    {
        _train = train;
        int n = train.Count, d = train.Dimension, w = GroupWidth;
        var rows = train.Rows;
        GroupCount = (n + w - 1) / w;
        Groups = new T[(long)GroupCount * d * w];
        for (int i = 0; i < n; i++)
        {
            long baseIndex = (long)(i / w) * d * w + i % w;
            for (int k = 0; k < d; k++)
                Groups[baseIndex + (long)k * w] = rows[(long)i * d + k];
        }
    }

    /// <summary>Points per group of the transposed layout: one Vector512 of T.</summary>
    public static int GroupWidth => Vector512<T>.Count;

    /// <summary>Number of point groups, ⌈N / GroupWidth⌉; the last one is padded with zero points.</summary>
    public int GroupCount { get; }

    /// <summary>Groups of GroupWidth points, each stored coordinate-major: [group][coordinate][lane].</summary>
    public T[] Groups { get; }

    /// <summary>‖y_i‖² per point, in float64, computed on first use (the expansion path's ‖x‖² − 2α x·y + α²‖y‖²).</summary>
    public double[] SquaredNorms => _squaredNorms ??= ComputeSquaredNorms();

    private double[] ComputeSquaredNorms()
    {
        int n = _train.Count, d = _train.Dimension;
        var rows = _train.Rows;
        var norms = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = 0;
            foreach (T v in rows.AsSpan(i * d, d))
            {
                double w = double.CreateTruncating(v);
                sum += w * w;
            }
            norms[i] = sum;
        }
        return norms;
    }
}
