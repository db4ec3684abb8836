using Kernels.Numerics;
using Kernels.Numerics.Sampling;
using Xunit;

namespace Kernels.Tests.Sampling;

/// <summary>
/// Reverse samplers and the probability-flow likelihood against closed forms: Gaussian data N(μ, τ² I) has Gaussian
/// marginals N(α μ, (α² τ² + σ²) I) at every t, a linear score, and an exact flow, for every schedule. (The samplers on
/// the empirical score, which runs on a backend, are <see cref="EmpiricalScoreSamplerProperties"/>.)
/// </summary>
public class SamplerTests
{
    public static TheoryData<string, double, double> Schedules => new()
    {
        { "ou", 3.0, 1e-3 },
        { "vp", 1.0, 1e-3 },
        { "ve", 4.0, 1e-3 },
        { "edm", 3.0, 2e-3 },
    };

    /// <summary>f = d log α/dt and g² = dσ²/dt − 2fσ², by central differences (truncation O(h²) ≈ 1e-8 relative, rounding ε/h ≈ 1e-11).</summary>
    [Theory]
    [MemberData(nameof(Schedules))]
    public void SdeCoefficients_MatchTheScheduleDerivatives(string name, double tMax, double tMin)
    {
        var schedule = NoiseSchedule.Parse(name);
        foreach (double t in new[] { tMin * 3, Math.Sqrt(tMin * tMax), tMax / 2 })
        {
            double h = 1e-4 * t;
            var (plus, minus, at) = (schedule.At(t + h), schedule.At(t - h), schedule.At(t));
            double dLogAlpha = (Math.Log(plus.Alpha) - Math.Log(minus.Alpha)) / (2 * h);
            double dVariance = (plus.Variance - minus.Variance) / (2 * h);
            var (f, g2) = schedule.Sde(t);
            Assert.True(Math.Abs(f - dLogAlpha) <= 1e-6 * (1 + Math.Abs(f)), $"{name} t={t}: f = {f}, d log alpha/dt = {dLogAlpha}");
            double expected = dVariance - 2 * f * at.Variance;
            Assert.True(Math.Abs(g2 - expected) <= 1e-6 * (1 + Math.Abs(g2)), $"{name} t={t}: g^2 = {g2}, expected {expected}");
        }
    }

    [Fact]
    public void Grids_RunFromTMaxToTMin_Strictly()
    {
        foreach (var grid in new[] { TimeGrid.Uniform(9, 1e-3, 7), TimeGrid.Geometric(9, 1e-3, 100), TimeGrid.Edm(80, 2e-3, 18) })
        {
            Assert.Equal(grid.Max, grid.Times[0]);
            Assert.Equal(grid.Min, grid.Times[^1]);
            for (int i = 1; i < grid.Times.Length; i++) Assert.True(grid.Times[i] < grid.Times[i - 1]);
        }
        var geometric = TimeGrid.Geometric(9, 1e-3, 100);
        double ratio = geometric.Times[1] / geometric.Times[0];
        for (int i = 1; i < 100; i++) Assert.Equal(ratio, geometric.Times[i + 1] / geometric.Times[i], 12);
        var edm = TimeGrid.Edm(9, 1e-3, 10, rho: 1);
        var uniform = TimeGrid.Uniform(9, 1e-3, 10);
        for (int i = 0; i <= 10; i++) Assert.Equal(uniform.Times[i], edm.Times[i], 12);
    }

    [Theory]
    [InlineData(1.0, 2.0, 10)]   // t_max below t_min
    [InlineData(1.0, 0.0, 10)]   // t_min = 0
    [InlineData(1.0, 0.1, 0)]    // no steps
    public void Grids_RejectBadRanges(double tMax, double tMin, int steps) =>
        Assert.ThrowsAny<ArgumentException>(() => TimeGrid.Geometric(tMax, tMin, steps));

    [Fact]
    public void FromTimes_RejectsANonDecreasingList_NamingTheIndex()
    {
        var ex = Assert.Throws<ArgumentException>(() => TimeGrid.FromTimes([3, 2, 2.5, 1]));
        Assert.Contains("times[2]", ex.Message);
    }

