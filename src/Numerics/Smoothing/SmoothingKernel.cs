using Kernels.Numerics.Geometry;
using MathNet.Numerics.LinearAlgebra;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// A smoothing kernel: the distribution of a perturbation z added to a query (DESIGN.md §3). Kernels are immutable values
/// composed from factories:
/// <list type="bullet">
/// <item><see cref="Gaussian"/>: z = h ξ, ξ ~ N(0, I);</item>
/// <item><see cref="Anisotropic"/>: z = h_T P_T ξ + h_N P_N ξ with P_T the projector onto the tangent space at the
///   query x (from an <see cref="ITangentSpace"/>) and P_N = I − P_T; <see cref="Tangent"/> is h_N = 0, the
///   manifold-adapted kernel;</item>
/// <item><see cref="Ball"/>: z uniform on the ball of radius R;</item>
/// <item><see cref="Covariance"/>: z = L ξ for a fixed D×r factor L (covariance L Lᵀ).</item>
/// </list>
/// Every kernel is symmetric (z and −z equally likely), so antithetic pairs apply to all. The tangent space is taken at
/// the query point x and frozen for its draws: z's law depends on x but not on z (the papers also consider translating the
/// manifold through x; that is not what is computed here).
/// </summary>
public abstract class SmoothingKernel
{
    private protected SmoothingKernel() { }

    /// <summary>The isotropic Gaussian N(0, h² I).</summary>
    /// <param name="scale">h &gt; 0, finite.</param>
    public static SmoothingKernel Gaussian(double scale) => new GaussianKernel(RequirePositive(scale, nameof(scale)));

    /// <summary>The anisotropic Gaussian z = h_T P_T ξ + h_N P_N ξ (covariance h_T² P_T + h_N² P_N) about the tangent space at x.</summary>
    /// <param name="tangents">Where the tangent space at a query comes from (a manifold, local PCA, …).</param>
    /// <param name="tangentScale">h_T ≥ 0, the standard deviation along the tangent space.</param>
    /// <param name="normalScale">h_N ≥ 0, the standard deviation normal to it (0: tangent-only); h_T and h_N not both 0.</param>
    public static SmoothingKernel Anisotropic(ITangentSpace tangents, double tangentScale, double normalScale)
    {
        ArgumentNullException.ThrowIfNull(tangents);
        RequireNonNegative(tangentScale, nameof(tangentScale));
        RequireNonNegative(normalScale, nameof(normalScale));
        if (tangentScale == 0 && normalScale == 0)
            throw new ArgumentOutOfRangeException(nameof(tangentScale), tangentScale,
                "tangentScale and normalScale are both 0: the kernel would not smooth; make at least one positive.");
        return new AnisotropicKernel(tangents, tangentScale, normalScale);
    }

    /// <summary>The manifold-adapted kernel z = h P_T ξ: Gaussian along the tangent space at x, nothing normal to it.</summary>
    /// <param name="tangents">Where the tangent space at a query comes from.</param>
    /// <param name="scale">h &gt; 0, finite.</param>
    public static SmoothingKernel Tangent(ITangentSpace tangents, double scale) =>
        Anisotropic(tangents, RequirePositive(scale, nameof(scale)), 0);

    /// <summary>The uniform distribution on the ball of radius R: z = R u^{1/D} ξ/‖ξ‖.</summary>
    /// <param name="radius">R &gt; 0, finite.</param>
    public static SmoothingKernel Ball(double radius) => new BallKernel(RequirePositive(radius, nameof(radius)));

