using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Reference;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Distributed;

/// <summary><c>kernels partial … --out P.kst</c> and <c>kernels merge P1.kst P2.kst … --query X.npy --out S.npy</c>.</summary>
public sealed class PartialCliTests : IDisposable
{
    private const int N = 41, M = 6, D = 11;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-partial-cli-" + Guid.NewGuid().ToString("N"));
    private readonly float[] _train, _query;

    public PartialCliTests()
    {
        Directory.CreateDirectory(_dir);
        var rng = new Random(18);
        _train = CliRun.RandomMatrix(rng, N, D);
        _query = CliRun.RandomMatrix(rng, M, D);
        Npy.Write(In("query.npy"), _query, M, D);
        // three shards of unequal size, cut inside the rows
        int[] cuts = [0, 7, 30, N];
        for (int s = 0; s < 3; s++) Npy.Write(In($"y{s}.npy"), _train[(cuts[s] * D)..(cuts[s + 1] * D)], cuts[s + 1] - cuts[s], D);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private void Partial(string verb, int shard, string precision = "float32", string sigma = "0.7")
    {
        CliRun.AssertSucceeded(CliRun.Run("partial", verb, "--train", In($"y{shard}.npy"), "--query", In("query.npy"),
            "--alpha", "0.9", "--sigma", sigma, "--precision", precision, "--out", In($"{verb}{shard}{precision}{sigma}.kst")));
    }

    /// <summary>
    /// Shards merged in two orders give the whole set's score and log-density within the float32 bound of the exact
    /// result (ErrorBound: the worst case over every order of the sums, so it holds for any split and merge order).
    /// </summary>
    [Theory]
    [InlineData("score")]
    [InlineData("logdensity")]
    [InlineData("denoise")]
    [InlineData("divergence")]
    public void MergedShards_EqualTheWholeSet_InAnyOrder(string verb)
    {
        for (int s = 0; s < 3; s++) Partial(verb, s);
        var level = new NoiseLevel(0.9, 0.7);
        double[] train = Problem.Widen(_train), queries = Problem.Widen(_query);
        foreach (int[] order in new[] { new[] { 0, 1, 2 }, [2, 0, 1] })
        {
            var r = CliRun.Run(["merge", .. order.Select(s => In($"{verb}{s}float320.7.kst")), "--query", In("query.npy"), "--out", In("s.npy")]);
            CliRun.AssertSucceeded(r);
            Assert.Contains("3 shards merged", r.Out);
            var merged = Problem.Widen(Npy.Read(In("s.npy")).Single!);
            for (int q = 0; q < M; q++)
            {
                var x = queries.AsSpan(q * D, D);
                var bound = ErrorBound.For(train, D, x, level, ErrorBound.UnitRoundoffSingle);
                string context = $"{verb}, order {string.Join(",", order)}";
                switch (verb)
                {
                    case "score": Expect.Within(merged.AsSpan(q * D, D), ScoreReference.Score(train, D, x, level), bound.Score, verb, q, context); break;
                    case "denoise": Expect.Within(merged.AsSpan(q * D, D), ScoreReference.Denoiser(train, D, x, level), bound.Denoiser, verb, q, context); break;
                    case "logdensity": Expect.Within(merged[q], ScoreReference.LogDensity(train, D, x, level), bound.LogDensity, verb, q, context); break;
                    default: Expect.Within(merged[q], ScoreReference.Divergence(train, D, x, level), bound.Divergence, verb, q, context); break;
                }
            }
        }
    }

    [Fact]
    public void Merge_OfAnotherPrecisionOrLevel_FailsAndWritesNothing()
    {
        Partial("score", 0);
        Partial("score", 1, precision: "float64");
        Partial("score", 2, sigma: "0.5");
        var r = CliRun.Run("merge", In("score0float320.7.kst"), In("score1float640.7.kst"), "--query", In("query.npy"), "--out", In("s.npy"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("was evaluated in 64-bit precision but", r.Error);
        r = CliRun.Run("merge", In("score0float320.7.kst"), In("score2float320.5.kst"), "--query", In("query.npy"), "--out", In("s.npy"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("sigma = 0.5 but", r.Error);
        Assert.False(File.Exists(In("s.npy")));
    }

    [Fact]
    public void Merge_OfAnotherVerbOrQueries_FailsAndWritesNothing()
    {
        Partial("score", 0);
        Partial("logdensity", 1);
        var r = CliRun.Run("merge", In("score0float320.7.kst"), In("logdensity1float320.7.kst"), "--query", In("query.npy"), "--out", In("s.npy"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("merge states made by the same verb", r.Error);
        Npy.Write(In("other.npy"), _query[..(2 * D)], 2, D);
        r = CliRun.Run("merge", In("score0float320.7.kst"), "--query", In("other.npy"), "--out", In("s.npy"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("the batches hold M×D = 6×11", r.Error);
        File.WriteAllBytes(In("bad.kst"), [1, 2, 3]);
        r = CliRun.Run("merge", In("bad.kst"), "--query", In("query.npy"), "--out", In("s.npy"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("too short for a partial-state batch", r.Error);
        Assert.False(File.Exists(In("s.npy")));
    }
}
