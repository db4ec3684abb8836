using Kernels.Numerics;
using Kernels.Numerics.Models;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Sampling;

namespace Kernels.Experiments;

/// <summary>
/// Paper 2 on two small planar training sets: a random-feature score trained in closed form for several training times τ,
/// its loss split into optimization error (τ against ∞) and architectural bias (∞ against the exact posterior mean), each
/// normal and tangential to the 1-d ridge of p̂_t, and where its reverse-SDE samples end relative to that ridge.
/// </summary>
public sealed class RidgeSynthetic : Experiment
{
    private const int RidgeDimension = 1;

    /// <summary>The training times, ∞ last.</summary>
    public static IReadOnlyList<double> Taus { get; } = [1000, 1500, 2000, 5000, double.PositiveInfinity];

    /// <summary>T = t_max of the schedule and of the Fourier embedding.</summary>
    public const double TimeMax = 10;

    /// <summary>The end of the reverse run and the first node of the training grid.</summary>
    public const double MinTime = 1e-3;

    /// <summary>A sample is on the ridge when its normalised residual is below this.</summary>
    public const double OnRidge = 0.2;

    /// <summary>A sample is near a training point within this distance.</summary>
    public const double NearRadius = 0.5;

    /// <summary>Held-out replicates of the bias (its Monte Carlo error is their spread).</summary>
    internal const int Replicates = 4;

    /// <inheritdoc/>
    public override string Name => "ridge-synthetic";

    /// <inheritdoc/>
    public override string Description =>
        "A random-feature score (OU, T = 10) on two Diracs at (+-3, 0) and on four points, trained in closed form to tau = 1000 ... infinity: " +
        "loss, optimization error and architectural bias (normal / tangential to the 1-d ridge of p_t), and its reverse-SDE samples against the ridge.";

    /// <summary>The two training sets: name, points (N×2), the square drawn around them.</summary>
    internal static IReadOnlyList<(string Name, double[] Points, double Low, double High)> Datasets { get; } =
    [
        ("two-diracs", [-3, 0, 3, 0], -4.5, 4.5),
        ("four-points", [0, 0, 5, 0, 0, 5, 2.5, 2.5], -1.5, 6.5),
    ];

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        int features = context.Pick(200, 2000, 2000);
        int harmonics = context.Pick(16, 128, 128);
        // 2K + 1 nodes resolve the embedding's highest harmonic over [t_min, T] (fewer leave the model free between nodes, and the
        // sampler visits every t); the draws then bring the rows to about ten per feature or more, so A(∞) does not fit the noise
        int nodes = 2 * harmonics + 1;
        int rows = context.Pick(4000, 24000, 100000);
        int samples = context.Pick(100, 400, 2000);
        int steps = context.Pick(40, 150, 500);
        int recordEvery = steps / 20;
        int gridSide = context.Pick(24, 50, 100);
        var grid = TimeGrid.Geometric(TimeMax, MinTime, steps);
        var options = new RidgeDiagnosticsOptions { Tolerance = 1e-6, MaxIterations = 500 };

