using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Io;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// <c>kernels hessian</c>, <c>kernels ridge residual</c> and <c>kernels ridge project</c>, run in-process with temporary files: the dense Hessian and its
/// top eigenpairs equal the library's (<see cref="Hessian.Factor{T}"/>) within float rounding, the residual and its CSV
/// report, the projected points and their report (equal to <see cref="RidgeProjection.Project{T}"/>), and the errors (non-zero exit, a message naming the option, nothing written).
/// </summary>
public sealed class HessianCliTests : IDisposable
{
    private const int N = 23, D = 4, M = 7;
    private static readonly NoiseLevel Level = new(0.9, 0.6);

    private readonly string _dir, _train, _query, _out, _values, _vectors, _report;
    private readonly float[] _trainValues, _queryValues;

    public HessianCliTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "kernels-ridge-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _train = Path.Combine(_dir, "train.npy");
        _query = Path.Combine(_dir, "query.npy");
        _out = Path.Combine(_dir, "out.npy");
        _values = Path.Combine(_dir, "values.npy");
        _vectors = Path.Combine(_dir, "vectors.npy");
        _report = Path.Combine(_dir, "report.csv");
        var rng = new Random(20261205);
        _trainValues = CliRun.RandomMatrix(rng, N, D);
        _queryValues = CliRun.RandomMatrix(rng, M, D);
        Npy.Write(_train, _trainValues, N, D);
        Npy.Write(_query, _queryValues, M, D);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static string[] LevelArgs => ["--alpha", Level.Alpha.ToString("R"), "--sigma", Level.Sigma.ToString("R")];

    private string[] Inputs(string[] verb, params string[] extra) => [.. verb, "--train", _train, "--query", _query, .. LevelArgs, .. extra];

