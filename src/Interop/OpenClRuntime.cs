using System.Text;
using Silk.NET.OpenCL;

namespace Kernels.Interop;

/// <summary>What the process found when it first looked for an OpenCL runtime.</summary>
/// <param name="IsAvailable">True when the OpenCL loader and at least one platform were found.</param>
/// <param name="Platforms">The platforms' names (empty when none).</param>
/// <param name="Reason">Why none is usable, with the remedy; empty when available.</param>
public sealed record OpenClProbe(bool IsAvailable, IReadOnlyList<string> Platforms, string Reason);

/// <summary>
/// The process-wide OpenCL entry point. The API is loaded and the platforms enumerated once, on first use, under
/// a lock: PoCL fails when several threads enumerate at once (../shared/TOOLCHAIN.md §1). The OpenCL backend
/// builds on this; for now it answers whether a runtime is present.
/// </summary>
public static class OpenClRuntime
{
    private const string Remedy = "install an OpenCL runtime, e.g. `apt-get install pocl-opencl-icd ocl-icd-libopencl1` (CPU) or a GPU driver's ICD";

    private static readonly Lazy<OpenClProbe> LazyProbe = new(ProbeOnce, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The result of the one-time probe.</summary>
    public static OpenClProbe Probe => LazyProbe.Value;

    private static unsafe OpenClProbe ProbeOnce()
    {
        CL cl;
        try
        {
            cl = CL.GetApi();
        }
        catch (Exception e) when (e is FileNotFoundException or DllNotFoundException)
        {
            return new OpenClProbe(false, [], $"The OpenCL loader (libOpenCL.so.1) was not found: {Remedy}.");
        }

        uint count = 0;
        int status = cl.GetPlatformIDs(0, null, &count);
        if (status != 0 || count == 0)
            return new OpenClProbe(false, [],
                $"clGetPlatformIDs found no platform (status {status}{(status == -1001 ? ", CL_PLATFORM_NOT_FOUND_KHR: no ICD registered" : "")}): {Remedy}.");

        var ids = new nint[count];
        fixed (nint* p = ids)
            status = cl.GetPlatformIDs(count, p, null);
        if (status != 0)
            return new OpenClProbe(false, [], $"clGetPlatformIDs failed with status {status}: {Remedy}.");

        var names = new List<string>();
        foreach (nint id in ids)
        {
            nuint size = 0;
            if (cl.GetPlatformInfo(id, PlatformInfo.Name, 0, null, &size) != 0 || size == 0) continue;
            var bytes = new byte[(int)size];
            fixed (byte* b = bytes)
                if (cl.GetPlatformInfo(id, PlatformInfo.Name, size, b, null) != 0) continue;
            names.Add(Encoding.UTF8.GetString(bytes).TrimEnd('\0'));
        }
        return new OpenClProbe(true, names, "");
    }
}
