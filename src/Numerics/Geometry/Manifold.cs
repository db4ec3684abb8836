using System.Buffers;

namespace Kernels.Numerics.Geometry;

/// <summary>
/// An analytic d-dimensional manifold embedded in R^D. Its tangent space "at" any x is the tangent space at the
/// nearest point of the manifold, <see cref="Project"/>(x), so the field is defined everywhere off the manifold too.
/// Implementations are immutable and thread-safe.
/// </summary>
public abstract class Manifold : ITangentSpace
{
    /// <summary>Largest D whose scratch point lives on the stack (8 KiB); larger D rent from the shared pool.</summary>
    private const int StackLimit = 1024;

    /// <summary>Validates and stores the ambient and intrinsic dimensions.</summary>
    /// <param name="dimension">The ambient dimension D ≥ 2.</param>
    /// <param name="intrinsicDimension">The manifold's dimension d, 1 ≤ d &lt; D.</param>
    protected Manifold(int dimension, int intrinsicDimension)
    {
        if (dimension < 2)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension,
                "The ambient dimension must be at least 2 (a manifold needs 1 <= d < D).");
        if (intrinsicDimension < 1 || intrinsicDimension >= dimension)
            throw new ArgumentOutOfRangeException(nameof(intrinsicDimension), intrinsicDimension,
                $"The intrinsic dimension must satisfy 1 <= d < D = {dimension}.");
        Dimension = dimension;
        IntrinsicDimension = intrinsicDimension;
    }

    /// <summary>The ambient dimension D.</summary>
    public int Dimension { get; }

    /// <summary>The manifold's dimension d (1 ≤ d &lt; D).</summary>
    public int IntrinsicDimension { get; }

    /// <summary>Always <see cref="IntrinsicDimension"/>: an analytic manifold has the same d everywhere.</summary>
    public int MaxTangentDimension => IntrinsicDimension;

    /// <summary>
    /// Writes the nearest point of the manifold to <paramref name="x"/> into <paramref name="point"/>. Where the nearest
    /// point is not unique (a circle's centre, say) each implementation documents the deterministic choice it makes.
    /// </summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public abstract void Project(ReadOnlySpan<double> x, Span<double> point);

    /// <summary>
    /// Writes an orthonormal basis of the tangent space at <paramref name="point"/>, a point ON the manifold (for
    /// example the output of <see cref="Project"/>), as d rows of length D.
    /// </summary>
    /// <param name="point">A point of the manifold (length D).</param>
    /// <param name="basis">Receives d·D values (length ≥ d·D).</param>
    public abstract void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis);

    /// <summary>The tangent basis at <see cref="Project"/>(x); allocation-free for D ≤ 1024.</summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="basis">Receives d·D values (length ≥ d·D).</param>
    /// <returns>d, the <see cref="IntrinsicDimension"/>.</returns>
    public virtual int TangentBasis(ReadOnlySpan<double> x, Span<double> basis)
    {
        RequirePoint(x, nameof(x));
        RequireBasis(basis, nameof(basis));
        double[]? rented = null;
        Span<double> p = Dimension <= StackLimit
            ? stackalloc double[Dimension]
            : (rented = ArrayPool<double>.Shared.Rent(Dimension)).AsSpan(0, Dimension);
        try
        {
            Project(x, p);
            TangentBasisAt(p, basis);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<double>.Shared.Return(rented);
        }
        return IntrinsicDimension;
    }

    /// <summary>The distance ‖x − Project(x)‖ from <paramref name="x"/> to the manifold; allocation-free for D ≤ 1024.</summary>
    /// <param name="x">A point of R^D (length D).</param>
    public double Distance(ReadOnlySpan<double> x)
    {
        RequirePoint(x, nameof(x));
        double[]? rented = null;
        Span<double> p = Dimension <= StackLimit
            ? stackalloc double[Dimension]
            : (rented = ArrayPool<double>.Shared.Rent(Dimension)).AsSpan(0, Dimension);
        try
        {
            Project(x, p);
            double sum = 0;
            for (int i = 0; i < Dimension; i++)
            {
                double r = x[i] - p[i];
                sum += r * r;
            }
            return Math.Sqrt(sum);
        }
        finally
        {
            if (rented is not null)
                ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// <paramref name="count"/> points of the manifold, count×D row-major, drawn independently and uniformly with respect
    /// to the manifold's natural parameter measure (each class documents it: an angle, a sphere's surface, a box of
    /// coefficients). Deterministic: point i is a pure function of (<paramref name="seed"/>, i) through the Philox
    /// counter-based generator, so a prefix of a larger draw equals a smaller draw with the same seed.
    /// </summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public abstract double[] Sample(int count, ulong seed);

    /// <summary>
    /// <paramref name="count"/> deterministic points, count×D row-major, equispaced in the manifold's parameter:
    /// for d = 1 a closed curve takes θ_k = 2πk/count and a segment t_k = k/(count − 1); for d ≥ 2 each class
    /// documents its grid (a product grid needs count = m^d).
    /// </summary>
    /// <param name="count">The number of points, ≥ 1.</param>
    public abstract double[] Grid(int count);

    /// <summary>Projects each row of <paramref name="x"/> (M×D) onto the manifold, in parallel over rows.</summary>
    /// <param name="x">M×D row-major points.</param>
    /// <param name="points">Receives M×D values; must not overlap <paramref name="x"/>.</param>
    /// <param name="maxDegreeOfParallelism">Threads to use; −1 for all cores.</param>
    public void ProjectMany(ReadOnlySpan<double> x, Span<double> points, int maxDegreeOfParallelism = -1)
    {
        int m = Guard.RowCount(x, Dimension, nameof(x));
        Guard.RequireLength(points, (long)m * Dimension, nameof(points), $"{m} points of R^{Dimension}");
        Guard.RequireNoOverlap(x, points, nameof(points));
        var input = x.ToArray();
        var output = new double[(long)m * Dimension];
        int dim = Dimension;
        Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism },
            i => Project(input.AsSpan(i * dim, dim), output.AsSpan(i * dim, dim)));
        output.CopyTo(points);
    }

    /// <summary>Writes the point at angle θ of a closed curve into a D-vector.</summary>
    private protected delegate void AnglePoint(double theta, Span<double> point);

    /// <summary><see cref="Sample"/> for a closed curve parametrised by angle: θ = 2π·(one Philox uniform) per point.</summary>
    private protected double[] SampleAngles(int count, ulong seed, AnglePoint at)
    {
        RequireSampleCount(count);
        var points = new double[(long)count * Dimension];
        Span<double> u = stackalloc double[1];
        for (int i = 0; i < count; i++)
        {
            Uniforms(seed, i, u);
            at(2 * Math.PI * u[0], points.AsSpan(i * Dimension, Dimension));
        }
        return points;
    }

    /// <summary><see cref="Grid"/> for a closed curve parametrised by angle: θ_k = 2πk/count, k = 0 … count − 1.</summary>
    private protected double[] GridAngles(int count, AnglePoint at)
    {
        RequireGridCount(count);
        var points = new double[(long)count * Dimension];
        for (int k = 0; k < count; k++)
            at(2 * Math.PI * k / count, points.AsSpan(k * Dimension, Dimension));
        return points;
    }

    /// <summary>Checks a sample count (≥ 0) for <see cref="Sample"/>.</summary>
    /// <param name="count">The requested count.</param>
    protected static void RequireSampleCount(int count)
    {
        if (count < 0)
            throw new ArgumentOutOfRangeException(nameof(count), count, "The number of samples must be >= 0.");
    }

    /// <summary>Checks a grid count (≥ 1) for <see cref="Grid"/>.</summary>
    /// <param name="count">The requested count.</param>
    protected static void RequireGridCount(int count)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "A grid needs at least 1 point.");
    }

    /// <summary>m with m^d = <paramref name="count"/> for a d-dimensional product grid; throws otherwise.</summary>
    /// <param name="count">The requested count.</param>
    /// <param name="least">The smallest m allowed.</param>
    protected int ProductGridSide(int count, int least = 1)
    {
        RequireGridCount(count);
        int d = IntrinsicDimension;
        int m = (int)Math.Round(Math.Pow(count, 1.0 / d));
        for (int c = Math.Max(1, m - 1); c <= m + 1; c++)
        {
            if (Math.Pow(c, d) == count && c >= least)
                return c;
        }
        int below = Math.Max(least, (int)Math.Floor(Math.Pow(count, 1.0 / d)));
        throw new ArgumentOutOfRangeException(nameof(count), count,
            $"A grid on this {d}-dimensional manifold is a product grid of m points per parameter and needs count = m^{d} with m >= {least}; pass {Math.Pow(below, d)} or {Math.Pow(below + 1, d)}.");
    }

    /// <summary>
    /// Fills <paramref name="uniforms"/> with independent uniforms in (0, 1) for sample <paramref name="index"/>: Philox
    /// words for counters (index, block, 0, 0) under the key <paramref name="seed"/>.
    /// </summary>
    /// <param name="seed">The generator's key.</param>
    /// <param name="index">The sample's index.</param>
    /// <param name="uniforms">Receives the uniforms.</param>
    protected static void Uniforms(ulong seed, int index, Span<double> uniforms)
    {
        for (int block = 0; 4 * block < uniforms.Length; block++)
        {
            var (a, b, c, e) = Smoothing.Philox.Generate((uint)index, (uint)block, 0x6D616E69u, 0, (uint)seed, (uint)(seed >> 32));
            ReadOnlySpan<uint> words = [a, b, c, e];
            for (int j = 0; j < 4 && 4 * block + j < uniforms.Length; j++)
                uniforms[4 * block + j] = Smoothing.Philox.OpenUniform(words[j]);
        }
    }

    /// <summary>Independent standard normals for sample <paramref name="index"/> (Box–Muller of <see cref="Uniforms"/>'s words).</summary>
    /// <param name="seed">The generator's key.</param>
    /// <param name="index">The sample's index.</param>
    /// <param name="normals">Receives the normals.</param>
    protected static void Normals(ulong seed, int index, Span<double> normals)
    {
        for (int block = 0; 4 * block < normals.Length; block++)
        {
            var (a, b, c, e) = Smoothing.Philox.Generate((uint)index, (uint)block, 0x6E6F726Du, 0, (uint)seed, (uint)(seed >> 32));
            var (z0, z1) = Smoothing.Philox.BoxMuller(a, b);
            var (z2, z3) = Smoothing.Philox.BoxMuller(c, e);
            ReadOnlySpan<double> z = [z0, z1, z2, z3];
            for (int j = 0; j < 4 && 4 * block + j < normals.Length; j++)
                normals[4 * block + j] = z[j];
        }
    }

    /// <summary>Throws unless <paramref name="value"/> holds exactly D values (an input point).</summary>
    /// <param name="value">The point to check.</param>
    /// <param name="parameterName">The caller's parameter name, reported in the exception.</param>
    protected void RequirePoint(ReadOnlySpan<double> value, string parameterName)
    {
        if (value.Length != Dimension)
            throw new ArgumentException(
                $"{parameterName} has {value.Length} values but this manifold lives in R^{Dimension}; pass exactly {Dimension} values.",
                parameterName);
    }

    /// <summary>Throws unless the destination <paramref name="value"/> has room for D values.</summary>
    /// <param name="value">The destination to check.</param>
    /// <param name="parameterName">The caller's parameter name, reported in the exception.</param>
    protected void RequireDestination(Span<double> value, string parameterName)
    {
        if (value.Length < Dimension) // the message is built only on failure: no allocation per call
            Guard.RequireLength(value, Dimension, parameterName, $"a point of R^{Dimension}");
    }

    /// <summary>Throws unless the destination <paramref name="basis"/> has room for d·D values.</summary>
    /// <param name="basis">The destination to check.</param>
    /// <param name="parameterName">The caller's parameter name, reported in the exception.</param>
    protected void RequireBasis(Span<double> basis, string parameterName)
    {
        long required = (long)IntrinsicDimension * Dimension;
        if (basis.Length < required)
            Guard.RequireLength(basis, required, parameterName, $"a tangent basis of {IntrinsicDimension} rows of length {Dimension}");
    }
}

