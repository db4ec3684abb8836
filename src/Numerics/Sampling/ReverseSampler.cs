using System.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Numerics.Sampling;

/// <summary>How a <see cref="ReverseSampler{T}"/> integrates from t_max down to t_min.</summary>
public enum SamplerMethod
{
    /// <summary>The reverse-time SDE <c>dX = [f X − g² s] dt + g dB̄</c> by Euler–Maruyama: stochastic.</summary>
    EulerMaruyama,

    /// <summary>The probability-flow ODE <c>dX/dt = f X − ½ g² s</c> by Heun's method (second order): deterministic.</summary>
    Heun,
}

/// <summary>Where a sampler is: <see cref="Step"/> of <see cref="Steps"/> done, now at time <see cref="Time"/>.</summary>
/// <param name="Step">Steps completed.</param>
/// <param name="Steps">Steps in all.</param>
/// <param name="Time">The time reached.</param>
public readonly record struct SamplerProgress(int Step, int Steps, double Time);

/// <summary>Options of a reverse sampler.</summary>
public sealed record SamplerOptions
{
    /// <summary>Euler–Maruyama on the SDE (the default) or Heun on the probability-flow ODE.</summary>
    public SamplerMethod Method { get; init; } = SamplerMethod.EulerMaruyama;

    /// <summary>
    /// The key of the sampler's Philox streams: the start's normals and each Euler–Maruyama step's are pure functions
    /// of (seed, sample index, step), so a run is reproducible for any thread count and any batch of samples.
    /// </summary>
    public ulong Seed { get; init; }

    /// <summary>0: keep only the final samples; k ≥ 1: also record the samples at every k-th time of the grid (and the last).</summary>
    public int RecordEvery { get; init; }

    /// <summary>Called after each step (on the calling thread), or null.</summary>
    public Action<SamplerProgress>? Progress { get; init; }
}

/// <summary>The samples of a run at one time of the grid.</summary>
/// <param name="Time">The time t.</param>
/// <param name="Samples">M×D row-major samples at t (a copy).</param>
public sealed record TrajectoryFrame<T>(double Time, T[] Samples);

/// <summary>The result of a reverse run: the samples at t_min and, when asked for, frames along the way.</summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class SamplingResult<T>
{
    internal SamplingResult(T[] samples, int count, int dimension, IReadOnlyList<TrajectoryFrame<T>> trajectory)
    {
        Samples = samples;
        Count = count;
        Dimension = dimension;
        Trajectory = trajectory;
    }

    /// <summary>M×D row-major samples at t_min.</summary>
    public T[] Samples { get; }

    /// <summary>The number of samples M.</summary>
    public int Count { get; }

    /// <summary>The dimension D.</summary>
    public int Dimension { get; }

    /// <summary>Frames at t_max and every <see cref="SamplerOptions.RecordEvery"/>-th time (empty when not recording).</summary>
    public IReadOnlyList<TrajectoryFrame<T>> Trajectory { get; }
}

