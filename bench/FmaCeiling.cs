using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;

namespace Kernels.Bench;

/// <summary>
/// The machine's float32 FMA ceiling, measured in the same run as the kernels it is compared with:
/// twelve independent Vector512 FMA chains held in registers (no memory traffic), the same construction as
/// ../shared/peers/fmapeak.c. A large matrix product cannot beat it; our kernels are quoted as a share of it.
/// </summary>
public class FmaCeiling : ICountsFlops
{
    private const long Iterations = 20_000_000;

    public double Flops(string method) =>
        Iterations * 12 * Vector512<float>.Count * 2.0 * (method == nameof(AllCores) ? Environment.ProcessorCount : 1);

    [Benchmark(Description = "FMA ceiling, 1 thread")]
    public float OneThread() => Chains(1f);

    [Benchmark(Description = "FMA ceiling, all cores"), BenchmarkCategory("Check")]
    public float AllCores()
    {
        var sums = new float[Environment.ProcessorCount];
        Parallel.For(0, sums.Length, new ParallelOptions { MaxDegreeOfParallelism = sums.Length }, i => sums[i] = Chains(i + 1));
        return sums.Sum();
    }

    private static float Chains(float seed)
    {
        var m = Vector512.Create(0.9999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
            a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (long i = 0; i < Iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}
