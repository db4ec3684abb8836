namespace Kernels.Native;

/// <summary>
/// The C ABI's status codes (<c>kn_status</c> in native/include/kernels.h). Zero is success; device errors reuse
/// OpenCL's negative codes (−1 … −69, −1001), the library's own start at −2000 so the two never collide.
/// </summary>
public enum Status
{
    /// <summary>KN_SUCCESS.</summary>
    Success = 0,

    /// <summary>KN_ERROR_DEVICE_NOT_FOUND (CL_DEVICE_NOT_FOUND).</summary>
    DeviceNotFound = -1,

    /// <summary>KN_ERROR_OUT_OF_RESOURCES (CL_OUT_OF_RESOURCES).</summary>
    OutOfResources = -5,

    /// <summary>KN_ERROR_OUT_OF_HOST_MEMORY (CL_OUT_OF_HOST_MEMORY): an allocation failed.</summary>
    OutOfHostMemory = -6,

    /// <summary>KN_ERROR_BUILD_PROGRAM_FAILURE (CL_BUILD_PROGRAM_FAILURE).</summary>
    BuildProgramFailure = -11,

    /// <summary>KN_ERROR_INVALID_VALUE (CL_INVALID_VALUE): a scalar argument out of its domain (α, σ, h, K, threads, flags, …).</summary>
    InvalidValue = -30,

    /// <summary>KN_ERROR_PLATFORM_NOT_FOUND (CL_PLATFORM_NOT_FOUND_KHR): no OpenCL platform (no ICD).</summary>
    PlatformNotFound = -1001,

    /// <summary>KN_ERROR_INVALID_HANDLE: null, freed or never-issued training-set handle.</summary>
    InvalidHandle = -2000,

    /// <summary>KN_ERROR_NULL_POINTER: a required pointer argument is NULL.</summary>
    NullPointer = -2001,

    /// <summary>KN_ERROR_INVALID_SIZE: N, D or M below 1, a query dimension unlike the set's, or a size overflowing.</summary>
    InvalidSize = -2002,

    /// <summary>KN_ERROR_NOT_FINITE: NaN or ±infinity in training data, queries or per-query levels.</summary>
    NotFinite = -2003,

    /// <summary>KN_ERROR_PRECISION_MISMATCH: an _f32 call on a float64 set or the reverse.</summary>
    PrecisionMismatch = -2004,

    /// <summary>KN_ERROR_BACKEND_UNAVAILABLE: the backend asked for is not built in or has no device.</summary>
    BackendUnavailable = -2005,

    /// <summary>KN_ERROR_UNSUPPORTED_CPU: no variant runs on this CPU (returned by the C dispatcher, named here).</summary>
    UnsupportedCpu = -2006,

    /// <summary>KN_ERROR_LOAD_FAILED: the C dispatcher could not load its variant (returned by it, named here).</summary>
    LoadFailed = -2007,

    /// <summary>
    /// KN_ERROR_DEVICE_FAILURE: an OpenCL call failed with a status kn_status does not name (the message names the call and
    /// the CL status, e.g. clEnqueueNDRangeKernel returned -54 (CL_INVALID_WORK_GROUP_SIZE)).
    /// </summary>
    DeviceFailure = -2008,

    /// <summary>
    /// KN_ERROR_FORKED: this process was forked after the library's runtime started, which does not survive fork();
    /// every call in the child is refused at once (by the dispatcher, or by <see cref="ForkGuard"/> in a variant linked directly).
    /// </summary>
    Forked = -2009,

    /// <summary>KN_ERROR_INTERNAL: an unexpected failure inside the library (a bug: please report the message).</summary>
    Internal = -2999,
}

/// <summary>A failure with the status the C caller sees and a message that names the parameter and the remedy.</summary>
internal sealed class NativeException(Status status, string message) : Exception(message)
{
    public Status Status { get; } = status;
}
