using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// The score-kernel tuner: it times the classic kernel and each candidate once, keeps the fastest in memory and in its
/// cache file, reads the file back in a later process (simulated by forgetting the memory), ignores lines it cannot
/// parse, and works on (in memory only) when the cache folder cannot be written.
/// </summary>
public sealed class OpenClTunerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-tuner-" + Guid.NewGuid().ToString("N"));
    private static readonly TileShape[] Shapes = [new(8, 8, 2, 2, 0, 16), new(64, 4, 16, 4, 16, 4)];

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static string UniqueKey() => "test-device|" + Guid.NewGuid().ToString("N");

    [Fact]
    public void TheFastestWins_IsWrittenOnce_AndReadBackWithoutTiming()
    {
        string key = UniqueKey(), path = Path.Combine(_dir, "tuning.tsv");
        var timed = new List<TileShape?>();
        double Time(TileShape? s)
        {
            timed.Add(s);
            return s == Shapes[1] ? 1 : 2;
        }
        Assert.Equal(Shapes[1], OpenClTuner.Choose(key, Shapes, Time, path));
        Assert.Equal([null, Shapes[0], Shapes[1]], timed);
        Assert.Contains($"{key}\t{Shapes[1]}", File.ReadAllText(path));

        OpenClTuner.Forget(key); // a new process: the file answers
        Assert.Equal(Shapes[1], OpenClTuner.Choose(key, Shapes, _ => throw new InvalidOperationException("timed again"), path));
    }

    [Fact]
    public void TheClassicKernel_WhenFastest_IsCachedAsSuch()
    {
        string key = UniqueKey(), path = Path.Combine(_dir, "tuning.tsv");
        Assert.Null(OpenClTuner.Choose(key, Shapes, s => s is null ? 1 : 2, path));
        OpenClTuner.Forget(key);
        Assert.Null(OpenClTuner.Choose(key, Shapes, _ => throw new InvalidOperationException("timed again"), path));
    }

    [Fact]
    public void AGarbledLine_IsIgnored_AndTunedAgain()
    {
        string key = UniqueKey(), path = Path.Combine(_dir, "tuning.tsv");
        Directory.CreateDirectory(_dir);
        File.WriteAllText(path, $"{key}\t3,x,1\nnot a line\n");
        Assert.Equal(Shapes[0], OpenClTuner.Choose(key, Shapes, s => s == Shapes[0] ? 1 : 2, path));
    }

    [Fact]
    public void AnUnwritableCacheFolder_KeepsTheChoiceInMemory()
    {
        string key = UniqueKey();
        Directory.CreateDirectory(_dir);
        string blocker = Path.Combine(_dir, "a-file");
        File.WriteAllText(blocker, "");
        string path = Path.Combine(blocker, "sub", "tuning.tsv"); // its folder would sit under a file: never creatable
        int timings = 0;
        Assert.Equal(Shapes[0], OpenClTuner.Choose(key, Shapes, s => { timings++; return s == Shapes[0] ? 1 : 2; }, path));
        Assert.Equal(Shapes[0], OpenClTuner.Choose(key, Shapes, _ => throw new InvalidOperationException("timed again"), path));
        Assert.Equal(3, timings);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void TheCachePath_FollowsTheOverrideVariable_ElseXdgOrHome()
    {
        string? saved = Environment.GetEnvironmentVariable(OpenClTuner.CacheDirectoryVariable);
        try
        {
            Environment.SetEnvironmentVariable(OpenClTuner.CacheDirectoryVariable, _dir);
            Assert.Equal(_dir, Path.GetDirectoryName(OpenClTuner.CachePath));
            Environment.SetEnvironmentVariable(OpenClTuner.CacheDirectoryVariable, null);
            Assert.EndsWith(Path.Combine("kernels", Path.GetFileName(OpenClTuner.CachePath)), OpenClTuner.CachePath);
        }
        finally
        {
            Environment.SetEnvironmentVariable(OpenClTuner.CacheDirectoryVariable, saved);
        }
    }

    /// <summary>The backend with no kernel forced tunes on first use (here on this device, D ≤ 16) and runs the choice, within the bound.</summary>
    [OpenClFact]
    public void TheBackend_TunesOnFirstUse_AndMatchesTheReference()
    {
        using var backend = new OpenClBackend(OpenClTestSupport.Backend.Context);
        var p = new Problem(70, 40, 5, Alpha: 0.8, SigmaOverScale: 0.5, Scale: 1, OffsetOverScale: 0, Seed: 3);
        var (train, queries, trainD, queriesD) = p.Build<float>();
        var actual = Outputs.Evaluate(new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, p.D), backend), queries, p.Level);
        Expect.AgainstReference(actual, trainD, p.D, queriesD, p.Level, ErrorBound.UnitRoundoff<float>(), $"tuned ({backend.LastKernel}): {p}");
    }
}
