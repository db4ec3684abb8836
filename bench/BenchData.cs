using Kernels.Numerics;

namespace Kernels.Bench;

/// <summary>
/// One of the six standard cases of the performance comparison (README, Performance; bench/compare-peers): N training
/// points in D dimensions, M queries, K smoothing draws per query (0: the plain score), the kind of data, the noise
/// level (α, σ) and the smoothing scale h.
/// </summary>
public sealed record BenchCase(string Name, int N, int M, int D, int K, string Data, double Alpha, double Sigma, double H)
{
    /// <summary>small, circle, latent, mnist, big, smoothed: the table of the issue, in its order.</summary>
    public static IReadOnlyList<BenchCase> All { get; } =
    [
        new("small", 1000, 1000, 2, 0, "normal", 0.8, 0.6, 0),
        new("circle", 100, 10000, 2, 0, "circle", 0.9, 0.3, 0),
        new("latent", 10000, 10000, 16, 0, "normal", 0.8, 0.6, 0),
        new("mnist", 6000, 1000, 784, 0, "pixels", 0.316, 0.949, 0),
        new("big", 60000, 2000, 784, 0, "pixels", 0.316, 0.949, 0),
        new("smoothed", 6000, 256, 784, 64, "pixels", 0.316, 0.949, 0.3),
    ];

    /// <summary>The case called <paramref name="name"/>.</summary>
    public static BenchCase Named(string name) => All.Single(c => c.Name == name);

    /// <summary>The noise level (α, σ).</summary>
    public NoiseLevel Level => new(Alpha, Sigma);

    /// <summary>The name alone: BenchmarkDotNet shows it in the Case column and accepts it in --filter.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// The suites' data, made deterministically as bench/compare-peers makes them (same kinds, same recipe; a different
/// generator, so not the same bits): standard normal points, a jittered unit circle, or ±1 pixels with 19% on;
/// each query is a noised training point x = α y_j + σ z.
/// </summary>
public static class BenchData
{
    /// <summary>Training set (N×D) and queries (M×D) of <paramref name="c"/>, row-major float32.</summary>
    public static (float[] Train, float[] Queries) Make(BenchCase c, int seed = 0)
    {
        var rng = new Random(seed);
        var train = new float[c.N * c.D];
        for (int i = 0; i < c.N; i++)
        {
            if (c.Data == "circle")
            {
                double angle = 2 * Math.PI * (i + rng.NextDouble()) / c.N;
                train[i * c.D] = (float)Math.Cos(angle);
                train[i * c.D + 1] = (float)Math.Sin(angle);
                continue;
            }
            for (int k = 0; k < c.D; k++)
                train[i * c.D + k] = c.Data == "pixels" ? (rng.NextDouble() < 0.19 ? 1f : -1f) : (float)Gaussian(rng);
        }
        var queries = new float[c.M * c.D];
        for (int q = 0; q < c.M; q++)
        {
            int j = rng.Next(c.N);
            for (int k = 0; k < c.D; k++)
                queries[q * c.D + k] = (float)(c.Alpha * train[j * c.D + k] + c.Sigma * Gaussian(rng));
        }
        return (train, queries);
    }

    /// <summary>Standard normal draws (Box–Muller), for the queries and the smoothing baseline's perturbations.</summary>
    public static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
