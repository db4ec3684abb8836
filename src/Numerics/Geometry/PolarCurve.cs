namespace Kernels.Numerics.Geometry;

/// <summary>
/// A closed star-shaped curve c(θ) = r(θ)(cos θ, sin θ) with r &gt; 0, in the plane of coordinates 0 and 1 of R^D.
/// <para>
/// Projection is exact to float64: the squared distance g(θ) = ‖x − c(θ)‖² is tabulated on a dense grid of
/// <see cref="SearchPoints"/> angles, and every discrete local minimum of the table is polished by safeguarded
/// Newton on g′(θ) = 0 inside its two neighbouring grid cells; the smallest polished value wins (the lowest grid
/// angle on exact ties). A minimum is missed only if its basin is narrower than the grid spacing, which the
/// subclasses rule out by their choice of the grid size.
/// </para>
/// A point's parameter is its polar angle, so <see cref="TangentBasisAt"/> needs no search. Sampling is uniform in θ
/// (the parameter measure, not arc length).
/// </summary>
public abstract class PolarCurve : Manifold
{
    private readonly double[] _cos, _sin, _radius;

    /// <summary>Tabulates the search grid.</summary>
    /// <param name="dimension">The ambient dimension D ≥ 2.</param>
    /// <param name="searchPoints">The grid size for projections, ≥ 16.</param>
    private protected PolarCurve(int dimension, int searchPoints)
        : base(dimension, 1)
    {
        SearchPoints = searchPoints;
        _cos = new double[searchPoints];
        _sin = new double[searchPoints];
        _radius = new double[searchPoints];
    }

    /// <summary>Fills the search table; call at the end of a subclass constructor (once r is defined).</summary>
    private protected void Tabulate()
    {
        for (int k = 0; k < SearchPoints; k++)
        {
            double theta = 2 * Math.PI * k / SearchPoints;
            (_sin[k], _cos[k]) = Math.SinCos(theta);
            _radius[k] = Radius(theta).R;
        }
    }

    /// <summary>The number of grid angles a projection starts from.</summary>
    public int SearchPoints { get; }

    /// <summary>r(θ) and its first two derivatives.</summary>
    /// <param name="theta">The angle.</param>
    public abstract (double R, double Slope, double Curvature) Radius(double theta);

    /// <summary>Writes c(θ) into <paramref name="point"/> (D values; coordinates ≥ 2 are 0).</summary>
    /// <param name="theta">The angle.</param>
    /// <param name="point">Receives D values.</param>
    public void PointAt(double theta, Span<double> point)
    {
        RequireDestination(point, nameof(point));
        double r = Radius(theta).R;
        var (sin, cos) = Math.SinCos(theta);
        point[..Dimension].Clear();
        point[0] = r * cos;
        point[1] = r * sin;
    }

    /// <summary>The angle θ ∈ [0, 2π) of the nearest curve point to <paramref name="x"/> (see the class remarks).</summary>
    /// <param name="x">A point of R^D (length D).</param>
    public double Locate(ReadOnlySpan<double> x)
    {
        RequirePoint(x, nameof(x));
        double px = x[0], py = x[1];
        int n = SearchPoints;
        double step = 2 * Math.PI / n;
        double bestT = 0, bestF = double.PositiveInfinity;
        var objective = new Objective(this, px, py);
        for (int k = 0; k < n; k++)
        {
            double g = Squared(k, px, py);
            if (g > Squared((k + n - 1) % n, px, py) || g > Squared((k + 1) % n, px, py))
                continue;
            double theta = k * step;
            // Polishing from each discrete minimum; the others are only cheap table reads.
            var (t, f) = Newton1D.Minimize(ref objective, theta - step, theta + step, theta, 2 * Math.PI);
            if (f < bestF)
            {
                bestF = f;
                bestT = t;
            }
        }
        bestT %= 2 * Math.PI;
        return bestT < 0 ? bestT + 2 * Math.PI : bestT;
    }

