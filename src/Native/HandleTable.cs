namespace Kernels.Native;

/// <summary>
/// Opaque handles for the C ABI: a token packing (generation, slot, tag) rather than a raw pointer or GCHandle, so a freed,
/// stale or garbage handle is recognised and answered with KN_ERROR_INVALID_HANDLE instead of being dereferenced
/// (GCHandle.FromIntPtr on a freed handle is undefined behaviour). The table keeps the sets alive, and a call takes a
/// counted reference (<see cref="Acquire"/>, under the table's lock), so a set freed by one thread while another is
/// evaluating with it stays valid, backend included, for that evaluation: the last reference released disposes it.
/// <para>Token layout (64-bit): bits 0–7 the tag 0x4B, bits 8–31 the slot, bits 32–63 the slot's generation (never 0).
/// Freeing a handle bumps its slot's generation, so every copy of the old token is rejected even after the slot is reused.</para>
/// </summary>
internal static class HandleTable
{
    private const ulong Tag = 0x4B;
    private const int MaxSlots = 1 << 24;

    private static readonly Lock Gate = new();
    private static Entry[] s_entries = new Entry[16];
    private static readonly Stack<int> FreeSlots = new();
    private static int s_used;

    private struct Entry
    {
        public NativeSet? Value;
        public uint Generation;
    }

    /// <summary>Stores <paramref name="value"/> and returns its token.</summary>
    public static nint Add(NativeSet value)
    {
        lock (Gate)
        {
            int slot;
            if (FreeSlots.Count > 0) slot = FreeSlots.Pop();
            else
            {
                if (s_used == MaxSlots)
                    throw new NativeException(Status.OutOfResources, $"More than {MaxSlots} training sets are alive at once; free some with kn_training_set_free.");
                if (s_used == s_entries.Length) Array.Resize(ref s_entries, s_entries.Length * 2);
                slot = s_used++;
            }
            ref var entry = ref s_entries[slot];
            if (entry.Generation == 0) entry.Generation = 1;
            entry.Value = value;
            return (nint)((ulong)entry.Generation << 32 | (ulong)slot << 8 | Tag);
        }
    }

    /// <summary>
    /// The set behind <paramref name="token"/> with a reference taken for the caller, who must dispose the lease when the
    /// call ends; throws KN_ERROR_INVALID_HANDLE when the token is null, freed or not a token.
    /// </summary>
    public static Lease Acquire(nint token)
    {
        lock (Gate)
        {
            var set = s_entries[Slot(token)].Value!;
            set.AddReference();
            return new Lease(set);
        }
    }

    /// <summary>
    /// Releases <paramref name="token"/> and the table's reference to its set (the set's backend is disposed now, or when the
    /// last call still using it returns); throws KN_ERROR_INVALID_HANDLE when it is already freed or not a token.
    /// </summary>
    public static void Remove(nint token)
    {
        NativeSet set;
        lock (Gate)
        {
            int slot = Slot(token);
            ref var entry = ref s_entries[slot];
            set = entry.Value!;
            entry.Value = null;
            entry.Generation = entry.Generation == uint.MaxValue ? 1 : entry.Generation + 1;
            FreeSlots.Push(slot);
        }
        // Outside the lock: releasing an OpenCL context may take a while and must not stall other threads' lookups.
        set.Release();
    }

    /// <summary>Number of live handles (for tests).</summary>
    public static int Count
    {
        get
        {
            lock (Gate) return s_used - FreeSlots.Count;
        }
    }

    private static int Slot(nint token)
    {
        ulong t = (ulong)token;
        if (t == 0)
            throw new NativeException(Status.InvalidHandle, "set is NULL; create a training set with kn_training_set_create_f32/_f64 first.");
        int slot = (int)(t >> 8 & 0xFFFFFF);
        uint generation = (uint)(t >> 32);
        if ((t & 0xFF) != Tag || slot >= s_used || generation == 0)
            throw new NativeException(Status.InvalidHandle,
                $"set = 0x{t:X} is not a handle returned by kn_training_set_create_f32/_f64 (corrupted or uninitialised pointer?).");
        if (s_entries[slot].Generation != generation || s_entries[slot].Value is null)
            throw new NativeException(Status.InvalidHandle,
                $"set = 0x{t:X} was already freed by kn_training_set_free; create a new training set.");
        return slot;
    }
}

/// <summary>A counted reference to a set for the length of one call (<c>using var lease = HandleTable.Acquire(set)</c>).</summary>
internal readonly struct Lease(NativeSet set) : IDisposable
{
    public NativeSet Set { get; } = set;

    public void Dispose() => Set?.Release();
}
