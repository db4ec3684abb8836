using System.Numerics;
using System.Runtime.InteropServices;
using Kernels.Numerics;

namespace Kernels.Native;

/// <summary>
/// kn_partial_*: the streamed log-sum-exp state of M queries (<see cref="ScorePartials"/>, one <see cref="PartialRow"/> per
/// query) as caller-owned records, so shards of a training set can be evaluated in different processes or machines and
/// merged exactly in any order. One record per query, <see cref="RecordBytes"/> = (8 + 2D)·8 bytes, native byte order
/// (kernels.h, "partial states", documents the layout; it carries ScorePartials' serialised fields of format version 2
/// plus the query's own level and point count, so each record merges and finishes on its own).
/// </summary>
public static unsafe partial class Exports
{
    /// <summary>"KNPS" read as a little-endian uint32: the first word of every record.</summary>
    internal const uint PartialMagic = PartialStateBatch.RecordMagic;

    /// <summary>KN_PARTIAL_LAYOUT_VERSION in kernels.h: the record layout below; a change to it bumps this number.</summary>
    internal const uint PartialLayoutVersion = PartialStateBatch.RecordVersion;

    /// <summary>Words before the two rows of D values: magic+version, count, alpha, sigma, max, sum, mass, spread.</summary>
    private const int HeaderWords = 8;

