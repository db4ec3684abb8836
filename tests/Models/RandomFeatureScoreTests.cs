using System.Numerics;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Models;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Sampling;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Models;

/// <summary>
/// The random-feature score model (<see cref="RandomFeatureScore{T}"/>): its SIMD evaluation against the float64 reference,
/// its divergence, its use by the sampler, its approach to the exact posterior mean with many features, and the errors
/// apart (<see cref="RandomFeatureErrors"/>).
/// </summary>
public sealed class RandomFeatureScoreTests
{
    private static (RandomFeatures Features, double[] A, double[] Queries, int M) Random(int seed)
    {
        var (_, _, features, _) = RandomFeatureFitTests.Problem(seed, maxFeatures: 70);
        var rng = new Random(seed ^ 0x5151);
        int p = features.Count, d = features.Dimension, m = rng.Next(1, 70);
        var a = Enumerable.Range(0, d * p).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var x = Enumerable.Range(0, m * d).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
        return (features, a, x, m);
    }

    /// <summary>
    /// The model's score equals (m_ref − x)/σ² with the reference mean. Bound on m_k: each feature errs by
    /// ε_j ≤ (γ_{D+2K+4}(u_T) + γ_{D+2K+3}(u₆₄)) Z_j (Z_j its preactivation's sum of |terms|, queries rounded to T once more),
    /// the coefficients A/√P are rounded to T (u_T), and the dot product of P terms in T adds γ_P(u_T) Σ_j |A_kj f_j|/√P;
    /// the score divides by σ² after subtracting x in double (one more rounding of T: u_T relative). Factor 2.
    /// </summary>
    [Property(MaxTest = 30)]
    public void Score_Float32_EqualsReference(int seed) => ScoreEqualsReference<float>(seed);

    /// <inheritdoc cref="Score_Float32_EqualsReference"/>
    [Property(MaxTest = 30)]
    public void Score_Float64_EqualsReference(int seed) => ScoreEqualsReference<double>(seed);

    private static void ScoreEqualsReference<T>(int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (features, a, xd, m) = Random(seed);
        int p = features.Count, d = features.Dimension, e = features.EmbeddingLength;
        var model = new RandomFeatureScore<T>(features, a);
        var x = xd.Select(T.CreateTruncating).ToArray();
        double t = features.TimeMax * 0.37;
        var level = features.Schedule.At(t);
        var score = new T[m * d];
        model.EvaluateAt(x, t, new ScoreOutputs<T> { Score = score });
        double uT = ErrorBound.UnitRoundoff<T>();
        double gz = ErrorBound.Gamma(d + e + 4, uT) + ErrorBound.Gamma(d + e + 3, ErrorBound.UnitRoundoffDouble);
        for (int r = 0; r < m; r++)
        {
            var xr = x.AsSpan(r * d, d).ToArray().Select(v => double.CreateTruncating(v)).ToArray();
            var mean = RandomFeatureReference.Mean(features, a, xr, t);
            var f = RandomFeatureReference.Features(features, xr, t);
            var z = RandomFeatureReference.PreactivationMagnitudes(features, xr, t);
            for (int k = 0; k < d; k++)
            {
                double abs = 0, eps = 0;
                for (int j = 0; j < p; j++)
                {
                    abs += Math.Abs(a[k * p + j] * f[j]);
                    eps += Math.Abs(a[k * p + j]) * gz * z[j];
                }
                abs /= Math.Sqrt(p);
                eps /= Math.Sqrt(p);
                double expected = (mean[k] - xr[k]) / level.Variance;
                double bound = 2 * (eps + (ErrorBound.Gamma(p + 2, uT) * abs)) / level.Variance + 2 * uT * Math.Abs(expected) + double.Epsilon;
                double actual = double.CreateTruncating(score[r * d + k]);
                Assert.True(Math.Abs(actual - expected) <= bound, $"query {r} coordinate {k}: {actual:R} vs reference {expected:R}, bound {bound:E3}");
            }
        }
        // the level route maps back to the same t: the same bits
        var viaLevel = new T[m * d];
        model.Evaluate(x, level, new ScoreOutputs<T> { Score = viaLevel });
        for (int i = 0; i < score.Length; i++)
            Assert.True(Math.Abs(double.CreateTruncating(viaLevel[i] - score[i])) <= 1e-6 * (1 + Math.Abs(double.CreateTruncating(score[i]))),
                $"Evaluate(level) and EvaluateAt(t) differ at {i}");
    }

