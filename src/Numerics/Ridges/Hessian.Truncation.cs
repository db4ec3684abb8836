namespace Kernels.Numerics.Ridges;

/// <summary>
/// A query's candidate points for its Hessian factor, summarised: how many points lie within c + ln 2 of its largest
/// logit (c = <see cref="ScorePartials.NegligibleLogit{T}"/>), and their weights <c>w = e^{u − u*}</c> (u* the largest
/// logit, so w ≤ 1) summed in fixed point, each rounded down to a multiple of 2⁻⁸⁰. Integer sums do not depend on their
/// order, so the shards of a training set each summarise their own points (<see cref="Hessian.KeptRows{T}"/>) and
/// <see cref="Add"/> gives the whole set's summary bit for bit, whatever the split; the factor decides from it how many of
/// the lightest points it leaves out (<see cref="Hessian.Factor{T}"/>).
/// </summary>
/// <param name="Count">The number of points within c + ln 2.</param>
/// <param name="Mass">Σ ⌊w · 2⁸⁰⌋ over them (N·2⁸⁰ fits in 128 bits for any N below 2⁴⁸).</param>
public readonly record struct WithinCutMass(long Count, UInt128 Mass)
{
    /// <summary>The summary of two disjoint sets of points (two shards): counts and sums added, exactly.</summary>
    /// <param name="other">The other set's summary.</param>
    public WithinCutMass Add(WithinCutMass other) => new(Count + other.Count, Mass + other.Mass);
}

public static partial class Hessian
{
    /// <summary>
    /// The factor's candidates are the points within c + ln 2 of the largest logit (c = <see cref="ScorePartials.NegligibleLogit{T}"/>):
    /// the points past that carry at most half the bound N e^{−c}, and the other half (and more: <see cref="TruncatedCount"/>)
    /// is spent on leaving out the lightest candidates.
    /// </summary>
    private const double KeptMargin = 0.69314718055994530942; // ln 2

    /// <summary>The fixed-point scale of <see cref="WithinCutMass.Mass"/>: 2⁸⁰.</summary>
    private const int MassBits = 80;

    /// <summary>The relative margin the truncation leaves for the rounding of its own test (a few double roundings).</summary>
    private const double TruncationMargin = 1.0 / (1L << 40);

    /// <summary>A weight e^{u − u*} ≤ 1 in fixed point, rounded down.</summary>
    private static UInt128 FixedWeight(double weight) => (UInt128)Math.ScaleB(weight, MassBits);

    /// <summary>
    /// The summary of <paramref name="within"/> (candidates, indexed into <paramref name="weights"/>, each
    /// <c>e^{u − u*}</c> by <see cref="Math.Exp"/>).
    /// </summary>
    private static WithinCutMass Summarise(ReadOnlySpan<int> within, ReadOnlySpan<double> weights)
    {
        UInt128 mass = 0;
        foreach (int i in within) mass += FixedWeight(weights[i]);
        return new WithinCutMass(within.Length, mass);
    }

