namespace Kernels.Numerics.Reference;

/// <summary>
/// The float64 reference implementation of DESIGN.md §2: plain loops, two passes (maximum, then sums), no SIMD,
/// no streaming. Obviously correct and slow, it is the oracle of every test and never on a fast path.
/// Training points and queries are row-major (N×D and M×D).
/// </summary>
public static class ScoreReference
{
    /// <summary>The logits u_i = −‖x − α y_i‖² / (2σ²) of one query.</summary>
    public static double[] Logits(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        int n = train.Length / dimension;
        var u = new double[n];
        for (int i = 0; i < n; i++)
        {
            double d2 = 0;
            for (int k = 0; k < dimension; k++)
            {
                // x − α y with one rounding: a rounded α y would cancel against x when σ ≪ ‖x‖
                double diff = Math.FusedMultiplyAdd(-level.Alpha, train[i * dimension + k], x[k]);
                d2 += diff * diff;
            }
            u[i] = -d2 / (2 * level.Variance);
        }
        return u;
    }

    /// <summary>The posterior weights w_i = softmax_i u_i of one query; they sum to 1.</summary>
    public static double[] Weights(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double[] u = Logits(train, dimension, x, level);
        double max = u.Max(), sum = 0;
        for (int i = 0; i < u.Length; i++) sum += Math.Exp(u[i] - max);
        for (int i = 0; i < u.Length; i++) u[i] = Math.Exp(u[i] - max) / sum;
        return u;
    }

    /// <summary>ℓ(x) = LSE_i u_i − log N − (D/2) log(2πσ²).</summary>
    public static double LogDensity(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double[] u = Logits(train, dimension, x, level);
        double max = u.Max(), sum = 0;
        foreach (double ui in u) sum += Math.Exp(ui - max);
        // logs of scales, not of σ²: σ² overflows double from σ ≈ 1.3e154 while the density is finite
        return max + Math.Log(sum) - Math.Log(u.Length) - 0.5 * dimension * Math.Log(2 * Math.PI) - dimension * Math.Log(level.Sigma);
    }

    /// <summary>m(x) = Σ_i w_i y_i.</summary>
    public static double[] Denoiser(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double[] w = Weights(train, dimension, x, level);
        var m = new double[dimension];
        for (int i = 0; i < w.Length; i++)
            for (int k = 0; k < dimension; k++)
                m[k] += w[i] * train[i * dimension + k];
        return m;
    }

    /// <summary>
    /// s(x) = (α m(x) − x)/σ² = Σ_i w_i (α y_i − x)/σ², summed as displacements: α m − x formed after the sum cancels when
    /// σ is small against ‖x‖.
    /// </summary>
    public static double[] Score(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double[] w = Weights(train, dimension, x, level);
        var s = new double[dimension];
        for (int i = 0; i < w.Length; i++)
            for (int k = 0; k < dimension; k++)
                s[k] += w[i] * Math.FusedMultiplyAdd(level.Alpha, train[i * dimension + k], -x[k]);
        for (int k = 0; k < dimension; k++) s[k] = s[k] / level.Sigma / level.Sigma;
        return s;
    }

    /// <summary>∇²ℓ(x) = (α²/σ⁴) C(x) − I/σ², C = Σ_i w_i (y_i − m)(y_i − m)ᵀ; D×D row-major.</summary>
    public static double[] Hessian(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double[] w = Weights(train, dimension, x, level);
        double[] m = Denoiser(train, dimension, x, level);
        var h = new double[dimension * dimension];
        double c = level.Alpha * level.Alpha / (level.Variance * level.Variance);
        for (int i = 0; i < w.Length; i++)
            for (int a = 0; a < dimension; a++)
                for (int b = 0; b < dimension; b++)
                    h[a * dimension + b] += c * w[i] * (train[i * dimension + a] - m[a]) * (train[i * dimension + b] - m[b]);
        for (int a = 0; a < dimension; a++) h[a * dimension + a] -= 1 / level.Variance;
        return h;
    }

    /// <summary>div s(x) = tr ∇²ℓ(x) = (α²/σ⁴) tr C(x) − D/σ², tr C = Σ_i w_i ‖y_i − m‖² (about the mean: no cancellation).</summary>
    public static double Divergence(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double[] w = Weights(train, dimension, x, level);
        double[] m = Denoiser(train, dimension, x, level);
        double trace = 0;
        for (int i = 0; i < w.Length; i++)
            for (int k = 0; k < dimension; k++)
            {
                double t = train[i * dimension + k] - m[k];
                trace += w[i] * t * t;
            }
        double s = level.Sigma, a = level.Alpha;
        return a * a * trace / s / s / s / s - dimension / s / s;
    }
}
