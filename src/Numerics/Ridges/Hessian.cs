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
    /// Queries per sweep of the training set: each training row is widened to double once and used while it is in L1 for
    /// this many queries, so the set streams from memory once per group rather than once per query.
    /// </summary>
    private const int QueryGroup = 4;

    /// <summary>
    /// The low-rank factor of <c>∇²ℓ</c> at each query. Every logit is computed in double as <c>−‖x − αy‖²/(2σ²)</c>, each
    /// difference by one FMA from the stored values, so there is no cancellation however far x is from the data or however
    /// small σ or α (a working-type logit carries γ_D |u|, which far from the data exceeds the cut-off). Points within
    /// <see cref="ScorePartials.NegligibleLogit{T}"/> nats of the largest logit are kept, at most
    /// <paramref name="maxRank"/> of them (the largest weights, ties by index; <see cref="HessianFactor.Capped"/> says the
    /// cap bit). The factor's mean and its score <see cref="HessianFactor.Score"/> are formed from the kept points in
    /// double. This pass runs on the host for either backend: the working type only sets the cut-off. Queries run in
    /// parallel in groups; each query's result depends on it alone, so it is the same bit for bit for any thread count
    /// and any batch.
    /// </summary>
    /// <param name="model">The empirical score (its training set and backend).</param>
    /// <param name="queries">M×D row-major queries, all finite.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="maxRank">The cap on kept points per query, ≥ 1.</param>
    /// <param name="maxDegreeOfParallelism">Threads for the host pass; −1 for the backend's setting.</param>
    public static HessianFactor[] Factor<T>(EmpiricalScore<T> model, ReadOnlySpan<T> queries, NoiseLevel level,
        int maxRank = DefaultMaxRank, int maxDegreeOfParallelism = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new HessianFactor[Guard.RowCount(queries, model?.Dimension ?? 1, nameof(queries))];
        ForEach(model!, queries, level, maxRank, maxDegreeOfParallelism, (q, factor) => result[q] = factor);
        return result;
    }

    /// <summary>
    /// Builds each query's factor and hands it to <paramref name="consume"/> (from several threads, each query once), never
    /// holding more than a group of factors per thread: the ridge passes use it so their memory does not grow with M·r·D.
    /// </summary>
    internal static void ForEach<T>(EmpiricalScore<T> model, ReadOnlySpan<T> queries, NoiseLevel level, int maxRank,
        int maxDegreeOfParallelism, Action<int, HessianFactor> consume) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        if (maxRank < 1) throw new ArgumentOutOfRangeException(nameof(maxRank), maxRank, $"maxRank = {maxRank}; keep at least one point per query.");
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism, "maxDegreeOfParallelism must be -1 (the backend's) or at least 1.");
        Guard.RequireLevel(level);
        int d = model.Dimension;
        int m = Guard.RequireQueries(queries, d);
        var set = model.TrainingSet;
        int n = set.Count;
        double cut = ScorePartials.NegligibleLogit<T>(n);
        double bound = Math.Min(1, n * Math.Exp(-cut));
        var xs = new double[m * d];
        for (int i = 0; i < xs.Length; i++) xs[i] = double.CreateChecked(queries[i]);
        T[] data = set.Rows;
        int threads = maxDegreeOfParallelism == -1 ? model.Backend.MaxDegreeOfParallelism : maxDegreeOfParallelism;
        int groups = (m + QueryGroup - 1) / QueryGroup;
        Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = threads },
            () => new Scratch(n, d),
            (group, _, scratch) =>
            {
                int first = group * QueryGroup, count = Math.Min(QueryGroup, m - first);
                Logits(data, n, d, xs.AsSpan(first * d, count * d), count, level, scratch);
                for (int g = 0; g < count; g++)
                    consume(first + g, FactorOne(data, n, d, xs.AsSpan((first + g) * d, d), level, cut, bound, maxRank, scratch.Logits[g], scratch, first + g));
                return scratch;
            },
            _ => { });
    }

    private sealed class Scratch(int n, int d)
    {
        public readonly double[][] Logits = Enumerable.Range(0, QueryGroup).Select(_ => new double[Math.Max(n, 1)]).ToArray();
        public readonly double[] Row = new double[d];
        public readonly int[] Kept = new int[Math.Max(n, 1)];
        public readonly double[] Keys = new double[Math.Max(n, 1)];
    }

    /// <summary>Every logit −‖x_g − αy_i‖²/(2σ²) of <paramref name="count"/> queries, each training row widened once.</summary>
    private static void Logits<T>(T[] data, int n, int d, ReadOnlySpan<double> xs, int count, NoiseLevel level, Scratch s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double alpha = level.Alpha, scale = -0.5 / level.Sigma / level.Sigma;
        var row = s.Row.AsSpan();
        for (int i = 0; i < n; i++)
        {
            Widen(data.AsSpan(i * d, d), row);
            for (int g = 0; g < count; g++) s.Logits[g][i] = SquaredDistance(xs.Slice(g * d, d), row, alpha) * scale;
        }
    }

    private static HessianFactor FactorOne<T>(T[] data, int n, int d, ReadOnlySpan<double> x, NoiseLevel level, double cut,
        double bound, int maxRank, double[] logits, Scratch scratch, int q) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double max = double.NegativeInfinity;
        for (int i = 0; i < n; i++) max = Math.Max(max, logits[i]);
        if (!double.IsFinite(max))
            throw new MagnitudeOverflowException(
                $"query row {q} is so far from every training point that its squared distances overflow double (sigma = {level.Sigma:G6}); rescale the data and sigma by a common factor.",
                "queries");
        // kept: within the cut of the maximum; past the cap, the largest weights (ties by index: deterministic)
        int kept = 0;
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            double rel = logits[i] - max;
            total += Math.Exp(rel);
            if (rel >= -cut) scratch.Kept[kept++] = i;
        }
        bool capped = kept > maxRank;
        var indices = Largest(scratch.Kept.AsSpan(0, kept), logits, Math.Min(kept, maxRank), scratch.Keys);
        int r = indices.Length;
        var weights = new double[r];
        double mass = 0;
        for (int j = 0; j < r; j++) mass += weights[j] = Math.Exp(logits[indices[j]] - max);
        for (int j = 0; j < r; j++) weights[j] /= mass;
        double dropped = Math.Max(0, 1 - mass / total);

        // m = y_0 + Σ w (y − y_0) about the heaviest point (rounding relative to the spread, not to ‖m‖);
        // the score Σ w (αy − x)/σ² from the displacements themselves (no cancellation of αm against x)
        double alpha = level.Alpha, variance = level.Variance;
        var mean = new double[d];
        var score = new double[d];
        var pivot = new double[d];
        var row = scratch.Row.AsSpan();
        Widen(data.AsSpan(indices[0] * d, d), pivot);
        for (int j = 0; j < r; j++)
        {
            Widen(data.AsSpan(indices[j] * d, d), row);
            for (int k = 0; k < d; k++)
            {
                mean[k] = Math.FusedMultiplyAdd(weights[j], row[k] - pivot[k], mean[k]);
                score[k] = Math.FusedMultiplyAdd(weights[j], Math.FusedMultiplyAdd(alpha, row[k], -x[k]), score[k]);
            }
        }
        for (int k = 0; k < d; k++)
        {
            mean[k] += pivot[k];
            score[k] /= variance;
        }

        // rows f_j = √w_j (α/σ) (y_j − m)/σ
        var rows = new double[r * d];
        double a = alpha / level.Sigma;
        for (int j = 0; j < r; j++)
        {
            var f = rows.AsSpan(j * d, d);
            Widen(data.AsSpan(indices[j] * d, d), f);
            double c = Math.Sqrt(weights[j]) * a / level.Sigma;
            for (int k = 0; k < d; k++) f[k] = (f[k] - mean[k]) * c;
        }
        return new HessianFactor(d, level, rows, weights, indices, mean, score, capped, dropped, bound);
    }

    /// <summary>
    /// The <paramref name="count"/> candidates with the largest logits, in descending order of logit and ascending index
    /// among ties: a selection of the count-th largest key first, so only the kept few are sorted.
    /// </summary>
    private static int[] Largest(Span<int> candidates, double[] logits, int count, double[] keys)
    {
        if (count < candidates.Length)
        {
            var k = keys.AsSpan(0, candidates.Length);
            for (int j = 0; j < candidates.Length; j++) k[j] = logits[candidates[j]];
            double threshold = Select(k, count - 1);
            // strictly above the threshold, then ties at it by ascending index, up to count
            int w = 0, above = 0;
            foreach (int i in candidates) if (logits[i] > threshold) above++;
            int ties = count - above;
            foreach (int i in candidates)
                if (logits[i] > threshold || (logits[i] == threshold && ties-- > 0)) candidates[w++] = i;
            candidates = candidates[..w];
        }
        var result = candidates.ToArray();
        Array.Sort(result, (a, b) => logits[b] != logits[a] ? logits[b].CompareTo(logits[a]) : a.CompareTo(b));
        return result;
    }

    /// <summary>The value of rank <paramref name="rank"/> (0 = largest) of <paramref name="keys"/>, which it reorders (quickselect).</summary>
    private static double Select(Span<double> keys, int rank)
    {
        int lo = 0, hi = keys.Length - 1;
        while (lo < hi)
        {
            double pivot = keys[(lo + hi) >>> 1];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (keys[i] > pivot) i++;
                while (keys[j] < pivot) j--;
                if (i <= j) (keys[i], keys[j]) = (keys[j--], keys[i++]);
            }
            if (rank <= j) hi = j;
            else if (rank >= i) lo = i;
            else return keys[rank];
        }
        return keys[rank];
    }

    /// <summary>‖x − αy‖² in double, each difference by one FMA.</summary>
    internal static double SquaredDistance(ReadOnlySpan<double> x, ReadOnlySpan<double> y, double alpha)
    {
        int d = x.Length, k = 0;
        double s = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var acc = Vector512<double>.Zero;
            var na = Vector512.Create(-alpha);
            for (; k + 8 <= d; k += 8)
            {
                var diff = Vector512.FusedMultiplyAdd(na, Vector512.Create(y.Slice(k, 8)), Vector512.Create(x.Slice(k, 8)));
                acc = Vector512.FusedMultiplyAdd(diff, diff, acc);
            }
            s = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<double>.Zero;
            var na = Vector256.Create(-alpha);
            for (; k + 4 <= d; k += 4)
            {
                var diff = Vector256.FusedMultiplyAdd(na, Vector256.Create(y.Slice(k, 4)), Vector256.Create(x.Slice(k, 4)));
                acc = Vector256.FusedMultiplyAdd(diff, diff, acc);
            }
            s = Vector256.Sum(acc);
        }
        for (; k < d; k++)
        {
            double diff = Math.FusedMultiplyAdd(-alpha, y[k], x[k]);
            s = Math.FusedMultiplyAdd(diff, diff, s);
        }
        return s;
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<double> destination) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double)) MemoryMarshal.Cast<T, double>(source).CopyTo(destination);
        else if (typeof(T) == typeof(float)) System.Numerics.Tensors.TensorPrimitives.ConvertChecked<float, double>(MemoryMarshal.Cast<T, float>(source), destination);
        else for (int k = 0; k < source.Length; k++) destination[k] = double.CreateChecked(source[k]);
    }
}
