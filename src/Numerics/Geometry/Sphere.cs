namespace Kernels.Numerics.Geometry;

/// <summary>
/// The sphere S^d of radius r about the origin in the first d + 1 coordinates of R^D:
/// { x : x₀² + … + x_d² = r², x_{d+1} = … = x_{D−1} = 0 }.
/// </summary>
public sealed class Sphere : Manifold
{
    /// <summary>Creates S^d in R^D.</summary>
    /// <param name="intrinsicDimension">The sphere's dimension d ≥ 1 (d = 1 is a circle, d = 2 the usual sphere).</param>
    /// <param name="dimension">The ambient dimension D ≥ d + 1.</param>
    /// <param name="radius">The radius r, finite and &gt; 0.</param>
    public Sphere(int intrinsicDimension, int dimension, double radius = 1)
        : base(dimension, intrinsicDimension)
    {
        if (!double.IsFinite(radius) || radius <= 0)
            throw new ArgumentOutOfRangeException(nameof(radius), radius, "The radius must be finite and > 0.");
        Radius = radius;
    }

    /// <summary>The radius r.</summary>
    public double Radius { get; }

    /// <summary>
    /// r·u/‖u‖ for u the first d + 1 coordinates of x, 0 in the others. Where u = 0 (every point is nearest) it returns
    /// r·e₀.
    /// </summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequirePoint(x, nameof(x));
        RequireDestination(point, nameof(point));
        int m = IntrinsicDimension + 1;
        double norm = Orthonormal.Norm(x[..m]);
        point[..Dimension].Clear();
        if (norm == 0)
        {
            point[0] = Radius;
            return;
        }
        for (int i = 0; i < m; i++)
            point[i] = Radius * (x[i] / norm);
    }

    /// <summary>
    /// d orthonormal rows spanning the complement of the normal n = point/‖point‖ within the first d + 1 coordinates:
    /// Gram–Schmidt (modified, two passes) of the standard vectors e_i, i ≤ d, in index order against n, leaving out
    /// the e_j most aligned with n (largest |n_j|, lowest j on ties) so that the rest are well conditioned. A zero point
    /// is taken as n = e₀, matching <see cref="Project"/>.
    /// </summary>
    /// <param name="point">A point of the sphere (length D).</param>
    /// <param name="basis">Receives d·D values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        int m = IntrinsicDimension + 1, dim = Dimension;
        var top = point[..m];
        double norm = Orthonormal.Norm(top);
        int skip = 0;
        for (int i = 1; i < m; i++)
        {
            if (Math.Abs(top[i]) > Math.Abs(top[skip]))
                skip = i;
        }
        basis[..(IntrinsicDimension * dim)].Clear();
        int row = 0;
        for (int e = 0; e < m; e++)
        {
            if (e == skip)
                continue;
            var v = basis.Slice(row * dim, dim);
            v[e] = 1;
            for (int pass = 0; pass < 2; pass++)
            {
                if (norm > 0)
                {
                    double c = 0;
                    for (int i = 0; i < m; i++)
                        c += top[i] / norm * v[i];
                    for (int i = 0; i < m; i++)
                        v[i] -= c * (top[i] / norm);
                }
                else
                {
                    v[0] = 0; // n = e0 at the zero point; e0 itself is the skipped vector.
                }
                for (int r = 0; r < row; r++)
                {
                    var u = basis.Slice(r * dim, m);
                    double c = Orthonormal.Dot(u, v[..m]);
                    for (int i = 0; i < m; i++)
                        v[i] -= c * u[i];
                }
            }
            double len = Orthonormal.Norm(v[..m]);
            for (int i = 0; i < m; i++)
                v[i] /= len;
            row++;
        }
    }
}
