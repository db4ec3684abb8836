using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Measures;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Experiments;

/// <summary>
/// Geometric bias (paper 1): 30 training points on the wavy circle r(θ) = 1 + 0.13 sin 8θ, the VE schedule from σ = 2
/// down to σ = 0.001, and log-domain smoothing with an isotropic Gaussian kernel or a kernel tangent to the unit circle,
/// at three scales. Which manifold do the samples interpolate? The kernel is a choice of geometry: the circle-tangent
/// kernel smooths along the unit circle and flattens the waves as its scale grows, the isotropic one follows the data's
/// own curve at small scales.
/// </summary>
public sealed class WavyCircleBias : Experiment
{
    /// <inheritdoc/>
    public override string Name => "wavy-circle";

    /// <inheritdoc/>
    public override string Description =>
        "Isotropic versus circle-tangent log-domain smoothing of 30 points on a wavy circle: which manifold do the samples " +
        "interpolate, the wavy circle of the data or the unit circle of the kernel?";

    /// <summary>The smoothing scales of the paper.</summary>
    public static IReadOnlyList<double> Scales { get; } = [0.1, 0.25, 1.0];

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        int draws = context.Pick(32, 200, 200);
        int samples = context.Pick(150, 500, 1000);
        int steps = context.Pick(50, 100, 100);
        var wavy = new WavyCircle(amplitude: 0.13, frequency: 8);
        var circle = new Circle(1);
        var training = wavy.Grid(30);
        var schedule = NoiseSchedule.VarianceExploding;
        var grid = TimeGrid.Geometric(4, 1e-6, steps); // σ = √t from 2 down to 0.001
        var exact = Runs.Empirical(training, 2);

        var table = new ResultTable("kernel", "sigma_smooth", "distance_to_wavy", "distance_to_circle", "closer_to_wavy_share",
            "memorized_share");
        var panels = new List<Panel>();
        var curves = CurveSeries(wavy, circle);
        foreach (var (kernelName, make) in new (string, Func<double, SmoothingKernel>)[]
                 {
                     ("isotropic", h => SmoothingKernel.Gaussian(h)),
                     ("circle-tangent", h => SmoothingKernel.Tangent(circle, h)),
                 })
        {
            foreach (double h in Scales)
            {
                string label = $"{kernelName}, sigma_smooth = {Runs.Label(h)}";
                var model = Runs.LogSmoothed(exact, make(h), draws, context.Seed);
                var x = Runs.Sample(context, $"sampling, {label}", model, schedule, grid, samples, dataVariance: 0.5, context.Seed + 2);
                var toWavy = SampleMeasures.DistanceToManifold(wavy, x);
                var toCircle = SampleMeasures.DistanceToManifold(circle, x);
                table.Add(kernelName, h, toWavy.Average(), toCircle.Average(),
                    toWavy.Zip(toCircle, (w, c) => w < c ? 1.0 : 0.0).Average(),
                    SampleMeasures.MemorizationShare(SampleMeasures.Nearest(x, training, 2)));
                panels.Add(new Panel(label, [
                    .. curves,
                    new Series("samples", Runs.Column(x, 2, 0), Runs.Column(x, 2, 1)),
                    new Series("training", Runs.Column(training, 2, 0), Runs.Column(training, 2, 1)),
                ]));
            }
        }

        var figures = new List<Figure>
        {
            Figures.Panels(context, "samples.png",
                "Samples by kernel (rows: isotropic, circle-tangent) and scale (columns); wavy circle and unit circle drawn",
                panels, columns: Scales.Count, equalAxes: true),
        };
        var findings = new List<string>();
        for (int row = 0; row < table.Rows.Count; row++)
        {
            double w = table.Number(row, "distance_to_wavy"), c = table.Number(row, "distance_to_circle");
            findings.Add($"{table.Text(row, "kernel")} at sigma_smooth = {Runs.Label(table.Number(row, "sigma_smooth"))}: samples lie nearer the " +
                $"{(w < c ? "wavy circle" : "unit circle")} (mean distance {ResultTable.Format(w)} to the wavy circle, {ResultTable.Format(c)} to the unit circle).");
        }
        string setup = $"30 equispaced training points on r = 1 + 0.13 sin(8 theta); VE schedule, sigma from 2 to 0.001 (t = sigma^2) on a " +
            $"geometric grid of {steps} steps; log-domain smoothing with {draws + draws % 2} fixed antithetic draws, isotropic Gaussian or " +
            $"tangent to the unit circle (tangent space at the query's projection); {samples} samples by Euler-Maruyama.";
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }

    /// <summary>The two curves as closed lines (the second and third series colours are taken by samples and training).</summary>
    private static Series[] CurveSeries(Manifold wavy, Manifold circle)
    {
        var w = wavy.Grid(400);
        var c = circle.Grid(400);
        return
        [
            new Series("wavy circle", [.. Runs.Column(w, 2, 0), w[0]], [.. Runs.Column(w, 2, 1), w[1]], Line: true),
            new Series("unit circle", [.. Runs.Column(c, 2, 0), c[0]], [.. Runs.Column(c, 2, 1), c[1]], Line: true),
        ];
    }
}
