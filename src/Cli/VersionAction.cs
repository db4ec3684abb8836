using System.CommandLine;
using System.CommandLine.Invocation;
using System.Reflection;
using System.Runtime.Intrinsics;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels --version</c>: the package version and the backend a command would use with no --backend, i.e. the SIMD CPU
/// path, with the vector width this machine accelerates and the thread count; OpenCL only when asked for (`kernels devices`).
/// </summary>
internal sealed class VersionAction : SynchronousCommandLineAction
{
    /// <summary>The package version (Directory.Build.props' Version), without the source-revision suffix.</summary>
    public static string Version
    {
        get
        {
            string? informational = typeof(VersionAction).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            return informational is null ? "unknown" : informational.Split('+')[0];
        }
    }

    /// <summary>What --backend cpu (the default) runs on here.</summary>
    public static string DefaultBackend
    {
        get
        {
            string width = Vector512.IsHardwareAccelerated ? "AVX-512, 512-bit vectors"
                : Vector256.IsHardwareAccelerated ? "AVX2, 256-bit vectors"
                : Vector128.IsHardwareAccelerated ? "128-bit vectors" : "no SIMD acceleration";
            return $"cpu ({width}, {Environment.ProcessorCount} threads); --backend opencl on request (see `kernels devices`)";
        }
    }

    public override int Invoke(ParseResult parseResult)
    {
        var stdout = parseResult.InvocationConfiguration.Output;
        stdout.WriteLine($"kernels {Version}");
        stdout.WriteLine($"backend: {DefaultBackend}");
        return 0;
    }

    /// <summary>Replaces System.CommandLine's own --version action (which prints the version alone) on <paramref name="root"/>.</summary>
    public static void Install(RootCommand root) => root.Options.OfType<VersionOption>().Single().Action = new VersionAction();
}
