using System.Numerics;
using System.Numerics.Tensors;

namespace Kernels.Numerics.Geometry;

/// <summary>The mean and leading principal directions of a point set: shared by <see cref="AffineSubspace.Fit{T}"/> and PCA.</summary>
internal static class PrincipalAxes
{
    /// <summary>
    /// Writes the mean (D values), the top-k principal directions (k×D, orthonormal, descending variance, each with its
    /// largest-magnitude component positive) and, when <paramref name="eigenvalues"/> is not empty, the k leading
    /// eigenvalues of the scatter matrix Σ_i (y_i − ȳ)(y_i − ȳ)ᵀ. Decomposes the smaller of the N×N Gram matrix
    /// (N ≤ D; one centred N×D copy) and the D×D scatter matrix (N &gt; D; streamed over blocks of 256 points, no N×D
    /// copy). Cost O(N·min(N, D)·D) plus one symmetric eigendecomposition of size min(N, D).
    /// </summary>
    public static void Fit<T>(ReadOnlySpan<T> rows, int n, int dim, int k, Span<double> mean, Span<double> directions, Span<double> eigenvalues)
        where T : unmanaged, INumberBase<T>
    {
        mean[..dim].Clear();
        AddSums(rows[..(n * dim)], dim, mean);
        for (int a = 0; a < dim; a++)
            mean[a] /= n;

        if (n <= dim)
        {
            var centred = new double[(long)n * dim];
            for (int i = 0; i < centred.Length; i++)
                centred[i] = double.CreateChecked(rows[i]) - mean[i % dim];
            LocalPca.PrincipalDirections(centred, n, dim, k, directions, eigenvalues);
            return;
        }
        var scatter = new double[(long)dim * dim];
        AddScatter(rows[..(n * dim)], dim, mean, scatter);
        FromScatter(scatter, n, dim, k, directions, eigenvalues);
    }

    /// <summary>Adds Σ_i y_i over the rows (in row order) to <paramref name="sums"/> (D values).</summary>
    public static void AddSums<T>(ReadOnlySpan<T> rows, int dim, Span<double> sums) where T : unmanaged, INumberBase<T>
    {
        int n = rows.Length / dim;
        for (int i = 0; i < n; i++)
            for (int a = 0; a < dim; a++)
                sums[a] += double.CreateChecked(rows[i * dim + a]);
    }

    /// <summary>
    /// Adds Σ_i (y_i − c)(y_i − c)ᵀ over the rows to the upper triangle of the D×D row-major <paramref name="scatter"/>,
    /// streamed over blocks of 256 centred points (no N×D copy). Row a of the scatter matrix belongs to one thread and
    /// sums the points in index order, so the result is the same bits whatever the thread count.
    /// </summary>
    public static void AddScatter<T>(ReadOnlySpan<T> rows, int dim, ReadOnlySpan<double> centre, double[] scatter) where T : unmanaged, INumberBase<T>
    {
        const int block = 256;
        int n = rows.Length / dim;
        var y = new double[block * dim];
        var centreCopy = centre[..dim].ToArray();
        for (int start = 0; start < n; start += block)
        {
            int count = Math.Min(block, n - start);
            for (int i = 0; i < count; i++)
                for (int a = 0; a < dim; a++)
                    y[i * dim + a] = double.CreateChecked(rows[(start + i) * dim + a]) - centreCopy[a];
            Parallel.For(0, dim, a =>
            {
                var row = scatter.AsSpan(a * dim + a, dim - a);
                for (int i = 0; i < count; i++)
                {
                    double ya = y[i * dim + a];
                    if (ya != 0)
                        TensorPrimitives.MultiplyAdd(y.AsSpan(i * dim + a, dim - a), ya, row, row);
                }
            });
        }
    }

    /// <summary>The top-k directions (and eigenvalues) of an upper-triangular scatter matrix of n points; mirrors it in place.</summary>
    public static void FromScatter(double[] scatter, long n, int dim, int k, Span<double> directions, Span<double> eigenvalues)
    {
        LocalPca.MirrorUpper(scatter, dim);
        LocalPca.FromSymmetric(scatter, dim, ReadOnlySpan<double>.Empty, (int)Math.Min(n, int.MaxValue), dim, k, directions, eigenvalues);
    }
}
