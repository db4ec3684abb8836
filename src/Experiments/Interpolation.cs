using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Measures;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Experiments;

/// <summary>
/// The interpolation effect of score smoothing (paper 4): N equispaced training points on a segment in R^D (D = 2 and
/// D = 20), sampled with the exact score and with Gaussian log-domain smoothing. The exact score reproduces the training
/// points; the smoothed one fills the gaps between them along the segment (the tangent coordinate spreads out) while the
/// samples still converge onto the line (the normal distance stays small): smoothing the log-density interpolates along
/// the data, it does not blur off it.
/// </summary>
public sealed class Interpolation : Experiment
{
    private const int TrainingPoints = 5;

    /// <inheritdoc/>
    public override string Name => "interpolation";

    /// <inheritdoc/>
    public override string Description =>
        "Exact versus smoothed score on 5 equispaced points of a segment in R^2 and R^20: do the samples fill the gaps " +
        "(tangent coordinate) and still converge onto the line (normal distance)?";

    /// <summary>The smoothing scales compared with the exact score (0), against a spacing of 0.5 between training points.</summary>
    public static IReadOnlyList<double> Scales { get; } = [0, 0.15, 0.3];

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        int draws = context.Pick(128, 128, 256); // fewer fixed draws leave a lumpy s_k with spurious fixed points between the data (32: 86% "in the gaps" at h = 0.15, 128: 12%)
        int samples = context.Pick(200, 1000, 2000);
        int steps = context.Pick(50, 100, 200);
        const double spacing = 2.0 / (TrainingPoints - 1);
        var schedule = NoiseSchedule.VarianceExploding;
        var grid = TimeGrid.Geometric(4, 1e-4, steps); // σ from 2 to 0.01
        var table = new ResultTable("dimension", "sigma_smooth", "gap_share", "tangent_spread", "normal_distance", "memorized_share");
        var figures = new List<Figure>();

        foreach (int d in new[] { 2, 20 })
        {
            var start = new double[d];
            var end = new double[d];
            (start[0], end[0]) = (-1, 1);
            var segment = new Segment(start, end);
            var training = segment.Grid(TrainingPoints);
            var exact = Runs.Empirical(training, d);
            var tangentSets = new List<(string, double[])>();
            var normalSets = new List<(string, double[])>();
            foreach (double h in Scales)
            {
                string label = h == 0 ? "exact score" : $"sigma_smooth = {Runs.Label(h)}";
                var model = Runs.LogSmoothed(exact, h > 0 ? SmoothingKernel.Gaussian(h) : null, draws, context.Seed);
                var x = Runs.Sample(context, $"D = {d}, {label}", model, schedule, grid, samples, dataVariance: 1.0 / 3 / d, context.Seed + 2);
                var coordinate = Runs.Column(x, d, 0);           // the tangent coordinate along the segment (axis 0)
                var normal = SampleMeasures.DistanceToManifold(segment, x);
                // A sample is "in a gap" when its tangent coordinate is farther than a quarter spacing from every training point.
                double gapShare = coordinate.Average(c => DistanceToGrid(c, spacing) > spacing / 4 ? 1.0 : 0.0);
                table.Add((double)d, h, gapShare, Runs.MeanAndError(coordinate).StandardError * Math.Sqrt(samples),
                    normal.Average(), SampleMeasures.MemorizationShare(SampleMeasures.Nearest(x, training, d)));
                tangentSets.Add((label, coordinate));
                normalSets.Add((label, normal));
            }
            figures.Add(Figures.Histograms(context, $"tangent-D{d}.png",
                $"D = {d}: tangent coordinate of the samples (training points at -1, -0.5, 0, 0.5, 1)", "coordinate along the segment",
                tangentSets, bins: 80, min: -1.3, max: 1.3));
            figures.Add(Figures.Histograms(context, $"normal-D{d}.png",
                $"D = {d}: distance of the samples to the segment", "distance to the segment",
                normalSets, bins: 40, min: 0, max: normalSets.Max(s => s.Item2.Max()) * 1.01));
        }

        var findings = new List<string>();
        foreach (int d in new[] { 2, 20 })
        {
            var rows = Enumerable.Range(0, table.Rows.Count).Where(r => table.Number(r, "dimension") == d).ToArray();
            findings.Add($"D = {d}: share of samples in the gaps between training points " +
                string.Join(", ", rows.Select(r => $"{ResultTable.Format(table.Number(r, "gap_share"))} at sigma_smooth = {Runs.Label(table.Number(r, "sigma_smooth"))}")) +
                "; mean distance to the line " +
                string.Join(", ", rows.Select(r => ResultTable.Format(table.Number(r, "normal_distance")))) + ".");
        }
        string setup = $"{TrainingPoints} equispaced training points on the segment from -e1 to e1 in R^D (spacing {spacing}); VE schedule, " +
            $"sigma from 2 to 0.01 on a geometric grid of {steps} steps; Gaussian log-domain smoothing with {draws + draws % 2} fixed " +
            $"antithetic draws; {samples} samples by Euler-Maruyama per setting.";
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }

    /// <summary>Distance from c to the nearest multiple of <paramref name="spacing"/> offset from −1 (the training grid).</summary>
    private static double DistanceToGrid(double c, double spacing)
    {
        double k = Math.Clamp(Math.Round((c + 1) / spacing), 0, TrainingPoints - 1);
        return Math.Abs(c - (-1 + k * spacing));
    }
}
