using System.Numerics;
using System.Numerics.Tensors;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// Density-domain smoothing (kernel density estimation, DESIGN.md §3): the score of p̂ * k, in closed form for a Gaussian
/// kernel k. The convolution of the mixture with N(0, Σ_k) is the same mixture with covariance σ² I + Σ_k:
/// <list type="bullet">
/// <item>isotropic, Σ_k = h² I: the empirical score at σ² → σ² + h², through the backend's fused kernel;</item>
/// <item>anisotropic, Σ_k = h_T² P_T + h_N² P_N (or a fixed L Lᵀ): Σ = b I + Σ_j (v_j − b) u_j u_jᵀ with orthonormal u_j, so
///   Σ⁻¹ = P_N/b + Σ_j u_j u_jᵀ/v_j and log det Σ = (D − r) log b + Σ_j log v_j: projector algebra, O(N·D·(r + 1))
///   per query in float64, never a D×D inverse. <b>Host-only:</b> this case runs on the host's cores in float64 whatever
///   the backend (an OpenCL backend is not used for it; only its thread limit,
///   <see cref="IScoreBackend.MaxDegreeOfParallelism"/>, applies).</item>
/// </list>
/// The anisotropic case runs in three steps, per query: Σ(x) from the query, the rows accumulated into a mergeable state
/// (<see cref="KdeStateBatch"/>: max, Σ w, Σ w‖Σ⁻¹d‖², Σ w d, Σ w y over Mahalanobis weights), the state finished into the
/// outputs. One process runs them over the whole set; a set split into shards runs <see cref="Accumulate"/> per shard,
/// merges the batches (the log-sum-exp monoid) and runs <see cref="Finish"/> once: the same code either way.
/// For a tangent-space kernel the covariance is taken at the query x and held fixed: the score is ∇ log Σ_i N(·; α y_i, Σ(x))
/// evaluated at x (Σ not differentiated). The denoiser is Tweedie's E[X₀ | x] = Σ_i w_i y_i under the smoothed mixture, summed directly.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class KdeScore<T> : IScoreModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Lazy<double[]> _train;

    /// <summary>Smooths the density of <paramref name="score"/> with the Gaussian <paramref name="kernel"/>.</summary>
    /// <param name="score">The empirical score (training set and backend).</param>
    /// <param name="kernel">A Gaussian kernel: <see cref="SmoothingKernel.Gaussian"/>, <see cref="SmoothingKernel.Anisotropic"/>,
    /// <see cref="SmoothingKernel.Tangent"/> or <see cref="SmoothingKernel.Covariance"/>.</param>
    public KdeScore(EmpiricalScore<T> score, SmoothingKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(score);
        ArgumentNullException.ThrowIfNull(kernel);
        if (!kernel.IsGaussian)
            throw new ArgumentException(
                $"Density smoothing (KDE) has a closed form only for Gaussian kernels (Gaussian, Anisotropic, Tangent, Covariance), not {kernel}; use LogSmoothedScore for it.",
                nameof(kernel));
        kernel.RequireDimension(score.Dimension, nameof(kernel));
        Empirical = score;
        Kernel = kernel;
        _train = new Lazy<double[]>(() =>
        {
            var rows = score.TrainingSet.Data;
            var result = new double[rows.Length];
            for (int i = 0; i < rows.Length; i++) result[i] = double.CreateTruncating(rows[i]);
            return result;
        });
    }

    /// <summary>The empirical score being smoothed.</summary>
    public EmpiricalScore<T> Empirical { get; }

    /// <summary>The Gaussian smoothing kernel.</summary>
    public SmoothingKernel Kernel { get; }

    /// <inheritdoc/>
    public int Dimension => Empirical.Dimension;

    /// <summary>The KDE score for M queries, as a new M×D array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Score(ReadOnlySpan<T> queries, NoiseLevel level) => Evaluate(queries, level, Dimension, o => new ScoreOutputs<T> { Score = o });

    /// <summary>The KDE log-density for M queries, as a new array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] LogDensity(ReadOnlySpan<T> queries, NoiseLevel level) => Evaluate(queries, level, 1, o => new ScoreOutputs<T> { LogDensity = o });

    /// <summary>The KDE denoiser for M queries, as a new M×D array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Denoise(ReadOnlySpan<T> queries, NoiseLevel level) => Evaluate(queries, level, Dimension, o => new ScoreOutputs<T> { Denoiser = o });

    /// <summary>The KDE score's divergence for M queries, as a new array.</summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public T[] Divergence(ReadOnlySpan<T> queries, NoiseLevel level) => Evaluate(queries, level, 1, o => new ScoreOutputs<T> { Divergence = o });

    /// <summary>The smoothed noise level (α, √(σ² + h²)) when the kernel is isotropic Gaussian N(0, h² I); null otherwise.</summary>
    /// <param name="level">The noise level of the empirical distribution.</param>
    public NoiseLevel? IsotropicLevel(NoiseLevel level) => IsotropicLevel(Kernel, Dimension, level);

    /// <summary>
    /// The noise level (α, √(σ² + h²)) whose empirical distribution is the KDE of <paramref name="kernel"/> when it is
    /// isotropic Gaussian N(0, h² I) in dimension <paramref name="dimension"/>; null otherwise. A training set sharded
    /// over processes evaluates such a KDE as the plain quantities at this level.
    /// </summary>
    /// <param name="kernel">A smoothing kernel.</param>
    /// <param name="dimension">D.</param>
    /// <param name="level">The noise level of the empirical distribution.</param>
    public static NoiseLevel? IsotropicLevel(SmoothingKernel kernel, int dimension, NoiseLevel level)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        Guard.RequireLevel(level);
        if (!kernel.IsGaussian || kernel.MaxGaussianDirections(dimension) > 0) return null;
        kernel.GaussianCovariance([], [], [], out double h2);
        double variance = level.Variance + h2;
        if (!double.IsFinite(variance))
        {
            // σ² + h² past the largest double: name the width that overflowed (σ's own check cannot see h).
            if (!double.IsFinite(level.Variance))
                throw new ArgumentOutOfRangeException(nameof(level), level.Sigma,
                    $"sigma = {level.Sigma:G6} is too large for KDE: sigma² overflows a double; use sigma below 1e154.");
            double h = kernel.DeviceScales?.Tangent ?? Math.Sqrt(h2);
            throw new ArgumentOutOfRangeException("h", h,
                $"h = {h:G6} is too large: KDE widens the noise variance to sigma² + h², which overflows a double; use a kernel width h below 1e154 " +
                "(a width far beyond the data's spread smooths the whole set into one Gaussian anyway).");
        }
        return new NoiseLevel(level.Alpha, Math.Sqrt(variance));
    }

    /// <inheritdoc/>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
    {
        if (IsotropicLevel(level) is NoiseLevel smoothed)
        {
            Empirical.Evaluate(queries, smoothed, outputs);
            return;
        }
        int m = Guard.RequireQueries(queries, Dimension);
        outputs.Validate(m, Dimension);
        outputs.RequireNoOverlap(queries);

        // one process: each query's state over the whole set, finished where it is (no batch of states)
        int d = Dimension;
        double[] train = _train.Value;
        var results = new Results(outputs, m, d);
        T[] x = queries.ToArray();
        var kernel = Kernel;
        Parallel.For(0, m, Empirical.ParallelOptions, () => new Workspace(d, kernel.MaxGaussianDirections(d)), (q, _, work) =>
        {
            work.Prepare(x.AsSpan(q * d, d), level, kernel);
            var state = work.OwnState;
            state.Clear();
            work.Accumulate(train, level.Alpha, state);
            results.Finish(work, state, train.Length / d, q);
            return work;
        }, _ => { });
        results.Narrow(outputs);
    }

    /// <summary>
    /// This model's training set (one shard of a larger set, or all of it) accumulated into one partial state per query
    /// (<see cref="KdeStateBatch"/>): merge the batches of every shard, then <see cref="Finish"/>. Works for any Gaussian
    /// kernel, on the host in float64 (an isotropic kernel's KDE is cheaper as the empirical quantities at
    /// <see cref="IsotropicLevel(NoiseLevel)"/>).
    /// </summary>
    /// <param name="queries">M×D row-major queries.</param>
    /// <param name="level">The noise level.</param>
    public KdeStateBatch Accumulate(ReadOnlySpan<T> queries, NoiseLevel level)
    {
        Guard.RequireLevel(level);
        int m = Guard.RequireQueries(queries, Dimension), d = Dimension;
        var batch = KdeStateBatch.Identity(m, d, level);
        double[] train = _train.Value;
        T[] x = queries.ToArray();
        var kernel = Kernel;
        Parallel.For(0, m, Empirical.ParallelOptions, () => new Workspace(d, kernel.MaxGaussianDirections(d)), (q, _, work) =>
        {
            work.Prepare(x.AsSpan(q * d, d), level, kernel);
            work.Accumulate(train, level.Alpha, batch.State(q));
            batch.AddCount(q, train.Length / d);
            return work;
        }, _ => { });
        return batch;
    }

    /// <summary>
    /// The outputs of merged KDE states (<see cref="Accumulate"/> of every shard, merged): Σ(x) is recomputed from each
    /// query, <paramref name="kernel"/> and the states' level, so the finisher needs no training point.
    /// </summary>
    /// <param name="kernel">The Gaussian kernel the states were accumulated with.</param>
    /// <param name="states">The merged states; every query has at least one training point.</param>
    /// <param name="queries">The M×D queries the states were accumulated for.</param>
    /// <param name="outputs">Any subset of the outputs (M or M×D values each).</param>
    /// <param name="maxDegreeOfParallelism">Threads (−1: all).</param>
    public static void Finish(SmoothingKernel kernel, KdeStateBatch states, ReadOnlySpan<T> queries, ScoreOutputs<T> outputs, int maxDegreeOfParallelism = -1)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(states);
        if (!kernel.IsGaussian)
            throw new ArgumentException($"Density smoothing (KDE) has a closed form only for Gaussian kernels, not {kernel}.", nameof(kernel));
        int d = states.Dimension;
        kernel.RequireDimension(d, nameof(kernel));
        int m = Guard.RequireQueries(queries, d);
        if (m != states.QueryCount)
            throw new ArgumentException($"queries has M = {m} rows but states has M = {states.QueryCount}; finish the states of these queries.", nameof(queries));
        outputs.Validate(m, d);
        states.Check();
        for (int q = 0; q < m; q++)
            if (states.Count(q) == 0)
                throw new InvalidOperationException($"query {q} has no training points merged in (count = 0); merge at least one shard that holds rows.");
        var results = new Results(outputs, m, d);
        T[] x = queries.ToArray();
        var level = states.Level;
        Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, () => new Workspace(d, kernel.MaxGaussianDirections(d)),
            (q, _, work) =>
            {
                work.Prepare(x.AsSpan(q * d, d), level, kernel);
                results.Finish(work, states.State(q), states.Count(q), q);
                return work;
            }, _ => { });
        results.Narrow(outputs);
    }

    /// <summary>The float64 outputs asked for (null where not), narrowed to T at the end.</summary>
    private sealed class Results(ScoreOutputs<T> outputs, int m, int d)
    {
        private readonly double[]? _logDensity = outputs.LogDensity.IsEmpty ? null : new double[m];
        private readonly double[]? _score = outputs.Score.IsEmpty ? null : new double[m * d];
        private readonly double[]? _denoiser = outputs.Denoiser.IsEmpty ? null : new double[m * d];
        private readonly double[]? _divergence = outputs.Divergence.IsEmpty ? null : new double[m];

        public void Finish(Workspace work, KdeState state, long count, int q)
        {
            work.Finish(state, count, _score is not null || _divergence is not null);
            if (_logDensity is not null) _logDensity[q] = work.LogDensity;
            if (_score is not null) work.Score.CopyTo(_score.AsSpan(q * d, d));
            if (_denoiser is not null) work.Denoiser.CopyTo(_denoiser.AsSpan(q * d, d));
            if (_divergence is not null) _divergence[q] = work.Divergence;
        }

        public void Narrow(ScoreOutputs<T> outputs)
        {
            KdeScore<T>.Narrow(_logDensity, outputs.LogDensity);
            KdeScore<T>.Narrow(_score, outputs.Score);
            KdeScore<T>.Narrow(_denoiser, outputs.Denoiser);
            KdeScore<T>.Narrow(_divergence, outputs.Divergence);
        }
    }

    private T[] Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, int perQuery, Func<T[], ScoreOutputs<T>> outputs)
    {
        var result = new T[Guard.RowCount(queries, Dimension, nameof(queries)) * perQuery];
        Evaluate(queries, level, outputs(result));
        return result;
    }

    private static void Narrow(double[]? source, Span<T> destination)
    {
        if (source is null) return;
        for (int i = 0; i < source.Length; i++) destination[i] = T.CreateTruncating(source[i]);
    }

    /// <summary>
    /// One thread's buffers and the KDE's three steps for one query, shared by the one-process evaluation and the sharded
    /// one: <see cref="Prepare"/> (Σ(x) from the query, kernel and level), <see cref="Accumulate"/> (rows into a state),
    /// <see cref="Finish"/> (a merged state into the outputs).
    /// </summary>
    private sealed class Workspace(int d, int maxDirections)
    {
        private const int Block = 256; // logits per block: a block's max moves the state's reference once
        private readonly double[] _directions = new double[Math.Max(1, maxDirections) * d];
        private readonly double[] _extra = new double[Math.Max(1, maxDirections)];
        private readonly double[] _variance = new double[Math.Max(1, maxDirections)]; // v_j = b + c_j, Σ's eigenvalue along u_j
        private readonly double[] _logits = new double[Block];
        private readonly double[] _difference = new double[d];
        private readonly double[] _mean = new double[d];
        private readonly double[] _negatedX = new double[d];
        private readonly double[] _normal = new double[d];
        private readonly double[] _projection = new double[Math.Max(1, maxDirections)];
        private readonly double[] _own = new double[4 + 2 * d];
        private double _b; // σ² plus the kernel's isotropic variance
        private int _r;
        private double _logDet, _traceInverse;

        public double[] X { get; } = new double[d];
        public double[] Score { get; } = new double[d];
        public double[] Denoiser { get; } = new double[d];
        public double LogDensity { get; private set; }
        public double Divergence { get; private set; }

        /// <summary>A state of this workspace's own, for the one-process evaluation.</summary>
        public KdeState OwnState => new(_own.AsSpan(0, 4), _own.AsSpan(4, d), _own.AsSpan(4 + d, d));

        /// <summary>Σ(x) = b I + Σ_j (v_j − b) u_j u_jᵀ at the query <paramref name="x"/>, its log-determinant and trace of inverse.</summary>
        public void Prepare(ReadOnlySpan<T> x, NoiseLevel level, SmoothingKernel kernel)
        {
            for (int j = 0; j < d; j++) X[j] = double.CreateTruncating(x[j]);
            _r = kernel.GaussianCovariance(X, _directions, _extra, out double isotropic);
            double b = _b = level.Variance + isotropic;
            TensorPrimitives.Negate<double>(X, _negatedX);
            _logDet = (d - _r) * Math.Log(2 * Math.PI * b);
            _traceInverse = (d - _r) / b;
            for (int j = 0; j < _r; j++)
            {
                double v = b + _extra[j];
                _variance[j] = v;
                _logDet += Math.Log(2 * Math.PI * v);
                _traceInverse += 1 / v;
            }
        }

        /// <summary>
        /// Merges the rows of <paramref name="train"/> (N×D) into <paramref name="state"/>: per block of rows, pass 1 the
        /// logits −½ dᵀΣ⁻¹d with d = α y_i − x and the state's reference moved to their max, pass 2 the weights and sums.
        /// </summary>
        public void Accumulate(ReadOnlySpan<double> train, double alpha, KdeState state)
        {
            int n = train.Length / d;
            for (int start = 0; start < n; start += Block)
            {
                int count = Math.Min(Block, n - start);
                double max = double.NegativeInfinity;
                for (int i = 0; i < count; i++)
                {
                    _logits[i] = -0.5 * Difference(train, start + i, alpha, out _);
                    max = Math.Max(max, _logits[i]);
                }
                state.Rescale(max);
                for (int i = 0; i < count; i++)
                {
                    double w = Math.Exp(_logits[i] - state.Max);
                    if (w == 0) continue;
                    Difference(train, start + i, alpha, out double inverseNorm2);
                    state.Sum += w;
                    TensorPrimitives.MultiplyAdd(_difference, w, (ReadOnlySpan<double>)state.Displacement, state.Displacement);
                    TensorPrimitives.MultiplyAdd(train.Slice((start + i) * d, d), w, (ReadOnlySpan<double>)state.Points, state.Points);
                    state.InverseMoment += w * inverseNorm2;
                }
            }
        }

        /// <summary>The outputs of a state over <paramref name="count"/> points at the prepared query; the score only where <paramref name="score"/>.</summary>
        public void Finish(KdeState state, long count, bool score)
        {
            double sum = state.Sum;
            LogDensity = state.Max + Math.Log(sum) - Math.Log(count) - 0.5 * _logDet;
            TensorPrimitives.Divide(state.Displacement, sum, _mean); // V̄ = E_w[α y − x] = α m − x
            if (score) ApplyInverse(_mean, _r, _b, Score);           // s = Σ⁻¹ V̄
            TensorPrimitives.Divide(state.Points, sum, Denoiser);    // Σ w y / Σ w directly: (x + V̄)/α would cancel at small α, large σ
            Divergence = state.InverseMoment / sum - TensorPrimitives.Dot<double>(Score, Score) - _traceInverse;
        }

        /// <summary>
        /// d = α y_i − x (one rounding: fma(α, y, −x)); returns dᵀΣ⁻¹d = ‖P_N d‖²/b + Σ_j p_j²/v_j and gives
        /// ‖Σ⁻¹d‖² = ‖P_N d‖²/b² + Σ_j p_j²/v_j², with p_j = u_jᵀd. The normal part is formed explicitly: the shorter
        /// ‖d‖²/b − Σ_j p_j²/b would cancel when d is nearly tangent and b ≪ v_j (a tangent-heavy kernel at small σ).
        /// </summary>
        private double Difference(ReadOnlySpan<double> train, int i, double alpha, out double inverseNorm2)
        {
            int r = _r;
            TensorPrimitives.FusedMultiplyAdd(train.Slice(i * d, d), alpha, _negatedX, _difference);
            double tangential = 0, tangentialInverse = 0;
            if (r > 0)
            {
                _difference.CopyTo(_normal, 0);
                for (int j = 0; j < r; j++)
                {
                    var u = _directions.AsSpan(j * d, d);
                    double p = TensorPrimitives.Dot<double>(u, _difference);
                    TensorPrimitives.MultiplyAdd(u, -p, (ReadOnlySpan<double>)_normal, _normal);
                    tangential += p * p / _variance[j];
                    tangentialInverse += p * p / (_variance[j] * _variance[j]);
                }
            }
            double normal2 = TensorPrimitives.Dot<double>(r > 0 ? _normal : _difference, r > 0 ? _normal : _difference);
            inverseNorm2 = normal2 / (_b * _b) + tangentialInverse;
            return normal2 / _b + tangential;
        }

        /// <summary>Σ⁻¹ v = P_N v / b + Σ_j (u_jᵀ v / v_j) u_j, the normal part formed explicitly (see <see cref="Difference"/>).</summary>
        private void ApplyInverse(ReadOnlySpan<double> v, int r, double b, Span<double> result)
        {
            v.CopyTo(result);
            for (int j = 0; j < r; j++)
            {
                var u = _directions.AsSpan(j * d, d);
                double pj = TensorPrimitives.Dot(u, v);
                TensorPrimitives.MultiplyAdd(u, -pj, result, result);
                _projection[j] = pj;
            }
            TensorPrimitives.Divide(result, b, result);
            for (int j = 0; j < r; j++)
                TensorPrimitives.MultiplyAdd(_directions.AsSpan(j * d, d), _projection[j] / _variance[j], result, result);
        }
    }
}
