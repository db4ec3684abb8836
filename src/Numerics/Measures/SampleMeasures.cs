using System.Numerics.Tensors;
using Kernels.Numerics.Geometry;
using MathNet.Numerics.LinearAlgebra;
using LinearAlgebra = MathNet.Numerics.LinearAlgebra;

namespace Kernels.Numerics.Measures;

/// <summary>
/// The nearest and second-nearest training point of each sample.
/// </summary>
/// <param name="Index">The index of the nearest training point (the lower index on exact ties).</param>
/// <param name="Distance">The Euclidean distance to it.</param>
/// <param name="SecondDistance">The distance to the second-nearest training point (another index; may equal Distance).</param>
public sealed record NearestNeighbours(int[] Index, double[] Distance, double[] SecondDistance);

/// <summary>
/// The papers' measures of a set of generated samples: distance to the true manifold, nearest training points and
/// memorization, Fréchet distance between Gaussian fits, and the tangent/normal split of a vector field. Everything is
/// computed in float64; results do not depend on the thread count.
/// </summary>
public static class SampleMeasures
{
    /// <summary>‖x − Project(x)‖ for each sample row, in parallel over samples.</summary>
    /// <param name="manifold">The manifold (D = its <see cref="Manifold.Dimension"/>).</param>
    /// <param name="samples">M×D row-major, finite.</param>
    public static double[] DistanceToManifold(Manifold manifold, ReadOnlySpan<double> samples)
    {
        ArgumentNullException.ThrowIfNull(manifold);
        int dim = manifold.Dimension;
        int m = Guard.RowCount(samples, dim, nameof(samples));
        Guard.RequireFinite(samples, dim, nameof(samples), "sample");
        var input = samples.ToArray();
        var distances = new double[m];
        Parallel.For(0, m, i => distances[i] = manifold.Distance(input.AsSpan(i * dim, dim)));
        return distances;
    }

    /// <summary>
    /// The exact nearest and second-nearest training point of each sample: streamed passes over the training set (no
    /// M×N matrix), one per block of 16 samples, in parallel over blocks; distances ‖s − t‖ formed from differences in
    /// float64 (not the cancelling expansion ‖s‖² + ‖t‖² − 2⟨s, t⟩). Cost M·N·D (100 samples against Fashion-MNIST's
    /// 60 000×784: about 3 s on 2 busy cores).
    /// </summary>
    /// <param name="samples">M×D row-major, finite.</param>
    /// <param name="training">N×D row-major, finite, N ≥ 2.</param>
    /// <param name="dimension">D ≥ 1.</param>
    public static NearestNeighbours Nearest(ReadOnlySpan<double> samples, ReadOnlySpan<double> training, int dimension)
    {
        if (dimension < 1)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be >= 1.");
        int m = Guard.RowCount(samples, dimension, nameof(samples));
        int n = Guard.RowCount(training, dimension, nameof(training));
        if (n < 2)
            throw new ArgumentException($"training has {n} row(s); a second-nearest point needs at least 2.", nameof(training));
        Guard.RequireFinite(samples, dimension, nameof(samples), "sample");
        Guard.RequireFinite(training, dimension, nameof(training), "training");
        var s = samples.ToArray();
        var t = training.ToArray();
        var index = new int[m];
        var first = new double[m];
        var second = new double[m];
        // Blocks of samples share each pass over the training set: a training row is read from memory once per
        // block instead of once per sample (the scan is memory-bound for large N·D). Per pair the arithmetic is the
        // same, so results do not depend on the blocking or the thread count.
        const int block = 16;
        int blocks = (m + block - 1) / block;
        Parallel.For(0, blocks, blockIndex =>
        {
            int start = blockIndex * block, count = Math.Min(block, m - start);
            Span<double> best = stackalloc double[block];
            Span<double> next = stackalloc double[block];
            Span<int> bestIndex = stackalloc int[block];
            best.Fill(double.PositiveInfinity);
            next.Fill(double.PositiveInfinity);
            bestIndex.Fill(-1);
            for (int j = 0; j < n; j++)
            {
                var row = t.AsSpan(j * dimension, dimension);
                for (int q = 0; q < count; q++)
                {
                    double d = TensorPrimitives.Distance(s.AsSpan((start + q) * dimension, dimension), row);
                    if (d < best[q])
                    {
                        next[q] = best[q];
                        best[q] = d;
                        bestIndex[q] = j;
                    }
                    else if (d < next[q])
                    {
                        next[q] = d;
                    }
                }
            }
            for (int q = 0; q < count; q++)
            {
                index[start + q] = bestIndex[q];
                first[start + q] = best[q];
                second[start + q] = next[q];
            }
        });
        return new NearestNeighbours(index, first, second);
    }

