using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// The streamed log-sum-exp state of M queries against part of a training set: a monoid that merges exactly. Per query
/// it holds a <see cref="PartialRow"/> (its definition and laws are there): the reference logit, the sum of weights, the
/// kept points' mass, weighted displacement sum V, weighted point sum P and centred spread, plus the number of training
/// points seen. Evaluate each shard with <see cref="EmpiricalScore{T}.Accumulate(ReadOnlySpan{T}, ScorePartials)"/>,
/// <see cref="Combine"/> the states in any order (they serialise with <see cref="WriteTo"/> / <see cref="ReadFrom"/>),
/// then <see cref="Finish{T}"/>. Every shard must be evaluated with the same queries and the same noise level.
/// </summary>
public sealed class ScorePartials
{
    private const uint Magic = 0x50534E4B; // "KNSP"

    /// <summary>
    /// Version of the serialised layout. 1 held a second moment about the query (it cancelled far from the data) and no
    /// point sums; 2 holds the centred spread and the point sums.
    /// </summary>
    public const int FormatVersion = 2;

    private readonly PartialRows _rows;

    /// <summary>
    /// The cut-off every backend applies: a point whose logit is more than this many nats below the running maximum is
    /// negligible (it counts in the log-density's normaliser only, or not at all where a backend proves it below the cut
    /// without computing it). The dropped weights sum to at most count·e^{−margin} of the largest one, so of the total. In
    /// double the margin is 36 (e^{−36} ≈ 2.3e−16); in float it is ln N + 18, at most 36: the dropped mass is then below
    /// e^{−18} ≈ 1.5e−8 = u/4 of the sum for any N (at N = 6 000 the margin is 26.7 nats, which at moderate σ keeps a
    /// tenth of the points that 36 would). Shards of a training set each drop at most e^{−18} of their own sum, so of
    /// the total too.
    /// </summary>
    /// <typeparam name="T">The working precision: float or double.</typeparam>
    /// <param name="trainingCount">N of the set (or shard) being streamed.</param>
    public static double NegligibleLogit<T>(long trainingCount) where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? Math.Min(36, Math.Log(Math.Max(1, trainingCount)) + 18) : 36;

    /// <summary>Number of queries M.</summary>
    public int QueryCount { get; }

    /// <summary>Dimension D.</summary>
    public int Dimension { get; }

    /// <summary>The noise level every shard was evaluated at.</summary>
    public NoiseLevel Level { get; }

    /// <summary>Number of training points merged so far (N of the whole set once all shards are in).</summary>
    public long TrainingCount { get; private set; }

    /// <summary>
    /// The output the state is accumulated for: only the sums it needs are formed (the others stay zero), which saves the
    /// score alone, say, the point sums and the spread's second pass. <see cref="StateOutput.Unspecified"/>: every sum, so
    /// the state finishes to any output.
    /// </summary>
    public StateOutput Output { get; }

    /// <summary>The moments a backend forms for <see cref="Output"/>.</summary>
    internal Moments Needs => Output switch
    {
        StateOutput.LogDensity => Moments.None,
        StateOutput.Score => Moments.Displacement,
        StateOutput.Denoiser => Moments.Points,
        _ => Moments.All,
    };

    private ScorePartials(int queryCount, int dimension, NoiseLevel level, StateOutput output)
    {
        QueryCount = queryCount;
        Dimension = dimension;
        Level = level;
        Output = output;
        _rows = PartialRows.Allocate(queryCount, dimension);
    }

