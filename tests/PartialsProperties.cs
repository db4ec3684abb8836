using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The streamed log-sum-exp state is a monoid: shards of a training set merge into the exact result. One suite, every
/// backend: each derived class binds <see cref="Backend"/>, which evaluates the shards.
/// </summary>
public abstract class PartialsProperties
{
    /// <summary>The backend that evaluates each shard.</summary>
    protected abstract IScoreBackend Backend { get; }

    private (ScorePartials A, ScorePartials B, ScorePartials C, float[] Queries, Problem P, double[] TrainD, double[] QueriesD) ThreeShards(Problem p0, int cut1, int cut2)
    {
        var p = p0 with { N = Math.Max(p0.N, 3) };
        var (train, queries, trainD, queriesD) = p.Build<float>();
        var set = new TrainingSet<float>(train, p.N, p.D);
        int a = 1 + cut1 % (p.N - 2), b = a + 1 + cut2 % (p.N - a - 1);
        ScorePartials Shard(int start, int end) => new EmpiricalScore<float>(set.Slice(start, end - start), Backend).Accumulate(queries, p.Level);
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
    [BackendProperty(MaxTest = 100)]
    public Property Combine_IsAssociative_AndShardsMergeIntoTheWholeResult() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (p0, c1, c2) =>
        {
            var (a, b, c, queries, p, trainD, queriesD) = ThreeShards(p0, c1, c2);
            var left = Copy(a); left.Combine(b); left.Combine(c);
            var bc = Copy(b); bc.Combine(c);
            var right = Copy(a); right.Combine(bc);
            Assert.Equal(p.N, left.TrainingCount);
            Assert.Equal(p.N, right.TrainingCount);
            Expect.AgainstReference(Outputs.Finish(left, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"(A+B)+C {Backend.Name} {p}");
            Expect.AgainstReference(Outputs.Finish(right, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"A+(B+C) {Backend.Name} {p}");
            // commutativity: C ⊕ B ⊕ A as well
            var reversed = Copy(c); reversed.Combine(b); reversed.Combine(a);
            Expect.AgainstReference(Outputs.Finish(reversed, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"C+B+A {Backend.Name} {p}");
        });

    private static PartialStateBatch OverTheWire(ScorePartials s)
    {
        using var stream = new MemoryStream();
        PartialStateBatch.FromPartials(s, 32, StateOutput.Score).WriteTo(stream);
        Assert.Equal(PartialStateBatch.HeaderBytes + s.QueryCount * PartialStateBatch.RecordBytes(s.Dimension), stream.Length);
        stream.Position = 0;
        return PartialStateBatch.ReadFrom(stream, "wire");
    }

    /// <summary>
    /// The shards' states through the wire layout (.kst), merged as batches in two orders, finish within the float32
    /// bound of the whole set's exact result: the bound covers any order of the sums (it is the worst case over
    /// orderings), so it holds for every merge order and split.
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property Batches_OverTheWire_MergeInAnyOrderIntoTheWholeResult() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (p0, c1, c2) =>
        {
            var (a, b, c, _, p, trainD, queriesD) = ThreeShards(p0, c1, c2);
            var forward = OverTheWire(a); forward.Merge(OverTheWire(b)); forward.Merge(OverTheWire(c));
            var mixed = OverTheWire(c); mixed.Merge(OverTheWire(a)); mixed.Merge(OverTheWire(b));
            Expect.AgainstReference(Outputs.Finish<float>(forward), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"A+B+C wire {Backend.Name} {p}");
            Expect.AgainstReference(Outputs.Finish<float>(mixed), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"C+A+B wire {Backend.Name} {p}");
        });

    /// <summary>
    /// States accumulated for one output only (<see cref="ScorePartials.Output"/>: the others' sums are not formed), from
    /// three shards merged in two orders, finish that output within the float32 bound of the whole set's exact value, as
    /// the states of every sum do (the same bound, which covers any order of the sums).
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property StatesForOneOutput_MergeIntoThatOutput() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), Gen.Elements(StateOutput.LogDensity, StateOutput.Score, StateOutput.Denoiser,
            StateOutput.Divergence).ToArbitrary(), (p0, cut, output) =>
        {
            var p = p0 with { N = Math.Max(p0.N, 3) };
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            int a = 1 + cut % (p.N - 2), b = a + 1 + cut % (p.N - a - 1);
            ScorePartials Shard(int start, int end) => new EmpiricalScore<float>(set.Slice(start, end - start), Backend).Accumulate(queries, p.Level, output);
            var forward = Shard(0, a); forward.Combine(Shard(a, b)); forward.Combine(Shard(b, p.N));
            var backward = Shard(b, p.N); backward.Combine(Shard(a, b)); backward.Combine(Shard(0, a));
            Assert.Equal(output, forward.Output);
            foreach (var (merged, order) in new[] { (forward, "A+B+C"), (backward, "C+B+A") })
            {
                int width = output is StateOutput.Score or StateOutput.Denoiser ? p.D : 1;
                var values = new float[p.M * width];
                merged.Finish<float>(queries, output switch
                {
                    StateOutput.LogDensity => new ScoreOutputs<float> { LogDensity = values },
                    StateOutput.Score => new ScoreOutputs<float> { Score = values },
                    StateOutput.Denoiser => new ScoreOutputs<float> { Denoiser = values },
                    _ => new ScoreOutputs<float> { Divergence = values },
                });
                string context = $"{order}, states for {output} only, {Backend.Name} {p}";
                for (int q = 0; q < p.M; q++)
                {
                    var x = queriesD.AsSpan(q * p.D, p.D);
                    var bound = ErrorBound.For(trainD, p.D, x, p.Level, ErrorBound.UnitRoundoffSingle);
                    var actual = Problem.Widen(values).AsSpan(q * width, width);
                    switch (output)
                    {
                        case StateOutput.LogDensity: Expect.Within(actual[0], ScoreReference.LogDensity(trainD, p.D, x, p.Level), bound.LogDensity, "log-density", q, context); break;
                        case StateOutput.Score: Expect.Within(actual, ScoreReference.Score(trainD, p.D, x, p.Level), bound.Score, "score", q, context); break;
                        case StateOutput.Denoiser: Expect.Within(actual, ScoreReference.Denoiser(trainD, p.D, x, p.Level), bound.Denoiser, "denoiser", q, context); break;
                        default: Expect.Within(actual[0], ScoreReference.Divergence(trainD, p.D, x, p.Level), bound.Divergence, "divergence", q, context); break;
                    }
                }
            }
        });

