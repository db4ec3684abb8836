using Kernels.Numerics.Ridges;

namespace Kernels.Numerics.Models;

/// <summary>
/// One time node's losses and error split. Losses are per node, <c>ℓ_l(A) = (1/(N·D·m_z)) Σ_{i,j} ‖m_A(x) − α y_i‖²</c>
/// over the node's draws (the training loss is <c>Σ_l Weight·ℓ_l</c>); the optimization error is <c>ℓ(A(τ)) − ℓ(A(∞))</c>,
/// the architectural bias <c>ℓ(A(∞)) − ℓ*</c> with ℓ* the exact empirical posterior mean's loss on the same draws. Each
/// difference of two losses <c>ℓ(a) − ℓ(b) = mean (m_a − m_b)·(m_a + m_b − 2αy)/D</c> is split with orthogonal projectors
/// at each draw x: the tangent space of the ridge of p̂_t at x (span of the top-d Hessian eigenvectors) and its normal
/// complement, so the two parts add up to the whole exactly; for D = 2 also along each coordinate axis.
/// </summary>
/// <param name="Node">l.</param>
/// <param name="Time">t_l.</param>
/// <param name="Weight">Simpson weight × w(t_l).</param>
/// <param name="Loss">ℓ_l(A(τ)).</param>
/// <param name="ConvergedLoss">ℓ_l(A(∞)).</param>
/// <param name="ExactLoss">ℓ*_l.</param>
/// <param name="OptimizationNormal">Normal part of ℓ(A(τ)) − ℓ(A(∞)).</param>
/// <param name="OptimizationTangential">Tangential part of it.</param>
/// <param name="BiasNormal">Normal part of ℓ(A(∞)) − ℓ*.</param>
/// <param name="BiasTangential">Tangential part of it.</param>
/// <param name="OptimizationAxes">Per coordinate axis (D = 2 only; empty otherwise).</param>
/// <param name="BiasAxes">Per coordinate axis (D = 2 only; empty otherwise).</param>
public sealed record NodeErrors(int Node, double Time, double Weight, double Loss, double ConvergedLoss, double ExactLoss,
    double OptimizationNormal, double OptimizationTangential, double BiasNormal, double BiasTangential,
    double[] OptimizationAxes, double[] BiasAxes)
{
    /// <summary>ℓ(A(τ)) − ℓ(A(∞)) (the sum of its two parts).</summary>
    public double Optimization => OptimizationNormal + OptimizationTangential;

    /// <summary>ℓ(A(∞)) − ℓ* (the sum of its two parts).</summary>
    public double Bias => BiasNormal + BiasTangential;
}

