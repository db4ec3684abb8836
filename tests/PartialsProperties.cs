using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>The streamed log-sum-exp state is a monoid: shards of a training set merge into the exact result.</summary>
public class PartialsProperties
{
    private static (ScorePartials A, ScorePartials B, ScorePartials C, float[] Queries, Problem P, double[] TrainD, double[] QueriesD) ThreeShards(Problem p0, int cut1, int cut2)
    {
        var p = p0 with { N = Math.Max(p0.N, 3) };
        var (train, queries, trainD, queriesD) = p.Build<float>();
        var set = new TrainingSet<float>(train, p.N, p.D);
        int a = 1 + cut1 % (p.N - 2), b = a + 1 + cut2 % (p.N - a - 1);
        ScorePartials Shard(int start, int end) =>
            new EmpiricalScore<float>(set.Slice(start, end - start), new CpuBackend(tileGroups: 1 + (start % 3))).Accumulate(queries, p.Level);
        return (Shard(0, a), Shard(a, b), Shard(b, p.N), queries, p, trainD, queriesD);
    }

    private static ScorePartials Copy(ScorePartials s)
    {
        using var stream = new MemoryStream();
        s.WriteTo(stream);
        stream.Position = 0;
        return ScorePartials.ReadFrom(stream);
    }

    /// <summary>(A ⊕ B) ⊕ C and A ⊕ (B ⊕ C) both finish within the float32 bound of the whole set's exact result.</summary>
    [Property(MaxTest = 100)]
    public Property Combine_IsAssociative_AndShardsMergeIntoTheWholeResult() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (p0, c1, c2) =>
        {
            var (a, b, c, queries, p, trainD, queriesD) = ThreeShards(p0, c1, c2);
            var left = Copy(a); left.Combine(b); left.Combine(c);
            var bc = Copy(b); bc.Combine(c);
            var right = Copy(a); right.Combine(bc);
            Assert.Equal(p.N, left.TrainingCount);
            Assert.Equal(p.N, right.TrainingCount);
            Expect.AgainstReference(Outputs.Finish(left, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, "(A+B)+C " + p);
            Expect.AgainstReference(Outputs.Finish(right, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, "A+(B+C) " + p);
            // commutativity: C ⊕ B ⊕ A as well
            var reversed = Copy(c); reversed.Combine(b); reversed.Combine(a);
            Expect.AgainstReference(Outputs.Finish(reversed, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, "C+B+A " + p);
        });

    /// <summary>The identity changes no bit, on either side, and a serialised state reads back bit for bit.</summary>
    [Property(MaxTest = 100)]
    public Property Identity_ChangesNothing_AndSerialisationRoundTrips() =>
        Prop.ForAll(Problem.Arbitrary, p0 =>
        {
            var (a, _, _, queries, p, _, _) = ThreeShards(p0, 0, 0);
            var leftId = ScorePartials.Identity(p.M, p.D, p.Level); leftId.Combine(a);
            var rightId = Copy(a); rightId.Combine(ScorePartials.Identity(p.M, p.D, p.Level));
            foreach (var s in new[] { leftId, rightId, Copy(a) })
            {
                Assert.Equal(a.Max, s.Max);
                Assert.Equal(a.Sum, s.Sum);
                Assert.Equal(a.SecondMoment, s.SecondMoment);
                Assert.Equal(a.Displacement, s.Displacement);
                Assert.Equal(a.TrainingCount, s.TrainingCount);
            }
        });

    [Fact]
    public void Combine_RejectsStatesOfOtherQueriesOrLevels()
    {
        var level = new NoiseLevel(1, 0.5);
        var s = ScorePartials.Identity(3, 2, level);
        var ex = Assert.Throws<ArgumentException>(() => s.Combine(ScorePartials.Identity(4, 2, level)));
        Assert.Equal("other", ex.ParamName);
        Assert.Contains("4×2", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => s.Combine(ScorePartials.Identity(3, 2, new NoiseLevel(1, 0.25))));
        Assert.Contains("noise level", ex.Message);
    }

    [Fact]
    public void Finish_WithoutAnyShard_Throws()
    {
        var s = ScorePartials.Identity(1, 2, new NoiseLevel(1, 0.5));
        var ex = Assert.Throws<InvalidOperationException>(() => s.Finish<float>(new float[2], new ScoreOutputs<float> { Score = new float[2] }));
        Assert.Contains("accumulate at least one shard", ex.Message);
    }

    [Fact]
    public void ReadFrom_TruncatedOrForeignStream_ThrowsInvalidData()
    {
        var s = ScorePartials.Identity(5, 3, new NoiseLevel(1, 0.5));
        using var stream = new MemoryStream();
        s.WriteTo(stream);
        var bytes = stream.ToArray();
        Assert.Throws<InvalidDataException>(() => ScorePartials.ReadFrom(new MemoryStream(bytes[..(bytes.Length - 5)])));
        bytes[0] ^= 0xFF;
        Assert.Throws<InvalidDataException>(() => ScorePartials.ReadFrom(new MemoryStream(bytes)));
    }
}
