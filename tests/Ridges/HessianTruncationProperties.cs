using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// The factor's truncation of its lightest points (<see cref="Hessian.Factor{T}"/>: the points within c + ln 2 of the
/// largest logit, less the lightest while the dropped mass stays within N e^{−c}) against the float64 reference weights
/// over every point, float32 and float64 inputs, every backend (the CPU backend's screen must reach c + ln 2).
/// <para>
/// The bound. Both paths compute the logits in double from the same stored values, each within δ_i = γ_{D+6}|u_i| + 8u of
/// the exact one (<see cref="HessianProperties"/>), so a ratio of two weights moves by at most e^{2δ} and the relative
/// mass of any set of points by at most e^{4δ} (δ the largest δ_i over the points within 40 nats of the largest; the
/// points past 40 nats weigh at most N e^{−40+4δ} of the total together, counted as N e^{−39}), and the reference's
/// own sums add γ_{N+2}. So where the factor leaves out a relative mass ≤ B = <see cref="HessianFactor.DroppedMassBound"/>
/// of its own weights, the reference finds ≤ e^{4δ}(1 + γ_{N+2}) B + N e^{−39}. The factor's
/// <see cref="HessianFactor.DroppedMass"/>, 1 − kept/total in double, carries γ_{N+2} of rounding besides.
/// </para>
/// </summary>
public abstract class HessianTruncationProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private const double U = ErrorBound.UnitRoundoffDouble;

    private static double LogitError(double[] logits, int d) => HessianProperties.LogitError(logits, d);

    /// <summary>
    /// The reference weight of the points not in <paramref name="kept"/> over every point's: the left-out weights summed
    /// by themselves (not the total less the kept, which would cancel), so the quotient carries only γ_{N+2}.
    /// </summary>
    private static double LeftOut(double[] logits, ReadOnlySpan<int> kept)
    {
        double max = logits.Max(), total = 0, left = 0;
        var keptSet = kept.ToArray().ToHashSet();
        for (int i = 0; i < logits.Length; i++)
        {
            double w = Math.Exp(logits[i] - max);
            total += w;
            if (!keptSet.Contains(i)) left += w;
        }
        return left / total;
    }

    private HessianFactor[] Factors<T>(Problem p, out double[] trainD, out double[] queriesD) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, tD, qD) = p.Build<T>();
        trainD = tD;
        queriesD = qD;
        return Hessian.Factor(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, p.D), Backend), queries, p.Level);
    }

    /// <summary>
    /// An uncapped factor leaves out at most <see cref="HessianFactor.DroppedMassBound"/> of the whole set's weight, by the
    /// reference weights over every point, and reports a <see cref="HessianFactor.DroppedMass"/> within it.
    /// </summary>
    private void DroppedMassWithinTheBound<T>(Problem p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var factors = Factors<T>(p, out var trainD, out var queriesD);
        for (int q = 0; q < p.M; q++)
        {
            var f = factors[q];
            string context = $"{typeof(T).Name} {Backend.Name} query {q}: rank {f.Rank}, {f.Indices.Length} kept; {p}";
            Assert.Equal(Math.Min(1, p.N * Math.Exp(-ScorePartials.NegligibleLogit<T>(p.N))), f.DroppedMassBound);
            if (f.Capped) continue; // the cap's own loss is outside the bound, and said so
            double[] logits = ScoreReference.Logits(trainD, p.D, queriesD.AsSpan(q * p.D, p.D), p.Level);
            double gamma = ErrorBound.Gamma(p.N + 2, U);
            double allowed = Math.Exp(4 * LogitError(logits, p.D)) * (1 + gamma) * f.DroppedMassBound + p.N * Math.Exp(-39);
            double dropped = LeftOut(logits, f.Indices);
            Assert.True(dropped <= allowed, $"reference dropped mass {dropped:G6} > {allowed:G6}; {context}");
            Assert.InRange(f.DroppedMass, 0, f.DroppedMassBound + gamma);
        }
    }

    /// <summary>(i) The dropped mass is within the documented bound, float32 inputs.</summary>
    [BackendProperty(MaxTest = 80)]
    public Property Float32_DroppedMass_WithinTheBound() => Prop.ForAll(Problem.Arbitrary, DroppedMassWithinTheBound<float>);

    /// <summary>(i) The dropped mass is within the documented bound, float64 inputs.</summary>
    [BackendProperty(MaxTest = 60)]
    public Property Float64_DroppedMass_WithinTheBound() => Prop.ForAll(Problem.Arbitrary, DroppedMassWithinTheBound<double>);

    /// <summary>
    /// (ii) Only the lightest are left out: every point the factor leaves out is no heavier than any it keeps (by the
    /// reference logits, within 2δ of the class summary: the two paths may order points closer than that differently).
    /// </summary>
    private void OnlyTheLightestLeftOut<T>(Problem p) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var factors = Factors<T>(p, out var trainD, out var queriesD);
        for (int q = 0; q < p.M; q++)
        {
            var f = factors[q];
            double[] logits = ScoreReference.Logits(trainD, p.D, queriesD.AsSpan(q * p.D, p.D), p.Level);
            var keptSet = f.Indices.ToArray().ToHashSet();
            double lightestKept = f.Indices.ToArray().Min(i => logits[i]);
            double slack = 2 * LogitError(logits, p.D);
            for (int i = 0; i < p.N; i++)
                if (!keptSet.Contains(i))
                    Assert.True(logits[i] <= lightestKept + slack,
                        $"{typeof(T).Name} {Backend.Name} query {q}: point {i} left out at logit {logits[i]:R}, above the lightest kept {lightestKept:R} (+{slack:G3}); {p}");
            // the factor's own order: weights non-increasing, so its kept set is a prefix of its ranking
            for (int j = 1; j < f.Indices.Length; j++) Assert.True(f.Weights[j] <= f.Weights[j - 1]);
        }
    }

    [BackendProperty(MaxTest = 60)]
    public Property Float32_OnlyTheLightest_AreLeftOut() => Prop.ForAll(Problem.Arbitrary, OnlyTheLightestLeftOut<float>);

    [BackendProperty(MaxTest = 40)]
    public Property Float64_OnlyTheLightest_AreLeftOut() => Prop.ForAll(Problem.Arbitrary, OnlyTheLightestLeftOut<double>);

    /// <summary>
    /// One heavy point at the query and N − 1 light ones, each one nat inside the cut-off c (weight e^{1−c}): the rule's
    /// budget for the lightest is at least N e^{−c}/2 (the class summary of <see cref="Hessian"/>'s rule), which covers
    /// ⌊N/(2e)⌋ of them, so at N = 60 the factor keeps fewer points than lie within the cut-off, and the mass it leaves
    /// out is still within the bound by the reference weights.
    /// </summary>
    [BackendFact]
    public void ManyLightPoints_AreLeftOut_WithinTheBound()
    {
        const int n = 60, d = 3;
        var level = new NoiseLevel(1, 1);
        double cut = ScorePartials.NegligibleLogit<double>(n);
        // ‖y‖²/2 = c − 1: each light point on a sphere about the query at 0, spread over directions
        double radius = Math.Sqrt(2 * (cut - 1));
        var train = new double[n * d];
        for (int i = 1; i < n; i++)
        {
            double t = 2 * Math.PI * i / n, z = Math.Cos(Math.PI * i / n), r = Math.Sqrt(1 - z * z);
            train[i * d] = radius * r * Math.Cos(t);
            train[i * d + 1] = radius * r * Math.Sin(t);
            train[i * d + 2] = radius * z;
        }
        var x = new double[d];
        var f = Hessian.Factor(new EmpiricalScore<double>(new TrainingSet<double>(train, n, d), Backend), x, level)[0];
        double[] logits = ScoreReference.Logits(train, d, x, level);
        int within = logits.Count(u => u >= logits.Max() - cut);
        Assert.Equal(n, within);
        Assert.False(f.Capped);
        Assert.True(f.Indices.Length < within, $"kept {f.Indices.Length} of the {within} within the cut-off");
        Assert.Equal(0, f.Indices[0]);
        double allowed = Math.Exp(4 * LogitError(logits, d)) * (1 + ErrorBound.Gamma(n + 2, U)) * f.DroppedMassBound + n * Math.Exp(-39);
        double dropped = LeftOut(logits, f.Indices);
        Assert.True(dropped > 0 && dropped <= allowed, $"dropped {dropped:G6}, bound {allowed:G6}");
    }
}

/// <summary>The truncation suite on the SIMD CPU backend (its screen reaches c + ln 2 at float32 D ≥ 32).</summary>
public sealed class CpuHessianTruncationProperties : HessianTruncationProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
