using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Smoothing;

/// <summary>
/// Log-domain smoothing against the float64 reference, one suite for every backend: each derived class binds
/// <see cref="Backend"/> (as <see cref="ScoreProperties"/> does) and inherits every property. The fast path and the
/// reference evaluate the same perturbed queries (the same Philox draws, x + z rounded once to T; where the backend draws
/// on the device, the rows it drew), so the comparison is value for value and the tolerance is the fused kernel's
/// <see cref="ErrorBound"/> averaged over the K perturbed queries of a query, plus the float64 accumulation of at most K
/// values (K γ₃ max|v| in double, negligible but stated).
/// </summary>
public abstract class LogSmoothingProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    /// <summary>The backend of the small-batch property (by default <see cref="Backend"/>).</summary>
    protected virtual IScoreBackend SmallBatchBackend => Backend;

    /// <summary>
    /// The perturbed rows the backend evaluated, widened, where it draws them itself (on a device); null where it
    /// evaluates the host's <see cref="SmoothingCase.PerturbedQuery{T}"/>, which the reference then draws too.
    /// </summary>
    protected virtual Func<int, int, double[]>? RowsEvaluated<T>(SmoothingCase c) where T : unmanaged, IFloatingPointIeee754<T> => null;

    /// <param name="c">The case.</param>
    /// <param name="backend">The backend under test.</param>
    /// <param name="batchRows">Rows per batch (0: automatic).</param>
    /// <param name="rowOf">The perturbed row (q, draw) the backend evaluates, widened, when it makes its own (device
    /// draws); null: the host's <see cref="SmoothingCase.PerturbedQuery{T}"/>. The reference is evaluated at these rows.</param>
    internal static void MatchesReference<T>(SmoothingCase c, IScoreBackend backend, int batchRows, Func<int, int, double[]>? rowOf = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var p = c.Problem;
        var (train, queries, trainD, queriesD) = p.Build<T>();
        var kernel = c.Kernel();
        var draws = c.Plan;
        var model = new LogSmoothedScore<T>(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D), backend), kernel, draws, batchRows);
        int m = p.M, d = p.D;
        var (ld, s, div) = (new T[m], new T[m * d], new T[m]);
        model.Evaluate(queries, p.Level, new SmoothedOutputs<T> { LogDensity = ld, Score = s, Divergence = div });
        var reference = rowOf is null
            ? SmoothingReference.LogDomain<T>(trainD, d, queries, p.Level, kernel, draws)
            : ReferenceAt(trainD, d, m, draws, p.Level, rowOf);

        double u = ErrorBound.UnitRoundoff<T>();
        for (int q = 0; q < m; q++)
        {
            var x = queriesD.AsSpan(q * d, d);
            double bLd = 0, bS = 0, bDiv = 0;
            for (int k = 0; k < draws.Count; k++)
            {
                var b = ErrorBound.For(trainD, d, rowOf?.Invoke(q, k) ?? SmoothingCase.PerturbedQuery<T>(kernel, draws, x, q, k), p.Level, u);
                (bLd, bS, bDiv) = (bLd + b.LogDensity / draws.Count, bS + b.Score / draws.Count, bDiv + b.Divergence / draws.Count);
            }
            double accumulation = draws.Count * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble);
            string context = $"{typeof(T).Name} {c}";
            Expect.Within(double.CreateTruncating(ld[q]), reference.LogDensity[q], bLd + accumulation * Math.Abs(reference.LogDensity[q]), "smoothed log-density", q, context);
            Expect.Within(Problem.Widen(s).AsSpan(q * d, d), reference.Score.AsSpan(q * d, d), bS + accumulation * ErrorBound.Norm(reference.Score.AsSpan(q * d, d)), "smoothed score", q, context);
            Expect.Within(double.CreateTruncating(div[q]), reference.Divergence[q], bDiv + accumulation * Math.Abs(reference.Divergence[q]), "smoothed divergence", q, context);
        }
    }

    /// <summary>
    /// <see cref="SmoothingReference.LogDomain{T}"/>'s float64 means, at given perturbed rows: per query, per unit the
    /// (pair-averaged) row values, then the mean over units, as the reference folds them.
    /// </summary>
    internal static SmoothedEstimate ReferenceAt(double[] train, int d, int m, SmoothingDraws draws, NoiseLevel level, Func<int, int, double[]> rowOf)
    {
        var (ld, s, div) = (new double[m], new double[m * d], new double[m]);
        double share = 1.0 / draws.Count; // a pair's ½ times 1/units, or 1/K: every row weighs 1/K
        for (int q = 0; q < m; q++)
        {
            for (int k = 0; k < draws.Count; k++)
            {
                double[] row = rowOf(q, k);
                ld[q] += share * ScoreReference.LogDensity(train, d, row, level);
                div[q] += share * ScoreReference.Divergence(train, d, row, level);
                double[] score = ScoreReference.Score(train, d, row, level);
                for (int j = 0; j < d; j++) s[q * d + j] += share * score[j];
            }
        }
        return new SmoothedEstimate(ld, s, div, [], [], []);
    }

    [BackendProperty(MaxTest = 60)]
    public Property Float32_MatchesReference() =>
        Prop.ForAll(SmoothingCase.Arbitrary, c => MatchesReference<float>(c, Backend, 0, RowsEvaluated<float>(c)));

    [BackendProperty(MaxTest = 40)]
    public Property Float64_SmallBatches_MatchesReference() =>
        Prop.ForAll(SmoothingCase.Arbitrary, c => MatchesReference<double>(c, SmallBatchBackend, 6, RowsEvaluated<double>(c)));

    [BackendFact]
    public void DifferentSeed_GivesDifferentDraws()
    {
        var kernel = SmoothingKernel.Gaussian(0.5);
        var x = new double[] { 1, 2, 3 };
        var (a, b) = (new double[3], new double[3]);
        kernel.Draw(x, new SmoothingDraws(4, seed: 1), 0, 0, a);
        kernel.Draw(x, new SmoothingDraws(4, seed: 2), 0, 0, b);
        Assert.NotEqual(a, b);

        var train = new TrainingSet<float>(new float[] { 0, 0, 0, 1, 1, 1, 2, 0, 1 }, 3, 3);
        var queries = new float[] { 0.5f, 0.2f, 0.1f };
        var level = new NoiseLevel(1, 0.3);
        float[] s1 = new LogSmoothedScore<float>(new(train, Backend), kernel, new SmoothingDraws(8, 1)).Score(queries, level);
        float[] s2 = new LogSmoothedScore<float>(new(train, Backend), kernel, new SmoothingDraws(8, 2)).Score(queries, level);
        Assert.NotEqual(s1, s2);
    }

    /// <summary>Fixed draws make s_k a function of x alone: the same point gives the same bits wherever it sits in the batch.</summary>
    [BackendFact]
    public void FixedDraws_AreTheSameForEveryQuery_IndependentOnesAreNot()
    {
        var train = new TrainingSet<float>(new float[] { 0, 0, 1, 0, 0, 1, -1, 0.5f }, 4, 2);
        var level = new NoiseLevel(1, 0.2);
        var queries = new float[] { 0.3f, 0.4f, 0.3f, 0.4f, -0.2f, 0.1f, 0.3f, 0.4f };
        float[] Score(bool fixedDraws) =>
            new LogSmoothedScore<float>(new(train, Backend), SmoothingKernel.Gaussian(0.3), new SmoothingDraws(16, 7, fixedDraws: fixedDraws)).Score(queries, level);
        float[] fixedScores = Score(true), independent = Score(false);
        Assert.Equal(fixedScores.AsSpan(0, 2).ToArray(), fixedScores.AsSpan(2, 2).ToArray());
        Assert.Equal(fixedScores.AsSpan(0, 2).ToArray(), fixedScores.AsSpan(6, 2).ToArray());
        Assert.NotEqual(independent.AsSpan(0, 2).ToArray(), independent.AsSpan(2, 2).ToArray());
    }
}

