using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Kernels.Numerics.Io;

/// <summary>
/// A dense array read from a NumPy <c>.npy</c> file: its element type, its shape and its values in C (row-major) order.
/// Exactly one of <see cref="Single"/> and <see cref="Double"/> is non-null, matching <see cref="ElementType"/>.
/// </summary>
public sealed class NpyArray
{
    /// <summary>Wraps float32 values (no copy) with the given shape; the product of <paramref name="shape"/> must equal the number of values.</summary>
    /// <param name="data">Values in C (row-major) order; the array is kept, not copied.</param>
    /// <param name="shape">Dimensions, outermost first; empty for a 0-d (scalar) array.</param>
    /// <exception cref="ArgumentException">A dimension is negative or the shape does not match the number of values.</exception>
    public NpyArray(float[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        Npy.CheckShape(data.Length, shape);
        ElementType = typeof(float);
        Shape = shape;
        Single = data;
    }

    /// <summary>Wraps float64 values (no copy) with the given shape; the product of <paramref name="shape"/> must equal the number of values.</summary>
    /// <param name="data">Values in C (row-major) order; the array is kept, not copied.</param>
    /// <param name="shape">Dimensions, outermost first; empty for a 0-d (scalar) array.</param>
    /// <exception cref="ArgumentException">A dimension is negative or the shape does not match the number of values.</exception>
    public NpyArray(double[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        Npy.CheckShape(data.Length, shape);
        ElementType = typeof(double);
        Shape = shape;
        Double = data;
    }

    /// <summary>The element type: <c>typeof(float)</c> for <c>'&lt;f4'</c> files, <c>typeof(double)</c> for <c>'&lt;f8'</c> files.</summary>
    public Type ElementType { get; }

    /// <summary>The dimensions, outermost first: empty for a 0-d array, one entry for a vector, two (rows, columns) for a matrix.</summary>
    public int[] Shape { get; }

    /// <summary>The values when <see cref="ElementType"/> is <c>float</c>, in C (row-major) order; otherwise null.</summary>
    public float[]? Single { get; }

    /// <summary>The values when <see cref="ElementType"/> is <c>double</c>, in C (row-major) order; otherwise null.</summary>
    public double[]? Double { get; }

    /// <summary>The number of values (the product of <see cref="Shape"/>; 1 for a 0-d array).</summary>
    public int Length => Single?.Length ?? Double!.Length;

    /// <summary>Where the array came from (a path or a stream's name), used in error messages; null when built in memory.</summary>
    internal string? SourceName { get; init; }

    /// <summary>
    /// The (rows, columns) of a 2-D array, for use as an N×D row-major matrix.
    /// </summary>
    /// <param name="parameterName">The name reported in the exception when the array is not 2-D.</param>
    /// <returns>(Shape[0], Shape[1]).</returns>
    /// <exception cref="ArgumentException">The array is not 2-D; the message names <paramref name="parameterName"/>, the shape and how to reshape it.</exception>
    public (int Rows, int Columns) AsMatrix(string parameterName)
    {
        if (Shape.Length == 2)
            return (Shape[0], Shape[1]);
        string source = SourceName is null ? "" : $" (from {SourceName})";
        string remedy = Shape.Length switch
        {
            0 => "a 0-d array holds a single number; save a matrix instead, e.g. np.save(path, np.atleast_2d(arr))",
            1 => "reshape it in NumPy before saving: arr.reshape(-1, 1) for N points of dimension 1, or arr.reshape(1, -1) for one point",
            _ => "reshape it in NumPy before saving, e.g. arr.reshape(arr.shape[0], -1) to flatten each row",
        };
        throw new ArgumentException(
            $"{parameterName}{source} has shape {Npy.FormatShape(Shape)} (rank {Shape.Length}), but an N×D matrix (rank 2) is required; {remedy}.",
            parameterName);
    }

    /// <summary>The values as float32: the <see cref="Single"/> array itself (no copy) when already float32, otherwise a narrowing copy of <see cref="Double"/> (values beyond the float range become infinities).</summary>
    /// <returns>The values in C (row-major) order.</returns>
    public float[] ToSingle()
    {
        if (Single is not null)
            return Single;
        var source = Double!;
        var result = new float[source.Length];
        for (int i = 0; i < source.Length; i++)
            result[i] = (float)source[i];
        return result;
    }

    /// <summary>The values as float64: the <see cref="Double"/> array itself (no copy) when already float64, otherwise an exact widening copy of <see cref="Single"/>.</summary>
    /// <returns>The values in C (row-major) order.</returns>
    public double[] ToDouble()
    {
        if (Double is not null)
            return Double;
        var source = Single!;
        var result = new double[source.Length];
        for (int i = 0; i < source.Length; i++)
            result[i] = source[i];
        return result;
    }
}

/// <summary>
/// A malformed or unsupported <c>.npy</c> input. The message starts with the source (file path or stream name),
/// says exactly what is wrong, what is supported and, where possible, how to convert the data in NumPy.
/// </summary>
public sealed class NpyFormatException : FormatException
{
    /// <summary>Creates the exception for <paramref name="sourceName"/> with the given reason.</summary>
    /// <param name="sourceName">The file path or stream name the bad input came from.</param>
    /// <param name="reason">What is wrong and what is supported.</param>
    public NpyFormatException(string sourceName, string reason)
        : base($"{sourceName}: {reason}")
    {
        SourceName = sourceName;
        Reason = reason;
    }

    /// <summary>Creates the exception for <paramref name="sourceName"/> with the given reason and the underlying cause.</summary>
    /// <param name="sourceName">The file path or stream name the bad input came from.</param>
    /// <param name="reason">What is wrong and what is supported.</param>
    /// <param name="innerException">The lower-level error that revealed the problem.</param>
    public NpyFormatException(string sourceName, string reason, Exception innerException)
        : base($"{sourceName}: {reason}", innerException)
    {
        SourceName = sourceName;
        Reason = reason;
    }

    /// <summary>The file path or stream name the bad input came from.</summary>
    public string SourceName { get; }

    /// <summary>The problem, without the source-name prefix.</summary>
    public string Reason { get; }
}

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files holding little-endian float32 (<c>'&lt;f4'</c>) or float64 (<c>'&lt;f8'</c>) arrays
/// in C order.
/// </summary>
/// <remarks>
/// <para>Reading accepts format versions 1.0, 2.0 and 3.0; descr <c>'&lt;f4'</c>, <c>'&lt;f8'</c>, <c>'=f4'</c> and <c>'=f8'</c>
/// (native order is taken as little-endian, as on every platform NumPy files are normally made on);
/// <c>fortran_order: True</c> only where the layout is the same as C order (at most one dimension differs from 1, or no elements).
/// Everything else (big-endian, integer, boolean, complex, string, object or structured dtypes; column-major matrices;
/// headers over 1 MiB; more than 64 dimensions; more elements than a .NET array holds) is rejected with an <see cref="NpyFormatException"/>,
/// as is every malformed or truncated input. Sizes are checked before anything is allocated: on a seekable stream the data
/// must fit in the bytes that remain; on a non-seekable stream buffers grow only as data actually arrives.</para>
/// <para>Bytes after the array data are ignored and left unread, as NumPy does, so several arrays saved back to back into one
/// stream (repeated <c>np.save(f, a)</c>) can be read by repeated calls to <see cref="Read(Stream, string)"/>.</para>
/// <para>Writing produces exactly what NumPy 1.24 and later write for a C-contiguous array: version 1.0, keys in sorted order,
/// spare space for growing the first axis, and padding so the data starts at a multiple of 64 bytes.</para>
/// </remarks>
public static class Npy
{
    /// <summary>The largest header accepted, in bytes.</summary>
    internal const int MaxHeaderBytes = 1 << 20;

    /// <summary>The most dimensions accepted (NumPy 2's limit).</summary>
    internal const int MaxRank = 64;

    private const int PreambleV1 = 10;   // magic (6) + version (2) + uint16 length
    private const int ArrayAlign = 64;
    private const int GrowthAxisMaxDigits = 21;
    private const int InitialStreamingBytes = 64 * 1024;
    private const int MaxChunkBytes = 1 << 30;

    private static ReadOnlySpan<byte> MagicBytes => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    // ---------------------------------------------------------------- reading

    /// <summary>Reads a <c>.npy</c> file.</summary>
    /// <param name="path">The file to read; its path is used as the source name in error messages.</param>
    /// <returns>The array, with float32 or float64 values as stored.</returns>
    /// <exception cref="NpyFormatException">The file is not a supported, well-formed <c>.npy</c> file.</exception>
    /// <exception cref="IOException">The file cannot be opened or read.</exception>
    public static NpyArray Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        return Read(stream, path);
    }

    /// <summary>
    /// Reads one <c>.npy</c> array from the current position of <paramref name="stream"/>, leaving the stream just after the
    /// array data (anything that follows is not read).
    /// </summary>
    /// <param name="stream">A readable stream, seekable or not.</param>
    /// <param name="sourceName">The name used in error messages.</param>
    /// <returns>The array, with float32 or float64 values as stored.</returns>
    /// <exception cref="NpyFormatException">The input is not a supported, well-formed <c>.npy</c> array.</exception>
    /// <exception cref="IOException">The stream fails.</exception>
    public static NpyArray Read(Stream stream, string sourceName = "stream")
    {
        ArgumentNullException.ThrowIfNull(stream);
        sourceName ??= "stream";
        if (!stream.CanRead)
            throw new ArgumentException("The stream is not readable; pass a stream opened for reading.", nameof(stream));
        return ReadData(stream, sourceName, ReadHeader(stream, sourceName));
    }

    /// <summary>Reads the preamble and header, leaving the stream at the first byte of data.</summary>
    private static Header ReadHeader(Stream stream, string sourceName)
    {

        // Preamble: magic, version, header length.
        Span<byte> preamble = stackalloc byte[12]; // magic (6) + version (2) + header length (2 or 4)
        int got = ReadFully(stream, preamble[..8]);
        if (got == 0)
            throw Bad(sourceName, "the file is empty (0 bytes); a .npy file starts with the magic bytes \\x93NUMPY.");
        if (got < MagicBytes.Length || !preamble[..MagicBytes.Length].SequenceEqual(MagicBytes))
        {
            if (got >= 4 && preamble[0] == (byte)'P' && preamble[1] == (byte)'K' && preamble[2] == 3 && preamble[3] == 4)
                throw Bad(sourceName, "this is a zip archive (probably an .npz file written by np.savez), not a .npy file; save each array with np.save, or extract the member .npy files from the archive.");
            if (got >= MagicBytes.Length || !MagicBytes.StartsWith(preamble[..got]))
                throw Bad(sourceName, $"not a .npy file: it does not start with the magic bytes \\x93NUMPY (found {Hex(preamble[..Math.Min(got, MagicBytes.Length)])}).");
        }
        if (got < 8)
            throw Bad(sourceName, $"the file is truncated: it has only {got} bytes, but a .npy preamble needs at least {PreambleV1}.");

        byte major = preamble[6], minor = preamble[7];
        int lengthBytes = (major, minor) switch
        {
            (1, 0) => 2,
            (2, 0) or (3, 0) => 4,
            _ => throw Bad(sourceName, $"unsupported .npy format version {major}.{minor}; versions 1.0, 2.0 and 3.0 are supported."),
        };
        var lengthSpan = preamble.Slice(8, lengthBytes);
        got = ReadFully(stream, lengthSpan);
        if (got < lengthBytes)
            throw Bad(sourceName, $"the file is truncated inside the preamble: the {lengthBytes}-byte header length field of a version {major}.{minor} file is incomplete.");
        long headerLength = lengthBytes == 2
            ? BinaryPrimitives.ReadUInt16LittleEndian(lengthSpan)
            : BinaryPrimitives.ReadUInt32LittleEndian(lengthSpan);

        if (headerLength > MaxHeaderBytes)
            throw Bad(sourceName, $"the header length field says {headerLength} bytes, more than the {MaxHeaderBytes} accepted; the file is corrupt (NumPy headers are normally under 1 KiB).");
        long? remaining = Remaining(stream);
        if (remaining is long r && headerLength > r)
            throw Bad(sourceName, $"the header length field says {headerLength} bytes, but only {r} bytes follow; the file is truncated or its header length is corrupt.");

        byte[] headerBytes = ReadGrowing<byte>(stream, (int)headerLength, remaining is not null, out int headerGot);
        if (headerGot < headerLength)
            throw Bad(sourceName, $"the header length field says {headerLength} bytes, but only {headerGot} bytes follow; the file is truncated or its header length is corrupt.");

        string headerText;
        if (major == 3)
        {
            try
            {
                headerText = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes);
            }
            catch (DecoderFallbackException e)
            {
                throw new NpyFormatException(sourceName, "the header is not valid UTF-8, as a version 3.0 header must be; the file is corrupt.", e);
            }
        }
        else
        {
            headerText = Encoding.Latin1.GetString(headerBytes);
        }

        return Header.Parse(headerText, sourceName, allowLongSuffix: major < 3);
    }