    /// <summary>A Gaussian with a fixed covariance L Lᵀ: z = L ξ, ξ ~ N(0, I_r).</summary>
    /// <param name="factor">L, D×r row-major (copied), finite and not all zero.</param>
    /// <param name="dimension">D, the number of rows of L.</param>
    public static SmoothingKernel Covariance(double[] factor, int dimension)
    {
        ArgumentNullException.ThrowIfNull(factor);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (factor.Length == 0 || factor.Length % dimension != 0)
            throw new ArgumentException(
                $"factor has {factor.Length} values, not a non-empty D×r matrix with D = {dimension} rows; pass L row-major with r ≥ 1 columns.",
                nameof(factor));
        Guard.RequireFinite<double>(factor, factor.Length / dimension, nameof(factor), "factor");
        return new CovarianceKernel((double[])factor.Clone(), dimension);
    }

    /// <summary>
    /// Draw <paramref name="draw"/> (0 ≤ draw &lt; K) of query <paramref name="query"/> at point <paramref name="x"/>,
    /// exactly as the smoothed score uses it; for inspection and for other backends to check against.
    /// </summary>
    /// <param name="x">The query point (length D).</param>
    /// <param name="draws">The draw plan.</param>
    /// <param name="query">The query's index in its batch (ignored for fixed draws).</param>
    /// <param name="draw">The draw index.</param>
    /// <param name="z">Receives the perturbation (length D).</param>
    public void Draw(ReadOnlySpan<double> x, SmoothingDraws draws, int query, int draw, Span<double> z)
    {
        ArgumentNullException.ThrowIfNull(draws);
        int d = x.Length;
        RequireDimension(d, nameof(x));
        if ((uint)draw >= (uint)draws.Count)
            throw new ArgumentOutOfRangeException(nameof(draw), draw, $"draw must be in [0, K) with K = {draws.Count}.");
        if (z.Length != d)
            throw new ArgumentException($"z has length {z.Length}; it must have the query's length D = {d}.", nameof(z));
        var frame = new double[FrameLength(d)];
        int rank = PrepareFrame(x, frame);
        var xi = new double[NormalCount(d)];
        Perturb(frame, rank, draws, query, draw, xi, z);
    }

    /// <summary>Throws unless the kernel applies in dimension D (tangent spaces and factors have their own D).</summary>
    internal virtual void RequireDimension(int dimension, string parameterName) { }

    /// <summary>Standard normals per draw.</summary>
    internal virtual int NormalCount(int dimension) => dimension;

    /// <summary>Doubles of per-query state (a tangent basis), 0 when z's law does not depend on x.</summary>
    internal virtual int FrameLength(int dimension) => 0;

    /// <summary>Fills the per-query state at x and returns its rank (the tangent dimension d), 0 when there is none.</summary>
    internal virtual int PrepareFrame(ReadOnlySpan<double> x, Span<double> frame) => 0;

    /// <summary>z(ξ) for standard normals ξ and the kernel's auxiliary uniform u.</summary>
    internal abstract void Apply(ReadOnlySpan<double> frame, int rank, ReadOnlySpan<double> xi, SmoothingDraws draws, int query, int unit, Span<double> z);

    /// <summary>Draw k of a query: unit k, or for antithetic pairs unit k/2 with sign (−1)^k. <paramref name="xi"/> is scratch.</summary>
    internal void Perturb(ReadOnlySpan<double> frame, int rank, SmoothingDraws draws, int query, int draw, Span<double> xi, Span<double> z)
    {
        int unit = draws.Antithetic ? draw >> 1 : draw;
        draws.Normals(query, unit, xi);
        Apply(frame, rank, xi, draws, query, unit, z);
        if (draws.Antithetic && (draw & 1) == 1)
        {
            for (int j = 0; j < z.Length; j++) z[j] = -z[j];
        }
    }

    /// <summary>
    /// The kernel's covariance at x as a I + Σ_j c_j u_j u_jᵀ with orthonormal u_j (rows of <paramref name="directions"/>),
    /// for closed-form density smoothing; returns the number of directions. Only Gaussian kernels have one.
    /// </summary>
    internal virtual int GaussianCovariance(ReadOnlySpan<double> x, Span<double> directions, Span<double> extra, out double isotropic) =>
        throw new NotSupportedException(
            $"Density smoothing (KDE) has a closed form only for Gaussian kernels (Gaussian, Anisotropic, Tangent, Covariance), not for {this}; use log-domain smoothing (LogSmoothedScore) for it.");

