using System.Globalization;
using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Models;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// <c>kernels rf fit|score|errors</c> and <c>kernels sample --rf-model</c>, in-process with temporary files: the files equal
/// the API's results, and bad input exits non-zero naming the option, writing nothing.
/// </summary>
public sealed class RandomFeatureCliTests : IDisposable
{
    private readonly string _dir, _train, _train3, _query, _model, _out, _csv;
    private readonly double[] _points = [0, 0, 5, 0, 0, 5, 2.5, 2.5];

    public RandomFeatureCliTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kernels-rf-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _train = Path.Combine(_dir, "train.npy");
        _train3 = Path.Combine(_dir, "train3.npy");
        _query = Path.Combine(_dir, "query.npy");
        _model = Path.Combine(_dir, "model.npz");
        _out = Path.Combine(_dir, "out.npy");
        _csv = Path.Combine(_dir, "errors.csv");
        Npy.Write(_train, _points, 4, 2);
        Npy.Write(_train3, new double[] { 0, 0, 1, 1, 1, 0 }, 2, 3);
        Npy.Write(_query, new double[] { 0.5, 0.2, 4, 1, -1, 3 }, 3, 2);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static readonly string[] Hyper = ["--features", "40", "--harmonics", "3", "--schedule", "ou", "--t-max", "2", "--t-min", "0.05", "--nodes", "7", "--draws", "6", "--seed", "9"];

    private string[] Fit(params string[] extra) => ["rf", "fit", "--train", _train, .. Hyper, .. extra];

    private RandomFeatureFit ApiFit() =>
        RandomFeatureTrainer.Fit(new TrainingSet<float>(_points.Select(v => (float)v).ToArray(), 4, 2),
            RandomFeatures.Draw(2, 40, 3, NoiseSchedule.OrnsteinUhlenbeck, 2, 9), new RandomFeatureTraining { TimeMin = 0.05, Nodes = 7, Draws = 6 });

    private void AssertFails(string[] args, params string[] fragments)
    {
        string[] before = Directory.GetFiles(_dir);
        var r = CliRun.Run(args);
        Assert.NotEqual(0, r.ExitCode);
        foreach (string fragment in fragments) Assert.Contains(fragment, r.Error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", r.Error);
        Assert.Equal(before.Order(), Directory.GetFiles(_dir).Order());
    }

    [Fact]
    public void Fit_WritesTheApisModel_AndScoreEqualsTheApi()
    {
        CliRun.AssertSucceeded(CliRun.Run(Fit("--tau", "5", "--out", _model)));
        var model = RandomFeatureFile.Read(_model);
        var fit = ApiFit();
        Assert.Equal(fit.Coefficients(5), model.Coefficients);
        Assert.Equal(5.0, model.Tau);
        CliRun.AssertSucceeded(CliRun.Run("rf", "score", "--model", _model, "--query", _query, "--t", "0.3", "--precision", "float64", "--out", _out));
        var score = Npy.Read(_out);
        Assert.Equal(new[] { 3, 2 }, score.Shape);
        var expected = new double[6];
        model.Score<double>().EvaluateAt(Npy.Read(_query).ToDouble(), 0.3, new ScoreOutputs<double> { Score = expected });
        Assert.Equal(expected, score.ToDouble());
    }

    [Fact]
    public void Errors_WritesOneRowPerNode_AndTotals()
    {
        CliRun.AssertSucceeded(CliRun.Run(Fit("--tau", "2", "--precision", "float64", "--out", _model)));
        var r = CliRun.Run("rf", "errors", "--model", _model, "--train", _train, "--out", _csv);
        CliRun.AssertSucceeded(r);
        var lines = File.ReadAllLines(_csv);
        Assert.StartsWith("node,t,weight,loss_tau,loss_inf,loss_star,opt,opt_normal,opt_tangential,bias,bias_normal,bias_tangential,opt_axis0", lines[0]);
        Assert.Equal(7 + 2, lines.Length);
        var total = lines[^1].Split(',');
        Assert.Equal("total", total[0]);
        double V(int column) => double.Parse(total[column], CultureInfo.InvariantCulture);
        Assert.True(V(3) >= V(4), "L(A(tau)) < L(A(inf))");
        Assert.Equal(V(6), V(7) + V(8), 10);   // the parts add up
        Assert.Equal(V(9), V(10) + V(11), 10);
    }

    [Fact]
    public void Sample_RunsTheModel()
    {
        CliRun.AssertSucceeded(CliRun.Run(Fit("--tau", "inf", "--out", _model)));
        var r = CliRun.Run("sample", "--train", _train, "--rf-model", _model, "--schedule", "ou", "--t-max", "2", "--t-min", "0.05", "--steps", "20", "--count", "50", "--out", _out);
        CliRun.AssertSucceeded(r);
        Assert.Contains("random-feature model", r.Out);
        var samples = Npy.Read(_out);
        Assert.Equal(new[] { 50, 2 }, samples.Shape);
        Assert.All(samples.ToDouble(), v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void BadInput_FailsAndWritesNothing()
    {
        AssertFails(["rf", "fit", "--train", _train, "--features", "0", "--t-max", "2", "--tau", "1", "--out", _model], "--features");
        AssertFails(["rf", "fit", "--train", _train, "--features", "4", "--harmonics", "-1", "--t-max", "2", "--tau", "1", "--out", _model], "--harmonics");
        AssertFails(["rf", "fit", "--train", _train, "--features", "4", "--t-max", "2", "--tau", "-1", "--out", _model], "--tau");
        AssertFails(["rf", "fit", "--train", _train, "--features", "4", "--t-max", "2", "--t-min", "2", "--tau", "1", "--out", _model], "--t-min");
        AssertFails(["rf", "fit", "--train", _train, "--features", "4", "--t-max", "2", "--weighting", "sigma3", "--tau", "1", "--out", _model], "sigma3");
        CliRun.AssertSucceeded(CliRun.Run(Fit("--tau", "inf", "--out", _model)));
        var query3 = Path.Combine(_dir, "query3.npy");
        Npy.Write(query3, new double[] { 1, 2, 3 }, 1, 3);
        AssertFails(["rf", "score", "--model", _model, "--query", query3, "--t", "0.5", "--out", _out], "D=3", "D=2");
        AssertFails(["rf", "errors", "--model", _model, "--train", _train3, "--out", _csv], "D=3", "D=2");
        AssertFails(["sample", "--train", _train3, "--rf-model", _model, "--schedule", "ou", "--t-max", "2", "--t-min", "0.05", "--count", "5", "--out", _out], "D=2");
        AssertFails(["sample", "--train", _train, "--rf-model", _model, "--schedule", "ve", "--t-max", "2", "--t-min", "0.05", "--count", "5", "--out", _out], "--schedule ou");
        AssertFails(["rf", "score", "--model", _query, "--query", _query, "--t", "0.5", "--out", _out], "not a model file");
        AssertFails(["rf", "score", "--model", Path.Combine(_dir, "none.npz"), "--query", _query, "--t", "0.5", "--out", _out], "no such file");
    }
}
