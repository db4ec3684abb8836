using Kernels.Numerics;
using Kernels.Numerics.Data;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Measures;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Experiments;

/// <summary>
/// Density smoothing (KDE) against log-domain smoothing (paper 1): on a circle, on the bump-image manifold and on a PCA
/// latent space of one Fashion-MNIST class (when the data set is installed), sweep the smoothing scale and plot each
/// sampler's distance to the manifold against its distance to the training set. KDE buys novelty by adding noise in
/// every direction, off the manifold; log-domain smoothing interpolates along the data, so at equal distance from the
/// training set its samples stay nearer the manifold.
/// </summary>
public sealed class KdeVersusLog : Experiment
{
    /// <inheritdoc/>
    public override string Name => "kde-vs-log";

    /// <inheritdoc/>
    public override string Description =>
        "KDE versus log-domain smoothing on a circle, on 64x64 bump images and on a Fashion-MNIST PCA latent: distance to " +
        "the manifold against distance to the training set over a sweep of smoothing scales.";

    /// <summary>A data set of the sweep: its training set, how far a sample is from its manifold, and its noise range and scales.</summary>
    /// <remarks>
    /// Each method has its own sweep of scales: in D dimensions an isotropic kernel of scale h moves a point by about h√D,
    /// which KDE turns straight into distance from the data, while log-domain smoothing needs h comparable to the spacing of
    /// the training points along the manifold before it interpolates at all. The comparison is made at equal distance from
    /// the training set, not at equal h.
    /// </remarks>
    internal sealed record Dataset(string Name, double[] Training, int Dimension, Func<double[], double[]> DistanceToManifold,
        double SigmaMax, double SigmaMin, double[] LogScales, double[] KdeScales, string Description);

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context)
    {
        int samples = context.Pick(60, 200, 500);
        int steps = context.Pick(40, 100, 100);
        var table = new ResultTable("dataset", "method", "sigma_smooth", "distance_to_training", "distance_to_manifold", "memorized_share");
        var figures = new List<Figure>();
        var findings = new List<string>();
        var setups = new List<string>();

        foreach (var data in Datasets(context, findings))
        {
            setups.Add(data.Description);
            int draws = context.Pick(8, data.Dimension > 100 ? 16 : 64, data.Dimension > 100 ? 64 : 256);
            var exact = Runs.Empirical(data.Training, data.Dimension);
            var grid = TimeGrid.Geometric(data.SigmaMax * data.SigmaMax, data.SigmaMin * data.SigmaMin, steps);
            double variance = Runs.SecondMoment(data.Training, data.Dimension);
            var curves = new List<Series>();
            foreach (string method in new[] { "log", "kde" })
            {
                var novelty = new List<double>();
                var offManifold = new List<double>();
                foreach (double h in method == "log" ? data.LogScales : data.KdeScales)
                {
                    var kernel = SmoothingKernel.Gaussian(h);
                    IScoreModel<float> model = method == "kde" ? new KdeScore<float>(exact, kernel) : Runs.LogSmoothed(exact, kernel, draws, context.Seed);
                    var x = Runs.Sample(context, $"{data.Name}, {method}, sigma_smooth = {Runs.Label(h)}", model, NoiseSchedule.VarianceExploding,
                        grid, samples, variance, context.Seed + 2);
                    var nearest = SampleMeasures.Nearest(x, data.Training, data.Dimension);
                    double toTraining = nearest.Distance.Average(), toManifold = data.DistanceToManifold(x).Average();
                    table.Add(data.Name, method, h, toTraining, toManifold, SampleMeasures.MemorizationShare(nearest));
                    novelty.Add(toTraining);
                    offManifold.Add(toManifold);
                }
                curves.Add(new Series(method == "log" ? "log-domain smoothing" : "KDE", [.. novelty], [.. offManifold], Line: true));
                curves.Add(new Series("", [.. novelty], [.. offManifold]));
            }
            figures.Add(Figures.Plot(context, $"{data.Name}.png", $"{data.Name}: distance to the manifold vs distance to the training set",
                "mean distance to the nearest training point", "mean distance to the manifold", curves));
            findings.Add(Compare(table, data.Name));
        }
        string setup = $"VE schedule on a geometric grid of {steps} steps, {samples} samples by Euler-Maruyama per setting, log-domain " +
            "smoothing with fixed antithetic draws, KDE in closed form (sigma^2 -> sigma^2 + h^2). " + string.Join(" ", setups);
        return ExperimentReport.Write(context, this, setup, table, figures, findings);
    }

    /// <summary>
    /// Compares the methods at equal novelty: for each log-domain row whose distance to the training set lies within the KDE
    /// sweep's range, the KDE curve's distance to the manifold there (linear interpolation) against the log-domain one.
    /// </summary>
    internal static string Compare(ResultTable table, string dataset)
    {
        var (logX, logY) = Curve(table, dataset, "log");
        var (kdeX, kdeY) = Curve(table, dataset, "kde");
        int compared = 0, nearer = 0;
        double worstRatio = 0;
        for (int i = 0; i < logX.Length; i++)
        {
            if (Interpolate(kdeX, kdeY, logX[i]) is not { } kde) continue;
            compared++;
            if (logY[i] < kde) nearer++;
            worstRatio = Math.Max(worstRatio, logY[i] / kde);
        }
        return compared == 0
            ? $"{dataset}: the two sweeps reach no common distance to the training set; widen the scales to compare."
            : $"{dataset}: at equal distance from the training set, log-domain smoothing is nearer the manifold than KDE in {nearer} of " +
              $"{compared} comparisons (largest ratio of distances to the manifold, log/KDE: {ResultTable.Format(worstRatio)}).";
    }

    /// <summary>The method's sweep as (distance to training, distance to manifold), sorted by the first.</summary>
    internal static (double[] X, double[] Y) Curve(ResultTable table, string dataset, string method)
    {
        var rows = Enumerable.Range(0, table.Rows.Count)
            .Where(r => table.Text(r, "dataset") == dataset && table.Text(r, "method") == method)
            .Select(r => (X: table.Number(r, "distance_to_training"), Y: table.Number(r, "distance_to_manifold")))
            .OrderBy(p => p.X).ToArray();
        return (rows.Select(p => p.X).ToArray(), rows.Select(p => p.Y).ToArray());
    }

    /// <summary>y at x on the piecewise-linear curve through (xs, ys), or null outside its range.</summary>
    internal static double? Interpolate(double[] xs, double[] ys, double x)
    {
        for (int i = 0; i + 1 < xs.Length; i++)
        {
            if (x >= xs[i] && x <= xs[i + 1])
                return xs[i + 1] == xs[i] ? ys[i] : ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i]);
        }
        return null;
    }

    private static IEnumerable<Dataset> Datasets(ExperimentContext context, List<string> findings)
    {
        var circle = new Circle(1);
        yield return new Dataset("circle", circle.Grid(12), 2, x => SampleMeasures.DistanceToManifold(circle, x),
            3, 0.01, [0.05, 0.1, 0.15, 0.2], [0.05, 0.1, 0.15, 0.2], "circle: 12 equispaced points on the unit circle, sigma from 3 to 0.01.");

        var bumps = TangentVersusIsotropic.BumpManifold(context);
        yield return new Dataset("bumps", bumps.Grid(16), bumps.Dimension, x => SampleMeasures.DistanceToManifold(bumps, x),
            20, 0.002, [1, 2, 4, 8], [0.02, 0.05, 0.1, 0.2],
            $"bumps: 16 images ({bumps.Width}x{bumps.Width}, D = {bumps.Dimension}) of a Gaussian bump of width 0.2 whose centre is equispaced on a circle of " +
            "radius 0.5, sigma from 20 to 0.002.");

        if (!FashionMnist.TryLocate(out string images, out string labels))
        {
            findings.Add($"fashion-mnist: skipped, the data set is not installed (apt-get install dataset-fashion-mnist, or set " +
                $"{FashionMnist.EnvironmentVariable} to a folder holding the IDX files).");
            yield break;
        }
        int n = context.Pick(300, 1000, 6000), k = 16;
        var shirts = Idx.ReadLabelled(images, labels).Filter(0);
        var all = shirts.ToImages();
        int d = shirts.Dimension, held = Math.Min(1000, shirts.Count - n);
        var pca = Pca.Fit(all.AsSpan(0, n * d), n, d, k);
        var training = pca.Encode(all.AsSpan(0, n * d));
        var heldOut = pca.Encode(all.AsSpan(n * d, held * d));
        // No analytic manifold here: held-out images of the class stand in for it.
        yield return new Dataset("fashion-mnist", training, k, x => SampleMeasures.Nearest(x, heldOut, k).Distance,
            20, 0.05, [0.25, 0.5, 1.0, 2.0], [0.25, 0.5, 1.0, 2.0],
            $"fashion-mnist: {n} T-shirt images (class 0) in a {k}-dimensional PCA latent; distance to the manifold measured to the " +
            $"nearest of {held} held-out T-shirts; sigma from 20 to 0.05.");
    }
}
