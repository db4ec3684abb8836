using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Interop;
using Kernels.Native;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// KN_BACKEND_OPENCL through the C entry points, in-process (the same reverse-P/Invoke transition a C caller makes), on random
/// shapes: outputs against a KN_BACKEND_CPU set, the set's ownership of its OpenCL context, and how OpenCL failures map to
/// statuses. Skipped with the install hint when there is no OpenCL runtime, unless KERNELS_REQUIRE_OPENCL=1.
/// </summary>
public sealed unsafe class ExportsOpenClProperties : IRequiresOpenCl
{
    private static nint Create(float[] train, int n, int d, Backend backend)
    {
        nint set;
        int status;
        fixed (float* y = train)
            status = ((delegate* unmanaged<float*, long, long, int, int, nint*, int>)&Exports.CreateF32)(y, n, d, (int)backend, 0, &set);
        Assert.True(status == 0, $"create on {backend}: status {status}: {LastError()}");
        return set;
    }

    private static int Free(nint set) => ((delegate* unmanaged<nint, int>)&Exports.Free)(set);

    private static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastErrorMessage)())!;

    private static Outputs Evaluate(nint set, float[] queries, int m, int d, NoiseLevel level)
    {
        var (ld, s, den, div) = (new float[m], new float[m * d], new float[m * d], new float[m]);
        fixed (float* x = queries) fixed (float* a = ld) fixed (float* b = s) fixed (float* c = den) fixed (float* e = div)
            Assert.Equal(0, ((delegate* unmanaged<nint, float*, long, long, double, double, float*, float*, float*, float*, int>)&Exports.EvaluateF32)(
                set, x, m, d, level.Alpha, level.Sigma, a, b, c, e));
        return new Outputs(Problem.Widen(ld), Problem.Widen(s), Problem.Widen(den), Problem.Widen(div));
    }

    private static Outputs EvaluateLevels(nint set, float[] queries, int m, int d, double[] alphas, double[] sigmas)
    {
        var (ld, s, den, div) = (new float[m], new float[m * d], new float[m * d], new float[m]);
        fixed (float* x = queries) fixed (double* al = alphas) fixed (double* si = sigmas)
        fixed (float* a = ld) fixed (float* b = s) fixed (float* c = den) fixed (float* e = div)
            Assert.Equal(0, ((delegate* unmanaged<nint, float*, long, long, double*, double*, float*, float*, float*, float*, int>)&Exports.EvaluateLevelsF32)(
                set, x, m, d, al, si, a, b, c, e));
        return new Outputs(Problem.Widen(ld), Problem.Widen(s), Problem.Widen(den), Problem.Widen(div));
    }

    private static void WithinTwiceTheBound(Outputs gpu, Outputs cpu, double[] trainD, double[] queriesD, int d, int q, NoiseLevel level, string context)
    {
        var bound = ErrorBound.For(trainD, d, queriesD.AsSpan(q * d, d), level, ErrorBound.UnitRoundoffSingle);
        Expect.Within(gpu.LogDensity[q], cpu.LogDensity[q], 2 * bound.LogDensity, "log-density vs cpu", q, context);
        Expect.Within(gpu.Score.AsSpan(q * d, d), cpu.Score.AsSpan(q * d, d), 2 * bound.Score, "score vs cpu", q, context);
        Expect.Within(gpu.Denoiser.AsSpan(q * d, d), cpu.Denoiser.AsSpan(q * d, d), 2 * bound.Denoiser, "denoiser vs cpu", q, context);
        Expect.Within(gpu.Divergence[q], cpu.Divergence[q], 2 * bound.Divergence, "divergence vs cpu", q, context);
    }

    /// <summary>
    /// kn_evaluate_f32 and kn_evaluate_levels_f32 (three levels interleaved) on an OpenCL set are those of a CPU set within twice
    /// the float32 <see cref="ErrorBound"/>: each backend is within the bound of the float64 reference at every query's level (the
    /// same expression covers both, see OpenClScoreProperties.MatchesTheCpuBackend), so they differ by at most the sum.
    /// Each case creates its own set, hence its own context: the program cache keeps that cheap.
    /// </summary>
    [BackendProperty(MaxTest = 15)]
    public Property OpenClSet_MatchesTheCpuSetWithinTwiceTheFloat32Bound() => Prop.ForAll(Problem.Arbitrary, p =>
    {
        var (train, queries, trainD, queriesD) = p.Build<float>();
        int m = p.M, d = p.D;
        nint gpuSet = Create(train, p.N, d, Backend.OpenCl), cpuSet = Create(train, p.N, d, Backend.Cpu);
        try
        {
            var gpu = Evaluate(gpuSet, queries, m, d, p.Level);
            var cpu = Evaluate(cpuSet, queries, m, d, p.Level);
            for (int q = 0; q < m; q++) WithinTwiceTheBound(gpu, cpu, trainD, queriesD, d, q, p.Level, p.ToString());

            var levels = Enumerable.Range(0, 3).Select(j => new NoiseLevel(p.Alpha * (1 - 0.1 * j), p.Sigma * (1 + 0.5 * j))).ToArray();
            int[] of = Enumerable.Range(0, m).Select(q => (q * 7 + p.Seed) % 3).ToArray();
            double[] alphas = of.Select(j => levels[j].Alpha).ToArray(), sigmas = of.Select(j => levels[j].Sigma).ToArray();
            var gpuLevels = EvaluateLevels(gpuSet, queries, m, d, alphas, sigmas);
            var cpuLevels = EvaluateLevels(cpuSet, queries, m, d, alphas, sigmas);
            for (int q = 0; q < m; q++) WithinTwiceTheBound(gpuLevels, cpuLevels, trainD, queriesD, d, q, levels[of[q]], $"levels, {p}");
            Assert.Equal("", LastError());
        }
        finally
        {
            Assert.Equal(0, Free(gpuSet));
            Assert.Equal(0, Free(cpuSet));
        }
    });

    /// <summary>
    /// The set owns its OpenClBackend: kn_training_set_free disposes the context at once when no call is using the set, and,
    /// when one is (a lease taken as every export takes one), only once that call has returned, which still evaluates.
    /// </summary>
    [OpenClFact]
    public void Free_ReleasesTheContext_AtOnceOrWhenTheLastCallReturns()
    {
        const int n = 9, d = 3;
        var train = Enumerable.Range(0, n * d).Select(i => (float)Math.Sin(i)).ToArray();

        nint idle = Create(train, n, d, Backend.OpenCl);
        OpenClBackend idleEngine;
        using (var lease = HandleTable.Acquire(idle)) idleEngine = (OpenClBackend)lease.Set.Engine;
        Assert.False(idleEngine.Context.IsDisposed);
        Assert.Equal(0, Free(idle));
        Assert.True(idleEngine.Context.IsDisposed);

        nint busy = Create(train, n, d, Backend.OpenCl);
        var inUse = HandleTable.Acquire(busy); // a call in progress on another thread
        var engine = (OpenClBackend)inUse.Set.Engine;
        Assert.Equal(0, Free(busy));
        Assert.False(engine.Context.IsDisposed);
        var queries = train.AsSpan(0, 2 * d).ToArray();
        var ld = new float[2];
        ((NativeSet<float>)inUse.Set).Evaluate(queries, new NoiseLevel(1, 0.5), 0, new ScoreOutputs<float> { LogDensity = ld });
        Assert.All(ld, v => Assert.True(float.IsFinite(v)));
        inUse.Dispose();
        Assert.True(engine.Context.IsDisposed);
        Assert.Equal((int)Status.InvalidHandle, Free(busy));
    }

    /// <summary>An OpenCL status is returned as itself where kn_status names it, else as KN_ERROR_DEVICE_FAILURE.</summary>
    [Theory]
    [InlineData(-1, Status.DeviceNotFound)]
    [InlineData(-5, Status.OutOfResources)]
    [InlineData(-6, Status.OutOfHostMemory)]
    [InlineData(-11, Status.BuildProgramFailure)]
    [InlineData(-30, Status.InvalidValue)]
    [InlineData(-1001, Status.PlatformNotFound)]
    [InlineData(-4, Status.DeviceFailure)]
    [InlineData(-54, Status.DeviceFailure)]
    [InlineData(-9999, Status.DeviceFailure)]
    public void OpenClStatus_MapsToItselfWhereTheHeaderNamesIt_ElseToDeviceFailure(int clStatus, Status expected) =>
        Assert.Equal(expected, Exports.DeviceStatus(clStatus));
}
