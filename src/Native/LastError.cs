using System.Runtime.InteropServices;
using System.Text;

namespace Kernels.Native;

/// <summary>
/// The per-thread reason for the last failure, as a NUL-terminated UTF-8 string owned by the library. Every export resets
/// it on entry, so after a successful call <c>kn_last_error()</c> is the empty string. The buffer is reused (grown when
/// needed) per thread; a thread's buffer is not freed when the thread exits (at most one small allocation per thread).
/// </summary>
internal static unsafe class LastError
{
    [ThreadStatic] private static byte* t_buffer;
    [ThreadStatic] private static int t_capacity;

    private static readonly byte* Empty = (byte*)NativeMemory.AllocZeroed(1);

    /// <summary>The current thread's message; never null.</summary>
    public static byte* Current => t_buffer is null ? Empty : t_buffer;

    public static void Clear()
    {
        if (t_buffer is not null) t_buffer[0] = 0;
    }

    public static void Set(string message)
    {
        int length = Encoding.UTF8.GetByteCount(message);
        if (length + 1 > t_capacity)
        {
            int capacity = Math.Max(256, length + 1);
            byte* grown = (byte*)NativeMemory.Realloc(t_buffer, (nuint)capacity);
            if (grown is null) return; // out of memory: keep the old (cleared) buffer rather than fail the failure path
            t_buffer = grown;
            t_capacity = capacity;
        }
        fixed (char* chars = message)
            Encoding.UTF8.GetBytes(chars, message.Length, t_buffer, t_capacity - 1);
        t_buffer[length] = 0;
    }
}
