using Kernels.Numerics;
using Kernels.Numerics.Reference;
using MathNet.Numerics.LinearAlgebra;

namespace Kernels.Tests.Support;

/// <summary>
/// The float64 projector path of KDE with a per-query covariance against the dense reference (Cholesky of σ² I + Σ_k).
/// Error analysis, float64 paths (u_d) with condition number κ = λ_max/λ_min of Σ: the projector path forms
/// d = fma(α, y, −x) (one rounding), the normal part after r axpys and dots over D terms, so each quadratic form dᵀΣ⁻¹d
/// errs by ≤ γ_{2D+2r+8} κ dᵀΣ⁻¹d; the Cholesky reference by ≤ γ_{4D} κ dᵀΣ⁻¹d. Non-negligible weights have
/// dᵀΣ⁻¹d ≤ 2|u*| + 80, so every logit errs by η = (γ_{2D+2r+8} + γ_{4D}) κ (|u*| + 40); states accumulated over
/// <c>shards</c> parts and merged multiply each weight by at most that many rescale factors e^{Δ} (each one rounding
/// of exp and one product), which adds γ_{2(shards + 1)} to η; the normalised weights then err by 2η. Log-density
/// ≤ 3η + γ_{D+2} |log det 2πΣ|; score ≤ 2η √(E_w‖Σ⁻¹d‖²) + γ_{2D+2r} κ ‖s‖; denoiser (Σ w y / Σ w, summed directly)
/// ≤ (2η + γ_{N+D}) √(E_w‖y‖²). Each doubled for second-order terms. These bound the worst case over every order of
/// the sums, so they hold for any split into shards and any merge order.
/// </summary>
public static class KdeErrorBound
{
    /// <summary>The reference values at x and the float64 bounds of the computed ones.</summary>
    public static (double LogDensity, double[] Score, double[] Denoiser, double LogDensityBound, double ScoreBound, double DenoiserBound) For(
        double[] trainD, int d, ReadOnlySpan<double> x, NoiseLevel level, double[] kernelCovariance, int tangentRank, int shards = 1)
    {
        int n = trainD.Length / d;
        var query = x.ToArray();
        var (refLd, refS, refDen) = SmoothingReference.Kde(trainD, d, x, level, kernelCovariance);
        var sigma = Matrix<double>.Build.Dense(d, d, (i, j) => kernelCovariance[i * d + j] + (i == j ? level.Variance : 0));
        var eigen = sigma.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Select(e => e.Real).ToArray();
        double kappa = eigen.Max() / eigen.Min();
        var inverse = sigma.Inverse();
        var logits = new double[n];
        var inverseNorms = new double[n];
        for (int i = 0; i < n; i++)
        {
            var diff = Vector<double>.Build.Dense(d, j => Math.FusedMultiplyAdd(level.Alpha, trainD[i * d + j], -query[j]));
            var solved = inverse * diff;
            logits[i] = -0.5 * diff.DotProduct(solved);
            inverseNorms[i] = solved.DotProduct(solved);
        }
        double uMax = logits.Max(), sum = logits.Sum(l => Math.Exp(l - uMax));
        double inverseMoment = 0, pointMoment = 0;
        for (int i = 0; i < n; i++)
        {
            double w = Math.Exp(logits[i] - uMax) / sum;
            inverseMoment += w * inverseNorms[i];
            for (int j = 0; j < d; j++) pointMoment += w * trainD[i * d + j] * trainD[i * d + j];
        }
        double ud = ErrorBound.UnitRoundoffDouble, r = tangentRank;
        double eta = (ErrorBound.Gamma(2 * d + 2 * tangentRank + 8, ud) + ErrorBound.Gamma(4 * d, ud) + ErrorBound.Gamma(2 * (shards + 1), ud))
                     * kappa * (Math.Abs(uMax) + 40);
        double logDet = Math.Abs(d * Math.Log(2 * Math.PI) + sigma.Cholesky().DeterminantLn);
        return (refLd, refS, refDen,
            2 * (3 * eta + ErrorBound.Gamma(d + 2, ud) * logDet),
            2 * (2 * eta * Math.Sqrt(inverseMoment) + ErrorBound.Gamma(2 * d + 2 * (int)r, ud) * kappa * ErrorBound.Norm(refS)),
            2 * (2 * eta * Math.Sqrt(pointMoment) + ErrorBound.Gamma(n + d, ud) * Math.Sqrt(pointMoment)));
    }
}
