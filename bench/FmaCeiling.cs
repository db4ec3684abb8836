using BenchmarkDotNet.Attributes;

namespace Kernels.Bench;

/// <summary>
/// The machine's float32 FMA ceiling, measured in the same run as the kernels it is compared with:
/// <see cref="Kernels.Numerics.Diagnostics.FmaCeiling.Chains"/>, twelve independent FMA chains held in registers (no memory
/// traffic), the same construction as ../shared/peers/fmapeak.c. A large matrix product cannot beat it; our kernels are
/// quoted as a share of it.
/// </summary>
public class FmaCeiling : ICountsFlops
{
    private const long Iterations = 20_000_000;

    public double Flops(string method) =>
        Iterations * 12 * Kernels.Numerics.Diagnostics.FmaCeiling.Width * 2.0 * (method == nameof(AllCores) ? Environment.ProcessorCount : 1);

    [Benchmark(Description = "FMA ceiling, 1 thread")]
    public float OneThread() => Chains(1f);

    [Benchmark(Description = "FMA ceiling, all cores"), BenchmarkCategory("Check")]
    public float AllCores()
    {
        var sums = new float[Environment.ProcessorCount];
        Parallel.For(0, sums.Length, new ParallelOptions { MaxDegreeOfParallelism = sums.Length }, i => sums[i] = Chains(i + 1));
        return sums.Sum();
    }

    private static float Chains(float seed) => Kernels.Numerics.Diagnostics.FmaCeiling.Chains(seed, Iterations);
}
