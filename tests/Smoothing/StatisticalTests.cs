using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Smoothing;

/// <summary>
/// Monte Carlo estimates against a high-draw float64 reference, with bounds from the reported standard errors.
/// Every seed is fixed, so each test is deterministic; the false-failure rates stated are over the choice of seeds.
/// </summary>
public class StatisticalTests
{
    private const int N = 20, D = 3, M = 4;
    private static readonly NoiseLevel Level = new(0.9, 0.3);

    private static (float[] Train, float[] Queries) Data()
    {
        var rng = new Random(11);
        var train = Enumerable.Range(0, N * D).Select(_ => (float)Problem.Gaussian(rng)).ToArray();
        var queries = Enumerable.Range(0, M * D).Select(i => (float)(0.9 * train[i] + 0.3 * Problem.Gaussian(rng))).ToArray();
        return (train, queries);
    }

    public static TheoryData<string> Kernels => new() { "gaussian", "ball", "anisotropic", "tangent", "covariance" };

    private static SmoothingKernel Kernel(string name) => name switch
    {
        "gaussian" => SmoothingKernel.Gaussian(0.25),
        "ball" => SmoothingKernel.Ball(0.5),
        "anisotropic" => SmoothingKernel.Anisotropic(new FixedSubspace(D, 1, 5), 0.4, 0.1),
        "tangent" => SmoothingKernel.Tangent(new FixedSubspace(D, 2, 6), 0.3),
        "covariance" => SmoothingKernel.Covariance([0.2, 0.1, 0, 0.3, -0.1, 0.05], D),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    /// <summary>
    /// float32, K = 256 plain Monte Carlo draws against float64 with K = 16 384 draws of another seed: every component
    /// must satisfy |μ̂ − μ_ref| ≤ 5 √(SE² + SE_ref²) + the rounding bound of the float32 estimate. With 255 degrees of
    /// freedom, P(|t| &gt; 5) ≈ 10⁻⁶ per component; over the 4·(3 + 2) = 20 components of a kernel the false-failure rate
    /// is below 3·10⁻⁵.
    /// </summary>
    [Theory]
    [MemberData(nameof(Kernels))]
    public void MonteCarlo_AgreesWithAHighDrawReference_WithinTheReportedError(string name)
    {
        var (train, queries) = Data();
        var trainD = Problem.Widen(train);
        var kernel = Kernel(name);
        var draws = new SmoothingDraws(256, seed: 1);
        var model = new LogSmoothedScore<float>(new EmpiricalScore<float>(new TrainingSet<float>(train, N, D)), kernel, draws);
        var (ld, s, div, ldE, sE, divE) = (new float[M], new float[M * D], new float[M], new float[M], new float[M * D], new float[M]);
        model.Evaluate(queries, Level, new SmoothedOutputs<float>
        {
            LogDensity = ld, Score = s, Divergence = div, LogDensityError = ldE, ScoreError = sE, DivergenceError = divE,
        });
        var reference = SmoothingReference.LogDomain<double>(trainD, D, Problem.Widen(queries), Level, kernel, new SmoothingDraws(16384, seed: 2));

        var qd = Problem.Widen(queries);
        for (int q = 0; q < M; q++)
        {
            double bLd = 0, bS = 0, bDiv = 0;
            for (int k = 0; k < draws.Count; k++)
            {
                var b = ErrorBound.For(trainD, D, SmoothingCase.PerturbedQuery<float>(kernel, draws, qd.AsSpan(q * D, D), q, k), Level, ErrorBound.UnitRoundoffSingle);
                (bLd, bS, bDiv) = (bLd + b.LogDensity / draws.Count, bS + b.Score / draws.Count, bDiv + b.Divergence / draws.Count);
            }
            static double Z(double a, double b) => 5 * Math.Sqrt(a * a + b * b);
            Expect.Within(ld[q], reference.LogDensity[q], Z(ldE[q], reference.LogDensityError[q]) + bLd, "log-density", q, name);
            Expect.Within(div[q], reference.Divergence[q], Z(divE[q], reference.DivergenceError[q]) + bDiv, "divergence", q, name);
            for (int j = 0; j < D; j++)
                Expect.Within(s[q * D + j], reference.Score[q * D + j], Z(sE[q * D + j], reference.ScoreError[q * D + j]) + bS, $"score component {j}", q, name);
        }
    }

    /// <summary>
    /// The reported standard error is the spread of the estimate: over 40 seeds, each component's variance across seeds
    /// divided by its mean reported SE² has expectation 1 (SE² is unbiased for Var/K). For a Gaussian-like estimate each
    /// ratio has relative spread √(2/39) ≈ 0.23, the mean of 20 about 0.05 (more for rare-event components such as the
    /// divergence at a query near one training point); [0.7, 1.4] is about 6 of those from 1. A standard error 20% too small
    /// gives 1.56 and 20% too large gives 0.69: both fail.
    /// </summary>
    [Fact]
    public void ReportedStandardError_IsTheSpreadOverSeeds()
    {
        var (train, queries) = Data();
        var set = new TrainingSet<float>(train, N, D);
        const int seeds = 40;
        var estimates = new double[seeds][];
        var errors = new double[seeds][];
        for (int seed = 0; seed < seeds; seed++)
        {
            var model = new LogSmoothedScore<float>(new EmpiricalScore<float>(set), SmoothingKernel.Gaussian(0.25), new SmoothingDraws(64, (ulong)(100 + seed)));
            var (ld, s, div, ldE, sE, divE) = (new float[M], new float[M * D], new float[M], new float[M], new float[M * D], new float[M]);
            model.Evaluate(queries, Level, new SmoothedOutputs<float>
            {
                LogDensity = ld, Score = s, Divergence = div, LogDensityError = ldE, ScoreError = sE, DivergenceError = divE,
            });
            estimates[seed] = [.. Problem.Widen(ld), .. Problem.Widen(s), .. Problem.Widen(div)];
            errors[seed] = [.. Problem.Widen(ldE), .. Problem.Widen(sE), .. Problem.Widen(divE)];
        }
        int components = estimates[0].Length;
        double ratios = 0;
        for (int c = 0; c < components; c++)
        {
            double mean = estimates.Average(e => e[c]);
            double spread2 = estimates.Sum(e => (e[c] - mean) * (e[c] - mean)) / (seeds - 1);
            ratios += spread2 / errors.Average(e => e[c] * e[c]);
        }
        Assert.InRange(ratios / components, 0.7, 1.4);
    }

    /// <summary>Tangent-projected draws on a subspace have no normal part: ‖P_N z‖ ≤ 8 u ‖z‖ (a projection in float64).</summary>
    [Fact]
    public void TangentDraws_HaveNoNormalComponent_AnisotropicOnesDo()
    {
        var subspace = new FixedSubspace(6, 2, 9);
        var basis = new double[12];
        subspace.TangentBasis(new double[6], basis);
        var rng = new Random(4);
        var z = new double[6];
        double Normal(SmoothingKernel kernel, double[] x, int q, int k)
        {
            kernel.Draw(x, new SmoothingDraws(16, 8), q, k, z);
            var n = (double[])z.Clone();
            for (int t = 0; t < 2; t++)
            {
                double c = 0;
                for (int j = 0; j < 6; j++) c += basis[t * 6 + j] * z[j];
                for (int j = 0; j < 6; j++) n[j] -= c * basis[t * 6 + j];
            }
            return ErrorBound.Norm(n) / ErrorBound.Norm(z);
        }
        double largestAnisotropic = 0;
        for (int q = 0; q < 20; q++)
        {
            var x = Enumerable.Range(0, 6).Select(_ => 3 * Problem.Gaussian(rng)).ToArray();
            for (int k = 0; k < 16; k++)
            {
                Assert.True(Normal(SmoothingKernel.Tangent(subspace, 0.7), x, q, k) <= 8 * ErrorBound.UnitRoundoffDouble);
                largestAnisotropic = Math.Max(largestAnisotropic, Normal(SmoothingKernel.Anisotropic(subspace, 0.7, 0.2), x, q, k));
            }
        }
        Assert.True(largestAnisotropic > 0.1, "an anisotropic kernel with h_N > 0 must move mass off the tangent space");
    }

    /// <summary>
    /// On a circle the tangent kernel moves no mass off the tangent line at x: the component of every draw along the
    /// normal (x − c)/‖x − c‖ is zero to float64 rounding, ≤ 8u‖z‖.
    /// </summary>
    [Fact]
    public void TangentDrawsOnACircle_StayOnTheTangentLine()
    {
        var circle = new Kernels.Numerics.Geometry.Circle(1.3, [0.5, -0.2]);
        var kernel = SmoothingKernel.Tangent(circle, 0.4);
        var draws = new SmoothingDraws(32, seed: 10);
        var rng = new Random(12);
        var z = new double[2];
        for (int q = 0; q < 50; q++)
        {
            double[] x = [0.5 + 3 * Problem.Gaussian(rng), -0.2 + 3 * Problem.Gaussian(rng)];
            double r = Math.Sqrt((x[0] - 0.5) * (x[0] - 0.5) + (x[1] + 0.2) * (x[1] + 0.2));
            double[] normal = [(x[0] - 0.5) / r, (x[1] + 0.2) / r];
            for (int k = 0; k < draws.Count; k++)
            {
                kernel.Draw(x, draws, q, k, z);
                double along = Math.Abs(normal[0] * z[0] + normal[1] * z[1]);
                Assert.True(along <= 8 * ErrorBound.UnitRoundoffDouble * ErrorBound.Norm(z), $"query {q} draw {k}: normal component {along:G3} of ‖z‖ = {ErrorBound.Norm(z):G3}");
            }
        }
    }

    /// <summary>Ball draws stay in the ball and have E‖z‖² = D R²/(D + 2) (checked to 5 standard errors, n = 20 000).</summary>
    [Fact]
    public void BallDraws_AreUniformInTheBall()
    {
        const int d = 4, n = 20000;
        const double r = 1.5;
        var kernel = SmoothingKernel.Ball(r);
        var draws = new SmoothingDraws(n, seed: 5);
        var z = new double[d];
        var x = new double[d];
        double sum = 0, sum2 = 0;
        for (int k = 0; k < n; k++)
        {
            kernel.Draw(x, draws, 0, k, z);
            double norm2 = z.Sum(v => v * v);
            Assert.True(norm2 <= r * r * (1 + 1e-15));
            sum += norm2;
            sum2 += norm2 * norm2;
        }
        double mean = sum / n, se = Math.Sqrt((sum2 / n - mean * mean) / n);
        Assert.InRange(mean, d * r * r / (d + 2) - 5 * se, d * r * r / (d + 2) + 5 * se);
    }

    /// <summary>Covariance-factor draws have covariance L Lᵀ: each entry within 5 standard errors, √((Σ_ii Σ_jj + Σ_ij²)/n).</summary>
    [Fact]
    public void CovarianceDraws_HaveTheFactorsCovariance()
    {
        double[] l = [0.2, 0.1, 0, 0.3, -0.1, 0.05];
        const int d = 3, r = 2, n = 40000;
        var sigma = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int t = 0; t < r; t++) sigma[i * d + j] += l[i * r + t] * l[j * r + t];
        var kernel = SmoothingKernel.Covariance(l, d);
        var draws = new SmoothingDraws(n, seed: 6, antithetic: true);
        var moment = new double[d * d];
        var z = new double[d];
        for (int k = 0; k < n; k++)
        {
            kernel.Draw(new double[d], draws, 0, k, z);
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) moment[i * d + j] += z[i] * z[j] / n;
        }
        // Antithetic pairs repeat each z z ᵀ: n/2 independent products.
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double se = Math.Sqrt((sigma[i * d + i] * sigma[j * d + j] + sigma[i * d + j] * sigma[i * d + j]) / (n / 2));
                Assert.InRange(moment[i * d + j], sigma[i * d + j] - 5 * se, sigma[i * d + j] + 5 * se);
            }
    }
}
