using System.Numerics;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics;

/// <summary>
/// One query's streamed log-sum-exp state, a view into the arrays of a <see cref="ScorePartials"/> (or of a backend's
/// scratch with the same layout). With logits <c>u_i = −‖x − α y_i‖² / (2σ²)</c>, displacements <c>d_i = α y_i − x</c>
/// and weights <c>e_i = e^{u_i − u*}</c>:
/// <list type="bullet">
/// <item><c>Max</c> = u*, the reference logit (the largest seen; −∞ for no points);</item>
/// <item><c>Sum</c> = Σ e_i over every point (the log-density's normaliser);</item>
/// <item><c>Mass</c> = Σ e_i over the kept points (weight above the negligible cut-off) that the moments below are over;</item>
/// <item><c>Displacement</c> = V = Σ e_i d_i (the score: no cancellation of α m − x however small σ is);</item>
/// <item><c>Points</c> = P = Σ e_i y_i (the denoiser m = P / Mass: no cancellation of (x + V/S)/α however small α or far x);</item>
/// <item><c>Spread</c> = Σ e_i ‖d_i − V/Mass‖², the second moment about the mean (α² Mass tr C: the divergence and the
///   Hessian without the cancellation of a second moment about the query less the squared mean).</item>
/// </list>
/// <para>
/// The operations and their laws (exact in real arithmetic, so any split of the training set into shards, threads or
/// devices merges into the same state up to rounding):
/// <list type="bullet">
/// <item>identity: (−∞, 0, 0, 0, 0, 0); merging it changes nothing;</item>
/// <item><see cref="Rescale"/>: moving the reference to a larger logit multiplies every sum by e^{old − new}, which
///   leaves every finished output unchanged;</item>
/// <item><see cref="Merge"/>: sums add after rescaling to the common maximum, and spreads add with the parallel-variance
///   correction (Chan et al.) <c>M_a M_b / (M_a + M_b) ‖μ_a − μ_b‖²</c>, μ = V / Mass the mean displacement:
///   commutative and associative. μ_a − μ_b = α (P_a/M_a − P_b/M_b) too; the merge takes the difference from whichever
///   sums are the smaller in norm, so its rounding is u times the smaller of the displacements and α times the points
///   (far from the data, or at tiny α, the displacements are huge and the points are not; at tiny σ with a common offset,
///   the reverse);</item>
/// <item><see cref="Finish{T}"/>: ℓ = u* + log S − log N − (D/2) log 2π − D log σ, s = V / (Mass σ²), m = P / Mass,
///   div s = Spread / (Mass σ⁴) − D / σ².</item>
/// </list>
/// The float64 reference of this state is <c>Reference.PartialStateReference</c>; the OpenCL twin is in score.cl.
/// </para>
/// </summary>
public readonly ref struct PartialRow
{
    private readonly Span<double> _scalars; // Max, Sum, Mass, Spread

    /// <summary>V (D values).</summary>
    public Span<double> Displacement { get; }

    /// <summary>P (D values).</summary>
    public Span<double> Points { get; }

    /// <summary>A view of one query's state: its four scalars (max, sum, mass, spread) and its two rows of D values.</summary>
    public PartialRow(Span<double> scalars, Span<double> displacement, Span<double> points)
    {
        if (scalars.Length != 4 || displacement.Length != points.Length)
            throw new ArgumentException($"A state row takes 4 scalars and two rows of one length; got {scalars.Length}, {displacement.Length} and {points.Length}.");
        _scalars = scalars;
        Displacement = displacement;
        Points = points;
    }

    /// <summary>u*.</summary>
    public ref double Max => ref _scalars[0];

    /// <summary>S.</summary>
    public ref double Sum => ref _scalars[1];

    /// <summary>The kept points' Σ e.</summary>
    public ref double Mass => ref _scalars[2];

    /// <summary>Σ e ‖d − V/Mass‖² over the kept points.</summary>
    public ref double Spread => ref _scalars[3];

    /// <summary>Sets the identity: no points.</summary>
    public void Clear()
    {
        Max = double.NegativeInfinity;
        Sum = Mass = Spread = 0;
        Displacement.Clear();
        Points.Clear();
    }

    /// <summary>
    /// Moves the reference logit up to <paramref name="max"/> when that is larger, multiplying every sum by e^{old − new};
    /// false while the reference is still −∞ (no point has a finite logit yet).
    /// </summary>
    public bool Rescale(double max)
    {
        if (max > Max)
        {
            double f = Math.Exp(Max - max); // 0 from −∞
            Sum *= f;
            Mass *= f;
            Spread *= f;
            Scale(Displacement, f);
            Scale(Points, f);
            Max = max;
        }
        return !double.IsNegativeInfinity(Max);
    }

    /// <summary>Adds the weight of points below the cut-off: they count in the log-density's normaliser only.</summary>
    public void AddNegligible(double sum) => Sum += sum;

    /// <summary>
    /// Adds kept points' weight <paramref name="mass"/> where the caller adds their sums to the rows itself and no spread
    /// is wanted (a backend evaluating the score or denoiser alone): the sums simply add, with no means to compare.
    /// </summary>
    internal void AddKept(double mass)
    {
        Sum += mass;
        Mass += mass;
    }

    /// <summary>
    /// Merges <paramref name="scale"/> times a group of kept points' sums into this state, both relative to this state's
    /// reference logit: their Σ e (<paramref name="mass"/>), Σ e d, Σ e y and their own spread about their own mean. The
    /// spreads add with the parallel-variance correction, which involves only a difference of means, never a second moment
    /// about the query: no cancellation however far the query is.
    /// </summary>
    /// <param name="alpha">The signal scale α of the noise level (the means' difference may come from the point sums).</param>
    /// <param name="scale">The factor applied to every sum of the group (e^{its reference − this reference}).</param>
    /// <param name="mass">The group's Σ e over its kept points.</param>
    /// <param name="displacement">The group's Σ e (α y − x) (D values).</param>
    /// <param name="points">The group's Σ e y (D values).</param>
    /// <param name="spread">The group's Σ e ‖(α y − x) − mean‖² about its own mean.</param>
    public void Merge(double alpha, double scale, double mass, ReadOnlySpan<double> displacement, ReadOnlySpan<double> points, double spread)
    {
        double added = scale * mass;
        if (!(added > 0)) return; // the identity, or a group negligible against this state
        Sum += added;
        if (Mass == 0)
        {
            Mass = added;
            Spread = scale * spread;
            ScaleInto(displacement, scale, Displacement);
            ScaleInto(points, scale, Points);
            return;
        }
        // c ‖μ_other − μ_this‖² with c = Mass·added/(Mass + added), before this state's sums change. √c goes into each
        // mean's factor, so a state whose mass has shrunk towards the underflow threshold (its reference far below the
        // other's) never divides by it alone: √c/Mass stays finite where 1/Mass would not.
        double total = Mass + added;
        double factor = Math.Sqrt(Mass / total) * Math.Sqrt(added) / mass, own = Math.Sqrt(added / total) / Math.Sqrt(Mass);
        Spread += scale * spread + SquaredGap(alpha, displacement, points, factor, Displacement, Points, own);
        Mass += added;
        AddScaled(displacement, scale, Displacement);
        AddScaled(points, scale, Points);
    }

    /// <summary>this ← this ⊕ other: rescales both to the larger reference and merges.</summary>
    /// <param name="other">Another state of the same query at the same noise level.</param>
    /// <param name="alpha">The signal scale α of that noise level.</param>
    public void Combine(PartialRow other, double alpha)
    {
        if (!(other.Sum > 0)) return;
        double max = Math.Max(Max, other.Max);
        Rescale(max);
        double scale = Math.Exp(other.Max - max);
        Sum += scale * (other.Sum - other.Mass); // the other side's negligible points; its kept ones are merged next
        Merge(alpha, scale, other.Mass, other.Displacement, other.Points, other.Spread);
    }

    /// <summary>
    /// The outputs of query <paramref name="q"/> over a training set of <paramref name="trainingCount"/> points:
    /// ℓ = u* + log S − log N − (D/2) log 2π − D log σ (logs of scales, so σ² may overflow), s = V/(Mass σ²),
    /// m = P/Mass, div s = (Spread/Mass)/σ⁴ − D/σ².
    /// </summary>
    public void Finish<T>(NoiseLevel level, long trainingCount, int q, ScoreOutputs<T> outputs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = Displacement.Length;
        bool moments = !(outputs.Score.IsEmpty && outputs.Denoiser.IsEmpty && outputs.Divergence.IsEmpty);
        if (!(moments ? Mass > 0 : Sum > 0) || !double.IsFinite(Max) || !double.IsFinite(Sum) || !double.IsFinite(Spread)
            || !double.IsFinite(Total(Displacement)) || !double.IsFinite(Total(Points)))
            throw new MagnitudeOverflowException(
                $"query row {q} is so far from every training point that its squared distances overflow {typeof(T).Name} " +
                $"(or, with sigma = {level.Sigma:G6}, sigma squared does too); " +
                (typeof(T) == typeof(float) ? "rescale the data or use double precision." : "rescale the data and sigma by a common factor."), "queries");
        double sigma = level.Sigma, invMass = 1 / Mass;
        if (!outputs.LogDensity.IsEmpty)
            outputs.LogDensity[q] = T.CreateChecked(Max + Math.Log(Sum) - Math.Log(trainingCount) - 0.5 * d * Math.Log(2 * Math.PI) - d * Math.Log(sigma));
        if (!outputs.Score.IsEmpty)
        {
            var score = outputs.Score.Slice(q * d, d);
            for (int k = 0; k < d; k++) score[k] = T.CreateChecked(Displacement[k] * invMass / sigma / sigma);
        }
        if (!outputs.Denoiser.IsEmpty)
        {
            var denoiser = outputs.Denoiser.Slice(q * d, d);
            for (int k = 0; k < d; k++) denoiser[k] = T.CreateChecked(Points[k] * invMass);
        }
        if (!outputs.Divergence.IsEmpty)
            outputs.Divergence[q] = T.CreateChecked(Spread * invMass / sigma / sigma / sigma / sigma - d / sigma / sigma);
    }

    private static double Total(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double t in v) s += t;
        return s;
    }

    private static void Scale(Span<double> v, double f)
    {
        int k = 0;
        for (; k + 8 <= v.Length; k += 8) (Vector512.Create<double>(v.Slice(k, 8)) * f).CopyTo(v.Slice(k, 8));
        for (; k < v.Length; k++) v[k] *= f;
    }

    private static void ScaleInto(ReadOnlySpan<double> source, double f, Span<double> destination)
    {
        int k = 0;
        for (; k + 8 <= source.Length; k += 8) (Vector512.Create(source.Slice(k, 8)) * f).CopyTo(destination.Slice(k, 8));
        for (; k < source.Length; k++) destination[k] = source[k] * f;
    }

    private static void AddScaled(ReadOnlySpan<double> source, double f, Span<double> destination)
    {
        int k = 0;
        for (; k + 8 <= source.Length; k += 8)
            Vector512.FusedMultiplyAdd(Vector512.Create(source.Slice(k, 8)), Vector512.Create(f), Vector512.Create<double>(destination.Slice(k, 8)))
                .CopyTo(destination.Slice(k, 8));
        for (; k < source.Length; k++) destination[k] = Math.FusedMultiplyAdd(source[k], f, destination[k]);
    }

    /// <summary>
    /// ‖μ_a − μ_b‖² for μ_a = V_a·fa = α P_a·fa (up to rounding) and μ_b likewise, from the displacement sums or from the
    /// point sums, whichever are the smaller in norm (their rounding is relative to their own size).
    /// </summary>
    private static double SquaredGap(double alpha, ReadOnlySpan<double> va, ReadOnlySpan<double> pa, double fa,
        ReadOnlySpan<double> vb, ReadOnlySpan<double> pb, double fb)
    {
        Vector512<double> gv = default, gp = default, nv = default, np = default;
        int k = 0;
        for (; k + 8 <= va.Length; k += 8)
        {
            var a = Vector512.Create(va.Slice(k, 8)) * fa;
            var b = Vector512.Create(vb.Slice(k, 8)) * fb;
            var c = Vector512.Create(pa.Slice(k, 8)) * fa;
            var e = Vector512.Create(pb.Slice(k, 8)) * fb;
            gv = Vector512.FusedMultiplyAdd(a - b, a - b, gv);
            gp = Vector512.FusedMultiplyAdd(c - e, c - e, gp);
            nv = Vector512.FusedMultiplyAdd(a, a, Vector512.FusedMultiplyAdd(b, b, nv));
            np = Vector512.FusedMultiplyAdd(c, c, Vector512.FusedMultiplyAdd(e, e, np));
        }
        double gapV = Vector512.Sum(gv), gapP = Vector512.Sum(gp), normV = Vector512.Sum(nv), normP = Vector512.Sum(np);
        for (; k < va.Length; k++)
        {
            double a = va[k] * fa, b = vb[k] * fb, c = pa[k] * fa, e = pb[k] * fb;
            gapV += (a - b) * (a - b);
            gapP += (c - e) * (c - e);
            normV += a * a + b * b;
            normP += c * c + e * e;
        }
        return alpha * alpha * normP < normV ? alpha * alpha * gapP : gapV;
    }
}
