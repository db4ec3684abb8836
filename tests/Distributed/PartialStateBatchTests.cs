using Kernels.Numerics;
using Xunit;

namespace Kernels.Tests.Distributed;

/// <summary>The wire layout of a batch of partial states: its size, and each refusal with a message naming both sides.</summary>
public sealed class PartialStateBatchTests
{
    private static readonly NoiseLevel Level = new(1, 0.5);

    private static PartialStateBatch Batch(int m, int d, int bits = 32, StateOutput output = StateOutput.Score, NoiseLevel? level = null)
    {
        var set = new TrainingSet<double>(Enumerable.Range(0, 3 * d).Select(i => Math.Sin(i)).ToArray(), 3, d);
        var queries = Enumerable.Range(0, m * d).Select(i => Math.Cos(i)).ToArray();
        return PartialStateBatch.FromPartials(new EmpiricalScore<double>(set).Accumulate(queries, level ?? Level), bits, output);
    }

    private static byte[] Bytes(PartialStateBatch batch)
    {
        using var stream = new MemoryStream();
        batch.WriteTo(stream);
        return stream.ToArray();
    }

    private static PartialStateBatch Read(byte[] bytes) => PartialStateBatch.ReadFrom(new MemoryStream(bytes), "P.kst");

    [Fact]
    public void Layout_IsTheHeaderThenOneCAbiRecordPerQuery()
    {
        var bytes = Bytes(Batch(5, 3, 64));
        Assert.Equal(32 + 5 * (8 + 2 * 3) * 8, bytes.Length);
        Assert.Equal("KNST"u8.ToArray(), bytes[..4]);
        Assert.Equal(1u, BitConverter.ToUInt32(bytes, 4));
        Assert.Equal(3L, BitConverter.ToInt64(bytes, 8));
        Assert.Equal(5L, BitConverter.ToInt64(bytes, 16));
        Assert.Equal(64u, BitConverter.ToUInt32(bytes, 24));
        Assert.Equal("KNPS"u8.ToArray(), bytes[32..36]);
        Assert.Equal(3L, BitConverter.ToInt64(bytes, 40)); // the first record's training-point count
        var back = Read(bytes);
        Assert.Equal(bytes, Bytes(back));
    }

    [Fact]
    public void ReadFrom_RefusesAnotherLayoutVersion()
    {
        var bytes = Bytes(Batch(2, 3));
        bytes[4] = 2;
        var e = Assert.Throws<InvalidDataException>(() => Read(bytes));
        Assert.Contains("P.kst has partial-state layout version 2 but this library reads version 1", e.Message);
    }

    [Fact]
    public void ReadFrom_RefusesAForeignOrTruncatedFile()
    {
        var bytes = Bytes(Batch(2, 3));
        Assert.Contains("is truncated", Assert.Throws<InvalidDataException>(() => Read(bytes[..^1])).Message);
        Assert.Contains("too short", Assert.Throws<InvalidDataException>(() => Read(bytes[..10])).Message);
        bytes[0] = (byte)'X';
        Assert.Contains("not a partial-state batch", Assert.Throws<InvalidDataException>(() => Read(bytes)).Message);
    }

    [Fact]
    public void ReadFrom_RefusesARecordOfAnotherVersion()
    {
        var bytes = Bytes(Batch(2, 3));
        bytes[32 + (8 + 6) * 8 + 4] = 7; // the second record's version
        Assert.Contains("P.kst[1] has record version 7", Assert.Throws<InvalidDataException>(() => Read(bytes)).Message);
    }

    [Fact]
    public void Merge_RefusesAnotherD()
    {
        var e = Assert.Throws<ArgumentException>(() => Batch(2, 3).Merge(Batch(2, 4), "B.kst", "A.kst"));
        Assert.Contains("B.kst has D = 4 but A.kst has D = 3", e.Message);
    }

    [Fact]
    public void Merge_RefusesAnotherM()
    {
        var e = Assert.Throws<ArgumentException>(() => Batch(2, 3).Merge(Batch(5, 3), "B.kst", "A.kst"));
        Assert.Contains("B.kst has M = 5 queries but A.kst has M = 2", e.Message);
    }

    [Fact]
    public void Merge_RefusesAnotherPrecision()
    {
        var e = Assert.Throws<ArgumentException>(() => Batch(2, 3, 32).Merge(Batch(2, 3, 64), "B.kst", "A.kst"));
        Assert.Contains("B.kst was evaluated in 64-bit precision but A.kst in 32-bit", e.Message);
    }

    [Fact]
    public void Merge_RefusesAnotherOutputOrLevel()
    {
        Assert.Contains("made for LogDensity",
            Assert.Throws<ArgumentException>(() => Batch(2, 3).Merge(Batch(2, 3, output: StateOutput.LogDensity), "B.kst", "A.kst")).Message);
        Assert.Contains("B.kst[0] is at alpha = 1, sigma = 0.25 but A.kst[0] at alpha = 1, sigma = 0.5",
            Assert.Throws<ArgumentException>(() => Batch(2, 3).Merge(Batch(2, 3, level: new NoiseLevel(1, 0.25)), "B.kst", "A.kst")).Message);
    }

    [Fact]
    public void FromPartials_RefusesAPrecisionOtherThan32Or64()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Batch(1, 1, 16));
        Assert.Contains("pass 32 for float, 64 for double", e.Message);
    }
}
