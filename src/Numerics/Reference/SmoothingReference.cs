using System.Numerics;
using Kernels.Numerics.Smoothing;
using MathNet.Numerics.LinearAlgebra;
using Vec = MathNet.Numerics.LinearAlgebra.Vector<double>;

namespace Kernels.Numerics.Reference;

/// <summary>Per-query estimates of a log-domain smoothing and their standard errors, in float64.</summary>
/// <param name="LogDensity">ℓ_k per query (M).</param>
/// <param name="Score">s_k per query (M×D).</param>
/// <param name="Divergence">E_z[div s(x + z)] per query (M).</param>
/// <param name="LogDensityError">Standard error of ℓ_k (M).</param>
/// <param name="ScoreError">Standard error of each component of s_k (M×D).</param>
/// <param name="DivergenceError">Standard error of the divergence (M).</param>
public sealed record SmoothedEstimate(
    double[] LogDensity, double[] Score, double[] Divergence, double[] LogDensityError, double[] ScoreError, double[] DivergenceError);

/// <summary>
/// The float64 reference of the smoothing family (DESIGN.md §3), plain loops and two-pass statistics:
/// <list type="bullet">
/// <item>log-domain smoothing evaluates <see cref="ScoreReference"/> at the same perturbed queries as the fast path
///   (the same draws, the same rounding of x + z to T) and averages per unit;</item>
/// <item>density smoothing forms the dense D×D covariance σ² I + Σ_k and uses a Cholesky factor: the textbook
///   Gaussian mixture that the projector algebra of <see cref="KdeScore{T}"/> must reproduce.</item>
/// </list>
/// </summary>
public static class SmoothingReference
{
    /// <summary>The log-domain smoothing estimate of M queries, evaluating the perturbed queries as precision T rounds them.</summary>
    /// <param name="train">N×D training set.</param>
    /// <param name="dimension">D.</param>
    /// <param name="queries">M×D queries (values of T).</param>
    /// <param name="level">The noise level.</param>
    /// <param name="kernel">The kernel.</param>
    /// <param name="draws">The draws (the same as the fast path's for a value-for-value comparison).</param>
    public static SmoothedEstimate LogDomain<T>(double[] train, int dimension, ReadOnlySpan<T> queries, NoiseLevel level, SmoothingKernel kernel, SmoothingDraws draws)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = dimension, m = queries.Length / d, units = draws.Units, k = draws.Count;
        var ld = new double[m * units];
        var s = new double[m * units * d];
        var div = new double[m * units];
        var frame = new double[kernel.FrameLength(d)];
        var xi = new double[kernel.NormalCount(d)];
        var z = new double[d];
        var x = new double[d];
        var perturbed = new double[d];
        for (int q = 0; q < m; q++)
        {
            for (int j = 0; j < d; j++) x[j] = double.CreateTruncating(queries[q * d + j]);
            int rank = kernel.PrepareFrame(x, frame);
            for (int draw = 0; draw < k; draw++)
            {
                kernel.Perturb(frame, rank, draws, q, draw, xi, z);
                for (int j = 0; j < d; j++) perturbed[j] = double.CreateTruncating(T.CreateTruncating(x[j] + z[j]));
                int unit = q * units + (draws.Antithetic ? draw / 2 : draw);
                double share = draws.Antithetic ? 0.5 : 1;
                ld[unit] += share * ScoreReference.LogDensity(train, d, perturbed, level);
                div[unit] += share * ScoreReference.Divergence(train, d, perturbed, level);
                double[] score = ScoreReference.Score(train, d, perturbed, level);
                for (int j = 0; j < d; j++) s[unit * d + j] += share * score[j];
            }
        }
        var (ldMean, ldError) = MeanAndError(ld, m, units, 1);
        var (sMean, sError) = MeanAndError(s, m, units, d);
        var (divMean, divError) = MeanAndError(div, m, units, 1);
        return new SmoothedEstimate(ldMean, sMean, divMean, ldError, sError, divError);
    }

    /// <summary>
    /// Log-density, score and denoiser of the Gaussian mixture (1/N) Σ_i N(x; α y_i, σ² I + C) at one query, with the
    /// kernel covariance C given densely (D×D): Cholesky of the full covariance, two-pass log-sum-exp.
    /// </summary>
    /// <param name="train">N×D training set.</param>
    /// <param name="dimension">D.</param>
    /// <param name="x">The query (D).</param>
    /// <param name="level">The noise level.</param>
    /// <param name="kernelCovariance">C, D×D row-major, symmetric positive semi-definite.</param>
    public static (double LogDensity, double[] Score, double[] Denoiser) Kde(
        double[] train, int dimension, ReadOnlySpan<double> x, NoiseLevel level, double[] kernelCovariance)
    {
        int d = dimension, n = train.Length / d;
        var sigma = Matrix<double>.Build.Dense(d, d, (i, j) => kernelCovariance[i * d + j] + (i == j ? level.Variance : 0));
        var cholesky = sigma.Cholesky();
        double logDet = cholesky.DeterminantLn;
        double[] query = x.ToArray();
        var logits = new double[n];
        var differences = new Vec[n];
        for (int i = 0; i < n; i++)
        {
            // α y − x with one rounding: a rounded α y would cancel against x when σ ≪ ‖x‖
            var diff = Vec.Build.Dense(d, j => Math.FusedMultiplyAdd(level.Alpha, train[i * d + j], -query[j]));
            differences[i] = diff;
            logits[i] = -0.5 * diff.DotProduct(cholesky.Solve(diff));
        }
        double max = logits.Max(), sum = 0;
        var mean = Vec.Build.Dense(d);
        var denoiser = new double[d];
        for (int i = 0; i < n; i++)
        {
            double w = Math.Exp(logits[i] - max);
            sum += w;
            mean += w * differences[i];
            for (int j = 0; j < d; j++) denoiser[j] += w * train[i * d + j];
        }
        mean /= sum;
        for (int j = 0; j < d; j++) denoiser[j] /= sum;
        double logDensity = max + Math.Log(sum) - Math.Log(n) - 0.5 * (d * Math.Log(2 * Math.PI) + logDet);
        return (logDensity, cholesky.Solve(mean).ToArray(), denoiser);
    }

    private static (double[] Mean, double[] Error) MeanAndError(double[] values, int m, int units, int width)
    {
        var mean = new double[m * width];
        var error = new double[m * width];
        for (int q = 0; q < m; q++)
        {
            for (int j = 0; j < width; j++)
            {
                double s = 0;
                for (int u = 0; u < units; u++) s += values[(q * units + u) * width + j];
                double mu = s / units, ss = 0;
                for (int u = 0; u < units; u++)
                {
                    double e = values[(q * units + u) * width + j] - mu;
                    ss += e * e;
                }
                mean[q * width + j] = mu;
                error[q * width + j] = units > 1 ? Math.Sqrt(ss / ((units - 1.0) * units)) : double.NaN;
            }
        }
        return (mean, error);
    }
}
