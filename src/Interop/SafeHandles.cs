using System.Runtime.InteropServices;

namespace Kernels.Interop;

/// <summary>
/// An owned reference to an OpenCL object, released exactly once (by <see cref="SafeHandle.Dispose()"/> or, if
/// forgotten, by the finalizer). OpenCL counts references itself, so releasing a child after its context is safe:
/// the context lives until its last object is released.
/// </summary>
public abstract class OpenClHandle : SafeHandle
{
    private protected OpenClHandle(nint handle) : base(0, ownsHandle: true) => SetHandle(handle);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <summary>The raw handle for an OpenCL call; throws <see cref="ObjectDisposedException"/> once released.</summary>
    internal nint Value
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Release(handle) == 0;

    private protected abstract int Release(nint value);
}

/// <summary>A cl_context.</summary>
public sealed class ContextHandle : OpenClHandle
{
    internal ContextHandle(nint handle) : base(handle) { }
    private protected override int Release(nint value) => OpenClRuntime.Api.ReleaseContext(value);
}

/// <summary>A cl_command_queue.</summary>
public sealed class CommandQueueHandle : OpenClHandle
{
    internal CommandQueueHandle(nint handle) : base(handle) { }
    private protected override int Release(nint value) => OpenClRuntime.Api.ReleaseCommandQueue(value);
}

/// <summary>A cl_program.</summary>
public sealed class ProgramHandle : OpenClHandle
{
    internal ProgramHandle(nint handle) : base(handle) { }
    private protected override int Release(nint value) => OpenClRuntime.Api.ReleaseProgram(value);
}

/// <summary>A cl_kernel.</summary>
public sealed class KernelHandle : OpenClHandle
{
    internal KernelHandle(nint handle) : base(handle) { }
    private protected override int Release(nint value) => OpenClRuntime.Api.ReleaseKernel(value);
}

/// <summary>A cl_mem buffer.</summary>
public sealed class BufferHandle : OpenClHandle
{
    internal BufferHandle(nint handle) : base(handle) { }
    private protected override int Release(nint value) => OpenClRuntime.Api.ReleaseMemObject(value);
}

/// <summary>A cl_event.</summary>
public sealed class EventHandle : OpenClHandle
{
    internal EventHandle(nint handle) : base(handle) { }
    private protected override int Release(nint value) => OpenClRuntime.Api.ReleaseEvent(value);
}