    /// <summary>
    /// Euler–Maruyama on Gaussian data: the sample mean and variance at every recorded time match the variance recursion of
    /// the discrete scheme itself (x' = a x + b ξ with a = 1 + Δ(−f − g²/v(t)), b² = g²Δ) within 5 standard errors,
    /// and the scheme's variance converges to the true marginal α²τ² + σ² at first order (doubling the steps halves the gap).
    /// </summary>
    [Theory]
    [MemberData(nameof(Schedules))]
    public void EulerMaruyama_OnGaussianData_HasTheKnownMarginals(string name, double tMax, double tMin)
    {
        var schedule = NoiseSchedule.Parse(name);
        const int m = 20000, d = 3;
        const double tau2 = 0.5;
        var model = new GaussianScore<double>(new double[d], tau2);
        var grid = TimeGrid.Geometric(tMax, tMin, 60);
        var result = new ReverseSampler<double>(model, schedule, grid)
            .Sample(m, new SamplerOptions { Seed = 11, RecordEvery = 10 }, dataVariance: tau2);

        var predicted = SchemeVariances(schedule, grid, model);
        foreach (var frame in result.Trajectory)
        {
            int index = grid.Times.ToArray().AsSpan().IndexOf(frame.Time);
            var (mean, variance) = Moments(frame.Samples, d);
            double v = predicted[index];
            // SE of a mean of m·d normals: √(v/(md)); of a variance estimate: v√(2/(md)).
            Assert.True(Math.Abs(mean) <= 5 * Math.Sqrt(v / (m * d)), $"{name} t={frame.Time}: mean {mean}");
            Assert.True(Math.Abs(variance - v) <= 5 * v * Math.Sqrt(2.0 / (m * d)), $"{name} t={frame.Time}: variance {variance}, scheme {v}");
        }

        double exact = model.MarginalVariance(schedule.At(tMin));
        double gap60 = Math.Abs(predicted[^1] - exact);
        double gap120 = Math.Abs(SchemeVariances(schedule, TimeGrid.Geometric(tMax, tMin, 120), model)[^1] - exact);
        Assert.True(gap120 < 0.6 * gap60 && gap120 > 0.4 * gap60, $"{name}: first-order convergence expected, gaps {gap60} then {gap120}");
    }

    private static double[] SchemeVariances(NoiseSchedule schedule, TimeGrid grid, GaussianScore<double> model)
    {
        var times = grid.Times;
        var v = new double[times.Length];
        v[0] = model.MarginalVariance(schedule.At(times[0]));
        for (int i = 0; i + 1 < times.Length; i++)
        {
            double delta = times[i] - times[i + 1];
            var (f, g2) = schedule.Sde(times[i]);
            double a = 1 + delta * (-f - g2 / model.MarginalVariance(schedule.At(times[i])));
            v[i + 1] = a * a * v[i] + g2 * delta;
        }
        return v;
    }

    private static (double Mean, double Variance) Moments(double[] samples, int d)
    {
        double mean = samples.Average();
        double variance = samples.Sum(x => (x - mean) * (x - mean)) / (samples.Length - 1);
        return (mean, variance);
    }

    /// <summary>
    /// The probability-flow ODE of Gaussian data maps x(t_max) − α μ to √(v(t)/v(t_max)) (x − α μ) + α(t) μ, by Heun
    /// at second order (see <see cref="Richardson.Check"/>).
    /// </summary>
    [Theory]
    [MemberData(nameof(Schedules))]
    public void Heun_OnGaussianData_FollowsTheExactFlow(string name, double tMax, double tMin)
    {
        var schedule = NoiseSchedule.Parse(name);
        double[] mu = [0.7, -1.2];
        var model = new GaussianScore<double>(mu, 0.3);
        var top = schedule.At(tMax);
        var start = ReverseSampler<double>.GaussianStart(50, 2, top, 0.3, seed: 3);
        for (int i = 0; i < start.Length; i++) start[i] += top.Alpha * mu[i % 2];

        double[] End(int steps) => new ReverseSampler<double>(model, schedule, TimeGrid.Geometric(tMax, tMin, steps))
            .Run(start, new SamplerOptions { Method = SamplerMethod.Heun }).Samples;

        double Error(int steps)
        {
            var end = steps > 0 ? End(steps) : Richardson.Extrapolate(End(-steps), End(-steps / 2));
            var bottom = schedule.At(tMin);
            double scale = Math.Sqrt(model.MarginalVariance(bottom) / model.MarginalVariance(top)), worst = 0;
            for (int i = 0; i < start.Length; i++)
            {
                double expected = scale * (start[i] - top.Alpha * mu[i % 2]) + bottom.Alpha * mu[i % 2];
                worst = Math.Max(worst, Math.Abs(end[i] - expected));
            }
            return worst;
        }

        var (e200, e400, extrapolated) = Richardson.Check(Error);
        Assert.True(extrapolated <= 0.2 * e400, $"{name}: errors {e200}, {e400}; Richardson extrapolant {extrapolated}");
    }

