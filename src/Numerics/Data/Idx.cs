using System.Buffers.Binary;
using System.IO.Compression;

namespace Kernels.Numerics.Data;

/// <summary>
/// One array read from an IDX file (the MNIST format): big-endian header 0x00 0x00 type rank, rank big-endian
/// uint32 dimensions, then the values in row-major order. Only unsigned bytes (type 0x08) are supported, which is
/// what MNIST and Fashion-MNIST use.
/// </summary>
/// <param name="Dimensions">The dimensions, outermost first (e.g. [60000, 28, 28]).</param>
/// <param name="Data">The values, row-major.</param>
public sealed record IdxArray(int[] Dimensions, byte[] Data)
{
    /// <summary>The outermost dimension: the number of items (images or labels).</summary>
    public int Count => Dimensions.Length == 0 ? 1 : Dimensions[0];

    /// <summary>The values per item: the product of the inner dimensions (784 for 28×28 images, 1 for labels).</summary>
    public int ItemSize
    {
        get
        {
            int size = 1;
            for (int i = 1; i < Dimensions.Length; i++)
                size *= Dimensions[i];
            return size;
        }
    }

    /// <summary>The values scaled to [0, 1] (byte/255), Count×ItemSize row-major.</summary>
    public double[] ToImages()
    {
        var images = new double[Data.Length];
        for (int i = 0; i < Data.Length; i++)
            images[i] = Data[i] / 255.0;
        return images;
    }

    /// <summary>The values scaled to [0, 1] (byte/255) in single precision, Count×ItemSize row-major.</summary>
    public float[] ToImagesSingle()
    {
        var images = new float[Data.Length];
        for (int i = 0; i < Data.Length; i++)
            images[i] = Data[i] / 255f;
        return images;
    }

    /// <summary>The values as integer labels (a rank-1 array of class indices).</summary>
    public int[] Labels
    {
        get
        {
            if (Dimensions.Length != 1)
                throw new InvalidOperationException(
                    $"This IDX array has rank {Dimensions.Length} ({string.Join("×", Dimensions)}); labels are a rank-1 array. Read the labels file instead.");
            return Array.ConvertAll(Data, b => (int)b);
        }
    }
}

/// <summary>Images with one label each, from a pair of IDX files; <see cref="Filter"/> keeps one class.</summary>
/// <param name="Images">The images, Count×Height×Width (or any rank ≥ 1 with Count outermost).</param>
/// <param name="Labels">One label per image.</param>
public sealed record IdxDataset(IdxArray Images, int[] Labels)
{
    /// <summary>The number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>The pixels per image, D.</summary>
    public int Dimension => Images.ItemSize;

    /// <summary>The images of one class, in their original order.</summary>
    /// <param name="label">The class to keep (for Fashion-MNIST 0 … 9, see <see cref="FashionMnist.ClassNames"/>).</param>
    public IdxDataset Filter(int label)
    {
        int d = Dimension, kept = 0;
        foreach (int l in Labels)
            kept += l == label ? 1 : 0;
        if (kept == 0)
            throw new ArgumentOutOfRangeException(nameof(label), label,
                $"No image has label {label}; the labels present are {string.Join(", ", Labels.Distinct().Order())}.");
        var data = new byte[(long)kept * d];
        var labels = new int[kept];
        int row = 0;
        for (int i = 0; i < Labels.Length; i++)
        {
            if (Labels[i] != label)
                continue;
            Images.Data.AsSpan(i * d, d).CopyTo(data.AsSpan(row * d, d));
            labels[row++] = label;
        }
        var dims = (int[])Images.Dimensions.Clone();
        dims[0] = kept;
        return new IdxDataset(new IdxArray(dims, data), labels);
    }

    /// <summary>The first <paramref name="count"/> images (all when there are fewer).</summary>
    /// <param name="count">How many to keep, ≥ 0.</param>
    public IdxDataset Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int kept = Math.Min(count, Count), d = Dimension;
        var dims = (int[])Images.Dimensions.Clone();
        dims[0] = kept;
        return new IdxDataset(new IdxArray(dims, Images.Data.AsSpan(0, kept * d).ToArray()), Labels[..kept]);
    }

    /// <summary>The images scaled to [0, 1], Count×Dimension row-major float64.</summary>
    public double[] ToImages() => Images.ToImages();
}

/// <summary>Reads IDX files (MNIST format), raw or gzip-compressed (detected by the gzip magic bytes, not the name).</summary>
public static class Idx
{
    /// <summary>Type code of unsigned bytes, the one supported element type.</summary>
    public const byte UnsignedByte = 0x08;

