using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// The Hessian of the empirical log-density in low-rank form, per query (<see cref="HessianFactor"/>).
/// </summary>
public static partial class Hessian
{
    /// <summary>
    /// The default cap on the number of kept points (rows of the factor) per query. Where more points lie within the
    /// cut-off and D exceeds the cap, the factor keeps the heaviest r of them and is an approximation whatever r is
    /// short of every kept point (the exact top-d subspace of such a query needs them all: <c>maxRank: D</c>, the dense
    /// square root). The cap sets its cost, about r²D/2 multiply-adds for the Gram matrix and 2r³/3 for the reduction,
    /// against N·D for the score's own pass per query: 128 keeps a capped factor within a few score evaluations at the
    /// sizes the benchmarks use (N in the thousands, D in the hundreds), where its results move little with the cap
    /// (README, "Ridge projection"). Raise it for larger N, where the score's own pass grows with N (√(2N) keeps the
    /// two alike), or wherever accuracy is worth r²D.
    /// </summary>
    public const int DefaultMaxRank = 128;

    /// <summary>
    /// Queries per sweep of the training set: each training row is widened to double once and used while it is in L1 for
    /// this many queries, so the set streams from memory once per group rather than once per query.
    /// </summary>
    private const int QueryGroup = 4;

    /// <summary>
    /// The low-rank factor of <c>∇²ℓ</c> at each query. Every logit is computed in double as <c>−‖x − αy‖²/(2σ²)</c>, each
    /// difference by one FMA from the stored values, so there is no cancellation however far x is from the data or however
    /// small σ or α (a working-type logit carries γ_D |u|, which far from the data exceeds the cut-off). The points within
    /// c + ln 2 nats of the largest logit (c = <see cref="ScorePartials.NegligibleLogit{T}"/>) are the candidates; the
    /// lightest of them are left out while the mass dropped in all stays within N e^{−c}
    /// (<see cref="HessianFactor.DroppedMassBound"/>: the rule and its proof are <see cref="TruncatedCount"/>'s), and at
    /// most <paramref name="maxRank"/> of the rest are kept (the largest weights, ties by index;
    /// <see cref="HessianFactor.Capped"/> says the cap bit). The factor's mean and its score <see cref="HessianFactor.Score"/>
    /// are formed from the kept points in double. Where the backend has a screen (<see cref="IScoreBackend.Screen"/>: the
    /// CPU backend's expansion estimates, float32 at D ≥ 32; asked to reach c + ln 2) only its candidates get exact
    /// logits, a superset of the kept points, so the kept set is the same as over every point; elsewhere every point
    /// does. The working type only sets the cut-off. Queries run in
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
        ForEach(model!, queries, level, maxRank, maxDegreeOfParallelism, (q, factor) => result[q] = factor.Detach());
        return result;
    }

    /// <summary>
    /// Builds each query's factor and hands it to <paramref name="consume"/> (from several threads, each query once). The
    /// factor lives in its thread's reused buffers and is valid only during the call (<see cref="HessianFactor.Detach"/> to
    /// keep it): the ridge passes use it so their memory neither grows with M·r·D nor churns the large-object heap.
    /// </summary>
    internal static void ForEach<T>(EmpiricalScore<T> model, ReadOnlySpan<T> queries, NoiseLevel level, int maxRank,
        int maxDegreeOfParallelism, Action<int, HessianFactor> consume, int pairBudget = PairBudget) where T : unmanaged, IFloatingPointIeee754<T>
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
        // the queries widened once, into a pooled buffer (SCMS asks for a pass per round)
        var xs = System.Buffers.ArrayPool<double>.Shared.Rent(m * d);
        // float queries also as they are: the screened logits read them at half the width and widen them in registers
        float[]? xf = typeof(T) == typeof(float) ? System.Buffers.ArrayPool<float>.Shared.Rent(m * d) : null;
        try
        {
            for (int i = 0; i < m * d; i++) xs[i] = double.CreateChecked(queries[i]);
            if (xf is not null) MemoryMarshal.Cast<T, float>(queries).CopyTo(xf);
            FactorsOf(model, queries, xs, xf, level, maxRank, maxDegreeOfParallelism, cut, bound, consume, pairBudget);
        }
        finally
        {
            System.Buffers.ArrayPool<double>.Shared.Return(xs);
            if (xf is not null) System.Buffers.ArrayPool<float>.Shared.Return(xf);
        }
    }

    /// <summary><see cref="ForEach{T}"/> once its arguments are checked and its queries widened into <paramref name="xs"/>.</summary>
    private static void FactorsOf<T>(EmpiricalScore<T> model, ReadOnlySpan<T> queries, double[] xs, float[]? xf, NoiseLevel level, int maxRank,
        int maxDegreeOfParallelism, double cut, double bound, Action<int, HessianFactor> consume, int pairBudget) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var set = model.TrainingSet;
        int d = model.Dimension, n = set.Count, m = queries.Length / d;
        T[] data = set.Rows;
        int rankCap = Math.Min(maxRank, Math.Max(n, 1));
        var backend = maxDegreeOfParallelism == -1 ? model.Backend : model.Backend.WithMaxDegreeOfParallelism(maxDegreeOfParallelism) ?? model.Backend;
        // the backend's screen names each query's candidates: only those get exact distances in double, a block of queries
        // at a time
        bool screened = backend.Screen(set, queries, level, margin: KeptMargin, consume: block =>
        {
            var scratch = Scratch.For(n, d, rankCap);
            try
            {
                var logits = scratch.Logits[0];
                // the block's queries in runs whose pairs fit the budget (a run holds at least one query)
                for (int first = 0, last; first < block.Count; first = last)
                {
                    long pairs = block.Candidates(first).Length;
                    for (last = first + 1; last < block.Count && pairs + block.Candidates(last).Length <= pairBudget; last++)
                        pairs += block.Candidates(last).Length;
                    var exact = BlockCandidateLogits(data, d, xs, xf, level, block, first, last, scratch);
                    for (int i = first; i < last; i++)
                    {
                        int q = block.FirstQuery + i;
                        var x = xs.AsSpan(q * d, d);
                        var candidates = block.Candidates(i);
                        if (candidates.IsEmpty)
                        {
                            candidates = scratch.Every;
                            CandidateLogits(data, d, x, level, candidates, logits, scratch.Row);
                        }
                        else exact.AsSpan(scratch.BlockOffsets[i - first], candidates.Length).CopyTo(logits);
                        consume(q, FactorOne(data, d, x, level, n, cut, bound, maxRank, candidates, logits, scratch, q));
                    }
                }
            }
            finally
            {
                scratch.Release();
            }
        });
        if (screened) return;
        int threads = maxDegreeOfParallelism == -1 ? model.Backend.MaxDegreeOfParallelism : maxDegreeOfParallelism;
        int groups = (m + QueryGroup - 1) / QueryGroup;
        // one worker per thread, each with one set of buffers, taking groups in turn: memory is threads × scratch,
        // however the scheduler would have split a range
        int workers = Math.Max(1, Math.Min(groups, threads > 0 ? threads : Environment.ProcessorCount));
        int next = -1;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ =>
        {
            var scratch = Scratch.For(n, d, rankCap);
            for (int group; (group = Interlocked.Increment(ref next)) < groups;)
            {
                int first = group * QueryGroup, count = Math.Min(QueryGroup, m - first);
                Logits(data, n, d, xs.AsSpan(first * d, count * d), xf is null ? default : xf.AsSpan(first * d, count * d), count, level, scratch);
                for (int g = 0; g < count; g++)
                    consume(first + g, FactorOne(data, d, xs.AsSpan((first + g) * d, d), level, n, cut, bound, maxRank, scratch.Every, scratch.Logits[g], scratch, first + g));
            }
            scratch.Release();
        });
    }

    /// <summary>One thread's buffers: the group's logits, the kept candidates, and the factor it hands out.</summary>
    private sealed class Scratch(int n, int d, int maxRank)
    {
        [ThreadStatic] private static Scratch? _cached;

        /// <summary>
        /// This thread's buffers for the shape, reused from its last pass when they fit (rounds of SCMS repeat it); taken
        /// from the cache while in use, so a consumer that starts another pass on the same thread gets buffers of its own.
        /// </summary>
        public static Scratch For(int n, int d, int maxRank)
        {
            var s = _cached;
            _cached = null;
            return s is not null && s._n == n && s._d == d && s._maxRank == maxRank ? s : new Scratch(n, d, maxRank);
        }

        /// <summary>Hands the buffers back to this thread's cache.</summary>
        public void Release() => _cached = this;

        private readonly int _n = n, _d = d, _maxRank = maxRank;
        public readonly double[][] Logits = Enumerable.Range(0, QueryGroup).Select(_ => new double[Math.Max(n, 1)]).ToArray();
        public readonly double[] Row = new double[d];
        public readonly int[] Kept = new int[Math.Max(n, 1)];

        /// <summary>Every point's index, ascending: the candidates of a query no screen has bounded.</summary>
        public readonly int[] Every = Enumerable.Range(0, n).ToArray();
        public readonly double[] Keys = new double[Math.Max(n, 1)], Exps = new double[Math.Max(n, 1)];
        public readonly double[] Rows = new double[maxRank * d];
        public readonly double[] Weights = new double[maxRank];
        public readonly int[] Indices = new int[maxRank];
        public readonly double[] Mean = new double[d];
        public readonly double[] Score = new double[d];
        public readonly double[] Pivot = new double[d];
        public readonly double[] Negated = new double[d];

        /// <summary>A screened block's pairs (query, candidate) sorted by point: where each point's pairs end.</summary>
        public readonly int[] PointEnd = new int[Math.Max(n, 1)];
        public int[] BlockOffsets = [], PairQuery = [], PairSlot = [];
        public double[] BlockLogits = [];

        /// <summary><paramref name="array"/>, replaced by a larger one when it is shorter than <paramref name="length"/>.</summary>
        public static TItem[] AtLeast<TItem>(ref TItem[] array, int length)
        {
            if (array.Length < length) array = new TItem[Math.Max(length, 2 * array.Length)];
            return array;
        }
    }

    /// <summary>
    /// The most (query, candidate) pairs whose exact logits a thread holds at once (16 bytes each with their bookkeeping,
    /// 32 MB): a screened block's queries are taken in runs within it, so memory does not grow with the block times N.
    /// </summary>
    private const int PairBudget = 1 << 21;

    /// <summary>
    /// The exact logits of the candidates of a screened block's queries <paramref name="first"/> … <paramref name="last"/> − 1,
    /// query i's from <see cref="Scratch.BlockOffsets"/>[i − first] on, in the order of its list (none where it takes every
    /// point). Float rows are taken point by point: each row is read once for all the run's queries that name it, four
    /// queries per pass over it, rather than once per query. Each logit is formed by the same operations in the same order
    /// as <see cref="CandidateLogits"/>'s, so the bits do not depend on the block or the run.
    /// </summary>
    private static double[] BlockCandidateLogits<T>(T[] data, int d, double[] xs, float[]? xf, NoiseLevel level, ScreenedBlock block, int first,
        int last, Scratch s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = last - first;
        var offsets = Scratch.AtLeast(ref s.BlockOffsets, count + 1);
        offsets[0] = 0;
        for (int i = 0; i < count; i++) offsets[i + 1] = offsets[i] + block.Candidates(first + i).Length;
        int pairs = offsets[count];
        var logits = Scratch.AtLeast(ref s.BlockLogits, pairs);
        if (xf is null || !Avx512F.IsSupported || !Vector512.IsHardwareAccelerated)
        {
            for (int i = 0; i < count; i++)
            {
                var candidates = block.Candidates(first + i);
                CandidateLogits(data, d, xs.AsSpan((block.FirstQuery + first + i) * d, d), level, candidates,
                    logits.AsSpan(offsets[i], candidates.Length), s.Row);
            }
            return logits;
        }
        // the pairs sorted by point (a counting sort; each point's queries stay ascending)
        var end = s.PointEnd;
        int n = end.Length;
        Array.Clear(end);
        for (int i = 0; i < count; i++)
            foreach (int c in block.Candidates(first + i)) end[c]++;
        for (int c = 0, total = 0; c < n; c++) end[c] = total += end[c];
        var pairQuery = Scratch.AtLeast(ref s.PairQuery, pairs);
        var pairSlot = Scratch.AtLeast(ref s.PairSlot, pairs);
        for (int i = count - 1; i >= 0; i--)
        {
            var candidates = block.Candidates(first + i);
            for (int j = candidates.Length - 1; j >= 0; j--)
            {
                int slot = --end[candidates[j]];
                pairQuery[slot] = block.FirstQuery + first + i;
                pairSlot[slot] = offsets[i] + j;
            }
        }
        // end[c] is now where point c's pairs begin
        double scale = -0.5 / level.Sigma / level.Sigma, alpha = level.Alpha;
        Span<double> sums = stackalloc double[4];
        var rows = MemoryMarshal.Cast<T, float>(data.AsSpan());
        unsafe
        {
            fixed (float* px = xf)
            fixed (float* py = rows)
            fixed (double* r = sums)
                for (int c = 0; c < n; c++)
                {
                    int begin = end[c], stop = c + 1 < n ? end[c + 1] : pairs;
                    float* y = py + (long)c * d;
                    for (int p = begin; p < stop; p += 4)
                    {
                        // fewer than four left: the last query again, its sum not stored twice
                        int taken = Math.Min(4, stop - p);
                        float* x0 = px + (long)pairQuery[p] * d;
                        float* x1 = px + (long)pairQuery[p + Math.Min(1, taken - 1)] * d;
                        float* x2 = px + (long)pairQuery[p + Math.Min(2, taken - 1)] * d;
                        float* x3 = px + (long)pairQuery[p + taken - 1] * d;
                        SquaredDistances4(x0, x1, x2, x3, y, d, alpha, r);
                        for (int b = 0; b < taken; b++) logits[pairSlot[p + b]] = r[b] * scale;
                    }
                }
        }
        return logits;
    }

    /// <summary>
    /// Every logit −‖x_g − αy_i‖²/(2σ²) of <paramref name="count"/> queries, each training row widened once (float rows
    /// and queries, <paramref name="xf"/>, in registers).
    /// </summary>
    private static void Logits<T>(T[] data, int n, int d, ReadOnlySpan<double> xs, ReadOnlySpan<float> xf, int count, NoiseLevel level, Scratch s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double alpha = level.Alpha, scale = -0.5 / level.Sigma / level.Sigma;
        var row = s.Row.AsSpan();
        if (typeof(T) == typeof(float) && !xf.IsEmpty && count == QueryGroup && Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
        {
            // float rows and queries widened in registers (vcvtps2pd): no pass through a double buffer
            var rows = MemoryMarshal.Cast<T, float>(data.AsSpan());
            Span<double> sums = stackalloc double[QueryGroup];
            unsafe
            {
                fixed (float* x = xf)
                fixed (float* y = rows)
                fixed (double* r = sums)
                    for (int i = 0; i < n; i++)
                    {
                        SquaredDistances4(x, x + d, x + 2 * d, x + 3 * d, y + (long)i * d, d, alpha, r);
                        s.Logits[0][i] = r[0] * scale;
                        s.Logits[1][i] = r[1] * scale;
                        s.Logits[2][i] = r[2] * scale;
                        s.Logits[3][i] = r[3] * scale;
                    }
            }
            return;
        }
        for (int i = 0; i < n; i++)
        {
            Widen(data.AsSpan(i * d, d), row);
            if (count == QueryGroup)
            {
                var (s0, s1, s2, s3) = SquaredDistances4(xs, row, alpha);
                s.Logits[0][i] = s0 * scale;
                s.Logits[1][i] = s1 * scale;
                s.Logits[2][i] = s2 * scale;
                s.Logits[3][i] = s3 * scale;
            }
            else
                for (int g = 0; g < count; g++) s.Logits[g][i] = SquaredDistance(xs.Slice(g * d, d), row, alpha) * scale;
        }
    }

    /// <summary>
    /// ‖x_g − αy‖² for the four queries of <paramref name="xs"/> (4×D) against one row: the row is loaded once per
    /// vector and the four sums are independent FMA chains, so the loop runs at the FMA units' throughput, not their latency.
    /// Each sum is formed with the same operations in the same order as <see cref="SquaredDistance"/>'s, so a query's logits do not depend on its group.
    /// </summary>
    private static (double, double, double, double) SquaredDistances4(ReadOnlySpan<double> xs, ReadOnlySpan<double> y, double alpha)
    {
        int d = y.Length, k = 0;
        ref double yr = ref MemoryMarshal.GetReference(y);
        ref double x0 = ref MemoryMarshal.GetReference(xs);
        ref double x1 = ref Unsafe.Add(ref x0, d), x2 = ref Unsafe.Add(ref x0, 2 * d), x3 = ref Unsafe.Add(ref x0, 3 * d);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var a0 = Vector512<double>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            var na = Vector512.Create(-alpha);
            for (; k + 8 <= d; k += 8)
            {
                var yv = Vector512.LoadUnsafe(ref yr, (nuint)k);
                var e0 = Vector512.FusedMultiplyAdd(na, yv, Vector512.LoadUnsafe(ref x0, (nuint)k)); a0 = Vector512.FusedMultiplyAdd(e0, e0, a0);
                var e1 = Vector512.FusedMultiplyAdd(na, yv, Vector512.LoadUnsafe(ref x1, (nuint)k)); a1 = Vector512.FusedMultiplyAdd(e1, e1, a1);
                var e2 = Vector512.FusedMultiplyAdd(na, yv, Vector512.LoadUnsafe(ref x2, (nuint)k)); a2 = Vector512.FusedMultiplyAdd(e2, e2, a2);
                var e3 = Vector512.FusedMultiplyAdd(na, yv, Vector512.LoadUnsafe(ref x3, (nuint)k)); a3 = Vector512.FusedMultiplyAdd(e3, e3, a3);
            }
            (s0, s1, s2, s3) = (Vector512.Sum(a0), Vector512.Sum(a1), Vector512.Sum(a2), Vector512.Sum(a3));
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var a0 = Vector256<double>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            var na = Vector256.Create(-alpha);
            for (; k + 4 <= d; k += 4)
            {
                var yv = Vector256.LoadUnsafe(ref yr, (nuint)k);
                var e0 = Vector256.FusedMultiplyAdd(na, yv, Vector256.LoadUnsafe(ref x0, (nuint)k)); a0 = Vector256.FusedMultiplyAdd(e0, e0, a0);
                var e1 = Vector256.FusedMultiplyAdd(na, yv, Vector256.LoadUnsafe(ref x1, (nuint)k)); a1 = Vector256.FusedMultiplyAdd(e1, e1, a1);
                var e2 = Vector256.FusedMultiplyAdd(na, yv, Vector256.LoadUnsafe(ref x2, (nuint)k)); a2 = Vector256.FusedMultiplyAdd(e2, e2, a2);
                var e3 = Vector256.FusedMultiplyAdd(na, yv, Vector256.LoadUnsafe(ref x3, (nuint)k)); a3 = Vector256.FusedMultiplyAdd(e3, e3, a3);
            }
            (s0, s1, s2, s3) = (Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3));
        }
        for (; k < d; k++)
        {
            double yk = Unsafe.Add(ref yr, k);
            double e0 = Math.FusedMultiplyAdd(-alpha, yk, Unsafe.Add(ref x0, k)), e1 = Math.FusedMultiplyAdd(-alpha, yk, Unsafe.Add(ref x1, k));
            double e2 = Math.FusedMultiplyAdd(-alpha, yk, Unsafe.Add(ref x2, k)), e3 = Math.FusedMultiplyAdd(-alpha, yk, Unsafe.Add(ref x3, k));
            s0 = Math.FusedMultiplyAdd(e0, e0, s0);
            s1 = Math.FusedMultiplyAdd(e1, e1, s1);
            s2 = Math.FusedMultiplyAdd(e2, e2, s2);
            s3 = Math.FusedMultiplyAdd(e3, e3, s3);
        }
        return (s0, s1, s2, s3);
    }

    /// <summary>
    /// <see cref="SquaredDistances4(ReadOnlySpan{double}, ReadOnlySpan{double}, double)"/> for float queries against a
    /// float row, each vector of both widened exactly in a register: the same operations on the same values, so the same
    /// bits as widening first, at half the loads. The loop is alone in its method, on pointers, so the four accumulators
    /// stay in registers.
    /// </summary>
    private static unsafe void SquaredDistances4(float* x0, float* x1, float* x2, float* x3, float* y, int d, double alpha, double* sums)
    {
        var a0 = Vector512<double>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var na = Vector512.Create(-alpha);
        int k = 0;
        for (; k + 8 <= d; k += 8)
        {
            var yv = Avx512F.ConvertToVector512Double(Avx.LoadVector256(y + k));
            var e0 = Avx512F.FusedMultiplyAdd(na, yv, Avx512F.ConvertToVector512Double(Avx.LoadVector256(x0 + k)));
            var e1 = Avx512F.FusedMultiplyAdd(na, yv, Avx512F.ConvertToVector512Double(Avx.LoadVector256(x1 + k)));
            var e2 = Avx512F.FusedMultiplyAdd(na, yv, Avx512F.ConvertToVector512Double(Avx.LoadVector256(x2 + k)));
            var e3 = Avx512F.FusedMultiplyAdd(na, yv, Avx512F.ConvertToVector512Double(Avx.LoadVector256(x3 + k)));
            a0 = Avx512F.FusedMultiplyAdd(e0, e0, a0);
            a1 = Avx512F.FusedMultiplyAdd(e1, e1, a1);
            a2 = Avx512F.FusedMultiplyAdd(e2, e2, a2);
            a3 = Avx512F.FusedMultiplyAdd(e3, e3, a3);
        }
        double s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
        for (; k < d; k++)
        {
            double yk = y[k];
            double e0 = Math.FusedMultiplyAdd(-alpha, yk, x0[k]), e1 = Math.FusedMultiplyAdd(-alpha, yk, x1[k]);
            double e2 = Math.FusedMultiplyAdd(-alpha, yk, x2[k]), e3 = Math.FusedMultiplyAdd(-alpha, yk, x3[k]);
            s0 = Math.FusedMultiplyAdd(e0, e0, s0);
            s1 = Math.FusedMultiplyAdd(e1, e1, s1);
            s2 = Math.FusedMultiplyAdd(e2, e2, s2);
            s3 = Math.FusedMultiplyAdd(e3, e3, s3);
        }
        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    /// <summary>
    /// The exact logits of one query's candidates (<c>logits[j]</c> for <c>candidates[j]</c>): float rows four at a time, each
    /// widened in registers (the same operations in the same order as <see cref="Logit"/>, so the same bits); other types
    /// one row at a time.
    /// </summary>
    private static void CandidateLogits<T>(ReadOnlySpan<T> data, int d, ReadOnlySpan<double> x, NoiseLevel level, ReadOnlySpan<int> candidates,
        Span<double> logits, double[] row) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int j = 0;
        if (typeof(T) == typeof(float) && Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
        {
            double scale = -0.5 / level.Sigma / level.Sigma;
            Span<double> sums = stackalloc double[4];
            var rows = MemoryMarshal.Cast<T, float>(data);
            unsafe
            {
                fixed (double* px = x)
                fixed (float* y = rows)
                fixed (double* r = sums)
                    for (; j + 4 <= candidates.Length; j += 4)
                    {
                        int i0 = candidates[j], i1 = candidates[j + 1], i2 = candidates[j + 2], i3 = candidates[j + 3];
                        SquaredDistancesOfRows4(px, y + (long)i0 * d, y + (long)i1 * d, y + (long)i2 * d, y + (long)i3 * d, d, level.Alpha, r);
                        logits[j] = r[0] * scale;
                        logits[j + 1] = r[1] * scale;
                        logits[j + 2] = r[2] * scale;
                        logits[j + 3] = r[3] * scale;
                    }
            }
        }
        for (; j < candidates.Length; j++) logits[j] = Logit(data, candidates[j], d, x, level, row);
    }

    /// <summary>‖x − αy_b‖² for one query and four float rows, each as <see cref="SquaredDistance"/> forms it.</summary>
    private static unsafe void SquaredDistancesOfRows4(double* x, float* y0, float* y1, float* y2, float* y3, int d, double alpha, double* sums)
    {
        var a0 = Vector512<double>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        var na = Vector512.Create(-alpha);
        int k = 0;
        for (; k + 8 <= d; k += 8)
        {
            var xv = Avx512F.LoadVector512(x + k);
            var e0 = Avx512F.FusedMultiplyAdd(na, Avx512F.ConvertToVector512Double(Avx.LoadVector256(y0 + k)), xv);
            var e1 = Avx512F.FusedMultiplyAdd(na, Avx512F.ConvertToVector512Double(Avx.LoadVector256(y1 + k)), xv);
            var e2 = Avx512F.FusedMultiplyAdd(na, Avx512F.ConvertToVector512Double(Avx.LoadVector256(y2 + k)), xv);
            var e3 = Avx512F.FusedMultiplyAdd(na, Avx512F.ConvertToVector512Double(Avx.LoadVector256(y3 + k)), xv);
            a0 = Avx512F.FusedMultiplyAdd(e0, e0, a0);
            a1 = Avx512F.FusedMultiplyAdd(e1, e1, a1);
            a2 = Avx512F.FusedMultiplyAdd(e2, e2, a2);
            a3 = Avx512F.FusedMultiplyAdd(e3, e3, a3);
        }
        double s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
        for (; k < d; k++)
        {
            double xk = x[k];
            double e0 = Math.FusedMultiplyAdd(-alpha, y0[k], xk), e1 = Math.FusedMultiplyAdd(-alpha, y1[k], xk);
            double e2 = Math.FusedMultiplyAdd(-alpha, y2[k], xk), e3 = Math.FusedMultiplyAdd(-alpha, y3[k], xk);
            s0 = Math.FusedMultiplyAdd(e0, e0, s0);
            s1 = Math.FusedMultiplyAdd(e1, e1, s1);
            s2 = Math.FusedMultiplyAdd(e2, e2, s2);
            s3 = Math.FusedMultiplyAdd(e3, e3, s3);
        }
        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    /// <summary>The logit −‖x − αy_i‖²/(2σ²) of one point in double, the row widened into <paramref name="row"/>.</summary>
    private static double Logit<T>(ReadOnlySpan<T> data, int i, int d, ReadOnlySpan<double> x, NoiseLevel level, double[] row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Widen(data.Slice(i * d, d), row);
        return SquaredDistance(x, row, level.Alpha) * (-0.5 / level.Sigma / level.Sigma);
    }

    /// <summary>
    /// One query's factor from the exact logits of its <paramref name="candidates"/> (every point, or a screen's superset
    /// of those within the cut-off, ascending; <c>logits[j]</c> is <c>candidates[j]</c>'s).
    /// <paramref name="wholeSetCount"/> (N) and <paramref name="whole"/> (the whole set's points within the cut-off,
    /// summarised; null where the candidates hold all of them) set how many of the lightest are left out
    /// (<see cref="TruncatedCount"/>).
    /// </summary>
    private static HessianFactor FactorOne<T>(T[] data, int d, ReadOnlySpan<double> x, NoiseLevel level, long wholeSetCount, double cut,
        double bound, int maxRank, ReadOnlySpan<int> candidates, double[] logits, Scratch scratch, int q, WithinCutMass? whole = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int u = candidates.Length;
        double max = double.NegativeInfinity;
        for (int j = 0; j < u; j++) max = Math.Max(max, logits[j]);
        if (!double.IsFinite(max))
            throw new MagnitudeOverflowException(
                $"query row {q} is so far from every training point that its squared distances overflow double (sigma = {level.Sigma:G6}); rescale the data and sigma by a common factor.",
                "queries");
        // kept: within the cut (plus ln 2) of the maximum, less the lightest the bound allows; past the cap, the largest
        // weights (ties by index: deterministic). Kept holds positions in the candidates, ascending as their indices are.
        int kept = 0;
        double total = 0;
        var exps = scratch.Exps;
        for (int j = 0; j < u; j++)
        {
            double rel = logits[j] - max;
            total += exps[j] = Math.Exp(rel);
            if (rel >= -(cut + KeptMargin)) scratch.Kept[kept++] = j;
        }
        // the lightest within the cut-off left out while the dropped mass stays within the bound (TruncatedCount)
        var within = scratch.Kept.AsSpan(0, kept);
        var own = Summarise(within, exps);
        if (whole is { } given && (given.Count < own.Count || given.Count > wholeSetCount || given.Mass < own.Mass))
            throw new ArgumentException(
                $"wholeSetWithinCut = ({given.Count} points, mass {given.Mass}) cannot hold this subset's {own.Count} points within the cut-off (mass {own.Mass}) among N = {wholeSetCount}; pass the sum of every shard's KeptRows summary at this query.",
                "wholeSetWithinCut");
        // where D passes the cap the factor keeps at most the cap whatever k is: the test need not go past it
        kept = TruncatedCount(within, exps, wholeSetCount, cut, whole ?? own, scratch.Keys, d > maxRank ? maxRank + 1 : int.MaxValue);
        // more kept points than the cap, but D within it: C summed densely over every kept point, F its D×D square root
        bool dense = kept > maxRank && d <= maxRank;
        bool capped = kept > maxRank && !dense;
        var positions = Largest(within, logits, dense ? kept : Math.Min(kept, maxRank), scratch.Keys);
        int r = positions.Length;
        // the factor lives in the scratch (Detach copies it); only a dense factor's many points may need more room
        var weights = r <= scratch.Weights.Length ? scratch.Weights : new double[r];
        var indices = r <= scratch.Indices.Length ? scratch.Indices : new int[r];
        double mass = 0;
        for (int j = 0; j < r; j++)
        {
            mass += weights[j] = exps[positions[j]]; // e^{u − u*}, formed once above
            indices[j] = candidates[positions[j]];
        }
        for (int j = 0; j < r; j++) weights[j] /= mass;
        double dropped = Math.Max(0, 1 - mass / total);

        // m = y_0 + Σ w (y − y_0) about the heaviest point (rounding relative to the spread, not to ‖m‖);
        // the score Σ w (αy − x)/σ² from the displacements themselves (no cancellation of αm against x)
        double alpha = level.Alpha, variance = level.Variance;
        var mean = scratch.Mean;
        var score = scratch.Score;
        mean.AsSpan().Clear();
        score.AsSpan().Clear();
        var pivot = scratch.Pivot;
        var row = scratch.Row.AsSpan();
        var negated = scratch.Negated;
        var rows = scratch.Rows;
        Widen(data.AsSpan(indices[0] * d, d), pivot);
        TensorPrimitives.Negate(x, negated);
        for (int j = 0; j < r; j++)
        {
            // a factor of one row per point widens each row once, into its own row of F, centred below once m is known
            var widened = dense ? row : rows.AsSpan(j * d, d);
            Widen(data.AsSpan(indices[j] * d, d), widened);
            AccumulateMoments(widened, pivot, negated, alpha, weights[j], mean, score);
        }
        for (int k = 0; k < d; k++)
        {
            mean[k] += pivot[k];
            score[k] /= variance;
        }

        double a = alpha / level.Sigma;
        if (dense)
        {
            SquareRootFactor(data, d, indices.AsSpan(0, r), weights, mean, a / level.Sigma, rows, scratch);
            return new HessianFactor(d, level, d, kept, rows, weights, indices, mean, score, capped, dropped, bound);
        }
        // rows f_j = √w_j (α/σ) (y_j − m)/σ
        for (int j = 0; j < r; j++) CentreAndScale(rows.AsSpan(j * d, d), mean, Math.Sqrt(weights[j]) * a / level.Sigma);
        return new HessianFactor(d, level, r, r, rows, weights, indices, mean, score, capped, dropped, bound);
    }

    /// <summary>
    /// One kept point's part of the mean and the score, per coordinate: mean += w (y − y_0) and score += w fma(α, y, −x),
    /// in one pass over the row (each value rounded as the separate vector operations would round it). Element by element,
    /// so one vector width serves: the loop is bound by its loads and stores, not its arithmetic.
    /// </summary>
    private static void AccumulateMoments(ReadOnlySpan<double> y, ReadOnlySpan<double> pivot, ReadOnlySpan<double> negated, double alpha,
        double w, Span<double> mean, Span<double> score)
    {
        int d = y.Length, k = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            var vw = Vector256.Create(w);
            for (; k + 4 <= d; k += 4)
            {
                var yk = Vector256.Create(y.Slice(k, 4));
                Vector256.FusedMultiplyAdd(yk - Vector256.Create(pivot.Slice(k, 4)), vw, Vector256.Create(mean.Slice(k, 4))).CopyTo(mean.Slice(k, 4));
                var displacement = Vector256.FusedMultiplyAdd(yk, va, Vector256.Create(negated.Slice(k, 4)));
                Vector256.FusedMultiplyAdd(displacement, vw, Vector256.Create(score.Slice(k, 4))).CopyTo(score.Slice(k, 4));
            }
        }
        for (; k < d; k++)
        {
            mean[k] = Math.FusedMultiplyAdd(y[k] - pivot[k], w, mean[k]);
            score[k] = Math.FusedMultiplyAdd(Math.FusedMultiplyAdd(y[k], alpha, negated[k]), w, score[k]);
        }
    }

    /// <summary>f ← (f − m)·c in one pass (the difference rounded, then the product).</summary>
    private static void CentreAndScale(Span<double> f, ReadOnlySpan<double> mean, double c)
    {
        int d = f.Length, k = 0;
        if (Vector256.IsHardwareAccelerated)
            for (var vc = Vector256.Create(c); k + 4 <= d; k += 4)
                ((Vector256.Create(f.Slice(k, 4)) - Vector256.Create(mean.Slice(k, 4))) * vc).CopyTo(f.Slice(k, 4));
        for (; k < d; k++) f[k] = (f[k] - mean[k]) * c;
    }

    /// <summary>
    /// F (D×D) with FᵀF = c² Σ_j w_j (y_j − m)(y_j − m)ᵀ over every kept point: the sum formed densely (one rank-one
    /// update per point, O(r D²)), then F = diag(√μ) Vᵀ from its eigen-decomposition, so the factor is exact where the
    /// cap would otherwise have dropped the lighter points.
    /// </summary>
    private static void SquareRootFactor<T>(T[] data, int d, ReadOnlySpan<int> indices, double[] weights, double[] mean, double c,
        double[] rows, Scratch scratch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var sum = new double[d * d];
        // four points at a time: each row of the sum is loaded and stored once per four rank-one updates
        var block = new double[4 * d];
        int r = indices.Length;
        for (int j0 = 0; j0 < r; j0 += 4)
        {
            int count = Math.Min(4, r - j0);
            for (int b = 0; b < 4; b++)
            {
                var diff = block.AsSpan(b * d, d);
                if (b >= count)
                {
                    diff.Clear(); // a no-op update
                    continue;
                }
                Widen(data.AsSpan(indices[j0 + b] * d, d), diff);
                double scale = Math.Sqrt(weights[j0 + b]) * c;
                for (int k = 0; k < d; k++) diff[k] = (diff[k] - mean[k]) * scale;
            }
            AddOuterProducts4(sum, block, d);
        }
        for (int i = 0; i < d; i++)
            for (int k = i + 1; k < d; k++) sum[k * d + i] = sum[i * d + k] = 0.5 * (sum[i * d + k] + sum[k * d + i]);
        var solver = new LeadingEigenpairs(sum, d);
        var vectors = rows.AsSpan(0, d * d);
        solver.Largest(d, vectors);
        for (int i = 0; i < d; i++)
        {
            double root = Math.Sqrt(Math.Max(0, solver.Values[i]));
            System.Numerics.Tensors.TensorPrimitives.Multiply(vectors.Slice(i * d, d), root, vectors.Slice(i * d, d));
        }
    }

    /// <summary>sum += Σ_b f_b f_bᵀ for the four rows f_b of <paramref name="block"/> (4×D), row by row of the sum.</summary>
    private static void AddOuterProducts4(double[] sum, double[] block, int d)
    {
        ReadOnlySpan<double> f0 = block.AsSpan(0, d), f1 = block.AsSpan(d, d), f2 = block.AsSpan(2 * d, d), f3 = block.AsSpan(3 * d, d);
        for (int i = 0; i < d; i++)
        {
            var row = sum.AsSpan(i * d, d);
            double a0 = f0[i], a1 = f1[i], a2 = f2[i], a3 = f3[i];
            int k = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var v0 = Vector256.Create(a0); var v1 = Vector256.Create(a1); var v2 = Vector256.Create(a2); var v3 = Vector256.Create(a3);
                for (; k + 4 <= d; k += 4)
                {
                    var acc = Vector256.Create(row.Slice(k, 4));
                    acc = Vector256.FusedMultiplyAdd(v0, Vector256.Create(f0.Slice(k, 4)), acc);
                    acc = Vector256.FusedMultiplyAdd(v1, Vector256.Create(f1.Slice(k, 4)), acc);
                    acc = Vector256.FusedMultiplyAdd(v2, Vector256.Create(f2.Slice(k, 4)), acc);
                    acc = Vector256.FusedMultiplyAdd(v3, Vector256.Create(f3.Slice(k, 4)), acc);
                    acc.CopyTo(row.Slice(k, 4));
                }
            }
            for (; k < d; k++)
                row[k] = Math.FusedMultiplyAdd(a3, f3[k], Math.FusedMultiplyAdd(a2, f2[k], Math.FusedMultiplyAdd(a1, f1[k], Math.FusedMultiplyAdd(a0, f0[k], row[k]))));
        }
    }

    /// <summary>
    /// The <paramref name="count"/> candidates with the largest logits, in descending order of logit and ascending index
    /// among ties, in place at the front of <paramref name="candidates"/>: a selection of the count-th largest key first,
    /// so only the kept few are sorted.
    /// </summary>
    private static Span<int> Largest(Span<int> candidates, double[] logits, int count, double[] keys)
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
        candidates.Sort((a, b) => logits[b] != logits[a] ? logits[b].CompareTo(logits[a]) : a.CompareTo(b));
        return candidates;
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
        if (typeof(T) == typeof(double))
        {
            MemoryMarshal.Cast<T, double>(source).CopyTo(destination);
            return;
        }
        if (typeof(T) != typeof(float))
        {
            for (int k = 0; k < source.Length; k++) destination[k] = double.CreateChecked(source[k]);
            return;
        }
        var f = MemoryMarshal.Cast<T, float>(source);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= f.Length; i += 8)
            {
                var (lower, upper) = Vector256.Widen(Vector256.Create(f.Slice(i, 8)));
                lower.CopyTo(destination.Slice(i, 4));
                upper.CopyTo(destination.Slice(i + 4, 4));
            }
        for (; i < f.Length; i++) destination[i] = f[i];
    }
}
