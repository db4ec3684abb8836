using Kernels.Interop;
using Xunit;

namespace Kernels.Tests;

public class OpenClRuntimeTests
{
    [Fact]
    public void Probe_EitherListsPlatforms_OrSaysWhatToInstall()
    {
        var probe = OpenClRuntime.Probe;
        if (probe.IsAvailable)
        {
            Assert.NotEmpty(probe.Platforms);
            Assert.All(probe.Platforms, name => Assert.False(string.IsNullOrWhiteSpace(name)));
        }
        else
        {
            Assert.Empty(probe.Platforms);
            Assert.Contains("pocl-opencl-icd", probe.Reason);
            Assert.NotEqual("1", Environment.GetEnvironmentVariable("KERNELS_REQUIRE_OPENCL"));
        }
    }

    [Fact]
    public void Probe_FromManyThreadsAtOnce_GivesOneAnswer()
    {
        var results = new OpenClProbe[8];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = OpenClRuntime.Probe);
        Assert.All(results, r => Assert.Same(results[0], r));
    }
}
