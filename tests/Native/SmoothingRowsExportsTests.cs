using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Native;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Smoothing;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// kn_smoothing_rows_*: the perturbed queries kn_smoothed_* evaluates, bit for bit the host's rows (x + z in double,
/// rounded once), on random shapes (D not a multiple of any vector width), seeds and draw plans; bad arguments return a
/// status and a message, never an exception. In-process through the exports, as ExportsProperties calls them.
/// </summary>
public sealed unsafe class SmoothingRowsExportsTests
{
    private static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastErrorMessage)())!;

    private static int RowsF32(double h, int draws, ulong seed, uint flags, float[]? queries, long m, long d, float[]? rows)
    {
        fixed (float* x = queries) fixed (float* r = rows)
            return ((delegate* unmanaged<double, int, ulong, uint, float*, long, long, float*, int>)&Exports.SmoothingRowsF32)(h, draws, seed, flags, x, m, d, r);
    }

    [Property(MaxTest = 40)]
    public Property Rows_AreTheSmoothersRows_BitForBit() =>
        Prop.ForAll((from m in Gen.Choose(1, 9) from d in Gen.Choose(1, 19) from k0 in Gen.Choose(1, 6) from flags in Gen.Choose(0, 3)
                     from seed in Gen.Choose(0, int.MaxValue) select (m, d, k0, flags, seed)).ToArbitrary(), c =>
            {
                var (m, d, k0, flags, seed) = c;
                bool antithetic = (flags & 1) != 0;
                int k = antithetic ? 2 * k0 : k0;
                var rng = new Random(seed);
                float[] queries = Enumerable.Range(0, m * d).Select(_ => (float)(4 * rng.NextDouble() - 2)).ToArray();
                var rows = new float[m * k * d];
                double h = 0.05 + rng.NextDouble();
                Assert.Equal(0, RowsF32(h, k, (ulong)seed, (uint)flags, queries, m, d, rows));
                var kernel = SmoothingKernel.Gaussian(h);
                var draws = new SmoothingDraws(k, (ulong)seed, antithetic, (flags & 2) != 0);
                for (int q = 0; q < m; q++)
                {
                    var x = Array.ConvertAll(queries[(q * d)..((q + 1) * d)], v => (double)v);
                    for (int draw = 0; draw < k; draw++)
                        Assert.Equal(SmoothingCase.PerturbedQuery<float>(kernel, draws, x, q, draw),
                            Array.ConvertAll(rows[((q * k + draw) * d)..((q * k + draw + 1) * d)], v => (double)v));
                }
            });

    [Fact]
    public void BadArguments_ReturnAStatusNamingThem()
    {
        float[] x = [0.5f, 1, -1, 2], rows = new float[2 * 4 * 2];
        Assert.Equal((int)Status.NullPointer, RowsF32(0.5, 4, 0, 0, x, 2, 2, null));
        Assert.Contains("rows is NULL", LastError());
        Assert.Equal((int)Status.NullPointer, RowsF32(0.5, 4, 0, 0, null, 2, 2, rows));
        Assert.Equal((int)Status.InvalidValue, RowsF32(0.5, 4, 0, 4, x, 2, 2, rows));
        Assert.Contains("flags = 0x4", LastError());
        Assert.Equal((int)Status.InvalidValue, RowsF32(0.5, 3, 0, 1, x, 2, 2, rows));
        Assert.Contains("K must be even", LastError());
        Assert.Equal((int)Status.InvalidValue, RowsF32(0, 4, 0, 0, x, 2, 2, rows));
        Assert.Contains("h = 0", LastError());
        Assert.Equal((int)Status.InvalidSize, RowsF32(0.5, 4, 0, 0, x, 0, 2, rows));
        x[3] = float.NaN;
        Assert.Equal((int)Status.NotFinite, RowsF32(0.5, 4, 0, 0, x, 2, 2, rows));
        Assert.Contains("row 1", LastError());
    }
}