    /// <summary>
    /// Reads one IDX array. Rejects, naming the file and the fault: a truncated header or body, a bad magic number, an
    /// element type other than unsigned byte, a dimension product that overflows or exceeds what the file holds, and
    /// trailing bytes after the declared data.
    /// </summary>
    /// <param name="path">The file, raw or gzip-compressed.</param>
    public static IdxArray Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var file = File.OpenRead(path);
        Span<byte> probe = stackalloc byte[2];
        int got = file.ReadAtLeast(probe, 2, throwOnEndOfStream: false);
        file.Position = 0;
        bool gzip = got == 2 && probe[0] == 0x1F && probe[1] == 0x8B;
        if (gzip)
        {
            using var unzipped = new GZipStream(file, CompressionMode.Decompress);
            return Read(unzipped, path, knownLength: null);
        }
        return Read(file, path, file.Length);
    }

    /// <summary>Reads one IDX array from a stream (<paramref name="name"/> appears in error messages).</summary>
    /// <param name="stream">The stream, positioned at the magic number; read to its end.</param>
    /// <param name="name">A name for the source in error messages.</param>
    public static IdxArray Read(Stream stream, string name) => Read(stream, name, knownLength: null);

    /// <summary>
    /// Reads an images file and its labels file and checks they pair up: the same count, a rank-1 labels array.
    /// </summary>
    /// <param name="imagesPath">The images (rank ≥ 2, e.g. N×28×28).</param>
    /// <param name="labelsPath">The labels (rank 1, N).</param>
    public static IdxDataset ReadLabelled(string imagesPath, string labelsPath)
    {
        var images = Read(imagesPath);
        var labels = Read(labelsPath);
        if (images.Dimensions.Length < 2)
            throw new InvalidDataException(
                $"'{imagesPath}' has rank {images.Dimensions.Length}, but an images file has rank >= 2 (count, rows, …); were the two files swapped?");
        if (labels.Dimensions.Length != 1)
            throw new InvalidDataException(
                $"'{labelsPath}' has rank {labels.Dimensions.Length} ({string.Join("×", labels.Dimensions)}), but a labels file has rank 1; were the two files swapped?");
        if (labels.Count != images.Count)
            throw new InvalidDataException(
                $"'{imagesPath}' holds {images.Count} images but '{labelsPath}' holds {labels.Count} labels; pass the labels file that belongs to these images (train with train, t10k with t10k).");
        return new IdxDataset(images, labels.Labels);
    }

    private static IdxArray Read(Stream stream, string name, long? knownLength)
    {
        Span<byte> head = stackalloc byte[4];
        ReadExactly(stream, head, name, "the 4-byte magic number");
        if (head[0] != 0 || head[1] != 0)
            throw new InvalidDataException(
                $"'{name}' does not start with an IDX magic number (00 00 type rank) but with {head[0]:X2} {head[1]:X2} {head[2]:X2} {head[3]:X2}; it is not an IDX file.");
        if (head[2] != UnsignedByte)
            throw new InvalidDataException(
                $"'{name}' has IDX element type 0x{head[2]:X2} ({TypeName(head[2])}); only unsigned bytes (0x08, as in MNIST) are supported.");
        int rank = head[3];
        if (rank == 0)
            throw new InvalidDataException($"'{name}' declares rank 0; an IDX array needs at least one dimension.");
        var dimsBytes = new byte[4 * rank];
        ReadExactly(stream, dimsBytes, name, $"the {rank} dimension(s) of the header");
        var dims = new int[rank];
        long total = 1;
        for (int i = 0; i < rank; i++)
        {
            uint size = BinaryPrimitives.ReadUInt32BigEndian(dimsBytes.AsSpan(4 * i));
            if (size > int.MaxValue)
                throw new InvalidDataException($"'{name}' declares dimension {i} = {size}, which exceeds {int.MaxValue}; the header is corrupt.");
            dims[i] = (int)size;
            total *= size; // ≤ 2^31 per factor; checked below before the next factor can overflow
            if (total > Array.MaxLength)
                throw new InvalidDataException(
                    $"'{name}' declares dimensions {string.Join("×", dimsBytes.Chunk(4).Select(c => BinaryPrimitives.ReadUInt32BigEndian(c)))}, more than the {Array.MaxLength} values an array can hold; the header is corrupt.");
        }
        long headerBytes = 4 + 4L * rank;
        if (knownLength is { } length && length != headerBytes + total)
        {
            throw new InvalidDataException(length < headerBytes + total
                ? $"'{name}' is truncated: its header declares {string.Join("×", dims)} = {total} values but only {length - headerBytes} bytes follow the header."
                : $"'{name}' has {length - headerBytes - total} bytes after the {total} values its header declares ({string.Join("×", dims)}); the file is corrupt or not IDX.");
        }
        var data = ReadBody(stream, total, name, dims);
        if (knownLength is null && stream.ReadByte() != -1)
            throw new InvalidDataException(
                $"'{name}' has bytes after the {total} values its header declares ({string.Join("×", dims)}); the file is corrupt or not IDX.");
        return new IdxArray(dims, data);
    }

    /// <summary>Reads the body in chunks that grow with what arrives, so a lying header cannot force a huge allocation.</summary>
    private static byte[] ReadBody(Stream stream, long total, string name, int[] dims)
    {
        var data = new byte[Math.Min(total, 1 << 20)];
        long have = 0;
        while (have < total)
        {
            if (have == data.Length)
                Array.Resize(ref data, (int)Math.Min(total, 2L * data.Length));
            int n = stream.Read(data, (int)have, (int)Math.Min(data.Length - have, int.MaxValue));
            if (n == 0)
                throw new InvalidDataException(
                    $"'{name}' is truncated: its header declares {string.Join("×", dims)} = {total} values but the data end after {have}.");
            have += n;
        }
        return data;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string name, string what)
    {
        int got = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        if (got < buffer.Length)
            throw new InvalidDataException($"'{name}' is truncated: it ends after {got} of the {buffer.Length} bytes of {what}.");
    }

    private static string TypeName(byte type) => type switch
    {
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => "not an IDX type",
    };
}

