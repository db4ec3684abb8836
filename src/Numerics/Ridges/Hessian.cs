using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// The Hessian of the empirical log-density in low-rank form, per query (<see cref="HessianFactor"/>).
/// </summary>
public static class Hessian
{
    /// <summary>The default cap on the number of kept points (rows of the factor) per query.</summary>
    public const int DefaultMaxRank = 256;

    /// <summary>
    /// The low-rank factor of <c>∇²ℓ</c> at each query. One <see cref="EmpiricalScore{T}.Accumulate(ReadOnlySpan{T}, NoiseLevel)"/>
    /// on the model's backend (CPU or OpenCL) gives each query's denoiser m, the pivot about which the kept points' mean is
    /// then recomputed; then the host streams the training rows once per query: every logit is recomputed in double as
    /// <c>−‖x − αy‖²/(2σ²)</c> with each difference formed by one FMA from the stored values (no cancellation however far x
    /// is or however small σ or α; the backend's own largest logit carries the working type's rounding, γ_D |u*|, which far
    /// from the data exceeds the cut-off, so the cut is taken from the double maximum). Points within
    /// <see cref="ScorePartials.NegligibleLogit{T}"/> nats of that maximum are kept, at most <paramref name="maxRank"/> of
    /// them (the largest weights; <see cref="HessianFactor.Capped"/> says the cap bit). Queries run in parallel; each
    /// query's result depends on it alone, so it is the same bit for bit for any thread count.
    /// </summary>
    /// <param name="model">The empirical score (its training set and backend).</param>
    /// <param name="queries">M×D row-major queries, all finite.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="maxRank">The cap on kept points per query, ≥ 1.</param>
    /// <param name="maxDegreeOfParallelism">Threads for the host pass; −1 for the backend's setting.</param>
    public static HessianFactor[] Factor<T>(EmpiricalScore<T> model, ReadOnlySpan<T> queries, NoiseLevel level,
        int maxRank = DefaultMaxRank, int maxDegreeOfParallelism = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        if (maxRank < 1) throw new ArgumentOutOfRangeException(nameof(maxRank), maxRank, $"maxRank = {maxRank}; keep at least one point per query.");
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism, "maxDegreeOfParallelism must be -1 (the backend's) or at least 1.");
        Guard.RequireLevel(level);
        int d = model.Dimension;
        int m = Guard.RequireQueries(queries, d);
        var state = model.Accumulate(queries, level);

        var set = model.TrainingSet;
        int n = set.Count;
        double cut = ScorePartials.NegligibleLogit<T>(n);
        double bound = Math.Min(1, n * Math.Exp(-cut));
        // pivots (the backend's denoiser) and the queries in double
        var pivots = new double[m * d];
        var xs = new double[m * d];
        for (int q = 0; q < m; q++)
        {
            var row = state.Row(q);
            var pivot = pivots.AsSpan(q * d, d);
            if (row.Mass > 0 && double.IsFinite(row.Mass))
                for (int k = 0; k < d; k++) pivot[k] = row.Points[k] / row.Mass;
            if (!IsFinite(pivot)) pivot.Clear();
            for (int k = 0; k < d; k++) xs[q * d + k] = double.CreateChecked(queries[q * d + k]);
        }

