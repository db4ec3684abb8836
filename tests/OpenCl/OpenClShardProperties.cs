using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// The OpenCL kernel with the training set split into shards across work-groups (native/score.cl score_partials, then
/// merge_shards on the device), the shard count forced through <see cref="OpenClOptions.Shards"/>: counts that do
/// not divide the point vectors, counts above them (empty shards), two query blocks (M up to 70 against work-groups of
/// 64), D beyond one __local slice, shards whose every distance overflows float. All against the float64 reference
/// under <see cref="ErrorBound"/>, unchanged.
/// <para>
/// Why the bound needs no new term: sharding changes only how each point's weight reaches the state. The per-point
/// arithmetic (distances, logits, weights, the e^-36 cut-off) is the same; the cut-off is relative to the shard's
/// running maximum, or, after the seeding pass, to the query's global maximum: never above it, so a dropped point lies
/// at least 36 nats (≥ the c of <see cref="ErrorBound"/>) below the maximum, as the bound's dropped-mass term assumes. The sums then run through a tile sum in REAL (≤ 32
/// points in the shapes the backend chooses), the shard's running state in ACC (one addition and at most one rescale per
/// tile: ≤ ⌈N/32⌉ tiles), and the merge in ACC: one exp (≤ 3 ulp in OpenCL), one product and S additions. A weight
/// thus meets at most 32 + ⌈N/32⌉ + S + 4 roundings of at most the working precision; with N ≤ 80 and S ≤ 12 here
/// that is ≤ 51, inside the γ_128 the bound reserves for those sums (γ_acc in <see cref="ErrorBound"/>). The tiled kernel
/// sums up to 64 kept candidates in REAL (PEND) and may rescale twice per tile of at least 32 points: ≤ 64 + 2⌈N/32⌉ + S + 4
/// ≤ 86 here, inside the same γ_128. On PoCL the
/// state is double, so the merge's own roundings are 2⁻⁵³-sized even in the float tests.
/// </para>
/// </summary>
public sealed class OpenClShardProperties : IRequiresOpenCl
{
    /// <summary>A backend with forced shards and seeding, on the tiled or the classic float32 kernel (float64 runs the classic).</summary>
    private static OpenClBackend Sharded(int shards, bool gpuShape, bool seeded, bool tiled) =>
        new(OpenClTestSupport.Backend.Context, new OpenClOptions
        {
            Shards = shards, KernelShape = gpuShape ? OpenClDeviceKind.Gpu : OpenClDeviceKind.Cpu, SeedMaxima = seeded,
            ScoreKernel = tiled ? OpenClScoreKernel.Tiled : OpenClScoreKernel.Classic,
        });

    private static readonly bool[] BothKernels = [false, true];

