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

    // e^x = 2^n e^r, n = round(x log2 e), r = x − n ln2_hi − n ln2_lo, e^r ≈ 1 + r + r² P(r) with P of degree 4
    private const float Floor = -104f, Log2E = 1.44269504088896341f, Ln2High = -0.693145751953125f, Ln2Low = -1.428606765330187045e-06f;
    private const float C6 = 0.000198527617612853646278381f, C5 = 0.00139304355252534151077271f, C4 = 0.00833336077630519866943359f;
    private const float C3 = 0.0416664853692054748535156f, C2 = 0.166666671633720397949219f, C1 = 0.5f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        if (!Avx512F.IsSupported) return Vector512.Exp(x);
        // below −104, e^x is 0 in float; the clamp keeps n·ln 2 finite (−∞ would give NaN); vmaxps returns x when x is NaN
        x = Avx512F.Max(Vector512.Create(Floor), x);
        var n = Avx512F.RoundScale(x * Vector512.Create(Log2E), 0); // round to nearest
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(Ln2High), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(Ln2Low), r);
        var p = Vector512.Create(C6);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(C1));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        return Avx512F.Scale(p, n);
    }

    /// <summary>
    /// <see cref="Exp"/> of four vectors in place, each step applied to the four before the next: the same operations on
    /// each (so the same bits), but in program order four independent chains sit side by side. One exponential is a chain
    /// of about 14 dependent operations; evaluated one after another, the out-of-order window holds too few of them to
    /// hide that latency, and the weights' loop was the largest part of the time at D = 2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exp4(ref Vector512<float> x0, ref Vector512<float> x1, ref Vector512<float> x2, ref Vector512<float> x3)
    {
        if (!Avx512F.IsSupported)
        {
            (x0, x1, x2, x3) = (Vector512.Exp(x0), Vector512.Exp(x1), Vector512.Exp(x2), Vector512.Exp(x3));
            return;
        }
        var floor = Vector512.Create(Floor);
        (x0, x1, x2, x3) = (Avx512F.Max(floor, x0), Avx512F.Max(floor, x1), Avx512F.Max(floor, x2), Avx512F.Max(floor, x3));
        var log2e = Vector512.Create(Log2E);
        var n0 = Avx512F.RoundScale(x0 * log2e, 0);
        var n1 = Avx512F.RoundScale(x1 * log2e, 0);
        var n2 = Avx512F.RoundScale(x2 * log2e, 0);
        var n3 = Avx512F.RoundScale(x3 * log2e, 0);
        var (high, low) = (Vector512.Create(Ln2High), Vector512.Create(Ln2Low));
        var (r0, r1, r2, r3) = (Vector512.FusedMultiplyAdd(n0, high, x0), Vector512.FusedMultiplyAdd(n1, high, x1),
            Vector512.FusedMultiplyAdd(n2, high, x2), Vector512.FusedMultiplyAdd(n3, high, x3));
        (r0, r1, r2, r3) = (Vector512.FusedMultiplyAdd(n0, low, r0), Vector512.FusedMultiplyAdd(n1, low, r1),
            Vector512.FusedMultiplyAdd(n2, low, r2), Vector512.FusedMultiplyAdd(n3, low, r3));
        Vector512<float> p0 = Vector512.Create(C6), p1 = p0, p2 = p0, p3 = p0;
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(C5));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(C4));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(C3));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(C2));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(C1));
        x0 = Avx512F.Scale(Vector512.FusedMultiplyAdd(p0, r0 * r0, r0) + Vector512<float>.One, n0);
        x1 = Avx512F.Scale(Vector512.FusedMultiplyAdd(p1, r1 * r1, r1) + Vector512<float>.One, n1);
        x2 = Avx512F.Scale(Vector512.FusedMultiplyAdd(p2, r2 * r2, r2) + Vector512<float>.One, n2);
        x3 = Avx512F.Scale(Vector512.FusedMultiplyAdd(p3, r3 * r3, r3) + Vector512<float>.One, n3);
    }

    // 2^x = 2^n 2^r, n = round(x), r = x − n exact (|r| ≤ 1/2), 2^r ≈ 1 + r Q(r) with Q of degree 5 (minimax for the
    // relative error on |r| ≤ 1/2, 0.03u before the coefficients are rounded to float)
    private const float Floor2 = -151f;
    private const float B6 = 0.00015353361959569156f, B5 = 0.0013398875016719103f, B4 = 0.00961843691766262f;
    private const float B3 = 0.055503323674201965f, B2 = 0.24022647738456726f, B1 = 0.6931471824645996f;

    /// <summary>
    /// 2^x for 16 floats: the exponential where the caller's arguments are already in units of ln 2 (the query-lanes
    /// kernel folds log₂ e into the logits' scale, one rounding as before). No reduction by ln 2 is needed: n = round(x)
    /// and r = x − n is exact, so it takes 10 operations against <see cref="Exp"/>'s 14, and its dependent chain is four
    /// operations shorter. Relative error below 2u over x ≤ 0 (tested against <see cref="Math.Pow(double, double)"/>);
    /// below −126 the result is subnormal (gradual underflow by <c>vscalefps</c>), and below −151 it is 0. x = −∞ gives 0,
    /// NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp2(Vector512<float> x)
    {
        if (!Avx512F.IsSupported)
        {
            // in double, where x ln 2 rounds far below float's roundoff (in float it would err by |x| u in the argument)
            var (low, high) = Vector512.Widen(x);
            var ln2 = Vector512.Create(Math.Log(2));
            return Vector512.Narrow(Vector512.Exp(low * ln2), Vector512.Exp(high * ln2));
        }
        x = Avx512F.Max(Vector512.Create(Floor2), x);
        var n = Avx512F.RoundScale(x, 0);
        var r = x - n;
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(B6), r, Vector512.Create(B5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(B4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(B3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(B2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(B1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        return Avx512F.Scale(p, n);
    }

    /// <summary><see cref="Exp2"/> of four vectors in place, each step applied to the four before the next (as <see cref="Exp4"/>): the same bits as four calls.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Exp2x4(ref Vector512<float> x0, ref Vector512<float> x1, ref Vector512<float> x2, ref Vector512<float> x3)
    {
        if (!Avx512F.IsSupported)
        {
            (x0, x1, x2, x3) = (Exp2(x0), Exp2(x1), Exp2(x2), Exp2(x3));
            return;
        }
        var floor = Vector512.Create(Floor2);
        (x0, x1, x2, x3) = (Avx512F.Max(floor, x0), Avx512F.Max(floor, x1), Avx512F.Max(floor, x2), Avx512F.Max(floor, x3));
        var (n0, n1, n2, n3) = (Avx512F.RoundScale(x0, 0), Avx512F.RoundScale(x1, 0), Avx512F.RoundScale(x2, 0), Avx512F.RoundScale(x3, 0));
        var (r0, r1, r2, r3) = (x0 - n0, x1 - n1, x2 - n2, x3 - n3);
        var b6 = Vector512.Create(B6);
        var c = Vector512.Create(B5);
        var (p0, p1, p2, p3) = (Vector512.FusedMultiplyAdd(b6, r0, c), Vector512.FusedMultiplyAdd(b6, r1, c),
            Vector512.FusedMultiplyAdd(b6, r2, c), Vector512.FusedMultiplyAdd(b6, r3, c));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(B4));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(B3));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(B2));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512.Create(B1));
        Horner4(ref p0, ref p1, ref p2, ref p3, r0, r1, r2, r3, Vector512<float>.One);
        (x0, x1, x2, x3) = (Avx512F.Scale(p0, n0), Avx512F.Scale(p1, n1), Avx512F.Scale(p2, n2), Avx512F.Scale(p3, n3));
    }

    /// <summary>p_i = p_i·r_i + c for the four: one Horner step of each polynomial.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Horner4(ref Vector512<float> p0, ref Vector512<float> p1, ref Vector512<float> p2, ref Vector512<float> p3,
        Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3, Vector512<float> c)
    {
        p0 = Vector512.FusedMultiplyAdd(p0, r0, c);
        p1 = Vector512.FusedMultiplyAdd(p1, r1, c);
        p2 = Vector512.FusedMultiplyAdd(p2, r2, c);
        p3 = Vector512.FusedMultiplyAdd(p3, r3, c);
    }
}
