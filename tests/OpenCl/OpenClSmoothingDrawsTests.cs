using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using Kernels.Interop;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>
/// native/smoothing.cl against the host: Philox-4x32-10's known answers, and the perturbed rows it makes against
/// <see cref="SmoothingKernel.Draw"/>, for the kernels it draws (Gaussian, tangent, anisotropic), in every draw mode.
/// </summary>
public sealed class OpenClSmoothingDrawsTests : IRequiresOpenCl
{
    /// <summary>Random123's known answers (kat_vectors, philox4x32_10), as the host's test checks them.</summary>
    [OpenClFact]
    public void Philox_MatchesTheRandom123KnownAnswers_OnTheDevice()
    {
        uint[] input =
        [
            0, 0, 0, 0, 0, 0,
            0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
            0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
        ];
        uint[] expected =
        [
            0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8,
            0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
            0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
        ];
        Assert.Equal(expected, OpenClTestSupport.Backend.PhiloxBlocks(input));
    }

    /// <summary>
    /// Rows [start, start + rows) of the M·K perturbed queries as the device makes them (rows × D), with the frames the
    /// host prepares (<see cref="SmoothingKernel.PrepareFrame"/>), exactly as <see cref="LogSmoothedScore{T}"/> passes them.
    /// </summary>
    internal static T[] DeviceRows<T>(OpenClBackend backend, SmoothingKernel kernel, SmoothingDraws draws, T[] queries, int d, long start, int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var scales = kernel.DeviceScales ?? throw new ArgumentException($"{kernel} is drawn on the host.", nameof(kernel));
        int k = draws.Count, first = (int)(start / k), last = (int)((start + rows - 1) / k), count = last - first + 1;
        int frameLength = kernel.FrameLength(d);
        var frames = new double[count * frameLength];
        var ranks = new int[count];
        for (int q = first; q <= last; q++)
        {
            var x = Problem.Widen(queries.AsSpan(q * d, d).ToArray());
            ranks[q - first] = kernel.PrepareFrame(x, frames.AsSpan((q - first) * frameLength, frameLength));
        }
        return backend.PerturbedRows<T>(queries.AsSpan(first * d, count * d), d, new PerturbedBatch
        {
            Draws = draws,
            Start = start,
            Rows = rows,
            FirstQuery = first,
            TangentScale = scales.Tangent,
            NormalScale = scales.Normal,
            FrameLength = frameLength,
            Frames = frames,
            Ranks = frameLength > 0 ? ranks : [],
        });
    }

