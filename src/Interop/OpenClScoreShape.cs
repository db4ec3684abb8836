namespace Kernels.Interop;

/// <summary>Which OpenCL score kernel runs a float32 evaluation (float64 always runs <see cref="Classic"/>).</summary>
public enum OpenClScoreKernel
{
    /// <summary>
    /// One work-item per query, direct differences to every point (native/score.cl, score_partials): no bound to trust,
    /// the same cost at every noise level.
    /// </summary>
    Classic,

    /// <summary>
    /// Query blocks × point tiles, dot products from register tiles, expansion logits within a proven bound and exact
    /// direct differences for the candidates only (native/score_tiled.cl, score_tiled).
    /// </summary>
    Tiled,
}

/// <summary>
/// The compile-time shape of score_tiled (its defines): <paramref name="QueryBlock"/> queries per work-group (TQ),
/// <paramref name="QueriesPerItem"/> of them per work-item's register tile (RQ), <paramref name="PointVectors"/> point
/// vectors of <paramref name="Lanes"/> points per tile (TPV), <paramref name="VectorsPerItem"/> of them per work-item
/// (VP) and <paramref name="SliceDepth"/> coordinates per staged __local slice (DK; 0: no staging, the dot products read
/// global memory directly, which suits a CPU, whose caches stage).
/// </summary>
internal sealed record TileShape(int QueryBlock, int QueriesPerItem, int PointVectors, int VectorsPerItem, int SliceDepth, int Lanes)
{
    /// <summary>Work-items per work-group: (TQ / RQ) × (TPV / VP).</summary>
    public int WorkItems => QueryBlock / QueriesPerItem * (PointVectors / VectorsPerItem);

    /// <summary>Training points per tile (at most 128: the kept sums in float are bounded by γ₁₂₈).</summary>
    public int TilePoints => PointVectors * Lanes;

    /// <summary>Kept candidates a query holds before merging them (PEND): up to 64, within 2048 for the whole block.</summary>
    public int Pending => Math.Clamp(2048 / QueryBlock, 16, 64);

    /// <summary>__local memory the kernel declares (its arrays in score_tiled.cl), in bytes.</summary>
    public long LocalBytes(int accBytes) =>
        4L * (SliceDepth * QueryBlock + SliceDepth * TilePoints + QueryBlock * TilePoints + QueryBlock) + 5L * QueryBlock * accBytes
        + 8L * QueryBlock * (Pending + 1);


    public string Defines =>
        $"-DTQ={QueryBlock} -DRQ={QueriesPerItem} -DTPV={PointVectors} -DVP={VectorsPerItem} -DDK={Math.Max(1, SliceDepth)} -DSTAGE={(SliceDepth > 0 ? 1 : 0)} -DPEND={Pending}";

    /// <summary>The text the tuning cache stores ("tq,rq,tpv,vp,dk,lanes").</summary>
    public override string ToString() => $"{QueryBlock},{QueriesPerItem},{PointVectors},{VectorsPerItem},{SliceDepth},{Lanes}";

    /// <summary>Reads <see cref="ToString"/>'s text back; null when it is not one (a stale or hand-edited cache line).</summary>
    public static TileShape? Parse(string text)
    {
        var parts = text.Split(',');
        if (parts.Length != 6) return null;
        var v = new int[6];
        for (int i = 0; i < 6; i++)
            if (!int.TryParse(parts[i], out v[i]) || v[i] < (i == 4 ? 0 : 1)) return null;
        var shape = new TileShape(v[0], v[1], v[2], v[3], v[4], v[5]);
        return shape.IsValid ? shape : null;
    }

    /// <summary>The kernel's own #error conditions, checked before a build.</summary>
    public bool IsValid =>
        QueryBlock % QueriesPerItem == 0 && PointVectors % VectorsPerItem == 0 && TilePoints <= 128 && Lanes is 2 or 4 or 8 or 16;

    /// <summary>
    /// The shapes the tuner tries on a device of this kind, the first being the default when tuning is skipped. A CPU
    /// (PoCL) runs a work-item's vector on one AVX-512 register, so 16 floats per point vector, one or two work-items
    /// per group (PoCL runs a group's work-items as a loop, and a register tile split across them stays in memory:
    /// README.md, OpenCL) and no staging (the caches stage); a GPU runs a work-item per lane, so short vectors, 64
    /// work-items staging the slices in __local memory and a register tile of 64 values each.
    /// </summary>
    public static IReadOnlyList<TileShape> Candidates(OpenClDeviceKind kind) => kind == OpenClDeviceKind.Cpu
        ? [new(8, 8, 2, 2, 0, 16), new(16, 8, 2, 2, 0, 16), new(8, 8, 4, 4, 0, 16), new(4, 4, 4, 4, 0, 16)]
        : [new(64, 4, 16, 4, 16, 4), new(64, 8, 16, 2, 16, 4), new(32, 4, 16, 2, 32, 4), new(64, 4, 8, 2, 16, 8)];
}
