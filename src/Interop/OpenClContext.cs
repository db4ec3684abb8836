using System.Runtime.InteropServices;
using System.Text;
using Silk.NET.OpenCL;

namespace Kernels.Interop;

/// <summary>
/// An OpenCL context on one device with one in-order command queue. It owns its queue, the programs built in it
/// (cached per source and build options) and the buffers created in it, and releases them all on
/// <see cref="Dispose"/>; any use afterwards throws <see cref="ObjectDisposedException"/>. Calls that enqueue work or
/// set kernel arguments are serialised by <see cref="SyncRoot"/>: take it around a whole
/// set-arguments-and-enqueue sequence when several threads share a context.
/// </summary>
public sealed class OpenClContext : IDisposable
{
    private readonly ContextHandle _context;
    private readonly CommandQueueHandle _queue;
    private readonly Dictionary<(string Source, string Options), OpenClProgram> _programs = [];
    private readonly List<WeakReference<OpenClBuffer>> _buffers = [];
    private bool _disposed;

    /// <summary>Creates a context and queue on the device chosen by <paramref name="selector"/>.</summary>
    /// <param name="selector">Which device; null for <see cref="OpenClDeviceSelector.FromEnvironment"/>.</param>
    /// <param name="profiling">Enables event profiling on the queue (CL_QUEUE_PROFILING_ENABLE) for <see cref="OpenClEvent"/> timings.</param>
    public OpenClContext(OpenClDeviceSelector? selector = null, bool profiling = false)
        : this((selector ?? OpenClDeviceSelector.FromEnvironment()).Select(), profiling) { }

