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
/// One suite, every backend: each derived class binds <see cref="Backend"/> (the CPU path, OpenCL on PoCL or a GPU) and
/// inherits every property, as ILGPU binds one abstract test class per accelerator. The fused path is compared with the
/// float64 reference on random shapes and scales; every tolerance is the error bound of <see cref="ErrorBound"/>, derived
/// from float32 (or float64) rounding, never tuned. The OpenCL kernel forms distances, tile sums (at most 128 terms in T)
/// and the double running state exactly as that bound assumes, so the same bound applies to it.
/// </summary>
public abstract class ScoreProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private EmpiricalScore<T> Model<T>(T[] train, int n, int d) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(new TrainingSet<T>(train, n, d), Backend);

    protected static void FastPathMatchesReference<T>(Problem p, IScoreBackend backend) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        var model = new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D), backend);
        var actual = Outputs.Evaluate(model, queries, p.Level);
        Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoff<T>(), $"{typeof(T).Name} {backend.Name} {p}");
    }

    [BackendProperty(MaxTest = 150)]
    public Property FastPath_Float32_MatchesReference() =>
        Prop.ForAll(Problem.Arbitrary, p => FastPathMatchesReference<float>(p, Backend));

    [BackendProperty(MaxTest = 100)]
    public Property FastPath_Float64_MatchesReference() =>
        Prop.ForAll(Problem.Arbitrary, p => FastPathMatchesReference<double>(p, Backend));

    /// <summary>
    /// Each output asked for alone (a backend then forms only the sums it needs: none beyond the normaliser for the
    /// log-density, the displacement sums for the score, the point sums for the denoiser) is within its bound too.
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property EachOutputAlone_MatchesReference() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var model = Model(train, p.N, p.D);
            var (ld, s, den, div) = (new float[p.M], new float[p.M * p.D], new float[p.M * p.D], new float[p.M]);
            model.Evaluate(queries, p.Level, new ScoreOutputs<float> { LogDensity = ld });
            model.Evaluate(queries, p.Level, new ScoreOutputs<float> { Score = s });
            model.Evaluate(queries, p.Level, new ScoreOutputs<float> { Denoiser = den });
            model.Evaluate(queries, p.Level, new ScoreOutputs<float> { Divergence = div });
            var alone = new Outputs(Problem.Widen(ld), Problem.Widen(s), Problem.Widen(den), Problem.Widen(div));
            Expect.AgainstReference(alone, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"each alone, {Backend.Name} {p}");
        });

    /// <summary>Shards accumulated on this backend and merged finish within the float32 bound of the whole set's exact result.</summary>
    [BackendProperty(MaxTest = 100)]
    public Property Shards_AccumulatedAndCombined_MatchTheReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), (p0, cut) =>
        {
            var p = p0 with { N = Math.Max(p0.N, 2) };
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            int a = 1 + cut % (p.N - 1);
            var state = new EmpiricalScore<float>(set.Slice(0, a), Backend).Accumulate(queries, p.Level);
            state.Combine(new EmpiricalScore<float>(set.Slice(a, p.N - a), Backend).Accumulate(queries, p.Level));
            Assert.Equal(p.N, state.TrainingCount);
            Expect.AgainstReference(Outputs.Finish(state, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"{Backend.Name} shards at {a}: {p}");
        });

    /// <summary>A permutation changes only the order of the sums: both results are within their bound of the same exact value.</summary>
    [BackendProperty(MaxTest = 100)]
    public Property PermutingTheTrainingSet_ChangesNothing() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var order = Enumerable.Range(0, p.N).OrderBy(i => (i * 7919 + p.Seed) % 104729).Reverse().ToArray();
            var permuted = order.SelectMany(i => train.AsSpan(i * p.D, p.D).ToArray()).ToArray();
            var permutedD = Problem.Widen(permuted);
            var actual = Outputs.Evaluate(Model(permuted, p.N, p.D), queries, p.Level);
            Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"permuted {p}");
            // and the reference itself is permutation invariant to float64 rounding
            var x = queriesD.AsSpan(0, p.D);
            Expect.Within(ScoreReference.LogDensity(permutedD, p.D, x, p.Level), ScoreReference.LogDensity(trainD, p.D, x, p.Level),
                ErrorBound.For(trainD, p.D, x, p.Level, ErrorBound.UnitRoundoffDouble).LogDensity, "reference log-density", 0, p.ToString());
        });

    /// <summary>
    /// y → y + c, x → x + αc shifts m by c and leaves s and ℓ unchanged. In float32 with α = 1 and dyadic data the
    /// shifted inputs are exact, so both evaluations are within their bounds of the same exact values.
    /// </summary>
    [BackendProperty(MaxTest = 100)]
    public Property Shifting_DataAndQueries_ShiftsOnlyTheDenoiser() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var rng = new Random(p.Seed);
            // dyadic values: multiples of 2^-10 below 2^10 in magnitude, shift a multiple of 2^-10 below 2^12: sums are exact in float32
            float Dyadic(double v) => (float)(Math.Round(Math.Clamp(v, -1000, 1000) * 1024) / 1024);
            var level = new NoiseLevel(1, Math.Max(p.SigmaOverScale, 0.01));
            var train = Enumerable.Range(0, p.N * p.D).Select(_ => Dyadic(3 * Problem.Gaussian(rng))).ToArray();
            var queries = Enumerable.Range(0, p.M * p.D).Select(i => Dyadic(train[rng.Next(p.N) * p.D + i % p.D] + level.Sigma * Problem.Gaussian(rng))).ToArray();
            var c = Enumerable.Range(0, p.D).Select(_ => Dyadic(rng.Next(-4000, 4000) / 1.0 + rng.Next(1024) / 1024.0)).ToArray();
            var trainShift = train.Select((v, i) => v + c[i % p.D]).ToArray();
            var queriesShift = queries.Select((v, i) => v + c[i % p.D]).ToArray();
            var a = Outputs.Evaluate(Model(train, p.N, p.D), queries, level);
            var b = Outputs.Evaluate(Model(trainShift, p.N, p.D), queriesShift, level);
            var (trainD, queriesD) = (Problem.Widen(train), Problem.Widen(queries));
            var (trainShiftD, queriesShiftD) = (Problem.Widen(trainShift), Problem.Widen(queriesShift));
            for (int q = 0; q < p.M; q++)
            {
                // the exact values obey the shift law, so the two results differ by at most the sum of their bounds
                var ba = ErrorBound.For(trainD, p.D, queriesD.AsSpan(q * p.D, p.D), level, ErrorBound.UnitRoundoffSingle);
                var bb = ErrorBound.For(trainShiftD, p.D, queriesShiftD.AsSpan(q * p.D, p.D), level, ErrorBound.UnitRoundoffSingle);
                var shiftedBack = Enumerable.Range(0, p.D).Select(k => b.Denoiser[q * p.D + k] - c[k]).ToArray();
                Expect.Within(b.LogDensity[q], a.LogDensity[q], ba.LogDensity + bb.LogDensity, "log-density", q, p.ToString());
                Expect.Within(b.Score.AsSpan(q * p.D, p.D), a.Score.AsSpan(q * p.D, p.D), ba.Score + bb.Score, "score", q, p.ToString());
                Expect.Within(shiftedBack, a.Denoiser.AsSpan(q * p.D, p.D), ba.Denoiser + bb.Denoiser, "denoiser − c", q, p.ToString());
            }
        });

    /// <summary>N = 1 is a single Gaussian: ℓ = −‖x − αy‖²/(2σ²) − (D/2) log 2πσ², s = (αy − x)/σ², m = y, div = −D/σ².</summary>
    [BackendProperty(MaxTest = 100)]
    public Property SinglePoint_IsAGaussian() =>
        Prop.ForAll(Problem.Arbitrary, p0 =>
        {
            var p = p0 with { N = 1 };
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var actual = Outputs.Evaluate(Model(train, 1, p.D), queries, p.Level);
            double s2 = p.Level.Variance;
            for (int q = 0; q < p.M; q++)
            {
                var x = queriesD.AsSpan(q * p.D, p.D);
                var bound = ErrorBound.For(trainD, p.D, x, p.Level, ErrorBound.UnitRoundoffSingle);
                double d2 = 0;
                var score = new double[p.D];
                for (int k = 0; k < p.D; k++)
                {
                    double diff = p.Alpha * trainD[k] - x[k];
                    d2 += diff * diff;
                    score[k] = diff / s2;
                }
                Expect.Within(actual.LogDensity[q], -d2 / (2 * s2) - 0.5 * p.D * Math.Log(2 * Math.PI * s2), bound.LogDensity, "log-density", q, p.ToString());
                Expect.Within(actual.Score.AsSpan(q * p.D, p.D), score, bound.Score, "score", q, p.ToString());
                Expect.Within(actual.Denoiser.AsSpan(q * p.D, p.D), trainD, bound.Denoiser, "denoiser", q, p.ToString());
                Expect.Within(actual.Divergence[q], -p.D / s2, bound.Divergence, "divergence", q, p.ToString());
            }
        });

    /// <summary>
    /// Tweedie: m = (x + σ² s)/α holds between the fast path's own outputs. The denoiser comes from the point sums and the
    /// score from the displacement sums, so each is within its own bound of the exact value, which satisfies the identity
    /// exactly: the two sides differ by at most the denoiser's bound plus σ²/α times the score's (and the check's own
    /// double rounding).
    /// </summary>
    [BackendProperty(MaxTest = 100)]
    public Property Tweedie_RelatesDenoiserAndScore() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var o = Outputs.Evaluate(Model(train, p.N, p.D), queries, p.Level);
            for (int q = 0; q < p.M; q++)
            {
                var bound = ErrorBound.For(trainD, p.D, queriesD.AsSpan(q * p.D, p.D), p.Level, ErrorBound.UnitRoundoffSingle);
                var fromScore = new double[p.D];
                double size = 0;
                for (int k = 0; k < p.D; k++)
                {
                    int i = q * p.D + k;
                    fromScore[k] = (queriesD[i] + p.Level.Variance * o.Score[i]) / p.Alpha;
                    size += (Math.Abs(queriesD[i]) + p.Level.Variance * Math.Abs(o.Score[i])) / p.Alpha;
                }
                double tol = bound.Denoiser + p.Level.Variance / p.Alpha * bound.Score + 4 * ErrorBound.UnitRoundoffDouble * size;
                Expect.Within(o.Denoiser.AsSpan(q * p.D, p.D), fromScore, tol, "Tweedie denoiser", q, p.ToString());
            }
        });

    /// <summary>With σ → 0 the posterior concentrates on the nearest training point and the denoiser returns it.</summary>
    [BackendProperty(MaxTest = 100)]
    public Property TinyNoise_DenoiserReturnsNearestTrainingPoint() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, trainD, queriesD) = p.Build<float>();
            for (int q = 0; q < p.M; q++)
            {
                var x = queriesD.AsSpan(q * p.D, p.D).ToArray();
                var dist = Enumerable.Range(0, p.N).Select(i => Enumerable.Range(0, p.D).Sum(k => Math.Pow(x[k] - p.Alpha * trainD[i * p.D + k], 2))).ToArray();
                var sorted = dist.Order().ToArray();
                double gap = p.N > 1 ? sorted[1] - sorted[0] : 1;
                if (!(gap > 1e-6 * sorted[^1])) continue; // a near tie: no single nearest point
                // σ² small enough that the runner-up's logit is ≥ 200 below the nearest one's
                var level = new NoiseLevel(p.Alpha, Math.Sqrt(gap / 400));
                var m = Model(train, p.N, p.D).Denoise(queries.AsSpan(q * p.D, p.D), level);
                int nearest = Array.IndexOf(dist, sorted[0]);
                for (int k = 0; k < p.D; k++)
                    Assert.Equal(train[nearest * p.D + k], m[k], (float)(4 * ErrorBound.UnitRoundoffSingle * (Math.Abs(train[nearest * p.D + k]) + Math.Abs(x[k]) / p.Alpha)));
            }
        });
}

