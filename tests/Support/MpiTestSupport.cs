using System.Diagnostics;
using Xunit;

namespace Kernels.Tests.Support;

/// <summary>
/// Runs programs under <c>mpirun</c> on loopback (Open MPI's flags from TOOLCHAIN.md §11: root allowed, more ranks than
/// cores, no ssh, TCP on lo only). Without mpirun the MPI tests are skipped (counted) with what to install, unless
/// <c>KERNELS_REQUIRE_MPI=1</c>, when they run and fail: CI sets it, so a broken MPI install cannot pass as green.
/// </summary>
public static class MpiTestSupport
{
    public const string RequireVariable = "KERNELS_REQUIRE_MPI";

    /// <summary>mpirun's path, or null when none is on PATH.</summary>
    public static string? MpiRun { get; } = Environment.GetEnvironmentVariable("PATH")?.Split(':')
        .Select(dir => Path.Combine(dir, "mpirun")).FirstOrDefault(File.Exists);

    /// <summary>Null when the MPI tests should run; else why they are skipped.</summary>
    public static string? SkipReason =>
        MpiRun is not null || Environment.GetEnvironmentVariable(RequireVariable) == "1" ? null
            : $"No mpirun on PATH: install Open MPI (`apt-get install openmpi-bin libopenmpi-dev`) and rebuild; set {RequireVariable}=1 to make its absence a failure.";

    /// <summary>The kernels CLI beside the test assembly (with libkernels_mpi.so, built by mpicc with the CLI).</summary>
    public static string KernelsDll => Path.Combine(AppContext.BaseDirectory, "kernels.dll");

    /// <summary>Runs <paramref name="program"/> with <paramref name="args"/> on <paramref name="ranks"/> ranks; exit code, stdout, stderr.</summary>
    public static CliResult Run(int ranks, string program, params string[] args)
    {
        Assert.True(MpiRun is not null, $"mpirun is not on PATH ({RequireVariable}=1): install openmpi-bin libopenmpi-dev.");
        var start = new ProcessStartInfo(MpiRun!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["-np", ranks.ToString(), "--oversubscribe", "--mca", "plm", "isolated", "--mca", "btl", "self,tcp",
                     "--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo", program, .. args])
            start.ArgumentList.Add(a);
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mpirun -np {ranks} {program} did not finish in 3 minutes.");
        }
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The kernels CLI on <paramref name="ranks"/> ranks.</summary>
    public static CliResult Kernels(int ranks, params string[] args) => Run(ranks, "dotnet", [KernelsDll, .. args]);
}

/// <summary>A fact that needs mpirun: skipped (counted) with the install hint when absent and not required.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiTestSupport.SkipReason is string reason) Skip = reason;
    }
}

/// <summary>A theory that needs mpirun: skipped (counted) with the install hint when absent and not required.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute()
    {
        if (MpiTestSupport.SkipReason is string reason) Skip = reason;
    }
}