    /// <summary>
    /// log p_{t_min}(x) of Gaussian data by the probability-flow ODE against the closed form log N(x; αμ, v I), at second
    /// order (see <see cref="Richardson.Check"/>).
    /// </summary>
    [Theory]
    [MemberData(nameof(Schedules))]
    public void LogLikelihood_OfGaussianData_MatchesTheClosedForm(string name, double tMax, double tMin)
    {
        var schedule = NoiseSchedule.Parse(name);
        double[] mu = [0.4, 0.1, -0.3];
        var model = new GaussianScore<double>(mu, 0.8);
        var points = ReverseSampler<double>.GaussianStart(20, 3, schedule.At(tMin), 0.8, seed: 9);
        var exact = new double[20];
        model.Evaluate(points, schedule.At(tMin), new ScoreOutputs<double> { LogDensity = exact });

        double[] LogLikelihood(int steps) => ProbabilityFlow.LogLikelihood(model, schedule, TimeGrid.Geometric(tMax, tMin, steps), points);

        double Error(int steps)
        {
            var ll = steps > 0 ? LogLikelihood(steps) : Richardson.Extrapolate(LogLikelihood(-steps), LogLikelihood(-steps / 2));
            return ll.Zip(exact, (a, b) => Math.Abs(a - b)).Max();
        }

        var (e200, e400, extrapolated) = Richardson.Check(Error);
        Assert.True(extrapolated <= 0.2 * e400, $"{name}: errors {e200}, {e400} nats; Richardson extrapolant {extrapolated}");
    }

    [Fact]
    public void LogLikelihood_WithAGaussianPrior_UsesItAtTMax()
    {
        var model = new GaussianScore<double>(new double[2], 1.0);
        var points = ReverseSampler<double>.GaussianStart(5, 2, new NoiseLevel(1, 0.1), 1, seed: 2);
        var grid = TimeGrid.Geometric(4, 0.01, 200);
        var own = ProbabilityFlow.LogLikelihood(model, NoiseSchedule.VarianceExploding, grid, points);
        var prior = ProbabilityFlow.LogLikelihood(model, NoiseSchedule.VarianceExploding, grid, points,
            new LikelihoodOptions { PriorDataVariance = 1.0 });
        for (int i = 0; i < 5; i++) Assert.Equal(own[i], prior[i], 10); // the same Gaussian at t_max, by two routes
    }

    [Fact]
    public void Progress_ReportsEveryStep_AndRecordingKeepsTheEnds()
    {
        var model = new GaussianScore<float>(new double[2], 1);
        var seen = new List<SamplerProgress>();
        var grid = TimeGrid.Uniform(1, 0.1, 9);
        var result = new ReverseSampler<float>(model, NoiseSchedule.VarianceExploding, grid)
            .Sample(4, new SamplerOptions { Method = SamplerMethod.Heun, RecordEvery = 4, Progress = seen.Add });
        Assert.Equal(Enumerable.Range(1, 9), seen.Select(p => p.Step));
        Assert.Equal(new[] { 1.0, grid.Times[4], grid.Times[8], 0.1 }, result.Trajectory.Select(f => f.Time));
        Assert.Equal(result.Samples, result.Trajectory[^1].Samples);
    }

    [Fact]
    public void Run_RejectsBadStarts_NamingTheRow()
    {
        var sampler = new ReverseSampler<float>(new GaussianScore<float>(new double[2], 1), NoiseSchedule.Edm, TimeGrid.Uniform(1, 0.1, 3));
        var ex = Assert.Throws<ArgumentException>(() => sampler.Run(new float[] { 0, 0, 1, float.NaN }));
        Assert.Contains("start row 1 has NaN in column 1", ex.Message);
        Assert.Throws<ArgumentException>(() => sampler.Run(new float[] { 0, 0, 1 }));
        Assert.Throws<ArgumentException>(() => sampler.Run(ReadOnlySpan<float>.Empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Run(new float[2], new SamplerOptions { RecordEvery = -1 }));
    }

    [Fact]
    public void Run_WhenTheStepIsTooLarge_SaysSoInsteadOfReturningInfinity()
    {
        // A point mass at tiny σ with one huge step: the step h g²/σ² ≈ 1e30 overshoots, and the next score overflows float.
        var model = new GaussianScore<float>(new double[2], 0);
        var sampler = new ReverseSampler<float>(model, NoiseSchedule.VarianceExploding, TimeGrid.FromTimes([1.0, 1e-30, 1e-31]));
        var start = Enumerable.Repeat(1e3f, 2).ToArray();
        var ex = Assert.Throws<InvalidOperationException>(() => sampler.Run(start, new SamplerOptions { Method = SamplerMethod.Heun }));
        Assert.Contains("more steps", ex.Message);
    }
}
