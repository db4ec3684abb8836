using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The CPU backend's screen (<see cref="IScoreBackend.Screen"/>) and the Hessian built on it. The screen's contract is
/// a superset: every point whose exact logit is within the cut-off c of the query's largest is a candidate (the expansion
/// logits are within E of the exact ones and the limit is the lower bound of the maximum minus c and E, so no rounding
/// of the inputs can move a kept point out; the reference logits are exact for the float32 values the screen sees).
/// The Hessian over the candidates must then be the Hessian over every point, bit for bit: the kept set, its exact
/// logits and every sum over it are the same.
/// </summary>
public sealed class ScreenProperties
{
    /// <summary>The full pass: with the expansion path off the CPU backend has no screen.</summary>
    private static readonly CpuBackend Unscreened = new() { AllowExpansion = false };

    /// <summary>
    /// Shapes on the expansion side (float32, D from 32 to 200, not multiples of the 16-lane group), N from 1 to 300, σ from
    /// 1e−3 to 1e2 scales (small σ puts queries past the expansion's bound limit: handed over as every point), α = 1 a
    /// quarter of the time, and a third with a common offset of 10 to 1000 scales.
    /// </summary>
    private static readonly Arbitrary<Problem> Shapes = (
        from n in Gen.Frequency((1, Gen.Constant(1)), (6, Gen.Choose(2, 300)))
        from m in Gen.Choose(1, 40)
        from d in Gen.Frequency((3, Gen.Choose(32, 100)), (1, Gen.Choose(101, 200)))
        from alpha in Gen.Frequency((1, Gen.Constant(1.0)), (3, Gen.Choose(50, 1000).Select(i => i / 1000.0)))
        from sigma in Gen.Choose(0, 1000).Select(i => 1e-3 * Math.Pow(1e5, i / 1000.0))
        from scale in Gen.Choose(0, 1000).Select(i => 0.01 * Math.Pow(1e4, i / 1000.0))
        from offset in Gen.Frequency((2, Gen.Constant(0.0)), (1, Gen.Choose(0, 1000).Select(i => 10 * Math.Pow(100, i / 1000.0))))
        from seed in Gen.Choose(0, int.MaxValue)
        select new Problem(n, m, d, alpha, sigma, scale, offset, seed)).ToArbitrary();

    private static (int Query, int[] Candidates, bool Every)[] Screen(TrainingSet<float> set, float[] queries, NoiseLevel level, CpuBackend backend,
        double margin = 0)
    {
        var found = new System.Collections.Concurrent.ConcurrentBag<(int, int[], bool)>();
        Assert.True(backend.Screen(set, queries, level, block =>
        {
            for (int i = 0; i < block.Count; i++) found.Add((block.FirstQuery + i, block.Candidates(i).ToArray(), block.EveryPoint(i)));
        }, margin));
        return found.OrderBy(t => t.Item1).ToArray();
    }

    /// <summary>Every query once; candidates ascending, distinct, in range, and every point within the cut-off among them.</summary>
    [Property(MaxTest = 60)]
    public Property Candidates_IncludeEveryKeptPoint() => Prop.ForAll(Shapes, p => CandidatesReach(p, 0));

    /// <summary>
    /// With a margin (the Hessian's factor asks for ln 2) the candidates reach the cut-off plus the margin: margins from 0
    /// to 4 nats.
    /// </summary>
    [Property(MaxTest = 40)]
    public Property Candidates_ReachTheMargin() =>
        Prop.ForAll(Shapes, Gen.Choose(0, 400).Select(i => i / 100.0).ToArbitrary(), CandidatesReach);

    /// <summary>A margin that is negative or not finite is refused, naming the parameter.</summary>
    [Fact]
    public void BadMargin_IsRefused()
    {
        var set = new TrainingSet<float>(new float[4 * 40], 4, 40);
        foreach (double margin in new[] { -1e-3, double.NaN, double.PositiveInfinity })
            Assert.Equal("margin", Assert.Throws<ArgumentOutOfRangeException>(() => CpuBackend.Default.Screen(set, new float[40], new NoiseLevel(1, 1), _ => { }, margin)).ParamName);
    }

