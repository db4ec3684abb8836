using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The screen of <see cref="FusedScoreKernel{T}"/> (<see cref="IScoreBackend.Screen"/>): the expansion pass's estimates
/// name each query's candidates, the points whose logit may be within the cut-off of its largest, and nothing is summed.
/// A pass that needs the heavy points themselves (the Hessian's factor) then evaluates only those exactly.
/// </summary>
internal static unsafe partial class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Hands each query's candidates (within the cut-off plus <paramref name="margin"/> nats of its largest logit) to
    /// <paramref name="consume"/>; false, calling nothing, where the expansion path cannot run for this type, dimension or
    /// level (the caller then evaluates every point).
    /// </summary>
    public static bool Screen(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, int dop, int tileGroups,
        bool allowExpansion, int superTilePoints, ScreenedCandidates consume, double margin = 0)
    {
        int m = queries.Length / train.Dimension;
        fixed (T* px = queries)
        {
            var job = new Job(train, px, m, level, tileGroups, allowExpansion, superTilePoints, Moments.None)
            {
                Screening = consume,
                Cut = ScorePartials.NegligibleLogit<T>(train.Count) + margin,
            };
            if (job.ScaledNorms is null) return false;
            Run(job, dop);
        }
        return true;
    }

    private sealed partial class Job
    {
        /// <summary>Where the screen hands each query's candidates (null: the job evaluates outputs or partials).</summary>
        public ScreenedCandidates? Screening;

        /// <summary>
        /// The block's screen: per super-tile the expansion pass, then each expanded query's points with ũ at or above its
        /// candidate limit appended to its list, in ascending index. A query the expansion cannot bound is handed over as
        /// every point, and so is one whose list would pass <see cref="MostCandidates"/> (the lists' memory stays bounded
        /// for sets of any size).
        /// </summary>
        private void ScreenBlock(int q0, int nq, Scratch s, T* pGroups, T* pDist, T* pExpanded)
        {
            var expansion = s.Expansion;
            int groups = Layout.GroupCount, most = MostCandidates(Train.Count);
            var lists = s.CandidateLists;
            var counts = s.CandidateCounts;
            var lower = s.ScreenLower;
            Array.Clear(counts);
            Array.Fill(lower, double.NegativeInfinity);
            for (int sg0 = 0; sg0 < groups; sg0 += SuperGroups)
            {
                int send = Math.Min(groups, sg0 + SuperGroups), lanes = (send - sg0) * W, first = sg0 * W;
                ExpansionPass(q0, nq, sg0, send, s, pGroups, pDist, pExpanded);
                for (int q = 0; q < nq; q++)
                {
                    if (!expansion[q] || counts[q] < 0) continue;
                    T* estimates = pExpanded + (long)q * SuperGroups * W;
                    // the largest lower bound of the maximum so far: a later super-tile's limit uses the earlier ones too
                    lower[q] = Math.Max(lower[q], s.Lower[q]);
                    var limit = Vector512.Create(T.CreateTruncating(lower[q] - Cut - QueryBound(s, q)));
                    for (int o = 0; o < lanes && counts[q] >= 0; o += W)
                    {
                        ulong bits = Vector512.GreaterThanOrEqual(Vector512.Load(estimates + o), limit).ExtractMostSignificantBits();
                        if (bits == 0) continue;
                        int count = counts[q], needed = count + BitOperations.PopCount(bits);
                        if (needed > most)
                        {
                            counts[q] = -1;
                            break;
                        }
                        if (lists[q] is null || lists[q]!.Length < needed) Grow(ref lists[q], needed, count);
                        var list = lists[q]!;
                        while (bits != 0)
                        {
                            list[count++] = first + o + BitOperations.TrailingZeroCount(bits);
                            bits &= bits - 1;
                        }
                        counts[q] = count;
                    }
                }
            }
            var every = s.EveryPoint;
            for (int q = 0; q < nq; q++) every[q] = !expansion[q] || counts[q] < 0;
            Screening!(new ScreenedBlock(q0, nq, lists, counts, every));
        }

        /// <summary>
        /// The longest list a query keeps: a third of the set, and at least 65 536 points, so a small set's lists are never
        /// cut (each grows only as far as its candidates) and a large set's take at most QueryBlock × N/3 ints per thread;
        /// past a third, evaluating every point costs little more than the candidates would.
        /// </summary>
        private static int MostCandidates(int n) => Math.Max(n / 3, 65536);

        private static void Grow(ref int[]? list, int needed, int keep)
        {
            var larger = ArrayPool<int>.Shared.Rent(Math.Max(needed, 2 * (list?.Length ?? 32)));
            if (list is not null)
            {
                list.AsSpan(0, keep).CopyTo(larger);
                ArrayPool<int>.Shared.Return(list);
            }
            list = larger;
        }
    }
}
