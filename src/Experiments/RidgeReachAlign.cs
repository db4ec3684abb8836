using Kernels.Numerics;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Experiments;

/// <summary>
/// Reach and align (paper 2, He, Qiu and Tao): 13 training points on three arcs in the plane, the OU schedule, and the
/// 1-dimensional log-density ridge of p̂_t. The ridges at several t are drawn by projecting a grid with subspace-constrained
/// mean shift; samples of the exact score and of a log-smoothed score are run down in reverse time and, at every recorded
/// t, their ridge residual and distance to the ridge of that t are measured (the samples reach the ridge's neighbourhood
/// and then stay aligned with it), together with the smoothed score's error against the exact one split into the
/// ridge's normal and tangential directions (a smoothing along the data moves samples along the ridge, not off it).
/// </summary>
public sealed class RidgeReachAlign : Experiment
{
    private const int RidgeDimension = 1;

    /// <inheritdoc/>
    public override string Name => "ridge";

    /// <inheritdoc/>
    public override string Description =>
        "Reach and align on 13 points on three arcs (OU schedule): the 1-d log-density ridges of p_t drawn by SCMS, and the ridge " +
        "residual, distance to the ridge and normal/tangential score error of exact-score and log-smoothed samples over reverse time.";

    /// <summary>The times whose ridges are drawn (σ from 0.045 to 0.6), t_min first.</summary>
    public static IReadOnlyList<double> RidgeTimes { get; } = [MinTime, 0.01, 0.05, 0.2];

    /// <summary>The log-domain smoothing scale, against a spacing of about 0.3 between neighbouring training points.</summary>
    public const double SmoothingScale = 0.1;