    private static void MatchesReference<T>(Problem p, OpenClBackend backend) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        var actual = Outputs.Evaluate(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D), backend), queries, p.Level);
        Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoff<T>(), $"{typeof(T).Name} shards={backend.LastShards} {p}");
    }

    /// <summary>Random problems, 1 to 12 shards, both kernel shapes, with and without the seeding pass, float (both kernels) and double.</summary>
    [BackendProperty(MaxTest = 100)]
    public Property ForcedShards_MatchTheReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(1, 12).ToArbitrary(), Gen.Choose(0, 7).ToArbitrary(), (p, shards, flags) =>
        {
            using var backend = Sharded(shards, gpuShape: (flags & 1) != 0, seeded: (flags & 2) != 0, tiled: (flags & 4) != 0);
            MatchesReference<float>(p, backend);
            Assert.Equal((shards, (flags & 2) != 0), (backend.LastShards, backend.LastSeeded));
            MatchesReference<double>(p, backend);
        });

    /// <summary>
    /// Fixed awkward cases: one point in five shards (four empty), shards that do not divide the vectors, M past one
    /// work-group of 64 so query blocks and shards interleave in the range, and D = 1000 beyond the staged slice.
    /// </summary>
    [OpenClTheory]
    [InlineData(1, 3, 2, 5)]
    [InlineData(3, 65, 3, 40)]
    [InlineData(17, 33, 129, 3)]
    [InlineData(67, 17, 1000, 4)]
    [InlineData(130, 70, 7, 9)]
    [InlineData(80, 129, 5, 2)]
    public void AwkwardShapes_MatchTheReference(int n, int m, int d, int shards)
    {
        var p = new Problem(n, m, d, Alpha: 0.7, SigmaOverScale: 0.5 * Math.Sqrt(d), Scale: 1, OffsetOverScale: 0, Seed: n * 31 + d);
        foreach (bool gpuShape in new[] { false, true })
        foreach (bool seeded in new[] { false, true })
        foreach (bool tiled in BothKernels)
        {
            using var backend = Sharded(shards, gpuShape, seeded, tiled);
            MatchesReference<float>(p, backend);
            MatchesReference<double>(p, backend);
            Assert.Equal(shards, backend.LastShards);
        }
    }

    /// <summary>
    /// The count the backend chooses by itself: few queries against many points leave one query block, so it splits the
    /// training set (at least two shards on any device: 2 work-groups per compute unit on a CPU, 16 on a GPU, and 2000 points make
    /// 125 vectors of 16 floats, room for 31 shards of two tiles); the result is within the bound.
    /// <para>At D = 5 the backend runs no seeding pass; at D = 100 (≥ 64) with several shards it does on a GPU.</para>
    /// </summary>
    [OpenClTheory]
    [InlineData(5)]
    [InlineData(100)]
    public void ChosenShards_FewQueriesManyPoints_SplitAndMatchTheReference(int d)
    {
        var p = new Problem(2000, 3, d, Alpha: 0.9, SigmaOverScale: 0.3 * Math.Sqrt(d), Scale: 1, OffsetOverScale: 0, Seed: 7);
        using var backend = new OpenClBackend(OpenClTestSupport.Backend.Context);
        MatchesReference<float>(p, backend);
        Assert.True(backend.LastShards > 1, $"{backend.LastShards} shard(s) on {backend.Device}");
        Assert.Equal(d >= 64 && backend.Device.Kind != OpenClDeviceKind.Cpu, backend.LastSeeded);
        MatchesReference<double>(p, backend);
    }

    /// <summary>The tuning options: null chooses; shard counts in range are taken; anything else throws, naming the option and the value.</summary>
    [Fact]
    public void TuningOptions_TakeCountsInRange_OrThrowNamingTheOption()
    {
        Assert.Null(OpenClOptions.Default.Shards);
        Assert.Null(OpenClOptions.Default.SeedMaxima);
        Assert.Null(new OpenClOptions { Shards = null }.Shards);
        Assert.Equal(12, new OpenClOptions { Shards = 12 }.Shards);
        Assert.Equal(65536, new OpenClOptions { Shards = 65536 }.Shards);
        Assert.False(new OpenClOptions { SeedMaxima = false }.SeedMaxima);
        foreach (var bad in new[] { 0, -3, 70000 })
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new OpenClOptions { Shards = bad });
            Assert.Equal(nameof(OpenClOptions.Shards), ex.ParamName);
            Assert.Equal(bad, ex.ActualValue);
        }
    }

    /// <summary>
    /// A shard whose every distance overflows float holds no weight (max −∞, sum 0) and the merge skips it (no
    /// e^(−∞ + ∞)); the query's result is that of the other shard's points. A query far from every shard still throws.
    /// </summary>
    [OpenClFact]
    public void ShardOfOverflowedDistances_IsSkipped_AndAllOverflowedStillThrows()
    {
        const int n = 20, d = 2;
        var train = new float[n * d];
        for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++)
            train[i * d + k] = i < 16 ? 1e20f : 0.1f * (i - 16) + 0.05f * k; // vector 0 (16 points): far away
        foreach (bool tiled in BothKernels) ShardOfOverflowedDistances(train, n, d, tiled);
    }

    private static void ShardOfOverflowedDistances(float[] train, int n, int d, bool tiled)
    {
        var queries = new float[] { 0.2f, 0.1f, -0.3f, 0.4f };
        var level = new NoiseLevel(1, 0.5);
        using var backend = Sharded(2, gpuShape: false, seeded: true, tiled);
        var set = new TrainingSet<float>(train, n, d);
        var actual = Outputs.Evaluate(new EmpiricalScore<float>(set, backend), queries, level);
        Expect.AgainstReference(actual, Problem.Widen(train), d, Problem.Widen(queries), level, ErrorBound.UnitRoundoffSingle, $"one shard overflowed (tiled: {tiled})");

        var ex = Assert.Throws<MagnitudeOverflowException>(() =>
            new EmpiricalScore<float>(set, backend).Score(new float[] { 0.5f, 0.5f, -1e20f, -1e20f }, level));
        Assert.Contains("query row 1", ex.Message);
        Assert.Equal("queries", ex.ParamName);
    }
}
