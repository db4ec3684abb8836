using Kernels.Tests.Native;
using Xunit;

namespace Kernels.Tests.Packaging;

/// <summary>
/// The packages a user installs: the folder KERNELS_PACKAGES names (CI: artifacts/packages, made by the Cake target Pack
/// from this checkout), else Kernels.Numerics, Kernels.Interop and Kernels.Cli packed here into a temporary folder from
/// the Release build (dotnet pack --no-build). Also an offline NuGet.config for consumers: only that folder and the
/// machine's global packages folder (which holds the packages' own dependencies after any restore of this solution), so
/// no test reaches a registry; and a fresh NUGET_PACKAGES, so a package of the same version from an earlier run is never
/// taken from the cache instead of this one.
/// </summary>
public sealed class PackagesFixture : IDisposable
{
    public PackagesFixture()
    {
        RepositoryRoot = NativeBuild.FindRepositoryRoot();
        Scratch = Path.Combine(Path.GetTempPath(), $"kernels-packages-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Scratch);
        if (Environment.GetEnvironmentVariable("KERNELS_PACKAGES") is { Length: > 0 } given)
            Folder = Path.GetFullPath(given, RepositoryRoot);
        else
        {
            Folder = Path.Combine(Scratch, "packages");
            foreach (string project in new[] { "Numerics/Kernels.Numerics.csproj", "Interop/Kernels.Interop.csproj", "Cli/Kernels.Cli.csproj" })
                Tool.RunChecked(Tool.Dotnet, ["pack", Path.Combine(RepositoryRoot, "src", project), "-c", "Release", "--no-build", "-o", Folder,
                    "--disable-build-servers", "-nodeReuse:false", "-v:q", "-nologo"], RepositoryRoot, TimeSpan.FromMinutes(8));
        }
        GlobalPackages = GlobalPackagesFolder();
        CachePackages = Path.Combine(Scratch, "nuget-cache");
        Config = Path.Combine(Scratch, "NuGet.config");
        File.WriteAllText(Config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="kernels" value="{Folder}" />
                <add key="machine" value="{GlobalPackages}" />
              </packageSources>
            </configuration>
            """);
        Version = System.Xml.Linq.XDocument.Load(Path.Combine(RepositoryRoot, "Directory.Build.props"))
            .Descendants("Version").Single().Value;
    }

    public string RepositoryRoot { get; }

    /// <summary>The folder holding the .nupkg and .snupkg files.</summary>
    public string Folder { get; }

    public string Scratch { get; }

    public string GlobalPackages { get; }

    public string CachePackages { get; }

    /// <summary>A NuGet.config naming only <see cref="Folder"/> and <see cref="GlobalPackages"/>.</summary>
    public string Config { get; }

    /// <summary>Directory.Build.props' Version: the one place it is set.</summary>
    public string Version { get; }

    /// <summary>The environment of an offline consumer: the fresh cache.</summary>
    public Dictionary<string, string> ConsumerEnvironment => new() { ["NUGET_PACKAGES"] = CachePackages, ["DOTNET_CLI_UI_LANGUAGE"] = "en" };

    /// <summary>
    /// Copies the dependencies that package <paramref name="id"/>'s nuspec names (and theirs, for net10.0 or any framework)
    /// from the machine's global packages folder into the fresh cache, as an earlier restore would have left them.
    /// </summary>
    public void SeedCacheWithDependenciesOf(string id)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(Folder, $"{id}.{Version}.nupkg"));
        var pending = new Queue<(string Id, string Version)>(Dependencies(System.Xml.Linq.XDocument.Load(
            zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open())));
        while (pending.TryDequeue(out var dependency))
        {
            string name = dependency.Id.ToLowerInvariant(), source = Path.Combine(GlobalPackages, name, dependency.Version);
            string target = Path.Combine(CachePackages, name, dependency.Version);
            if (Directory.Exists(target)) continue;
            if (!Directory.Exists(source))
                throw new InvalidOperationException($"{dependency.Id} {dependency.Version} is not in {GlobalPackages}; restore the solution once first.");
            CopyDirectory(source, target);
            foreach (var next in Dependencies(System.Xml.Linq.XDocument.Load(Path.Combine(source, name + ".nuspec")))) pending.Enqueue(next);
        }
    }

    /// <summary>The (id, lowest version) pairs of a nuspec's net10.0-compatible dependency groups (or its ungrouped ones).</summary>
    private static IEnumerable<(string, string)> Dependencies(System.Xml.Linq.XDocument nuspec)
    {
        var groups = nuspec.Descendants().Where(e => e.Name.LocalName == "group").ToList();
        var chosen = groups.Count == 0 ? nuspec.Descendants().Where(e => e.Name.LocalName == "dependencies").ToList()
            : groups.Where(g => (string?)g.Attribute("targetFramework") is null or "net10.0" or ".NETStandard2.0" or "net8.0" or "net6.0")
                .OrderByDescending(g => (string?)g.Attribute("targetFramework") == "net10.0").Take(1).ToList();
        return chosen.SelectMany(g => g.Elements().Where(e => e.Name.LocalName == "dependency"))
            .Select(e => ((string)e.Attribute("id")!, ((string)e.Attribute("version")!).Trim('[', ']', '(', ')').Split(',')[0]));
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (string file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        foreach (string dir in Directory.GetDirectories(source)) CopyDirectory(dir, Path.Combine(target, Path.GetFileName(dir)));
    }

    private static string GlobalPackagesFolder()
    {
        if (System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set) return set;
        var listed = Tool.RunChecked(Tool.Dotnet, ["nuget", "locals", "global-packages", "--list"], Path.GetTempPath(), TimeSpan.FromMinutes(1));
        string line = listed.Out.Split('\n').Single(l => l.StartsWith("global-packages:", StringComparison.Ordinal));
        return line["global-packages:".Length..].Trim();
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Scratch, recursive: true);
        }
        catch (IOException)
        {
            // a leftover temp folder is harmless
        }
    }
}

/// <summary>Alone, after the parallel collections: restores and builds keep both cores busy.</summary>
[CollectionDefinition("packages", DisableParallelization = true)]
public sealed class PackagesCollection : ICollectionFixture<PackagesFixture>;
