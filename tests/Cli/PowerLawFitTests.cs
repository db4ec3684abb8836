using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Cli;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The log-log least-squares fit behind <c>kernels bench scaling</c>'s exponents: exact power laws are recovered,
/// a worked example off the line gives its hand-computed slope and R², and bad input names the offending argument.
/// <para>
/// Error analysis for exact laws y = c·x^p (u = 2⁻⁵³): y is computed with relative error ≤ 2u (pow, then the product),
/// so ln y carries ≤ 2u absolute plus ≤ u·|ln y| from the logarithm itself; with |ln c| ≤ 7 and |p|·ln x ≤ 3·ln 10⁹ ≈ 63
/// that is δ ≤ 72u ≈ 1.6e−14 per point, and ln x likewise ≤ 21u. The slope is Σ dx·δ / Σ dx², at most
/// δ·√n / √(Σ dx²); the sizes always include x₀ and 2x₀, so √(Σ dx²) ≥ ln 2 / √2 ≈ 0.49, and n ≤ 12 gives a slope
/// error ≤ 1.6e−14·3.5/0.49 + p·(ln-x error, same order) ≈ 2e−13: the tolerance 1e−12 has a 5× margin. The prefactor's
/// logarithm, mean(ln y) − p̂·mean(ln x), adds |mean ln x| ≤ 21 times that: ≤ 5e−12 absolute, so 1e−10 relative in c.
/// A local exponent between two sizes is (δ_b − δ_a − p(ε_b − ε_a)) / ln(x_b/x_a) off: ≤ (3.2e−14 + 3·0.94e−14)/ln(1001/1000)
/// ≈ 6e−11 for the closest distinct sizes generated (factors f and f + 1 ≤ 1000), so the tolerance there is 2e−10.
/// </para>
/// </summary>
public sealed class PowerLawFitTests
{
    public sealed record Law(double Exponent, double Prefactor, double[] X)
    {
        public double[] Y => [.. X.Select(x => Prefactor * Math.Pow(x, Exponent))];

        public override string ToString() => $"p={Exponent}, c={Prefactor}, x=[{string.Join(", ", X)}]";
    }

    /// <summary>p in quarter steps from −3 to 3, c from 10⁻³ to 10³, 2–12 sizes from x₀ ≤ 10⁶ up to 1000·x₀, always with x₀ and 2x₀.</summary>
    private static readonly Arbitrary<Law> Laws = (
        from quarters in Gen.Choose(-12, 12)
        from decades in Gen.Choose(-6, 6)
        from x0 in Gen.Choose(1, 1_000_000)
        from factors in Gen.ListOf(Gen.Choose(1, 1000)).Select(f => f.Take(10))
        select new Law(quarters / 4.0, Math.Pow(10, decades / 2.0), [x0, 2.0 * x0, .. factors.Select(f => (double)x0 * f)])).ToArbitrary();

    [Property(MaxTest = 200)]
    public Property Exact_power_laws_are_recovered() => Prop.ForAll(Laws, law =>
    {
        PowerLaw fit = PowerLawFit.Fit(law.X, law.Y);
        Assert.Equal(law.Exponent, fit.Exponent, 1e-12);
        Assert.Equal(1.0, fit.Prefactor / law.Prefactor, 1e-10);
        Assert.True(fit.RSquared > 1 - 1e-12, $"R² {fit.RSquared}");
        // between consecutive distinct sizes the law is the same
        double[] x = [.. law.X.Distinct()];
        foreach (double local in PowerLawFit.LocalExponents(x, [.. x.Select(v => law.Prefactor * Math.Pow(v, law.Exponent))]))
            Assert.Equal(law.Exponent, local, 2e-10);
    });

    [Theory]
    [InlineData(1.0)]  // time linear in N·M
    [InlineData(2.0)]
    [InlineData(0.5)]
    [InlineData(-1.0)]
    public void The_standard_sweep_sizes_give_the_exponent(double p)
    {
        double[] nm = [1.5e6, 3e6, 6e6, 12e6];
        PowerLaw fit = PowerLawFit.Fit(nm, [.. nm.Select(x => 2e-8 * Math.Pow(x, p))]);
        Assert.Equal(p, fit.Exponent, 1e-12);
        Assert.Equal(2e-8, fit.Prefactor, 2e-8 * 1e-10);
    }

    /// <summary>
    /// x = 1, 2, 4 and y = 1, 4, 8: in units of ln 2 the logs are (0, 1, 2) and (0, 2, 3), so the slope is
    /// ((−1)(−5/3) + (1)(4/3)) / 2 = 3/2, the residuals −1/6, 1/3, −1/6 (sum of squares 1/6) against a total of 14/3:
    /// R² = 1 − (1/6)/(14/3) = 27/28; the prefactor e^{(5/3 − 3/2)·ln 2} = 2^{1/6}.
    /// </summary>
    [Fact]
    public void Points_off_the_line_give_the_least_squares_slope()
    {
        PowerLaw fit = PowerLawFit.Fit([1.0, 2.0, 4.0], [1.0, 4.0, 8.0]);
        Assert.Equal(1.5, fit.Exponent, 1e-14);
        Assert.Equal(27.0 / 28.0, fit.RSquared, 1e-14);
        Assert.Equal(Math.Pow(2, 1.0 / 6), fit.Prefactor, 1e-14);
        double[] local = PowerLawFit.LocalExponents([4.0, 1.0, 2.0], [8.0, 1.0, 4.0]); // ordered by size
        Assert.Equal(2, local.Length);
        Assert.Equal(2.0, local[0], 1e-14); // ln 4 / ln 2 and ln 2 / ln 2, each quotient within a few ulps
        Assert.Equal(1.0, local[1], 1e-14);
    }

    [Fact]
    public void Equal_times_fit_a_flat_line_exactly()
    {
        PowerLaw fit = PowerLawFit.Fit([64.0, 128.0, 256.0], [0.1, 0.1, 0.1]);
        Assert.Equal(0.0, fit.Exponent);
        Assert.Equal(1.0, fit.RSquared);
    }

    [Fact]
    public void Bad_input_names_the_argument_and_the_value()
    {
        var lengths = Assert.Throws<ArgumentException>(() => PowerLawFit.Fit([1.0, 2.0], [1.0]));
        Assert.Equal("y", lengths.ParamName);
        Assert.Contains("x has 2 values but y has 1", lengths.Message);

        var one = Assert.Throws<ArgumentException>(() => PowerLawFit.Fit([3.0, 3.0], [1.0, 2.0]));
        Assert.Equal("x", one.ParamName);
        Assert.Contains("at least two different sizes", one.Message);

        var zero = Assert.Throws<ArgumentException>(() => PowerLawFit.Fit([1.0, 0.0], [1.0, 2.0]));
        Assert.Equal("x", zero.ParamName);
        Assert.Contains("x[1] = 0", zero.Message);

        var nan = Assert.Throws<ArgumentException>(() => PowerLawFit.Fit([1.0, 2.0], [double.NaN, 2.0]));
        Assert.Equal("y", nan.ParamName);
        Assert.Contains("y[0] = NaN", nan.Message);
    }
}
