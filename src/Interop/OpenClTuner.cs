using System.Collections.Concurrent;

namespace Kernels.Interop;

/// <summary>
/// Picks the float32 score kernel per device and dimension class on first use: the classic kernel and a few tiled
/// shapes (<see cref="TileShape.Candidates"/>) each time a small problem of that class, the fastest wins, and the choice
/// is kept for the process and in a file under the user's cache folder (<c>$XDG_CACHE_HOME/kernels</c>, else
/// <c>~/.cache/kernels</c>; <c>KERNELS_CACHE_DIR</c> overrides), keyed by device name, driver version and the class, so
/// later processes skip the timing. The file is a cache: unreadable, unwritable or stale lines are ignored (the choice
/// then lives in memory only) and deleting it only costs one tuning run. Every candidate meets the same error bound, so
/// the choice changes results only by rounding.
/// </summary>
public static class OpenClTuner
{
    /// <summary>Overrides the cache folder (for tests and read-only homes).</summary>
    public const string CacheDirectoryVariable = "KERNELS_CACHE_DIR";

    private const string FileName = "opencl-score-kernel.tsv";
    private const string ClassicText = "classic";
    private static readonly ConcurrentDictionary<string, string> Memory = new();
    private static readonly object FileGate = new();

    /// <summary>The cache file (it may not exist yet, and its folder may not be writable).</summary>
    public static string CachePath
    {
        get
        {
            string? dir = Environment.GetEnvironmentVariable(CacheDirectoryVariable);
            if (string.IsNullOrEmpty(dir))
            {
                string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                dir = Path.Combine(!string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "kernels");
            }
            return Path.Combine(dir, FileName);
        }
    }

    /// <summary>
    /// The dimension class a choice is made for, and the dimension its timing problem has: D ≤ 16 (the latent and
    /// low-dimensional cases), D ≤ 128, larger (image data).
    /// </summary>
    internal static int ClassDimension(int d) => d <= 16 ? 16 : d <= 128 ? 64 : 784;

    internal static string Key(OpenClDevice device, OpenClDeviceKind shapeKind, int d) =>
        $"{device.Name}|{device.DriverVersion}|{shapeKind}|float32|d{ClassDimension(d)}".Replace('\t', ' ').Replace('\n', ' ');

    /// <summary>
    /// The cached choice for <paramref name="key"/> (null: the classic kernel), else the fastest of the classic kernel and
    /// <paramref name="candidates"/> by <paramref name="time"/> (seconds; +∞ for a candidate that cannot run), stored.
    /// </summary>
    internal static TileShape? Choose(string key, IReadOnlyList<TileShape> candidates, Func<TileShape?, double> time, string? path = null)
    {
        path ??= CachePath;
        if (Memory.TryGetValue(key, out var known) || (known = ReadCached(key, path)) is not null)
        {
            if (known == ClassicText) return null;
            if (TileShape.Parse(known) is { } shape) return shape;
        }
        TileShape? best = null;
        double bestTime = time(null);
        foreach (var shape in candidates)
        {
            double t = time(shape);
            if (t < bestTime) (best, bestTime) = (shape, t);
        }
        string text = best?.ToString() ?? ClassicText;
        Memory[key] = text;
        WriteCached(key, text, path);
        return best;
    }

    private static string? ReadCached(string key, string path)
    {
        try
        {
            lock (FileGate)
            {
                if (!File.Exists(path)) return null;
                string? found = null;
                foreach (string line in File.ReadLines(path))
                {
                    int tab = line.IndexOf('\t');
                    if (tab > 0 && line.AsSpan(0, tab).SequenceEqual(key)) found = line[(tab + 1)..].Trim();
                }
                if (found is not null) Memory[key] = found;
                return found;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            return null;
        }
    }

    private static void WriteCached(string key, string text, string path)
    {
        try
        {
            lock (FileGate)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                // one appended line per choice; the last line for a key wins on reading
                File.AppendAllText(path, $"{key}\t{text}\n");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            // a read-only cache folder: the choice stays in this process only
        }
    }

    /// <summary>Tests only: forgets the choice held in memory for <paramref name="key"/> (the file stays).</summary>
    internal static void Forget(string key) => Memory.TryRemove(key, out _);
}
