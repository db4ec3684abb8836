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
/// one FMA per coordinate (near the FMA ceiling: README.md, Performance), giving expansion logits ũ = −(‖x‖² + α²‖y‖² − 2α x·y)/(2σ²) within
/// E = γ_{D+8}(‖x‖ + α‖y‖)²/(2σ²) of the true ones, and a lower bound L = max(ũ − E) of the largest logit. Then only the
/// candidates, ũ + E ≥ max(L, running maximum) − c, get their distance recomputed by direct differences (four rows at a
/// time) and their weights and weighted displacements summed, 64 at a time; every other point is provably below e^{−c} of
/// the maximum and is dropped (at moderate σ nearly all of them). A query uses the expansion only when its largest E
/// is below <see cref="ExpansionBoundLimit"/> nats; at small σ against ‖x‖ (where E grows) it keeps the direct differences
/// throughout. The choice depends on the query alone (never on its neighbours in a block), so results stay the same bits
/// for any batching of the queries.
/// </para>
/// <para>
/// This file holds the job and its block loop; the passes are partial files of the same class: DirectPass.cs (phases 1–3),
/// KeptRows.cs (phase 4), ExpansionPass.cs (the expansion path); <see cref="Simd{T}"/> holds the helpers both CPU kernels share.
/// </para>
/// </summary>
internal static unsafe partial class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Queries that share one pass over the training set: each tile streamed from memory serves this many. 64 would be
    /// faster at large N and D but doubles the ũ buffers (QueryBlock × <see cref="SuperTilePoints"/> T per thread), past the
    /// memory budget (README.md, Performance, "Tuning the CPU kernel").
    /// </summary>
    internal const int QueryBlock = 32;

    /// <summary>Queries whose distances the micro-kernel computes together: each training vector loaded serves four.</summary>
    internal const int QueryTile = 4;

    /// <summary>Target tile size: a few groups of points at D = 784 still fit in a core's L2.</summary>
    internal const int TileBytes = 256 * 1024;

    private static int W => Vector512<T>.Count;

    /// <summary>Largest expansion error bound (nats) a block accepts; beyond it nearly every point would be a candidate.</summary>
    private const double ExpansionBoundLimit = 4;

    /// <summary>
    /// Points per super-tile of the expansion path (its ũ buffer is QueryBlock × this many T per thread: 8 MB in float). The
    /// candidate threshold is the super-tile's lower bound of the maximum, so a super-tile must hold the query's nearest
    /// points to let few through: whole training sets of up to 65 536 points (a running bound instead, before the nearest
    /// point arrives, lets many more through: README.md, Performance, "Tuning the CPU kernel").
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

    /// <summary>The queries' states merged into <paramref name="partials"/>: query i into row <paramref name="rows"/>[i] (null: row i).</summary>
    public static void Accumulate(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials, int dop, int tileGroups,
        bool allowExpansion = true, int superTilePoints = SuperTilePoints, StrongBox<long>? expanded = null, int[]? rows = null)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        {
            Run(new Job(train, px, m, partials.Level, tileGroups, allowExpansion, superTilePoints, partials.Needs)
                { Partials = partials, PartialsRows = rows, Expanded = expanded }, dop);
        }
        partials.AddTrainingCount(train.Count);
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

        /// <summary>The screen's candidates per query of the block (−1 count: every point) and running lower bounds of the maximum.</summary>
        public readonly int[]?[] CandidateLists = new int[QueryBlock][];
        public readonly int[] CandidateCounts = new int[QueryBlock];
        public readonly double[] ScreenLower = new double[QueryBlock];
        public readonly bool[] EveryPoint = new bool[QueryBlock];

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
            State.Return();
            NativeMemory.AlignedFree(ChunkDisplacement);
            ArrayPool<double>.Shared.Return(WideDisplacement);
            ArrayPool<double>.Shared.Return(WidePoints);
            ArrayPool<double>.Shared.Return(SquaredNorms);
            if (Expanded.Length > 0) ArrayPool<T>.Shared.Return(Expanded);
            foreach (var list in CandidateLists)
                if (list is not null) ArrayPool<int>.Shared.Return(list);
        }
    }

    private sealed partial class Job
    {
        public readonly TrainingSet<T> Train;

        /// <summary>The set's transposed groups and squared norms (the CPU backend's cache).</summary>
        public readonly CpuLayout<T> Layout;
        public readonly T* Queries;
        public readonly int QueryCount, Dimension, TileGroups;
        public readonly NoiseLevel Level;
        public readonly T Alpha, AlphaLow, NegHalfInvVariance;

        /// <summary>
        /// The negligible-logit margin for this training set and its weight e^{−margin} (a screen may widen the margin:
        /// <see cref="IScoreBackend.Screen"/>'s margin; the weight is the pass's, unused by a screen).
        /// </summary>
        public double Cut { get; init; }
        public readonly T CutWeight;
        public T* LogDensity, Score, Denoiser, Divergence;
        public ScorePartials? Partials;

        /// <summary>The row of <see cref="Partials"/> each query merges into (null: its own index).</summary>
        public int[]? PartialsRows;

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
            Layout = CpuLayout<T>.Of(train);
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
            MagnitudeOverflowException.ThrowIfOutOfRange<T>(level);
            int auto = Math.Clamp(TileBytes / (W * Dimension * sizeof(T)), 4, 64);
            // σ² beyond float's range makes −1/(2σ²) zero: every logit is 0 and the expansion's bounds would be 0·∞ in the
            // padding lanes; the direct path needs no bound
            if (allowExpansion && typeof(T) == typeof(float) && Dimension >= ExpansionMinDimension && T.IsNormal(NegHalfInvVariance))
            {
                auto &= ~3; // whole steps of the 4-group micro-kernel
                ScaledSquaredNorms = new T[Layout.GroupCount * W];
                ScaledSquaredNorms.AsSpan(train.Count).Fill(T.PositiveInfinity); // padding lanes: ũ = −∞
                ScaledNorms = new T[Layout.GroupCount * W];
                var norms = Layout.SquaredNorms;
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
            TileGroups = Math.Min(tileGroups > 0 ? tileGroups : auto, Layout.GroupCount);
            // no larger than the training set, rounded up to whole tiles: the ũ buffer is sized by it
            SuperGroups = TileGroups * Math.Min(Math.Max(1, superTilePoints / (TileGroups * W)), (Layout.GroupCount + TileGroups - 1) / TileGroups);
        }

        /// <summary>Processes one block of queries; chooses once whether α needs its low part.</summary>
        public void ProcessBlock(int block, Scratch s)
        {
            if (T.IsZero(AlphaLow)) ProcessBlock<ExactAlpha>(block, s);
            else ProcessBlock<SplitAlpha>(block, s);
        }

        private void ProcessBlock<TAlpha>(int block, Scratch s) where TAlpha : struct, IAlphaMode
        {
            int groups = Layout.GroupCount;
            int q0 = block * QueryBlock, nq = Math.Min(QueryBlock, QueryCount - q0);
            s.State.Clear(nq);
            var expansion = s.Expansion;
            if (!MarkExpansion(q0, nq, s.SquaredNorms, expansion)) Array.Clear(expansion);

            int expanding = 0;
            for (int q = 0; q < nq; q++) expanding += expansion[q] ? 1 : 0;
            bool anyExpansion = expanding > 0;
            if (Expanded is not null && anyExpansion) Interlocked.Add(ref Expanded.Value, expanding);

            fixed (T* pGroups = Layout.Groups)
            fixed (T* pRows = Train.Rows)
            fixed (T* pDist = s.Distances)
            fixed (T* pW = s.Weights)
            fixed (T* pExpanded = s.Expanded)
            {
                if (Screening is not null)
                {
                    ScreenBlock(q0, nq, s, pGroups, pDist, pExpanded);
                    return;
                }
                for (int sg0 = 0; sg0 < groups; sg0 += SuperGroups)
                    ProcessSuperTile<TAlpha>(q0, nq, sg0, Math.Min(groups, sg0 + SuperGroups), anyExpansion, s, pGroups, pRows, pDist, pW, pExpanded);
            }
            FinishBlock(q0, nq, s);
        }

        /// <summary>
        /// The block's queries against the super-tile of groups [sg0, send): the expansion pass's estimates (when any query
        /// expands), the choice per query between refining its candidates and direct differences, the direct pass tile by
        /// tile, then the candidates' refinement.
        /// </summary>
        private void ProcessSuperTile<TAlpha>(int q0, int nq, int sg0, int send, bool anyExpansion, Scratch s,
            T* pGroups, T* pRows, T* pDist, T* pW, T* pExpanded) where TAlpha : struct, IAlphaMode
        {
            int d = Dimension;
            var expansion = s.Expansion;
            var refine = s.Refine; // per super-tile: the expansion queries whose candidates are refined by rows
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
                DirectTile<TAlpha>(q0, nq, g0, Math.Min(TileGroups, send - g0), s, pGroups, pRows, pDist, pW);

            for (int q = 0; anyExpansion && q < nq; q++)
            {
                if (refine[q])
                    RefineCandidates<TAlpha>(q, Queries + (long)(q0 + q) * d, s, sg0, send, pExpanded + (long)q * SuperGroups * W, pRows);
            }
        }

        /// <summary>The block's states into the caller's partials (merged) or outputs (finished).</summary>
        private void FinishBlock(int q0, int nq, Scratch s)
        {
            int d = Dimension, n = Train.Count;
            for (int q = 0; q < nq; q++)
            {
                var row = s.State.Row(q);
                if (Partials is not null)
                {
                    Partials.Row(PartialsRows?[q0 + q] ?? q0 + q).Combine(row, Level.Alpha);
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

    }

}
