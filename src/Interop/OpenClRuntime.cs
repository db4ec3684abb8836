using System.Text;
using Silk.NET.OpenCL;

namespace Kernels.Interop;

/// <summary>What the process found when it first looked for an OpenCL runtime.</summary>
/// <param name="IsAvailable">True when the OpenCL loader and at least one platform were found.</param>
/// <param name="Platforms">The platforms' names (empty when none).</param>
/// <param name="Reason">Why none is usable, with the remedy; empty when available.</param>
public sealed record OpenClProbe(bool IsAvailable, IReadOnlyList<string> Platforms, string Reason);

/// <summary>
/// The process-wide OpenCL entry point. The API is loaded and every platform and device enumerated once, on first
/// use, under a lock: PoCL fails when several threads enumerate at once (../shared/TOOLCHAIN.md §1), so nothing
/// else in the process calls clGetPlatformIDs or clGetDeviceIDs.
/// </summary>
public static class OpenClRuntime
{
    /// <summary>What to install when no runtime is found.</summary>
    public const string Remedy = "install an OpenCL runtime, e.g. `apt-get install pocl-opencl-icd ocl-icd-libopencl1` (CPU) or a GPU driver's ICD";

    private sealed record State(CL? Api, OpenClProbe Probe, IReadOnlyList<OpenClDevice> Devices);

    private static readonly Lazy<State> LazyState = new(Enumerate, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The result of the one-time probe.</summary>
    public static OpenClProbe Probe => LazyState.Value.Probe;

    /// <summary>Every device of every platform, in platform order; empty when no runtime is available.</summary>
    public static IReadOnlyList<OpenClDevice> Devices => LazyState.Value.Devices;

    /// <summary>The loaded API; throws <see cref="OpenClUnavailableException"/> (with the remedy) when there is none.</summary>
    internal static CL Api => LazyState.Value.Api ?? throw new OpenClUnavailableException(Probe.Reason);

    /// <summary>
    /// Serialises the calls whose Silk.NET wrappers pin a callback delegate (clCreateContext, clBuildProgram), even a null
    /// one: the wrapper's pin table is not safe for concurrent use (8 threads creating contexts at once failed inside it
    /// with an ArgumentOutOfRangeException). Both calls are rare and slow anyway.
    /// </summary>
    internal static object CallbackPinGate { get; } = new();

    /// <summary>Throws <see cref="OpenClUnavailableException"/> with the remedy unless a runtime with a device is present.</summary>
    public static void RequireAvailable()
    {
        var state = LazyState.Value;
        if (!state.Probe.IsAvailable) throw new OpenClUnavailableException(state.Probe.Reason);
        if (state.Devices.Count == 0)
            throw new OpenClUnavailableException($"OpenCL platforms {string.Join(", ", state.Probe.Platforms)} expose no device: {Remedy}.");
    }

    private static unsafe State Enumerate()
    {
        CL cl;
        try
        {
            cl = CL.GetApi();
        }
        catch (Exception e) when (e is FileNotFoundException or DllNotFoundException)
        {
            return new State(null, new OpenClProbe(false, [], $"The OpenCL loader (libOpenCL.so.1) was not found: {Remedy}."), []);
        }

        uint count = 0;
        int status = cl.GetPlatformIDs(0, null, &count);
        if (status != 0 || count == 0)
            return new State(null, new OpenClProbe(false, [],
                $"clGetPlatformIDs found no platform (status {status}, {OpenClException.StatusName(status)}{(status == -1001 ? ": no ICD registered" : "")}): {Remedy}."), []);

        var ids = new nint[count];
        fixed (nint* p = ids)
            status = cl.GetPlatformIDs(count, p, null);
        if (status != 0)
            return new State(null, new OpenClProbe(false, [], $"clGetPlatformIDs failed with status {status} ({OpenClException.StatusName(status)}): {Remedy}."), []);

        var names = new List<string>();
        var devices = new List<OpenClDevice>();
        foreach (nint platform in ids)
        {
            string name = PlatformString(cl, platform, PlatformInfo.Name);
            if (name.Length == 0) continue;
            names.Add(name);
            string version = PlatformString(cl, platform, PlatformInfo.Version);
            uint deviceCount = 0;
            // a platform without devices answers CL_DEVICE_NOT_FOUND: list the platform, skip its devices
            if (cl.GetDeviceIDs(platform, DeviceType.All, 0, null, &deviceCount) != 0 || deviceCount == 0) continue;
            var deviceIds = new nint[deviceCount];
            fixed (nint* p = deviceIds)
                if (cl.GetDeviceIDs(platform, DeviceType.All, deviceCount, p, null) != 0) continue;
            foreach (nint device in deviceIds)
                devices.Add(OpenClDevice.Describe(cl, platform, name, version, device, devices.Count));
        }
        return new State(cl, new OpenClProbe(true, names, ""), devices);
    }

    private static unsafe string PlatformString(CL cl, nint platform, PlatformInfo info)
    {
        nuint size = 0;
        if (cl.GetPlatformInfo(platform, info, 0, null, &size) != 0 || size == 0) return "";
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
            if (cl.GetPlatformInfo(platform, info, size, b, null) != 0) return "";
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }
}
