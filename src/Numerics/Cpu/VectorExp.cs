using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// e^x for 16 floats in float arithmetic. The library's <see cref="Vector512.Exp(Vector512{float})"/> widens to double and
/// evaluates two double polynomials (about 30 instructions per vector); at small D the exponential is most of the fused
/// score's work, so this one stays in float (about 12): x = n ln 2 + r with n = round(x/ln 2) and ln 2 split in two
/// (Cody–Waite, n·ln2_hi exact), e^r by a degree-6 minimax polynomial on |r| ≤ ln 2/2, and 2^n applied by
/// <c>vscalefps</c>, which underflows gradually to 0 without a special case. Relative error below 2 units of float
/// roundoff over the weights' range x ≤ 0 (tested against <see cref="Math.Exp"/> on a dense grid), inside the
/// 8u the error bound allows the exponential and its argument's subtraction. x = −∞ gives 0, NaN gives NaN.
/// </summary>
internal static class VectorExp
{
    /// <summary>Whether the float path is used (AVX-512F for <c>vscalefps</c>); otherwise the library's exponential.</summary>
    public static bool IsAccelerated => Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        if (!Avx512F.IsSupported) return Vector512.Exp(x);
        // below −104, e^x is 0 in float; the clamp keeps n·ln 2 finite (−∞ would give NaN); vmaxps returns x when x is NaN
        x = Avx512F.Max(Vector512.Create(-104f), x);
        var n = Avx512F.RoundScale(x * Vector512.Create(1.44269504088896341f), 0); // round to nearest
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693145751953125f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.428606765330187045e-06f), r);
        var p = Vector512.Create(0.000198527617612853646278381f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.00139304355252534151077271f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.00833336077630519866943359f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.0416664853692054748535156f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.166666671633720397949219f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        return Avx512F.Scale(p, n);
    }
}
