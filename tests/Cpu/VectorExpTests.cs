using System.Runtime.Intrinsics;
using Kernels.Numerics.Cpu;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>The float exponentials of the fused kernels (e^x, and 2^x for the query-lanes kernel) against <see cref="Math.Exp"/> and <see cref="Math.Pow(double, double)"/> (double, correctly rounded to within 1e−16).</summary>
public sealed class VectorExpTests
{
    /// <summary>
    /// Every float from −104 to 0 at a stride of 37 ulps (about 6 million arguments, every binade), plus the ends: the
    /// relative error stays below 2u (u = 2⁻²⁴), a quarter of the 8u the kernels' error bound allots the exponential with
    /// its argument's subtraction. Below about −87.3 the result is subnormal and only its absolute error (≤ 2⁻¹⁴⁹, half
    /// the smallest subnormal, plus 2u relative) is meaningful; the bound's dropped-mass term covers weights that small.
    /// </summary>
    [Fact]
    public void Exp_IsWithinTwoUnitsOfRoundoff_OnTheWeightsRange() =>
        AssertWithinTwoUnits(VectorExp.Exp, Math.Exp, -104f, [0f, -0f, -1e-30f, float.Epsilon * -1, -104f, -103.97f, -88f, -87.33f]);

    /// <summary>
    /// The base-2 exponential the query-lanes kernel's weights use (its logits carry log₂ e in their scale): every float
    /// from −151 to 0 at the same stride plus the ends and the reduction's edges (r = ±1/2), against 2^x in double: the same
    /// 2u. Below −126 the result is subnormal, with the same absolute allowance as above.
    /// </summary>
    [Fact]
    public void Exp2_IsWithinTwoUnitsOfRoundoff_OnTheWeightsRange() =>
        AssertWithinTwoUnits(VectorExp.Exp2, x => Math.Pow(2, x), -151f,
            [0f, -0f, -1e-30f, float.Epsilon * -1, -151f, -150.5f, -149.5f, -126f, -125.5f, -0.5f, -1.5f]);

    /// <summary>
    /// The interleaved form (four vectors at once, as the query-lanes kernel's weights use it) gives exactly the bits of
    /// four separate calls, on the same grid as above plus the special values, so the accuracy shown above is its accuracy.
    /// </summary>
    [Fact]
    public void Exp4_GivesTheBitsOfExp() =>
        AssertInterleavedGivesTheSameBits(VectorExp.Exp, VectorExp.Exp4, -104f, [0f, -0f, float.NegativeInfinity, float.NaN, -200f, 1f, 88f, float.Epsilon * -1]);

    /// <summary>The interleaved base-2 form gives exactly the bits of four calls, on its grid and the special values.</summary>
    [Fact]
    public void Exp2x4_GivesTheBitsOfExp2() =>
        AssertInterleavedGivesTheSameBits(VectorExp.Exp2, VectorExp.Exp2x4, -151f, [0f, -0f, float.NegativeInfinity, float.NaN, -300f, 1f, 127f, float.Epsilon * -1]);

    private delegate void InPlace4(ref Vector512<float> x0, ref Vector512<float> x1, ref Vector512<float> x2, ref Vector512<float> x3);

    /// <summary>Every float from <paramref name="lowest"/> to 0 at a stride of <paramref name="stride"/> ulps, after <paramref name="extra"/>.</summary>
    private static List<float> Grid(float lowest, uint stride, float[] extra)
    {
        var args = new List<float>(extra);
        for (uint bits = BitConverter.SingleToUInt32Bits(-0f); ; bits += stride)
        {
            float v = BitConverter.UInt32BitsToSingle(bits);
            if (v < lowest || float.IsNaN(v)) break;
            args.Add(v);
        }
        return args;
    }

