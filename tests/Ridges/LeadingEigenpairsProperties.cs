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
/// </summary>
public sealed class LeadingEigenpairsProperties
{
    private const double U = 1.0 / (1L << 53);

    private static void Check(double[] a, int n, int count, string context)
    {
        var copy = (double[])a.Clone();
        var solver = new LeadingEigenpairs(copy, n);
        var dense = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) dense[i, j] = a[i * n + j];
        var reference = Matrix<double>.Build.DenseOfArray(dense).Evd(Symmetricity.Symmetric).EigenValues
            .Select(v => v.Real).OrderByDescending(v => v).ToArray();
        double norm = Math.Sqrt(a.Sum(v => v * v));
        double tol = 2 * 16 * n * U * norm + double.Epsilon;
        for (int i = 0; i < n; i++)
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
}
