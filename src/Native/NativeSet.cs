using System.Numerics;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Native;

/// <summary>The backend a C caller asks for (<c>kn_backend</c>).</summary>
public enum Backend
{
    /// <summary>KN_BACKEND_CPU: the SIMD CPU backend.</summary>
    Cpu = 0,

    /// <summary>KN_BACKEND_OPENCL: the OpenCL backend.</summary>
    OpenCl = 1,
}

/// <summary>
/// What a handle refers to: a validated training set bound to a backend. Immutable, so any thread may use it.
/// <para>
/// The set owns its backend (an OpenCL context, with the training set resident on the device) and releases it when the
/// last reference goes: the handle table holds one from create to <c>kn_training_set_free</c>, and every call holds one
/// (<see cref="HandleTable.Acquire"/>) while it runs. So freeing a set while another thread evaluates with it lets that
/// evaluation finish on a live context, and the context is released when it returns.
/// </para>
/// </summary>
internal abstract class NativeSet(int count, int dimension, Backend backend, int threads)
{
    // The handle table's reference; HandleTable adds one per call under its lock, and only while the handle is live,
    // so the count never rises again once it has reached zero.
    private int _references = 1;

    public int Count { get; } = count;

    public int Dimension { get; } = dimension;

    public Backend Backend { get; } = backend;

    /// <summary>0 = all cores, else the thread limit (the CPU backend's; recorded but unused by OpenCL).</summary>
    public int Threads { get; } = threads;

    /// <summary>0 for float32, 1 for float64 (<c>kn_precision</c>).</summary>
    public abstract int Precision { get; }

    /// <summary>The backend the set evaluates on, owned by the set.</summary>
    public abstract IScoreBackend Engine { get; }

    /// <summary>Adds a reference (a call in progress). Called by <see cref="HandleTable"/> under its lock only.</summary>
    public void AddReference() => Interlocked.Increment(ref _references);

    /// <summary>Drops a reference; the last one disposes the backend (releasing an OpenCL context and its device buffers).</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0 && Engine is IDisposable owned) owned.Dispose();
    }

    /// <summary>
    /// The one place a backend is made from the C caller's choice. KN_BACKEND_OPENCL: an <see cref="OpenClBackend"/> on the
    /// device <c>KERNELS_OPENCL_DEVICE</c> names (else the first GPU, else the first device); no runtime or no matching
    /// device is KN_ERROR_BACKEND_UNAVAILABLE with the remedy, and a float64 set on a device without fp64 too (refused here,
    /// at create, rather than at the first evaluation).
    /// </summary>
    public static IScoreBackend CreateBackend(Backend backend, int threads, bool isDouble) => backend switch
    {
        Backend.Cpu => new CpuBackend(threads == 0 ? -1 : threads),
        Backend.OpenCl => CreateOpenCl(isDouble),
        _ => throw new NativeException(Status.InvalidValue,
            $"backend = {(int)backend} is not a kn_backend; use KN_BACKEND_CPU (0) or KN_BACKEND_OPENCL (1)."),
    };

    private static OpenClBackend CreateOpenCl(bool isDouble)
    {
        OpenClBackend engine;
        try
        {
            engine = new OpenClBackend();
        }
        catch (OpenClUnavailableException e)
        {
            throw new NativeException(Status.BackendUnavailable, $"backend = KN_BACKEND_OPENCL is unavailable: {e.Message} Or use KN_BACKEND_CPU (0).");
        }
        if (isDouble && !engine.Device.HasFp64)
        {
            string name = engine.Device.Name;
            engine.Dispose();
            throw new NativeException(Status.BackendUnavailable,
                $"backend = KN_BACKEND_OPENCL: the device {name} has no double precision (no cl_khr_fp64); create the set with " +
                $"kn_training_set_create_f32, choose another device with {OpenClDeviceSelector.EnvironmentVariable}, or use KN_BACKEND_CPU (0).");
        }
        return engine;
    }
}

/// <summary>A training set of element type <typeparamref name="T"/> and the models the C ABI evaluates on it.</summary>
internal sealed class NativeSet<T> : NativeSet where T : unmanaged, IFloatingPointIeee754<T>
{
    public NativeSet(TrainingSet<T> train, Backend backend, int threads) : base(train.Count, train.Dimension, backend, threads)
    {
        var engine = CreateBackend(backend, threads, typeof(T) == typeof(double));
        Engine = engine;
        try
        {
            // lay out or upload now: a device out of memory fails kn_training_set_create, not a later call
            engine.Prepare(train);
        }
        catch
        {
            (engine as IDisposable)?.Dispose();
            throw;
        }
        Model = new EmpiricalScore<T>(train, engine);
        // Groups of queries at different levels run side by side, one thread each (results do not depend on the thread count).
        Serial = engine.WithMaxDegreeOfParallelism(1) is { } serial ? new EmpiricalScore<T>(train, serial) : null;
    }

    public override int Precision => typeof(T) == typeof(float) ? 0 : 1;

