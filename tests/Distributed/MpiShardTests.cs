using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Distributed;

/// <summary>
/// <c>mpirun -np P kernels score … --shard mpi</c> on loopback: every P from 1 to 4 gives the whole set's result within the
/// float32 bound of the exact one (ErrorBound: the worst case over every order of the sums, so it covers any split into
/// ranks and any reduction order), with states of D = 4099 doubles (records of 66 000 bytes, larger than Open MPI's
/// slices of a flat array), M not divisible by P, shards of unequal size, and a rank with zero rows.
/// </summary>
public sealed class MpiShardTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-mpi-" + Guid.NewGuid().ToString("N"));

    public MpiShardTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private (double[] Train, double[] Queries) Inputs(int n, int m, int d, int seed)
    {
        var rng = new Random(seed);
        float[] train = CliRun.RandomMatrix(rng, n, d), queries = CliRun.RandomMatrix(rng, m, d);
        Npy.Write(In("y.npy"), train, n, d);
        Npy.Write(In("x.npy"), queries, m, d);
        return (Problem.Widen(train), Problem.Widen(queries));
    }

    private static void AssertScore(float[] actual, double[] train, double[] queries, int d, NoiseLevel level, string context)
    {
        for (int q = 0; q < queries.Length / d; q++)
        {
            var x = queries.AsSpan(q * d, d);
            Expect.Within(Problem.Widen(actual).AsSpan(q * d, d), ScoreReference.Score(train, d, x, level),
                ErrorBound.For(train, d, x, level, ErrorBound.UnitRoundoffSingle).Score, "score", q, context);
        }
    }

    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Score_OnPRanks_EqualsTheWholeSet(int ranks)
    {
        const int n = 23, m = 5, d = 4099; // 23 rows on 2, 3, 4 ranks: shards of unequal size; M = 5 divisible by none
        var (train, queries) = Inputs(n, m, d, 100 + ranks);
        var level = new NoiseLevel(0.8, 12);
        var r = MpiTestSupport.Kernels(ranks, "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "0.8", "--sigma", "12",
            "--shard", "mpi", "--out", In("s.npy"));
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Error}");
        Assert.Contains($"sharded over {ranks} MPI rank", r.Out);
        AssertScore(Npy.Read(In("s.npy")).Single!, train, queries, d, level, $"mpirun -np {ranks}");
    }

    /// <summary>
    /// One rank holds the whole file and has nothing to reduce: <c>mpirun -np 1 … --shard mpi</c> runs the plain verb, so
    /// its file has the plain run's bits (a NaN row is refused as the plain verb refuses it, and nothing is written).
    /// </summary>
    [MpiFact]
    public void OneRank_RunsThePlainVerb_BitForBit()
    {
        const int n = 37, m = 6, d = 5;
        Inputs(n, m, d, 11);
        var r = MpiTestSupport.Kernels(1, "denoise", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "0.9", "--sigma", "0.4",
            "--shard", "mpi", "--out", In("m1.npy"));
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Error}");
        Assert.Contains("sharded over 1 MPI rank: evaluated whole", r.Out);
        var plain = CliRun.Run("denoise", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "0.9", "--sigma", "0.4", "--out", In("m0.npy"));
        Assert.True(plain.ExitCode == 0, $"exit {plain.ExitCode}: {plain.Error}");
        Assert.Equal(Npy.Read(In("m0.npy")).Single!, Npy.Read(In("m1.npy")).Single!);

        float[] bad = CliRun.RandomMatrix(new Random(5), n, d);
        bad[30 * d + 1] = float.NaN;
        Npy.Write(In("bad.npy"), bad, n, d);
        var refused = MpiTestSupport.Kernels(1, "denoise", "--train", In("bad.npy"), "--query", In("x.npy"), "--alpha", "0.9", "--sigma", "0.4",
            "--shard", "mpi", "--out", In("m2.npy"));
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--train", refused.Error);
        Assert.Contains("row 30", refused.Error);
        Assert.False(File.Exists(In("m2.npy")));
    }

    /// <summary>3 rows on 4 ranks: rank 0 holds none (rows [0, 0)) and contributes the identity.</summary>
    [MpiFact]
    public void Logdensity_WithARankOfZeroRows_EqualsTheWholeSet()
    {
        const int n = 3, m = 7, d = 9;
        var (train, queries) = Inputs(n, m, d, 7);
        var level = new NoiseLevel(1, 0.6);
        var r = MpiTestSupport.Kernels(4, "logdensity", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.6",
            "--precision", "float64", "--shard", "mpi", "--out", In("l.npy"));
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Error}");
        var actual = Npy.Read(In("l.npy")).Double!;
        for (int q = 0; q < m; q++)
        {
            var x = queries.AsSpan(q * d, d);
            Expect.Within(actual[q], ScoreReference.LogDensity(train, d, x, level),
                ErrorBound.For(train, d, x, level, ErrorBound.UnitRoundoffDouble).LogDensity, "log-density", q, "4 ranks, one empty");
        }
    }

    /// <summary>A NaN in row 17 of 20 (rank 3's rows [15, 20) on 4 ranks): every rank exits non-zero naming rank 3 and row 17; no file.</summary>
    [MpiFact]
    public void AFailingRank_StopsEveryRank_NamingRankAndRow_AndWritesNothing()
    {
        const int n = 20, d = 6;
        var rng = new Random(3);
        float[] train = CliRun.RandomMatrix(rng, n, d);
        train[17 * d + 2] = float.NaN;
        Npy.Write(In("y.npy"), train, n, d);
        Npy.Write(In("x.npy"), CliRun.RandomMatrix(rng, 3, d), 3, d);
        var r = MpiTestSupport.Kernels(4, "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--shard", "mpi", "--out", In("s.npy"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error: rank 3: --train", r.Error);
        Assert.Contains("row 17 (column 2) is NaN", r.Error);
        Assert.Equal(3, r.Error.Split('\n').Count(line => line.Contains("error: rank 3 failed")));
        Assert.False(File.Exists(In("s.npy")));
    }

    /// <summary>An unreadable --train (not a .npy) fails on every rank, each naming itself; no file.</summary>
    [MpiFact]
    public void ABadHeader_FailsOnEveryRank_AndWritesNothing()
    {
        File.WriteAllText(In("y.npy"), "not an array");
        Npy.Write(In("x.npy"), new float[] { 1, 2 }, 1, 2);
        var r = MpiTestSupport.Kernels(2, "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--shard", "mpi", "--out", In("s.npy"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error: rank 0: --train", r.Error);
        Assert.Contains("magic bytes", r.Error);
        Assert.False(File.Exists(In("s.npy")));
    }
}
