using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Numerics;

namespace Kernels.Tests.Support;

/// <summary>
/// A random score problem: a training set (N×D), queries (M×D) and a noise level, generated deterministically
/// from its parameters. Data are scale·(standard normal) + offset·(1, …, 1); queries are mostly noised training
/// points x = α y_j + σ r z (r ∈ [0, 2]), the regime where weights matter, plus some points anywhere in the data's box.
/// Values are rounded to T first and the reference sees the rounded values, so it is exact for the inputs the
/// fast path gets.
/// </summary>
public sealed record Problem(int N, int M, int D, double Alpha, double SigmaOverScale, double Scale, double OffsetOverScale, int Seed)
{
    public double Sigma => SigmaOverScale * Scale;
    public NoiseLevel Level => new(Alpha, Sigma);

    public override string ToString() =>
        $"N={N} M={M} D={D} alpha={Alpha:G6} sigma={Sigma:G6} (sigma/scale={SigmaOverScale:G3}) scale={Scale:G3} offset={OffsetOverScale * Scale:G3} seed={Seed}";

    /// <summary>Training set and queries in T, and the same values widened to double for the reference.</summary>
    public (T[] Train, T[] Queries, double[] TrainD, double[] QueriesD) Build<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(Seed);
        var train = new T[N * D];
        for (int i = 0; i < train.Length; i++)
            train[i] = T.CreateChecked(OffsetOverScale * Scale + Scale * Gaussian(rng));
        var queries = new T[M * D];
        for (int q = 0; q < M; q++)
        {
            bool anywhere = rng.NextDouble() < 0.15;
            int j = rng.Next(N);
            double r = 2 * rng.NextDouble();
            for (int k = 0; k < D; k++)
            {
                double v = anywhere
                    ? Alpha * (OffsetOverScale * Scale + Scale * (4 * rng.NextDouble() - 2)) + Sigma * Gaussian(rng)
                    : Alpha * double.CreateChecked(train[j * D + k]) + Sigma * r * Gaussian(rng);
                queries[q * D + k] = T.CreateChecked(v);
            }
        }
        return (train, queries, Widen(train), Widen(queries));
    }

    public static double[] Widen<T>(T[] values) where T : IFloatingPointIeee754<T> =>
        values.Select(double.CreateChecked).ToArray();

    public static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static Gen<double> LogUniform(double lo, double hi) =>
        Gen.Choose(0, 1_000_000).Select(i => lo * Math.Pow(hi / lo, i / 1e6));

    /// <summary>
    /// N from 1 to 80 (N = 1 and non-multiples of the 16-lane group included), M from 1 to 70 (several query
    /// blocks of 32), D mostly 1–40 and sometimes 64–130, α in (0, 1] (α = 1 a quarter of the time), σ from 1e−3 to
    /// 1e2 times the data's scale, scale from 1e−2 to 1e2, and a third of the cases with a common offset of
    /// 10 to 1000 scales (‖x‖ ≫ σ).
    /// </summary>
    public static Arbitrary<Problem> Arbitrary { get; } = (
        from n in Gen.Frequency((1, Gen.Constant(1)), (6, Gen.Choose(2, 80)))
        from m in Gen.Choose(1, 70)
        from d in Gen.Frequency((1, Gen.Constant(1)), (7, Gen.Choose(2, 40)), (1, Gen.Choose(64, 130)))
        from alpha in Gen.Frequency((1, Gen.Constant(1.0)), (3, Gen.Choose(1, 1000).Select(i => i / 1000.0)))
        from sigma in LogUniform(1e-3, 1e2)
        from scale in LogUniform(1e-2, 1e2)
        from offset in Gen.Frequency((2, Gen.Constant(0.0)), (1, LogUniform(10, 1000)))
        from seed in Gen.Choose(0, int.MaxValue)
        select new Problem(n, m, d, alpha, sigma, scale, offset, seed)).ToArbitrary();
}
