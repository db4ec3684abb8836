using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// The C ABI (libkernels.so, native/include/kernels.h) end to end: the C and Python examples against the managed API on the
/// same inputs, and the contract checks of tests/Native/abi_checks.c (bad arguments, handles, promises, pthreads).
/// </summary>
[Collection("native")]
public sealed partial class NativeAbiTests(NativeBuild build)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// score.c evaluates in float32 through the AOT library, built for x86-64-v3 (AVX2); the managed API here runs JIT code with
    /// whatever vector width this machine has, so the two round differently. Each is within <see cref="ErrorBound"/> of the
    /// float64 reference (the bound covers the fast path's rounding and the reference's own error), so by the triangle
    /// inequality they differ by at most twice that bound. Printing with 9 significant digits reads every float back exactly,
    /// so parsing adds no error.
    /// </summary>
    [Fact]
    public void CExample_PrintsScoresWithinTwiceTheFloat32BoundOfTheManagedApi()
    {
        var run = Tool.Run(build.Example, [], build.Directory, RunTimeout);
        Assert.True(run.ExitCode == 0, $"score exited with {run.ExitCode}: {run.Error}");
        var printed = Printed.Parse(run.Out);
        CompareWithManaged<float>(printed, ErrorBound.UnitRoundoffSingle, "score.c");
        Assert.Matches(@"# expected failure: KN_ERROR_INVALID_SIZE: m = 0;", run.Out);
    }

    /// <summary>score.py runs the float64 path; the same argument as the C example's with u = 2⁻⁵³, and repr() is exact.</summary>
    [PythonFact]
    public void PythonExample_PrintsScoresWithinTwiceTheFloat64BoundOfTheManagedApi()
    {
        var run = Tool.Run("python3", [Path.Combine(build.RepositoryRoot, "native", "examples", "score.py"), build.Library], build.Directory, RunTimeout);
        Assert.True(run.ExitCode == 0, $"score.py exited with {run.ExitCode}: {run.Error}");
        var printed = Printed.Parse(run.Out);
        CompareWithManaged<double>(printed, ErrorBound.UnitRoundoffDouble, "score.py");
        Assert.Matches(@"# expected failure: KN_ERROR_NOT_FINITE: queries: query row 1 has NaN in column 1", run.Out);
    }

    [Fact]
    public void BadArguments_ReturnTheDocumentedStatusAndAReadableMessage() => RunChecks("errors", minimumChecks: 60);

    [Fact]
    public void Promises_LevelsKdeThreadCountsAndSeeds_HoldBitForBit() => RunChecks("promises", minimumChecks: 8);

    [Fact]
    public void ConcurrentCallsFromCThreads_OnOneSet_GiveTheSingleThreadedResults() => RunChecks("threads", minimumChecks: 11);

    /// <summary>Every KN_API function of the header is exported, and nothing else named kn_ is.</summary>
    [Fact]
    public void Library_ExportsExactlyTheHeadersFunctions()
    {
        var declared = DeclaredFunction().Matches(File.ReadAllText(build.Header)).Select(m => m.Groups[1].Value).ToHashSet();
        var nm = Tool.RunChecked("nm", ["-D", "--defined-only", build.Library], build.Directory, RunTimeout);
        var exported = ExportedFunction().Matches(nm.Out).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.True(declared.Count >= 15, $"parsed only {declared.Count} declarations from kernels.h");
        Assert.True(declared.SetEquals(exported),
            $"declared but not exported: {string.Join(", ", declared.Except(exported))}; exported but not declared: {string.Join(", ", exported.Except(declared))}");
    }

    /// <summary>The header is valid C99 and C++11 with every warning on (extern "C" guards, the inline CPU check).</summary>
    [Theory]
    [InlineData("gcc", "c", "-std=c99")]
    [InlineData("g++", "c++", "-std=c++11")]
    public void Header_CompilesCleanlyAsCAndCpp(string compiler, string language, string standard) =>
        Tool.RunChecked(compiler, [standard, "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", "-x", language, build.Header],
            build.Directory, RunTimeout);

    private void RunChecks(string mode, int minimumChecks)
    {
        var run = Tool.Run(build.Checks, [mode], build.Directory, RunTimeout);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var failed = lines.Where(l => !l.StartsWith("ok ", StringComparison.Ordinal)).ToList();
        int passed = lines.Length - failed.Count;
        Assert.True(run.ExitCode == 0 && failed.Count == 0 && passed >= minimumChecks,
            $"abi_checks {mode}: exit code {run.ExitCode} (134 = aborted: an exception crossed the boundary), {passed} checks passed " +
            $"(expected at least {minimumChecks}), failures:\n{string.Join('\n', failed)}\nstderr:\n{run.Error}");
    }

    private static void CompareWithManaged<T>(Printed printed, double u, string program) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int d = 2;
        var level = new NoiseLevel(1, 0.2);
        int m = printed.Queries.Count;
        Assert.Equal(12, printed.Train.Length / d);
        Assert.Equal(6, m);
        // Round every printed value to T: 9 (float) or 17 (double) significant digits name exactly one T, the one printed.
        double[] Exact(IEnumerable<double> values) => values.Select(v => double.CreateTruncating(T.CreateTruncating(v))).ToArray();
        double[] trainValues = Exact(printed.Train);
        var train = trainValues.Select(T.CreateTruncating).ToArray();
        var queries = printed.Queries.SelectMany(q => q[..d]).Select(T.CreateTruncating).ToArray();
        var managed = Outputs.Evaluate(new EmpiricalScore<T>(new TrainingSet<T>(train, train.Length / d, d)), queries, level);
        for (int q = 0; q < m; q++)
        {
            double[] row = Exact(printed.Queries[q]);
            var bound = ErrorBound.For(trainValues, d, row.AsSpan(0, d), level, u);
            string context = $"{program}, query {q}, x = ({row[0]:R}, {row[1]:R})";
            Expect.Within(row[2], managed.LogDensity[q], 2 * bound.LogDensity, "log-density", q, context);
            Expect.Within(row.AsSpan(3, d), managed.Score.AsSpan(q * d, d), 2 * bound.Score, "score", q, context);
            Expect.Within(row.AsSpan(5, d), managed.Denoiser.AsSpan(q * d, d), 2 * bound.Denoiser, "denoiser", q, context);
            Expect.Within(row[7], managed.Divergence[q], 2 * bound.Divergence, "divergence", q, context);
        }
    }

    /// <summary>The examples' output: "train i y0 y1" and "query q x0 x1 ld s0 s1 m0 m1 div" lines.</summary>
    private sealed record Printed(double[] Train, List<double[]> Queries)
    {
        public static Printed Parse(string output)
        {
            var train = new List<double>();
            var queries = new List<double[]>();
            foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string[] fields = line.Split(' ');
                if (fields[0] is not ("train" or "query")) continue;
                var values = fields.Skip(2).Select(f => double.Parse(f, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
                if (fields[0] == "train") train.AddRange(values);
                else if (fields[0] == "query") queries.Add(values);
            }
            return new Printed([.. train], queries);
        }
    }

    [GeneratedRegex(@"KN_API\s+[\w\s\*]+?\b(kn_\w+)\s*\(")]
    private static partial Regex DeclaredFunction();

    [GeneratedRegex(@"\sT\s+(kn_\w+)(?:@@\S+)?")]
    private static partial Regex ExportedFunction();
}
