using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The training set ordered once into a binary tree of balls whose leaves are the tiles the pruned path visits
/// (<see cref="FusedScoreKernel{T}"/>, PrunedPass.cs). Each node holds a centre c and a radius r with ‖y − c‖ ≤ r for
/// every point y below it, so by the triangle inequality no point below it is nearer a query x than
/// ‖x − αc‖ − αr (<see cref="LowerDistance"/>), and its logits are at most −(max(0, ‖x − αc‖ − αr))²/(2σ²).
/// <para>
/// Built by splits along the coordinate of largest range at the middle of that range (a sliding-midpoint k-d split with
/// ball bounds: the split falls in the gaps between clusters, where a median split would cut clusters in two and give both
/// halves a ball as wide as the gap), moved to the 1/8 or 7/8 quantile when the middle leaves fewer points than that on one
/// side (so the depth stays O(log N)). Leaves hold at most <see cref="LeafPoints"/> points, anywhere in the order: a leaf
/// is the lanes [start, start + count) of the groups of the points-in-lanes kernel's transposed layout of
/// <see cref="Ordered"/> that hold it, the other lanes masked. The
/// centres are the means of their points (an internal node's from its children's) and the radii the largest distance of
/// a point from it (float64, rounded outwards): exact radii, not the looser max(‖c − c_child‖ + r_child), which grows
/// with every level and stops the upper levels from pruning clustered data. The build costs O(N D log N) once per set
/// and is deterministic (no random choices), so a query's results never depend on when or where the tree was built.
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
        Cache.GetValue(train, static _ => new()).GetOrAdd(leafGroups, g => new TileTree<T>(train, g));

    /// <summary>Whether some tree of <paramref name="train"/> has been built (tests read it).</summary>
    internal static bool IsBuilt(TrainingSet<T> train) => Cache.TryGetValue(train, out var trees) && !trees.IsEmpty;

    /// <summary>Relative slack for rounding the float64 bounds outwards (their own error is about D·2⁻⁵³ relative).</summary>
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

    /// <summary>Per node: its centre (D values, node-major) and its radius, in float64.</summary>
    public double[] Centres { get; }
    public double[] Radii { get; }

    /// <summary>Longest root-to-leaf path, in nodes: the traversal's stack never holds more than this plus one.</summary>
    public int Depth { get; }

    private TileTree(TrainingSet<T> train, int leafGroups)
    {
        int n = train.Count, d = train.Dimension, w = CpuLayout<T>.GroupWidth;
        Dimension = d;
        LeafGroups = leafGroups;
        LeafPoints = leafGroups * w;
        var rows = train.Rows;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;

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
        Centres = new double[(long)nodes * d];
        Radii = new double[nodes];
        // children before parents: every child's index is larger than its parent's
        for (int node = nodes - 1; node >= 0; node--)
        {
            var centre = Centres.AsSpan(node * d, d);
            if (Child[node] < 0) Mean(ordered, Start[node], Count[node], d, centre);
            else ParentCentre(node, d, centre);
            Radii[node] = Radius(ordered, Start[node], Count[node], d, centre);
        }
    }

    /// <summary>A leaf's centre: its points' mean.</summary>
    private static void Mean(T[] rows, int first, int size, int d, Span<double> centre)
    {
        for (int i = first; i < first + size; i++)
            for (int k = 0; k < d; k++) centre[k] += double.CreateTruncating(rows[(long)i * d + k]);
        for (int k = 0; k < d; k++) centre[k] /= size;
    }

    /// <summary>The largest distance of the points from <paramref name="centre"/>, rounded outwards.</summary>
    private static double Radius(T[] rows, int first, int size, int d, ReadOnlySpan<double> centre)
    {
        double largest = 0;
        for (int i = first; i < first + size; i++)
        {
            double s = 0;
            for (int k = 0; k < d; k++)
            {
                double t = double.CreateTruncating(rows[(long)i * d + k]) - centre[k];
                s += t * t;
            }
            largest = Math.Max(largest, s);
        }
        return Math.Sqrt(largest) * (1 + Outwards);
    }

    /// <summary>An internal node's centre: its children's centres weighted by their counts (its points' mean).</summary>
    private void ParentCentre(int node, int d, Span<double> centre)
    {
        int a = Child[node], b = a + 1;
        double wa = (double)Count[a] / Count[node], wb = (double)Count[b] / Count[node];
        var ca = Centres.AsSpan(a * d, d);
        var cb = Centres.AsSpan(b * d, d);
        for (int k = 0; k < d; k++) centre[k] = wa * ca[k] + wb * cb[k];
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
    /// The coordinate of largest range over up to 256 evenly spaced points of order[lo .. lo + size), and the middle of that
    /// range.
    /// </summary>
    private static int SpreadCoordinate(T[] rows, int[] order, int lo, int size, int d, out double middle)
    {
        int samples = Math.Min(size, 256);
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
    /// A lower bound of ‖x − α y‖ over every point y below <paramref name="node"/>: max(0, ‖x − αc‖ − αr), in float64 and
    /// rounded down, for a query <paramref name="x"/> already widened to float64.
    /// </summary>
    public double LowerDistance(int node, ReadOnlySpan<double> x, double alpha)
    {
        int d = Dimension;
        var c = Centres.AsSpan(node * d, d);
        var a = Vector512.Create(alpha);
        Vector512<double> acc = default;
        int k = 0;
        for (; k + 8 <= d; k += 8)
        {
            var t = Vector512.FusedMultiplyAdd(-a, Vector512.Create(c.Slice(k, 8)), Vector512.Create(x.Slice(k, 8)));
            acc = Vector512.FusedMultiplyAdd(t, t, acc);
        }
        double s = Vector512.Sum(acc);
        for (; k < d; k++)
        {
            double t = Math.FusedMultiplyAdd(-alpha, c[k], x[k]);
            s = Math.FusedMultiplyAdd(t, t, s);
        }
        return Math.Max(0, Math.Sqrt(s) * (1 - Outwards) - alpha * Radii[node] * (1 + Outwards));
    }
}
