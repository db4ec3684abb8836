using System.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Numerics.Models;

/// <summary>The weight w(t) of a time in the training loss.</summary>
public enum TimeWeighting
{
    /// <summary>w = 1.</summary>
    One,

    /// <summary>w = σ_t².</summary>
    Sigma2,

    /// <summary>w = σ_t⁴.</summary>
    Sigma4,
}

/// <summary>The start A_0 of the gradient flow.</summary>
public enum InitialCoefficients
{
    /// <summary>A_0 = 0.</summary>
    Zero,

    /// <summary>A_0 with independent N(0, 1) entries from Philox under the model's seed.</summary>
    Gaussian,
}

/// <summary>
/// How the denoising loss <c>L(A) = (1/(N·D)) Σ_i ∫ w(t) E_z ‖m(α_t y_i + σ_t z, t) − α_t y_i‖² dt</c> is discretised:
/// Simpson's rule on <see cref="Nodes"/> equally spaced times over [<see cref="TimeMin"/>, T = t_max] and
/// <see cref="Draws"/> seeded draws z per (point, node).
/// </summary>
public sealed record RandomFeatureTraining
{
    /// <summary>t_min, the first node, 0 &lt; t_min &lt; t_max.</summary>
    public double TimeMin { get; init; } = 1e-3;

    /// <summary>L, odd and at least 3 (Simpson's rule pairs the intervals).</summary>
    public int Nodes { get; init; } = 101;

    /// <summary>m_z ≥ 1, draws per (point, node).</summary>
    public int Draws { get; init; } = 8;

    /// <summary>w(t).</summary>
    public TimeWeighting Weighting { get; init; } = TimeWeighting.One;

    /// <summary>A_0.</summary>
    public InitialCoefficients Initial { get; init; } = InitialCoefficients.Zero;

    /// <summary>Threads, −1 for all cores; the fit is the same bit for bit for any value.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Parses 1, sigma2 or sigma4.</summary>
    public static TimeWeighting ParseWeighting(string name) => name switch
    {
        "1" or "one" => TimeWeighting.One,
        "sigma2" => TimeWeighting.Sigma2,
        "sigma4" => TimeWeighting.Sigma4,
        _ => throw new ArgumentException($"Unknown weighting '{name}'; expected 1, sigma2 or sigma4 (w(t) = 1, sigma_t^2, sigma_t^4).", nameof(name)),
    };

    /// <summary>The command-line spelling of a weighting.</summary>
    public static string Name(TimeWeighting weighting) => weighting switch
    {
        TimeWeighting.One => "1",
        TimeWeighting.Sigma2 => "sigma2",
        _ => "sigma4",
    };

    internal void Validate(double timeMax)
    {
        if (!(TimeMin > 0) || !double.IsFinite(TimeMin))
            throw new ArgumentOutOfRangeException(nameof(TimeMin), TimeMin, $"TimeMin = {TimeMin}; t_min must be finite and > 0 (sigma(0) = 0 is singular).");
        if (!(TimeMin < timeMax))
            throw new ArgumentOutOfRangeException(nameof(TimeMin), TimeMin, $"TimeMin = {TimeMin} is not below t_max = {timeMax}; the time grid needs t_min < t_max.");
        if (Nodes < 3 || Nodes % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(Nodes), Nodes, $"Nodes = {Nodes}; Simpson's rule needs an odd number of nodes >= 3 (e.g. {Math.Max(3, Nodes | 1)}).");
        if (Draws < 1)
            throw new ArgumentOutOfRangeException(nameof(Draws), Draws, $"Draws = {Draws}; take at least one draw per (point, node).");
        if (!Enum.IsDefined(Weighting))
            throw new ArgumentOutOfRangeException(nameof(Weighting), Weighting, "Weighting must be One, Sigma2 or Sigma4.");
        if (!Enum.IsDefined(Initial))
            throw new ArgumentOutOfRangeException(nameof(Initial), Initial, "Initial must be Zero or Gaussian.");
        if (MaxDegreeOfParallelism == 0 || MaxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), MaxDegreeOfParallelism, "MaxDegreeOfParallelism must be -1 (all cores) or at least 1.");
    }
}

/// <summary>
/// The training draws, row by row: row ρ = (l·N + i)·m_z + j is <c>x = α_l y_i + σ_l z</c> with z the Philox normals of
/// stream (i, l, j) under the draw key of the seed, weighted by <c>c_ρ = s_l w(t_l)/(N m_z)</c> (s_l Simpson's weight).
/// Any row can be made on its own, so the fit and the error pass see the same draws without storing them.
/// </summary>
internal sealed class TrainingDraws
{
    private const ulong DrawKey = 0xD1B54A32D192ED03; // xor'd into the seed: the draws' key differs from the weights'

    private readonly double[] _points;

    public TrainingDraws(double[] points, int count, int dimension, RandomFeatures features, RandomFeatureTraining options)
    {
        _points = points;
        Count = count;
        Dimension = dimension;
        Options = options;
        Key = features.Seed ^ DrawKey;
        int l = options.Nodes;
        Times = new double[l];
        Levels = new NoiseLevel[l];
        Weights = new double[l];
        double h = (features.TimeMax - options.TimeMin) / (l - 1);
        for (int n = 0; n < l; n++)
        {
            double t = n == l - 1 ? features.TimeMax : options.TimeMin + n * h;
            Times[n] = t;
            Levels[n] = features.Schedule.At(t);
            double simpson = h / 3 * (n == 0 || n == l - 1 ? 1 : n % 2 == 1 ? 4 : 2);
            double s2 = Levels[n].Variance;
            double w = options.Weighting switch { TimeWeighting.One => 1, TimeWeighting.Sigma2 => s2, _ => s2 * s2 };
            Weights[n] = simpson * w;
        }
    }

    public int Count { get; }

    public int Dimension { get; }

    public RandomFeatureTraining Options { get; }

    public ulong Key { get; }

    /// <summary>t_l.</summary>
    public double[] Times { get; }

    /// <summary>(α_l, σ_l).</summary>
    public NoiseLevel[] Levels { get; }

    /// <summary>Simpson weight × w(t_l) (the time integral's weight of node l).</summary>
    public double[] Weights { get; }

    public long RowsPerNode => (long)Count * Options.Draws;

    public long Rows => RowsPerNode * Options.Nodes;

    public int NodeOf(long row) => (int)(row / RowsPerNode);

    public int PointOf(long row) => (int)(row % RowsPerNode / Options.Draws);

    /// <summary>The row's input x = α y + σ z and target α y (D values each, double).</summary>
    public void Row(long row, Span<double> input, Span<double> target)
    {
        int node = NodeOf(row), i = PointOf(row), j = (int)(row % Options.Draws);
        var level = Levels[node];
        Philox.FillNormals(Key, (uint)i, (uint)node, (uint)j, input);
        int d = Dimension;
        for (int k = 0; k < d; k++)
        {
            double ay = level.Alpha * _points[(long)i * d + k];
            target[k] = ay;
            input[k] = ay + level.Sigma * input[k];
        }
    }

    /// <summary>c_ρ = Simpson weight × w(t) / (N m_z).</summary>
    public double RowWeight(long row) => Weights[NodeOf(row)] / RowsPerNode;

    public static double[] Widen<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = double.CreateChecked(values[i]);
        return result;
    }
}
