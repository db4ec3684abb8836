using System.Diagnostics.CodeAnalysis;

namespace Kernels.Interop;

/// <summary>
/// An OpenCL call failed. The message names the call and the status by its OpenCL name
/// (e.g. <c>clEnqueueNDRangeKernel returned -54 (CL_INVALID_WORK_GROUP_SIZE)</c>); a failed program build carries the
/// whole build log in the message, so it is never lost in a trace.
/// </summary>
public class OpenClException : Exception
{
    /// <summary>Creates an exception for <paramref name="call"/> returning <paramref name="status"/>.</summary>
    /// <param name="call">The OpenCL function, e.g. clBuildProgram.</param>
    /// <param name="status">The status code it returned.</param>
    /// <param name="detail">What was being done and what to do about it; may be empty.</param>
    public OpenClException(string call, int status, string detail = "")
        : base($"{call} returned {status} ({StatusName(status)}){(detail.Length > 0 ? ": " + detail : ".")}")
    {
        Call = call;
        Status = status;
    }

    /// <summary>The failing OpenCL function.</summary>
    public string Call { get; }

    /// <summary>The raw status code (negative).</summary>
    public int Status { get; }

    /// <summary>The status code's OpenCL name, e.g. CL_INVALID_WORK_GROUP_SIZE.</summary>
    public string Name => StatusName(Status);

    /// <summary>Throws when <paramref name="status"/> is not CL_SUCCESS.</summary>
    internal static void Check(int status, string call, string detail = "")
    {
        if (status != 0) Throw(status, call, detail);
    }

    [DoesNotReturn]
    private static void Throw(int status, string call, string detail) => throw new OpenClException(call, status, detail);

    /// <summary>The OpenCL name of a status code (CL 1.0–3.0 and the ICD loader's), or "unknown status".</summary>
    public static string StatusName(int status) => status switch
    {
        0 => "CL_SUCCESS",
        -1 => "CL_DEVICE_NOT_FOUND",
        -2 => "CL_DEVICE_NOT_AVAILABLE",
        -3 => "CL_COMPILER_NOT_AVAILABLE",
        -4 => "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        -5 => "CL_OUT_OF_RESOURCES",
        -6 => "CL_OUT_OF_HOST_MEMORY",
        -7 => "CL_PROFILING_INFO_NOT_AVAILABLE",
        -8 => "CL_MEM_COPY_OVERLAP",
        -9 => "CL_IMAGE_FORMAT_MISMATCH",
        -10 => "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        -11 => "CL_BUILD_PROGRAM_FAILURE",
        -12 => "CL_MAP_FAILURE",
        -13 => "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        -14 => "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        -15 => "CL_COMPILE_PROGRAM_FAILURE",
        -16 => "CL_LINKER_NOT_AVAILABLE",
        -17 => "CL_LINK_PROGRAM_FAILURE",
        -18 => "CL_DEVICE_PARTITION_FAILED",
        -19 => "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        -30 => "CL_INVALID_VALUE",
        -31 => "CL_INVALID_DEVICE_TYPE",
        -32 => "CL_INVALID_PLATFORM",
        -33 => "CL_INVALID_DEVICE",
        -34 => "CL_INVALID_CONTEXT",
        -35 => "CL_INVALID_QUEUE_PROPERTIES",
        -36 => "CL_INVALID_COMMAND_QUEUE",
        -37 => "CL_INVALID_HOST_PTR",
        -38 => "CL_INVALID_MEM_OBJECT",
        -39 => "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        -40 => "CL_INVALID_IMAGE_SIZE",
        -41 => "CL_INVALID_SAMPLER",
        -42 => "CL_INVALID_BINARY",
        -43 => "CL_INVALID_BUILD_OPTIONS",
        -44 => "CL_INVALID_PROGRAM",
        -45 => "CL_INVALID_PROGRAM_EXECUTABLE",
        -46 => "CL_INVALID_KERNEL_NAME",
        -47 => "CL_INVALID_KERNEL_DEFINITION",
        -48 => "CL_INVALID_KERNEL",
        -49 => "CL_INVALID_ARG_INDEX",
        -50 => "CL_INVALID_ARG_VALUE",
        -51 => "CL_INVALID_ARG_SIZE",
        -52 => "CL_INVALID_KERNEL_ARGS",
        -53 => "CL_INVALID_WORK_DIMENSION",
        -54 => "CL_INVALID_WORK_GROUP_SIZE",
        -55 => "CL_INVALID_WORK_ITEM_SIZE",
        -56 => "CL_INVALID_GLOBAL_OFFSET",
        -57 => "CL_INVALID_EVENT_WAIT_LIST",
        -58 => "CL_INVALID_EVENT",
        -59 => "CL_INVALID_OPERATION",
        -60 => "CL_INVALID_GL_OBJECT",
        -61 => "CL_INVALID_BUFFER_SIZE",
        -62 => "CL_INVALID_MIP_LEVEL",
        -63 => "CL_INVALID_GLOBAL_WORK_SIZE",
        -64 => "CL_INVALID_PROPERTY",
        -65 => "CL_INVALID_IMAGE_DESCRIPTOR",
        -66 => "CL_INVALID_COMPILER_OPTIONS",
        -67 => "CL_INVALID_LINKER_OPTIONS",
        -68 => "CL_INVALID_DEVICE_PARTITION_COUNT",
        -69 => "CL_INVALID_PIPE_SIZE",
        -70 => "CL_INVALID_DEVICE_QUEUE",
        -71 => "CL_INVALID_SPEC_ID",
        -72 => "CL_MAX_SIZE_RESTRICTION_EXCEEDED",
        -1001 => "CL_PLATFORM_NOT_FOUND_KHR",
        _ => "unknown status",
    };
}

/// <summary>
/// No usable OpenCL runtime: the loader (libOpenCL.so.1) or every platform (ICD) is missing, or no device matches the
/// selection. The message says what to install or which devices exist.
/// </summary>
public sealed class OpenClUnavailableException : InvalidOperationException
{
    /// <summary>Creates the exception with a message that names the remedy.</summary>
    public OpenClUnavailableException(string message) : base(message) { }
}