    /// <summary>
    /// The divergence equals the trace of the reference mean's Jacobian by central differences (step h = 10⁻⁶ in float64):
    /// with tanh features the difference quotient errs by h²/6 times the third derivative (|tanh‴| ≤ 2, times ‖W_x‖³ ‖A‖/√P),
    /// plus the rounding 2u₆₄|m|/h.
    /// </summary>
    [Fact]
    public void Divergence_EqualsTheJacobiansTrace()
    {
        var features = RandomFeatures.Draw(3, 40, 2, NoiseSchedule.OrnsteinUhlenbeck, 1.0, 3, FeatureActivation.Tanh);
        var rng = new Random(9);
        var a = Enumerable.Range(0, 3 * 40).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var model = new RandomFeatureScore<double>(features, a);
        double[] x = [0.3, -0.2, 0.9];
        const double t = 0.4, h = 1e-6;
        var level = features.Schedule.At(t);
        var divergence = new double[1];
        model.EvaluateAt(x, t, new ScoreOutputs<double> { Divergence = divergence });
        double trace = 0;
        for (int k = 0; k < 3; k++)
        {
            var plus = (double[])x.Clone();
            var minus = (double[])x.Clone();
            plus[k] += h;
            minus[k] -= h;
            trace += (RandomFeatureReference.Mean(features, a, plus, t)[k] - RandomFeatureReference.Mean(features, a, minus, t)[k]) / (2 * h);
        }
        double expected = (trace - 3) / level.Variance;
        double wx = features.Spatial.ToArray().Max(Math.Abs) * 3, aMax = a.Max(Math.Abs) * Math.Sqrt(40);
        double bound = (3 * (h * h / 6 * 2 * wx * wx * wx * aMax + 2 * ErrorBound.UnitRoundoffDouble * 40 * aMax / h)) / level.Variance;
        Assert.True(Math.Abs(divergence[0] - expected) <= bound, $"divergence {divergence[0]:R}, finite differences {expected:R}, bound {bound:E3}");
    }

