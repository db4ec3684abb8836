using Kernels.Numerics.Smoothing;

namespace Kernels.Numerics.Models;

/// <summary>The nonlinearity of a random-feature model.</summary>
public enum FeatureActivation
{
    /// <summary>max(z, 0), the authors' choice.</summary>
    Relu,

    /// <summary>tanh z.</summary>
    Tanh,
}

/// <summary>
/// The fixed random part of the random-feature score model (DESIGN.md §5): P features
/// <c>f_p(x, t) = act(W_x x + W_t φ(t) + b)_p</c> with <c>W_x ~ N(0, 1/D)</c> (P×D), <c>W_t ~ N(0, 1/(2K+1))</c>
/// (P×(2K+1)), <c>b ~ N(0, 1)</c> (P), drawn from Philox by seed, and the Fourier time embedding
/// <c>φ(t) = [1, sin(2πkt/T)_{k=1..K}, cos(2πkt/T)_{k=1..K}]</c>, T = t_max. Immutable; the weights are kept in double
/// and rounded once to the working type where a kernel needs them.
/// </summary>
public sealed class RandomFeatures
{
    // Philox streams (counter word c1) of the weights; the training draws and A_0 use keys of their own (RandomFeatureTrainer).
    private const uint SpatialStream = 0x5758_0000, TimeStream = 0x5754_0000, BiasStream = 0x4249_0000;

    private readonly double[] _spatial, _temporal, _bias;

    /// <summary>Wraps given weights (a model file's); they are validated and kept (not copied).</summary>
    /// <param name="spatial">W_x, P×D row-major.</param>
    /// <param name="temporal">W_t, P×(2K+1) row-major.</param>
    /// <param name="bias">b, P values.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="harmonics">K ≥ 0.</param>
    /// <param name="activation">The nonlinearity.</param>
    /// <param name="schedule">The noise schedule that maps t to (α, σ).</param>
    /// <param name="timeMax">T = t_max &gt; 0, the embedding's period.</param>
    /// <param name="seed">The seed the weights were drawn with (recorded, not used).</param>
    public RandomFeatures(double[] spatial, double[] temporal, double[] bias, int dimension, int harmonics,
        FeatureActivation activation, NoiseSchedule schedule, double timeMax, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(spatial);
        ArgumentNullException.ThrowIfNull(temporal);
        ArgumentNullException.ThrowIfNull(bias);
        ArgumentNullException.ThrowIfNull(schedule);
        RequireShape(bias.Length, dimension, harmonics, timeMax, activation);
        int p = bias.Length;
        if (spatial.Length != (long)p * dimension)
            throw new ArgumentException($"spatial (W_x) has {spatial.Length} values but P×D = {p}×{dimension} = {(long)p * dimension}; pass W_x as a P×D row-major matrix.", nameof(spatial));
        if (temporal.Length != (long)p * (2 * harmonics + 1))
            throw new ArgumentException($"temporal (W_t) has {temporal.Length} values but P×(2K+1) = {p}×{2 * harmonics + 1}; pass W_t as a P×(2K+1) row-major matrix.", nameof(temporal));
        RequireFinite(spatial, nameof(spatial));
        RequireFinite(temporal, nameof(temporal));
        RequireFinite(bias, nameof(bias));
        _spatial = spatial;
        _temporal = temporal;
        _bias = bias;
        Dimension = dimension;
        Harmonics = harmonics;
        Activation = activation;
        Schedule = schedule;
        TimeMax = timeMax;
        Seed = seed;
    }

