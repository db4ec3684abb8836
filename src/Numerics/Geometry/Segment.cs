namespace Kernels.Numerics.Geometry;

/// <summary>
/// The line segment { (1 − t)·start + t·end : t ∈ [0, 1] } in R^D, a 1-manifold with boundary. Its tangent is the
/// unit direction everywhere; past either end the nearest point is that end, where x − Project(x) need not be normal
/// to the tangent.
/// </summary>
public sealed class Segment : Manifold
{
    private readonly double[] _start, _end, _unit;

    /// <summary>Creates the segment from <paramref name="start"/> to <paramref name="end"/> (both copied).</summary>
    /// <param name="start">The end at t = 0 (length D ≥ 2, finite).</param>
    /// <param name="end">The end at t = 1 (length D, finite, ≠ start).</param>
    public Segment(double[] start, double[] end)
        : base(CheckedDimension(start, end), 1)
    {
        Guard.RequireFinite<double>(start, start.Length, nameof(start), "start");
        Guard.RequireFinite<double>(end, end.Length, nameof(end), "end");
        _start = (double[])start.Clone();
        _end = (double[])end.Clone();
        _unit = new double[Dimension];
        for (int a = 0; a < Dimension; a++)
            _unit[a] = end[a] - start[a];
        Length = Orthonormal.Norm(_unit);
        if (!(Length > 0) || !double.IsFinite(Length))
            throw new ArgumentException(
                Length == 0 ? "end equals start; a segment needs two distinct ends." : "end − start overflows; pass ends of moderate size.",
                nameof(end));
        for (int a = 0; a < Dimension; a++)
            _unit[a] /= Length;
    }

    /// <summary>The end at t = 0.</summary>
    public ReadOnlySpan<double> Start => _start;

    /// <summary>The end at t = 1.</summary>
    public ReadOnlySpan<double> End => _end;

    /// <summary>‖end − start‖.</summary>
    public double Length { get; }

    /// <summary>The parameter t ∈ [0, 1] of the nearest point: ⟨x − start, u⟩/L clamped, u the unit direction.</summary>
    /// <param name="x">A point of R^D (length D).</param>
    public double Locate(ReadOnlySpan<double> x)
    {
        RequirePoint(x, nameof(x));
        double c = 0;
        for (int a = 0; a < Dimension; a++)
            c += (x[a] - _start[a]) * _unit[a];
        return Math.Clamp(c / Length, 0, 1);
    }

    /// <summary>(1 − t)·start + t·end at t; both ends are reproduced exactly.</summary>
    /// <param name="t">The parameter (any value; [0, 1] stays on the segment).</param>
    /// <param name="point">Receives D values.</param>
    public void PointAt(double t, Span<double> point)
    {
        RequireDestination(point, nameof(point));
        for (int a = 0; a < Dimension; a++)
            point[a] = (1 - t) * _start[a] + t * _end[a];
    }

    /// <summary>The point at <see cref="Locate"/>(x): an end when x lies beyond it.</summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequireDestination(point, nameof(point));
        PointAt(Locate(x), point);
    }

    /// <summary>The unit direction (end − start)/L, whatever the point.</summary>
    /// <param name="point">A point of the segment (length D); only its length is used.</param>
    /// <param name="basis">Receives D values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        _unit.CopyTo(basis);
    }

    /// <summary>t uniform on (0, 1) (length measure).</summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed)
    {
        RequireSampleCount(count);
        var points = new double[(long)count * Dimension];
        Span<double> u = stackalloc double[1];
        for (int i = 0; i < count; i++)
        {
            Uniforms(seed, i, u);
            PointAt(u[0], points.AsSpan(i * Dimension, Dimension));
        }
        return points;
    }

    /// <summary>t_k = k/(count − 1), both ends included; count = 1 gives the midpoint.</summary>
    /// <param name="count">The number of points, ≥ 1.</param>
    public override double[] Grid(int count)
    {
        RequireGridCount(count);
        var points = new double[(long)count * Dimension];
        for (int k = 0; k < count; k++)
            PointAt(count == 1 ? 0.5 : (double)k / (count - 1), points.AsSpan(k * Dimension, Dimension));
        return points;
    }

    private static int CheckedDimension(double[] start, double[] end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        if (start.Length < 2)
            throw new ArgumentException($"start has {start.Length} values; a segment needs an ambient dimension D >= 2.", nameof(start));
        if (end.Length != start.Length)
            throw new ArgumentException($"end has {end.Length} values but start has {start.Length}; pass two points of the same R^D.", nameof(end));
        return start.Length;
    }
}
