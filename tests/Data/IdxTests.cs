using System.Buffers.Binary;
using System.IO.Compression;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Numerics.Data;
using Xunit;

namespace Kernels.Tests;

/// <summary>
/// IDX files: round trips of random shapes (raw and gzip), every rejection with a message naming the file and the
/// fault, labelled pairs and class filtering, and the Fashion-MNIST lookup (the real files when the Debian package is
/// installed). One class: the lookup tests set an environment variable, so they must not run beside each other.
/// </summary>
public sealed class IdxTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kernels-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static byte[] Encode(int[] dims, byte[] data, byte type = 0x08)
    {
        using var ms = new MemoryStream();
        ms.Write([0, 0, type, (byte)dims.Length]);
        Span<byte> word = stackalloc byte[4];
        foreach (int d in dims)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, (uint)d);
            ms.Write(word);
        }
        ms.Write(data);
        return ms.ToArray();
    }

    private string Write(string name, byte[] bytes, bool gzip = false)
    {
        string path = Path.Combine(_dir, name);
        if (gzip)
        {
            using var file = File.Create(path);
            using var zip = new GZipStream(file, CompressionLevel.Fastest);
            zip.Write(bytes);
        }
        else
        {
            File.WriteAllBytes(path, bytes);
        }
        return path;
    }

    public sealed record Shape(int[] Dims, int Seed, bool Gzip)
    {
        public override string ToString() => $"[{string.Join("×", Dims)}] seed={Seed} gzip={Gzip}";
    }

    private static readonly Arbitrary<Shape> Shapes = (
        from rank in Gen.Choose(1, 4)
        from dims in Gen.Choose(0, 9).ArrayOf(rank)
        from seed in Gen.Choose(0, int.MaxValue)
        from gzip in Gen.Elements(false, true)
        select new Shape(dims, seed, gzip)).ToArbitrary();

    [Property(MaxTest = 60)]
    public Property RandomShapes_RoundTrip() =>
        Prop.ForAll(Shapes, s =>
        {
            int total = s.Dims.Aggregate(1, (a, b) => a * b);
            var data = new byte[total];
            new Random(s.Seed).NextBytes(data);
            string path = Write($"a-{Guid.NewGuid():N}", Encode(s.Dims, data), s.Gzip);
            var array = Idx.Read(path);
            Assert.Equal(s.Dims, array.Dimensions);
            Assert.Equal(data, array.Data);
            Assert.Equal(s.Dims[0], array.Count);
            Assert.Equal(s.Dims.Skip(1).Aggregate(1, (a, b) => a * b), array.ItemSize);
            var images = array.ToImages();
            for (int i = 0; i < total; i++)
                Assert.Equal(data[i] / 255.0, images[i]);
        });

    public static TheoryData<string, byte[], string> Faults => new()
    {
        { "empty", [], "is truncated: it ends after 0 of the 4 bytes of the 4-byte magic number" },
        { "short header", [0, 0, 8], "ends after 3 of the 4 bytes" },
        { "bad magic", Encode([2], [1, 2]).Select((b, i) => i == 0 ? (byte)1 : b).ToArray(), "does not start with an IDX magic number" },
        { "float type", Encode([2], new byte[8], 0x0D), "element type 0x0D (float32); only unsigned bytes" },
        { "rank 0", [0, 0, 8, 0], "declares rank 0" },
        { "short dims", [0, 0, 8, 2, 0, 0, 0, 1], "ends after 4 of the 8 bytes of the 2 dimension(s)" },
        { "short body", Encode([3, 2], [1, 2, 3, 4, 5]), "is truncated: its header declares 3×2 = 6 values but only 5 bytes follow" },
        { "trailing", Encode([2], [1, 2, 3]), "has 1 bytes after the 2 values" },
        { "huge", Encode([1 << 20, 1 << 20, 1 << 20], [1]), "more than the" },
        { "over int", [0, 0, 8, 1, 0xFF, 0xFF, 0xFF, 0xFF], "exceeds 2147483647" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void CorruptFiles_AreRejected_NamingTheFileAndTheFault(string name, byte[] bytes, string message)
    {
        foreach (bool gzip in new[] { false, true })
        {
            string path = Write($"{name}{(gzip ? ".gz" : "")}", bytes, gzip);
            var ex = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
            Assert.Contains(path, ex.Message);
            if (gzip && name is "short body" or "trailing")
                Assert.Contains(name == "trailing" ? "has bytes after the 2 values" : "the data end after 5", ex.Message); // no length up front
            else
                Assert.Contains(message, ex.Message);
        }
    }

    [Fact]
    public void LabelledPairs_Check_CountsAndRanks_AndFilterKeepsOneClass()
    {
        var pixels = Enumerable.Range(0, 5 * 4).Select(i => (byte)i).ToArray();
        string images = Write("images", Encode([5, 2, 2], pixels), gzip: true);
        string labels = Write("labels", Encode([5], [3, 1, 3, 0, 3]));
        var set = Idx.ReadLabelled(images, labels);
        Assert.Equal(5, set.Count);
        Assert.Equal(4, set.Dimension);
        var threes = set.Filter(3);
        Assert.Equal([3, 3, 3], threes.Labels);
        Assert.Equal([3, 2, 2], threes.Images.Dimensions);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19 }, threes.Images.Data);
        Assert.Equal(2, set.Take(2).Count);
        Assert.Equal([3, 1], set.Take(2).Labels);
        var missing = Assert.Throws<ArgumentOutOfRangeException>(() => set.Filter(7));
        Assert.Equal("label", missing.ParamName);
        Assert.Contains("0, 1, 3", missing.Message);

        string fewer = Write("fewer", Encode([4], [0, 1, 2, 3]));
        var mismatch = Assert.Throws<InvalidDataException>(() => Idx.ReadLabelled(images, fewer));
        Assert.Contains("5 images", mismatch.Message);
        Assert.Contains("4 labels", mismatch.Message);
        Assert.Contains(fewer, mismatch.Message);
        var swapped = Assert.Throws<InvalidDataException>(() => Idx.ReadLabelled(labels, images));
        Assert.Contains("swapped", swapped.Message);
        Assert.Throws<InvalidOperationException>(() => set.Images.Labels);
    }

    [Fact]
    public void FashionMnist_EnvironmentOverride_IsSearchedFirst()
    {
        string old = Environment.GetEnvironmentVariable(FashionMnist.EnvironmentVariable) ?? "";
        try
        {
            Write("t10k-images-idx3-ubyte", Encode([2, 1, 1], [0, 255]));
            Write("t10k-labels-idx1-ubyte.gz", Encode([2], [9, 4]), gzip: true);
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, _dir);
            Assert.True(FashionMnist.TryLocate(test: true, out var images, out var labels));
            Assert.Equal(Path.Combine(_dir, "t10k-images-idx3-ubyte"), images);
            Assert.Equal(Path.Combine(_dir, "t10k-labels-idx1-ubyte.gz"), labels);
            var set = FashionMnist.Load(test: true);
            Assert.Equal([9, 4], set.Labels);
            Assert.Equal([0.0, 1.0], set.ToImages());
        }
        finally
        {
            Environment.SetEnvironmentVariable(FashionMnist.EnvironmentVariable, old.Length == 0 ? null : old);
        }
    }

    [Fact]
    public void FashionMnist_FromTheDebianPackage_HasItsKnownShape()
    {
        if (!File.Exists(Path.Combine(FashionMnist.DebianDirectory, "train-labels-idx1-ubyte.gz")))
        {
            Assert.False(FashionMnist.TryLocate(out _, out _) && Environment.GetEnvironmentVariable(FashionMnist.EnvironmentVariable) is null);
            return; // the package is not installed here: nothing more to check
        }
        Assert.True(FashionMnist.TryLocate(out var imagesPath, out var labelsPath));
        var set = Idx.ReadLabelled(imagesPath, labelsPath);
        Assert.Equal([60000, 28, 28], set.Images.Dimensions);
        Assert.Equal(784, set.Dimension);
        for (int label = 0; label < 10; label++)
            Assert.Equal(6000, set.Labels.Count(l => l == label)); // the published class balance
        var test = FashionMnist.Load(test: true);
        Assert.Equal(10000, test.Count);
        Assert.Equal(1000, test.Filter(9).Count);
    }
}