/// <summary>
/// Finds Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; 28×28 grey images, 10 classes, 60 000 train and 10 000 test).
/// Looked up first in the directory named by the environment variable <c>KERNELS_FASHION_MNIST</c>, then where the
/// Debian package <c>dataset-fashion-mnist</c> installs it, <c>/usr/share/datasets/fashion-mnist</c>; files may be
/// raw or gzip (<c>train-images-idx3-ubyte[.gz]</c>, <c>train-labels-idx1-ubyte[.gz]</c>, <c>t10k-…</c>).
/// </summary>
public static class FashionMnist
{
    /// <summary>The environment variable naming a directory to look in first.</summary>
    public const string EnvironmentVariable = "KERNELS_FASHION_MNIST";

    /// <summary>Where the Debian package installs the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The class names, by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Finds the training images and labels; false when neither location has both.</summary>
    /// <param name="imagesPath">The images file, or empty.</param>
    /// <param name="labelsPath">The labels file, or empty.</param>
    public static bool TryLocate(out string imagesPath, out string labelsPath) => TryLocate(test: false, out imagesPath, out labelsPath);

    /// <summary>Finds the training (or test) images and labels; false when neither location has both.</summary>
    /// <param name="test">true for the 10 000 test images (t10k), false for the 60 000 training images.</param>
    /// <param name="imagesPath">The images file, or empty.</param>
    /// <param name="labelsPath">The labels file, or empty.</param>
    public static bool TryLocate(bool test, out string imagesPath, out string labelsPath)
    {
        string prefix = test ? "t10k" : "train";
        var directories = new List<string>();
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } overridden)
            directories.Add(overridden);
        directories.Add(DebianDirectory);
        foreach (var directory in directories)
        {
            if (Find(directory, $"{prefix}-images-idx3-ubyte") is { } images && Find(directory, $"{prefix}-labels-idx1-ubyte") is { } labels)
            {
                imagesPath = images;
                labelsPath = labels;
                return true;
            }
        }
        imagesPath = labelsPath = "";
        return false;
    }

    /// <summary>Reads the training (or test) set, or throws saying where it looked and how to install it.</summary>
    /// <param name="test">true for the test set.</param>
    public static IdxDataset Load(bool test = false)
    {
        if (!TryLocate(test, out var images, out var labels))
            throw new FileNotFoundException(
                $"Fashion-MNIST not found in ${EnvironmentVariable} or {DebianDirectory}; install it with 'apt-get install dataset-fashion-mnist' or set {EnvironmentVariable} to a directory holding the IDX files.");
        return Idx.ReadLabelled(images, labels);
    }

    private static string? Find(string directory, string stem)
    {
        foreach (var candidate in new[] { stem, stem + ".gz" })
        {
            string path = Path.Combine(directory, candidate);
            if (File.Exists(path))
                return path;
        }
        return null;
    }
}