    /// <summary>All M·K device rows of a case, widened, as a (q, draw) lookup; null when the kernel is drawn on the host.</summary>
    internal static Func<int, int, double[]>? DeviceRowsOf<T>(SmoothingCase c, SmoothingKernel kernel, T[] queries)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kernel.DeviceScales is null) return null;
        int d = c.Problem.D, k = c.Draws;
        var rows = Problem.Widen(DeviceRows(OpenClTestSupport.Backend, kernel, c.Plan, queries, d, 0, c.Problem.M * k));
        return (q, draw) => rows.AsSpan((q * k + draw) * d, d).ToArray();
    }

    /// <summary>
    /// LogSmoothedScore takes the device path exactly for the kernels the device draws (every row of the M·K once, in any
    /// batching) and the host path for the ball and covariance kernels; both give finite results of the right shape.
    /// </summary>
    [OpenClTheory]
    [InlineData(KernelKind.Gaussian, true)]
    [InlineData(KernelKind.Tangent, true)]
    [InlineData(KernelKind.Anisotropic, true)]
    [InlineData(KernelKind.Ball, false)]
    [InlineData(KernelKind.Covariance, false)]
    public void Smoothing_DrawsOnTheDevice_ExactlyForLinearGaussianKernels(KernelKind kind, bool onDevice)
    {
        var p = new Problem(N: 9, M: 5, D: 7, Alpha: 0.8, SigmaOverScale: 0.6, Scale: 1, OffsetOverScale: 0, Seed: 5);
        var c = new SmoothingCase(p, kind, 0.3, Draws: 6, Antithetic: true, Fixed: false, Seed: 77);
        var (train, queries, _, _) = p.Build<float>();
        using var backend = new OpenClBackend(OpenClTestSupport.Backend.Context);
        var model = new LogSmoothedScore<float>(new Kernels.Numerics.EmpiricalScore<float>(new Kernels.Numerics.TrainingSet<float>(train, p.N, p.D), backend),
            c.Kernel(), c.Plan, batchRows: 4);
        var score = model.Score(queries, p.Level);
        Assert.Equal(onDevice ? p.M * c.Draws : 0, backend.PerturbedRowCount);
        Assert.All(score, v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>A draw-comparison case: kernel, D (often odd, up to past a __local tile), K, mode, and a row range.</summary>
    public sealed record DrawCase(KernelKind Kind, int D, int M, int K, bool Antithetic, bool Fixed, ulong Seed, int Start, int Rows, bool Double)
    {
        public static Arbitrary<DrawCase> Arbitrary { get; } = (
            from kind in Gen.Elements(KernelKind.Gaussian, KernelKind.Tangent, KernelKind.Anisotropic)
            from d in Gen.Frequency((4, Gen.Choose(1, 24)), (1, Gen.Elements(129, 257, 785)))
            from m in Gen.Choose(1, 5)
            from antithetic in Gen.Elements(false, true)
            from k in antithetic ? Gen.Elements(2, 4, 6) : Gen.Choose(1, 7)
            from fixedDraws in Gen.Elements(false, true)
            from seedLow in Gen.Choose(0, int.MaxValue)
            from seedHigh in Gen.Elements(0, 1, 0x7fffffff)
            from a in Gen.Choose(0, 1000)
            from b in Gen.Choose(0, 1000)
            from isDouble in Gen.Elements(false, true)
            let total = m * k
            let start = a % total
            let dim = d == 1 && kind != KernelKind.Gaussian ? 2 : d
            select new DrawCase(kind, dim, m, k, antithetic, fixedDraws, (ulong)(uint)seedHigh << 32 | (uint)seedLow, start, 1 + b % (total - start), isDouble))
            .ToArbitrary();

        public SmoothingKernel Kernel()
        {
            var tangents = new FixedSubspace(D, Math.Clamp(D - 1, 1, 3), (int)(Seed % 1000));
            return Kind switch
            {
                KernelKind.Gaussian => SmoothingKernel.Gaussian(0.7),
                KernelKind.Tangent => SmoothingKernel.Tangent(tangents, 0.7),
                _ => SmoothingKernel.Anisotropic(tangents, 0.7, 0.2),
            };
        }
    }

    /// <summary>
    /// The device's rows equal the host's x + z (<see cref="SmoothingKernel.Draw"/>) within float rounding. Both evaluate
    /// the same double formula in the same order (FP_CONTRACT off); only libm differs: OpenCL 1.2 allows log 3 ulp and
    /// sinpi/cospi 4 ulp in double, the host's are within 1, and one ulp is at most 2u relative, so each normal
    /// ξ = √(−2 ln u₁)·cospi(t) differs by at most (2·4/2 + 2 + 2·5 + 2)u = 18u relative (log's error halved by the square
    /// root, the root and the product rounded on each side). Through z = h_N ξ + (h_T − h_N) Σ_t (b_t·ξ) b_t, with
    /// A_j = h_N|ξ_j| + |h_T − h_N| Σ_t |b_tj| Σ_i |b_ti||ξ_i|, the exact z's differ by ≤ 18u A_j and each side rounds
    /// within γ_{D+4} A_j: |Δz_j| ≤ (18u + 2γ_{D+4}) A_j. x + z rounds once in double on each side (2u|x + z|), then once
    /// to T, which is monotone: at most one ulp of T more.
    /// </summary>
    [BackendProperty(MaxTest = 120)]
    public Property DeviceRows_EqualTheHostDraws_WithinRounding() =>
        Prop.ForAll(DrawCase.Arbitrary, c =>
        {
            if (c.Double) Check<double>(c);
            else Check<float>(c);
        });

    private static void Check<T>(DrawCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = c.D, k = c.K;
        var rng = new Random((int)(c.Seed % 100_000));
        var queries = Enumerable.Range(0, c.M * d).Select(_ => T.CreateTruncating(3 * Problem.Gaussian(rng))).ToArray();
        var kernel = c.Kernel();
        var draws = new SmoothingDraws(k, c.Seed, c.Antithetic, c.Fixed);
        var device = DeviceRows(OpenClTestSupport.Backend, kernel, draws, queries, d, c.Start, c.Rows);
        var (tangent, normal) = kernel.DeviceScales!.Value;
        double u = ErrorBound.UnitRoundoffDouble, dz = 18 * u + 2 * ErrorBound.Gamma(d + 4, u);
        var frame = new double[kernel.FrameLength(d)];
        var xi = new double[d];
        var z = new double[d];
        for (int row = 0; row < c.Rows; row++)
        {
            long r = c.Start + row;
            int q = (int)(r / k), draw = (int)(r % k);
            var x = Problem.Widen(queries.AsSpan(q * d, d).ToArray());
            kernel.Draw(x, draws, q, draw, z);
            int rank = kernel.PrepareFrame(x, frame);
            draws.Normals(q, c.Antithetic ? draw >> 1 : draw, xi);
            for (int j = 0; j < d; j++)
            {
                double a = normal * Math.Abs(xi[j]);
                for (int t = 0; t < rank; t++)
                {
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += Math.Abs(frame[t * d + i] * xi[i]);
                    a += Math.Abs(tangent - normal) * Math.Abs(frame[t * d + j]) * dot;
                }
                T host = T.CreateTruncating(x[j] + z[j]), got = device[row * d + j];
                T larger = T.Max(T.Abs(host), T.Abs(got));
                double ulp = double.CreateTruncating(T.BitIncrement(larger) - larger);
                double tolerance = dz * a + 2 * u * Math.Abs(x[j] + z[j]) + ulp;
                double error = Math.Abs(double.CreateTruncating(got) - double.CreateTruncating(host));
                Assert.True(error <= tolerance,
                    $"{typeof(T).Name} {c}: row {row} (query {q}, draw {draw}) coordinate {j}: device {got}, host {host}, |Δ| {error:G3} > {tolerance:G3}");
            }
        }
    }
}
