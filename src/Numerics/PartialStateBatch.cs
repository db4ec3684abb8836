using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Kernels.Numerics;

/// <summary>Which output a batch of partial states was made for (the states are the same for all; this tells <c>merge</c> what to write).</summary>
public enum StateOutput : uint
{
    /// <summary>Not said (batches made through the C ABI): merges with any other.</summary>
    Unspecified = 0,

    /// <summary>The score s(x), M×D.</summary>
    Score = 1,

    /// <summary>The log-density ℓ(x), length M.</summary>
    LogDensity = 2,

    /// <summary>The denoiser m(x), M×D.</summary>
    Denoiser = 3,

    /// <summary>The divergence div s(x), length M.</summary>
    Divergence = 4,
}

/// <summary>
/// A batch of M partial states (one per query) in the versioned wire layout shared by the managed API, the C ABI
/// (<c>kn_partial_*</c>, kernels.h) and the CLI (<c>.kst</c> files, MPI messages). All little-endian:
/// <list type="bullet">
/// <item>a 32-byte header: magic "KNST" (uint32), <see cref="LayoutVersion"/> (uint32), D (int64), M (int64), the
///   precision the shard was evaluated in (uint32: 32 or 64 bits), the <see cref="StateOutput"/> (uint32);</item>
/// <item>M records of <see cref="RecordBytes"/> = (8 + 2D)·8 bytes, exactly kn_partial_init's: magic "KNPS" (uint32),
///   record version 1 (uint32), the query's training-point count (int64), α, σ, then <see cref="PartialRow"/>'s max,
///   sum, mass, spread and its D displacement sums and D point sums (float64).</item>
/// </list>
/// Batches merge exactly (up to rounding) in any order; a merge refuses another layout version, D, M, precision, output
/// or noise level with a message that names both sides.
/// </summary>
public sealed class PartialStateBatch
{
    /// <summary>"KNST" read as a little-endian uint32: the first word of a batch.</summary>
    public const uint Magic = 0x54534E4B;

    /// <summary>The layout described above; any change to it bumps this number.</summary>
    public const uint LayoutVersion = 1;

    /// <summary>Bytes of the batch header.</summary>
    public const int HeaderBytes = 32;

    /// <summary>"KNPS" read as a little-endian uint32: the first word of every record (kn_partial_init's).</summary>
    public const uint RecordMagic = 0x53504E4B;

    /// <summary>The record layout version (KN_PARTIAL_LAYOUT_VERSION).</summary>
    public const uint RecordVersion = 1;

    /// <summary>Words of a record before its two rows of D values.</summary>
    private const int RecordHeaderWords = 8;

    private readonly byte[] _records;

    private PartialStateBatch(int queryCount, int dimension, int precisionBits, StateOutput output, byte[] records)
    {
        QueryCount = queryCount;
        Dimension = dimension;
        PrecisionBits = precisionBits;
        Output = output;
        _records = records;
    }

    /// <summary>Number of queries M.</summary>
    public int QueryCount { get; }

    /// <summary>Dimension D.</summary>
    public int Dimension { get; }

    /// <summary>32 or 64: the floating-point precision the shards were evaluated in.</summary>
    public int PrecisionBits { get; }

    /// <summary>The output the batch was made for.</summary>
    public StateOutput Output { get; }

    /// <summary>The M records (a view: writes go to this batch).</summary>
    public Span<byte> Records => _records;

    /// <summary>Bytes of one record of dimension <paramref name="dimension"/> (KN_PARTIAL_BYTES(d)).</summary>
    public static long RecordBytes(long dimension) => (RecordHeaderWords + 2 * dimension) * sizeof(double);

    /// <summary>The records of <paramref name="partials"/>, every one at its level and training-point count.</summary>
    /// <param name="partials">The state of a shard (or of several merged).</param>
    /// <param name="precisionBits">32 or 64: the precision the shard was evaluated in.</param>
    /// <param name="output">The output the batch is for.</param>
    public static PartialStateBatch FromPartials(ScorePartials partials, int precisionBits, StateOutput output)
    {
        ArgumentNullException.ThrowIfNull(partials);
        RequirePrecision(precisionBits, nameof(precisionBits));
        int m = partials.QueryCount, d = partials.Dimension;
        var batch = new PartialStateBatch(m, d, precisionBits, output, new byte[checked(m * (int)RecordBytes(d))]);
        for (int q = 0; q < m; q++)
        {
            var record = batch.RecordSpan(q);
            BinaryPrimitives.WriteUInt32LittleEndian(record, RecordMagic);
            BinaryPrimitives.WriteUInt32LittleEndian(record[4..], RecordVersion);
            BinaryPrimitives.WriteInt64LittleEndian(record[8..], partials.TrainingCount);
            var words = MemoryMarshal.Cast<byte, double>(record);
            words[2] = partials.Level.Alpha;
            words[3] = partials.Level.Sigma;
            var row = batch.Row(q);
            var source = partials.Row(q);
            row.Max = source.Max; row.Sum = source.Sum; row.Mass = source.Mass; row.Spread = source.Spread;
            source.Displacement.CopyTo(row.Displacement);
            source.Points.CopyTo(row.Points);
        }
        return batch;
    }

