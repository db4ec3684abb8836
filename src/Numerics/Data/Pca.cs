using System.Numerics.Tensors;
using Kernels.Numerics.Geometry;

namespace Kernels.Numerics.Data;

/// <summary>
/// Principal component analysis: the linear stand-in for an autoencoder's latent space. A fit keeps the mean μ and the
/// top-k principal directions U (k×D, orthonormal rows, descending variance, each row's largest-magnitude component
/// positive); <see cref="Encode"/> maps x ↦ U(x − μ) and <see cref="Decode"/> maps z ↦ μ + Uᵀz, so Decode(Encode(x)) is
/// the orthogonal projection of x onto the principal flat. Immutable and thread-safe; everything is float64.
/// </summary>
public sealed class Pca
{
    private readonly double[] _mean, _components, _variance;

    private Pca(double[] mean, double[] components, double[] variance, int dimension, int count, double totalVariance)
    {
        _mean = mean;
        _components = components;
        _variance = variance;
        Dimension = dimension;
        Components = variance.Length;
        SampleCount = count;
        TotalVariance = totalVariance;
    }

    /// <summary>
    /// Fits PCA to <paramref name="count"/> rows of <paramref name="data"/>. The eigenproblem is the smaller of the N×N
    /// Gram matrix and the D×D covariance matrix (MathNet's symmetric eigendecomposition): cost O(N·min(N, D)·D) plus
    /// O(min(N, D)³). Fashion-MNIST's 60 000×784 takes the 784×784 covariance path.
    /// </summary>
    /// <param name="data">count×dimension row-major, every value finite.</param>
    /// <param name="count">N ≥ 1.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="components">k, 1 ≤ k ≤ min(N, D).</param>
    public static Pca Fit(ReadOnlySpan<double> data, int count, int dimension, int components)
    {
        if (dimension < 1)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be >= 1.");
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "PCA needs at least one row; pass count >= 1.");
        if (data.Length != (long)count * dimension)
            throw new ArgumentException(
                $"data has {data.Length} values but count×dimension = {count}×{dimension} = {(long)count * dimension}; pass a count×dimension row-major matrix.",
                nameof(data));
        int most = Math.Min(count, dimension);
        if (components < 1 || components > most)
            throw new ArgumentOutOfRangeException(nameof(components), components,
                $"The number of components must satisfy 1 <= k <= min(N, D) = {most}; pass a k in that range.");
        Guard.RequireFinite(data, dimension, nameof(data), "data");

        var mean = new double[dimension];
        var directions = new double[components * dimension];
        var lambda = new double[components];
        PrincipalAxes.Fit(data, count, dimension, components, mean, directions, lambda);
        double denominator = Math.Max(count - 1, 1);
        double total = 0;
        for (int i = 0; i < count; i++)
            for (int a = 0; a < dimension; a++)
            {
                double c = data[i * dimension + a] - mean[a];
                total += c * c;
            }
        for (int t = 0; t < components; t++)
            lambda[t] /= denominator;
        return new Pca(mean, directions, lambda, dimension, count, total / denominator);
    }

    /// <summary>D, the data dimension.</summary>
    public int Dimension { get; }

    /// <summary>k, the number of components.</summary>
    public int Components { get; }

    /// <summary>N, the number of rows the fit saw.</summary>
    public int SampleCount { get; }

    /// <summary>μ, the mean row (D values).</summary>
    public ReadOnlySpan<double> Mean => _mean;

    /// <summary>U, the principal directions: k×D row-major, orthonormal rows.</summary>
    public ReadOnlySpan<double> Directions => _components;

    /// <summary>The variance along each component (eigenvalue/(N − 1); /1 when N = 1), descending, k values.</summary>
    public ReadOnlySpan<double> ExplainedVariance => _variance;

    /// <summary>The total variance Σ_a Var(x_a) = tr(covariance), the denominator of <see cref="ExplainedVarianceRatio"/>.</summary>
    public double TotalVariance { get; }

    /// <summary>Each component's share of <see cref="TotalVariance"/> (0 when the data are constant).</summary>
    public double[] ExplainedVarianceRatio()
    {
        var ratio = new double[Components];
        for (int t = 0; t < Components; t++)
            ratio[t] = TotalVariance > 0 ? _variance[t] / TotalVariance : 0;
        return ratio;
    }

    /// <summary>The codes U(x − μ) of each row: count×k row-major, in parallel over rows.</summary>
    /// <param name="data">M×D row-major, finite.</param>
    public double[] Encode(ReadOnlySpan<double> data)
    {
        int m = Guard.RowCount(data, Dimension, nameof(data));
        Guard.RequireFinite(data, Dimension, nameof(data), "data");
        var input = data.ToArray();
        var codes = new double[(long)m * Components];
        int dim = Dimension, k = Components;
        Parallel.For(0, m, () => new double[dim], (i, _, centred) =>
        {
            TensorPrimitives.Subtract(input.AsSpan(i * dim, dim), _mean, centred);
            for (int t = 0; t < k; t++)
                codes[i * k + t] = TensorPrimitives.Dot(_components.AsSpan(t * dim, dim), centred);
            return centred;
        }, _ => { });
        return codes;
    }

    /// <summary>μ + Uᵀz for each row z of <paramref name="codes"/>: count×D row-major.</summary>
    /// <param name="codes">M×k row-major, finite.</param>
    public double[] Decode(ReadOnlySpan<double> codes)
    {
        int m = Guard.RowCount(codes, Components, nameof(codes));
        Guard.RequireFinite(codes, Components, nameof(codes), "code");
        var input = codes.ToArray();
        var data = new double[(long)m * Dimension];
        int dim = Dimension, k = Components;
        Parallel.For(0, m, i =>
        {
            var row = data.AsSpan(i * dim, dim);
            _mean.CopyTo(row);
            for (int t = 0; t < k; t++)
                TensorPrimitives.MultiplyAdd(_components.AsSpan(t * dim, dim), input[i * k + t], row, row);
        });
        return data;
    }

    /// <summary>The principal flat as an <see cref="AffineSubspace"/> (needs k &lt; D), for distances and tangents.</summary>
    public AffineSubspace ToSubspace()
    {
        if (Components >= Dimension)
            throw new InvalidOperationException($"This PCA keeps all {Dimension} dimensions; a proper flat needs k < D. Fit fewer components.");
        return new AffineSubspace(_mean, _components);
    }
}
