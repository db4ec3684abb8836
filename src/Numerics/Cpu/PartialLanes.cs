using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The log-sum-exp state of one vector of queries held lane by lane, in double: the layout of the query-lanes kernel,
/// where each lane is a query and a tile's sums arrive as vectors of W lanes. Its operations are <see cref="PartialRow"/>'s
/// (same definitions, same laws, the same parallel-variance merge with √c folded into the means' factors and the
/// means' difference taken from the smaller of the displacement and point sums), evaluated for eight lanes per vector
/// instead of one query at a time: per tile the merge costs a few vector operations per coordinate for all lanes, where
/// a row-by-row merge would cost one call per lane. The reference logit stays with the kernel (in T, a vector);
/// <see cref="CopyTo"/> hands a lane to <see cref="PartialRow"/> for shards and for the messages of degenerate queries.
/// </summary>
internal sealed unsafe class PartialLanes<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    private static int W => Vector512<T>.Count;

    private readonly int _d;
    private readonly double* _block;

    /// <summary>Per lane: the sum of weights, the kept mass and the spread (W each); the displacement and point sums (D rows of W).</summary>
    private readonly double* _sum, _mass, _spread, _displacement, _points, _factor;

    public PartialLanes(int dimension)
    {
        _d = dimension;
        int w = W;
        _block = (double*)NativeMemory.AlignedAlloc((nuint)((4 + 2L * dimension) * w * sizeof(double)), 64);
        _sum = _block;
        _mass = _sum + w;
        _spread = _mass + w;
        _factor = _spread + w;
        _displacement = _factor + w;
        _points = _displacement + (long)dimension * w;
    }

    public void Dispose() => NativeMemory.AlignedFree(_block);

    /// <summary>The identity in every lane.</summary>
    public void Clear() => new Span<double>(_block, (4 + 2 * _d) * W).Clear();

    /// <summary>
    /// Multiplies each lane's sums by e^{(old − new)·unit} where its reference logit grew from <paramref name="old"/> to
    /// <paramref name="grown"/>, in units of <paramref name="unit"/> nats (ln 2 where the kernel's logits are base 2).
    /// </summary>
    public void Rescale(Vector512<T> old, Vector512<T> grown, double unit)
    {
        int w = W;
        var nats = Vector512.Create(unit);
        for (int i = 0; i < w; i += 8)
        {
            var o = Widen(old, i);
            var g = Widen(grown, i);
            // clamped to −700: beyond ±709 the library's exponential falls back to scalar calls (old = −∞ in the first tile,
            // where the state is 0 and any finite factor does; a state 700 nats down is negligible either way)
            Vector512.ConditionalSelect(Vector512.GreaterThan(g, o), Vector512.Exp(Vector512.Max((o - g) * nats, Vector512.Create(-700.0))), Vector512<double>.One)
                .Store(_factor + i);
        }
        ScaleRow(_sum);
        ScaleRow(_mass);
        ScaleRow(_spread);
        for (int k = 0; k < _d; k++)
        {
            ScaleRow(_displacement + k * w);
            ScaleRow(_points + k * w);
        }
    }

    private void ScaleRow(double* row)
    {
        for (int i = 0; i < W; i += 8) (Vector512.Load(row + i) * Vector512.Load(_factor + i)).Store(row + i);
    }

    /// <summary>Adds each lane's tile of weights to its normaliser (a tile with no kept weight: they count there only).</summary>
    public void AddWeights(T* weights)
    {
        for (int i = 0; i < W; i += 8) (Vector512.Load(_sum + i) + WidenAt(weights, i)).Store(_sum + i);
    }

    /// <summary>
    /// Merges a tile's sums into every lane (relative to the lane's reference logit): all its weights (the normaliser), the kept
    /// mass, the kept points' Σ e t with t = (x − α y)/<paramref name="differenceScale"/> (the negated displacement over
    /// that factor: α where the kernel scaled the queries, else 1; multiplied back here, in double), Σ e y, and the t's
    /// squared deviations from the tile's rounded mean with the deviations' own squared sum (the corrected two-pass spread
    /// is the first less the second over the mass, times the factor squared). Only the sums in <paramref name="needs"/>
    /// are read (the others are left as they are).
    /// </summary>
    public void Merge(double alpha, double differenceScale, Moments needs, T* weights, T* kept, T* deviations, T* offsets, T* differenceSums, T* pointSums)
    {
        var scale = Vector512.Create(differenceScale);
        bool spreads = (needs & Moments.Spread) == Moments.Spread, displacements = (needs & Moments.Displacement) != 0, points = (needs & Moments.Points) != 0;
        int w = W;
        if (!spreads)
        {
            // no spread wanted: the sums add, nothing else (no means, so no square roots per tile)
            for (int i = 0; i < w; i += 8)
            {
                var added = WidenAt(kept, i);
                (Vector512.Load(_mass + i) + added).Store(_mass + i);
                (Vector512.Load(_sum + i) + WidenAt(weights, i)).Store(_sum + i);
                for (int k = 0; displacements && k < _d; k++)
                    (Vector512.Load(_displacement + k * w + i) - scale * WidenAt(differenceSums + k * w, i)).Store(_displacement + k * w + i);
                for (int k = 0; points && k < _d; k++)
                    (Vector512.Load(_points + k * w + i) + WidenAt(pointSums + k * w, i)).Store(_points + k * w + i);
            }
            return;
        }
        var a2 = Vector512.Create(alpha * alpha);
        for (int i = 0; i < w; i += 8)
        {
            var added = WidenAt(kept, i);
            var mass = Vector512.Load(_mass + i);
            var total = mass + added;
            var some = Vector512.GreaterThan(added, Vector512<double>.Zero);
            var merge = some & Vector512.GreaterThan(mass, Vector512<double>.Zero);
            // c ‖μ_tile − μ_state‖², c = mass·added/(mass + added), with √c in each mean's factor (as PartialRow.Merge)
            var own = Vector512.ConditionalSelect(merge, Vector512.Sqrt(added / total) / Vector512.Sqrt(mass), Vector512<double>.Zero);
            var factor = Vector512.ConditionalSelect(merge, Vector512.Sqrt(mass / total) / Vector512.Sqrt(added), Vector512<double>.Zero);
            Vector512<double> gapV = default, gapP = default, normV = default, normP = default;
            for (int k = 0; k < _d; k++)
            {
                double* v = _displacement + k * w + i, p = _points + k * w + i;
                var vs = Vector512.Load(v);
                var ps = Vector512.Load(p);
                var vt = -scale * WidenAt(differenceSums + k * w, i);
                var pt = WidenAt(pointSums + k * w, i);
                var a = vs * own;
                var b = vt * factor;
                var c = ps * own;
                var e = pt * factor;
                gapV += (a - b) * (a - b);
                gapP += (c - e) * (c - e);
                normV += a * a + b * b;
                normP += c * c + e * e;
                (vs + vt).Store(v);
                (ps + pt).Store(p);
            }
            var gap = Vector512.ConditionalSelect(Vector512.LessThan(a2 * normP, normV), a2 * gapP, gapV);
            var tileSpread = Vector512.ConditionalSelect(some,
                scale * scale * Vector512.Max(Vector512<double>.Zero, WidenAt(deviations, i) - WidenAt(offsets, i) / added), Vector512<double>.Zero);
            var spread = Vector512.Load(_spread + i);
            Vector512.ConditionalSelect(merge, spread + tileSpread + gap, Vector512.ConditionalSelect(some, tileSpread, spread)).Store(_spread + i);
            total.Store(_mass + i);
            (Vector512.Load(_sum + i) + WidenAt(weights, i)).Store(_sum + i);
        }
    }

    /// <summary>Lane <paramref name="lane"/>'s state, with its reference logit <paramref name="max"/>, into <paramref name="row"/>.</summary>
    public void CopyTo(int lane, double max, PartialRow row)
    {
        int w = W;
        row.Max = max;
        row.Sum = _sum[lane];
        row.Mass = _mass[lane];
        row.Spread = _spread[lane];
        for (int k = 0; k < _d; k++)
        {
            row.Displacement[k] = _displacement[k * w + lane];
            row.Points[k] = _points[k * w + lane];
        }
    }

    /// <summary>
    /// <see cref="PartialRow.Finish{T}"/> for lanes [0, <paramref name="count"/>) (queries q0 …; reference logits <paramref name="max"/>
    /// in units of <paramref name="unit"/> nats), eight lanes at a time, with the per-level constants computed once per call
    /// (<see cref="FinishConstants"/>: at small N a block's arithmetic costs less than three scalar logarithms or ten
    /// vector divisions); false, having written nothing, when a lane's state is degenerate (the row-by-row finish then
    /// reports it).
    /// </summary>
    public bool Finish(Vector512<T> max, double unit, in FinishConstants constants, int q0, int count, T* logDensity, T* score, T* denoiser, T* divergence)
    {
        int d = _d, w = W;
        bool moments = score != null || denoiser != null || divergence != null;
        var lane = Vector512.Create(0.0, 1, 2, 3, 4, 5, 6, 7);
        for (int i = 0; i < count; i += 8)
        {
            // degenerate: no weight (no kept mass where moments are wanted), or a non-finite maximum or sum (x − x is 0 for finite x only)
            var weight = Vector512.Load((moments ? _mass : _sum) + i);
            var ok = Vector512.GreaterThan(weight, Vector512<double>.Zero) & Finite(Widen(max, i)) & Finite(Vector512.Load(_sum + i)) & Finite(Vector512.Load(_spread + i));
            for (int k = 0; k < d; k++) ok &= Finite(Vector512.Load(_displacement + k * w + i)) & Finite(Vector512.Load(_points + k * w + i));
            // lanes at or past count are padding: whatever they hold
            ok |= Vector512.GreaterThanOrEqual(lane, Vector512.Create((double)(count - i)));
            if (!Vector512.EqualsAll(ok.AsInt64(), Vector512<long>.AllBitsSet)) return false;
        }
        var normalisation = Vector512.Create(constants.Normalisation);
        var nats = Vector512.Create(unit);
        var perVariance = Vector512.Create(constants.InverseVariance);
        var constant = Vector512.Create(constants.DivergenceConstant);
        double* lanes8 = stackalloc double[8];
        for (int i = 0; i < count; i += 8)
        {
            int lanes = Math.Min(8, count - i);
            var inverse = Vector512<double>.One / Vector512.Load(_mass + i);
            if (logDensity != null)
                Put(Widen(max, i) * nats + Vector512.Log(Vector512.Load(_sum + i)) - normalisation, lanes8, logDensity + q0 + i, lanes, 1);
            for (int k = 0; k < d; k++)
            {
                if (score != null) Put(Vector512.Load(_displacement + k * w + i) * inverse * perVariance, lanes8, score + (long)(q0 + i) * d + k, lanes, d);
                if (denoiser != null) Put(Vector512.Load(_points + k * w + i) * inverse, lanes8, denoiser + (long)(q0 + i) * d + k, lanes, d);
            }
            if (divergence != null)
                Put(Vector512.Load(_spread + i) * inverse * perVariance * perVariance - constant, lanes8, divergence + q0 + i, lanes, 1);
        }
        return true;
    }

    /// <summary>Lanes [0, <paramref name="lanes"/>) of <paramref name="v"/> rounded to T at <paramref name="to"/>, <paramref name="stride"/> apart (one spill through <paramref name="spill"/>, not an extraction per lane).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(Vector512<double> v, double* spill, T* to, int lanes, int stride)
    {
        v.Store(spill);
        for (int j = 0; j < lanes; j++) to[(long)j * stride] = T.CreateTruncating(spill[j]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Finite(Vector512<double> v) => Vector512.Equals(v - v, Vector512<double>.Zero);

    /// <summary>Lanes [i, i + 8) of <paramref name="v"/> in double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Widen(Vector512<T> v, int i)
    {
        if (typeof(T) == typeof(double)) return v.AsDouble();
        var (lo, hi) = Vector512.Widen(v.AsSingle());
        return i == 0 ? lo : hi;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> WidenAt(T* p, int i) => Widen(Vector512.Load(p), i);
}

/// <summary>
/// What <see cref="PartialLanes{T}.Finish"/> needs of the level and the set, once per call: the log-density's normalisation
/// log N + (D/2) log 2π + D log σ, 1/σ² and the divergence's constant D/σ² (the same roundings as dividing by σ twice).
/// </summary>
internal readonly struct FinishConstants(NoiseLevel level, long trainingCount, int dimension)
{
    public readonly double Normalisation = Math.Log(trainingCount) + 0.5 * dimension * Math.Log(2 * Math.PI) + dimension * Math.Log(level.Sigma);
    public readonly double InverseVariance = 1 / level.Sigma / level.Sigma;
    public readonly double DivergenceConstant = dimension / level.Sigma / level.Sigma;
}
