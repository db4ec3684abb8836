using System.Numerics;
using Kernels.Numerics.Io;

namespace Kernels.Cli;

/// <summary>A 2-D .npy input read for one option (--train or --query), checked to be a non-empty (rows, columns) matrix.</summary>
internal sealed class MatrixFile
{
    private MatrixFile(string path, string option, NpyArray array, int rows, int columns)
    {
        Path = path;
        Option = option;
        Array = array;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>The path as given on the command line.</summary>
    public string Path { get; }

    /// <summary>The option it came from, for messages.</summary>
    public string Option { get; }

    /// <summary>The values as stored (float32 or float64).</summary>
    public NpyArray Array { get; }

    /// <summary>Number of points (N or M).</summary>
    public int Rows { get; }

    /// <summary>The dimension D.</summary>
    public int Columns { get; }

    /// <summary>"(rows, columns)".</summary>
    public string ShapeText => $"({Rows}, {Columns})";

    /// <summary>Reads <paramref name="path"/> for <paramref name="option"/>; <paramref name="rowsName"/> is N or M in messages.</summary>
    public static MatrixFile Read(string path, string option, string rowsName)
    {
        if (Directory.Exists(path))
            throw new InputException($"{option} {path} is a directory; pass a .npy file.");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{option} {path}: no such file.", path);

        NpyArray array;
        try
        {
            array = Npy.Read(path);
        }
        catch (NpyFormatException e)
        {
            throw new InputException($"{option} {e.Message}");
        }

        var (rows, columns) = array.AsMatrix(option); // names the option, the shape, and how to reshape a 1-D array to (N, D)
        if (rows == 0)
            throw new InputException($"{option} {path} has shape (0, {columns}): no points; it needs at least one row ({rowsName} >= 1).");
        if (columns == 0)
            throw new InputException($"{option} {path} has shape ({rows}, 0): points of dimension 0; it needs D >= 1 columns.");
        return new MatrixFile(path, option, array, rows, columns);
    }

    /// <summary>
    /// Rank <paramref name="rank"/>'s share of the rows of <paramref name="path"/> for <paramref name="option"/>: rows
    /// [rank·N/size, (rank+1)·N/size), read by seeking (the other rows are never read); possibly none.
    /// </summary>
    public static MatrixFile ReadRows(string path, string option, int rank, int size, out long firstRow, out long totalRows)
    {
        if (Directory.Exists(path))
            throw new InputException($"{option} {path} is a directory; pass a .npy file.");
        if (!File.Exists(path))
            throw new FileNotFoundException($"{option} {path}: no such file.", path);
        try
        {
            // the header alone first (rows [0, 0)): N decides this rank's range
            Npy.ReadRows(path, 0, 0, out int rows);
            var (first, end) = MpiShard.RowRange(rows, rank, size);
            var array = Npy.ReadRows(path, first, (int)(end - first), out _);
            firstRow = first;
            totalRows = rows;
            if (rows == 0)
                throw new InputException($"{option} {path} has no rows; it needs at least one point (N >= 1).");
            if (array.Shape[1] == 0)
                throw new InputException($"{option} {path} has points of dimension 0; it needs D >= 1 columns.");
            return new MatrixFile(path, option, array, array.Shape[0], array.Shape[1]);
        }
        catch (NpyFormatException e)
        {
            throw new InputException($"{option} {e.Message}");
        }
    }

    /// <summary>
    /// The values in precision <typeparamref name="T"/>: as stored, widened, or narrowed from float64 to float32; a finite
    /// float64 value beyond the float32 range is an error (it would become an infinity), not silently converted.
    /// </summary>
    public T[] Values<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double))
            return (T[])(object)Array.ToDouble();

        float[] values = Array.ToSingle();
        if (Array.Double is double[] source)
        {
            for (int i = 0; i < values.Length; i++)
            {
                if (double.IsFinite(source[i]) && !float.IsFinite(values[i]))
                    throw new InputException(
                        $"{Option} {Path}: row {i / Columns} column {i % Columns} holds {source[i]:G17}, beyond the float32 range; use --precision float64 or rescale the data.");
            }
        }
        return (T[])(object)values;
    }

    /// <summary>Fails early, before any work, when <paramref name="path"/> cannot be an output file (missing directory, a directory itself).</summary>
    public static void RequireWritableLocation(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new InputException($"{option} is empty; give the path of the .npy file to write.");
        if (Directory.Exists(path))
            throw new InputException($"{option} {path} is a directory; give the path of the .npy file to write.");
        string? directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (directory is not null && !Directory.Exists(directory))
            throw new InputException($"{option} {path}: the directory {directory} does not exist; create it first.");
    }

    /// <summary>Writes <paramref name="values"/> (float or double) atomically with the given shape.</summary>
    public static void Write<T>(string path, T[] values, int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values is float[] single)
            Npy.Write(path, single, shape);
        else
            Npy.Write(path, (double[])(object)values, shape);
    }
}
