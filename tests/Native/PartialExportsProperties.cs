using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Native;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// kn_partial_* and kn_schedule_level called in-process through unmanaged function pointers: shards accumulated into
/// records, merged in a random order and finished through the exports give exactly what the managed ScorePartials gives
/// for the same shards in the same order (the same code, so bit for bit); records of the wrong layout, level or count are
/// refused with a documented status and a message naming the record.
/// </summary>
public sealed unsafe class PartialExportsProperties
{
    private static nint Create(double[] train, int n, int d)
    {
        nint set;
        fixed (double* y = train)
            Assert.Equal(0, ((delegate* unmanaged<double*, long, long, int, int, nint*, int>)&Exports.CreateF64)(y, n, d, 0, 0, &set));
        return set;
    }

    private static int Free(nint set) => ((delegate* unmanaged<nint, int>)&Exports.Free)(set);

    private static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastErrorMessage)())!;

    private static int Init(byte[] states, long m, long d, double alpha, double sigma)
    {
        fixed (byte* s = states) return ((delegate* unmanaged<void*, long, long, double, double, int>)&Exports.PartialInit)(s, m, d, alpha, sigma);
    }

    private static int Accumulate(nint set, double[] queries, long m, long d, byte[] states)
    {
        fixed (double* x = queries) fixed (byte* s = states)
            return ((delegate* unmanaged<nint, double*, long, long, void*, int>)&Exports.PartialAccumulateF64)(set, x, m, d, s);
    }

    private static int Merge(byte[] into, byte[] from, long m, long d)
    {
        fixed (byte* a = into) fixed (byte* b = from) return ((delegate* unmanaged<void*, void*, long, long, int>)&Exports.PartialMerge)(a, b, m, d);
    }

    private static int Finish(byte[] states, long m, long d, double[] ld, double[] s, double[] den, double[] div)
    {
        fixed (byte* r = states) fixed (double* a = ld) fixed (double* b = s) fixed (double* c = den) fixed (double* e = div)
            return ((delegate* unmanaged<void*, long, long, double*, double*, double*, double*, int>)&Exports.PartialFinishF64)(r, m, d, a, b, c, e);
    }

    private static byte[] Records(int m, int d) => new byte[m * Exports.RecordBytes(d)];

    [Property(MaxTest = 30)]
    public Property Shards_MergedInAnyOrderThroughTheExports_EqualTheManagedPartialsBitForBit() => Prop.ForAll(Problem.Arbitrary, p =>
    {
        var (_, _, train, queries) = p.Build<double>();
        int n = p.N, m = p.M, d = p.D;
        var rng = new Random(p.Seed);
        int shards = Math.Min(n, 1 + rng.Next(4));
        var cuts = Enumerable.Range(1, n - 1).OrderBy(_ => rng.Next()).Take(shards - 1).Order().Prepend(0).Append(n).ToArray();
        var order = Enumerable.Range(0, shards).OrderBy(_ => rng.Next()).ToArray();

        var records = new byte[shards][];
        var managed = new ScorePartials[shards];
        for (int k = 0; k < shards; k++)
        {
            var shard = train.AsSpan(cuts[k] * d, (cuts[k + 1] - cuts[k]) * d).ToArray();
            nint set = Create(shard, cuts[k + 1] - cuts[k], d);
            try
            {
                records[k] = Records(m, d);
                Assert.Equal(0, Init(records[k], m, d, p.Alpha, p.Sigma));
                Assert.Equal(0, Accumulate(set, queries, m, d, records[k]));
            }
            finally
            {
                Free(set);
            }
            managed[k] = new EmpiricalScore<double>(new TrainingSet<double>(shard, cuts[k + 1] - cuts[k], d)).Accumulate(queries, p.Level);
        }
        var merged = records[order[0]];
        var expected = managed[order[0]];
        foreach (int k in order.Skip(1))
        {
            Assert.Equal(0, Merge(merged, records[k], m, d));
            expected.Combine(managed[k]);
        }
        var (ld, s, den, div) = (new double[m], new double[m * d], new double[m * d], new double[m]);
        Assert.Equal(0, Finish(merged, m, d, ld, s, den, div));
        var want = new ScoreOutputs<double> { LogDensity = new double[m], Score = new double[m * d], Denoiser = new double[m * d], Divergence = new double[m] };
        expected.Finish<double>(queries, want);
        Assert.Equal(want.LogDensity.ToArray(), ld);
        Assert.Equal(want.Score.ToArray(), s);
        Assert.Equal(want.Denoiser.ToArray(), den);
        Assert.Equal(want.Divergence.ToArray(), div);
        // each record carries its count and level
        fixed (byte* r = merged)
            for (int q = 0; q < m; q++)
            {
                byte* record = r + q * Exports.RecordBytes(d);
                Assert.Equal(Exports.PartialMagic, *(uint*)record);
                Assert.Equal(Exports.PartialLayoutVersion, *(uint*)(record + 4));
                Assert.Equal(n, *(long*)(record + 8));
                Assert.Equal(p.Alpha, *(double*)(record + 16));
                Assert.Equal(p.Sigma, *(double*)(record + 24));
            }
    });

    [Fact]
    public void BadRecords_AreRefusedWithADocumentedStatusAndTheRecordNamed()
    {
        const int m = 3, d = 2;
        double[] train = [0, 0, 1, 1, 2, 0], queries = [0.5, 0.5, 1, 0, 0, 1];
        nint set = Create(train, 3, d);
        try
        {
            var states = Records(m, d);
            Assert.Equal((int)Status.InvalidValue, Accumulate(set, queries, m, d, states)); // all zero: never initialised
            Assert.Contains("states[0] is not a partial-state record", LastError());
            Assert.Equal((int)Status.InvalidValue, Init(states, m, d, 1, 0));
            Assert.Contains("sigma = 0", LastError());
            Assert.Equal((int)Status.InvalidSize, Init(states, 0, d, 1, 1));
            // a batch past what one array holds is refused before any record is touched (the pointer is never read)
            Assert.Equal((int)Status.InvalidSize, ((delegate* unmanaged<void*, long, long, double, double, int>)&Exports.PartialInit)((void*)8, 1 << 20, 1 << 20, 1, 1));
            Assert.Contains("split the queries into smaller batches", LastError());
            Assert.Equal((int)Status.NullPointer, ((delegate* unmanaged<void*, long, long, double, double, int>)&Exports.PartialInit)(null, m, d, 1, 1));
            Assert.Equal(0, Init(states, m, d, 1, 0.5));
            var (ld, s, den, div) = (new double[m], new double[m * d], new double[m * d], new double[m]);
            Assert.Equal((int)Status.InvalidValue, Finish(states, m, d, ld, s, den, div));
            Assert.Contains("states[0] has no training points merged in (count = 0)", LastError());
            Assert.Equal(0, Accumulate(set, queries, m, d, states));
            var other = Records(m, d);
            Assert.Equal(0, Init(other, m, d, 1, 0.25));
            Assert.Equal(0, Accumulate(set, queries, m, d, other));
            var before = states.ToArray();
            Assert.Equal((int)Status.InvalidValue, Merge(states, other, m, d));
            Assert.Contains("merge states of one noise level only", LastError());
            Assert.Equal(before, states); // refused before anything was written
            fixed (byte* r = other) *(uint*)(r + Exports.RecordBytes(d) + 4) = 7; // record 1's layout version
            Assert.Equal(0, Init(other, 1, d, 1, 0.5));
            Assert.Equal((int)Status.InvalidValue, Merge(states, other, m, d));
            Assert.Contains("from[1] has partial-state layout version 7", LastError());
            Assert.Equal((int)Status.PrecisionMismatch,
                ((delegate* unmanaged<nint, float*, long, long, void*, int>)&Exports.PartialAccumulateF32)(set, (float*)1, m, d, (void*)1));
            Assert.Equal(0, Merge(states, states, m, d)); // a batch with itself: twice the count, the same outputs
            Assert.Equal(0, Finish(states, m, d, ld, null!, null!, null!));
        }
        finally
        {
            Free(set);
        }
    }

    [Theory]
    [InlineData("ou")]
    [InlineData("VP")]
    [InlineData("ve")]
    [InlineData("edm")]
    public void ScheduleLevel_IsTheManagedScheduleBitForBit(string name)
    {
        foreach (double t in new[] { 1e-4, 0.04, 0.5, 1.0 })
        {
            double alpha, sigma;
            fixed (byte* text = System.Text.Encoding.UTF8.GetBytes(name + "\0"))
                Assert.Equal(0, ((delegate* unmanaged<byte*, double, double*, double*, int>)&Exports.ScheduleLevel)(text, t, &alpha, &sigma));
            var level = NoiseSchedule.Parse(name).At(t);
            Assert.Equal(level.Alpha, alpha);
            Assert.Equal(level.Sigma, sigma);
        }
        double a, b;
        fixed (byte* text = "cosine\0"u8)
            Assert.Equal((int)Status.InvalidValue, ((delegate* unmanaged<byte*, double, double*, double*, int>)&Exports.ScheduleLevel)(text, 0.1, &a, &b));
        Assert.Contains("Unknown schedule 'cosine'", LastError());
        fixed (byte* text = "ve\0"u8)
            Assert.Equal((int)Status.InvalidValue, ((delegate* unmanaged<byte*, double, double*, double*, int>)&Exports.ScheduleLevel)(text, -1, &a, &b));
    }
}
