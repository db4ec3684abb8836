using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// The Hessian of the empirical log-density at one query in low-rank form (DESIGN.md §2, §5):
/// <c>H = ∇²ℓ(x) = (α²/σ⁴) C(x) − I/σ² = FᵀF − I/σ²</c>, with the r×D factor F whose rows are
/// <c>f_j = √w_j · α (y_j − m)/σ²</c> over the kept points (the heaviest within the negligible cut-off of the largest
/// logit, less the lightest while the dropped mass stays within <see cref="DroppedMassBound"/>, at most the rank cap of
/// them), their weights <c>w_j</c> normalised over the kept points and m their weighted mean. Every
/// eigenvalue outside span(F) is exactly <c>−1/σ²</c>, so the eigenproblem is r×r however large D is.
/// Build it with <see cref="Hessian.Factor{T}"/>.
/// </summary>
public sealed class HessianFactor
{
    private readonly double[] _rows, _weights, _mean, _score;
    private readonly int[] _indices;
    private readonly int _rank, _points;

    /// <summary>
    /// A factor over the first <paramref name="rank"/> rows and <paramref name="points"/> kept points of the arrays given
    /// (which may be longer: a pass's reused buffers).
    /// </summary>
    internal HessianFactor(int dimension, NoiseLevel level, int rank, int points, double[] rows, double[] weights, int[] indices,
        double[] mean, double[] score, bool capped, double droppedMass, double droppedMassBound)
    {
        _rank = rank;
        _points = points;
        _score = score;
        Dimension = dimension;
        Level = level;
        _rows = rows;
        _weights = weights;
        _indices = indices;
        _mean = mean;
        Capped = capped;
        DroppedMass = droppedMass;
        DroppedMassBound = droppedMassBound;
    }

    /// <summary>D.</summary>
    public int Dimension { get; }

    /// <summary>The noise level the factor was formed at.</summary>
    public NoiseLevel Level { get; }

    /// <summary>
    /// r, the number of rows of F: one per kept point (the rank of H + I/σ² is then at most r − 1, the rows summing to 0
    /// with weights √w), or D when more points than the cap were kept and D is within it (<see cref="IsSquareRoot"/>).
    /// </summary>
    public int Rank => _rank;

    /// <summary>
    /// True when F is the D×D square root diag(√μ)Vᵀ of the second moment summed densely over every kept point (more
    /// points were kept than the cap, and D is within it), so its rows are not points; false when each row is one point.
    /// </summary>
    public bool IsSquareRoot => _rank != _points; // a square root is used only when more than D points were kept

    /// <summary>F, r×D row-major in double.</summary>
    public ReadOnlySpan<double> Rows => _rows.AsSpan(0, _rank * Dimension);

    /// <summary>Row j of F.</summary>
    public ReadOnlySpan<double> Row(int j) => _rows.AsSpan(j * Dimension, Dimension);

    /// <summary>The kept points' weights, normalised over them (sum 1), largest first (in the order of the rows unless <see cref="IsSquareRoot"/>).</summary>
    public ReadOnlySpan<double> Weights => _weights.AsSpan(0, _points);

    /// <summary>The kept points' indices in the training set, largest weight first (in the order of the rows unless <see cref="IsSquareRoot"/>).</summary>
    public ReadOnlySpan<int> Indices => _indices.AsSpan(0, _points);

    /// <summary>m, the weighted mean of the kept points (the denoiser up to the dropped mass), D values.</summary>
    public ReadOnlySpan<double> Mean => _mean.AsSpan(0, Dimension);

    /// <summary>
    /// g = ∇ℓ at the query from the kept points, <c>Σ w_j (α y_j − x)/σ²</c> in double (each displacement by one FMA, so
    /// no cancellation of αm against x): the score up to the dropped mass, D values.
    /// </summary>
    public ReadOnlySpan<double> Score => _score.AsSpan(0, Dimension);

    /// <summary>A copy that owns arrays of its own size (a factor built over a pass's reused buffers must be detached to outlive it).</summary>
    internal HessianFactor Detach() =>
        new(Dimension, Level, _rank, _points, Rows.ToArray(), Weights.ToArray(), Indices.ToArray(), Mean.ToArray(), Score.ToArray(), Capped, DroppedMass, DroppedMassBound);

