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
    /// Anisotropic KDE against the dense reference (Cholesky of σ² I + h_T² P_T + h_N² P_N). Error analysis, float64 paths
    /// (u_d) with condition number κ = λ_max/λ_min of Σ: the projector path forms d = fma(α, y, −x) (one rounding), the
    /// normal part after r axpys and dots over D terms, so each quadratic form dᵀΣ⁻¹d errs by ≤ γ_{2D+2r+8} κ dᵀΣ⁻¹d; the
    /// Cholesky reference by ≤ γ_{4D} κ dᵀΣ⁻¹d. Non-negligible weights have dᵀΣ⁻¹d ≤ 2|u*| + 80, so every logit errs by
    /// η = (γ_{2D+2r+8} + γ_{4D}) κ (|u*| + 40) and the normalised weights by 2η: log-density ≤ 3η + log-det terms
    /// (γ_{D} |log det|); score ≤ 2η √(E_w‖Σ⁻¹d‖²) + γ_{2D+2r} κ ‖s‖; denoiser (Σ w y / Σ w, summed directly) ≤ (2η + γ_{N+D}) √(E_w‖y‖²). Each doubled for
    /// second-order terms, plus one rounding to T (u_T |value|).
    /// </summary>
    private void AnisotropicMatchesDense<T>(Problem p, double tangentOverScale, double normalOverScale, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (train, queries, trainD, queriesD) = p.Build<T>();
        int d = p.D, r = Math.Clamp(d - 1, 1, 3);
        var subspace = new FixedSubspace(d, r, seed);
        double hT = tangentOverScale * p.Scale, hN = normalOverScale * p.Scale;
        var kde = new KdeScore<T>(new EmpiricalScore<T>(new TrainingSet<T>(train, p.N, d), Backend), SmoothingKernel.Anisotropic(subspace, hT, hN));
        var (ld, s, den) = (new T[p.M], new T[p.M * d], new T[p.M * d]);
        kde.Evaluate(queries, p.Level, new ScoreOutputs<T> { LogDensity = ld, Score = s, Denoiser = den });

        double ud = ErrorBound.UnitRoundoffDouble, uT = ErrorBound.UnitRoundoff<T>();
        double vT = p.Level.Variance + hT * hT, vN = p.Level.Variance + hN * hN;
        double kappa = Math.Max(vT, vN) / Math.Min(vT, vN);
        for (int q = 0; q < p.M; q++)
        {
            var x = queriesD.AsSpan(q * d, d);
            var covariance = FixedSubspace.DenseCovariance(subspace, x, hT, hN);
            var (refLd, refS, refDen) = SmoothingReference.Kde(trainD, d, x, p.Level, covariance);

            // Facts of the reference: u*, E_w‖Σ⁻¹d‖², E_w‖y‖².
            var sigma = Matrix<double>.Build.Dense(d, d, (i, j) => covariance[i * d + j] + (i == j ? p.Level.Variance : 0));
            var inverse = sigma.Inverse();
            var logits = new double[p.N];
            var inverseNorms = new double[p.N];
            for (int i = 0; i < p.N; i++)
            {
                var diff = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(d, j => Math.FusedMultiplyAdd(p.Alpha, trainD[i * d + j], -queriesD[q * d + j]));
                var solved = inverse * diff;
                logits[i] = -0.5 * diff.DotProduct(solved);
                inverseNorms[i] = solved.DotProduct(solved);
            }
            double uMax = logits.Max(), sum = logits.Sum(l => Math.Exp(l - uMax));
            double inverseMoment = 0, pointMoment = 0;
            for (int i = 0; i < p.N; i++)
            {
                double w = Math.Exp(logits[i] - uMax) / sum;
                inverseMoment += w * inverseNorms[i];
                for (int j = 0; j < d; j++) pointMoment += w * trainD[i * d + j] * trainD[i * d + j];
            }
            double eta = (ErrorBound.Gamma(2 * d + 2 * r + 8, ud) + ErrorBound.Gamma(4 * d, ud)) * kappa * (Math.Abs(uMax) + 40);
            double logDet = Math.Abs(d * Math.Log(2 * Math.PI) + sigma.Cholesky().DeterminantLn);
            string context = $"{typeof(T).Name} {p} h_T={hT:G3} h_N={hN:G3} r={r}";
            Expect.Within(double.CreateTruncating(ld[q]), refLd,
                2 * (3 * eta + ErrorBound.Gamma(d + 2, ud) * logDet) + uT * Math.Abs(refLd), "KDE log-density", q, context);
            Expect.Within(Problem.Widen(s).AsSpan(q * d, d), refS,
                2 * (2 * eta * Math.Sqrt(inverseMoment) + ErrorBound.Gamma(2 * d + 2 * r, ud) * kappa * ErrorBound.Norm(refS)) + uT * ErrorBound.Norm(refS),
                "KDE score", q, context);
            Expect.Within(Problem.Widen(den).AsSpan(q * d, d), refDen,
                2 * (2 * eta * Math.Sqrt(pointMoment) + ErrorBound.Gamma(p.N + d, ud) * Math.Sqrt(pointMoment)) + uT * ErrorBound.Norm(refDen),
                "KDE denoiser", q, context);
        }
    }

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