    private static void AssertWithinTwoUnits(Func<Vector512<float>, Vector512<float>> f, Func<double, double> exactOf, float lowest, float[] extra)
    {
        const double u = ErrorBound.UnitRoundoffSingle;
        var args = Grid(lowest, 37, extra);
        double worst = 0;
        float worstAt = 0;
        var buffer = new float[16];
        for (int i = 0; i < args.Count; i += 16)
        {
            for (int j = 0; j < 16; j++) buffer[j] = args[Math.Min(i + j, args.Count - 1)];
            var e = f(Vector512.Create(buffer));
            for (int j = 0; j < 16; j++)
            {
                double exact = exactOf(buffer[j]);
                double error = Math.Abs(e[j] - exact);
                double relative = exact >= Math.ScaleB(1, -126) ? error / exact : (error - Math.ScaleB(1, -150)) / exact;
                Assert.True(double.IsFinite(relative), $"f({buffer[j]:R}) = {e[j]:R}");
                if (relative > worst) { worst = relative; worstAt = buffer[j]; }
            }
        }
        Assert.True(worst < 2 * u, $"worst relative error {worst / u:F3}u at x = {worstAt:R}");
    }

    private static void AssertInterleavedGivesTheSameBits(Func<Vector512<float>, Vector512<float>> single, InPlace4 four, float lowest, float[] extra)
    {
        var args = Grid(lowest, 41, extra);
        var buffer = new float[64];
        for (int i = 0; i < args.Count; i += 64)
        {
            for (int j = 0; j < 64; j++) buffer[j] = args[Math.Min(i + j, args.Count - 1)];
            var v0 = Vector512.Create(buffer.AsSpan(0, 16));
            var v1 = Vector512.Create(buffer.AsSpan(16, 16));
            var v2 = Vector512.Create(buffer.AsSpan(32, 16));
            var v3 = Vector512.Create(buffer.AsSpan(48, 16));
            var (e0, e1, e2, e3) = (single(v0), single(v1), single(v2), single(v3));
            four(ref v0, ref v1, ref v2, ref v3);
            Assert.Equal(e0.AsUInt32(), v0.AsUInt32());
            Assert.Equal(e1.AsUInt32(), v1.AsUInt32());
            Assert.Equal(e2.AsUInt32(), v2.AsUInt32());
            Assert.Equal(e3.AsUInt32(), v3.AsUInt32());
        }
    }

    [Fact]
    public void Exp_HandlesInfinitiesAndNaN()
    {
        var e = VectorExp.Exp(Vector512.Create(float.NegativeInfinity, float.NaN, -200f, 0f, 1f, 10f, 88f, -1f, 0, 0, 0, 0, 0, 0, 0, 0));
        Assert.Equal(0f, e[0]);
        Assert.True(float.IsNaN(e[1]));
        Assert.Equal(0f, e[2]);
        Assert.Equal(1f, e[3]);
        Assert.Equal(Math.E, e[4], Math.E * 2.5 * ErrorBound.UnitRoundoffSingle);
        Assert.Equal(Math.Exp(10), e[5], Math.Exp(10) * 2.5 * ErrorBound.UnitRoundoffSingle);
        Assert.Equal(Math.Exp(88), e[6], Math.Exp(88) * 2.5 * ErrorBound.UnitRoundoffSingle);
        Assert.Equal(Math.Exp(-1), e[7], Math.Exp(-1) * 2 * ErrorBound.UnitRoundoffSingle);
    }

    [Fact]
    public void Exp2_HandlesInfinitiesAndNaN()
    {
        var e = VectorExp.Exp2(Vector512.Create(float.NegativeInfinity, float.NaN, -300f, 0f, 1f, 10f, 127f, -1f, -149f, 0.5f, 0, 0, 0, 0, 0, 0));
        Assert.Equal(0f, e[0]);
        Assert.True(float.IsNaN(e[1]));
        Assert.Equal(0f, e[2]);
        Assert.Equal(1f, e[3]);
        Assert.Equal(2f, e[4]);
        Assert.Equal(1024f, e[5]);
        Assert.Equal(Math.Pow(2, 127), e[6], Math.Pow(2, 127) * 2 * ErrorBound.UnitRoundoffSingle);
        Assert.Equal(0.5f, e[7]);
        Assert.Equal(Math.Pow(2, -149), e[8]);
        Assert.Equal(Math.Sqrt(2), e[9], Math.Sqrt(2) * 2 * ErrorBound.UnitRoundoffSingle);
    }
}