    /// <summary>
    /// The share of samples that memorize: whose nearest training point is closer than <paramref name="ratio"/> times
    /// the second nearest (Distance &lt; ratio·SecondDistance; a sample equal to two training points does not count).
    /// </summary>
    /// <param name="nn">The output of <see cref="Nearest"/>.</param>
    /// <param name="ratio">The ratio, 0 &lt; ratio ≤ 1; 1/3 by default.</param>
    public static double MemorizationShare(NearestNeighbours nn, double ratio = 1.0 / 3)
    {
        ArgumentNullException.ThrowIfNull(nn);
        if (!(ratio > 0 && ratio <= 1))
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "The ratio must satisfy 0 < ratio <= 1 (1/3 in the papers).");
        if (nn.Distance.Length != nn.SecondDistance.Length)
            throw new ArgumentException(
                $"nn has {nn.Distance.Length} distances but {nn.SecondDistance.Length} second distances; pass the output of Nearest.", nameof(nn));
        if (nn.Distance.Length == 0)
            throw new ArgumentException("nn holds no samples; the share of none is undefined.", nameof(nn));
        int memorized = 0;
        for (int i = 0; i < nn.Distance.Length; i++)
            memorized += nn.Distance[i] < ratio * nn.SecondDistance[i] ? 1 : 0;
        return (double)memorized / nn.Distance.Length;
    }

    /// <summary>
    /// The Fréchet distance between the Gaussian fits N(μa, Σa), N(μb, Σb) of two sample sets (sample covariances,
    /// divisor n − 1): ‖μa − μb‖² + tr Σa + tr Σb − 2 tr (Σa^{1/2} Σb Σa^{1/2})^{1/2}. The last trace is the nuclear norm
    /// (sum of singular values) of Σa^{1/2}Σb^{1/2}, computed without a matrix square root of a product; with centred
    /// data matrices A (na×D) and B (nb×D) it is also ‖A Bᵀ‖_*/√((na − 1)(nb − 1)), since Σa Σb and (A Bᵀ)(A Bᵀ)ᵀ share
    /// their non-zero eigenvalues. The cheaper side is used: the D×D path costs (na + nb)D² + ~30D³ (two symmetric
    /// eigendecompositions and one SVD), the sample path na·nb·D + ~10·min(na, nb)²·max(na, nb) (one SVD); for D = 4096
    /// only the sample path is practical (e.g. 1000 + 1000 samples: 4·10⁹ multiply-adds plus a 1000² SVD). Both avoid
    /// the √ε loss of square-rooting small eigenvalues of a product (on the covariance path, eigenvalues below
    /// 10·D·u·λ₁ count as zero so that rank-deficient covariances do not bring it back): identical sets give
    /// ~D·ε·‖Σ‖, not ~√ε.
    /// </summary>
    /// <param name="a">countA×D row-major, finite.</param>
    /// <param name="countA">na ≥ 2.</param>
    /// <param name="b">countB×D row-major, finite.</param>
    /// <param name="countB">nb ≥ 2.</param>
    /// <param name="dimension">D ≥ 1.</param>
    public static double FrechetDistance(ReadOnlySpan<double> a, int countA, ReadOnlySpan<double> b, int countB, int dimension) =>
        FrechetDistance(a, countA, b, countB, dimension, samplePath: null);

    /// <summary><see cref="FrechetDistance(ReadOnlySpan{double}, int, ReadOnlySpan{double}, int, int)"/> with the path forced (tests).</summary>
    internal static double FrechetDistance(ReadOnlySpan<double> a, int countA, ReadOnlySpan<double> b, int countB, int dimension, bool? samplePath)
    {
        if (dimension < 1)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be >= 1.");
        CheckSet(a, countA, dimension, nameof(a), nameof(countA));
        CheckSet(b, countB, dimension, nameof(b), nameof(countB));
        var (ca, meanA) = Centre(a, countA, dimension);
        var (cb, meanB) = Centre(b, countB, dimension);
        double meanTerm = 0;
        for (int k = 0; k < dimension; k++)
        {
            double d = meanA[k] - meanB[k];
            meanTerm += d * d;
        }
        double traceA = TensorPrimitives.SumOfSquares<double>(ca) / (countA - 1);
        double traceB = TensorPrimitives.SumOfSquares<double>(cb) / (countB - 1);

        double dd = dimension;
        double samplePathCost = (double)countA * countB * dd + 10.0 * Math.Pow(Math.Min(countA, countB), 2) * Math.Max(countA, countB);
        double covariancePath = (countA + countB) * dd * dd + 30 * dd * dd * dd;
        double cross = samplePath ?? samplePathCost <= covariancePath
            ? CrossTraceFromSamples(ca, countA, cb, countB, dimension)
            : CrossTraceFromCovariances(ca, countA, cb, countB, dimension);
        // Rounding can leave a tiny negative value for (near-)identical fits; the distance is ≥ 0 by definition.
        return Math.Max(0, meanTerm + traceA + traceB - 2 * cross);
    }

    /// <summary>
    /// Splits each vector v (row of <paramref name="vectors"/>) at its point x into tangential Σ_r ⟨v, b_r⟩ b_r, over
    /// the orthonormal basis b of <paramref name="tangents"/> at x, and normal v − tangential. In parallel over rows.
    /// </summary>
    /// <param name="tangents">The tangent-space field (an analytic manifold, local PCA, …).</param>
    /// <param name="points">M×D row-major points, finite.</param>
    /// <param name="vectors">M×D row-major vectors, finite.</param>
    /// <param name="tangential">Receives M×D values; must not overlap the inputs or <paramref name="normal"/>.</param>
    /// <param name="normal">Receives M×D values; must not overlap the inputs or <paramref name="tangential"/>.</param>
    public static void TangentNormalSplit(ITangentSpace tangents, ReadOnlySpan<double> points, ReadOnlySpan<double> vectors,
        Span<double> tangential, Span<double> normal)
    {
        ArgumentNullException.ThrowIfNull(tangents);
        int dim = tangents.Dimension;
        int m = Guard.RowCount(points, dim, nameof(points));
        int mv = Guard.RowCount(vectors, dim, nameof(vectors));
        if (mv != m)
            throw new ArgumentException($"vectors has {mv} rows but points has {m}; pass one vector per point.", nameof(vectors));
        Guard.RequireFinite(points, dim, nameof(points), "point");
        Guard.RequireFinite(vectors, dim, nameof(vectors), "vector");
        long total = (long)m * dim;
        Guard.RequireLength(tangential, total, nameof(tangential), $"{m} vectors of R^{dim}");
        Guard.RequireLength(normal, total, nameof(normal), $"{m} vectors of R^{dim}");
        if (tangential[..(int)total].Overlaps(normal[..(int)total]))
            throw new ArgumentException("tangential overlaps normal; pass two separate buffers.", nameof(normal));
        Guard.RequireNoOverlap(points, tangential, nameof(tangential));
        Guard.RequireNoOverlap(vectors, tangential, nameof(tangential));
        Guard.RequireNoOverlap(points, normal, nameof(normal));
        Guard.RequireNoOverlap(vectors, normal, nameof(normal));

        var x = points.ToArray();
        var v = vectors.ToArray();
        var t = new double[total];
        int maxD = tangents.MaxTangentDimension;
        Parallel.For(0, m, () => new double[maxD * dim], (i, _, basis) =>
        {
            int d = tangents.TangentBasis(x.AsSpan(i * dim, dim), basis);
            var vi = v.AsSpan(i * dim, dim);
            var ti = t.AsSpan(i * dim, dim);
            for (int r = 0; r < d; r++)
            {
                var b = basis.AsSpan(r * dim, dim);
                TensorPrimitives.MultiplyAdd(b, TensorPrimitives.Dot(b, vi), ti, ti);
            }
            return basis;
        }, _ => { });
        t.CopyTo(tangential);
        TensorPrimitives.Subtract(v, t, normal[..(int)total]);
    }

    /// <summary><see cref="DistanceToManifold(Manifold, ReadOnlySpan{double})"/> for float (or any IEEE) samples, widened to double.</summary>
    /// <typeparam name="T">The samples' element type.</typeparam>
    /// <param name="manifold">The manifold.</param>
    /// <param name="samples">M×D row-major, finite.</param>
    public static double[] DistanceToManifold<T>(Manifold manifold, ReadOnlySpan<T> samples) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        DistanceToManifold(manifold, Widen(samples));

    /// <summary><see cref="Nearest(ReadOnlySpan{double}, ReadOnlySpan{double}, int)"/> for float (or any IEEE) inputs, widened to double.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="samples">M×D row-major, finite.</param>
    /// <param name="training">N×D row-major, finite, N ≥ 2.</param>
    /// <param name="dimension">D ≥ 1.</param>
    public static NearestNeighbours Nearest<T>(ReadOnlySpan<T> samples, ReadOnlySpan<T> training, int dimension) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        Nearest(Widen(samples), Widen(training), dimension);

    /// <summary><see cref="FrechetDistance(ReadOnlySpan{double}, int, ReadOnlySpan{double}, int, int)"/> for float (or any IEEE) inputs, widened to double.</summary>
    /// <typeparam name="T">The element type.</typeparam>
    /// <param name="a">countA×D row-major, finite.</param>
    /// <param name="countA">na ≥ 2.</param>
    /// <param name="b">countB×D row-major, finite.</param>
    /// <param name="countB">nb ≥ 2.</param>
    /// <param name="dimension">D ≥ 1.</param>
    public static double FrechetDistance<T>(ReadOnlySpan<T> a, int countA, ReadOnlySpan<T> b, int countB, int dimension)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> =>
        FrechetDistance(Widen(a), countA, Widen(b), countB, dimension);

    private static double[] Widen<T>(ReadOnlySpan<T> values) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var wide = new double[values.Length];
        for (int i = 0; i < values.Length; i++)
            wide[i] = double.CreateChecked(values[i]);
        return wide;
    }

    private static void CheckSet(ReadOnlySpan<double> data, int count, int dimension, string name, string countName)
    {
        if (count < 2)
            throw new ArgumentOutOfRangeException(countName, count, $"A covariance needs at least 2 samples; pass {countName} >= 2.");
        if (data.Length != (long)count * dimension)
            throw new ArgumentException(
                $"{name} has {data.Length} values but {countName}×dimension = {(long)count * dimension}; pass a {count}×{dimension} row-major matrix.", name);
        Guard.RequireFinite(data, dimension, name, "sample");
    }

    private static (double[] Centred, double[] Mean) Centre(ReadOnlySpan<double> data, int count, int dim)
    {
        var mean = new double[dim];
        for (int i = 0; i < count; i++)
            TensorPrimitives.Add(mean, data.Slice(i * dim, dim), mean);
        TensorPrimitives.Divide(mean, count, mean);
        var centred = new double[(long)count * dim];
        for (int i = 0; i < count; i++)
            TensorPrimitives.Subtract(data.Slice(i * dim, dim), mean, centred.AsSpan(i * dim, dim));
        return (centred, mean);
    }

    /// <summary>‖A Bᵀ‖_* / √((na − 1)(nb − 1)) by one SVD of the na×nb cross-product matrix.</summary>
    private static double CrossTraceFromSamples(double[] ca, int na, double[] cb, int nb, int dim)
    {
        var cross = new double[(long)na * nb];
        Parallel.For(0, na, i =>
        {
            var ai = ca.AsSpan(i * dim, dim);
            for (int j = 0; j < nb; j++)
                cross[j * na + i] = TensorPrimitives.Dot(ai, cb.AsSpan(j * dim, dim)); // column-major for MathNet
        });
        var singular = Matrix<double>.Build.Dense(na, nb, cross).Svd(computeVectors: false).S;
        return singular.Sum() / Math.Sqrt((double)(na - 1) * (nb - 1));
    }

    /// <summary>‖Σa^{1/2} Σb^{1/2}‖_* with the square roots from symmetric eigendecompositions (eigenvalues below 10·D·u·λ₁ taken as 0).</summary>
    private static double CrossTraceFromCovariances(double[] ca, int na, double[] cb, int nb, int dim)
    {
        var rootA = SquareRoot(Covariance(ca, na, dim), dim);
        var rootB = SquareRoot(Covariance(cb, nb, dim), dim);
        return (rootA * rootB).Svd(computeVectors: false).S.Sum();
    }

    private static double[] Covariance(double[] centred, int n, int dim)
    {
        var cov = new double[(long)dim * dim];
        for (int i = 0; i < n; i++)
            LocalPca.AddOuter(cov, centred.AsSpan(i * dim, dim));
        LocalPca.MirrorUpper(cov, dim);
        TensorPrimitives.Divide(cov, n - 1, cov);
        return cov;
    }

    private static Matrix<double> SquareRoot(double[] symmetric, int dim)
    {
        var evd = Matrix<double>.Build.Dense(dim, dim, symmetric).Evd(LinearAlgebra.Symmetricity.Symmetric);
        var q = evd.EigenVectors;
        double top = 0;
        for (int k = 0; k < dim; k++)
            top = Math.Max(top, evd.EigenValues[k].Real);
        // Eigenvalues within the solver's error (≈ 10·D·ε·λ₁) of zero are zero: a rank-deficient covariance would
        // otherwise grow √(ε·λ₁)-sized square roots in its null space and spoil the trace at the √ε level.
        double floor = 10.0 * dim * (1.0 / (1L << 53)) * top;
        var roots = Vector<double>.Build.Dense(dim, k => evd.EigenValues[k].Real > floor ? Math.Sqrt(evd.EigenValues[k].Real) : 0);
        return q * Matrix<double>.Build.DiagonalOfDiagonalVector(roots) * q.Transpose();
    }
}
