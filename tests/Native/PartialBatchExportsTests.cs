using System.Runtime.InteropServices;
using Kernels.Native;
using Kernels.Numerics;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// kn_partial_batch_header / kn_partial_batch_check in-process: a batch made of the C ABI's header and kn_partial_*
/// records is byte for byte the managed PartialStateBatch of the same shard (so .kst files from C and from the CLI read
/// each other), and the check refuses another layout version, D, M or precision naming both values.
/// </summary>
public sealed unsafe class PartialBatchExportsTests
{
    private static int Header(byte[] header, long m, long d, int bits)
    {
        fixed (byte* h = header) return ((delegate* unmanaged<void*, long, long, int, int>)&Exports.PartialBatchHeader)(h, m, d, bits);
    }

    private static int Check(byte[] header, long m, long d, int bits)
    {
        fixed (byte* h = header) return ((delegate* unmanaged<void*, long, long, int, int>)&Exports.PartialBatchCheck)(h, m, d, bits);
    }

    private static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastErrorMessage)())!;

    [Fact]
    public void CAbiBatch_IsTheManagedBatch_ByteForByte()
    {
        const int n = 9, m = 4, d = 5;
        double[] train = Enumerable.Range(0, n * d).Select(i => Math.Sin(0.7 * i)).ToArray();
        double[] queries = Enumerable.Range(0, m * d).Select(i => Math.Cos(1.3 * i)).ToArray();
        var level = new NoiseLevel(0.9, 0.8);

        var records = new byte[m * Exports.RecordBytes(d)];
        nint set;
        fixed (double* y = train)
            Assert.Equal(0, ((delegate* unmanaged<double*, long, long, int, int, nint*, int>)&Exports.CreateF64)(y, n, d, 0, 0, &set));
        fixed (byte* s = records)
        {
            Assert.Equal(0, ((delegate* unmanaged<void*, long, long, double, double, int>)&Exports.PartialInit)(s, m, d, level.Alpha, level.Sigma));
            fixed (double* x = queries)
                Assert.Equal(0, ((delegate* unmanaged<nint, double*, long, long, void*, int>)&Exports.PartialAccumulateF64)(set, x, m, d, s));
        }
        Assert.Equal(0, ((delegate* unmanaged<nint, int>)&Exports.Free)(set));
        var header = new byte[PartialStateBatch.HeaderBytes];
        Assert.Equal(0, Header(header, m, d, 64));

        var managed = PartialStateBatch.FromPartials(new EmpiricalScore<double>(new TrainingSet<double>(train, n, d)).Accumulate(queries, level), 64, StateOutput.Unspecified);
        using var stream = new MemoryStream();
        managed.WriteTo(stream);
        Assert.Equal(stream.ToArray(), header.Concat(records).ToArray());
        Assert.Equal(0, Check(header, m, d, 64));
    }

    [Fact]
    public void Check_RefusesAnotherVersionDMOrPrecision_NamingBoth()
    {
        var header = new byte[PartialStateBatch.HeaderBytes];
        Assert.Equal(0, Header(header, 3, 7, 32));
        const int invalidValue = (int)Status.InvalidValue;
        Assert.Equal(invalidValue, Check(header, 3, 8, 32));
        Assert.Contains("the batch has D = 7 but d = 8", LastError());
        Assert.Equal(invalidValue, Check(header, 2, 7, 32));
        Assert.Contains("the batch has M = 3 queries but m = 2", LastError());
        Assert.Equal(invalidValue, Check(header, 3, 7, 64));
        Assert.Contains("evaluated in 32-bit precision but precision_bits = 64", LastError());
        header[4] = 9;
        Assert.Equal(invalidValue, Check(header, 3, 7, 32));
        Assert.Contains("layout version 9 but this library reads version 1", LastError());
        Assert.Equal(invalidValue, Header(header, 3, 7, 16));
        Assert.Contains("precision_bits = 16", LastError());
    }
}
