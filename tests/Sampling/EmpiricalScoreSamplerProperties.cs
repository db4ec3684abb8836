using Kernels.Numerics;
using Kernels.Numerics.Sampling;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Sampling;

/// <summary>
/// The reverse sampler and the probability-flow likelihood on the empirical score, one suite for every backend: each
/// derived class binds <see cref="Backend"/>, where the score (and the likelihood's divergence) is evaluated at every step.
/// </summary>
public abstract class EmpiricalScoreSamplerProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    /// <summary>
    /// One training point is Gaussian data with τ² = 0, so the empirical score's exact divergence must give the closed form
    /// log N(x; αy, σ²I), at second order in the step (see <see cref="Richardson.Check"/>).
    /// </summary>
    [BackendFact]
    public void LogLikelihood_UnderTheEmpiricalScoreOfOnePoint_IsTheGaussianClosedForm()
    {
        double[] y = [0.5, -0.25];
        var empirical = new EmpiricalScore<double>(new TrainingSet<double>(y, 1, 2), Backend);
        var schedule = NoiseSchedule.VarianceExploding;
        var points = ReverseSampler<double>.GaussianStart(30, 2, schedule.At(0.01), 0, seed: 1);
        var exact = new double[30];
        new GaussianScore<double>(y, 0).Evaluate(points, schedule.At(0.01), new ScoreOutputs<double> { LogDensity = exact });
        double[] LogLikelihood(int steps) => ProbabilityFlow.LogLikelihood(empirical, schedule, TimeGrid.Geometric(4, 0.01, steps), points);
        double Error(int steps)
        {
            var ll = steps > 0 ? LogLikelihood(steps) : Richardson.Extrapolate(LogLikelihood(-steps), LogLikelihood(-steps / 2));
            return ll.Zip(exact, (a, b) => Math.Abs(a - b)).Max();
        }
        var (e200, e400, extrapolated) = Richardson.Check(Error);
        Assert.True(extrapolated <= 0.2 * e400, $"errors {e200}, {e400} nats; Richardson extrapolant {extrapolated}");
    }

    /// <summary>The empirical score run all the way down memorizes: every sample ends within a few σ_min of a training point.</summary>
    [BackendFact]
    public void EulerMaruyama_OnTheEmpiricalScore_EndsOnTrainingPoints()
    {
        var circle = new float[24];
        for (int i = 0; i < 12; i++) (circle[2 * i], circle[2 * i + 1]) = (MathF.Cos(i * MathF.PI / 6), MathF.Sin(i * MathF.PI / 6));
        var model = new EmpiricalScore<float>(new TrainingSet<float>(circle, 12, 2), Backend);
        var samples = new ReverseSampler<float>(model, NoiseSchedule.VarianceExploding, TimeGrid.Geometric(9, 1e-4, 200))
            .Sample(300, new SamplerOptions { Seed = 5 }, dataVariance: 0.5).Samples;
        for (int s = 0; s < 300; s++)
        {
            double nearest = Enumerable.Range(0, 12).Min(i =>
                Math.Sqrt(Math.Pow(samples[2 * s] - circle[2 * i], 2) + Math.Pow(samples[2 * s + 1] - circle[2 * i + 1], 2)));
            Assert.True(nearest < 6 * Math.Sqrt(1e-4), $"sample {s} is {nearest} from the nearest training point");
        }
    }
}

/// <summary>The suite on the SIMD CPU backend, plus what only the CPU backend has: thread counts.</summary>
public sealed class CpuEmpiricalScoreSamplerProperties : EmpiricalScoreSamplerProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;

    [Fact]
    public void Samples_DependOnTheSeed_NotOnTheThreadCount()
    {
        var data = new float[40];
        for (int i = 0; i < 40; i++) data[i] = MathF.Sin(i * 1.3f);
        var set = new TrainingSet<float>(data, 20, 2);
        var grid = TimeGrid.Geometric(4, 1e-2, 30);
        float[] Run(int threads, ulong seed) =>
            new ReverseSampler<float>(new EmpiricalScore<float>(set, new CpuBackend(threads)), NoiseSchedule.VarianceExploding, grid)
                .Sample(101, new SamplerOptions { Seed = seed }).Samples;
        Assert.Equal(Run(1, 7), Run(3, 7));
        Assert.NotEqual(Run(1, 7), Run(1, 8));
    }
}
