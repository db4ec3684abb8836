using Kernels.Numerics;
using Kernels.Tests.Ridges;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The Hessian suite with the pivot pass (one Accumulate) on the OpenCL backend (PoCL on CI).</summary>
public sealed class OpenClHessianProperties : HessianProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
