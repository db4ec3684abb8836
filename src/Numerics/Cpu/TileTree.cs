using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The training set ordered once into a binary tree of boxes whose leaves are the tiles the pruned path visits
/// (<see cref="FusedScoreKernel{T}"/>, PrunedPass.cs). Each node holds the bounding box [lo, hi] of the points below it
/// (per coordinate their least and largest value), so no point below it is nearer a query x than the distance from x to
/// the box α[lo, hi], √Σ_k max(0, α lo_k − x_k, x_k − α hi_k)² (<see cref="LowerDistance"/>), and its logits are at most
/// minus that squared over 2σ². Boxes, not balls: in 16 dimensions a leaf of a few dozen Gaussian points has a bounding
/// ball nearly as wide as the whole set (no ball bound prunes there), while its box is cut in about log₂(N/leaf)
/// coordinates and a small ball around the query meets only a few boxes.
/// <para>
/// Built by splits along the coordinate of largest range at the middle of that range (a sliding-midpoint k-d split: the
/// split falls in the gaps between clusters, where a median split would cut clusters in two), moved to the 1/8 or 7/8
/// quantile when the middle leaves fewer points than that on one side (so the depth stays O(log N)). Leaves hold at most
/// <see cref="LeafPoints"/> points, anywhere in the order: a leaf is the lanes [start, start + count) of the groups of the
/// points-in-lanes kernel's transposed layout of <see cref="Ordered"/> that hold it, the other lanes masked. A leaf's box
/// comes from its points, an internal node's from its children's (exact either way: boxes of T values held in float64).
/// The build costs O(N D + N log N) and is deterministic (no random choices), so a query's results never depend on when
/// or where the tree was built.
/// </para>
/// <para>
/// Built on the first CPU call that may prune, kept for as long as the <see cref="TrainingSet{T}"/> lives (held weakly,
/// as <see cref="CpuLayout{T}"/> is), one tree per leaf size.
/// </para>
/// </summary>
internal sealed class TileTree<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly ConditionalWeakTable<TrainingSet<T>, ConcurrentDictionary<int, TileTree<T>>> Cache = new();

    /// <summary>The tree of <paramref name="train"/> with leaves of <paramref name="leafGroups"/> groups, built on first use.</summary>
    public static TileTree<T> Of(TrainingSet<T> train, int leafGroups) =>
        Cache.GetValue(train, static _ => new()).GetOrAdd(leafGroups, g => new TileTree<T>(train, g, g * CpuLayout<T>.GroupWidth, null));

    /// <summary>
    /// The tree of the rows <paramref name="rows"/> of <paramref name="train"/> alone (in that order before the splits), with
    /// leaves of at most <paramref name="leafPoints"/> points; not cached (the pruning gate's sample, PruneGate.cs).
    /// </summary>
    internal static TileTree<T> OfRows(TrainingSet<T> train, int[] rows, int leafPoints) => new(train, 1, leafPoints, rows);

    /// <summary>Whether some tree of <paramref name="train"/> has been built (tests read it).</summary>
    internal static bool IsBuilt(TrainingSet<T> train) => Cache.TryGetValue(train, out var trees) && !trees.IsEmpty;

    /// <summary>Relative slack for rounding the float64 bound down (its own error is about D·2⁻⁵³ relative).</summary>
    private const double Outwards = 1e-10;

    /// <summary>The training points in leaf order (row-major), the set the pruned path streams.</summary>
    public TrainingSet<T> Ordered { get; }

    public int Dimension { get; }

    /// <summary>Most points per leaf: <see cref="LeafGroups"/> groups.</summary>
    public int LeafPoints { get; }

    /// <summary>Groups of <see cref="CpuLayout{T}.GroupWidth"/> points per leaf at most (a leaf may straddle one more).</summary>
    public int LeafGroups { get; }

    /// <summary>Per node: first point (in <see cref="Ordered"/>), point count, first child (−1 for a leaf; the second is +1).</summary>
    public int[] Start { get; }
    public int[] Count { get; }
    public int[] Child { get; }

    /// <summary>Per node: the least and the largest value of each coordinate over its points (D values each, node-major), in float64.</summary>
    public double[] Lower { get; }
    public double[] Upper { get; }

    /// <summary>
    /// Whether pruning can pay, per noise level (α, σ), share and pass (the query-lanes pruned pass or the one-query pass:
    /// <see cref="PrunePlan{T}"/>'s gate), once decided.
    /// </summary>
    internal ConcurrentDictionary<(double Alpha, double Sigma, double Share, bool Lanes), bool> Promising { get; } = new();

    /// <summary>Longest root-to-leaf path, in nodes (the plan sizes its budget of nodes by it).</summary>
    public int Depth { get; }

    // optimised at the first call: the gate runs these once per set and level, often before tiering would
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private TileTree(TrainingSet<T> train, int leafGroups, int leafPoints, int[]? subset)
    {
        int n = subset?.Length ?? train.Count, d = train.Dimension;
        Dimension = d;
        LeafGroups = leafGroups;
        LeafPoints = leafPoints;
        var rows = train.Rows;
        var order = subset is null ? new int[n] : (int[])subset.Clone();
        for (int i = 0; subset is null && i < n; i++) order[i] = i;

        // a node's children are created together, so the second is the first + 1
        var start = new List<int>();
        var count = new List<int>();
        var child = new List<int>();
        var keys = new double[n];
        var pending = new Stack<(int Node, int Level)>();
        start.Add(0); count.Add(n); child.Add(-1);
        pending.Push((0, 1));
        int depth = 1;
        while (pending.Count > 0)
        {
            var (node, level) = pending.Pop();
            depth = Math.Max(depth, level);
            int lo = start[node], size = count[node];
            if (size <= LeafPoints) continue;
            int split = SpreadCoordinate(rows, order, lo, size, d, out double middle);
            for (int i = 0; i < size; i++) keys[lo + i] = double.CreateTruncating(rows[(long)order[lo + i] * d + split]);
            int left = Partition(keys, order, lo, size, middle), least = Math.Max(1, size / 8);
            if (left < least || left > size - least)
            {
                left = Math.Clamp(left, least, size - least);
                Select(keys, order, lo, lo + size - 1, lo + left);
            }
            int first = start.Count;
            child[node] = first;
            start.Add(lo); count.Add(left); child.Add(-1);
            start.Add(lo + left); count.Add(size - left); child.Add(-1);
            pending.Push((first + 1, level + 1));
            pending.Push((first, level + 1));
        }
        Start = start.ToArray();
        Count = count.ToArray();
        Child = child.ToArray();
        Depth = depth;

        var ordered = new T[(long)n * d];
        for (int i = 0; i < n; i++) rows.AsSpan((int)((long)order[i] * d), d).CopyTo(ordered.AsSpan((int)((long)i * d), d));
        Ordered = new TrainingSet<T>(ordered, n, d);

        int nodes = Start.Length;
        Lower = new double[(long)nodes * d];
        Upper = new double[(long)nodes * d];
        // children before parents: every child's index is larger than its parent's
        for (int node = nodes - 1; node >= 0; node--)
        {
            var lo = Lower.AsSpan(node * d, d);
            var hi = Upper.AsSpan(node * d, d);
            if (Child[node] < 0)
            {
                lo.Fill(double.PositiveInfinity);
                hi.Fill(double.NegativeInfinity);
                for (int i = Start[node], end = i + Count[node]; i < end; i++)
                {
                    for (int k = 0; k < d; k++)
                    {
                        double v = double.CreateTruncating(ordered[(long)i * d + k]);
                        lo[k] = Math.Min(lo[k], v);
                        hi[k] = Math.Max(hi[k], v);
                    }
                }
                continue;
            }
            int a = Child[node], b = a + 1;
            for (int k = 0; k < d; k++)
            {
                lo[k] = Math.Min(Lower[a * d + k], Lower[b * d + k]);
                hi[k] = Math.Max(Upper[a * d + k], Upper[b * d + k]);
            }
        }
    }

    /// <summary>
    /// Moves the points of order[lo .. lo + size) whose key is at most <paramref name="middle"/> to the front; returns how many.
    /// </summary>
    private static int Partition(double[] keys, int[] order, int lo, int size, double middle)
    {
        int i = lo, j = lo + size - 1;
        while (i <= j)
        {
            if (keys[i] <= middle) i++;
            else Swap(keys, order, i, j--);
        }
        return i - lo;
    }

    /// <summary>
    /// The coordinate of largest range over up to 64 evenly spaced points of order[lo .. lo + size), and the middle of that
    /// range.
    /// </summary>
    // optimised at the first call: the gate runs these once per set and level, often before tiering would
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int SpreadCoordinate(T[] rows, int[] order, int lo, int size, int d, out double middle)
    {
        int samples = Math.Min(size, 64);
        Span<double> min = d <= 256 ? stackalloc double[d] : new double[d];
        Span<double> max = d <= 256 ? stackalloc double[d] : new double[d];
        min.Fill(double.PositiveInfinity);
        max.Fill(double.NegativeInfinity);
        for (int s = 0; s < samples; s++)
        {
            long row = (long)order[lo + (int)((long)s * size / samples)] * d;
            for (int k = 0; k < d; k++)
            {
                double v = double.CreateTruncating(rows[row + k]);
                min[k] = Math.Min(min[k], v);
                max[k] = Math.Max(max[k], v);
            }
        }
        int best = 0;
        for (int k = 1; k < d; k++)
            if (max[k] - min[k] > max[best] - min[best]) best = k;
        middle = 0.5 * (min[best] + max[best]);
        return best;
    }

    /// <summary>
    /// Reorders keys[lo..hi] (and order alongside) so that position <paramref name="nth"/> holds the value it would in sorted
    /// order, smaller or equal ones before it and larger or equal after (quickselect with a three-way partition, so equal
    /// keys, duplicates included, cost linear time).
    /// </summary>
    private static void Select(double[] keys, int[] order, int lo, int hi, int nth)
    {
        while (lo < hi)
        {
            double pivot = Median(keys[lo], keys[lo + (hi - lo) / 2], keys[hi]);
            int lt = lo, i = lo, gt = hi;
            while (i <= gt)
            {
                if (keys[i] < pivot) Swap(keys, order, lt++, i++);
                else if (keys[i] > pivot) Swap(keys, order, i, gt--);
                else i++;
            }
            if (nth < lt) hi = lt - 1;
            else if (nth > gt) lo = gt + 1;
            else return;
        }
    }

    private static double Median(double a, double b, double c) => Math.Max(Math.Min(a, b), Math.Min(Math.Max(a, b), c));

    private static void Swap(double[] keys, int[] order, int i, int j)
    {
        (keys[i], keys[j]) = (keys[j], keys[i]);
        (order[i], order[j]) = (order[j], order[i]);
    }

    /// <summary>
    /// A lower bound of ‖x − α y‖ over every point y below <paramref name="node"/>: the distance from x to the box α[lo, hi],
    /// in float64 and rounded down, for a query <paramref name="x"/> already widened to float64 (0 inside the box; NaN
    /// coordinates count as 0, so a NaN query is never pruned).
    /// </summary>
    // optimised at the first call: the gate runs these once per set and level, often before tiering would
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double LowerDistance(int node, ReadOnlySpan<double> x, double alpha)
    {
        int d = Dimension;
        var lo = Lower.AsSpan(node * d, d);
        var hi = Upper.AsSpan(node * d, d);
        var a = Vector512.Create(alpha);
        Vector512<double> acc = default;
        int k = 0;
        for (; k + 8 <= d; k += 8)
        {
            var xk = Vector512.Create(x.Slice(k, 8));
            var below = Vector512.FusedMultiplyAdd(a, Vector512.Create(lo.Slice(k, 8)), -xk);
            var above = Vector512.FusedMultiplyAdd(-a, Vector512.Create(hi.Slice(k, 8)), xk);
            var t = Vector512.MaxNative(Vector512.MaxNative(below, above), Vector512<double>.Zero);
            acc = Vector512.FusedMultiplyAdd(t, t, acc);
        }
        double s = Vector512.Sum(acc);
        for (; k < d; k++)
        {
            double t = Math.Max(0, Math.Max(Math.FusedMultiplyAdd(alpha, lo[k], -x[k]), Math.FusedMultiplyAdd(-alpha, hi[k], x[k])));
            if (t > 0) s = Math.FusedMultiplyAdd(t, t, s);
        }
        return Math.Sqrt(s) * (1 - Outwards);
    }

    /// <summary>
    /// A bound of the logits −‖x − α y‖²·<paramref name="halfPrecision"/> (halfPrecision = 1/(2σ²)) over every point y below
    /// <paramref name="node"/>, from the squared distance of x to the box α[lo, hi] accumulated coordinate by coordinate, one
    /// FMA each, and shrunk by <see cref="Outwards"/> for its rounding (so the bound holds for the exact logits). Rounding
    /// is monotone, so a node never has a smaller bound than a leaf below it (its box holds the leaf's): a depth-first walk
    /// that cuts nodes below a threshold reaches every leaf at or above it (the query-lanes pruned pass and its plan).
    /// </summary>
    // optimised at the first call: the gate runs these once per set and level, often before tiering would
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double LogitBound(int node, ReadOnlySpan<double> x, double alpha, double halfPrecision)
    {
        int d = Dimension;
        var lo = Lower.AsSpan(node * d, d);
        var hi = Upper.AsSpan(node * d, d);
        double s = 0;
        for (int k = 0; k < d; k++)
        {
            double t = Math.Max(Math.Max(Math.FusedMultiplyAdd(alpha, lo[k], -x[k]), Math.FusedMultiplyAdd(-alpha, hi[k], x[k])), 0);
            s = Math.FusedMultiplyAdd(t, t, s);
        }
        return -(s * (1 - 2 * Outwards)) * halfPrecision;
    }
}