    /// <summary>The reverse sampler runs the model (through its noise levels) to finite samples, the same for the same seed.</summary>
    [Fact]
    public void Sampler_RunsTheModel()
    {
        var points = new[] { -1.0, 1.0 };
        var train = new TrainingSet<double>(points, 2, 1);
        var features = RandomFeatures.Draw(1, 64, 4, NoiseSchedule.OrnsteinUhlenbeck, 2.0, 1);
        var fit = RandomFeatureTrainer.Fit(train, features, new RandomFeatureTraining { TimeMin = 0.01, Nodes = 21, Draws = 16 });
        var model = fit.Model<float>(double.PositiveInfinity);
        var sampler = new ReverseSampler<float>(model, NoiseSchedule.OrnsteinUhlenbeck, TimeGrid.Geometric(2.0, 0.01, 50));
        var one = sampler.Sample(200, new SamplerOptions { Seed = 3 }).Samples;
        var two = sampler.Sample(200, new SamplerOptions { Seed = 3 }).Samples;
        Assert.All(one, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(one, two);
        // the samples gather about the two points: at least half within 0.5 of ±1 (the exact score puts all of them there;
        // this crude model, P = 64, K = 4, also fills the gap between them, as a smoothed score does), none far out
        int near = one.Count(v => Math.Abs(Math.Abs(v) - 1) < 0.5);
        Assert.True(near > 100 && one.All(v => Math.Abs(v) < 3), $"{near} of 200 samples within 0.5 of the training points; mean |x| {one.Average(v => Math.Abs(v)):F3}, spread {one.Max() - one.Min():F3}");
    }

    /// <summary>
    /// With many features the converged model approaches the exact posterior mean on the training points' noised
    /// neighbourhoods. Measure: on 2000 fresh draws x = α_t y_i + σ_t z (t uniform on the training grid's range, i and z
    /// random, not the training draws), the relative error ρ(P) = E‖m_∞(x, t) − α m*(x)‖² / E‖α m*(x)‖². Bound: ρ(1000) ≤ 0.02,
    /// and ρ(1000) below a tenth of ρ(20) (the bias falls with the span). Two points in 1-D, OU to T = 1, K = 8, 41 nodes
    /// and 512 draws per (point, node): the draws must outnumber the features many times over, or the least-squares fit
    /// follows the draws' noise (at 64 draws ρ rises again past P ≈ 300); measured ρ: 0.37 at P = 20, 0.012 at P = 1000.
    /// </summary>
    [Fact]
    public void ManyFeatures_ApproachThePosteriorMean()
    {
        var train = new TrainingSet<double>(new[] { -1.0, 1.0 }, 2, 1);
        var exact = new EmpiricalScore<double>(train);
        var options = new RandomFeatureTraining { TimeMin = 0.05, Nodes = 41, Draws = 512 };
        double Relative(int p)
        {
            var features = RandomFeatures.Draw(1, p, 8, NoiseSchedule.OrnsteinUhlenbeck, 1.0, 17);
            var model = RandomFeatureTrainer.Fit(train, features, options).Model<double>(double.PositiveInfinity);
            var rng = new Random(123);
            double error = 0, norm = 0;
            for (int s = 0; s < 2000; s++)
            {
                double t = 0.05 + rng.NextDouble() * 0.95;
                var level = features.Schedule.At(t);
                double y = rng.Next(2) == 0 ? -1 : 1;
                double[] x = [level.Alpha * y + level.Sigma * Gaussian(rng)];
                double m = model.Mean(x, t)[0];
                double star = level.Alpha * exact.Denoise(x, level)[0];
                error += (m - star) * (m - star);
                norm += star * star;
            }
            return error / norm;
        }
        double few = Relative(20), many = Relative(1000);
        Assert.True(many <= 0.02, $"relative error {many:E3} with P = 1000");
        Assert.True(many < few / 10, $"relative error {many:E3} with P = 1000 not below a tenth of {few:E3} with P = 20");
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>
    /// L(A(τ)) ≥ L(A(∞)) ≥ L* on the training draws. The first holds exactly for the quadratic (A(∞) minimises it over the
    /// kept eigen-directions and A_0 = 0 leaves the others at 0): allowed rounding 10⁻¹⁰ L. The second holds in expectation
    /// (the posterior mean minimises the population loss); on finite draws it may fail by the Monte Carlo error of the
    /// weighted sum of the per-draw differences δ = ‖m_∞ − αy‖² − ‖m* − αy‖², estimated as 3·√(Σ c² δ²)/D. The optimization
    /// error falls with τ, and the normal and tangential parts add up to the whole at every node (to rounding).
    /// </summary>
    [Fact]
    public void Errors_AreOrdered_AndTheirPartsAddUp()
    {
        var train = new TrainingSet<double>(new[] { 0.0, 0.0, 5, 0, 0, 5, 2.5, 2.5 }, 4, 2);
        var features = RandomFeatures.Draw(2, 60, 4, NoiseSchedule.OrnsteinUhlenbeck, 2.0, 5);
        var options = new RandomFeatureTraining { TimeMin = 0.05, Nodes = 9, Draws = 40 };
        var fit = RandomFeatureTrainer.Fit(train, features, options);
        var converged = fit.Model<double>(double.PositiveInfinity);
        double previous = double.PositiveInfinity;
        foreach (double tau in new[] { 0.1, 1.0, 10.0 })
        {
            var nodes = RandomFeatureErrors.Evaluate(fit.Model<double>(tau), converged, train, options, ridgeDimension: 1);
            double loss = RandomFeatureErrors.Integrate(nodes, n => n.Loss);
            double lossInf = RandomFeatureErrors.Integrate(nodes, n => n.ConvergedLoss);
            double lossStar = RandomFeatureErrors.Integrate(nodes, n => n.ExactLoss);
            double optimization = RandomFeatureErrors.Integrate(nodes, n => n.Optimization);
            Assert.True(loss >= lossInf - 1e-10 * loss, $"tau {tau}: L(A(tau)) = {loss:R} < L(A(inf)) = {lossInf:R}");
            Assert.True(Math.Abs(loss - fit.Loss(fit.Coefficients(tau))) <= 1e-9 * fit.TargetMeanSquare, "per-node losses do not integrate to the fit's loss");
            Assert.True(optimization < previous, $"optimization error {optimization:E3} did not fall at tau {tau}");
            previous = optimization;
            foreach (var n in nodes)
            {
                double scale = Math.Abs(n.Loss) + Math.Abs(n.ConvergedLoss) + Math.Abs(n.ExactLoss);
                Assert.True(Math.Abs(n.Optimization - (n.Loss - n.ConvergedLoss)) <= 1e-10 * scale, $"node {n.Node}: optimization parts do not add up");
                Assert.True(Math.Abs(n.Bias - (n.ConvergedLoss - n.ExactLoss)) <= 1e-10 * scale, $"node {n.Node}: bias parts do not add up");
                Assert.True(Math.Abs(n.OptimizationAxes.Sum() - n.Optimization) <= 1e-10 * scale, $"node {n.Node}: axis parts do not add up");
                Assert.True(Math.Abs(n.BiasAxes.Sum() - n.Bias) <= 1e-10 * scale, $"node {n.Node}: axis parts do not add up");
            }
        }
        // bias ≥ −(Monte Carlo error)
        var all = RandomFeatureErrors.Evaluate(converged, converged, train, options, ridgeDimension: 1);
        double bias = RandomFeatureErrors.Integrate(all, n => n.Bias);
        var draws = new TrainingDraws(train.Data.ToArray(), 4, 2, features, options);
        var exact = new EmpiricalScore<double>(train);
        double variance = 0;
        var xr = new double[2];
        var yr = new double[2];
        for (long row = 0; row < draws.Rows; row++)
        {
            draws.Row(row, xr, yr);
            int node = draws.NodeOf(row);
            var level = draws.Levels[node];
            var m = converged.Mean(xr, draws.Times[node]);
            var star = exact.Denoise(xr, level);
            double delta = 0;
            for (int k = 0; k < 2; k++)
                delta += (m[k] - yr[k]) * (m[k] - yr[k]) - (level.Alpha * star[k] - yr[k]) * (level.Alpha * star[k] - yr[k]);
            double c = draws.RowWeight(row);
            variance += c * c * delta * delta;
        }
        double monteCarlo = 3 * Math.Sqrt(variance) / 2;
        Assert.True(bias >= -monteCarlo, $"architectural bias {bias:E3} below -{monteCarlo:E3}");
        Assert.True(all.All(n => n.Optimization == 0), "A(inf) against itself has an optimization error");
    }

    /// <summary>Bad input: a level off the model's schedule, a query of another dimension, a log-density request.</summary>
    [Fact]
    public void BadInput_Throws()
    {
        var features = RandomFeatures.Draw(2, 8, 1, NoiseSchedule.OrnsteinUhlenbeck, 1.0, 0);
        var model = new RandomFeatureScore<float>(features, new double[16]);
        var score = new float[2];
        Assert.Contains("not on the ou schedule", Assert.Throws<ArgumentException>("level",
            () => model.Evaluate(new float[] { 0, 0 }, new NoiseLevel(1.0, 0.5), new ScoreOutputs<float> { Score = score })).Message);
        Assert.Throws<ArgumentException>("queries", () => model.Evaluate(new float[] { 0, 0, 0 }, features.Schedule.At(0.5), new ScoreOutputs<float> { Score = new float[3] }));
        Assert.Throws<NotSupportedException>(() => model.EvaluateAt(new float[] { 0, 0 }, 0.5, new ScoreOutputs<float> { LogDensity = new float[1] }));
        Assert.Throws<ArgumentException>("coefficients", () => new RandomFeatureScore<float>(features, new double[15]));
        Assert.Throws<ArgumentOutOfRangeException>("tau", () => new RandomFeatureScore<float>(features, new double[16], -2));
    }
}
