using System.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Numerics.Models;

/// <summary>
/// A fitted random-feature model before a training time is chosen: U (P×P), V (D×P), the target's weighted mean square
/// C and U's eigen-decomposition <c>U = Q Λ Qᵀ</c>, done once and serving every τ. With <c>B = A/√P</c>:
/// <c>L(A) = (P·tr(B U Bᵀ) − 2P·tr(B Vᵀ) + C)/D</c> and the gradient flow <c>dA/dτ = −D ∇L(A)</c> from A_0 gives
/// <c>B(τ) = (B_0 − V U⁺) e^{−2τU} + V U⁺</c>. Eigenvalues below <see cref="Threshold"/> = 1/(10⁴ P) are dropped (set to 0)
/// at every τ, so U⁺ is the pseudo-inverse of the kept part and the flow leaves the dropped directions at B_0's.
/// </summary>
public sealed class RandomFeatureFit
{
    private const ulong InitialKey = 0x8CB92BA72F3D8DD7; // xor'd into the seed: A_0's key differs from the weights' and the draws'

    private readonly double[] _u, _v, _values, _vectors, _vq, _b0q;

    internal RandomFeatureFit(RandomFeatures features, RandomFeatureTraining options, double[] u, double[] v, double c,
        double[] values, double[] vectors, FitTiming timing)
    {
        Features = features;
        Options = options;
        _u = u;
        _v = v;
        TargetMeanSquare = c;
        _values = values;
        _vectors = vectors;
        Timing = timing;
        int p = features.Count, d = features.Dimension;
        Threshold = 1.0 / (1e4 * p);
        _vq = Multiply(v, d, vectors, p);
        _b0q = new double[(long)d * p];
        if (options.Initial == InitialCoefficients.Gaussian)
        {
            var b0 = new double[(long)d * p];
            for (int k = 0; k < d; k++) Philox.FillNormals(features.Seed ^ InitialKey, (uint)k, 0, 0, b0.AsSpan(k * p, p));
            double scale = 1 / Math.Sqrt(p); // A_0 ~ N(0, 1): B_0 = A_0/√P
            for (long i = 0; i < b0.LongLength; i++) b0[i] *= scale;
            _b0q = Multiply(b0, d, vectors, p);
        }
    }

    /// <summary>The random features.</summary>
    public RandomFeatures Features { get; }

    /// <summary>The discretisation of the loss.</summary>
    public RandomFeatureTraining Options { get; }

    /// <summary>Where the fit's time went.</summary>
    public FitTiming Timing { get; }

    /// <summary>U, P×P row-major, symmetric positive semi-definite.</summary>
    public ReadOnlySpan<double> U => _u;

    /// <summary>V, D×P row-major.</summary>
    public ReadOnlySpan<double> V => _v;

    /// <summary>C = ∫ w E‖α y‖² (the loss of A = 0 is C/D).</summary>
    public double TargetMeanSquare { get; }

    /// <summary>U's eigenvalues, ascending.</summary>
    public IReadOnlyList<double> Eigenvalues => _values;

    /// <summary>1/(10⁴ P): eigenvalues below it are dropped.</summary>
    public double Threshold { get; }

    /// <summary>How many eigenvalues are kept.</summary>
    public int Rank => _values.Count(l => l >= Threshold);

    /// <summary>
    /// A(τ) (D×P row-major) for a training time τ ≥ 0, or τ = +∞ for the least-squares limit V U⁺ (√P times it).
    /// </summary>
    /// <param name="tau">τ ≥ 0, or double.PositiveInfinity.</param>
    public double[] Coefficients(double tau)
    {
        if (!(tau >= 0))
            throw new ArgumentOutOfRangeException(nameof(tau), tau, $"tau = {tau}; the training time must be >= 0 (or infinity for the converged model).");
        int p = Features.Count, d = Features.Dimension;
        var bq = new double[(long)d * p];
        for (int m = 0; m < p; m++)
        {
            double lambda = _values[m] >= Threshold ? _values[m] : 0;
            double inverse = lambda > 0 ? 1 / lambda : 0;
            double decay = lambda == 0 ? 1 : double.IsPositiveInfinity(tau) ? 0 : Math.Exp(-2 * tau * lambda);
            for (int k = 0; k < d; k++)
            {
                long at = (long)k * p + m;
                double star = _vq[at] * inverse;
                bq[at] = (_b0q[at] - star) * decay + star;
            }
        }
        // A = √P B = √P (B Q) Qᵀ
        var a = new double[(long)d * p];
        double root = Math.Sqrt(p);
        Parallel.For(0, d, k =>
        {
            var row = bq.AsSpan((int)((long)k * p), p);
            var result = a.AsSpan((int)((long)k * p), p);
            for (int i = 0; i < p; i++)
                result[i] = root * System.Numerics.Tensors.TensorPrimitives.Dot(row, _vectors.AsSpan((int)((long)i * p), p));
        });
        return a;
    }

    /// <summary>L(A) on the training draws from U, V and C (exact for the quadratic, up to rounding of order C·10⁻¹⁶).</summary>
    /// <param name="coefficients">A, D×P row-major.</param>
    public double Loss(ReadOnlySpan<double> coefficients)
    {
        int p = Features.Count, d = Features.Dimension;
        if (coefficients.Length != (long)d * p)
            throw new ArgumentException($"coefficients has {coefficients.Length} values; A is D×P = {d}×{p}.", nameof(coefficients));
        double quadratic = 0, linear = 0;
        var ub = new double[p];
        double scale = 1 / Math.Sqrt(p);
        for (int k = 0; k < d; k++)
        {
            var b = coefficients.Slice(k * p, p).ToArray();
            for (int i = 0; i < p; i++) b[i] *= scale;
            for (int i = 0; i < p; i++) ub[i] = System.Numerics.Tensors.TensorPrimitives.Dot(_u.AsSpan((int)((long)i * p), p), b);
            quadratic += System.Numerics.Tensors.TensorPrimitives.Dot(b, ub);
            linear += System.Numerics.Tensors.TensorPrimitives.Dot(b, _v.AsSpan(k * p, p));
        }
        return (p * quadratic - 2 * p * linear + TargetMeanSquare) / d;
    }

    /// <summary>The score model with A(τ).</summary>
    /// <param name="tau">τ ≥ 0 or +∞.</param>
    public RandomFeatureScore<T> Model<T>(double tau) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(Features, Coefficients(tau), tau);

    /// <summary>X (rows×P) times Q (P×P), both row-major.</summary>
    private static double[] Multiply(double[] x, int rows, double[] q, int p)
    {
        var result = new double[(long)rows * p];
        Parallel.For(0, rows, k =>
        {
            var row = result.AsSpan((int)((long)k * p), p);
            for (int i = 0; i < p; i++)
            {
                double xi = x[(long)k * p + i];
                if (xi != 0)
                    System.Numerics.Tensors.TensorPrimitives.FusedMultiplyAdd(q.AsSpan((int)((long)i * p), p), xi, row, row);
            }
        });
        return result;
    }
}
