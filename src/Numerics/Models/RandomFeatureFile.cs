using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using System.Text.RegularExpressions;
using Kernels.Numerics.Io;

namespace Kernels.Numerics.Models;

/// <summary>A random-feature model as stored in a model file: features, coefficients, τ and the fit's discretisation.</summary>
/// <param name="Features">W_x, W_t, b and the hyper-parameters.</param>
/// <param name="Coefficients">A, D×P row-major.</param>
/// <param name="Tau">τ (+∞ for the converged model).</param>
/// <param name="Training">The time grid, draws, weighting and A_0 the model was fitted with.</param>
public sealed record RandomFeatureModel(RandomFeatures Features, double[] Coefficients, double Tau, RandomFeatureTraining Training)
{
    /// <summary>The score model in precision T.</summary>
    public RandomFeatureScore<T> Score<T>() where T : unmanaged, IFloatingPointIeee754<T> => new(Features, Coefficients, Tau);
}

/// <summary>
/// Model files: a NumPy <c>.npz</c> (a zip of <c>.npy</c> entries, stored uncompressed as <c>numpy.savez</c> writes them),
/// readable by <c>numpy.load</c>. float64 arrays <c>w_x</c> (P×D), <c>w_t</c> (P×(2K+1)), <c>b</c> (P), <c>a</c> (D×P);
/// 0-d arrays <c>schedule</c> and <c>activation</c> (unicode strings), <c>t_max</c>, <c>tau</c> (inf for ∞), <c>t_min</c>
/// (float64), <c>harmonics</c>, <c>nodes</c>, <c>draws</c> (int64), <c>seed</c> (uint64), <c>weighting</c> (1, sigma2 or
/// sigma4) and <c>initial</c> (zero or gaussian) (unicode strings).
/// </summary>
public static class RandomFeatureFile
{
    private static readonly Regex DescrPattern = new(@"'descr':\s*'([^']*)'", RegexOptions.CultureInvariant);
    private static readonly Regex ShapePattern = new(@"'shape':\s*\(([^)]*)\)", RegexOptions.CultureInvariant);

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> atomically (a temporary file moved into place).</summary>
    public static void Write(string path, RandomFeatureModel model)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(model);
        var f = model.Features;
        var o = model.Training;
        string full = Path.GetFullPath(path);
        string tmp = Path.Combine(Path.GetDirectoryName(full)!, Npy.TemporaryPrefix + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
            {
                Array(zip, "w_x", f.Spatial, f.Count, f.Dimension);
                Array(zip, "w_t", f.Temporal, f.Count, f.EmbeddingLength);
                Array(zip, "b", f.Bias, f.Count);
                Array(zip, "a", model.Coefficients, f.Dimension, f.Count);
                WriteText(zip, "schedule", f.Schedule.Name);
                Scalar(zip, "t_max", "<f8", BitConverter.DoubleToUInt64Bits(f.TimeMax));
                Scalar(zip, "harmonics", "<i8", (ulong)f.Harmonics);
                WriteText(zip, "activation", f.Activation == FeatureActivation.Relu ? "relu" : "tanh");
                Scalar(zip, "tau", "<f8", BitConverter.DoubleToUInt64Bits(model.Tau));
                Scalar(zip, "seed", "<u8", f.Seed);
                Scalar(zip, "t_min", "<f8", BitConverter.DoubleToUInt64Bits(o.TimeMin));
                Scalar(zip, "nodes", "<i8", (ulong)o.Nodes);
                Scalar(zip, "draws", "<i8", (ulong)o.Draws);
                WriteText(zip, "weighting", RandomFeatureTraining.Name(o.Weighting));
                WriteText(zip, "initial", o.Initial == InitialCoefficients.Zero ? "zero" : "gaussian");
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Reads a model file; every entry is checked (present, dtype, shape, values) with a message naming the file and entry.</summary>
    /// <exception cref="FormatException">The file is not a model file or an entry is missing or malformed.</exception>
    public static RandomFeatureModel Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(File.OpenRead(path), ZipArchiveMode.Read);
        }
        catch (InvalidDataException e)
        {
            throw new FormatException($"{path}: not a model file (not a zip/.npz archive: {e.Message}); write one with `kernels rf fit`.", e);
        }
        using (zip)
        {
            var wx = Array(zip, path, "w_x", 2);
            int p = wx.Shape[0], d = wx.Shape[1];
            var wt = Array(zip, path, "w_t", 2);
            var b = Array(zip, path, "b", 1);
            var a = Array(zip, path, "a", 2);
            long harmonics = Int(zip, path, "harmonics");
            if (wt.Shape[0] != p || wt.Shape[1] != 2 * harmonics + 1)
                throw Bad(path, "w_t", $"has shape {Npy.FormatShape(wt.Shape)} but P = {p} and 2K+1 = {2 * harmonics + 1}");
            if (b.Shape[0] != p)
                throw Bad(path, "b", $"has {b.Shape[0]} values but P = {p}");
            if (a.Shape[0] != d || a.Shape[1] != p)
                throw Bad(path, "a", $"has shape {Npy.FormatShape(a.Shape)} but D×P = ({d}, {p})");
            string scheduleName = ReadText(zip, path, "schedule");
            NoiseSchedule schedule;
            try
            {
                schedule = NoiseSchedule.Parse(scheduleName);
            }
            catch (ArgumentException)
            {
                throw Bad(path, "schedule", $"is '{scheduleName}', not one of ou, vp, ve, edm");
            }
            string activationName = ReadText(zip, path, "activation");
            var activation = activationName switch
            {
                "relu" => FeatureActivation.Relu,
                "tanh" => FeatureActivation.Tanh,
                _ => throw Bad(path, "activation", $"is '{activationName}', not relu or tanh"),
            };
            string weightingName = ReadText(zip, path, "weighting");
            TimeWeighting weighting;
            try
            {
                weighting = RandomFeatureTraining.ParseWeighting(weightingName);
            }
            catch (ArgumentException)
            {
                throw Bad(path, "weighting", $"is '{weightingName}', not 1, sigma2 or sigma4");
            }
            string initialName = ReadText(zip, path, "initial");
            var initial = initialName switch
            {
                "zero" => InitialCoefficients.Zero,
                "gaussian" => InitialCoefficients.Gaussian,
                _ => throw Bad(path, "initial", $"is '{initialName}', not zero or gaussian"),
            };
            double tMax = BitConverter.UInt64BitsToDouble(Scalar(zip, path, "t_max", "<f8"));
            double tau = BitConverter.UInt64BitsToDouble(Scalar(zip, path, "tau", "<f8"));
            ulong seed = Scalar(zip, path, "seed", "<u8");
            var training = new RandomFeatureTraining
            {
                TimeMin = BitConverter.UInt64BitsToDouble(Scalar(zip, path, "t_min", "<f8")),
                Nodes = checked((int)Int(zip, path, "nodes")),
                Draws = checked((int)Int(zip, path, "draws")),
                Weighting = weighting,
                Initial = initial,
            };
            try
            {
                var features = new RandomFeatures(wx.Double!, wt.Double!, b.Double!, d, checked((int)harmonics), activation, schedule, tMax, seed);
                training.Validate(tMax);
                _ = new RandomFeatureScore<double>(features, a.Double!, tau); // validates A and τ
                return new RandomFeatureModel(features, a.Double!, tau, training);
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"{path}: not a valid model file: {e.Message}", e);
            }
        }
    }

    private static FormatException Bad(string path, string entry, string problem) =>
        new($"{path}: entry '{entry}' {problem}; the file is damaged or not written by `kernels rf fit`.");

    private static ZipArchiveEntry Entry(ZipArchive zip, string path, string name) =>
        zip.GetEntry(name + ".npy") ?? throw new FormatException(
            $"{path}: no entry '{name}' ({name}.npy); a model file holds w_x, w_t, b, a, schedule, t_max, harmonics, activation, tau, seed, t_min, nodes, draws, weighting and initial: write one with `kernels rf fit`.");

    private static NpyArray Array(ZipArchive zip, string path, string name, int rank)
    {
        using var stream = Entry(zip, path, name).Open();
        NpyArray array;
        try
        {
            array = Npy.Read(stream, $"{path}:{name}.npy");
        }
        catch (NpyFormatException e)
        {
            throw new FormatException(e.Message, e);
        }
        if (array.ElementType != typeof(double) || array.Shape.Length != rank)
            throw Bad(path, name, $"is a {array.ElementType.Name} array of shape {Npy.FormatShape(array.Shape)}, not a float64 array of rank {rank}");
        return array;
    }

    private static void Array(ZipArchive zip, string name, ReadOnlySpan<double> values, params int[] shape)
    {
        using var stream = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression).Open();
        Npy.Write(stream, values, shape);
    }

    private static void Scalar(ZipArchive zip, string name, string descr, ulong bits)
    {
        using var stream = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression).Open();
        stream.Write(Npy.BuildHeader(descr, []));
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, bits);
        stream.Write(data);
    }

    private static void WriteText(ZipArchive zip, string name, string value)
    {
        using var stream = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression).Open();
        stream.Write(Npy.BuildHeader($"<U{Math.Max(1, value.Length)}", []));
        var data = new byte[4 * Math.Max(1, value.Length)]; // UTF-32LE, NUL-padded
        Encoding.UTF32.GetBytes(value, data);
        stream.Write(data);
    }

    /// <summary>A 0-d entry's descr and raw data bytes.</summary>
    private static (string Descr, byte[] Data) ScalarEntry(ZipArchive zip, string path, string name)
    {
        using var stream = Entry(zip, path, name).Open();
        var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        var bytes = buffer.ToArray();
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            throw Bad(path, name, "is not a .npy array");
        int major = bytes[6];
        int start = major == 1 ? 10 : 12;
        if (bytes.Length < start) throw Bad(path, name, "is truncated");
        int length = major == 1 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)) : (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (length < 0 || start + length > bytes.Length) throw Bad(path, name, "is truncated");
        string header = Encoding.Latin1.GetString(bytes, start, length);
        var descr = DescrPattern.Match(header);
        var shape = ShapePattern.Match(header);
        if (!descr.Success || !shape.Success || shape.Groups[1].Value.Trim().Length != 0)
            throw Bad(path, name, "is not a 0-d array");
        return (descr.Groups[1].Value, bytes[(start + length)..]);
    }

    private static ulong Scalar(ZipArchive zip, string path, string name, string descr)
    {
        var (found, data) = ScalarEntry(zip, path, name);
        if (found != descr || data.Length != 8)
            throw Bad(path, name, $"has dtype '{found}', expected '{descr}'");
        return BinaryPrimitives.ReadUInt64LittleEndian(data);
    }

    private static long Int(ZipArchive zip, string path, string name)
    {
        long value = (long)Scalar(zip, path, name, "<i8");
        if (value < 0) throw Bad(path, name, $"is {value}, below 0");
        return value;
    }

    private static string ReadText(ZipArchive zip, string path, string name)
    {
        var (descr, data) = ScalarEntry(zip, path, name);
        if (!descr.StartsWith("<U", StringComparison.Ordinal) || !int.TryParse(descr[2..], NumberStyles.None, CultureInfo.InvariantCulture, out int chars)
            || data.Length != 4 * chars)
            throw Bad(path, name, $"has dtype '{descr}', expected a unicode string ('<U…')");
        return Encoding.UTF32.GetString(data).TrimEnd('\0');
    }
}
