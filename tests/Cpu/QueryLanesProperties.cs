using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The CPU backend's query-lanes kernel (D ≤ 16: W queries per vector, training points broadcast) against the float64
/// reference, held to the same <see cref="ErrorBound"/> as the points-in-lanes kernel. Its arithmetic per pair is the
/// same: direct differences with α split, their squared norm by an FMA chain over the D coordinates, weights e^{u − max}
/// with the running maximum, sums in T over at most 64 points per lane (even and odd points of a tile of up to 128 apart, then added: inside the bound's γ_128) before they move to
/// double, and the points more than the negligible margin below the maximum dropped from the displacement only; its
/// exponential is within 2u (<see cref="VectorExpTests"/>), inside the 8u the bound allots it.
/// </summary>
public sealed class QueryLanesProperties
{
    /// <summary>
    /// Tiny and odd shapes: N from 1 to 40 (and sometimes to 300, many tiles), M from 1 to 70 (partial blocks of 16 or 8
    /// queries), D from 1 to 16, the scales, offsets and σ of <see cref="Problem.Arbitrary"/>, and tiles of 1 to 128 points
    /// (so the running maximum grows across tiles and the state is rescaled per lane), or the default.
    /// </summary>
    private static readonly Arbitrary<(Problem Problem, int TilePoints)> SmallProblems = (
        from n in Gen.Frequency((1, Gen.Constant(1)), (6, Gen.Choose(2, 40)), (2, Gen.Choose(41, 300)))
        from m in Gen.Choose(1, 70)
        from d in Gen.Choose(1, 16)
        from alpha in Gen.Frequency((1, Gen.Constant(1.0)), (3, Gen.Choose(1, 1000).Select(i => i / 1000.0)))
        from sigma in Gen.Choose(0, 1_000_000).Select(i => 1e-3 * Math.Pow(1e5, i / 1e6))
        from scale in Gen.Choose(0, 1_000_000).Select(i => 1e-2 * Math.Pow(1e4, i / 1e6))
        from offset in Gen.Frequency((2, Gen.Constant(0.0)), (1, Gen.Choose(0, 1_000_000).Select(i => 10 * Math.Pow(100, i / 1e6))))
        from seed in Gen.Choose(0, int.MaxValue)
        from tile in Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Choose(1, 128)))
        select (new Problem(n, m, d, alpha, sigma, scale, offset, seed), tile)).ToArbitrary();

    private static void MatchesReference<T>(Problem p, int tilePoints) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        var backend = new CpuBackend(maxDegreeOfParallelism: 2) { LaneTilePoints = tilePoints };
        var actual = Outputs.Evaluate(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D), backend), queries, p.Level);
        Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoff<T>(), $"{typeof(T).Name} lanes, tile {tilePoints}: {p}");
    }

    [Property(MaxTest = 200)]
    public Property Float32_MatchesReference() =>
        Prop.ForAll(SmallProblems, c => MatchesReference<float>(c.Problem, c.TilePoints));

    [Property(MaxTest = 100)]
    public Property Float64_MatchesReference() =>
        Prop.ForAll(SmallProblems, c => MatchesReference<double>(c.Problem, c.TilePoints));

    /// <summary>
    /// α = 1 (the VE and EDM schedules): α is exact in T, so a difference x − y is one FMA and step 3 forms it again from
    /// the points instead of reading it back from step 1. Every case has a common offset of 10 to 1000 scales (‖x‖ ≫ ‖x − y‖:
    /// a formula that cancelled, such as x·Σe − Σ e y, would fail the bound by the offset's factor), N and M that are not
    /// multiples of the 16 (or 8) lanes, odd N as often as even (the phantom partner of the last point), D from 1 to 16
    /// and tiles of 1 to 128 points or the default.
    /// </summary>
    private static readonly Arbitrary<(Problem Problem, int TilePoints)> AlphaOneOffsetProblems = (
        from n in Gen.Choose(1, 300).Where(n => n % 8 != 0)
        from m in Gen.Choose(1, 70).Where(m => m % 8 != 0)
        from d in Gen.Choose(1, 16)
        from sigma in Gen.Choose(0, 1_000_000).Select(i => 1e-3 * Math.Pow(1e5, i / 1e6))
        from scale in Gen.Choose(0, 1_000_000).Select(i => 1e-2 * Math.Pow(1e4, i / 1e6))
        from offset in Gen.Choose(0, 1_000_000).Select(i => 10 * Math.Pow(100, i / 1e6))
        from seed in Gen.Choose(0, int.MaxValue)
        from tile in Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Choose(1, 128)))
        select (new Problem(n, m, d, 1.0, sigma, scale, offset, seed), tile)).ToArbitrary();

    [Property(MaxTest = 150)]
    public Property Float32_AlphaOne_WithLargeOffsets_MatchesReference() =>
        Prop.ForAll(AlphaOneOffsetProblems, c => MatchesReference<float>(c.Problem, c.TilePoints));

    [Property(MaxTest = 60)]
    public Property Float64_AlphaOne_WithLargeOffsets_MatchesReference() =>
        Prop.ForAll(AlphaOneOffsetProblems, c => MatchesReference<double>(c.Problem, c.TilePoints));

    /// <summary>
    /// α split in float (α not exact in T), in [2⁻⁸, 2) twice as often as below, where the kernel divides the queries by α
    /// once per block and forms (x_hi − y) + x_lo; below 2⁻⁸ it forms x − α_hi y − α_lo y by two FMAs: every case has a common
    /// offset of 10 to 1000 scales, so a difference formed from a rounded α y or x/α (an error of u‖x‖ rather than u‖x − α y‖)
    /// would fail the bound by the offset's factor; N, M, D and tiles as for α = 1.
    /// </summary>
    private static readonly Arbitrary<(Problem Problem, int TilePoints)> SplitAlphaOffsetProblems = (
        from n in Gen.Choose(1, 300).Where(n => n % 8 != 0)
        from m in Gen.Choose(1, 70).Where(m => m % 8 != 0)
        from d in Gen.Choose(1, 16)
        from alpha in Gen.Frequency((2, Gen.Choose(0, 1_000_000).Select(i => Math.Pow(2, -8 + 9 * (i / 1e6)))),
            (1, Gen.Choose(0, 1_000_000).Select(i => Math.Pow(2, -20 + 12 * (i / 1e6)))))
        where alpha < 2
        where (double)(float)alpha != alpha
        from sigma in Gen.Choose(0, 1_000_000).Select(i => 1e-3 * Math.Pow(1e5, i / 1e6))
        from scale in Gen.Choose(0, 1_000_000).Select(i => 1e-2 * Math.Pow(1e4, i / 1e6))
        from offset in Gen.Choose(0, 1_000_000).Select(i => 10 * Math.Pow(100, i / 1e6))
        from seed in Gen.Choose(0, int.MaxValue)
        from tile in Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Choose(1, 128)))
        select (new Problem(n, m, d, alpha, sigma, scale, offset, seed), tile)).ToArbitrary();

    [Property(MaxTest = 150)]
    public Property Float32_SplitAlpha_WithLargeOffsets_MatchesReference() =>
        Prop.ForAll(SplitAlphaOffsetProblems, c => MatchesReference<float>(c.Problem, c.TilePoints));

    /// <summary>The points-in-lanes kernel on the same problems stays within the same bound (the two differ only in rounding).</summary>
    [Property(MaxTest = 60)]
    public Property PointLanes_OnTheSameProblems_MatchesReference() =>
        Prop.ForAll(SmallProblems, c =>
        {
            var p = c.Problem;
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var backend = new CpuBackend(tileGroups: 1 + c.TilePoints % 3) { AllowQueryLanes = false };
            var actual = Outputs.Evaluate(new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, p.D), backend), queries, p.Level);
            Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"points in lanes: {p}");
        });

    /// <summary>
    /// A lane's arithmetic never reads its neighbours (padding lanes repeat a real query, negligible weights are zeroed per
    /// lane), so each query alone gets exactly the bits it gets in a batch, and the thread count changes none.
    /// </summary>
    [Property(MaxTest = 40)]
    public Property EachQuery_GetsTheSameBits_AloneOrInABatch_OnAnyThreadCount() =>
        Prop.ForAll(SmallProblems, c =>
        {
            var p = c.Problem;
            var (train, queries, _, _) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var model = new EmpiricalScore<float>(set, new CpuBackend(1) { LaneTilePoints = c.TilePoints });
            var batch = Outputs.Evaluate(model, queries, p.Level);
            var threads = Outputs.Evaluate(new EmpiricalScore<float>(set, new CpuBackend(3) { LaneTilePoints = c.TilePoints }), queries, p.Level);
            Assert.Equal(batch, threads, OutputsComparer.Bits);
            for (int q = 0; q < p.M; q += 1 + p.M / 8)
            {
                var alone = Outputs.Evaluate(model, queries.AsSpan(q * p.D, p.D).ToArray(), p.Level);
                Assert.Equal(batch.LogDensity[q], alone.LogDensity[0]);
                Assert.Equal(batch.Divergence[q], alone.Divergence[0]);
                Assert.Equal(batch.Score.AsSpan(q * p.D, p.D).ToArray(), alone.Score);
                Assert.Equal(batch.Denoiser.AsSpan(q * p.D, p.D).ToArray(), alone.Denoiser);
            }
        });

    /// <summary>Shards accumulated by the query-lanes kernel merge into the whole set's result within the float32 bound.</summary>
    [Property(MaxTest = 60)]
    public Property Shards_Accumulated_MatchTheReference() =>
        Prop.ForAll(SmallProblems, Gen.Choose(0, 1000).ToArbitrary(), (c, cut0) =>
        {
            var p = c.Problem with { N = Math.Max(c.Problem.N, 2) };
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            int cut = 1 + cut0 % (p.N - 1);
            var backend = new CpuBackend { LaneTilePoints = c.TilePoints };
            var partials = new EmpiricalScore<float>(set.Slice(0, cut), backend).Accumulate(queries, p.Level);
            partials.Combine(new EmpiricalScore<float>(set.Slice(cut, p.N - cut), backend).Accumulate(queries, p.Level));
            Expect.AgainstReference(Outputs.Finish(partials, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"shards at {cut}: {p}");
        });

    /// <summary>
    /// In float the kernel's logits are in units of ln 2 (scale −log₂ e/(2σ²)); where that scale overflows float but
    /// −1/(2σ²) does not (σ² between about 1.5e−39 and 2.1e−39) it keeps natural logits. Data at that scale (3e−19, so the
    /// squared differences stay normal) on odd shapes, against the same reference and bound: the log-density, score and
    /// denoiser (the divergence, about D/σ², is beyond float's range there).
    /// </summary>
    [Property(MaxTest = 20)]
    public Property Float32_WhereTheBase2ScaleOverflows_MatchesReference() =>
        Prop.ForAll((
                from n in Gen.Choose(1, 90)
                from m in Gen.Choose(1, 40)
                from d in Gen.Choose(1, 16)
                from seed in Gen.Choose(0, int.MaxValue)
                select new Problem(n, m, d, 0.8, 4.2e-20 / 3e-19, 3e-19, 0, seed)).ToArbitrary(),
            p =>
            {
                var level = p.Level;
                Assert.True(float.IsFinite((float)(-0.5 / level.Variance)) && !float.IsFinite((float)(-0.5 / level.Variance / Math.Log(2))));
                var (train, queries, trainD, queriesD) = p.Build<float>();
                var (ld, score, denoiser) = (new float[p.M], new float[p.M * p.D], new float[p.M * p.D]);
                new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, p.D), new CpuBackend(2))
                    .Evaluate(queries, level, new ScoreOutputs<float> { LogDensity = ld, Score = score, Denoiser = denoiser });
                for (int q = 0; q < p.M; q++)
                {
                    var x = queriesD.AsSpan(q * p.D, p.D);
                    var bound = ErrorBound.For(trainD, p.D, x, level, ErrorBound.UnitRoundoffSingle);
                    Expect.Within(ld[q], ScoreReference.LogDensity(trainD, p.D, x, level), bound.LogDensity, "log-density", q, p.ToString());
                    Expect.Within(Problem.Widen(score.AsSpan(q * p.D, p.D).ToArray()), ScoreReference.Score(trainD, p.D, x, level), bound.Score, "score", q, p.ToString());
                    Expect.Within(Problem.Widen(denoiser.AsSpan(q * p.D, p.D).ToArray()), ScoreReference.Denoiser(trainD, p.D, x, level), bound.Denoiser, "denoiser", q, p.ToString());
                }
            });

    /// <summary>
    /// Every distance of a query overflowing float is reported for that query, as on the other path: at α = 1, at α split
    /// with the queries divided by α (0.8 and 0.3; 3e38 is beyond float's range once divided), and at α split by FMAs
    /// (0.003, below 2⁻⁸).
    /// </summary>
    [Theory]
    [InlineData(1.0, 3e19f)]
    [InlineData(0.8, 3e19f)]
    [InlineData(0.8, 3e38f)]
    [InlineData(0.3, 3e19f)]
    [InlineData(0.003, 3e19f)]
    public void AQueryBeyondFloatRange_IsReported_WithItsRow(double alpha, float far)
    {
        var set = new TrainingSet<float>([0f, 0f, 1f, 1f], 2, 2);
        var queries = new float[] { 0.5f, 0.5f, far, far, 1f, 0f };
        var e = Assert.Throws<MagnitudeOverflowException>(() => new EmpiricalScore<float>(set, new CpuBackend(1)).Score(queries, new NoiseLevel(alpha, 1)));
        Assert.Contains("query row 1", e.Message);
        Assert.Equal("queries", e.ParamName);
    }

    /// <summary>The backend called directly with no queries (the model rejects them earlier) does nothing, on one thread or several.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void NoQueries_AreNoWork(int threads)
    {
        var set = new TrainingSet<float>([0f, 1f, 2f], 3, 1);
        var error = Record.Exception(() =>
            new CpuBackend(threads).Evaluate(set, ReadOnlySpan<float>.Empty, new NoiseLevel(0.9, 0.3), new ScoreOutputs<float> { Score = Span<float>.Empty }));
        Assert.Null(error);
    }

    private sealed class OutputsComparer : IEqualityComparer<Outputs>
    {
        public static readonly OutputsComparer Bits = new();

        public bool Equals(Outputs? a, Outputs? b) =>
            a is not null && b is not null && a.LogDensity.SequenceEqual(b.LogDensity) && a.Score.SequenceEqual(b.Score)
            && a.Denoiser.SequenceEqual(b.Denoiser) && a.Divergence.SequenceEqual(b.Divergence);

        public int GetHashCode(Outputs o) => o.LogDensity.Length;
    }
}