    /// <summary>The state of query <paramref name="q"/> (a view: writes go to this object).</summary>
    public PartialRow Row(int q)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(q);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(q, QueryCount);
        return _rows.Row(q);
    }

    /// <summary>The identity state for M queries of dimension D at a noise level: no training points yet.</summary>
    /// <param name="queryCount">M ≥ 1.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="level">The noise level all shards use.</param>
    public static ScorePartials Identity(int queryCount, int dimension, NoiseLevel level) =>
        Identity(queryCount, dimension, level, StateOutput.Unspecified);

    /// <summary>
    /// The identity state for M queries of dimension D at a noise level, accumulating only the sums
    /// <paramref name="output"/> needs (<see cref="Output"/>): finish it to that output only.
    /// </summary>
    /// <param name="queryCount">M ≥ 1.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="level">The noise level all shards use.</param>
    /// <param name="output">The one output the state is for (<see cref="StateOutput.Unspecified"/>: any).</param>
    public static ScorePartials Identity(int queryCount, int dimension, NoiseLevel level, StateOutput output)
    {
        if (output > StateOutput.Divergence) throw new ArgumentOutOfRangeException(nameof(output), output, "output is none of the StateOutput values.");
        if (queryCount < 1) throw new ArgumentException($"queryCount = {queryCount}; a state needs at least one query.", nameof(queryCount));
        if (dimension < 1) throw new ArgumentException($"dimension = {dimension}; a state needs D >= 1.", nameof(dimension));
        if (level.Sigma <= 0) throw new ArgumentException("level is default(NoiseLevel); create it with new NoiseLevel(alpha, sigma).", nameof(level));
        return new ScorePartials(queryCount, dimension, level, output);
    }

    /// <summary>Merges <paramref name="other"/> into this state: this ← this ⊕ other. Exact up to rounding.</summary>
    /// <param name="other">A state for the same queries, dimension and noise level.</param>
    public void Combine(ScorePartials other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.QueryCount != QueryCount || other.Dimension != Dimension)
            throw new ArgumentException(
                $"other has shape M×D = {other.QueryCount}×{other.Dimension} but this state has {QueryCount}×{Dimension}; combine states of the same queries only.",
                nameof(other));
        if (other.Level != Level)
            throw new ArgumentException($"other was evaluated at {other.Level} but this state at {Level}; combine states of one noise level only.", nameof(other));
        for (int q = 0; q < QueryCount; q++) _rows.Row(q).Combine(other._rows.Row(q), Level.Alpha);
        TrainingCount += other.TrainingCount;
    }

    /// <summary>Records that a backend merged a shard of <paramref name="count"/> training points into this state.</summary>
    public void AddTrainingCount(long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        TrainingCount += count;
    }

    /// <summary>Turns the merged state into the requested outputs (see <see cref="PartialRow.Finish{T}"/>).</summary>
    /// <param name="queries">The same M×D queries every shard was evaluated with (checked for shape only).</param>
    /// <param name="outputs">Where to write; any subset.</param>
    public void Finish<T>(ReadOnlySpan<T> queries, ScoreOutputs<T> outputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (queries.Length != (long)QueryCount * Dimension)
            throw new ArgumentException($"queries has {queries.Length} values but this state holds M×D = {QueryCount}×{Dimension}; pass the queries the shards were evaluated with.", nameof(queries));
        outputs.Validate(QueryCount, Dimension);
        if (TrainingCount == 0)
            throw new InvalidOperationException("No training points have been merged into this state; accumulate at least one shard before Finish.");
        for (int q = 0; q < QueryCount; q++) _rows.Row(q).Finish(Level, TrainingCount, q, outputs);
    }

    /// <summary>
    /// Writes the state in a compact little-endian binary form, to ship between machines: magic, <see cref="FormatVersion"/>,
    /// M, D, N, α, σ, then per query max, sum, mass, spread (M×4), the displacement sums (M×D) and the point sums (M×D).
    /// </summary>
    /// <param name="stream">A writable stream.</param>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic); w.Write(FormatVersion);
        w.Write(QueryCount); w.Write(Dimension); w.Write(TrainingCount);
        w.Write(Level.Alpha); w.Write(Level.Sigma);
        Write(w, _rows.Scalars);
        Write(w, _rows.Displacement);
        Write(w, _rows.Points);
    }

    private static void Write(BinaryWriter writer, ReadOnlySpan<double> values)
    {
        foreach (double v in values) writer.Write(v);
    }

    private static void Read(BinaryReader reader, Span<double> values)
    {
        for (int i = 0; i < values.Length; i++) values[i] = reader.ReadDouble();
    }

    /// <summary>Reads a state written by <see cref="WriteTo"/> (format <see cref="FormatVersion"/> only).</summary>
    /// <param name="stream">A readable stream positioned at the state.</param>
    public static ScorePartials ReadFrom(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        try
        {
            if (r.ReadUInt32() != Magic) throw new InvalidDataException("Not a score-partials stream (bad magic).");
            int version = r.ReadInt32();
            if (version == 1)
                throw new InvalidDataException(
                    "This score-partials stream has format version 1, whose second moment about the query lost every digit far from the data; " +
                    $"this library reads version {FormatVersion} only: evaluate the shards again with it.");
            if (version != FormatVersion)
                throw new InvalidDataException($"Score-partials format version {version} is not supported (this library reads version {FormatVersion}).");
            int m = r.ReadInt32(), d = r.ReadInt32();
            long n = r.ReadInt64();
            double alpha = r.ReadDouble(), sigma = r.ReadDouble();
            if (m < 1 || d < 1 || n < 0 || (long)m * d > Array.MaxLength)
                throw new InvalidDataException($"Score-partials header has an impossible shape M={m}, D={d}, N={n}.");
            if (!(alpha > 0 && sigma > 0 && double.IsFinite(alpha) && double.IsFinite(sigma)))
                throw new InvalidDataException($"Score-partials header has an invalid noise level alpha={alpha}, sigma={sigma}.");
            long need = 8L * m * (4 + 2L * d);
            if (stream.CanSeek && stream.Length - stream.Position < need)
                throw new InvalidDataException($"Score-partials stream is truncated: M={m}, D={d} needs {need} more bytes.");
            var p = new ScorePartials(m, d, new NoiseLevel(alpha, sigma), StateOutput.Unspecified) { TrainingCount = n };
            Read(r, p._rows.Scalars);
            Read(r, p._rows.Displacement);
            Read(r, p._rows.Points);
            return p;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("Score-partials stream is truncated.", e);
        }
    }
}
