using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics.Ridges;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// The reduced eigen-solver of the Hessian (<see cref="LeadingEigenpairs"/>) against MathNet's full symmetric decomposition.
/// <para>
/// The bound. Both solvers are backward stable: each returns the exact eigenpairs of A + E with ‖E‖₂ ≤ c n u ‖A‖₂. By Weyl
/// each eigenvalue then moves by at most c n u ‖A‖₂; we take c = 16 for each solver (Householder reduction and QL each
/// contribute a small multiple of n u ‖A‖), so two solvers agree within 2·16 n u ‖A‖_F. A computed vector's residual
/// ‖A v − λ v‖ is at most the same backward error ρ = 16 n u ‖A‖ (inverse iteration from the computed λ reaches it in one or
/// two steps). Two vectors of eigenvalues a gap g apart are then each within ρ/g of their eigenspaces (Davis–Kahan), so
/// |vᵢᵀvⱼ| ≤ 2ρ/g; within a cluster (g below 10⁻³‖A‖) they are re-orthogonalised, so their dot is at rounding level, 128 n u.
/// </para>
/// <para>
/// Asked for fewer than n eigenvalues, the solver takes them by bisection instead of QL (the Hessian's ridge passes ask for
/// d + 1 of r): bisection's values are the exact eigenvalues of T to within its stopping width, 2u‖T‖ plus the Sturm
/// counts' backward error, which is of the same c n u ‖T‖ size, so the same bounds hold; every check runs both ways.
/// </para>
/// </summary>
public sealed class LeadingEigenpairsProperties
{
    private const double U = 1.0 / (1L << 53);

    private static void Check(double[] a, int n, int count, string context)
    {
        Check(a, n, count, leadingOnly: false, context + " (every eigenvalue, QL)");
        Check(a, n, count, leadingOnly: true, context + $" ({count} leading{(count < n ? ", bisection" : ", QL")})");
    }

