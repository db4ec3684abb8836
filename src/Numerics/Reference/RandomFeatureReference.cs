using Kernels.Numerics.Models;

namespace Kernels.Numerics.Reference;

/// <summary>
/// The float64 reference of the random-feature model (DESIGN.md §5): plain loops over one feature row at a time, the
/// oracle of the SIMD feature pass, the rank-k update and the model's evaluation.
/// </summary>
public static class RandomFeatureReference
{
    /// <summary>The preactivations z = W_x x + W_t φ(t) + b (P values) at one input.</summary>
    public static double[] Preactivations(RandomFeatures features, ReadOnlySpan<double> x, double t) => Sums(features, x, t, v => v);

    /// <summary>Σ|terms| of each preactivation (P values): the scale of its rounding error, γ_n times it.</summary>
    public static double[] PreactivationMagnitudes(RandomFeatures features, ReadOnlySpan<double> x, double t) => Sums(features, x, t, Math.Abs);

    private static double[] Sums(RandomFeatures features, ReadOnlySpan<double> x, double t, Func<double, double> term)
    {
        int p = features.Count, d = features.Dimension, e = features.EmbeddingLength;
        var phi = new double[e];
        features.Embedding(t, phi);
        var z = new double[p];
        for (int j = 0; j < p; j++)
        {
            double sum = term(features.Bias[j]);
            for (int k = 0; k < d; k++) sum += term(features.Spatial[j * d + k] * x[k]);
            for (int k = 0; k < e; k++) sum += term(features.Temporal[j * e + k] * phi[k]);
            z[j] = sum;
        }
        return z;
    }

    /// <summary>The features f = act(z) (P values) at one input.</summary>
    public static double[] Features(RandomFeatures features, ReadOnlySpan<double> x, double t) =>
        Preactivations(features, x, t).Select(z => features.Activation == FeatureActivation.Relu ? Math.Max(z, 0) : Math.Tanh(z)).ToArray();

    /// <summary>m(x, t) = A f/√P (D values).</summary>
    public static double[] Mean(RandomFeatures features, ReadOnlySpan<double> coefficients, ReadOnlySpan<double> x, double t)
    {
        int p = features.Count, d = features.Dimension;
        var f = Features(features, x, t);
        var m = new double[d];
        for (int k = 0; k < d; k++)
        {
            double sum = 0;
            for (int j = 0; j < p; j++) sum += coefficients[k * p + j] * f[j];
            m[k] = sum / Math.Sqrt(p);
        }
        return m;
    }

    /// <summary>
    /// U = Σ_ρ c_ρ f fᵀ/P, V = Σ_ρ c_ρ α y fᵀ/P and C = Σ_ρ c_ρ α²‖y‖² over every training draw, one row at a time;
    /// also the row-wise absolute sums |U| = Σ c_ρ |f_i f_j|/P and |V| (for rounding bounds).
    /// </summary>
    public static (double[] U, double[] V, double C, double[] AbsU, double[] AbsV) Accumulate(double[] points, int count,
        RandomFeatures features, RandomFeatureTraining options)
    {
        int p = features.Count, d = features.Dimension;
        var draws = new TrainingDraws(points, count, d, features, options);
        var u = new double[p * p];
        var v = new double[d * p];
        var absU = new double[p * p];
        var absV = new double[d * p];
        double c = 0;
        var x = new double[d];
        var y = new double[d];
        for (long row = 0; row < draws.Rows; row++)
        {
            draws.Row(row, x, y);
            double weight = draws.RowWeight(row);
            var f = Features(features, x, draws.Times[draws.NodeOf(row)]);
            for (int i = 0; i < p; i++)
                for (int j = 0; j < p; j++)
                {
                    u[i * p + j] += weight * f[i] * f[j] / p;
                    absU[i * p + j] += Math.Abs(weight * f[i] * f[j]) / p;
                }
            for (int k = 0; k < d; k++)
            {
                c += weight * y[k] * y[k];
                for (int j = 0; j < p; j++)
                {
                    v[k * p + j] += weight * y[k] * f[j] / p;
                    absV[k * p + j] += Math.Abs(weight * y[k] * f[j]) / p;
                }
            }
        }
        return (u, v, c, absU, absV);
    }

    /// <summary>The loss L(A) = (1/(N D m_z)) Σ_l Weight_l Σ_{i,j} ‖m_A(x) − α y_i‖² over the draws, one row at a time.</summary>
    public static double Loss(double[] points, int count, RandomFeatures features, RandomFeatureTraining options, ReadOnlySpan<double> coefficients)
    {
        int d = features.Dimension;
        var draws = new TrainingDraws(points, count, d, features, options);
        var x = new double[d];
        var y = new double[d];
        double loss = 0;
        for (long row = 0; row < draws.Rows; row++)
        {
            draws.Row(row, x, y);
            var m = Mean(features, coefficients, x, draws.Times[draws.NodeOf(row)]);
            double sq = 0;
            for (int k = 0; k < d; k++) sq += (m[k] - y[k]) * (m[k] - y[k]);
            loss += draws.RowWeight(row) * sq;
        }
        return loss / d;
    }
}
