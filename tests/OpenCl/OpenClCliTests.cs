using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// <c>--backend opencl</c> on the compute verbs and the <c>devices</c> verb, in-process with temporary files. Both backends
/// are within their float32 <see cref="ErrorBound"/> of the same exact values, so their outputs differ by at most twice it.
/// </summary>
public sealed class OpenClCliTests : IRequiresOpenCl, IDisposable
{
    private static readonly NoiseLevel Level = new(0.8, 0.45);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-opencl-cli-" + Guid.NewGuid().ToString("N"));

    public OpenClCliTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private (string Train, string Query, double[] TrainD, double[] QueryD) Inputs(int seed, int n, int m, int d)
    {
        var rng = new Random(seed);
        float[] train = CliRun.RandomMatrix(rng, n, d), query = CliRun.RandomMatrix(rng, m, d);
        string trainPath = Path.Combine(_dir, $"train{seed}.npy"), queryPath = Path.Combine(_dir, $"query{seed}.npy");
        Npy.Write(trainPath, train, n, d);
        Npy.Write(queryPath, query, m, d);
        return (trainPath, queryPath, Problem.Widen(train), Problem.Widen(query));
    }

    private double[] Run(string[] verb, string train, string query, string backend, params string[] extra)
    {
        string output = Path.Combine(_dir, $"out-{backend}.npy");
        var r = CliRun.Run([.. verb, "--train", train, "--query", query, "--alpha", Level.Alpha.ToString("R"), "--sigma", Level.Sigma.ToString("R"),
            "--out", output, "--backend", backend, .. extra]);
        CliRun.AssertSucceeded(r);
        return Npy.Read(output).ToDouble();
    }

    [OpenClTheory]
    [InlineData(1, 23, 7, 1)]
    [InlineData(2, 40, 17, 5)]
    [InlineData(3, 19, 33, 130)]
    public void Score_OpenCl_MatchesCpu_OnRandomInputs(int seed, int n, int m, int d)
    {
        var (train, query, trainD, queryD) = Inputs(seed, n, m, d);
        foreach (string verb in new[] { "score", "logdensity", "denoise", "divergence" })
        {
            double[] cpu = Run([verb], train, query, "cpu"), gpu = Run([verb], train, query, "opencl");
            int width = cpu.Length / m;
            for (int q = 0; q < m; q++)
            {
                var b = ErrorBound.For(trainD, d, queryD.AsSpan(q * d, d), Level, ErrorBound.UnitRoundoffSingle);
                double bound = 2 * verb switch { "score" => b.Score, "logdensity" => b.LogDensity, "denoise" => b.Denoiser, _ => b.Divergence };
                Expect.Within(gpu.AsSpan(q * width, width), cpu.AsSpan(q * width, width), bound, $"{verb} opencl vs cpu", q, $"N={n} M={m} D={d}");
            }
        }
    }

