using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests.Smoothing;

/// <summary>
/// Density smoothing (KDE): normalisation, and the projector algebra against a dense-covariance reference; one suite for
/// every backend, each derived class binding <see cref="Backend"/> (isotropic kernels evaluate the empirical score there
/// at the inflated level; the projector path runs on the host in float64 whatever the backend).
/// </summary>
public abstract class KdeProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    /// <summary>
    /// ∫ p̂ * k = 1. Trapezoid rule on a grid of spacing Δ ≤ σ'/4 over [min − 12σ', max + 12σ'] (σ'² = σ² + h² or the
    /// largest variance of the covariance kernel): every Gaussian of the mixture has width ≥ σ ≥ 1.7Δ here, so the rule errs by about e^{−2π²σ²/Δ²} ≤ e^{−50} (Poisson summation) and the tails hold
    /// &lt; 10⁻³⁰, so the quadrature error is below 10⁻¹⁰. The computed density carries relative error e^{|Δℓ|} − 1 with
    /// |Δℓ| the log-density's rounding bound (<see cref="ErrorBound"/> at the smoothed level for isotropic kernels;
    /// u|ℓ| + 10⁻¹² for the float64 projector path rounded to T), so the integral may be off by at most that, weighted.
    /// </summary>
    private double Integral<T>(int d, SmoothingKernel kernel, double maxVariance, bool isotropic, out double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(d);
        int n = 5;
        var train = Enumerable.Range(0, n * d).Select(_ => T.CreateTruncating(Problem.Gaussian(rng))).ToArray();
        var trainD = Problem.Widen(train);
        var level = new NoiseLevel(0.8, 0.15);
        var kde = new KdeScore<T>(new EmpiricalScore<T>(new TrainingSet<T>(train, n, d), Backend), kernel);
        double spread = Math.Sqrt(level.Variance + maxVariance);
        double lo = trainD.Min() * level.Alpha - 12 * spread, hi = trainD.Max() * level.Alpha + 12 * spread;
        int steps = (int)Math.Ceiling((hi - lo) / (spread / 4));
        double dx = (hi - lo) / steps;
        int points = steps + 1;
        var grid = new T[(long)Math.Pow(points, d) * d is var len && len < int.MaxValue ? (int)len : throw new InvalidOperationException()];
        for (int i = 0; i < grid.Length / d; i++)
        {
            int rest = i;
            for (int j = 0; j < d; j++) { grid[i * d + j] = T.CreateTruncating(lo + dx * (rest % points)); rest /= points; }
        }
        T[] logDensity = kde.LogDensity(grid, level);
        var inflated = isotropic ? kde.IsotropicLevel(level)!.Value : level;
        double integral = 0;
        tolerance = 1e-10;
        double u = ErrorBound.UnitRoundoff<T>();
        for (int i = 0; i < logDensity.Length; i++)
        {
            double weight = Math.Pow(dx, d);
            for (int j = 0; j < d; j++)
            {
                int index = i / (int)Math.Pow(points, j) % points;
                if (index == 0 || index == points - 1) weight *= 0.5;
            }
            double l = double.CreateTruncating(logDensity[i]);
            double p = weight * Math.Exp(l);
            integral += p;
            double bound = isotropic
                ? ErrorBound.For(trainD, d, Problem.Widen(grid[(i * d)..(i * d + d)]), inflated, u).LogDensity
                : u * Math.Abs(l) + 1e-12;
            tolerance += p * (Math.Exp(bound) - 1);
        }
        return integral;
    }

    [BackendTheory]
    [InlineData(1, false)]
    [InlineData(1, true)]
    [InlineData(2, false)]
    [InlineData(2, true)]
    public void IsotropicKde_IntegratesToOne(int d, bool float64)
    {
        var kernel = SmoothingKernel.Gaussian(0.1);
        double integral, tolerance;
        integral = float64 ? Integral<double>(d, kernel, 0.01, true, out tolerance) : Integral<float>(d, kernel, 0.01, true, out tolerance);
        Assert.InRange(integral, 1 - tolerance, 1 + tolerance);
    }

    [BackendTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void CovarianceKde_IntegratesToOne_InTwoDimensions(bool float64)
    {
        var kernel = SmoothingKernel.Covariance([0.3, 0.1], 2); // rank 1: variance 0.1 along (3, 1)/√10, nothing across
        double integral, tolerance;
        integral = float64 ? Integral<double>(2, kernel, 0.1, false, out tolerance) : Integral<float>(2, kernel, 0.1, false, out tolerance);
        Assert.InRange(integral, 1 - tolerance, 1 + tolerance);
    }

    /// <summary>
    /// Anisotropic KDE against the dense reference within <see cref="KdeErrorBound"/> plus one rounding to T
    /// (u_T |value|). With <paramref name="shards"/> &gt; 1 the training set is cut at random points into that many parts
    /// (some empty), each accumulated into states (<see cref="KdeScore{T}.Accumulate"/>, <see cref="KdeStateBatch.Identity"/>
    /// for an empty part), merged in a random order and finished (<see cref="KdeScore{T}.Finish"/>): the bound holds for
    /// any split and order, so the sharded result must meet it too.
    /// </summary>
    private void AnisotropicMatchesDense<T>(Problem p, double tangentOverScale, double normalOverScale, int seed, int shards = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        int d = p.D, r = Math.Clamp(d - 1, 1, 3);
        var subspace = new FixedSubspace(d, r, seed);
        double hT = tangentOverScale * p.Scale, hN = normalOverScale * p.Scale;
        var kernel = SmoothingKernel.Anisotropic(subspace, hT, hN);
        var (ld, s, den) = (new T[p.M], new T[p.M * d], new T[p.M * d]);
        var outputs = new ScoreOutputs<T> { LogDensity = ld, Score = s, Denoiser = den };
        if (shards == 1)
            new KdeScore<T>(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, d), Backend), kernel).Evaluate(queries, p.Level, outputs);
        else
            KdeScore<T>.Finish(kernel, ShardedStates(train, p.N, d, queries, p.Level, kernel, shards, new Random(seed)), queries, outputs);

        double uT = ErrorBound.UnitRoundoff<T>();
        for (int q = 0; q < p.M; q++)
        {
            var x = queriesD.AsSpan(q * d, d);
            var b = KdeErrorBound.For(trainD, d, x, p.Level, FixedSubspace.DenseCovariance(subspace, x, hT, hN), r, shards);
            string context = $"{typeof(T).Name} {p} h_T={hT:G3} h_N={hN:G3} r={r} shards={shards}";
            Expect.Within(double.CreateTruncating(ld[q]), b.LogDensity, b.LogDensityBound + uT * Math.Abs(b.LogDensity), "KDE log-density", q, context);
            Expect.Within(Problem.Widen(s).AsSpan(q * d, d), b.Score, b.ScoreBound + uT * ErrorBound.Norm(b.Score), "KDE score", q, context);
            Expect.Within(Problem.Widen(den).AsSpan(q * d, d), b.Denoiser, b.DenoiserBound + uT * ErrorBound.Norm(b.Denoiser), "KDE denoiser", q, context);
        }
    }

    /// <summary>The training set cut at random points into <paramref name="shards"/> parts (empty ones allowed), accumulated and merged in a random order.</summary>
    private KdeStateBatch ShardedStates<T>(T[] train, int n, int d, T[] queries, NoiseLevel level, SmoothingKernel kernel, int shards, Random rng)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var cuts = Enumerable.Range(0, shards - 1).Select(_ => rng.Next(n + 1)).Append(0).Append(n).Order().ToArray();
        var parts = Enumerable.Range(0, shards).Select(i =>
        {
            int first = cuts[i], count = cuts[i + 1] - cuts[i];
            return count == 0
                ? KdeStateBatch.Identity(queries.Length / d, d, level)
                : new KdeScore<T>(new EmpiricalScore<T>(new TrainingSet<T>(train.AsSpan(first * d, count * d).ToArray(), count, d), Backend), kernel)
                    .Accumulate(queries, level);
        }).OrderBy(_ => rng.Next()).ToList();
        foreach (var part in parts.Skip(1)) parts[0].Merge(part);
        return parts[0];
    }

    [BackendProperty(MaxTest = 40)]
    public Property Anisotropic_Sharded_MergedInAnyOrder_MatchesDenseReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(2, 6).ToArbitrary(), (p, shards) =>
            AnisotropicMatchesDense<float>(p with { D = Math.Clamp(p.D, 2, 40), M = Math.Min(p.M, 16) }, 0.7, 0.2, p.Seed, shards));

    private static readonly Gen<double> ScaleRatio = Gen.Choose(0, 1_000_000).Select(i => 1e-2 * Math.Pow(1e3, i / 1e6));

    [BackendProperty(MaxTest = 60)]
    public Property Anisotropic_Float32_MatchesDenseReference() =>
        Prop.ForAll(Problem.Arbitrary, ScaleRatio.ToArbitrary(), Gen.Frequency((1, Gen.Constant(0.0)), (3, ScaleRatio)).ToArbitrary(), (p, t, n) =>
            AnisotropicMatchesDense<float>(p with { D = Math.Clamp(p.D, 2, 40), M = Math.Min(p.M, 16) }, t, n, p.Seed));

    [BackendProperty(MaxTest = 40)]
    public Property Anisotropic_Float64_MatchesDenseReference() =>
        Prop.ForAll(Problem.Arbitrary, ScaleRatio.ToArbitrary(), Gen.Frequency((1, Gen.Constant(0.0)), (3, ScaleRatio)).ToArbitrary(), (p, t, n) =>
            AnisotropicMatchesDense<double>(p with { D = Math.Clamp(p.D, 2, 40), M = Math.Min(p.M, 16) }, t, n, p.Seed));

    [BackendFact]
    public void BallKernel_HasNoClosedFormKde()
    {
        var model = new EmpiricalScore<float>(new TrainingSet<float>(new float[] { 0, 1 }, 1, 2), Backend);
        var ex = Assert.Throws<ArgumentException>(() => new KdeScore<float>(model, SmoothingKernel.Ball(1)));
        Assert.Equal("kernel", ex.ParamName);
        Assert.Contains("LogSmoothedScore", ex.Message);
    }
}

/// <summary>The KDE suite on the SIMD CPU backend.</summary>
public sealed class CpuKdeProperties : KdeProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
