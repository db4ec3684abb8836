using Xunit;

namespace Kernels.Tests.Sampling;

/// <summary>The second-order convergence check the sampler and likelihood tests share.</summary>
internal static class Richardson
{
    /// <summary>(4 fine − coarse)/3 per entry: removes the h² term of a second-order result.</summary>
    public static double[] Extrapolate(double[] fine, double[] coarse) => fine.Zip(coarse, (f, c) => (4 * f - c) / 3).ToArray();

    /// <summary>
    /// Second-order convergence to the right limit, checked without a tuned bound: doubling the steps divides the error by
    /// about 4 (accept 3 to 5), and the Richardson extrapolant (4 e₄₀₀ − e₂₀₀)/3 of the signed result cancels the h² term,
    /// so its error (third order) must be well below the error at 400 steps. Errors here are maxima over points, so the
    /// extrapolation is applied to each point's result: <paramref name="error"/> takes (steps, extrapolate).
    /// </summary>
    public static (double E200, double E400, double Extrapolated) Check(Func<int, double> error)
    {
        double e100 = error(100), e200 = error(200), e400 = error(400);
        Assert.InRange(e100 / e200, 3.0, 5.0);
        Assert.InRange(e200 / e400, 3.0, 5.0);
        return (e200, e400, error(-400));
    }
}
