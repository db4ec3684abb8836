using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Kernels.Numerics.Ridges;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Ridges;

/// <summary>
/// Subspace-constrained mean shift (<see cref="RidgeProjection.Project{T}"/>): points on a line and on a circle, in float64
/// and float32; the stopping residual is recomputed independently with <see cref="RidgeResidual.Evaluate{T}"/>.
/// </summary>
public abstract class ScmsProperties
{
    /// <summary>The backend under test.</summary>
    protected abstract IScoreBackend Backend { get; }

    private static double Norm(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double t in v) s += t * t;
        return Math.Sqrt(s);
    }

    private static (double[] Train, double[] Starts) Line(int m)
    {
        // y_i = (0.5 i, 0, 0), i = 0..20; sigma = 0.5 covers neighbours; starts off the line, away from the ends and
        // from the symmetric positions (training points and midpoints), where the tangential score vanishes
        var train = new double[21 * 3];
        for (int i = 0; i < 21; i++) train[i * 3] = 0.5 * i;
        var rng = new Random(51);
        var starts = new double[m * 3];
        for (int q = 0; q < m; q++)
        {
            starts[q * 3] = 3 + 0.5 * q + 0.1 + 0.2 * rng.NextDouble();
            starts[q * 3 + 1] = 0.4 * (rng.NextDouble() - 0.5);
            starts[q * 3 + 2] = 0.4 * (rng.NextDouble() - 0.5);
        }
        return (train, starts);
    }

    private static (double[] Train, double[] Starts) Circle(int n, int m, int seed)
    {
        var train = new double[n * 2];
        for (int i = 0; i < n; i++)
        {
            train[i * 2] = Math.Cos(2 * Math.PI * i / n);
            train[i * 2 + 1] = Math.Sin(2 * Math.PI * i / n);
        }
        var rng = new Random(seed);
        var starts = new double[m * 2];
        for (int q = 0; q < m; q++)
        {
            double r = 0.8 + 0.4 * q / (m - 1);
            // angles away from the training points and the midpoints (where the tangential score is 0 by symmetry)
            double theta = 2 * Math.PI * (rng.Next(n) + 0.15 + 0.2 * rng.NextDouble()) / n;
            starts[q * 2] = r * Math.Cos(theta);
            starts[q * 2 + 1] = r * Math.Sin(theta);
        }
        return (train, starts);
    }

    private static void CheckLine(double[] start, double[] end, int q)
    {
        double tangential = Math.Abs(end[0] - start[0]);
        double normal = Norm(new[] { end[1] - start[1], end[2] - start[2] });
        Assert.True(tangential < 0.1 * normal, $"start {q}: tangential move {tangential:R}, normal move {normal:R}");
    }

    /// <summary>
    /// Points on a line in D = 3, d = 1: every start converges, the residual recomputed at the projection is ≤ the
    /// tolerance and equals the reported one, and the move is (nearly) all in the normal coordinates.
    /// </summary>
    [BackendFact]
    public void Line_ConvergesAndMovesAlongTheNormal()
    {
        const int m = 8;
        var (train, starts) = Line(m);
        var level = new NoiseLevel(1, 0.5);

        var model = new EmpiricalScore<double>(new TrainingSet<double>(train, 21, 3), Backend);
        const double tol = 1e-6;
        var result = RidgeProjection.Project(model, starts, level, 1, tol);
        var check = RidgeResidual.Evaluate(model, result.Points, level, 1);
        for (int q = 0; q < m; q++)
        {
            var report = result.Reports[q];
            Assert.True(report.Converged, $"start {q}: {report}");
            Assert.True(report.Iterations >= 1);
            Assert.Equal(check[q].NormalizedResidual, report.Residual);
            Assert.True(check[q].NormalizedResidual <= tol, $"start {q}: residual {check[q].NormalizedResidual:R}");
            Assert.True(report.CurvatureOk);
            var end = result.Points.AsSpan(q * 3, 3).ToArray();
            var begin = starts.AsSpan(q * 3, 3).ToArray();
            CheckLine(begin, end, q);
            Assert.Equal(Norm(end.Zip(begin, (a, b) => a - b).ToArray()), report.DistanceMoved, 12);
        }

        var model32 = new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), 21, 3), Backend);
        var starts32 = starts.Select(v => (float)v).ToArray();
        const double tol32 = 1e-4;
        var result32 = RidgeProjection.Project(model32, starts32, level, 1, tol32);
        var check32 = RidgeResidual.Evaluate(model32, result32.Points, level, 1);
        for (int q = 0; q < m; q++)
        {
            Assert.True(result32.Reports[q].Converged, $"float32 start {q}: {result32.Reports[q]}");
            Assert.Equal(check32[q].NormalizedResidual, result32.Reports[q].Residual);
            Assert.True(check32[q].NormalizedResidual <= tol32);
            CheckLine(starts32.Skip(q * 3).Take(3).Select(v => (double)v).ToArray(),
                result32.Points.Skip(q * 3).Take(3).Select(v => (double)v).ToArray(), q);
        }
    }

    private static void CheckCircle<T>(EmpiricalScore<T> model, T[] starts, NoiseLevel level, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int m = starts.Length / 2;
        var result = RidgeProjection.Project(model, starts, level, 1, tol);
        var check = RidgeResidual.Evaluate(model, result.Points, level, 1);
        for (int q = 0; q < m; q++)
        {
            var report = result.Reports[q];
            Assert.True(report.Converged, $"{typeof(T).Name} start {q}: {report}");
            Assert.True(report.CurvatureOk, $"{typeof(T).Name} start {q}: {report}");
            Assert.True(check[q].NormalizedResidual <= tol, $"{typeof(T).Name} start {q}: residual {check[q].NormalizedResidual:R}");
            Assert.True(check[q].CurvatureOk);
            double r = double.Hypot(double.CreateChecked(result.Points[q * 2]), double.CreateChecked(result.Points[q * 2 + 1]));
            Assert.InRange(r, 0.8, 1.2);
        }
        // projecting the projections: they are already within the tolerance, so they stay (within a small multiple of tol σ)
        var again = RidgeProjection.Project(model, result.Points, level, 1, tol);
        for (int q = 0; q < m; q++)
        {
            Assert.True(again.Reports[q].Converged);
            Assert.True(again.Reports[q].DistanceMoved <= 10 * tol * level.Sigma, $"{typeof(T).Name} start {q}: {again.Reports[q]}");
        }
    }

    /// <summary>
    /// 12 points on the unit circle, σ = 0.3: every start in the annulus 0.8 ≤ r ≤ 1.2 converges with the residual ≤ the
    /// tolerance and the curvature across the ridge negative, and projecting again moves by at most 10 tol σ.
    /// </summary>
    [BackendFact]
    public void Circle_AnnulusConverges_AndProjectionIsIdempotent()
    {
        var (train, starts) = Circle(12, 16, 7);
        var level = new NoiseLevel(1, 0.3);
        CheckCircle(new EmpiricalScore<double>(new TrainingSet<double>(train, 12, 2), Backend), starts, level, 1e-6);
        CheckCircle(new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), 12, 2), Backend),
            starts.Select(v => (float)v).ToArray(), level, 1e-3);
    }

    private static void CheckBatch<T>(EmpiricalScore<T> model, T[] starts, NoiseLevel level, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var batch = RidgeProjection.Project(model, starts, level, 1, tol);
        for (int q = 0; q < starts.Length / 2; q++)
        {
            var alone = RidgeProjection.Project(model, starts.AsSpan(q * 2, 2), level, 1, tol, maxDegreeOfParallelism: 1);
            Assert.Equal(batch.Reports[q], alone.Reports[0]);
            for (int k = 0; k < 2; k++)
                Assert.Equal(double.CreateChecked(batch.Points[q * 2 + k]), double.CreateChecked(alone.Points[k]));
        }
    }

    /// <summary>Each point's projection is the same bit for bit alone or in a batch (of points stopping at different rounds).</summary>
    [BackendFact]
    public void BatchInvariant()
    {
        var (train, starts) = Circle(12, 9, 11);
        var level = new NoiseLevel(1, 0.3);
        CheckBatch(new EmpiricalScore<double>(new TrainingSet<double>(train, 12, 2), Backend), starts, level, 1e-6);
        CheckBatch(new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), 12, 2), Backend),
            starts.Select(v => (float)v).ToArray(), level, 1e-3);
    }

    /// <summary>Bad dimension, tolerance, maxIterations or starts throw an ArgumentException naming the parameter.</summary>
    [BackendFact]
    public void BadInput_Throws()
    {
        var model = new EmpiricalScore<double>(new TrainingSet<double>(new double[] { 0, 0, 0, 1, 0, 0 }, 2, 3), Backend);
        var level = new NoiseLevel(1, 0.5);
        var starts = new double[] { 0.5, 0.1, 0 };
        Expect.ThrowsNaming("dimension", "dimension = 0", () => RidgeProjection.Project(model, starts, level, 0));
        Expect.ThrowsNaming("dimension", "dimension = 3", () => RidgeProjection.Project(model, starts, level, 3));
        Expect.ThrowsNaming("tolerance", "tolerance = 0", () => RidgeProjection.Project(model, starts, level, 1, tolerance: 0));
        Expect.ThrowsNaming("tolerance", "tolerance = NaN", () => RidgeProjection.Project(model, starts, level, 1, tolerance: double.NaN));
        Expect.ThrowsNaming("tolerance", "tolerance = Infinity", () => RidgeProjection.Project(model, starts, level, 1, tolerance: double.PositiveInfinity));
        Expect.ThrowsNaming("maxIterations", "maxIterations = 0", () => RidgeProjection.Project(model, starts, level, 1, maxIterations: 0));
        Expect.ThrowsNaming("starts", "starts", () => RidgeProjection.Project(model, new double[] { 0.5, 0.1 }, level, 1));
        Expect.ThrowsNaming("starts", "starts", () => RidgeProjection.Project(model, new double[] { 0.5, double.NaN, 0 }, level, 1));
        Expect.ThrowsNaming("starts", "starts", () => RidgeProjection.Project(model, Array.Empty<double>(), level, 1));
    }
}

/// <summary>The SCMS suite on the SIMD CPU backend.</summary>
public sealed class CpuScmsProperties : ScmsProperties
{
    protected override IScoreBackend Backend => CpuBackend.Default;
}