/// <summary>
/// The pruned traversal's queue: tree nodes by their logit bound, largest first (a binary heap; ties go to the node pushed
/// first, so the order is a function of the bounds alone), and the points under the nodes it holds.
/// </summary>
internal sealed class NodeQueue
{
    private int[] _nodes = new int[64];
    private double[] _bounds = new double[64];
    private long[] _order = new long[64];
    private long _pushed;

    public int Count { get; private set; }

    public void Clear()
    {
        Count = 0;
        _pushed = 0;
    }

    public void Push(int node, double bound)
    {
        if (Count == _nodes.Length)
        {
            Array.Resize(ref _nodes, 2 * Count);
            Array.Resize(ref _bounds, 2 * Count);
            Array.Resize(ref _order, 2 * Count);
        }
        int i = Count++;
        long order = _pushed++;
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Before(bound, order, _bounds[parent], _order[parent])) break;
            _nodes[i] = _nodes[parent];
            _bounds[i] = _bounds[parent];
            _order[i] = _order[parent];
            i = parent;
        }
        _nodes[i] = node;
        _bounds[i] = bound;
        _order[i] = order;
    }

    public (int Node, double Bound) Pop()
    {
        var top = (_nodes[0], _bounds[0]);
        int last = --Count;
        int node = _nodes[last];
        double bound = _bounds[last];
        long order = _order[last];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= last) break;
            if (child + 1 < last && Before(_bounds[child + 1], _order[child + 1], _bounds[child], _order[child])) child++;
            if (!Before(_bounds[child], _order[child], bound, order)) break;
            _nodes[i] = _nodes[child];
            _bounds[i] = _bounds[child];
            _order[i] = _order[child];
            i = child;
        }
        _nodes[i] = node;
        _bounds[i] = bound;
        _order[i] = order;
        return top;
    }

    /// <summary>The points under the queued nodes.</summary>
    public long Points<T>(TileTree<T> tree) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long points = 0;
        for (int i = 0; i < Count; i++) points += tree.Count[_nodes[i]];
        return points;
    }

    /// <summary>Whether (a, oa) comes out before (b, ob): the larger bound, then the earlier push (NaN bounds last).</summary>
    private static bool Before(double a, long oa, double b, long ob) => a > b || (!(a < b) && oa < ob && !double.IsNaN(a)) || (double.IsNaN(b) && !double.IsNaN(a));
}

