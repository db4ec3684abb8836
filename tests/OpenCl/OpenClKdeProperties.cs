using Kernels.Numerics;
using Kernels.Tests.Smoothing;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>The KDE suite of <see cref="KdeProperties"/> on the OpenCL backend (PoCL on CI), with the same bounds.</summary>
public sealed class OpenClKdeProperties : KdeProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;
}