    private HessianFactor[] Factors<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var train = _trainValues.Select(v => T.CreateChecked(v)).ToArray();
        var queries = _queryValues.Select(v => T.CreateChecked(v)).ToArray();
        return Hessian.Factor(new EmpiricalScore<T>(new TrainingSet<T>(train, N, D), CpuBackend.Default), queries, Level);
    }

    private void AssertFails(string[] args, params string[] fragments)
    {
        string[] before = Directory.GetFiles(_dir);
        var r = CliRun.Run(args);
        Assert.NotEqual(0, r.ExitCode);
        foreach (string fragment in fragments) Assert.Contains(fragment, r.Error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", r.Error);
        Assert.Equal(before.Order(), Directory.GetFiles(_dir).Order()); // nothing written, no temporary file left
    }

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public void Hessian_Dense_EqualsTheApi(string precision)
    {
        var r = CliRun.Run(Inputs(["hessian"], "--precision", precision, "--out", _out));
        CliRun.AssertSucceeded(r);
        var file = Npy.Read(_out);
        Assert.Equal(new[] { M, D, D }, file.Shape.ToArray());
        Assert.Equal(precision == "float64", file.Double is not null);
        double[] actual = file.ToDouble();
        var factors = precision == "float64" ? Factors<double>() : Factors<float>();
        double u = precision == "float64" ? ErrorBound.UnitRoundoffDouble : ErrorBound.UnitRoundoffSingle;
        for (int q = 0; q < M; q++)
        {
            double[] h = factors[q].Dense();
            for (int i = 0; i < D * D; i++)
                Assert.True(Math.Abs(actual[q * D * D + i] - h[i]) <= u * Math.Abs(h[i]),
                    $"query {q} entry {i}: file {actual[q * D * D + i]:R}, API {h[i]:R}");
        }
    }

    [Fact]
    public void Hessian_Eig_DescendingAndEqualsTheApi()
    {
        const int k = 3;
        var r = CliRun.Run(Inputs(["hessian"], "--precision", "float64", "--eig", k.ToString(), "--out-values", _values, "--out-vectors", _vectors));
        CliRun.AssertSucceeded(r);
        var values = Npy.Read(_values);
        var vectors = Npy.Read(_vectors);
        Assert.Equal(new[] { M, k }, values.Shape.ToArray());
        Assert.Equal(new[] { M, k, D }, vectors.Shape.ToArray());
        double[] l = values.ToDouble(), v = vectors.ToDouble();
        var factors = Factors<double>();
        for (int q = 0; q < M; q++)
        {
            var e = factors[q].Eigen(k, largest: true);
            for (int i = 0; i < k; i++)
            {
                if (i > 0) Assert.True(l[q * k + i - 1] >= l[q * k + i], $"query {q}: values not descending");
                Assert.Equal(e.Values[i], l[q * k + i]);
                for (int a = 0; a < D; a++) Assert.Equal(e.Vector(i)[a], v[(q * k + i) * D + a]);
            }
        }
    }

    [Fact]
    public void Hessian_EigOutOfRange_FailsAndWritesNothing()
    {
        AssertFails(Inputs(["hessian"], "--eig", (D + 1).ToString(), "--out-values", _values, "--out-vectors", _vectors), "--eig", $"D = {D}");
        AssertFails(Inputs(["hessian"], "--eig", "0", "--out-values", _values, "--out-vectors", _vectors), "--eig");
        AssertFails(Inputs(["hessian"], "--eig", "2", "--out-values", _values), "--out-vectors");
        AssertFails(Inputs(["hessian"]), "--out");
    }

    [Fact]
    public void Hessian_DenseOverOneGiB_PointsToEig()
    {
        // M = 1 query in D = 12000: 1 x 12000 x 12000 x 8 bytes = 1.07 GiB
        const int d = 12000;
        var big = Path.Combine(_dir, "big.npy");
        Npy.Write(big, new float[d], 1, d);
        string[] before = Directory.GetFiles(_dir);
        var r = CliRun.Run(["hessian", "--train", big, "--query", big, .. LevelArgs, "--out", _out]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--eig", r.Error);
        Assert.Contains("1 GiB", r.Error);
        Assert.False(File.Exists(_out));
        Assert.Equal(before.Order(), Directory.GetFiles(_dir).Order());
    }

    [Fact]
    public void RidgeResidual_WritesResidualsAndReport()
    {
        var r = CliRun.Run(Inputs(["ridge", "residual"], "--precision", "float64", "--dim", "1", "--out", _out, "--report", _report));
        CliRun.AssertSucceeded(r);
        var file = Npy.Read(_out);
        Assert.Equal(new[] { M }, file.Shape.ToArray());
        string[] lines = File.ReadAllLines(_report);
        Assert.Equal("residual,normalized_residual,eigengap,curvature_ok", lines[0]);
        Assert.Equal(M + 1, lines.Length);
        var model = new EmpiricalScore<double>(new TrainingSet<double>(_trainValues.Select(v => (double)v).ToArray(), N, D), CpuBackend.Default);
        var points = RidgeResidual.Evaluate(model, _queryValues.Select(v => (double)v).ToArray(), Level, 1);
        double[] residuals = file.ToDouble();
        for (int q = 0; q < M; q++)
        {
            Assert.Equal(points[q].Residual, residuals[q]);
            string[] fields = lines[q + 1].Split(',');
            Assert.Equal(4, fields.Length);
            Assert.Equal(points[q].Residual, double.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(points[q].NormalizedResidual, double.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(points[q].EigenGap, double.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(points[q].CurvatureOk ? "true" : "false", fields[3]);
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("4")]
    [InlineData("9")]
    [InlineData("-1")]
    public void RidgeResidual_DimOutOfRange_FailsNamingDimAndWritesNothing(string dim) =>
        AssertFails(Inputs(["ridge", "residual"], "--dim", dim, "--out", _out, "--report", _report), "--dim");

    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public void RidgeProject_WritesPointsAndReport_EqualToTheApi(string precision)
    {
        bool float64 = precision == "float64";
        double tol = float64 ? 1e-6 : 1e-3;
        var r = CliRun.Run(Inputs(["ridge", "project"], "--precision", precision, "--dim", "1", "--max-iter", "50", "--out", _out, "--report", _report));
        CliRun.AssertSucceeded(r);
        var file = Npy.Read(_out);
        Assert.Equal(new[] { M, D }, file.Shape.ToArray());
        string[] lines = File.ReadAllLines(_report);
        Assert.Equal("converged,iterations,residual,curvature_ok,distance_moved", lines[0]);
        Assert.Equal(M + 1, lines.Length);
        ProjectionReport[] reports;
        double[] expected;
        if (float64)
        {
            var model = new EmpiricalScore<double>(new TrainingSet<double>(_trainValues.Select(v => (double)v).ToArray(), N, D), CpuBackend.Default);
            var result = RidgeProjection.Project(model, _queryValues.Select(v => (double)v).ToArray(), Level, 1, tol, 50);
            (reports, expected) = (result.Reports, result.Points);
        }
        else
        {
            var model = new EmpiricalScore<float>(new TrainingSet<float>(_trainValues, N, D), CpuBackend.Default);
            var result = RidgeProjection.Project(model, _queryValues, Level, 1, tol, 50);
            (reports, expected) = (result.Reports, result.Points.Select(v => (double)v).ToArray());
        }
        Assert.Equal(expected, file.ToDouble());
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        for (int q = 0; q < M; q++)
        {
            string[] fields = lines[q + 1].Split(',');
            Assert.Equal(5, fields.Length);
            Assert.Equal(reports[q].Converged ? "true" : "false", fields[0]);
            Assert.Equal(reports[q].Iterations, int.Parse(fields[1], inv));
            Assert.Equal(reports[q].Residual, double.Parse(fields[2], inv));
            Assert.Equal(reports[q].CurvatureOk ? "true" : "false", fields[3]);
            Assert.Equal(reports[q].DistanceMoved, double.Parse(fields[4], inv));
        }
    }

    [Theory]
    [InlineData("--dim", "4")]
    [InlineData("--dim", "0")]
    [InlineData("--tol", "0")]
    [InlineData("--tol", "NaN")]
    [InlineData("--tol", "-1e-3")]
    [InlineData("--max-iter", "0")]
    public void RidgeProject_BadOption_FailsNamingItAndWritesNothing(string option, string value)
    {
        string[] extra = option == "--dim" ? [option, value] : ["--dim", "1", option, value];
        AssertFails(Inputs(["ridge", "project"], [.. extra, "--out", _out, "--report", _report]), option);
    }

    [Theory]
    [InlineData("hessian", "0")]
    [InlineData("hessian", "-2")]
    [InlineData("ridge residual", "0")]
    [InlineData("ridge project", "0")]
    [InlineData("ridge project", "many")]
    public void MaxRank_BadValue_FailsNamingItAndWritesNothing(string verb, string value)
    {
        string[] outputs = verb == "hessian" ? ["--eig", "1", "--out-values", _values, "--out-vectors", _vectors] : ["--dim", "1", "--out", _out];
        AssertFails(Inputs(verb.Split(' '), [.. outputs, "--max-rank", value]), "--max-rank");
    }

    /// <summary>
    /// --max-rank reaches the library: with the cap at 2 (below D = 4, so it binds wherever more than two points lie
    /// within the cut-off) the residuals and projections equal the API's at maxRank 2, and differ from the default cap's
    /// somewhere (which shows the data make the cap bind).
    /// </summary>
    [Fact]
    public void MaxRank_SetsTheCap_AsTheApiDoes()
    {
        var model = new EmpiricalScore<double>(new TrainingSet<double>(_trainValues.Select(v => (double)v).ToArray(), N, D), CpuBackend.Default);
        double[] queries = _queryValues.Select(v => (double)v).ToArray();
        var factors = Hessian.Factor(model, queries, Level, maxRank: 2);
        int bound = factors.Count(f => f.Capped);
        Assert.InRange(bound, 1, M);

        var r = CliRun.Run(Inputs(["ridge", "residual"], "--precision", "float64", "--dim", "1", "--max-rank", "2", "--out", _out));
        CliRun.AssertSucceeded(r);
        double[] capped = Npy.Read(_out).ToDouble();
        var points = RidgeResidual.Evaluate(model, queries, Level, 1, maxRank: 2);
        Assert.Equal(points.Select(p => p.Residual), capped);
        Assert.Equal(factors.Select(f => f.Capped), points.Select(p => p.Capped)); // the residual reports where the cap bit
        Assert.Contains($"the rank cap bound at {bound} of {M} queries", r.Out);
        var uncapped = RidgeResidual.Evaluate(model, queries, Level, 1);
        Assert.NotEqual(uncapped.Select(p => p.Residual), capped);
        Assert.DoesNotContain(uncapped, p => p.Capped); // N = 23 points never pass the default cap
        Assert.DoesNotContain("rank cap", CliRun.Run(Inputs(["ridge", "residual"], "--precision", "float64", "--dim", "1", "--out", _out)).Out);

        r = CliRun.Run(Inputs(["ridge", "project"], "--precision", "float64", "--dim", "1", "--max-iter", "20", "--max-rank", "2", "--out", _out));
        CliRun.AssertSucceeded(r);
        var projected = RidgeProjection.Project(model, queries, Level, 1, 1e-6, 20, maxRank: 2);
        Assert.Equal(projected.Points, Npy.Read(_out).ToDouble());
        // each report says whether the factor at its returned point was capped
        Assert.Equal(Hessian.Factor(model, projected.Points, Level, maxRank: 2).Select(f => f.Capped), projected.Reports.Select(p => p.Capped));
        int boundThere = projected.Reports.Count(p => p.Capped);
        if (boundThere > 0) Assert.Contains($"the rank cap bound at {boundThere} of {M} returned points", r.Out);
        else Assert.DoesNotContain("rank cap", r.Out);
    }

    [Theory]
    [InlineData("hessian")]
    [InlineData("ridge residual")]
    [InlineData("ridge project")]
    public void Help_DescribesTheVerb(string verb)
    {
        var r = CliRun.Run([.. verb.Split(' '), "--help"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains(verb.Split(' ')[^1] == "hessian" ? "--eig" : "--dim", r.Out);
        Assert.Contains("Hessian", r.Out);
    }
}