        var table = new ResultTable("dataset", "tau", "loss", "optimization_normal", "optimization_tangential", "bias_normal", "bias_tangential",
            "heldout_bias", "heldout_bias_sd", "on_ridge_share", "mean_distance", "near_training");
        var residualTable = new ResultTable("dataset", "tau", "t", "mean_normalized_residual");
        var panels = new List<Panel>();
        var errorCurves = new List<Series>();
        var residualCurves = new List<Series>();
        var findings = new List<string>();
        var timings = new List<string>();
        foreach (var (name, points, low, high) in Datasets)
        {
            int n = points.Length / 2;
            int draws = (rows + n * nodes - 1) / (n * nodes);
            var training = new RandomFeatureTraining { TimeMin = MinTime, Nodes = nodes, Draws = draws };
            var exact = new EmpiricalScore<double>(new TrainingSet<double>(points, n, 2));
            var fit = RandomFeatureRuns.Fit(context, name, points, 2, features, harmonics, TimeMax, training, context.Seed);
            timings.Add($"{name}: U and V over {fit.Timing.Rows} rows in {fit.Timing.AccumulateSeconds:F1} s, U's eigen-decomposition " +
                $"({fit.Timing.Decomposition}) in {fit.Timing.DecomposeSeconds:F1} s, rank {fit.Rank} of {features}");
            var convergedCoefficients = fit.Coefficients(double.PositiveInfinity);
            var converged = new RandomFeatureScore<double>(fit.Features, convergedCoefficients);
            var heldOut = RandomFeatureRuns.HeldOutBias(fit, convergedCoefficients, points, training, RidgeDimension, Replicates);
            var (heldOutMean, _) = Runs.MeanAndError(heldOut);
            double heldOutSd = Math.Sqrt(heldOut.Sum(b => (b - heldOutMean) * (b - heldOutMean)) / (heldOut.Length - 1));
            var ridge = RidgeReachAlign.RidgePoints(context, exact, RandomFeatureRuns.Schedule.At(MinTime), RidgeDimension, gridSide, low, high, options);
            var training2 = new Series("training", Runs.Column(points, 2, 0), Runs.Column(points, 2, 1));
            var optimization = new List<(double Tau, double Normal, double Tangential)>();
            (double Normal, double Tangential) bias = default;
            foreach (double tau in Taus)
            {
                string tauLabel = double.IsPositiveInfinity(tau) ? "inf" : Runs.Label(tau);
                var model = double.IsPositiveInfinity(tau) ? converged : new RandomFeatureScore<double>(fit.Features, fit.Coefficients(tau), tau);
                var errors = RandomFeatureErrors.Evaluate(model, converged, exact.TrainingSet, training, RidgeDimension);
                double Integral(Func<NodeErrors, double> q) => RandomFeatureErrors.Integrate(errors, q);
                bias = (Integral(e => e.BiasNormal), Integral(e => e.BiasTangential));
                optimization.Add((tau, Integral(e => e.OptimizationNormal), Integral(e => e.OptimizationTangential)));

                var run = RandomFeatureRuns.Sample(context, $"{name}, tau = {tauLabel}", model, grid, samples, Runs.SecondMoment(points, 2),
                    recordEvery, context.Seed + 2);
                var residuals = RandomFeatureRuns.Residuals(context, $"{name}, tau = {tauLabel}", exact, run.Trajectory, RidgeDimension);
                var final = run.Samples;
                var end = RidgeResidual.Evaluate(exact, final, RandomFeatureRuns.Schedule.At(MinTime), RidgeDimension);
                double onRidge = end.Average(p => p.NormalizedResidual < OnRidge ? 1.0 : 0.0);
                double distance = RidgeDiagnostics.Frame(exact, final, RandomFeatureRuns.Schedule.At(MinTime), RidgeDimension, null, options).MeanDistance;
                var near = Enumerable.Range(0, n).Select(j => Enumerable.Range(0, samples).Average(i =>
                    Math.Sqrt(Sq(final[2 * i] - points[2 * j]) + Sq(final[2 * i + 1] - points[2 * j + 1])) < NearRadius ? 1.0 : 0.0)).ToArray();
                table.Add(name, tauLabel, Integral(e => e.Loss), optimization[^1].Normal, optimization[^1].Tangential, bias.Normal, bias.Tangential,
                    heldOutMean, heldOutSd, onRidge, distance, string.Join(" / ", near.Select(Runs.Label)));
                panels.Add(new Panel($"{name}, tau = {tauLabel}",
                    [
                        new Series("ridge", Runs.Column(ridge, 2, 0), Runs.Column(ridge, 2, 1)),
                        training2,
                        Inside(final, low, high),
                    ]));
                residualCurves.Add(RandomFeatureRuns.MeanCurve($"{name}, tau = {tauLabel}", residuals));
                foreach (var (t, values) in residuals) residualTable.Add(name, tauLabel, t, values.Average());
            }
            var finite = optimization.Where(o => double.IsFinite(o.Tau)).ToArray();
            double[] logTau = [.. finite.Select(o => Math.Log10(o.Tau))];
            errorCurves.Add(new Series($"{name}: optimization, normal", logTau, [.. finite.Select(o => o.Normal)], Line: true));
            errorCurves.Add(new Series($"{name}: optimization, tangential", logTau, [.. finite.Select(o => o.Tangential)], Line: true));
            errorCurves.Add(new Series($"{name}: bias, normal", logTau, [.. finite.Select(_ => bias.Normal)], Line: true));
            errorCurves.Add(new Series($"{name}: bias, tangential", logTau, [.. finite.Select(_ => bias.Tangential)], Line: true));
            findings.Add($"{name}: optimization error (normal + tangential) {string.Join(", ", finite.Select(o => $"{ResultTable.Format(o.Normal + o.Tangential)} at tau = {Runs.Label(o.Tau)}"))}, 0 at infinity; " +
                $"architectural bias {ResultTable.Format(bias.Normal + bias.Tangential)} in-sample ({ResultTable.Format(bias.Normal)} normal, " +
                $"{ResultTable.Format(bias.Tangential)} tangential), {ResultTable.Format(heldOutMean)} +- {ResultTable.Format(heldOutSd)} on {Replicates} fresh draw sets.");
        }
        findings.Add("Fits: " + string.Join("; ", timings) + ".");
        Directory.CreateDirectory(context.OutputDirectory);
        File.WriteAllText(Path.Combine(context.OutputDirectory, ResidualFile), residualTable.ToCsv());

