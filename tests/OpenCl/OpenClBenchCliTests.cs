using System.Text.Json;
using Kernels.Numerics.Io;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary><c>kernels bench … --backend opencl</c>: the timing line names the backend and counts the same flops as on the CPU.</summary>
public sealed class OpenClBenchCliTests : IRequiresOpenCl, IDisposable
{
    private const int N = 23, D = 4, M = 9;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-opencl-bench-" + Guid.NewGuid().ToString("N"));

    public OpenClBenchCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    /// <summary>Random N×D training points and M×D queries in this test's folder.</summary>
    private (string Train, string Query) Inputs(int seed)
    {
        var rng = new Random(seed);
        string train = Path.Combine(_dir, "train.npy"), query = Path.Combine(_dir, "query.npy");
        Npy.Write(train, CliRun.RandomMatrix(rng, N, D), N, D);
        Npy.Write(query, CliRun.RandomMatrix(rng, M, D), M, D);
        return (train, query);
    }

    [OpenClFact]
    public void Bench_on_OpenCL_reports_the_backend_and_the_flops()
    {
        var (train, query) = Inputs(seed: 5);

        var r = CliRun.Run("bench", "score", "--train", train, "--query", query, "--alpha", "0.8", "--sigma", "0.5",
            "--backend", "opencl", "--repeat", "2", "--warmup-seconds", "0", "--no-ceiling");

        CliRun.AssertSucceeded(r);
        JsonElement json = JsonDocument.Parse(r.Out.Trim()).RootElement;
        Assert.Equal("opencl", json.GetProperty("backend").GetString());
        Assert.Equal(4.0 * M * N * D, json.GetProperty("flops").GetDouble());
        Assert.True(json.GetProperty("seconds").GetDouble() > 0);
    }

    /// <summary>
    /// --opencl-shards, --opencl-seed and --opencl-kernel reach the backend's <c>OpenClOptions</c> (a forced count runs,
    /// a forced kernel is the one the JSON names); out of range, or without --backend opencl, they are usage errors
    /// naming the option.
    /// </summary>
    [OpenClFact]
    public void Bench_TuningFlags_RunOnOpenCl_AndAreUsageErrorsElsewhere()
    {
        var (train, query) = Inputs(seed: 6);
        string[] common = ["bench", "score", "--train", train, "--query", query, "--alpha", "0.8", "--sigma", "0.5",
            "--repeat", "1", "--warmup-seconds", "0", "--no-ceiling"];

        var r = CliRun.Run([.. common, "--backend", "opencl", "--opencl-shards", "3", "--opencl-seed", "on"]);
        CliRun.AssertSucceeded(r);
        Assert.Equal("opencl", JsonDocument.Parse(r.Out.Trim()).RootElement.GetProperty("backend").GetString());

        var range = CliRun.Run([.. common, "--backend", "opencl", "--opencl-shards", "70000"]);
        Assert.NotEqual(0, range.ExitCode);
        Assert.Contains("--opencl-shards", range.Error);

        foreach (string kernel in new[] { "tiled", "classic" })
        {
            var forced = CliRun.Run([.. common, "--backend", "opencl", "--opencl-kernel", kernel]);
            CliRun.AssertSucceeded(forced);
            Assert.Equal(kernel, JsonDocument.Parse(forced.Out.Trim()).RootElement.GetProperty("opencl_kernel").GetString());
        }
        var unknown = CliRun.Run([.. common, "--backend", "opencl", "--opencl-kernel", "fast"]);
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("'fast'", unknown.Error);
        Assert.Contains("'tiled'", unknown.Error); // the parser's message lists the accepted values

        foreach (string[] flag in new[] { new[] { "--opencl-shards", "2" }, new[] { "--opencl-seed", "off" }, new[] { "--opencl-kernel", "tiled" } })
        {
            var usage = CliRun.Run([.. common, .. flag]);
            Assert.NotEqual(0, usage.ExitCode);
            Assert.Contains("--backend opencl", usage.Error);
            Assert.Contains(flag[0], usage.Error);
        }
    }
}
