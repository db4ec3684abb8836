using Kernels.Numerics;
using Kernels.Tests.Ridges;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The truncation suite on the OpenCL backend (PoCL on CI; no screen: every point evaluated).</summary>
public sealed class OpenClHessianTruncationProperties : HessianTruncationProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