    /// <summary>
    /// (h_T, h_N) when z = h_N ξ + (h_T − h_N) B Bᵀ ξ with B the frame (rank 0 for the isotropic Gaussian): the kernels a
    /// device can draw itself (<see cref="IPerturbingBackend"/>); null for the others (ball, covariance), drawn on the host.
    /// </summary>
    internal virtual (double Tangent, double Normal)? DeviceScales => null;

    /// <summary>True when z is Gaussian (so density smoothing has a closed form).</summary>
    internal virtual bool IsGaussian => true;

    /// <summary>Directions of <see cref="GaussianCovariance"/> at most (buffer sizing), in dimension D.</summary>
    internal virtual int MaxGaussianDirections(int dimension) => 0;

    private static double RequirePositive(double value, string name) =>
        double.IsFinite(value) && value > 0 ? value
            : throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive and finite (got {value}); it is a length in the data's units.");

    private static void RequireNonNegative(double value, string name)
    {
        if (!(double.IsFinite(value) && value >= 0))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be finite and at least 0 (got {value}).");
    }

    private sealed class GaussianKernel(double scale) : SmoothingKernel
    {
        internal override (double Tangent, double Normal)? DeviceScales => (scale, scale);

        internal override void Apply(ReadOnlySpan<double> frame, int rank, ReadOnlySpan<double> xi, SmoothingDraws draws, int query, int unit, Span<double> z)
        {
            for (int j = 0; j < z.Length; j++) z[j] = scale * xi[j];
        }

        internal override int GaussianCovariance(ReadOnlySpan<double> x, Span<double> directions, Span<double> extra, out double isotropic)
        {
            isotropic = scale * scale;
            return 0;
        }

        public override string ToString() => $"gaussian(h = {scale:G6})";
    }

    private sealed class AnisotropicKernel(ITangentSpace tangents, double tangentScale, double normalScale) : SmoothingKernel
    {
        internal override void RequireDimension(int dimension, string parameterName)
        {
            if (tangents.Dimension != dimension)
                throw new ArgumentException(
                    $"The kernel's tangent space lives in D = {tangents.Dimension} but the data have D = {dimension}; build the tangent space in the data's dimension.",
                    parameterName);
        }

        internal override int FrameLength(int dimension) => tangents.MaxTangentDimension * dimension;

        internal override (double Tangent, double Normal)? DeviceScales => (tangentScale, normalScale);

        internal override int PrepareFrame(ReadOnlySpan<double> x, Span<double> frame) => tangents.TangentBasis(x, frame);

        // z = h_N ξ + (h_T − h_N) B Bᵀ ξ, B the d×D basis: O(D d), never a D×D projector.
        internal override void Apply(ReadOnlySpan<double> frame, int rank, ReadOnlySpan<double> xi, SmoothingDraws draws, int query, int unit, Span<double> z)
        {
            int d = z.Length;
            for (int j = 0; j < d; j++) z[j] = normalScale * xi[j];
            for (int t = 0; t < rank; t++)
            {
                var b = frame.Slice(t * d, d);
                double c = 0;
                for (int j = 0; j < d; j++) c += b[j] * xi[j];
                c *= tangentScale - normalScale;
                for (int j = 0; j < d; j++) z[j] += c * b[j];
            }
        }

        internal override int MaxGaussianDirections(int dimension) => tangents.MaxTangentDimension;

        internal override int GaussianCovariance(ReadOnlySpan<double> x, Span<double> directions, Span<double> extra, out double isotropic)
        {
            isotropic = normalScale * normalScale;
            int rank = tangents.TangentBasis(x, directions);
            extra[..rank].Fill(tangentScale * tangentScale - normalScale * normalScale);
            return rank;
        }

