using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Smoothing;
using Kernels.Tests.Support;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// Smoothing on the OpenCL backend. Draws are made on the host (Philox keyed by seed, query and draw), so the same seed
/// gives the same perturbed queries on every backend; only the score evaluations differ, each within its float bound.
/// </summary>
public sealed class OpenClSmoothingProperties : IRequiresOpenCl
{
    /// <summary>The log-domain smoothing property of <see cref="LogSmoothingProperties"/>, with its bound, on OpenCL.</summary>
    [BackendProperty(MaxTest = 40)]
    public Property Float32_MatchesReference() =>
        Prop.ForAll(SmoothingCase.Arbitrary, c => LogSmoothingProperties.MatchesReference<float>(c, OpenClTestSupport.Backend, 0));

    [BackendProperty(MaxTest = 25)]
    public Property Float64_SmallBatches_MatchesReference() =>
        Prop.ForAll(SmoothingCase.Arbitrary, c => LogSmoothingProperties.MatchesReference<double>(c, OpenClTestSupport.Backend, 6));

    /// <summary>
    /// Same seed on both backends: every smoothed output is the mean over the same K perturbed queries of a score each
    /// backend computes within its <see cref="ErrorBound"/>, so the two means differ by at most twice the mean bound.
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
            var gpu = Run(OpenClTestSupport.Backend);
            for (int q = 0; q < p.M; q++)
            {
                var x = queriesD.AsSpan(q * p.D, p.D);
                double bLd = 0, bS = 0;
                for (int k = 0; k < c.Draws; k++)
                {
                    var b = ErrorBound.For(trainD, p.D, SmoothingCase.PerturbedQuery<float>(kernel, c.Plan, x, q, k), p.Level, ErrorBound.UnitRoundoffSingle);
                    (bLd, bS) = (bLd + b.LogDensity / c.Draws, bS + b.Score / c.Draws);
                }
                // plus each side's float64 accumulation of K values and the final rounding to float (u of the result each)
                double ldSlack = 2 * (c.Draws * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble) + ErrorBound.UnitRoundoffSingle) * Math.Abs(cpu.Ld[q]);
                double sSlack = 2 * (c.Draws * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble) + ErrorBound.UnitRoundoffSingle)
                                * ErrorBound.Norm(Problem.Widen(cpu.S).AsSpan(q * p.D, p.D));
                Expect.Within(gpu.Ld[q], cpu.Ld[q], 2 * bLd + ldSlack, "smoothed log-density vs cpu", q, c.ToString());
                Expect.Within(Problem.Widen(gpu.S).AsSpan(q * p.D, p.D), Problem.Widen(cpu.S).AsSpan(q * p.D, p.D), 2 * bS + sSlack, "smoothed score vs cpu", q, c.ToString());
            }
        });
}
