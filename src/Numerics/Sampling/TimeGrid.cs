namespace Kernels.Numerics.Sampling;

/// <summary>
/// The times a reverse sampler visits, from t_max down to t_min &gt; 0 (strictly decreasing, all finite and positive):
/// uniform, geometric, the EDM ρ-grid, or any list the caller gives. Stopping at t_min &gt; 0 matters: at t → 0 the
/// empirical score pulls every sample onto a training point and is singular at σ = 0.
/// </summary>
public sealed class TimeGrid
{
    private readonly double[] _times;

    private TimeGrid(double[] times) => _times = times;

    /// <summary>The times, t_max first, strictly decreasing to t_min.</summary>
    public ReadOnlySpan<double> Times => _times;

    /// <summary>The number of steps (one less than the number of times).</summary>
    public int Steps => _times.Length - 1;

    /// <summary>The first (largest) time.</summary>
    public double Max => _times[0];

    /// <summary>The last (smallest) time.</summary>
    public double Min => _times[^1];

    /// <summary><paramref name="steps"/> equal steps from <paramref name="tMax"/> down to <paramref name="tMin"/>.</summary>
    /// <param name="tMax">The start, finite and &gt; tMin.</param>
    /// <param name="tMin">The end, finite and &gt; 0.</param>
    /// <param name="steps">Number of steps ≥ 1.</param>
    public static TimeGrid Uniform(double tMax, double tMin, int steps)
    {
        RequireRange(tMax, tMin, steps);
        var t = new double[steps + 1];
        for (int i = 0; i <= steps; i++)
            t[i] = tMax + (tMin - tMax) * i / steps;
        return Pin(t, tMax, tMin);
    }

    /// <summary>
    /// <paramref name="steps"/> steps with a constant ratio t_{i+1}/t_i from <paramref name="tMax"/> down to
    /// <paramref name="tMin"/> (equal steps in log t): fine where the score changes fast, at small t.
    /// </summary>
    /// <param name="tMax">The start, finite and &gt; tMin.</param>
    /// <param name="tMin">The end, finite and &gt; 0.</param>
    /// <param name="steps">Number of steps ≥ 1.</param>
    public static TimeGrid Geometric(double tMax, double tMin, int steps)
    {
        RequireRange(tMax, tMin, steps);
        double logMax = Math.Log(tMax), logMin = Math.Log(tMin);
        var t = new double[steps + 1];
        for (int i = 0; i <= steps; i++)
            t[i] = Math.Exp(logMax + (logMin - logMax) * i / steps);
        return Pin(t, tMax, tMin);
    }

    /// <summary>
    /// The EDM grid (Karras et al.): t_i = (t_max^{1/ρ} + i/n (t_min^{1/ρ} − t_max^{1/ρ}))^ρ, ρ = 7 by default:
    /// between uniform (ρ = 1) and geometric (ρ → ∞).
    /// </summary>
    /// <param name="tMax">The start, finite and &gt; tMin.</param>
    /// <param name="tMin">The end, finite and &gt; 0.</param>
    /// <param name="steps">Number of steps ≥ 1.</param>
    /// <param name="rho">The exponent ρ, finite and ≥ 1.</param>
    public static TimeGrid Edm(double tMax, double tMin, int steps, double rho = 7)
    {
        RequireRange(tMax, tMin, steps);
        if (!(rho >= 1) || !double.IsFinite(rho))
            throw new ArgumentOutOfRangeException(nameof(rho), rho, "rho must be finite and >= 1 (1 is the uniform grid; Karras et al. use 7).");
        double a = Math.Pow(tMax, 1 / rho), b = Math.Pow(tMin, 1 / rho);
        var t = new double[steps + 1];
        for (int i = 0; i <= steps; i++)
            t[i] = Math.Pow(a + (b - a) * i / steps, rho);
        return Pin(t, tMax, tMin);
    }

    /// <summary>A grid from the caller's times: at least two, finite, &gt; 0 and strictly decreasing.</summary>
    /// <param name="times">The times, t_max first.</param>
    public static TimeGrid FromTimes(ReadOnlySpan<double> times)
    {
        if (times.Length < 2)
            throw new ArgumentException($"times has {times.Length} value(s); a grid needs at least two (t_max and t_min).", nameof(times));
        for (int i = 0; i < times.Length; i++)
        {
            if (!(times[i] > 0) || !double.IsFinite(times[i]))
                throw new ArgumentException($"times[{i}] = {times[i]}; every time must be finite and > 0 (stop at a t_min > 0).", nameof(times));
            if (i > 0 && !(times[i] < times[i - 1]))
                throw new ArgumentException(
                    $"times[{i}] = {times[i]} is not below times[{i - 1}] = {times[i - 1]}; a reverse grid runs strictly downward from t_max to t_min.",
                    nameof(times));
        }
        return new TimeGrid(times.ToArray());
    }

    /// <summary>Parses uniform, geometric or edm (with ρ = 7).</summary>
    /// <param name="kind">The grid's name, case-insensitive.</param>
    /// <param name="tMax">The start.</param>
    /// <param name="tMin">The end.</param>
    /// <param name="steps">Number of steps.</param>
    public static TimeGrid Parse(string kind, double tMax, double tMin, int steps) => kind.ToLowerInvariant() switch
    {
        "uniform" => Uniform(tMax, tMin, steps),
        "geometric" => Geometric(tMax, tMin, steps),
        "edm" => Edm(tMax, tMin, steps),
        _ => throw new ArgumentException($"Unknown time grid '{kind}'; expected uniform, geometric or edm.", nameof(kind)),
    };

    /// <inheritdoc/>
    public override string ToString() => $"{Steps} steps from t = {Max:G4} to {Min:G4}";

    private static void RequireRange(double tMax, double tMin, int steps)
    {
        if (!(tMin > 0) || !double.IsFinite(tMin))
            throw new ArgumentOutOfRangeException(nameof(tMin), tMin, "t_min must be finite and > 0: the score is singular at sigma = 0.");
        if (!(tMax > tMin) || !double.IsFinite(tMax))
            throw new ArgumentOutOfRangeException(nameof(tMax), tMax, $"t_max must be finite and > t_min = {tMin}.");
        if (steps < 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "A grid needs at least one step.");
        if (steps > Array.MaxLength - 1)
            throw new ArgumentOutOfRangeException(nameof(steps), steps,
                $"steps = {steps} needs {(long)steps + 1} times, more than one array holds ({Array.MaxLength}); use at most {Array.MaxLength - 1} steps (hundreds to a few thousand are typical).");
    }

    /// <summary>Sets the ends exactly (pow/exp round) and checks the interior stayed strictly decreasing.</summary>
    private static TimeGrid Pin(double[] t, double tMax, double tMin)
    {
        t[0] = tMax;
        t[^1] = tMin;
        return FromTimes(t);
    }
}
