using System.Runtime.InteropServices;
using MathNet.Numerics.LinearAlgebra;

namespace Kernels.Numerics.Models;

/// <summary>
/// The eigen-decomposition of a dense symmetric float64 matrix: LAPACK's divide-and-conquer <c>dsyevd</c> from the system's
/// <c>liblapack.so.3</c> (OpenBLAS's or the reference one, Debian's packages) where it loads, which takes P = 2000 in about
/// two seconds on one thread; otherwise MathNet.Numerics' managed decomposition (the same answer, an order of magnitude
/// slower at that size). Both are well-kept libraries; the P×P matrix is small dense float64 algebra done once per fit.
/// </summary>
internal static unsafe class SymmetricEigen
{
    private static readonly Lazy<nint> Lapack = new(Load);

    /// <summary>
    /// dsyevd_ from liblapack.so.3, or 0. Where that is OpenBLAS's, its OpenMP threads are set to one: threaded, the
    /// decomposition took 18–24 s instead of 2 s at P = 2000 on a busy two-core machine (the threads spin against the
    /// other load), and one thread makes its bits independent of the machine's core count.
    /// </summary>
    private static unsafe nint Load()
    {
        if (!NativeLibrary.TryLoad("liblapack.so.3", out nint handle) || !NativeLibrary.TryGetExport(handle, "dsyevd_", out nint f))
            return 0;
        if (NativeLibrary.TryLoad("libopenblas.so.0", out nint openblas) && NativeLibrary.TryGetExport(openblas, "openblas_set_num_threads", out nint set))
            ((delegate* unmanaged<int, void>)set)(1);
        return f;
    }

    /// <summary>Which implementation <see cref="Decompose"/> uses here.</summary>
    public static string Implementation => Lapack.Value != 0 ? "LAPACK dsyevd (liblapack.so.3)" : "MathNet.Numerics (managed)";

    /// <summary>
    /// Eigenvalues ascending and unit eigenvectors of the n×n symmetric <paramref name="matrix"/> (row-major; only its upper
    /// triangle is read): vector m is column m of the returned row-major n×n array, i.e. <c>vectors[i·n + m]</c>.
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] matrix, int n, bool managed = false)
    {
        if (!managed && Lapack.Value != 0) return Native(matrix, n);
        var evd = Matrix<double>.Build.Dense(n, n, (i, j) => i <= j ? matrix[(long)i * n + j] : matrix[(long)j * n + i]).Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, n).OrderBy(m => evd.EigenValues[m].Real).ToArray();
        var values = order.Select(m => evd.EigenValues[m].Real).ToArray();
        var vectors = new double[(long)n * n];
        for (int c = 0; c < n; c++)
        {
            var column = evd.EigenVectors.Column(order[c]);
            for (int i = 0; i < n; i++) vectors[(long)i * n + c] = column[i];
        }
        return (values, vectors);
    }

    private static (double[], double[]) Native(double[] matrix, int n)
    {
        // gfortran's hidden lengths of the two character arguments come last.
        // LAPACK is column-major: the row-major upper triangle is the column-major lower one (uplo 'L'); the eigenvectors
        // come back as columns of a column-major array, transposed here into the row-major layout above
        var a = (double[])matrix.Clone();
        var w = new double[n];
        var f = (delegate* unmanaged<byte*, byte*, int*, double*, int*, double*, double*, int*, int*, int*, int*, nint, nint, void>)Lapack.Value;
        byte jobz = (byte)'V', uplo = (byte)'L';
        int nn = n, lda = Math.Max(1, n), lwork = -1, liwork = -1, info = 0, iworkQuery = 0;
        double workQuery = 0;
        fixed (double* pa = a)
        fixed (double* pw = w)
        {
            f(&jobz, &uplo, &nn, pa, &lda, pw, &workQuery, &lwork, &iworkQuery, &liwork, &info, 1, 1);
            if (info != 0) throw new ArithmeticException($"LAPACK dsyevd workspace query failed (info = {info}).");
            lwork = (int)workQuery;
            liwork = iworkQuery;
            var work = new double[Math.Max(1, lwork)];
            var iwork = new int[Math.Max(1, liwork)];
            fixed (double* pwork = work)
            fixed (int* piwork = iwork)
                f(&jobz, &uplo, &nn, pa, &lda, pw, pwork, &lwork, piwork, &liwork, &info, 1, 1);
        }
        if (info != 0)
            throw new ArithmeticException($"LAPACK dsyevd did not converge (info = {info}); the matrix holds non-finite values or is badly scaled.");
        var vectors = new double[(long)n * n];
        for (int c = 0; c < n; c++)
            for (int i = 0; i < n; i++)
                vectors[(long)i * n + c] = a[(long)c * n + i];
        return (w, vectors);
    }
}