    public override IScoreBackend Engine { get; }

    public EmpiricalScore<T> Model { get; }

    private EmpiricalScore<T>? Serial { get; }

    /// <summary>Exact (h = 0) or KDE (h &gt; 0, isotropic Gaussian: σ² → σ² + h²) outputs at one level.</summary>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel level, double h, ScoreOutputs<T> outputs)
    {
        if (h == 0) Model.Evaluate(queries, level, outputs);
        else new KdeScore<T>(Model, SmoothingKernel.Gaussian(h)).Evaluate(queries, level, outputs);
    }

    /// <summary>
    /// Exact or KDE outputs with a level per query. Queries sharing a level are gathered and evaluated in one fused pass; distinct
    /// groups run in parallel on single-threaded CPU backends (each query still sees exactly one thread, so results equal those of
    /// a single-level call bit for bit).
    /// </summary>
    public void Evaluate(ReadOnlySpan<T> queries, NoiseLevel[] levels, double h, ScoreOutputs<T> outputs)
    {
        int d = Dimension, m = levels.Length;
        var kernel = h == 0 ? null : SmoothingKernel.Gaussian(h);
        var groups = new Dictionary<NoiseLevel, List<int>>();
        for (int q = 0; q < m; q++)
        {
            if (!groups.TryGetValue(levels[q], out var rows)) groups.Add(levels[q], rows = []);
            rows.Add(q);
        }
        if (groups.Count == 1)
        {
            Evaluate(queries, levels[0], h, outputs);
            return;
        }
        // Validate once, before any group starts writing (the exports have checked that queries are finite).
        Guard(queries, outputs);

        T[] x = queries.ToArray();
        var ld = Gathered(outputs.LogDensity, m);
        var s = Gathered(outputs.Score, m * d);
        var den = Gathered(outputs.Denoiser, m * d);
        var div = Gathered(outputs.Divergence, m);
        var model = Serial ?? Model;
        var options = new ParallelOptions { MaxDegreeOfParallelism = Serial is null ? 1 : Threads == 0 ? -1 : Threads };
        Parallel.ForEach(groups, options, group =>
        {
            var rows = group.Value;
            int g = rows.Count;
            var gx = new T[g * d];
            for (int i = 0; i < g; i++) x.AsSpan(rows[i] * d, d).CopyTo(gx.AsSpan(i * d, d));
            var (gld, gs, gden, gdiv) = (Part(ld, g), Part(s, g * d), Part(den, g * d), Part(div, g));
            var groupOutputs = new ScoreOutputs<T> { LogDensity = gld, Score = gs, Denoiser = gden, Divergence = gdiv };
            if (kernel is null) model.Evaluate(gx, group.Key, groupOutputs);
            else new KdeScore<T>(model, kernel).Evaluate(gx, group.Key, groupOutputs);
            for (int i = 0; i < g; i++)
            {
                int q = rows[i];
                if (ld is not null) ld[q] = gld[i];
                if (div is not null) div[q] = gdiv[i];
                if (s is not null) gs.AsSpan(i * d, d).CopyTo(s.AsSpan(q * d, d));
                if (den is not null) gden.AsSpan(i * d, d).CopyTo(den.AsSpan(q * d, d));
            }
        });
        ld?.CopyTo(outputs.LogDensity);
        s?.CopyTo(outputs.Score);
        den?.CopyTo(outputs.Denoiser);
        div?.CopyTo(outputs.Divergence);
    }

    /// <summary>Log-domain smoothing with the Gaussian kernel N(0, h² I) over K draws (Monte Carlo), at one level.</summary>
    public void Smoothed(ReadOnlySpan<T> queries, NoiseLevel level, double h, SmoothingDraws draws, SmoothedOutputs<T> outputs) =>
        new LogSmoothedScore<T>(Model, SmoothingKernel.Gaussian(h), draws).Evaluate(queries, level, outputs);

    /// <summary>The checks a single-level call makes (an output, no overlap) before any group runs; queries are already finite.</summary>
    private static void Guard(ReadOnlySpan<T> queries, ScoreOutputs<T> outputs)
    {
        if (outputs.IsEmpty)
            throw new ArgumentException("No output requested: pass at least one of log_density, score, denoiser, divergence.", "outputs");
        if (Overlaps(queries, outputs))
            throw new ArgumentException("An output buffer overlaps queries; results would overwrite inputs still being read: use a separate buffer.", "outputs");
    }

    private static bool Overlaps(ReadOnlySpan<T> queries, ScoreOutputs<T> outputs) =>
        queries.Overlaps(outputs.LogDensity) || queries.Overlaps(outputs.Score) ||
        queries.Overlaps(outputs.Denoiser) || queries.Overlaps(outputs.Divergence);

    private static T[]? Gathered(Span<T> destination, int length) => destination.IsEmpty ? null : new T[length];

    private static T[] Part(T[]? whole, int length) => whole is null ? [] : new T[length];
}
