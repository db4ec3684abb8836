using Kernels.Numerics;
using Kernels.Numerics.Data;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Measures;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Experiments;

/// <summary>
/// Manifold-adapted smoothing (paper 2) on the bump-image manifold: 16 images of a bump moving on a circle, in
/// pixel space (D = 4096). An isotropic kernel and a kernel tangent to the manifold are compared at the same expected
/// perturbation size E‖z‖: the tangent kernel spends all of it along the manifold, so its samples spread along the
/// bump's path (Fréchet distance to the manifold's own distribution falls), while the isotropic one spends almost all of
/// it in the 4095 normal directions.
/// </summary>
public sealed class TangentVersusIsotropic : Experiment
{
    /// <inheritdoc/>
    public override string Name => "tangent-vs-isotropic";

    /// <inheritdoc/>
    public override string Description =>
        "Isotropic versus tangent-projected log-domain smoothing on 64x64 bump images at equal perturbation size: distance " +
        "to the manifold and Frechet distance to the manifold's distribution.";

    /// <summary>The expected perturbation norms E‖z‖ compared (the nearest training images are about 7.5 apart).</summary>
    public static IReadOnlyList<double> PerturbationNorms { get; } = [1.5, 3, 6];

    /// <summary>The bump-image manifold of the papers' setting (64×64; 32×32 in quick runs).</summary>
    internal static BumpImages BumpManifold(ExperimentContext context) =>
        new(width: context.Pick(32, 64, 64), pathRadius: 0.5, bumpWidth: 0.2);

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        int samples = context.Pick(60, 200, 500);
        int draws = context.Pick(8, 16, 64);
        int steps = context.Pick(40, 100, 100);
        var bumps = BumpManifold(context);
        int d = bumps.Dimension;
        var training = bumps.Grid(16);
        var reference = bumps.Sample(samples, context.Seed + 3);
        var exact = Runs.Empirical(training, d);
        var grid = TimeGrid.Geometric(400, 0.002 * 0.002, steps); // σ from 20 to 0.002: the final noise σ√D stays below 0.13
        double variance = Runs.SecondMoment(training, d);

        // Fréchet distances in pixel space and in the first 8 principal components of the manifold's own images.
        const int components = 8;
        var pca = Pca.Fit(reference, samples, d, components);
        var referenceCodes = pca.Encode(reference);
        var table = new ResultTable("kernel", "perturbation_norm", "sigma_smooth", "distance_to_manifold", "distance_to_training",
            "memorized_share", "path_coverage", "frechet_pixels", "frechet_pca");
        var settings = new List<(string Kernel, double Norm, SmoothingKernel? Smoothing, double H)> { ("none", 0, null, 0) };
        foreach (double norm in PerturbationNorms)
        {
            // E‖z‖ ≈ h√k for k independent directions of scale h: √D for the isotropic kernel, 1 for the tangent line.
            settings.Add(("isotropic", norm, SmoothingKernel.Gaussian(norm / Math.Sqrt(d)), norm / Math.Sqrt(d)));
            settings.Add(("tangent", norm, SmoothingKernel.Tangent(bumps, norm), norm));
        }
        var panels = new List<Panel>();
        foreach (var (kernel, norm, smoothing, h) in settings)
        {
            string label = kernel == "none" ? "exact score" : $"{kernel}, E|z| = {Runs.Label(norm)}";
            var model = Runs.LogSmoothed(exact, smoothing, draws, context.Seed);
            var x = Runs.Sample(context, label, model, NoiseSchedule.VarianceExploding, grid, samples, variance, context.Seed + 2);
            var nearest = SampleMeasures.Nearest(x, training, d);
            var centres = BumpCentres(bumps, x);
            table.Add(kernel, norm, h, SampleMeasures.DistanceToManifold(bumps, x).Average(), nearest.Distance.Average(),
                SampleMeasures.MemorizationShare(nearest), PathCoverage(centres),
                SampleMeasures.FrechetDistance(x, samples, reference, samples, d),
                SampleMeasures.FrechetDistance(pca.Encode(x), samples, referenceCodes, samples, components));
            panels.Add(new Panel(label, [centres]));
        }

