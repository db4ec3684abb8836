using Kernels.Numerics;
using Kernels.Tests.Ridges;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The diagnostics suite with the score, the pivot pass and the projection's scores on the OpenCL backend (PoCL on CI).</summary>
public sealed class OpenClRidgeDiagnosticsProperties : RidgeDiagnosticsProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
