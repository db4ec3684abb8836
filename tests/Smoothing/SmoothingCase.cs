using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;

namespace Kernels.Tests.Smoothing;

/// <summary>Which kernel a random case uses.</summary>
public enum KernelKind { Gaussian, Ball, Anisotropic, Tangent, Covariance }

/// <summary>
/// A random log-domain smoothing case: a score <see cref="Problem"/>, a kernel whose scale is a multiple of the data's
/// scale, and a draw plan (K from 1 to 6, antithetic or fixed sometimes).
/// </summary>
public sealed record SmoothingCase(Problem Problem, KernelKind Kind, double ScaleOverDataScale, int Draws, bool Antithetic, bool Fixed, ulong Seed)
{
    public override string ToString() =>
        $"{Problem}; kernel {Kind} h/scale={ScaleOverDataScale:G3}; K={Draws} antithetic={Antithetic} fixed={Fixed} seed={Seed}";

    public SmoothingDraws Plan => new(Draws, Seed, Antithetic, Fixed);

    public SmoothingKernel Kernel()
    {
        int d = Problem.D;
        double h = ScaleOverDataScale * Problem.Scale;
        return Kind switch
        {
            KernelKind.Gaussian => SmoothingKernel.Gaussian(h),
            KernelKind.Ball => SmoothingKernel.Ball(h),
            KernelKind.Anisotropic => SmoothingKernel.Anisotropic(Subspace(), h, 0.3 * h),
            KernelKind.Tangent => SmoothingKernel.Tangent(Subspace(), h),
            KernelKind.Covariance => SmoothingKernel.Covariance(Factor(h), d),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind)),
        };
    }

    /// <summary>A random tangent subspace of dimension 1 to 3, below D (D ≥ 2 here).</summary>
    private FixedSubspace Subspace() => new(Problem.D, Math.Clamp(Problem.D - 1, 1, 3), (int)Seed);

    private double[] Factor(double h)
    {
        int d = Problem.D, r = 1 + (int)(Seed % 3);
        var rng = new Random((int)Seed);
        return Enumerable.Range(0, d * r).Select(_ => h * Problem.Gaussian(rng)).ToArray();
    }

    public static Arbitrary<SmoothingCase> Arbitrary { get; } = (
        from p in Problem.Arbitrary.Generator
        from kind in Gen.Elements(KernelKind.Gaussian, KernelKind.Ball, KernelKind.Anisotropic, KernelKind.Tangent, KernelKind.Covariance)
        from h in Gen.Choose(0, 1_000_000).Select(i => 1e-3 * Math.Pow(1e3, i / 1e6))
        from antithetic in Gen.Frequency((3, Gen.Constant(false)), (1, Gen.Constant(true)))
        from k in antithetic ? Gen.Elements(2, 4, 6) : Gen.Choose(1, 6)
        from fixedDraws in Gen.Frequency((3, Gen.Constant(false)), (1, Gen.Constant(true)))
        from seed in Gen.Choose(0, int.MaxValue)
        // D = 1 has no proper tangent subspace: those cases use the Gaussian kernel.
        let kernel = p.D == 1 && kind is KernelKind.Anisotropic or KernelKind.Tangent ? KernelKind.Gaussian : kind
        select new SmoothingCase(p with { M = Math.Min(p.M, 24) }, kernel, h, k, antithetic, fixedDraws, (ulong)seed)).ToArbitrary();

    /// <summary>Draw k of query q as the fast path evaluates it: x + z rounded once to T, widened back.</summary>
    public static double[] PerturbedQuery<T>(SmoothingKernel kernel, SmoothingDraws draws, ReadOnlySpan<double> x, int q, int k)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var z = new double[x.Length];
        kernel.Draw(x, draws, q, k, z);
        var result = new double[x.Length];
        for (int j = 0; j < x.Length; j++) result[j] = double.CreateTruncating(T.CreateTruncating(x[j] + z[j]));
        return result;
    }
}