        public override string ToString() => $"anisotropic(h_T = {tangentScale:G6}, h_N = {normalScale:G6}, {tangents.GetType().Name})";
    }

    private sealed class BallKernel(double radius) : SmoothingKernel
    {
        internal override bool IsGaussian => false;

        internal override void Apply(ReadOnlySpan<double> frame, int rank, ReadOnlySpan<double> xi, SmoothingDraws draws, int query, int unit, Span<double> z)
        {
            double norm2 = 0;
            foreach (double v in xi) norm2 += v * v;
            // ‖ξ‖ = 0 has probability 0 but Box–Muller can reach it at u₂ ∈ {¼, ¾} with D = 1: fall back to the first axis.
            double r = radius * Math.Pow(draws.Uniform(query, unit), 1.0 / z.Length);
            if (norm2 == 0)
            {
                z.Clear();
                z[0] = r;
                return;
            }
            double s = r / Math.Sqrt(norm2);
            for (int j = 0; j < z.Length; j++) z[j] = s * xi[j];
        }

        public override string ToString() => $"ball(R = {radius:G6})";
    }

    private sealed class CovarianceKernel : SmoothingKernel
    {
        private readonly double[] _factor; // L, D×r
        private readonly int _dimension, _rank;
        private readonly double[] _directions; // u_j, orthonormal eigenvectors of L Lᵀ with nonzero eigenvalue
        private readonly double[] _variances;  // their eigenvalues s_j²

        public CovarianceKernel(double[] factor, int dimension)
        {
            _factor = factor;
            _dimension = dimension;
            _rank = factor.Length / dimension;
            // L Lᵀ = Σ s_j² u_j u_jᵀ from the r×r eigenproblem LᵀL = V S² Vᵀ, u_j = L v_j / s_j: no D×D matrix.
            var l = Matrix<double>.Build.Dense(dimension, _rank, (i, j) => factor[i * _rank + j]);
            var evd = l.TransposeThisAndMultiply(l).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
            double largest = Math.Max(evd.EigenValues[_rank - 1].Real, 0);
            if (largest == 0)
                throw new ArgumentException("factor is all zeros: the kernel would not smooth; pass a nonzero L.", nameof(factor));
            var directions = new List<double>();
            var variances = new List<double>();
            for (int j = _rank - 1; j >= 0; j--)
            {
                double lambda = evd.EigenValues[j].Real;
                if (lambda <= largest * _rank * 1e-15) break; // numerically in the null space of L
                var u = l * evd.EigenVectors.Column(j) / Math.Sqrt(lambda);
                directions.AddRange(u.Normalize(2));
                variances.Add(lambda);
            }
            _directions = [.. directions];
            _variances = [.. variances];
        }

        internal override void RequireDimension(int dimension, string parameterName)
        {
            if (_dimension != dimension)
                throw new ArgumentException(
                    $"The covariance factor L has D = {_dimension} rows but the data have D = {dimension}; pass a D×r factor in the data's dimension.",
                    parameterName);
        }

        internal override int NormalCount(int dimension) => _rank;

        internal override void Apply(ReadOnlySpan<double> frame, int rank, ReadOnlySpan<double> xi, SmoothingDraws draws, int query, int unit, Span<double> z)
        {
            for (int i = 0; i < z.Length; i++)
            {
                double s = 0;
                var row = _factor.AsSpan(i * _rank, _rank);
                for (int j = 0; j < _rank; j++) s += row[j] * xi[j];
                z[i] = s;
            }
        }

        internal override int MaxGaussianDirections(int dimension) => _variances.Length;

        internal override int GaussianCovariance(ReadOnlySpan<double> x, Span<double> directions, Span<double> extra, out double isotropic)
        {
            isotropic = 0;
            _directions.CopyTo(directions);
            _variances.CopyTo(extra);
            return _variances.Length;
        }

        public override string ToString() => $"covariance(D = {_dimension}, r = {_rank})";
    }
}
