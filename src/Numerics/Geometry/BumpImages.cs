using System.Buffers;
using System.Numerics.Tensors;

namespace Kernels.Numerics.Geometry;

/// <summary>
/// A synthetic image manifold: W×W images (D = W², row-major, pixel (i, j) at index i·W + j) of a Gaussian bump
/// img(c)_{ij} = exp(−‖p_{ij} − c‖²/(2w²)) whose centre c = (c_x, c_y) moves on the circle of radius R about the
/// image centre, c = R(cos θ, sin θ) (d = 1, parameter θ), or, with square, over the square [−R, R]² (d = 2,
/// parameters (c_x, c_y); a manifold with boundary). Pixel centres lie on [−1, 1]²: p_{ij} = (s_j, s_i),
/// s_k = −1 + (2k + 1)/W, so column j is the x coordinate and row i the y coordinate.
/// <para>
/// The bump is separable, img = v ⊗ u with u_j = exp(−(s_j − c_x)²/(2w²)) and v_i likewise in c_y, so
/// f(c) = ‖x − img(c)‖² = ‖x‖² − 2 vᵀXu + ‖u‖²‖v‖² and its gradient and Hessian in c cost three mat-vecs X·u, X·u′,
/// X·u″ (3W² multiply-adds). Projection: a coarse grid search (centres at most w/2 apart: 4πR/w angles, or
/// (4R/w + 1)² points computed as V·(X·Uᵀ)), then safeguarded Newton from each of the three best discrete local
/// minima of the grid (on θ; or projected Newton in the box with an Armijo line search) to float64 accuracy; the
/// least result wins. A minimum is missed only when its basin is
/// narrower than the grid spacing w/2, which a bump of width w does not make as long as it is resolved by the pixels
/// (w ≳ 2/W, the pixel spacing; narrower bumps give near-identical images for centres between pixel centres). The tangent basis is ∂img/∂θ
/// (or the Gram–Schmidt orthonormalised ∂img/∂c_x, ∂img/∂c_y) at the projection, normalised.
/// </para>
/// Sampling is uniform in θ (or uniform on the square).
/// </summary>
public sealed class BumpImages : Manifold
{
    private readonly double[] _pixels;
    private readonly int _searchPoints;

    /// <summary>Creates the manifold.</summary>
    /// <param name="width">W, the image side, 2 … 4096; D = W².</param>
    /// <param name="pathRadius">R, finite, &gt; 0: the radius of the centre's circle or the half-side of its square.</param>
    /// <param name="bumpWidth">w, finite, &gt; 0: the bump's standard deviation in the [−1, 1] pixel coordinates.</param>
    /// <param name="square">false: the centre moves on a circle (d = 1); true: over a square (d = 2).</param>
    public BumpImages(int width, double pathRadius, double bumpWidth, bool square = false)
        : base(CheckedWidth(width) * width, square ? 2 : 1)
    {
        if (!double.IsFinite(pathRadius) || pathRadius <= 0)
            throw new ArgumentOutOfRangeException(nameof(pathRadius), pathRadius, "The path radius R must be finite and > 0.");
        if (!double.IsFinite(bumpWidth) || bumpWidth <= 0)
            throw new ArgumentOutOfRangeException(nameof(bumpWidth), bumpWidth, "The bump width w must be finite and > 0.");
        Width = width;
        PathRadius = pathRadius;
        BumpWidth = bumpWidth;
        IsSquare = square;
        _pixels = new double[width];
        for (int k = 0; k < width; k++)
            _pixels[k] = -1 + (2.0 * k + 1) / width;
        double spacing = bumpWidth / 2;
        _searchPoints = square
            ? Math.Clamp((int)Math.Ceiling(2 * pathRadius / spacing) + 1, 5, 1024)
            : Math.Clamp((int)Math.Ceiling(2 * Math.PI * pathRadius / spacing), 16, 1 << 16);
    }

    /// <summary>W, the image side.</summary>
    public int Width { get; }

    /// <summary>R, the centre path's radius (circle) or half-side (square).</summary>
    public double PathRadius { get; }

