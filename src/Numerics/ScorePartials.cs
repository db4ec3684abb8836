using System.Buffers.Binary;
using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// The streamed log-sum-exp state of M queries against part of a training set: a monoid that merges exactly.
/// Per query, with logits <c>u_i = −‖x − α y_i‖² / (2σ²)</c> and displacements <c>d_i = α y_i − x</c>:
/// <list type="bullet">
/// <item><c>Max</c> = u* = max_i u_i (−∞ for no points),</item>
/// <item><c>Sum</c> = S = Σ_i e^{u_i − u*},</item>
/// <item><c>Displacement</c> = V = Σ_i e^{u_i − u*} d_i (D values),</item>
/// <item><c>SecondMoment</c> = Q = Σ_i e^{u_i − u*} ‖d_i‖²,</item>
/// </list>
/// plus the number of training points seen. The identity is (−∞, 0, 0, 0) with count 0; <see cref="Combine"/>
/// rescales the side with the smaller maximum and adds, so it is associative and commutative up to rounding and
/// any split of the training set (threads, devices, machines) merges into the same result.
/// <see cref="Finish{T}"/> turns the state into log-density, score, denoiser and divergence.
/// Displacements rather than weighted points are summed so that the score <c>V / (S σ²)</c> never suffers the
/// cancellation of <c>α m − x</c> at small σ, and Q is taken about the query so the divergence stays accurate there too.
/// Every shard must be evaluated with the same queries and the same noise level.
/// </summary>
public sealed class ScorePartials
{
    private const uint Magic = 0x50534E4B; // "KNSP"
    private const int FormatVersion = 1;

    /// <summary>Number of queries M.</summary>
    public int QueryCount { get; }

    /// <summary>Dimension D.</summary>
    public int Dimension { get; }

    /// <summary>The noise level every shard was evaluated at.</summary>
    public NoiseLevel Level { get; }

    /// <summary>Number of training points merged so far (N of the whole set once all shards are in).</summary>
    public long TrainingCount { get; private set; }

    /// <summary>Running maximum u* per query (length M).</summary>
    public double[] Max { get; }

    /// <summary>S per query (length M).</summary>
    public double[] Sum { get; }

    /// <summary>V per query (M×D, row-major).</summary>
    public double[] Displacement { get; }

    /// <summary>Q per query (length M).</summary>
    public double[] SecondMoment { get; }

    private ScorePartials(int queryCount, int dimension, NoiseLevel level)
    {
        QueryCount = queryCount;
        Dimension = dimension;
        Level = level;
        Max = new double[queryCount];
        Array.Fill(Max, double.NegativeInfinity);
        Sum = new double[queryCount];
        Displacement = new double[(long)queryCount * dimension];
        SecondMoment = new double[queryCount];
    }

