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
/// 1. the differences t = x − α y, formed as <c>fma(−α_lo, y, fma(−α_hi, y, x))</c> exactly as on the other path, kept for
///    step 3, their squared norm (an FMA chain over k) and the logits, with the tile's maximum per lane;
/// 2. per lane, the running state (in double) is rescaled once when the maximum grows; then weights e = e^{u − max}, their
///    sum and Σ e·‖t‖² (summed in T over the tile's even and odd points apart, at most 64 each, then added in double),
///    and the weights used for the displacement, zero where e is below the negligible weight (so a lane's result never
///    depends on its neighbours);
/// 3. the displacement Σ e·t over the pairs of points with any non-negligible lane, a few coordinates at a time with the sums
///    in registers (two per coordinate, even and odd points, to hide the FMA latency), then added in double.
/// The sum is of e·(x − α y), the exact negation of the other path's e·(α y − x) (rounding is symmetric), so the
/// displacement is negated once at the end. Each query's arithmetic depends on the training set and itself only (the
/// tiles are fixed by N and D; padding lanes repeat a real query), so results are the same for any batching or thread count.
/// </para>
/// <para>
/// The price: a block costs the same for one query as for W, so calls with fewer than W queries pay for idle lanes (at
/// N = 1000, D = 2 a lone query took 0.10 ms against 0.06 ms on the points-in-lanes kernel). The choice of kernel depends
/// on D alone, never on M, so that a query gets the same bits alone or in a batch.
/// </para>
/// </summary>
internal static unsafe class QueryLanesKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Largest D this kernel takes: beyond it the held differences outgrow L1 for useful tiles.</summary>
    internal const int MaxDimension = 16;

    private static int W => Vector512<T>.Count;

    /// <summary>Most points per tile: every sum in T runs over the even or the odd points of a tile (≤ 64 terms) before the two
    /// are added and moved to double, inside the error bound's γ_128.</summary>
    internal const int MaxTilePoints = 128;

    /// <summary>Points per tile: the tile's differences (P·D vectors of 64 bytes) fill at most 32 kB; at most <see cref="MaxTilePoints"/>.</summary>
    internal static int DefaultTilePoints(int d) => Math.Clamp(32768 / (d * 64), 8, MaxTilePoints);

    public static void Evaluate(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs, int dop, int tilePoints)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        fixed (T* pLogDensity = outputs.LogDensity)
        fixed (T* pScore = outputs.Score)
        fixed (T* pDenoiser = outputs.Denoiser)
        fixed (T* pDivergence = outputs.Divergence)
        {
            var job = new Job(train, px, m, level, tilePoints)
            {
                LogDensity = pLogDensity, Score = pScore, Denoiser = pDenoiser, Divergence = pDivergence,
            };
            Run(job, dop);
        }
    }

    public static void Accumulate(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials, int dop, int tilePoints)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        {
            Run(new Job(train, px, m, partials.Level, tilePoints) { Partials = partials }, dop);
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
    private sealed class Scratch : IDisposable
    {
        /// <summary>Queries transposed (D vectors), the tile's differences (P·D), squared distances, logits and weights (P each).</summary>
        public readonly T* X, Differences, Distances, Logits, Weights;

        /// <summary>First points of the tile's pairs (p, p + 1) with a non-negligible lane.</summary>
        public readonly int* Heavy;

        /// <summary>Per lane, in double: Σ e, Σ e‖t‖² and Σ e t_k (D rows of W).</summary>
        public readonly double* Sum, Second, Displacement, Factor;

        /// <summary>A query's displacement gathered from its lane, for the scalar finish.</summary>
        public readonly double[] Column;

        private readonly void* _block;

        public Scratch(Job job)
        {
            int w = W, d = job.Dimension, p = job.TilePoints;
            long vectors = d + (long)(p + 1) * d + 3L * p + 1; // a phantom row after the last point of the differences and weights
            long bytes = vectors * 64 + (long)(d + 3) * w * sizeof(double) + (p / 2 + 1) * sizeof(int) + 64;
            _block = NativeMemory.AlignedAlloc((nuint)bytes, 64);
            byte* at = (byte*)_block;
            X = (T*)at; at += d * 64;
            Differences = (T*)at; at += (long)(p + 1) * d * 64;
            Distances = (T*)at; at += p * 64;
            Logits = (T*)at; at += p * 64;
            Weights = (T*)at; at += (p + 1) * 64;
            Sum = (double*)at; at += w * sizeof(double);
            Second = (double*)at; at += w * sizeof(double);
            Factor = (double*)at; at += w * sizeof(double);
            Displacement = (double*)at; at += (long)d * w * sizeof(double);
            Heavy = (int*)at;
            Column = new double[d];
        }

        public void Dispose() => NativeMemory.AlignedFree(_block);
    }

    private sealed class Job
    {
        public readonly TrainingSet<T> Train;
        public readonly T* Queries;
        public readonly int QueryCount, Dimension, TilePoints;
        public readonly NoiseLevel Level;
        public readonly T Alpha, AlphaLow, NegHalfInvVariance, CutWeight;
        public T* LogDensity, Score, Denoiser, Divergence;
        public ScorePartials? Partials;

        public Job(TrainingSet<T> train, T* queries, int queryCount, NoiseLevel level, int tilePoints)
        {
            Train = train;
            Queries = queries;
            QueryCount = queryCount;
            Dimension = train.Dimension;
            Level = level;
            Alpha = T.CreateTruncating(level.Alpha);
            AlphaLow = T.CreateTruncating(level.Alpha - double.CreateTruncating(Alpha));
            NegHalfInvVariance = T.CreateTruncating(-0.5 / level.Variance);
            CutWeight = T.CreateTruncating(Math.Exp(-FusedScoreKernel<T>.NegligibleLogit(train.Count)));
            if (!T.IsFinite(NegHalfInvVariance) || !T.IsFinite(Alpha))
                throw new ArgumentOutOfRangeException(nameof(level), level,
                    $"The noise level {level} is outside the range of {typeof(T).Name} (1/(2σ²) or α overflows); use double precision.");
            TilePoints = Math.Min(tilePoints > 0 ? Math.Min(tilePoints, MaxTilePoints) : DefaultTilePoints(Dimension), train.Count);
        }

        public void ProcessBlock(int block, Scratch s)
        {
            if (T.IsZero(AlphaLow)) ProcessBlock<FusedScoreKernel<T>.ExactAlpha>(block, s);
            else ProcessBlock<FusedScoreKernel<T>.SplitAlpha>(block, s);
        }

        private void ProcessBlock<TAlpha>(int block, Scratch s) where TAlpha : struct, FusedScoreKernel<T>.IAlphaMode
        {
            int d = Dimension, n = Train.Count, w = W;
            int q0 = block * w, nq = Math.Min(w, QueryCount - q0);
            // transposed queries; padding lanes repeat the last query, so they stay finite and cost nothing extra
            for (int lane = 0; lane < w; lane++)
            {
                T* x = Queries + (long)(q0 + Math.Min(lane, nq - 1)) * d;
                for (int k = 0; k < d; k++) s.X[k * w + lane] = x[k];
            }
            new Span<double>(s.Sum, w).Clear();
            new Span<double>(s.Second, w).Clear();
            new Span<double>(s.Displacement, d * w).Clear();
            var max = Vector512.Create(T.NegativeInfinity);
            var cut = Vector512.Create(CutWeight);

            fixed (T* pRows = Train.Rows)
            {
                for (int p0 = 0; p0 < n; p0 += TilePoints)
                {
                    int np = Math.Min(TilePoints, n - p0);
                    var tileMax = Differences<TAlpha>(pRows + (long)p0 * d, np, d, s);
                    var grown = Vector512.Max(max, tileMax);
                    // lanes whose maximum grew rescale their state by e^{old − new} (0 from −∞; both −∞ is no growth)
                    if (Vector512.GreaterThanAny(grown, max)) Rescale(s, max, grown, d);
                    max = grown;
                    // a lane whose every distance so far overflowed has max −∞: shift by 0 so its weights are e^{−∞} = 0
                    var shift = Vector512.ConditionalSelect(Vector512.Equals(max, Vector512.Create(T.NegativeInfinity)), Vector512<T>.Zero, max);

                    int heavy = Weights(s, np, d, shift, cut);
                    if (heavy == 0) continue;
                    int k0 = 0;
                    for (; k0 + 8 <= d; k0 += 8) WeightedSums8(s, heavy, d, k0);
                    for (; k0 + 4 <= d; k0 += 4) WeightedSums<Four>(s, heavy, d, k0);
                    switch (d - k0)
                    {
                        case 3: WeightedSums<Three>(s, heavy, d, k0); break;
                        case 2: WeightedSums<Two>(s, heavy, d, k0); break;
                        case 1: WeightedSums<One>(s, heavy, d, k0); break;
                    }
                }
            }

            if (Partials is null && Finish(s, max, q0, nq)) return;
            for (int lane = 0; lane < nq; lane++)
            {
                int q = q0 + lane;
                // Σ e (x − α y) is the negated displacement Σ e (α y − x)
                for (int k = 0; k < d; k++) s.Column[k] = -s.Displacement[k * w + lane];
                double laneMax = double.CreateTruncating(max[lane]);
                if (Partials is not null)
                {
                    Partials.CombineQuery(q, laneMax, s.Sum[lane], s.Column, s.Second[lane]);
                    continue;
                }
                int mq = QueryCount;
                var outputs = new ScoreOutputs<T>
                {
                    LogDensity = LogDensity == null ? default : new Span<T>(LogDensity, mq),
                    Score = Score == null ? default : new Span<T>(Score, mq * d),
                    Denoiser = Denoiser == null ? default : new Span<T>(Denoiser, mq * d),
                    Divergence = Divergence == null ? default : new Span<T>(Divergence, mq),
                };
                ScorePartials.FinishQuery(Level, n, d, q, new ReadOnlySpan<T>(Queries + (long)q * d, d),
                    laneMax, s.Sum[lane], s.Column, s.Second[lane], outputs);
            }
        }

        /// <summary>
        /// The outputs of the block's queries, eight lanes at a time in double, by the operations of
        /// <see cref="ScorePartials.FinishQuery{T}"/> in its order (its two logarithms per query cost more than the block's
        /// arithmetic at small N); false, having written nothing, when a query's state is degenerate (the scalar finish
        /// then throws for it).
        /// </summary>
        private bool Finish(Scratch s, Vector512<T> max, int q0, int nq)
        {
            int d = Dimension, w = W;
            double s2 = Level.Variance;
            var maxD = s.Factor; // free until the next block
            for (int i = 0; i < w; i += 8) Widen(max, i).Store(maxD + i);
            for (int lane = 0; lane < nq; lane++)
            {
                double sum = s.Sum[lane];
                if (!(sum > 0) || double.IsInfinity(maxD[lane]) || !double.IsFinite(sum)) return false;
            }
            var logN = Vector512.Create(Math.Log(Train.Count));
            var normalisation = Vector512.Create(0.5 * d * Math.Log(2 * Math.PI * s2));
            for (int i = 0; i < nq; i += 8)
            {
                int lanes = Math.Min(8, nq - i);
                var sum = Vector512.Load(s.Sum + i);
                var invS = Vector512<double>.One / sum;
                if (LogDensity != null)
                {
                    // ((max + log S) − log N) − (D/2) log(2πσ²), as FinishQuery groups it
                    var logS = Vector512.Log(sum);
                    var ld = Vector512.Load(maxD + i) + logS - logN - normalisation;
                    for (int j = 0; j < lanes; j++) LogDensity[q0 + i + j] = T.CreateTruncating(ld[j]);
                }
                var meanSquare = Vector512<double>.Zero;
                for (int k = 0; k < d; k++)
                {
                    var v = -Vector512.Load(s.Displacement + k * w + i) * invS;
                    meanSquare += v * v;
                    if (Score != null)
                    {
                        var score = v / Vector512.Create(s2);
                        for (int j = 0; j < lanes; j++) Score[(long)(q0 + i + j) * d + k] = T.CreateTruncating(score[j]);
                    }
                    if (Denoiser != null)
                    {
                        for (int j = 0; j < lanes; j++)
                        {
                            long at = (long)(q0 + i + j) * d + k;
                            Denoiser[at] = T.CreateTruncating((double.CreateTruncating(Queries[at]) + v[j]) / Level.Alpha);
                        }
                    }
                }
                if (Divergence != null)
                {
                    var spread = Vector512.Max(Vector512<double>.Zero, Vector512.Load(s.Second + i) * invS - meanSquare);
                    var divergence = spread / Vector512.Create(s2 * s2) - Vector512.Create(d / s2);
                    for (int j = 0; j < lanes; j++) Divergence[q0 + i + j] = T.CreateTruncating(divergence[j]);
                }
            }
            return true;
        }

        /// <summary>
        /// Step 1 for the <paramref name="np"/> row-major points at <paramref name="rows"/>: differences, squared distances and
        /// logits into the scratch; returns each lane's largest logit.
        /// </summary>
        private Vector512<T> Differences<TAlpha>(T* rows, int np, int d, Scratch s) where TAlpha : struct, FusedScoreKernel<T>.IAlphaMode
        {
            var na = Vector512.Create(-Alpha);
            var nal = Vector512.Create(-AlphaLow);
            var scale = Vector512.Create(NegHalfInvVariance);
            var best = Vector512.Create(T.NegativeInfinity);
            int w = W;
            T* x = s.X, t = s.Differences;
            int p = 0;
            // two points per step: two independent FMA chains over k
            for (; p + 2 <= np; p += 2)
            {
                T* y0 = rows + (long)p * d, y1 = y0 + d;
                T* t0 = t + (long)p * d * w, t1 = t0 + d * w;
                Vector512<T> a0 = default, a1 = default;
                for (int k = 0; k < d; k++)
                {
                    var xk = Vector512.Load(x + k * w);
                    var u0 = FusedScoreKernel<T>.Difference<TAlpha>(na, nal, Vector512.Create(y0[k]), xk);
                    var u1 = FusedScoreKernel<T>.Difference<TAlpha>(na, nal, Vector512.Create(y1[k]), xk);
                    u0.Store(t0 + k * w);
                    u1.Store(t1 + k * w);
                    a0 = FusedScoreKernel<T>.Fma(u0, u0, a0);
                    a1 = FusedScoreKernel<T>.Fma(u1, u1, a1);
                }
                a0.Store(s.Distances + p * w);
                a1.Store(s.Distances + (p + 1) * w);
                var l0 = a0 * scale;
                var l1 = a1 * scale;
                l0.Store(s.Logits + p * w);
                l1.Store(s.Logits + (p + 1) * w);
                best = Vector512.Max(best, Vector512.Max(l0, l1));
            }
            if (p < np)
            {
                T* y0 = rows + (long)p * d;
                T* t0 = t + (long)p * d * w;
                Vector512<T> a0 = default;
                for (int k = 0; k < d; k++)
                {
                    var u0 = FusedScoreKernel<T>.Difference<TAlpha>(na, nal, Vector512.Create(y0[k]), Vector512.Load(x + k * w));
                    u0.Store(t0 + k * w);
                    a0 = FusedScoreKernel<T>.Fma(u0, u0, a0);
                }
                a0.Store(s.Distances + p * w);
                var l0 = a0 * scale;
                l0.Store(s.Logits + p * w);
                best = Vector512.Max(best, l0);
            }
            return best;
        }

        /// <summary>
        /// Step 2 over the tile's <paramref name="np"/> points, two at a time with their own sums (a method of its own, so
        /// the sums stay in registers): weights, Σ e and Σ e‖t‖² added to the double state, and the list of pairs
        /// (p, p + 1) with a non-negligible lane, whose count it returns. Step 3 sums even and odd points apart, so a lane's
        /// sums must not depend on which of its neighbours' points are listed: a listed pair adds exact zeros for the lanes
        /// where it is negligible. An odd last point gets a phantom partner of weight 0 and differences 0.
        /// </summary>
        private static int Weights(Scratch s, int np, int d, Vector512<T> shift, Vector512<T> cut)
        {
            int w = W;
            T* logits = s.Logits, distances = s.Distances, weights = s.Weights;
            int* list = s.Heavy;
            Vector512<T> sum0 = default, sum1 = default, second0 = default, second1 = default;
            int heavy = 0, p = 0;
            for (; p + 2 <= np; p += 2)
            {
                var e0 = FusedScoreKernel<T>.Exp(Vector512.Load(logits + p * w) - shift);
                var e1 = FusedScoreKernel<T>.Exp(Vector512.Load(logits + (p + 1) * w) - shift);
                sum0 += e0;
                sum1 += e1;
                second0 = FusedScoreKernel<T>.Fma(e0, Vector512.Load(distances + p * w), second0);
                second1 = FusedScoreKernel<T>.Fma(e1, Vector512.Load(distances + (p + 1) * w), second1);
                var keep0 = Vector512.GreaterThan(e0, cut);
                var keep1 = Vector512.GreaterThan(e1, cut);
                Vector512.ConditionalSelect(keep0, e0, Vector512<T>.Zero).Store(weights + p * w);
                Vector512.ConditionalSelect(keep1, e1, Vector512<T>.Zero).Store(weights + (p + 1) * w);
                list[heavy] = p;
                heavy += (keep0 | keep1).ExtractMostSignificantBits() == 0 ? 0 : 1;
            }
            if (p < np)
            {
                var e0 = FusedScoreKernel<T>.Exp(Vector512.Load(logits + p * w) - shift);
                sum0 += e0;
                second0 = FusedScoreKernel<T>.Fma(e0, Vector512.Load(distances + p * w), second0);
                var keep0 = Vector512.GreaterThan(e0, cut);
                Vector512.ConditionalSelect(keep0, e0, Vector512<T>.Zero).Store(weights + p * w);
                // the scratch may hold anything (NaN included) past the last point
                Vector512<T>.Zero.Store(weights + np * w);
                new Span<T>(s.Differences + (long)np * d * w, d * w).Clear();
                list[heavy] = p;
                heavy += keep0.ExtractMostSignificantBits() == 0 ? 0 : 1;
            }
            AddTo(s.Sum, sum0 + sum1);
            AddTo(s.Second, second0 + second1);
            return heavy;
        }

        /// <summary>Multiplies each lane's state by e^{old − new} where its maximum grew (1 elsewhere).</summary>
        private static void Rescale(Scratch s, Vector512<T> old, Vector512<T> grown, int d)
        {
            int w = W;
            double* f = s.Factor;
            for (int i = 0; i < w; i += 8)
            {
                var o = Widen(old, i);
                var g = Widen(grown, i);
                // clamped to −700: beyond ±709 the library's exponential falls back to scalar calls (old = −∞ in the first tile,
                // where the state is 0 and any finite factor does; a state 700 nats down is negligible either way)
                var a = Vector512.ConditionalSelect(Vector512.GreaterThan(g, o), Vector512.Exp(Vector512.Max(o - g, Vector512.Create(-700.0))), Vector512<double>.One);
                a.Store(f + i);
            }
            ScaleRow(s.Sum, f, w);
            ScaleRow(s.Second, f, w);
            for (int k = 0; k < d; k++) ScaleRow(s.Displacement + k * w, f, w);
        }

        private static void ScaleRow(double* row, double* factor, int w)
        {
            for (int i = 0; i < w; i += 8) (Vector512.Load(row + i) * Vector512.Load(factor + i)).Store(row + i);
        }

        /// <summary>Lanes [i, i + 8) of <paramref name="v"/> in double.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector512<double> Widen(Vector512<T> v, int i)
        {
            if (typeof(T) == typeof(double)) return v.AsDouble();
            var (lo, hi) = Vector512.Widen(v.AsSingle());
            return i == 0 ? lo : hi;
        }

        /// <summary>row[lane] += v[lane] in double.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void AddTo(double* row, Vector512<T> v)
        {
            if (typeof(T) == typeof(double))
            {
                (Vector512.Load(row) + v.AsDouble()).Store(row);
                return;
            }
            var (lo, hi) = Vector512.Widen(v.AsSingle());
            (Vector512.Load(row) + lo).Store(row);
            (Vector512.Load(row + 8) + hi).Store(row + 8);
        }

        /// <summary>
        /// Step 3 for coordinates [k0, k0 + TCount.Value): Σ weight·t over the tile's heavy pairs of points, in registers
        /// (even and odd points apart, then added), then added to the double state.
        /// </summary>
        private static void WeightedSums<TCount>(Scratch s, int heavy, int d, int k0) where TCount : struct, ICount
        {
            int c = TCount.Value, w = W;
            long rowStride = (long)d * w;
            T* t = s.Differences + k0 * w;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default;
            for (int i = 0; i < heavy; i++)
            {
                int p = s.Heavy[i], r = p + 1;
                var wp = Vector512.Load(s.Weights + p * w);
                var wr = Vector512.Load(s.Weights + r * w);
                T* tp = t + p * rowStride, tr = t + r * rowStride;
                a0 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp), a0);
                b0 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr), b0);
                if (c > 1)
                {
                    a1 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + w), a1);
                    b1 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + w), b1);
                }
                if (c > 2)
                {
                    a2 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 2 * w), a2);
                    b2 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 2 * w), b2);
                }
                if (c > 3)
                {
                    a3 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 3 * w), a3);
                    b3 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 3 * w), b3);
                }
            }
            double* row = s.Displacement + k0 * w;
            AddTo(row, a0 + b0);
            if (c > 1) AddTo(row + w, a1 + b1);
            if (c > 2) AddTo(row + 2 * w, a2 + b2);
            if (c > 3) AddTo(row + 3 * w, a3 + b3);
        }
    }

    /// <summary>
    /// <see cref="Job"/>'s step 3 for eight coordinates [k0, k0 + 8): sixteen sums in registers, so each pair's weights are
    /// loaded once per eight coordinates (the same sums, in the same order, as two calls for four).
    /// </summary>
    private static void WeightedSums8(Scratch s, int heavy, int d, int k0)
    {
        int w = W;
        long rowStride = (long)d * w;
        T* t = s.Differences + k0 * w;
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int i = 0; i < heavy; i++)
        {
            int p = s.Heavy[i];
            var wp = Vector512.Load(s.Weights + p * w);
            var wr = Vector512.Load(s.Weights + (p + 1) * w);
            T* tp = t + p * rowStride, tr = tp + rowStride;
            a0 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp), a0);
            b0 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr), b0);
            a1 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + w), a1);
            b1 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + w), b1);
            a2 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 2 * w), a2);
            b2 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 2 * w), b2);
            a3 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 3 * w), a3);
            b3 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 3 * w), b3);
            a4 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 4 * w), a4);
            b4 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 4 * w), b4);
            a5 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 5 * w), a5);
            b5 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 5 * w), b5);
            a6 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 6 * w), a6);
            b6 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 6 * w), b6);
            a7 = FusedScoreKernel<T>.Fma(wp, Vector512.Load(tp + 7 * w), a7);
            b7 = FusedScoreKernel<T>.Fma(wr, Vector512.Load(tr + 7 * w), b7);
        }
        double* row = s.Displacement + k0 * w;
        Job.AddTo(row, a0 + b0);
        Job.AddTo(row + w, a1 + b1);
        Job.AddTo(row + 2 * w, a2 + b2);
        Job.AddTo(row + 3 * w, a3 + b3);
        Job.AddTo(row + 4 * w, a4 + b4);
        Job.AddTo(row + 5 * w, a5 + b5);
        Job.AddTo(row + 6 * w, a6 + b6);
        Job.AddTo(row + 7 * w, a7 + b7);
    }

    /// <summary>A coordinate count known to the JIT (a struct type argument), so unused accumulators compile away.</summary>
    private interface ICount { static abstract int Value { get; } }
    private struct One : ICount { public static int Value => 1; }
    private struct Two : ICount { public static int Value => 2; }
    private struct Three : ICount { public static int Value => 3; }
    private struct Four : ICount { public static int Value => 4; }
}
