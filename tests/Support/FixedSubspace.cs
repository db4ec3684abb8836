using Kernels.Numerics.Geometry;

namespace Kernels.Tests.Support;

/// <summary>A constant random d-dimensional subspace of R^D as a tangent-space field (orthonormalised by Gram–Schmidt).</summary>
public sealed class FixedSubspace : ITangentSpace
{
    private readonly double[] _basis;

    public FixedSubspace(int dimension, int tangentDimension, int seed)
    {
        Dimension = dimension;
        MaxTangentDimension = tangentDimension;
        var rng = new Random(seed);
        _basis = new double[tangentDimension * dimension];
        for (int t = 0; t < tangentDimension; t++)
        {
            var row = _basis.AsSpan(t * dimension, dimension);
            for (int j = 0; j < dimension; j++) row[j] = Problem.Gaussian(rng);
            for (int pass = 0; pass < 2; pass++)
            {
                for (int s = 0; s < t; s++)
                {
                    var other = _basis.AsSpan(s * dimension, dimension);
                    double dot = 0;
                    for (int j = 0; j < dimension; j++) dot += row[j] * other[j];
                    for (int j = 0; j < dimension; j++) row[j] -= dot * other[j];
                }
                double norm = ErrorBound.Norm(row);
                for (int j = 0; j < dimension; j++) row[j] /= norm;
            }
        }
    }

    public int Dimension { get; }

    public int MaxTangentDimension { get; }

    public int TangentBasis(ReadOnlySpan<double> x, Span<double> basis)
    {
        _basis.CopyTo(basis);
        return MaxTangentDimension;
    }

    /// <summary>The dense kernel covariance h_T² B Bᵀ + h_N² (I − B Bᵀ), D×D, for the float64 reference.</summary>
    public static double[] DenseCovariance(ITangentSpace tangents, ReadOnlySpan<double> x, double tangentScale, double normalScale)
    {
        int d = tangents.Dimension;
        var basis = new double[tangents.MaxTangentDimension * d];
        int rank = tangents.TangentBasis(x, basis);
        var c = new double[d * d];
        for (int i = 0; i < d; i++) c[i * d + i] = normalScale * normalScale;
        for (int t = 0; t < rank; t++)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++)
                    c[i * d + j] += (tangentScale * tangentScale - normalScale * normalScale) * basis[t * d + i] * basis[t * d + j];
        return c;
    }
}
