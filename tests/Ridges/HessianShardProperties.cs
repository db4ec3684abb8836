using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Ridges;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// The Hessian factor of a training set split into contiguous shards (the CLI's --shard mpi runs these steps across
/// ranks): each shard's largest logit, the largest of them, each shard's kept rows against it and summary of its
/// candidates, the factor of their union with the whole set's N and summary (the shards' summed). The claim is bit-identity with <see cref="Hessian.Factor{T}"/> over the whole set, so every
/// comparison is exact: the same rows in the same order through the same operations. Shapes cover the capped factor
/// (D &gt; cap: each shard sends only its own largest weights), the dense one (D ≤ cap &lt; kept) and neither, D from 1
/// past the vector widths and the float32 screen's D ≥ 32, coarse grids (tied logits, decided by index), scales from
/// one nearest point to every point kept, and empty shards.
/// </summary>
public sealed class HessianShardProperties
{
    private static readonly int[] Dimensions = [1, 2, 3, 5, 9, 33, 40];
    private static readonly int[] Caps = [1, 2, 3, 7, 16, Hessian.DefaultMaxRank];
    private static readonly double[] Sigmas = [0.05, 0.3, 1, 4, 30];

    [Property(MaxTest = 120)]
    public Property Float32_ShardedFactor_EqualsWholeSet_BitForBit() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed => ShardedEqualsWhole<float>(seed));

    [Property(MaxTest = 80)]
    public Property Float64_ShardedFactor_EqualsWholeSet_BitForBit() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed => ShardedEqualsWhole<double>(seed));

    private static void ShardedEqualsWhole<T>(int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        int n = rng.Next(1, 90), d = Dimensions[rng.Next(Dimensions.Length)], cap = Caps[rng.Next(Caps.Length)];
        bool grid = rng.Next(3) == 0;
        double scale = Math.Pow(10, rng.Next(-2, 3));
        T Value() => T.CreateChecked(scale * (grid ? rng.Next(-2, 3) : 2 * rng.NextDouble() - 1));
        var data = Enumerable.Range(0, n * d).Select(_ => Value()).ToArray();
        var level = new NoiseLevel(0.5 + rng.NextDouble(), scale * Sigmas[rng.Next(Sigmas.Length)]);
        var query = Enumerable.Range(0, d).Select(_ => Value()).ToArray();
        int shards = rng.Next(1, 6);
        var cuts = Enumerable.Range(0, shards - 1).Select(_ => rng.Next(n + 1)).Append(0).Append(n).Order().ToArray();
        AssertShardedEqualsWhole(data, n, d, query, level, cap, cuts, $"seed {seed}: grid={grid}");
    }

    /// <summary>
    /// A shard that caps while the whole set's truncation does not: one heavy point at the query and ten of relative weight
    /// about 1e−9 (inside c + ln 2 of float32's cut-off at N = 60, c = ln 60 + 18) in the first shard, the rest far past
    /// the cut-off, D = 33 above the cap of 7. The whole set leaves out the lightest of the ten (their mass within the
    /// budget) and keeps at most 7, uncapped; the capped shard sends only 7 of them, so the union alone would charge the
    /// 4 unsent at e^{−c}/2 each instead of their 1e−9 and drop too many: only the whole set's summary, summed over the
    /// shards, gives the union the same k.
    /// </summary>
    [Fact]
    public void CappedShard_UncappedWholeSet_NeedsTheWholeSetsSummary()
    {
        const int n = 60, d = 33, cap = 7;
        var data = new float[n * d];
        for (int i = 1; i < n; i++)
        {
            // logit −‖y‖²/2 at x = 0 (α = σ = 1): ten at about ln(1e−9) ≈ −20.7, distinct; the rest at −40
            double logit = i <= 10 ? -20.7 + 0.05 * i : -40;
            data[i * d + i % d] = (float)Math.Sqrt(-2 * logit);
        }
        var level = new NoiseLevel(1, 1);
        var whole = AssertShardedEqualsWhole(data, n, d, new float[d], level, cap, [0, 30, n], "capped shard");
        Assert.False(whole.Capped);
        Assert.InRange(whole.Indices.Length, 2, cap);
        var kept = new List<int>();
        Hessian.KeptRows<float>(data.AsSpan(0, 30 * d), d, new double[d], level, 0, n, cap, kept, out var first);
        Assert.Equal(cap, kept.Count); // the first shard caps
        Assert.Equal(11, first.Count);
    }

    /// <summary>The sharded steps' factor against the whole set's, bit for bit; returns the whole set's.</summary>
    private static HessianFactor AssertShardedEqualsWhole<T>(T[] data, int n, int d, T[] query, NoiseLevel level, int cap, int[] cuts, string label)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = query.Select(double.CreateChecked).ToArray();
        int shards = cuts.Length - 1;
        var whole = Hessian.Factor(new EmpiricalScore<T>(new TrainingSet<T>(data, n, d)), query, level, cap, maxDegreeOfParallelism: 1)[0];

        double largest = double.NegativeInfinity;
        var shardLogits = new double[shards][];
        for (int s = 0; s + 1 < cuts.Length; s++)
        {
            var rows = data.AsSpan(cuts[s] * d, (cuts[s + 1] - cuts[s]) * d);
            double own = Hessian.LargestLogit<T>(rows, d, x, level);
            // the logits kept for the second step give the same largest as forming them afresh
            shardLogits[s] = new double[cuts[s + 1] - cuts[s]];
            Assert.Equal(own, Hessian.ShardLogits<T>(rows, d, x, level, shardLogits[s]));
            largest = Math.Max(largest, own);
        }
        var global = new List<int>();
        var summary = default(WithinCutMass);
        for (int s = 0; s + 1 < cuts.Length; s++)
        {
            var kept = new List<int>();
            int added = Hessian.KeptRows<T>(data.AsSpan(cuts[s] * d, (cuts[s + 1] - cuts[s]) * d), d, x, level, largest, n, cap, kept, out var own);
            var fromLogits = new List<int>();
            Assert.Equal(added, Hessian.KeptRowsFromLogits<T>(shardLogits[s], d, largest, n, cap, fromLogits, out var ownFromLogits));
            Assert.Equal(kept, fromLogits);
            Assert.Equal(own, ownFromLogits);
            summary = summary.Add(own);
            Assert.Equal(kept.Count, added);
            Assert.True(d <= cap || added <= cap, $"a shard sent {added} rows past the cap {cap} at D = {d}");
            global.AddRange(kept.Select(i => cuts[s] + i));
        }
        Assert.Equal(global.Order(), global); // rank order is the whole set's order
        var subset = global.SelectMany(i => data.AsSpan(i * d, d).ToArray()).ToArray();
        var sharded = Hessian.FactorOfSubset<T>(subset, d, query, level, n, summary, cap);

        string context = $"{label}: N={n} D={d} cap={cap} shards={shards} sigma={level.Sigma:G3}";
        Assert.True(whole.Indices.Length == sharded.Indices.Length, $"{context}: kept {sharded.Indices.Length}, whole set {whole.Indices.Length}");
        for (int j = 0; j < whole.Indices.Length; j++) Assert.Equal(whole.Indices[j], global[sharded.Indices[j]]);
        Assert.Equal(whole.Rank, sharded.Rank);
        Assert.Equal(whole.IsSquareRoot, sharded.IsSquareRoot);
        Assert.Equal(whole.Weights.ToArray(), sharded.Weights.ToArray());
        Assert.Equal(whole.Mean.ToArray(), sharded.Mean.ToArray());
        Assert.Equal(whole.Score.ToArray(), sharded.Score.ToArray());
        Assert.Equal(whole.Rows.ToArray(), sharded.Rows.ToArray());
        if (d < 2) return whole;
        int k = Math.Min(2, d - 1);
        double[] expected = new double[k * d], actual = new double[k * d];
        RidgeTangentSpace<T>.BasisOf(whole, k, expected);
        RidgeTangentSpace<T>.BasisOf(sharded, k, actual);
        Assert.Equal(expected, actual);
        return whole;
    }

    /// <summary>Bad arguments name the parameter and the remedy; a subset with no rows is the whole set's overflow.</summary>
    [Fact]
    public void BadArguments_AreRefused()
    {
        var level = new NoiseLevel(1, 0.5);
        double[] rows = [0, 1, 2, 3];
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => Hessian.LargestLogit<double>(rows.AsSpan(0, 3), 2, [0, 0], level)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => Hessian.LargestLogit<double>(rows, 2, [0], level)).ParamName);
        Assert.Equal(double.NegativeInfinity, Hessian.LargestLogit<double>([], 2, [0, 0], level));
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => Hessian.ShardLogits<double>(rows, 2, [0, 0], level, new double[3])).ParamName);
        var kept = new List<int>();
        Assert.Equal("dimension", Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.KeptRowsFromLogits<double>([0, -1], 0, 0, 2, 4, kept, out _)).ParamName);
        Assert.Equal("largest", Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.KeptRowsFromLogits<double>([0, -1], 2, double.NaN, 2, 4, kept, out _)).ParamName);
        Assert.Equal("largest", Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.KeptRows<double>(rows, 2, [0, 0], level, double.NegativeInfinity, 2, 4, kept, out _)).ParamName);
        var few = Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.KeptRows<double>(rows, 2, [0, 0], level, 0, 1, 4, kept, out _));
        Assert.Equal("wholeSetCount", few.ParamName);
        Assert.Contains("pass N of the whole set", few.Message);
        var both = new WithinCutMass(2, 0);
        Assert.Equal("maxRank", Assert.Throws<ArgumentOutOfRangeException>(() => Hessian.FactorOfSubset<double>(rows, 2, [0, 0], level, 2, both, 0)).ParamName);
        Assert.Equal("query", Assert.Throws<ArgumentException>(() => Hessian.FactorOfSubset<double>(rows, 2, [double.NaN, 0], level, 2, both)).ParamName);
        Assert.Throws<MagnitudeOverflowException>(() => Hessian.FactorOfSubset<double>([], 2, [0, 0], level, 2, both));
        // a summary that cannot hold the subset's own candidates (fewer points, less mass) is refused, naming the remedy
        var small = Assert.Throws<ArgumentException>(() => Hessian.FactorOfSubset<double>(rows, 2, [0, 0], level, 2, new WithinCutMass(1, 0)));
        Assert.Equal("wholeSetWithinCut", small.ParamName);
        Assert.Contains("sum of every shard's KeptRows summary", small.Message);
    }
}
