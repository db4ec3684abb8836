using System.Diagnostics;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// Publishes the C ABI library once per test run (NativeAOT, several seconds; the first run on a machine also downloads the
/// ILCompiler packages) into a temporary folder, names it libkernels.so as the Cake target does, and builds the C example
/// and the C contract checks against it with gcc. Shared by every test of the "native" collection.
/// </summary>
public sealed class NativeBuild : IDisposable
{
    public NativeBuild()
    {
        RepositoryRoot = FindRepositoryRoot();
        Directory = Path.Combine(Path.GetTempPath(), $"kernels-native-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        string publish = Path.Combine(Directory, "publish");
        var watch = Stopwatch.StartNew();
        Tool.RunChecked(Tool.Dotnet, ["publish", Path.Combine(RepositoryRoot, "src", "Native", "Kernels.Native.csproj"),
            "-c", "Release", "-r", "linux-x64", "-o", publish, "--disable-build-servers", "-nodeReuse:false", "-v:q", "-nologo"],
            RepositoryRoot, TimeSpan.FromMinutes(8));
        PublishSeconds = watch.Elapsed.TotalSeconds;
        File.Copy(Path.Combine(publish, "Kernels.Native.so"), Library);

        Example = Compile(Path.Combine(RepositoryRoot, "native", "examples", "score.c"), "score");
        Checks = Compile(Path.Combine(RepositoryRoot, "tests", "Native", "abi_checks.c"), "abi_checks", "-pthread");
    }

    public string RepositoryRoot { get; }

    /// <summary>The temporary folder holding libkernels.so and the compiled C programs.</summary>
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
            "-L", Directory, "-lkernels", "-Wl,-rpath,$ORIGIN", "-lm", "-o", output], Directory, TimeSpan.FromMinutes(2));
        return output;
    }

    private static string FindRepositoryRoot()
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

[CollectionDefinition("native")]
public sealed class NativeCollection : ICollectionFixture<NativeBuild>;

/// <summary>What a child process returned and printed.</summary>
public sealed record ToolResult(int ExitCode, string Out, string Error);

/// <summary>Runs external programs (dotnet, gcc, python3, the compiled C programs) with a timeout.</summary>
public static class Tool
{
    /// <summary>The dotnet host running these tests (dotnet test sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    public static ToolResult Run(string program, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
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
