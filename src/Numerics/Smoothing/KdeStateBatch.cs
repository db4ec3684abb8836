using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Kernels.Numerics.Smoothing;

/// <summary>
/// Partial states of density smoothing (KDE) with a per-query Gaussian covariance Σ(x) = σ² I + Σ_k(x) (the anisotropic,
/// tangent and fixed-covariance kernels of <see cref="KdeScore{T}"/>), one per query, accumulated over any subset of the
/// training set and merged exactly (up to rounding) in any order. With Mahalanobis logits u_i = −½ d_iᵀ Σ⁻¹ d_i,
/// d_i = α y_i − x, and weights e_i = e^{u_i − u*} over the points accumulated so far, a state is:
/// <list type="bullet">
/// <item>u* (Max), the reference logit (−∞ for no points); S (Sum) = Σ e_i;</item>
/// <item>Q (InverseMoment) = Σ e_i ‖Σ⁻¹ d_i‖² (the divergence's second moment);</item>
/// <item>V (Displacement) = Σ e_i d_i and P (Points) = Σ e_i y_i (D values each);</item>
/// <item>the count of training points accumulated.</item>
/// </list>
/// Merging is the log-sum-exp monoid: rescale both to the larger reference (every sum times e^{old − new}), then add the
/// sums and the counts; the identity is (−∞, 0, 0, 0, 0, count 0). Σ(x) depends on the query, the kernel and the level,
/// never on the training points, so whoever finishes recomputes it from x (<see cref="KdeScore{T}.Finish"/>):
/// ℓ = u* + log S − log N − ½ log det 2πΣ, s = Σ⁻¹ V/S, m = P/S, div s = Q/S − ‖s‖² − tr Σ⁻¹.
/// <para>
/// Record layout (little-endian, <see cref="RecordBytes"/> = (8 + 2D)·8 bytes: the size of a
/// <see cref="PartialStateBatch"/> record of the same D, so one MPI datatype of a whole record carries either):
/// magic "KNKS" (uint32), <see cref="RecordVersion"/> (uint32), the count (int64), α, σ, u*, S, Q, 0 (float64), then V
/// and P (D float64 each). A merge refuses another magic or version, a negative count, or another level.
/// </para>
/// </summary>
public sealed class KdeStateBatch
{
    /// <summary>"KNKS" read as a little-endian uint32: the first word of every record.</summary>
    public const uint RecordMagic = 0x534B4E4B;

    /// <summary>The record layout version; any change to the layout bumps it.</summary>
    public const uint RecordVersion = 1;

    private const int HeaderWords = 8;
    private const int StateWords = 4; // u*, S, Q, reserved

    private readonly byte[] _records;

    private KdeStateBatch(int queryCount, int dimension, NoiseLevel level, byte[] records)
    {
        QueryCount = queryCount;
        Dimension = dimension;
        Level = level;
        _records = records;
    }

    /// <summary>Number of queries M.</summary>
    public int QueryCount { get; }

    /// <summary>Dimension D.</summary>
    public int Dimension { get; }

    /// <summary>The noise level the states were accumulated at.</summary>
    public NoiseLevel Level { get; }

    /// <summary>The M records (a view: writes go to this batch).</summary>
    public Span<byte> Records => _records;

    /// <summary>Bytes of one record of dimension <paramref name="dimension"/>: (8 + 2D)·8.</summary>
    public static long RecordBytes(long dimension) => (HeaderWords + 2 * dimension) * sizeof(double);