/// <summary>
/// Runs the reverse process of a noise schedule from t_max down to t_min &gt; 0 on a <see cref="TimeGrid"/>, driven by
/// any score model (empirical, log-smoothed, KDE, analytic, a user's): the reverse-time SDE by Euler–Maruyama or the
/// probability-flow ODE by Heun (DESIGN.md §4). All M samples move together, so each step is one batched evaluation
/// of the score (one streamed pass over the training set). Updates are formed in float64 and rounded once to T.
/// </summary>
/// <typeparam name="T">float or double.</typeparam>
public sealed class ReverseSampler<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Philox stream tags (the counter's last word); smoothing draws use 0–3.</summary>
    internal const uint StartTag = 4, StepTag = 5;

    /// <summary>Binds a score model to a schedule and a grid.</summary>
    /// <param name="model">The score field s(x, t).</param>
    /// <param name="schedule">The forward process whose reverse is run.</param>
    /// <param name="grid">The times, t_max first.</param>
    public ReverseSampler(IScoreModel<T> model, NoiseSchedule schedule, TimeGrid grid)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(grid);
        Guard.RequireFloatOrDouble<T>();
        Model = model;
        Schedule = schedule;
        Grid = grid;
    }

    /// <summary>The score model.</summary>
    public IScoreModel<T> Model { get; }

    /// <summary>The schedule.</summary>
    public NoiseSchedule Schedule { get; }

    /// <summary>The time grid.</summary>
    public TimeGrid Grid { get; }

    /// <summary>The dimension D.</summary>
    public int Dimension => Model.Dimension;

    /// <summary>
    /// Draws <paramref name="count"/> starts from N(0, (α² v + σ²) I) at t_max, the exact marginal there of data with mean 0
    /// and per-coordinate variance v = <paramref name="dataVariance"/> (N(0, I) for OU and VP at large t), and runs them down.
    /// </summary>
    /// <param name="count">The number of samples M ≥ 1.</param>
    /// <param name="options">Method, seed, recording and progress; null for the defaults.</param>
    /// <param name="dataVariance">v ≥ 0, the data's variance per coordinate.</param>
    public SamplingResult<T> Sample(int count, SamplerOptions? options = null, double dataVariance = 1)
    {
        options ??= new SamplerOptions();
        var start = GaussianStart(count, Dimension, Schedule.At(Grid.Max), dataVariance, options.Seed);
        return Run(start, options);
    }

    /// <summary>
    /// Starts with samples of N(0, (α² v + σ²) I) at <paramref name="level"/>, one Philox stream per sample under
    /// <paramref name="seed"/>.
    /// </summary>
    /// <param name="count">The number of samples M ≥ 1.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="level">The noise level at t_max.</param>
    /// <param name="dataVariance">v ≥ 0.</param>
    /// <param name="seed">The generator key.</param>
    public static T[] GaussianStart(int count, int dimension, NoiseLevel level, double dataVariance, ulong seed)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "The number of samples must be at least 1.");
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if ((long)count * dimension > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"count = {count} samples of dimension D = {dimension} make {(long)count * dimension} values, more than one array holds " +
                $"({Array.MaxLength}); use count <= {Array.MaxLength / dimension} and sample in batches (another seed per batch).");
        if (!(dataVariance >= 0) || !double.IsFinite(dataVariance))
            throw new ArgumentOutOfRangeException(nameof(dataVariance), dataVariance, "dataVariance must be finite and >= 0.");
        Guard.RequireLevel(level);
        double scale = Math.Sqrt(level.Alpha * level.Alpha * dataVariance + level.Variance);
        var start = new T[(long)count * dimension];
        Parallel.For(0, count, () => new double[dimension], (i, _, xi) =>
        {
            Philox.FillNormals(seed, 0, (uint)i, StartTag, xi);
            for (int j = 0; j < dimension; j++)
                start[(long)i * dimension + j] = T.CreateTruncating(scale * xi[j]);
            return xi;
        }, _ => { });
        return start;
    }

    /// <summary>Runs the given starts (M×D at t_max) down to t_min.</summary>
    /// <param name="start">M×D row-major starting points, every value finite (not modified).</param>
    /// <param name="options">Method, seed, recording and progress; null for the defaults.</param>
    public SamplingResult<T> Run(ReadOnlySpan<T> start, SamplerOptions? options = null)
    {
        options ??= new SamplerOptions();
        if (options.RecordEvery < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.RecordEvery, "RecordEvery must be 0 (off) or a step count >= 1.");
        int d = Dimension;
        int m = Guard.RowCount(start, d, nameof(start));
        if (m == 0)
            throw new ArgumentException($"start is empty; pass at least one row of dimension {d}.", nameof(start));
        Guard.RequireFinite(start, d, nameof(start), "start");

        var x = start.ToArray();
        var score = new T[x.Length];
        var frames = new List<TrajectoryFrame<T>>();
        if (options.RecordEvery > 0) frames.Add(new TrajectoryFrame<T>(Grid.Max, (T[])x.Clone()));
        var times = Grid.Times;
        var heun = options.Method == SamplerMethod.Heun ? new HeunScratch(x.Length) : null;

        for (int step = 0; step < Grid.Steps; step++)
        {
            double t = times[step], next = times[step + 1];
            if (heun is null)
                EulerMaruyamaStep(x, score, m, t, next, step, options.Seed);
            else
                HeunStep(x, score, heun, t, next, step);
            RequireFiniteState(x, d, step, next);
            if (options.RecordEvery > 0 && ((step + 1) % options.RecordEvery == 0 || step + 1 == Grid.Steps))
                frames.Add(new TrajectoryFrame<T>(next, (T[])x.Clone()));
            options.Progress?.Invoke(new SamplerProgress(step + 1, Grid.Steps, next));
        }
        return new SamplingResult<T>(x, m, d, frames);
    }

    /// <summary>x ← x + Δ(g² s − f x) + g √Δ ξ, Δ = t − t' &gt; 0, with ξ from the stream (seed, step, sample).</summary>
    private void EulerMaruyamaStep(T[] x, T[] score, int m, double t, double next, int step, ulong seed)
    {
        int d = Dimension;
        Model.Evaluate(x, Schedule.At(t), new ScoreOutputs<T> { Score = score });
        var (f, g2) = Schedule.Sde(t);
        double delta = t - next, noise = Math.Sqrt(g2 * delta);
        Parallel.For(0, m, () => new double[d], (i, _, xi) =>
        {
            Philox.FillNormals(seed, (uint)step, (uint)i, StepTag, xi);
            long row = (long)i * d;
            for (int j = 0; j < d; j++)
            {
                double xj = double.CreateTruncating(x[row + j]);
                x[row + j] = T.CreateTruncating(xj + delta * (g2 * double.CreateTruncating(score[row + j]) - f * xj) + noise * xi[j]);
            }
            return xi;
        }, _ => { });
    }

    /// <summary>Heun on dx/dt = v(x, t) = f x − ½ g² s: k₁ = v(x, t), x̃ = x + h k₁, x' = x + h (k₁ + v(x̃, t'))/2, h = t' − t.</summary>
    private void HeunStep(T[] x, T[] score, HeunScratch scratch, double t, double next, int step)
    {
        double h = next - t;
        Velocity(x, score, t, scratch.K1);
        for (int i = 0; i < x.Length; i++)
            scratch.Predictor[i] = T.CreateTruncating(double.CreateTruncating(x[i]) + h * scratch.K1[i]);
        RequireFiniteState(scratch.Predictor, Dimension, step, next);
        Velocity(scratch.Predictor, score, next, scratch.K2);
        for (int i = 0; i < x.Length; i++)
            x[i] = T.CreateTruncating(double.CreateTruncating(x[i]) + 0.5 * h * (scratch.K1[i] + scratch.K2[i]));
    }

    private void Velocity(T[] x, T[] score, double t, double[] velocity)
    {
        Model.Evaluate(x, Schedule.At(t), new ScoreOutputs<T> { Score = score });
        var (f, g2) = Schedule.Sde(t);
        for (int i = 0; i < x.Length; i++)
            velocity[i] = f * double.CreateTruncating(x[i]) - 0.5 * g2 * double.CreateTruncating(score[i]);
    }

    internal static void RequireFiniteState(T[] x, int d, int step, double time)
    {
        for (int i = 0; i < x.Length; i++)
        {
            if (!T.IsFinite(x[i]))
                throw new InvalidOperationException(
                    $"Sample {i / d} became non-finite at step {step + 1} (t = {time:G6}), column {i % d}: the step is too large for the score's stiffness there; use more steps or a larger t_min.");
        }
    }

    private sealed class HeunScratch(int length)
    {
        public double[] K1 { get; } = new double[length];
        public double[] K2 { get; } = new double[length];
        public T[] Predictor { get; } = new T[length];
    }
}
