using System.Runtime.InteropServices;

namespace Kernels.Native;

/// <summary>
/// Refuses every call in a process forked after this library's runtime started (KN_ERROR_FORKED): the .NET runtime does
/// not survive fork() (the child keeps only the forking thread, so the thread pool, the finalizer and GC suspension wait
/// forever on threads that are gone). The C dispatcher (native/src/dispatch.c) refuses first, without entering the
/// variant; this guard covers a variant linked directly. It runs first in every export, before anything that could
/// allocate, take a lock or queue work: a libc getpid (bound at link time, no GC transition) and a constant message.
/// </summary>
internal static partial class ForkGuard
{
    /// <summary>The message, also the dispatcher's (keep the two alike).</summary>
    public const string Message =
        "this process was forked from the one that loaded libkernels; the .NET runtime inside libkernels does not survive " +
        "fork(), so no kn_ function can run in this child: fork before the parent's first kn_ call, or start workers that " +
        "load libkernels themselves (fork + exec; Python: multiprocessing.set_start_method('spawn') or 'forkserver').";

    /// <summary>
    /// The pid of the process that made the first call (and so started the runtime). Environment.ProcessId is cached by
    /// .NET and would not see a fork, so libc's getpid is asked each time.
    /// </summary>
    private static readonly int Owner = GetPid();

    /// <summary>True in a process forked from the one whose runtime this is.</summary>
    public static bool Forked => GetPid() != Owner;

    /// <summary>Records the reason and returns KN_ERROR_FORKED; allocates nothing managed.</summary>
    public static int Refuse()
    {
        LastError.Set(Message);
        return (int)Status.Forked;
    }

    [LibraryImport("libc", EntryPoint = "getpid")]
    [SuppressGCTransition]
    private static partial int GetPid();
}
