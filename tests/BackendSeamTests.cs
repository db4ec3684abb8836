using Kernels.Numerics;
using Kernels.Numerics.Cpu;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// What callers ask the backend interface instead of its type: the CPU backend's thread limit and its copy limited to
/// fewer threads (the same bits), and its per-set layout, built on first use or by Prepare, never by the training set.
/// </summary>
public sealed class BackendSeamTests
{
    private static TrainingSet<float> Set(int n, int d) =>
        new(Enumerable.Range(0, n * d).Select(i => (float)Math.Sin(0.37 * i)).ToArray(), n, d);

    [Fact]
    public void TrainingSet_BuildsNoCpuLayout_UntilTheCpuBackendNeedsIt()
    {
        var set = Set(70, 40);
        Assert.False(CpuLayout<float>.IsBuilt(set));
        _ = set.Slice(3, 20);
        Assert.False(CpuLayout<float>.IsBuilt(set));
        new EmpiricalScore<float>(set).Score(new float[40], new NoiseLevel(0.8, 0.5));
        Assert.True(CpuLayout<float>.IsBuilt(set));
    }

    [Fact]
    public void Prepare_BuildsTheLayout_OnlyWhereThePointsInLanesKernelRuns()
    {
        IScoreBackend cpu = new CpuBackend();
        var wide = Set(50, 40);
        var narrow = Set(50, 3); // D <= 16: the query-lanes kernel reads the rows
        cpu.Prepare(wide);
        cpu.Prepare(narrow);
        Assert.True(CpuLayout<float>.IsBuilt(wide));
        Assert.False(CpuLayout<float>.IsBuilt(narrow));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(40)]
    public void WithMaxDegreeOfParallelism_KeepsTheBits_AndReportsItsLimit(int d)
    {
        IScoreBackend cpu = new CpuBackend(tileGroups: 4);
        Assert.Equal(-1, cpu.MaxDegreeOfParallelism);
        var serial = cpu.WithMaxDegreeOfParallelism(1);
        Assert.NotNull(serial);
        Assert.Equal(1, serial.MaxDegreeOfParallelism);
        Assert.Equal(4, ((CpuBackend)serial).TileGroups);
        var set = Set(300, d);
        var queries = Enumerable.Range(0, 70 * d).Select(i => (float)Math.Cos(0.11 * i)).ToArray();
        var level = new NoiseLevel(0.7, 0.6);
        Assert.Equal(new EmpiricalScore<float>(set, cpu).Score(queries, level), new EmpiricalScore<float>(set, serial).Score(queries, level));
        Assert.Throws<ArgumentOutOfRangeException>(() => cpu.WithMaxDegreeOfParallelism(0));
    }
}
