using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using MathNet.Numerics.LinearAlgebra;
using LinearAlgebra = MathNet.Numerics.LinearAlgebra;

namespace Kernels.Numerics.Geometry;

/// <summary>
/// Tangent spaces by local principal component analysis: at x, the top-d principal directions of the k training
/// points nearest x (exact k-NN, one streamed pass with a bounded heap; distance ties go to the lower index). d is
/// fixed, or read off per call as the largest eigenvalue gap. Every step is deterministic: the same x gives the same
/// bits on the same machine. Immutable and thread-safe.
/// </summary>
public sealed class LocalPca : ITangentSpace
{
    private readonly double[] _points;

    /// <summary>Creates local PCA over <paramref name="points"/> (copied).</summary>
    /// <param name="points">The training points, N×D row-major, every value finite.</param>
    /// <param name="dimension">The ambient dimension D ≥ 2.</param>
    /// <param name="neighbours">k, the neighbours per estimate: d + 1 ≤ k ≤ N (2 ≤ k ≤ N when d is chosen by the gap).</param>
    /// <param name="tangentDimension">d, 1 ≤ d &lt; D; null to choose it per call by the largest eigenvalue gap.</param>
    public LocalPca(double[] points, int dimension, int neighbours, int? tangentDimension = null)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (dimension < 2)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension,
                "The dimension must be at least 2 (a tangent space needs 1 <= d < D).");
        if (points.Length == 0)
            throw new ArgumentException("points is empty; pass at least one N×D row-major point.", nameof(points));
        int count = Guard.RowCount<double>(points, dimension, nameof(points));
        Guard.RequireFinite<double>(points, dimension, nameof(points), "training");
        _points = (double[])points.Clone();
        (Dimension, Count, Neighbours, TangentDimension) = Validate(dimension, count, neighbours, tangentDimension);
    }

    private LocalPca(double[] trusted, int dimension, int count, int neighbours, int? tangentDimension)
    {
        _points = trusted;
        (Dimension, Count, Neighbours, TangentDimension) = Validate(dimension, count, neighbours, tangentDimension);
    }

    /// <summary>Creates local PCA over the points of a training set (widened to double).</summary>
    /// <typeparam name="T">The training set's element type, float or double.</typeparam>
    /// <param name="set">The training set; its dimension must be at least 2.</param>
    /// <param name="neighbours">k, the neighbours per estimate: d + 1 ≤ k ≤ N (2 ≤ k ≤ N when d is chosen by the gap).</param>
    /// <param name="tangentDimension">d, 1 ≤ d &lt; D; null to choose it per call by the largest eigenvalue gap.</param>
    public static LocalPca From<T>(TrainingSet<T> set, int neighbours, int? tangentDimension = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(set);
        if (set.Dimension < 2)
            throw new ArgumentException(
                $"set has dimension {set.Dimension}, but a tangent space needs 1 <= d < D; local PCA needs D >= 2.", nameof(set));
        var rows = set.Rows;
        var points = new double[rows.Length];
        for (int i = 0; i < rows.Length; i++)
            points[i] = double.CreateChecked(rows[i]);
        return new LocalPca(points, set.Dimension, set.Count, neighbours, tangentDimension);
    }

    /// <summary>The ambient dimension D.</summary>
    public int Dimension { get; }

    /// <summary>The number of training points N.</summary>
    public int Count { get; }

    /// <summary>k, the number of nearest training points each estimate uses.</summary>
    public int Neighbours { get; }

    /// <summary>The fixed tangent dimension d, or null when each call chooses it by the largest eigenvalue gap.</summary>
    public int? TangentDimension { get; }

    /// <summary>d when fixed; otherwise min(k − 1, D − 1), the most directions k centred points can span below D.</summary>
    public int MaxTangentDimension => TangentDimension ?? Math.Min(Neighbours - 1, Dimension - 1);

    /// <summary>
    /// Writes the top-d principal directions of the k nearest training points of <paramref name="x"/>, in descending
    /// order of variance, each with its largest-magnitude component positive. When the neighbours span fewer than d
    /// directions the basis is completed by Gram–Schmidt of the standard basis.
    /// </summary>
    /// <param name="x">A point of R^D (length D, finite).</param>
    /// <param name="basis">Receives d·D values (length ≥ <see cref="MaxTangentDimension"/>·D).</param>
    /// <returns>d: <see cref="TangentDimension"/>, or the one chosen by the eigenvalue gap.</returns>
    public int TangentBasis(ReadOnlySpan<double> x, Span<double> basis)
    {
        if (x.Length != Dimension)
            throw new ArgumentException(
                $"x has {x.Length} values but the training points live in R^{Dimension}; pass exactly {Dimension} values.",
                nameof(x));
        Guard.RequireFinite(x, Dimension, nameof(x), "query");
        long required = (long)MaxTangentDimension * Dimension;
        if (basis.Length < required)
            Guard.RequireLength(basis, required, nameof(basis), $"a tangent basis of up to {MaxTangentDimension} rows of length {Dimension}");

        int k = Neighbours, dim = Dimension;
        int[] indices = ArrayPool<int>.Shared.Rent(k);
        double[] centred = ArrayPool<double>.Shared.Rent(k * dim);
        try
        {
            var neighbours = indices.AsSpan(0, k);
            FindNeighbours(x, neighbours);
            var c = centred.AsSpan(0, k * dim);
            for (int j = 0; j < k; j++)
                _points.AsSpan(neighbours[j] * dim, dim).CopyTo(c.Slice(j * dim, dim));
            return BasisOf(c, k, dim, TangentDimension, basis);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(centred);
            ArrayPool<int>.Shared.Return(indices);
        }
    }

    /// <summary>
    /// The tangent basis of local PCA from the k neighbours themselves, in ascending order of their training-set index
    /// (<see cref="TangentBasis"/> after its search): the top-d principal directions of the rows, as it writes them. For
    /// a training set that no process holds whole, whose neighbours were found shard by shard
    /// (<see cref="Nearest"/>, <see cref="MergeCandidates"/>): the same rows in the same order give the same bits.
    /// </summary>
    /// <param name="neighbours">k×D row-major; overwritten (centred).</param>
    /// <param name="neighbourCount">k ≥ 2.</param>
    /// <param name="dimension">D ≥ 2.</param>
    /// <param name="tangentDimension">d, or null to choose it by the largest eigenvalue gap.</param>
    /// <param name="basis">Receives d·D values.</param>
    /// <returns>d.</returns>
    public static int BasisOf(Span<double> neighbours, int neighbourCount, int dimension, int? tangentDimension, Span<double> basis)
    {
        CentreRows(neighbours, neighbourCount, dimension);
        return PrincipalDirections(neighbours, neighbourCount, dimension, tangentDimension, basis);
    }

    /// <summary>
    /// Checks a local-PCA setting against N training points (1 ≤ d &lt; D, d + 1 ≤ k ≤ N) as the constructor does, and
    /// returns the largest d a call can return (<see cref="MaxTangentDimension"/>).
    /// </summary>
    /// <param name="dimension">D ≥ 2.</param>
    /// <param name="count">N, the number of training points of the whole set.</param>
    /// <param name="neighbours">k.</param>
    /// <param name="tangentDimension">d, or null to choose it by the largest eigenvalue gap.</param>
    public static int CheckSetting(int dimension, long count, int neighbours, int? tangentDimension)
    {
        if (dimension < 2)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 2 (a tangent space needs 1 <= d < D).");
        Validate(dimension, (int)Math.Min(count, int.MaxValue), neighbours, tangentDimension);
        return tangentDimension ?? Math.Min(neighbours - 1, dimension - 1);
    }

    /// <summary>
    /// The k = <paramref name="indices"/>.Length points of <paramref name="points"/> nearest <paramref name="x"/>
    /// (Euclidean; ties to the lower index), in ascending index order with their distances. Indices are offset by
    /// <paramref name="firstIndex"/> (a shard's first row in the whole set), so a shard's candidates merge with the
    /// others' by <see cref="MergeCandidates"/> into exactly the whole set's k nearest.
    /// </summary>
    /// <param name="points">N×D row-major.</param>
    /// <param name="dimension">D.</param>
    /// <param name="x">The query (D values).</param>
    /// <param name="firstIndex">The index of the first row.</param>
    /// <param name="indices">Receives k ≤ N indices.</param>
    /// <param name="distances">Receives their k distances.</param>
    public static void Nearest(ReadOnlySpan<double> points, int dimension, ReadOnlySpan<double> x, int firstIndex, Span<int> indices, Span<double> distances)
    {
        int count = points.Length / dimension;
        if (indices.Length > count || distances.Length != indices.Length || x.Length != dimension)
            throw new ArgumentException(
                $"Nearest takes k <= N = {count} indices and as many distances (got {indices.Length} and {distances.Length}) and a query of D = {dimension} values (got {x.Length}).",
                nameof(indices));
        Search(points, dimension, x, indices, distances);
        var keys = new (int Index, double Distance)[indices.Length];
        for (int j = 0; j < keys.Length; j++) keys[j] = (indices[j], distances[j]);
        Array.Sort(keys, (a, b) => a.Index.CompareTo(b.Index));
        for (int j = 0; j < keys.Length; j++)
        {
            indices[j] = keys[j].Index + firstIndex;
            distances[j] = keys[j].Distance;
        }
    }

    /// <summary>
    /// The k best of several shards' candidates (<see cref="Nearest"/>): least distance, ties to the lower index;
    /// entries with a negative index are padding and never chosen. Writes the chosen indices in ascending order.
    /// </summary>
    /// <param name="distances">Every candidate's distance.</param>
    /// <param name="indices">Every candidate's index in the whole set (negative: padding).</param>
    /// <param name="chosen">Receives k indices; there must be at least k real candidates.</param>
    public static void MergeCandidates(ReadOnlySpan<double> distances, ReadOnlySpan<int> indices, Span<int> chosen)
    {
        var real = new List<(double Distance, int Index)>(indices.Length);
        for (int j = 0; j < indices.Length; j++)
            if (indices[j] >= 0) real.Add((distances[j], indices[j]));
        if (real.Count < chosen.Length)
            throw new ArgumentException($"{real.Count} candidates for k = {chosen.Length} neighbours; every shard sends its min(k, rows) nearest.", nameof(indices));
        real.Sort((a, b) => a.Distance != b.Distance ? a.Distance.CompareTo(b.Distance) : a.Index.CompareTo(b.Index));
        for (int j = 0; j < chosen.Length; j++) chosen[j] = real[j].Index;
        chosen.Sort();
    }

    /// <summary>
    /// Writes the indices of the k training points nearest <paramref name="x"/> (Euclidean; ties to the lower index)
    /// into <paramref name="indices"/> (length k) in ascending index order. One pass, a max-heap of size k, no N-length
    /// buffer.
    /// </summary>
    internal void FindNeighbours(ReadOnlySpan<double> x, Span<int> indices)
    {
        int k = indices.Length;
        double[]? rented = k > 256 ? ArrayPool<double>.Shared.Rent(k) : null;
        Span<double> heap = rented is null ? stackalloc double[k] : rented.AsSpan(0, k);
        Search(_points, Dimension, x, indices, heap);
        if (rented is not null)
            ArrayPool<double>.Shared.Return(rented);
        indices.Sort();
    }

    /// <summary>The k nearest rows as a max-heap (indices and distances, heap order): one pass, no N-length buffer.</summary>
    private static void Search(ReadOnlySpan<double> points, int dim, ReadOnlySpan<double> x, Span<int> indices, Span<double> heap)
    {
        int k = indices.Length, n = points.Length / dim;
        int size = 0;
        for (int i = 0; i < n; i++)
        {
            double dist = TensorPrimitives.Distance(x, points.Slice(i * dim, dim));
            if (size < k)
            {
                // Sift up: i is the largest index so far, so it sits above any equal distance.
                int pos = size++;
                while (pos > 0)
                {
                    int parent = (pos - 1) / 2;
                    if (!Worse(dist, i, heap[parent], indices[parent]))
                        break;
                    heap[pos] = heap[parent];
                    indices[pos] = indices[parent];
                    pos = parent;
                }
                heap[pos] = dist;
                indices[pos] = i;
            }
            else if (dist < heap[0])
            {
                // Replace the worst (the root); an equal distance loses to the root's lower index.
                int pos = 0;
                while (true)
                {
                    int child = 2 * pos + 1;
                    if (child >= k)
                        break;
                    if (child + 1 < k && Worse(heap[child + 1], indices[child + 1], heap[child], indices[child]))
                        child++;
                    if (!Worse(heap[child], indices[child], dist, i))
                        break;
                    heap[pos] = heap[child];
                    indices[pos] = indices[child];
                    pos = child;
                }
                heap[pos] = dist;
                indices[pos] = i;
            }
        }
    }

    /// <summary>The heap order: farther first, and at equal distance the higher index.</summary>
    private static bool Worse(double d1, int i1, double d2, int i2) => d1 > d2 || (d1 == d2 && i1 > i2);

    /// <summary>Subtracts the mean row from each of the <paramref name="n"/> rows of <paramref name="rows"/>.</summary>
    internal static void CentreRows(Span<double> rows, int n, int dim)
    {
        for (int a = 0; a < dim; a++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++)
                sum += rows[i * dim + a];
            double mean = sum / n;
            for (int i = 0; i < n; i++)
                rows[i * dim + a] -= mean;
        }
    }

    /// <summary>
    /// The top principal directions of <paramref name="n"/> centred rows of length <paramref name="dim"/>, written as
    /// orthonormal rows into <paramref name="directions"/>; returns their number d (<paramref name="count"/>, or the
    /// largest eigenvalue gap over j = 1 … min(n − 1, dim − 1) when null). Decomposes the smaller of the n×n Gram
    /// matrix and the dim×dim scatter matrix.
    /// </summary>
    internal static int PrincipalDirections(ReadOnlySpan<double> centred, int n, int dim, int? count, Span<double> directions,
        Span<double> eigenvalues = default)
    {
        if (n <= dim)
        {
            var gram = new double[n * n];
            for (int i = 0; i < n; i++)
            {
                var ri = centred.Slice(i * dim, dim);
                for (int j = 0; j <= i; j++)
                    gram[i * n + j] = gram[j * n + i] = Orthonormal.Dot(ri, centred.Slice(j * dim, dim));
            }
            return FromSymmetric(gram, n, centred, n, dim, count, directions, eigenvalues);
        }
        var scatter = new double[dim * dim];
        for (int i = 0; i < n; i++)
            AddOuter(scatter, centred.Slice(i * dim, dim));
        MirrorUpper(scatter, dim);
        return FromSymmetric(scatter, dim, ReadOnlySpan<double>.Empty, n, dim, count, directions, eigenvalues);
    }

    /// <summary>Adds y yᵀ to the upper triangle of the dim×dim <paramref name="scatter"/> (row-major).</summary>
    internal static void AddOuter(double[] scatter, ReadOnlySpan<double> y)
    {
        int dim = y.Length;
        for (int a = 0; a < dim; a++)
        {
            if (y[a] == 0)
                continue;
            var row = scatter.AsSpan(a * dim + a, dim - a);
            TensorPrimitives.MultiplyAdd(y[a..], y[a], row, row);
        }
    }

    /// <summary>Copies the upper triangle of a dim×dim row-major matrix onto its lower triangle.</summary>
    internal static void MirrorUpper(double[] matrix, int dim)
    {
        for (int a = 0; a < dim; a++)
            for (int b = 0; b < a; b++)
                matrix[a * dim + b] = matrix[b * dim + a];
    }

    /// <summary>
    /// Directions from the eigendecomposition of a symmetric m×m matrix: the n×n Gram matrix of
    /// <paramref name="centred"/> (then m = n and eigenvector v maps to Σ v_i row_i, normalised), or the dim×dim
    /// scatter matrix (then <paramref name="centred"/> is empty and the eigenvectors are the directions).
    /// Eigenvalues at or below 1e−12·max(n, dim)·λ₁ count as zero; their directions come from the standard basis.
    /// When <paramref name="eigenvalues"/> is not empty it receives the d leading eigenvalues (clamped at 0), descending.
    /// </summary>
    internal static int FromSymmetric(double[] symmetric, int m, ReadOnlySpan<double> centred, int n, int dim, int? count, Span<double> directions,
        Span<double> eigenvalues = default)
    {
        bool gram = !centred.IsEmpty;
        var evd = Matrix<double>.Build.Dense(m, m, symmetric).Evd(LinearAlgebra.Symmetricity.Symmetric);
        var vectors = evd.EigenVectors;
        var order = new int[m];
        var values = new double[m];
        for (int i = 0; i < m; i++)
        {
            order[i] = i;
            values[i] = evd.EigenValues[i].Real;
        }
        // Descending eigenvalue, then ascending index: a total order, so the sort is deterministic.
        Array.Sort(order, (p, q) => values[p] != values[q] ? values[q].CompareTo(values[p]) : p.CompareTo(q));
        var lambda = new double[m];
        for (int t = 0; t < m; t++)
            lambda[t] = Math.Max(0, values[order[t]]);

        int d = count ?? LargestGap(lambda, Math.Min(n - 1, dim - 1));
        if (!eigenvalues.IsEmpty)
        {
            for (int t = 0; t < d; t++)
                eigenvalues[t] = t < m ? lambda[t] : 0;
        }
        double tolerance = lambda[0] * 1e-12 * Math.Max(n, dim);
        int have = 0;
        for (int t = 0; t < d && lambda[t] > tolerance; t++)
        {
            var u = directions.Slice(have * dim, dim);
            int col = order[t];
            if (gram)
            {
                u.Clear();
                for (int i = 0; i < n; i++)
                    TensorPrimitives.MultiplyAdd(centred.Slice(i * dim, dim), vectors[i, col], u, u);
            }
            else
            {
                for (int a = 0; a < dim; a++)
                    u[a] = vectors[a, col];
            }
            if (Orthonormal.OrthonormalizeAgainst(u, directions[..(have * dim)], have) < 0.5)
                break;
            have++;
        }
        Orthonormal.Complete(directions, have, d, dim, dim);
        for (int t = 0; t < d; t++)
            Orthonormal.FixSign(directions.Slice(t * dim, dim));
        return d;
    }

    /// <summary>The j in 1 … <paramref name="jMax"/> maximising λ_j − λ_{j+1} (λ descending, 1-based; first on ties).</summary>
    private static int LargestGap(double[] lambda, int jMax)
    {
        int best = 1;
        double bestGap = double.NegativeInfinity;
        for (int j = 1; j <= jMax; j++)
        {
            double gap = lambda[j - 1] - lambda[j];
            if (gap > bestGap)
            {
                bestGap = gap;
                best = j;
            }
        }
        return best;
    }

    private static (int Dimension, int Count, int Neighbours, int? TangentDimension) Validate(
        int dimension, int count, int neighbours, int? tangentDimension)
    {
        if (tangentDimension is { } d && (d < 1 || d >= dimension))
            throw new ArgumentOutOfRangeException(nameof(tangentDimension), d,
                $"The tangent dimension must satisfy 1 <= d < D = {dimension}; pass a d in that range, or null to choose it by the eigenvalue gap.");
        int least = (tangentDimension ?? 1) + 1;
        if (neighbours < least)
            throw new ArgumentOutOfRangeException(nameof(neighbours), neighbours,
                tangentDimension is null
                    ? "Choosing d by the eigenvalue gap needs at least 2 neighbours (k centred points span at most k - 1 directions); pass k >= 2."
                    : $"A {tangentDimension}-dimensional tangent space needs at least d + 1 = {least} neighbours (k centred points span at most k - 1 directions); pass k >= {least} or a smaller tangentDimension.");
        if (neighbours > count)
            throw new ArgumentOutOfRangeException(nameof(neighbours), neighbours,
                $"There are only N = {count} training points; pass at most {count} neighbours.");
        return (dimension, count, neighbours, tangentDimension);
    }
}