/// <summary>The errors of a fitted random-feature model apart (DESIGN.md §5), per time node of its training grid.</summary>
public static class RandomFeatureErrors
{
    /// <summary>
    /// Per node of <paramref name="options"/>' grid, on the training draws of <paramref name="model"/>'s seed: the losses of
    /// A(τ) (<paramref name="model"/>), A(∞) (<paramref name="converged"/>) and the exact posterior mean, and the two
    /// differences split into normal and tangential parts relative to the d-dimensional ridge of p̂_t at each draw. Computed
    /// in double.
    /// </summary>
    /// <param name="model">The model at τ.</param>
    /// <param name="converged">The same features at τ = ∞ (<see cref="RandomFeatureFit.Model{T}"/>(∞)).</param>
    /// <param name="train">The training set the model was fitted on.</param>
    /// <param name="options">The fit's discretisation (the same nodes and draws).</param>
    /// <param name="ridgeDimension">d, 1 ≤ d &lt; D.</param>
    public static NodeErrors[] Evaluate(RandomFeatureScore<double> model, RandomFeatureScore<double> converged, TrainingSet<double> train,
        RandomFeatureTraining options, int ridgeDimension)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(converged);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        var features = model.Features;
        options.Validate(features.TimeMax);
        int d = features.Dimension;
        if (train.Dimension != d)
            throw new ArgumentException($"train has dimension D = {train.Dimension} but the model is for D = {d}; pass the training set the model was fitted on.", nameof(train));
        if (!ReferenceEquals(converged.Features, features))
            throw new ArgumentException("converged must share model's random features (the same fit at tau = infinity).", nameof(converged));
        if (ridgeDimension < 1 || ridgeDimension >= d)
            throw new ArgumentOutOfRangeException(nameof(ridgeDimension), ridgeDimension,
                $"ridgeDimension = {ridgeDimension}; the ridge dimension must satisfy 1 <= d < D = {d}{(d < 2 ? " (D = 1 has no ridge split)" : "")}.");
        var draws = new TrainingDraws(train.Rows, train.Count, d, features, options);
        var exact = new EmpiricalScore<double>(train);
        int rows = (int)draws.RowsPerNode;
        var result = new NodeErrors[options.Nodes];
        for (int l = 0; l < options.Nodes; l++)
        {
            double t = draws.Times[l];
            var level = draws.Levels[l];
            var x = new double[(long)rows * d];
            var target = new double[(long)rows * d];
            for (int r = 0; r < rows; r++)
                draws.Row((long)l * rows + r, x.AsSpan(r * d, d), target.AsSpan(r * d, d));
            var mTau = model.Mean(x, t);
            var mInf = converged.Mean(x, t);
            var mStar = exact.Denoise(x, level);
            for (int i = 0; i < mStar.Length; i++) mStar[i] *= level.Alpha;
            var factors = Hessian.Factor(exact, x, level);
            double lossTau = 0, lossInf = 0, lossStar = 0, optN = 0, optT = 0, biasN = 0, biasT = 0;
            var optAxes = new double[d == 2 ? 2 : 0];
            var biasAxes = new double[d == 2 ? 2 : 0];
            var delta = new double[d];
            var sum = new double[d];
            for (int r = 0; r < rows; r++)
            {
                var y = target.AsSpan(r * d, d);
                var a = mTau.AsSpan(r * d, d);
                var b = mInf.AsSpan(r * d, d);
                var s = mStar.AsSpan(r * d, d);
                lossTau += SquaredDistance(a, y);
                lossInf += SquaredDistance(b, y);
                lossStar += SquaredDistance(s, y);
                var tangent = factors[r].Eigen(ridgeDimension, largest: true);
                var (n1, t1) = Split(a, b, y, tangent, ridgeDimension, delta, sum, optAxes);
                var (n2, t2) = Split(b, s, y, tangent, ridgeDimension, delta, sum, biasAxes);
                optN += n1;
                optT += t1;
                biasN += n2;
                biasT += t2;
            }
            double scale = 1.0 / ((double)rows * d);
            for (int k = 0; k < optAxes.Length; k++)
            {
                optAxes[k] *= scale;
                biasAxes[k] *= scale;
            }
            result[l] = new NodeErrors(l, t, draws.Weights[l], lossTau * scale, lossInf * scale, lossStar * scale,
                optN * scale, optT * scale, biasN * scale, biasT * scale, optAxes, biasAxes);
        }
        return result;
    }

    /// <summary>The training loss Σ_l Weight_l · f(node l) of a per-node quantity.</summary>
    public static double Integrate(IEnumerable<NodeErrors> nodes, Func<NodeErrors, double> quantity) =>
        nodes.Sum(n => n.Weight * quantity(n));

    private static double SquaredDistance(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int k = 0; k < a.Length; k++) sum += (a[k] - b[k]) * (a[k] - b[k]);
        return sum;
    }

    /// <summary>
    /// (m_a − m_b)·(m_a + m_b − 2y) split into Δ·P_T S and Δ·S − Δ·P_T S (P_T = V_d V_dᵀ, symmetric, so Δ·P_T S = P_TΔ·S);
    /// per axis k, Δ_k S_k added into <paramref name="axes"/>.
    /// </summary>
    private static (double Normal, double Tangential) Split(ReadOnlySpan<double> a, ReadOnlySpan<double> b, ReadOnlySpan<double> y,
        HessianEigen tangent, int ridgeDimension, double[] delta, double[] sum, double[] axes)
    {
        int d = a.Length;
        double whole = 0;
        for (int k = 0; k < d; k++)
        {
            delta[k] = a[k] - b[k];
            sum[k] = a[k] + b[k] - 2 * y[k];
            whole += delta[k] * sum[k];
            if (axes.Length > 0) axes[k] += delta[k] * sum[k];
        }
        double tangential = 0;
        for (int i = 0; i < ridgeDimension; i++)
        {
            var v = tangent.Vector(i);
            tangential += HessianFactor.Dot(v, delta) * HessianFactor.Dot(v, sum);
        }
        return (whole - tangential, tangential);
    }
}
