using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The fused score for small D (at most <see cref="MaxDimension"/>): one vector holds the same coordinate of W queries
/// (16 in float, 8 in double) and each training point is broadcast to them, so every lane carries one query from the
/// first distance to the last sum and nothing is ever reduced across lanes. At small D the points-in-lanes kernel spends
/// most of its time on what does not scale with D: per query and tile, horizontal sums, a reloaded accumulator per
/// group, the running state's updates; here those costs are per W queries.
/// <para>
/// Per block of W queries and tile of P points (P·D vectors stay in L1):
/// 1. the differences t = x − α y and their squared norm (an FMA chain over k), the logits, and the tile's maximum per lane.
///    How a difference is formed depends on α in T (<see cref="IAlphaMode"/>): at α = 1 a subtraction x − y; at 2⁻⁸ ≤ α &lt; 2
///    split in float (<see cref="Job.ScalesQueries"/>), the queries divided by α once per block (x/α = x_hi + x_lo) and (x_hi − y) + x_lo, two
///    subtractions, with α² in the logits' scale; otherwise <c>fma(−α_lo, y, fma(−α_hi, y, x))</c> as on the other path.
///    Each is formed again in step 3, except the last at D above <see cref="MaxFormedDimension"/>, which step 1 holds;
/// 2. per lane, the running state (<see cref="PartialLanes{T}"/>, in double) is rescaled once when the maximum grows; then
///    weights e = e^{u − max} (in float 2^{u − max}, the logits being in units of ln 2: <see cref="Job.LogitScale"/>), the
///    sums of all of them and of the kept ones (summed in T over the tile's even and odd points apart, at most 64 each),
///    and the kept weights, zero where e is below the negligible weight (so a lane's result never depends on its
///    neighbours);
/// 3. over the pairs of points with any kept lane, the sums the outputs need (<see cref="Moments"/>): Σ e·t, a few
///    coordinates at a time with the sums in registers (two per coordinate, even and odd points, to hide the FMA latency);
///    Σ e·y, y broadcast; and for the divergence the squared deviations of t from the tile's mean (the corrected
///    two-pass spread); the tile then merges into each lane's state by the parallel-variance rule (where the queries are
///    divided by α, step 3 sums x_hi − y, x_lo joins once per tile times the kept weight, and the merge multiplies by α).
/// The sum is of e·(x − α y), the exact negation of the other path's e·(α y − x) (rounding is symmetric), so the
/// displacement is negated when it merges. Each query's arithmetic depends on the training set and itself only (the
/// tiles are fixed by N and D; padding lanes repeat a real query), so results are the same for any batching or thread count.
/// </para>
/// <para>
/// The price: a block costs the same for one query as for W, so calls with fewer than W queries pay for idle lanes (at
/// N = 1000, D = 2 a lone query took 0.10 ms against 0.06 ms on the points-in-lanes kernel). The choice of kernel depends
/// on D alone, never on M, so that a query gets the same bits alone or in a batch.
/// </para>
/// </summary>
internal static unsafe partial class QueryLanesKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Largest D this kernel takes: beyond it the held differences outgrow L1 for useful tiles.</summary>
    internal const int MaxDimension = 16;

    private static int W => Vector512<T>.Count;

    /// <summary>
    /// Largest D at which a split difference is formed again in step 3 rather than held (<see cref="SplitAlphaFormed"/>):
    /// at D = 2 forming it again was 4–5% faster (small, circle, one thread), at D = 16 no faster (README.md, Performance).
    /// </summary>
    internal const int MaxFormedDimension = 4;

    /// <summary>Most points per tile: every sum in T runs over the even or the odd points of a tile (≤ 64 terms) before the two
    /// are added and moved to double, inside the error bound's γ_128.</summary>
    internal const int MaxTilePoints = 128;

    /// <summary>
    /// Points per tile: where the differences are held (α split), they (P·D vectors of 64 bytes) fill at most 32 kB; where
    /// they are formed again (α exact), only the logits and weights are held (2P vectors), and the tile takes the most
    /// points, <see cref="MaxTilePoints"/>, so the per-tile merge into the double state is paid a quarter as often at D = 16.
    /// </summary>
    internal static int DefaultTilePoints(int d, bool holdsDifferences) =>
        holdsDifferences ? Math.Clamp(32768 / (d * 64), 8, MaxTilePoints) : MaxTilePoints;

    public static void Evaluate(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs, int dop, int tilePoints)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        fixed (T* pLogDensity = outputs.LogDensity)
        fixed (T* pScore = outputs.Score)
        fixed (T* pDenoiser = outputs.Denoiser)
        fixed (T* pDivergence = outputs.Divergence)
        {
            var job = new Job(train, px, m, level, tilePoints, outputs.Needs)
            {
                LogDensity = pLogDensity, Score = pScore, Denoiser = pDenoiser, Divergence = pDivergence,
            };
            Run(job, dop);
        }
    }

    /// <summary>The queries' states merged into <paramref name="partials"/>: query i into row <paramref name="rows"/>[i] (null: row i).</summary>
    public static void Accumulate(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials, int dop, int tilePoints, int[]? rows = null)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        {
            Run(new Job(train, px, m, partials.Level, tilePoints, partials.Needs) { Partials = partials, PartialsRows = rows }, dop);
        }
        partials.AddTrainingCount(train.Count);
    }

    private static void Run(Job job, int dop)
    {
        int blocks = (job.QueryCount + W - 1) / W;
        if (blocks == 0) return;
        if (dop == 1 || blocks == 1)
        {
            using var scratch = new Scratch(job);
            for (int b = 0; b < blocks; b++) job.ProcessBlock(b, scratch);
            return;
        }
        // runs of consecutive blocks, a few per thread: at small N a block is well under a microsecond, less than the
        // scheduling of one parallel iteration (a block's result does not depend on which thread runs it)
        int threads = dop > 0 ? dop : Environment.ProcessorCount;
        int runs = Math.Min(blocks, 8 * threads), per = (blocks + runs - 1) / runs;
        runs = (blocks + per - 1) / per;
        Parallel.For(0, runs, new ParallelOptions { MaxDegreeOfParallelism = dop },
            () => new Scratch(job),
            (r, _, scratch) =>
            {
                for (int b = r * per, end = Math.Min(blocks, b + per); b < end; b++) job.ProcessBlock(b, scratch);
                return scratch;
            },
            scratch => scratch.Dispose());
    }

    /// <summary>Per-thread buffers in one 64-byte aligned block (every vector load is aligned), freed on dispose.</summary>
    private sealed partial class Scratch : IDisposable
    {
        /// <summary>
        /// Queries transposed (D vectors; divided by α where the job scales them, with their low parts in
        /// <see cref="XLow"/>, D vectors), the tile's differences (P·D), logits and weights (P each).
        /// </summary>
        public readonly T* X, XLow, Differences, Logits, Weights;

        /// <summary>First points of the tile's pairs (p, p + 1) with a non-negligible lane.</summary>
        public readonly int* Heavy;

        /// <summary>
        /// A tile's sums per lane, in T: Σ e t_k and Σ e y_k (D rows of W), the sums of all weights and of the kept ones, the kept
        /// points' squared deviations from the tile's mean and the squared sum of the deviations.
        /// </summary>
        public readonly T* ChunkDifference, ChunkPoints, Total, Kept, Deviations, Offsets;

        /// <summary>The block's running states (one per lane), in double.</summary>
        public readonly PartialLanes<T> State;

        /// <summary>One lane's state as a row, for shards and for reporting a degenerate query.</summary>
        public readonly PartialRows Row;

        private readonly void* _block;

        public Scratch(Job job)
        {
            int w = W, d = job.Dimension, p = job.TilePoints;
            // the differences only where they are held (α split), with a phantom row after the last point, as for the weights
            long held = job.HoldsDifferences ? (long)(p + 1) * d : 0;
            long vectors = 2L * d + held + 2L * p + 1 + 2L * d + 4;
            long bytes = vectors * 64 + (p / 2 + 1) * sizeof(int) + 64;
            _block = NativeMemory.AlignedAlloc((nuint)bytes, 64);
            byte* at = (byte*)_block;
            X = (T*)at; at += d * 64;
            XLow = (T*)at; at += d * 64;
            Differences = (T*)at; at += held * 64;
            Logits = (T*)at; at += p * 64;
            Weights = (T*)at; at += (p + 1) * 64;
            ChunkDifference = (T*)at; at += d * 64;
            ChunkPoints = (T*)at; at += d * 64;
            Total = (T*)at; at += 64;
            Kept = (T*)at; at += 64;
            Deviations = (T*)at; at += 64;
            Offsets = (T*)at; at += 64;
            Heavy = (int*)at;
            State = new PartialLanes<T>(d);
            Row = PartialRows.Allocate(1, d);
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(_block);
            State.Dispose();
        }
    }

    private sealed partial class Job
    {
        public readonly TrainingSet<T> Train;
        public readonly T* Queries;
        public readonly int QueryCount, Dimension, TilePoints;
        public readonly NoiseLevel Level;
        public readonly T Alpha, AlphaLow, CutWeight;

        /// <summary>
        /// The logits' scale: −log₂ e/(2σ²) where T is float (logits in units of ln 2, so the weights take the base-2
        /// exponential, <see cref="VectorExp.Exp2"/>: no reduction by ln 2, four operations fewer per weight), −1/(2σ²) in
        /// double or where the base-2 scale would overflow float. Rounded once from double either way, so a logit carries
        /// the same roundings in either unit.
        /// </summary>
        public readonly T LogitScale;

        /// <summary>The finish's constants of the level and the set (computed once per call).</summary>
        public readonly FinishConstants Constants;

        /// <summary>Whether the logits are in units of ln 2 (<see cref="LogitScale"/>).</summary>
        public readonly bool Base2;

        /// <summary>Nats per unit of logit: ln 2 in base 2, else 1 (exactly: the double path's bits do not change).</summary>
        public double LogitUnit => Base2 ? Math.Log(2) : 1;
        public T* LogDensity, Score, Denoiser, Divergence;
        public ScorePartials? Partials;

        /// <summary>The row of <see cref="Partials"/> each query merges into (null: its own index).</summary>
        public int[]? PartialsRows;

        /// <summary>The sums the outputs need beyond the normaliser.</summary>
        public readonly Moments Needs;

        /// <summary>Whether α = 1 in T: the differences x − y are subtractions (<see cref="UnitAlpha"/>).</summary>
        public bool IsUnitAlpha => Alpha == T.One && T.IsZero(AlphaLow);

        /// <summary>Whether step 1 stores the differences for step 3 (α split in T; <see cref="Tile.Holds{TAlpha}"/>).</summary>
        public bool HoldsDifferences => !T.IsZero(AlphaLow) && !ScalesQueries && Dimension > MaxFormedDimension;

        /// <summary>
        /// Whether α is split in T and the queries come divided by it (<see cref="ScaledQueries"/>): where
        /// <see cref="MinScaledAlpha"/> ≤ α &lt; 2 and the logits' scale with α² in it is a normal number of T (one relative
        /// rounding). A squared distance ‖x/α − y‖² then overflows T where ‖x − α y‖ exceeds α √max_T (about α·1.8e19 in
        /// float), not √max_T.
        /// </summary>
        public readonly bool ScalesQueries;

        /// <summary>The least α at which the queries are divided by it (<see cref="ScalesQueries"/>): 2⁻⁸.</summary>
        internal const double MinScaledAlpha = 1.0 / 256;

        /// <summary>What the tile's sums of differences are multiplied by at the merge: α where the queries are scaled, else 1.</summary>
        public readonly double DifferenceScale;

        public Job(TrainingSet<T> train, T* queries, int queryCount, NoiseLevel level, int tilePoints, Moments needs)
        {
            Needs = needs;
            Train = train;
            Queries = queries;
            QueryCount = queryCount;
            Dimension = train.Dimension;
            Level = level;
            Alpha = T.CreateTruncating(level.Alpha);
            AlphaLow = T.CreateTruncating(level.Alpha - double.CreateTruncating(Alpha));
            // the logits' scale −s²/(2σ²) in nats, or in units of ln 2, rounded once from double; s = α where the squared
            // distances are of x/α − y (the queries scaled), else 1
            T ScaleOf(double s, bool base2) => T.CreateTruncating(base2 ? -0.5 * (s * s) / level.Variance / Math.Log(2) : -0.5 * (s * s) / level.Variance);
            ScalesQueries = !T.IsZero(AlphaLow) && level.Alpha >= MinScaledAlpha && level.Alpha < 2
                && T.IsNormal(ScaleOf(level.Alpha, false)) && T.IsNormal(ScaleOf(level.Alpha, true));
            DifferenceScale = ScalesQueries ? level.Alpha : 1;
            var base2Scale = ScaleOf(DifferenceScale, true);
            Base2 = typeof(T) == typeof(float) && VectorExp.IsAccelerated && T.IsFinite(base2Scale);
            LogitScale = Base2 ? base2Scale : ScaleOf(DifferenceScale, false);
            // with no moments wanted (the log-density alone) every weight counts in the normaliser only
            CutWeight = needs == Moments.None ? T.PositiveInfinity : T.CreateTruncating(Math.Exp(-ScorePartials.NegligibleLogit<T>(train.Count)));
            MagnitudeOverflowException.ThrowIfOutOfRange<T>(level);
            Constants = new FinishConstants(level, train.Count, Dimension);
            TilePoints = Math.Min(tilePoints > 0 ? Math.Min(tilePoints, MaxTilePoints) : DefaultTilePoints(Dimension, HoldsDifferences), train.Count);
        }

        public void ProcessBlock(int block, Scratch s)
        {
            if (IsUnitAlpha) ProcessBlock<UnitAlpha>(block, s);
            else if (T.IsZero(AlphaLow)) ProcessBlock<ExactAlpha>(block, s);
            else if (ScalesQueries) ProcessBlock<ScaledQueries>(block, s);
            else if (HoldsDifferences) ProcessBlock<SplitAlpha>(block, s);
            else ProcessBlock<SplitAlphaFormed>(block, s);
        }

        private void ProcessBlock<TAlpha>(int block, Scratch s) where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, n = Train.Count, w = W;
            int q0 = block * w, nq = Math.Min(w, QueryCount - q0);
            var max = BeginBlock(q0, nq, s);
            var cut = Vector512.Create(CutWeight);
            fixed (T* pRows = Train.Rows)
            {
                for (int p0 = 0; p0 < n; p0 += TilePoints)
                    AddTile<TAlpha>(pRows + (long)p0 * d, Math.Min(TilePoints, n - p0), s, ref max, cut, masked: false, default);
            }
            FinishBlock(q0, nq, max, s);
        }

        /// <summary>Queries [q0, q0 + nq) transposed into the scratch and the lanes' states cleared; returns the lanes' running maximum (−∞).</summary>
        private Vector512<T> BeginBlock(int q0, int nq, Scratch s)
        {
            int d = Dimension, w = W;
            // transposed queries; padding lanes repeat the last query, so they stay finite and cost nothing extra
            for (int lane = 0; lane < w; lane++)
            {
                T* x = Queries + (long)(q0 + Math.Min(lane, nq - 1)) * d;
                for (int k = 0; k < d; k++) s.X[k * w + lane] = x[k];
            }
            if (ScalesQueries) ScaleQueries(s);
            s.State.Clear();
            return Vector512.Create(T.NegativeInfinity);
        }

        /// <summary>
        /// The block's transposed queries divided by α (<see cref="ScaledQueries"/>): each quotient x/α in double (one
        /// rounding, 2⁻⁵³ relative), its high part in T into <c>X</c> and the rest (exact in double) into <c>XLow</c>.
        /// </summary>
        private void ScaleQueries(Scratch s)
        {
            if (typeof(T) != typeof(float)) throw new NotSupportedException("α is split only in float.");
            var alpha = Vector512.Create(Level.Alpha);
            for (int k = 0; k < Dimension; k++)
            {
                var x = Vector512.Load((float*)s.X + k * W);
                var (lower, upper) = Vector512.Widen(x);
                lower /= alpha;
                upper /= alpha;
                var high = Vector512.Narrow(lower, upper);
                var (highLower, highUpper) = Vector512.Widen(high);
                high.Store((float*)s.X + k * W);
                // a quotient beyond float's range keeps its infinite high part and a low part of 0, so its distances
                // overflow to +∞ as ‖x − α y‖² would (not ∞ − ∞)
                var low = Vector512.Narrow(lower - highLower, upper - highUpper);
                Vector512.ConditionalSelect(Vector512.Equals(Vector512.Abs(high), Vector512.Create(float.PositiveInfinity)), Vector512<float>.Zero, low)
                    .Store((float*)s.XLow + k * W);
            }
        }

        /// <summary>
        /// One tile of <paramref name="np"/> row-major points at <paramref name="rows"/> into every lane's state (steps 1–3);
        /// <paramref name="max"/> is the lanes' running maximum. <paramref name="masked"/>: only the lanes set in
        /// <paramref name="active"/> take the tile; the others get logits −∞ (weights exactly 0), which leaves their state and
        /// maximum exactly as they were (the pruned pass, QueryLanesPruned.cs).
        /// </summary>
        private void AddTile<TAlpha>(T* rows, int np, Scratch s, ref Vector512<T> max, Vector512<T> cut, bool masked, Vector512<T> active)
            where TAlpha : struct, IAlphaMode
        {
            int d = Dimension;
            var na = Vector512.Create(-Alpha);
            var nal = Vector512.Create(-AlphaLow);
            var tileMax = Differences<TAlpha>(rows, np, d, s, na, nal);
            if (masked) tileMax = MaskLogits(s, np, active, tileMax);
            var grown = Vector512.Max(max, tileMax);
            // lanes whose maximum grew rescale their state by e^{old − new} (0 from −∞; both −∞ is no growth)
            // (a state whose every lane's maximum is −∞ holds only zeros, the block's first tile: nothing to rescale)
            if (Vector512.GreaterThanAny(grown, max) && !Vector512.EqualsAll(max, Vector512.Create(T.NegativeInfinity)))
                s.State.Rescale(max, grown, LogitUnit);
            max = grown;
            // a lane whose every distance so far overflowed has max −∞: shift by 0 so its weights are e^{−∞} = 0
            var shift = Vector512.ConditionalSelect(Vector512.Equals(max, Vector512.Create(T.NegativeInfinity)), Vector512<T>.Zero, max);

            int heavy = Weights(s, np, d, shift, cut, Tile.Holds<TAlpha>(), Base2);
            if (heavy == 0)
            {
                s.State.AddWeights(s.Total);
                return;
            }
            var tile = new Tile(rows, np, na, nal);
            int k0 = 0;
            if ((Needs & Moments.Displacement) == 0) k0 = d;
            for (; k0 + 8 <= d; k0 += 8) WeightedSums8<TAlpha>(s, heavy, d, k0, tile);
            for (; k0 + 4 <= d; k0 += 4) WeightedSums<Four, TAlpha>(s, heavy, d, k0, tile);
            switch (d - k0)
            {
                case 3: WeightedSums<Three, TAlpha>(s, heavy, d, k0, tile); break;
                case 2: WeightedSums<Two, TAlpha>(s, heavy, d, k0, tile); break;
                case 1: WeightedSums<One, TAlpha>(s, heavy, d, k0, tile); break;
            }
            if ((Needs & Moments.Points) != 0) WeightedPoints(s, heavy, d, rows, np);
            if ((Needs & Moments.Spread) == Moments.Spread) Deviations<TAlpha>(s, heavy, d, tile);
            // step 3 summed x_hi − y: the queries' low parts join once, times the kept weight (after the deviations, which
            // a common shift does not move)
            if (TAlpha.IsScaledQueries && (Needs & Moments.Displacement) != 0)
            {
                var kept = Vector512.Load(s.Kept);
                for (int k = 0; k < d; k++)
                    Simd<T>.Fma(Vector512.Load(s.XLow + k * W), kept, Vector512.Load(s.ChunkDifference + k * W)).Store(s.ChunkDifference + k * W);
            }
            s.State.Merge(Level.Alpha, DifferenceScale, Needs, s.Total, s.Kept, s.Deviations, s.Offsets, s.ChunkDifference, s.ChunkPoints);
        }

        /// <summary>The outputs (or partial rows) of queries [q0, q0 + nq) from the lanes' states and maximum.</summary>
        private void FinishBlock(int q0, int nq, Vector512<T> max, Scratch s)
        {
            int d = Dimension, n = Train.Count;
            if (Partials is null && s.State.Finish(max, LogitUnit, Constants, q0, nq, LogDensity, Score, Denoiser, Divergence)) return;
            for (int lane = 0; lane < nq; lane++)
            {
                int q = q0 + lane;
                var row = s.Row.Row(0);
                s.State.CopyTo(lane, double.CreateTruncating(max[lane]) * LogitUnit, row);
                if (Partials is not null)
                {
                    Partials.Row(PartialsRows?[q] ?? q).Combine(row, Level.Alpha);
                    continue;
                }
                int mq = QueryCount;
                row.Finish(Level, n, q, new ScoreOutputs<T>
                {
                    LogDensity = LogDensity == null ? default : new Span<T>(LogDensity, mq),
                    Score = Score == null ? default : new Span<T>(Score, mq * d),
                    Denoiser = Denoiser == null ? default : new Span<T>(Denoiser, mq * d),
                    Divergence = Divergence == null ? default : new Span<T>(Divergence, mq),
                });
            }
        }

        /// <summary>
        /// The kept points' spread about the tile's own mean, per lane, from the held differences (a second pass over the
        /// heavy pairs, in L1), so it never cancels: Σ e ‖t − mean‖² into <c>Deviations</c> and, since the mean is rounded,
        /// Σ_k (Σ e (t_k − mean_k))² into <c>Offsets</c>, which the merge takes off over the mass (the corrected two-pass
        /// algorithm: the spread is then about the exact mean of the held differences). Four coordinates per pass over the pairs.
        /// </summary>
        private static void Deviations<TAlpha>(Scratch s, int heavy, int d, Tile tile) where TAlpha : struct, IAlphaMode
        {
            int w = W;
            long rowStride = (long)d * w;
            var kept = Vector512.Load(s.Kept);
            var inverse = Vector512.ConditionalSelect(Vector512.GreaterThan(kept, Vector512<T>.Zero), Vector512<T>.One / kept, Vector512<T>.Zero);
            Vector512<T> even = default, odd = default, offset = default;
            for (int k0 = 0; k0 < d; k0 += 4)
            {
                int c = Math.Min(4, d - k0);
                // the tile's mean of t per coordinate (c < 4 only in the last pass, whose missing coordinates are skipped)
                var m0 = Vector512.Load(s.ChunkDifference + k0 * w) * inverse;
                var m1 = c > 1 ? Vector512.Load(s.ChunkDifference + (k0 + 1) * w) * inverse : m0;
                var m2 = c > 2 ? Vector512.Load(s.ChunkDifference + (k0 + 2) * w) * inverse : m0;
                var m3 = c > 3 ? Vector512.Load(s.ChunkDifference + (k0 + 3) * w) * inverse : m0;
                int o1 = w, o2 = 2 * w, o3 = 3 * w;
                T* t = s.Differences + k0 * w;
                var (x0, x1, x2, x3) = tile.Queries<TAlpha>(s.X, k0, c);
                Vector512<T> s0 = default, s1 = default, s2 = default, s3 = default;
                for (int i = 0; i < heavy; i++)
                {
                    int p = s.Heavy[i];
                    var wp = Vector512.Load(s.Weights + p * w);
                    var wr = Vector512.Load(s.Weights + (p + 1) * w);
                    T* tp = t + p * rowStride, tr = tp + rowStride;
                    var (yp, yr) = tile.Pair(p, d, k0);
                    Deviate(tile.At<TAlpha>(tp, yp, x0), tile.At<TAlpha>(tr, yr, x0), m0, wp, wr, ref even, ref odd, ref s0);
                    if (c > 1) Deviate(tile.At<TAlpha>(tp + o1, yp + 1, x1), tile.At<TAlpha>(tr + o1, yr + 1, x1), m1, wp, wr, ref even, ref odd, ref s1);
                    if (c > 2) Deviate(tile.At<TAlpha>(tp + o2, yp + 2, x2), tile.At<TAlpha>(tr + o2, yr + 2, x2), m2, wp, wr, ref even, ref odd, ref s2);
                    if (c > 3) Deviate(tile.At<TAlpha>(tp + o3, yp + 3, x3), tile.At<TAlpha>(tr + o3, yr + 3, x3), m3, wp, wr, ref even, ref odd, ref s3);
                }
                offset = Simd<T>.Fma(s0, s0, offset);
                if (c > 1) offset = Simd<T>.Fma(s1, s1, offset);
                if (c > 2) offset = Simd<T>.Fma(s2, s2, offset);
                if (c > 3) offset = Simd<T>.Fma(s3, s3, offset);
            }
            (even + odd).Store(s.Deviations);
            offset.Store(s.Offsets);
        }

        /// <summary>One coordinate of a pair (p, p + 1): the squared deviations from the mean into even and odd, the deviations into sum.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Deviate(Vector512<T> tp, Vector512<T> tr, Vector512<T> mean, Vector512<T> wp, Vector512<T> wr,
            ref Vector512<T> even, ref Vector512<T> odd, ref Vector512<T> sum)
        {
            var a = tp - mean;
            var b = tr - mean;
            even = Simd<T>.Fma(wp * a, a, even);
            odd = Simd<T>.Fma(wr * b, b, odd);
            sum = Simd<T>.Fma(wp, a, Simd<T>.Fma(wr, b, sum));
        }

        /// <summary>
        /// Σ e y_k per lane over the tile's heavy pairs, y broadcast from the row-major points at <paramref name="rows"/> (the
        /// tile's first), even and odd points apart, into the tile's point sums; four coordinates per pass over the pairs.
        /// </summary>
        private static void WeightedPoints(Scratch s, int heavy, int d, T* rows, int np)
        {
            int w = W;
            for (int k0 = 0; k0 < d; k0 += 4)
            {
                int c = Math.Min(4, d - k0);
                Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
                for (int i = 0; i < heavy; i++)
                {
                    int p = s.Heavy[i];
                    var wp = Vector512.Load(s.Weights + p * w);
                    var wr = Vector512.Load(s.Weights + (p + 1) * w);
                    T* yp = rows + (long)p * d + k0;
                    // the phantom partner of an odd last point has weight 0 and no row: its own point stands in for it
                    T* yr = p + 1 < np ? yp + d : yp;
                    a0 = Simd<T>.Fma(wp, Vector512.Create(yp[0]), a0);
                    b0 = Simd<T>.Fma(wr, Vector512.Create(yr[0]), b0);
                    if (c > 1)
                    {
                        a1 = Simd<T>.Fma(wp, Vector512.Create(yp[1]), a1);
                        b1 = Simd<T>.Fma(wr, Vector512.Create(yr[1]), b1);
                    }
                    if (c > 2)
                    {
                        a2 = Simd<T>.Fma(wp, Vector512.Create(yp[2]), a2);
                        b2 = Simd<T>.Fma(wr, Vector512.Create(yr[2]), b2);
                    }
                    if (c > 3)
                    {
                        a3 = Simd<T>.Fma(wp, Vector512.Create(yp[3]), a3);
                        b3 = Simd<T>.Fma(wr, Vector512.Create(yr[3]), b3);
                    }
                }
                T* row = s.ChunkPoints + k0 * w;
                (a0 + b0).Store(row);
                if (c > 1) (a1 + b1).Store(row + w);
                if (c > 2) (a2 + b2).Store(row + 2 * w);
                if (c > 3) (a3 + b3).Store(row + 3 * w);
            }
        }

        /// <summary>
        /// Step 1 for the <paramref name="np"/> row-major points at <paramref name="rows"/>: squared distances and logits into
        /// the scratch, and the differences too where step 3 reads them held (<see cref="Tile.Holds{TAlpha}"/>); returns each
        /// lane's largest logit.
        /// </summary>
        private Vector512<T> Differences<TAlpha>(T* rows, int np, int d, Scratch s, Vector512<T> na, Vector512<T> nal)
            where TAlpha : struct, IAlphaMode
        {
            bool hold = Tile.Holds<TAlpha>();
            var scale = Vector512.Create(LogitScale);
            var best = Vector512.Create(T.NegativeInfinity);
            int w = W;
            long rowStride = (long)d * w;
            T* x = s.X, xLow = s.XLow, t = s.Differences, logits = s.Logits;
            int p = 0;
            // eight points per step where the differences are not stored: eight independent FMA chains over k keep both FMA
            // units busy through the FMA latency, one load of the queries' coordinate shared by the eight; where they are
            // stored, and for a tile's last points, two (four store streams measured slower). Each point's chain runs over k
            // in the same order either way, so the bits do not depend on the step.
            for (; !hold && p + 8 <= np; p += 8)
            {
                T* y0 = rows + (long)p * d, y1 = y0 + d, y2 = y1 + d, y3 = y2 + d, y4 = y3 + d, y5 = y4 + d, y6 = y5 + d, y7 = y6 + d;
                Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int k = 0; k < d; k++)
                {
                    var xk = Vector512.Load(x + k * w);
                    var lk = TAlpha.IsScaledQueries ? Vector512.Load(xLow + k * w) : default;
                    var u0 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y0[k]), xk), lk);
                    var u1 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y1[k]), xk), lk);
                    var u2 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y2[k]), xk), lk);
                    var u3 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y3[k]), xk), lk);
                    var u4 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y4[k]), xk), lk);
                    var u5 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y5[k]), xk), lk);
                    var u6 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y6[k]), xk), lk);
                    var u7 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y7[k]), xk), lk);
                    a0 = Simd<T>.Fma(u0, u0, a0);
                    a1 = Simd<T>.Fma(u1, u1, a1);
                    a2 = Simd<T>.Fma(u2, u2, a2);
                    a3 = Simd<T>.Fma(u3, u3, a3);
                    a4 = Simd<T>.Fma(u4, u4, a4);
                    a5 = Simd<T>.Fma(u5, u5, a5);
                    a6 = Simd<T>.Fma(u6, u6, a6);
                    a7 = Simd<T>.Fma(u7, u7, a7);
                }
                var l0 = a0 * scale;
                var l1 = a1 * scale;
                var l2 = a2 * scale;
                var l3 = a3 * scale;
                var l4 = a4 * scale;
                var l5 = a5 * scale;
                var l6 = a6 * scale;
                var l7 = a7 * scale;
                l0.Store(logits + p * w);
                l1.Store(logits + (p + 1) * w);
                l2.Store(logits + (p + 2) * w);
                l3.Store(logits + (p + 3) * w);
                l4.Store(logits + (p + 4) * w);
                l5.Store(logits + (p + 5) * w);
                l6.Store(logits + (p + 6) * w);
                l7.Store(logits + (p + 7) * w);
                best = Vector512.Max(best, Vector512.Max(Vector512.Max(Vector512.Max(l0, l1), Vector512.Max(l2, l3)),
                    Vector512.Max(Vector512.Max(l4, l5), Vector512.Max(l6, l7))));
            }
            for (; p + 2 <= np; p += 2)
            {
                T* y0 = rows + (long)p * d, y1 = y0 + d;
                T* t0 = t + p * rowStride, t1 = t0 + rowStride;
                Vector512<T> a0 = default, a1 = default;
                for (int k = 0; k < d; k++)
                {
                    var xk = Vector512.Load(x + k * w);
                    var lk = TAlpha.IsScaledQueries ? Vector512.Load(xLow + k * w) : default;
                    var u0 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y0[k]), xk), lk);
                    var u1 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y1[k]), xk), lk);
                    if (hold)
                    {
                        u0.Store(t0 + k * w);
                        u1.Store(t1 + k * w);
                    }
                    a0 = Simd<T>.Fma(u0, u0, a0);
                    a1 = Simd<T>.Fma(u1, u1, a1);
                }
                var l0 = a0 * scale;
                var l1 = a1 * scale;
                l0.Store(logits + p * w);
                l1.Store(logits + (p + 1) * w);
                best = Vector512.Max(best, Vector512.Max(l0, l1));
            }
            for (; p < np; p++)
            {
                T* y0 = rows + (long)p * d;
                T* t0 = t + p * rowStride;
                Vector512<T> a0 = default;
                for (int k = 0; k < d; k++)
                {
                    var u0 = Low<TAlpha>(Simd<T>.Difference<TAlpha>(na, nal, Vector512.Create(y0[k]), Vector512.Load(x + k * w)),
                        TAlpha.IsScaledQueries ? Vector512.Load(xLow + k * w) : default);
                    if (hold) u0.Store(t0 + k * w);
                    a0 = Simd<T>.Fma(u0, u0, a0);
                }
                var l0 = a0 * scale;
                l0.Store(logits + p * w);
                best = Vector512.Max(best, l0);
            }
            return best;
        }

        /// <summary>
        /// Step 2 over the tile's <paramref name="np"/> points, two at a time with their own sums (a method of its own, so
        /// the sums stay in registers): weights, the sums of all of them and of the kept ones per lane, and the list of pairs
        /// (p, p + 1) with a non-negligible lane, whose count it returns. Step 3 sums even and odd points apart, so a lane's
        /// sums must not depend on which of its neighbours' points are listed: a listed pair adds exact zeros for the lanes
        /// where it is negligible. An odd last point gets a phantom partner of weight 0 (and held differences 0, where they are held).
        /// </summary>
        private static int Weights(Scratch s, int np, int d, Vector512<T> shift, Vector512<T> cut, bool holds, bool base2)
        {
            int w = W;
            T* logits = s.Logits, weights = s.Weights;
            int* list = s.Heavy;
            Vector512<T> total0 = default, total1 = default, kept0 = default, kept1 = default;
            int heavy = 0, p = 0;
            // four points (two pairs) per step, their exponentials interleaved (Simd.Exp4); the even points' sums and the odd
            // points' take their terms in the same order as two at a time would
            for (; p + 4 <= np; p += 4)
            {
                var e0 = Vector512.Load(logits + p * w) - shift;
                var e1 = Vector512.Load(logits + (p + 1) * w) - shift;
                var e2 = Vector512.Load(logits + (p + 2) * w) - shift;
                var e3 = Vector512.Load(logits + (p + 3) * w) - shift;
                WeightOf4(ref e0, ref e1, ref e2, ref e3, base2);
                var w0 = Kept(e0, cut, ref kept0, ref total0);
                var w1 = Kept(e1, cut, ref kept1, ref total1);
                var w2 = Kept(e2, cut, ref kept0, ref total0);
                var w3 = Kept(e3, cut, ref kept1, ref total1);
                w0.Store(weights + p * w);
                w1.Store(weights + (p + 1) * w);
                w2.Store(weights + (p + 2) * w);
                w3.Store(weights + (p + 3) * w);
                list[heavy] = p;
                heavy += Vector512.EqualsAll(w0 + w1, Vector512<T>.Zero) ? 0 : 1;
                list[heavy] = p + 2;
                heavy += Vector512.EqualsAll(w2 + w3, Vector512<T>.Zero) ? 0 : 1;
            }
            for (; p + 2 <= np; p += 2)
            {
                var e0 = WeightOf(Vector512.Load(logits + p * w) - shift, base2);
                var e1 = WeightOf(Vector512.Load(logits + (p + 1) * w) - shift, base2);
                var w0 = Kept(e0, cut, ref kept0, ref total0);
                var w1 = Kept(e1, cut, ref kept1, ref total1);
                w0.Store(weights + p * w);
                w1.Store(weights + (p + 1) * w);
                list[heavy] = p;
                heavy += Vector512.EqualsAll(w0 + w1, Vector512<T>.Zero) ? 0 : 1;
            }
            if (p < np)
            {
                var e0 = WeightOf(Vector512.Load(logits + p * w) - shift, base2);
                var w0 = Kept(e0, cut, ref kept0, ref total0);
                w0.Store(weights + p * w);
                // the scratch may hold anything (NaN included) past the last point
                Vector512<T>.Zero.Store(weights + np * w);
                // (a vector loop, not Span.Clear: a call here would make the JIT keep the loop's sums on the stack)
                T* phantom = s.Differences + (long)np * d * w;
                for (int k = 0; holds && k < d; k++) Vector512<T>.Zero.Store(phantom + k * w);
                list[heavy] = p;
                heavy += Vector512.EqualsAll(w0, Vector512<T>.Zero) ? 0 : 1;
            }
            (total0 + total1).Store(s.Total);
            (kept0 + kept1).Store(s.Kept);
            return heavy;
        }

        /// <summary>The weight of a logit less the maximum: 2^v where the logits are in units of ln 2 (<see cref="Job.Base2"/>), else e^v.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<T> WeightOf(Vector512<T> v, bool base2) =>
            typeof(T) == typeof(float) && base2 ? VectorExp.Exp2(v.AsSingle()).As<float, T>() : Simd<T>.Exp(v);

        /// <summary><see cref="WeightOf"/> of four vectors in place, interleaved: the same bits as four calls.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void WeightOf4(ref Vector512<T> v0, ref Vector512<T> v1, ref Vector512<T> v2, ref Vector512<T> v3, bool base2)
        {
            if (typeof(T) == typeof(float) && base2)
                VectorExp.Exp2x4(ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v0), ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v1),
                    ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v2), ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v3));
            else Simd<T>.Exp4(ref v0, ref v1, ref v2, ref v3);
        }

        /// <summary>
        /// The weight e where it is above the negligible weight <paramref name="cut"/>, else 0, added to <paramref name="kept"/>,
        /// and e itself to <paramref name="total"/> (the normaliser takes every weight: one sum of them all, not the kept and
        /// the rest apart, saves a subtraction per point); selects rather than ANDs with the mask, so the mask stays in a mask
        /// register.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<T> Kept(Vector512<T> e, Vector512<T> cut, ref Vector512<T> kept, ref Vector512<T> total)
        {
            var weight = Vector512.ConditionalSelect(Vector512.GreaterThan(e, cut), e, Vector512<T>.Zero);
            kept += weight;
            total += e;
            return weight;
        }

        /// <summary>
        /// Step 3 for coordinates [k0, k0 + TCount.Value): Σ weight·t over the tile's heavy pairs of points, in registers
        /// (even and odd points apart, then added), then added to the double state.
        /// </summary>
        private static void WeightedSums<TCount, TAlpha>(Scratch s, int heavy, int d, int k0, Tile tile)
            where TCount : struct, ICount where TAlpha : struct, IAlphaMode
        {
            int c = TCount.Value, w = W;
            long rowStride = (long)d * w;
            T* t = s.Differences + k0 * w;
            var (x0, x1, x2, x3) = tile.Queries<TAlpha>(s.X, k0, c);
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int i = 0; i < heavy; i++)
            {
                int p = s.Heavy[i], r = p + 1;
                var wp = Vector512.Load(s.Weights + p * w);
                var wr = Vector512.Load(s.Weights + r * w);
                T* tp = t + p * rowStride, tr = t + r * rowStride;
                var (yp, yr) = tile.Pair(p, d, k0);
                tile.Accumulate<TAlpha>(ref a0, ref b0, wp, wr, tp, tr, yp, yr, x0, 0);
                if (c > 1) tile.Accumulate<TAlpha>(ref a1, ref b1, wp, wr, tp, tr, yp, yr, x1, 1);
                if (c > 2) tile.Accumulate<TAlpha>(ref a2, ref b2, wp, wr, tp, tr, yp, yr, x2, 2);
                if (c > 3) tile.Accumulate<TAlpha>(ref a3, ref b3, wp, wr, tp, tr, yp, yr, x3, 3);
            }
            T* row = s.ChunkDifference + k0 * w;
            (a0 + b0).Store(row);
            if (c > 1) (a1 + b1).Store(row + w);
            if (c > 2) (a2 + b2).Store(row + 2 * w);
            if (c > 3) (a3 + b3).Store(row + 3 * w);
        }
    }

    /// <summary>
    /// <see cref="Job"/>'s step 3 for eight coordinates [k0, k0 + 8): sixteen sums in registers, so each pair's weights are
    /// loaded once per eight coordinates (the same sums, in the same order, as two calls for four).
    /// </summary>
    private static void WeightedSums8<TAlpha>(Scratch s, int heavy, int d, int k0, Tile tile) where TAlpha : struct, IAlphaMode
    {
        int w = W;
        long rowStride = (long)d * w;
        T* t = s.Differences + k0 * w;
        var (x0, x1, x2, x3) = tile.Queries<TAlpha>(s.X, k0, 4);
        var (x4, x5, x6, x7) = tile.Queries<TAlpha>(s.X, k0 + 4, 4);
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int i = 0; i < heavy; i++)
        {
            int p = s.Heavy[i];
            var wp = Vector512.Load(s.Weights + p * w);
            var wr = Vector512.Load(s.Weights + (p + 1) * w);
            T* tp = t + p * rowStride, tr = tp + rowStride;
            var (yp, yr) = tile.Pair(p, d, k0);
            tile.Accumulate<TAlpha>(ref a0, ref b0, wp, wr, tp, tr, yp, yr, x0, 0);
            tile.Accumulate<TAlpha>(ref a1, ref b1, wp, wr, tp, tr, yp, yr, x1, 1);
            tile.Accumulate<TAlpha>(ref a2, ref b2, wp, wr, tp, tr, yp, yr, x2, 2);
            tile.Accumulate<TAlpha>(ref a3, ref b3, wp, wr, tp, tr, yp, yr, x3, 3);
            tile.Accumulate<TAlpha>(ref a4, ref b4, wp, wr, tp, tr, yp, yr, x4, 4);
            tile.Accumulate<TAlpha>(ref a5, ref b5, wp, wr, tp, tr, yp, yr, x5, 5);
            tile.Accumulate<TAlpha>(ref a6, ref b6, wp, wr, tp, tr, yp, yr, x6, 6);
            tile.Accumulate<TAlpha>(ref a7, ref b7, wp, wr, tp, tr, yp, yr, x7, 7);
        }
        T* row = s.ChunkDifference + k0 * w;
        (a0 + b0).Store(row);
        (a1 + b1).Store(row + w);
        (a2 + b2).Store(row + 2 * w);
        (a3 + b3).Store(row + 3 * w);
        (a4 + b4).Store(row + 4 * w);
        (a5 + b5).Store(row + 5 * w);
        (a6 + b6).Store(row + 6 * w);
        (a7 + b7).Store(row + 7 * w);
    }

    /// <summary>
    /// Where step 3 takes a pair's differences t = x − α y from: held in the scratch by step 1 when α is split (two FMAs
    /// per difference), or formed again from the tile's points (row-major at <see cref="Rows"/>) and the queries when α is
    /// exact in T (one FMA). Either way the same operations on the same inputs, so the same bits; forming one again costs
    /// an FMA where holding it costs a store in step 1 and a load in step 3, and at D = 16 the stores were the largest
    /// cost of step 1 (a store per point and coordinate).
    /// </summary>
    private readonly struct Tile(T* rows, int count, Vector512<T> na, Vector512<T> nal)
    {
        public readonly T* Rows = rows;
        public readonly int Count = count;
        public readonly Vector512<T> NegAlpha = na, NegAlphaLow = nal;

        /// <summary>Whether step 1 stores the differences for step 3.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool Holds<TAlpha>() where TAlpha : struct, IAlphaMode => !TAlpha.IsExact && !TAlpha.FormsAgain;

        /// <summary>
        /// Coordinate k0 of the pair (p, p + 1)'s points; the phantom partner of an odd last point (weight 0) takes its
        /// own point's row, so its differences are finite and add exact zeros.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public (Ptr First, Ptr Second) Pair(int p, int d, int k0)
        {
            T* yp = Rows + (long)p * d + k0;
            return (new Ptr(yp), new Ptr(p + 1 < Count ? yp + d : yp));
        }

        /// <summary>The queries' coordinates k0 … k0 + c − 1 (fewer than four: the missing ones repeat k0), where t is formed again.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public (Vector512<T>, Vector512<T>, Vector512<T>, Vector512<T>) Queries<TAlpha>(T* x, int k0, int c) where TAlpha : struct, IAlphaMode
        {
            if (Holds<TAlpha>()) return default;
            int w = W;
            var x0 = Vector512.Load(x + k0 * w);
            return (x0, c > 1 ? Vector512.Load(x + (k0 + 1) * w) : x0, c > 2 ? Vector512.Load(x + (k0 + 2) * w) : x0,
                c > 3 ? Vector512.Load(x + (k0 + 3) * w) : x0);
        }

        /// <summary>One difference: held at <paramref name="held"/>, or formed from the point's coordinate at <paramref name="y"/> and the queries' <paramref name="x"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<T> At<TAlpha>(T* held, Ptr y, Vector512<T> x) where TAlpha : struct, IAlphaMode =>
            Holds<TAlpha>() ? Vector512.Load(held) : Simd<T>.Difference<TAlpha>(NegAlpha, NegAlphaLow, Vector512.Create(*y.Value), x);

        /// <summary>
        /// Coordinate k (of the pass's first) of a pair's weighted differences into the even and odd points' sums: even +=
        /// wp·t_p,k and odd += wr·t_{p+1},k, each difference held at tp/tr + k·W or formed from yp/yr[k] and the queries' x.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Accumulate<TAlpha>(ref Vector512<T> even, ref Vector512<T> odd, Vector512<T> wp, Vector512<T> wr, T* tp, T* tr,
            Ptr yp, Ptr yr, Vector512<T> x, int k) where TAlpha : struct, IAlphaMode
        {
            int o = k * W;
            even = Simd<T>.Fma(wp, At<TAlpha>(tp + o, yp + k, x), even);
            odd = Simd<T>.Fma(wr, At<TAlpha>(tr + o, yr + k, x), odd);
        }
    }

    /// <summary>Step 1's difference: x_hi − y plus the queries' low part where they are scaled (<see cref="ScaledQueries"/>), else as formed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Low<TAlpha>(Vector512<T> difference, Vector512<T> low) where TAlpha : struct, IAlphaMode =>
        TAlpha.IsScaledQueries ? difference + low : difference;

    /// <summary>A pointer to a point's coordinate that can sit in a tuple (pointers cannot be type arguments).</summary>
    private readonly struct Ptr(T* value)
    {
        public readonly T* Value = value;
        public static Ptr operator +(Ptr p, int k) => new(p.Value + k);
    }

    /// <summary>A coordinate count known to the JIT (a struct type argument), so unused accumulators compile away.</summary>
    private interface ICount { static abstract int Value { get; } }
    private struct One : ICount { public static int Value => 1; }
    private struct Two : ICount { public static int Value => 2; }
    private struct Three : ICount { public static int Value => 3; }
    private struct Four : ICount { public static int Value => 4; }
}
