using System.Diagnostics;
using System.IO.Compression;
using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Models;
using Xunit;

namespace Kernels.Tests.Models;

/// <summary>Model files (<see cref="RandomFeatureFile"/>): bit-for-bit round trips, NumPy's reading, and damaged files.</summary>
public sealed class RandomFeatureFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-rf-file-tests-" + Guid.NewGuid().ToString("N"));

    public RandomFeatureFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private static RandomFeatureModel Model(double tau = 12.5)
    {
        var features = RandomFeatures.Draw(3, 21, 2, NoiseSchedule.OrnsteinUhlenbeck, 10.0, ulong.MaxValue - 3, FeatureActivation.Tanh);
        var rng = new Random(1);
        var a = Enumerable.Range(0, 3 * 21).Select(_ => rng.NextDouble() - 0.5).ToArray();
        return new RandomFeatureModel(features, a, tau,
            new RandomFeatureTraining { TimeMin = 1e-3, Nodes = 11, Draws = 4, Weighting = TimeWeighting.Sigma2, Initial = InitialCoefficients.Gaussian });
    }

    [Theory]
    [InlineData(12.5)]
    [InlineData(double.PositiveInfinity)]
    public void RoundTrip_IsBitForBit(double tau)
    {
        var model = Model(tau);
        string path = Path.Combine(_dir, "m.npz");
        RandomFeatureFile.Write(path, model);
        var back = RandomFeatureFile.Read(path);
        var f = model.Features;
        var g = back.Features;
        Assert.Equal(f.Spatial.ToArray().Select(BitConverter.DoubleToInt64Bits), g.Spatial.ToArray().Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(f.Temporal.ToArray().Select(BitConverter.DoubleToInt64Bits), g.Temporal.ToArray().Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(f.Bias.ToArray().Select(BitConverter.DoubleToInt64Bits), g.Bias.ToArray().Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(model.Coefficients.Select(BitConverter.DoubleToInt64Bits), back.Coefficients.Select(BitConverter.DoubleToInt64Bits));
        Assert.Equal(BitConverter.DoubleToInt64Bits(tau), BitConverter.DoubleToInt64Bits(back.Tau));
        Assert.Equal((f.Dimension, f.Count, f.Harmonics, f.Activation, f.Schedule.Name, f.TimeMax, f.Seed),
            (g.Dimension, g.Count, g.Harmonics, g.Activation, g.Schedule.Name, g.TimeMax, g.Seed));
        Assert.Equal(model.Training, back.Training);
        // writing what was read gives the same bytes
        string again = Path.Combine(_dir, "again.npz");
        RandomFeatureFile.Write(again, back);
        Assert.Equal(Entries(path), Entries(again));
    }

    private static Dictionary<string, byte[]> Entries(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        return zip.Entries.ToDictionary(e => e.FullName, e =>
        {
            using var s = e.Open();
            var m = new MemoryStream();
            s.CopyTo(m);
            return m.ToArray();
        });
    }

    /// <summary>numpy.load reads every entry with the documented dtype and shape and the same values (skips only when
    /// /usr/bin/python3 or NumPy is absent).</summary>
    [Fact]
    public void NumPy_LoadsTheFile()
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python) || Run(python, "-c \"import numpy\"").Code != 0)
        {
            Console.WriteLine("skipped: /usr/bin/python3 with numpy is not installed");
            return;
        }
        var model = Model(double.PositiveInfinity);
        string path = Path.Combine(_dir, "m.npz");
        RandomFeatureFile.Write(path, model);
        string script = Path.Combine(_dir, "check.py");
        File.WriteAllText(script, """
            import sys, numpy as np
            z = np.load(sys.argv[1])
            f = lambda k: z[k]
            out = [f('w_x').shape, f('w_t').shape, f('b').shape, f('a').shape, str(f('w_x').dtype), str(f('schedule')), str(f('activation')),
                   float(f('t_max')), int(f('harmonics')), float(f('tau')), int(f('seed')), str(f('seed').dtype), str(f('weighting')), int(f('nodes')),
                   repr(float(f('a')[1, 2])), repr(float(f('w_x')[4, 1]))]
            print(out)
            """.Replace("\n            ", "\n"));
        var (code, output) = Run(python, $"{script} {path}");
        Assert.True(code == 0, output);
        var f = model.Features;
        string expected = $"[(21, 3), (21, 5), (21,), (3, 21), 'float64', 'ou', 'tanh', 10.0, 2, inf, {f.Seed}, 'uint64', 'sigma2', 11, " +
                          $"'{model.Coefficients[1 * 21 + 2]:R}', '{f.Spatial[4 * 3 + 1]:R}']";
        Assert.Equal(expected, output.Trim());
    }

    private static (int Code, string Output) Run(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }

    [Fact]
    public void DamagedFiles_AreRefusedWithTheEntryNamed()
    {
        string path = Path.Combine(_dir, "m.npz");
        RandomFeatureFile.Write(path, Model());
        // not a zip
        string npy = Path.Combine(_dir, "x.npy");
        Npy.Write(npy, new double[] { 1, 2 }, 2);
        Assert.Contains("not a model file", Assert.Throws<FormatException>(() => RandomFeatureFile.Read(npy)).Message);
        // an entry missing
        string missing = Path.Combine(_dir, "missing.npz");
        File.Copy(path, missing);
        using (var zip = ZipFile.Open(missing, ZipArchiveMode.Update)) zip.GetEntry("tau.npy")!.Delete();
        Assert.Contains("no entry 'tau'", Assert.Throws<FormatException>(() => RandomFeatureFile.Read(missing)).Message);
        // a float32 a; an a of the wrong shape (another D)
        string single = WithEntry(path, "single.npz", "a", s => Npy.Write(s, new float[3 * 21], 3, 21));
        Assert.Contains("entry 'a'", Assert.Throws<FormatException>(() => RandomFeatureFile.Read(single)).Message);
        string shape = WithEntry(path, "shape.npz", "a", s => Npy.Write(s, new double[2 * 21], 2, 21));
        Assert.Contains("D×P", Assert.Throws<FormatException>(() => RandomFeatureFile.Read(shape)).Message);
    }

    /// <summary>A copy of <paramref name="path"/> named <paramref name="name"/> whose entry <paramref name="entry"/> is rewritten.</summary>
    private string WithEntry(string path, string name, string entry, Action<Stream> write)
    {
        string copy = Path.Combine(_dir, name);
        File.Copy(path, copy);
        using var zip = ZipFile.Open(copy, ZipArchiveMode.Update);
        zip.GetEntry(entry + ".npy")!.Delete();
        using var stream = zip.CreateEntry(entry + ".npy").Open();
        write(stream);
        return copy;
    }
}
