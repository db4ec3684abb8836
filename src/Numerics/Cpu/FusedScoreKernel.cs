using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The fused, streamed empirical-score kernel of the CPU backend for D &gt; 16 (and for any D when the query-lanes kernel
/// is switched off): training points in the lanes. <see cref="QueryLanesKernel{T}"/> takes D ≤ 16, with queries in the lanes.
/// <para>
/// Phases, per block of queries and per tile of training points (the tile stays in cache while the block's
/// queries stream past it):
/// 1. squared distances ‖x − α y_i‖², vectorised over 16 (float) or 8 (double) training points at a time,
///    as direct differences <c>fma(−α_lo, y, fma(−α_hi, y, x))</c> with α = α_hi + α_lo split in T: the
///    difference is rounded once or twice, never against ‖x‖, so no cancellation however small σ is against
///    ‖x‖ or a common offset (the expansion ‖x‖² − 2α x·y + α²‖y‖², or α rounded to float, would lose every
///    digit there). When α is exact in T (α = 1, or T = double) the second FMA is compiled out;
/// 2. logits and the tile maximum; the running state is rescaled once per tile when the maximum grows;
/// 3. weights e^{u − u*}; those at or below e^{−c} of the running maximum (<see cref="ScorePartials.NegligibleLogit{T}"/>:
///    c = 36 in double, min(36, ln N + 18) in float; at moderate and small σ almost every point) count in the normaliser only;
/// 4. the kept points' sums the outputs need (<see cref="Moments"/>), row by row in chunks of at most 64 (MergeRows):
///    Σ w (α y − x), Σ w y and, for the divergence, their spread about the chunk's mean (the corrected two-pass algorithm),
///    vectorised over coordinates, so a lone kept point costs D/16 vector steps.
/// The per-query state (<see cref="PartialRow"/>) is kept in double across chunks, merged by the parallel-variance rule;
/// within a chunk it is summed in T.
/// </para>
/// <para>
/// Float32 at D ≥ 32 takes a faster path where it is provably safe (the expansion path), per super-tile of up to 65 536
/// points: first the dot products x·y of four queries and four point groups come from a register-blocked micro-kernel at
/// one FMA per coordinate (80-90% of the FMA ceiling), giving expansion logits ũ = −(‖x‖² + α²‖y‖² − 2α x·y)/(2σ²) within
/// E = γ_{D+8}(‖x‖ + α‖y‖)²/(2σ²) of the true ones, and a lower bound L = max(ũ − E) of the largest logit. Then only the
/// candidates, ũ + E ≥ max(L, running maximum) − c, get their distance recomputed by direct differences (four rows at a
/// time) and their weights and weighted displacements summed, 64 at a time; every other point is provably below e^{−c} of
/// the maximum and is dropped (at moderate σ that is over 99% of them). A query uses the expansion only when its largest E
/// is below <see cref="ExpansionBoundLimit"/> nats; at small σ against ‖x‖ (where E grows) it keeps the direct differences
/// throughout. The choice depends on the query alone (never on its neighbours in a block), so results stay the same bits
/// for any batching of the queries.
/// </para>
/// </summary>
internal static unsafe class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Queries that share one pass over the training set: each tile streamed from memory serves this many. 64 would be 10%
    /// faster at N = 60 000, D = 784 (0.70 s against 0.77 s on 2 cores) but doubles the ũ buffers (16 MB a thread there),
    /// which took the process's memory growth past the 64 MB budget.
    /// </summary>
    private const int QueryBlock = 32;

    /// <summary>Queries whose distances the micro-kernel computes together: each training vector loaded serves four.</summary>
    private const int QueryTile = 4;

    /// <summary>Target tile size: a few groups of points at D = 784 still fit in a core's L2.</summary>
    private const int TileBytes = 256 * 1024;

    private static int W => Vector512<T>.Count;

    /// <summary>Largest expansion error bound (nats) a block accepts; beyond it nearly every point would be a candidate.</summary>
    private const double ExpansionBoundLimit = 4;

    /// <summary>
    /// Points per super-tile of the expansion path (its ũ buffer is QueryBlock × this many T per thread: 8 MB in float). The
    /// candidate threshold is the super-tile's lower bound of the maximum, so a super-tile must hold the query's nearest
    /// points to let few through: whole training sets of up to 65 536 points (a running bound instead, before the nearest
    /// point arrives, lists a fifth of the points at D = 784).
    /// </summary>
    internal const int SuperTilePoints = 65536;

    /// <summary>Candidates refined and summed together: at most this many terms are summed in T before moving to double.</summary>
    private const int CandidateChunk = 64;

    /// <summary>Smallest D for which the expansion path pays for its candidate pass.</summary>
    private const int ExpansionMinDimension = 32;

    public static void Evaluate(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs, int dop, int tileGroups,
        bool allowExpansion = true, int superTilePoints = SuperTilePoints, StrongBox<long>? expanded = null)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        fixed (T* pLogDensity = outputs.LogDensity)
        fixed (T* pScore = outputs.Score)
        fixed (T* pDenoiser = outputs.Denoiser)
        fixed (T* pDivergence = outputs.Divergence)
        {
            var job = new Job(train, px, m, level, tileGroups, allowExpansion, superTilePoints, outputs.Needs)
            {
                LogDensity = pLogDensity, Score = pScore, Denoiser = pDenoiser, Divergence = pDivergence, Expanded = expanded,
            };
            Run(job, dop);
        }
    }

    public static void Accumulate(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials, int dop, int tileGroups,
        bool allowExpansion = true, int superTilePoints = SuperTilePoints, StrongBox<long>? expanded = null)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        {
            Run(new Job(train, px, m, partials.Level, tileGroups, allowExpansion, superTilePoints, Moments.All) { Partials = partials, Expanded = expanded }, dop);
        }
        partials.AddTrainingCount(train.Count);
    }

    /// <summary>
    /// The expansion path's distance part alone: the dot products of every query with every training point by the
    /// micro-kernel, tile by tile and block by block as <see cref="Evaluate"/> runs them, nothing kept. For the benchmark
    /// that sets the distance part (2·N·M·D flops) against the FMA ceiling; M is a multiple of four here.
    /// </summary>
    internal static void DotProducts(TrainingSet<T> train, ReadOnlySpan<T> queries, int dop)
    {
        int d = train.Dimension, m = queries.Length / d, groups = train.GroupCount;
        int tileGroups = Math.Min(Math.Max(4, TileBytes / (W * d * sizeof(T))) & ~3, groups), stride = tileGroups * W;
        int blocks = (m + QueryBlock - 1) / QueryBlock;
        fixed (T* px = queries)
        fixed (T* pGroups = train.Groups)
        {
            T* x = px, g = pGroups;
            Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = dop }, b =>
            {
                var dots = new T[QueryBlock * stride];
                fixed (T* pDots = dots)
                {
                    int q0 = b * QueryBlock, nq = Math.Min(QueryBlock, m - q0);
                    for (int g0 = 0; g0 < groups; g0 += tileGroups)
                        for (int qt = 0; qt + QueryTile <= nq; qt += QueryTile)
                            Dots4(x + (long)(q0 + qt) * d, g + (long)g0 * d * W, (long)d * W, Math.Min(tileGroups, groups - g0), d,
                                pDots + qt * stride, stride);
                }
            });
        }
    }

    private static void Run(Job job, int dop)
    {
        int blocks = (job.QueryCount + QueryBlock - 1) / QueryBlock;
        if (dop == 1 || blocks == 1)
        {
            using var scratch = new Scratch(job);
            for (int b = 0; b < blocks; b++) job.ProcessBlock(b, scratch);
            return;
        }
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = dop },
            () => new Scratch(job),
            (b, _, scratch) => { job.ProcessBlock(b, scratch); return scratch; },
            scratch => scratch.Dispose());
    }

    /// <summary>Per-thread buffers, rented so a call allocates nothing proportional to M or N.</summary>
    private sealed class Scratch : IDisposable
    {
        public readonly T[] Distances, Weights;
        public readonly double[] SquaredNorms, Lower;
        public readonly bool[] Expansion, Refine;

        /// <summary>The block's running states, in double.</summary>
        public readonly PartialRows State;

        /// <summary>
        /// A chunk's sums in T (Σ w (α y − x), Σ w y and the deviations from their mean, Σ w ((α y − x) − μ); D each, 64-byte
        /// aligned) and the first two widened to double.
        /// </summary>
        public readonly T* ChunkDisplacement, ChunkPoints, ChunkOffset;
        public readonly double[] WideDisplacement, WidePoints;

        /// <summary>The kept rows of a chunk: indices and weights.</summary>
        public readonly int[] HeavyIndices = new int[CandidateChunk];
        public readonly T[] HeavyWeights = new T[CandidateChunk];

        /// <summary>Expansion logits ũ of the block's queries over one super-tile (QueryBlock × SuperLanes), when the job can expand.</summary>
        public readonly T[] Expanded;

        /// <summary>One chunk of candidates: indices, exact distances and logits (then weights), padded to whole vectors.</summary>
        public readonly int[] ChunkIndices = new int[CandidateChunk];
        public readonly T[] ChunkDistances = new T[CandidateChunk], ChunkLogits = new T[CandidateChunk];

        public Scratch(Job job)
        {
            Expanded = job.ScaledNorms is null ? [] : ArrayPool<T>.Shared.Rent(QueryBlock * job.SuperGroups * W);
            int lanes = job.TileGroups * W;
            Distances = ArrayPool<T>.Shared.Rent(QueryBlock * lanes);
            Weights = ArrayPool<T>.Shared.Rent(lanes);
            State = PartialRows.Rent(QueryBlock, job.Dimension);
            ChunkDisplacement = (T*)NativeMemory.AlignedAlloc((nuint)(3 * job.Dimension * sizeof(T)), 64);
            ChunkPoints = ChunkDisplacement + job.Dimension;
            ChunkOffset = ChunkPoints + job.Dimension;
            WideDisplacement = ArrayPool<double>.Shared.Rent(job.Dimension);
            WidePoints = ArrayPool<double>.Shared.Rent(job.Dimension);
            SquaredNorms = ArrayPool<double>.Shared.Rent(QueryBlock);
            Lower = new double[QueryBlock];
            Expansion = new bool[QueryBlock];
            Refine = new bool[QueryBlock];
        }

        public void Dispose()
        {
            ArrayPool<T>.Shared.Return(Distances);
            ArrayPool<T>.Shared.Return(Weights);
            State.Dispose();
            NativeMemory.AlignedFree(ChunkDisplacement);
            ArrayPool<double>.Shared.Return(WideDisplacement);
            ArrayPool<double>.Shared.Return(WidePoints);
            ArrayPool<double>.Shared.Return(SquaredNorms);
            if (Expanded.Length > 0) ArrayPool<T>.Shared.Return(Expanded);
        }
    }

    private sealed class Job
    {
        public readonly TrainingSet<T> Train;
        public readonly T* Queries;
        public readonly int QueryCount, Dimension, TileGroups;
        public readonly NoiseLevel Level;
        public readonly T Alpha, AlphaLow, NegHalfInvVariance;

        /// <summary>The negligible-logit margin for this training set and its weight e^{−margin}.</summary>
        public readonly double Cut;
        public readonly T CutWeight;
        public T* LogDensity, Score, Denoiser, Divergence;
        public ScorePartials? Partials;

        /// <summary>Where to count the queries that take the expansion path (null: not counted).</summary>
        public StrongBox<long>? Expanded;

        /// <summary>
        /// Expansion path data (null when T or D rule it out): α²‖y‖² per lane (+∞ in padding lanes, so ũ = −∞ there) and
        /// α‖y‖ per lane (0 in padding lanes).
        /// </summary>
        public readonly T[]? ScaledSquaredNorms, ScaledNorms;
        public readonly double MaxScaledNorm, BoundFactor;

        /// <summary>Groups per super-tile: a multiple of <see cref="TileGroups"/>, up to <see cref="SuperTilePoints"/> points.</summary>
        public readonly int SuperGroups;

        /// <summary>The sums the outputs need beyond the normaliser.</summary>
        public readonly Moments Needs;

        public Job(TrainingSet<T> train, T* queries, int queryCount, NoiseLevel level, int tileGroups, bool allowExpansion, int superTilePoints,
            Moments needs)
        {
            Needs = needs;
            Train = train;
            Queries = queries;
            QueryCount = queryCount;
            Dimension = train.Dimension;
            Level = level;
            Alpha = T.CreateTruncating(level.Alpha);
            AlphaLow = T.CreateTruncating(level.Alpha - double.CreateTruncating(Alpha));
            NegHalfInvVariance = T.CreateTruncating(-0.5 / level.Variance);
            Cut = ScorePartials.NegligibleLogit<T>(train.Count);
            // with no moments wanted (the log-density alone) every weight counts in the normaliser only
            CutWeight = needs == Moments.None ? T.PositiveInfinity : T.CreateTruncating(Math.Exp(-Cut));
            if (!T.IsFinite(NegHalfInvVariance) || !T.IsFinite(Alpha))
                throw new ArgumentOutOfRangeException(nameof(level), level,
                    $"The noise level {level} is outside the range of {typeof(T).Name} (1/(2σ²) or α overflows); use double precision.");
            int auto = Math.Clamp(TileBytes / (W * Dimension * sizeof(T)), 4, 64);
            // σ² beyond float's range makes −1/(2σ²) zero: every logit is 0 and the expansion's bounds would be 0·∞ in the
            // padding lanes; the direct path needs no bound
            if (allowExpansion && typeof(T) == typeof(float) && Dimension >= ExpansionMinDimension && T.IsNormal(NegHalfInvVariance))
            {
                auto &= ~3; // whole steps of the 4-group micro-kernel
                ScaledSquaredNorms = new T[train.GroupCount * W];
                ScaledSquaredNorms.AsSpan(train.Count).Fill(T.PositiveInfinity); // padding lanes: ũ = −∞
                ScaledNorms = new T[train.GroupCount * W];
                var norms = train.SquaredNorms;
                for (int i = 0; i < norms.Length; i++)
                {
                    ScaledSquaredNorms[i] = T.CreateTruncating(level.Alpha * level.Alpha * norms[i]);
                    ScaledNorms[i] = T.CreateTruncating(level.Alpha * Math.Sqrt(norms[i]));
                    MaxScaledNorm = Math.Max(MaxScaledNorm, level.Alpha * Math.Sqrt(norms[i]));
                }
                // γ_{D+8} = (D+8)u/(1 − (D+8)u), u = 2⁻²⁴: the dot product's D roundings, the sum of three terms, the
                // scaling by −1/(2σ²) and its own rounding; the factor 1 + 2⁻²⁰ covers evaluating E itself in float.
                double nu = (Dimension + 8) * Math.ScaleB(1, -24);
                BoundFactor = nu / (1 - nu) * (1 + Math.ScaleB(1, -20)) * 0.5 / level.Variance;
            }
            TileGroups = Math.Min(tileGroups > 0 ? tileGroups : auto, train.GroupCount);
            // no larger than the training set, rounded up to whole tiles: the ũ buffer is sized by it
            SuperGroups = TileGroups * Math.Min(Math.Max(1, superTilePoints / (TileGroups * W)), (train.GroupCount + TileGroups - 1) / TileGroups);
        }

        /// <summary>
        /// Marks the block's queries whose expansion error bound E = BoundFactor (‖x‖ + α max‖y‖)² is at most
        /// <see cref="ExpansionBoundLimit"/> nats (never NaN or ∞) and keeps their ‖x‖²; true when any is marked.
        /// </summary>
        private bool MarkExpansion(int q0, int nq, double[] squaredNorms, bool[] expansion)
        {
            if (ScaledNorms is null) return false;
            bool any = false;
            for (int q = 0; q < nq; q++)
            {
                var x = new ReadOnlySpan<T>(Queries + (long)(q0 + q) * Dimension, Dimension);
                double sum = 0;
                foreach (T v in x)
                {
                    double w = double.CreateTruncating(v);
                    sum += w * w;
                }
                squaredNorms[q] = sum;
                expansion[q] = BoundFactor * Math.Pow(Math.Sqrt(sum) + MaxScaledNorm, 2) <= ExpansionBoundLimit;
                any |= expansion[q];
            }
            return any;
        }

        /// <summary>Processes one block of queries; chooses once whether α needs its low part.</summary>
        public void ProcessBlock(int block, Scratch s)
        {
            if (T.IsZero(AlphaLow)) ProcessBlock<ExactAlpha>(block, s);
            else ProcessBlock<SplitAlpha>(block, s);
        }

        private void ProcessBlock<TAlpha>(int block, Scratch s) where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, n = Train.Count, groups = Train.GroupCount;
            int q0 = block * QueryBlock, nq = Math.Min(QueryBlock, QueryCount - q0);
            s.State.Clear(nq);
            var expansion = s.Expansion;
            if (!MarkExpansion(q0, nq, s.SquaredNorms, expansion)) Array.Clear(expansion);

            int expanding = 0;
            for (int q = 0; q < nq; q++) expanding += expansion[q] ? 1 : 0;
            bool anyExpansion = expanding > 0;
            if (Expanded is not null && anyExpansion) Interlocked.Add(ref Expanded.Value, expanding);

            fixed (T* pGroups = Train.Groups)
            fixed (T* pRows = Train.Rows)
            fixed (T* pDist = s.Distances)
            fixed (T* pW = s.Weights)
            fixed (T* pExpanded = s.Expanded)
            {
                int distStride = TileGroups * W;
                var refine = s.Refine; // per super-tile: the expansion queries whose candidates are refined by rows
                for (int sg0 = 0; sg0 < groups; sg0 += SuperGroups)
                {
                    int send = Math.Min(groups, sg0 + SuperGroups);
                    if (anyExpansion) ExpansionPass(q0, nq, sg0, send, s, pGroups, pDist, pExpanded);
                    bool anyDirect = false;
                    for (int q = 0; q < nq; q++)
                    {
                        // where more than a third of the points are candidates, refining them row by row costs more than direct
                        // differences over every group (σ large against the data's spread): that query goes direct here
                        refine[q] = expansion[q] && 3 * CountCandidates(s, q, sg0, send, pExpanded + (long)q * SuperGroups * W) <= (send - sg0) * W;
                        anyDirect |= !refine[q];
                    }
                    for (int g0 = sg0; anyDirect && g0 < send; g0 += TileGroups)
                    {
                        int ng = Math.Min(TileGroups, send - g0);
                        int lanes = ng * W, valid = Math.Min(n - g0 * W, lanes);
                        T* tile = pGroups + (long)g0 * d * W;
                        for (int qt = 0; qt < nq; qt += QueryTile)
                        {
                            int nt = Math.Min(QueryTile, nq - qt);
                            T* xt = Queries + (long)(q0 + qt) * d;
                            int expanded = 0;
                            for (int j = 0; j < nt; j++) expanded += refine[qt + j] ? 1 : 0;
                            if (expanded == nt) continue;
                            if (nt == QueryTile && expanded == 0)
                            {
                                SquaredDistances4<TAlpha>(xt, tile, ng, d, Alpha, AlphaLow, pDist, distStride);
                            }
                            else
                            {
                                // a partial or mixed tile: the direct queries one by one (the same FMA chains as the 4-query kernel)
                                for (int j = 0; j < nt; j++)
                                {
                                    if (!refine[qt + j])
                                        SquaredDistances<TAlpha>(xt + j * d, tile, ng, d, Alpha, AlphaLow, pDist + j * distStride);
                                }
                            }
                            for (int j = 0; j < nt; j++)
                            {
                                int q = qt + j;
                                if (refine[q]) continue;
                                T* x = xt + j * d;
                                T largest = Logits(pDist + j * distStride, pW, ng, valid, NegHalfInvVariance);
                                var row = s.State.Row(q);
                                if (!row.Rescale(double.CreateTruncating(largest))) continue; // every distance so far overflowed T

                                var (negligible, heavy) = Exponentiate(pW, ng, T.CreateTruncating(row.Max), CutWeight);
                                row.AddNegligible(double.CreateTruncating(negligible));
                                if (heavy > 0) MergeHeavyLanes<TAlpha>(x, pRows + (long)g0 * W * d, pW, ng, s, row);
                            }
                        }
                    }

                    for (int q = 0; anyExpansion && q < nq; q++)
                    {
                        if (refine[q])
                            RefineCandidates<TAlpha>(q, Queries + (long)(q0 + q) * d, s, sg0, send, pExpanded + (long)q * SuperGroups * W, pRows);
                    }
                }
            }

            for (int q = 0; q < nq; q++)
            {
                var row = s.State.Row(q);
                if (Partials is not null)
                {
                    Partials.Row(q0 + q).Combine(row, Level.Alpha);
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
                row.Finish(Level, n, q0 + q, outputs);
            }
        }

        /// <summary>
        /// Merges the tile's kept lanes (weight above the negligible one) into <paramref name="row"/>, <see cref="CandidateChunk"/>
        /// rows at a time, read from the row-major copy at <paramref name="rows"/> (the tile's first point).
        /// </summary>
        private void MergeHeavyLanes<TAlpha>(T* x, T* rows, T* w, int ng, Scratch s, PartialRow row) where TAlpha : struct, IAlphaMode
        {
            var threshold = Vector512.Create(CutWeight);
            fixed (int* indices = s.HeavyIndices)
            fixed (T* weights = s.HeavyWeights)
            {
                int h = 0;
                for (int g = 0; g < ng; g++)
                {
                    ulong heavy = Vector512.GreaterThan(Vector512.Load(w + g * W), threshold).ExtractMostSignificantBits();
                    while (heavy != 0)
                    {
                        int lane = g * W + BitOperations.TrailingZeroCount(heavy);
                        heavy &= heavy - 1;
                        indices[h] = lane;
                        weights[h++] = w[lane];
                        if (h == CandidateChunk)
                        {
                            MergeRows<TAlpha>(x, rows, indices, weights, h, s, row);
                            h = 0;
                        }
                    }
                }
                if (h > 0) MergeRows<TAlpha>(x, rows, indices, weights, h, s, row);
            }
        }

        /// <summary>
        /// Merges <paramref name="count"/> ≤ <see cref="CandidateChunk"/> kept rows (indices into <paramref name="rows"/> and
        /// weights relative to the state's reference) into <paramref name="row"/>. Pass 1 sums Σ w, Σ w (α y − x) and Σ w y in T,
        /// four rows per pass over the accumulators; pass 2 sums each row's squared distance from the chunk's own mean
        /// displacement μ (the rows are still in cache), so the chunk's spread never cancels, and the deviations o = Σ w (d − μ),
        /// whose ‖o‖²/Σ w it takes off (the corrected two-pass algorithm: the spread is about the exact mean of the rounded
        /// displacements, though μ is rounded); the sums then move to double and merge by the parallel-variance rule.
        /// </summary>
        private void MergeRows<TAlpha>(T* x, T* rows, int* indices, T* weights, int count, Scratch s, PartialRow row)
            where TAlpha : struct, IAlphaMode
        {
            if (count == 0) return;
            int d = Dimension;
            T* v = s.ChunkDisplacement, p = s.ChunkPoints, o = s.ChunkOffset;
            bool points = (Needs & Moments.Points) != 0, spreads = (Needs & Moments.Spread) == Moments.Spread;
            new Span<T>(v, d).Clear();
            if (points) new Span<T>(p, d).Clear();
            if (spreads) new Span<T>(o, d).Clear();
            T mass = T.Zero;
            for (int j = 0; j < count; j++) mass += weights[j];
            double spread = 0;
            if (d >= W)
            {
                var av = Vector512.Create(Alpha);
                var avl = Vector512.Create(AlphaLow);
                var fresh = TailLanes(d);
                for (int j = 0; j < count; j += 4)
                {
                    // past the last row: the chunk's first row with weight 0, a no-op
                    T* y0 = rows + (long)indices[j] * d;
                    T* y1 = j + 1 < count ? rows + (long)indices[j + 1] * d : y0;
                    T* y2 = j + 2 < count ? rows + (long)indices[j + 2] * d : y0;
                    T* y3 = j + 3 < count ? rows + (long)indices[j + 3] * d : y0;
                    T w1 = j + 1 < count ? weights[j + 1] : T.Zero, w2 = j + 2 < count ? weights[j + 2] : T.Zero, w3 = j + 3 < count ? weights[j + 3] : T.Zero;
                    if ((Needs & Moments.Points) != 0)
                        AddRows4<TAlpha, WithPoints>(x, y0, y1, y2, y3, weights[j], w1, w2, w3, d, av, avl, fresh, v, p);
                    else
                        AddRows4<TAlpha, WithoutPoints>(x, y0, y1, y2, y3, weights[j], w1, w2, w3, d, av, avl, fresh, v, p);
                }
                var inverseMass = Vector512.Create(T.One / mass);
                for (int j = 0; (Needs & Moments.Spread) == Moments.Spread && j < count; j += 4)
                {
                    T* y0 = rows + (long)indices[j] * d;
                    T* y1 = j + 1 < count ? rows + (long)indices[j + 1] * d : y0;
                    T* y2 = j + 2 < count ? rows + (long)indices[j + 2] * d : y0;
                    T* y3 = j + 3 < count ? rows + (long)indices[j + 3] * d : y0;
                    var (q0, q1, q2, q3) = SquaredDeviations4<TAlpha>(x, y0, y1, y2, y3, weights[j], j + 1 < count ? weights[j + 1] : T.Zero,
                        j + 2 < count ? weights[j + 2] : T.Zero, j + 3 < count ? weights[j + 3] : T.Zero, d, av, avl, fresh, v, inverseMass, o);
                    spread += double.CreateTruncating(weights[j]) * double.CreateTruncating(q0);
                    if (j + 1 < count) spread += double.CreateTruncating(weights[j + 1]) * double.CreateTruncating(q1);
                    if (j + 2 < count) spread += double.CreateTruncating(weights[j + 2]) * double.CreateTruncating(q2);
                    if (j + 3 < count) spread += double.CreateTruncating(weights[j + 3]) * double.CreateTruncating(q3);
                }
            }
            else
            {
                // D below one vector (only with the query-lanes kernel switched off): the same sums, a coordinate at a time
                for (int j = 0; j < count; j++)
                {
                    T* y = rows + (long)indices[j] * d;
                    for (int k = 0; k < d; k++)
                    {
                        v[k] = T.FusedMultiplyAdd(weights[j], ScalarDisplacement<TAlpha>(x[k], y[k], Alpha, AlphaLow), v[k]);
                        p[k] = T.FusedMultiplyAdd(weights[j], y[k], p[k]);
                    }
                }
                T inverseMass = T.One / mass;
                for (int j = 0; (Needs & Moments.Spread) == Moments.Spread && j < count; j++)
                {
                    T* y = rows + (long)indices[j] * d;
                    T q = T.Zero;
                    for (int k = 0; k < d; k++)
                    {
                        T t = ScalarDisplacement<TAlpha>(x[k], y[k], Alpha, AlphaLow) - v[k] * inverseMass;
                        q = T.FusedMultiplyAdd(t, t, q);
                        o[k] = T.FusedMultiplyAdd(weights[j], t, o[k]);
                    }
                    spread += double.CreateTruncating(weights[j]) * double.CreateTruncating(q);
                }
            }
            if (!spreads)
            {
                // no spread wanted: the sums add, nothing else (no means to compare)
                row.AddKept(double.CreateTruncating(mass));
                AddWidened(v, row.Displacement, d);
                if (points) AddWidened(p, row.Points, d);
                return;
            }
            double offset = 0;
            for (int k = 0; k < d; k++)
            {
                double t = double.CreateTruncating(o[k]);
                offset += t * t;
            }
            spread = Math.Max(0, spread - offset / double.CreateTruncating(mass));
            Widen(v, s.WideDisplacement, d);
            Widen(p, s.WidePoints, d);
            row.Merge(Level.Alpha, 1, double.CreateTruncating(mass), s.WideDisplacement.AsSpan(0, d), s.WidePoints.AsSpan(0, d), spread);
        }

        /// <summary>The largest α‖y‖ over the groups [g0, g0 + ng).</summary>
        private double TileScaledNorm(int g0, int ng)
        {
            T best = T.Zero;
            foreach (T v in ScaledNorms.AsSpan(g0 * W, ng * W)) best = T.Max(best, v);
            return double.CreateTruncating(best);
        }

        /// <summary>
        /// The expansion path's first phase over the groups [sg0, send): the block's dot products by the micro-kernel, turned
        /// into expansion logits ũ = (‖x‖² + α²‖y‖² − 2α x·y)·(−1/(2σ²)) stored per query (−∞ in padding lanes), within E of the
        /// true logits, and each query's lower bound L = max(ũ − E) of its largest true logit over the super-tile (E from each
        /// tile's largest α‖y‖).
        /// </summary>
        private void ExpansionPass(int q0, int nq, int sg0, int send, Scratch s, T* pGroups, T* pDist, T* pExpanded)
        {
            int d = Dimension, distStride = TileGroups * W, superLanes = SuperGroups * W;
            var expansion = s.Expansion;
            for (int q = 0; q < nq; q++) s.Lower[q] = double.NegativeInfinity;
            var twoAlpha = Vector512.Create(T.CreateTruncating(2 * Level.Alpha));
            var scale = Vector512.Create(NegHalfInvVariance);
            var minusInf = Vector512.Create(T.NegativeInfinity);
            fixed (T* pNy = ScaledSquaredNorms)
            {
                for (int g0 = sg0; g0 < send; g0 += TileGroups)
                {
                    int ng = Math.Min(TileGroups, send - g0);
                    T* tile = pGroups + (long)g0 * d * W;
                    // the block's dot products: the tile (200 kB at D = 784) stays in L2 while every query of the block passes it
                    for (int qt = 0; qt < nq; qt += QueryTile)
                    {
                        int nt = Math.Min(QueryTile, nq - qt);
                        T* xt = Queries + (long)(q0 + qt) * d;
                        int expanded = 0;
                        for (int j = 0; j < nt; j++) expanded += expansion[qt + j] ? 1 : 0;
                        if (expanded == 0) continue;
                        if (nt == QueryTile && expanded == QueryTile)
                            Dots4(xt, tile, (long)d * W, ng, d, pDist + qt * distStride, distStride);
                        else
                            for (int j = 0; j < nt; j++)
                                if (expansion[qt + j]) Dots1(xt + j * d, tile, (long)d * W, ng, d, pDist + (qt + j) * distStride);
                    }
                    double tileNorm = TileScaledNorm(g0, ng);
                    for (int q = 0; q < nq; q++)
                    {
                        if (!expansion[q]) continue;
                        var nx = Vector512.Create(T.CreateTruncating(s.SquaredNorms[q]));
                        T* dots = pDist + q * distStride;
                        T* estimates = pExpanded + (long)q * superLanes + (g0 - sg0) * W;
                        var best = minusInf;
                        for (int g = 0; g < ng; g++)
                        {
                            int o = g * W;
                            // padding lanes have α²‖y‖² = +∞, so ũ = −∞ there without a select
                            var u = Fma(-twoAlpha, Vector512.Load(dots + o), nx + Vector512.Load(pNy + g0 * W + o)) * scale;
                            u.Store(estimates + o);
                            best = Vector512.Max(best, u);
                        }
                        double bound = BoundFactor * Math.Pow(Math.Sqrt(s.SquaredNorms[q]) + tileNorm, 2);
                        s.Lower[q] = Math.Max(s.Lower[q], double.CreateTruncating(MaxOf(best)) - bound);
                    }
                }
            }
        }

        /// <summary>The points of the super-tile [sg0, send) that query <paramref name="q"/> would refine (see <see cref="RefineCandidates"/>).</summary>
        private int CountCandidates(Scratch s, int q, int sg0, int send, T* estimates)
        {
            var limit = Vector512.Create(CandidateLimit(s, q));
            int count = 0, lanes = (send - sg0) * W;
            for (int o = 0; o < lanes; o += W)
                count += BitOperations.PopCount(Vector512.GreaterThanOrEqual(Vector512.Load(estimates + o), limit).ExtractMostSignificantBits());
            return count;
        }

        /// <summary>The expansion logit from which a point is a candidate: max(L, running maximum) − cut − E (E the query's bound over the set).</summary>
        private T CandidateLimit(Scratch s, int q) =>
            T.CreateTruncating(Math.Max(s.Lower[q], s.State.Row(q).Max) - Cut - BoundFactor * Math.Pow(Math.Sqrt(s.SquaredNorms[q]) + MaxScaledNorm, 2));

        /// <summary>
        /// The expansion path's second phase for query <paramref name="q"/> over the super-tile [sg0, send): the points with
        /// ũ + E ≥ max(L, running maximum) − cut (E the query's bound over the whole set) get their exact logits from
        /// direct-difference distances, then weights, sums and weighted displacements, <see cref="CandidateChunk"/> points at a
        /// time (each chunk's rows are read four at a time, and its sums are formed in T before the state moves to double).
        /// Every other point is below e^{−cut} of the maximum and is dropped.
        /// </summary>
        private void RefineCandidates<TAlpha>(int q, T* x, Scratch s, int sg0, int send, T* estimates, T* pRows)
            where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, lanes = (send - sg0) * W, first = sg0 * W;
            var limit = Vector512.Create(CandidateLimit(s, q));
            var na = Vector512.Create(-Alpha);
            var nal = Vector512.Create(-AlphaLow);
            fixed (int* chunk = s.ChunkIndices)
            fixed (T* distances = s.ChunkDistances)
            fixed (T* logits = s.ChunkLogits)
            {
                int c = 0;
                for (int o = 0; o <= lanes; o += W)
                {
                    if (o < lanes)
                    {
                        ulong bits = Vector512.GreaterThanOrEqual(Vector512.Load(estimates + o), limit).ExtractMostSignificantBits();
                        while (bits != 0)
                        {
                            chunk[c++] = first + o + BitOperations.TrailingZeroCount(bits);
                            bits &= bits - 1;
                        }
                        if (c + W <= CandidateChunk) continue; // room for another group's candidates
                    }
                    if (c == 0) continue;
                    int j = 0;
                    for (; j + 4 <= c; j += 4)
                    {
                        DirectDistances4<TAlpha>(x, pRows + (long)chunk[j] * d, pRows + (long)chunk[j + 1] * d, pRows + (long)chunk[j + 2] * d,
                            pRows + (long)chunk[j + 3] * d, d, na, nal, Alpha, AlphaLow,
                            out distances[j], out distances[j + 1], out distances[j + 2], out distances[j + 3]);
                    }
                    for (; j < c; j++)
                        distances[j] = DirectDistance<TAlpha>(x, pRows + (long)chunk[j] * d, d, na, nal, Alpha, AlphaLow);
                    int ng = (c + W - 1) / W;
                    for (j = c; j < ng * W; j++) distances[j] = T.Zero;
                    T largest = Logits(distances, logits, ng, c, NegHalfInvVariance);
                    var row = s.State.Row(q);
                    if (row.Rescale(double.CreateTruncating(largest)))
                    {
                        var (negligible, _) = Exponentiate(logits, ng, T.CreateTruncating(row.Max), CutWeight);
                        row.AddNegligible(double.CreateTruncating(negligible));
                        int h = 0;
                        for (j = 0; j < c; j++)
                        {
                            if (!(logits[j] > CutWeight)) continue;
                            s.HeavyIndices[h] = chunk[j];
                            s.HeavyWeights[h++] = logits[j];
                        }
                        fixed (int* heavyIndices = s.HeavyIndices)
                        fixed (T* heavyWeights = s.HeavyWeights)
                            MergeRows<TAlpha>(x, pRows, heavyIndices, heavyWeights, h, s, row);
                    }
                    c = 0;
                }
            }
        }
    }

    /// <summary>logits = dist·scale over the <paramref name="ng"/> groups, −∞ in lanes past <paramref name="valid"/>; returns the largest.</summary>
    private static T Logits(T* dist, T* logits, int ng, int valid, T scale)
    {
        var c = Vector512.Create(scale);
        var minusInf = Vector512.Create(T.NegativeInfinity);
        var limit = Vector512.Create(T.CreateTruncating(valid));
        var best = minusInf;
        for (int g = 0; g < ng; g++)
        {
            int o = g * W;
            var u = Vector512.Load(dist + o) * c;
            var inside = Vector512.LessThan(Vector512.Create(T.CreateTruncating(o)) + Vector512<T>.Indices, limit);
            u = Vector512.ConditionalSelect(inside, u, minusInf);
            u.Store(logits + o);
            best = Vector512.Max(best, u);
        }
        return MaxOf(best);
    }

    /// <summary>
    /// In one pass over the tile: weights e^{u − max} in place of the logits, the sum of those at or below the negligible
    /// weight (they count in the log-density's normaliser only) and the number above it (summed per lane in T, then across lanes).
    /// </summary>
    private static (T Negligible, int Heavy) Exponentiate(T* logits, int ng, T max, T negligible)
    {
        var m = Vector512.Create(max);
        var threshold = Vector512.Create(negligible);
        Vector512<T> light = default;
        int heavy = 0;
        for (int g = 0; g < ng; g++)
        {
            int o = g * W;
            var e = Exp(Vector512.Load(logits + o) - m);
            e.Store(logits + o);
            var kept = Vector512.GreaterThan(e, threshold);
            light += Vector512.AndNot(e, kept);
            heavy += BitOperations.PopCount(kept.ExtractMostSignificantBits());
        }
        return (Vector512.Sum(light), heavy);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Exp(Vector512<T> v)
    {
        if (typeof(T) == typeof(float)) return VectorExp.Exp(v.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector512.Exp(v.AsDouble()).As<double, T>();
        throw new NotSupportedException();
    }

    /// <summary>dots[g·W + lane] = x·y for the <paramref name="ng"/> groups at <paramref name="tile"/> (group stride <paramref name="gs"/>), four groups per step.</summary>
    private static void Dots1(T* x, T* tile, long gs, int ng, int d, T* dots)
    {
        int g = 0;
        for (; g + 4 <= ng; g += 4)
        {
            T* y0 = tile + g * gs, y1 = y0 + gs, y2 = y1 + gs, y3 = y2 + gs;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k++)
            {
                var xk = Vector512.Create(x[k]);
                int o = k * W;
                a0 = Fma(Vector512.Load(y0 + o), xk, a0);
                a1 = Fma(Vector512.Load(y1 + o), xk, a1);
                a2 = Fma(Vector512.Load(y2 + o), xk, a2);
                a3 = Fma(Vector512.Load(y3 + o), xk, a3);
            }
            T* o0 = dots + g * W;
            a0.Store(o0); a1.Store(o0 + W); a2.Store(o0 + 2 * W); a3.Store(o0 + 3 * W);
        }
        for (; g < ng; g++)
        {
            T* y = tile + g * gs;
            Vector512<T> a = default;
            for (int k = 0; k < d; k++)
                a = Fma(Vector512.Load(y + k * W), Vector512.Create(x[k]), a);
            a.Store(dots + g * W);
        }
    }

    /// <summary>
    /// The expansion path's micro-kernel: x·y for four queries (rows of <paramref name="x"/>) and the tile's groups (stride
    /// <paramref name="gs"/>), four groups per step: per coordinate four training vectors and four broadcasts feed sixteen
    /// independent FMA chains held in registers, one FMA per coordinate and pair (about 90% of the FMA ceiling with the tile
    /// in L1, 80-85% streaming it). dots of query j start at dots + j·stride.
    /// </summary>
    private static void Dots4(T* x, T* tile, long gs, int ng, int d, T* dots, int stride)
    {
        T* x0 = x, x1 = x + d, x2 = x1 + d, x3 = x2 + d;
        int g = 0;
        for (; g + 4 <= ng; g += 4)
        {
            T* ya = tile + g * gs, yb = ya + gs, yc = yb + gs, yd = yc + gs;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector512<T> b0 = default, b1 = default, b2 = default, b3 = default;
            Vector512<T> c0 = default, c1 = default, c2 = default, c3 = default;
            Vector512<T> e0 = default, e1 = default, e2 = default, e3 = default;
            for (int k = 0; k < d; k++)
            {
                int o = k * W;
                var va = Vector512.Load(ya + o);
                var vb = Vector512.Load(yb + o);
                var vc = Vector512.Load(yc + o);
                var vd = Vector512.Load(yd + o);
                var v = Vector512.Create(x0[k]);
                a0 = Fma(va, v, a0); b0 = Fma(vb, v, b0); c0 = Fma(vc, v, c0); e0 = Fma(vd, v, e0);
                v = Vector512.Create(x1[k]);
                a1 = Fma(va, v, a1); b1 = Fma(vb, v, b1); c1 = Fma(vc, v, c1); e1 = Fma(vd, v, e1);
                v = Vector512.Create(x2[k]);
                a2 = Fma(va, v, a2); b2 = Fma(vb, v, b2); c2 = Fma(vc, v, c2); e2 = Fma(vd, v, e2);
                v = Vector512.Create(x3[k]);
                a3 = Fma(va, v, a3); b3 = Fma(vb, v, b3); c3 = Fma(vc, v, c3); e3 = Fma(vd, v, e3);
            }
            T* p0 = dots + g * W, p1 = p0 + stride, p2 = p1 + stride, p3 = p2 + stride;
            a0.Store(p0); b0.Store(p0 + W); c0.Store(p0 + 2 * W); e0.Store(p0 + 3 * W);
            a1.Store(p1); b1.Store(p1 + W); c1.Store(p1 + 2 * W); e1.Store(p1 + 3 * W);
            a2.Store(p2); b2.Store(p2 + W); c2.Store(p2 + 2 * W); e2.Store(p2 + 3 * W);
            a3.Store(p3); b3.Store(p3 + W); c3.Store(p3 + 2 * W); e3.Store(p3 + 3 * W);
        }
        for (; g < ng; g++)
        {
            for (int j = 0; j < QueryTile; j++)
                Dots1(x + j * d, tile + g * gs, gs, 1, d, dots + j * stride + g * W);
        }
    }

    /// <summary>dist[g·W + lane] = ‖x − α y‖² for the <paramref name="ng"/> groups at <paramref name="tile"/>.</summary>
    private static void SquaredDistances<TAlpha>(T* x, T* tile, int ng, int d, T alpha, T alphaLow, T* dist)
        where TAlpha : struct, IAlphaMode
    {
        var na = Vector512.Create(-alpha);
        var nal = Vector512.Create(-alphaLow);
        long stride = (long)d * W;
        int g = 0;
        // Four groups at once: four independent FMA chains hide the FMA latency.
        for (; g + 4 <= ng; g += 4)
        {
            T* y0 = tile + g * stride, y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k++)
            {
                var xk = Vector512.Create(x[k]);
                int o = k * W;
                a0 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y0 + o), xk, a0);
                a1 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y1 + o), xk, a1);
                a2 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y2 + o), xk, a2);
                a3 = SquareAdd<TAlpha>(na, nal, Vector512.Load(y3 + o), xk, a3);
            }
            a0.Store(dist + g * W);
            a1.Store(dist + (g + 1) * W);
            a2.Store(dist + (g + 2) * W);
            a3.Store(dist + (g + 3) * W);
        }
        for (; g < ng; g++)
        {
            T* y = tile + g * stride;
            Vector512<T> a = default;
            for (int k = 0; k < d; k++)
                a = SquareAdd<TAlpha>(na, nal, Vector512.Load(y + k * W), Vector512.Create(x[k]), a);
            a.Store(dist + g * W);
        }
    }

    /// <summary>
    /// The micro-kernel: squared distances of four consecutive queries (rows of <paramref name="x"/>) to the tile's
    /// groups, two groups at a time: per coordinate two training vectors and four broadcasts feed eight independent
    /// FMA chains, so loads are shared and the FMA latency is hidden. dist of query j starts at dist + j·distStride.
    /// </summary>
    private static void SquaredDistances4<TAlpha>(T* x, T* tile, int ng, int d, T alpha, T alphaLow, T* dist, int distStride)
        where TAlpha : struct, IAlphaMode
    {
        var na = Vector512.Create(-alpha);
        var nal = Vector512.Create(-alphaLow);
        long stride = (long)d * W;
        T* x0 = x, x1 = x + d, x2 = x1 + d, x3 = x2 + d;
        T* d0 = dist, d1 = dist + distStride, d2 = d1 + distStride, d3 = d2 + distStride;
        int g = 0;
        for (; g + 2 <= ng; g += 2)
        {
            T* ya = tile + g * stride, yb = ya + stride;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (int k = 0; k < d; k++)
            {
                var va = Vector512.Load(ya + k * W);
                var vb = Vector512.Load(yb + k * W);
                var v0 = Vector512.Create(x0[k]);
                var v1 = Vector512.Create(x1[k]);
                var v2 = Vector512.Create(x2[k]);
                var v3 = Vector512.Create(x3[k]);
                a0 = SquareAdd<TAlpha>(na, nal, va, v0, a0); b0 = SquareAdd<TAlpha>(na, nal, vb, v0, b0);
                a1 = SquareAdd<TAlpha>(na, nal, va, v1, a1); b1 = SquareAdd<TAlpha>(na, nal, vb, v1, b1);
                a2 = SquareAdd<TAlpha>(na, nal, va, v2, a2); b2 = SquareAdd<TAlpha>(na, nal, vb, v2, b2);
                a3 = SquareAdd<TAlpha>(na, nal, va, v3, a3); b3 = SquareAdd<TAlpha>(na, nal, vb, v3, b3);
            }
            int o = g * W;
            a0.Store(d0 + o); b0.Store(d0 + o + W);
            a1.Store(d1 + o); b1.Store(d1 + o + W);
            a2.Store(d2 + o); b2.Store(d2 + o + W);
            a3.Store(d3 + o); b3.Store(d3 + o + W);
        }
        if (g < ng)
        {
            T* ya = tile + g * stride;
            Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int k = 0; k < d; k++)
            {
                var va = Vector512.Load(ya + k * W);
                a0 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x0[k]), a0);
                a1 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x1[k]), a1);
                a2 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x2[k]), a2);
                a3 = SquareAdd<TAlpha>(na, nal, va, Vector512.Create(x3[k]), a3);
            }
            int o = g * W;
            a0.Store(d0 + o); a1.Store(d1 + o); a2.Store(d2 + o); a3.Store(d3 + o);
        }
    }

    /// <summary>acc + (x − α y)², the difference formed as in <see cref="Difference{TAlpha}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> SquareAdd<TAlpha>(Vector512<T> na, Vector512<T> nal, Vector512<T> y, Vector512<T> x, Vector512<T> acc)
        where TAlpha : struct, IAlphaMode
    {
        var t = Difference<TAlpha>(na, nal, y, x);
        return Fma(t, t, acc);
    }

    /// <summary>
    /// The lanes of a row's last vector (which starts at D − W and overlaps the previous one when W does not divide D) that
    /// the full vectors have not covered: j ≥ W − D mod W.
    /// </summary>
    private static Vector512<T> TailLanes(int d) =>
        Vector512.GreaterThanOrEqual(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(W - d % W)));

    /// <summary>
    /// v[k] += Σ_j w_j (α y_jk − x_k) and p[k] += Σ_j w_j y_jk for four rows (a zero weight adds nothing); D ≥ one vector, the
    /// last vector overlapping the previous one, masked to not add twice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRows4<TAlpha, TPoints>(T* x, T* y0, T* y1, T* y2, T* y3, T w0, T w1, T w2, T w3, int d,
        Vector512<T> av, Vector512<T> avl, Vector512<T> fresh, T* v, T* p) where TAlpha : struct, IAlphaMode where TPoints : struct, IFlag
    {
        Vector512<T> v0 = Vector512.Create(w0), v1 = Vector512.Create(w1), v2 = Vector512.Create(w2), v3 = Vector512.Create(w3);
        int k = 0;
        for (; k + W <= d; k += W) AddRows4At<TAlpha, TPoints>(x, y0, y1, y2, y3, v0, v1, v2, v3, k, av, avl, v, p);
        if (k < d) AddRows4At<TAlpha, TPoints>(x, y0, y1, y2, y3, v0 & fresh, v1 & fresh, v2 & fresh, v3 & fresh, d - W, av, avl, v, p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddRows4At<TAlpha, TPoints>(T* x, T* y0, T* y1, T* y2, T* y3, Vector512<T> w0, Vector512<T> w1, Vector512<T> w2, Vector512<T> w3,
        int k, Vector512<T> av, Vector512<T> avl, T* v, T* p) where TAlpha : struct, IAlphaMode where TPoints : struct, IFlag
    {
        var nx = -Vector512.Load(x + k);
        var a = Vector512.Load(v + k);
        var r0 = Vector512.Load(y0 + k);
        var r1 = Vector512.Load(y1 + k);
        var r2 = Vector512.Load(y2 + k);
        var r3 = Vector512.Load(y3 + k);
        a = Fma(w0, Difference<TAlpha>(av, avl, r0, nx), a);
        a = Fma(w1, Difference<TAlpha>(av, avl, r1, nx), a);
        a = Fma(w2, Difference<TAlpha>(av, avl, r2, nx), a);
        a = Fma(w3, Difference<TAlpha>(av, avl, r3, nx), a);
        a.Store(v + k);
        if (TPoints.IsSet) Fma(w3, r3, Fma(w2, r2, Fma(w1, r1, Fma(w0, r0, Vector512.Load(p + k))))).Store(p + k);
    }

    /// <summary>A compile-time switch (a struct type argument, so the JIT drops the unused branch).</summary>
    internal interface IFlag { static abstract bool IsSet { get; } }
    internal struct WithPoints : IFlag { public static bool IsSet => true; }
    internal struct WithoutPoints : IFlag { public static bool IsSet => false; }

    /// <summary>
    /// ‖(α y_j − x) − μ‖² for four rows, μ = v·<paramref name="inverseMass"/> the chunk's mean displacement (the same
    /// differences as <see cref="AddRows4{TAlpha, TPoints}"/>, so the spread is of exactly the displacements that were summed), and
    /// o[k] += Σ_j w_j ((α y_jk − x_k) − μ_k).
    /// </summary>
    private static (T, T, T, T) SquaredDeviations4<TAlpha>(T* x, T* y0, T* y1, T* y2, T* y3, T w0, T w1, T w2, T w3, int d,
        Vector512<T> av, Vector512<T> avl, Vector512<T> fresh, T* v, Vector512<T> inverseMass, T* o) where TAlpha : struct, IAlphaMode
    {
        Vector512<T> v0 = Vector512.Create(w0), v1 = Vector512.Create(w1), v2 = Vector512.Create(w2), v3 = Vector512.Create(w3);
        Vector512<T> q0 = default, q1 = default, q2 = default, q3 = default;
        int k = 0;
        for (; k + W <= d; k += W)
        {
            var nx = -Vector512.Load(x + k);
            var mean = Vector512.Load(v + k) * inverseMass;
            var t0 = Difference<TAlpha>(av, avl, Vector512.Load(y0 + k), nx) - mean;
            var t1 = Difference<TAlpha>(av, avl, Vector512.Load(y1 + k), nx) - mean;
            var t2 = Difference<TAlpha>(av, avl, Vector512.Load(y2 + k), nx) - mean;
            var t3 = Difference<TAlpha>(av, avl, Vector512.Load(y3 + k), nx) - mean;
            q0 = Fma(t0, t0, q0);
            q1 = Fma(t1, t1, q1);
            q2 = Fma(t2, t2, q2);
            q3 = Fma(t3, t3, q3);
            Fma(v3, t3, Fma(v2, t2, Fma(v1, t1, Fma(v0, t0, Vector512.Load(o + k))))).Store(o + k);
        }
        if (k < d)
        {
            int tail = d - W;
            var nx = -Vector512.Load(x + tail);
            var mean = Vector512.Load(v + tail) * inverseMass;
            var t0 = (Difference<TAlpha>(av, avl, Vector512.Load(y0 + tail), nx) - mean) & fresh;
            var t1 = (Difference<TAlpha>(av, avl, Vector512.Load(y1 + tail), nx) - mean) & fresh;
            var t2 = (Difference<TAlpha>(av, avl, Vector512.Load(y2 + tail), nx) - mean) & fresh;
            var t3 = (Difference<TAlpha>(av, avl, Vector512.Load(y3 + tail), nx) - mean) & fresh;
            q0 = Fma(t0, t0, q0);
            q1 = Fma(t1, t1, q1);
            q2 = Fma(t2, t2, q2);
            q3 = Fma(t3, t3, q3);
            Fma(v3, t3, Fma(v2, t2, Fma(v1, t1, Fma(v0, t0, Vector512.Load(o + tail))))).Store(o + tail);
        }
        return (Vector512.Sum(q0), Vector512.Sum(q1), Vector512.Sum(q2), Vector512.Sum(q3));
    }

    /// <summary>α y − x as <see cref="Difference{TAlpha}"/> forms it, one coordinate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T ScalarDisplacement<TAlpha>(T x, T y, T alpha, T alphaLow) where TAlpha : struct, IAlphaMode
    {
        T t = T.FusedMultiplyAdd(alpha, y, -x);
        return TAlpha.IsExact ? t : T.FusedMultiplyAdd(alphaLow, y, t);
    }

    /// <summary>destination[k] += source[k] in double, k &lt; d.</summary>
    private static void AddWidened(T* source, Span<double> destination, int d)
    {
        int k = 0;
        fixed (double* to = destination)
        {
            if (typeof(T) == typeof(float))
            {
                for (; k + 16 <= d; k += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Load((float*)source + k));
                    (Vector512.Load(to + k) + lo).Store(to + k);
                    (Vector512.Load(to + k + 8) + hi).Store(to + k + 8);
                }
            }
            for (; k < d; k++) to[k] += double.CreateTruncating(source[k]);
        }
    }

    /// <summary>destination[k] = source[k] in double, k &lt; d.</summary>
    private static void Widen(T* source, double[] destination, int d)
    {
        int k = 0;
        if (typeof(T) == typeof(float))
        {
            fixed (double* to = destination)
            {
                for (; k + 16 <= d; k += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Load((float*)source + k));
                    lo.Store(to + k);
                    hi.Store(to + k + 8);
                }
            }
        }
        for (; k < d; k++) destination[k] = double.CreateTruncating(source[k]);
    }

    /// <summary>‖x − α y‖² of one row-major point by direct differences, vectorised over coordinates (the candidates' exact distance).</summary>
    private static T DirectDistance<TAlpha>(T* x, T* y, int d, Vector512<T> na, Vector512<T> nal, T alpha, T alphaLow)
        where TAlpha : struct, IAlphaMode
    {
        Vector512<T> acc = default;
        int k = 0;
        for (; k + W <= d; k += W)
        {
            var t = Difference<TAlpha>(na, nal, Vector512.Load(y + k), Vector512.Load(x + k));
            acc = Fma(t, t, acc);
        }
        return Tail<TAlpha>(x, y, k, d, Vector512.Sum(acc), alpha, alphaLow);
    }

    /// <summary>
    /// <see cref="DirectDistance{TAlpha}"/> of four rows at once, each with the same operations in the same order (so the
    /// same bits): four independent loads streams and FMA chains.
    /// </summary>
    private static void DirectDistances4<TAlpha>(T* x, T* y0, T* y1, T* y2, T* y3, int d, Vector512<T> na, Vector512<T> nal,
        T alpha, T alphaLow, out T d0, out T d1, out T d2, out T d3) where TAlpha : struct, IAlphaMode
    {
        Vector512<T> a0 = default, a1 = default, a2 = default, a3 = default;
        int k = 0;
        for (; k + W <= d; k += W)
        {
            var xk = Vector512.Load(x + k);
            var t0 = Difference<TAlpha>(na, nal, Vector512.Load(y0 + k), xk);
            var t1 = Difference<TAlpha>(na, nal, Vector512.Load(y1 + k), xk);
            var t2 = Difference<TAlpha>(na, nal, Vector512.Load(y2 + k), xk);
            var t3 = Difference<TAlpha>(na, nal, Vector512.Load(y3 + k), xk);
            a0 = Fma(t0, t0, a0);
            a1 = Fma(t1, t1, a1);
            a2 = Fma(t2, t2, a2);
            a3 = Fma(t3, t3, a3);
        }
        d0 = Tail<TAlpha>(x, y0, k, d, Vector512.Sum(a0), alpha, alphaLow);
        d1 = Tail<TAlpha>(x, y1, k, d, Vector512.Sum(a1), alpha, alphaLow);
        d2 = Tail<TAlpha>(x, y2, k, d, Vector512.Sum(a2), alpha, alphaLow);
        d3 = Tail<TAlpha>(x, y3, k, d, Vector512.Sum(a3), alpha, alphaLow);
    }

    /// <summary>sum + Σ_{k ≥ k0} (x_k − α y_k)², the scalar tail of a direct distance.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Tail<TAlpha>(T* x, T* y, int k0, int d, T sum, T alpha, T alphaLow) where TAlpha : struct, IAlphaMode
    {
        for (int k = k0; k < d; k++)
        {
            T t = T.FusedMultiplyAdd(-alpha, y[k], x[k]);
            if (!TAlpha.IsExact) t = T.FusedMultiplyAdd(-alphaLow, y[k], t);
            sum = T.FusedMultiplyAdd(t, t, sum);
        }
        return sum;
    }

    /// <summary>The largest lane.</summary>
    private static T MaxOf(Vector512<T> v)
    {
        T best = v[0];
        for (int i = 1; i < Vector512<T>.Count; i++) best = T.Max(best, v[i]);
        return best;
    }

    /// <summary>c + (a + aLow)·y: a difference x − α y (a = −α) or a displacement α y − x (a = α, c = −x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Difference<TAlpha>(Vector512<T> a, Vector512<T> aLow, Vector512<T> y, Vector512<T> c)
        where TAlpha : struct, IAlphaMode
    {
        var t = Fma(a, y, c);
        return TAlpha.IsExact ? t : Fma(aLow, y, t);
    }

    /// <summary>Whether α is exact in T; a struct type argument so the JIT compiles each variant without the branch.</summary>
    internal interface IAlphaMode { static abstract bool IsExact { get; } }
    internal struct ExactAlpha : IAlphaMode { public static bool IsExact => true; }
    internal struct SplitAlpha : IAlphaMode { public static bool IsExact => false; }

    /// <summary>a·b + c with one rounding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException();
    }
}
