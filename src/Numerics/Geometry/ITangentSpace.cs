namespace Kernels.Numerics.Geometry;

/// <summary>
/// A field of tangent spaces over R^D: for any point x, an orthonormal basis of a d-dimensional subspace T_x
/// (the tangent space of the data manifold "at" x). Sources: an analytic <see cref="Manifold"/> (the tangent space at
/// the projection of x), local PCA of the nearest training points (<see cref="LocalPca"/>), and later the density ridge.
/// Implementations are immutable and safe to call from several threads at once.
/// </summary>
public interface ITangentSpace
{
    /// <summary>The ambient dimension D.</summary>
    int Dimension { get; }

    /// <summary>The largest d a call can return (1 ≤ d &lt; D); size basis buffers by it.</summary>
    int MaxTangentDimension { get; }

    /// <summary>
    /// Writes an orthonormal basis of the tangent space at <paramref name="x"/> as d rows of length D (row-major) into
    /// <paramref name="basis"/> (length ≥ <see cref="MaxTangentDimension"/>·D) and returns d.
    /// </summary>
    /// <param name="x">A point of R^D (length D, finite).</param>
    /// <param name="basis">Receives d·D values.</param>
    int TangentBasis(ReadOnlySpan<double> x, Span<double> basis);
}
