namespace Kernels.Cli;

/// <summary>A power law y = c·x^p fitted to measurements, with the share of the variance of ln y it explains.</summary>
/// <param name="Exponent">p: 1 means time linear in x, 2 quadratic.</param>
/// <param name="Prefactor">c, in the units of y at x = 1.</param>
/// <param name="RSquared">Coefficient of determination of the log-log line (1 when every point lies on it).</param>
internal readonly record struct PowerLaw(double Exponent, double Prefactor, double RSquared);

/// <summary>
/// Least squares on (ln x, ln y): how <c>kernels bench scaling</c> summarises time against N·M and against D. Fitting
/// the logarithms weighs every size alike (a linear fit of the raw times would be decided by the largest one) and makes
/// the slope the exponent directly.
/// </summary>
internal static class PowerLawFit
{
    /// <summary>Fits y = c·x^p through the points (x[i], y[i]).</summary>
    /// <param name="x">Sizes, each finite and &gt; 0, at least two of them distinct.</param>
    /// <param name="y">Measurements (times), each finite and &gt; 0, as many as <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">Lengths differ, fewer than two distinct sizes, or a value that is not finite and positive.</exception>
    public static PowerLaw Fit(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
            throw new ArgumentException($"x has {x.Count} values but y has {y.Count}; give one measurement per size.", nameof(y));
        for (int i = 0; i < x.Count; i++)
        {
            if (!(double.IsFinite(x[i]) && x[i] > 0))
                throw new ArgumentException($"x[{i}] = {x[i]}: a power law needs sizes that are finite and > 0.", nameof(x));
            if (!(double.IsFinite(y[i]) && y[i] > 0))
                throw new ArgumentException($"y[{i}] = {y[i]}: a power law needs measurements that are finite and > 0.", nameof(y));
        }
        if (x.Distinct().Count() < 2)
            throw new ArgumentException($"x has {x.Distinct().Count()} distinct value(s); an exponent needs at least two different sizes.", nameof(x));

        int n = x.Count;
        double[] lx = [.. x.Select(v => Math.Log(v))], ly = [.. y.Select(v => Math.Log(v))];
        double mx = lx.Average(), my = ly.Average();
        double sxx = 0, sxy = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            // centred sums: the raw-moment formula would cancel catastrophically for sizes like 10^7 ± a few percent
            double dx = lx[i] - mx, dy = ly[i] - my;
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
        double slope = sxy / sxx;
        double residual = 0;
        for (int i = 0; i < n; i++)
        {
            double r = ly[i] - my - slope * (lx[i] - mx);
            residual += r * r;
        }
        // Times equal to rounding (each ln y within 4 ulps of |ln y| of the mean) leave nothing to explain: a flat line
        // fits exactly. Below that, 1 − residual/syy would be the ratio of two rounding errors.
        double ulps = 4 * Math.ScaleB(1.0, -52) * Math.Max(1, ly.Max(v => Math.Abs(v)));
        double r2 = syy <= n * ulps * ulps ? 1 : Math.Max(0, 1 - residual / syy);
        return new PowerLaw(slope, Math.Exp(my - slope * mx), r2);
    }

    /// <summary>Exponents between consecutive sizes (ordered by x): where a fit's single slope hides a change of regime.</summary>
    /// <param name="x">Sizes, distinct, finite and &gt; 0.</param>
    /// <param name="y">Measurements, finite and &gt; 0.</param>
    public static double[] LocalExponents(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        var order = Enumerable.Range(0, x.Count).OrderBy(i => x[i]).ToArray();
        var local = new double[Math.Max(0, order.Length - 1)];
        for (int k = 0; k < local.Length; k++)
        {
            int a = order[k], b = order[k + 1];
            local[k] = Fit([x[a], x[b]], [y[a], y[b]]).Exponent;
        }
        return local;
    }
}