        var result = new HessianFactor[m];
        T[] data = set.Rows;
        int threads = maxDegreeOfParallelism == -1 ? model.Backend.MaxDegreeOfParallelism : maxDegreeOfParallelism;
        Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = threads },
            () => new double[Math.Max(n, 1)],
            (q, _, logits) =>
            {
                result[q] = FactorOne(data, n, d, xs.AsSpan(q * d, d), pivots.AsSpan(q * d, d), level, cut, bound, maxRank, logits, q);
                return logits;
            },
            _ => { });
        return result;
    }

    private static HessianFactor FactorOne<T>(T[] data, int n, int d, ReadOnlySpan<double> x, ReadOnlySpan<double> pivot,
        NoiseLevel level, double cut, double bound, int maxRank, double[] logits, int q) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double alpha = level.Alpha, scale = -0.5 / level.Sigma / level.Sigma;
        double max = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            double u = SquaredDistance(x, data.AsSpan(i * d, d), alpha) * scale;
            logits[i] = u;
            if (u > max) max = u;
        }
        if (!double.IsFinite(max))
            throw new MagnitudeOverflowException(
                $"query row {q} is so far from every training point that its squared distances overflow double (sigma = {level.Sigma:G6}); rescale the data and sigma by a common factor.",
                "queries");
        // kept: within the cut of the maximum; capped to the largest weights (ties by index: deterministic)
        var kept = new List<int>();
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double rel = logits[i] - max;
            total += Math.Exp(rel);
            if (rel >= -cut) kept.Add(i);
        }
        kept.Sort((a, b) => logits[b] != logits[a] ? logits[b].CompareTo(logits[a]) : a.CompareTo(b));
        bool capped = kept.Count > maxRank;
        if (capped) kept.RemoveRange(maxRank, kept.Count - maxRank);
        int r = kept.Count;
        var weights = new double[r];
        var indices = kept.ToArray();
        double mass = 0;
        for (int j = 0; j < r; j++) mass += weights[j] = Math.Exp(logits[indices[j]] - max);
        for (int j = 0; j < r; j++) weights[j] /= mass;
        double dropped = Math.Max(0, 1 - mass / total);

        // m = pivot + Σ w (y − pivot): its rounding is relative to the spread about the pivot, not to ‖m‖
        var mean = new double[d];
        var diff = new double[d];
        for (int j = 0; j < r; j++)
        {
            Widen(data.AsSpan(indices[j] * d, d), diff);
            System.Numerics.Tensors.TensorPrimitives.Subtract(diff, pivot, diff);
            HessianFactor.AddScaled(diff, weights[j], mean);
        }
        System.Numerics.Tensors.TensorPrimitives.Add(mean, pivot, mean);

        // rows f_j = √w_j (α/σ) (y_j − m)/σ
        var rows = new double[r * d];
        double a = alpha / level.Sigma;
        for (int j = 0; j < r; j++)
        {
            var f = rows.AsSpan(j * d, d);
            Widen(data.AsSpan(indices[j] * d, d), f);
            System.Numerics.Tensors.TensorPrimitives.Subtract(f, mean, f);
            double c = Math.Sqrt(weights[j]) * a;
            for (int k = 0; k < d; k++) f[k] = f[k] * c / level.Sigma;
        }
        return new HessianFactor(d, level, rows, weights, indices, mean, capped, dropped, bound);
    }

    /// <summary>‖x − αy‖² in double, each difference by one FMA from the stored value of y.</summary>
    internal static double SquaredDistance<T>(ReadOnlySpan<double> x, ReadOnlySpan<T> y, double alpha) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = x.Length, k = 0;
        var acc = Vector512<double>.Zero;
        var na = Vector512.Create(-alpha);
        if (typeof(T) == typeof(double))
        {
            var yd = MemoryMarshal.Cast<T, double>(y);
            for (; k + 8 <= d; k += 8)
            {
                var diff = Vector512.FusedMultiplyAdd(na, Vector512.Create(yd.Slice(k, 8)), Vector512.Create(x.Slice(k, 8)));
                acc = Vector512.FusedMultiplyAdd(diff, diff, acc);
            }
        }
        else
        {
            var yf = MemoryMarshal.Cast<T, float>(y);
            for (; k + 8 <= d; k += 8)
            {
                var v = Vector256.Create(yf.Slice(k, 8));
                var yw = Vector512.Create(Vector256.WidenLower(v), Vector256.WidenUpper(v));
                var diff = Vector512.FusedMultiplyAdd(na, yw, Vector512.Create(x.Slice(k, 8)));
                acc = Vector512.FusedMultiplyAdd(diff, diff, acc);
            }
        }
        double s = Vector512.Sum(acc);
        for (; k < d; k++)
        {
            double diff = Math.FusedMultiplyAdd(-alpha, double.CreateChecked(y[k]), x[k]);
            s = Math.FusedMultiplyAdd(diff, diff, s);
        }
        return s;
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<double> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int k = 0; k < source.Length; k++) destination[k] = double.CreateChecked(source[k]);
    }

    private static bool IsFinite(ReadOnlySpan<double> v)
    {
        foreach (double t in v) if (!double.IsFinite(t)) return false;
        return true;
    }
}