    private static void Check(double[] a, int n, int count, bool leadingOnly, string context)
    {
        var copy = (double[])a.Clone();
        var solver = leadingOnly ? new LeadingEigenpairs(copy, n, count) : new LeadingEigenpairs(copy, n);
        Assert.Equal(leadingOnly ? count : n, solver.Values.Length);
        var dense = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) dense[i, j] = a[i * n + j];
        var reference = Matrix<double>.Build.DenseOfArray(dense).Evd(Symmetricity.Symmetric).EigenValues
            .Select(v => v.Real).OrderByDescending(v => v).ToArray();
        double norm = Math.Sqrt(a.Sum(v => v * v));
        double tol = 2 * 16 * n * U * norm + double.Epsilon;
        for (int i = 0; i < solver.Values.Length; i++)
            Assert.True(Math.Abs(solver.Values[i] - reference[i]) <= tol,
                $"{context}: eigenvalue {i} = {solver.Values[i]:R}, reference {reference[i]:R}, bound {tol:G3}");
        var vectors = new double[count * n];
        solver.Largest(count, vectors);
        var av = new double[n];
        for (int i = 0; i < count; i++)
        {
            var v = vectors.AsSpan(i * n, n);
            for (int r = 0; r < n; r++)
            {
                double s = 0;
                for (int c = 0; c < n; c++) s += a[r * n + c] * v[c];
                av[r] = s - solver.Values[i] * v[r];
            }
            double residual = Math.Sqrt(av.Sum(t => t * t));
            Assert.True(residual <= 16 * n * U * norm + double.Epsilon, $"{context}: pair {i} residual {residual:G3} > {16 * n * U * norm:G3}");
            for (int j = 0; j <= i; j++)
            {
                double dot = 0;
                for (int t = 0; t < n; t++) dot += v[t] * vectors[j * n + t];
                double expected = i == j ? 1 : 0;
                double gap = Math.Abs(solver.Values[i] - solver.Values[j]);
                bool clustered = gap <= 1e-3 * norm / Math.Sqrt(n); // below the solver's separation, 10⁻³‖T‖∞ ≥ 10⁻³‖A‖_F/√n
                double bound = 128 * n * U + (i == j || clustered ? 0 : 2 * 16 * n * U * norm / gap);
                Assert.True(Math.Abs(dot - expected) <= bound, $"{context}: v{i}·v{j} = {dot:R}, bound {bound:G3}");
            }
        }
    }

    private static double[] Symmetric(Random rng, int n, Func<int, double> eigenvalue)
    {
        // Q diag(λ) Qᵀ with Q from Householder reflections of random vectors
        var a = new double[n * n];
        for (int i = 0; i < n; i++) a[i * n + i] = eigenvalue(i);
        for (int reflection = 0; reflection < 3; reflection++)
        {
            var w = Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray();
            double wn = Math.Sqrt(w.Sum(t => t * t));
            for (int t = 0; t < n; t++) w[t] /= wn;
            // A ← (I − 2wwᵀ) A (I − 2wwᵀ)
            var aw = new double[n];
            for (int r = 0; r < n; r++) for (int c = 0; c < n; c++) aw[r] += a[r * n + c] * w[c];
            double waw = 0;
            for (int t = 0; t < n; t++) waw += w[t] * aw[t];
            for (int r = 0; r < n; r++)
                for (int c = 0; c < n; c++)
                    a[r * n + c] += -2 * w[r] * aw[c] - 2 * aw[r] * w[c] + 4 * waw * w[r] * w[c];
            for (int r = 0; r < n; r++) for (int c = 0; c < r; c++) a[r * n + c] = a[c * n + r] = 0.5 * (a[r * n + c] + a[c * n + r]);
        }
        return a;
    }

    /// <summary>Random symmetric matrices of every size 1 to 40 and several spectra (spread, clustered, repeated, zero, graded).</summary>
    [Fact]
    public void MatchesDenseDecomposition_OnRandomAndClusteredSpectra()
    {
        var rng = new Random(5);
        for (int n = 1; n <= 40; n++)
        {
            int count = 1 + rng.Next(n);
            Check(Symmetric(rng, n, _ => rng.NextDouble() * 4 - 2), n, count, $"n = {n} spread");
            Check(Symmetric(rng, n, i => i < 3 ? 1 + 1e-13 * i : -1), n, n, $"n = {n} clustered");
            Check(Symmetric(rng, n, i => i % 2), n, count, $"n = {n} repeated");
            Check(new double[n * n], n, count, $"n = {n} zero");
            Check(Symmetric(rng, n, i => Math.Pow(10, -i)), n, count, $"n = {n} graded");
        }
    }

    /// <summary>Gram matrices of a few rows in many dimensions, as the Hessian's reduced problem has them (rank-deficient, PSD).</summary>
    [Fact]
    public void MatchesDenseDecomposition_OnRankDeficientGramMatrices()
    {
        var rng = new Random(7);
        foreach (int n in new[] { 2, 5, 17, 64 })
            foreach (int rank in new[] { 1, 2, n / 2 + 1 })
            {
                var f = Enumerable.Range(0, rank * 30).Select(_ => rng.NextDouble() - 0.5).ToArray();
                var a = new double[n * n];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        for (int t = 0; t < 30 && i < rank && j < rank; t++) a[i * n + j] += f[i * 30 + t] * f[j * 30 + t];
                Check(a, n, Math.Min(n, rank + 1), $"n = {n}, rank {rank}");
            }
    }

    /// <summary>
    /// The sizes of the Hessian's capped reduced problems (r up to the default cap 128, and to 256 where a caller raises it) and around them, with d + 1 = 21
    /// leading pairs asked for, on Gram matrices of as many rows in D = 784 (graded weights, so the spectrum spans many
    /// orders) and on spectra with clusters at the top: the fused reduction's vector loops and their tails, and bisection
    /// beside QL on the same matrices.
    /// </summary>
    [Fact]
    public void MatchesDenseDecomposition_AtTheRidgePassSizes()
    {
        var rng = new Random(11);
        foreach (int n in new[] { 20, 21, 22, 63, 64, 65, 127, 128, 129, 255, 256, 257 })
        {
            int count = Math.Min(21, n);
            const int width = 784;
            var f = new double[n * width];
            for (int i = 0; i < n; i++)
            {
                double scale = Math.Exp(-0.1 * i);
                for (int t = 0; t < width; t++) f[i * width + t] = scale * (rng.NextDouble() - 0.5);
            }
            var a = new double[n * n];
            for (int i = 0; i < n; i++)
                for (int j = 0; j <= i; j++)
                {
                    double sum = 0;
                    for (int t = 0; t < width; t++) sum += f[i * width + t] * f[j * width + t];
                    a[i * n + j] = a[j * n + i] = sum;
                }
            Check(a, n, count, $"Gram n = {n}");
            Check(Symmetric(rng, n, i => i < 5 ? 2 + 1e-12 * i : i < 23 ? 1 - 0.01 * i : rng.NextDouble() - 0.5), n, count, $"clustered n = {n}");
        }
    }

    /// <summary>A random symmetric tridiagonal-producing case: size, how many leading eigenvalues, spectrum scale and kind.</summary>
    public sealed record SpectrumCase(int N, int Count, double Scale, int Kind, int Seed);

    private static Arbitrary<SpectrumCase> SpectrumCases =>
        (from n in Gen.Choose(1, 70)
         from count in Gen.Choose(1, n)
         from exponent in Gen.Elements(-300, -160, -12, -3, 0, 3, 12, 160, 300)
         from kind in Gen.Choose(0, 3)
         from seed in Gen.Choose(0, int.MaxValue)
         select new SpectrumCase(n, count, Math.Pow(10, exponent), kind, seed)).ToArbitrary();

    /// <summary>
    /// Bisection's leading eigenvalues against QL's on the same matrix (scaled exactly to entries near 1 for QL), on random sizes (lanes of four: counts that are and
    /// are not multiples), scales from 10⁻³⁰⁰ to 10³⁰⁰ (past the square root of the largest and smallest doubles, where
    /// the Sturm counts' squares would overflow or underflow unscaled) and spread, repeated, graded or rank-one spectra. Both are within
    /// 16 n u ‖A‖_F of the exact eigenvalues of the same tridiagonal matrix, so of each other within twice that.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property Bisection_MatchesQl_OnRandomSpectra() =>
        Prop.ForAll(SpectrumCases, c =>
        {
            var rng = new Random(c.Seed);
            Func<int, double> spectrum = c.Kind switch
            {
                0 => _ => c.Scale * (rng.NextDouble() * 2 - 1),
                1 => i => c.Scale * (i % 3),
                2 => i => c.Scale * Math.Pow(10, -i),
                _ => i => i == 0 ? c.Scale : 0,
            };
            var a = Symmetric(rng, c.N, spectrum);
            var leading = new LeadingEigenpairs((double[])a.Clone(), c.N, c.Count);
            // the reference: QL on the same matrix scaled exactly by a power of two to entries near 1, scaled back
            double largest = a.Max(Math.Abs);
            int exponent = largest > 0 ? Math.ILogB(largest) : 0;
            var all = new LeadingEigenpairs(a.Select(v => Math.ScaleB(v, -exponent)).ToArray(), c.N);
            double norm = Math.ScaleB(Math.Sqrt(a.Sum(v => Math.ScaleB(v, -exponent) * Math.ScaleB(v, -exponent))), exponent);
            double tol = 2 * 16 * c.N * U * norm + double.Epsilon;
            for (int i = 0; i < c.Count; i++)
            {
                double reference = Math.ScaleB(all.Values[i], exponent);
                Assert.True(Math.Abs(leading.Values[i] - reference) <= tol,
                    $"{c}: value {i} by bisection {leading.Values[i]:R}, by QL {reference:R}, bound {tol:G3}");
            }
        });
}
