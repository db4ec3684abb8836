using FsCheck;
using FsCheck.Fluent;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.OpenCl;

/// <summary>The score suite on the classic OpenCL kernel (the other bindings run the tiled one for float32).</summary>
public sealed class OpenClClassicScoreProperties : ScoreProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Classic;
}

/// <summary>The accuracy suite (cancellation: far queries, tiny α, σ from 1e−4 up) on the classic OpenCL kernel.</summary>
public sealed class OpenClClassicAccuracyProperties : AccuracyProperties, IRequiresOpenCl
{
    protected override IScoreBackend Backend => OpenClTestSupport.Classic;
}

/// <summary>
/// The tiled kernel (native/score_tiled.cl) in every shape the tuner may pick, the CPU's and the GPU's, run on this
/// device: sizes that are no multiple of any tile (query block, points per tile, vector width, staged slice), D below
/// and above every vector width and slice, and the cancellation cases at the edge of the expansion's use, where its
/// logits are off by up to the bound E and only the refinement by direct differences keeps the results exact. Every
/// tolerance is <see cref="ErrorBound"/>, the conditioning of the mixture in float32, as for every backend.
/// </summary>
public sealed class OpenClTiledShapeProperties : ScoreProperties, IRequiresOpenCl
{
    /// <summary>
    /// The shared suite runs here on the first GPU shape (slices staged through __local memory by 64 work-items); the
    /// default binding, <see cref="OpenClScoreProperties"/>, runs it on the CPU's.
    /// </summary>
    protected override IScoreBackend Backend => Shaped.Value[TileShape.Candidates(OpenClDeviceKind.Cpu).Count];

    /// <summary>Every candidate shape of both device kinds, on the shared context.</summary>
    private static readonly Lazy<OpenClBackend[]> Shaped = new(() =>
        [.. new[] { OpenClDeviceKind.Cpu, OpenClDeviceKind.Gpu }.SelectMany(kind => TileShape.Candidates(kind).Select(shape =>
            new OpenClBackend(OpenClTestSupport.Backend.Context,
                new OpenClOptions { ScoreKernel = OpenClScoreKernel.Tiled, KernelShape = kind, TileShape = shape })))]);

    [OpenClFact]
    public void EveryShape_AtSizesNoTileDivides_MatchesTheReference()
    {
        foreach (var (n, m, d) in new[] { (1, 1, 1), (31, 9, 3), (33, 65, 15), (65, 7, 17), (129, 33, 31), (200, 17, 33), (70, 70, 100), (47, 5, 129), (20, 3, 300) })
        {
            var p = new Problem(n, m, d, Alpha: 0.7, SigmaOverScale: 0.3 * Math.Sqrt(d), Scale: 1, OffsetOverScale: 0, Seed: 7 * n + d);
            foreach (var backend in Shaped.Value)
            {
                FastPathMatchesReference<float>(p, backend);
                Assert.Equal(OpenClScoreKernel.Tiled, backend.LastKernel);
            }
        }
    }

    /// <summary>Random problems (the shared generator: offsets of up to 1000 scales, σ from 1e−3 scales) on a random shape.</summary>
    [BackendProperty(MaxTest = 80)]
    public Property RandomShape_MatchesTheReference() =>
        Prop.ForAll(Problem.Arbitrary, Gen.Choose(0, 1000).ToArbitrary(), (p, pick) =>
            FastPathMatchesReference<float>(p, Shaped.Value[pick % Shaped.Value.Length]));

    /// <summary>
    /// Cancellation where the expansion is still used: σ = 0.01 against data at a common offset chosen so that the
    /// bound E is from 1 to 4 nats (its limit), i.e. the expansion logits lose most of their digits; the candidates within
    /// cut + 2E are refined by direct differences, so the results keep the float32 bound. The test checks that the
    /// queries do take the expansion (E at most the limit) and that the neighbours of the nearest point matter
    /// (σ comparable to the spacing), so a mis-dropped point would show.
    /// </summary>
    [OpenClTheory]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(130)]
    public void LargeOffsets_AtTheExpansionLimit_MatchTheReference(int d)
    {
        const double sigma = 0.01;
        var level = new NoiseLevel(1, sigma);
        double factor = OpenClBackend.BoundFactor(d, level, OpenClTestSupport.Backend.Device.HasFp64);
        foreach (double bound in new[] { 1.0, 3.5 })
        {
            // ‖x‖ ≈ α‖y‖ ≈ offset √D, so E ≈ factor (2 offset √D)²
            double offset = Math.Sqrt(bound / factor) / (2 * Math.Sqrt(d));
            var p = new Problem(90, 37, d, Alpha: 1, SigmaOverScale: sigma / (0.3 * sigma), Scale: 0.3 * sigma, OffsetOverScale: offset / (0.3 * sigma), Seed: d);
            var (train, queries, _, _) = p.Build<float>();
            double maxNorm = Enumerable.Range(0, p.N).Max(i => Norm(train.AsSpan(i * d, d)));
            int expanded = Enumerable.Range(0, p.M).Count(q => factor * Math.Pow(Norm(queries.AsSpan(q * d, d)) + maxNorm, 2) <= OpenClBackend.ExpansionLimit);
            Assert.True(expanded > p.M / 2, $"only {expanded} of {p.M} queries take the expansion at E ≈ {bound}: the case misses its point");
            foreach (var backend in Shaped.Value) FastPathMatchesReference<float>(p, backend);
        }
    }

    private static double Norm(ReadOnlySpan<float> v)
    {
        double s = 0;
        foreach (float x in v) s += (double)x * x;
        return Math.Sqrt(s);
    }

    /// <summary>Tiny σ against ‖x‖ (the memorization regime): E beyond the limit, every point refined, as the classic kernel.</summary>
    [OpenClFact]
    public void TinySigma_AgainstLargeNorms_MatchesTheReference()
    {
        foreach (int d in new[] { 3, 40, 100 })
        {
            var p = new Problem(50, 20, d, Alpha: 0.9, SigmaOverScale: 1e-3, Scale: 1, OffsetOverScale: 100, Seed: d);
            foreach (var backend in Shaped.Value) FastPathMatchesReference<float>(p, backend);
        }
    }
}
