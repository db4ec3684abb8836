using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Kernels.Numerics.Cpu;

namespace Kernels.Numerics.Models;

/// <summary>
/// The symmetric rank-k update <c>U += GᵀG</c> of the features' second moment (a BLAS syrk), for one block of R feature
/// rows packed as <see cref="FeaturePanels{T}"/> lays them out (<c>G[q][r][lane]</c>). The project's own micro-kernel
/// rather than a BLAS: the rows are produced block by block in this very layout (a BLAS would repack them), the block
/// sum is widened into a double U after every block (a float32 BLAS would keep the sum in float32), and the kernel is
/// the same on every machine .NET runs on.
/// <para>Micro-tile: 8 features i (broadcast from their panel) × 3 panels of features j (three vectors), 24 vector
/// accumulators in registers across the block's R rows: per row 3 vector loads and 8 broadcasts feed 24 FMAs. Only
/// tiles that reach the upper triangle are computed; <see cref="Mirror"/> copies it down once at the end. Tiles are
/// shared among threads by column groups of U, and every entry sums its blocks in block order, so the result is the same
/// bit for bit on any number of threads.</para>
/// </summary>
internal static unsafe class SymmetricRankUpdate<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Features i per micro-tile.</summary>
    public const int TileRows = 8;

    private static int W => Vector512<T>.Count;

    /// <summary>Panels of features j per micro-tile.</summary>
    public const int TilePanels = 3;

    /// <summary>
    /// U[i, j] += Σ_{r &lt; rows} G[r, i] G[r, j] for every i ≤ j &lt; p (and some i &gt; j beside the diagonal, which
    /// <see cref="Mirror"/> overwrites). <paramref name="g"/> holds Q + <see cref="TilePanels"/> − 1 panels of
    /// <paramref name="rowStride"/> rows, the extra ones all zero (partners of the last panels). Threads take column groups
    /// of <see cref="TilePanels"/> panels: a group's panels (3·R·W values) stay in the first-level cache while the 8-feature
    /// row tiles above the diagonal stream past them.
    /// </summary>
    public static void Update(ReadOnlySpan<T> g, int panels, int rows, int rowStride, int p, double[] u, int maxDegreeOfParallelism)
    {
        int groups = (panels + TilePanels - 1) / TilePanels;
        fixed (T* gp = g)
        fixed (double* up = u)
        {
            T* gBase = gp;
            double* uBase = up;
            // the last groups carry the most row tiles: hand groups out one by one, last first, so both threads stay busy
            Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, index =>
            {
                int group = groups - 1 - index, w = W;
                int q0 = group * TilePanels, j0 = q0 * w, jEnd = Math.Min(p, j0 + TilePanels * w);
                long panelStride = (long)rowStride * w;
                T* b = gBase + q0 * panelStride;
                T* sums = stackalloc T[TileRows * TilePanels * Vector512<T>.Count];
                for (int i0 = 0; i0 < jEnd; i0 += TileRows)
                {
                    T* a = gBase + (i0 / w) * panelStride + i0 % w;
                    Tile(a, b, b + panelStride, b + 2 * panelStride, rows, sums);
                    AddUpper(sums, uBase, p, i0, j0);
                }
            });
        }
    }

    /// <summary>Copies the upper triangle of the P×P matrix <paramref name="u"/> onto the lower.</summary>
    public static void Mirror(double[] u, int p)
    {
        for (int i = 0; i < p; i++)
            for (int j = i + 1; j < p; j++)
                u[(long)j * p + i] = u[(long)i * p + j];
    }

    /// <summary>The micro-kernel: the 8×3W tile's sums over the rows into <paramref name="sums"/> (row-major, 3W per row). It
    /// holds nothing but the loop and the final stores, so the JIT keeps the 24 accumulators in registers (a stackalloc or
    /// the widening loop in the same method made it spill every accumulator after every FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(T* a, T* b0, T* b1, T* b2, int rows, T* sums)
    {
        int w = W;
        Vector512<T> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default,
            c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default,
            c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default,
            c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
        for (int r = 0; r < rows; r++)
        {
            T* ar = a + (long)r * w;
            long at = (long)r * w;
            var x = Vector512.Load(b0 + at);
            var y = Vector512.Load(b1 + at);
            var z = Vector512.Load(b2 + at);
            var s = Vector512.Create(ar[0]);
            c00 = Simd<T>.Fma(s, x, c00); c01 = Simd<T>.Fma(s, y, c01); c02 = Simd<T>.Fma(s, z, c02);
            s = Vector512.Create(ar[1]);
            c10 = Simd<T>.Fma(s, x, c10); c11 = Simd<T>.Fma(s, y, c11); c12 = Simd<T>.Fma(s, z, c12);
            s = Vector512.Create(ar[2]);
            c20 = Simd<T>.Fma(s, x, c20); c21 = Simd<T>.Fma(s, y, c21); c22 = Simd<T>.Fma(s, z, c22);
            s = Vector512.Create(ar[3]);
            c30 = Simd<T>.Fma(s, x, c30); c31 = Simd<T>.Fma(s, y, c31); c32 = Simd<T>.Fma(s, z, c32);
            s = Vector512.Create(ar[4]);
            c40 = Simd<T>.Fma(s, x, c40); c41 = Simd<T>.Fma(s, y, c41); c42 = Simd<T>.Fma(s, z, c42);
            s = Vector512.Create(ar[5]);
            c50 = Simd<T>.Fma(s, x, c50); c51 = Simd<T>.Fma(s, y, c51); c52 = Simd<T>.Fma(s, z, c52);
            s = Vector512.Create(ar[6]);
            c60 = Simd<T>.Fma(s, x, c60); c61 = Simd<T>.Fma(s, y, c61); c62 = Simd<T>.Fma(s, z, c62);
            s = Vector512.Create(ar[7]);
            c70 = Simd<T>.Fma(s, x, c70); c71 = Simd<T>.Fma(s, y, c71); c72 = Simd<T>.Fma(s, z, c72);
        }
        int n = TilePanels * w;
        c00.Store(sums); c01.Store(sums + w); c02.Store(sums + 2 * w);
        c10.Store(sums + n); c11.Store(sums + n + w); c12.Store(sums + n + 2 * w);
        c20.Store(sums + 2 * n); c21.Store(sums + 2 * n + w); c22.Store(sums + 2 * n + 2 * w);
        c30.Store(sums + 3 * n); c31.Store(sums + 3 * n + w); c32.Store(sums + 3 * n + 2 * w);
        c40.Store(sums + 4 * n); c41.Store(sums + 4 * n + w); c42.Store(sums + 4 * n + 2 * w);
        c50.Store(sums + 5 * n); c51.Store(sums + 5 * n + w); c52.Store(sums + 5 * n + 2 * w);
        c60.Store(sums + 6 * n); c61.Store(sums + 6 * n + w); c62.Store(sums + 6 * n + 2 * w);
        c70.Store(sums + 7 * n); c71.Store(sums + 7 * n + w); c72.Store(sums + 7 * n + 2 * w);
    }

    /// <summary>The tile's sums into double U, upper triangle only: rounding in T spans one block of rows, never the whole fit.</summary>
    private static void AddUpper(T* sums, double* u, int p, int i0, int j0)
    {
        int n = TilePanels * W;
        int jEnd = Math.Min(j0 + n, p);
        for (int ii = 0; ii < TileRows && i0 + ii < p; ii++)
        {
            double* row = u + (long)(i0 + ii) * p;
            T* src = sums + ii * n - j0;
            int j = Math.Max(j0, i0 + ii);
            if (j == j0)
            {
                // a row of the tile wholly above the diagonal: widen and add a vector at a time (a scalar loop here cost
                // as much as a sixth of the tile's FMAs)
                for (; j + 16 <= jEnd; j += 16)
                {
                    Vector512<double> lo, hi;
                    if (typeof(T) == typeof(float))
                        (lo, hi) = Vector512.Widen(Vector512.Load((float*)src + j));
                    else
                        (lo, hi) = (Vector512.Load((double*)src + j), Vector512.Load((double*)src + j + 8));
                    (Vector512.Load(row + j) + lo).Store(row + j);
                    (Vector512.Load(row + j + 8) + hi).Store(row + j + 8);
                }
            }
            for (; j < jEnd; j++)
                row[j] += double.CreateTruncating(src[j]);
        }
    }
}
