using System.Globalization;
using System.IO.Compression;
using System.Runtime.Loader;
using System.Xml.Linq;
using Kernels.Numerics;
using Kernels.Tests.Native;
using Xunit;

namespace Kernels.Tests.Packaging;

/// <summary>
/// The NuGet route and the tool route as a user takes them, offline: a new console project adds Kernels.Numerics from the
/// packages folder and computes a score; `dotnet tool install` installs Kernels.Cli into a temporary tool path and the
/// `kernels` command runs. Also what each package carries (README, XML docs, licence, symbols, the OpenCL sources) and
/// that every version number of the project agrees.
/// </summary>
[Collection("packages")]
public sealed class PackageTests(PackagesFixture packages)
{
    private static readonly TimeSpan Slow = TimeSpan.FromMinutes(6);

    [Fact]
    public void NewConsoleProject_AddsKernelsNumericsFromTheFolder_AndComputesTheManagedApisScore()
    {
        string app = Path.Combine(packages.Scratch, "consumer");
        Run(Tool.Dotnet, ["new", "console", "-o", app, "--no-restore"], packages.Scratch);
        File.Copy(packages.Config, Path.Combine(app, "NuGet.config"));
        // as the README says: --source the packages folder alone; its dependencies are already in the cache, as after any
        // earlier restore (here seeded from the machine's global packages folder: no registry is asked)
        packages.SeedCacheWithDependenciesOf("Kernels.Numerics");
        Run(Tool.Dotnet, ["add", "package", "Kernels.Numerics", "--version", packages.Version, "--source", packages.Folder], app);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using System.Globalization;
            using Kernels.Numerics;

            double[] y = [1, 0, 0, 1, -1, 0, 0, -1, 0.5, 0.5];   // N = 5 points in D = 2
            double[] x = [0.3, 0.2, -0.4, 0.9];                   // M = 2 queries
            var score = new EmpiricalScore<double>(new TrainingSet<double>(y, 5, 2)).Score(x, new NoiseLevel(0.9, 0.4));
            Console.WriteLine(string.Join(" ", score.Select(v => v.ToString("R", CultureInfo.InvariantCulture))));
            """);
        var run = Run(Tool.Dotnet, ["run", "-c", "Release"], app);
        double[] expected = new EmpiricalScore<double>(new TrainingSet<double>([1, 0, 0, 1, -1, 0, 0, -1, 0.5, 0.5], 5, 2))
            .Score([0.3, 0.2, -0.4, 0.9], new NoiseLevel(0.9, 0.4));
        // the same assembly under the same JIT on the same machine: the same bits
        Assert.Equal(string.Join(" ", expected.Select(v => v.ToString("R", CultureInfo.InvariantCulture))), run.Out.Trim());
        Assert.True(File.Exists(Path.Combine(packages.CachePackages, "kernels.numerics", packages.Version, $"kernels.numerics.{packages.Version}.nupkg")),
            "Kernels.Numerics was not restored from the packages folder into the fresh cache");
    }

    [Fact]
    public void DotnetToolInstall_GivesTheKernelsCommand_WhichPrintsItsVersionAndBackend_AndRunsAVerb()
    {
        string tools = Path.Combine(packages.Scratch, "tools");
        Run(Tool.Dotnet, ["tool", "install", "Kernels.Cli", "--version", packages.Version, "--tool-path", tools, "--configfile", packages.Config],
            packages.Scratch);
        string kernels = Path.Combine(tools, "kernels");
        var version = Run(kernels, ["--version"], packages.Scratch);
        Assert.Contains($"kernels {packages.Version}", version.Out);
        Assert.Matches(@"backend: cpu \((AVX-512|AVX2|128-bit)", version.Out);

        string example = Path.Combine(packages.Scratch, "example");
        Run(kernels, ["example", "--out", example], packages.Scratch);
        Assert.NotEmpty(Directory.GetFiles(example, "*.npy"));
    }

    [Theory]
    [InlineData("Kernels.Numerics")]
    [InlineData("Kernels.Interop")]
    public void Library_Packages_CarryReadme_XmlDocs_Licence_AndSymbols(string id)
    {
        string package = Path.Combine(packages.Folder, $"{id}.{packages.Version}.nupkg");
        using var zip = ZipFile.OpenRead(package);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("README.md", names);
        Assert.Contains($"lib/net10.0/{id}.dll", names);
        Assert.Contains($"lib/net10.0/{id}.xml", names);
        var nuspec = XDocument.Load(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        var metadata = nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string Field(string name) => metadata.Elements().Single(e => e.Name.LocalName == name).Value;
        Assert.Equal(id, Field("id"));
        Assert.Equal(packages.Version, Field("version"));
        Assert.Equal("MIT", Field("license"));
        Assert.Equal("README.md", Field("readme"));
        Assert.False(string.IsNullOrWhiteSpace(Field("description")));
        Assert.False(string.IsNullOrWhiteSpace(Field("authors")));
        Assert.True(File.Exists(Path.Combine(packages.Folder, $"{id}.{packages.Version}.snupkg")), "no symbol package");
    }

    [Fact]
    public void InteropPackage_EmbedsTheOpenClSources()
    {
        using var zip = ZipFile.OpenRead(Path.Combine(packages.Folder, $"Kernels.Interop.{packages.Version}.nupkg"));
        var entry = zip.GetEntry("lib/net10.0/Kernels.Interop.dll")!;
        using var copy = new MemoryStream();
        using (var stream = entry.Open()) stream.CopyTo(copy);
        copy.Position = 0;
        var context = new AssemblyLoadContext("interop-package", isCollectible: true);
        try
        {
            var resources = context.LoadFromStream(copy).GetManifestResourceNames();
            foreach (string source in Directory.GetFiles(Path.Combine(packages.RepositoryRoot, "native"), "*.cl"))
                Assert.Contains($"Kernels.Interop.{Path.GetFileName(source)}", resources);
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void EveryVersionNumber_Agrees()
    {
        string v = packages.Version;
        string header = File.ReadAllText(Path.Combine(packages.RepositoryRoot, "native", "include", "kernels.h"));
        Assert.Contains($"#define KN_VERSION_STRING \"{v}\"", header);
        Assert.Equal(v, $"{Kernels.Native.Exports.Major}.{Kernels.Native.Exports.Minor}.{Kernels.Native.Exports.Patch}");
        string python = File.ReadAllText(Path.Combine(packages.RepositoryRoot, "python", "kernels", "_version.py"));
        Assert.Contains($"__version__ = \"{v}\"", python);
        Assert.Equal(v, Kernels.Cli.VersionAction.Version);
    }

    private ToolResult Run(string program, string[] arguments, string directory)
    {
        var result = Tool.Run(program, arguments, directory, Slow, packages.ConsumerEnvironment);
        Assert.True(result.ExitCode == 0, $"{Path.GetFileName(program)} {string.Join(' ', arguments)} exited with {result.ExitCode}:\n{result.Out}\n{result.Error}");
        return result;
    }
}