    /// <summary>Creates a context and queue on <paramref name="device"/>.</summary>
    /// <param name="device">A device of <see cref="OpenClRuntime.Devices"/>.</param>
    /// <param name="profiling">Enables event profiling on the queue.</param>
    public unsafe OpenClContext(OpenClDevice device, bool profiling = false)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        Profiling = profiling;
        var cl = OpenClRuntime.Api;
        nint id = device.Id;
        nint* properties = stackalloc nint[] { (nint)ContextProperties.Platform, device.PlatformId, 0 };
        int status;
        nint context;
        lock (OpenClRuntime.CallbackPinGate) context = cl.CreateContext(properties, 1, &id, null, null, &status);
        OpenClException.Check(status, "clCreateContext", $"on device {device.Name}");
        _context = new ContextHandle(context);
        nint queue = cl.CreateCommandQueue(context, id, profiling ? CommandQueueProperties.ProfilingEnable : CommandQueueProperties.None, &status);
        if (status != 0)
        {
            _context.Dispose();
            OpenClException.Check(status, "clCreateCommandQueue", $"on device {device.Name}");
        }
        _queue = new CommandQueueHandle(queue);
    }

    /// <summary>The device.</summary>
    public OpenClDevice Device { get; }

    /// <summary>Whether the queue records event timings.</summary>
    public bool Profiling { get; }

    /// <summary>The lock that serialises use of the queue and of kernel arguments.</summary>
    public object SyncRoot { get; } = new();

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _disposed;

    internal nint Handle => Alive()._context.Value;

    internal nint Queue => Alive()._queue.Value;

    internal OpenClContext Alive()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return this;
    }

    /// <summary>
    /// Builds <paramref name="source"/> with <paramref name="options"/> for this device, or returns the program
    /// already built from the same source and options. A failed build throws <see cref="OpenClException"/> whose
    /// message holds the full build log.
    /// </summary>
    /// <param name="source">OpenCL C source.</param>
    /// <param name="options">Build options, e.g. "-cl-std=CL1.2 -DTILE=64".</param>
    public unsafe OpenClProgram BuildProgram(string source, string options = "")
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        lock (SyncRoot)
        {
            Alive();
            if (_programs.TryGetValue((source, options), out var cached) && !cached.IsDisposed) return cached;
            var cl = OpenClRuntime.Api;
            byte[] bytes = Encoding.UTF8.GetBytes(source);
            int status;
            nint program;
            fixed (byte* s = bytes)
            {
                byte* strings = s;
                nuint length = (nuint)bytes.Length;
                program = cl.CreateProgramWithSource(Handle, 1, &strings, &length, &status);
            }
            OpenClException.Check(status, "clCreateProgramWithSource");
            var handle = new ProgramHandle(program);
            nint device = Device.Id;
            lock (OpenClRuntime.CallbackPinGate) status = cl.BuildProgram(program, 1, &device, options, null, null);
            if (status != 0)
            {
                string log = BuildLog(cl, program, device);
                handle.Dispose();
                throw new OpenClException("clBuildProgram", status,
                    $"the program did not build for {Device.Name} with options \"{options}\". Build log:\n{log}");
            }
            var built = new OpenClProgram(this, handle, BuildLog(cl, program, device));
            _programs[(source, options)] = built;
            return built;
        }
    }

    private static unsafe string BuildLog(CL cl, nint program, nint device)
    {
        nuint size = 0;
        if (cl.GetProgramBuildInfo(program, device, ProgramBuildInfo.BuildLog, 0, null, &size) != 0 || size == 0) return "(no build log)";
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes)
            if (cl.GetProgramBuildInfo(program, device, ProgramBuildInfo.BuildLog, size, b, null) != 0) return "(the build log could not be read)";
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }

    /// <summary>Allocates a device buffer of <paramref name="count"/> elements of <typeparamref name="T"/>.</summary>
    /// <param name="count">Elements, ≥ 1.</param>
    /// <param name="flags">Access flags; read-write by default.</param>
    public unsafe OpenClBuffer CreateBuffer<T>(long count, MemFlags flags = MemFlags.ReadWrite) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        long bytes = checked(count * sizeof(T));
        if (bytes > Device.MaxAllocationSize)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"{bytes} bytes exceed the largest buffer {Device.Name} allows ({Device.MaxAllocationSize} bytes); split the data (shards) or use a device with more memory.");
        lock (SyncRoot)
        {
            Alive();
            int status;
            nint mem = OpenClRuntime.Api.CreateBuffer(Handle, flags, (nuint)bytes, null, &status);
            OpenClException.Check(status, "clCreateBuffer", $"allocating {bytes} bytes on {Device.Name}");
            var buffer = new OpenClBuffer(this, new BufferHandle(mem), bytes);
            _buffers.RemoveAll(w => !w.TryGetTarget(out var b) || b.IsDisposed);
            _buffers.Add(new WeakReference<OpenClBuffer>(buffer));
            return buffer;
        }
    }

    /// <summary>Blocks until every enqueued command has finished.</summary>
    public void Finish()
    {
        lock (SyncRoot) OpenClException.Check(OpenClRuntime.Api.Finish(Queue), "clFinish");
    }

    /// <summary>Releases the queue, every program and kernel, every live buffer, then the context.</summary>
    public void Dispose()
    {
        lock (SyncRoot)
        {
            if (_disposed) return;
            _disposed = true;
            OpenClRuntime.Api.Finish(_queue.Value); // let queued commands complete before their buffers go
            foreach (var weak in _buffers)
                if (weak.TryGetTarget(out var buffer)) buffer.Dispose();
            foreach (var program in _programs.Values) program.Dispose();
            _programs.Clear();
            _queue.Dispose();
            _context.Dispose();
        }
    }
}

/// <summary>A built program; its kernels are created once and cached by name.</summary>
public sealed class OpenClProgram : IDisposable
{
    private readonly OpenClContext _owner;
    private readonly ProgramHandle _handle;
    private readonly Dictionary<string, OpenClKernel> _kernels = [];

    internal OpenClProgram(OpenClContext owner, ProgramHandle handle, string buildLog)
    {
        _owner = owner;
        _handle = handle;
        BuildLog = buildLog;
    }

    /// <summary>The build log of the successful build (warnings, if any).</summary>
    public string BuildLog { get; }

    /// <summary>True once released (by <see cref="Dispose"/> or with its context); building the same source again makes a new program.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>The kernel named <paramref name="name"/>; the same object on every call. Not thread-safe across threads without <see cref="OpenClContext.SyncRoot"/>.</summary>
    /// <param name="name">The __kernel function's name.</param>
    public unsafe OpenClKernel Kernel(string name)
    {
        lock (_owner.SyncRoot)
        {
            _owner.Alive();
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            if (_kernels.TryGetValue(name, out var kernel) && !kernel.IsDisposed) return kernel;
            int status;
            nint k = OpenClRuntime.Api.CreateKernel(_handle.Value, name, &status);
            OpenClException.Check(status, "clCreateKernel", $"kernel \"{name}\"");
            kernel = new OpenClKernel(_owner, new KernelHandle(k), name);
            _kernels[name] = kernel;
            return kernel;
        }
    }