/// <summary>The suite on the SIMD CPU backend, plus what only the CPU backend has: thread counts and tile sizes.</summary>
public sealed class CpuLogSmoothingProperties : LogSmoothingProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;

    /// <summary>Two worker threads, so the small batches are shared out between threads.</summary>
    protected override IScoreBackend SmallBatchBackend => new CpuBackend(2);

    /// <summary>
    /// Draws are keyed by (seed, query, draw) and folded per query in draw order: the thread count and the batch size
    /// (how the M·K perturbed queries are tiled into passes) change no bit; the training-set tile size is held fixed, as
    /// it changes the fused kernel's rounding.
    /// </summary>
    [Property(MaxTest = 40)]
    public Property SameSeed_IsBitIdenticalForAnyThreadCountAndBatch() =>
        Prop.ForAll(SmoothingCase.Arbitrary, c =>
        {
            var p = c.Problem;
            var (train, queries, _, _) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var kernel = c.Kernel();
            var plan = new SmoothingDraws(Math.Max(c.Draws, 4) & ~1, c.Seed, c.Antithetic, c.Fixed);
            (float[], float[], float[]) Run(int threads, int batch)
            {
                var model = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, new CpuBackend(threads, 2)), kernel, plan, batch);
                var (ld, s, se) = (new float[p.M], new float[p.M * p.D], new float[p.M * p.D]);
                model.Evaluate(queries, p.Level, new SmoothedOutputs<float> { LogDensity = ld, Score = s, ScoreError = se });
                return (ld, s, se);
            }
            var one = Run(1, 2);
            foreach (var (threads, batch) in new[] { (4, 0), (3, 10), (2, 1000) })
            {
                var other = Run(threads, batch);
                Assert.Equal(one.Item1, other.Item1);
                Assert.Equal(one.Item2, other.Item2);
                Assert.Equal(one.Item3, other.Item3);
            }
        });
}
