using Kernels.Numerics;
using Kernels.Tests.Ridges;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The ridge residual suite with the score and the pivot pass on the OpenCL backend (PoCL on CI).</summary>
public sealed class OpenClRidgeResidualProperties : RidgeResidualProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
