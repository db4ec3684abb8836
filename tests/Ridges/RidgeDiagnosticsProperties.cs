using System.Globalization;
using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Sampling;
using Kernels.Tests.Support;
using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// Reach–align–slide diagnostics (<see cref="RidgeDiagnostics"/>) against float64 references: the split of a model score's
/// error into the ridge's normal and tangential parts (dense MathNet eigenvectors of <see cref="ScoreReference.Hessian"/>),
/// Pythagoras, a line's tangent, an exact model, the distance to the ridge, trajectories, CSV and bad input.
/// </summary>
public abstract class RidgeDiagnosticsProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private const double U = ErrorBound.UnitRoundoffDouble;

    private static double Norm(ReadOnlySpan<double> v) => Math.Sqrt(Dot(v, v));

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>A smooth field that is not a score of anything here: the model error e(x) = s_model − s is then of order 1 in every direction.</summary>
    private static double Perturbation(ReadOnlySpan<double> x, int k) => Math.Sin(1.7 * (k + 1) * x[k % x.Length] + 0.3 * k) + 0.5 * Math.Cos(x[(k + 1) % x.Length]);

    /// <summary>The reference score plus <see cref="Perturbation"/>, in double, as a user's delegate.</summary>
    private static DelegateScoreModel<double> PerturbedReference(double[] train, int dim) =>
        new(dim, (queries, level, outputs) =>
        {
            for (int q = 0; q < queries.Length / dim; q++)
            {
                var x = queries.Slice(q * dim, dim);
                var s = ScoreReference.Score(train, dim, x, level);
                for (int k = 0; k < dim; k++) outputs.Score[q * dim + k] = s[k] + Perturbation(x, k);
            }
        });

    /// <summary>
    /// Random problems with D ≤ 10 in float64, every d: ‖P_N e‖ and ‖P_T e‖ agree with the dense reference where the
    /// reference gap λ_d − λ_{d+1} is clear, and add up to ‖e‖ by Pythagoras everywhere.
    /// <para>
    /// Bounds. Pythagoras: P_T e and P_N e = e − P_T e are formed from d orthonormal vectors (orthonormal to O(D u)), so
    /// ‖P_N e‖² + ‖P_T e‖² − ‖e‖² is at most 16 (D + d) u ‖e‖². Reference: as in <see cref="RidgeResidualProperties"/>, each
    /// eigenvalue moves by at most tol and the top-d projector by 2√(2d) tol/gap (Davis–Kahan), so each part moves by that
    /// times ‖e‖, plus the difference of the two e (the backend's score against the reference's, ≤ √D times the score's
    /// componentwise bound of <see cref="ErrorBound"/>), plus 8 (D + d) u ‖e‖ of rounding.
    /// </para>
    /// </summary>
    [BackendFact]
    public void ErrorSplit_MatchesDenseReference_AndAddsUp()
    {
        var rng = new Random(20261206);
        int checkedCases = 0;
        for (int trial = 0; trial < 40; trial++)
        {
            int n = 2 + rng.Next(20), dim = 2 + rng.Next(9), m = 3;
            double sigma = Math.Exp(Math.Log(0.1) + rng.NextDouble() * Math.Log(20));
            double alpha = trial % 2 == 0 ? 1 : 0.3 + 0.7 * rng.NextDouble();
            var level = new NoiseLevel(alpha, sigma);
            var train = Enumerable.Range(0, n * dim).Select(_ => Problem.Gaussian(rng)).ToArray();
            var queries = new double[m * dim];
            for (int q = 0; q < m; q++)
            {
                int j = rng.Next(n);
                for (int k = 0; k < dim; k++) queries[q * dim + k] = alpha * train[j * dim + k] + sigma * (0.5 + q) * Problem.Gaussian(rng);
            }
            var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, n, dim), Backend);
            var model = PerturbedReference(train, dim);
            double cut = ScorePartials.NegligibleLogit<double>(n);
            for (int d = 1; d < dim; d++)
            {
                var frame = RidgeDiagnostics.Frame(exact, queries, level, d, model);
                var residuals = RidgeResidual.Evaluate(exact, queries, level, d);
                for (int q = 0; q < m; q++)
                {
                    var row = frame.Samples[q];
                    string context = $"{Backend.Name} trial {trial} N={n} D={dim} d={d} query {q} {level}";
                    // the residual columns are RidgeResidual's own
                    Assert.Equal(residuals[q].Residual, row.Residual);
                    Assert.Equal(residuals[q].NormalizedResidual, row.NormalizedResidual);
                    Assert.Equal(residuals[q].EigenGap, row.EigenGap);
                    Assert.Equal(residuals[q].CurvatureOk, row.CurvatureOk);
                    Assert.Equal(residuals[q].Capped, row.Capped);
                    double e2 = row.ErrorNorm * row.ErrorNorm;
                    double pythagoras = row.NormalError * row.NormalError + row.TangentialError * row.TangentialError;
                    Assert.True(Math.Abs(pythagoras - e2) <= 16 * (dim + d) * U * e2 + 1e-300,
                        $"|P_N e|^2 + |P_T e|^2 = {pythagoras:R}, |e|^2 = {e2:R}; {context}");

                    var x = queries.AsSpan(q * dim, dim);
                    var (lambda, vectors) = DenseSpectrum(train, dim, x, level);
                    int rank = Math.Min(n, Hessian.DefaultMaxRank);
                    double tol = dim * HessianProperties.EntryBound(train, dim, x, level, cut)
                        + 64 * (dim + rank) * U * (lambda.Max(Math.Abs) + 1 / sigma / sigma);
                    double gap = lambda[d - 1] - lambda[d];
                    if (gap <= Math.Max(10 * tol, 1e-6 * lambda.Max(Math.Abs))) continue;
                    checkedCases++;
                    var s = ScoreReference.Score(train, dim, x, level);
                    var e = new double[dim];
                    for (int k = 0; k < dim; k++) e[k] = Perturbation(x, k);
                    var normal = (double[])e.Clone();
                    double tangential = 0;
                    for (int i = 0; i < d; i++)
                    {
                        double c = Dot(vectors[i], e);
                        tangential += c * c;
                        for (int k = 0; k < dim; k++) normal[k] -= c * vectors[i][k];
                    }
                    double eNorm = Norm(e);
                    double scoreError = Math.Sqrt(dim) * ErrorBound.For(train, dim, x, level, U).Score;
                    double allowed = 2 * Math.Sqrt(2 * d) * tol / gap * eNorm + scoreError + 8 * (dim + d) * U * eNorm;
                    Assert.True(Math.Abs(row.ErrorNorm - eNorm) <= scoreError + 4 * dim * U * eNorm, $"|e| {row.ErrorNorm:R}, reference {eNorm:R}; {context}");
                    Assert.True(Math.Abs(row.NormalError - Norm(normal)) <= allowed,
                        $"|P_N e| {row.NormalError:R}, reference {Norm(normal):R}, allowed {allowed:G3}; {context}");
                    Assert.True(Math.Abs(row.TangentialError - Math.Sqrt(tangential)) <= allowed,
                        $"|P_T e| {row.TangentialError:R}, reference {Math.Sqrt(tangential):R}, allowed {allowed:G3}; {context}");
                }
            }
        }
        Assert.True(checkedCases >= 60, $"only {checkedCases} cases had a clear gap");
    }

    /// <summary>The reference Hessian's eigenvalues, descending, and their unit eigenvectors (MathNet, dense, float64).</summary>
    private static (double[] Values, double[][] Vectors) DenseSpectrum(double[] train, int dim, ReadOnlySpan<double> x, NoiseLevel level)
    {
        var h = ScoreReference.Hessian(train, dim, x, level);
        var evd = Matrix<double>.Build.Dense(dim, dim, (a, b) => h[a * dim + b]).Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, dim).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
        return (order.Select(i => evd.EigenValues[i].Real).ToArray(), order.Select(i => evd.EigenVectors.Column(i).ToArray()).ToArray());
    }

    /// <summary>
    /// Training points on a line through c with unit direction u in D = 5 (random c, u and spacings): for d = 1 the tangent
    /// is the line, so ‖P_T e‖ = |u·e| and ‖P_N e‖ = ‖e − (u·e)u‖. The stored points leave the line by ‖δ‖ ≤ 2u (‖c‖ + max p)
    /// (two roundings per coordinate), which tilts the top eigenvector by at most 2‖ΔH‖/gap with ‖ΔH‖ ≤ 2 (α/σ²)² ‖δ‖ max‖y − m‖,
    /// plus the eigensolver's 64 (D + r) u (‖H‖ + 1/σ²)/gap; the parts then move by twice that angle times ‖e‖.
    /// </summary>
    [BackendFact]
    public void PointsOnALine_TangentIsTheLine()
    {
        const int dim = 5;
        var rng = new Random(77);
        for (int trial = 0; trial < 6; trial++)
        {
            int n = 4 + rng.Next(12);
            var u = Enumerable.Range(0, dim).Select(_ => Problem.Gaussian(rng)).ToArray();
            double un = Norm(u);
            for (int k = 0; k < dim; k++) u[k] /= un;
            var c = Enumerable.Range(0, dim).Select(_ => Problem.Gaussian(rng)).ToArray();
            var positions = new double[n];
            for (int i = 1; i < n; i++) positions[i] = positions[i - 1] + 0.1 + 0.3 * rng.NextDouble();
            var train = new double[n * dim];
            for (int i = 0; i < n; i++)
                for (int k = 0; k < dim; k++) train[i * dim + k] = c[k] + positions[i] * u[k];
            var level = new NoiseLevel(1, 0.3 + 0.3 * rng.NextDouble());
            const int m = 4;
            var queries = new double[m * dim];
            for (int q = 0; q < m; q++)
            {
                double along = positions[^1] * (0.2 + 0.6 * rng.NextDouble());
                for (int k = 0; k < dim; k++) queries[q * dim + k] = c[k] + along * u[k] + 0.1 * Problem.Gaussian(rng);
            }
            var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, n, dim), Backend);
            var frame = RidgeDiagnostics.Frame(exact, queries, level, 1, PerturbedReference(train, dim));
            var factors = Hessian.Factor(exact, queries, level);
            var scores = exact.Score(queries, level);
            for (int q = 0; q < m; q++)
            {
                var x = queries.AsSpan(q * dim, dim);
                var e = new double[dim];
                var s = ScoreReference.Score(train, dim, x, level);
                for (int k = 0; k < dim; k++) e[k] = s[k] + Perturbation(x, k) - scores[q * dim + k];
                double along = Dot(u, e);
                var normal = e.Select((v, k) => v - along * u[k]).ToArray();
                var (lambda, _) = DenseSpectrum(train, dim, x, level);
                double gap = lambda[0] - lambda[1];
                double offLine = 2 * U * (Norm(c) + positions[^1]); // c_k + p u_k: a product and a sum rounded per coordinate
                double spread = Enumerable.Range(0, n).Max(i => Norm(train.AsSpan(i * dim, dim).ToArray().Select((v, k) => v - factors[q].Mean[k]).ToArray()));
                double a2 = 1 / (level.Variance * level.Variance);
                // C = Σ w (y − m)(y − m)ᵀ moves by at most 2 ‖δ‖ max‖y − m‖ off the line's direction
                double tilt = (2 * 2 * a2 * offLine * spread + 64 * (dim + n) * U * (lambda.Max(Math.Abs) + 1 / level.Variance)) / gap;
                double allowed = 2 * tilt * Norm(e) + 8 * dim * U * Norm(e);
                string context = $"{Backend.Name} trial {trial} query {q}: gap {gap:G3}";
                Assert.True(Math.Abs(frame.Samples[q].TangentialError - Math.Abs(along)) <= allowed,
                    $"|P_T e| {frame.Samples[q].TangentialError:R}, |u.e| {Math.Abs(along):R}, allowed {allowed:G3}; {context}");
                Assert.True(Math.Abs(frame.Samples[q].NormalError - Norm(normal)) <= allowed,
                    $"|P_N e| {frame.Samples[q].NormalError:R}, reference {Norm(normal):R}, allowed {allowed:G3}; {context}");
                // and SplitError, the one-query API, gives the same split from the same factor
                var (splitNormal, splitTangential) = RidgeDiagnostics.SplitError(factors[q], e, 1);
                Assert.True(Math.Abs(splitTangential - Math.Abs(along)) <= allowed, context);
                Assert.True(Math.Abs(splitNormal - Norm(normal)) <= allowed, context);
            }
        }
    }

    private static (double[] Train, double[] Samples) Circle(int n, int m, int seed)
    {
        var rng = new Random(seed);
        var train = new double[n * 2];
        for (int i = 0; i < n; i++)
        {
            train[i * 2] = Math.Cos(2 * Math.PI * i / n);
            train[i * 2 + 1] = Math.Sin(2 * Math.PI * i / n);
        }
        var samples = new double[m * 2];
        for (int q = 0; q < m; q++)
        {
            double r = 0.8 + 0.4 * rng.NextDouble(), theta = 2 * Math.PI * rng.NextDouble();
            samples[q * 2] = r * Math.Cos(theta);
            samples[q * 2 + 1] = r * Math.Sin(theta);
        }
        return (train, samples);
    }

    /// <summary>The reference score plus <see cref="Perturbation"/>, evaluated in double and rounded once to float.</summary>
    private static DelegateScoreModel<float> PerturbedReference32(double[] train, int dim) =>
        new(dim, (queries, level, outputs) =>
        {
            var x = new double[dim];
            for (int q = 0; q < queries.Length / dim; q++)
            {
                for (int k = 0; k < dim; k++) x[k] = queries[q * dim + k];
                var s = ScoreReference.Score(train, dim, x, level);
                for (int k = 0; k < dim; k++) outputs.Score[q * dim + k] = (float)(s[k] + Perturbation(x, k));
            }
        });

    /// <summary>
    /// The same float-representable data and samples in float32 and float64: residuals and error parts agree within the
    /// float32 score's rounding. Bounds: the two scores (the backends' for e; the factors' for the residual, double sums over
    /// the same values with float's cut-off dropping more) differ by ‖Δg‖ ≤ √D (ErrorBound at u_single + at u_double); the
    /// model's outputs by their rounding to float, u_single ‖s + P‖; so ‖Δe‖ ≤ ‖Δg‖ + u_single ‖s + P‖. Both factors are formed
    /// in double from the same values and differ only by the float cut-off's dropped mass δ ≤ N e^{−c}
    /// (<see cref="HessianFactor.DroppedMassBound"/>), which moves H by ≤ 4 δ (α²/σ⁴) max‖y − m‖², and by the eigensolver's
    /// 64 (D + r) u_double (‖H‖ + 1/σ²); the top-d projector then moves by ≤ 2‖ΔH‖/gap. Each part of e moves by at most
    /// that times ‖e‖ plus ‖Δe‖; the residual by that times ‖g‖ plus ‖Δg‖. Samples whose gap is under 10‖ΔH‖ (no clear
    /// tangent) are skipped; at least 12 of 16 must be checked.
    /// </summary>
    [BackendFact]
    public void Float32_AgreesWithFloat64_WithinTheScoresRounding()
    {
        var (train64, samples64) = Circle(12, 16, 9);
        var train = train64.Select(v => (double)(float)v).ToArray();
        var samples = samples64.Select(v => (double)(float)v).ToArray();
        var level = new NoiseLevel(1, 0.3);
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, 12, 2), Backend);
        var exact32 = new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), 12, 2), Backend);
        var frame = RidgeDiagnostics.Frame(exact, samples, level, 1, PerturbedReference(train, 2));
        var samples32 = samples.Select(v => (float)v).ToArray();
        var frame32 = RidgeDiagnostics.Frame(exact32, samples32, level, 1, PerturbedReference32(train, 2));
        var factors32 = Hessian.Factor(exact32, samples32, level);
        int checkedSamples = 0;
        for (int q = 0; q < 16; q++)
        {
            var x = samples.AsSpan(q * 2, 2);
            var (lambda, _) = DenseSpectrum(train, 2, x, level);
            double gap = lambda[0] - lambda[1];
            var s = ScoreReference.Score(train, 2, x, level);
            double s0 = s[0] + Perturbation(x, 0), s1 = s[1] + Perturbation(x, 1);
            double sp = Math.Sqrt(s0 * s0 + s1 * s1);
            double dg = Math.Sqrt(2) * (ErrorBound.For(train, 2, x, level, ErrorBound.UnitRoundoffSingle).Score + ErrorBound.For(train, 2, x, level, U).Score);
            double de = dg + ErrorBound.UnitRoundoffSingle * sp;
            var m = ScoreReference.Denoiser(train, 2, x, level);
            double spread = Enumerable.Range(0, 12).Max(i => Math.Pow(train[i * 2] - m[0], 2) + Math.Pow(train[i * 2 + 1] - m[1], 2));
            double dh = 4 * factors32[q].DroppedMassBound * spread / (level.Variance * level.Variance)
                + 64 * (2 + 12) * U * (lambda.Max(Math.Abs) + 1 / level.Variance);
            if (gap <= 10 * dh) continue;
            checkedSamples++;
            double dp = 2 * dh / gap;
            var a = frame.Samples[q];
            var b = frame32.Samples[q];
            string context = $"{Backend.Name} sample {q}: gap {gap:G3}, |dg| <= {dg:G3}, |de| <= {de:G3}, |dP| <= {dp:G3}";
            double gNorm = Math.Sqrt(s[0] * s[0] + s[1] * s[1]);
            Assert.True(Math.Abs(a.Residual - b.Residual) <= dp * gNorm + dg, $"residual {a.Residual:R} vs {b.Residual:R}; {context}");
            double allowed = dp * a.ErrorNorm + de;
            Assert.True(Math.Abs(a.ErrorNorm - b.ErrorNorm) <= de, $"|e| {a.ErrorNorm:R} vs {b.ErrorNorm:R}; {context}");
            Assert.True(Math.Abs(a.NormalError - b.NormalError) <= allowed, $"|P_N e| {a.NormalError:R} vs {b.NormalError:R}; {context}");
            Assert.True(Math.Abs(a.TangentialError - b.TangentialError) <= allowed, $"|P_T e| {a.TangentialError:R} vs {b.TangentialError:R}; {context}");
        }
        Assert.True(checkedSamples >= 12, $"only {checkedSamples} samples with a clear gap");
    }

    /// <summary>Every row is the same bit for bit on one thread as on the backend's threads.</summary>
    [BackendFact]
    public void ThreadCountInvariant()
    {
        var (train, samples) = Circle(12, 16, 4);
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, 12, 2), Backend);
        var level = new NoiseLevel(1, 0.3);
        var model = PerturbedReference(train, 2);
        var many = RidgeDiagnostics.Frame(exact, samples, level, 1, model);
        var one = RidgeDiagnostics.Frame(exact, samples, level, 1, model, new RidgeDiagnosticsOptions { MaxDegreeOfParallelism = 1 });
        Assert.Equal(many.Samples, one.Samples);
        Assert.Equal(many.Projections, one.Projections);
    }

    /// <summary>The exact score as the model: every error column is exactly 0 (float64 and float32); no model: NaN and HasModel false.</summary>
    [BackendFact]
    public void ExactModel_GivesZeroError()
    {
        var (train, samples) = Circle(12, 10, 3);
        var level = new NoiseLevel(1, 0.3);
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, 12, 2), Backend);
        var frame = RidgeDiagnostics.Frame(exact, samples, level, 1, exact);
        Assert.True(frame.HasModel);
        foreach (var row in frame.Samples)
        {
            Assert.Equal(0, row.ErrorNorm);
            Assert.Equal(0, row.NormalError);
            Assert.Equal(0, row.TangentialError);
        }
        Assert.Equal(0, frame.MeanNormalError);
        var exact32 = new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), 12, 2), Backend);
        var frame32 = RidgeDiagnostics.Frame(exact32, samples.Select(v => (float)v).ToArray(), level, 1, exact32);
        Assert.All(frame32.Samples, row => Assert.Equal(0, row.ErrorNorm));
        var none = RidgeDiagnostics.Frame(exact, samples, level, 1);
        Assert.False(none.HasModel);
        Assert.All(none.Samples, row => Assert.True(double.IsNaN(row.NormalError) && double.IsNaN(row.TangentialError) && double.IsNaN(row.ErrorNorm)));
        Assert.Equal(frame.MeanResidual, none.MeanResidual);
    }

    /// <summary>
    /// The distance to the ridge is ‖x − SCMS(x)‖: the returned projections are <see cref="RidgeProjection.Project{T}"/>'s
    /// own, bit for bit, and each distance equals the norm of sample minus projection (to 4 u of it, one rounding per
    /// difference, square and sum).
    /// </summary>
    [BackendFact]
    public void DistanceToRidge_IsTheNormOfSampleMinusProjection()
    {
        var (train, samples) = Circle(12, 16, 5);
        var level = new NoiseLevel(1, 0.3);
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, 12, 2), Backend);
        var frame = RidgeDiagnostics.Frame(exact, samples, level, 1);
        var projection = RidgeProjection.Project(exact, samples, level, 1, 1e-6);
        Assert.Equal(projection.Points, frame.Projections);
        for (int q = 0; q < 16; q++)
        {
            var diff = new[] { samples[q * 2] - frame.Projections[q * 2], samples[q * 2 + 1] - frame.Projections[q * 2 + 1] };
            double expected = Norm(diff);
            Assert.True(Math.Abs(frame.Samples[q].DistanceToRidge - expected) <= 4 * U * expected, $"sample {q}: {frame.Samples[q].DistanceToRidge:R} vs {expected:R}");
            Assert.Equal(projection.Reports[q].Converged, frame.Samples[q].ProjectionConverged);
            Assert.True(frame.Samples[q].ProjectionConverged);
            // the annulus' samples sit off the ridge (near the unit circle): a positive distance under 0.25
            Assert.InRange(frame.Samples[q].DistanceToRidge, 0, 0.25);
        }
        Assert.Equal(1, frame.ConvergedShare);
    }

    /// <summary>
    /// A recorded OU trajectory: each frame's diagnostics are those of <see cref="RidgeDiagnostics.Frame{T}"/> at the
    /// schedule's level at the frame's time; the summaries are the means and medians of the rows; the CSVs hold one row
    /// per sample and frame (and one per frame) whose numbers read back exactly.
    /// </summary>
    [BackendFact]
    public void Trajectory_EvaluatesEachFrameAtItsLevel_AndWritesCsv()
    {
        var (train, _) = Circle(8, 1, 1);
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, 8, 2), Backend);
        var schedule = NoiseSchedule.OrnsteinUhlenbeck;
        var sampler = new ReverseSampler<double>(exact, schedule, TimeGrid.Geometric(1.5, 0.05, 12));
        var run = sampler.Sample(7, new SamplerOptions { Seed = 4, RecordEvery = 4 });
        var model = PerturbedReference(train, 2);
        int progress = 0;
        var frames = RidgeDiagnostics.Trajectory(exact, schedule, run.Trajectory, 1, model,
            new RidgeDiagnosticsOptions { Progress = (done, total) => { progress = done; Assert.Equal(run.Trajectory.Count, total); } });
        Assert.Equal(run.Trajectory.Count, frames.Length);
        Assert.Equal(frames.Length, progress);
        for (int f = 0; f < frames.Length; f++)
        {
            Assert.Equal(run.Trajectory[f].Time, frames[f].Time);
            var level = schedule.At(run.Trajectory[f].Time);
            Assert.Equal(level, frames[f].Level);
            var alone = RidgeDiagnostics.Frame(exact, run.Trajectory[f].Samples, level, 1, model);
            Assert.Equal(alone.Samples, frames[f].Samples);
            var rows = frames[f].Samples;
            Assert.Equal(rows.Average(r => r.Residual), frames[f].MeanResidual);
            var sorted = rows.Select(r => r.NormalizedResidual).Order().ToArray();
            Assert.Equal(sorted[3], frames[f].MedianNormalizedResidual); // 7 samples: the 4th
            Assert.Equal(rows.Average(r => r.NormalError), frames[f].MeanNormalError);
            Assert.Equal(rows.Average(r => r.DistanceToRidge), frames[f].MeanDistance);
        }

        var text = new StringWriter();
        RidgeDiagnosticsCsv.WriteSamples(text, frames);
        var lines = text.ToString().TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(RidgeDiagnosticsCsv.SamplesHeader, lines[0]);
        Assert.Equal(1 + 7 * frames.Length, lines.Length);
        var cells = lines[1 + 7 + 2].Split(',');
        Assert.Equal("1", cells[0]);
        Assert.Equal("2", cells[4]);
        Assert.Equal(frames[1].Time, double.Parse(cells[1], CultureInfo.InvariantCulture));
        Assert.Equal(frames[1].Samples[2].NormalError, double.Parse(cells[12], CultureInfo.InvariantCulture));
        Assert.Equal(frames[1].Samples[2].DistanceToRidge, double.Parse(cells[9], CultureInfo.InvariantCulture));
        Assert.Equal(frames[1].Samples[2].Capped ? "1" : "0", cells[14]);
        var summary = new StringWriter();
        RidgeDiagnosticsCsv.WriteSummary(summary, frames);
        var summaryLines = summary.ToString().TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal(RidgeDiagnosticsCsv.SummaryHeader, summaryLines[0]);
        Assert.Equal(1 + frames.Length, summaryLines.Length);
        Assert.Equal(frames[^1].MeanTangentialError, double.Parse(summaryLines[^1].Split(',')[13], CultureInfo.InvariantCulture));
        Assert.Equal(frames[^1].CappedShare, double.Parse(summaryLines[^1].Split(',')[16], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Where the rank cap binds (D = 5 above a cap of 2, with most of 30 points within the cut-off), each sample says so as
    /// its factor does, and the frame's capped share counts them.
    /// </summary>
    [BackendFact]
    public void Capped_FollowsTheFactorAtEachSample()
    {
        const int n = 30, dim = 5, m = 8;
        var rng = new Random(17);
        var train = Enumerable.Range(0, n * dim).Select(_ => rng.NextDouble()).ToArray();
        var samples = Enumerable.Range(0, m * dim).Select(_ => rng.NextDouble()).ToArray();
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, n, dim), Backend);
        var level = new NoiseLevel(0.9, 0.5);
        var frame = RidgeDiagnostics.Frame(exact, samples, level, 1, options: new RidgeDiagnosticsOptions { MaxRank = 2 });
        var capped = Hessian.Factor(exact, samples, level, maxRank: 2).Select(f => f.Capped).ToArray();
        Assert.Contains(true, capped);
        Assert.Equal(capped, frame.Samples.Select(row => row.Capped));
        Assert.Equal(capped.Average(c => c ? 1.0 : 0.0), frame.CappedShare);
        Assert.DoesNotContain(RidgeDiagnostics.Frame(exact, samples, level, 1).Samples, row => row.Capped); // 30 points never pass 128
    }

    /// <summary>Bad ridge dimension, a model of another dimension, ragged or empty samples and frames: an ArgumentException naming the parameter.</summary>
    [BackendFact]
    public void BadInput_NamesTheParameter()
    {
        var (train, samples) = Circle(6, 3, 2);
        var exact = new EmpiricalScore<double>(new TrainingSet<double>(train, 6, 2), Backend);
        var level = new NoiseLevel(1, 0.3);
        Expect.ThrowsNaming("dimension", "dimension = 0", () => RidgeDiagnostics.Frame(exact, samples, level, 0));
        Expect.ThrowsNaming("dimension", "dimension = 2", () => RidgeDiagnostics.Frame(exact, samples, level, 2));
        var wide = new DelegateScoreModel<double>(3, (_, _, _) => { });
        Expect.ThrowsNaming("model", "dimension 3", () => RidgeDiagnostics.Frame(exact, samples, level, 1, wide));
        Expect.ThrowsNaming("samples", "samples", () => RidgeDiagnostics.Frame(exact, samples.AsSpan(0, 5), level, 1));
        Expect.ThrowsNaming("samples", "samples", () => RidgeDiagnostics.Frame(exact, ReadOnlySpan<double>.Empty, level, 1));
        Expect.ThrowsNaming("samples", "samples", () => RidgeDiagnostics.Frame(exact, new[] { 0.5, double.NaN }, level, 1));
        Expect.ThrowsNaming("tolerance", "tolerance = 0", () => RidgeDiagnostics.Frame(exact, samples, level, 1, options: new RidgeDiagnosticsOptions { Tolerance = 0 }));
        var schedule = NoiseSchedule.OrnsteinUhlenbeck;
        Expect.ThrowsNaming("frames", "empty", () => RidgeDiagnostics.Trajectory(exact, schedule, Array.Empty<TrajectoryFrame<double>>(), 1));
        Expect.ThrowsNaming("frames", "frames[1]", () => RidgeDiagnostics.Trajectory(exact, schedule,
            [new TrajectoryFrame<double>(1, samples), new TrajectoryFrame<double>(0.5, new double[3])], 1));
        Expect.ThrowsNaming("frames", "frames[0] has time 0", () => RidgeDiagnostics.Trajectory(exact, schedule, [new TrajectoryFrame<double>(0, samples)], 1));
        Expect.ThrowsNaming("dimension", "dimension = 5", () => RidgeDiagnostics.Trajectory(exact, schedule, [new TrajectoryFrame<double>(1, samples)], 5));
        var factor = Hessian.Factor(exact, samples.AsSpan(0, 2), level)[0];
        Expect.ThrowsNaming("error", "length 3", () => RidgeDiagnostics.SplitError(factor, new double[3], 1));
        Expect.ThrowsNaming("dimension", "dimension = 2", () => RidgeDiagnostics.SplitError(factor, new double[2], 2));
    }
}

/// <summary>The diagnostics suite on the SIMD CPU backend.</summary>
public sealed class CpuRidgeDiagnosticsProperties : RidgeDiagnosticsProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