/// <summary>The suite on the SIMD CPU backend, plus what only the CPU backend has: threads and tile sizes.</summary>
public sealed class CpuScoreProperties : ScoreProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;

    [Property(MaxTest = 100)]
    public Property FastPath_SingleThreadSmallTiles_MatchesReference() =>
        Prop.ForAll(Problem.Arbitrary, p => FastPathMatchesReference<float>(p, new CpuBackend(maxDegreeOfParallelism: 1, tileGroups: 1)));

    /// <summary>
    /// The expansion path's regime: float32, D from 32 to 200 (multiples of 16 and not), N up to 200 (several tiles and a
    /// partial last group), σ from 0.2 to 20 data scales and small offsets, where its error bound E stays below the limit
    /// for most blocks. Both paths are held to the same float32 bound against the reference: the candidates' distances are
    /// direct differences, as on the direct path, and the dropped points weigh less than N e^{−c} ≤ e^{−18} relative (the
    /// float cut-off c = min(36, ln N + 18)), which the bound carries. (That the path runs at all is checked by <see cref="ExpansionPath_RunsOnAPixelLikeCase"/>.)
    /// </summary>
    [Property(MaxTest = 40)]
    public Property ExpansionPath_Float32_MatchesReference_AndTheDirectPath() =>
        Prop.ForAll(ExpansionProblems, p =>
        {
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var fast = Outputs.Evaluate(new EmpiricalScore<float>(set), queries, p.Level);
            var direct = Outputs.Evaluate(new EmpiricalScore<float>(set, new CpuBackend { AllowExpansion = false }), queries, p.Level);
            // super-tiles of 64 points: several per set, so later ones start from the running maximum of earlier ones
            var small = Outputs.Evaluate(new EmpiricalScore<float>(set, new CpuBackend(tileGroups: 1) { SuperTilePoints = 64 }), queries, p.Level);
            Expect.AgainstReference(fast, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"expansion {p}");
            Expect.AgainstReference(direct, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"direct {p}");
            Expect.AgainstReference(small, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"expansion, 64-point super-tiles {p}");
        });

    [Fact]
    public void ExpansionPath_RunsOnAPixelLikeCase()
    {
        // ±1 pixels, α = 0.316, σ = 0.949, D = 784 (the benchmark's mnist case, smaller): E ≈ 0.04 nats, far below the
        // limit, and the logits of other points lie ~50 nats below a query's own, so few are candidates and they are refined
        var backend = new CpuBackend();
        var (fast, _, train, queries, d, level) = PixelLikeCase(n: 300, m: 40, d: 784, backend);
        Assert.Equal(40, backend.ExpandedQueries); // every query took the expansion path
        Expect.AgainstReference(fast, Problem.Widen(train), d, Problem.Widen(queries), level, ErrorBound.UnitRoundoffSingle, "pixels");
    }

    [Fact]
    public void ExpansionPath_WithMostPointsCandidates_GoesDirect()
    {
        // D = 200: the gaps shrink to ~14 nats, under the cut-off, so more than a third of the points are candidates and
        // refining them row by row would cost more than direct differences: every query takes the direct path's arithmetic
        var (fast, direct, _, _, _, _) = PixelLikeCase(n: 300, m: 40, d: 200);
        Assert.Equal(direct.Score, fast.Score);
        Assert.Equal(direct.Divergence, fast.Divergence);
    }

    private static (Outputs Fast, Outputs Direct, float[] Train, float[] Queries, int D, NoiseLevel Level) PixelLikeCase(int n, int m, int d,
        CpuBackend? backend = null)
    {
        var rng = new Random(3);
        var train = Enumerable.Range(0, n * d).Select(_ => rng.NextDouble() < 0.19 ? 1f : -1f).ToArray();
        var level = new NoiseLevel(0.316, 0.949);
        var queries = Enumerable.Range(0, m * d).Select(i => (float)(level.Alpha * train[(i / d) * d + i % d] + level.Sigma * Problem.Gaussian(rng))).ToArray();
        var set = new TrainingSet<float>(train, n, d);
        var fast = Outputs.Evaluate(new EmpiricalScore<float>(set, backend ?? CpuBackend.Default), queries, level);
        var direct = Outputs.Evaluate(new EmpiricalScore<float>(set, new CpuBackend { AllowExpansion = false }), queries, level);
        return (fast, direct, train, queries, d, level);
    }

    private static readonly Arbitrary<Problem> ExpansionProblems = (
        from n in Gen.Choose(2, 200)
        from m in Gen.Choose(1, 40)
        from d in Gen.Frequency((2, Gen.Choose(32, 100)), (1, Gen.Choose(101, 200)))
        from alpha in Gen.Choose(50, 1000).Select(i => i / 1000.0)
        from sigma in Gen.Choose(0, 1000).Select(i => 0.2 * Math.Pow(100, i / 1000.0))
        from scale in Gen.Choose(0, 1000).Select(i => 0.1 * Math.Pow(100, i / 1000.0))
        from seed in Gen.Choose(0, int.MaxValue)
        select new Problem(n, m, d, alpha, sigma, scale, 0, seed)).ToArbitrary();

    /// <summary>
    /// A query's path and arithmetic depend on it alone, never on the other queries of its block (smoothing relies on this
    /// to give the same bits for any batch size): each query evaluated alone gets exactly the bits it gets in the batch.
    /// σ sits where the expansion bound E ≈ (D+8)u·4D/(2σ²) crosses its limit for queries of typical norm, so a batch
    /// mixes queries on the expansion path with queries on the direct path.
    /// </summary>
    [Property(MaxTest = 30)]
    public Property EachQuery_GetsTheSameBits_AloneOrInABatch() =>
        Prop.ForAll(BoundaryProblems, p =>
        {
            var (train, queries, _, _) = p.Build<float>();
            var model = new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, p.D));
            var batch = Outputs.Evaluate(model, queries, p.Level);
            for (int q = 0; q < p.M; q++)
            {
                var alone = Outputs.Evaluate(model, queries.AsSpan(q * p.D, p.D).ToArray(), p.Level);
                Assert.Equal(batch.LogDensity[q], alone.LogDensity[0]);
                Assert.Equal(batch.Divergence[q], alone.Divergence[0]);
                Assert.Equal(batch.Score.AsSpan(q * p.D, p.D).ToArray(), alone.Score);
            }
        });

    private static readonly Arbitrary<Problem> BoundaryProblems = (
        from n in Gen.Choose(2, 100)
        from m in Gen.Choose(8, 70)
        from d in Gen.Choose(32, 100)
        from sigma in Gen.Choose(0, 1000).Select(i => Math.Sqrt((d + 8) * Math.ScaleB(1, -24) * 4 * d / 8.0) * Math.Pow(2, i / 1000.0 - 0.5))
        from seed in Gen.Choose(0, int.MaxValue)
        select new Problem(n, m, d, 1.0, sigma, 1.0, 0, seed)).ToArbitrary();

    /// <summary>Each query is processed by one thread in one order, so the thread count cannot change a bit.</summary>
    [Property(MaxTest = 100)]
    public Property ThreadCount_DoesNotChangeAnyBit() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, _, _) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var one = Outputs.Evaluate(new EmpiricalScore<float>(set, new CpuBackend(1, 2)), queries, p.Level);
            var many = Outputs.Evaluate(new EmpiricalScore<float>(set, new CpuBackend(4, 2)), queries, p.Level);
            Assert.Equal(one.Score, many.Score);
            Assert.Equal(one.LogDensity, many.LogDensity);
            Assert.Equal(one.Divergence, many.Divergence);
        });
}
