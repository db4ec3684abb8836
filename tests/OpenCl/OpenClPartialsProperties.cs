using Kernels.Numerics;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The partials suite with shards evaluated on the OpenCL backend (PoCL on CI).</summary>
public sealed class OpenClPartialsProperties : PartialsProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
