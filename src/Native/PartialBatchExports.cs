using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Kernels.Numerics;

namespace Kernels.Native;

/// <summary>
/// kn_partial_batch_header / kn_partial_batch_check: the 32-byte header that puts a batch of kn_partial_* records on the
/// wire (a .kst file, an MPI message) in <see cref="PartialStateBatch"/>'s layout, so batches written by C, the managed API
/// and the CLI read each other, and a reader refuses another layout version, D, M or precision before merging.
/// </summary>
public static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "kn_partial_batch_header")]
    internal static int PartialBatchHeader(void* header, long m, long d, int precisionBits)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (header == null) throw NullArgument("header", "pass KN_PARTIAL_BATCH_HEADER_BYTES bytes to write the header into");
            int rows = AtLeastOne(m, "m", "the number of queries M"), dimension = AtLeastOne(d, "d", "the dimension D");
            BatchBytes(rows, dimension);
            RequirePrecision(precisionBits);
            PartialStateBatch.Header(rows, dimension, precisionBits, StateOutput.Unspecified).CopyTo(new Span<byte>(header, PartialStateBatch.HeaderBytes));
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "kn_partial_batch_check")]
    internal static int PartialBatchCheck(void* header, long m, long d, int precisionBits)
    {
        if (ForkGuard.Forked) return ForkGuard.Refuse();
        LastError.Clear();
        try
        {
            if (header == null) throw NullArgument("header", "pass the KN_PARTIAL_BATCH_HEADER_BYTES bytes read from the batch");
            RequirePrecision(precisionBits);
            var bytes = new ReadOnlySpan<byte>(header, PartialStateBatch.HeaderBytes);
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(bytes), version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]);
            long theirD = BinaryPrimitives.ReadInt64LittleEndian(bytes[8..]), theirM = BinaryPrimitives.ReadInt64LittleEndian(bytes[16..]);
            int theirPrecision = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[24..]);
            if (magic != PartialStateBatch.Magic)
                throw new NativeException(Status.InvalidValue, $"header is not a partial-state batch (its first word is 0x{magic:X8}, not \"KNST\"); write it with kn_partial_batch_header.");
            if (version != PartialStateBatch.LayoutVersion)
                throw new NativeException(Status.InvalidValue,
                    $"header has partial-state layout version {version} but this library reads version {PartialStateBatch.LayoutVersion}; evaluate the shards again with one version of the library.");
            if (theirD != d)
                throw new NativeException(Status.InvalidValue, $"the batch has D = {theirD} but d = {d}; merge states of one dimension only.");
            if (theirM != m)
                throw new NativeException(Status.InvalidValue, $"the batch has M = {theirM} queries but m = {m}; merge states of the same queries only.");
            if (theirPrecision != precisionBits)
                throw new NativeException(Status.InvalidValue,
                    $"the batch was evaluated in {theirPrecision}-bit precision but precision_bits = {precisionBits}; evaluate every shard in one precision.");
            return 0;
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    private static void RequirePrecision(int bits)
    {
        if (bits is not (32 or 64))
            throw new NativeException(Status.InvalidValue, $"precision_bits = {bits}; pass 32 (shards evaluated with _f32) or 64 (_f64).");
    }
}