    /// <summary>Bytes of one record of dimension <paramref name="d"/> (KN_PARTIAL_BYTES(d)).</summary>
    internal static long RecordBytes(long d) => PartialStateBatch.RecordBytes(d);

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_init")]
    internal static int PartialInit(void* states, long m, long d, double alpha, double sigma)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (states == null) throw NullArgument("states", "pass m records of KN_PARTIAL_BYTES(d) bytes each");
            int rows = AtLeastOne(m, "m", "the number of queries M"), dimension = AtLeastOne(d, "d", "the dimension D");
            BatchBytes(rows, dimension);
            var level = Level(alpha, sigma, -1);
            for (int q = 0; q < rows; q++)
            {
                var record = Record(states, q, dimension);
                record.Header.Magic = PartialMagic;
                record.Header.Version = PartialLayoutVersion;
                record.Header.Count = 0;
                record.Header.Alpha = level.Alpha;
                record.Header.Sigma = level.Sigma;
                record.Row.Clear();
            }
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_accumulate_f32")]
    internal static int PartialAccumulateF32(nint set, float* queries, long m, long d, void* states) => Accumulate(set, queries, m, d, states);

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_accumulate_f64")]
    internal static int PartialAccumulateF64(nint set, double* queries, long m, long d, void* states) => Accumulate(set, queries, m, d, states);

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_merge")]
    internal static int PartialMerge(void* into, void* from, long m, long d)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (into == null) throw NullArgument("into", "pass the m records to merge into");
            if (from == null) throw NullArgument("from", "pass the m records to merge from");
            int rows = AtLeastOne(m, "m", "the number of queries M"), dimension = AtLeastOne(d, "d", "the dimension D");
            long bytes = BatchBytes(rows, dimension);
            if (into != from && Math.Abs((byte*)into - (byte*)from) < bytes)
                throw new NativeException(Status.InvalidValue, "into and from overlap; merge two separate batches of records.");
            var levels = new NoiseLevel[rows];
            for (int q = 0; q < rows; q++)
            {
                levels[q] = CheckedRecord(into, q, dimension, "into");
                var other = CheckedRecord(from, q, dimension, "from");
                if (other != levels[q])
                    throw new NativeException(Status.InvalidValue,
                        $"from[{q}] is at alpha = {other.Alpha}, sigma = {other.Sigma} but into[{q}] at alpha = {levels[q].Alpha}, sigma = {levels[q].Sigma}; merge states of one noise level only (each shard evaluated with the same records' levels).");
            }
            if (into == from)
            {
                // merging a batch with itself doubles every sum: the same state with twice the count, which Finish reads
                // as the same outputs; done on a copy so the row reads its own unchanged values
                var copy = new byte[bytes];
                new ReadOnlySpan<byte>(from, (int)bytes).CopyTo(copy);
                fixed (byte* source = copy) MergeRecords(into, source, rows, dimension, levels);
            }
            else MergeRecords(into, from, rows, dimension, levels);
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_finish_f32")]
    internal static int PartialFinishF32(void* states, long m, long d, float* logDensity, float* score, float* denoiser, float* divergence) =>
        Finish(states, m, d, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_finish_f64")]
    internal static int PartialFinishF64(void* states, long m, long d, double* logDensity, double* score, double* denoiser, double* divergence) =>
        Finish(states, m, d, logDensity, score, denoiser, divergence);

    /// <summary>
    /// Streams the set against the queries and merges its state into each query's record, at that record's level: queries
    /// sharing a level are accumulated together in one fused pass.
    /// </summary>
    private static int Accumulate<T>(nint set, T* queries, long m, long d, void* states) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            using var lease = HandleTable.Acquire(set);
            var native = Set<T>(lease.Set);
            var x = Queries(native, queries, m, d, out int rows);
            if (states == null) throw NullArgument("states", "pass m records made by kn_partial_init");
            int dimension = native.Dimension;
            BatchBytes(rows, dimension);
            var groups = new Dictionary<NoiseLevel, List<int>>();
            for (int q = 0; q < rows; q++)
            {
                var level = CheckedRecord(states, q, dimension, "states");
                if (!groups.TryGetValue(level, out var members)) groups.Add(level, members = []);
                members.Add(q);
            }
            foreach (var (level, members) in groups)
            {
                ScorePartials partials;
                if (members.Count == rows) partials = native.Model.Accumulate(x, level);
                else
                {
                    var gathered = new T[members.Count * dimension];
                    for (int i = 0; i < members.Count; i++) x.Slice(members[i] * dimension, dimension).CopyTo(gathered.AsSpan(i * dimension));
                    partials = native.Model.Accumulate(gathered, level);
                }
                for (int i = 0; i < members.Count; i++)
                {
                    var record = Record(states, members[i], dimension);
                    record.Row.Combine(partials.Row(i), level.Alpha);
                    record.Header.Count += partials.TrainingCount;
                }
            }
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static int Finish<T>(void* states, long m, long d, T* logDensity, T* score, T* denoiser, T* divergence)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (states == null) throw NullArgument("states", "pass the m merged records");
            int rows = AtLeastOne(m, "m", "the number of queries M"), dimension = AtLeastOne(d, "d", "the dimension D");
            int length = Length(rows, dimension, "m × d");
            BatchBytes(rows, dimension);
            var outputs = new ScoreOutputs<T>
            {
                LogDensity = Output(logDensity, rows),
                Score = Output(score, length),
                Denoiser = Output(denoiser, length),
                Divergence = Output(divergence, rows),
            };
            RequireOutput(outputs.IsEmpty);
            var levels = new NoiseLevel[rows];
            for (int q = 0; q < rows; q++)
            {
                levels[q] = CheckedRecord(states, q, dimension, "states");
                if (Record(states, q, dimension).Header.Count == 0)
                    throw new NativeException(Status.InvalidValue,
                        $"states[{q}] has no training points merged in (count = 0); accumulate at least one shard (kn_partial_accumulate_*) before finishing.");
            }
            for (int q = 0; q < rows; q++)
            {
                var record = Record(states, q, dimension);
                record.Row.Finish(levels[q], record.Header.Count, q, outputs);
            }
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static void MergeRecords(void* into, void* from, int rows, int dimension, NoiseLevel[] levels)
    {
        for (int q = 0; q < rows; q++)
        {
            var target = Record(into, q, dimension);
            var source = Record(from, q, dimension);
            target.Row.Combine(source.Row, levels[q].Alpha);
            target.Header.Count += source.Header.Count;
        }
    }

    /// <summary>The bytes of m records, refused (KN_ERROR_INVALID_SIZE) past what one array may hold.</summary>
    private static long BatchBytes(int rows, int dimension)
    {
        long bytes = rows * RecordBytes(dimension);
        return bytes <= Array.MaxLength ? bytes
            : throw new NativeException(Status.InvalidSize, $"m × KN_PARTIAL_BYTES(d) = {rows} × {RecordBytes(dimension)} bytes exceeds {Array.MaxLength}; split the queries into smaller batches.");
    }

    /// <summary>Record <paramref name="q"/>'s level after checking its magic, layout version, count and level.</summary>
    private static NoiseLevel CheckedRecord(void* states, int q, int dimension, string name)
    {
        var header = Record(states, q, dimension).Header;
        if (header.Magic != PartialMagic)
            throw new NativeException(Status.InvalidValue,
                $"{name}[{q}] is not a partial-state record (its first word is 0x{header.Magic:X8}, not \"KNPS\"); make records with kn_partial_init, and pass d equal to the dimension they were made for.");
        if (header.Version != PartialLayoutVersion)
            throw new NativeException(Status.InvalidValue,
                $"{name}[{q}] has partial-state layout version {header.Version} but this library reads version {PartialLayoutVersion}; evaluate the shards again with one version of the library.");
        if (header.Count < 0)
            throw new NativeException(Status.InvalidValue, $"{name}[{q}] has count = {header.Count}; a record's training-point count is never negative: the record is corrupt.");
        if (!(header.Alpha > 0 && header.Sigma > 0 && double.IsFinite(header.Alpha) && double.IsFinite(header.Sigma)))
            throw new NativeException(Status.InvalidValue,
                $"{name}[{q}] has alpha = {header.Alpha}, sigma = {header.Sigma}; a record's level is finite and > 0: make records with kn_partial_init.");
        return new NoiseLevel(header.Alpha, header.Sigma);
    }

    private static PartialRecord Record(void* states, int q, int dimension)
    {
        byte* start = (byte*)states + q * RecordBytes(dimension);
        double* values = (double*)(start + sizeof(RecordHeader));
        return new PartialRecord(ref *(RecordHeader*)start,
            new PartialRow(new Span<double>(&((RecordHeader*)start)->Max, 4), new Span<double>(values, dimension), new Span<double>(values + dimension, dimension)));
    }

    /// <summary>The fixed part of a record (kn_partial_header in kernels.h); Max, Sum, Mass and Spread are PartialRow's four scalars in its order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RecordHeader
    {
        public uint Magic;
        public uint Version;
        public long Count;
        public double Alpha;
        public double Sigma;
        public double Max;
        public double Sum;
        public double Mass;
        public double Spread;
    }

    private readonly ref struct PartialRecord
    {
        private readonly ref RecordHeader _header;

        public PartialRecord(ref RecordHeader header, PartialRow row)
        {
            _header = ref header;
            Row = row;
        }

        public ref RecordHeader Header => ref _header;

        public PartialRow Row { get; }
    }
}
