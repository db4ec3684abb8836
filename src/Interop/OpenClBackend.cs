using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;
using Silk.NET.OpenCL;

namespace Kernels.Interop;

/// <summary>Where the time of an OpenCL evaluation went: device times from the queue's event profiling (zero when it does not profile).</summary>
/// <param name="TrainingUpload">Host wall time to lay out and upload the training set (measured always); zero when it was already resident.</param>
/// <param name="QueryUpload">Device time of the query upload (for device-drawn smoothing: the batch's queries and tangent frames).</param>
/// <param name="Kernel">Device time of the score kernel (plus, for device-drawn smoothing, the kernels that make the perturbed rows).</param>
/// <param name="Download">Device time of reading the per-query state back.</param>
public readonly record struct OpenClTimings(TimeSpan TrainingUpload, TimeSpan QueryUpload, TimeSpan Kernel, TimeSpan Download)
{
    /// <summary>Transfers in all: training set, queries and state.</summary>
    public TimeSpan Transfers => TrainingUpload + QueryUpload + Download;

    /// <summary>The sum of two timings (of successive calls).</summary>
    public static OpenClTimings operator +(OpenClTimings a, OpenClTimings b) =>
        new(a.TrainingUpload + b.TrainingUpload, a.QueryUpload + b.QueryUpload, a.Kernel + b.Kernel, a.Download + b.Download);
}

/// <summary>
/// The OpenCL backend: the fused, streamed score kernels of native/score.cl (direct differences to every point) and, for
/// float32, native/score_tiled.cl (dot products in register tiles, exact differences for the candidates only; the
/// tuner, <see cref="OpenClTuner"/>, picks per device and dimension class) on any OpenCL device (PoCL on a CPU, a GPU
/// driver's ICD). Each query's log-sum-exp state is computed on the device in double (when the device has
/// cl_khr_fp64; else in float) and finished or merged on the host by <see cref="ScorePartials"/>' own code, so the
/// outputs match the CPU backend within float rounding.
/// <para>
/// A training set is uploaded once and stays resident on the device for as long as the <see cref="TrainingSet{T}"/>
/// object lives (held weakly, so collecting the set frees the device memory); a solver calling the score thousands
/// of times moves only its queries. <see cref="MakeResident{T}"/> uploads ahead of time and <see cref="Evict{T}"/>
/// frees early. Calls are serialised on the context's lock, so one backend may be shared by threads.
/// </para>
/// <para>
/// For log-domain smoothing with a Gaussian, anisotropic or tangent kernel it also makes the perturbed queries on the
/// device (native/smoothing.cl, the host's Philox draws reproduced; needs cl_khr_fp64), so they never cross the bus;
/// ball and covariance kernels, and devices without double, are drawn on the host.
/// </para>
/// </summary>
public sealed partial class OpenClBackend : IPerturbingBackend, IDisposable
{
    private static readonly Lazy<string> Source = new(() => Embedded("score.cl"));

    /// <summary>score_tiled uses score.cl's types and phase 4, so its program is both files.</summary>
    private static readonly Lazy<string> TiledSource = new(() => Source.Value + "\n" + Embedded("score_tiled.cl"));
    private static readonly Lazy<string> SmoothingSource = new(() => Embedded("smoothing.cl"));