        var figures = new List<Figure>
        {
            Figures.Panels(context, "samples.png",
                $"Reverse-SDE samples (green) at t = {Runs.Label(MinTime)} over the 1-d ridge of p_t there (blue, SCMS projections of a grid) and the training points (orange), per tau (samples outside the drawn square left out)",
                panels, columns: Taus.Count, equalAxes: true),
            Figures.Plot(context, "errors.png", "Optimization error and architectural bias (normal / tangential) against the training time",
                "log10 tau", "integrated loss difference", errorCurves),
            Figures.Plot(context, "residual.png", "Mean normalised ridge residual of the samples against reverse time",
                "log10 t (reverse time runs right to left)", "mean normalised residual", residualCurves),
        };
        string setup = $"two Diracs at (+-3, 0) and four points (0,0), (5,0), (0,5), (2.5,2.5); OU schedule, T = {TimeMax}; P = {features} ReLU features, " +
            $"K = {harmonics} harmonics, seed-drawn; loss with w(t) = 1 on a Simpson grid of {nodes} nodes over [{Runs.Label(MinTime)}, {TimeMax}] and " +
            $"draws per (point, node) to make at least {rows} rows ({string.Join(", ", Datasets.Select(x => $"{(rows + x.Points.Length / 2 * nodes - 1) / (x.Points.Length / 2 * nodes)} for {x.Name}"))}); A_0 = 0; A(tau) in closed form for tau in {{{string.Join(", ", Taus.Select(t => double.IsFinite(t) ? Runs.Label(t) : "inf"))}}}. " +
            $"Losses, optimization error L(A(tau)) - L(A(inf)) and architectural bias L(A(inf)) - L* are integrated over the grid on the fit's own draws and split " +
            $"by the top Hessian eigenvector of log p_t at each draw (normal / tangential); heldout_bias is the bias on {Replicates} fresh draw sets (mean, " +
            $"and sd of one set). {samples} samples per tau by Euler-Maruyama on the reverse SDE over a geometric grid of {steps} steps from {TimeMax} to " +
            $"{Runs.Label(MinTime)}, every {recordEvery}th step recorded; at t_min: the share with normalised ridge residual below {OnRidge} (d = 1), the mean " +
            $"distance |x - SCMS(x)| to the ridge, and the share within {NearRadius} of each training point (in the order listed). Mean residual per recorded frame in {ResidualFile}.";
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }

    /// <summary>The file of the mean normalised residual per (dataset, tau, recorded t).</summary>
    internal const string ResidualFile = "residual.csv";

    private static double Sq(double v) => v * v;

    /// <summary>The samples inside the drawn square (a few escape far where the model was never trained and would squash the panel).</summary>
    private static Series Inside(double[] samples, double low, double high)
    {
        var kept = Enumerable.Range(0, samples.Length / 2)
            .Where(i => samples[2 * i] >= low && samples[2 * i] <= high && samples[2 * i + 1] >= low && samples[2 * i + 1] <= high).ToArray();
        return new Series("samples", [.. kept.Select(i => samples[2 * i])], [.. kept.Select(i => samples[2 * i + 1])]);
    }
}
