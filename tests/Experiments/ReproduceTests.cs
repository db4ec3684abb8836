using System.Globalization;
using Kernels.Experiments;
using Kernels.Numerics.Data;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Experiments;

/// <summary>Every experiment of <c>kernels reproduce</c>, run once in quick mode with seed 1 and shared by the tests below.</summary>
public sealed class QuickRuns : IDisposable
{
    public QuickRuns()
    {
        Root = Path.Combine(Path.GetTempPath(), "kernels-reproduce-" + Guid.NewGuid().ToString("N"));
        Reports = Experiment.All.ToDictionary(e => e.Name,
            e => e.Run(new ExperimentContext(Path.Combine(Root, e.Name), ExperimentSize.Quick, Seed: 1, SilentProgress.Instance)));
    }

    public string Root { get; }

    public IReadOnlyDictionary<string, ExperimentReport> Reports { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>
/// The experiments end to end: their files (CSV columns, finite numbers, PNGs, a summary that links them) and the papers'
/// qualitative claims on seeded quick runs.
/// </summary>
public class ReproduceTests(QuickRuns runs) : IClassFixture<QuickRuns>
{
    public static TheoryData<string, string[]> Columns => new()
    {
        { "circle-ucurve", ["sigma_smooth", "nll_mean", "nll_stderr", "distance_to_circle", "distance_to_training", "memorized_share", "mean_radius"] },
        { "wavy-circle", ["kernel", "sigma_smooth", "distance_to_wavy", "distance_to_circle", "closer_to_wavy_share", "memorized_share"] },
        { "kde-vs-log", ["dataset", "method", "sigma_smooth", "distance_to_training", "distance_to_manifold", "memorized_share"] },
        { "tangent-vs-isotropic", ["kernel", "perturbation_norm", "sigma_smooth", "distance_to_manifold", "distance_to_training", "memorized_share", "path_coverage", "frechet_pixels", "frechet_pca"] },
        { "interpolation", ["dimension", "sigma_smooth", "gap_share", "tangent_spread", "normal_distance", "memorized_share"] },
        { "ridge", ["sampler", "t", "sigma", "mean_residual", "mean_normalized_residual", "median_normalized_residual", "mean_distance", "converged_share", "mean_normal_error", "mean_tangential_error"] },
        { "ridge-synthetic", ["dataset", "tau", "loss", "optimization_normal", "optimization_tangential", "bias_normal", "bias_tangential", "heldout_bias", "heldout_bias_sd", "on_ridge_share", "mean_distance", "near_training"] },
        { "ridge-latent", ["sampler", "t", "sigma", "mean_normalized_residual", "median_normalized_residual"] },
    };

    /// <summary>True when <paramref name="name"/> needs Fashion-MNIST and it is absent: then the report says it skipped.</summary>
    private bool SkippedForMissingData(string name)
    {
        if (name != "ridge-latent" || FashionMnist.TryLocate(out _, out _)) return false;
        Assert.Contains(runs.Reports[name].Findings, f => f.StartsWith("Skipped: the data set is not installed", StringComparison.Ordinal));
        return true;
    }

    [Theory]
    [MemberData(nameof(Columns))]
    public void Csv_HasTheExpectedColumns_AndOnlyFiniteNumbers(string name, string[] columns)
    {
        if (SkippedForMissingData(name)) return;
        var report = runs.Reports[name];
        var lines = File.ReadAllLines(report.CsvPath);
        Assert.Equal(string.Join(',', columns), lines[0]);
        Assert.True(lines.Length > 2, $"{name}: {lines.Length - 1} data rows");
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            Assert.Equal(columns.Length, cells.Length);
            foreach (var cell in cells)
            {
                if (double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                    Assert.True(double.IsFinite(value), $"{name}: non-finite value in '{line}'");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Columns))]
    public void Summary_LinksEveryPlot_AndEveryPlotIsAPng(string name, string[] _)
    {
        if (SkippedForMissingData(name)) return;
        var report = runs.Reports[name];
        string summary = File.ReadAllText(report.SummaryPath);
        Assert.Contains($"# {name}", summary);
        Assert.Contains("| " + string.Join(" | ", report.Table.Columns) + " |", summary);
        Assert.NotEmpty(report.Figures);
        foreach (var figure in report.Figures)
        {
            Assert.Contains($"]({figure.File})", summary);
            var bytes = File.ReadAllBytes(Path.Combine(report.Directory, figure.File));
            Assert.True(bytes.Length > 1000, $"{figure.File} has {bytes.Length} bytes");
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
    }

    /// <summary>
    /// Paper 1's U: the exact score memorizes (every sample nearest one training point by a factor 3, and the true circle's NLL
    /// well above the best), the minimum is interior, and the largest scale collapses (NLL up again, samples pulled inward).
    /// </summary>
    [Fact]
    public void CircleUCurve_MemorizesAtZero_HasAnInteriorMinimum_AndCollapsesAtLargeScales()
    {
        var table = runs.Reports["circle-ucurve"].Table;
        var nll = table.Numbers("nll_mean");
        int best = Array.IndexOf(nll, nll.Min());
        Assert.InRange(best, 1, nll.Length - 2);
        Assert.True(table.Number(0, "memorized_share") >= 0.95, $"memorized share at 0: {table.Number(0, "memorized_share")}");
        Assert.True(nll[0] > nll[best] + 1, $"NLL {nll[0]} at 0 against {nll[best]} at the minimum");
        Assert.True(nll[^1] > nll[best] + 0.5, $"NLL {nll[^1]} at the largest scale against {nll[best]}");
        var radius = table.Numbers("mean_radius");
        Assert.True(radius[^1] < radius[0] - 0.05, $"mean radius {radius[^1]} at the largest scale against {radius[0]} at 0");
        Assert.True(table.Number(best, "memorized_share") < table.Number(0, "memorized_share"));
    }

    /// <summary>At equal distance from the training set, log-domain samples lie nearer the manifold than KDE samples, in every comparison.</summary>
    [Theory]
    [InlineData("circle")]
    [InlineData("bumps")]
    [InlineData("fashion-mnist")]
    public void KdeVersusLog_LogDomainStaysNearerTheManifold(string dataset)
    {
        var table = runs.Reports["kde-vs-log"].Table;
        if (dataset == "fashion-mnist" && !FashionMnist.TryLocate(out _, out _))
        {
            Assert.DoesNotContain(table.Rows, r => (string)r[0] == dataset);
            Assert.Contains(runs.Reports["kde-vs-log"].Findings, f => f.Contains("fashion-mnist: skipped", StringComparison.Ordinal));
            return;
        }
        var (logX, logY) = KdeVersusLog.Curve(table, dataset, "log");
        var (kdeX, kdeY) = KdeVersusLog.Curve(table, dataset, "kde");
        int compared = 0;
        for (int i = 0; i < logX.Length; i++)
        {
            if (KdeVersusLog.Interpolate(kdeX, kdeY, logX[i]) is not { } kde) continue;
            compared++;
            Assert.True(logY[i] < kde, $"{dataset}: log-domain distance to the manifold {logY[i]} against KDE {kde} at distance {logX[i]} from the data");
        }
        Assert.True(compared >= 2, $"{dataset}: only {compared} comparisons at equal distance from the data");
    }

    /// <summary>At every perturbation size the tangent kernel moves the samples' bumps along more of the path and memorizes less.</summary>
    [Fact]
    public void TangentVersusIsotropic_TangentKernelFillsThePath()
    {
        var table = runs.Reports["tangent-vs-isotropic"].Table;
        foreach (double norm in TangentVersusIsotropic.PerturbationNorms)
        {
            int iso = TangentVersusIsotropic.Row(table, "isotropic", norm), tan = TangentVersusIsotropic.Row(table, "tangent", norm);
            Assert.True(table.Number(tan, "path_coverage") > table.Number(iso, "path_coverage") + 0.1, $"E|z| = {norm}: coverage");
            Assert.True(table.Number(tan, "memorized_share") < table.Number(iso, "memorized_share"), $"E|z| = {norm}: memorization");
        }
    }

    /// <summary>
    /// The exact score leaves nothing in the gaps; the largest smoothing puts most samples there, and in both dimensions the
    /// smoothed samples still converge onto the line as closely as the exact ones (within 10%: the final noise σ_min√(D−1)).
    /// </summary>
    [Fact]
    public void Interpolation_SmoothingFillsTheGaps_AndStaysOnTheLine()
    {
        var table = runs.Reports["interpolation"].Table;
        foreach (double d in new[] { 2.0, 20.0 })
        {
            var rows = Enumerable.Range(0, table.Rows.Count).Where(r => table.Number(r, "dimension") == d).ToArray();
            double exactGap = table.Number(rows[0], "gap_share"), smoothGap = table.Number(rows[^1], "gap_share");
            Assert.True(exactGap < 0.02, $"D = {d}: gap share {exactGap} with the exact score");
            Assert.True(smoothGap > 0.4, $"D = {d}: gap share {smoothGap} with the largest smoothing");
            Assert.True(table.Number(rows[^1], "normal_distance") < 1.1 * table.Number(rows[0], "normal_distance"), $"D = {d}: normal distance");
        }
    }

    /// <summary>The isotropic kernel follows the data's wavy circle at small scales and collapses toward the centre at the largest.</summary>
    [Fact]
    public void WavyCircle_SmallIsotropicFollowsTheData_LargeCollapses()
    {
        var table = runs.Reports["wavy-circle"].Table;
        int small = Enumerable.Range(0, table.Rows.Count).First(r => table.Text(r, "kernel") == "isotropic" && table.Number(r, "sigma_smooth") == 0.1);
        int large = Enumerable.Range(0, table.Rows.Count).First(r => table.Text(r, "kernel") == "isotropic" && table.Number(r, "sigma_smooth") == 1.0);
        Assert.True(table.Number(small, "distance_to_wavy") < table.Number(small, "distance_to_circle"));
        Assert.True(table.Number(large, "distance_to_circle") > 0.5, $"distance to the circle {table.Number(large, "distance_to_circle")}");
    }

    /// <summary>The rows of one sampler of the ridge experiment, in recorded order (t_max first).</summary>
    private static int[] RidgeRows(ResultTable table, string sampler) =>
        Enumerable.Range(0, table.Rows.Count).Where(r => table.Text(r, "sampler") == sampler).ToArray();

    /// <summary>
    /// Reach: over the last stretch of reverse time (t ≤ 0.1) the samples' mean distance to the ridge of p_t falls at every
    /// recorded time, and at t_min it is under a tenth of its value at t_max and under 1.5 σ(t_min): the samples end near the ridge.
    /// </summary>
    [Fact]
    public void Ridge_SamplesReachTheRidge()
    {
        var table = runs.Reports["ridge"].Table;
        foreach (string sampler in new[] { "exact", "smoothed" })
        {
            var rows = RidgeRows(table, sampler);
            var late = rows.Where(r => table.Number(r, "t") <= 0.1).ToArray();
            Assert.True(late.Length >= 4, $"{sampler}: {late.Length} recorded times with t <= 0.1");
            for (int i = 1; i < late.Length; i++)
                Assert.True(table.Number(late[i], "mean_distance") < table.Number(late[i - 1], "mean_distance"),
                    $"{sampler}: mean distance {table.Number(late[i], "mean_distance")} at t = {table.Number(late[i], "t")} after {table.Number(late[i - 1], "mean_distance")}");
            double first = table.Number(rows[0], "mean_distance"), last = table.Number(rows[^1], "mean_distance");
            Assert.True(last < 0.1 * first, $"{sampler}: mean distance {last} at t_min against {first} at t_max");
            // samples of p_t sit about 0.8 σ from a 1-d ridge in the plane (E|N(0, σ²)|); 1.5 σ leaves room for 60 samples' spread
            Assert.True(last < 1.5 * table.Number(rows[^1], "sigma"), $"{sampler}: mean distance {last} against sigma {table.Number(rows[^1], "sigma")}");
            Assert.True(table.Numbers("converged_share").All(s => s >= 0.95), "every recorded time: at least 95% of the projections converge");
        }
    }

    /// <summary>
    /// Align: the mean normalised residual peaks while σ is near the spacing of the data and falls over the last stretch of
    /// reverse time; the smoothed score's samples end better aligned (a lower residual) than the exact score's, which sit
    /// around the training points where the score has no preferred direction.
    /// </summary>
    [Fact]
    public void Ridge_NormalizedResidualFallsOverTheLastStretch()
    {
        var table = runs.Reports["ridge"].Table;
        var exact = RidgeRows(table, "exact");
        var smoothed = RidgeRows(table, "smoothed");
        double Peak(int[] rows) => rows.Where(r => table.Number(r, "t") <= 0.05).Max(r => table.Number(r, "mean_normalized_residual"));
        double exactEnd = table.Number(exact[^1], "mean_normalized_residual"), smoothedEnd = table.Number(smoothed[^1], "mean_normalized_residual");
        Assert.True(exactEnd < Peak(exact), $"exact: {exactEnd} at t_min against a peak of {Peak(exact)}");
        Assert.True(smoothedEnd < 0.75 * Peak(smoothed), $"smoothed: {smoothedEnd} at t_min against a peak of {Peak(smoothed)}");
        Assert.True(smoothedEnd < exactEnd, $"smoothed {smoothedEnd} against exact {exactEnd} at t_min");
    }

    /// <summary>
    /// Slide: at t_min the smoothed score's error against the exact score is more than ten times as large along the ridge as
    /// across it; and in the per-sample CSV the normal and tangential parts add up to the error's norm (Pythagoras, to the
    /// rounding of three dot products in two dimensions: 1e-12 relative).
    /// </summary>
    [Fact]
    public void Ridge_SmoothingErrorIsTangential_AndItsPartsAddUp()
    {
        var report = runs.Reports["ridge"];
        var table = report.Table;
        var last = RidgeRows(table, "smoothed")[^1];
        Assert.True(table.Number(last, "mean_tangential_error") > 10 * table.Number(last, "mean_normal_error"),
            $"tangential {table.Number(last, "mean_tangential_error")} against normal {table.Number(last, "mean_normal_error")}");
        var lines = File.ReadAllLines(Path.Combine(report.Directory, "ridge-samples.csv"));
        var header = lines[0].Split(',');
        Assert.Equal("sampler", header[0]);
        int e = Array.IndexOf(header, "error_norm"), n = Array.IndexOf(header, "normal_error"), t = Array.IndexOf(header, "tangential_error");
        Assert.True(e > 0 && n > 0 && t > 0);
        Assert.True(lines.Length > 100);
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            double error = Parse(cells[e]), normal = Parse(cells[n]), tangential = Parse(cells[t]);
            Assert.True(Math.Abs(normal * normal + tangential * tangential - error * error) <= 1e-12 * error * error, line);
        }
    }

    /// <summary>The rows of one data set of ridge-synthetic, in the order of <see cref="RidgeSynthetic.Taus"/> (∞ last).</summary>
    private static int[] SyntheticRows(ResultTable table, string dataset) =>
        Enumerable.Range(0, table.Rows.Count).Where(r => table.Text(r, "dataset") == dataset).ToArray();

    /// <summary>
    /// The optimization error L(A(τ)) − L(A(∞)) is positive at every finite τ, falls as τ grows, is exactly 0 at τ = ∞ (the
    /// same coefficients on both sides), and at τ = 5000 is under half its value at τ = 1000 (the slow eigen-directions of U
    /// decay as e^{−2τλ}: a factor 5 in τ).
    /// </summary>
    [Theory]
    [InlineData("two-diracs")]
    [InlineData("four-points")]
    public void RidgeSynthetic_OptimizationErrorFallsWithTau_TowardZero(string dataset)
    {
        var table = runs.Reports["ridge-synthetic"].Table;
        var rows = SyntheticRows(table, dataset);
        Assert.Equal(RidgeSynthetic.Taus.Count, rows.Length);
        double Optimization(int r) => table.Number(r, "optimization_normal") + table.Number(r, "optimization_tangential");
        for (int i = 0; i < rows.Length - 1; i++)
        {
            Assert.True(Optimization(rows[i]) > 0, $"{dataset}: optimization error {Optimization(rows[i])} at tau = {table.Text(rows[i], "tau")}");
            Assert.True(Optimization(rows[i + 1]) < Optimization(rows[i]),
                $"{dataset}: {Optimization(rows[i + 1])} at tau = {table.Text(rows[i + 1], "tau")} after {Optimization(rows[i])}");
            Assert.True(table.Number(rows[i + 1], "loss") < table.Number(rows[i], "loss"), $"{dataset}: the loss falls with tau");
        }
        Assert.Equal("inf", table.Text(rows[^1], "tau"));
        Assert.Equal(0.0, Optimization(rows[^1]));
        Assert.True(Optimization(rows[^2]) < 0.5 * Optimization(rows[0]), $"{dataset}: {Optimization(rows[^2])} at 5000 against {Optimization(rows[0])} at 1000");
    }

    /// <summary>
    /// The architectural bias L(A(∞)) − L* is non-negative within Monte Carlo error. On fresh draws it estimates an expected
    /// loss difference that is ≥ 0 (the exact posterior mean minimises the expected loss at every t), so its mean over the
    /// replicates must exceed −3 sd/√R (sd: the spread of one draw set's estimate, R replicates). In-sample, A(∞) is the
    /// least-squares fit to those very draws and can undercut L* by fitting their noise; with ten rows or more per feature
    /// that optimism is of the order of one draw set's spread, so −3 sd bounds it.
    /// </summary>
    [Theory]
    [InlineData("two-diracs")]
    [InlineData("four-points")]
    public void RidgeSynthetic_BiasIsNonNegative_WithinMonteCarloError(string dataset)
    {
        var table = runs.Reports["ridge-synthetic"].Table;
        foreach (int r in SyntheticRows(table, dataset))
        {
            double sd = table.Number(r, "heldout_bias_sd"), heldOut = table.Number(r, "heldout_bias");
            double inSample = table.Number(r, "bias_normal") + table.Number(r, "bias_tangential");
            Assert.True(sd > 0, $"{dataset}: the replicates' spread {sd}");
            Assert.True(heldOut >= -3 * sd / Math.Sqrt(RidgeSynthetic.Replicates), $"{dataset}: held-out bias {heldOut} (sd {sd})");
            Assert.True(inSample >= -3 * sd, $"{dataset}: in-sample bias {inSample} (sd {sd})");
        }
    }

    /// <summary>
    /// Align: for the two Diracs the samples' mean normalised residual against the 1-d ridge of p_t falls at every recorded
    /// time over the last stretch of reverse time (t ≤ 0.1), at every τ, and ends under half its value at t ≈ 0.1; most
    /// samples end on the ridge (normalised residual below 0.2).
    /// </summary>
    [Fact]
    public void RidgeSynthetic_NormalizedResidualFallsOverTheLastStretch()
    {
        var report = runs.Reports["ridge-synthetic"];
        var curves = File.ReadAllLines(Path.Combine(report.Directory, RidgeSynthetic.ResidualFile)).Skip(1)
            .Select(line => line.Split(',')).Where(c => c[0] == "two-diracs")
            .Select(c => (Tau: c[1], Time: Parse(c[2]), Residual: Parse(c[3]))).GroupBy(c => c.Tau).ToList();
        Assert.Equal(RidgeSynthetic.Taus.Count, curves.Count);
        foreach (var curve in curves)
        {
            var late = curve.Where(c => c.Time <= 0.1 + 1e-9).ToArray();
            Assert.True(late.Length >= 4, $"tau = {curve.Key}: {late.Length} recorded times with t <= 0.1");
            for (int i = 1; i < late.Length; i++)
                Assert.True(late[i].Residual < late[i - 1].Residual, $"tau = {curve.Key}: {late[i].Residual} at t = {late[i].Time} after {late[i - 1].Residual}");
            Assert.True(late[^1].Residual < 0.5 * late[0].Residual, $"tau = {curve.Key}: {late[^1].Residual} at t_min against {late[0].Residual}");
        }
        foreach (int r in SyntheticRows(report.Table, "two-diracs"))
            Assert.True(report.Table.Number(r, "on_ridge_share") > 0.5, $"on-ridge share {report.Table.Number(r, "on_ridge_share")}");
    }

    /// <summary>
    /// Reach then align in the latent: the random-feature samples' mean normalised residual against the 20-d ridge is, at
    /// t_min, under 0.8 times its value at the recorded time nearest t = 0.1 (the samples align as the noise vanishes).
    /// </summary>
    [Fact]
    public void RidgeLatent_RandomFeatureResidualFallsOverTheLastStretch()
    {
        if (SkippedForMissingData("ridge-latent")) return;
        var table = runs.Reports["ridge-latent"].Table;
        var rows = Enumerable.Range(0, table.Rows.Count).Where(r => table.Text(r, "sampler") == "random-feature").ToArray();
        int mid = rows.MinBy(r => Math.Abs(Math.Log(table.Number(r, "t") / 0.1)));
        double at = table.Number(mid, "mean_normalized_residual"), end = table.Number(rows[^1], "mean_normalized_residual");
        Assert.True(end < 0.8 * at, $"{end} at t_min against {at} at t = {table.Number(mid, "t")}");
    }

    private static double Parse(string cell) => double.Parse(cell, NumberStyles.Float, CultureInfo.InvariantCulture);

    [Fact]
    public void Cli_Reproduce_WritesTheReport_AndPrintsItsTable()
    {
        string dir = Path.Combine(runs.Root, "cli");
        var result = CliRun.Run("reproduce", "interpolation", "--out", dir, "--quick", "--seed", "3");
        CliRun.AssertSucceeded(result);
        Assert.Contains("| dimension | sigma_smooth |", result.Out);
        Assert.True(File.Exists(Path.Combine(dir, "interpolation.csv")));
        Assert.True(File.Exists(Path.Combine(dir, "summary.md")));
        Assert.True(File.Exists(Path.Combine(dir, "tangent-D20.png")));
    }

    [Fact]
    public void Cli_Reproduce_RejectsUnknownNames_AndQuickWithFull()
    {
        var unknown = CliRun.Run("reproduce", "circle", "--out", Path.Combine(runs.Root, "x"));
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("circle-ucurve", unknown.Error);
        var both = CliRun.Run("reproduce", "interpolation", "--out", Path.Combine(runs.Root, "y"), "--quick", "--full");
        Assert.NotEqual(0, both.ExitCode);
        Assert.Contains("--quick and --full", both.Error);
        Assert.False(Directory.Exists(Path.Combine(runs.Root, "y")));
    }
}
