using Kernels.Numerics.Smoothing;
using Xunit;

namespace Kernels.Tests.Smoothing;

/// <summary>
/// The draws of log-domain smoothing on their own, without a backend: the Philox generator against Random123's known
/// answers, the fixed-draw table against the generator, and the normals' first two moments.
/// </summary>
public class SmoothingDrawsTests
{
    /// <summary>
    /// Fixed draws serve their normals from a table built once; every value must be the generator's own (stream (unit, 0, 1)),
    /// bit for bit, for lengths that are and are not multiples of 4, and past the table's size limit (no table).
    /// </summary>
    [Theory]
    [InlineData(3, 7)]
    [InlineData(64, 784)]
    [InlineData(4, 1_500_000)]
    public void FixedDraws_ServeExactlyTheGeneratorsNormals(int count, int length)
    {
        var draws = new SmoothingDraws(count, seed: 0x1234_5678_9abcUL, fixedDraws: true);
        var served = new double[length];
        var generated = new double[length];
        foreach (int unit in new[] { 0, count - 1 })
        {
            foreach (int query in new[] { 0, 17 })
            {
                draws.Normals(query, unit, served);
                Philox.FillNormals(draws.Seed, (uint)unit, 0, 1, generated);
                Assert.Equal(generated, served);
            }
        }
    }

    [Fact]
    public void Philox_MatchesTheRandom123KnownAnswers()
    {
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), Philox.Generate(0, 0, 0, 0, 0, 0));
        Assert.Equal((0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu),
            Philox.Generate(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff));
        Assert.Equal((0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u),
            Philox.Generate(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0));
    }

    /// <summary>
    /// The normals are standard: over n = 200 000 values the sample mean is within 5/√n of 0 and the sample variance within
    /// 5·√(2/n) of 1 (5 standard errors each: false-failure rate below 10⁻⁶, and the seed is fixed).
    /// </summary>
    [Fact]
    public void Normals_HaveMeanZeroAndUnitVariance()
    {
        var draws = new SmoothingDraws(1000, seed: 12345);
        var xi = new double[200];
        double sum = 0, sum2 = 0;
        int n = 0;
        for (int q = 0; q < 1000; q++)
        {
            draws.Normals(q, q % 7, xi);
            foreach (double v in xi) { sum += v; sum2 += v * v; n++; }
        }
        double mean = sum / n, variance = sum2 / n - mean * mean;
        Assert.InRange(mean, -5 / Math.Sqrt(n), 5 / Math.Sqrt(n));
        Assert.InRange(variance, 1 - 5 * Math.Sqrt(2.0 / n), 1 + 5 * Math.Sqrt(2.0 / n));
    }
}
