using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>Whether α is exact in T; a struct type argument so the JIT compiles each variant without the branch.</summary>
internal interface IAlphaMode
{
    static abstract bool IsExact { get; }

    /// <summary>
    /// Whether the difference is the subtraction x − y: α = 1 (<see cref="UnitAlpha"/>), or the queries come divided by α
    /// (<see cref="ScaledQueries"/>).
    /// </summary>
    static virtual bool IsUnit => false;

    /// <summary>Whether the queries come divided by α, x/α = x_hi + x_lo in T (<see cref="ScaledQueries"/>).</summary>
    static virtual bool IsScaledQueries => false;

    /// <summary>Whether the query-lanes kernel forms a split difference again where it needs it rather than holding it (<see cref="SplitAlphaFormed"/>).</summary>
    static virtual bool FormsAgain => false;
}

/// <summary>α is exact in T (α = 1, or T = double): one FMA per difference.</summary>
internal struct ExactAlpha : IAlphaMode { public static bool IsExact => true; }

/// <summary>α = α_hi + α_lo split in T: two FMAs per difference.</summary>
internal struct SplitAlpha : IAlphaMode { public static bool IsExact => false; }

/// <summary>
/// α split as <see cref="SplitAlpha"/>, the query-lanes kernel forming each difference again in step 3 instead of holding it
/// from step 1 (the same operations, so the same bits): at D ≤ 4, where a held difference's store and load cost more
/// than its two FMAs.
/// </summary>
internal struct SplitAlphaFormed : IAlphaMode
{
    public static bool IsExact => false;
    public static bool FormsAgain => true;
}

/// <summary>
/// α split in T, the query-lanes kernel's queries divided by α once per block, x/α = x_hi + x_lo (the quotient formed in
/// double, its two parts in T), so that x − α y = α ((x_hi − y) + x_lo): step 1 forms (x_hi − y) + x_lo, two subtractions
/// on the FP adders where the split's two FMAs would take the FMA units from the squares and the weighted sums, with the
/// logits' scale carrying α²; step 3 sums x_hi − y, one subtraction as at α = 1, and adds x_lo times the tile's kept weight
/// once per tile; the merge scales the sums by α (spreads by α²) in double. Two roundings of each difference, as the
/// split's; x_lo carries the quotient's own error, about u²|x/α|, as α_lo carries α's.
/// </summary>
internal struct ScaledQueries : IAlphaMode
{
    public static bool IsExact => true;
    public static bool IsUnit => true;
    public static bool IsScaledQueries => true;
}

/// <summary>
/// α = 1, for differences x − y only (a = −1 in <see cref="Simd{T}.Difference{TAlpha}"/>; the query-lanes kernel): a
/// subtraction, the same bits as fma(−1, y, x) (both round x − y once), but on the FP adders instead of the FMA units,
/// which the squares and the weighted sums keep busy.
/// </summary>
internal struct UnitAlpha : IAlphaMode
{
    public static bool IsExact => true;
    public static bool IsUnit => true;
}

/// <summary>A compile-time switch (a struct type argument, so the JIT drops the unused branch).</summary>
internal interface IFlag { static abstract bool IsSet { get; } }
internal struct WithPoints : IFlag { public static bool IsSet => true; }
internal struct WithoutPoints : IFlag { public static bool IsSet => false; }