/// <summary>Small dense helpers shared by the tangent spaces: orthonormalisation, completion and sign conventions.</summary>
internal static class Orthonormal
{
    /// <summary>Σ a_i b_i in index order (deterministic on every machine).</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }

    /// <summary>‖a‖ without overflow or underflow for any finite a (scaled sum of squares).</summary>
    public static double Norm(ReadOnlySpan<double> a)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++)
            max = Math.Max(max, Math.Abs(a[i]));
        if (max == 0 || !double.IsFinite(max))
            return max;
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double s = a[i] / max;
            sum += s * s;
        }
        return max * Math.Sqrt(sum);
    }

    /// <summary>
    /// Removes from <paramref name="v"/> its components along the first <paramref name="count"/> orthonormal rows of
    /// <paramref name="rows"/> (row length v.Length) by modified Gram–Schmidt, twice ("twice is enough" for
    /// orthogonality to working precision), and normalises it. Returns ‖v after‖ / ‖v before‖: near 0 means v was
    /// (numerically) in the span of the rows, and v is then left unnormalised.
    /// </summary>
    public static double OrthonormalizeAgainst(Span<double> v, ReadOnlySpan<double> rows, int count)
    {
        int n = v.Length;
        double before = Norm(v);
        if (before == 0)
            return 0;
        for (int pass = 0; pass < 2; pass++)
        {
            for (int r = 0; r < count; r++)
            {
                var row = rows.Slice(r * n, n);
                double c = Dot(row, v);
                for (int i = 0; i < n; i++)
                    v[i] -= c * row[i];
            }
        }
        double after = Norm(v);
        double ratio = after / before;
        if (after > 0)
        {
            for (int i = 0; i < n; i++)
                v[i] /= after;
        }
        return ratio;
    }

    /// <summary>
    /// Extends the first <paramref name="have"/> orthonormal rows of <paramref name="basis"/> (row length
    /// <paramref name="stride"/>) to <paramref name="need"/> rows by Gram–Schmidt of standard basis vectors of the
    /// first <paramref name="width"/> coordinates, each time taking the e_i least in the span so far (largest residual,
    /// lowest i on ties): deterministic and well conditioned. Coordinates ≥ width stay 0 in the new rows.
    /// Requires need ≤ width.
    /// </summary>
    public static void Complete(Span<double> basis, int have, int need, int width, int stride)
    {
        for (int row = have; row < need; row++)
        {
            int best = 0;
            double bestResidual = double.NegativeInfinity;
            for (int i = 0; i < width; i++)
            {
                double inSpan = 0;
                for (int r = 0; r < row; r++)
                {
                    double c = basis[r * stride + i];
                    inSpan += c * c;
                }
                double residual = 1 - inSpan;
                if (residual > bestResidual)
                {
                    bestResidual = residual;
                    best = i;
                }
            }
            var v = basis.Slice(row * stride, stride);
            v.Clear();
            v[best] = 1;
            OrthonormalizeAgainst(v, basis[..(row * stride)], row);
        }
    }

    /// <summary>Flips <paramref name="row"/> so its largest-magnitude component (lowest index on ties) is positive.</summary>
    public static void FixSign(Span<double> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            if (Math.Abs(row[i]) > Math.Abs(row[best]))
                best = i;
        }
        if (row[best] < 0)
        {
            for (int i = 0; i < row.Length; i++)
                row[i] = -row[i];
        }
    }
}
