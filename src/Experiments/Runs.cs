using Kernels.Numerics;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Experiments;

/// <summary>The plumbing every experiment shares: score models over a training set, sampler and likelihood runs with progress, conversions.</summary>
internal static class Runs
{
    /// <summary>The exact empirical score of <paramref name="training"/> (N×D, float64 values rounded once to float).</summary>
    public static EmpiricalScore<float> Empirical(double[] training, int dimension) =>
        new(new TrainingSet<float>(ToFloat(training), training.Length / dimension, dimension));

    /// <summary>
    /// Log-domain smoothing with K fixed antithetic draws: s_k is then a deterministic, smooth function of x (what the
    /// probability-flow ODE needs) and exact for locally linear scores. h = 0 returns the exact score.
    /// </summary>
    public static IScoreModel<float> LogSmoothed(EmpiricalScore<float> exact, SmoothingKernel? kernel, int draws, ulong seed) =>
        kernel is null ? exact : new LogSmoothedScore<float>(exact, kernel, new SmoothingDraws(draws + draws % 2, seed, antithetic: true, fixedDraws: true));

    /// <summary>Samples by Euler–Maruyama from N(0, (v + σ²) I) at t_max, reporting progress.</summary>
    public static double[] Sample(ExperimentContext context, string label, IScoreModel<float> model, NoiseSchedule schedule, TimeGrid grid,
        int count, double dataVariance, ulong seed)
    {
        var advance = context.Progress.Start(label, grid.Steps);
        var result = new ReverseSampler<float>(model, schedule, grid).Sample(count, new SamplerOptions
        {
            Seed = seed,
            Progress = _ => advance(1),
        }, dataVariance);
        return ToDouble(result.Samples);
    }

    /// <summary>Negative log-likelihoods −log p_{t_min}(x) under the probability-flow ODE, reporting progress.</summary>
    public static double[] NegativeLogLikelihood(ExperimentContext context, string label, IScoreModel<float> model, NoiseSchedule schedule,
        TimeGrid grid, double[] points)
    {
        var advance = context.Progress.Start(label, grid.Steps);
        var ll = ProbabilityFlow.LogLikelihood(model, schedule, grid, ToFloat(points), new LikelihoodOptions { Progress = _ => advance(1) });
        return ll.Select(v => -v).ToArray();
    }

    public static float[] ToFloat(double[] values) => values.Select(v => (float)v).ToArray();

    public static double[] ToDouble(float[] values) => values.Select(v => (double)v).ToArray();

    /// <summary>Coordinate <paramref name="column"/> of every row of an M×D matrix.</summary>
    public static double[] Column(double[] rows, int dimension, int column) =>
        Enumerable.Range(0, rows.Length / dimension).Select(i => rows[i * dimension + column]).ToArray();

    /// <summary>E‖y‖²/D over the training rows: the per-coordinate variance of a start N(0, v I) that covers the data.</summary>
    public static double SecondMoment(double[] training, int dimension) => training.Sum(v => v * v) / training.Length;

    /// <summary>(mean, standard error of the mean).</summary>
    public static (double Mean, double StandardError) MeanAndError(double[] values)
    {
        double mean = values.Average();
        double variance = values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, values.Length - 1);
        return (mean, Math.Sqrt(variance / values.Length));
    }

    /// <summary>The smoothing scales as labels: "0.15".</summary>
    public static string Label(double value) => ResultTable.Format(value);
}
