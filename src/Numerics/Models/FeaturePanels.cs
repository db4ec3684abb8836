using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Kernels.Numerics.Cpu;

namespace Kernels.Numerics.Models;

/// <summary>
/// The random features in the working type, laid out for the SIMD kernels: the P features are cut into panels of W
/// (the vector width) features, the last one zero-padded. A block of R inputs gives its features packed panel by panel,
/// <c>G[q][r][lane]</c> (panel stride R·W): a row of one panel is one vector, which is what both the feature pass
/// (one FMA per input coordinate) and the rank-k update (<see cref="SymmetricRankUpdate{T}"/>) load. Padded features have
/// zero weights and zero offsets, so their value act(0) = 0 adds nothing anywhere.
/// </summary>
internal sealed unsafe class FeaturePanels<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Features per panel: one vector.</summary>
    public static int Width => Vector512<T>.Count;

    private readonly T[] _spatial; // [q][k][lane]: W_x transposed panel by panel

    public FeaturePanels(RandomFeatures features)
    {
        Features = features;
        int d = features.Dimension, w = Width;
        PanelCount = (features.Count + w - 1) / w;
        _spatial = new T[(long)PanelCount * d * w];
        var wx = features.Spatial;
        for (int p = 0; p < features.Count; p++)
            for (int k = 0; k < d; k++)
                _spatial[((long)(p / w) * d + k) * w + p % w] = T.CreateTruncating(wx[p * d + k]);
    }

    public RandomFeatures Features { get; }

    /// <summary>Q = ⌈P/W⌉.</summary>
    public int PanelCount { get; }

    /// <summary>Q·W, the padded feature count.</summary>
    public int PaddedCount => PanelCount * Width;

    /// <summary>c(t) = W_t φ(t) + b rounded to T, padded with zeros to Q·W.</summary>
    public T[] Offsets(double t)
    {
        var exact = new double[Features.Count];
        Features.Offsets(t, exact);
        var result = new T[PaddedCount];
        for (int p = 0; p < exact.Length; p++) result[p] = T.CreateTruncating(exact[p]);
        return result;
    }

    /// <summary>
    /// Preactivations of rows [r0, r1) of a block into <paramref name="g"/> (packed, <paramref name="rowStride"/> rows per
    /// panel): z = W_x x_r + c_r, with <paramref name="offsets"/>(r) the row's c(t) (Q·W values). Four rows at a time share
    /// each load of W_x.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Preactivate(ReadOnlySpan<T> inputs, int r0, int r1, Func<int, T[]> offsets, Span<T> g, int rowStride)
    {
        int d = Features.Dimension, w = Width;
        fixed (T* x = inputs)
        fixed (T* wx = _spatial)
        fixed (T* gp = g)
        {
            for (int r = r0; r < r1; r += 4)
            {
                int rows = Math.Min(4, r1 - r);
                T[] c0 = offsets(r), c1 = offsets(Math.Min(r + 1, r1 - 1)), c2 = offsets(Math.Min(r + 2, r1 - 1)), c3 = offsets(Math.Min(r + 3, r1 - 1));
                T* x0 = x + (long)r * d, x1 = x + (long)Math.Min(r + 1, r1 - 1) * d, x2 = x + (long)Math.Min(r + 2, r1 - 1) * d, x3 = x + (long)Math.Min(r + 3, r1 - 1) * d;
                fixed (T* o0 = c0) fixed (T* o1 = c1) fixed (T* o2 = c2) fixed (T* o3 = c3)
                {
                    for (int q = 0; q < PanelCount; q++)
                    {
                        var z0 = Vector512.Load(o0 + q * w);
                        var z1 = Vector512.Load(o1 + q * w);
                        var z2 = Vector512.Load(o2 + q * w);
                        var z3 = Vector512.Load(o3 + q * w);
                        T* panel = wx + (long)q * d * w;
                        for (int k = 0; k < d; k++)
                        {
                            var weights = Vector512.Load(panel + k * w);
                            z0 = Simd<T>.Fma(Vector512.Create(x0[k]), weights, z0);
                            z1 = Simd<T>.Fma(Vector512.Create(x1[k]), weights, z1);
                            z2 = Simd<T>.Fma(Vector512.Create(x2[k]), weights, z2);
                            z3 = Simd<T>.Fma(Vector512.Create(x3[k]), weights, z3);
                        }
                        T* dst = gp + ((long)q * rowStride + r) * w;
                        z0.Store(dst);
                        if (rows > 1) z1.Store(dst + w);
                        if (rows > 2) z2.Store(dst + 2 * w);
                        if (rows > 3) z3.Store(dst + 3 * w);
                    }
                }
            }
        }
    }

    /// <summary>act applied in place to a span of preactivations.</summary>
    public void Activate(Span<T> values)
    {
        if (Features.Activation == FeatureActivation.Relu)
            TensorPrimitives.Max(values, T.Zero, values);
        else
            TensorPrimitives.Tanh(values, values);
    }

    /// <summary>act′ at a preactivation z (1/0 for ReLU, with act′(0) = 0; 1 − tanh² z).</summary>
    public static double Derivative(FeatureActivation activation, double z) => activation == FeatureActivation.Relu
        ? (z > 0 ? 1 : 0)
        : 1 - Math.Tanh(z) * Math.Tanh(z);
}