    /// <summary>c(θ*) for θ* = <see cref="Locate"/>(x); coordinates ≥ 2 are 0.</summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequireDestination(point, nameof(point));
        PointAt(Locate(x), point);
    }

    /// <summary>
    /// The unit tangent c′(θ)/‖c′(θ)‖ at the polar angle θ of <paramref name="point"/>, c′ = r′(cos θ, sin θ) + r(−sin θ, cos θ)
    /// (θ = 0 at the origin).
    /// </summary>
    /// <param name="point">A point of the curve (length D).</param>
    /// <param name="basis">Receives D values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        double theta = point[0] == 0 && point[1] == 0 ? 0 : Math.Atan2(point[1], point[0]);
        var (r, r1, _) = Radius(theta);
        var (sin, cos) = Math.SinCos(theta);
        double tx = r1 * cos - r * sin, ty = r1 * sin + r * cos;
        double len = double.Hypot(tx, ty);
        basis[..Dimension].Clear();
        basis[0] = tx / len;
        basis[1] = ty / len;
    }

    /// <summary>θ uniform on [0, 2π): one Philox uniform per point.</summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed) => SampleAngles(count, seed, PointAt);

    /// <summary>θ_k = 2πk/count, k = 0 … count − 1.</summary>
    /// <param name="count">The number of points, ≥ 1.</param>
    public override double[] Grid(int count) => GridAngles(count, PointAt);

    private double Squared(int k, double px, double py)
    {
        double dx = px - _radius[k] * _cos[k], dy = py - _radius[k] * _sin[k];
        return dx * dx + dy * dy;
    }

    /// <summary>g(θ) = ‖p − c(θ)‖² in the plane, g′ = −2⟨p − c, c′⟩, g″ = 2(‖c′‖² − ⟨p − c, c″⟩).</summary>
    private readonly struct Objective(PolarCurve curve, double px, double py) : IObjective1D
    {
        public (double Value, double Slope, double Curvature) Evaluate(double theta)
        {
            var (r, r1, r2) = curve.Radius(theta);
            var (sin, cos) = Math.SinCos(theta);
            double ex = px - r * cos, ey = py - r * sin;
            double c1x = r1 * cos - r * sin, c1y = r1 * sin + r * cos;
            double c2x = (r2 - r) * cos - 2 * r1 * sin, c2y = (r2 - r) * sin + 2 * r1 * cos;
            return (ex * ex + ey * ey, -2 * (ex * c1x + ey * c1y), 2 * (c1x * c1x + c1y * c1y - ex * c2x - ey * c2y));
        }
    }
}

/// <summary>
/// The wavy circle r(θ) = 1 + A sin(fθ) in the (0, 1) plane of R^D: a unit circle with f bumps of relative height A.
/// Projection searches 64·max(f, 4) grid angles (at least 16 per wave, finer than any local minimum's basin).
/// </summary>
public sealed class WavyCircle : PolarCurve
{
    /// <summary>Creates the curve.</summary>
    /// <param name="amplitude">A, finite, 0 ≤ A &lt; 1 (so r &gt; 0).</param>
    /// <param name="frequency">f ≥ 1, the number of waves around the circle.</param>
    /// <param name="dimension">The ambient dimension D ≥ 2.</param>
    public WavyCircle(double amplitude, int frequency, int dimension = 2)
        : base(dimension, 64 * Math.Max(CheckedFrequency(frequency), 4))
    {
        if (!double.IsFinite(amplitude) || amplitude < 0 || amplitude >= 1)
            throw new ArgumentOutOfRangeException(nameof(amplitude), amplitude,
                "The amplitude A must satisfy 0 <= A < 1 so that r(θ) = 1 + A sin(fθ) stays positive.");
        Amplitude = amplitude;
        Frequency = frequency;
        Tabulate();
    }

    /// <summary>A, the relative height of the waves.</summary>
    public double Amplitude { get; }

    /// <summary>f, the number of waves.</summary>
    public int Frequency { get; }

    /// <inheritdoc/>
    public override (double R, double Slope, double Curvature) Radius(double theta)
    {
        var (sin, cos) = Math.SinCos(Frequency * theta);
        return (1 + Amplitude * sin, Amplitude * Frequency * cos, -Amplitude * Frequency * Frequency * sin);
    }

    private static int CheckedFrequency(int frequency) =>
        frequency is >= 1 and <= 1 << 16 ? frequency
            : throw new ArgumentOutOfRangeException(nameof(frequency), frequency, "The frequency f must be an integer in 1 … 65536.");
}

/// <summary>
/// A lima-bean-shaped closed curve: r(θ) = s(1 + 0.25 cos 2θ + 0.2 sin θ) in the (0, 1) plane of R^D. The cos 2θ term
/// stretches it along axis 0 (r = 1.25s at θ = 0, π), the sin θ term makes it lopsided: the top (θ = π/2, r = 0.95s)
/// is convex and the bottom (θ = −π/2, r = 0.55s) is dented inwards (there r &lt; r″, so the curvature changes sign),
/// which is what makes it a bean and not an ellipse. Projection searches 512 grid angles.
/// </summary>
public sealed class LimaBean : PolarCurve
{
    /// <summary>Creates the bean.</summary>
    /// <param name="scale">s, finite and &gt; 0: the half-length is 1.25s.</param>
    /// <param name="dimension">The ambient dimension D ≥ 2.</param>
    public LimaBean(double scale = 1, int dimension = 2)
        : base(dimension, 512)
    {
        if (!double.IsFinite(scale) || scale <= 0)
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "The scale must be finite and > 0.");
        Scale = scale;
        Tabulate();
    }

    /// <summary>s, the scale.</summary>
    public double Scale { get; }

    /// <inheritdoc/>
    public override (double R, double Slope, double Curvature) Radius(double theta)
    {
        var (sin2, cos2) = Math.SinCos(2 * theta);
        var (sin, cos) = Math.SinCos(theta);
        return (Scale * (1 + 0.25 * cos2 + 0.2 * sin), Scale * (-0.5 * sin2 + 0.2 * cos), Scale * (-cos2 - 0.2 * sin));
    }
}
