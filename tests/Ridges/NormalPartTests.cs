using Kernels.Numerics;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// The residual's normal part computed in the kept points' coordinates (<see cref="RidgeResidual.At"/>: Fᵀ U M⁻¹ Uᵀ F g,
/// or the Householder completion where the span is narrower than d) against the same quantity from the explicit top-d
/// eigenvectors of <see cref="HessianFactor.Eigen"/>, g − Σ v_i (v_i·g): both project onto the same subspace, the span's
/// vectors Fᵀu_i/√μ_i followed by the same completion, so they differ by rounding only. Each span vector errs in direction
/// by about u·μ_max/μ_i (the Gram problem squares F's conditioning), so the bound is 64 (D + r) u ‖g‖ μ_max/μ_min over
/// the span pairs used, plus the same for the sums of the projection.
/// </summary>
public sealed class NormalPartTests
{
    private const double U = ErrorBound.UnitRoundoffDouble;

    [Fact]
    public void NormalPart_EqualsTheEigenvectorProjection_AcrossSpanWidths()
    {
        var rng = new Random(5);
        int narrow = 0, wide = 0, denseSmallD = 0;
        for (int trial = 0; trial < 80; trial++)
        {
            int d = trial % 4 == 0 ? 2 + rng.Next(6) : 20 + rng.Next(60);
            int n = 1 + rng.Next(trial % 2 == 0 ? 6 : 60);
            double sigma = 0.3 + 2 * rng.NextDouble();
            var level = new NoiseLevel(0.5 + 0.5 * rng.NextDouble(), sigma);
            var train = Enumerable.Range(0, n * d).Select(_ => Problem.Gaussian(rng)).ToArray();
            var query = Enumerable.Range(0, d).Select(_ => 0.3 * Problem.Gaussian(rng)).ToArray();
            var factor = Hessian.Factor(new EmpiricalScore<double>(new TrainingSet<double>(train, n, d)), query, level)[0];
            var g = factor.Score.ToArray();
            int dim = 1 + rng.Next(d - 1);
            var eig = factor.Eigen(dim + 1);
            var expected = g.ToArray();
            for (int i = 0; i < dim; i++)
            {
                var v = eig.Vector(i);
                HessianFactor.AddScaled(v, -HessianFactor.Dot(v, g), expected);
            }
            var point = RidgeResidual.At(factor, g, dim);
            double floor = factor.OffSpanEigenvalue, top = eig.Values[0] - floor, smallest = top;
            int span = 0;
            for (int i = 0; i < dim; i++)
                if (eig.Values[i] - floor > 64 * (d + factor.Rank) * U * top)
                {
                    smallest = Math.Min(smallest, eig.Values[i] - floor);
                    span++;
                }
            if (factor.Rank >= d) denseSmallD++;
            else if (span < dim) narrow++;
            else wide++;
            double normG = Math.Sqrt(HessianFactor.Dot(g, g));
            double bound = 2 * 64 * (d + factor.Rank) * U * normG * (top > 0 ? top / smallest : 1); // a zero factor (one point): no span
            double residual = Math.Sqrt(HessianFactor.Dot(expected, expected));
            Assert.True(Math.Abs(point.Residual - residual) <= bound,
                $"trial {trial}: D={d} N={n} r={factor.Rank} d={dim}: residual {point.Residual:R} vs eigenvectors {residual:R}, bound {bound:G3}");
            Assert.Equal(eig.Values[dim - 1] - eig.Values[dim], point.EigenGap, 12);
        }
        // every branch was exercised
        Assert.True(narrow > 5 && wide > 5 && denseSmallD > 5, $"narrow {narrow}, wide {wide}, D within r {denseSmallD}");
    }
}
