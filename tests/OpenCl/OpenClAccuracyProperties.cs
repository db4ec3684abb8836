using Kernels.Numerics;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The accuracy suite on the OpenCL backend (PoCL on CI).</summary>
public sealed class OpenClAccuracyProperties : AccuracyProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
