using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Diagnostics;

/// <summary>
/// The machine's float32 FMA ceiling in GFLOP/s, measured where it is used (in the same run as the timing it scales):
/// twelve independent FMA chains per thread held in registers, no memory traffic, the widest vectors the JIT
/// accelerates (the construction of ../shared/peers/fmapeak.c and bench/fmaceiling.c); no kernel can beat it. Used by
/// <c>kernels bench</c> and the benchmark suites, so every throughput can be quoted as a share of it.
/// </summary>
public static class FmaCeiling
{
    /// <summary>Twelve chains hide the FMA latency (4 cycles) on two FMA ports with room to spare.</summary>
    private const int ChainCount = 12;

    /// <summary>Iterations per measurement: about 0.05–0.1 s per thread at 2–4 GHz.</summary>
    private const long Iterations = 10_000_000;

    /// <summary>Best of <paramref name="repeats"/> measurements of 15–30 ms on <paramref name="threads"/> threads (the best: other processes only slow it down, and a short window with every core free is likely).</summary>
    /// <param name="threads">Threads, ≥ 1, each running its own chains.</param>
    /// <param name="repeats">Measurements, the best of which is returned.</param>
    /// <returns>GFLOP/s (an FMA counts as two flops).</returns>
    public static double Measure(int threads, int repeats = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        double flops = (double)threads * Iterations * ChainCount * Width * 2;
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            var sums = new float[threads]; // results stored to the heap: the chains cannot be optimised away
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                i => sums[i] = Chains(i + 1, Iterations));
            double seconds = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, flops / seconds / 1e9);
        }
        return best;
    }

    /// <summary>
    /// <paramref name="iterations"/> steps of twelve independent FMA chains on the widest accelerated vectors
    /// (12 · width · 2 flops a step); returns their sum so nothing can be optimised away.
    /// </summary>
    /// <param name="seed">The chains' start (differs per thread).</param>
    /// <param name="iterations">Steps.</param>
    public static float Chains(float seed, long iterations) =>
        Vector512.IsHardwareAccelerated ? Run512(seed, iterations) : Run256(seed, iterations);

    /// <summary>Floats per vector of <see cref="Chains"/>.</summary>
    public static int Width => Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;

    private static float Run512(float seed, long iterations)
    {
        var m = Vector512.Create(0.9999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
            a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (long i = 0; i < iterations; i++)
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

    private static float Run256(float seed, long iterations)
    {
        var m = Vector256.Create(0.9999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
            a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}
