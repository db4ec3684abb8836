using System.Runtime.CompilerServices;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// Philox-4x32-10 (Salmon et al., SC'11, the Random123 generator): a counter-based generator, a pure function of a
/// 128-bit counter and a 64-bit key. Any draw can be computed on its own, in any order, on any thread or device, which
/// is what makes smoothed scores independent of threading and reproducible by the OpenCL backend.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57; // round multipliers
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85; // Weyl key increments

    /// <summary>The 4 × 32 random bits for counter (c0, c1, c2, c3) under key (k0, k1).</summary>
    public static (uint X0, uint X1, uint X2, uint X3) Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>A uniform in (0, 1), never 0 or 1: (x + ½)·2⁻³² is exact in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double OpenUniform(uint x) => (x + 0.5) * (1.0 / 4294967296.0);

    /// <summary>
    /// Two independent standard normals from two 32-bit words by Box–Muller:
    /// r = √(−2 ln u₁), (r cos 2πu₂, r sin 2πu₂), with u₁ = (a + ½)·2⁻³² and u₂ = b·2⁻³² (sin/cos of π times an exact argument).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (double First, double Second) BoxMuller(uint a, uint b)
    {
        double r = Math.Sqrt(-2 * Math.Log(OpenUniform(a)));
        var (sin, cos) = double.SinCosPi(b * (2.0 / 4294967296.0));
        return (r * cos, r * sin);
    }

    /// <summary>
    /// Fills <paramref name="normals"/> with standard normals of the stream (c1, c2, c3) under <paramref name="seed"/>:
    /// normal j comes from the block with counter (j / 4, c1, c2, c3) and key (seed mod 2³², seed / 2³²), words (x0, x1)
    /// giving normals 4⌊j/4⌋ and +1, (x2, x3) giving +2 and +3 by <see cref="BoxMuller"/>.
    /// </summary>
    public static void FillNormals(ulong seed, uint c1, uint c2, uint c3, Span<double> normals)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int j = 0; j < normals.Length; j += 4)
        {
            var (x0, x1, x2, x3) = Generate((uint)(j >> 2), c1, c2, c3, k0, k1);
            var (a, b) = BoxMuller(x0, x1);
            normals[j] = a;
            if (j + 1 < normals.Length) normals[j + 1] = b;
            if (j + 2 < normals.Length)
            {
                var (c, d) = BoxMuller(x2, x3);
                normals[j + 2] = c;
                if (j + 3 < normals.Length) normals[j + 3] = d;
            }
        }
    }
}
