using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>The safe interop layer: errors that carry their cause, disposal, thread safety, device facts, residency.</summary>
public sealed class OpenClInteropTests : IRequiresOpenCl
{
    [OpenClFact]
    public void ProgramWithACompileError_ThrowsWithTheBuildLog()
    {
        using var context = new OpenClContext();
        const string source = "__kernel void broken(__global float *a) { a[0] = undeclared_name; }";
        var e = Assert.Throws<OpenClException>(() => context.BuildProgram(source, "-cl-std=CL1.2"));
        Assert.Equal("clBuildProgram", e.Call);
        Assert.Equal(-11, e.Status);
        Assert.Contains("CL_BUILD_PROGRAM_FAILURE", e.Message);
        Assert.Contains("undeclared_name", e.Message); // the compiler's own diagnostic, from the build log
    }

    [OpenClFact]
    public void AWorkGroupThatDoesNotDivideTheRange_IsRejectedBeforeTheDriverSeesIt_AndDriverErrorsAreNamed()
    {
        using var context = new OpenClContext();
        var kernel = context.BuildProgram("__kernel void noop(__global float *a) { }", "-cl-std=CL1.2").Kernel("noop");
        using var buffer = context.CreateBuffer<float>(1000);
        kernel.SetArgument(0, buffer);
        Assert.Throws<ArgumentException>(() => kernel.Enqueue(1000, 64));
        var e = Assert.Throws<OpenClException>(() => kernel.SetArgument(5, 1f));
        Assert.Contains("CL_INVALID_ARG_INDEX", e.Message);
        Assert.Contains("clSetKernelArg", e.Message);
        Assert.Equal("CL_INVALID_WORK_GROUP_SIZE", OpenClException.StatusName(-54));
    }

    [OpenClFact]
    public void Programs_AreCachedPerSourceAndOptions_AndRebuiltOnceReleased()
    {
        using var context = new OpenClContext();
        const string source = "__kernel void fill(__global float *a) { a[get_global_id(0)] = VALUE; }";
        var one = context.BuildProgram(source, "-DVALUE=1");
        Assert.Same(one, context.BuildProgram(source, "-DVALUE=1"));
        var two = context.BuildProgram(source, "-DVALUE=2");
        Assert.NotSame(one, two);
        using var buffer = context.CreateBuffer<float>(8);
        foreach (var (program, value) in new[] { (one, 1f), (two, 2f) })
        {
            var kernel = program.Kernel("fill");
            Assert.Same(kernel, program.Kernel("fill"));
            kernel.SetArgument(0, buffer);
            kernel.Enqueue(8, 8).Dispose();
            var result = new float[8];
            buffer.Read<float>(result).Dispose();
            Assert.All(result, v => Assert.Equal(value, v));
        }
        one.Dispose();
        Assert.True(one.IsDisposed);
        var rebuilt = context.BuildProgram(source, "-DVALUE=1");
        Assert.NotSame(one, rebuilt);
        Assert.False(rebuilt.IsDisposed);
    }

    [OpenClFact]
    public void UseAfterDispose_ThrowsObjectDisposed()
    {
        var context = new OpenClContext();
        var program = context.BuildProgram("__kernel void noop(__global float *a) { a[get_global_id(0)] = 1; }", "-cl-std=CL1.2");
        var kernel = program.Kernel("noop");
        var buffer = context.CreateBuffer<float>(16);
        context.Dispose();
        context.Dispose(); // idempotent
        Assert.True(buffer.IsDisposed); // the context released what it owned
        Assert.Throws<ObjectDisposedException>(() => context.BuildProgram("__kernel void other() { }"));
        Assert.Throws<ObjectDisposedException>(() => context.CreateBuffer<float>(4));
        Assert.Throws<ObjectDisposedException>(() => kernel.SetArgument(0, 1f));
        Assert.Throws<ObjectDisposedException>(() => buffer.Write<float>(new float[4]));
        Assert.Throws<ObjectDisposedException>(() => program.Kernel("noop"));

        var backend = new OpenClBackend();
        backend.Dispose();
        var set = new TrainingSet<float>(new float[] { 1, 2 }, 2, 1);
        Assert.Throws<ObjectDisposedException>(() => new EmpiricalScore<float>(set, backend).Score(new float[] { 0.5f }, new NoiseLevel(1, 1)));
    }