    /// <summary>The reverse run's end time: σ(t_min) ≈ 0.045, a seventh of the spacing (the exact score memorizes there).</summary>
    public const double MinTime = 0.001;

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        int samples = context.Pick(60, 500, 1000);
        int steps = context.Pick(40, 120, 240);
        int recordEvery = context.Pick(4, 12, 24);
        int gridSide = context.Pick(24, 60, 100);
        const int draws = 128; // fewer fixed draws leave a lumpy s_k (see the interpolation experiment)
        var training = Arcs(context.Seed);
        int n = training.Length / 2;
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(training, n, 2));
        var smoothed = new LogSmoothedScore<double>(exact, SmoothingKernel.Gaussian(SmoothingScale),
            new SmoothingDraws(draws, context.Seed, antithetic: true, fixedDraws: true));
        var schedule = NoiseSchedule.OrnsteinUhlenbeck;
        var grid = TimeGrid.Geometric(2, MinTime, steps);
        var options = new RidgeDiagnosticsOptions { Tolerance = 1e-6, MaxIterations = 500 };

        var table = new ResultTable("sampler", "t", "sigma", "mean_residual", "mean_normalized_residual", "median_normalized_residual",
            "mean_distance", "converged_share", "mean_normal_error", "mean_tangential_error");
        var runs = new List<(string Label, RidgeFrameDiagnostics<double>[] Frames, double[] Final)>();
        var perSample = new List<string>();
        foreach (var (label, model) in new (string, IScoreModel<double>)[] { ("exact", exact), ("smoothed", smoothed) })
        {
            var frames = Trajectory(context, label, model, schedule, grid, samples, Runs.SecondMoment(training, 2), recordEvery);
            var advance = context.Progress.Start($"ridge diagnostics, {label} samples", frames.Count);
            var diagnostics = RidgeDiagnostics.Trajectory(exact, schedule, frames, RidgeDimension, smoothed,
                options with { Progress = (_, _) => advance(1) });
            foreach (var f in diagnostics)
                table.Add(label, f.Time, f.Level.Sigma, f.MeanResidual, f.MeanNormalizedResidual, f.MedianNormalizedResidual,
                    f.MeanDistance, f.ConvergedShare, f.MeanNormalError, f.MeanTangentialError);
            var rows = PrefixRows(label, diagnostics).ToList();
            perSample.AddRange(perSample.Count == 0 ? rows : rows.Skip(1));
            runs.Add((label, diagnostics, frames[^1].Samples));
        }
        Directory.CreateDirectory(context.OutputDirectory);
        File.WriteAllLines(Path.Combine(context.OutputDirectory, "ridge-samples.csv"), perSample);

        var ridges = RidgeTimes.Select(t => (Time: t, Points: RidgePoints(context, exact, schedule.At(t), RidgeDimension, gridSide, BoxLow, BoxHigh, options))).ToList();
        var figures = Plots(context, training, ridges, runs);
        var findings = Findings(runs);
        string setup = $"13 training points on three arcs (5, 4, 4 points, spacing about 0.3 along each, arcs about 1.6 apart, angles jittered by the seed); OU schedule (alpha = e^-t, sigma^2 = 1 - e^-2t), " +
            $"t from 2 down to {MinTime} on a geometric grid of {steps} steps; {samples} samples by Heun on the probability-flow ODE with the exact score and with " +
            $"Gaussian log-domain smoothing (sigma_smooth = {SmoothingScale}, {draws} fixed antithetic draws); every {recordEvery}th step recorded. " +
            $"Per recorded t, against the 1-d ridge of p_t: residual |V_perp V_perp^T g| (and over |g|), distance |x - SCMS(x)| (tolerance " +
            $"{options.Tolerance:G2} on the normalised residual, at most {options.MaxIterations} steps; converged_share those that met it), and the " +
            $"smoothed score's error against the exact one split by the Hessian's top eigenvector at x (normal and tangential norms). " +
            $"Ridges drawn by projecting a {gridSide}x{gridSide} grid over the data's box with SCMS (converged points with negative curvature " +
            $"across the ridge, inside the box, where log p_t is within {DrawnNats} nats of its largest value on the ridge, kept). Per-sample rows in ridge-samples.csv.";
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }

    /// <summary>
    /// 13 points on three arcs (5, 4, 4 points) 0.3 apart along each arc: pieces of circles of radius 0.8 centred 0.6 from
    /// the origin at 90°, 210° and 330°, each bulging outward (their ends about 1.6 apart), each point's angle jittered by
    /// up to ±7.5% of the step from <paramref name="seed"/>.
    /// </summary>
    internal static double[] Arcs(ulong seed)
    {
        const double radius = 0.8, offset = 0.6, step = 0.3 / radius;
        var rng = new Random(unchecked((int)seed * 7919 + 13));
        var points = new List<double>();
        int[] counts = [5, 4, 4];
        for (int arc = 0; arc < 3; arc++)
        {
            double direction = Math.PI / 2 + 2 * Math.PI * arc / 3;
            double cx = offset * Math.Cos(direction), cy = offset * Math.Sin(direction);
            for (int j = 0; j < counts[arc]; j++)
            {
                double theta = direction + step * (j - (counts[arc] - 1) / 2.0 + 0.15 * (rng.NextDouble() - 0.5));
                points.Add(cx + radius * Math.Cos(theta));
                points.Add(cy + radius * Math.Sin(theta));
            }
        }
        return [.. points];
    }

    /// <summary>Reverse-time samples with frames every <paramref name="recordEvery"/> steps (t_max first), reporting progress.</summary>
    private static IReadOnlyList<TrajectoryFrame<double>> Trajectory(ExperimentContext context, string label, IScoreModel<double> model,
        NoiseSchedule schedule, TimeGrid grid, int count, double dataVariance, int recordEvery)
    {
        var advance = context.Progress.Start($"sampling, {label} score", grid.Steps);
        return new ReverseSampler<double>(model, schedule, grid).Sample(count, new SamplerOptions
        {
            Seed = context.Seed + 2,
            RecordEvery = recordEvery,
            // the probability-flow ODE: a sample moves by the score alone (no injected noise), so its motion relative to the
            // ridge is the score's doing
            Method = SamplerMethod.Heun,
            Progress = _ => advance(1),
        }, dataVariance).Trajectory;
    }

    /// <summary>The per-sample CSV of one run with the sampler's label as its first column.</summary>
    private static IEnumerable<string> PrefixRows(string label, RidgeFrameDiagnostics<double>[] diagnostics)
    {
        var text = new StringWriter();
        RidgeDiagnosticsCsv.WriteSamples(text, diagnostics);
        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();
        yield return "sampler," + lines[0];
        foreach (var line in lines.Skip(1)) yield return label + "," + line;
    }

    /// <summary>
    /// The SCMS projections of a grid over the data's box that converged onto a true ridge point (negative curvature across)
    /// inside the box, where log p_t is within <see cref="DrawnNats"/> of its largest value over them: far from the data a
    /// single point dominates the weights and the ridge runs on through regions of negligible density. The box is the square
    /// [<paramref name="boxLow"/>, <paramref name="boxHigh"/>]² of a 2-D training set.
    /// </summary>
    internal static double[] RidgePoints(ExperimentContext context, EmpiricalScore<double> exact, NoiseLevel level, int ridgeDimension,
        int side, double boxLow, double boxHigh, RidgeDiagnosticsOptions options)
    {
        var starts = new double[side * side * 2];
        for (int i = 0; i < side; i++)
            for (int j = 0; j < side; j++)
            {
                starts[(i * side + j) * 2] = boxLow + (boxHigh - boxLow) * (i + 0.5) / side;
                starts[(i * side + j) * 2 + 1] = boxLow + (boxHigh - boxLow) * (j + 0.5) / side;
            }
        var advance = context.Progress.Start($"ridge of p_t at sigma = {level.Sigma:G2}", 1);
        var projection = RidgeProjection.Project(exact, starts, level, ridgeDimension, options.Tolerance ?? 1e-6, options.MaxIterations);
        var logDensity = exact.LogDensity(projection.Points, level);
        var kept = Enumerable.Range(0, side * side).Where(q =>
        {
            var report = projection.Reports[q];
            double x = projection.Points[q * 2], y = projection.Points[q * 2 + 1];
            return report.Converged && report.CurvatureOk && x >= boxLow && x <= boxHigh && y >= boxLow && y <= boxHigh;
        }).ToArray();
        double top = kept.Length > 0 ? kept.Max(q => logDensity[q]) : 0;
        advance(1);
        return [.. kept.Where(q => logDensity[q] >= top - DrawnNats).SelectMany(q => new[] { projection.Points[q * 2], projection.Points[q * 2 + 1] })];
    }

    /// <summary>The square gridded and drawn: the arcs reach 1.4 from the origin, so a margin of two spacings.</summary>
    private const double BoxLow = -2, BoxHigh = 2;

    /// <summary>Ridge points are drawn where log p_t is at most this many nats below its largest value on the drawn ridge.</summary>
    private const double DrawnNats = 10;

    private static List<Figure> Plots(ExperimentContext context, double[] training,
        List<(double Time, double[] Points)> ridges, List<(string Label, RidgeFrameDiagnostics<double>[] Frames, double[] Final)> runs)
    {
        var data = new Series("training", Runs.Column(training, 2, 0), Runs.Column(training, 2, 1));
        var panels = ridges.Select(r =>
        {
            var level = NoiseSchedule.OrnsteinUhlenbeck.At(r.Time);
            var scaled = new Series("training", Runs.Column(training, 2, 0).Select(v => level.Alpha * v).ToArray(),
                Runs.Column(training, 2, 1).Select(v => level.Alpha * v).ToArray());
            return new Panel($"t = {Runs.Label(r.Time)} (sigma = {ResultTable.Format(level.Sigma)})",
                [new Series("ridge", Runs.Column(r.Points, 2, 0), Runs.Column(r.Points, 2, 1)), scaled]);
        }).ToList();
        var last = ridges[0];
        var samplePanels = runs.Select(run => new Panel($"{run.Label} score: samples at t = {Runs.Label(MinTime)}",
            [
                new Series("ridge", Runs.Column(last.Points, 2, 0), Runs.Column(last.Points, 2, 1)),
                data,
                new Series("samples", Runs.Column(run.Final, 2, 0), Runs.Column(run.Final, 2, 1)),
            ])).ToList();
        Series Curve(string label, RidgeFrameDiagnostics<double>[] frames, Func<RidgeFrameDiagnostics<double>, double> value) =>
            new(label, frames.Select(f => Math.Log10(f.Time)).ToArray(), frames.Select(value).ToArray(), Line: true);
        return
        [
            Figures.Panels(context, "ridges.png",
                "The 1-d ridge of p_t (blue: SCMS projections of a grid) over the training points scaled by alpha_t (orange), at four times",
                panels, columns: 2, equalAxes: true),
            Figures.Panels(context, "samples.png",
                $"Final samples (green) of the exact and the smoothed score over the ridge at t = {Runs.Label(MinTime)} (blue) and the training points (orange)",
                samplePanels, columns: 2, equalAxes: true),
            Figures.Plot(context, "residual.png", "Mean normalised ridge residual |V_perp V_perp^T g|/|g| against reverse time",
                "log10 t (reverse time runs right to left)", "mean normalised residual",
                [.. runs.Select(r => Curve(r.Label + " score", r.Frames, f => f.MeanNormalizedResidual))]),
            Figures.Plot(context, "distance.png", "Mean distance of the samples to the ridge of p_t against reverse time",
                "log10 t (reverse time runs right to left)", "mean |x - SCMS(x)|",
                [.. runs.Select(r => Curve(r.Label + " score", r.Frames, f => f.MeanDistance))]),
            Figures.Plot(context, "error.png", "Smoothed minus exact score at the smoothed samples: normal and tangential parts",
                "log10 t (reverse time runs right to left)", "mean norm",
                [
                    Curve("normal |P_N e|", runs[1].Frames, f => f.MeanNormalError),
                    Curve("tangential |P_T e|", runs[1].Frames, f => f.MeanTangentialError),
                ]),
        ];
    }

    private static List<string> Findings(List<(string Label, RidgeFrameDiagnostics<double>[] Frames, double[] Final)> runs)
    {
        var findings = new List<string>();
        foreach (var (label, frames, _) in runs)
        {
            var first = frames[0];
            var last = frames[^1];
            var peak = frames.MaxBy(f => f.MeanNormalizedResidual)!;
            findings.Add($"{label} score: mean normalised residual {ResultTable.Format(first.MeanNormalizedResidual)} at t = {Runs.Label(first.Time)}, " +
                $"at most {ResultTable.Format(peak.MeanNormalizedResidual)} (t = {Runs.Label(peak.Time)}), {ResultTable.Format(last.MeanNormalizedResidual)} at " +
                $"t = {Runs.Label(last.Time)}; mean distance to the ridge {ResultTable.Format(first.MeanDistance)} -> {ResultTable.Format(last.MeanDistance)}.");
        }
        var smoothedFrames = runs[1].Frames;
        double normal = smoothedFrames.Average(f => f.MeanNormalError), tangential = smoothedFrames.Average(f => f.MeanTangentialError);
        var end = smoothedFrames[^1];
        findings.Add($"Smoothed minus exact score at the smoothed samples, averaged over the recorded times: normal part {ResultTable.Format(normal)}, " +
            $"tangential part {ResultTable.Format(tangential)}; at t = {Runs.Label(end.Time)} the tangential part is " +
            $"{ResultTable.Format(end.MeanTangentialError / end.MeanNormalError)} times the normal one: the smoothing moves samples along the ridge, not off it.");
        return findings;
    }
}
