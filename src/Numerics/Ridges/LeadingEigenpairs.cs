using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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
    private readonly double[] _shifts; // the values of the scaled matrix the reduction holds, for inverse iteration

    /// <summary>
    /// Reduces <paramref name="a"/> (n×n row-major, symmetric: only its upper triangle is read; overwritten) and computes
    /// the <paramref name="count"/> largest eigenvalues (every one by default): all of them by the QL iteration, fewer by bisection on the tridiagonal
    /// matrix's Sturm counts (LAPACK's dstebz), several eigenvalues at once in vector lanes. Both are backward stable
    /// (each eigenvalue within a small multiple of u‖T‖), so the choice moves a value by rounding only.
    /// </summary>
    public LeadingEigenpairs(double[] a, int n, int count = -1)
    {
        if (count < 0 || count > n) count = n;
        _n = n;
        _reflectors = a;
        _tau = new double[Math.Max(n, 1)];
        _diagonal = new double[n];
        _offDiagonal = new double[n];
        // scaled by a power of two (exact) to a largest entry near 1: far from 1 the reflectors' norms and the Sturm counts'
        // squares would overflow or lose digits to underflow; the eigenvectors do not change and the values scale back
        double largest = 0;
        for (int i = 0; i < n; i++) // MaxMagnitude returns the entry, sign and all
            largest = Math.Max(largest, Math.Abs(TensorPrimitives.MaxMagnitude(a.AsSpan(i * n + i, n - i))));
        if (!double.IsFinite(largest))
            throw new ArithmeticException("the symmetric eigen-solver was given a non-finite value; the matrix holds a non-finite value.");
        int exponent = largest > 0 ? Math.ILogB(largest) : 0;
        if (exponent != 0)
        {
            double scale = Math.ScaleB(1.0, -exponent);
            for (int i = 0; i < n; i++) TensorPrimitives.Multiply(a.AsSpan(i * n + i, n - i), scale, a.AsSpan(i * n + i, n - i));
        }
        Tridiagonalize();
        double[] values;
        if (count < n)
            values = LargestByBisection(_diagonal, _offDiagonal, count);
        else
        {
            values = (double[])_diagonal.Clone();
            EigenvaluesQl(values, (double[])_offDiagonal.Clone());
        }
        Array.Sort(values, (x, y) => y.CompareTo(x));
        _shifts = values;
        Values = values.Select(v => Math.ScaleB(v, exponent)).ToArray();
    }

    private static readonly double RotationSine = Math.Sin(1.7), RotationCosine = Math.Cos(1.7);

    /// <summary>The eigenvalues asked for (the count largest; every one by default), descending.</summary>
    public double[] Values { get; }

    /// <summary>Writes the unit eigenvectors of the <paramref name="count"/> largest eigenvalues as rows of <paramref name="vectors"/> (count×n).</summary>
    public void Largest(int count, Span<double> vectors)
    {
        TridiagonalVectors(count, vectors);
        BackTransform(count, vectors);
    }

    /// <summary>
    /// The <paramref name="count"/> rows of <paramref name="vectors"/> from the tridiagonal basis back to the original one:
    /// z ← Q z = H_0 H_1 ⋯ H_{n−3} z, each reflector applied to every row while it is in L1 (each row sees the same
    /// operations in the same order as one at a time).
    /// </summary>
    private void BackTransform(int count, Span<double> vectors)
    {
        int n = _n;
        for (int j = n - 3; j >= 0; j--)
        {
            if (_tau[j] == 0) continue;
            var v = _reflectors.AsSpan(j * n + j + 1, n - j - 1);
            for (int i = 0; i < count; i++)
            {
                var zj = vectors.Slice(i * n + j + 1, n - j - 1);
                TensorPrimitives.MultiplyAdd(v, -_tau[j] * TensorPrimitives.Dot(v, zj), zj, zj);
            }
        }
    }

    /// <summary>
    /// x ← Σ_{i &lt; count} s_i u_i (u_iᵀ x) over the unit eigenvectors u_i of the <paramref name="count"/> largest
    /// eigenvalues, with <paramref name="scales"/> s_i: U = Q S with S the tridiagonal matrix's eigenvectors, so
    /// U diag(s) Uᵀ x = Q (S diag(s) Sᵀ (Qᵀ x)) takes x through the reflectors twice, where forming the u_i would take
    /// every one of them through.
    /// </summary>
    /// <param name="count">How many leading eigenvectors.</param>
    /// <param name="scales">count values s_i.</param>
    /// <param name="x">n values, overwritten.</param>
    /// <param name="work">count·n values of scratch.</param>
    public void ApplyLeading(int count, ReadOnlySpan<double> scales, Span<double> x, Span<double> work)
    {
        int n = _n;
        // Qᵀx = H_{n−3} ⋯ H_0 x
        for (int j = 0; j <= n - 3; j++)
        {
            if (_tau[j] == 0) continue;
            var v = _reflectors.AsSpan(j * n + j + 1, n - j - 1);
            var xj = x.Slice(j + 1, n - j - 1);
            TensorPrimitives.MultiplyAdd(v, -_tau[j] * TensorPrimitives.Dot(v, xj), xj, xj);
        }
        var s = work[..(count * n)];
        TridiagonalVectors(count, s);
        double[] coefficients = System.Buffers.ArrayPool<double>.Shared.Rent(count);
        for (int i = 0; i < count; i++) coefficients[i] = scales[i] * TensorPrimitives.Dot(s.Slice(i * n, n), x);
        x.Clear();
        for (int i = 0; i < count; i++) TensorPrimitives.MultiplyAdd(s.Slice(i * n, n), coefficients[i], x, x);
        System.Buffers.ArrayPool<double>.Shared.Return(coefficients);
        BackTransform(1, x);
    }

    /// <summary>The tridiagonal matrix's unit eigenvectors of the <paramref name="count"/> largest eigenvalues, as rows (count×n), by inverse iteration.</summary>
    private void TridiagonalVectors(int count, Span<double> vectors)
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
            double lambda = _shifts[i];
            if (i > 0 && _shifts[i - 1] - lambda > separation) clusterStart = i;
            // equal shifts would return the same vector: separate them by a few units of rounding, as dstein does
            double shift = i > clusterStart && previousShift - lambda < nudge ? previousShift - nudge : lambda;
            previousShift = shift;
            // a start with a part along every vector, 1 + sin(1.7 t + 0.3 i)/2, its sines by rotation (no call per entry)
            double sine = Math.Sin(0.3 * i), cosine = Math.Cos(0.3 * i);
            for (int t = 0; t < n; t++)
            {
                z[t] = 1 + 0.5 * sine;
                (sine, cosine) = (sine * RotationCosine + cosine * RotationSine, cosine * RotationCosine - sine * RotationSine);
            }
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
    }

    /// <summary>
    /// A ← Qᵀ A Q tridiagonal, Q = H_0 ⋯ H_{n−3}, H_j = I − τ_j v_j v_jᵀ acting on coordinates j + 1 … n − 1
    /// (the unblocked reduction of LAPACK's dsytd2, on the upper triangle's contiguous rows). Step j needs p = B v_j over
    /// its trailing block B, and step j's rank-2 update produces the next block: so the next reflector is formed from the
    /// first updated row, and each later row, once updated and still in L1, is multiplied into the next step's p right away
    /// (<see cref="UpdateAndMultiplyRow"/>). The matrix is then read once per step instead of twice. Each p entry gathers
    /// its rows' contributions in the same row order as two passes would; only the dot products' lanes are grouped
    /// differently, a change at rounding level, within the reduction's backward error.
    /// </summary>
    private void Tridiagonalize()
    {
        int n = _n;
        double[] a = _reflectors;
        var p = new double[n];
        var next = new double[n];
        bool formed = false; // step j's reflector and its product p = B v_j were formed by step j − 1's pass
        for (int j = 0; j < n - 2; j++)
        {
            int m = n - j - 1;
            if (!formed)
            {
                FormReflector(j);
                if (_tau[j] != 0) BlockProduct(j, p);
            }
            formed = false;
            if (_tau[j] == 0) continue;
            var x = a.AsSpan(j * n + j + 1, m);
            double tau = _tau[j];
            // w = τ B v − (τ/2)(τ (Bv)ᵀv) v; B ← B − v wᵀ − w vᵀ
            var w = p.AsSpan(0, m);
            TensorPrimitives.Multiply(w, tau, w);
            TensorPrimitives.MultiplyAdd(x, -0.5 * tau * TensorPrimitives.Dot(w, x), w, w);
            var first = a.AsSpan((j + 1) * n + j + 1, m);
            TensorPrimitives.MultiplyAdd(w, -x[0], first, first);
            TensorPrimitives.MultiplyAdd(x, -w[0], first, first);
            if (j + 1 < n - 2)
            {
                FormReflector(j + 1);
                formed = true;
            }
            bool fuse = formed && _tau[j + 1] != 0;
            if (fuse) next.AsSpan(0, m - 1).Clear();
            if (fuse)
            {
                // rows in pairs: the pair shares its loads of w, v, v′ and p (UpdateAndMultiplyRows)
                int r = 1;
                for (; r + 1 < m; r += 2) UpdateAndMultiplyRows(a, (j + 1 + r) * n + j + 1, n, w, x, a.AsSpan((j + 1) * n + j + 2, m - 1), next, r, m);
                if (r < m)
                {
                    var row = a.AsSpan((j + 1 + r) * n + j + 1 + r, m - r);
                    UpdateAndMultiplyRow(row, w[r..], x[r..], x[r], w[r], a.AsSpan((j + 1) * n + j + 2 + r - 1, m - r), next.AsSpan(r - 1, m - r));
                }
            }
            else
                for (int r = 1; r < m; r++)
                {
                    var row = a.AsSpan((j + 1 + r) * n + j + 1 + r, m - r);
                    TensorPrimitives.MultiplyAdd(w[r..], -x[r], row, row);
                    TensorPrimitives.MultiplyAdd(x[r..], -w[r], row, row);
                }
            if (fuse) (p, next) = (next, p);
        }
        if (n >= 2)
        {
            _diagonal[n - 2] = a[(n - 2) * n + n - 2];
            _offDiagonal[n - 2] = a[(n - 2) * n + n - 1];
        }
        if (n >= 1) _diagonal[n - 1] = a[(n - 1) * n + n - 1];
        if (n >= 1) _offDiagonal[n - 1] = 0;
    }

    /// <summary>
    /// The Householder reflector of step j from row j's part right of the diagonal (which, the trailing block being
    /// symmetric, is column j below it): sets d_j, e_j and τ_j, and leaves v_j in place (its first entry 1).
    /// </summary>
    private void FormReflector(int j)
    {
        int n = _n, m = n - j - 1;
        var x = _reflectors.AsSpan(j * n + j + 1, m);
        double alpha = x[0];
        double tailNorm = TensorPrimitives.Norm(x[1..]);
        _diagonal[j] = _reflectors[j * n + j];
        if (tailNorm == 0)
        {
            _tau[j] = 0;
            _offDiagonal[j] = alpha;
            return;
        }
        double beta = -Math.CopySign(double.Hypot(alpha, tailNorm), alpha);
        _tau[j] = (beta - alpha) / beta;
        TensorPrimitives.Divide(x[1..], alpha - beta, x[1..]);
        x[0] = 1;
        _offDiagonal[j] = beta;
    }

    /// <summary>p ← B v_j over step j's trailing block from its upper triangle (row r serves B[r, r..]·v[r..] and, by symmetry, column r below the diagonal).</summary>
    private void BlockProduct(int j, double[] p)
    {
        int n = _n, m = n - j - 1;
        double[] a = _reflectors;
        var x = a.AsSpan(j * n + j + 1, m);
        var pw = p.AsSpan(0, m);
        pw.Clear();
        for (int r = 0; r < m; r++)
        {
            var row = a.AsSpan((j + 1 + r) * n + j + 1 + r, m - r);
            pw[r] += TensorPrimitives.Dot(row, x[r..]);
            if (r + 1 < m) TensorPrimitives.MultiplyAdd(row[1..], x[r], pw[(r + 1)..], pw[(r + 1)..]);
        }
    }

    /// <summary>
    /// One row of the upper triangle through step j's update and into step j + 1's product:
    /// row ← row − w·v_r − v·w_r, then p[0] += row·v′ and p[1..] += row[1..]·v′[0] (v′, p: the next step's reflector and
    /// product, from this row's diagonal on). One pass over the row, its values in registers between the two.
    /// </summary>
    private static unsafe void UpdateAndMultiplyRow(Span<double> row, ReadOnlySpan<double> w, ReadOnlySpan<double> v, double vr, double wr,
        ReadOnlySpan<double> nextV, Span<double> nextP)
    {
        int length = row.Length;
        fixed (double* pr = row)
        fixed (double* pw = w)
        fixed (double* pv = v)
        fixed (double* pn = nextV)
        fixed (double* pp = nextP)
        {
            // entry 0 (the diagonal) contributes to the dot product only
            double r0 = Math.FusedMultiplyAdd(pv[0], -wr, Math.FusedMultiplyAdd(pw[0], -vr, pr[0]));
            pr[0] = r0;
            double scale = pn[0], dot = 0;
            int t = 1;
            if (Vector256.IsHardwareAccelerated && length - 1 >= Vector256<double>.Count)
            {
                var nvr = Vector256.Create(-vr);
                var nwr = Vector256.Create(-wr);
                var sv = Vector256.Create(scale);
                var acc = Vector256<double>.Zero;
                for (; t + Vector256<double>.Count <= length; t += Vector256<double>.Count)
                {
                    var value = Vector256.FusedMultiplyAdd(Vector256.Load(pw + t), nvr, Vector256.Load(pr + t));
                    value = Vector256.FusedMultiplyAdd(Vector256.Load(pv + t), nwr, value);
                    value.Store(pr + t);
                    acc = Vector256.FusedMultiplyAdd(value, Vector256.Load(pn + t), acc);
                    Vector256.FusedMultiplyAdd(value, sv, Vector256.Load(pp + t)).Store(pp + t);
                }
                dot = Vector256.Sum(acc);
            }
            for (; t < length; t++)
            {
                double value = Math.FusedMultiplyAdd(pv[t], -wr, Math.FusedMultiplyAdd(pw[t], -vr, pr[t]));
                pr[t] = value;
                dot = Math.FusedMultiplyAdd(value, pn[t], dot);
                pp[t] = Math.FusedMultiplyAdd(value, scale, pp[t]);
            }
            pp[0] += Math.FusedMultiplyAdd(r0, scale, dot);
        }
    }

    /// <summary>
    /// Rows r and r + 1 of the trailing block (block columns r.. and r + 1..; the block's column c is at
    /// <c>a[rowStart + c]</c> in row r, one row further in row r + 1) through <see cref="UpdateAndMultiplyRow"/>'s
    /// operations, the pair at once: each column's w, v, v′ and p are loaded once for both rows. Every entry of p gathers
    /// row r's contribution before row r + 1's, as one row at a time would.
    /// </summary>
    private static unsafe void UpdateAndMultiplyRows(double[] a, int rowStart, int n, ReadOnlySpan<double> w, ReadOnlySpan<double> v,
        ReadOnlySpan<double> nextV, Span<double> nextP, int r, int m)
    {
        fixed (double* pa = a)
        fixed (double* pw = w)
        fixed (double* pv = v)
        fixed (double* pn = nextV)
        fixed (double* pp = nextP)
        {
            double* row0 = pa + rowStart, row1 = row0 + n; // column c of the block: row0[c], row1[c]
            double vr0 = pv[r], wr0 = pw[r], vr1 = pv[r + 1], wr1 = pw[r + 1];
            double s0 = pn[r - 1], s1 = pn[r];
            // column r: row r's diagonal (dot only); column r + 1: row r (dot and p[r]) and row r + 1's diagonal (dot only)
            double e0 = Math.FusedMultiplyAdd(pv[r], -wr0, Math.FusedMultiplyAdd(pw[r], -vr0, row0[r]));
            row0[r] = e0;
            double e1 = Math.FusedMultiplyAdd(pv[r + 1], -wr0, Math.FusedMultiplyAdd(pw[r + 1], -vr0, row0[r + 1]));
            row0[r + 1] = e1;
            pp[r] = Math.FusedMultiplyAdd(e1, s0, pp[r]);
            double f1 = Math.FusedMultiplyAdd(pv[r + 1], -wr1, Math.FusedMultiplyAdd(pw[r + 1], -vr1, row1[r + 1]));
            row1[r + 1] = f1;
            double dot0 = 0, dot1 = 0;
            int c = r + 2;
            if (Vector256.IsHardwareAccelerated && m - c >= Vector256<double>.Count)
            {
                var nv0 = Vector256.Create(-vr0);
                var nw0 = Vector256.Create(-wr0);
                var nv1 = Vector256.Create(-vr1);
                var nw1 = Vector256.Create(-wr1);
                var sv0 = Vector256.Create(s0);
                var sv1 = Vector256.Create(s1);
                var acc0 = Vector256<double>.Zero;
                var acc1 = Vector256<double>.Zero;
                for (; c + Vector256<double>.Count <= m; c += Vector256<double>.Count)
                {
                    var wc = Vector256.Load(pw + c);
                    var vc = Vector256.Load(pv + c);
                    var nc = Vector256.Load(pn + c - 1);
                    var x0 = Vector256.FusedMultiplyAdd(vc, nw0, Vector256.FusedMultiplyAdd(wc, nv0, Vector256.Load(row0 + c)));
                    var x1 = Vector256.FusedMultiplyAdd(vc, nw1, Vector256.FusedMultiplyAdd(wc, nv1, Vector256.Load(row1 + c)));
                    x0.Store(row0 + c);
                    x1.Store(row1 + c);
                    acc0 = Vector256.FusedMultiplyAdd(x0, nc, acc0);
                    acc1 = Vector256.FusedMultiplyAdd(x1, nc, acc1);
                    Vector256.FusedMultiplyAdd(x1, sv1, Vector256.FusedMultiplyAdd(x0, sv0, Vector256.Load(pp + c - 1))).Store(pp + c - 1);
                }
                dot0 = Vector256.Sum(acc0);
                dot1 = Vector256.Sum(acc1);
            }
            for (; c < m; c++)
            {
                double x0 = Math.FusedMultiplyAdd(pv[c], -wr0, Math.FusedMultiplyAdd(pw[c], -vr0, row0[c]));
                double x1 = Math.FusedMultiplyAdd(pv[c], -wr1, Math.FusedMultiplyAdd(pw[c], -vr1, row1[c]));
                row0[c] = x0;
                row1[c] = x1;
                dot0 = Math.FusedMultiplyAdd(x0, pn[c - 1], dot0);
                dot1 = Math.FusedMultiplyAdd(x1, pn[c - 1], dot1);
                pp[c - 1] = Math.FusedMultiplyAdd(x1, s1, Math.FusedMultiplyAdd(x0, s0, pp[c - 1]));
            }
            dot0 = Math.FusedMultiplyAdd(e1, s1, Math.FusedMultiplyAdd(e0, s0, dot0));
            dot1 = Math.FusedMultiplyAdd(f1, s1, dot1);
            pp[r - 1] += dot0;
            pp[r] += dot1;
        }
    }

    /// <summary>
    /// The <paramref name="count"/> largest eigenvalues of the tridiagonal matrix (diagonal d, off-diagonal e) by bisection
    /// (LAPACK's dstebz): the number of eigenvalues below λ is the number of negative pivots of the LDLᵀ factorisation of
    /// T − λI, q_i = d_i − λ − e²_{i−1}/q_{i−1}, a tiny pivot replaced by −pivmin. Each eigenvalue's interval starts at the
    /// Gershgorin bounds and is halved until its width is at rounding level of ‖T‖, the same absolute accuracy as QL's;
    /// lanes of four intervals run side by side, so the divisions' latencies overlap. No FMA: the same bits on any CPU. The
    /// constructor hands it a matrix scaled to entries near 1, so the squares neither overflow nor underflow.
    /// </summary>
    internal static double[] LargestByBisection(ReadOnlySpan<double> d, ReadOnlySpan<double> e, int count)
    {
        int n = d.Length;
        var values = new double[count];
        if (count == 0) return values;
        const double eps = 1.0 / (1L << 52);
        double low = double.MaxValue, high = double.MinValue, maxE2 = 0;
        var e2 = new double[Math.Max(n, 1)];
        for (int i = 0; i < n; i++)
        {
            double radius = (i > 0 ? Math.Abs(e[i - 1]) : 0) + (i < n - 1 ? Math.Abs(e[i]) : 0);
            low = Math.Min(low, d[i] - radius);
            high = Math.Max(high, d[i] + radius);
            if (i < n - 1)
            {
                e2[i] = e[i] * e[i];
                maxE2 = Math.Max(maxE2, e2[i]);
            }
        }
        double norm = Math.Max(Math.Abs(low), Math.Abs(high));
        if (!double.IsFinite(norm))
            throw new ArithmeticException("the symmetric eigen-solver was given a non-finite value; the matrix holds a non-finite value.");
        const double tiny = 2.2250738585072014e-308; // the smallest normal double
        double pivmin = tiny / eps * Math.Max(1, maxE2); // dstebz's SAFEMN·max(1, max e²), SAFEMN = tiny/eps
        // widen past rounding so that every eigenvalue is strictly inside; the results are clamped back to the Gershgorin
        // interval, which holds every eigenvalue (so a zero or diagonal matrix's values come out exact)
        double lowest = low, highest = high;
        double widen = 2 * eps * norm * n + 2 * pivmin;
        low -= widen;
        high += widen;
        double tolerance = 2 * eps * norm + 2 * pivmin;
        // halvings to take the Gershgorin interval to the tolerance (the same for every lane); halves of the bounds, so a
        // width near the largest double does not overflow (at most about 2100 halvings span every double)
        double halfWidth = 0.5 * high - 0.5 * low;
        int halvings = (int)Math.Min(2200, Math.Ceiling(Math.Log2(Math.Max(halfWidth / (0.5 * tolerance), 1))) + 1);
        int lanes = Vector256<double>.Count, groups = (count + lanes - 1) / lanes;
        Span<Vector256<double>> lo = stackalloc Vector256<double>[groups], hi = stackalloc Vector256<double>[groups];
        Span<Vector256<double>> q = stackalloc Vector256<double>[groups], mid = stackalloc Vector256<double>[groups];
        Span<Vector256<long>> below = stackalloc Vector256<long>[groups], target = stackalloc Vector256<long>[groups];
        Span<long> index = stackalloc long[lanes];
        for (int g = 0; g < groups; g++)
        {
            lo[g] = Vector256.Create(low);
            hi[g] = Vector256.Create(high);
            // lane l of group g seeks the (g·lanes + l)-th largest, n − 1 − that in ascending order (lanes past count repeat the last)
            for (int l = 0; l < lanes; l++) index[l] = n - 1 - Math.Min(g * lanes + l, count - 1);
            target[g] = Vector256.Create(index[0], index[1], index[2], index[3]);
        }
        var negPivmin = Vector256.Create(-pivmin);
        var pivminV = Vector256.Create(pivmin);
        var half = Vector256.Create(0.5);
        for (int step = 0; step < halvings; step++)
        {
            for (int g = 0; g < groups; g++)
            {
                mid[g] = lo[g] * half + hi[g] * half; // halves first: no overflow near the largest double
                below[g] = Vector256<long>.Zero;
            }
            for (int i = 0; i < n; i++)
            {
                var di = Vector256.Create(d[i]);
                var ei = Vector256.Create(i > 0 ? e2[i - 1] : 0);
                for (int g = 0; g < groups; g++)
                {
                    var value = i > 0 ? di - mid[g] - ei / q[g] : di - mid[g];
                    value = Vector256.ConditionalSelect(Vector256.LessThan(Vector256.Abs(value), pivminV), negPivmin, value);
                    q[g] = value;
                    below[g] -= Vector256.LessThan(value, Vector256<double>.Zero).AsInt64();
                }
            }
            // at most target eigenvalues below mid: the sought one is at or above it
            for (int g = 0; g < groups; g++)
            {
                var up = Vector256.LessThanOrEqual(below[g], target[g]).AsDouble();
                lo[g] = Vector256.ConditionalSelect(up, mid[g], lo[g]);
                hi[g] = Vector256.ConditionalSelect(up, hi[g], mid[g]);
            }
        }
        for (int i = 0; i < count; i++)
        {
            int g = i / lanes, l = i % lanes;
            values[i] = Math.Clamp(0.5 * lo[g].GetElement(l) + 0.5 * hi[g].GetElement(l), lowest, highest);
        }
        return values;
    }

    /// <summary>
    /// The eigenvalues of the tridiagonal matrix (d, e) in place in d, by the implicit QL iteration (tqli, no vectors). An
    /// off-diagonal entry splits the matrix when it is at rounding level of its two diagonal neighbours, or of ‖T‖: the
    /// second (a backward error of u‖T‖, within the reduction's own) lets a block of rounding noise below much larger
    /// entries, as a strongly graded matrix leaves it, deflate at once instead of stalling QL.
    /// </summary>
    private static void EigenvaluesQl(double[] d, double[] e)
    {
        int n = d.Length;
        double norm = 0;
        for (int i = 0; i < n; i++) norm = Math.Max(norm, Math.Abs(d[i]) + Math.Abs(e[i]) + (i > 0 ? Math.Abs(e[i - 1]) : 0));
        double floor = (1.0 / (1L << 52)) * norm;
        for (int l = 0; l < n; l++)
        {
            for (int iteration = 0; ; iteration++)
            {
                int m;
                for (m = l; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= (1.0 / (1L << 52)) * dd || Math.Abs(e[m]) <= floor) break;
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
            double scale = Math.Abs(TensorPrimitives.MaxMagnitude(z)); // MaxMagnitude keeps the sign
            if (scale > 1e150) TensorPrimitives.Divide(z, scale, z);
        }
    }
}