    /// <summary>The identity state for M queries of dimension D at a noise level: no training points yet.</summary>
    /// <param name="queryCount">M ≥ 1.</param>
    /// <param name="dimension">D ≥ 1.</param>
    /// <param name="level">The noise level all shards use.</param>
    public static ScorePartials Identity(int queryCount, int dimension, NoiseLevel level)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queryCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (level.Sigma <= 0) throw new ArgumentException("level is default(NoiseLevel); create it with new NoiseLevel(alpha, sigma).", nameof(level));
        return new ScorePartials(queryCount, dimension, level);
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
        for (int q = 0; q < QueryCount; q++)
            CombineQuery(q, other.Max[q], other.Sum[q], other.Displacement.AsSpan(q * Dimension, Dimension), other.SecondMoment[q]);
        TrainingCount += other.TrainingCount;
    }

    /// <summary>Merges one query's state (max, sum, displacement, second moment) into query <paramref name="q"/>.</summary>
    internal void CombineQuery(int q, double max, double sum, ReadOnlySpan<double> displacement, double secondMoment)
    {
        if (sum == 0) return; // the identity: nothing to merge
        Span<double> v = Displacement.AsSpan(q * Dimension, Dimension);
        if (Sum[q] == 0)
        {
            Max[q] = max; Sum[q] = sum; SecondMoment[q] = secondMoment;
            displacement.CopyTo(v);
            return;
        }
        double m = Math.Max(Max[q], max);
        double a = Math.Exp(Max[q] - m), b = Math.Exp(max - m);
        Max[q] = m;
        Sum[q] = a * Sum[q] + b * sum;
        SecondMoment[q] = a * SecondMoment[q] + b * secondMoment;
        for (int k = 0; k < v.Length; k++) v[k] = a * v[k] + b * displacement[k];
    }

    internal void AddTrainingCount(long count) => TrainingCount += count;

    /// <summary>
    /// Turns the merged state into the requested outputs: ℓ = u* + log S − log N − (D/2) log(2πσ²),
    /// s = V / (S σ²), m = (x + V/S) / α, div s = (Q/S − ‖V/S‖²)/σ⁴ − D/σ².
    /// </summary>
    /// <param name="queries">The same M×D queries every shard was evaluated with (needed for the denoiser).</param>
    /// <param name="outputs">Where to write; any subset.</param>
    public void Finish<T>(ReadOnlySpan<T> queries, ScoreOutputs<T> outputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (queries.Length != (long)QueryCount * Dimension)
            throw new ArgumentException($"queries has {queries.Length} values but this state holds M×D = {QueryCount}×{Dimension}; pass the queries the shards were evaluated with.", nameof(queries));
        outputs.Validate(QueryCount, Dimension);
        if (TrainingCount == 0)
            throw new InvalidOperationException("No training points have been merged into this state; accumulate at least one shard before Finish.");
        for (int q = 0; q < QueryCount; q++)
            FinishQuery(Level, TrainingCount, Dimension, q, queries.Slice(q * Dimension, Dimension),
                Max[q], Sum[q], Displacement.AsSpan(q * Dimension, Dimension), SecondMoment[q], outputs);
    }

    /// <summary>The finalisation of one query: shared by <see cref="Finish{T}"/> and the backends' fused path.</summary>
    internal static void FinishQuery<T>(NoiseLevel level, long trainingCount, int dimension, int q, ReadOnlySpan<T> x,
        double max, double sum, ReadOnlySpan<double> displacement, double secondMoment, ScoreOutputs<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(sum > 0) || double.IsInfinity(max) || !double.IsFinite(sum))
            throw new ArithmeticException(
                $"Query row {q} is so far from every training point that all its squared distances overflow {typeof(T).Name}; rescale the data or use double precision.");
        double s2 = level.Variance, invS = 1.0 / sum;
        if (!outputs.LogDensity.IsEmpty)
            outputs.LogDensity[q] = T.CreateChecked(max + Math.Log(sum) - Math.Log(trainingCount) - 0.5 * dimension * Math.Log(2 * Math.PI * s2));
        double meanSquare = 0;
        for (int k = 0; k < dimension; k++)
        {
            double v = displacement[k] * invS; // (α m − x)_k
            meanSquare += v * v;
            if (!outputs.Score.IsEmpty) outputs.Score[q * dimension + k] = T.CreateChecked(v / s2);
            if (!outputs.Denoiser.IsEmpty) outputs.Denoiser[q * dimension + k] = T.CreateChecked((double.CreateChecked(x[k]) + v) / level.Alpha);
        }
        if (!outputs.Divergence.IsEmpty)
        {
            // α² tr C = Q/S − ‖V/S‖², a variance, so never negative: clamp the rounding.
            double spread = Math.Max(0, secondMoment * invS - meanSquare);
            outputs.Divergence[q] = T.CreateChecked(spread / (s2 * s2) - dimension / s2);
        }
    }

    /// <summary>Writes the state in a compact little-endian binary form (header, then the four arrays), to ship between machines.</summary>
    /// <param name="stream">A writable stream.</param>
    public void WriteTo(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic); w.Write(FormatVersion);
        w.Write(QueryCount); w.Write(Dimension); w.Write(TrainingCount);
        w.Write(Level.Alpha); w.Write(Level.Sigma);
        foreach (var array in new[] { Max, Sum, SecondMoment, Displacement })
            foreach (double value in array) w.Write(value);
    }

    /// <summary>Reads a state written by <see cref="WriteTo"/>.</summary>
    /// <param name="stream">A readable stream positioned at the state.</param>
    public static ScorePartials ReadFrom(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        try
        {
            if (r.ReadUInt32() != Magic) throw new InvalidDataException("Not a score-partials stream (bad magic).");
            int version = r.ReadInt32();
            if (version != FormatVersion) throw new InvalidDataException($"Score-partials format version {version} is not supported (expected {FormatVersion}).");
            int m = r.ReadInt32(), d = r.ReadInt32();
            long n = r.ReadInt64();
            double alpha = r.ReadDouble(), sigma = r.ReadDouble();
            if (m < 1 || d < 1 || n < 0 || (long)m * d > int.MaxValue)
                throw new InvalidDataException($"Score-partials header has an impossible shape M={m}, D={d}, N={n}.");
            if (stream.CanSeek && stream.Length - stream.Position < 8L * ((long)m * (d + 3)))
                throw new InvalidDataException($"Score-partials stream is truncated: M={m}, D={d} needs {8L * m * (d + 3)} more bytes.");
            var p = new ScorePartials(m, d, new NoiseLevel(alpha, sigma)) { TrainingCount = n };
            foreach (var array in new[] { p.Max, p.Sum, p.SecondMoment, p.Displacement })
                for (int i = 0; i < array.Length; i++) array[i] = r.ReadDouble();
            return p;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("Score-partials stream is truncated.", e);
        }
    }
}
