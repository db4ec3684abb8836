using Kernels.Cli;
using Xunit;

namespace Kernels.Tests.Support;

/// <summary>What one in-process run of the <c>kernels</c> program returned and printed.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error);

/// <summary>Shared helpers of the command-line tests: run the program in-process, make input matrices.</summary>
public static class CliRun
{
    /// <summary>Runs <see cref="Program.Run"/> with <paramref name="args"/>, capturing stdout and stderr.</summary>
    public static CliResult Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Program.Run(args, stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Asserts exit code 0 and nothing on stderr.</summary>
    public static void AssertSucceeded(CliResult r)
    {
        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}; stderr: {r.Error}");
        Assert.Equal("", r.Error);
    }

    /// <summary>A rows×columns float32 matrix of uniform(−1, 1) plus 0.3·normal values.</summary>
    public static float[] RandomMatrix(Random rng, int rows, int columns) =>
        Enumerable.Range(0, rows * columns).Select(_ => (float)(2 * rng.NextDouble() - 1 + 0.3 * Problem.Gaussian(rng))).ToArray();
}