    /// <summary>w, the bump's standard deviation.</summary>
    public double BumpWidth { get; }

    /// <summary>Whether the centre moves over a square (d = 2) rather than a circle (d = 1).</summary>
    public bool IsSquare { get; }

    /// <summary>The centre (c_x, c_y) for parameters θ (circle) or (c_x, c_y) (square).</summary>
    /// <param name="parameters">d values.</param>
    public (double X, double Y) Centre(ReadOnlySpan<double> parameters)
    {
        RequireParameters(parameters, nameof(parameters));
        if (IsSquare)
            return (parameters[0], parameters[1]);
        var (sin, cos) = Math.SinCos(parameters[0]);
        return (PathRadius * cos, PathRadius * sin);
    }

    /// <summary>Writes img(c) for the parameters (θ, or (c_x, c_y)) into <paramref name="image"/>.</summary>
    /// <param name="parameters">d values.</param>
    /// <param name="image">Receives D = W² values.</param>
    public void ImageAt(ReadOnlySpan<double> parameters, Span<double> image)
    {
        RequireDestination(image, nameof(image));
        var (cx, cy) = Centre(parameters);
        int w = Width;
        Span<double> u = w <= 1024 ? stackalloc double[w] : new double[w];
        Span<double> v = w <= 1024 ? stackalloc double[w] : new double[w];
        Profile(cx, u, default, default);
        Profile(cy, v, default, default);
        for (int i = 0; i < w; i++)
            TensorPrimitives.Multiply(u, v[i], image.Slice(i * w, w));
    }

    /// <summary>
    /// The parameters of the nearest image to <paramref name="x"/> (θ ∈ [0, 2π), or (c_x, c_y) ∈ [−R, R]²): the search
    /// described in the class remarks.
    /// </summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="parameters">Receives d values.</param>
    public void Locate(ReadOnlySpan<double> x, Span<double> parameters)
    {
        RequirePoint(x, nameof(x));
        if (parameters.Length < IntrinsicDimension)
            Guard.RequireLength(parameters, IntrinsicDimension, nameof(parameters), "the manifold's parameters");
        var scratch = ArrayPool<double>.Shared.Rent(12 * Width);
        try
        {
            var work = new Work(this, x, scratch);
            if (IsSquare)
                LocateSquare(ref work, parameters);
            else
                LocateCircle(ref work, parameters);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(scratch);
        }
    }