    /// <summary>
    /// Reads rows [<paramref name="firstRow"/>, <paramref name="firstRow"/> + <paramref name="rowCount"/>) of a 2-D
    /// <c>.npy</c> matrix by seeking past the rows before them: the rest of the file is never read, so each process of a
    /// sharded job holds its own rows only. Returns a <paramref name="rowCount"/>×columns array (float32 or float64 as
    /// stored) and the file's whole row count in <paramref name="totalRows"/>.
    /// </summary>
    /// <param name="path">A seekable <c>.npy</c> file holding a 2-D array in C order.</param>
    /// <param name="firstRow">The first row to read, 0 ≤ firstRow ≤ rows.</param>
    /// <param name="rowCount">How many rows to read, firstRow + rowCount ≤ rows (0 gives an empty array).</param>
    /// <param name="totalRows">The number of rows in the file.</param>
    /// <exception cref="NpyFormatException">The file is not a well-formed 2-D <c>.npy</c> matrix or is truncated.</exception>
    public static NpyArray ReadRows(string path, long firstRow, int rowCount, out int totalRows)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        var header = ReadHeader(stream, path);
        if (header.Shape.Length != 2)
            throw Bad(path, $"it holds an array of shape {FormatShape(header.Shape)}, not a matrix; save the rows as a 2-D (N, D) array.");
        totalRows = header.Shape[0];
        int columns = header.Shape[1];
        if (firstRow < 0 || rowCount < 0 || firstRow + rowCount > totalRows)
            throw new ArgumentOutOfRangeException(nameof(firstRow),
                $"rows [{firstRow}, {firstRow + rowCount}) are not inside the file's {totalRows} rows; ask for rows the file holds.");
        int itemSize = header.ElementType == typeof(float) ? sizeof(float) : sizeof(double);
        long dataStart = stream.Position, dataBytes = (long)header.Count * itemSize;
        if (stream.Length - dataStart < dataBytes)
            throw Bad(path, $"the file is truncated: shape {FormatShape(header.Shape)} of '{header.Descr}' needs {dataBytes} bytes of data, but only {stream.Length - dataStart} bytes follow the header.");
        stream.Seek(dataStart + firstRow * columns * itemSize, SeekOrigin.Begin);
        int count = checked(rowCount * columns);
        if (header.ElementType == typeof(float))
        {
            var data = ReadGrowing<float>(stream, count, sizeKnown: true, out _);
            FromLittleEndian<float, uint>(data);
            return new NpyArray(data, rowCount, columns) { SourceName = path };
        }
        var doubles = ReadGrowing<double>(stream, count, sizeKnown: true, out _);
        FromLittleEndian<double, ulong>(doubles);
        return new NpyArray(doubles, rowCount, columns) { SourceName = path };
    }

    /// <summary>Reads the array data that follows <paramref name="header"/>.</summary>
    private static NpyArray ReadData(Stream stream, string sourceName, Header header)
    {
        int count = header.Count;
        int itemSize = header.ElementType == typeof(float) ? sizeof(float) : sizeof(double);
        long dataBytes = (long)count * itemSize;
        long? remaining = Remaining(stream);
        if (remaining is long rd && dataBytes > rd)
            throw Bad(sourceName, $"the file is truncated: shape {FormatShape(header.Shape)} of '{header.Descr}' needs {dataBytes} bytes of data, but only {rd} bytes follow the header.");

        bool seekable = remaining is not null;
        if (header.ElementType == typeof(float))
        {
            var data = ReadGrowing<float>(stream, count, seekable, out int elements);
            if (elements < count)
                throw Truncated(sourceName, header, dataBytes, (long)elements * itemSize);
            FromLittleEndian<float, uint>(data);
            return new NpyArray(data, header.Shape) { SourceName = sourceName };
        }
        else
        {
            var data = ReadGrowing<double>(stream, count, seekable, out int elements);
            if (elements < count)
                throw Truncated(sourceName, header, dataBytes, (long)elements * itemSize);
            FromLittleEndian<double, ulong>(data);
            return new NpyArray(data, header.Shape) { SourceName = sourceName };
        }
    }

    private static NpyFormatException Truncated(string sourceName, Header header, long needed, long got) =>
        Bad(sourceName, $"the file is truncated: shape {FormatShape(header.Shape)} of '{header.Descr}' needs {needed} bytes of data, but the data ends after {got} bytes.");

    private static NpyFormatException Bad(string sourceName, string reason) => new(sourceName, reason);

    /// <summary>Bytes left in a seekable stream, or null when the stream cannot tell.</summary>
    private static long? Remaining(Stream stream)
    {
        if (!stream.CanSeek)
            return null;
        long left = stream.Length - stream.Position;
        return Math.Max(0, left);
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    private static int ReadFully(Stream stream, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = stream.Read(buffer[total..]);
            if (n <= 0)
                break;
            total += n;
        }
        return total;
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> elements. When <paramref name="sizeKnown"/> (the caller checked the stream holds them)
    /// the array is allocated at once; otherwise it starts small and doubles only as data arrives, so a lying header
    /// cannot make it allocate more than about twice what the stream really holds. Returns the array (which may be
    /// longer than <paramref name="read"/> when the stream ended early).
    /// </summary>
    private static T[] ReadGrowing<T>(Stream stream, int count, bool sizeKnown, out int read) where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>();
        var buffer = sizeKnown ? new T[count] : new T[Math.Min(count, Math.Max(1, InitialStreamingBytes / size))];
        int filled = 0;
        int maxChunk = MaxChunkBytes / size;
        while (filled < count)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
            int chunk = Math.Min(buffer.Length - filled, maxChunk);
            var bytes = MemoryMarshal.AsBytes(buffer.AsSpan(filled, chunk));
            int got = ReadFully(stream, bytes);
            if (got < bytes.Length)
            {
                read = filled + got / size;
                return buffer;
            }
            filled += chunk;
        }
        read = filled;
        return buffer;
    }

    private static void FromLittleEndian<T, TBits>(T[] data)
        where T : unmanaged
        where TBits : unmanaged
    {
        if (BitConverter.IsLittleEndian)
            return;
        if (typeof(TBits) == typeof(uint))
        {
            var bits = MemoryMarshal.Cast<T, uint>(data.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
        else
        {
            var bits = MemoryMarshal.Cast<T, ulong>(data.AsSpan());
            BinaryPrimitives.ReverseEndianness(bits, bits);
        }
    }

    private static string Hex(ReadOnlySpan<byte> bytes) =>
        bytes.Length == 0 ? "nothing" : string.Join(' ', bytes.ToArray().Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));

    // ---------------------------------------------------------------- writing

    /// <summary>Writes float32 values as a <c>.npy</c> file (descr <c>'&lt;f4'</c>), atomically: a temporary file in the same directory is written and then moved over <paramref name="path"/>.</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="data">The values in C (row-major) order.</param>
    /// <param name="shape">Dimensions, outermost first (empty for a 0-d array); their product must equal <c>data.Length</c>.</param>
    /// <exception cref="ArgumentException">The shape is invalid or does not match <paramref name="data"/>.</exception>
    /// <exception cref="IOException">The file cannot be written; <paramref name="path"/> is then unchanged and no temporary file is left.</exception>
    public static void Write(string path, ReadOnlySpan<float> data, params int[] shape)
    {
        CheckShape(data.Length, shape);
        string tmp = BeginAtomic(path);
        try
        {
            using (var stream = OpenTemp(tmp))
            {
                WriteCore(stream, data, shape, "<f4");
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>Writes float64 values as a <c>.npy</c> file (descr <c>'&lt;f8'</c>), atomically: a temporary file in the same directory is written and then moved over <paramref name="path"/>.</summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="data">The values in C (row-major) order.</param>
    /// <param name="shape">Dimensions, outermost first (empty for a 0-d array); their product must equal <c>data.Length</c>.</param>
    /// <exception cref="ArgumentException">The shape is invalid or does not match <paramref name="data"/>.</exception>
    /// <exception cref="IOException">The file cannot be written; <paramref name="path"/> is then unchanged and no temporary file is left.</exception>
    public static void Write(string path, ReadOnlySpan<double> data, params int[] shape)
    {
        CheckShape(data.Length, shape);
        string tmp = BeginAtomic(path);
        try
        {
            using (var stream = OpenTemp(tmp))
            {
                WriteCore(stream, data, shape, "<f8");
                stream.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>Writes float32 values as one <c>.npy</c> array (descr <c>'&lt;f4'</c>) at the current position of <paramref name="stream"/>.</summary>
    /// <param name="stream">A writable stream; it is not flushed or closed.</param>
    /// <param name="data">The values in C (row-major) order.</param>
    /// <param name="shape">Dimensions, outermost first (empty for a 0-d array); their product must equal <c>data.Length</c>.</param>
    /// <exception cref="ArgumentException">The shape is invalid or does not match <paramref name="data"/>.</exception>
    public static void Write(Stream stream, ReadOnlySpan<float> data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckShape(data.Length, shape);
        WriteCore(stream, data, shape, "<f4");
    }

    /// <summary>Writes float64 values as one <c>.npy</c> array (descr <c>'&lt;f8'</c>) at the current position of <paramref name="stream"/>.</summary>
    /// <param name="stream">A writable stream; it is not flushed or closed.</param>
    /// <param name="data">The values in C (row-major) order.</param>
    /// <param name="shape">Dimensions, outermost first (empty for a 0-d array); their product must equal <c>data.Length</c>.</param>
    /// <exception cref="ArgumentException">The shape is invalid or does not match <paramref name="data"/>.</exception>
    public static void Write(Stream stream, ReadOnlySpan<double> data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(stream);
        CheckShape(data.Length, shape);
        WriteCore(stream, data, shape, "<f8");
    }

    /// <summary>Checks that <paramref name="shape"/> is a valid shape for <paramref name="length"/> values.</summary>
    internal static void CheckShape(int length, int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Length > MaxRank)
            throw new ArgumentException($"shape has {shape.Length} dimensions; at most {MaxRank} are supported (NumPy's limit).", nameof(shape));
        long product = 1;
        bool zero = false;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
                throw new ArgumentException($"shape {FormatShape(shape)} has a negative dimension {shape[i]} at index {i}; every dimension must be ≥ 0.", nameof(shape));
            if (shape[i] == 0)
                zero = true;
            else if (!zero && product <= int.MaxValue)
                product = Math.Min(product * shape[i], (long)int.MaxValue + 1);
        }
        if (zero)
            product = 0;
        if (product != length)
            throw new ArgumentException(
                $"shape {FormatShape(shape)} describes {(product > int.MaxValue ? "more than " + int.MaxValue : product.ToString(CultureInfo.InvariantCulture))} values but data has {length}; pass a shape whose product is {length}, e.g. ({length},) for a vector.",
                nameof(shape));
    }

    /// <summary>The header bytes NumPy writes for a C-ordered array of this descr and shape (version 1.0, data 64-byte aligned).</summary>
    internal static byte[] BuildHeader(string descr, int[] shape)
    {
        var text = new StringBuilder();
        text.Append("{'descr': '").Append(descr).Append("', 'fortran_order': False, 'shape': ").Append(FormatShape(shape)).Append(", }");
        if (shape.Length > 0)
            text.Append(' ', GrowthAxisMaxDigits - shape[0].ToString(CultureInfo.InvariantCulture).Length);
        int hlen = text.Length + 1;                                   // + '\n'
        int padlen = ArrayAlign - ((PreambleV1 + hlen) % ArrayAlign); // NumPy pads 1..64 spaces, never 0
        text.Append(' ', padlen).Append('\n');
        int headerLength = text.Length;                               // ≤ a few KiB for ≤ 64 dimensions: fits version 1.0
        var bytes = new byte[PreambleV1 + headerLength];
        MagicBytes.CopyTo(bytes);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8, 2), checked((ushort)headerLength));
        Encoding.ASCII.GetBytes(text.ToString(), bytes.AsSpan(PreambleV1));
        return bytes;
    }

    /// <summary>A shape spelled as Python writes a tuple: <c>()</c>, <c>(5,)</c>, <c>(3, 2)</c>.</summary>
    internal static string FormatShape(IReadOnlyList<int> shape) => shape.Count switch
    {
        0 => "()",
        1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
        _ => "(" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
    };

    private static void WriteCore<T>(Stream stream, ReadOnlySpan<T> data, int[] shape, string descr) where T : unmanaged
    {
        if (!stream.CanWrite)
            throw new ArgumentException("The stream is not writable; pass a stream opened for writing.", nameof(stream));
        stream.Write(BuildHeader(descr, shape));
        int size = Unsafe.SizeOf<T>();
        int maxChunk = MaxChunkBytes / size;
        if (BitConverter.IsLittleEndian)
        {
            for (int start = 0; start < data.Length; start += maxChunk)
                stream.Write(MemoryMarshal.AsBytes(data.Slice(start, Math.Min(maxChunk, data.Length - start))));
            return;
        }
        // Big-endian host: swap into a small buffer chunk by chunk.
        var scratch = new byte[64 * 1024];
        int perChunk = scratch.Length / size;
        for (int start = 0; start < data.Length; start += perChunk)
        {
            int n = Math.Min(perChunk, data.Length - start);
            var src = MemoryMarshal.AsBytes(data.Slice(start, n));
            var dst = scratch.AsSpan(0, src.Length);
            src.CopyTo(dst);
            if (size == 4)
                BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, uint>(dst), MemoryMarshal.Cast<byte, uint>(dst));
            else
                BinaryPrimitives.ReverseEndianness(MemoryMarshal.Cast<byte, ulong>(dst), MemoryMarshal.Cast<byte, ulong>(dst));
            stream.Write(dst);
        }
    }

    private static string BeginAtomic(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new ArgumentException($"{path} is a directory; pass a file path such as {Path.Combine(path, "data.npy")}.", nameof(path));
        // In the target's directory (so the final move is an atomic rename) under a short name of its own: appending to the
        // target's name pushed a name of 239-255 bytes past the file system's 255-byte limit.
        string directory = Path.GetDirectoryName(full) ?? throw new ArgumentException($"{path} names no file; pass a file path such as data.npy.", nameof(path));
        return Path.Combine(directory, TemporaryPrefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant() + ".tmp");
    }

    /// <summary>Temporary files of the atomic writes are <c>.kn-XXXXXXXX.tmp</c> (8 random hex digits) beside the target.</summary>
    internal const string TemporaryPrefix = ".kn-";

    private static FileStream OpenTemp(string tmp) =>
        new(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 64 * 1024);

    private static void TryDelete(string tmp)
    {
        try
        {
            File.Delete(tmp);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    // ---------------------------------------------------------------- header parsing

    /// <summary>A validated header: dtype, shape and element count.</summary>
    private sealed class Header
    {
        public required string Descr { get; init; }
        public required Type ElementType { get; init; }
        public required int[] Shape { get; init; }
        public required int Count { get; init; }

        public static Header Parse(string text, string source, bool allowLongSuffix)
        {
            var dict = new LiteralParser(text, source, allowLongSuffix).ParseHeaderDict();

            foreach (var key in dict.Keys)
            {
                if (key is not ("descr" or "fortran_order" or "shape"))
                    throw Bad(source, $"the header has an unexpected key {Quote(key)}; a .npy header has exactly the keys 'descr', 'fortran_order' and 'shape'.");
            }
            foreach (var key in new[] { "descr", "fortran_order", "shape" })
            {
                if (!dict.ContainsKey(key))
                    throw Bad(source, $"the header has no {Quote(key)} key; a .npy header has exactly the keys 'descr', 'fortran_order' and 'shape'.");
            }

            var (descr, type) = CheckDescr(dict["descr"], source);
            var shape = CheckShapeValue(dict["shape"], source, out int count);

            if (dict["fortran_order"] is not bool fortran)
                throw Bad(source, $"'fortran_order' is {Describe(dict["fortran_order"])}; it must be True or False.");
            if (fortran && count > 0 && shape.Count(d => d != 1) > 1)
                throw Bad(source, $"fortran_order is True: the {FormatShape(shape)} array is stored column-major, which is not supported; only C (row-major) order is. Save it with np.save(path, np.ascontiguousarray(arr)).");

            return new Header { Descr = descr, ElementType = type, Shape = shape, Count = count };
        }

        private static (string Descr, Type Type) CheckDescr(object? value, string source)
        {
            const string supported = "only little-endian float32 ('<f4') and float64 ('<f8') are";
            switch (value)
            {
                case string s:
                    break;
                case List<object?>:
                    throw Bad(source, $"the dtype is structured (descr is a list of fields), which is not supported; {supported}. Save a plain float array instead, e.g. np.save(path, np.lib.recfunctions.structured_to_unstructured(arr).astype(np.float32)).");
                case object?[]:
                    throw Bad(source, $"the dtype is a subarray dtype (descr is a tuple), which is not supported; {supported}. Save a plain float array instead, e.g. np.save(path, np.asarray(arr, dtype=np.float32)).");
                default:
                    throw Bad(source, $"'descr' is {Describe(value)}, not a dtype string; {supported} supported.");
            }
            string d = (string)value;
            if (d is "<f4" or "=f4")
                return (d, typeof(float));
            if (d is "<f8" or "=f8")
                return (d, typeof(double));

            char order = d.Length > 0 && d[0] is '<' or '>' or '=' or '|' ? d[0] : '\0';
            string code = order == '\0' ? d : d[1..];
            if (order == '>' && code is "f4" or "f8")
                throw Bad(source, $"dtype {Quote(d)} is big-endian, which is not supported; {supported}. Convert with arr.astype('<{code}').");
            if (code.StartsWith('O'))
                throw Bad(source, $"dtype {Quote(d)} is an object array (pickled Python objects), which cannot be read; {supported} supported. Convert with np.asarray(arr, dtype=np.float32).");
            string? kind = Kind(code);
            string what = kind is null ? "" : $" ({kind})";
            string endian = order == '>' ? " big-endian" : "";
            throw Bad(source, $"dtype {Quote(d)}{what}{endian} is not supported; {supported}. Convert with arr.astype(np.float32).");
        }

        private static string? Kind(string code)
        {
            if (code.Length == 0)
                return null;
            string bits = code[1..] is "1" or "2" or "4" or "8" or "16"
                ? (int.Parse(code[1..], CultureInfo.InvariantCulture) * 8).ToString(CultureInfo.InvariantCulture) + "-bit "
                : "";
            return code[0] switch
            {
                'i' => bits + "signed integer",
                'u' => bits + "unsigned integer",
                'b' => "boolean",
                'f' => bits + "float",
                'c' => bits + "complex",
                'S' or 'a' => "byte string",
                'U' => "unicode string",
                'V' => "raw void/structured",
                'M' => "datetime",
                'm' => "timedelta",
                _ => null,
            };
        }

        private static int[] CheckShapeValue(object? value, string source, out int count)
        {
            if (value is not object?[] items)
                throw Bad(source, $"'shape' is {Describe(value)}; it must be a tuple of non-negative integers such as (3, 2), (5,) or ().");
            if (items.Length > MaxRank)
                throw Bad(source, $"'shape' has {items.Length} dimensions; at most {MaxRank} are supported (NumPy's limit).");
            var shape = new int[items.Length];
            long product = 1;
            bool zero = false;
            for (int i = 0; i < items.Length; i++)
            {
                if (items[i] is not PyInt n)
                    throw Bad(source, $"'shape' entry {i} is {Describe(items[i])}; every entry must be a non-negative integer.");
                if (n.Negative && n.Value != 0)
                    throw Bad(source, $"'shape' entry {i} is -{n.Digits}; dimensions cannot be negative.");
                if (n.Value is not long v || v > int.MaxValue)
                    throw Bad(source, $"'shape' entry {i} is {Abbreviate(n.Digits)}, larger than the largest supported dimension ({int.MaxValue}); the header is corrupt or the array is far too large to load.");
                shape[i] = (int)v;
                if (v == 0)
                    zero = true;
                else if (product <= Array.MaxLength)
                    product = Math.Min(product * v, (long)Array.MaxLength + 1);
            }
            if (zero)
                product = 0;
            if (product > Array.MaxLength)
                throw Bad(source, $"shape {FormatShape(shape)} has more than {Array.MaxLength} elements, more than a single .NET array can hold; the header is corrupt or the array must be split before loading.");
            count = (int)product;
            return shape;
        }

        private static string Describe(object? value) => value switch
        {
            null => "None",
            bool b => b ? "True" : "False",
            string s => "the string " + Quote(s),
            PyInt n => "the integer " + (n.Negative ? "-" : "") + Abbreviate(n.Digits),
            object?[] => "a tuple",
            List<object?> => "a list",
            _ => "an unexpected value",
        };
    }

    /// <summary>A Python integer literal: its digits and, when it fits, its value.</summary>
    private sealed record PyInt(string Digits, long? Value, bool Negative);

    /// <summary>
    /// A strict parser for the subset of Python literals that a .npy header uses: a dict with string keys whose values are
    /// strings, integers, True/False/None, tuples and lists (nested at most <see cref="MaxDepth"/> deep).
    /// Tuples parse to <c>object?[]</c>, lists to <c>List&lt;object?&gt;</c>.
    /// </summary>
    private ref struct LiteralParser(string text, string source, bool allowLongSuffix)
    {
        private const int MaxDepth = 32;
        private readonly string _text = text;
        private readonly string _source = source;
        private readonly bool _allowLongSuffix = allowLongSuffix;
        private int _pos;

        public Dictionary<string, object?> ParseHeaderDict()
        {
            SkipSpace();
            if (_pos >= _text.Length)
                throw Fail("the header is empty (only whitespace); it must be a Python dict such as {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }.");
            if (_text[_pos] != '{')
                throw Fail($"the header must be a Python dict starting with '{{', but it starts with {Char(_pos)}.");
            _pos++;
            var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
            while (true)
            {
                SkipSpace();
                if (Peek() == '}')
                {
                    _pos++;
                    break;
                }
                if (Peek() is not ('\'' or '"'))
                    throw Fail($"expected a quoted key or '}}' at header offset {_pos}, found {Char(_pos)}.");
                string key = ParseString();
                SkipSpace();
                Expect(':');
                object? value = ParseValue(1);
                if (!dict.TryAdd(key, value))
                    throw Fail($"the header has the key {Quote(key)} twice.");
                SkipSpace();
                char c = Peek();
                if (c == ',')
                {
                    _pos++;
                    continue;
                }
                if (c == '}')
                {
                    _pos++;
                    break;
                }
                throw Fail($"expected ',' or '}}' after the value of {Quote(key)} at header offset {_pos}, found {Char(_pos)}.");
            }
            SkipSpace();
            if (_pos < _text.Length)
                throw Fail($"unexpected {Char(_pos)} at header offset {_pos} after the closing '}}'; only spaces and a newline may follow the dict.");
            return dict;
        }

        private object? ParseValue(int depth)
        {
            if (depth > MaxDepth)
                throw Fail($"the header nests tuples/lists more than {MaxDepth} deep; the file is corrupt.");
            SkipSpace();
            char c = Peek();
            switch (c)
            {
                case '\'' or '"':
                    return ParseString();
                case '(':
                    return ParseSequence(')', depth).ToArray();
                case '[':
                    return ParseSequence(']', depth);
                case '-' or '+':
                case >= '0' and <= '9':
                    return ParseInt();
                case >= 'A' and <= 'Z':
                case >= 'a' and <= 'z':
                case '_':
                    int start = _pos;
                    while (_pos < _text.Length && (char.IsAsciiLetterOrDigit(_text[_pos]) || _text[_pos] == '_'))
                        _pos++;
                    string word = _text[start.._pos];
                    return word switch
                    {
                        "True" => true,
                        "False" => false,
                        "None" => null,
                        _ => throw Fail($"unexpected name {Quote(word)} at header offset {start}; only strings, integers, tuples, lists, True, False and None may appear."),
                    };
                case '\0' when _pos >= _text.Length:
                    throw Fail("the header ends where a value was expected; it is truncated or corrupt.");
                default:
                    throw Fail($"unexpected {Char(_pos)} at header offset {_pos} where a value was expected.");
            }
        }

        private List<object?> ParseSequence(char close, int depth)
        {
            _pos++; // opening bracket
            var items = new List<object?>();
            while (true)
            {
                SkipSpace();
                if (Peek() == close)
                {
                    _pos++;
                    return items;
                }
                items.Add(ParseValue(depth + 1));
                SkipSpace();
                char c = Peek();
                if (c == ',')
                {
                    _pos++;
                    continue;
                }
                if (c == close)
                {
                    _pos++;
                    if (close == ')' && items.Count == 1)
                        throw Fail($"'(x)' at header offset {_pos - 1} is a parenthesised value, not a tuple; a 1-element tuple is written (x,).");
                    return items;
                }
                throw Fail($"expected ',' or '{close}' at header offset {_pos}, found {Char(_pos)}.");
            }
        }

        private PyInt ParseInt()
        {
            int start = _pos;
            bool negative = false;
            if (Peek() is '-' or '+')
            {
                negative = _text[_pos] == '-';
                _pos++;
                SkipSpace();
            }
            int digitsStart = _pos;
            while (_pos < _text.Length && char.IsAsciiDigit(_text[_pos]))
                _pos++;
            if (_pos == digitsStart)
                throw Fail($"expected digits at header offset {_pos} after the sign at offset {start}, found {Char(_pos)}.");
            string digits = _text[digitsStart.._pos];
            if (digits.Length > 1 && digits[0] == '0')
                throw Fail($"the integer {Abbreviate(digits)} at header offset {digitsStart} has a leading zero, which Python does not allow.");
            if (_pos < _text.Length && _text[_pos] is 'L' or 'l' && _allowLongSuffix)
                _pos++; // Python 2 long suffix, as NumPy tolerates in version 1.0/2.0 headers
            if (_pos < _text.Length && (char.IsAsciiLetter(_text[_pos]) || _text[_pos] is '.' or '_'))
                throw Fail($"unexpected {Char(_pos)} at header offset {_pos} after the integer {Abbreviate(digits)}; only decimal integers may appear.");
            long? value = long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : null;
            return new PyInt(digits, value, negative);
        }

        private string ParseString()
        {
            char quote = _text[_pos];
            int start = _pos;
            _pos++;
            var sb = new StringBuilder();
            while (true)
            {
                if (_pos >= _text.Length || _text[_pos] is '\n' or '\r')
                    throw Fail($"the string starting at header offset {start} is not closed.");
                char c = _text[_pos++];
                if (c == quote)
                    return sb.ToString();
                if (c == '\\')
                {
                    if (_pos >= _text.Length)
                        throw Fail($"the string starting at header offset {start} is not closed.");
                    sb.Append(_text[_pos++]);
                    continue;
                }
                sb.Append(c);
            }
        }

        private void Expect(char c)
        {
            if (Peek() != c || _pos >= _text.Length)
                throw Fail($"expected '{c}' at header offset {_pos}, found {Char(_pos)}.");
            _pos++;
        }

        private readonly char Peek() => _pos < _text.Length ? _text[_pos] : '\0';

        private void SkipSpace()
        {
            while (_pos < _text.Length && _text[_pos] is ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
                _pos++;
        }

        private readonly string Char(int pos) =>
            pos >= _text.Length ? "the end of the header" : Quote(_text[pos].ToString());

        private readonly NpyFormatException Fail(string reason) =>
            new(_source, "malformed header: " + reason + " The header must be a Python dict literal like {'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }.");
    }

    /// <summary>Quotes a header string for a message: printable ASCII kept, everything else escaped, long strings shortened.</summary>
    private static string Quote(string s)
    {
        var sb = new StringBuilder("'");
        int limit = Math.Min(s.Length, 40);
        for (int i = 0; i < limit; i++)
        {
            char c = s[i];
            if (c is >= ' ' and <= '~' && c != '\'' && c != '\\')
                sb.Append(c);
            else if (c is '\'' or '\\')
                sb.Append('\\').Append(c);
            else
                sb.Append(c <= 0xFF ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
        }
        if (s.Length > limit)
            sb.Append("…");
        return sb.Append('\'').ToString();
    }

    private static string Abbreviate(string digits) =>
        digits.Length <= 40 ? digits : digits[..20] + $"…({digits.Length} digits)";
}