    /// <summary>
    /// How many of the candidates (the points within c + ln 2 of the largest logit) the factor keeps: the fewest heaviest,
    /// k, whose leaving out of the rest keeps the documented bound N e^{−c} on the dropped mass
    /// (<see cref="HessianFactor.DroppedMassBound"/>). The rule, with N the whole set's size, n the candidates and
    /// w_1 ≥ w_2 ≥ … ≥ w_n their weights (w_1 = 1, ties by index): k is the least k ≥ 1 with
    /// <c>(N − n) e^{−c}/2 + Σ_{j&gt;k} w_j ≤ N e^{−c} Σ_{j≤n} w_j</c>, tested in fixed point (q_j = ⌊w_j 2⁸⁰⌋, so
    /// Σ_{j&gt;k} w_j ≤ (Σ_{j&gt;k} q_j + n − k)·2⁻⁸⁰ and Σ_j w_j ≥ Σ_j q_j·2⁻⁸⁰) with a relative margin of 2⁻⁴⁰ against the
    /// test's own roundings; k = n when no k passes.
    /// <para>
    /// Proof of the bound. Every point left out is either past c + ln 2 (each of weight &lt; e^{−c}/2, at most N − n of
    /// them, evaluated or ruled out unevaluated by a screen that reaches c + ln 2) or among the n − k lightest candidates;
    /// their weights sum to at most the left side, hence to at most N e^{−c} times the candidates' weight, hence to at
    /// most N e^{−c} of the whole set's weight, and of the evaluated points' weight (<see cref="HessianFactor.DroppedMass"/>).
    /// So the bound is the a-priori one of a plain cut at c; the wider cut spends half of it on the points past c + ln 2,
    /// whatever the data, and leaves e^{−c}(N (Σ w − 1/2) + n/2) ≥ N e^{−c}/2 for the lightest candidates, which a factor
    /// with one dominant point and many light ones then leaves out.
    /// </para>
    /// <para>
    /// The test depends only on N, c, the summary (n, Σ q) and the k heaviest weights, and is decided from the heaviest
    /// down: a subset that holds the whole set's heaviest min(n, cap) candidates and is given the whole set's summary (the
    /// shards' union, <see cref="FactorOfSubset{T}"/>) finds the same k wherever k ≤ cap, and a k past the cap wherever
    /// the whole set's is.
    /// </para>
    /// </summary>
    /// <param name="within">The subset's candidates (indices into <paramref name="weights"/>).</param>
    /// <param name="weights">The weights <c>e^{u − u*}</c> (u* the whole set's largest logit), as <see cref="Summarise"/>
    /// takes them.</param>
    /// <param name="wholeSetCount">N.</param>
    /// <param name="cut">c.</param>
    /// <param name="whole">The whole set's summary (the subset's own where it holds every candidate of the whole set).</param>
    /// <param name="keys">Scratch of at least <paramref name="within"/>.Length values.</param>
    /// <param name="limit">Where the caller needs only to know that k exceeds limit − 1 (the cap, where the factor keeps no
    /// more than the cap whatever k is): the test stops there and returns <paramref name="limit"/> when no smaller k passes.</param>
    private static int TruncatedCount(ReadOnlySpan<int> within, ReadOnlySpan<double> weights, long wholeSetCount, double cut,
        WithinCutMass whole, double[] keys, int limit = int.MaxValue)
    {
        int u = within.Length;
        if (u <= 1) return u;
        double negligible = Math.Exp(-cut);
        double outside = (wholeSetCount - whole.Count) * (0.5 * negligible);
        double allowed = wholeSetCount * negligible * Math.ScaleB((double)whole.Mass, -MassBits) * (1 - TruncationMargin);
        // the cheapest refusal first: then no k passes, not even k = n
        if (outside >= allowed) return u;
        // the heaviest first, ordered only as far as the test goes (usually a few of many candidates): chunks of growing
        // size selected from the rest and sorted; ties are equal weights, so the sums do not depend on their order
        var sorted = keys.AsSpan(0, u);
        for (int j = 0; j < u; j++) sorted[j] = weights[within[j]];
        // the test never looks past the limit: the limit's heaviest first, so the chunks select within them, not all u
        int reach = Math.Min(u, limit);
        if (reach < u) Select(sorted, reach - 1);
        UInt128 heaviest = 0;
        for (int k = 1, ordered = 0, chunk = 8; k <= u; k++)
        {
            if (k >= limit) return limit;
            if (k > ordered)
            {
                var unordered = sorted[ordered..reach];
                int take = Math.Min(chunk, unordered.Length);
                if (take < unordered.Length) Select(unordered, take - 1); // unordered[..take]: its take largest
                unordered[..take].Sort();
                unordered[..take].Reverse();
                ordered += take;
                chunk *= 2;
            }
            heaviest += FixedWeight(sorted[k - 1]);
            UInt128 rest = whole.Mass - heaviest + (UInt128)(whole.Count - k);
            if (outside + Math.ScaleB((double)rest, -MassBits) <= allowed) return k;
        }
        return u;
    }
}