        var figures = new List<Figure>
        {
            Figures.Panels(context, "centres.png",
                "Where the samples' bumps sit: the centre of each sample's projection onto the manifold (the true path is the circle of radius 0.5)",
                panels, columns: 3, equalAxes: true),
        };
        var findings = new List<string>();
        foreach (double norm in PerturbationNorms)
        {
            int iso = Row(table, "isotropic", norm), tan = Row(table, "tangent", norm);
            findings.Add($"E|z| = {Runs.Label(norm)}: the bumps of the samples cover {ResultTable.Format(table.Number(tan, "path_coverage"))} of the path " +
                $"(tangent) against {ResultTable.Format(table.Number(iso, "path_coverage"))} (isotropic); Frechet distance in PCA space " +
                $"{ResultTable.Format(table.Number(tan, "frechet_pca"))} against {ResultTable.Format(table.Number(iso, "frechet_pca"))}; memorized share " +
                $"{ResultTable.Format(table.Number(tan, "memorized_share"))} against {ResultTable.Format(table.Number(iso, "memorized_share"))}; " +
                $"distance to the manifold {ResultTable.Format(table.Number(tan, "distance_to_manifold"))} against {ResultTable.Format(table.Number(iso, "distance_to_manifold"))}.");
        }
        string setup = $"16 training images ({bumps.Width}x{bumps.Width}, D = {d}) of a Gaussian bump of width 0.2 with centres equispaced on a circle " +
            $"of radius 0.5; VE schedule, sigma from 20 to 0.002 on a geometric grid of {steps} steps; log-domain smoothing with {draws} fixed " +
            $"antithetic draws, isotropic (h = E|z|/sqrt(D)) or along the manifold's tangent at the query's projection (h = E|z|); " +
            $"{samples} samples by Euler-Maruyama; Frechet distances to {samples} uniform images of the manifold, in pixel space and in " +
            $"their first {components} principal components; path coverage: the share of {CoverageBins} equal arcs of the bump's circular " +
            "path that hold the bump centre of at least one sample (the 16 training images alone cover 16 of them).";
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }

    /// <summary>Arcs of the bump path counted by <see cref="PathCoverage"/>: three per gap between training images.</summary>
    private const int CoverageBins = 48;

    /// <summary>The share of <see cref="CoverageBins"/> equal arcs, centred on the training angles and between them, that hold a sample's bump centre.</summary>
    private static double PathCoverage(Series centres)
    {
        var hit = new bool[CoverageBins];
        for (int i = 0; i < centres.X.Length; i++)
        {
            double turn = Math.Atan2(centres.Y[i], centres.X[i]) / (2 * Math.PI);
            hit[(int)Math.Floor((turn + 1 + 0.5 / CoverageBins) * CoverageBins) % CoverageBins] = true;
        }
        return hit.Count(h => h) / (double)CoverageBins;
    }

    internal static int Row(ResultTable table, string kernel, double norm) =>
        Enumerable.Range(0, table.Rows.Count).First(r => table.Text(r, "kernel") == kernel && table.Number(r, "perturbation_norm") == norm);

    /// <summary>The bump centre of each sample's nearest manifold image.</summary>
    private static Series BumpCentres(BumpImages bumps, double[] x)
    {
        int d = bumps.Dimension, m = x.Length / d;
        var cx = new double[m];
        var cy = new double[m];
        Parallel.For(0, m, i =>
        {
            Span<double> parameters = stackalloc double[bumps.IntrinsicDimension];
            bumps.Locate(x.AsSpan(i * d, d), parameters);
            (cx[i], cy[i]) = bumps.Centre(parameters);
        });
        return new Series("", cx, cy);
    }
}
