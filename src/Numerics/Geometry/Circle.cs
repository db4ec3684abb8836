namespace Kernels.Numerics.Geometry;

/// <summary>
/// The circle of radius r about a centre c in the plane of coordinates 0 and 1 of R^D:
/// { (c₀ + r cos θ, c₁ + r sin θ, 0, …, 0) }. Its tangent at angle θ is (−sin θ, cos θ, 0, …, 0).
/// </summary>
public sealed class Circle : Manifold
{
    /// <summary>Creates a circle in the (0, 1) coordinate plane of R^D.</summary>
    /// <param name="radius">The radius r, finite and &gt; 0.</param>
    /// <param name="centre">The centre (c₀, c₁): two finite values; null for the origin.</param>
    /// <param name="dimension">The ambient dimension D ≥ 2.</param>
    public Circle(double radius = 1, double[]? centre = null, int dimension = 2)
        : base(dimension, 1)
    {
        if (!double.IsFinite(radius) || radius <= 0)
            throw new ArgumentOutOfRangeException(nameof(radius), radius, "The radius must be finite and > 0.");
        if (centre is not null)
        {
            if (centre.Length != 2)
                throw new ArgumentException(
                    $"centre has {centre.Length} values but a circle's centre lies in its plane; pass exactly 2 values (c0, c1).",
                    nameof(centre));
            if (!double.IsFinite(centre[0]) || !double.IsFinite(centre[1]))
                throw new ArgumentException("centre must be finite.", nameof(centre));
        }
        Radius = radius;
        CentreX = centre?[0] ?? 0;
        CentreY = centre?[1] ?? 0;
    }

    /// <summary>The radius r.</summary>
    public double Radius { get; }

    /// <summary>The centre's coordinate 0, c₀.</summary>
    public double CentreX { get; }

    /// <summary>The centre's coordinate 1, c₁.</summary>
    public double CentreY { get; }

    /// <summary>
    /// c + r (x − c)/‖x − c‖ in the plane, 0 in the other coordinates. At the centre itself, where every point of the
    /// circle is nearest, it returns the point at θ = 0, c + (r, 0).
    /// </summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequirePoint(x, nameof(x));
        RequireDestination(point, nameof(point));
        var (cos, sin) = Direction(x[0] - CentreX, x[1] - CentreY);
        point[..Dimension].Clear();
        point[0] = CentreX + Radius * cos;
        point[1] = CentreY + Radius * sin;
    }

    /// <summary>The unit tangent (−sin θ, cos θ, 0, …) at the point of angle θ (θ = 0 at the centre).</summary>
    /// <param name="point">A point of the circle (length D).</param>
    /// <param name="basis">Receives D values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        var (cos, sin) = Direction(point[0] - CentreX, point[1] - CentreY);
        basis[..Dimension].Clear();
        basis[0] = -sin;
        basis[1] = cos;
    }

    /// <summary>Angles θ uniform on [0, 2π) (the arc-length measure): point i from one Philox uniform.</summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed) => SampleAngles(count, seed, At);

    /// <summary>θ_k = 2πk/count, k = 0 … count − 1.</summary>
    /// <param name="count">The number of points, ≥ 1.</param>
    public override double[] Grid(int count) => GridAngles(count, At);

    private void At(double theta, Span<double> point)
    {
        var (sin, cos) = Math.SinCos(theta);
        point[0] = CentreX + Radius * cos;
        point[1] = CentreY + Radius * sin;
    }

    /// <summary>(cos θ, sin θ) of the direction (dx, dy); (1, 0) for the zero vector.</summary>
    private static (double Cos, double Sin) Direction(double dx, double dy)
    {
        double rho = double.Hypot(dx, dy);
        return rho > 0 ? (dx / rho, dy / rho) : (1, 0);
    }
}
