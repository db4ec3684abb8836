using FsCheck.Xunit;
using Kernels.Interop;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Kernels.Tests.Support;

/// <summary>
/// Whether the OpenCL tests run here, and the one backend they share. Without an OpenCL runtime they are skipped
/// (and counted as skipped) with a message saying what to install, unless <c>KERNELS_REQUIRE_OPENCL=1</c>, when they
/// run and fail on the missing runtime: CI sets it, so a broken PoCL install cannot pass as green.
/// The device is <c>KERNELS_OPENCL_DEVICE</c> when set, else the first GPU, else the first device.
/// </summary>
public static class OpenClTestSupport
{
    public const string RequireVariable = "KERNELS_REQUIRE_OPENCL";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>Null when the OpenCL tests should run; else why they are skipped and what to install.</summary>
    public static string? SkipReason
    {
        get
        {
            if (Required) return null;
            var probe = OpenClRuntime.Probe;
            if (probe.IsAvailable && OpenClRuntime.Devices.Count > 0) return null;
            string why = probe.IsAvailable ? $"the OpenCL platforms ({string.Join(", ", probe.Platforms)}) expose no device" : probe.Reason;
            return $"No OpenCL runtime: {why} To run these tests install PoCL (`apt-get install pocl-opencl-icd ocl-icd-libopencl1`); " +
                   $"set {RequireVariable}=1 to make a missing runtime a failure.";
        }
    }

    private static readonly Lazy<OpenClBackend> LazyBackend = new(
        () => new OpenClBackend(options: new OpenClOptions { ScoreKernel = OpenClScoreKernel.Tiled }), LazyThreadSafetyMode.ExecutionAndPublication);

    private static readonly Lazy<OpenClBackend> LazyClassic = new(
        () => new OpenClBackend(Backend.Context, new OpenClOptions { ScoreKernel = OpenClScoreKernel.Classic }), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// The backend every OpenCL test shares (thread-safe; created on first use, throws with the remedy when there is no
    /// runtime): float32 on the tiled score kernel (float64 always runs the classic one), so every OpenCL suite runs it;
    /// the tuner, which picks between the two in production, is left out so each run tests the same kernel.
    /// </summary>
    public static OpenClBackend Backend => LazyBackend.Value;

    /// <summary>The classic score kernel on the same context, for the suites bound to it as well.</summary>
    public static OpenClBackend Classic => LazyClassic.Value;
}

/// <summary>Marks a test class whose tests need an OpenCL runtime (see <see cref="OpenClTestSupport"/>).</summary>
public interface IRequiresOpenCl;

/// <summary>
/// An FsCheck property that, in a class implementing <see cref="IRequiresOpenCl"/>, is skipped at discovery (as a
/// counted xUnit skip, unlike <c>[Property(Skip = …)]</c>) when OpenCL is absent and not required. In other classes
/// it is a plain <see cref="PropertyAttribute"/>, so one abstract suite can run on every backend.
/// </summary>
[XunitTestCaseDiscoverer("Kernels.Tests.Support.BackendPropertyDiscoverer", "Kernels.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class BackendPropertyAttribute : PropertyAttribute;

/// <summary>A fact that needs OpenCL: skipped (counted) with the install hint when absent and not required.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class OpenClFactAttribute : FactAttribute
{
    public OpenClFactAttribute()
    {
        if (OpenClTestSupport.SkipReason is string reason) Skip = reason;
    }
}

/// <summary>A theory that needs OpenCL: skipped (counted) with the install hint when absent and not required.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class OpenClTheoryAttribute : TheoryAttribute
{
    public OpenClTheoryAttribute()
    {
        if (OpenClTestSupport.SkipReason is string reason) Skip = reason;
    }
}

/// <summary>
/// A fact in an abstract suite bound to every backend: in a class implementing <see cref="IRequiresOpenCl"/> it is
/// skipped (counted) when OpenCL is absent and not required; in other classes it is a plain <see cref="FactAttribute"/>.
/// </summary>
[XunitTestCaseDiscoverer("Kernels.Tests.Support.BackendFactDiscoverer", "Kernels.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class BackendFactAttribute : FactAttribute;

/// <summary>The theory counterpart of <see cref="BackendFactAttribute"/>.</summary>
[XunitTestCaseDiscoverer("Kernels.Tests.Support.BackendTheoryDiscoverer", "Kernels.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class BackendTheoryAttribute : TheoryAttribute;

/// <summary>
/// Discovers a backend test as <paramref name="inner"/> would, except in a class implementing <see cref="IRequiresOpenCl"/>
/// when OpenCL is absent and not required: then one skipped case (counted by xUnit) stands for the test, with the reason.
/// </summary>
public abstract class BackendDiscoverer(IMessageSink diagnosticMessageSink, IXunitTestCaseDiscoverer inner) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        typeof(IRequiresOpenCl).IsAssignableFrom(testMethod.TestClass.Class.ToRuntimeType()) && OpenClTestSupport.SkipReason is string reason
            ? [new XunitSkippedDataRowTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(),
                discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, reason)]
            : inner.Discover(discoveryOptions, testMethod, factAttribute);
}

public sealed class BackendPropertyDiscoverer(IMessageSink sink) : BackendDiscoverer(sink, new PropertyDiscoverer(sink));

public sealed class BackendFactDiscoverer(IMessageSink sink) : BackendDiscoverer(sink, new FactDiscoverer(sink));

public sealed class BackendTheoryDiscoverer(IMessageSink sink) : BackendDiscoverer(sink, new TheoryDiscoverer(sink));