    /// <summary>PoCL fails when threads enumerate platforms at once; the runtime enumerates once, so 8 threads may all create contexts.</summary>
    [OpenClFact]
    public void EightThreadsCreatingContextsAtOnce_AllSucceed()
    {
        var results = new float[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            using var context = new OpenClContext();
            var kernel = context.BuildProgram("__kernel void fill(__global float *a, float v) { a[get_global_id(0)] = v; }", "-cl-std=CL1.2").Kernel("fill");
            using var buffer = context.CreateBuffer<float>(64);
            lock (context.SyncRoot)
            {
                kernel.SetArgument(0, buffer);
                kernel.SetArgument(1, (float)i);
                kernel.Enqueue(64, 16).Dispose();
            }
            results[i] = new float[64];
            buffer.Read<float>(results[i]).Dispose();
        });
        for (int i = 0; i < 8; i++) Assert.All(results[i], v => Assert.Equal(i, v));
    }

    [OpenClFact]
    public void Devices_AreListedWithCapabilities_AndSelectorsFindThem()
    {
        var devices = OpenClRuntime.Devices;
        Assert.NotEmpty(devices);
        var first = devices[0];
        Assert.False(string.IsNullOrWhiteSpace(first.Name));
        Assert.True(first.ComputeUnits >= 1 && first.MaxWorkGroupSize >= 1 && first.LocalMemorySize > 0);
        Assert.Equal(first.Extensions.Contains("cl_khr_fp64"), first.HasFp64); // from CL_DEVICE_EXTENSIONS, not IsExtensionPresent
        Assert.Same(first, OpenClDeviceSelector.Parse("0").Select());
        Assert.Same(first, OpenClDeviceSelector.ByName(first.Name[..Math.Min(6, first.Name.Length)].ToUpperInvariant()).Select());
        Assert.Same(devices.First(d => d.Kind == first.Kind), OpenClDeviceSelector.Parse(first.Kind.ToString().ToLowerInvariant()).Select());
        var e = Assert.Throws<OpenClUnavailableException>(() => OpenClDeviceSelector.ByName("no such device anywhere").Select());
        Assert.Contains(first.Name, e.Message);
    }

    [OpenClFact]
    public void TrainingSet_StaysResidentAcrossCalls_AndCanBeEvicted()
    {
        using var backend = new OpenClBackend(profiling: true);
        var set = new TrainingSet<float>(Enumerable.Range(0, 300).Select(i => (float)Math.Sin(i)).ToArray(), 100, 3);
        var model = new EmpiricalScore<float>(set, backend);
        var queries = new float[] { 0.1f, 0.2f, 0.3f, -0.5f, 0.5f, 0 };
        var level = new NoiseLevel(0.9, 0.4);
        Assert.False(backend.IsResident(set));
        var first = model.Score(queries, level);
        Assert.True(backend.IsResident(set));
        Assert.True(backend.LastTimings.TrainingUpload > TimeSpan.Zero);
        var second = model.Score(queries, level);
        Assert.Equal(TimeSpan.Zero, backend.LastTimings.TrainingUpload); // no second upload
        Assert.True(backend.LastTimings.Kernel > TimeSpan.Zero);
        Assert.Equal(first, second); // the same kernel on the same data is deterministic
        Assert.True(backend.Evict(set));
        Assert.False(backend.IsResident(set));
        Assert.Equal(first, model.Score(queries, level));
    }

    /// <summary>
    /// The backend seam: an OpenCL-only set never gets the CPU backend's transposed copy; Prepare uploads it (as
    /// MakeResident); the OpenCL backend reports no host thread limit and no serial copy of itself.
    /// </summary>
    [OpenClFact]
    public void OpenClOnlySet_HasNoCpuLayout_AndPrepareUploads()
    {
        using var backend = new OpenClBackend(OpenClTestSupport.Backend.Context);
        IScoreBackend seam = backend;
        var set = new TrainingSet<float>(Enumerable.Range(0, 40 * 20).Select(i => (float)Math.Cos(i)).ToArray(), 40, 20);
        seam.Prepare(set);
        Assert.True(backend.IsResident(set));
        new EmpiricalScore<float>(set, backend).Score(new float[20], new NoiseLevel(0.9, 0.5));
        Assert.False(Kernels.Numerics.Cpu.CpuLayout<float>.IsBuilt(set));
        Assert.Equal(-1, seam.MaxDegreeOfParallelism);
        Assert.Null(seam.WithMaxDegreeOfParallelism(1));
    }
}
