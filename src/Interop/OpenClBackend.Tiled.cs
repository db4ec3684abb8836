using System.Diagnostics;
using Kernels.Numerics;

namespace Kernels.Interop;

/// <summary>The tiled score kernel's host side: its bound arguments, the choice between it and the classic kernel, the tuning runs.</summary>
public sealed partial class OpenClBackend
{
    /// <summary>
    /// score_tiled's arguments after `negligible`: the cut-off c, the bound factor, the largest α‖y‖ and whether the
    /// expansion may be used at all. The bound is the CPU expansion path's (FusedScoreKernel):
    /// E = γ (‖x‖ + α max‖y‖)²/(2σ²) with γ = ν/(1 − ν), ν = (D + 16)u, u = 2⁻²⁴: the D roundings of the dot product, and,
    /// each within u of its operand's size, α and α²‖y‖² rounded to float, ‖x‖² (summed in double, rounded), the three
    /// terms' sum and the FMA, the scaling by −1/(2σ²) and its own rounding (a few u, eight allowed beyond the CPU's eight).
    /// Without fp64 ‖x‖² is summed in float too: D more roundings of ‖x‖², so ν = (2D + 16)u. The factor 1 + 2⁻²⁰ covers
    /// evaluating E itself.
    /// </summary>
    private static void SetBoundArguments<T>(OpenClKernel kernel, ref uint arg, TrainingSet<T> train, NoiseLevel level, Config config, Resident resident)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        double boundFactor = BoundFactor(train.Dimension, level, config.AccDouble);
        // σ² beyond float's range makes −1/(2σ²) zero (every logit 0) or subnormal: no bound to trust, every point is refined
        bool expand = typeof(T) == typeof(float) && float.IsNormal((float)(-0.5 / level.Variance)) && double.IsFinite(boundFactor);
        SetAcc(kernel, arg++, ScorePartials.NegligibleLogit<T>(train.Count), config);
        SetAcc(kernel, arg++, expand ? boundFactor : 0, config);
        SetAcc(kernel, arg++, level.Alpha * resident.MaxNorm, config);
        kernel.SetArgument(arg++, expand ? 1 : 0);
    }

    /// <summary>E / (‖x‖ + α max‖y‖)², the expansion bound's factor (see <see cref="SetBoundArguments{T}"/>).</summary>
    internal static double BoundFactor(int d, NoiseLevel level, bool accDouble)
    {
        double nu = ((accDouble ? d : 2.0 * d) + 16) * Math.ScaleB(1, -24);
        return nu / (1 - nu) * (1 + Math.ScaleB(1, -20)) * 0.5 / level.Variance;
    }

    /// <summary>The largest expansion bound E (nats) for which score_tiled uses the expansion (its EXPANSION_LIMIT).</summary>
    internal const double ExpansionLimit = 4;

    /// <summary>Whether the device can run <paramref name="shape"/> (work-items and __local memory).</summary>
    private bool Fits(TileShape shape, Config config) =>
        shape.IsValid && shape.WorkItems <= Device.MaxWorkGroupSize
        && shape.LocalBytes(config.AccDouble ? sizeof(double) : sizeof(float)) <= Device.LocalMemorySize;

    /// <summary>
    /// The tiled shape a float32 call of dimension <paramref name="d"/> runs with, or null for the classic kernel: as
    /// <see cref="OpenClOptions.ScoreKernel"/> says, else the tuner's choice for this device and dimension class.
    /// </summary>
    private TileShape? ChooseTile(Config classic, int d)
    {
        if (Options.ScoreKernel == OpenClScoreKernel.Classic) return null;
        var candidates = TileShape.Candidates(ShapeKind).Where(t => Fits(t, classic)).ToList();
        if (Options.TileShape is { } forced) return forced;
        if (Options.ScoreKernel == OpenClScoreKernel.Tiled) return candidates.FirstOrDefault();
        if (candidates.Count == 0 || _tuning) return null;
        _tuning = true;
        var totals = TotalTimings;
        int classD = OpenClTuner.ClassDimension(d);
        var problem = new Lazy<(TrainingSet<float>, float[], NoiseLevel)>(() => TuningProblem(classD));
        try
        {
            return OpenClTuner.Choose(OpenClTuner.Key(Device, ShapeKind, d), candidates, shape => TimeShape(classic, shape, problem.Value));
        }
        finally
        {
            _tuning = false;
            TotalTimings = totals;
            if (problem.IsValueCreated) Evict(problem.Value.Item1);
        }
    }

    /// <summary>Set while the tuner times its candidates, whose configurations are forced.</summary>
    private bool _tuning;

    /// <summary>
    /// Seconds for one call of the score on the tuning problem with <paramref name="shape"/> (null: the classic kernel): the
    /// fastest of three after a first that builds the program and uploads the set; +∞ when the device refuses it.
    /// </summary>
    private double TimeShape(Config classic, TileShape? shape, (TrainingSet<float> Train, float[] Queries, NoiseLevel Level) problem)
    {
        var config = shape is null ? classic : classic.WithTile(shape);
        try
        {
            double best = double.PositiveInfinity;
            for (int run = 0; run < 4; run++)
            {
                var clock = Stopwatch.StartNew();
                RunConfigured(problem.Train, problem.Queries, problem.Level, 1, config);
                if (run > 0) best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
            return best;
        }
        catch (OpenClException)
        {
            return double.PositiveInfinity;
        }
    }

    /// <summary>
    /// A small problem in the regime of the standard cases (bench/compare-peers) of each dimension class: Gaussian points
    /// queried at their noised copies (α = 0.8, σ = 0.6, as latent) for D ≤ 16; ±1 pixels with 19% on (α = 0.316,
    /// σ = 0.949, as mnist) above. Seeded, so every process times the same problem.
    /// </summary>
    private static (TrainingSet<float>, float[], NoiseLevel) TuningProblem(int d)
    {
        bool gaussian = d <= 16;
        int n = gaussian ? 8192 : d <= 128 ? 4096 : 2048, m = gaussian ? 512 : 256;
        var level = gaussian ? new NoiseLevel(0.8, 0.6) : new NoiseLevel(0.316, 0.949);
        var rng = new Random(1);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var y = new float[n * d];
        for (int i = 0; i < y.Length; i++) y[i] = gaussian ? (float)Normal() : rng.NextDouble() < 0.19 ? 1f : -1f;
        var x = new float[m * d];
        for (int q = 0; q < m; q++)
        {
            int j = rng.Next(n);
            for (int k = 0; k < d; k++) x[q * d + k] = (float)(level.Alpha * y[j * d + k] + level.Sigma * Normal());
        }
        return (new TrainingSet<float>(y, n, d), x, level);
    }
}