    private static string Embedded(string file)
    {
        using var stream = typeof(OpenClBackend).Assembly.GetManifestResourceStream("Kernels.Interop." + file)
            ?? throw new InvalidOperationException($"The embedded kernel Kernels.Interop.{file} is missing from the assembly; rebuild Kernels.Interop.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private readonly bool _ownsContext;
    private readonly ConditionalWeakTable<object, Resident> _resident = new();
    private readonly Scratch _scratch = new();
    private bool _disposed;

    /// <summary>Creates a backend with its own context on the selected device.</summary>
    /// <param name="selector">Which device; null for <see cref="OpenClDeviceSelector.FromEnvironment"/>
    /// (<c>KERNELS_OPENCL_DEVICE</c> when set, else the first GPU, else the first device).</param>
    /// <param name="profiling">Record device timings in <see cref="LastTimings"/>.</param>
    /// <param name="options">Tuning (shards, seeding pass, kernel shape); null for <see cref="OpenClOptions.Default"/>.</param>
    public OpenClBackend(OpenClDeviceSelector? selector = null, bool profiling = false, OpenClOptions? options = null)
        : this(new OpenClContext(selector, profiling), ownsContext: true, options) { }

    /// <summary>Creates a backend on an existing context, which the caller keeps owning (and disposes after the backend).</summary>
    /// <param name="context">A live context.</param>
    /// <param name="options">Tuning (shards, seeding pass, kernel shape); null for <see cref="OpenClOptions.Default"/>.</param>
    public OpenClBackend(OpenClContext context, OpenClOptions? options = null) : this(context, ownsContext: false, options) { }

    private OpenClBackend(OpenClContext context, bool ownsContext, OpenClOptions? options)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context.Alive();
        _ownsContext = ownsContext;
        Options = options ?? OpenClOptions.Default;
    }

    /// <summary>The tuning this backend runs with.</summary>
    public OpenClOptions Options { get; }

    /// <inheritdoc/>
    public string Name => "opencl";

    /// <summary>The context every call runs in.</summary>
    public OpenClContext Context { get; }

    /// <summary>The device.</summary>
    public OpenClDevice Device => Context.Device;

    /// <summary>Shards of the last score call (tests and benchmarks read it).</summary>
    internal int LastShards { get; private set; }

    /// <summary>Whether the last score call ran the seeding pass.</summary>
    internal bool LastSeeded { get; private set; }

    /// <summary>Which score kernel the last score call ran (tests and benchmarks read it).</summary>
    public OpenClScoreKernel LastKernel { get; private set; }

    /// <summary>
    /// Whether to run a max-only pass first and seed the score pass with each query's global maximum: with several
    /// shards, a shard far from the query holds most of its points within 36 nats of its own maximum, so each of them
    /// would take the weighted-displacement phase (D FMAs and a row read per point); seeded, only the points near the
    /// global maximum do. The pass repeats the distances, so it pays only where the weights are concentrated (noised
    /// training points, as in the mnist cases) and D is large; where most points carry weight anyway it is a loss.
    /// PoCL, N = 6000, D = 784: pixel data, M = 128, one shard 17 ms unseeded, 22 seeded, eight shards 24–27 unseeded,
    /// 23 seeded; Gaussian data at σ = 10 (every point heavy), M = 16, four shards 14 ms unseeded, 23 seeded. So it is
    /// on by default only on GPUs (several shards, D ≥ 64), where the displacement phase's scattered row reads cost more
    /// than the distance phase's broadcast tile; <see cref="OpenClOptions.SeedMaxima"/> overrides the choice.
    /// </summary>
    private bool Seeded(int shards, int d) =>
        Options.SeedMaxima ?? (shards > 1 && d >= 64 && Device.Kind != OpenClDeviceKind.Cpu);

    /// <summary>Timings of the last <see cref="Evaluate{T}"/> or <see cref="Accumulate{T}"/> (zero unless the context profiles).</summary>
    public OpenClTimings LastTimings { get; private set; }

    /// <summary>Timings summed over every call since the backend was created or <see cref="ResetTimings"/> was called.</summary>
    public OpenClTimings TotalTimings { get; private set; }

    /// <summary>Sets <see cref="TotalTimings"/> to zero.</summary>
    public void ResetTimings()
    {
        lock (Context.SyncRoot) TotalTimings = default;
    }

    /// <inheritdoc/>
    public void Evaluate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        int d = train.Dimension, m = queries.Length / d;
        lock (Context.SyncRoot)
        {
            var state = Run(train, queries, level, MomentsOf(outputs));
            for (int q = 0; q < m; q++) state.Row(q).Finish(level, train.Count, q, outputs);
        }
    }