    /// <summary>
    /// True when more points were kept (within the cut-off, after the truncation of the lightest) than the rank cap allowed
    /// and D exceeds the cap, so the lightest of them were dropped too and <see cref="DroppedMass"/> may pass
    /// <see cref="DroppedMassBound"/> (where D is within the cap the factor is a square root over all of them instead:
    /// <see cref="IsSquareRoot"/>).
    /// </summary>
    public bool Capped { get; }

    /// <summary>
    /// The weight of the evaluated points left out (past the cut-off, the lightest within it, or past the cap), relative to
    /// all evaluated, in double; within <see cref="DroppedMassBound"/> unless <see cref="Capped"/>. The points a backend's
    /// screen ruled out unevaluated (<see cref="IScoreBackend.Screen"/>) are each below e^{−c}/2 of the largest weight.
    /// </summary>
    public double DroppedMass { get; }

    /// <summary>
    /// N·e^{−c} (at most 1), c = <see cref="ScorePartials.NegligibleLogit{T}"/>: unless <see cref="Capped"/>, every point
    /// left out (evaluated or not) together weighs at most this much of the whole set's weight. Half of it is the
    /// a-priori bound on the points past c + ln 2, the rest is spent on the lightest points within it
    /// (<see cref="Hessian.Factor{T}"/>).
    /// </summary>
    public double DroppedMassBound { get; }

    /// <summary>−1/σ², the eigenvalue of every direction orthogonal to span(F).</summary>
    public double OffSpanEigenvalue => -1 / Level.Sigma / Level.Sigma;

    /// <summary>result ← H v = Fᵀ(F v) − v/σ², in O(rD).</summary>
    /// <param name="v">D values.</param>
    /// <param name="result">D values; may not overlap <paramref name="v"/>.</param>
    public void Multiply(ReadOnlySpan<double> v, Span<double> result)
    {
        int d = Dimension;
        if (v.Length != d) throw new ArgumentException($"v has {v.Length} values but the Hessian is {d}×{d}; pass D = {d} values.", nameof(v));
        if (result.Length != d) throw new ArgumentException($"result has {result.Length} values but the Hessian is {d}×{d}; pass D = {d} values.", nameof(result));
        if (v.Overlaps(result)) throw new ArgumentException("result overlaps v; use a separate buffer.", nameof(result));
        double inv = 1 / Level.Sigma / Level.Sigma;
        for (int k = 0; k < d; k++) result[k] = -v[k] * inv;
        for (int j = 0; j < Rank; j++)
        {
            var f = Row(j);
            double t = Dot(f, v);
            AddScaled(f, t, result);
        }
    }

    /// <summary>Writes H, D×D row-major (for small D: it is O(rD²)).</summary>
    /// <param name="h">At least D² values.</param>
    public void Dense(Span<double> h)
    {
        int d = Dimension;
        if (h.Length < (long)d * d) throw new ArgumentException($"h has {h.Length} values but the Hessian is {d}×{d}; pass at least {(long)d * d}.", nameof(h));
        h = h[..(d * d)];
        h.Clear();
        for (int j = 0; j < Rank; j++)
        {
            var f = Row(j);
            for (int a = 0; a < d; a++) AddScaled(f, f[a], h.Slice(a * d, d));
        }
        double inv = 1 / Level.Sigma / Level.Sigma;
        for (int a = 0; a < d; a++) h[a * d + a] -= inv;
    }

    /// <summary>H as a new D×D row-major array.</summary>
    public double[] Dense()
    {
        var h = new double[Dimension * Dimension];
        Dense(h);
        return h;
    }

