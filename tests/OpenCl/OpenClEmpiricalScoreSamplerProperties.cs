using Kernels.Numerics;
using Kernels.Tests.Sampling;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The sampler and likelihood suite of <see cref="EmpiricalScoreSamplerProperties"/> on the OpenCL backend (PoCL on CI), with the same bounds.</summary>
public sealed class OpenClEmpiricalScoreSamplerProperties : EmpiricalScoreSamplerProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