    private static void CandidatesReach(Problem p, double margin)
    {
        var (train, queries, trainD, queriesD) = p.Build<float>();
        var set = new TrainingSet<float>(train, p.N, p.D);
        var screened = Screen(set, queries, p.Level, CpuBackend.Default, margin);
        Assert.Equal(Enumerable.Range(0, p.M), screened.Select(s => s.Query));
        double cut = ScorePartials.NegligibleLogit<float>(p.N) + margin;
        foreach (var (q, candidates, every) in screened)
        {
            if (every)
            {
                Assert.Empty(candidates);
                continue;
            }
            for (int j = 0; j < candidates.Length; j++)
            {
                Assert.InRange(candidates[j], 0, p.N - 1);
                if (j > 0) Assert.True(candidates[j] > candidates[j - 1], $"query {q}: candidates not ascending at {j}; {p}");
            }
            var logits = ScoreReference.Logits(trainD, p.D, queriesD.AsSpan(q * p.D, p.D), p.Level);
            double max = logits.Max();
            var set2 = candidates.ToHashSet();
            for (int i = 0; i < p.N; i++)
                if (logits[i] >= max - cut)
                    Assert.True(set2.Contains(i), $"query {q}: point {i} (logit {logits[i] - max:G6} from the largest, cut {cut:G4}) screened out; {p}");
        }
    }

    /// <summary>The screened Hessian factor equals the one over every point, bit for bit, and its dropped mass no larger.</summary>
    [Property(MaxTest = 40)]
    public Property ScreenedHessian_EqualsTheFullPass() =>
        Prop.ForAll(Shapes, p =>
        {
            var (train, queries, _, _) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var screened = Hessian.Factor(new EmpiricalScore<float>(set), queries, p.Level);
            var full = Hessian.Factor(new EmpiricalScore<float>(set, Unscreened), queries, p.Level);
            // a small budget of exact logits held at once splits each screened block into runs of queries (one query
            // each at budget 1): the factors must not change by a bit
            int budget = 1 + p.Seed % 97;
            var inRuns = new HessianFactor[p.M];
            Hessian.ForEach(new EmpiricalScore<float>(set), queries, p.Level, Hessian.DefaultMaxRank, -1, (q, f) => inRuns[q] = f.Detach(), budget);
            for (int q = 0; q < p.M; q++)
            {
                Assert.True(inRuns[q].Indices.SequenceEqual(screened[q].Indices) && inRuns[q].Rows.SequenceEqual(screened[q].Rows)
                    && inRuns[q].Score.SequenceEqual(screened[q].Score) && inRuns[q].DroppedMass == screened[q].DroppedMass,
                    $"query {q}: the factor changed with a pair budget of {budget}; {p}");
                Assert.True(full[q].Indices.SequenceEqual(screened[q].Indices), $"query {q}: kept points differ; {p}");
                Assert.True(full[q].Weights.SequenceEqual(screened[q].Weights), $"query {q}: weights differ; {p}");
                Assert.True(full[q].Rows.SequenceEqual(screened[q].Rows), $"query {q}: factor rows differ; {p}");
                Assert.True(full[q].Score.SequenceEqual(screened[q].Score), $"query {q}: scores differ; {p}");
                Assert.Equal(full[q].Capped, screened[q].Capped);
                Assert.InRange(screened[q].DroppedMass, 0, full[q].DroppedMass + 1e-15);
            }
        });

    /// <summary>
    /// On data like the mnist benchmark's (±1 pixels, D = 784) the screen really screens: every query gets a list, and
    /// far fewer candidates than points (the Hessian's exact pass then costs a small share of the full one).
    /// </summary>
    [Fact]
    public void PixelData_FewCandidates()
    {
        const int n = 600, m = 24, d = 784;
        var rng = new Random(7);
        var train = new float[n * d];
        for (int i = 0; i < train.Length; i++) train[i] = rng.NextDouble() < 0.19 ? 1f : -1f;
        var level = new NoiseLevel(0.316, 0.949);
        var queries = new float[m * d];
        for (int q = 0; q < m; q++)
        {
            int j = rng.Next(n);
            for (int k = 0; k < d; k++) queries[q * d + k] = (float)(level.Alpha * train[j * d + k] + level.Sigma * Problem.Gaussian(rng));
        }
        var screened = Screen(new TrainingSet<float>(train, n, d), queries, level, CpuBackend.Default);
        Assert.All(screened, s => Assert.False(s.Every, $"query {s.Query} handed over as every point"));
        Assert.All(screened, s => Assert.InRange(s.Candidates.Length, 1, n / 10));
    }

    /// <summary>Types, dimensions and backends without a screen say so and call nothing.</summary>
    [Fact]
    public void NoScreen_ReturnsFalse()
    {
        var level = new NoiseLevel(1, 0.5);
        bool called = false;
        var small = new TrainingSet<float>(new float[16 * 8], 16, 8); // D ≤ 16: the query-lanes kernel has no screen
        Assert.False(CpuBackend.Default.Screen(small, new float[8], level, _ => called = true));
        var wide = new TrainingSet<double>(new double[4 * 40], 4, 40); // double: no expansion path
        Assert.False(CpuBackend.Default.Screen(wide, new double[40], level, _ => called = true));
        Assert.False(Unscreened.Screen(new TrainingSet<float>(new float[4 * 40], 4, 40), new float[40], level, _ => called = true));
        Assert.False(called);
    }
}