    /// <summary>The identity changes no bit, on either side, and a serialised state reads back bit for bit.</summary>
    [BackendProperty(MaxTest = 100)]
    public Property Identity_ChangesNothing_AndSerialisationRoundTrips() =>
        Prop.ForAll(Problem.Arbitrary, p0 =>
        {
            var (a, _, _, _, p, _, _) = ThreeShards(p0, 0, 0);
            var leftId = ScorePartials.Identity(p.M, p.D, p.Level); leftId.Combine(a);
            var rightId = Copy(a); rightId.Combine(ScorePartials.Identity(p.M, p.D, p.Level));
            var wire = OverTheWire(a);
            for (int q = 0; q < p.M; q++)
            {
                PartialRow x = a.Row(q), y = wire.Row(q);
                Assert.Equal((x.Max, x.Sum, x.Mass, x.Spread), (y.Max, y.Sum, y.Mass, y.Spread));
                Assert.Equal(x.Displacement.ToArray(), y.Displacement.ToArray());
                Assert.Equal(x.Points.ToArray(), y.Points.ToArray());
            }
            foreach (var s in new[] { leftId, rightId, Copy(a) })
            {
                Assert.Equal(a.TrainingCount, s.TrainingCount);
                for (int q = 0; q < p.M; q++)
                {
                    PartialRow x = a.Row(q), y = s.Row(q);
                    Assert.Equal((x.Max, x.Sum, x.Mass, x.Spread), (y.Max, y.Sum, y.Mass, y.Spread));
                    Assert.Equal(x.Displacement.ToArray(), y.Displacement.ToArray());
                    Assert.Equal(x.Points.ToArray(), y.Points.ToArray());
                }
            }
        });
}

/// <summary>The partials suite with shards evaluated on the CPU backend, and the state's own laws against its float64 reference.</summary>
public sealed class CpuPartialsProperties : PartialsProperties
{
    protected override IScoreBackend Backend => new CpuBackend(tileGroups: 1);

    /// <summary>
    /// The merge law on the float64 reference states (every point kept, two passes from the definitions): the states of
    /// three shards combined in two orders finish within the float64 bound of the whole set's exact outputs. The combine
    /// is the only code under test here, so this pins its parallel-variance rule and its rescaling.
    /// </summary>
    [Property(MaxTest = 150)]
    public Property ReferenceStates_CombineIntoTheWholeResult() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (p0, c1, c2) =>
        {
            var p = p0 with { N = Math.Max(p0.N, 3) };
            var (_, queries, trainD, queriesD) = p.Build<double>();
            int a = 1 + c1 % (p.N - 2), b = a + 1 + c2 % (p.N - a - 1);
            ScorePartials Shard(int start, int end)
            {
                var state = ScorePartials.Identity(p.M, p.D, p.Level);
                for (int q = 0; q < p.M; q++)
                    PartialStateReference.Evaluate(trainD.AsSpan(start * p.D, (end - start) * p.D), p.D, queriesD.AsSpan(q * p.D, p.D), p.Level, state.Row(q));
                state.AddTrainingCount(end - start);
                return state;
            }
            var left = Shard(0, a); left.Combine(Shard(a, b)); left.Combine(Shard(b, p.N));
            var right = Shard(b, p.N); right.Combine(Shard(a, b)); right.Combine(Shard(0, a));
            Expect.AgainstReference(Outputs.Finish(left, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffDouble, $"reference (A+B)+C {p}");
            Expect.AgainstReference(Outputs.Finish(right, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffDouble, $"reference (C+B)+A {p}");
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
        Assert.Equal(8 + 16 + 16 + 8 * 5 * (4 + 2 * 3), bytes.Length);
        Assert.Throws<InvalidDataException>(() => ScorePartials.ReadFrom(new MemoryStream(bytes[..(bytes.Length - 5)])));
        bytes[0] ^= 0xFF;
        Assert.Throws<InvalidDataException>(() => ScorePartials.ReadFrom(new MemoryStream(bytes)));
    }

    /// <summary>A state written by the first layout (a second moment about the query, no point sums) is refused by name.</summary>
    [Fact]
    public void ReadFrom_FormatVersionOne_IsRefusedWithTheRemedy()
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(0x50534E4Bu); w.Write(1); // magic, version 1
            w.Write(1); w.Write(2); w.Write(3L); w.Write(1.0); w.Write(0.5);
            for (int i = 0; i < 3 + 2; i++) w.Write(0.0);
        }
        stream.Position = 0;
        var ex = Assert.Throws<InvalidDataException>(() => ScorePartials.ReadFrom(stream));
        Assert.Contains("version 1", ex.Message);
        Assert.Contains($"version {ScorePartials.FormatVersion}", ex.Message);
        Assert.Contains("evaluate the shards again", ex.Message);
    }
}