    /// <summary>Releases the kernels and the program.</summary>
    public void Dispose()
    {
        lock (_owner.SyncRoot)
        {
            foreach (var kernel in _kernels.Values) kernel.Dispose();
            _kernels.Clear();
            _handle.Dispose();
        }
    }
}

/// <summary>A kernel: set its arguments and enqueue it (under <see cref="OpenClContext.SyncRoot"/> when shared).</summary>
public sealed class OpenClKernel : IDisposable
{
    private readonly OpenClContext _owner;
    private readonly KernelHandle _handle;

    internal OpenClKernel(OpenClContext owner, KernelHandle handle, string name)
    {
        _owner = owner;
        _handle = handle;
        Name = name;
    }

    /// <summary>The kernel's name.</summary>
    public string Name { get; }

    /// <summary>True once released.</summary>
    public bool IsDisposed => _handle.IsClosed;

    private nint Value
    {
        get
        {
            _owner.Alive();
            return _handle.Value;
        }
    }

    /// <summary>The largest work-group this kernel can run with on the context's device.</summary>
    public unsafe int MaxWorkGroupSize
    {
        get
        {
            nuint size = 0;
            OpenClException.Check(OpenClRuntime.Api.GetKernelWorkGroupInfo(Value, _owner.Device.Id, KernelWorkGroupInfo.WorkGroupSize, (nuint)sizeof(nuint), &size, null),
                "clGetKernelWorkGroupInfo", $"kernel {Name}");
            return (int)Math.Min(int.MaxValue, (ulong)size);
        }
    }

    /// <summary>Sets argument <paramref name="index"/> to a buffer.</summary>
    public unsafe void SetArgument(uint index, OpenClBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        nint mem = buffer.Handle;
        OpenClException.Check(OpenClRuntime.Api.SetKernelArg(Value, index, (nuint)sizeof(nint), &mem), "clSetKernelArg", $"kernel {Name}, argument {index} (buffer)");
    }

    /// <summary>Sets argument <paramref name="index"/> to a scalar value (int, float, double, …).</summary>
    public unsafe void SetArgument<T>(uint index, T value) where T : unmanaged =>
        OpenClException.Check(OpenClRuntime.Api.SetKernelArg(Value, index, (nuint)sizeof(T), &value), "clSetKernelArg", $"kernel {Name}, argument {index} ({typeof(T).Name})");

    /// <summary>Sets argument <paramref name="index"/> to <paramref name="bytes"/> of __local memory.</summary>
    public unsafe void SetLocalArgument(uint index, long bytes) =>
        OpenClException.Check(OpenClRuntime.Api.SetKernelArg(Value, index, (nuint)bytes, null), "clSetKernelArg", $"kernel {Name}, argument {index} (__local, {bytes} bytes)");

    /// <summary>
    /// Enqueues the kernel over a 1-D range. <paramref name="globalSize"/> must be a multiple of
    /// <paramref name="localSize"/> (some runtimes, PoCL among them, have no non-uniform work-groups).
    /// </summary>
    /// <param name="globalSize">Work-items in all.</param>
    /// <param name="localSize">Work-items per group; 0 lets the runtime choose.</param>
    /// <returns>The command's event (timings when the queue profiles).</returns>
    public unsafe OpenClEvent Enqueue(long globalSize, int localSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(globalSize, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(localSize);
        if (localSize > 0 && globalSize % localSize != 0)
            throw new ArgumentException($"globalSize {globalSize} is not a multiple of localSize {localSize}; pad the range up to a multiple and guard the extra work-items.", nameof(globalSize));
        nuint global = (nuint)globalSize, local = (nuint)localSize;
        nint evt;
        lock (_owner.SyncRoot)
            OpenClException.Check(OpenClRuntime.Api.EnqueueNdrangeKernel(_owner.Queue, Value, 1, null, &global, localSize > 0 ? &local : null, 0, null, &evt),
                "clEnqueueNDRangeKernel", $"kernel {Name}, global {globalSize}, local {localSize}");
        return new OpenClEvent(new EventHandle(evt), _owner.Profiling);
    }

    /// <summary>Releases the kernel.</summary>
    public void Dispose() => _handle.Dispose();
}

/// <summary>A device buffer of a fixed size in bytes. Reads and writes are blocking and return their event.</summary>
public sealed class OpenClBuffer : IDisposable
{
    private readonly OpenClContext _owner;
    private readonly BufferHandle _handle;

