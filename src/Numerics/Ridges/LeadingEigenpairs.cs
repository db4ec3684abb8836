using System.Numerics.Tensors;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// The leading eigenpairs of a small dense symmetric matrix, in double, for the Hessian's reduced problems: Householder
/// tridiagonalisation (the rank-2 updates on contiguous rows, vectorised), every eigenvalue by the implicit QL
/// iteration without vectors, then only the requested eigenvectors by inverse iteration on the tridiagonal matrix
/// (re-orthogonalised within clusters, as LAPACK's dstein does) and back-transformation. Forming k of n vectors costs
/// O(n³) for the reduction plus O(k n²), where a full decomposition with every vector costs several n³ more.
/// </summary>
internal sealed class LeadingEigenpairs
{
    private readonly int _n;
    private readonly double[] _reflectors; // row j holds v_j in columns j + 1 … n − 1 (v_j[j + 1] = 1 implicitly stored)
    private readonly double[] _tau, _diagonal, _offDiagonal;

    /// <summary>Reduces <paramref name="a"/> (n×n row-major, symmetric; overwritten) and computes every eigenvalue.</summary>
    public LeadingEigenpairs(double[] a, int n)
    {
        _n = n;
        _reflectors = a;
        _tau = new double[Math.Max(n, 1)];
        _diagonal = new double[n];
        _offDiagonal = new double[n];
        Tridiagonalize();
        var values = (double[])_diagonal.Clone();
        var off = (double[])_offDiagonal.Clone();
        EigenvaluesQl(values, off);
        Array.Sort(values, (x, y) => y.CompareTo(x));
        Values = values;
    }

    /// <summary>Every eigenvalue, descending.</summary>
    public double[] Values { get; }

    /// <summary>Writes the unit eigenvectors of the <paramref name="count"/> largest eigenvalues as rows of <paramref name="vectors"/> (count×n).</summary>
    public void Largest(int count, Span<double> vectors)
    {
        int n = _n;
        double norm = 0;
        for (int i = 0; i < n; i++) norm = Math.Max(norm, Math.Abs(_diagonal[i]) + Math.Abs(_offDiagonal[i]) + (i > 0 ? Math.Abs(_offDiagonal[i - 1]) : 0));
        const double eps = 1.0 / (1L << 52);
        double separation = 1e-3 * norm;           // eigenvalues closer than this share a cluster: orthogonalise within it
        double nudge = 10 * eps * Math.Max(norm, double.Epsilon);
        var work = new TridiagonalSolver(n);
        int clusterStart = 0;
        double previousShift = double.NaN;
        for (int i = 0; i < count; i++)
        {
            var z = vectors.Slice(i * n, n);
            double lambda = Values[i];
            if (i > 0 && Values[i - 1] - lambda > separation) clusterStart = i;
            // equal shifts would return the same vector: separate them by a few units of rounding, as dstein does
            double shift = i > clusterStart && previousShift - lambda < nudge ? previousShift - nudge : lambda;
            previousShift = shift;
            for (int t = 0; t < n; t++) z[t] = 1 + 0.5 * Math.Sin(1.7 * t + 0.3 * i); // a start with a part along every vector
            work.Factor(_diagonal, _offDiagonal, shift, nudge);
            for (int iteration = 0; iteration < 3; iteration++)
            {
                work.Solve(z);
                for (int j = clusterStart; j < i; j++)
                {
                    var w = vectors.Slice(j * n, n);
                    TensorPrimitives.MultiplyAdd(w, -TensorPrimitives.Dot(w, z), z, z);
                }
                double length = TensorPrimitives.Norm(z);
                if (!(length > 0) || !double.IsFinite(length))
                {
                    z.Clear();
                    z[i % n] = 1;
                    length = 1;
                }
                TensorPrimitives.Divide(z, length, z);
            }
        }
        // back to the original basis: z ← H_0 H_1 ⋯ H_{n−3} z
        for (int i = 0; i < count; i++)
        {
            var z = vectors.Slice(i * n, n);
            for (int j = n - 3; j >= 0; j--)
            {
                if (_tau[j] == 0) continue;
                var v = _reflectors.AsSpan(j * n + j + 1, n - j - 1);
                var zj = z[(j + 1)..];
                TensorPrimitives.MultiplyAdd(v, -_tau[j] * TensorPrimitives.Dot(v, zj), zj, zj);
            }
        }
    }

