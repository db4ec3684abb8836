using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Native;

/// <summary>
/// The C entry points (native/include/kernels.h documents each). Every export first refuses a forked child
/// (<see cref="ForkGuard"/>), then resets the thread's last error, catches everything, and returns a status: no exception
/// ever crosses the boundary (one that did would abort the host).
/// Shapes: training data N×D, queries M×D and score-like outputs M×D row-major; per-query outputs length M.
/// </summary>
public static unsafe partial class Exports
{
    // Entry points are internal (not private) so the tests can call them in-process through function pointers.

    /// <summary>The library version (major, minor, patch); KN_VERSION_* in kernels.h must agree.</summary>
    public const int Major = 0, Minor = 1, Patch = 0;

    /// <summary>Draw flags of kn_smoothed_*.</summary>
    private const uint Antithetic = 1, FixedDraws = 2;

    [UnmanagedCallersOnly(EntryPoint = "kn_version")]
    internal static uint Version() => Major * 10000 + Minor * 100 + Patch;

    [UnmanagedCallersOnly(EntryPoint = "kn_version_string")]
    internal static byte* VersionString() => Pointer("0.1.0\0"u8);

    [UnmanagedCallersOnly(EntryPoint = "kn_last_error")]
    internal static byte* LastErrorMessage() => LastError.Current;

    [UnmanagedCallersOnly(EntryPoint = "kn_status_name")]
    internal static byte* StatusName(int status) => Pointer((Status)status switch
    {
        Status.Success => "KN_SUCCESS\0"u8,
        Status.DeviceNotFound => "KN_ERROR_DEVICE_NOT_FOUND\0"u8,
        Status.OutOfResources => "KN_ERROR_OUT_OF_RESOURCES\0"u8,
        Status.OutOfHostMemory => "KN_ERROR_OUT_OF_HOST_MEMORY\0"u8,
        Status.BuildProgramFailure => "KN_ERROR_BUILD_PROGRAM_FAILURE\0"u8,
        Status.InvalidValue => "KN_ERROR_INVALID_VALUE\0"u8,
        Status.PlatformNotFound => "KN_ERROR_PLATFORM_NOT_FOUND\0"u8,
        Status.InvalidHandle => "KN_ERROR_INVALID_HANDLE\0"u8,
        Status.NullPointer => "KN_ERROR_NULL_POINTER\0"u8,
        Status.InvalidSize => "KN_ERROR_INVALID_SIZE\0"u8,
        Status.NotFinite => "KN_ERROR_NOT_FINITE\0"u8,
        Status.PrecisionMismatch => "KN_ERROR_PRECISION_MISMATCH\0"u8,
        Status.BackendUnavailable => "KN_ERROR_BACKEND_UNAVAILABLE\0"u8,
        Status.UnsupportedCpu => "KN_ERROR_UNSUPPORTED_CPU\0"u8,
        Status.LoadFailed => "KN_ERROR_LOAD_FAILED\0"u8,
        Status.DeviceFailure => "KN_ERROR_DEVICE_FAILURE\0"u8,
        Status.Forked => "KN_ERROR_FORKED\0"u8,
        Status.Internal => "KN_ERROR_INTERNAL\0"u8,
        _ => "KN_UNKNOWN_STATUS\0"u8,
    });

    /// <summary>The instruction sets this image was compiled for: under NativeAOT these properties are compile-time constants.</summary>
    [UnmanagedCallersOnly(EntryPoint = "kn_variant")]
    internal static byte* Variant() => Pointer(
        Vector512.IsHardwareAccelerated ? "x86-64-v4\0"u8 : Avx2.IsSupported && Fma.IsSupported ? "x86-64-v3\0"u8 : "x86-64-v2\0"u8);

    [UnmanagedCallersOnly(EntryPoint = "kn_training_set_create_f32")]
    internal static int CreateF32(float* data, long n, long d, int backend, int threads, nint* set) => Create(data, n, d, backend, threads, set);

    [UnmanagedCallersOnly(EntryPoint = "kn_training_set_create_f64")]
    internal static int CreateF64(double* data, long n, long d, int backend, int threads, nint* set) => Create(data, n, d, backend, threads, set);

