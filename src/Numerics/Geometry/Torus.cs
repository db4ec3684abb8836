namespace Kernels.Numerics.Geometry;

/// <summary>
/// The torus in R^3 about the z axis with major radius R and minor radius r (R &gt; r &gt; 0):
/// ((R + r cos φ) cos θ, (R + r cos φ) sin θ, r sin φ).
/// </summary>
public sealed class Torus : Manifold
{
    /// <summary>Creates the torus.</summary>
    /// <param name="majorRadius">R, the distance from the z axis to the tube's centre circle; finite, R &gt; r.</param>
    /// <param name="minorRadius">r, the tube's radius; finite, 0 &lt; r &lt; R (so the torus does not self-intersect).</param>
    public Torus(double majorRadius, double minorRadius)
        : base(3, 2)
    {
        if (!double.IsFinite(minorRadius) || minorRadius <= 0)
            throw new ArgumentOutOfRangeException(nameof(minorRadius), minorRadius, "The minor radius r must be finite and > 0.");
        if (!double.IsFinite(majorRadius) || majorRadius <= minorRadius)
            throw new ArgumentOutOfRangeException(nameof(majorRadius), majorRadius,
                $"The major radius R must be finite and > r = {minorRadius}; pass a larger R or a smaller r.");
        MajorRadius = majorRadius;
        MinorRadius = minorRadius;
    }

    /// <summary>R, the major radius.</summary>
    public double MajorRadius { get; }

    /// <summary>r, the minor radius.</summary>
    public double MinorRadius { get; }

    /// <summary>
    /// The nearest point: θ from the direction of (x, y), then φ from the direction of x relative to the centre circle's
    /// point at θ. On the z axis (every θ equally near) it takes θ = 0; on the centre circle (every φ equally near)
    /// it takes φ = 0, the outer equator.
    /// </summary>
    /// <param name="x">A point of R^3.</param>
    /// <param name="point">Receives 3 values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequirePoint(x, nameof(x));
        RequireDestination(point, nameof(point));
        var (cosT, sinT, cosP, sinP) = Angles(x);
        double rho = MajorRadius + MinorRadius * cosP;
        point[0] = rho * cosT;
        point[1] = rho * sinT;
        point[2] = MinorRadius * sinP;
    }

    /// <summary>The unit vectors along ∂/∂θ = (−sin θ, cos θ, 0) and ∂/∂φ = (−sin φ cos θ, −sin φ sin θ, cos φ).</summary>
    /// <param name="point">A point of the torus (3 values).</param>
    /// <param name="basis">Receives 2·3 values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        var (cosT, sinT, cosP, sinP) = Angles(point);
        basis[0] = -sinT;
        basis[1] = cosT;
        basis[2] = 0;
        basis[3] = -sinP * cosT;
        basis[4] = -sinP * sinT;
        basis[5] = cosP;
    }

    /// <summary>
    /// (θ, φ) uniform on [0, 2π)² (the parameter measure, not the surface area: the inner side is denser).
    /// </summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed)
    {
        RequireSampleCount(count);
        var points = new double[(long)count * 3];
        Span<double> u = stackalloc double[2];
        for (int i = 0; i < count; i++)
        {
            Uniforms(seed, i, u);
            At(2 * Math.PI * u[0], 2 * Math.PI * u[1], points.AsSpan(3 * i, 3));
        }
        return points;
    }

    /// <summary>The product grid θ_i = 2πi/m, φ_j = 2πj/m (count = m², θ slowest).</summary>
    /// <param name="count">The number of points, a perfect square.</param>
    public override double[] Grid(int count)
    {
        int m = ProductGridSide(count);
        var points = new double[(long)count * 3];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < m; j++)
                At(2 * Math.PI * i / m, 2 * Math.PI * j / m, points.AsSpan(3 * (i * m + j), 3));
        return points;
    }

    private void At(double theta, double phi, Span<double> point)
    {
        var (sinT, cosT) = Math.SinCos(theta);
        var (sinP, cosP) = Math.SinCos(phi);
        double rho = MajorRadius + MinorRadius * cosP;
        point[0] = rho * cosT;
        point[1] = rho * sinT;
        point[2] = MinorRadius * sinP;
    }

    private (double CosT, double SinT, double CosP, double SinP) Angles(ReadOnlySpan<double> x)
    {
        double rho = double.Hypot(x[0], x[1]);
        double cosT = 1, sinT = 0;
        if (rho > 0)
        {
            cosT = x[0] / rho;
            sinT = x[1] / rho;
        }
        double u = rho - MajorRadius, v = x[2];
        double len = double.Hypot(u, v);
        double cosP = 1, sinP = 0;
        if (len > 0)
        {
            cosP = u / len;
            sinP = v / len;
        }
        return (cosT, sinT, cosP, sinP);
    }
}