    /// <summary>img at <see cref="Locate"/>(x).</summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequireDestination(point, nameof(point));
        Span<double> p = stackalloc double[2];
        Locate(x, p);
        ImageAt(p[..IntrinsicDimension], point);
    }

    /// <summary>
    /// The orthonormalised ∂img/∂θ (or ∂img/∂c_x, ∂img/∂c_y) at the parameters of <paramref name="point"/> (found by
    /// <see cref="Locate"/>: exact for a point of the manifold).
    /// </summary>
    /// <param name="point">A point of the manifold (length D).</param>
    /// <param name="basis">Receives d·D values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        Span<double> p = stackalloc double[2];
        Locate(point, p);
        TangentAtParameters(p[..IntrinsicDimension], basis);
    }

    /// <summary>The tangent basis at <see cref="Project"/>(x) with one search (not two).</summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="basis">Receives d·D values.</param>
    /// <returns>d.</returns>
    public override int TangentBasis(ReadOnlySpan<double> x, Span<double> basis)
    {
        RequirePoint(x, nameof(x));
        RequireBasis(basis, nameof(basis));
        Span<double> p = stackalloc double[2];
        Locate(x, p);
        TangentAtParameters(p[..IntrinsicDimension], basis);
        return IntrinsicDimension;
    }

    /// <summary>Writes the orthonormal tangent basis at the given parameters.</summary>
    /// <param name="parameters">d values.</param>
    /// <param name="basis">Receives d·D values.</param>
    public void TangentAtParameters(ReadOnlySpan<double> parameters, Span<double> basis)
    {
        RequireBasis(basis, nameof(basis));
        var (cx, cy) = Centre(parameters);
        int w = Width, dim = Dimension;
        var u = new double[w];
        var u1 = new double[w];
        var v = new double[w];
        var v1 = new double[w];
        Profile(cx, u, u1, default);
        Profile(cy, v, v1, default);
        if (IsSquare)
        {
            for (int i = 0; i < w; i++)
            {
                TensorPrimitives.Multiply(u1, v[i], basis.Slice(i * w, w));
                TensorPrimitives.Multiply(u, v1[i], basis.Slice(dim + i * w, w));
            }
            Orthonormal.OrthonormalizeAgainst(basis[..dim], default, 0);
            Orthonormal.OrthonormalizeAgainst(basis.Slice(dim, dim), basis[..dim], 1);
            return;
        }
        var (sin, cos) = Math.SinCos(parameters[0]);
        double ax = -PathRadius * sin, ay = PathRadius * cos; // dc/dθ
        for (int i = 0; i < w; i++)
        {
            var row = basis.Slice(i * w, w);
            TensorPrimitives.Multiply(u1, ax * v[i], row);
            TensorPrimitives.MultiplyAdd(u, ay * v1[i], row, row);
        }
        Orthonormal.OrthonormalizeAgainst(basis[..dim], default, 0);
    }

    /// <summary>θ uniform on [0, 2π), or (c_x, c_y) uniform on [−R, R]².</summary>
    /// <param name="count">The number of images, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed)
    {
        RequireSampleCount(count);
        var images = new double[(long)count * Dimension];
        Span<double> u = stackalloc double[2];
        for (int i = 0; i < count; i++)
        {
            Uniforms(seed, i, u);
            if (IsSquare)
            {
                u[0] = PathRadius * (2 * u[0] - 1);
                u[1] = PathRadius * (2 * u[1] - 1);
            }
            else
            {
                u[0] *= 2 * Math.PI;
            }
            ImageAt(u[..IntrinsicDimension], images.AsSpan(i * Dimension, Dimension));
        }
        return images;
    }

    /// <summary>
    /// Circle: θ_k = 2πk/count. Square: the m×m product grid (count = m², m ≥ 2) of centres −R + 2R·k/(m − 1), both
    /// edges included, c_y slowest.
    /// </summary>
    /// <param name="count">The number of images, ≥ 1 (square: a perfect square ≥ 4).</param>
    public override double[] Grid(int count)
    {
        int m = IsSquare ? ProductGridSide(count, least: 2) : count;
        RequireGridCount(count);
        var images = new double[(long)count * Dimension];
        Span<double> p = stackalloc double[2];
        for (int k = 0; k < count; k++)
        {
            if (IsSquare)
            {
                p[0] = PathRadius * (-1 + 2.0 * (k % m) / (m - 1));
                p[1] = PathRadius * (-1 + 2.0 * (k / m) / (m - 1));
            }
            else
            {
                p[0] = 2 * Math.PI * k / count;
            }
            ImageAt(p[..IntrinsicDimension], images.AsSpan(k * Dimension, Dimension));
        }
        return images;
    }

    // ---------------------------------------------------------------- search

    /// <summary>How many of the best discrete local minima of the grid search are polished (the least result wins).</summary>
    private const int Candidates = 3;

    private void LocateCircle(ref Work work, Span<double> parameters)
    {
        int n = _searchPoints;
        double step = 2 * Math.PI / n;
        var values = new double[n];
        for (int k = 0; k < n; k++)
        {
            var (sin, cos) = Math.SinCos(k * step);
            values[k] = work.Value(PathRadius * cos, PathRadius * sin);
        }
        Span<int> candidates = stackalloc int[Candidates];
        int found = 0;
        for (int k = 0; k < n; k++)
        {
            if (values[k] <= values[(k + n - 1) % n] && values[k] <= values[(k + 1) % n])
                found = Keep(values, k, candidates, found);
        }
        var objective = new CircleObjective(work, PathRadius);
        double bestTheta = 0, bestF = double.PositiveInfinity;
        for (int c = 0; c < found; c++)
        {
            int k = candidates[c];
            var (theta, f) = Newton1D.Minimize(ref objective, (k - 1) * step, (k + 1) * step, k * step, 2 * Math.PI);
            if (f < bestF)
            {
                bestF = f;
                bestTheta = theta;
            }
        }
        bestTheta %= 2 * Math.PI;
        parameters[0] = bestTheta < 0 ? bestTheta + 2 * Math.PI : bestTheta;
    }

    /// <summary>Inserts grid index k into the candidates (ascending value, then index), keeping at most <see cref="Candidates"/>.</summary>
    private static int Keep(double[] values, int k, Span<int> candidates, int found)
    {
        int pos = found;
        while (pos > 0 && values[candidates[pos - 1]] > values[k])
            pos--;
        if (pos >= candidates.Length)
            return found;
        int last = Math.Min(found, candidates.Length - 1);
        for (int j = last; j > pos; j--)
            candidates[j] = candidates[j - 1];
        candidates[pos] = k;
        return Math.Min(found + 1, candidates.Length);
    }

    private void LocateSquare(ref Work work, Span<double> parameters)
    {
        int m = _searchPoints, w = Width;
        double r = PathRadius;
        // Profiles at the m grid coordinates (shared by c_x and c_y), then P = X·Uᵀ (W×m) and S = V·P: m² values of
        // vᵀXu for W²m + W m² multiply-adds instead of W² m².
        var profiles = new double[m * w];
        var norms = new double[m];
        for (int k = 0; k < m; k++)
        {
            var g = profiles.AsSpan(k * w, w);
            Profile(-r + 2 * r * k / (m - 1), g, default, default);
            norms[k] = TensorPrimitives.Dot(g, g);
        }
        var p = new double[w * m];
        for (int i = 0; i < w; i++)
        {
            var row = work.X.Slice(i * w, w);
            for (int k = 0; k < m; k++)
                p[k * w + i] = TensorPrimitives.Dot(row, profiles.AsSpan(k * w, w));
        }
        var values = new double[m * m];
        for (int ky = 0; ky < m; ky++)
        {
            var v = profiles.AsSpan(ky * w, w);
            for (int kx = 0; kx < m; kx++)
                values[ky * m + kx] = norms[kx] * norms[ky] - 2 * TensorPrimitives.Dot(v, p.AsSpan(kx * w, w));
        }
        Span<int> candidates = stackalloc int[Candidates];
        int found = 0;
        for (int ky = 0; ky < m; ky++)
            for (int kx = 0; kx < m; kx++)
            {
                double f = values[ky * m + kx];
                bool minimum = true;
                for (int dy = -1; dy <= 1 && minimum; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = kx + dx, ny = ky + dy;
                        if ((dx != 0 || dy != 0) && nx >= 0 && nx < m && ny >= 0 && ny < m && values[ny * m + nx] < f)
                        {
                            minimum = false;
                            break;
                        }
                    }
                if (minimum)
                    found = Keep(values, ky * m + kx, candidates, found);
            }
        double bestA = 0, bestB = 0, bestF = double.PositiveInfinity;
        for (int c = 0; c < found; c++)
        {
            double a = -r + 2 * r * (candidates[c] % m) / (m - 1), b = -r + 2 * r * (candidates[c] / m) / (m - 1);
            BoxNewton(ref work, ref a, ref b);
            double f = work.Value(a, b);
            if (f < bestF)
            {
                bestF = f;
                bestA = a;
                bestB = b;
            }
        }
        parameters[0] = bestA;
        parameters[1] = bestB;
    }

    /// <summary>
    /// Projected Newton on f(c_x, c_y) over [−R, R]²: a coordinate at a bound whose gradient pushes outwards is held
    /// (the active set), Newton on the rest when its Hessian block is positive definite, a scaled gradient step
    /// otherwise; Armijo backtracking along the projected path, except for Newton steps shorter than w/1000, taken
    /// as they are. Stops when an accepted step is below 1e−15·(R + w), after 100 iterations, or when no decrease
    /// can be found.
    /// </summary>
    private void BoxNewton(ref Work work, ref double a, ref double b)
    {
        double r = PathRadius, tiny = 1e-15 * (r + BumpWidth);
        for (int iteration = 0; iteration < 100; iteration++)
        {
            var (f, ga, gb, haa, hab, hbb) = work.Derivatives(a, b);
            bool freeA = !(a <= -r && ga > 0 || a >= r && ga < 0);
            bool freeB = !(b <= -r && gb > 0 || b >= r && gb < 0);
            double da = 0, db = 0;
            bool newton = false;
            if (freeA && freeB)
            {
                double det = haa * hbb - hab * hab;
                if (haa > 0 && det > 0)
                {
                    da = -(hbb * ga - hab * gb) / det;
                    db = -(haa * gb - hab * ga) / det;
                    newton = true;
                }
                else
                {
                    double scale = Math.Max(Math.Max(Math.Abs(haa), Math.Abs(hbb)), 1e-300);
                    da = -ga / scale;
                    db = -gb / scale;
                }
            }
            else if (freeA)
            {
                da = -ga / Math.Max(Math.Abs(haa), 1e-300);
                newton = haa > 0;
            }
            else if (freeB)
            {
                db = -gb / Math.Max(Math.Abs(hbb), 1e-300);
                newton = hbb > 0;
            }
            else
            {
                return; // a corner where both gradients push outwards: a KKT point
            }
            // Never step further than the grid spacing in one go: Newton from a poor start can overshoot.
            double length = double.Hypot(da, db), cap = 2 * r / (_searchPoints - 1);
            if (length > cap)
            {
                da *= cap / length;
                db *= cap / length;
            }
            bool accepted = false;
            double na = a, nb = b;
            if (newton && length <= 1e-3 * BumpWidth)
            {
                // Inside the quadratic basin f is flat to rounding over √ε-wide steps, so a line search would stall
                // short of the root of ∇f; take the Newton step as it is.
                na = Math.Clamp(a + da, -r, r);
                nb = Math.Clamp(b + db, -r, r);
                accepted = true;
            }
            for (double t = 1; !accepted && t > 1e-12; t *= 0.5)
            {
                na = Math.Clamp(a + t * da, -r, r);
                nb = Math.Clamp(b + t * db, -r, r);
                double decrease = ga * (na - a) + gb * (nb - b);
                if (work.Value(na, nb) <= f + 1e-4 * decrease)
                {
                    accepted = true;
                    break;
                }
            }
            if (!accepted)
                return;
            double moved = double.Hypot(na - a, nb - b);
            a = na;
            b = nb;
            if (moved <= tiny)
                return;
        }
    }

    /// <summary>g_k = exp(−(s_k − c)²/(2w²)) and, where the spans are not empty, g′ = ∂g/∂c and g″ = ∂²g/∂c².</summary>
    private void Profile(double c, Span<double> g, Span<double> g1, Span<double> g2)
    {
        double inv = 1 / (BumpWidth * BumpWidth);
        for (int k = 0; k < _pixels.Length; k++)
        {
            double d = _pixels[k] - c;
            double e = Math.Exp(-0.5 * d * d * inv);
            g[k] = e;
            if (!g1.IsEmpty)
                g1[k] = e * d * inv;
            if (!g2.IsEmpty)
                g2[k] = e * (d * d * inv - 1) * inv;
        }
    }

    private void RequireParameters(ReadOnlySpan<double> parameters, string name)
    {
        if (parameters.Length != IntrinsicDimension)
            throw new ArgumentException(
                $"{name} has {parameters.Length} values but this manifold has {IntrinsicDimension} parameter(s) ({(IsSquare ? "c_x, c_y" : "θ")}); pass exactly {IntrinsicDimension}.",
                name);
        for (int k = 0; k < parameters.Length; k++)
        {
            if (!double.IsFinite(parameters[k]))
                throw new ArgumentException($"{name}[{k}] is {parameters[k]}; parameters must be finite.", name);
        }
    }

    private static int CheckedWidth(int width) =>
        width is >= 2 and <= 4096 ? width
            : throw new ArgumentOutOfRangeException(nameof(width), width, "The image side W must be in 2 … 4096 (D = W²).");

    /// <summary>
    /// f(c) − ‖x‖² = ‖u‖²‖v‖² − 2vᵀXu and its derivatives for one image x, with profile scratch (12 W values).
    /// </summary>
    private readonly ref struct Work(BumpImages owner, ReadOnlySpan<double> x, double[] scratch)
    {
        public readonly ReadOnlySpan<double> X = x;
        private readonly BumpImages _owner = owner;
        private readonly double[] _scratch = scratch;

        private Span<double> Slot(int k) => _scratch.AsSpan(k * _owner.Width, _owner.Width);

        public double Value(double cx, double cy)
        {
            int w = _owner.Width;
            var u = Slot(0);
            var v = Slot(1);
            _owner.Profile(cx, u, default, default);
            _owner.Profile(cy, v, default, default);
            double s = 0;
            for (int i = 0; i < w; i++)
            {
                // Rows where the bump is below 1e−30 (≥ 11.7 widths away) change f by < 1e−30‖x_i‖‖u‖: skip them.
                if (v[i] >= 1e-30)
                    s += v[i] * TensorPrimitives.Dot(X.Slice(i * w, w), u);
            }
            return TensorPrimitives.Dot(u, u) * TensorPrimitives.Dot(v, v) - 2 * s;
        }

        public (double F, double Fa, double Fb, double Faa, double Fab, double Fbb) Derivatives(double cx, double cy)
        {
            int w = _owner.Width;
            Span<double> u = Slot(0), u1 = Slot(1), u2 = Slot(2), v = Slot(3), v1 = Slot(4), v2 = Slot(5);
            Span<double> p0 = Slot(6), p1 = Slot(7), p2 = Slot(8);
            _owner.Profile(cx, u, u1, u2);
            _owner.Profile(cy, v, v1, v2);
            for (int i = 0; i < w; i++)
            {
                if (v[i] < 1e-30)
                {
                    // |v′|, |v″| ≤ v·(4/w² + 4/w⁴): negligible against the rows that count (see Value).
                    p0[i] = p1[i] = p2[i] = 0;
                    continue;
                }
                var row = X.Slice(i * w, w);
                p0[i] = TensorPrimitives.Dot(row, u);
                p1[i] = TensorPrimitives.Dot(row, u1);
                p2[i] = TensorPrimitives.Dot(row, u2);
            }
            double s00 = TensorPrimitives.Dot(v, p0), s10 = TensorPrimitives.Dot(v, p1), s20 = TensorPrimitives.Dot(v, p2);
            double s01 = TensorPrimitives.Dot(v1, p0), s11 = TensorPrimitives.Dot(v1, p1), s02 = TensorPrimitives.Dot(v2, p0);
            double nu = TensorPrimitives.Dot(u, u), nu1 = 2 * TensorPrimitives.Dot(u, u1);
            double nu2 = 2 * (TensorPrimitives.Dot(u1, u1) + TensorPrimitives.Dot(u, u2));
            double nv = TensorPrimitives.Dot(v, v), nv1 = 2 * TensorPrimitives.Dot(v, v1);
            double nv2 = 2 * (TensorPrimitives.Dot(v1, v1) + TensorPrimitives.Dot(v, v2));
            return (nu * nv - 2 * s00, nu1 * nv - 2 * s10, nu * nv1 - 2 * s01,
                nu2 * nv - 2 * s20, nu1 * nv1 - 2 * s11, nu * nv2 - 2 * s02);
        }
    }

    /// <summary>f(θ) along c = R(cos θ, sin θ), by the chain rule from the (c_x, c_y) derivatives.</summary>
    private ref struct CircleObjective(Work work, double radius) : IObjective1D
    {
        private readonly Work _work = work;

        public readonly (double Value, double Slope, double Curvature) Evaluate(double theta)
        {
            var (sin, cos) = Math.SinCos(theta);
            double cx = radius * cos, cy = radius * sin;
            var (f, fa, fb, faa, fab, fbb) = _work.Derivatives(cx, cy);
            double ax = -cy, ay = cx; // dc/dθ; d²c/dθ² = −c
            return (f, fa * ax + fb * ay, faa * ax * ax + 2 * fab * ax * ay + fbb * ay * ay - fa * cx - fb * cy);
        }
    }
}