    internal OpenClBuffer(OpenClContext owner, BufferHandle handle, long bytes)
    {
        _owner = owner;
        _handle = handle;
        Bytes = bytes;
    }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>True once released.</summary>
    public bool IsDisposed => _handle.IsClosed;

    internal nint Handle
    {
        get
        {
            _owner.Alive();
            return _handle.Value;
        }
    }

    /// <summary>Copies <paramref name="source"/> into the buffer at element <paramref name="offset"/> (blocking).</summary>
    public unsafe OpenClEvent Write<T>(ReadOnlySpan<T> source, long offset = 0) where T : unmanaged
    {
        long at = checked(offset * sizeof(T)), bytes = checked((long)source.Length * sizeof(T));
        RequireRange(at, bytes, nameof(source));
        nint evt;
        lock (_owner.SyncRoot)
        {
            fixed (T* p = source)
                OpenClException.Check(OpenClRuntime.Api.EnqueueWriteBuffer(_owner.Queue, Handle, true, (nuint)at, (nuint)bytes, p, 0, null, &evt),
                    "clEnqueueWriteBuffer", $"{bytes} bytes at {at}");
        }
        return new OpenClEvent(new EventHandle(evt), _owner.Profiling);
    }

    /// <summary>Copies from the buffer at element <paramref name="offset"/> into <paramref name="destination"/> (blocking).</summary>
    public unsafe OpenClEvent Read<T>(Span<T> destination, long offset = 0) where T : unmanaged
    {
        long at = checked(offset * sizeof(T)), bytes = checked((long)destination.Length * sizeof(T));
        RequireRange(at, bytes, nameof(destination));
        nint evt;
        lock (_owner.SyncRoot)
        {
            fixed (T* p = destination)
                OpenClException.Check(OpenClRuntime.Api.EnqueueReadBuffer(_owner.Queue, Handle, true, (nuint)at, (nuint)bytes, p, 0, null, &evt),
                    "clEnqueueReadBuffer", $"{bytes} bytes at {at}");
        }
        return new OpenClEvent(new EventHandle(evt), _owner.Profiling);
    }

    private void RequireRange(long at, long bytes, string name)
    {
        if (at < 0 || bytes < 1 || at + bytes > Bytes)
            throw new ArgumentOutOfRangeException(name, $"{bytes} bytes at byte {at} do not fit a buffer of {Bytes} bytes (and at least one byte must move).");
    }

    /// <summary>Releases the buffer.</summary>
    public void Dispose() => _handle.Dispose();
}

/// <summary>An enqueued command's event: wait for it, and read its device-side duration when the queue profiles.</summary>
public sealed class OpenClEvent : IDisposable
{
    private readonly EventHandle _handle;
    private readonly bool _profiling;

    internal OpenClEvent(EventHandle handle, bool profiling)
    {
        _handle = handle;
        _profiling = profiling;
    }

    /// <summary>Blocks until the command has finished.</summary>
    public unsafe void Wait()
    {
        nint e = _handle.Value;
        OpenClException.Check(OpenClRuntime.Api.WaitForEvents(1, &e), "clWaitForEvents");
    }

    /// <summary>Device time from the command's start to its end (waits for it); zero when the queue does not profile.</summary>
    public unsafe TimeSpan Duration
    {
        get
        {
            if (!_profiling) return TimeSpan.Zero;
            Wait();
            ulong start = 0, end = 0;
            OpenClException.Check(OpenClRuntime.Api.GetEventProfilingInfo(_handle.Value, ProfilingInfo.Start, sizeof(ulong), &start, null), "clGetEventProfilingInfo", "start");
            OpenClException.Check(OpenClRuntime.Api.GetEventProfilingInfo(_handle.Value, ProfilingInfo.End, sizeof(ulong), &end, null), "clGetEventProfilingInfo", "end");
            return TimeSpan.FromTicks((long)(end - start) / 100); // nanoseconds to 100 ns ticks
        }
    }

    /// <summary>Releases the event.</summary>
    public void Dispose() => _handle.Dispose();
}
