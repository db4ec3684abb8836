namespace Kernels.Interop;

/// <summary>
/// Tuning of an <see cref="OpenClBackend"/>, for measuring on a new device; the defaults (every value null) let the
/// backend choose from the device. No choice here changes a result beyond float rounding: every combination is held to the
/// same error bound by the tests.
/// </summary>
public sealed record OpenClOptions
{
    /// <summary>The defaults: the backend chooses everything.</summary>
    public static OpenClOptions Default { get; } = new();

    /// <summary>
    /// Split the training set into exactly this many shards (1 to 65 536; more shards than point vectors leaves some
    /// empty) instead of the count the backend chooses from the device's compute units; null chooses.
    /// </summary>
    public int? Shards
    {
        get;
        init
        {
            if (value is < 1 or > MaxShards)
                throw new ArgumentOutOfRangeException(nameof(Shards), value, $"Shards must be from 1 to {MaxShards}, or null to let the backend choose.");
            field = value;
        }
    }

    /// <summary>The largest <see cref="Shards"/> accepted.</summary>
    public const int MaxShards = 1 << 16;

    /// <summary>
    /// Force (true) or forbid (false) the max-only seeding pass that gives every shard the query's global maximum; null
    /// chooses (on with several shards at D ≥ 64 on a GPU, off otherwise).
    /// </summary>
    public bool? SeedMaxima { get; init; }

    /// <summary>
    /// Lay the score kernel out as for this kind of device (vector width, tile and work-group shape) instead of the
    /// device's own kind, so a GPU's shape can be run and tested on a CPU device; null uses the device's kind.
    /// </summary>
    public OpenClDeviceKind? KernelShape { get; init; }

    /// <summary>
    /// Run this float32 score kernel instead of the tuner's choice (float64 always runs <see cref="OpenClScoreKernel.Classic"/>);
    /// null lets the tuner choose per device and dimension (it times both kernels once and caches the choice:
    /// <see cref="OpenClTuner"/>).
    /// </summary>
    public OpenClScoreKernel? ScoreKernel { get; init; }

    /// <summary>Tests only: the tiled kernel's shape (null: the tuner's, or the first candidate for the device kind).</summary>
    internal TileShape? TileShape { get; init; }
}