    /// <summary>
    /// A ← Qᵀ A Q tridiagonal, Q = H_0 ⋯ H_{n−3}, H_j = I − τ_j v_j v_jᵀ acting on coordinates j + 1 … n − 1
    /// (the unblocked reduction of LAPACK's dsytd2, on full rows so every update is a contiguous FMA).
    /// </summary>
    private void Tridiagonalize()
    {
        int n = _n;
        double[] a = _reflectors;
        var p = new double[n];
        for (int j = 0; j < n - 2; j++)
        {
            int m = n - j - 1;
            var x = a.AsSpan(j * n + j + 1, m);
            double alpha = x[0];
            double tailNorm = TensorPrimitives.Norm(x[1..]);
            _diagonal[j] = a[j * n + j];
            if (tailNorm == 0)
            {
                _tau[j] = 0;
                _offDiagonal[j] = alpha;
                continue;
            }
            double beta = -Math.CopySign(double.Hypot(alpha, tailNorm), alpha);
            _tau[j] = (beta - alpha) / beta;
            TensorPrimitives.Divide(x[1..], alpha - beta, x[1..]);
            x[0] = 1;
            _offDiagonal[j] = beta;
            // trailing block B = A[j+1.., j+1..], its upper triangle only (row tails are contiguous; the next step's
            // column is the next row's tail): p = τ B v, w = p − (τ/2)(pᵀv) v, B ← B − v wᵀ − w vᵀ
            var pw = p.AsSpan(0, m);
            pw.Clear();
            for (int r = 0; r < m; r++)
            {
                // row r of the upper triangle serves B[r, r..]·v[r..] and, by symmetry, column r below the diagonal
                var row = a.AsSpan((j + 1 + r) * n + j + 1 + r, m - r);
                pw[r] += TensorPrimitives.Dot(row, x[r..]);
                if (r + 1 < m) TensorPrimitives.MultiplyAdd(row[1..], x[r], pw[(r + 1)..], pw[(r + 1)..]);
            }
            TensorPrimitives.Multiply(pw, _tau[j], pw);
            TensorPrimitives.MultiplyAdd(x, -0.5 * _tau[j] * TensorPrimitives.Dot(pw, x), pw, pw);
            for (int r = 0; r < m; r++)
            {
                var row = a.AsSpan((j + 1 + r) * n + j + 1 + r, m - r);
                TensorPrimitives.MultiplyAdd(pw[r..], -x[r], row, row);
                TensorPrimitives.MultiplyAdd(x[r..], -pw[r], row, row);
            }
        }
        if (n >= 2)
        {
            _diagonal[n - 2] = a[(n - 2) * n + n - 2];
            _offDiagonal[n - 2] = a[(n - 2) * n + n - 1];
        }
        if (n >= 1) _diagonal[n - 1] = a[(n - 1) * n + n - 1];
        if (n >= 1) _offDiagonal[n - 1] = 0;
    }

    /// <summary>The eigenvalues of the tridiagonal matrix (d, e) in place in d, by the implicit QL iteration (tqli, no vectors).</summary>
    private static void EigenvaluesQl(double[] d, double[] e)
    {
        int n = d.Length;
        for (int l = 0; l < n; l++)
        {
            for (int iteration = 0; ; iteration++)
            {
                int m;
                for (m = l; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= (1.0 / (1L << 52)) * dd) break;
                }
                if (m == l) break;
                if (iteration == 60)
                    throw new ArithmeticException("the symmetric eigen-solver did not converge in 60 QL sweeps; the matrix holds a non-finite value.");
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = double.Hypot(g, 1);
                g = d[m] - d[l] + e[l] / (g + Math.CopySign(r, g));
                double s = 1, c = 1, pp = 0;
                int i;
                for (i = m - 1; i >= l; i--)
                {
                    double f = s * e[i], b = c * e[i];
                    e[i + 1] = r = double.Hypot(f, g);
                    if (r == 0)
                    {
                        d[i + 1] -= pp;
                        e[m] = 0;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = d[i + 1] - pp;
                    r = (d[i] - g) * s + 2 * c * b;
                    d[i + 1] = g + (pp = s * r);
                    g = c * r - b;
                }
                if (r == 0 && i >= l) continue;
                d[l] -= pp;
                e[l] = g;
                e[m] = 0;
            }
        }
    }

    /// <summary>LU with partial pivoting of T − λI for tridiagonal T (the elimination of LAPACK's dlagtf), then solves.</summary>
    private sealed class TridiagonalSolver(int n)
    {
        private readonly double[] _lower = new double[n], _main = new double[n], _upper = new double[n], _upper2 = new double[n];
        private readonly bool[] _swapped = new bool[n];

        public void Factor(double[] diagonal, double[] off, double shift, double tiny)
        {
            for (int i = 0; i < n; i++)
            {
                _main[i] = diagonal[i] - shift;
                _upper[i] = i < n - 1 ? off[i] : 0;
                _upper2[i] = 0;
            }
            for (int i = 0; i < n - 1; i++)
            {
                double below = off[i];
                if (Math.Abs(_main[i]) >= Math.Abs(below))
                {
                    _swapped[i] = false;
                    double factor = _main[i] == 0 ? 0 : below / _main[i];
                    _lower[i] = factor;
                    _main[i + 1] -= factor * _upper[i];
                }
                else
                {
                    // swap rows i and i + 1
                    _swapped[i] = true;
                    double factor = _main[i] / below;
                    _lower[i] = factor;
                    double nextMain = _main[i + 1], nextUpper = i + 1 < n - 1 ? _upper[i + 1] : 0;
                    _main[i] = below;
                    double oldUpper = _upper[i];
                    _upper[i] = nextMain;
                    _upper2[i] = nextUpper;
                    _main[i + 1] = oldUpper - factor * nextMain;
                    if (i + 1 < n - 1) _upper[i + 1] = -factor * nextUpper;
                }
            }
            for (int i = 0; i < n; i++)
                if (Math.Abs(_main[i]) < tiny) _main[i] = Math.CopySign(tiny, _main[i] == 0 ? 1 : _main[i]);
        }

        public void Solve(Span<double> z)
        {
            for (int i = 0; i < n - 1; i++)
            {
                if (_swapped[i]) (z[i], z[i + 1]) = (z[i + 1], z[i]);
                z[i + 1] -= _lower[i] * z[i];
            }
            for (int i = n - 1; i >= 0; i--)
            {
                double t = z[i];
                if (i + 1 < n) t -= _upper[i] * z[i + 1];
                if (i + 2 < n) t -= _upper2[i] * z[i + 2];
                z[i] = t / _main[i];
            }
            // keep the growth finite: inverse iteration only needs the direction
            double scale = TensorPrimitives.MaxMagnitude(z);
            if (scale > 1e150) TensorPrimitives.Divide(z, scale, z);
        }
    }
}
