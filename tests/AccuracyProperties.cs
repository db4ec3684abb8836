using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The regimes where a formula that cancels loses every digit, on every backend: queries many σ from every training point,
/// tiny α (the Ornstein–Uhlenbeck schedule late in the forward process), a single training point (the denoiser is that
/// point to the last bit) and σ from 1e−4 to beyond the square root of the type's range. Every tolerance is
/// <see cref="ErrorBound"/>, the conditioning of the mixture; none depends on how the backend arranges its formulas.
/// </summary>
public abstract class AccuracyProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private Outputs Evaluate<T>(T[] train, int n, int d, T[] queries, NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T> =>
        Outputs.Evaluate(new EmpiricalScore<T>(new TrainingSet<T>(train, n, d), Backend), queries, level);

    /// <summary>Queries x = α y_j + σ F u with u a random unit vector and F from 10³ to 10⁶: the nearest point is F σ away.</summary>
    private static T[] FarQueries<T>(Problem p, T[] train, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var queries = new T[p.M * p.D];
        for (int q = 0; q < p.M; q++)
        {
            int j = rng.Next(p.N);
            var u = Enumerable.Range(0, p.D).Select(_ => Problem.Gaussian(rng)).ToArray();
            double norm = Math.Sqrt(u.Sum(v => v * v)), far = Math.Pow(10, 3 + 3 * rng.NextDouble());
            for (int k = 0; k < p.D; k++)
                queries[q * p.D + k] = T.CreateChecked(p.Alpha * double.CreateChecked(train[j * p.D + k]) + p.Sigma * far * u[k] / norm);
        }
        return queries;
    }

    private void FarQueriesMatchReference<T>(Problem p, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, _, trainD, _) = p.Build<T>();
        var queries = FarQueries(p, train, seed);
        var actual = Evaluate(train, p.N, p.D, queries, p.Level);
        Expect.AgainstReference(actual, trainD, p.D, Problem.Widen(queries), p.Level, ErrorBound.UnitRoundoff<T>(), $"{typeof(T).Name} {Backend.Name} far: {p}");
    }

    [BackendProperty(MaxTest = 60)]
    public Property FarQueries_Float32_MatchReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, int.MaxValue).ToArbitrary(), (p, seed) => FarQueriesMatchReference<float>(p, seed));

    [BackendProperty(MaxTest = 40)]
    public Property FarQueries_Float64_MatchReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, int.MaxValue).ToArbitrary(), (p, seed) => FarQueriesMatchReference<double>(p, seed));

    /// <summary>The Ornstein–Uhlenbeck schedule at t from 5 to 20: α from 7e−3 down to 2e−9, σ ≈ 1.</summary>
    private static readonly Arbitrary<(Problem Problem, double Time)> LateOrnsteinUhlenbeck = (
        from p in Problem.Arbitrary.Generator
        from t in Gen.Choose(0, 1000).Select(i => 5 + 15 * i / 1000.0)
        let level = NoiseSchedule.OrnsteinUhlenbeck.At(t)
        select (p with { Alpha = level.Alpha, SigmaOverScale = level.Sigma / p.Scale }, t)).ToArbitrary();

    private void TinyAlphaMatchesReference<T>(Problem p, double t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        var actual = Evaluate(train, p.N, p.D, queries, p.Level);
        Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoff<T>(), $"{typeof(T).Name} {Backend.Name} OU t = {t:G4}: {p}");
    }

    [BackendProperty(MaxTest = 60)]
    public Property TinyAlpha_Float32_MatchesReference() =>
        Prop.ForAll(LateOrnsteinUhlenbeck, c => TinyAlphaMatchesReference<float>(c.Problem, c.Time));

    [BackendProperty(MaxTest = 40)]
    public Property TinyAlpha_Float64_MatchesReference() =>
        Prop.ForAll(LateOrnsteinUhlenbeck, c => TinyAlphaMatchesReference<double>(c.Problem, c.Time));

    /// <summary>
    /// With one training point the posterior is that point whatever x and the level: the denoiser returns it to the last
    /// bit (its weight is e⁰ = 1 exactly, so no rounding can enter), and the divergence is −D/σ² up to its own rounding.
    /// Queries near it, far from it, and at tiny α.
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property SinglePoint_DenoiserIsThePoint_ToTheLastBit() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, int.MaxValue).ToArbitrary(), Gen.Choose(0, 2).ToArbitrary(), (p0, seed, regime) =>
        {
            var level = regime == 2 ? NoiseSchedule.OrnsteinUhlenbeck.At(5 + 15 * (seed % 1000) / 1000.0) : p0.Level;
            var p = p0 with { N = 1, Alpha = level.Alpha, SigmaOverScale = level.Sigma / p0.Scale };
            Check<float>(p, regime, seed);
            Check<double>(p, regime, seed);
        });

    private void Check<T>(Problem p, int regime, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, near, _, _) = p.Build<T>();
        var queries = regime == 1 ? FarQueries(p, train, seed) : near;
        var actual = Evaluate(train, 1, p.D, queries, p.Level);
        double u = ErrorBound.UnitRoundoff<T>(), expected = -p.D / (p.Sigma * p.Sigma);
        for (int q = 0; q < p.M; q++)
        {
            for (int k = 0; k < p.D; k++)
                Assert.True(actual.Denoiser[q * p.D + k] == double.CreateChecked(train[k]),
                    $"{typeof(T).Name} {Backend.Name}: denoiser[{q}, {k}] = {actual.Denoiser[q * p.D + k]:R}, the point is {train[k]:R}; {p}");
            Expect.Within(actual.Divergence[q], expected, 4 * u * Math.Abs(expected), "divergence", q, $"{typeof(T).Name} {Backend.Name} {p}");
        }
    }

    /// <summary>σ log-uniform from 1e−4 to 1e300 (float32: to 1e30), queries at the data's scale: σ² overflows double from
    /// 1.3e154 (float from 1.8e19) while every output stays finite and computable from logs of scales.</summary>
    [BackendProperty(MaxTest = 60)]
    public Property SigmaFromTinyToBeyondTheSquareRootOfTheRange_MatchesReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1_000_000).ToArbitrary(), (p0, i) =>
        {
            var p = p0 with { Scale = 1, OffsetOverScale = 0 };
            double sigma64 = 1e-4 * Math.Pow(1e304, i / 1e6), sigma32 = 1e-4 * Math.Pow(1e34, i / 1e6);
            Near<double>(p, new NoiseLevel(p.Alpha, sigma64));
            Near<float>(p, new NoiseLevel(p.Alpha, sigma32));
        });

    private void Near<T>(Problem p, NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // queries from the σ = 1 problem: at the data's scale whatever the level
        var (train, queries, trainD, queriesD) = (p with { SigmaOverScale = 1 }).Build<T>();
        var actual = Evaluate(train, p.N, p.D, queries, level);
        Expect.AgainstReference(actual, trainD, p.D, queriesD, level, ErrorBound.UnitRoundoff<T>(), $"{typeof(T).Name} {Backend.Name} sigma = {level.Sigma:G4}: {p}");
    }

    /// <summary>
    /// A query 2.9 from the nearer of two points at σ = 1e−4 (2.9e4 σ): the divergence is −D/σ² = −3e8 exactly up to
    /// rounding (the farther point's weight is e^{−1e8}). A second moment about the query less the squared mean gave
    /// −2.28e8 in float32.
    /// </summary>
    [BackendFact]
    public void Divergence_FarFromTwoPoints_IsMinusDOverSigmaSquared()
    {
        float[] train = [0.1f, 0.7f, -0.4f, 1.3f, 0.2f, 0.9f];
        float[] x = [2.3f, -1.9f, 0.8f];
        var level = new NoiseLevel(1, 1e-4);
        var actual = Evaluate(train, 2, 3, x, level);
        double reference = ScoreReference.Divergence(Problem.Widen(train), 3, Problem.Widen(x), level);
        Assert.Equal(-3e8, reference, 1e-6 * 3e8);
        Expect.AgainstReference(actual, Problem.Widen(train), 3, Problem.Widen(x), level, ErrorBound.UnitRoundoffSingle, Backend.Name);
    }

    /// <summary>One training point y = 1 and x = 0.5 on the OU schedule at t = 12 (α = 6e−6): the denoiser is exactly 1.</summary>
    [BackendFact]
    public void Denoiser_OneTrainingPoint_AtTinyAlpha_IsThePoint()
    {
        var level = NoiseSchedule.OrnsteinUhlenbeck.At(12);
        var f = Evaluate(new[] { 1f }, 1, 1, new[] { 0.5f }, level);
        var d = Evaluate(new[] { 1.0 }, 1, 1, new[] { 0.5 }, level);
        Assert.Equal(1.0, f.Denoiser[0]);
        Assert.Equal(1.0, d.Denoiser[0]);
    }
}

/// <summary>The accuracy suite on the CPU backend.</summary>
public sealed class CpuAccuracyProperties : AccuracyProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
