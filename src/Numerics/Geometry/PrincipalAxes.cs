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
        for (int i = 0; i < n; i++)
            for (int a = 0; a < dim; a++)
                mean[a] += double.CreateChecked(rows[i * dim + a]);
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
        // Stream the D×D scatter matrix over blocks of centred points. Row a of the scatter matrix belongs to one
        // thread and sums the points in index order, so the result is the same bits whatever the thread count.
        const int block = 256;
        var scatter = new double[(long)dim * dim];
        var y = new double[block * dim];
        var meanCopy = mean[..dim].ToArray();
        for (int start = 0; start < n; start += block)
        {
            int count = Math.Min(block, n - start);
            for (int i = 0; i < count; i++)
                for (int a = 0; a < dim; a++)
                    y[i * dim + a] = double.CreateChecked(rows[(start + i) * dim + a]) - meanCopy[a];
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
        LocalPca.MirrorUpper(scatter, dim);
        LocalPca.FromSymmetric(scatter, dim, ReadOnlySpan<double>.Empty, n, dim, k, directions, eigenvalues);
    }
}
