using System.Diagnostics;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// Builds the C ABI once per test run, as the Cake target Native does, into a temporary folder (or takes the variants from
/// KERNELS_NATIVE_DIR, see <see cref="Prebuilt"/>): publishes src/Native twice
/// (NativeAOT, x86-64-v3 and x86-64-v4: several seconds each, incremental afterwards; the first run on a machine also
/// downloads the ILCompiler packages) as libkernels-x86-64-v3.so and libkernels-x86-64-v4.so, compiles the dispatcher
/// native/src/dispatch.c as libkernels.so, and builds the C example and the C contract checks against it with gcc.
/// Shared by every test of the "native" collection.
/// </summary>
public sealed class NativeBuild : IDisposable
{
    public static readonly string[] Variants = ["x86-64-v3", "x86-64-v4"];

    public NativeBuild()
    {
        RepositoryRoot = FindRepositoryRoot();
        Directory = Path.Combine(Path.GetTempPath(), $"kernels-native-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        var watch = Stopwatch.StartNew();
        if (Prebuilt is { } prebuilt)
        {
            // CI builds the C ABI once (the Cake target Native, which the wheel bundles) and points here: the same files
            foreach (string variant in Variants) File.Copy(Path.Combine(prebuilt, $"libkernels-{variant}.so"), VariantLibrary(variant));
        }
        else
        {
            foreach (string variant in Variants)
            {
                string publish = Path.Combine(Directory, "publish-" + variant);
                Tool.RunChecked(Tool.Dotnet, ["publish", Path.Combine(RepositoryRoot, "src", "Native", "Kernels.Native.csproj"),
                    "-c", "Release", "-r", "linux-x64", "-p:IlcInstructionSet=" + variant, "-o", publish,
                    "--disable-build-servers", "-nodeReuse:false", "-v:q", "-nologo"], RepositoryRoot, TimeSpan.FromMinutes(8));
                File.Copy(Path.Combine(publish, "Kernels.Native.so"), VariantLibrary(variant));
            }
        }
        PublishSeconds = watch.Elapsed.TotalSeconds;
        Tool.RunChecked("gcc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-shared", "-fPIC",
            Path.Combine(RepositoryRoot, "native", "src", "dispatch.c"), "-I", Path.GetDirectoryName(Header)!,
            "-Wl,-soname,libkernels.so", "-ldl", "-pthread", "-o", Library], Directory, TimeSpan.FromMinutes(2));

        Example = Compile(Path.Combine(RepositoryRoot, "native", "examples", "score.c"), "score");
        Checks = Compile(Path.Combine(RepositoryRoot, "tests", "Native", "abi_checks.c"), "abi_checks", "-pthread");
    }

    /// <summary>
    /// KERNELS_NATIVE_DIR: a folder holding libkernels-x86-64-v3.so and libkernels-x86-64-v4.so published from this
    /// checkout (the Cake target Native's artifacts/native), used instead of publishing them again; null when unset. The
    /// dispatcher and the C programs are still compiled here from the sources.
    /// </summary>
    public static string? Prebuilt => Environment.GetEnvironmentVariable("KERNELS_NATIVE_DIR") is { Length: > 0 } dir
        ? Path.GetFullPath(dir, FindRepositoryRoot()) : null;

    /// <summary>The NativeAOT image compiled for <paramref name="variant"/>.</summary>
    public string VariantLibrary(string variant) => Path.Combine(Directory, $"libkernels-{variant}.so");

    public string RepositoryRoot { get; }

    /// <summary>The temporary folder holding libkernels.so (the dispatcher), its variants and the compiled C programs.</summary>
    public string Directory { get; }

    public string Library => Path.Combine(Directory, "libkernels.so");

    public string Header => Path.Combine(RepositoryRoot, "native", "include", "kernels.h");

    public string Example { get; }

    public string Checks { get; }

    public double PublishSeconds { get; }

    /// <summary>gcc with warnings as errors, against the header and libkernels.so (found at run time by rpath $ORIGIN).</summary>
    private string Compile(string source, string name, params string[] extra)
    {
        string output = Path.Combine(Directory, name);
        Tool.RunChecked("gcc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", .. extra, source, "-I", Path.GetDirectoryName(Header)!,
            "-L", Directory, "-lkernels", "-Wl,-rpath,$ORIGIN", "-lm", "-ldl", "-o", output], Directory, TimeSpan.FromMinutes(2));
        return output;
    }

    internal static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Kernels.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"No Kernels.sln above {AppContext.BaseDirectory}; run the tests from the repository.");
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a leftover temp folder is harmless
        }
    }
}

/// <summary>
/// Runs after the parallel collections, alone: the AOT publishes keep both cores busy for several seconds, which would skew
/// the timing- and tiering-sensitive tests running beside them (an allocation-counting test failed that way).
/// </summary>
[CollectionDefinition("native", DisableParallelization = true)]
public sealed class NativeCollection : ICollectionFixture<NativeBuild>;

/// <summary>What a child process returned and printed.</summary>
public sealed record ToolResult(int ExitCode, string Out, string Error);

/// <summary>Runs external programs (dotnet, gcc, python3, the compiled C programs) with a timeout.</summary>
public static class Tool
{
    /// <summary>The dotnet host running these tests (dotnet test sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    public static ToolResult Run(string program, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        // The test host's MSBuild variables would point a nested dotnet publish at the test run's own build.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["NO_COLOR"] = "1";
        start.Environment.Remove("KERNELS_ISA"); // the dispatcher chooses unless a test says otherwise
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} ran longer than {timeout}.");
        }
        process.WaitForExit();
        return new ToolResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static ToolResult RunChecked(string program, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var args = arguments.ToList();
        var result = Run(program, args, workingDirectory, timeout);
        if (result.ExitCode != 0)
            throw new InvalidOperationException(
                $"{program} {string.Join(' ', args)} exited with {result.ExitCode}.\nstdout:\n{result.Out}\nstderr:\n{result.Error}");
        return result;
    }

    /// <summary>The full path of <paramref name="name"/> on PATH, or null.</summary>
    public static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}

/// <summary>A fact that is skipped, saying why, when python3 is not on PATH.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (Tool.FindOnPath("python3") is null) Skip = "python3 is not on PATH, so the Python ctypes example (native/examples/score.py) was not run.";
    }
}
