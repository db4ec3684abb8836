using System.Text;
using Silk.NET.OpenCL;

namespace Kernels.Interop;

/// <summary>The kind of an OpenCL device.</summary>
public enum OpenClDeviceKind
{
    /// <summary>A CPU device (PoCL's pthread device, Intel's CPU runtime).</summary>
    Cpu,

    /// <summary>A GPU.</summary>
    Gpu,

    /// <summary>An accelerator or custom device.</summary>
    Accelerator,
}

/// <summary>
/// One OpenCL device and its capabilities, read once by <see cref="OpenClRuntime"/>. Extensions are read from
/// CL_DEVICE_EXTENSIONS (Silk.NET's IsExtensionPresent answers true for everything).
/// </summary>
public sealed class OpenClDevice
{
    internal nint Id { get; private init; }

    internal nint PlatformId { get; private init; }

    /// <summary>The position of the device in <see cref="OpenClRuntime.Devices"/> (platform order).</summary>
    public int Index { get; private init; }

    /// <summary>The platform's name, e.g. "Portable Computing Language".</summary>
    public string Platform { get; private init; } = "";

    /// <summary>The platform's version string.</summary>
    public string PlatformVersion { get; private init; } = "";

    /// <summary>The device's name.</summary>
    public string Name { get; private init; } = "";

    /// <summary>The device's vendor.</summary>
    public string Vendor { get; private init; } = "";

    /// <summary>The device's OpenCL version string.</summary>
    public string Version { get; private init; } = "";

    /// <summary>The driver's version string.</summary>
    public string DriverVersion { get; private init; } = "";

    /// <summary>CPU, GPU or accelerator.</summary>
    public OpenClDeviceKind Kind { get; private init; }

    /// <summary>Compute units (cores on a CPU device).</summary>
    public int ComputeUnits { get; private init; }

    /// <summary>The largest work-group the device accepts.</summary>
    public int MaxWorkGroupSize { get; private init; }

    /// <summary>Local (work-group shared) memory in bytes.</summary>
    public long LocalMemorySize { get; private init; }

    /// <summary>Global memory in bytes.</summary>
    public long GlobalMemorySize { get; private init; }

    /// <summary>The largest single buffer in bytes.</summary>
    public long MaxAllocationSize { get; private init; }

    /// <summary>The space-separated extension names.</summary>
    public IReadOnlySet<string> Extensions { get; private init; } = new HashSet<string>();

    /// <summary>Double precision (cl_khr_fp64), read from the extension string.</summary>
    public bool HasFp64 => Extensions.Contains("cl_khr_fp64");

    /// <summary>Half precision (cl_khr_fp16), read from the extension string.</summary>
    public bool HasFp16 => Extensions.Contains("cl_khr_fp16");

    /// <summary>A one-line summary: index, name, platform, kind and capabilities.</summary>
    public override string ToString() =>
        $"#{Index} {Name} ({Kind}, {Platform}; {Version}): {ComputeUnits} compute units, max work-group {MaxWorkGroupSize}, " +
        $"local memory {LocalMemorySize / 1024} KiB, global memory {GlobalMemorySize >> 20} MiB, fp64 {(HasFp64 ? "yes" : "no")}";

    internal static unsafe OpenClDevice Describe(CL cl, nint platform, string platformName, string platformVersion, nint id, int index)
    {
        ulong type = Scalar<ulong>(cl, id, DeviceInfo.Type);
        return new OpenClDevice
        {
            Id = id,
            PlatformId = platform,
            Index = index,
            Platform = platformName,
            PlatformVersion = platformVersion,
            Name = Text(cl, id, DeviceInfo.Name),
            Vendor = Text(cl, id, DeviceInfo.Vendor),
            Version = Text(cl, id, DeviceInfo.Version),
            DriverVersion = Text(cl, id, DeviceInfo.DriverVersion),
            Kind = (type & (ulong)DeviceType.Gpu) != 0 ? OpenClDeviceKind.Gpu
                : (type & (ulong)DeviceType.Cpu) != 0 ? OpenClDeviceKind.Cpu : OpenClDeviceKind.Accelerator,
            ComputeUnits = (int)Scalar<uint>(cl, id, DeviceInfo.MaxComputeUnits),
            MaxWorkGroupSize = (int)Math.Min(int.MaxValue, (ulong)Scalar<nuint>(cl, id, DeviceInfo.MaxWorkGroupSize)),
            LocalMemorySize = (long)Scalar<ulong>(cl, id, DeviceInfo.LocalMemSize),
            GlobalMemorySize = (long)Scalar<ulong>(cl, id, DeviceInfo.GlobalMemSize),
            MaxAllocationSize = (long)Scalar<ulong>(cl, id, DeviceInfo.MaxMemAllocSize),
            Extensions = Text(cl, id, DeviceInfo.Extensions).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(),
        };
    }