    [UnmanagedCallersOnly(EntryPoint = "kn_training_set_free")]
    internal static int Free(nint set)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (set != 0) HandleTable.Remove(set);
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "kn_training_set_info")]
    internal static int Info(nint set, long* n, long* d, int* precision, int* backend, int* threads)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            using var lease = HandleTable.Acquire(set);
            var native = lease.Set;
            if (n != null) *n = native.Count;
            if (d != null) *d = native.Dimension;
            if (precision != null) *precision = native.Precision;
            if (backend != null) *backend = (int)native.Backend;
            if (threads != null) *threads = native.Threads;
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "kn_evaluate_f32")]
    internal static int EvaluateF32(nint set, float* queries, long m, long d, double alpha, double sigma,
        float* logDensity, float* score, float* denoiser, float* divergence) =>
        Evaluate(set, queries, m, d, alpha, sigma, null, null, false, false, 0, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_evaluate_f64")]
    internal static int EvaluateF64(nint set, double* queries, long m, long d, double alpha, double sigma,
        double* logDensity, double* score, double* denoiser, double* divergence) =>
        Evaluate(set, queries, m, d, alpha, sigma, null, null, false, false, 0, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_evaluate_levels_f32")]
    internal static int EvaluateLevelsF32(nint set, float* queries, long m, long d, double* alpha, double* sigma,
        float* logDensity, float* score, float* denoiser, float* divergence) =>
        Evaluate(set, queries, m, d, 0, 0, alpha, sigma, true, false, 0, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_evaluate_levels_f64")]
    internal static int EvaluateLevelsF64(nint set, double* queries, long m, long d, double* alpha, double* sigma,
        double* logDensity, double* score, double* denoiser, double* divergence) =>
        Evaluate(set, queries, m, d, 0, 0, alpha, sigma, true, false, 0, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_kde_f32")]
    internal static int KdeF32(nint set, double h, float* queries, long m, long d, double alpha, double sigma,
        float* logDensity, float* score, float* denoiser, float* divergence) =>
        Evaluate(set, queries, m, d, alpha, sigma, null, null, false, true, h, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_kde_f64")]
    internal static int KdeF64(nint set, double h, double* queries, long m, long d, double alpha, double sigma,
        double* logDensity, double* score, double* denoiser, double* divergence) =>
        Evaluate(set, queries, m, d, alpha, sigma, null, null, false, true, h, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_kde_levels_f32")]
    internal static int KdeLevelsF32(nint set, double h, float* queries, long m, long d, double* alpha, double* sigma,
        float* logDensity, float* score, float* denoiser, float* divergence) =>
        Evaluate(set, queries, m, d, 0, 0, alpha, sigma, true, true, h, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_kde_levels_f64")]
    internal static int KdeLevelsF64(nint set, double h, double* queries, long m, long d, double* alpha, double* sigma,
        double* logDensity, double* score, double* denoiser, double* divergence) =>
        Evaluate(set, queries, m, d, 0, 0, alpha, sigma, true, true, h, logDensity, score, denoiser, divergence);

    [UnmanagedCallersOnly(EntryPoint = "kn_smoothed_f32")]
    internal static int SmoothedF32(nint set, double h, int draws, ulong seed, uint flags, float* queries, long m, long d,
        double alpha, double sigma, float* logDensity, float* score, float* denoiser, float* divergence, float* scoreError) =>
        Smoothed(set, h, draws, seed, flags, queries, m, d, alpha, sigma, logDensity, score, denoiser, divergence, scoreError);

    [UnmanagedCallersOnly(EntryPoint = "kn_smoothed_f64")]
    internal static int SmoothedF64(nint set, double h, int draws, ulong seed, uint flags, double* queries, long m, long d,
        double alpha, double sigma, double* logDensity, double* score, double* denoiser, double* divergence, double* scoreError) =>
        Smoothed(set, h, draws, seed, flags, queries, m, d, alpha, sigma, logDensity, score, denoiser, divergence, scoreError);

    private static int Create<T>(T* data, long n, long d, int backend, int threads, nint* set) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ForkGuard.Forked)
        {
            if (set != null) *set = 0;
            return ForkGuard.Refuse();
        }
        LastError.Clear();
        try
        {
            if (set == null) throw NullArgument("set", "pass the address of a kn_training_set* to receive the handle");
            *set = 0;
            if (data == null) throw NullArgument("data", "pass an N×D row-major array of training points");
            int count = AtLeastOne(n, "n", "the number of training points N"), dimension = AtLeastOne(d, "d", "the dimension D");
            int length = Length(count, dimension, "n × d");
            if (threads < 0)
                throw new NativeException(Status.InvalidValue, $"threads = {threads}; use 0 (all cores) or a thread count >= 1.");
            var values = new ReadOnlySpan<T>(data, length);
            RequireFinite(values, dimension, "data", "training");
            var native = new NativeSet<T>(new TrainingSet<T>(values, count, dimension), (Backend)backend, threads);
            try
            {
                *set = HandleTable.Add(native);
            }
            catch
            {
                native.Release(); // no handle was issued: release the backend now
                throw;
            }
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>
    /// Exact or KDE (<paramref name="kde"/>, the caller's h validated here) outputs at one level or, with
    /// <paramref name="perQuery"/>, a level per query. Every argument is checked inside the try: nothing may throw outside it.
    /// </summary>
    private static int Evaluate<T>(nint set, T* queries, long m, long d, double alpha, double sigma, double* alphas, double* sigmas,
        bool perQuery, bool kde, double h, T* logDensity, T* score, T* denoiser, T* divergence) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            double width = kde ? Width(h) : 0;
            using var lease = HandleTable.Acquire(set);
            var native = Set<T>(lease.Set);
            var x = Queries(native, queries, m, d, out int rows);
            var outputs = new ScoreOutputs<T>
            {
                LogDensity = Output(logDensity, rows),
                Score = Output(score, rows * native.Dimension),
                Denoiser = Output(denoiser, rows * native.Dimension),
                Divergence = Output(divergence, rows),
            };
            RequireOutput(outputs.IsEmpty);
            if (!perQuery)
                native.Evaluate(x, Level(alpha, sigma, -1), width, outputs);
            else
            {
                if (alphas == null) throw NullArgument("alpha", "pass M per-query alphas (or call the single-level function)");
                if (sigmas == null) throw NullArgument("sigma", "pass M per-query sigmas (or call the single-level function)");
                var levels = new NoiseLevel[rows];
                for (int q = 0; q < rows; q++) levels[q] = Level(alphas[q], sigmas[q], q);
                native.Evaluate(x, levels, width, outputs);
            }
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e, perQuery ? $"{(kde ? $"h = {h}, " : "")}the per-query alpha[] and sigma[]" : $"alpha = {alpha}, sigma = {sigma}{(kde ? $", h = {h}" : "")}");
        }
    }

    private static int Smoothed<T>(nint set, double h, int draws, ulong seed, uint flags, T* queries, long m, long d, double alpha, double sigma,
        T* logDensity, T* score, T* denoiser, T* divergence, T* scoreError) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            using var lease = HandleTable.Acquire(set);
            var native = Set<T>(lease.Set);
            var x = Queries(native, queries, m, d, out int rows);
            var plan = Draws(draws, seed, flags);
            var outputs = new SmoothedOutputs<T>
            {
                LogDensity = Output(logDensity, rows),
                Score = Output(score, rows * native.Dimension),
                Denoiser = Output(denoiser, rows * native.Dimension),
                Divergence = Output(divergence, rows),
                ScoreError = Output(scoreError, rows * native.Dimension),
            };
            RequireOutput(outputs.LogDensity.IsEmpty && outputs.Score.IsEmpty && outputs.Denoiser.IsEmpty && outputs.Divergence.IsEmpty && outputs.ScoreError.IsEmpty);
            if (!outputs.ScoreError.IsEmpty && plan.Units < 2)
                throw new NativeException(Status.InvalidValue,
                    $"score_error needs at least 2 independent draws (pairs when antithetic) but draws = {draws}; use more draws or pass score_error = NULL.");
            native.Smoothed(x, Level(alpha, sigma, -1), Width(h), plan, outputs);
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e, $"alpha = {alpha}, sigma = {sigma}, h = {h}");
        }
    }

    /// <summary>The draw plan of kn_smoothed_* and kn_smoothing_rows_*, its flags and count checked.</summary>
    private static SmoothingDraws Draws(int draws, ulong seed, uint flags)
    {
        if ((flags & ~(Antithetic | FixedDraws)) != 0)
            throw new NativeException(Status.InvalidValue,
                $"flags = 0x{flags:X} has unknown bits; combine KN_DRAWS_ANTITHETIC (1) and KN_DRAWS_FIXED (2) only.");
        bool antithetic = (flags & Antithetic) != 0;
        if (draws < 1 || antithetic && draws % 2 != 0)
            throw new NativeException(Status.InvalidValue, draws < 1
                ? $"draws = {draws}; the number of draws K per query must be at least 1."
                : $"draws = {draws} with KN_DRAWS_ANTITHETIC: antithetic draws come in pairs (z, -z), so K must be even; use {draws + 1} or {draws - 1}.");
        return new SmoothingDraws(draws, seed, antithetic, (flags & FixedDraws) != 0);
    }

    private static NativeSet<T> Set<T>(NativeSet native) where T : unmanaged, IFloatingPointIeee754<T>
    {
        return native as NativeSet<T> ?? throw new NativeException(Status.PrecisionMismatch, native.Precision == 0
            ? "set holds float32 data (kn_training_set_create_f32); call the _f32 functions with float buffers."
            : "set holds float64 data (kn_training_set_create_f64); call the _f64 functions with double buffers.");
    }

    private static ReadOnlySpan<T> Queries<T>(NativeSet<T> native, T* queries, long m, long d, out int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (queries == null) throw NullArgument("queries", "pass an M×D row-major array of query points");
        rows = AtLeastOne(m, "m", "the number of queries M");
        if (d != native.Dimension)
            throw new NativeException(Status.InvalidSize,
                $"d = {d} but the training set has dimension D = {native.Dimension}; queries must be M×{native.Dimension}.");
        var x = new ReadOnlySpan<T>(queries, Length(rows, native.Dimension, "m × d"));
        RequireFinite(x, native.Dimension, "queries", "query");
        return x;
    }

    private static Span<T> Output<T>(T* pointer, int length) where T : unmanaged => pointer == null ? default : new Span<T>(pointer, length);

    private static void RequireOutput(bool none)
    {
        if (none)
            throw NullArgument("outputs", "every output pointer is NULL: pass at least one of log_density, score, denoiser, divergence");
    }

    /// <summary>The level (α, σ), the failure naming the C parameter and, for per-query levels, the row.</summary>
    private static NoiseLevel Level(double alpha, double sigma, int row)
    {
        string at = row < 0 ? "" : $"[{row}]";
        if (!double.IsFinite(alpha) || !double.IsFinite(sigma))
            throw new NativeException(Status.NotFinite, $"alpha{at} = {alpha}, sigma{at} = {sigma}; both must be finite and > 0.");
        if (!(alpha > 0))
            throw new NativeException(Status.InvalidValue, $"alpha{at} = {alpha}; the signal scale must be > 0 (alpha vanishes only as t → ∞: use a finite t).");
        if (!(sigma > 0))
            throw new NativeException(Status.InvalidValue, $"sigma{at} = {sigma}; the noise level must be > 0 (the score is singular at sigma = 0: use t_min > 0).");
        return new NoiseLevel(alpha, sigma);
    }

    private static double Width(double h) => h > 0 && double.IsFinite(h) ? h
        : throw new NativeException(double.IsNaN(h) || double.IsInfinity(h) ? Status.NotFinite : Status.InvalidValue,
            $"h = {h}; the Gaussian kernel width must be finite and > 0 (h = 0 is the exact score: call kn_evaluate_*).");

    private static int AtLeastOne(long value, string name, string meaning) => value is >= 1 and <= int.MaxValue ? (int)value
        : throw new NativeException(Status.InvalidSize, $"{name} = {value}; {meaning} must be between 1 and {int.MaxValue}.");

    private static int Length(int rows, int columns, string what) => (long)rows * columns <= Array.MaxLength ? rows * columns
        : throw new NativeException(Status.InvalidSize, $"{what} = {(long)rows * columns} values exceeds {Array.MaxLength}; split the call into smaller blocks.");

    private static void RequireFinite<T>(ReadOnlySpan<T> values, int columns, string name, string rowName) where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
                throw new NativeException(Status.NotFinite,
                    $"{name}: {rowName} row {i / columns} has {(T.IsNaN(values[i]) ? "NaN" : T.IsPositiveInfinity(values[i]) ? "+infinity" : "-infinity")} in column {i % columns}; every value must be finite: remove or repair that row.");
        }
    }

    private static NativeException NullArgument(string name, string remedy) => new(Status.NullPointer, $"{name} is NULL; {remedy}.");

    /// <summary>
    /// Records the reason and maps the exception to a status. Never throws. <paramref name="context"/> (the call's scalar
    /// arguments) leads an overflow's message, which cannot know which argument made the numbers too large.
    /// </summary>
    private static int Fail(Exception e, string? context = null)
    {
        try
        {
            while (e is AggregateException { InnerExceptions.Count: > 0 } aggregate) e = aggregate.InnerExceptions[0];
            var status = e switch
            {
                NativeException native => native.Status,
                OpenClException cl => DeviceStatus(cl.Status),
                OutOfMemoryException => Status.OutOfHostMemory,
                ArgumentException => Status.InvalidValue,
                // the library's own objection to magnitudes past the float type (its message names the row and the remedy);
                // .NET's bare OverflowException or DivideByZeroException would be a bug, so they stay INTERNAL
                ArithmeticException when e.GetType() == typeof(ArithmeticException) => Status.InvalidValue,
                _ => Status.Internal,
            };
            LastError.Set(status == Status.Internal ? $"{e.GetType().Name}: {e.Message}"
                : e is MagnitudeOverflowException overflow && context is not null ? $"{context}: {OwnMessage(overflow)}"
                : e is ArgumentException argument ? OwnMessage(argument)
                : e.GetType() == typeof(ArithmeticException) && context is not null ? $"{context}: {e.Message}"
                : e.Message);
            return (int)status;
        }
        catch
        {
            return (int)Status.Internal;
        }
    }

    /// <summary>
    /// An ArgumentException's text in the library's own words: .NET appends " (Parameter 'name')" to Message and, for an
    /// ArgumentOutOfRangeException, a line "Actual value was …"; both are cut (the library's messages name the value and
    /// the remedy themselves), and the parameter's name leads when the remaining text does not mention it.
    /// </summary>
    internal static string OwnMessage(ArgumentException e)
    {
        string message = e.Message;
        if (!string.IsNullOrEmpty(e.ParamName))
        {
            int cut = message.LastIndexOf($" (Parameter '{e.ParamName}')", StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut]; // the "Actual value was" line comes after it
        }
        else if (e is ArgumentOutOfRangeException { ActualValue: not null })
        {
            int cut = message.LastIndexOf(Environment.NewLine + "Actual value was ", StringComparison.Ordinal);
            if (cut >= 0) message = message[..cut];
        }
        message = message.Trim();
        return string.IsNullOrEmpty(e.ParamName) || message.Contains(e.ParamName, StringComparison.Ordinal) ? message : $"{e.ParamName}: {message}";
    }

    /// <summary>
    /// An OpenCL failure's status: the CL code itself where kn_status names it (the header reuses CL's codes), else
    /// KN_ERROR_DEVICE_FAILURE; the message (kn_last_error) names the call and the CL status either way.
    /// </summary>
    internal static Status DeviceStatus(int clStatus) => clStatus switch
    {
        (int)Status.DeviceNotFound or (int)Status.OutOfResources or (int)Status.OutOfHostMemory or (int)Status.BuildProgramFailure
            or (int)Status.InvalidValue or (int)Status.PlatformNotFound => (Status)clStatus,
        _ => Status.DeviceFailure,
    };

    /// <summary>A NUL-terminated UTF-8 literal's address: such data lives in the image and never moves.</summary>
    private static byte* Pointer(ReadOnlySpan<byte> literal) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(literal));
}