    /// <summary>M identity states (no training points) at <paramref name="level"/>: what a shard without rows contributes.</summary>
    /// <param name="queryCount">M ≥ 0.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="level">The noise level.</param>
    public static KdeStateBatch Identity(int queryCount, int dimension, NoiseLevel level)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queryCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        Guard.RequireLevel(level);
        var batch = new KdeStateBatch(queryCount, dimension, level, new byte[checked(queryCount * (int)RecordBytes(dimension))]);
        for (int q = 0; q < queryCount; q++)
        {
            var record = Record(batch._records, q, dimension);
            BinaryPrimitives.WriteUInt32LittleEndian(record, RecordMagic);
            BinaryPrimitives.WriteUInt32LittleEndian(record[4..], RecordVersion);
            var words = MemoryMarshal.Cast<byte, double>(record);
            words[2] = level.Alpha;
            words[3] = level.Sigma;
            StateOf(record, dimension).Clear();
        }
        return batch;
    }

    /// <summary>The training points merged into query <paramref name="q"/>'s state.</summary>
    public long Count(int q) => BinaryPrimitives.ReadInt64LittleEndian(Record(_records, q, Dimension)[8..]);

    /// <summary>this ← this ⊕ <paramref name="other"/>, query by query (same M, D and level).</summary>
    /// <param name="other">States of the same queries over other training points.</param>
    public void Merge(KdeStateBatch other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Dimension != Dimension || other.QueryCount != QueryCount)
            throw new ArgumentException(
                $"other has M = {other.QueryCount}, D = {other.Dimension} but this batch has M = {QueryCount}, D = {Dimension}; merge states of the same queries only.",
                nameof(other));
        MergeRecords(_records, other._records, QueryCount, Dimension);
    }

    /// <summary>
    /// Merges M records into M others in place (<c>into[q] ← into[q] ⊕ from[q]</c>): the operation an MPI reduction calls
    /// on whole records. Each record's level must match its partner's.
    /// </summary>
    public static void MergeRecords(Span<byte> into, ReadOnlySpan<byte> from, int queryCount, int dimension)
    {
        long bytes = queryCount * RecordBytes(dimension);
        if (into.Length < bytes || from.Length < bytes)
            throw new ArgumentException($"M = {queryCount} records of D = {dimension} need {bytes} bytes; into has {into.Length} and from {from.Length}.", nameof(into));
        var source = from[..(int)bytes].ToArray(); // read before any write (into and from may alias)
        for (int q = 0; q < queryCount; q++)
        {
            var target = Record(into, q, dimension);
            var other = Record(source, q, dimension);
            var level = CheckedLevel(target, q, "into");
            var otherLevel = CheckedLevel(other, q, "from");
            if (level != otherLevel)
                throw new ArgumentException(
                    $"from[{q}] is at alpha = {otherLevel.Alpha}, sigma = {otherLevel.Sigma} but into[{q}] at alpha = {level.Alpha}, sigma = {level.Sigma}; merge KDE states of one noise level only.");
            StateOf(target, dimension).Combine(StateOf(other, dimension));
            BinaryPrimitives.WriteInt64LittleEndian(target[8..], BinaryPrimitives.ReadInt64LittleEndian(target[8..]) + BinaryPrimitives.ReadInt64LittleEndian(other[8..]));
        }
    }

    /// <summary>Query <paramref name="q"/>'s state (a view).</summary>
    internal KdeState State(int q) => StateOf(Record(_records, q, Dimension), Dimension);

    /// <summary>Adds <paramref name="count"/> accumulated training points to query <paramref name="q"/>'s count.</summary>
    internal void AddCount(int q, long count)
    {
        var record = Record(_records, q, Dimension);
        BinaryPrimitives.WriteInt64LittleEndian(record[8..], BinaryPrimitives.ReadInt64LittleEndian(record[8..]) + count);
    }

    /// <summary>Checks every record (magic, version, count, level) before the states are finished.</summary>
    internal void Check()
    {
        for (int q = 0; q < QueryCount; q++)
        {
            var level = CheckedLevel(Record(_records, q, Dimension), q, "batch");
            if (level != Level)
                throw new InvalidDataException($"batch[{q}] is at alpha = {level.Alpha}, sigma = {level.Sigma} but the batch at alpha = {Level.Alpha}, sigma = {Level.Sigma}: the batch is corrupt.");
        }
    }

    private static Span<byte> Record(Span<byte> records, int q, int dimension)
    {
        int size = (int)RecordBytes(dimension);
        return records.Slice(q * size, size);
    }

    private static KdeState StateOf(Span<byte> record, int dimension)
    {
        var words = MemoryMarshal.Cast<byte, double>(record);
        return new KdeState(words.Slice(StateWords, StateWords), words.Slice(HeaderWords, dimension), words.Slice(HeaderWords + dimension, dimension));
    }

    private static NoiseLevel CheckedLevel(ReadOnlySpan<byte> record, int q, string name)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(record), version = BinaryPrimitives.ReadUInt32LittleEndian(record[4..]);
        if (magic != RecordMagic)
            throw new InvalidDataException($"{name}[{q}] is not a KDE state record (its first word is 0x{magic:X8}, not \"KNKS\"); the batch is corrupt or of another D.");
        if (version != RecordVersion)
            throw new InvalidDataException($"{name}[{q}] has KDE record version {version} but this library reads version {RecordVersion}; evaluate every shard with one version of the library.");
        if (BinaryPrimitives.ReadInt64LittleEndian(record[8..]) < 0)
            throw new InvalidDataException($"{name}[{q}] has a negative training-point count: the record is corrupt.");
        var words = MemoryMarshal.Cast<byte, double>(record);
        double alpha = words[2], sigma = words[3];
        if (!(alpha > 0 && sigma > 0 && double.IsFinite(alpha) && double.IsFinite(sigma)))
            throw new InvalidDataException($"{name}[{q}] has alpha = {alpha}, sigma = {sigma}; a record's level is finite and > 0: the record is corrupt.");
        return new NoiseLevel(alpha, sigma);
    }
}

