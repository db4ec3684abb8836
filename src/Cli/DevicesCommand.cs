using System.CommandLine;
using Kernels.Interop;

namespace Kernels.Cli;

/// <summary>The verb <c>devices</c>: the OpenCL platforms and devices present, with what the OpenCL backend needs to know.</summary>
internal static class DevicesCommand
{
    public static Command Create()
    {
        var command = new Command("devices",
            "List the OpenCL platforms and devices (for --backend opencl --device …) with their capabilities: kind, compute units, " +
            "largest work-group, local and global memory, double precision (fp64). Exits with 1 and says what to install when there is no OpenCL runtime.");
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () => Execute(parse.InvocationConfiguration.Output)));
        return command;
    }

    private static int Execute(TextWriter stdout)
    {
        OpenClRuntime.RequireAvailable();
        var devices = OpenClRuntime.Devices;
        OpenClDevice? chosen = null;
        string selection;
        try
        {
            var selector = OpenClDeviceSelector.FromEnvironment();
            chosen = selector.Select();
            selection = $"--backend opencl uses #{chosen.Index} by default: {selector}" +
                        (Environment.GetEnvironmentVariable(OpenClDeviceSelector.EnvironmentVariable) is { Length: > 0 } env
                            ? $" (from {OpenClDeviceSelector.EnvironmentVariable}={env})" : "");
        }
        catch (OpenClUnavailableException e)
        {
            selection = $"{OpenClDeviceSelector.EnvironmentVariable} selects no device: {e.Message}";
        }

        foreach (string platform in OpenClRuntime.Probe.Platforms)
        {
            var onPlatform = devices.Where(d => d.Platform == platform).ToList();
            stdout.WriteLine($"platform {platform}{(onPlatform.Count > 0 ? $" ({onPlatform[0].PlatformVersion})" : "")}: {onPlatform.Count} device(s)");
            foreach (var d in onPlatform)
            {
                stdout.WriteLine($"  #{d.Index} {d.Name}{(d == chosen ? "   [default]" : "")}");
                stdout.WriteLine($"     kind {d.Kind.ToString().ToLowerInvariant()}, vendor {d.Vendor}, {d.Version}, driver {d.DriverVersion}");
                stdout.WriteLine($"     compute units {d.ComputeUnits}, max work-group {d.MaxWorkGroupSize}, local memory {d.LocalMemorySize / 1024} KiB, " +
                                 $"global memory {d.GlobalMemorySize >> 20} MiB, largest buffer {d.MaxAllocationSize >> 20} MiB");
                stdout.WriteLine($"     fp64 {(d.HasFp64 ? "yes" : "no (float32 only)")}, fp16 {(d.HasFp16 ? "yes" : "no")}");
            }
        }
        stdout.WriteLine(selection + "; choose another with --device cpu|gpu|INDEX|NAME or " + OpenClDeviceSelector.EnvironmentVariable + ".");
        return 0;
    }
}
