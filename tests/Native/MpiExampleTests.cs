using System.Globalization;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// native/examples/mpi_score.c, built with mpicc against libkernels.so and run with mpirun -np 1..4 on loopback: rank 0's
/// log-density and score equal the exact ones of the whole set within the float32 bound (ErrorBound, the worst case
/// over every order of the sums, so any split into ranks and reduction order); printing 9 significant digits reads every
/// float back exactly. 50 rows on 4 ranks are shards of 12 and 13; M = 4 queries is not divisible by 3.
/// </summary>
[Collection("native")]
public sealed class MpiExampleTests(NativeBuild build)
{
    private const int N = 50, M = 4, D = 3;

    private string Build()
    {
        string output = Path.Combine(build.Directory, "mpi_score");
        if (!File.Exists(output))
            Tool.RunChecked("mpicc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", Path.Combine(build.RepositoryRoot, "native", "examples", "mpi_score.c"),
                "-I", Path.GetDirectoryName(build.Header)!, "-L", build.Directory, "-lkernels", "-Wl,-rpath,$ORIGIN", "-lm", "-ldl", "-o", output],
                build.Directory, TimeSpan.FromMinutes(2));
        return output;
    }

    [MpiTheory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public void MpiExample_OnPRanks_PrintsTheWholeSetsScore(int ranks)
    {
        var run = MpiTestSupport.Run(ranks, Build());
        Assert.True(run.ExitCode == 0, $"mpi_score exited with {run.ExitCode}: {run.Error}");
        Assert.Contains($"# {ranks} ranks", run.Out);
        var train = new double[N * D];
        for (int i = 0; i < N; i++)
            for (int k = 0; k < D; k++) train[i * D + k] = (float)Math.Sin(0.37 * i + 1.1 * k);
        var level = new NoiseLevel(1, 0.5);
        var lines = run.Out.Split('\n').Where(line => line.StartsWith("query ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(M, lines.Length);
        foreach (string line in lines)
        {
            var fields = line.Split(' ');
            int q = int.Parse(fields[1], CultureInfo.InvariantCulture);
            var values = fields.Skip(2).Select(f => double.Parse(f, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
            var x = values.AsSpan(0, D);
            var bound = ErrorBound.For(train, D, x, level, ErrorBound.UnitRoundoffSingle);
            Expect.Within(values[D], ScoreReference.LogDensity(train, D, x, level), bound.LogDensity, "log-density", q, $"mpi_score on {ranks} ranks");
            Expect.Within(values.AsSpan(D + 1, D), ScoreReference.Score(train, D, x, level), bound.Score, "score", q, $"mpi_score on {ranks} ranks");
        }
    }
}
