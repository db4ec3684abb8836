using System.Diagnostics;
using System.Runtime.Intrinsics;

namespace Kernels.Cli;

/// <summary>
/// The machine's float32 FMA ceiling in GFLOP/s, measured where it is used (in the same run as the timing it scales):
/// twelve independent FMA chains per thread held in registers, no memory traffic, the widest vectors the JIT
/// accelerates. The same construction as bench/FmaCeiling.cs and bench/fmapeak.c; no kernel can beat it.
/// </summary>
internal static class FmaCeiling
{
    /// <summary>Twelve chains hide the FMA latency (4 cycles) on two FMA ports with room to spare.</summary>
    private const int Chains = 12;

    /// <summary>Iterations per measurement: about 0.05–0.1 s per thread at 2–4 GHz.</summary>
    private const long Iterations = 10_000_000;

    /// <summary>Best of <paramref name="repeats"/> measurements of 15–30 ms on <paramref name="threads"/> threads (the best: other processes only slow it down, and a short window with every core free is likely).</summary>
    public static double Measure(int threads, int repeats = 10)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        int width = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;
        double flops = (double)threads * Iterations * Chains * width * 2;
        double best = 0;
        for (int r = 0; r < repeats; r++)
        {
            var sums = new float[threads]; // results stored to the heap: the chains cannot be optimised away
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads },
                i => sums[i] = Vector512.IsHardwareAccelerated ? Run512(i + 1) : Run256(i + 1));
            double seconds = clock.Elapsed.TotalSeconds;
            best = Math.Max(best, flops / seconds / 1e9);
        }
        return best;
    }

    private static float Run512(float seed)
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

    private static float Run256(float seed)
    {
        var m = Vector256.Create(0.9999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c, a4 = a3 + c, a5 = a4 + c,
            a6 = a5 + c, a7 = a6 + c, a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        for (long i = 0; i < Iterations; i++)
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