    /// <summary>Writes the header and the records.</summary>
    /// <param name="stream">A writable stream.</param>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Write(Header(QueryCount, Dimension, PrecisionBits, Output));
        stream.Write(_records);
    }

    /// <summary>The 32-byte header of a batch of <paramref name="queryCount"/> states of dimension <paramref name="dimension"/>.</summary>
    public static byte[] Header(long queryCount, long dimension, int precisionBits, StateOutput output)
    {
        var header = new byte[HeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), LayoutVersion);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), dimension);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), queryCount);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)precisionBits);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(28), (uint)output);
        return header;
    }

    /// <summary>Reads a batch written by <see cref="WriteTo"/>, checking the header and every record.</summary>
    /// <param name="stream">A readable stream at the batch.</param>
    /// <param name="sourceName">The name error messages give the batch (a file name).</param>
    /// <exception cref="InvalidDataException">Not a batch, another layout version, an impossible header, truncated, or a corrupt record.</exception>
    public static PartialStateBatch ReadFrom(Stream stream, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[HeaderBytes];
        if (stream.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false) < HeaderBytes)
            throw new InvalidDataException($"{sourceName} is too short for a partial-state batch ({HeaderBytes}-byte header); write it with `kernels partial`.");
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(header), version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
        if (magic != Magic)
            throw new InvalidDataException($"{sourceName} is not a partial-state batch (its first word is 0x{magic:X8}, not \"KNST\"); write it with `kernels partial`.");
        if (version != LayoutVersion)
            throw new InvalidDataException(
                $"{sourceName} has partial-state layout version {version} but this library reads version {LayoutVersion}; evaluate the shards again with one version of the library.");
        long d = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8)), m = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16));
        int precision = (int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(24));
        uint output = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(28));
        if (d < 1 || m < 1 || m * RecordBytes(d) > Array.MaxLength)
            throw new InvalidDataException($"{sourceName} has an impossible header: D = {d}, M = {m}; the file is corrupt.");
        if (precision is not (32 or 64))
            throw new InvalidDataException($"{sourceName} has precision {precision} bits; a batch is evaluated in 32 or 64: the file is corrupt.");
        if (output > (uint)StateOutput.Divergence)
            throw new InvalidDataException($"{sourceName} names output {output}, which is none of 0-4: the file is corrupt.");
        var records = new byte[m * RecordBytes(d)];
        int got = stream.ReadAtLeast(records, records.Length, throwOnEndOfStream: false);
        if (got < records.Length)
            throw new InvalidDataException($"{sourceName} is truncated: M = {m} records of D = {d} need {records.Length} bytes after the header, but {got} follow.");
        var batch = new PartialStateBatch((int)m, (int)d, precision, (StateOutput)output, records);
        for (int q = 0; q < m; q++) batch.CheckedLevel(q, sourceName);
        return batch;
    }

    /// <summary>
    /// this ← this ⊕ <paramref name="other"/>, query by query. Refuses (naming both) a batch of another D, M, precision,
    /// output or noise level.
    /// </summary>
    /// <param name="other">The states of another shard for the same queries.</param>
    /// <param name="otherName">How messages name <paramref name="other"/>.</param>
    /// <param name="thisName">How messages name this batch.</param>
    public void Merge(PartialStateBatch other, string otherName = "other", string thisName = "this batch")
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Dimension != Dimension)
            throw new ArgumentException($"{otherName} has D = {other.Dimension} but {thisName} has D = {Dimension}; merge states of one training set's dimension only.", nameof(other));
        if (other.QueryCount != QueryCount)
            throw new ArgumentException($"{otherName} has M = {other.QueryCount} queries but {thisName} has M = {QueryCount}; merge states of the same queries only.", nameof(other));
        if (other.PrecisionBits != PrecisionBits)
            throw new ArgumentException(
                $"{otherName} was evaluated in {other.PrecisionBits}-bit precision but {thisName} in {PrecisionBits}-bit; evaluate every shard with the same --precision.", nameof(other));
        if (other.Output != Output && other.Output != StateOutput.Unspecified && Output != StateOutput.Unspecified)
            throw new ArgumentException($"{otherName} was made for {other.Output} but {thisName} for {Output}; merge states made by the same verb.", nameof(other));
        MergeRecords(_records, other._records, QueryCount, Dimension, otherName, thisName);
    }

    /// <summary>
    /// Merges M records into M others in place (<c>into[q] ← into[q] ⊕ from[q]</c>): the operation an MPI reduction calls
    /// on whole records. Each record's level must match its partner's.
    /// </summary>
    public static void MergeRecords(Span<byte> into, ReadOnlySpan<byte> from, int queryCount, int dimension, string fromName = "from", string intoName = "into")
    {
        long bytes = queryCount * RecordBytes(dimension);
        if (into.Length < bytes || from.Length < bytes)
            throw new ArgumentException($"M = {queryCount} records of D = {dimension} need {bytes} bytes; {intoName} has {into.Length} and {fromName} {from.Length}.", nameof(into));
        var source = from[..(int)bytes].ToArray(); // a copy so a row is read before any merge can write it (into and from may alias)
        for (int q = 0; q < queryCount; q++)
        {
            var target = Record(into, q, dimension);
            var level = CheckedLevel(target, q, intoName);
            var otherLevel = CheckedLevel(Record(source, q, dimension), q, fromName);
            if (otherLevel != level)
                throw new ArgumentException(
                    $"{fromName}[{q}] is at alpha = {otherLevel.Alpha}, sigma = {otherLevel.Sigma} but {intoName}[{q}] at alpha = {level.Alpha}, sigma = {level.Sigma}; merge states of one noise level only.");
            var row = RowOf(target, dimension);
            row.Combine(RowOf(Record(source, q, dimension), dimension), level.Alpha);
            long count = BinaryPrimitives.ReadInt64LittleEndian(target[8..]) + BinaryPrimitives.ReadInt64LittleEndian(Record(source, q, dimension)[8..]);
            BinaryPrimitives.WriteInt64LittleEndian(target[8..], count);
        }
    }

    /// <summary>The outputs of the merged states (see <see cref="PartialRow.Finish{T}"/>).</summary>
    /// <param name="outputs">Where to write; any subset, each of M or M×D values.</param>
    public void Finish<T>(ScoreOutputs<T> outputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        outputs.Validate(QueryCount, Dimension);
        for (int q = 0; q < QueryCount; q++)
        {
            var record = RecordSpan(q);
            long count = BinaryPrimitives.ReadInt64LittleEndian(record[8..]);
            if (count == 0)
                throw new InvalidOperationException($"query {q} has no training points merged in (count = 0); merge at least one shard that holds rows.");
            RowOf(record, Dimension).Finish(CheckedLevel(record, q, "batch"), count, q, outputs);
        }
    }

    /// <summary>The state of query <paramref name="q"/> (a view into the batch).</summary>
    public PartialRow Row(int q) => RowOf(RecordSpan(q), Dimension);

    private Span<byte> RecordSpan(int q) => Record(_records, q, Dimension);

    private NoiseLevel CheckedLevel(int q, string name) => CheckedLevel(RecordSpan(q), q, name);

    private static Span<byte> Record(Span<byte> records, int q, int dimension)
    {
        int size = (int)RecordBytes(dimension);
        return records.Slice(q * size, size);
    }

    private static PartialRow RowOf(Span<byte> record, int dimension)
    {
        var words = MemoryMarshal.Cast<byte, double>(record);
        return new PartialRow(words.Slice(4, 4), words.Slice(RecordHeaderWords, dimension), words.Slice(RecordHeaderWords + dimension, dimension));
    }

    /// <summary>Record <paramref name="q"/>'s level after checking its magic, version, count and level.</summary>
    private static NoiseLevel CheckedLevel(ReadOnlySpan<byte> record, int q, string name)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(record), version = BinaryPrimitives.ReadUInt32LittleEndian(record[4..]);
        if (magic != RecordMagic)
            throw new InvalidDataException($"{name}[{q}] is not a partial-state record (its first word is 0x{magic:X8}, not \"KNPS\"); the batch is corrupt or of another D.");
        if (version != RecordVersion)
            throw new InvalidDataException($"{name}[{q}] has record version {version} but this library reads version {RecordVersion}; evaluate the shards again with one version of the library.");
        long count = BinaryPrimitives.ReadInt64LittleEndian(record[8..]);
        if (count < 0)
            throw new InvalidDataException($"{name}[{q}] has count = {count}; a record's training-point count is never negative: the record is corrupt.");
        var words = MemoryMarshal.Cast<byte, double>(record);
        double alpha = words[2], sigma = words[3];
        if (!(alpha > 0 && sigma > 0 && double.IsFinite(alpha) && double.IsFinite(sigma)))
            throw new InvalidDataException($"{name}[{q}] has alpha = {alpha}, sigma = {sigma}; a record's level is finite and > 0: the record is corrupt.");
        return new NoiseLevel(alpha, sigma);
    }

    private static void RequirePrecision(int bits, string name)
    {
        if (bits is not (32 or 64))
            throw new ArgumentOutOfRangeException(name, bits, $"{name} = {bits}; a shard is evaluated in 32 or 64 bits: pass 32 for float, 64 for double.");
    }

    /// <summary>32 for float, 64 for double.</summary>
    public static int PrecisionOf<T>() where T : unmanaged, IFloatingPointIeee754<T> => typeof(T) == typeof(float) ? 32 : 64;
}