    /// <inheritdoc/>
    public void Accumulate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(partials);
        int d = train.Dimension, m = queries.Length / d;
        lock (Context.SyncRoot)
        {
            var state = Run(train, queries, partials.Level, AllMoments);
            for (int q = 0; q < m; q++) partials.Row(q).Combine(state.Row(q), partials.Level.Alpha);
        }
        partials.AddTrainingCount(train.Count);
    }

    /// <inheritdoc/>
    bool IPerturbingBackend.CanPerturb<T>() => !_disposed && Device.HasFp64;

    /// <inheritdoc/>
    void IPerturbingBackend.EvaluatePerturbed<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, in PerturbedBatch batch, NoiseLevel level, ScoreOutputs<T> outputs)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!outputs.Denoiser.IsEmpty)
            throw new ArgumentException("Perturbed rows stay on the device, so their denoiser (which needs the row) is not available; ask for the score.", nameof(outputs));
        int d = train.Dimension;
        lock (Context.SyncRoot)
        {
            var config = Configure<T>(d);
            RequireLevel<T>(level);
            var s = _scratch.Ensure(Context, batch.Rows, d, config.Double ? sizeof(double) : sizeof(float), config.AccDouble ? sizeof(double) : sizeof(float));
            var (upload, perturb) = Perturb(queries, d, batch, config, s);
            var state = Score(train, batch.Rows, level, config, s, upload, perturb, MomentsOf(outputs));
            for (int row = 0; row < batch.Rows; row++) state.Row(row).Finish(level, train.Count, row, outputs);
            PerturbedRowCount += batch.Rows;
        }
    }

    /// <summary>Every sum of the state: what a shard must carry (score.cl's MOMENTS).</summary>
    private const int AllMoments = 7;

    /// <summary>
    /// The sums the outputs need, as score.cl's MOMENTS: 1 the displacement sums (score), 2 the point sums (denoiser),
    /// 7 everything (the divergence's spread merges from either); 0 for the log-density alone, which needs no sums.
    /// </summary>
    private static int MomentsOf<T>(ScoreOutputs<T> outputs) where T : unmanaged, IFloatingPointIeee754<T> =>
        !outputs.Divergence.IsEmpty ? AllMoments : (outputs.Score.IsEmpty ? 0 : 1) | (outputs.Denoiser.IsEmpty ? 0 : 2);

    /// <summary>Tests only: rows evaluated from device draws since the backend was created.</summary>
    internal long PerturbedRowCount { get; private set; }

    /// <summary>Tests only: the perturbed rows of <paramref name="batch"/> as the device makes them (rows × D).</summary>
    internal T[] PerturbedRows<T>(ReadOnlySpan<T> queries, int dimension, in PerturbedBatch batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        lock (Context.SyncRoot)
        {
            var config = Configure<T>(dimension);
            var s = _scratch.Ensure(Context, batch.Rows, dimension, config.Double ? sizeof(double) : sizeof(float), config.AccDouble ? sizeof(double) : sizeof(float));
            Perturb(queries, dimension, batch, config, s);
            var rows = new T[batch.Rows * dimension];
            s.Queries!.Read<T>(rows).Dispose();
            return rows;
        }
    }

    /// <summary>Tests only: Philox-4x32-10 on the device for each (c0, c1, c2, c3, k0, k1) sextet, four words each.</summary>
    internal uint[] PhiloxBlocks(uint[] sextets)
    {
        ArgumentNullException.ThrowIfNull(sextets);
        int count = sextets.Length / 6;
        lock (Context.SyncRoot)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var kernel = Context.BuildProgram(SmoothingSource.Value, "-cl-std=CL1.2").Kernel("philox_blocks");
            using var input = Context.CreateBuffer<uint>(sextets.Length, MemFlags.ReadOnly);
            using var output = Context.CreateBuffer<uint>(4 * count);
            input.Write<uint>(sextets).Dispose();
            kernel.SetArgument(0, input);
            kernel.SetArgument(1, output);
            kernel.SetArgument(2, count);
            kernel.Enqueue(count, 0).Dispose();
            var result = new uint[4 * count];
            output.Read<uint>(result).Dispose();
            return result;
        }
    }

    /// <summary>
    /// Enqueues native/smoothing.cl's phases (normals, tangent coefficients for a tangent kernel, rows): the batch's
    /// queries (and tangent frames) go up, the perturbed rows are written into the scratch query buffer, where the score
    /// kernel reads them. Returns the upload and kernel times.
    /// </summary>
    private (TimeSpan Upload, TimeSpan Kernel) Perturb<T>(ReadOnlySpan<T> queries, int d, in PerturbedBatch batch, Config config, Scratch s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int maxRank = Math.Max(1, batch.FrameLength / d), rows = batch.Rows;
        var program = Context.BuildProgram(SmoothingSource.Value, $"-cl-std=CL1.2 -DREAL_IS_DOUBLE={(config.Double ? 1 : 0)} -DMAX_RANK={maxRank}");
        s.EnsurePerturbation(Context, (long)queries.Length * (config.Double ? sizeof(double) : sizeof(float)),
            Math.Max(1, batch.Frames.Length) * (long)sizeof(double), Math.Max(1, batch.Ranks.Length) * (long)sizeof(int),
            (long)rows * d * sizeof(double), (long)rows * maxRank * sizeof(double));
        using var up = s.Base!.Write(queries);
        TimeSpan upload = up.Duration;
        if (batch.FrameLength > 0)
        {
            using var f = s.Frames!.Write(batch.Frames);
            using var r = s.Ranks!.Write(batch.Ranks);
            upload += f.Duration + r.Duration;
        }
        var draws = batch.Draws;

        var normals = program.Kernel("normals");
        uint arg = 0;
        normals.SetArgument(arg++, d);
        normals.SetArgument(arg++, draws.Count);
        normals.SetArgument(arg++, batch.Start);
        normals.SetArgument(arg++, rows);
        normals.SetArgument(arg++, (uint)draws.Seed);
        normals.SetArgument(arg++, (uint)(draws.Seed >> 32));
        normals.SetArgument(arg++, draws.Antithetic ? 1 : 0);
        normals.SetArgument(arg++, draws.Fixed ? 1 : 0);
        normals.SetArgument(arg, s.Xi!);
        TimeSpan time = EnqueueFlat(normals, (long)rows * ((d + 3) / 4));

        if (batch.FrameLength > 0)
        {
            var coefficients = program.Kernel("tangent_coefficients");
            arg = 0;
            coefficients.SetArgument(arg++, d);
            coefficients.SetArgument(arg++, draws.Count);
            coefficients.SetArgument(arg++, batch.Start);
            coefficients.SetArgument(arg++, rows);
            coefficients.SetArgument(arg++, batch.FirstQuery);
            coefficients.SetArgument(arg++, batch.NormalScale);
            coefficients.SetArgument(arg++, batch.TangentScale);
            coefficients.SetArgument(arg++, s.Frames!);
            coefficients.SetArgument(arg++, s.Ranks!);
            coefficients.SetArgument(arg++, batch.FrameLength);
            coefficients.SetArgument(arg++, s.Xi!);
            coefficients.SetArgument(arg, s.Coefficients!);
            time += EnqueueFlat(coefficients, rows);
        }

        var perturb = program.Kernel("perturb_rows");
        arg = 0;
        perturb.SetArgument(arg++, s.Base!);
        perturb.SetArgument(arg++, d);
        perturb.SetArgument(arg++, draws.Count);
        perturb.SetArgument(arg++, batch.Start);
        perturb.SetArgument(arg++, rows);
        perturb.SetArgument(arg++, batch.FirstQuery);
        perturb.SetArgument(arg++, draws.Antithetic ? 1 : 0);
        perturb.SetArgument(arg++, batch.NormalScale);
        perturb.SetArgument(arg++, s.Frames!);
        perturb.SetArgument(arg++, s.Ranks!);
        perturb.SetArgument(arg++, batch.FrameLength);
        perturb.SetArgument(arg++, s.Xi!);
        perturb.SetArgument(arg++, s.Coefficients!);
        perturb.SetArgument(arg, s.Queries!);
        time += EnqueueFlat(perturb, (long)rows * d);
        return (upload, time);
    }

    /// <summary>Enqueues a kernel over <paramref name="items"/> work-items, padded up to whole work-groups (the kernel guards the rest).</summary>
    private static TimeSpan EnqueueFlat(OpenClKernel kernel, long items)
    {
        int workGroup = Math.Min(64, kernel.MaxWorkGroupSize);
        using var run = kernel.Enqueue((items + workGroup - 1) / workGroup * workGroup, workGroup);
        return run.Duration;
    }

    /// <summary>Uploads <paramref name="train"/> now (it is otherwise uploaded on first use) and keeps it resident while it lives.</summary>
    /// <param name="train">The training set.</param>
    public void MakeResident<T>(TrainingSet<T> train) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        lock (Context.SyncRoot) ResidentFor(train, Configure<T>(train.Dimension), out _);
    }

    /// <summary>Uploads <paramref name="train"/> now (<see cref="MakeResident{T}"/>).</summary>
    void IScoreBackend.Prepare<T>(TrainingSet<T> train) => MakeResident(train);

    /// <summary>Frees the device copy of <paramref name="train"/>, if any; a later call uploads it again.</summary>
    /// <param name="train">The training set.</param>
    /// <returns>True when a resident copy was freed.</returns>
    public bool Evict<T>(TrainingSet<T> train) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        lock (Context.SyncRoot)
        {
            if (!_resident.TryGetValue(train, out var resident)) return false;
            _resident.Remove(train);
            resident.Dispose();
            return true;
        }
    }

    /// <summary>Whether <paramref name="train"/> is resident on the device now.</summary>
    /// <param name="train">The training set.</param>
    public bool IsResident<T>(TrainingSet<T> train) where T : unmanaged, IFloatingPointIeee754<T>
    {
        lock (Context.SyncRoot) return _resident.TryGetValue(train, out _);
    }

    /// <summary>Releases the scratch and resident buffers, and the context when the backend created it.</summary>
    public void Dispose()
    {
        lock (Context.SyncRoot)
        {
            if (_disposed) return;
            _disposed = true;
            _scratch.Dispose();
            foreach (var (_, resident) in _resident) resident.Dispose();
            _resident.Clear();
        }
        if (_ownsContext) Context.Dispose();
    }

    /// <summary>
    /// The kernel's compile-time shape for element type T on this device: the classic kernel's (<paramref name="Lanes"/>,
    /// <paramref name="Groups"/>, <paramref name="DChunk"/>, <paramref name="WorkGroup"/>), or the tiled kernel's when
    /// <paramref name="Tile"/> is set (its own lanes then lay out the resident set).
    /// </summary>
    private sealed record Config(bool Double, bool AccDouble, int Lanes, int Groups, int DChunk, int WorkGroup, TileShape? Tile = null, int ClassicLanes = 0)
    {
        public string Options(bool splitAlpha, int moments) =>
            $"-cl-std=CL1.2 -DREAL_IS_DOUBLE={(Double ? 1 : 0)} -DACC_IS_DOUBLE={(AccDouble ? 1 : 0)} -DSPLIT_ALPHA={(splitAlpha ? 1 : 0)} " +
            $"-DLANES={Lanes} -DGROUPS={Groups} -DDCHUNK={DChunk} -DWG={WorkGroup} -DMOMENTS={moments}" + (Tile is null ? "" : " " + Tile.Defines);

        /// <summary>Queries per work-group.</summary>
        public int QueryBlock => Tile?.QueryBlock ?? WorkGroup;

        /// <summary>Work-items per work-group (the local size of the launch).</summary>
        public int LocalSize => Tile?.WorkItems ?? WorkGroup;

        /// <summary>Point vectors per tile.</summary>
        public int TileVectors => Tile?.PointVectors ?? Groups;

        /// <summary>This shape with the tiled kernel's <paramref name="shape"/> (its lanes replace the classic ones).</summary>
        public Config WithTile(TileShape shape) => this with { Tile = shape, Lanes = shape.Lanes, ClassicLanes = Tile is null ? Lanes : ClassicLanes };

        /// <summary>This shape with the classic kernel only.</summary>
        public Config WithoutTile() => Tile is null ? this : this with { Tile = null, Lanes = ClassicLanes };
    }

    /// <summary>The classic kernel's shape for T on this device, with the tiled kernel's when float32 chooses it (<see cref="ChooseTile"/>).</summary>
    private Config Configure<T>(int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Context.Alive();
        bool isDouble = typeof(T) == typeof(double);
        if (isDouble && !Device.HasFp64)
            throw new NotSupportedException(
                $"The OpenCL device {Device.Name} has no double precision (cl_khr_fp64 is not in CL_DEVICE_EXTENSIONS); use float, or select another device.");
        // A CPU device runs one work-item's vector on one AVX-512 register: 16 floats or 8 doubles per point vector.
        // A GPU runs a work-item per lane already: shorter vectors keep the registers for more work-items in flight.
        bool cpu = ShapeKind == OpenClDeviceKind.Cpu;
        int lanes = (cpu ? 16 : 8) / (isDouble ? 2 : 1);
        // Measured on PoCL (2 cores, D = 784 and D = 16): two point vectors per tile beat four and eight (fewer live
        // registers across PoCL's barrier regions), and 64 queries per work-group copy each tile once per 64 queries
        // (16 per group cost 1.6× the time at D = 784).
        int groups = cpu ? 2 : 4;
        int workGroup = Math.Min(64, Device.MaxWorkGroupSize);
        int elementBytes = isDouble ? 8 : 4;
        // the __local tile takes at most half the device's local memory
        int dChunk = (int)Math.Clamp(Device.LocalMemorySize / 2 / (groups * lanes * elementBytes), 1, 128);
        var config = new Config(isDouble, Device.HasFp64, lanes, groups, dChunk, workGroup);
        return !isDouble && ChooseTile(config, d) is { } tile ? config.WithTile(tile) : config;
    }

    /// <summary>The device kind whose kernel shapes run (<see cref="OpenClOptions.KernelShape"/>, else the device's own).</summary>
    private OpenClDeviceKind ShapeKind => Options.KernelShape ?? Device.Kind;

    private PartialRows Run<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, int moments) where T : unmanaged, IFloatingPointIeee754<T> =>
        RunConfigured(train, queries, level, moments, Configure<T>(train.Dimension));

    private PartialRows RunConfigured<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, int moments, Config config)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int d = train.Dimension, m = queries.Length / d;
        RequireLevel<T>(level);
        var s = _scratch.Ensure(Context, m, d, config.Double ? sizeof(double) : sizeof(float), config.AccDouble ? sizeof(double) : sizeof(float));
        using var upload = s.Queries!.Write(queries);
        return Score(train, m, level, config, s, upload.Duration, TimeSpan.Zero, moments);
    }

    private static void RequireLevel<T>(NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T> =>
        MagnitudeOverflowException.ThrowIfOutOfRange<T>(level);

    /// <summary>Runs the score kernel on the m queries already in the scratch query buffer and reads the state back.</summary>
    private PartialRows Score<T>(TrainingSet<T> train, int m, NoiseLevel level, Config config, Scratch s, TimeSpan queryUpload, TimeSpan perturbKernel,
        int moments)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = train.Count, d = train.Dimension;
        T alpha = T.CreateTruncating(level.Alpha);
        T alphaLow = T.CreateTruncating(level.Alpha - double.CreateTruncating(alpha));
        T negHalfInvVariance = T.CreateTruncating(-0.5 / level.Variance);
        // with no sums wanted (the log-density alone) every weight counts in the normaliser only
        T negligible = moments == 0 ? T.PositiveInfinity : T.CreateTruncating(Math.Exp(-ScorePartials.NegligibleLogit<T>(n)));

        // the program first: a tiled shape the device cannot run falls back to the classic one, whose lanes lay out the set
        var program = Program(ref config, !T.IsZero(alphaLow), moments);
        var resident = ResidentFor(train, config, out var trainingUpload);
        bool tiled = config.Tile is not null;
        var kernel = program.Kernel(tiled ? "score_tiled" : "score_partials");
        int accBytes = config.AccDouble ? sizeof(double) : sizeof(float);
        int shards = ShardCount(n, m, d, config, accBytes);
        long qblocks = (m + config.QueryBlock - 1) / config.QueryBlock;
        long global = qblocks * shards * config.LocalSize;
        // one shard writes its state in place; several write theirs to the partial buffers, merged below
        if (shards > 1) s.EnsureShards(Context, (long)shards * m, d, accBytes);
        bool seeded = tiled ? Options.SeedMaxima ?? true : Seeded(shards, d);
        if (seeded) s.SeedMax = Scratch.Grow(Context, s.SeedMax, (long)shards * m * accBytes);
        OpenClBuffer scalars = shards > 1 ? s.PartScalars! : s.Scalars!, displacement = shards > 1 ? s.PartDisplacement! : s.Displacement!,
            points = shards > 1 ? s.PartPoints! : s.Points!;

        uint arg = 0;
        kernel.SetArgument(arg++, resident.Groups);
        kernel.SetArgument(arg++, resident.Rows);
        if (tiled) kernel.SetArgument(arg++, resident.Norms!);
        kernel.SetArgument(arg++, n);
        kernel.SetArgument(arg++, d);
        kernel.SetArgument(arg++, s.Queries!);
        kernel.SetArgument(arg++, m);
        kernel.SetArgument(arg++, alpha);
        kernel.SetArgument(arg++, alphaLow);
        kernel.SetArgument(arg++, negHalfInvVariance);
        SetAcc(kernel, arg++, level.Alpha, config);
        kernel.SetArgument(arg++, negligible);
        if (tiled) SetBoundArguments(kernel, ref arg, train, level, config, resident);
        kernel.SetArgument(arg++, shards);
        uint seedArgs = arg; // max_only, seed_max, seed_shards, out_seed
        arg += 4;
        kernel.SetArgument(arg++, scalars);
        kernel.SetArgument(arg++, displacement);
        kernel.SetArgument(arg, points);
        TimeSpan kernelTime = TimeSpan.Zero;
        if (seeded)
        {
            // the seeding pass writes the shards' maxima to SeedMax (nothing else); its seed argument is unread
            kernel.SetArgument(seedArgs, 1);
            kernel.SetArgument(seedArgs + 1, s.Scalars!);
            kernel.SetArgument(seedArgs + 2, 0);
            kernel.SetArgument(seedArgs + 3, s.SeedMax!);
            using (var pass = kernel.Enqueue(global, config.LocalSize)) kernelTime += pass.Duration;
        }
        kernel.SetArgument(seedArgs, 0);
        kernel.SetArgument(seedArgs + 1, seeded ? s.SeedMax! : s.Scalars!);
        kernel.SetArgument(seedArgs + 2, seeded ? shards : 0);
        kernel.SetArgument(seedArgs + 3, seeded ? s.SeedMax! : s.Scalars!); // written by a seeding pass only
        using (var run = kernel.Enqueue(global, config.LocalSize)) kernelTime += run.Duration;
        LastSeeded = seeded;
        LastKernel = tiled ? OpenClScoreKernel.Tiled : OpenClScoreKernel.Classic;
        if (shards > 1) kernelTime += Merge(program.Kernel("merge_shards"), shards, m, d, level.Alpha, config, s);
        LastShards = shards;

        var state = s.HostState(m, d);
        TimeSpan download;
        if (config.AccDouble)
        {
            using var a = s.Scalars!.Read(state.Scalars[..(4 * m)]);
            using var b = s.Displacement!.Read(state.Displacement[..(m * d)]);
            using var c = s.Points!.Read(state.Points[..(m * d)]);
            download = a.Duration + b.Duration + c.Duration;
        }
        else
        {
            download = ReadWidened(s.Scalars!, state.Scalars[..(4 * m)]) + ReadWidened(s.Displacement!, state.Displacement[..(m * d)])
                       + ReadWidened(s.Points!, state.Points[..(m * d)]);
        }
        LastTimings = new OpenClTimings(trainingUpload, queryUpload, perturbKernel + kernelTime, download);
        TotalTimings += LastTimings;
        return state;
    }

    /// <summary>
    /// How many shards the training set is split into, so the range of query blocks × shards gives the device enough
    /// work-groups: 16 per compute unit on a GPU (a work-group of 64 queries is two warps; 16 of them keep a
    /// streaming multiprocessor's schedulers fed), 2 on a CPU (one work-group runs per core at a time; shards cost there:
    /// more points pass the cut-off against a shard's own maximum, and PoCL at N = 6000, D = 784, M = 128 took 17 ms
    /// with one shard, 23 with eight). <see cref="OpenClOptions.Shards"/> overrides the choice (for tuning on a new device). Bounded so that each shard keeps at least two tiles (the per-shard cost, a D-row of state per query
    /// written and merged, stays below the distance work), so that the partial states, shards × M × (2D + 4) ACC values,
    /// take at most 1 GiB, a sixteenth of the device memory and one allocation, and so that the merge's scales fit in
    /// a quarter of the local memory. The bound is what caps it at large D: the buffer is about
    /// target work-groups × work-group size × D values whatever M is, so batching queries would not raise the count.
    /// </summary>
    private int ShardCount(int n, int m, int d, Config config, int accBytes)
    {
        if (Options.Shards is int forced) return forced;
        long vectors = (n + config.Lanes - 1) / config.Lanes;
        long qblocks = (m + config.QueryBlock - 1) / config.QueryBlock;
        bool cpu = Device.Kind == OpenClDeviceKind.Cpu;
        long target = (long)Math.Max(1, Device.ComputeUnits) * (cpu ? 2 : 16);
        long shards = (target + qblocks - 1) / qblocks;
        shards = Math.Min(shards, vectors / (2 * config.TileVectors));
        long cap = Math.Min(1L << 30, Math.Min(Device.GlobalMemorySize / 16, Device.MaxAllocationSize));
        shards = Math.Min(shards, cap / ((long)Math.Max(1, m) * (2L * d + 4) * accBytes));
        return shards < 2 ? 1 : (int)shards;
    }

    /// <summary>Enqueues merge_shards over the partial states: one work-group per query, writing the final state buffers.</summary>
    private static TimeSpan Merge(OpenClKernel merge, int shards, int m, int d, double alpha, Config config, Scratch s)
    {
        int local = Math.Min(64, merge.MaxWorkGroupSize);
        int accBytes = config.AccDouble ? sizeof(double) : sizeof(float);
        uint arg = 0;
        merge.SetArgument(arg++, shards);
        merge.SetArgument(arg++, m);
        merge.SetArgument(arg++, d);
        SetAcc(merge, arg++, alpha, config);
        merge.SetArgument(arg++, s.PartScalars!);
        merge.SetArgument(arg++, s.PartDisplacement!);
        merge.SetArgument(arg++, s.PartPoints!);
        merge.SetArgument(arg++, s.Scalars!);
        merge.SetArgument(arg++, s.Displacement!);
        merge.SetArgument(arg++, s.Points!);
        merge.SetLocalArgument(arg, 4L * local * accBytes);
        using var run = merge.Enqueue((long)m * local, local);
        return run.Duration;
    }

    /// <summary>Sets a kernel argument of the state's precision (ACC: double where the device has fp64, else float).</summary>
    private static void SetAcc(OpenClKernel kernel, uint index, double value, Config config)
    {
        if (config.AccDouble) kernel.SetArgument(index, value);
        else kernel.SetArgument(index, (float)value);
    }

    /// <summary>
    /// The built program (score_partials, merge_shards; and score_tiled for a tiled shape) for <paramref name="config"/>;
    /// when the device cannot run the score kernel with that many work-items (a GPU short of registers, say), the classic
    /// work-group is halved until it can and a tiled shape gives way to the classic kernel, rather than failing at launch.
    /// </summary>
    private OpenClProgram Program(ref Config config, bool splitAlpha, int moments)
    {
        while (true)
        {
            if (config.Tile is { } tile)
            {
                var tiled = Context.BuildProgram(TiledSource.Value, config.Options(splitAlpha, moments));
                if (tile.WorkItems <= tiled.Kernel("score_tiled").MaxWorkGroupSize) return tiled;
                config = config.WithoutTile();
                continue;
            }
            var program = Context.BuildProgram(Source.Value, config.Options(splitAlpha, moments));
            int limit = program.Kernel("score_partials").MaxWorkGroupSize;
            if (config.WorkGroup <= limit || config.WorkGroup == 1) return program;
            config = config with { WorkGroup = Math.Max(1, Math.Min(config.WorkGroup / 2, limit)) };
        }
    }

    private static TimeSpan ReadWidened(OpenClBuffer buffer, Span<double> destination)
    {
        var narrow = new float[destination.Length];
        using var e = buffer.Read<float>(narrow);
        for (int i = 0; i < narrow.Length; i++) destination[i] = narrow[i];
        return e.Duration;
    }

    /// <summary>The device copy of <paramref name="train"/> in <paramref name="config"/>'s layout, uploading it when absent.</summary>
    private Resident ResidentFor<T>(TrainingSet<T> train, Config config, out TimeSpan uploadTime) where T : unmanaged, IFloatingPointIeee754<T>
    {
        uploadTime = TimeSpan.Zero;
        if (_resident.TryGetValue(train, out var resident) && resident.Lanes == config.Lanes && !resident.IsDisposed) return resident;
        resident?.Dispose();
        var clock = Stopwatch.StartNew();
        int n = train.Count, d = train.Dimension, lanes = config.Lanes;
        int groupCount = (n + lanes - 1) / lanes;
        // [group][coordinate][lane], the last group zero-padded: one vector load in the kernel serves LANES points
        var grouped = new T[(long)groupCount * d * lanes];
        var rows = train.Data;
        for (int i = 0; i < n; i++)
        {
            long baseIndex = (long)(i / lanes) * d * lanes + i % lanes;
            for (int k = 0; k < d; k++)
                grouped[baseIndex + (long)k * lanes] = rows[i * d + k];
        }
        var groups = Context.CreateBuffer<T>(grouped.Length, MemFlags.ReadOnly);
        var rowBuffer = Context.CreateBuffer<T>(rows.Length, MemFlags.ReadOnly);
        groups.Write<T>(grouped).Dispose();
        rowBuffer.Write(rows).Dispose();
        // |y|^2 per point (summed in double, padded to whole vectors) and the largest |y|: the tiled kernel's expansion
        var squaredNorms = new T[(long)groupCount * lanes];
        double maxNorm = 0;
        for (int i = 0; i < n; i++)
        {
            double sum = 0;
            foreach (T v in rows.Slice(i * d, d)) sum += double.CreateTruncating(v) * double.CreateTruncating(v);
            squaredNorms[i] = T.CreateTruncating(sum);
            maxNorm = Math.Max(maxNorm, Math.Sqrt(sum));
        }
        var norms = Context.CreateBuffer<T>(squaredNorms.Length, MemFlags.ReadOnly);
        norms.Write<T>(squaredNorms).Dispose();
        resident = new Resident(groups, rowBuffer, norms, maxNorm, lanes);
        _resident.AddOrUpdate(train, resident);
        uploadTime = clock.Elapsed;
        return resident;
    }

    /// <summary>
    /// A training set on the device: the grouped layout for distances, the rows for displacements, and for the tiled
    /// kernel each point's squared norm and the largest norm.
    /// </summary>
    private sealed class Resident(OpenClBuffer groups, OpenClBuffer rows, OpenClBuffer norms, double maxNorm, int lanes) : IDisposable
    {
        public OpenClBuffer Groups { get; } = groups;
        public OpenClBuffer Rows { get; } = rows;
        public OpenClBuffer Norms { get; } = norms;
        public double MaxNorm { get; } = maxNorm;
        public int Lanes { get; } = lanes;
        public bool IsDisposed => Groups.IsDisposed || Rows.IsDisposed || Norms.IsDisposed;

        public void Dispose()
        {
            Groups.Dispose();
            Rows.Dispose();
            Norms.Dispose();
        }
    }

    /// <summary>Query and state buffers, on the device and on the host, reused across calls (under the context's lock) and grown when a call needs more.</summary>
    private sealed class Scratch : IDisposable
    {
        public OpenClBuffer? Queries, Scalars, Displacement, Points;
        public OpenClBuffer? PartScalars, PartDisplacement, PartPoints; // shards × M states, merged on the device
        public OpenClBuffer? SeedMax; // shards × M maxima of the seeding pass
        public OpenClBuffer? Base, Frames, Ranks, Xi, Coefficients; // device draws: the batch's queries, tangent frames, ranks, normals, B^T xi
        private PartialRows _host = PartialRows.Allocate(0, 1);

        /// <summary>The host copy of one call's states, widened to double (reused while M and D fit; rows past M are stale).</summary>
        public PartialRows HostState(int m, int d)
        {
            if (_host.Count < m || _host.Dimension != d) _host = PartialRows.Allocate(m, d);
            return _host;
        }

        public Scratch Ensure(OpenClContext context, int m, int d, int realBytes, int accBytes)
        {
            Queries = Grow(context, Queries, (long)m * d * realBytes);
            Scalars = Grow(context, Scalars, 4L * m * accBytes);
            Displacement = Grow(context, Displacement, (long)m * d * accBytes);
            Points = Grow(context, Points, (long)m * d * accBytes);
            return this;
        }

        public void EnsureShards(OpenClContext context, long states, int d, int accBytes)
        {
            PartScalars = Grow(context, PartScalars, 4 * states * accBytes);
            PartDisplacement = Grow(context, PartDisplacement, states * d * accBytes);
            PartPoints = Grow(context, PartPoints, states * d * accBytes);
        }

        public void EnsurePerturbation(OpenClContext context, long baseBytes, long frameBytes, long rankBytes, long normalBytes, long coefficientBytes)
        {
            Base = Grow(context, Base, baseBytes);
            Frames = Grow(context, Frames, frameBytes);
            Ranks = Grow(context, Ranks, rankBytes);
            Xi = Grow(context, Xi, normalBytes);
            Coefficients = Grow(context, Coefficients, coefficientBytes);
        }

        public static OpenClBuffer Grow(OpenClContext context, OpenClBuffer? buffer, long bytes)
        {
            if (buffer is { IsDisposed: false } && buffer.Bytes >= bytes) return buffer;
            buffer?.Dispose();
            // grow by half again so a slowly rising M does not reallocate every call
            // (but never past the device's largest allocation when the request itself fits)
            long grown = Math.Min(buffer is null ? 0 : buffer.Bytes * 3 / 2, context.Device.MaxAllocationSize);
            return context.CreateBuffer<byte>(Math.Max(bytes, grown));
        }

        public void Dispose()
        {
            foreach (var b in new[] { Queries, Scalars, Displacement, Points, PartScalars, PartDisplacement, PartPoints, SeedMax, Base, Frames, Ranks, Xi, Coefficients }) b?.Dispose();
        }
    }
}
