namespace Kernels.Numerics.Smoothing;

/// <summary>
/// How the expectation over the smoothing kernel is estimated: K draws per query from Philox-4x32-10 keyed by
/// <see cref="Seed"/>. Each draw is a pure function of (seed, query index, draw index), so results depend on neither the
/// thread count nor the batching, and the same draws can be produced on any backend.
/// <list type="bullet">
/// <item><b>Plain Monte Carlo</b> (the default): independent draws per query.</item>
/// <item><b>Antithetic</b>: K/2 draws ξ, each used as the pair (z(ξ), z(−ξ)); exact for scores that are linear in x.</item>
/// <item><b>Fixed</b> (common random numbers): every query uses the same K draws, so the smoothed score is a deterministic,
///   smooth function of x (what an ODE solver needs) rather than a noisy one.</item>
/// </list>
/// Draw layout (a contract, reproduced by the OpenCL backend): the j-th standard normal of draw (or antithetic pair) k of
/// query q comes from the Philox block with counter (j / 4, k, q, tag) and key (seed mod 2³², seed / 2³²), its words
/// (x0, x1) giving normals 4⌊j/4⌋ and +1, (x2, x3) giving +2 and +3 by <see cref="Philox.BoxMuller"/>; q = 0 and
/// tag = 1 for fixed draws, tag = 0 otherwise. A kernel's auxiliary uniform (the ball's radius) is
/// <see cref="Philox.OpenUniform"/> of word x0 of counter (0, k, q, tag | 2).
/// </summary>
public sealed record SmoothingDraws
{
    /// <summary>Draws per query.</summary>
    /// <param name="count">K ≥ 1 (even when <paramref name="antithetic"/>).</param>
    /// <param name="seed">The generator key.</param>
    /// <param name="antithetic">Use antithetic pairs (z, −z).</param>
    /// <param name="fixedDraws">Use the same draws for every query (common random numbers).</param>
    public SmoothingDraws(int count, ulong seed = 0, bool antithetic = false, bool fixedDraws = false)
    {
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "The number of draws K must be at least 1.");
        if (antithetic && count % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"Antithetic draws come in pairs (z, -z): K must be even; use {count + 1} or {count - 1}.");
        Count = count;
        Seed = seed;
        Antithetic = antithetic;
        Fixed = fixedDraws;
    }

    /// <summary>K, the draws per query.</summary>
    public int Count { get; }

    /// <summary>The key of the generator.</summary>
    public ulong Seed { get; }

    /// <summary>True for antithetic pairs.</summary>
    public bool Antithetic { get; }

    /// <summary>True when every query uses the same draws.</summary>
    public bool Fixed { get; }

    /// <summary>Independent units of the estimator per query: K/2 pairs when antithetic, else K.</summary>
    public int Units => Antithetic ? Count / 2 : Count;

    /// <summary>
    /// Writes the standard normals ξ (length of <paramref name="xi"/>) of unit <paramref name="unit"/> (a draw, or an
    /// antithetic pair) of query <paramref name="query"/>.
    /// </summary>
    public void Normals(int query, int unit, Span<double> xi)
    {
        var (q, tag) = Stream(query);
        if (Fixed && FixedTable(xi.Length) is { } table && unit < Units)
        {
            table.AsSpan(unit * xi.Length, xi.Length).CopyTo(xi);
            return;
        }
        Philox.FillNormals(Seed, (uint)unit, q, tag, xi);
    }

    /// <summary>Largest table of fixed normals kept (doubles): 32 MB.</summary>
    private const long FixedTableLimit = 4L << 20;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SmoothingDraws,
        System.Collections.Concurrent.ConcurrentDictionary<int, Lazy<double[]>>> FixedTables = new();

    /// <summary>
    /// Fixed draws are the same for every query, so their normals are generated once per length (Units × length values,
    /// exactly those of the stream (unit, 0, 1)) instead of once per query: in high D the generator would otherwise cost
    /// more than the score itself. Null when the table would pass <see cref="FixedTableLimit"/>.
    /// </summary>
    private double[]? FixedTable(int length)
    {
        if ((long)Units * length > FixedTableLimit) return null;
        return FixedTables.GetValue(this, _ => new()).GetOrAdd(length, len => new Lazy<double[]>(() =>
        {
            var table = new double[Units * len];
            Parallel.For(0, Units, unit => Philox.FillNormals(Seed, (uint)unit, 0, 1, table.AsSpan(unit * len, len)));
            return table;
        })).Value;
    }

    /// <summary>The auxiliary uniform in (0, 1) of unit <paramref name="unit"/> of query <paramref name="query"/>.</summary>
    public double Uniform(int query, int unit)
    {
        var (q, tag) = Stream(query);
        return Philox.OpenUniform(Philox.Generate(0, (uint)unit, q, tag | 2, (uint)Seed, (uint)(Seed >> 32)).X0);
    }

    private (uint Query, uint Tag) Stream(int query)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(query);
        return Fixed ? (0u, 1u) : ((uint)query, 0u);
    }

    /// <summary>"K draws, seed S[, antithetic][, fixed]".</summary>
    public override string ToString() =>
        $"{Count} draws, seed {Seed}{(Antithetic ? ", antithetic" : "")}{(Fixed ? ", fixed" : "")}";
}