/// <summary>One query's KDE state (see <see cref="KdeStateBatch"/>): a view of its scalars and its two rows of D values.</summary>
internal readonly ref struct KdeState(Span<double> scalars, Span<double> displacement, Span<double> points)
{
    private readonly Span<double> _scalars = scalars; // u*, S, Q, reserved

    /// <summary>V = Σ e d.</summary>
    public Span<double> Displacement { get; } = displacement;

    /// <summary>P = Σ e y.</summary>
    public Span<double> Points { get; } = points;

    /// <summary>u*.</summary>
    public ref double Max => ref _scalars[0];

    /// <summary>S = Σ e.</summary>
    public ref double Sum => ref _scalars[1];

    /// <summary>Q = Σ e ‖Σ⁻¹d‖².</summary>
    public ref double InverseMoment => ref _scalars[2];

    /// <summary>The identity: no points.</summary>
    public void Clear()
    {
        _scalars.Clear();
        Max = double.NegativeInfinity;
        Displacement.Clear();
        Points.Clear();
    }

    /// <summary>Moves the reference up to <paramref name="max"/> when larger, every sum times e^{old − new}.</summary>
    public void Rescale(double max)
    {
        if (!(max > Max)) return;
        double f = Math.Exp(Max - max); // 0 from −∞
        Sum *= f;
        InverseMoment *= f;
        System.Numerics.Tensors.TensorPrimitives.Multiply(Displacement, f, Displacement);
        System.Numerics.Tensors.TensorPrimitives.Multiply(Points, f, Points);
        Max = max;
    }

    /// <summary>this ← this ⊕ other.</summary>
    public void Combine(KdeState other)
    {
        if (!(other.Sum > 0)) return; // the identity
        Rescale(other.Max);
        double scale = Math.Exp(other.Max - Max);
        Sum += scale * other.Sum;
        InverseMoment += scale * other.InverseMoment;
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(other.Displacement, scale, (ReadOnlySpan<double>)Displacement, Displacement);
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(other.Points, scale, (ReadOnlySpan<double>)Points, Points);
    }
}