/// <summary>
/// The SIMD building blocks both CPU kernels (<see cref="FusedScoreKernel{T}"/>, <see cref="QueryLanesKernel{T}"/>) share:
/// one-rounding FMA, the direct difference x − α y with α split in two, the vector exponential, the masked tail of a row,
/// widening to double, and the tile's logits and weights.
/// </summary>
internal static unsafe class Simd<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static int W => Vector512<T>.Count;

    /// <summary>a·b + c with one rounding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Fma(Vector512<T> a, Vector512<T> b, Vector512<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();
        throw new NotSupportedException();
    }

    /// <summary>c + (a + aLow)·y: a difference x − α y (a = −α) or a displacement α y − x (a = α, c = −x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Difference<TAlpha>(Vector512<T> a, Vector512<T> aLow, Vector512<T> y, Vector512<T> c)
        where TAlpha : struct, IAlphaMode
    {
        if (TAlpha.IsUnit) return c - y;
        var t = Fma(a, y, c);
        return TAlpha.IsExact ? t : Fma(aLow, y, t);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Exp(Vector512<T> v)
    {
        if (typeof(T) == typeof(float)) return VectorExp.Exp(v.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
        {
            // where any lane is below −708 the library's exponential computes every lane by scalar calls, whose bits differ
            // from its vector ones: a lane's weight would then depend on its neighbours' logits (a query's bits on its
            // batch). Such lanes are clamped, then set to 0 (e^{−708} is 2⁻¹⁰²¹: below every cut-off); NaN stays NaN.
            var x = v.AsDouble();
            var floor = Vector512.Create(-708.0);
            var e = Vector512.Exp(Vector512.Max(x, floor));
            return Vector512.ConditionalSelect(Vector512.LessThan(x, floor), Vector512<double>.Zero, e).As<double, T>();
        }
        throw new NotSupportedException();
    }

    /// <summary><see cref="Exp"/> of four vectors in place, interleaved (<see cref="VectorExp.Exp4"/>): the same bits as four calls.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Exp4(ref Vector512<T> v0, ref Vector512<T> v1, ref Vector512<T> v2, ref Vector512<T> v3)
    {
        if (typeof(T) == typeof(float))
        {
            VectorExp.Exp4(ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v0), ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v1),
                ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v2), ref Unsafe.As<Vector512<T>, Vector512<float>>(ref v3));
            return;
        }
        v0 = Exp(v0);
        v1 = Exp(v1);
        v2 = Exp(v2);
        v3 = Exp(v3);
    }

    /// <summary>
    /// The lanes of a row's last vector (which starts at D − W and overlaps the previous one when W does not divide D) that
    /// the full vectors have not covered: j ≥ W − D mod W.
    /// </summary>
    internal static Vector512<T> TailLanes(int d) =>
        Vector512.GreaterThanOrEqual(Vector512<T>.Indices, Vector512.Create(T.CreateTruncating(W - d % W)));

    /// <summary>destination[k] = source[k] in double, k &lt; d.</summary>
    internal static void Widen(T* source, double[] destination, int d)
    {
        int k = 0;
        if (typeof(T) == typeof(float))
        {
            fixed (double* to = destination)
            {
                for (; k + 16 <= d; k += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Load((float*)source + k));
                    lo.Store(to + k);
                    hi.Store(to + k + 8);
                }
            }
        }
        for (; k < d; k++) destination[k] = double.CreateTruncating(source[k]);
    }

    /// <summary>destination[k] += source[k] in double, k &lt; d.</summary>
    internal static void AddWidened(T* source, Span<double> destination, int d)
    {
        int k = 0;
        fixed (double* to = destination)
        {
            if (typeof(T) == typeof(float))
            {
                for (; k + 16 <= d; k += 16)
                {
                    var (lo, hi) = Vector512.Widen(Vector512.Load((float*)source + k));
                    (Vector512.Load(to + k) + lo).Store(to + k);
                    (Vector512.Load(to + k + 8) + hi).Store(to + k + 8);
                }
            }
            for (; k < d; k++) to[k] += double.CreateTruncating(source[k]);
        }
    }

    /// <summary>The largest lane.</summary>
    internal static T MaxOf(Vector512<T> v)
    {
        T best = v[0];
        for (int i = 1; i < Vector512<T>.Count; i++) best = T.Max(best, v[i]);
        return best;
    }

    /// <summary>
    /// logits = dist·scale over the <paramref name="ng"/> groups, −∞ in lanes before <paramref name="first"/> and from
    /// <paramref name="valid"/> on; returns the largest.
    /// </summary>
    internal static T Logits(T* dist, T* logits, int ng, int valid, T scale, int first = 0)
    {
        var c = Vector512.Create(scale);
        var minusInf = Vector512.Create(T.NegativeInfinity);
        var limit = Vector512.Create(T.CreateTruncating(valid));
        var start = Vector512.Create(T.CreateTruncating(first));
        var best = minusInf;
        for (int g = 0; g < ng; g++)
        {
            int o = g * W;
            var u = Vector512.Load(dist + o) * c;
            var lane = Vector512.Create(T.CreateTruncating(o)) + Vector512<T>.Indices;
            var inside = Vector512.LessThan(lane, limit) & Vector512.GreaterThanOrEqual(lane, start);
            u = Vector512.ConditionalSelect(inside, u, minusInf);
            u.Store(logits + o);
            best = Vector512.Max(best, u);
        }
        return MaxOf(best);
    }

    /// <summary>
    /// In one pass over the tile: weights e^{u − max} in place of the logits, the sum of those at or below the negligible
    /// weight (they count in the log-density's normaliser only) and the number above it (summed per lane in T, then across lanes).
    /// </summary>
    internal static (T Negligible, int Heavy) Exponentiate(T* logits, int ng, T max, T negligible)
    {
        var m = Vector512.Create(max);
        var threshold = Vector512.Create(negligible);
        Vector512<T> light = default;
        int heavy = 0;
        for (int g = 0; g < ng; g++)
        {
            int o = g * W;
            var e = Exp(Vector512.Load(logits + o) - m);
            e.Store(logits + o);
            var kept = Vector512.GreaterThan(e, threshold);
            light += Vector512.AndNot(e, kept);
            heavy += BitOperations.PopCount(kept.ExtractMostSignificantBits());
        }
        return (Vector512.Sum(light), heavy);
    }
}