    /// <summary>
    /// The k largest (<paramref name="largest"/> true) or k smallest eigenvalues of H in descending order, with unit
    /// eigenvectors, from the smaller of two symmetric problems: the r×r Gram matrix G = F Fᵀ when r &lt; D (G u = μ u
    /// gives λ = μ − 1/σ² with v = Fᵀu/√μ), the D×D matrix FᵀF otherwise. Past the numerical rank of F the eigenvalue is
    /// exactly −1/σ² and the vectors are an orthonormal completion (Householder QR of the span's vectors: Q's columns past
    /// the span); any orthonormal basis of that eigenspace is as good.
    /// </summary>
    /// <param name="k">How many, in [1, D].</param>
    /// <param name="largest">True for the top k, false for the bottom k.</param>
    public HessianEigen Eigen(int k, bool largest = true)
    {
        int d = Dimension;
        if (k < 1 || k > d) throw new ArgumentOutOfRangeException(nameof(k), k, $"k = {k}; ask for between 1 and D = {d} eigenpairs.");
        var values = new double[k];
        var vectors = new double[k * d];
        EigenInto(k, largest, values, vectors);
        return new HessianEigen(values, vectors, d);
    }

    /// <summary><see cref="Eigen"/> into caller buffers (k values, k×D vectors), its temporaries pooled: the ridge passes call it per query.</summary>
    internal void EigenInto(int k, bool largest, Span<double> values, Span<double> vectors)
    {
        int d = Dimension;
        double floor = OffSpanEigenvalue;
        // the spectrum of FᵀF (D×D when D ≤ r) or of the Gram matrix F Fᵀ (r×r), descending; directions with μ at
        // rounding level belong to the −1/σ² eigenspace and take that value exactly
        bool dense = d <= Rank;
        int size = dense ? d : Rank;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] matrix = pool.Rent(Math.Max(size * size, 1));
        if (dense) CrossProduct(matrix);
        else Gram(matrix);
        // the top k need only the top k eigenvalues (a span narrower than k is seen within them); the bottom k need p, so all
        var solver = new LeadingEigenpairs(matrix, size, largest ? Math.Min(k, size) : size);
        var mu = solver.Values;
        int p = SpanRank(mu);
        // descending spectrum: p span pairs, then D − p copies of −1/σ²; only the span vectors asked for are formed
        // (the completion needs all p, to be orthogonal to the span)
        int first = largest ? 0 : d - k;
        int completions = Math.Max(0, first + k - Math.Max(p, first));
        int needed = completions > 0 ? p : Math.Min(p, first + k);
        double[] spanVectors = pool.Rent(Math.Max(needed * d, 1));
        double[] u = dense ? spanVectors : pool.Rent(Math.Max(needed * size, 1));
        solver.Largest(needed, u);
        pool.Return(matrix);
        for (int i = 0; i < needed; i++)
        {
            var v = spanVectors.AsSpan(i * d, d);
            if (!dense)
            {
                v.Clear();
                for (int j = 0; j < Rank; j++) AddScaled(Row(j), u[i * size + j], v);
                Normalize(v);
            }
            // Fᵀu/√μ errs by about u·μ_max/μ in direction: re-orthogonalise against the larger pairs
            Reorthogonalize(spanVectors, i, v);
        }
        for (int i = 0; i < k; i++)
        {
            int index = first + i;
            if (index < p)
            {
                values[i] = mu[index] + floor;
                spanVectors.AsSpan(index * d, d).CopyTo(vectors.Slice(i * d, d));
            }
            else values[i] = floor;
        }
        if (completions > 0)
        {
            // the completion vectors are the last ones in either order; orthogonal to span(F) and to each other
            Complete(spanVectors, p, vectors, k - completions, completions);
        }
        if (!dense) pool.Return(u);
        pool.Return(spanVectors);
    }

    /// <summary>
    /// The top <paramref name="dimension"/> + 1 eigenvalues of H, descending, and the normal part n = g − V_d V_dᵀ g of
    /// <paramref name="g"/> (V_d the top-d eigenvectors), without forming those eigenvectors in D where r &lt; D: with
    /// G = F Fᵀ = U M Uᵀ the span's vectors are Fᵀu_i/√μ_i, so V_d V_dᵀ g = Fᵀ U_d M_d⁻¹ U_dᵀ (F g), two passes over F.
    /// Where the span has fewer than d directions, V_d is the span followed by the first of its orthonormal completion
    /// (as <see cref="Eigen"/> gives it), Q's first d columns in the Householder QR of the span's vectors, and n = Q t with
    /// t = Qᵀg zeroed in its first d entries: O(pD) for a span of p, never the d − p completion vectors themselves.
    /// </summary>
    /// <param name="dimension">d, in [1, D).</param>
    /// <param name="g">D values.</param>
    /// <param name="values">d + 1 values.</param>
    /// <param name="normal">D values.</param>
    internal void NormalPart(int dimension, ReadOnlySpan<double> g, Span<double> values, Span<double> normal)
    {
        int d = Dimension, r = Rank, k = dimension + 1;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        if (d <= r)
        {
            // FᵀF is the smaller problem (small D): the eigenvectors in D are cheap
            double[] vectors = pool.Rent(k * d);
            EigenInto(k, largest: true, values, vectors);
            g.CopyTo(normal);
            for (int i = 0; i < dimension; i++)
            {
                var v = vectors.AsSpan(i * d, d);
                AddScaled(v, -Dot(v, g), normal);
            }
            pool.Return(vectors);
            return;
        }
        double[] matrix = pool.Rent(Math.Max(r * r, 1));
        Gram(matrix);
        // only the top d + 1 eigenvalues are used (a span narrower than that is seen within them)
        var solver = new LeadingEigenpairs(matrix, r, Math.Min(k, r)); // keeps its reflectors in matrix: returned at the end
        var mu = solver.Values;
        int p = SpanRank(mu);
        double floor = OffSpanEigenvalue;
        for (int i = 0; i < k; i++) values[i] = i < p ? mu[i] + floor : floor;
        g.CopyTo(normal);
        if (p >= dimension)
        {
            // z = U_d M_d⁻¹ U_dᵀ (F g), applied through the reduction's reflectors (the d vectors u_i are never formed)
            double[] work = pool.Rent(dimension * r), z = pool.Rent(r), inverse = pool.Rent(dimension);
            for (int i = 0; i < dimension; i++) inverse[i] = 1 / mu[i];
            for (int j = 0; j < r; j++) z[j] = Dot(Row(j), g);
            solver.ApplyLeading(dimension, inverse, z.AsSpan(0, r), work);
            for (int j = 0; j < r; j++) AddScaled(Row(j), -z[j], normal);
            pool.Return(work);
            pool.Return(z);
            pool.Return(inverse);
            pool.Return(matrix);
            return;
        }
        // fewer span directions than d: n = Q (0, …, 0, t_d, …) with t = Qᵀg
        double[] span = pool.Rent(Math.Max(p * d, 1));
        SpanVectors(solver, p, span);
        double[] reflectors = pool.Rent(Math.Max(p * d, 1));
        Reflectors(span, p, reflectors);
        for (int i = 0; i < p; i++) Reflect(reflectors.AsSpan(i * d, d), i, normal);
        normal[..dimension].Clear();
        for (int i = p - 1; i >= 0; i--) Reflect(reflectors.AsSpan(i * d, d), i, normal);
        pool.Return(span);
        pool.Return(reflectors);
        pool.Return(matrix);
    }

    /// <summary>p, the numerical rank of F: the leading μ above rounding level (the rest belong to the −1/σ² eigenspace).</summary>
    private int SpanRank(double[] mu)
    {
        int p = 0;
        double tol = (mu.Length > 0 ? mu[0] : 0) * Math.Max(Math.Min(Rank, Dimension), 1) * 64 * (1.0 / (1L << 52));
        while (p < mu.Length && mu[p] > tol) p++;
        return p;
    }

    /// <summary>
    /// The first <paramref name="count"/> span vectors Fᵀu_i/√μ_i of the Gram problem, unit, each re-orthogonalised
    /// against the larger ones (Fᵀu/√μ errs by about u·μ_max/μ in direction; twice is enough).
    /// </summary>
    private void SpanVectors(LeadingEigenpairs solver, int count, Span<double> vectors)
    {
        int d = Dimension, r = Rank;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] u = pool.Rent(Math.Max(count * r, 1));
        solver.Largest(count, u);
        for (int i = 0; i < count; i++)
        {
            var v = vectors.Slice(i * d, d);
            v.Clear();
            for (int j = 0; j < r; j++) AddScaled(Row(j), u[i * r + j], v);
            Normalize(v);
            Reorthogonalize(vectors, i, v);
        }
        pool.Return(u);
    }

    /// <summary>v made orthogonal to the first <paramref name="count"/> rows of <paramref name="vectors"/>, twice, and unit.</summary>
    private void Reorthogonalize(Span<double> vectors, int count, Span<double> v)
    {
        int d = Dimension;
        for (int pass = 0; pass < 2; pass++)
        {
            for (int l = 0; l < count; l++)
            {
                var w = vectors.Slice(l * d, d);
                AddScaled(w, -Dot(w, v), v);
            }
            Normalize(v);
        }
    }

    /// <summary>
    /// The upper triangle of G = F Fᵀ, r×r row-major, into <paramref name="g"/> (all the eigen-solver reads). With 512-bit
    /// vectors and r ≥ 24, F's rows are packed as features in panels of eight (<see cref="Models.SymmetricRankUpdate{T}"/>'s
    /// layout, the random-feature fit's syrk: its 8×24 register tiles feed 24 multiply-adds from three loads and eight
    /// broadcasts, and reduce no sum across lanes), each entry one lane's sum over the D columns in order; otherwise in
    /// 4×4 blocks of dot products (<see cref="GramByDots"/>).
    /// </summary>
    private void Gram(double[] g)
    {
        int r = Rank, d = Dimension, w = Vector512<double>.Count;
        if (!Vector512.IsHardwareAccelerated || r < 3 * w)
        {
            GramByDots(g);
            return;
        }
        // panel q holds rows q·w … q·w + w − 1 column by column (zero past r), and two zero panels follow the last
        int panels = (r + w - 1) / w, stored = panels + Models.SymmetricRankUpdate<double>.TilePanels - 1;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] packed = pool.Rent(stored * d * w);
        packed.AsSpan((r / w) * d * w, (stored - r / w) * d * w).Clear();
        unsafe
        {
            fixed (double* f = _rows)
            fixed (double* pp = packed)
                for (int i0 = 0; i0 < r; i0 += w)
                {
                    // a panel's rows side by side, written in order
                    int rows = Math.Min(w, r - i0);
                    double* panel = pp + (long)i0 * d;
                    for (int lane = 0; lane < rows; lane++)
                    {
                        double* row = f + (long)(i0 + lane) * d;
                        for (int k = 0; k < d; k++) panel[k * w + lane] = row[k];
                    }
                }
        }
        g.AsSpan(0, r * r).Clear();
        Models.SymmetricRankUpdate<double>.Update(packed, panels, d, d, r, g, maxDegreeOfParallelism: 1);
        pool.Return(packed);
    }

    /// <summary>
    /// The upper triangle of G = F Fᵀ in 4×4 blocks of dot products (each row of F loaded once per block serves four dot
    /// products; sixteen independent sums): where the packed tiles do not apply.
    /// </summary>
    private void GramByDots(double[] g)
    {
        int r = Rank, i0 = 0;
        for (; i0 + 4 <= r; i0 += 4)
        {
            int j0 = 0;
            for (; j0 + 4 <= i0 + 4; j0 += 4) GramBlock(g, i0, j0);
            for (int i = i0; i < i0 + 4; i++)
                for (int j = j0; j <= i; j++) g[j * r + i] = Dot(Row(i), Row(j));
        }
        for (int i = i0; i < r; i++)
            for (int j = 0; j <= i; j++) g[j * r + i] = Dot(Row(i), Row(j));
    }

    /// <summary>The 4×4 block of G at rows i0.., columns j0.. (sixteen dot products over D, one pass, sums in registers).</summary>
    private unsafe void GramBlock(double[] g, int i0, int j0)
    {
        int r = Rank, d = Dimension, k = 0;
        Span<double> sums = stackalloc double[16];
        fixed (double* f = _rows)
        {
            double* a0 = f + i0 * d, a1 = a0 + d, a2 = a1 + d, a3 = a2 + d;
            double* b0 = f + j0 * d, b1 = b0 + d, b2 = b1 + d, b3 = b2 + d;
            // four lanes: a factor this narrow (or a machine without 512-bit vectors) has too few rows for the packed tiles
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<double> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
                Vector256<double> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
                for (; k + 4 <= d; k += 4)
                {
                    var x0 = Vector256.Load(a0 + k); var x1 = Vector256.Load(a1 + k); var x2 = Vector256.Load(a2 + k); var x3 = Vector256.Load(a3 + k);
                    var y = Vector256.Load(b0 + k);
                    s00 = Vector256.FusedMultiplyAdd(x0, y, s00); s10 = Vector256.FusedMultiplyAdd(x1, y, s10);
                    s20 = Vector256.FusedMultiplyAdd(x2, y, s20); s30 = Vector256.FusedMultiplyAdd(x3, y, s30);
                    y = Vector256.Load(b1 + k);
                    s01 = Vector256.FusedMultiplyAdd(x0, y, s01); s11 = Vector256.FusedMultiplyAdd(x1, y, s11);
                    s21 = Vector256.FusedMultiplyAdd(x2, y, s21); s31 = Vector256.FusedMultiplyAdd(x3, y, s31);
                    y = Vector256.Load(b2 + k);
                    s02 = Vector256.FusedMultiplyAdd(x0, y, s02); s12 = Vector256.FusedMultiplyAdd(x1, y, s12);
                    s22 = Vector256.FusedMultiplyAdd(x2, y, s22); s32 = Vector256.FusedMultiplyAdd(x3, y, s32);
                    y = Vector256.Load(b3 + k);
                    s03 = Vector256.FusedMultiplyAdd(x0, y, s03); s13 = Vector256.FusedMultiplyAdd(x1, y, s13);
                    s23 = Vector256.FusedMultiplyAdd(x2, y, s23); s33 = Vector256.FusedMultiplyAdd(x3, y, s33);
                }
                sums[0] = Vector256.Sum(s00); sums[1] = Vector256.Sum(s01); sums[2] = Vector256.Sum(s02); sums[3] = Vector256.Sum(s03);
                sums[4] = Vector256.Sum(s10); sums[5] = Vector256.Sum(s11); sums[6] = Vector256.Sum(s12); sums[7] = Vector256.Sum(s13);
                sums[8] = Vector256.Sum(s20); sums[9] = Vector256.Sum(s21); sums[10] = Vector256.Sum(s22); sums[11] = Vector256.Sum(s23);
                sums[12] = Vector256.Sum(s30); sums[13] = Vector256.Sum(s31); sums[14] = Vector256.Sum(s32); sums[15] = Vector256.Sum(s33);
            }
            for (; k < d; k++)
            {
                double x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k], y0 = b0[k], y1 = b1[k], y2 = b2[k], y3 = b3[k];
                sums[0] += x0 * y0; sums[1] += x0 * y1; sums[2] += x0 * y2; sums[3] += x0 * y3;
                sums[4] += x1 * y0; sums[5] += x1 * y1; sums[6] += x1 * y2; sums[7] += x1 * y3;
                sums[8] += x2 * y0; sums[9] += x2 * y1; sums[10] += x2 * y2; sums[11] += x2 * y3;
                sums[12] += x3 * y0; sums[13] += x3 * y1; sums[14] += x3 * y2; sums[15] += x3 * y3;
            }
        }
        // sums[a·4 + b] = f_{i0+a} · f_{j0+b}, at (j0 + b, i0 + a): the upper triangle only
        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                if (j0 + b <= i0 + a) g[(j0 + b) * r + i0 + a] = sums[a * 4 + b];
    }

    /// <summary>FᵀF, D×D row-major (the dense Hessian plus I/σ²), for D ≤ r.</summary>
    private void CrossProduct(double[] c)
    {
        int d = Dimension;
        c.AsSpan(0, d * d).Clear();
        for (int j = 0; j < Rank; j++)
        {
            var f = Row(j);
            for (int a = 0; a < d; a++) AddScaled(f[a..], f[a], c.AsSpan(a * d + a, d - a));
        }
        for (int a = 0; a < d; a++)
            for (int b = a + 1; b < d; b++) c[b * d + a] = c[a * d + b];
    }

    /// <summary>
    /// Fills <paramref name="count"/> rows of <paramref name="vectors"/> from <paramref name="start"/> with unit vectors
    /// orthogonal to the p span rows and to each other: the columns p, p + 1, … of Q in the Householder QR of the span
    /// vectors (Q e_j = H_1 ⋯ H_p e_j), O(pD) each, orthonormal to rounding whatever the span.
    /// </summary>
    private void Complete(double[] spanVectors, int p, Span<double> vectors, int start, int count)
    {
        int d = Dimension;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] reflectors = pool.Rent(Math.Max(p * d, 1));
        Reflectors(spanVectors, p, reflectors);
        for (int f = 0; f < count; f++)
        {
            var z = vectors.Slice((start + f) * d, d);
            z.Clear();
            z[p + f] = 1;
            for (int i = p - 1; i >= 0; i--) Reflect(reflectors.AsSpan(i * d, d), i, z);
        }
        pool.Return(reflectors);
    }

    /// <summary>
    /// The Householder reflectors w_i (unit, zero before entry i; rows of <paramref name="reflectors"/>) of the QR of the
    /// p span vectors: Q = H_1 ⋯ H_p with H_i = I − 2 w_i w_iᵀ, whose first p columns span them.
    /// </summary>
    private void Reflectors(double[] spanVectors, int p, double[] reflectors)
    {
        int d = Dimension;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] columns = pool.Rent(Math.Max(p * d, 1)); // p rows of D: the columns of the matrix being reduced
        spanVectors.AsSpan(0, p * d).CopyTo(columns);
        reflectors.AsSpan(0, p * d).Clear();
        for (int i = 0; i < p; i++)
        {
            var x = columns.AsSpan(i * d, d);
            var w = reflectors.AsSpan(i * d, d);
            double norm = Math.Sqrt(Dot(x[i..], x[i..]));
            double beta = x[i] >= 0 ? -norm : norm;
            x[i..].CopyTo(w[i..]);
            w[i] -= beta;
            double wn = Math.Sqrt(Dot(w[i..], w[i..]));
            if (wn > 0) for (int t = i; t < d; t++) w[t] /= wn;
            for (int c = i + 1; c < p; c++) Reflect(w, i, columns.AsSpan(c * d, d));
        }
        pool.Return(columns);
    }

    /// <summary>z ← (I − 2 w wᵀ) z for the reflector w, zero before entry <paramref name="first"/>.</summary>
    private static void Reflect(ReadOnlySpan<double> w, int first, Span<double> z) =>
        AddScaled(w[first..], -2 * Dot(w[first..], z[first..]), z[first..]);

    internal static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);

    internal static void AddScaled(ReadOnlySpan<double> source, double f, Span<double> destination) =>
        System.Numerics.Tensors.TensorPrimitives.FusedMultiplyAdd(source, f, destination, destination);

    private static void Normalize(Span<double> v)
    {
        double norm = Math.Sqrt(Dot(v, v));
        if (norm > 0) for (int t = 0; t < v.Length; t++) v[t] /= norm;
    }
}

/// <summary>Eigenpairs of a Hessian: values in descending order and unit vectors, k×D row-major (row i goes with value i).</summary>
public sealed class HessianEigen
{
    private readonly double[] _vectors;

    internal HessianEigen(double[] values, double[] vectors, int dimension)
    {
        Values = values;
        _vectors = vectors;
        Dimension = dimension;
    }

    /// <summary>D.</summary>
    public int Dimension { get; }

    /// <summary>k eigenvalues, descending.</summary>
    public IReadOnlyList<double> Values { get; }

    /// <summary>k×D row-major unit eigenvectors.</summary>
    public ReadOnlySpan<double> Vectors => _vectors;

    /// <summary>Eigenvector i (D values).</summary>
    public ReadOnlySpan<double> Vector(int i) => _vectors.AsSpan(i * Dimension, Dimension);
}
