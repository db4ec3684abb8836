using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics.Io;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// The .npy reader and writer: round trips, NumPy's exact header bytes, every supported header spelling, a specific
/// <see cref="NpyFormatException"/> for every unsupported or malformed input (including randomly corrupted files),
/// no allocation beyond what the file can justify, and atomic file writes.
/// </summary>
public sealed class NpyTests : IDisposable
{
    private readonly string _dir;

    public NpyTests()
    {
        _dir = Path.Combine(Path.GetTempPath(), "npy-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>A .npy file built by hand per the format spec: magic, version, LE header length, header padded with spaces to a multiple of 64, '\n', data.</summary>
    private static byte[] NpyBytes(string dict, ReadOnlySpan<byte> data, int major = 1)
    {
        int lengthBytes = major == 1 ? 2 : 4;
        int preamble = 8 + lengthBytes;
        byte[] header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetBytes(dict);
        int total = (preamble + header.Length + 1 + 63) / 64 * 64;
        int headerLength = total - preamble;
        var ms = new MemoryStream();
        ms.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        Span<byte> len = stackalloc byte[4];
        if (major == 1)
            BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)headerLength);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)headerLength);
        ms.Write(len[..lengthBytes]);
        ms.Write(header);
        for (int i = preamble + header.Length; i < total - 1; i++)
            ms.WriteByte((byte)' ');
        ms.WriteByte((byte)'\n');
        ms.Write(data);
        return ms.ToArray();
    }

    private static string Dict(string descr, string shape, string fortran = "False") =>
        $"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}";

    private static byte[] FloatBytes(params float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static byte[] DoubleBytes(params double[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static byte[] WriteToBytes(float[] data, params int[] shape)
    {
        var ms = new MemoryStream();
        Npy.Write(ms, data, shape);
        return ms.ToArray();
    }

    private static byte[] WriteToBytes(double[] data, params int[] shape)
    {
        var ms = new MemoryStream();
        Npy.Write(ms, data, shape);
        return ms.ToArray();
    }

    /// <summary>A read-only, non-seekable view of a stream that returns at most <c>maxRead</c> bytes per call (like a pipe or socket).</summary>
    private sealed class NonSeekableStream(Stream inner, int maxRead = int.MaxValue) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, maxRead));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Reads <paramref name="bytes"/> both from a seekable memory stream and through a non-seekable stream with short reads.</summary>
    private static IEnumerable<Func<NpyArray>> BothWays(byte[] bytes, string name)
    {
        yield return () => Npy.Read(new MemoryStream(bytes, writable: false), name);
        yield return () => Npy.Read(new NonSeekableStream(new MemoryStream(bytes, writable: false), maxRead: 7), name);
    }

    private static void AssertConsistent(NpyArray a)
    {
        long product = 1;
        foreach (int d in a.Shape)
        {
            Assert.True(d >= 0);
            product *= d;
        }
        Assert.True((a.Single is null) != (a.Double is null), "exactly one of Single and Double must be set");
        Assert.Equal(a.Single is not null ? typeof(float) : typeof(double), a.ElementType);
        Assert.Equal(product, a.Single?.Length ?? a.Double!.Length);
        Assert.Equal(product, a.Length);
    }

    // ------------------------------------------------------------------ round trips

    public sealed record RoundTripCase(int[] Shape, int Seed, bool IsDouble, bool ViaFile)
    {
        public int Count => Shape.Aggregate(1, (p, d) => p * d);
        public override string ToString() => $"shape=({string.Join(", ", Shape)}) seed={Seed} double={IsDouble} viaFile={ViaFile}";
    }

    private static readonly Arbitrary<RoundTripCase> RoundTripCases = (
        from shape in Gen.OneOf(
            Gen.Constant(Array.Empty<int>()),
            Gen.Choose(0, 200).Select(n => new[] { n }),
            from r in Gen.Frequency((1, Gen.Constant(0)), (6, Gen.Choose(1, 40)))
            from c in Gen.Frequency((1, Gen.Constant(0)), (6, Gen.Choose(1, 40)))
            select new[] { r, c },
            Gen.Choose(0, 5).ArrayOf(3))
        from seed in Gen.Choose(0, int.MaxValue)
        from isDouble in Gen.Elements(false, true)
        from viaFile in Gen.Elements(false, true)
        select new RoundTripCase(shape, seed, isDouble, viaFile)).ToArbitrary();

    [Property(MaxTest = 200)]
    public Property RoundTrip_PreservesShapeAndEveryBit() =>
        Prop.ForAll(RoundTripCases, c =>
        {
            var rng = new Random(c.Seed);
            int n = c.Count;
            NpyArray back;
            if (!c.IsDouble)
            {
                // Arbitrary bit patterns: NaN payloads, infinities, subnormals and -0 must all survive.
                var data = new float[n];
                for (int i = 0; i < n; i++)
                    data[i] = BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue));
                back = RoundTrip(c, data, d => WriteToBytes(d, c.Shape), (p, d) => Npy.Write(p, d, c.Shape));
                Assert.Equal(typeof(float), back.ElementType);
                Assert.Equal(data.Select(BitConverter.SingleToInt32Bits), back.Single!.Select(BitConverter.SingleToInt32Bits));
            }
            else
            {
                var data = new double[n];
                for (int i = 0; i < n; i++)
                    data[i] = BitConverter.Int64BitsToDouble(rng.NextInt64(long.MinValue, long.MaxValue));
                back = RoundTrip(c, data, d => WriteToBytes(d, c.Shape), (p, d) => Npy.Write(p, d, c.Shape));
                Assert.Equal(typeof(double), back.ElementType);
                Assert.Equal(data.Select(BitConverter.DoubleToInt64Bits), back.Double!.Select(BitConverter.DoubleToInt64Bits));
            }
            Assert.Equal(c.Shape, back.Shape);
            AssertConsistent(back);
        });

    private NpyArray RoundTrip<T>(RoundTripCase c, T[] data, Func<T[], byte[]> toBytes, Action<string, T[]> toFile)
    {
        if (c.ViaFile)
        {
            string path = Path.Combine(_dir, $"rt-{c.Seed}.npy");
            toFile(path, data);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(0, HeaderEnd(bytes) % 64);
            return Npy.Read(path);
        }
        var b = toBytes(data);
        Assert.Equal(0, HeaderEnd(b) % 64);
        var fromSeekable = Npy.Read(new MemoryStream(b), "mem");
        var fromPipe = Npy.Read(new NonSeekableStream(new MemoryStream(b), maxRead: 13), "pipe");
        Assert.Equal(fromSeekable.Shape, fromPipe.Shape);
        Assert.Equal(fromSeekable.ToDouble().Select(BitConverter.DoubleToInt64Bits), fromPipe.ToDouble().Select(BitConverter.DoubleToInt64Bits));
        return fromSeekable;
    }

    private static int HeaderEnd(byte[] file) => 10 + BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(8, 2));

    // ------------------------------------------------------------------ NumPy's exact bytes

    [Fact]
    public void Write_3x2Float32_MatchesNumPyHeaderByteForByte()
    {
        // What np.save writes for np.arange(6, dtype=np.float32).reshape(3, 2), built per the format spec:
        // magic, version 1.0, uint16 LE header length, the dict, spaces, '\n', with the data starting at a multiple of 64.
        const string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
        int total = (10 + dict.Length + 1 + 63) / 64 * 64;
        Assert.Equal(128, total);
        var expected = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)((total - 10) & 0xFF), (byte)((total - 10) >> 8) };
        expected.AddRange(Encoding.ASCII.GetBytes(dict));
        while (expected.Count < total - 1)
            expected.Add((byte)' ');
        expected.Add((byte)'\n');
        var data = new float[] { 0, 1, 2, 3, 4, 5 };
        expected.AddRange(FloatBytes(data));

        var actual = WriteToBytes(data, 3, 2);
        Assert.Equal(expected.ToArray(), actual);

        string path = Path.Combine(_dir, "golden.npy");
        Npy.Write(path, data, 3, 2);
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(new int[0], "()")]
    [InlineData(new[] { 5 }, "(5,)")]
    [InlineData(new[] { 0 }, "(0,)")]
    [InlineData(new[] { 3, 2 }, "(3, 2)")]
    [InlineData(new[] { 0, 7 }, "(0, 7)")]
    [InlineData(new[] { 2, 3, 4 }, "(2, 3, 4)")]
    [InlineData(new[] { 1234567, 1 }, "(1234567, 1)")]
    public void Write_HeaderFollowsNumPysAlgorithm(int[] shape, string shapeText)
    {
        // NumPy ≥ 1.24: sorted keys, 21 − len(str(shape[0])) spare spaces for growing axis 0, then 1..64 spaces so that
        // 10 + header + '\n' is a multiple of 64, then '\n'.
        string header = $"{{'descr': '<f8', 'fortran_order': False, 'shape': {shapeText}, }}";
        if (shape.Length > 0)
            header += new string(' ', 21 - shape[0].ToString().Length);
        int hlen = header.Length + 1;
        int padlen = 64 - (10 + hlen) % 64;
        string full = header + new string(' ', padlen) + "\n";

        int count = shape.Aggregate(1, (p, d) => p * d);
        var bytes = WriteToBytes(new double[count], shape);
        Assert.Equal(0, (10 + full.Length) % 64);
        Assert.Equal(full.Length, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8, 2)));
        Assert.Equal(full, Encoding.ASCII.GetString(bytes, 10, full.Length));
        Assert.Equal(10 + full.Length + 8L * count, bytes.Length);
    }

    // ------------------------------------------------------------------ accepted spellings

    [Fact]
    public void Read_Version2Header()
    {
        var bytes = NpyBytes(Dict("<f8", "(2, 2)"), DoubleBytes(1.5, -2, 3, 4e300), major: 2);
        Assert.Equal(2, bytes[6]);
        foreach (var read in BothWays(bytes, "v2.npy"))
        {
            var a = read();
            Assert.Equal(typeof(double), a.ElementType);
            Assert.Equal(new[] { 2, 2 }, a.Shape);
            Assert.Equal(new[] { 1.5, -2, 3, 4e300 }, a.Double);
            Assert.Equal((2, 2), a.AsMatrix("x"));
        }
    }

    [Fact]
    public void Read_Version3Utf8Header()
    {
        var bytes = NpyBytes(Dict("<f4", "(3,)"), FloatBytes(1, 2, 3), major: 3);
        var a = Npy.Read(new MemoryStream(bytes), "v3.npy");
        Assert.Equal(new float[] { 1, 2, 3 }, a.Single);
        Assert.Equal(new[] { 3 }, a.Shape);
    }

    [Theory]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }")]
    [InlineData("{'shape': (3, 2), 'descr': '<f4', 'fortran_order': False}")]
    [InlineData("{\"fortran_order\": False, \"shape\": (3,2,), \"descr\": \"<f4\"}")]
    [InlineData("  {  'descr' :'<f4' ,\n'fortran_order':False,'shape':( 3 , 2 )  }  ")]
    [InlineData("{'descr': '=f4', 'fortran_order': False, 'shape': (3L, 2L), }")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (6,), }")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6), }")]
    public void Read_AcceptsEveryValidSpelling(string dict)
    {
        var bytes = NpyBytes(dict, FloatBytes(1, 2, 3, 4, 5, 6));
        foreach (var read in BothWays(bytes, "ok.npy"))
        {
            var a = read();
            Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, a.Single);
            Assert.Equal(6, a.Shape.Aggregate(1, (p, d) => p * d));
        }
    }

    [Fact]
    public void Read_ZeroDimensionalAndEmptyArrays()
    {
        var scalar = Npy.Read(new MemoryStream(NpyBytes(Dict("<f8", "()"), DoubleBytes(42))), "s.npy");
        Assert.Empty(scalar.Shape);
        Assert.Equal(new[] { 42.0 }, scalar.Double);

        var empty = Npy.Read(new MemoryStream(NpyBytes(Dict("<f4", "(0, 1000000000)"), [])), "e.npy");
        Assert.Equal(new[] { 0, 1000000000 }, empty.Shape);
        Assert.Empty(empty.Single!);
    }

    [Fact]
    public void Read_IgnoresTrailingBytes_AndReadsArraysSavedBackToBack()
    {
        var ms = new MemoryStream();
        Npy.Write(ms, new float[] { 1, 2 }, 2);
        Npy.Write(ms, new double[] { 3, 4, 5, 6 }, 2, 2);
        ms.Write("trailing garbage"u8);
        ms.Position = 0;

        var first = Npy.Read(ms, "two.npy");
        var second = Npy.Read(ms, "two.npy");
        Assert.Equal(new float[] { 1, 2 }, first.Single);
        Assert.Equal(new double[] { 3, 4, 5, 6 }, second.Double);
        Assert.Equal(ms.Length - "trailing garbage".Length, ms.Position);

        string path = Path.Combine(_dir, "trailing.npy");
        File.WriteAllBytes(path, [.. WriteToBytes(new float[] { 7 }, 1), 0xFF, 0x00, 0x93]);
        Assert.Equal(new float[] { 7 }, Npy.Read(path).Single);
    }

    // ------------------------------------------------------------------ rejected inputs: a specific message each

    [Theory]
    [InlineData("truncated", "needs 24 bytes of data")]
    [InlineData("promises-more", "needs 4000000 bytes of data")]
    [InlineData("<i4", "'<i4' (32-bit signed integer) is not supported")]
    [InlineData("|u1", "'|u1' (8-bit unsigned integer) is not supported")]
    [InlineData("|b1", "'|b1' (boolean) is not supported")]
    [InlineData("<c8", "'<c8' (64-bit complex) is not supported")]
    [InlineData("<f2", "'<f2' (16-bit float) is not supported")]
    [InlineData(">f4", "'>f4' is big-endian")]
    [InlineData(">f8", "'>f8' is big-endian")]
    [InlineData(">i8", "big-endian is not supported")]
    [InlineData("|O", "object array")]
    [InlineData("structured", "structured")]
    [InlineData("subarray", "subarray")]
    [InlineData("fortran", "fortran_order is True")]
    [InlineData("bad-magic", "does not start with the magic bytes")]
    [InlineData("npz", "zip archive")]
    [InlineData("empty", "the file is empty")]
    [InlineData("short", "only 5 bytes")]
    [InlineData("header-past-end", "header length field says 1000 bytes")]
    [InlineData("header-too-long", "more than the 1048576 accepted")]
    [InlineData("version", "unsupported .npy format version 4.0")]
    [InlineData("missing-key", "no 'fortran_order' key")]
    [InlineData("extra-key", "unexpected key 'extra'")]
    [InlineData("duplicate-key", "the key 'shape' twice")]
    [InlineData("unclosed", "malformed header")]
    [InlineData("not-a-dict", "must be a Python dict")]
    [InlineData("negative", "dimensions cannot be negative")]
    [InlineData("huge-entry", "larger than the largest supported dimension")]
    [InlineData("shape-list", "'shape' is a list")]
    [InlineData("shape-float", "only decimal integers")]
    [InlineData("fortran-string", "'fortran_order' is the string 'no'")]
    [InlineData("too-many-elements", "more than a single .NET array can hold")]
    [InlineData("deep", "more than 32 deep")]
    [InlineData("bad-utf8", "not valid UTF-8")]
    [InlineData("non-ascii", "found '\\xe9'")]
    public void Read_RejectsWithSpecificMessage(string which, string expected)
    {
        var f6 = FloatBytes(1, 2, 3, 4, 5, 6);
        byte[] file = which switch
        {
            "truncated" => NpyBytes(Dict("<f4", "(3, 2)"), f6.AsSpan(0, 20)),
            "promises-more" => NpyBytes(Dict("<f4", "(1000, 1000)"), f6),
            "structured" => NpyBytes("{'descr': [('x', '<f4'), ('y', '<i4', (2,))], 'fortran_order': False, 'shape': (3,), }", new byte[36]),
            "subarray" => NpyBytes("{'descr': ('<f4', (2,)), 'fortran_order': False, 'shape': (3,), }", f6),
            "fortran" => NpyBytes(Dict("<f4", "(3, 2)", "True"), f6),
            "bad-magic" => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0],
            "npz" => [(byte)'P', (byte)'K', 3, 4, 20, 0, 0, 0, 0, 0, 0, 0],
            "empty" => [],
            "short" => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P'],
            "header-past-end" => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0xE8, 0x03, .. new byte[40]],
            "header-too-long" => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0, 0, 0, 0, 0x80, .. new byte[40]],
            "version" => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 4, 0, 0, 0, .. new byte[40]],
            "missing-key" => NpyBytes("{'descr': '<f4', 'shape': (6,), }", f6),
            "extra-key" => NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'extra': 1}", f6),
            "duplicate-key" => NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'shape': (6,)}", f6),
            "unclosed" => NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), ", f6),
            "not-a-dict" => NpyBytes("['descr', '<f4']", f6),
            "negative" => NpyBytes(Dict("<f4", "(-3, 2)"), f6),
            "huge-entry" => NpyBytes(Dict("<f4", "(123456789012345678901234567890,)"), f6),
            "shape-list" => NpyBytes(Dict("<f4", "[3, 2]"), f6),
            "shape-float" => NpyBytes(Dict("<f4", "(3.0, 2)"), f6),
            "fortran-string" => NpyBytes(Dict("<f4", "(3, 2)", "'no'"), f6),
            "too-many-elements" => NpyBytes(Dict("<f4", "(65536, 32768)"), f6),
            "deep" => NpyBytes(Dict("<f4", new string('(', 1000) + new string(')', 1000)), f6),
            "bad-utf8" => BadUtf8(),
            "non-ascii" => NpyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), é}", f6),
            _ => NpyBytes(Dict(which, "(6,)"), new byte[64]),
        };

        foreach (var read in BothWays(file, which + ".npy"))
        {
            var ex = Assert.Throws<NpyFormatException>(() => read());
            Assert.Contains(expected, ex.Message);
            Assert.Equal(which + ".npy", ex.SourceName);
            Assert.StartsWith(which + ".npy: ", ex.Message);
        }

        // And through a real file, named by its path.
        string path = Path.Combine(_dir, "bad.npy");
        File.WriteAllBytes(path, file);
        var fromFile = Assert.Throws<NpyFormatException>(() => Npy.Read(path));
        Assert.Contains(expected, fromFile.Message);
        Assert.StartsWith(path, fromFile.Message);

        static byte[] BadUtf8()
        {
            var b = NpyBytes(Dict("<f4", "(6,)"), new byte[24], major: 3);
            b[12 + 2] = 0xC3; // a UTF-8 lead byte followed by '(': invalid UTF-8 inside the key 'descr'
            b[12 + 3] = 0x28;
            return b;
        }
    }

    [Fact]
    public void Read_UnsupportedDtypeMessage_SaysWhatIsSupportedAndHowToConvert()
    {
        var ex = Assert.Throws<NpyFormatException>(() => Npy.Read(new MemoryStream(NpyBytes(Dict("<i4", "(2,)"), new byte[8])), "X.npy"));
        Assert.Equal(
            "X.npy: dtype '<i4' (32-bit signed integer) is not supported; only little-endian float32 ('<f4') and float64 ('<f8') are. Convert with arr.astype(np.float32).",
            ex.Message);
    }

    [Theory]
    [InlineData("(2147483648,)")]          // 2^31 elements: more than an int can count
    [InlineData("(65536, 32768)")]         // 2^31 elements as a matrix
    [InlineData("(1000000, 1000000)")]     // 1e12 elements
    [InlineData("(1000000000,)")]          // 1e9 float32: a valid .NET length, but 4 GB of data in a 200-byte file
    [InlineData("(2147483591,)")]          // Array.MaxLength float32
    public void Read_HugeShapeInTinyFile_ThrowsQuicklyWithoutAllocating(string shape)
    {
        var file = NpyBytes(Dict("<f4", shape), new byte[200 - 128]);
        Assert.Equal(200, file.Length);
        foreach (var read in BothWays(file, "huge.npy"))
        {
            Assert.Throws<NpyFormatException>(() => read()); // warm up (JIT)
            var clock = Stopwatch.StartNew();
            long before = GC.GetAllocatedBytesForCurrentThread();
            var ex = Assert.Throws<NpyFormatException>(() => read());
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            clock.Stop();
            Assert.True(allocated < 1_000_000, $"allocated {allocated} bytes for {shape}: {ex.Message}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed} for {shape}");
        }
    }

    // ------------------------------------------------------------------ corrupted files

    private static readonly byte[] Interesting = Encoding.ASCII.GetBytes("0123456789(),'\"{}:[]-+L \n\t<>=|fiuOcb48TrueFalseNone_\\é").Concat(new byte[] { 0, 0x80, 0xFF, 0x93, 1, 2, 3 }).ToArray();

    private static byte[] ValidFile(Random rng)
    {
        int rank = rng.Next(4);
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
            shape[i] = rng.Next(0, rank == 1 ? 40 : 6);
        int count = shape.Aggregate(1, (p, d) => p * d);
        switch (rng.Next(4))
        {
            case 0:
                return WriteToBytes(new float[count].Select(_ => (float)rng.NextDouble()).ToArray(), shape);
            case 1:
                return WriteToBytes(new double[count].Select(_ => rng.NextDouble()).ToArray(), shape);
            default:
                // Hand-built headers in other versions/spellings.
                string shapeText = rank switch
                {
                    0 => "()",
                    1 => $"({shape[0]},)",
                    _ => "(" + string.Join(", ", shape) + ")",
                };
                bool isDouble = rng.Next(2) == 0;
                return NpyBytes(Dict(isDouble ? "<f8" : "<f4", shapeText), new byte[count * (isDouble ? 8 : 4)], major: rng.Next(1, 4));
        }
    }

    private static byte[] Mutate(byte[] file, Random rng)
    {
        var bytes = new List<byte>(file);
        int ops = rng.Next(1, 9);
        for (int k = 0; k < ops && bytes.Count > 0; k++)
        {
            // Mostly hit the preamble and header, where the parsing is.
            int pos = rng.NextDouble() < 0.75 ? rng.Next(Math.Min(bytes.Count, 140)) : rng.Next(bytes.Count);
            switch (rng.Next(7))
            {
                case 0:
                    bytes[pos] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1:
                    bytes[pos] = (byte)rng.Next(256);
                    break;
                case 2:
                case 3:
                    bytes[pos] = Interesting[rng.Next(Interesting.Length)];
                    break;
                case 4:
                    bytes.RemoveRange(pos, bytes.Count - pos); // truncate
                    break;
                case 5:
                    int n = rng.Next(1, 17);
                    for (int i = 0; i < n; i++)
                        bytes.Insert(pos, rng.Next(2) == 0 ? (byte)rng.Next(256) : Interesting[rng.Next(Interesting.Length)]);
                    break;
                default:
                    // Corrupt the header-length field.
                    if (bytes.Count > 11)
                    {
                        bytes[8 + rng.Next(4)] = (byte)rng.Next(256);
                    }
                    break;
            }
        }
        return bytes.ToArray();
    }

    /// <summary>Reads <paramref name="bytes"/> every way; each read must succeed with a consistent array or throw <see cref="NpyFormatException"/>.</summary>
    private static void ReadOrFormatError(byte[] bytes)
    {
        foreach (var read in BothWays(bytes, "fuzz.npy"))
        {
            try
            {
                AssertConsistent(read());
            }
            catch (NpyFormatException ex)
            {
                Assert.StartsWith("fuzz.npy: ", ex.Message);
            }
        }
    }

    private static void WithinTimeLimit(Action action)
    {
        var task = Task.Run(action);
        Assert.True(task.Wait(TimeSpan.FromSeconds(20)), "Npy.Read did not finish within 20 s on a memory stream: it hangs");
        task.GetAwaiter().GetResult();
    }

    [Property(MaxTest = 1000)]
    public Property Read_CorruptedFile_SucceedsConsistentlyOrThrowsNpyFormatException() =>
        Prop.ForAll(Gen.Choose(0, int.MaxValue).ToArbitrary(), seed =>
        {
            var rng = new Random(seed);
            var mutated = Mutate(ValidFile(rng), rng);
            WithinTimeLimit(() => ReadOrFormatError(mutated));
        });

    [Fact]
    public void Read_EverySingleByteHeaderCorruptionAndEveryTruncation_OnlyThrowsNpyFormatException()
    {
        var files = new[]
        {
            WriteToBytes(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2),
            WriteToBytes(new double[] { 1, 2, 3 }, 3),
            WriteToBytes(new float[] { 9 }),
            NpyBytes(Dict("<f8", "(2,)"), DoubleBytes(1, 2), major: 2),
            NpyBytes(Dict("<f4", "(2,)"), FloatBytes(1, 2), major: 3),
        };
        WithinTimeLimit(() =>
        {
            foreach (var file in files)
            {
                for (int len = 0; len < file.Length; len++)
                {
                    var truncated = file[..len];
                    foreach (var read in BothWays(truncated, "fuzz.npy"))
                        Assert.Throws<NpyFormatException>(() => read());
                }
                int headerEnd = Math.Min(file.Length, 128);
                for (int pos = 0; pos < headerEnd; pos++)
                {
                    foreach (byte b in Interesting)
                    {
                        var copy = (byte[])file.Clone();
                        copy[pos] = b;
                        ReadOrFormatError(copy);
                    }
                }
            }
        });
    }

    // ------------------------------------------------------------------ writing

    [Fact]
    public void Write_ShapeMismatch_ThrowsNamingShape()
    {
        string path = Path.Combine(_dir, "mismatch.npy");
        var e1 = Assert.Throws<ArgumentException>(() => Npy.Write(path, new float[5], 2, 3));
        Assert.Equal("shape", e1.ParamName);
        Assert.Contains("(2, 3)", e1.Message);
        var e2 = Assert.Throws<ArgumentException>(() => Npy.Write(new MemoryStream(), new double[5], -1, -5));
        Assert.Equal("shape", e2.ParamName);
        var e3 = Assert.Throws<ArgumentException>(() => Npy.Write(new MemoryStream(), new double[2]));
        Assert.Equal("shape", e3.ParamName);
        var e4 = Assert.Throws<ArgumentException>(() => Npy.Write(new MemoryStream(), new float[1], 65536, 65536, 65536));
        Assert.Equal("shape", e4.ParamName);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Write_ToPath_IsAtomic_OverwritesAndLeavesNoTemporaryFile()
    {
        string path = Path.Combine(_dir, "data.npy");
        File.WriteAllText(path, "old contents");

        Npy.Write(path, new double[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(_dir));
        var a = Npy.Read(path);
        Assert.Equal(new[] { 2, 3 }, a.Shape);
        Assert.Equal(new double[] { 1, 2, 3, 4, 5, 6 }, a.Double);

        Npy.Write(path, new float[] { 7, 8 }, 2);
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(_dir));
        Assert.Equal(new float[] { 7, 8 }, Npy.Read(path).Single);

        // A failed argument check leaves the existing file untouched and no temporary file.
        var before = File.ReadAllBytes(path);
        Assert.Throws<ArgumentException>(() => Npy.Write(path, new float[3], 2));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(_dir));

        // An I/O failure (missing directory) throws and leaves nothing behind.
        string missing = Path.Combine(_dir, "no-such-dir", "x.npy");
        Assert.ThrowsAny<IOException>(() => Npy.Write(missing, new float[] { 1 }, 1));
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(_dir));
    }

    /// <summary>
    /// Issue 14: a file name of 239–255 bytes failed, because the temporary name appended ".&lt;12 hex&gt;.tmp" to it, past
    /// the 255-byte limit on one name. The temporary name is short and its own now; a 255-byte name writes and replaces.
    /// </summary>
    [Fact]
    public void Write_ToAFileNameOf255Bytes_Succeeds_AndLeavesNoTemporaryFile()
    {
        string name = new string('n', 251) + ".npy";
        Assert.Equal(255, System.Text.Encoding.UTF8.GetByteCount(name));
        string path = Path.Combine(_dir, name);

        Npy.Write(path, new float[] { 1, 2, 3, 4 }, 2, 2);
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(_dir));
        Assert.Equal(new float[] { 1, 2, 3, 4 }, Npy.Read(path).Single);

        Npy.Write(path, new double[] { 5, 6 }, 2); // replaces it
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(_dir));
        Assert.Equal(new double[] { 5, 6 }, Npy.Read(path).Double);
    }

    // ------------------------------------------------------------------ NpyArray helpers

    [Fact]
    public void AsMatrix_And_Conversions()
    {
        var m = new NpyArray(new float[] { 1, 2, 3, 4, 5, 6 }, 3, 2);
        Assert.Equal((3, 2), m.AsMatrix("train"));
        Assert.Same(m.Single, m.ToSingle());
        Assert.Equal(new double[] { 1, 2, 3, 4, 5, 6 }, m.ToDouble());

        var v = new NpyArray(new double[] { 1.5, 1e300 }, 2);
        var ex = Assert.Throws<ArgumentException>(() => v.AsMatrix("queries"));
        Assert.Equal("queries", ex.ParamName);
        Assert.Contains("(2,)", ex.Message);
        Assert.Contains("reshape", ex.Message);
        Assert.Same(v.Double, v.ToDouble());
        Assert.Equal(new[] { 1.5f, float.PositiveInfinity }, v.ToSingle());

        string path = Path.Combine(_dir, "vector.npy");
        Npy.Write(path, new float[] { 1, 2, 3 }, 3);
        var fromFile = Assert.Throws<ArgumentException>(() => Npy.Read(path).AsMatrix("train"));
        Assert.Contains(path, fromFile.Message);

        var scalar = new NpyArray(new float[] { 1 });
        Assert.Throws<ArgumentException>(() => scalar.AsMatrix("x"));
        Assert.Throws<ArgumentException>(() => new NpyArray(new float[3], 2, 2));
    }
}