    /// <summary>
    /// The draws come from the seed on both sides (OpenCL makes Gaussian ones on the device, the same rows up to libm's last
    /// bits), so smooth and kde give the CPU's result within the same bound, plus for smooth whatever the float64 reference
    /// says separates the two sets of rows (the triangle inequality of <see cref="OpenClSmoothingProperties"/>).
    /// </summary>
    [OpenClFact]
    public void SmoothAndKde_OpenCl_MatchCpu()
    {
        const int n = 30, m = 9, d = 3;
        var (train, query, trainD, queryD) = Inputs(7, n, m, d);
        double[] cpu = Run(["smooth", "score"], train, query, "cpu", "--kernel", "gaussian:0.2", "--draws", "8", "--seed", "3");
        double[] gpu = Run(["smooth", "score"], train, query, "opencl", "--kernel", "gaussian:0.2", "--draws", "8", "--seed", "3");
        double[] cpuKde = Run(["kde", "score"], train, query, "cpu", "--kernel", "gaussian:0.2");
        double[] gpuKde = Run(["kde", "score"], train, query, "opencl", "--kernel", "gaussian:0.2");
        // KDE: the Gaussian kernel is σ² → σ² + h², one evaluation at the wider level
        var kernel = SmoothingKernel.Gaussian(0.2);
        var draws = new SmoothingDraws(8, seed: 3);
        var kdeLevel = new NoiseLevel(Level.Alpha, Math.Sqrt(Level.Variance + 0.04));
        Func<int, int, double[]> hostRow = (q, k) => SmoothingCase.PerturbedQuery<float>(kernel, draws, queryD.AsSpan(q * d, d), q, k);
        var deviceRows = Problem.Widen(OpenClSmoothingDrawsTests.DeviceRows(OpenClTestSupport.Backend, kernel, draws,
            queryD.Select(v => (float)v).ToArray(), d, 0, m * 8)); // the query file holds floats: exact
        Func<int, int, double[]> deviceRow = (q, k) => deviceRows.AsSpan((q * 8 + k) * d, d).ToArray();
        var atHost = LogSmoothingProperties.ReferenceAt(trainD, d, m, draws, Level, hostRow);
        var atDevice = LogSmoothingProperties.ReferenceAt(trainD, d, m, draws, Level, deviceRow);
        for (int q = 0; q < m; q++)
        {
            var kde = ErrorBound.For(trainD, d, queryD.AsSpan(q * d, d), kdeLevel, ErrorBound.UnitRoundoffSingle);
            Expect.Within(gpuKde.AsSpan(q * d, d), cpuKde.AsSpan(q * d, d), 2 * kde.Score, "kde score opencl vs cpu", q, "");
            // smoothing: the mean over the 8 perturbed queries of each side (the CLI's draws: seed 3, independent), each
            // backend within its bound of each score, plus the reference's distance between the two sets of rows, plus each
            // side's float64 mean rounded once to float
            double smooth = ErrorBound.Norm(atDevice.Score.AsSpan(q * d, d).ToArray().Select((v, j) => v - atHost.Score[q * d + j]).ToArray());
            for (int k = 0; k < 8; k++)
                smooth += (ErrorBound.For(trainD, d, hostRow(q, k), Level, ErrorBound.UnitRoundoffSingle).Score
                           + ErrorBound.For(trainD, d, deviceRow(q, k), Level, ErrorBound.UnitRoundoffSingle).Score) / 8;
            smooth += 2 * (8 * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble) + ErrorBound.UnitRoundoffSingle) * ErrorBound.Norm(cpu.AsSpan(q * d, d));
            Expect.Within(gpu.AsSpan(q * d, d), cpu.AsSpan(q * d, d), smooth, "smooth score opencl vs cpu", q, "");
        }
    }

    /// <summary>
    /// sample and likelihood pass --backend through to the score model: a bad device is the OpenCL backend's own error, and
    /// a run on the device writes finite values of the right shape (the backend's agreement with the CPU is the property
    /// suite's business, run on both backends).
    /// </summary>
    [OpenClFact]
    public void SampleAndLikelihood_RunOnTheOpenClBackend()
    {
        var (train, query, _, _) = Inputs(11, 12, 6, 3);
        string samples = Path.Combine(_dir, "samples.npy"), ll = Path.Combine(_dir, "ll.npy");
        string[] grid = ["--schedule", "ve", "--t-max", "2", "--t-min", "0.05", "--steps", "8"];
        var bad = CliRun.Run(["sample", "--train", train, .. grid, "--count", "4", "--out", samples, "--backend", "opencl", "--device", "no-such-device-anywhere"]);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("No OpenCL device matches", bad.Error);
        CliRun.AssertSucceeded(CliRun.Run(["sample", "--train", train, .. grid, "--count", "5", "--out", samples, "--backend", "opencl",
            "--kernel", "gaussian:0.1", "--draws", "4"]));
        var written = Npy.Read(samples);
        Assert.Equal(new[] { 5, 3 }, written.Shape);
        Assert.All(written.ToDouble(), v => Assert.True(double.IsFinite(v)));
        CliRun.AssertSucceeded(CliRun.Run(["likelihood", "--train", train, "--query", query, .. grid, "--out", ll, "--backend", "opencl"]));
        Assert.All(Npy.Read(ll).ToDouble(), v => Assert.True(double.IsFinite(v)));
    }

    [OpenClFact]
    public void Devices_ListsEveryDeviceWithItsCapabilities()
    {
        var r = CliRun.Run("devices");
        CliRun.AssertSucceeded(r);
        foreach (var device in OpenClRuntime.Devices)
        {
            Assert.Contains($"#{device.Index} {device.Name}", r.Out);
            Assert.Contains($"compute units {device.ComputeUnits}, max work-group {device.MaxWorkGroupSize}", r.Out);
        }
        Assert.Contains("fp64 ", r.Out);
        Assert.Contains("local memory", r.Out);
        Assert.Contains("[default]", r.Out);
    }

    [OpenClFact]
    public void UnknownDevice_FailsListingTheDevices_AndDeviceNeedsTheOpenClBackend()
    {
        var (train, query, _, _) = Inputs(9, 5, 3, 2);
        string output = Path.Combine(_dir, "never.npy");
        string[] common = ["score", "--train", train, "--query", query, "--alpha", "1", "--sigma", "0.5", "--out", output];
        var r = CliRun.Run([.. common, "--backend", "opencl", "--device", "no-such-device-anywhere"]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("No OpenCL device matches", r.Error);
        Assert.Contains(OpenClRuntime.Devices[0].Name, r.Error);
        Assert.False(File.Exists(output));

        var usage = CliRun.Run([.. common, "--device", "0"]);
        Assert.NotEqual(0, usage.ExitCode);
        Assert.Contains("--backend opencl", usage.Error);
    }
}
