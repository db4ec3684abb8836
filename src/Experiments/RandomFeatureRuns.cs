using Kernels.Numerics;
using Kernels.Numerics.Models;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Sampling;

namespace Kernels.Experiments;

/// <summary>The plumbing of paper 2's experiments: fit a random-feature model, sample it with frames, read the ridge residual off them.</summary>
internal static class RandomFeatureRuns
{
    /// <summary>The schedule of paper 2: OU, α = e^{−t}, σ² = 1 − e^{−2t}.</summary>
    public static NoiseSchedule Schedule => NoiseSchedule.OrnsteinUhlenbeck;

    /// <summary>Draws P features for D-dimensional data and fits U, V and U's eigen-decomposition (float accumulation, double sums).</summary>
    public static RandomFeatureFit Fit(ExperimentContext context, string label, double[] training, int dimension, int features, int harmonics,
        double timeMax, RandomFeatureTraining options, ulong seed)
    {
        var advance = context.Progress.Start($"random-feature fit, {label}", 1);
        var drawn = RandomFeatures.Draw(dimension, features, harmonics, Schedule, timeMax, seed);
        var fit = RandomFeatureTrainer.Fit(new TrainingSet<float>(Runs.ToFloat(training), training.Length / dimension, dimension), drawn, options);
        advance(1);
        return fit;
    }

    /// <summary>Reverse-SDE samples (Euler–Maruyama) from N(0, v I) at t_max with frames every <paramref name="recordEvery"/> steps.</summary>
    public static SamplingResult<double> Sample(ExperimentContext context, string label, IScoreModel<double> model, TimeGrid grid,
        int count, double dataVariance, int recordEvery, ulong seed)
    {
        var advance = context.Progress.Start($"sampling, {label}", grid.Steps);
        return new ReverseSampler<double>(model, Schedule, grid).Sample(count, new SamplerOptions
        {
            Seed = seed,
            RecordEvery = recordEvery,
            Progress = _ => advance(1),
        }, dataVariance);
    }

    /// <summary>Per frame (t_max first): its time and every sample's normalised ridge residual against the d-ridge of p̂_t.</summary>
    public static (double Time, double[] Normalized)[] Residuals(ExperimentContext context, string label, EmpiricalScore<double> exact,
        IReadOnlyList<TrajectoryFrame<double>> frames, int ridgeDimension)
    {
        var advance = context.Progress.Start($"ridge residuals, {label}", frames.Count);
        return frames.Select(frame =>
        {
            var points = RidgeResidual.Evaluate(exact, frame.Samples, Schedule.At(frame.Time), ridgeDimension);
            advance(1);
            return (frame.Time, points.Select(p => p.NormalizedResidual).ToArray());
        }).ToArray();
    }

    /// <summary>
    /// The architectural bias ℓ(A(∞)) − ℓ* (integrated over the training grid) on <paramref name="replicates"/> fresh sets of
    /// noise draws, independent of the fit's: the same weights under other seeds (the draws' key follows the seed). On fresh
    /// draws it estimates a non-negative quantity (the exact posterior mean minimises the expected loss at every t) without
    /// the in-sample fit's optimism; the spread of the replicates is the Monte Carlo error of one estimate.
    /// </summary>
    public static double[] HeldOutBias(RandomFeatureFit fit, double[] converged, double[] training, RandomFeatureTraining options,
        int ridgeDimension, int replicates)
    {
        var f = fit.Features;
        var train = new TrainingSet<double>(training, training.Length / f.Dimension, f.Dimension);
        return Enumerable.Range(1, replicates).Select(r =>
        {
            var other = new RandomFeatures(f.Spatial.ToArray(), f.Temporal.ToArray(), f.Bias.ToArray(), f.Dimension, f.Harmonics, f.Activation,
                f.Schedule, f.TimeMax, f.Seed + 0x9E3779B97F4A7C15UL * (ulong)r);
            var model = new RandomFeatureScore<double>(other, converged);
            var nodes = RandomFeatureErrors.Evaluate(model, model, train, options, ridgeDimension);
            return RandomFeatureErrors.Integrate(nodes, n => n.ConvergedLoss - n.ExactLoss);
        }).ToArray();
    }

    /// <summary>A per-sample value's mean, as a curve against log10 t.</summary>
    public static Series MeanCurve(string label, (double Time, double[] Values)[] frames) =>
        new(label, frames.Select(f => Math.Log10(f.Time)).ToArray(), frames.Select(f => f.Values.Average()).ToArray(), Line: true);
}
