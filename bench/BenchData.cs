using Kernels.Numerics;

namespace Kernels.Bench;

/// <summary>
/// The suites' data, as in ../shared/peers/peers.py: ±1 pixels (19% on) for D = 784 at the noise level (0.316, 0.949),
/// standard normal points otherwise; queries are noised training points x = α y_j + σ z.
/// </summary>
public static class BenchData
{
    public static (float[] Train, float[] Queries) Make(int n, int m, int d, NoiseLevel level, int seed = 0)
    {
        var rng = new Random(seed);
        bool pixels = d == 784;
        var train = new float[n * d];
        for (int i = 0; i < train.Length; i++)
            train[i] = pixels ? (rng.NextDouble() < 0.19 ? 1f : -1f) : (float)Gaussian(rng);
        var queries = new float[m * d];
        for (int q = 0; q < m; q++)
        {
            int j = rng.Next(n);
            for (int k = 0; k < d; k++)
                queries[q * d + k] = (float)(level.Alpha * train[j * d + k] + level.Sigma * Gaussian(rng));
        }
        return (train, queries);
    }

    private static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
