using FsCheck;
using FsCheck.Fluent;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// The score suite on the OpenCL backend (PoCL on CI), plus OpenCL against the CPU path and shapes that stress the
/// kernel's tiling: work-group padding, D beyond one __local slice, shards merged across backends.
/// </summary>
public sealed class OpenClScoreProperties : ScoreProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Backend;

    /// <summary>
    /// Both backends are within their float32 bound of the same exact values (the reference's), so they differ by at most
    /// the sum of the two bounds; the bound is the same expression for both, hence twice it.
    /// </summary>
    [BackendProperty(MaxTest = 100)]
    public Property MatchesTheCpuBackend() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            var cpu = Outputs.Evaluate(new EmpiricalScore<float>(set, CpuBackend.Default), queries, p.Level);
            var gpu = Outputs.Evaluate(new EmpiricalScore<float>(set, Backend), queries, p.Level);
            for (int q = 0; q < p.M; q++)
            {
                var bound = ErrorBound.For(trainD, p.D, queriesD.AsSpan(q * p.D, p.D), p.Level, ErrorBound.UnitRoundoffSingle);
                Expect.Within(gpu.LogDensity[q], cpu.LogDensity[q], 2 * bound.LogDensity, "log-density vs cpu", q, p.ToString());
                Expect.Within(gpu.Score.AsSpan(q * p.D, p.D), cpu.Score.AsSpan(q * p.D, p.D), 2 * bound.Score, "score vs cpu", q, p.ToString());
                Expect.Within(gpu.Denoiser.AsSpan(q * p.D, p.D), cpu.Denoiser.AsSpan(q * p.D, p.D), 2 * bound.Denoiser, "denoiser vs cpu", q, p.ToString());
                Expect.Within(gpu.Divergence[q], cpu.Divergence[q], 2 * bound.Divergence, "divergence vs cpu", q, p.ToString());
            }
        });

    /// <summary>A shard evaluated on the CPU and one on OpenCL merge like any two shards: the states are the same monoid.</summary>
    [BackendProperty(MaxTest = 60)]
    public Property ShardsFromBothBackends_Merge() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), (p0, cut) =>
        {
            var p = p0 with { N = Math.Max(p0.N, 2) };
            var (train, queries, trainD, queriesD) = p.Build<float>();
            var set = new TrainingSet<float>(train, p.N, p.D);
            int a = 1 + cut % (p.N - 1);
            var state = new EmpiricalScore<float>(set.Slice(0, a), CpuBackend.Default).Accumulate(queries, p.Level);
            state.Combine(new EmpiricalScore<float>(set.Slice(a, p.N - a), Backend).Accumulate(queries, p.Level));
            Expect.AgainstReference(Outputs.Finish(state, queries), trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoffSingle, $"cpu+opencl at {a}: {p}");
        });

    /// <summary>
    /// Shapes the kernel tiles awkwardly: M not a multiple of the work-group (padding work-items), N not a multiple of
    /// the point vector or the tile, D not a multiple of the vector and larger than one staged slice of 128
    /// coordinates (D = 1000), in float and double, with the CPU and the GPU kernel shapes.
    /// </summary>
    [OpenClFact]
    public void OddSizes_AndDimensionBeyondTheLocalTile_MatchTheReference()
    {
        foreach (var (n, m, d) in new[] { (1, 1, 1), (17, 33, 129), (67, 17, 1000), (130, 5, 257), (3, 49, 1000) })
        {
            var p = new Problem(n, m, d, Alpha: 0.7, SigmaOverScale: 0.5 * Math.Sqrt(d), Scale: 1, OffsetOverScale: 0, Seed: n * 31 + d);
            foreach (var backend in new IScoreBackend[] { Backend, GpuShaped.Value })
            {
                FastPathMatchesReference<float>(p, backend);
                FastPathMatchesReference<double>(p, backend);
            }
        }
    }

    /// <summary>
    /// The kernel shape chosen for GPUs (8 floats or 4 doubles per vector, four vectors per tile) run on this device: its
    /// numerics are the same, so the same bound holds wherever it runs.
    /// </summary>
    [BackendProperty(MaxTest = 60)]
    public Property GpuShapedKernel_MatchesReference() =>
        Prop.ForAll(Problem.Arbitrary, p =>
        {
            FastPathMatchesReference<float>(p, GpuShaped.Value);
            FastPathMatchesReference<double>(p, GpuShaped.Value);
        });

    private static readonly Lazy<OpenClBackend> GpuShaped = new(() =>
        new OpenClBackend(OpenClTestSupport.Backend.Context, new OpenClOptions { KernelShape = OpenClDeviceKind.Gpu, ScoreKernel = OpenClScoreKernel.Classic }));

    /// <summary>As on the CPU: a query whose every squared distance overflows float32 throws, naming the row and the remedy.</summary>
    [OpenClFact]
    public void FarQueries_InFloat32_ThrowInsteadOfNaN()
    {
        var model = new EmpiricalScore<float>(new TrainingSet<float>(new float[] { 0, 0 }, 1, 2), Backend);
        var ex = Assert.Throws<MagnitudeOverflowException>(() => model.Score(new float[] { 0.5f, 0.5f, 1e20f, 1e20f }, new NoiseLevel(1, 1)));
        Assert.Contains("query row 1", ex.Message);
        Assert.Equal("queries", ex.ParamName);
        Assert.Contains("double precision", ex.Message);
        Assert.Equal(-1, new EmpiricalScore<double>(new TrainingSet<double>(new double[] { 0, 0 }, 1, 2), Backend)
            .Score(new double[] { 1e20, 1e20 }, new NoiseLevel(1, 1))[0] / 1e20, 12);
    }
}
