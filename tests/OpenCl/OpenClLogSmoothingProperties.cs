using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Smoothing;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// The log-domain smoothing suite on the OpenCL backend (PoCL on CI), plus OpenCL against the CPU path. Gaussian, tangent
/// and anisotropic draws are made on the device (native/smoothing.cl, the host's Philox layout: the same rows as the
/// host's up to libm's last bits, <see cref="OpenClSmoothingDrawsTests"/>), ball and covariance draws on the host. The
/// reference is evaluated at the rows the backend evaluated, so each comparison is value for value within the score
/// kernel's float bound.
/// </summary>
public sealed class OpenClLogSmoothingProperties : LogSmoothingProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;

    protected override Func<int, int, double[]>? RowsEvaluated<T>(SmoothingCase c) =>
        OpenClSmoothingDrawsTests.DeviceRowsOf(c, c.Kernel(), c.Problem.Build<T>().Queries);

    /// <summary>
    /// Same seed on both backends: every smoothed output is the mean over K perturbed queries of a score each backend
    /// computes within its <see cref="ErrorBound"/> (which includes the float64 reference's own error). The CPU draws on
    /// the host, OpenCL on the device: their rows agree up to libm's last bits, and where they differ the exact values
    /// differ by what the float64 reference says, so by the triangle inequality
    /// |gpu − cpu| ≤ mean bound at the device rows + |ref(device rows) − ref(host rows)| + mean bound at the host rows.
    /// </summary>
    [BackendProperty(MaxTest = 30)]
    public Property SameSeed_GivesTheCpuResultWithinBounds() =>
        Prop.ForAll(SmoothingCase.Arbitrary, c =>
        {
            var p = c.Problem;
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var kernel = c.Kernel();
            (float[] Ld, float[] S) Run(IScoreBackend backend)
            {
                var model = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, backend), kernel, c.Plan);
                var (ld, s) = (new float[p.M], new float[p.M * p.D]);
                model.Evaluate(queries, p.Level, new SmoothedOutputs<float> { LogDensity = ld, Score = s });
                return (ld, s);
            }
            var cpu = Run(CpuBackend.Default);
            var gpu = Run(Backend);
            Func<int, int, double[]> hostRow = (q, k) => SmoothingCase.PerturbedQuery<float>(kernel, c.Plan, queriesD.AsSpan(q * p.D, p.D), q, k);
            var deviceRow = OpenClSmoothingDrawsTests.DeviceRowsOf(c, kernel, queries) ?? hostRow;
            var atHost = LogSmoothingProperties.ReferenceAt(trainD, p.D, p.M, c.Plan, p.Level, hostRow);
            var atDevice = LogSmoothingProperties.ReferenceAt(trainD, p.D, p.M, c.Plan, p.Level, deviceRow);
            for (int q = 0; q < p.M; q++)
            {
                double bLd = Math.Abs(atDevice.LogDensity[q] - atHost.LogDensity[q]);
                double bS = ErrorBound.Norm(atDevice.Score.AsSpan(q * p.D, p.D).ToArray().Select((v, j) => v - atHost.Score[q * p.D + j]).ToArray());
                for (int k = 0; k < c.Draws; k++)
                {
                    var b = ErrorBound.For(trainD, p.D, hostRow(q, k), p.Level, ErrorBound.UnitRoundoffSingle);
                    var e = ErrorBound.For(trainD, p.D, deviceRow(q, k), p.Level, ErrorBound.UnitRoundoffSingle);
                    (bLd, bS) = (bLd + (b.LogDensity + e.LogDensity) / c.Draws, bS + (b.Score + e.Score) / c.Draws);
                }
                // plus each side's float64 accumulation of K values and the final rounding to float (u of the result each)
                double ldSlack = 2 * (c.Draws * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble) + ErrorBound.UnitRoundoffSingle) * Math.Abs(cpu.Ld[q]);
                double sSlack = 2 * (c.Draws * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble) + ErrorBound.UnitRoundoffSingle)
                                * ErrorBound.Norm(Problem.Widen(cpu.S).AsSpan(q * p.D, p.D));
                Expect.Within(gpu.Ld[q], cpu.Ld[q], bLd + ldSlack, "smoothed log-density vs cpu", q, c.ToString());
                Expect.Within(Problem.Widen(gpu.S).AsSpan(q * p.D, p.D), Problem.Widen(cpu.S).AsSpan(q * p.D, p.D), bS + sSlack, "smoothed score vs cpu", q, c.ToString());
            }
        });
}
