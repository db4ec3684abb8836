using Kernels.Numerics;
using Kernels.Numerics.Data;
using Kernels.Numerics.Models;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Sampling;

namespace Kernels.Experiments;

/// <summary>
/// Paper 2's reach-then-align signature in a latent space: samples of a random-feature score and of the exact score of a
/// 32-D PCA latent of one Fashion-MNIST class, and their normalised residual against the 20-dimensional ridge of p̂_t over
/// reverse time (near 1 while the samples travel, falling once they align with the ridge at small t).
/// </summary>
public sealed class RidgeLatent : Experiment
{
    private const int RidgeDimension = 20, LatentDimension = 32;

    /// <summary>T = t_max.</summary>
    public const double TimeMax = 10;

    /// <summary>The end of the reverse run.</summary>
    public const double MinTime = 1e-3;

    /// <summary>The times whose residual histograms are drawn (the nearest recorded frame).</summary>
    public static IReadOnlyList<double> HistogramTimes { get; } = [1, 0.1, 0.016, MinTime];

    /// <inheritdoc/>
    public override string Name => "ridge-latent";

    /// <inheritdoc/>
    public override string Description =>
        "Reach then align in a 32-D PCA latent of Fashion-MNIST T-shirts (OU, T = 10): the normalised residual of random-feature and exact-score " +
        "samples against the 20-dimensional ridge of p_t, as histograms at recorded times and its mean against t.";

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        var table = new ResultTable("sampler", "t", "sigma", "mean_normalized_residual", "median_normalized_residual");
        var findings = new List<string> { "The authors use a VAE latent of one MNIST digit; MNIST is not packaged here, so a PCA latent of Fashion-MNIST class 0 stands in." };
        if (!FashionMnist.TryLocate(out string images, out string labels))
        {
            findings.Add($"Skipped: the data set is not installed (apt-get install dataset-fashion-mnist, or set {FashionMnist.EnvironmentVariable} " +
                "to a folder holding the IDX files).");
            table.Add("none", 0, 0, 0, 0);
            return ExperimentReport.Write(context, this, "Fashion-MNIST not found.", table, [], findings);
        }
        int n = context.Pick(200, 1000, 6000);
        int features = context.Pick(200, 1000, 2000);
        int harmonics = context.Pick(16, 64, 128);
        int nodes = 2 * harmonics + 1; // resolve the embedding's highest harmonic (see ridge-synthetic)
        const int draws = 1;            // N·(2K + 1) rows already outnumber the features several times
        int samples = context.Pick(40, 400, 2000);
        int steps = context.Pick(40, 100, 500);
        int recordEvery = steps / 20;

        var shirts = Idx.ReadLabelled(images, labels).Filter(0);
        n = Math.Min(n, shirts.Count);
        var pixels = shirts.ToImages();
        int d = shirts.Dimension;
        var pca = Pca.Fit(pixels.AsSpan(0, n * d), n, d, LatentDimension);
        var codes = pca.Encode(pixels.AsSpan(0, n * d));
        // unit variance per coordinate on average, as a VAE latent has: OU's N(0, I) at T then matches the data's scale
        double scale = 1 / Math.Sqrt(Runs.SecondMoment(codes, LatentDimension));
        for (int i = 0; i < codes.Length; i++) codes[i] *= scale;

        var exact = new EmpiricalScore<double>(new TrainingSet<double>(codes, n, LatentDimension));
        var options = new RandomFeatureTraining { TimeMin = MinTime, Nodes = nodes, Draws = draws };
        var fit = RandomFeatureRuns.Fit(context, "latent", codes, LatentDimension, features, harmonics, TimeMax, options, context.Seed);
        var model = new RandomFeatureScore<double>(fit.Features, fit.Coefficients(double.PositiveInfinity));
        var grid = TimeGrid.Geometric(TimeMax, MinTime, steps);

        var runs = new List<(string Label, (double Time, double[] Values)[] Frames)>();
        foreach (var (label, score) in new (string, IScoreModel<double>)[] { ("random-feature", model), ("exact", exact) })
        {
            var run = RandomFeatureRuns.Sample(context, label, score, grid, samples, 1, recordEvery, context.Seed + 2);
            var residuals = RandomFeatureRuns.Residuals(context, label, exact, run.Trajectory, RidgeDimension);
            foreach (var (t, values) in residuals)
                table.Add(label, t, RandomFeatureRuns.Schedule.At(t).Sigma, values.Average(), RidgeDiagnostics.Median(values));
            runs.Add((label, residuals));
        }

        var figures = new List<Figure>
        {
            Figures.Plot(context, "residual.png", "Mean normalised ridge residual (d = 20) against reverse time",
                "log10 t (reverse time runs right to left)", "mean normalised residual",
                [.. runs.Select(r => RandomFeatureRuns.MeanCurve(r.Label + " score", r.Frames))]),
        };
        foreach (var (label, frames) in runs)
        {
            var marks = HistogramTimes.Select(t => frames.MinBy(f => Math.Abs(Math.Log(f.Time / t)))).Distinct().ToList();
            var sets = marks.Select(f => ($"t = {Runs.Label(f.Time)}", f.Values)).ToList();
            figures.Add(Figures.Histograms(context, $"histogram-{label}.png", $"{label} score: normalised ridge residual at recorded times",
                "normalised residual |V_perp V_perp^T g| / |g|", sets, bins: 20, min: 0, max: 1));
            findings.Add($"{label} score: mean normalised residual {ResultTable.Format(frames[0].Values.Average())} at t = {Runs.Label(frames[0].Time)}, then " +
                string.Join(", ", marks.Select(f => $"{ResultTable.Format(f.Values.Average())} at t = {Runs.Label(f.Time)}")) + ".");
        }
        findings.Add($"A direction drawn uniformly in {LatentDimension} dimensions has normalised residual about sqrt({LatentDimension - RidgeDimension}/{LatentDimension}) = " +
            $"{ResultTable.Format(Math.Sqrt((LatentDimension - RidgeDimension) / (double)LatentDimension))} against a {RidgeDimension}-dimensional ridge: the level before the samples align.");
        findings.Add($"Fit: U and V over {fit.Timing.Rows} rows in {fit.Timing.AccumulateSeconds:F1} s, eigen-decomposition ({fit.Timing.Decomposition}) in " +
            $"{fit.Timing.DecomposeSeconds:F1} s, rank {fit.Rank} of {features}.");
        string setup = $"{n} Fashion-MNIST T-shirt images (class 0) in a {LatentDimension}-dimensional PCA latent, scaled to unit mean variance per coordinate; " +
            $"OU schedule, T = {TimeMax}; a random-feature model with P = {features} ReLU features and K = {harmonics} harmonics trained to tau = infinity " +
            $"(w(t) = 1, Simpson grid of {nodes} nodes over [{Runs.Label(MinTime)}, {TimeMax}], {draws} draws per (point, node)) and the exact empirical score; " +
            $"{samples} samples each by Euler-Maruyama on the reverse SDE over a geometric grid of {steps} steps, every {recordEvery}th step recorded; " +
            $"normalised residual |V_perp V_perp^T g|/|g| against the {RidgeDimension}-dimensional ridge of p_t (g, V from the exact log-density).";
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }
}