    /// <summary>Draws the weights of P features for inputs of dimension D from Philox under <paramref name="seed"/>.</summary>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="features">P ≥ 1.</param>
    /// <param name="harmonics">K ≥ 0 Fourier harmonics of the time embedding.</param>
    /// <param name="schedule">The noise schedule (any of the project's).</param>
    /// <param name="timeMax">T = t_max &gt; 0.</param>
    /// <param name="seed">The seed; the same seed gives the same weights bit for bit.</param>
    /// <param name="activation">ReLU (default) or tanh.</param>
    public static RandomFeatures Draw(int dimension, int features, int harmonics, NoiseSchedule schedule, double timeMax,
        ulong seed, FeatureActivation activation = FeatureActivation.Relu)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (features < 1)
            throw new ArgumentOutOfRangeException(nameof(features), features, $"features = {features}; a random-feature model needs at least one feature (P >= 1).");
        RequireShape(features, dimension, harmonics, timeMax, activation);
        int e = 2 * harmonics + 1;
        var spatial = new double[(long)features * dimension];
        var temporal = new double[(long)features * e];
        var bias = new double[features];
        double sx = 1 / Math.Sqrt(dimension), st = 1 / Math.Sqrt(e);
        for (int p = 0; p < features; p++)
        {
            var row = spatial.AsSpan(p * dimension, dimension);
            Philox.FillNormals(seed, SpatialStream, (uint)p, 0, row);
            for (int k = 0; k < dimension; k++) row[k] *= sx;
            var trow = temporal.AsSpan(p * e, e);
            Philox.FillNormals(seed, TimeStream, (uint)p, 0, trow);
            for (int k = 0; k < e; k++) trow[k] *= st;
        }
        Philox.FillNormals(seed, BiasStream, 0, 0, bias);
        return new RandomFeatures(spatial, temporal, bias, dimension, harmonics, activation, schedule, timeMax, seed);
    }

    private static void RequireShape(int features, int dimension, int harmonics, double timeMax, FeatureActivation activation)
    {
        if (features < 1)
            throw new ArgumentOutOfRangeException(nameof(features), features, $"features = {features}; a random-feature model needs at least one feature (P >= 1).");
        if (dimension < 1)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 1 (D >= 1).");
        if (harmonics < 0)
            throw new ArgumentOutOfRangeException(nameof(harmonics), harmonics, $"harmonics = {harmonics}; the time embedding needs K >= 0 harmonics (K = 0 keeps only the constant).");
        if (harmonics > 1 << 20)
            throw new ArgumentOutOfRangeException(nameof(harmonics), harmonics, $"harmonics = {harmonics}; at most 2^20 harmonics are supported.");
        if (!(timeMax > 0) || !double.IsFinite(timeMax))
            throw new ArgumentOutOfRangeException(nameof(timeMax), timeMax, $"timeMax = {timeMax}; T = t_max must be finite and > 0.");
        if (!Enum.IsDefined(activation))
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "activation must be Relu or Tanh.");
    }

    private static void RequireFinite(double[] values, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new ArgumentException($"{name} holds {values[i]} at index {i}; every weight must be finite.", name);
    }

    /// <summary>D.</summary>
    public int Dimension { get; }

    /// <summary>P.</summary>
    public int Count => _bias.Length;

    /// <summary>K; the embedding has 2K + 1 entries.</summary>
    public int Harmonics { get; }

    /// <summary>2K + 1.</summary>
    public int EmbeddingLength => 2 * Harmonics + 1;

    /// <summary>The nonlinearity.</summary>
    public FeatureActivation Activation { get; }

    /// <summary>The noise schedule that maps t to (α_t, σ_t).</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>T = t_max, the embedding's period.</summary>
    public double TimeMax { get; }

    /// <summary>The seed of the weights.</summary>
    public ulong Seed { get; }

    /// <summary>W_x, P×D row-major.</summary>
    public ReadOnlySpan<double> Spatial => _spatial;

    /// <summary>W_t, P×(2K+1) row-major.</summary>
    public ReadOnlySpan<double> Temporal => _temporal;

    /// <summary>b, P values.</summary>
    public ReadOnlySpan<double> Bias => _bias;

    /// <summary>φ(t) = [1, sin(2πkt/T)_{k=1..K}, cos(2πkt/T)_{k=1..K}] into <paramref name="phi"/> (2K + 1 values).</summary>
    /// <param name="t">The time.</param>
    /// <param name="phi">2K + 1 values.</param>
    public void Embedding(double t, Span<double> phi)
    {
        if (phi.Length != EmbeddingLength)
            throw new ArgumentException($"phi has {phi.Length} values; the embedding has 2K + 1 = {EmbeddingLength}.", nameof(phi));
        phi[0] = 1;
        for (int k = 1; k <= Harmonics; k++)
        {
            // sinpi/cospi of 2kt/T: the argument reduction is exact in π units
            var (sin, cos) = double.SinCosPi(2.0 * k * t / TimeMax);
            phi[k] = sin;
            phi[Harmonics + k] = cos;
        }
    }

    /// <summary>c(t) = W_t φ(t) + b into <paramref name="offsets"/> (P values), in double: the preactivation's time part.</summary>
    /// <param name="t">The time.</param>
    /// <param name="offsets">P values.</param>
    public void Offsets(double t, Span<double> offsets)
    {
        int e = EmbeddingLength;
        Span<double> phi = e <= 1024 ? stackalloc double[e] : new double[e];
        Embedding(t, phi);
        for (int p = 0; p < Count; p++)
            offsets[p] = _bias[p] + System.Numerics.Tensors.TensorPrimitives.Dot(_temporal.AsSpan(p * e, e), phi);
    }

    /// <summary>
    /// The time t whose level the schedule gives as <paramref name="level"/>: σ(t) is increasing for every schedule
    /// of the project, so t is found by bisection on σ (to the last bit), then α(t) is checked against the level's α.
    /// </summary>
    /// <param name="level">A level of this model's schedule.</param>
    /// <exception cref="ArgumentException">The level's σ is past σ(4·t_max) or its α does not match the schedule's at that σ.</exception>
    public double TimeOf(NoiseLevel level)
    {
        Guard.RequireLevel(level);
        double lo = 0, hi = TimeMax;
        while (Schedule.At(hi).Sigma < level.Sigma)
        {
            lo = hi;
            hi *= 2;
            if (hi > 4 * TimeMax)
                throw new ArgumentException(
                    $"level sigma = {level.Sigma:G6} is beyond the {Schedule.Name} schedule's sigma at 4 t_max = {4 * TimeMax:G6}; this model was fitted for t <= t_max = {TimeMax:G6}.",
                    nameof(level));
        }
        for (int i = 0; i < 200 && hi - lo > 0; i++)
        {
            double mid = lo + (hi - lo) / 2;
            if (mid <= lo || mid >= hi) break;
            if (Schedule.At(mid).Sigma < level.Sigma) lo = mid; else hi = mid;
        }
        double t = hi;
        double alpha = Schedule.At(t).Alpha;
        if (Math.Abs(alpha - level.Alpha) > 1e-6 * Math.Max(alpha, level.Alpha))
            throw new ArgumentException(
                $"level {level} is not on the {Schedule.Name} schedule: at its sigma the schedule has alpha = {alpha:G9}; evaluate the model with a level from its schedule ({Schedule.Name}), or at a time t with EvaluateAt.",
                nameof(level));
        return t;
    }
}
