using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using System.Runtime.Intrinsics.X86;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// The C ABI (libkernels.so, native/include/kernels.h) end to end: the C and Python examples against the managed API on the
/// same inputs, the contract checks of tests/Native/abi_checks.c (bad arguments, handles, promises, pthreads) on each
/// NativeAOT variant, and the dispatcher's choice and refusals.
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
    [Theory]
    [MemberData(nameof(Variants))]
    public void CExample_PrintsScoresWithinTwiceTheFloat32BoundOfTheManagedApi(string variant)
    {
        var run = Tool.Run(build.Example, [], build.Directory, RunTimeout, new Dictionary<string, string> { ["KERNELS_ISA"] = variant });
        if (!Runs(variant))
        {
            Assert.Contains("KN_ERROR_UNSUPPORTED_CPU", run.Error); // refused, not aborted
            return;
        }
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

    public static TheoryData<string> Variants => new(NativeBuild.Variants);

    [Theory]
    [MemberData(nameof(Variants))]
    public void BadArguments_ReturnTheDocumentedStatusAndAReadableMessage(string variant) => RunChecks("errors", variant, minimumChecks: 60);

    [Theory]
    [MemberData(nameof(Variants))]
    public void Promises_LevelsKdeThreadCountsAndSeeds_HoldBitForBit(string variant) => RunChecks("promises", variant, minimumChecks: 8);

    [Theory]
    [MemberData(nameof(Variants))]
    public void ConcurrentCallsFromCThreads_OnOneSet_GiveTheSingleThreadedResults(string variant) => RunChecks("threads", variant, minimumChecks: 11);

    /// <summary>
    /// KN_BACKEND_OPENCL from C through the dispatcher (on PoCL here): every entry point answers on an OpenCL set, freeing it
    /// while four pthreads evaluate is safe, and its float32 outputs are those of a KN_BACKEND_CPU set within twice the float32
    /// <see cref="ErrorBound"/>: each backend is within the bound of the float64 reference (the OpenCL kernel's tiles and
    /// accumulators are covered by the same expression, see OpenClScoreProperties), so by the triangle inequality they differ by
    /// at most twice it. The program prints data and outputs with 9 significant digits, which read every float back exactly.
    /// </summary>
    [OpenClFact]
    public void OpenClSet_FromC_IsSafeToFreeWhileInUse_AndMatchesTheCpuBackendWithinTwiceTheFloat32Bound()
    {
        string file = Path.Combine(build.Directory, "opencl-outputs.txt");
        var run = Tool.Run(build.Checks, ["opencl", file], build.Directory, RunTimeout);
        AssertChecks(run, "opencl", minimumChecks: 22);
        NoiseLevel level = default;
        List<double[]> train = [], queries = [], cpu = [], opencl = [];
        foreach (string line in File.ReadAllLines(file))
        {
            string[] fields = line.Split(' ');
            var values = fields.Skip(fields[0] == "level" ? 1 : 2).Select(f => double.Parse(f, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
            switch (fields[0])
            {
                case "level": level = new NoiseLevel(values[0], values[1]); break;
                case "train": train.Add(values); break;
                case "query": queries.Add(values); break;
                case "cpu": cpu.Add(values); break;
                case "opencl": opencl.Add(values); break;
            }
        }
        int d = train[0].Length, m = queries.Count;
        Assert.True(train.Count > 256 && m > 30 && cpu.Count == m && opencl.Count == m, $"parsed {train.Count} train, {m} query, {cpu.Count} cpu, {opencl.Count} opencl lines");
        double[] y = train.SelectMany(r => r).ToArray();
        for (int q = 0; q < m; q++)
        {
            var bound = ErrorBound.For(y, d, queries[q], level, ErrorBound.UnitRoundoffSingle);
            double[] a = opencl[q], b = cpu[q];
            string context = $"abi_checks opencl, query {q}";
            Expect.Within(a[0], b[0], 2 * bound.LogDensity, "log-density", q, context);
            Expect.Within(a.AsSpan(1, d), b.AsSpan(1, d), 2 * bound.Score, "score", q, context);
            Expect.Within(a.AsSpan(1 + d, d), b.AsSpan(1 + d, d), 2 * bound.Denoiser, "denoiser", q, context);
            Expect.Within(a[1 + 2 * d], b[1 + 2 * d], 2 * bound.Divergence, "divergence", q, context);
        }
    }

    /// <summary>
    /// With no OpenCL runtime (here: the ICD loader pointed at an empty vendor folder, so clGetPlatformIDs finds no platform)
    /// KN_BACKEND_OPENCL is refused at create with KN_ERROR_BACKEND_UNAVAILABLE and the install hint, and the CPU still works.
    /// Needs no runtime, so it runs everywhere.
    /// </summary>
    [Fact]
    public void OpenClSet_WithoutARuntime_IsBackendUnavailableWithTheInstallHint()
    {
        string empty = Path.Combine(build.Directory, "no-icd");
        System.IO.Directory.CreateDirectory(empty);
        var run = Tool.Run(build.Checks, ["opencl-unavailable", "apt-get install pocl-opencl-icd"], build.Directory, RunTimeout,
            new Dictionary<string, string> { ["OCL_ICD_VENDORS"] = empty });
        AssertChecks(run, "opencl-unavailable (no ICD)", minimumChecks: 4);
    }

    /// <summary>KERNELS_OPENCL_DEVICE naming no device present is KN_ERROR_BACKEND_UNAVAILABLE, the message naming the selection.</summary>
    [OpenClFact]
    public void OpenClSet_WithNoMatchingDevice_IsBackendUnavailableNamingTheSelection() =>
        RunChecks("opencl-unavailable", null, minimumChecks: 4,
            new Dictionary<string, string> { ["KERNELS_OPENCL_DEVICE"] = "no-such-device-7" }, ["no-such-device-7"]);

    /// <summary>
    /// Issue 14: a process forked after the library's thread pool started hung in the child on its next evaluation (the
    /// .NET runtime does not survive fork). Now the child's every call returns KN_ERROR_FORKED at once, with the remedy in
    /// the message, while a child forked before the first call works and the parent carries on; abi_checks kills a child
    /// still running after 20 s and reports it. Through the dispatcher, which refuses without entering the variant.
    /// </summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void ForkedChild_ThroughTheDispatcher_IsRefusedWithKnErrorForked_NeverHangs(string variant) =>
        RunChecks("fork", variant, minimumChecks: 20);

    /// <summary>The same with a variant opened directly (dlopen, no dispatcher): the exports' own guard refuses.</summary>
    [Fact]
    public void ForkedChild_OfAVariantLinkedDirectly_IsRefusedWithKnErrorForked_NeverHangs()
    {
        foreach (string variant in NativeBuild.Variants.Where(Runs))
        {
            var run = Tool.Run(build.Checks, ["fork", build.VariantLibrary(variant)], build.Directory, RunTimeout);
            AssertChecks(run, $"fork ({variant} opened directly)", minimumChecks: 20);
        }
    }

    /// <summary>Without KERNELS_ISA the dispatcher loads the widest variant this CPU runs (the JIT reports the CPU truthfully).</summary>
    [Fact]
    public void Dispatcher_ChoosesTheWidestVariantThisCpuRuns()
    {
        string expected = Runs("x86-64-v4") ? "x86-64-v4" : "x86-64-v3";
        var run = Tool.Run(build.Checks, ["variant"], build.Directory, RunTimeout);
        Assert.Equal($"ok variant={expected}", run.Out.Trim());
    }

    /// <summary>
    /// On a CPU that no variant runs, every call returns KN_ERROR_UNSUPPORTED_CPU with a message instead of the NativeAOT
    /// runtime's abort. Such a CPU cannot be had here; KERNELS_ISA naming an unknown variant goes through the same refusal.
    /// </summary>
    [Fact]
    public void Dispatcher_WithNoUsableVariant_RefusesEveryCallWithAStatus() =>
        RunChecks("refused", null, minimumChecks: 8, new Dictionary<string, string> { ["KERNELS_ISA"] = "x86-64-v9" }, ["-2006"]);

    /// <summary>A dispatcher installed without its variants answers KN_ERROR_LOAD_FAILED naming the missing file.</summary>
    [Fact]
    public void Dispatcher_WithoutItsVariants_RefusesEveryCallWithAStatus()
    {
        string lonely = Path.Combine(build.Directory, "lonely");
        System.IO.Directory.CreateDirectory(lonely);
        File.Copy(build.Library, Path.Combine(lonely, "libkernels.so"), overwrite: true);
        File.Copy(build.Checks, Path.Combine(lonely, "abi_checks"), overwrite: true);
        var run = Tool.Run(Path.Combine(lonely, "abi_checks"), ["refused", "-2007"], lonely, RunTimeout);
        AssertChecks(run, "refused (no variants)", 8);
    }

    /// <summary>
    /// What the dispatcher loads on an AVX2-only CPU must hold no AVX-512 instruction, or it would fault there (SIGILL) where it
    /// passed here. In 64-bit mode every instruction starting with byte 0x62 is EVEX-encoded (AVX-512); the v3 variant must
    /// have none, and the v4 variant many (so the scan is known to see them).
    /// </summary>
    [Fact]
    public void VariantX86_64_v3_HoldsNoAvx512Instruction()
    {
        int Evex(string variant)
        {
            var dump = Tool.RunChecked("objdump", ["-d", build.VariantLibrary(variant)], build.Directory, RunTimeout);
            return dump.Out.Split('\n').Select(line => line.Split('\t')).Count(f => f.Length >= 3 && EvexBytes().IsMatch(f[1]) && f[2].StartsWith('v'));
        }
        Assert.Equal(0, Evex("x86-64-v3"));
        Assert.True(Evex("x86-64-v4") > 100, "the v4 variant shows no EVEX instruction: the scan is broken");
    }

    /// <summary>Every KN_API function of the header is exported by the dispatcher and by each variant, and nothing else named kn_ is.</summary>
    [Theory]
    [InlineData("dispatcher")]
    [InlineData("x86-64-v3")]
    [InlineData("x86-64-v4")]
    public void Library_ExportsExactlyTheHeadersFunctions(string library)
    {
        var declared = DeclaredFunction().Matches(File.ReadAllText(build.Header)).Select(m => m.Groups[1].Value).ToHashSet();
        string path = library == "dispatcher" ? build.Library : build.VariantLibrary(library);
        var nm = Tool.RunChecked("nm", ["-D", "--defined-only", path], build.Directory, RunTimeout);
        var exported = ExportedFunction().Matches(nm.Out).Select(m => m.Groups[1].Value).ToHashSet();
        Assert.True(declared.Count >= 15, $"parsed only {declared.Count} declarations from kernels.h");
        Assert.True(declared.SetEquals(exported),
            $"declared but not exported: {string.Join(", ", declared.Except(exported))}; exported but not declared: {string.Join(", ", exported.Except(declared))}");
    }

    /// <summary>
    /// The README's C caller stays true: its first ```c block compiles with the README's own gcc line against the built library,
    /// runs, and prints the score of x = (0.5, 0.25) for the four points ±e₁, ±e₂ at α = 1, σ = 0.5: %g keeps 6 significant
    /// digits (≤ 5e-6 relative) of a float within a few float32 ulps (~1e-7 relative) of the managed result, so 1e-5 relative
    /// (plus 1e-6 absolute for a component near 0) holds both.
    /// </summary>
    [Fact]
    public void ReadmeCaller_CompilesRunsAndPrintsTheScore()
    {
        string readme = File.ReadAllText(Path.Combine(build.RepositoryRoot, "README.md"));
        var block = Regex.Match(readme, "```c\n(.*?)```", RegexOptions.Singleline);
        Assert.True(block.Success, "README.md has no ```c block");
        Assert.True(block.Groups[1].Value.Split('\n').Length <= 21, "the README's C caller should stay under 20 lines");
        string source = Path.Combine(build.Directory, "readme_app.c"), program = Path.Combine(build.Directory, "readme_app");
        File.WriteAllText(source, block.Groups[1].Value);
        Tool.RunChecked("gcc", [source, "-I", build.Directory, "-I", Path.GetDirectoryName(build.Header)!, "-L", build.Directory, "-lkernels",
            "-Wl,-rpath,$ORIGIN", "-o", program], build.Directory, RunTimeout);
        var run = Tool.RunChecked(program, [], build.Directory, RunTimeout);
        var printed = Regex.Match(run.Out, @"score = \(([^,]+), ([^)]+)\)");
        Assert.True(printed.Success, $"unexpected output: {run.Out}");
        var expected = new EmpiricalScore<float>(new TrainingSet<float>([1, 0, 0, 1, -1, 0, 0, -1], 4, 2)).Score([0.5f, 0.25f], new NoiseLevel(1, 0.5));
        for (int k = 0; k < 2; k++)
        {
            double value = double.Parse(printed.Groups[k + 1].Value, CultureInfo.InvariantCulture);
            Assert.True(Math.Abs(value - expected[k]) <= 1e-5 * Math.Abs(expected[k]) + 1e-6, $"score[{k}] = {value}, managed {expected[k]}");
        }
    }

    /// <summary>The header is valid C99 and C++11 with every warning on (extern "C" guards, the inline CPU check).</summary>
    [Theory]
    [InlineData("gcc", "c", "-std=c99")]
    [InlineData("g++", "c++", "-std=c++11")]
    public void Header_CompilesCleanlyAsCAndCpp(string compiler, string language, string standard) =>
        Tool.RunChecked(compiler, [standard, "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", "-x", language, build.Header],
            build.Directory, RunTimeout);

    private void RunChecks(string mode, string? variant, int minimumChecks, Dictionary<string, string>? environment = null, string[]? extra = null)
    {
        environment ??= [];
        if (variant is not null) environment["KERNELS_ISA"] = variant;
        if (variant is not null && !Runs(variant))
        {
            // This CPU cannot run the variant: forcing it must be refused with a status, never an abort.
            (mode, extra, minimumChecks) = ("refused", ["-2006"], 8);
        }
        var run = Tool.Run(build.Checks, [mode, .. extra ?? []], build.Directory, RunTimeout, environment);
        AssertChecks(run, $"{mode} ({variant ?? "dispatcher's choice"})", minimumChecks);
    }

    /// <summary>Whether this CPU runs <paramref name="variant"/> (the JIT reports the CPU's instruction sets truthfully).</summary>
    private static bool Runs(string variant) => variant != "x86-64-v4" ||
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512CD.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported;

    private static void AssertChecks(ToolResult run, string mode, int minimumChecks)
    {
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

    [GeneratedRegex(@"^\s*(?:67 )?62 ")]
    private static partial Regex EvexBytes();

    [GeneratedRegex(@"\sT\s+(kn_\w+)(?:@@\S+)?")]
    private static partial Regex ExportedFunction();
}
