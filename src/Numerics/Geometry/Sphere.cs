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
    /// Uniform on the sphere (its surface measure): d + 1 Philox standard normals, normalised. The other coordinates
    /// are 0.
    /// </summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed)
    {
        RequireSampleCount(count);
        int m = IntrinsicDimension + 1, dim = Dimension;
        var points = new double[(long)count * dim];
        Span<double> z = stackalloc double[m];
        for (int i = 0; i < count; i++)
        {
            // A zero vector has probability 0 but would divide by 0: redraw under a shifted index.
            for (int attempt = 0; ; attempt++)
            {
                Normals(seed + (ulong)attempt * 0x9E3779B97F4A7C15UL, i, z);
                double norm = Orthonormal.Norm(z);
                if (norm > 0)
                {
                    for (int a = 0; a < m; a++)
                        points[i * dim + a] = Radius * (z[a] / norm);
                    break;
                }
            }
        }
        return points;
    }

    /// <summary>
    /// d = 1: θ_k = 2πk/count in the (0, 1) plane. d = 2: the Fibonacci lattice, equal-area rather than a product
    /// grid (z_k = 1 − (2k + 1)/count, azimuth k·π(3 − √5)), any count. d ≥ 3: the product grid of hyperspherical
    /// angles, m per angle (count = m^d): polar angles φ_j = (j + ½)π/m, the last (azimuth) 2πj/m.
    /// </summary>
    /// <param name="count">The number of points, ≥ 1 (d ≥ 3: a perfect d-th power).</param>
    public override double[] Grid(int count)
    {
        RequireGridCount(count);
        int d = IntrinsicDimension, dim = Dimension;
        double[] points;
        if (d == 1)
        {
            points = new double[(long)count * dim];
            for (int k = 0; k < count; k++)
            {
                var (sin, cos) = Math.SinCos(2 * Math.PI * k / count);
                points[k * dim] = Radius * cos;
                points[k * dim + 1] = Radius * sin;
            }
            return points;
        }
        if (d == 2)
        {
            points = new double[(long)count * dim];
            double golden = Math.PI * (3 - Math.Sqrt(5));
            for (int k = 0; k < count; k++)
            {
                double z = 1 - (2.0 * k + 1) / count;
                double rho = Math.Sqrt(Math.Max(0, 1 - z * z));
                var (sin, cos) = Math.SinCos(golden * k);
                points[k * dim] = Radius * rho * cos;
                points[k * dim + 1] = Radius * rho * sin;
                points[k * dim + 2] = Radius * z;
            }
            return points;
        }
        int side = ProductGridSide(count);
        points = new double[(long)count * dim];
        Span<int> digits = stackalloc int[d];
        for (int k = 0; k < count; k++)
        {
            int rest = k;
            for (int j = d - 1; j >= 0; j--)
            {
                digits[j] = rest % side;
                rest /= side;
            }
            // x_0 = cos φ_1, x_1 = sin φ_1 cos φ_2, …, x_{d−1} = sin φ_1 … sin φ_{d−1} cos φ_d, x_d = … sin φ_d.
            double prefix = Radius;
            for (int j = 0; j < d; j++)
            {
                double angle = j < d - 1 ? (digits[j] + 0.5) * Math.PI / side : 2 * Math.PI * digits[j] / side;
                var (sin, cos) = Math.SinCos(angle);
                points[k * dim + j] = prefix * cos;
                prefix *= sin;
            }
            points[k * dim + d] = prefix;
        }
        return points;
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
