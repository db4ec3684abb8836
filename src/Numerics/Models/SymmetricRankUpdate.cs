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
/// <para>Micro-tile: 8 features i (broadcast from their panel) × 2 panels of features j (two vectors), sixteen vector
/// accumulators in registers across the block's R rows: per row 2 vector loads and 8 broadcasts feed 16 FMAs. Only
/// tiles that reach the upper triangle are computed; <see cref="Mirror"/> copies it down once at the end. Tiles are
/// shared among threads by rows of U, and every entry sums its blocks in block order, so the result is the same bit for
/// bit on any number of threads.</para>
/// </summary>
internal static unsafe class SymmetricRankUpdate<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Features i per micro-tile.</summary>
    public const int TileRows = 8;

    private static int W => Vector512<T>.Count;

    /// <summary>
    /// U[i, j] += Σ_{r &lt; rows} G[r, i] G[r, j] for every i ≤ j &lt; p (and some i &gt; j beside the diagonal, which
    /// <see cref="Mirror"/> overwrites). <paramref name="g"/> holds Q + 1 panels of <paramref name="rowStride"/> rows, the last
    /// all zero (the partner of an odd last panel).
    /// </summary>
    public static void Update(ReadOnlySpan<T> g, int panels, int rows, int rowStride, int p, double[] u, int maxDegreeOfParallelism)
    {
        int tiles = (p + TileRows - 1) / TileRows;
        fixed (T* gp = g)
        fixed (double* up = u)
        {
            T* gBase = gp;
            double* uBase = up;
            // the first tiles of U carry the most j-work: hand tiles out one by one so both threads stay busy
            Parallel.For(0, tiles, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, tile =>
            {
                int i0 = tile * TileRows, w = W;
                int qa = i0 / w, laneOffset = i0 % w;
                T* a = gBase + (long)qa * rowStride * w + laneOffset;
                for (int qb = qa; qb < panels; qb += 2)
                    Tile(a, gBase + (long)qb * rowStride * w, gBase + (long)(qb + 1) * rowStride * w, rows, uBase, p, i0, qb * w);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(T* a, T* b0, T* b1, int rows, double* u, int p, int i0, int j0)
    {
        int w = W;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int r = 0; r < rows; r++)
        {
            T* ar = a + (long)r * w;
            var x = Vector512.Load(b0 + (long)r * w);
            var y = Vector512.Load(b1 + (long)r * w);
            var s = Vector512.Create(ar[0]);
            c00 = Simd<T>.Fma(s, x, c00); c01 = Simd<T>.Fma(s, y, c01);
            s = Vector512.Create(ar[1]);
            c10 = Simd<T>.Fma(s, x, c10); c11 = Simd<T>.Fma(s, y, c11);
            s = Vector512.Create(ar[2]);
            c20 = Simd<T>.Fma(s, x, c20); c21 = Simd<T>.Fma(s, y, c21);
            s = Vector512.Create(ar[3]);
            c30 = Simd<T>.Fma(s, x, c30); c31 = Simd<T>.Fma(s, y, c31);
            s = Vector512.Create(ar[4]);
            c40 = Simd<T>.Fma(s, x, c40); c41 = Simd<T>.Fma(s, y, c41);
            s = Vector512.Create(ar[5]);
            c50 = Simd<T>.Fma(s, x, c50); c51 = Simd<T>.Fma(s, y, c51);
            s = Vector512.Create(ar[6]);
            c60 = Simd<T>.Fma(s, x, c60); c61 = Simd<T>.Fma(s, y, c61);
            s = Vector512.Create(ar[7]);
            c70 = Simd<T>.Fma(s, x, c70); c71 = Simd<T>.Fma(s, y, c71);
        }
        // the block's sums leave T here: U is double, so rounding in T spans one block of rows, never the whole fit
        T* sums = stackalloc T[TileRows * 2 * Vector512<T>.Count];
        int n = 2 * w;
        c00.Store(sums); c01.Store(sums + w); c10.Store(sums + n); c11.Store(sums + n + w);
        c20.Store(sums + 2 * n); c21.Store(sums + 2 * n + w); c30.Store(sums + 3 * n); c31.Store(sums + 3 * n + w);
        c40.Store(sums + 4 * n); c41.Store(sums + 4 * n + w); c50.Store(sums + 5 * n); c51.Store(sums + 5 * n + w);
        c60.Store(sums + 6 * n); c61.Store(sums + 6 * n + w); c70.Store(sums + 7 * n); c71.Store(sums + 7 * n + w);
        int jEnd = Math.Min(j0 + n, p);
        for (int ii = 0; ii < TileRows && i0 + ii < p; ii++)
        {
            double* row = u + (long)(i0 + ii) * p;
            T* src = sums + ii * n - j0;
            for (int j = Math.Max(j0, i0 + ii); j < jEnd; j++)
                row[j] += double.CreateTruncating(src[j]);
        }
    }
}
