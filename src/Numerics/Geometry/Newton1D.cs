namespace Kernels.Numerics.Geometry;

/// <summary>A smooth objective of one parameter with its first two derivatives.</summary>
internal interface IObjective1D
{
    /// <summary>(f, f′, f″) at <paramref name="t"/>.</summary>
    (double Value, double Slope, double Curvature) Evaluate(double t);
}

/// <summary>
/// Safeguarded Newton minimisation of a smooth function on a bracket [a, b] holding a local minimum (a discrete
/// minimum of a grid and its two neighbours): Newton steps on f′ = 0 while f″ &gt; 0 and the step stays inside the
/// bracket, bisection of the bracket otherwise; the bracket shrinks to the side where f′ changes sign. It stops
/// when a step is below 4ε(|t| + scale) (float64 accuracy of the parameter: Newton is quadratic, so the step
/// before is ~√ of the error) or after 100 iterations; it returns the last iterate unless that is worse than the start.
/// </summary>
internal static class Newton1D
{
    public static (double T, double Value) Minimize<TObjective>(ref TObjective objective, double a, double b, double start, double scale)
        where TObjective : IObjective1D, allows ref struct
    {
        double t = start;
        var (f0, slope, curvature) = objective.Evaluate(t);
        double f = f0;
        for (int iteration = 0; iteration < 100; iteration++)
        {
            if (slope == 0)
                break;
            if (slope > 0)
                b = Math.Min(b, t);
            else
                a = Math.Max(a, t);
            double next = curvature > 0 ? t - slope / curvature : double.NaN;
            if (!(next > a && next < b))
                next = 0.5 * (a + b);
            double step = next - t;
            t = next;
            (f, slope, curvature) = objective.Evaluate(t);
            if (Math.Abs(step) <= 4 * double.Epsilon + 4e-16 * (Math.Abs(t) + scale) || b - a <= 4e-16 * (Math.Abs(t) + scale))
                break;
        }
        // The last iterate, not the one of least f: near the minimum f is flat to rounding over a √ε-wide interval,
        // while the root of f′ is located to ε. Only a divergence (f clearly above the start) falls back.
        return f <= f0 + 8e-16 * Math.Abs(f0) ? (t, f) : (start, f0);
    }
}
