using System.Diagnostics;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// native/score.cl compiles, without an OpenCL runtime, in every configuration the backend can choose (CPU: 16 floats or
/// 8 doubles per vector and two per tile; GPU: 8 or 4 and four per tile; state in double or float), and native/smoothing.cl
/// in float and double rows and tangent ranks, via clang-14's OpenCL front end. Skipped (counted) where clang-14 is not installed.
/// </summary>
public sealed class KernelLintTests
{
    private static readonly string? Clang = FindClang();

    private static string? FindClang() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "clang-14")).FirstOrDefault(File.Exists);

    private const string NoClang = "clang-14 is not on PATH (apt-get install clang-14) to lint native/*.cl offline.";

    public sealed class ClangTheoryAttribute : TheoryAttribute
    {
        public ClangTheoryAttribute()
        {
            if (Clang is null) Skip = NoClang;
        }
    }

    public sealed class ClangFactAttribute : FactAttribute
    {
        public ClangFactAttribute()
        {
            if (Clang is null) Skip = NoClang;
        }
    }

    private static string KernelPath(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "native", file);
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"native/{file} not found above " + AppContext.BaseDirectory);
    }

    [ClangTheory]
    [InlineData("")]
    [InlineData("-DREAL_IS_DOUBLE=0 -DACC_IS_DOUBLE=1 -DSPLIT_ALPHA=1 -DLANES=16 -DGROUPS=2 -DDCHUNK=128 -DWG=64")]
    [InlineData("-DREAL_IS_DOUBLE=1 -DACC_IS_DOUBLE=1 -DSPLIT_ALPHA=0 -DLANES=8 -DGROUPS=2 -DDCHUNK=128 -DWG=64")]
    [InlineData("-DREAL_IS_DOUBLE=0 -DACC_IS_DOUBLE=0 -DSPLIT_ALPHA=1 -DLANES=8 -DGROUPS=4 -DDCHUNK=64 -DWG=64")]
    [InlineData("-DREAL_IS_DOUBLE=1 -DACC_IS_DOUBLE=1 -DSPLIT_ALPHA=1 -DLANES=4 -DGROUPS=4 -DDCHUNK=32 -DWG=64")]
    [InlineData("-DLANES=2 -DGROUPS=1 -DDCHUNK=1 -DWG=1")]
    public void ScoreKernel_CompilesInEveryConfiguration(string defines)
    {
        var (exitCode, errors) = Lint("score.cl", defines, "-Werror");
        Assert.True(exitCode == 0, $"clang-14 {defines}: {errors}");
    }

    /// <summary>score_tiled.cl (built after score.cl, whose definitions it uses) in every shape the tuner may pick, and a few more.</summary>
    [ClangTheory]
    [InlineData("")]
    [InlineData("-DACC_IS_DOUBLE=1 -DLANES=16 -DTQ=8 -DRQ=8 -DTPV=2 -DVP=2 -DDK=1 -DSTAGE=0 -DPEND=64")]
    [InlineData("-DACC_IS_DOUBLE=1 -DLANES=16 -DTQ=4 -DRQ=4 -DTPV=4 -DVP=4 -DDK=1 -DSTAGE=0 -DPEND=64 -DMOMENTS=1 -DSPLIT_ALPHA=0")]
    [InlineData("-DACC_IS_DOUBLE=0 -DLANES=4 -DTQ=64 -DRQ=4 -DTPV=16 -DVP=4 -DDK=16 -DSTAGE=1 -DPEND=32")]
    [InlineData("-DACC_IS_DOUBLE=1 -DLANES=8 -DTQ=64 -DRQ=4 -DTPV=8 -DVP=2 -DDK=16 -DSTAGE=1 -DPEND=32 -DMOMENTS=3")]
    [InlineData("-DLANES=2 -DTQ=2 -DRQ=2 -DTPV=1 -DVP=1 -DDK=1 -DPEND=1")]
    public void TiledScoreKernel_CompilesInEveryConfiguration(string defines)
    {
        var (exitCode, errors) = Lint(["score.cl", "score_tiled.cl"], defines, "-Werror");
        Assert.True(exitCode == 0, $"clang-14 {defines}: {errors}");
    }

    [ClangTheory]
    [InlineData("-DRQ=3 -DTQ=9")]
    [InlineData("-DVP=3 -DTPV=3")]
    [InlineData("-DTQ=30 -DRQ=4")]
    [InlineData("-DLANES=16 -DTPV=16 -DVP=4")]
    [InlineData("-DPEND=129")]
    public void TiledScoreKernel_RejectsImpossibleConfigurations(string defines)
    {
        var (exitCode, errors) = Lint(["score.cl", "score_tiled.cl"], defines);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("must be", errors);
    }

    [ClangTheory]
    [InlineData("")]
    [InlineData("-DREAL_IS_DOUBLE=0 -DMAX_RANK=1")]
    [InlineData("-DREAL_IS_DOUBLE=1 -DMAX_RANK=1")]
    [InlineData("-DREAL_IS_DOUBLE=1 -DMAX_RANK=17")]
    public void SmoothingKernel_CompilesInEveryConfiguration(string defines)
    {
        var (exitCode, errors) = Lint("smoothing.cl", defines, "-Werror");
        Assert.True(exitCode == 0, $"clang-14 {defines}: {errors}");
    }

    [ClangFact]
    public void SmoothingKernel_RejectsAZeroRank()
    {
        var (exitCode, errors) = Lint("smoothing.cl", "-DMAX_RANK=0");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("must be", errors);
    }

    [ClangTheory]
    [InlineData("-DLANES=3")]
    [InlineData("-DLANES=16 -DGROUPS=16")]
    public void ScoreKernel_RejectsImpossibleConfigurations(string defines)
    {
        var (exitCode, errors) = Lint("score.cl", defines);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("must be", errors); // the kernel's own #error says which parameter and why
    }

    private static (int ExitCode, string Errors) Lint(string file, string defines, params string[] extra) => Lint([file], defines, extra);

    /// <summary>Lints <paramref name="files"/> as one program, in order (as the backend builds them: one source, concatenated).</summary>
    private static (int ExitCode, string Errors) Lint(string[] files, string defines, params string[] extra)
    {
        string source = files.Length == 1 ? KernelPath(files[0]) : Path.Combine(Path.GetTempPath(), $"kernels-lint-{Guid.NewGuid():N}.cl");
        if (files.Length > 1) File.WriteAllText(source, string.Join("\n", files.Select(f => File.ReadAllText(KernelPath(f)))));
        try
        {
            var start = new ProcessStartInfo(Clang!) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (string arg in new[] { "-x", "cl", "-cl-std=CL1.2", "-Xclang", "-finclude-default-header", "-fsyntax-only" }
                         .Concat(extra).Concat(defines.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Append(source))
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, errors);
        }
        finally
        {
            if (files.Length > 1) File.Delete(source);
        }
    }
}