    private static unsafe TValue Scalar<TValue>(CL cl, nint id, DeviceInfo info) where TValue : unmanaged
    {
        TValue value = default;
        OpenClException.Check(cl.GetDeviceInfo(id, info, (nuint)sizeof(TValue), &value, null), "clGetDeviceInfo", $"reading {info}");
        return value;
    }

    private static unsafe string Text(CL cl, nint id, DeviceInfo info)
    {
        nuint size = 0;
        OpenClException.Check(cl.GetDeviceInfo(id, info, 0, null, &size), "clGetDeviceInfo", $"reading the size of {info}");
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
            OpenClException.Check(cl.GetDeviceInfo(id, info, size, b, null), "clGetDeviceInfo", $"reading {info}");
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }
}

/// <summary>
/// Which OpenCL device to use: by kind, by a substring of its name, by index in <see cref="OpenClRuntime.Devices"/>,
/// or the default (the environment variable <see cref="EnvironmentVariable"/> when set, else the first GPU, else the
/// first device). The textual form (<see cref="Parse"/>) is what tools accept: <c>default</c>, <c>cpu</c>,
/// <c>gpu</c>, <c>accelerator</c>, an index such as <c>1</c>, or any other text as a name substring.
/// </summary>
public sealed record OpenClDeviceSelector
{
    /// <summary>The environment variable tools read the device from, e.g. <c>KERNELS_OPENCL_DEVICE=gpu</c>.</summary>
    public const string EnvironmentVariable = "KERNELS_OPENCL_DEVICE";

    private OpenClDeviceKind? _kind;
    private string? _name;
    private int? _index;

    private OpenClDeviceSelector() { }

    /// <summary>The first GPU, else the first device; <see cref="EnvironmentVariable"/> is not consulted.</summary>
    public static OpenClDeviceSelector FirstGpuElseAny { get; } = new();

    /// <summary>The first device of the given kind.</summary>
    /// <param name="kind">CPU, GPU or accelerator.</param>
    public static OpenClDeviceSelector ByKind(OpenClDeviceKind kind) => new() { _kind = kind };

    /// <summary>The first device whose name contains <paramref name="nameSubstring"/> (ignoring case).</summary>
    /// <param name="nameSubstring">Part of the device's name, e.g. "skylake" or "RTX".</param>
    public static OpenClDeviceSelector ByName(string nameSubstring)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameSubstring);
        return new() { _name = nameSubstring };
    }

    /// <summary>The device at <paramref name="index"/> in <see cref="OpenClRuntime.Devices"/>.</summary>
    /// <param name="index">0 ≤ index &lt; number of devices.</param>
    public static OpenClDeviceSelector ByIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new() { _index = index };
    }

    /// <summary>Parses the textual form: default, cpu, gpu, accelerator, an index, or a name substring.</summary>
    /// <param name="text">The selector text.</param>
    public static OpenClDeviceSelector Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        return t.ToLowerInvariant() switch
        {
            "" or "default" => FirstGpuElseAny,
            "cpu" => ByKind(OpenClDeviceKind.Cpu),
            "gpu" => ByKind(OpenClDeviceKind.Gpu),
            "accelerator" => ByKind(OpenClDeviceKind.Accelerator),
            _ when int.TryParse(t, out int index) && index >= 0 => ByIndex(index),
            _ => ByName(t),
        };
    }

    /// <summary><see cref="EnvironmentVariable"/> parsed when set and not empty, else <see cref="FirstGpuElseAny"/>.</summary>
    public static OpenClDeviceSelector FromEnvironment() =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } text ? Parse(text) : FirstGpuElseAny;

    /// <summary>The selected device; throws <see cref="OpenClUnavailableException"/> naming the devices present when none matches.</summary>
    public OpenClDevice Select()
    {
        OpenClRuntime.RequireAvailable();
        var devices = OpenClRuntime.Devices;
        OpenClDevice? found =
            _index is int i ? (i < devices.Count ? devices[i] : null)
            : _kind is OpenClDeviceKind k ? devices.FirstOrDefault(d => d.Kind == k)
            : _name is string n ? devices.FirstOrDefault(d => d.Name.Contains(n, StringComparison.OrdinalIgnoreCase))
            : devices.FirstOrDefault(d => d.Kind == OpenClDeviceKind.Gpu) ?? devices[0];
        return found ?? throw new OpenClUnavailableException(
            $"No OpenCL device matches {this}; the devices present are: {string.Join("; ", devices.Select(d => $"#{d.Index} {d.Name} ({d.Kind})"))}. " +
            $"Select one by index, kind (cpu, gpu) or name substring, e.g. {EnvironmentVariable}=0.");
    }

    /// <summary>The selector in its textual form.</summary>
    public override string ToString() =>
        _index is int i ? $"index {i}" : _kind is OpenClDeviceKind k ? k.ToString().ToLowerInvariant()
        : _name is string n ? $"name containing \"{n}\"" : "the first GPU, else the first device";
}
