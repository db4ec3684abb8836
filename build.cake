// Build script: `dotnet tool restore && dotnet cake --target=<Target>`.
//   Build  – the solution in Release
//   Test   – the test suite (xUnit + FsCheck) in Release; fails on any failing test
//   Bench  – the BenchmarkDotNet suites (pass --filter to narrow, e.g. --filter='*Score*')
//   Reproduce – the README's main job: one of the papers' experiments (--name=circle-ucurve, or all) into --out
//   Example – builds the CLI, makes a small data set and writes its scores
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var filter = Argument("filter", "*");
var experiment = Argument("name", "circle-ucurve");
var outDir = Argument("out", "");

Task("Clean").Does(() =>
{
    CleanDirectories("./src/**/bin/" + configuration);
    CleanDirectories("./tests/bin/" + configuration);
    CleanDirectories("./bench/bin/" + configuration);
});

Task("Build").Does(() =>
{
    DotNetBuild("./Kernels.sln", new DotNetBuildSettings { Configuration = configuration });
});

Task("Test").IsDependentOn("Build").Does(() =>
{
    DotNetTest("./Kernels.sln", new DotNetTestSettings { Configuration = configuration, NoBuild = true });
});

Task("Bench").IsDependentOn("Build").Does(() =>
{
    // in-process, short iterations: about 3 minutes for every suite, StdDev of a few percent on an idle machine
    DotNetRun("./bench/Kernels.Bench.csproj", new ProcessArgumentBuilder().Append("--filter").AppendQuoted(filter)
            .Append("--inProcess --iterationTime 200 --warmupCount 2 --iterationCount 7 --exporters json"),
        new DotNetRunSettings { Configuration = configuration, NoBuild = true });
});

Task("Reproduce").IsDependentOn("Build").Does(() =>
{
    DotNetRun("./src/Cli/Kernels.Cli.csproj", new ProcessArgumentBuilder().Append("reproduce").Append(experiment)
            .Append("--out").AppendQuoted(outDir == "" ? "out/" + experiment : outDir),
        new DotNetRunSettings { Configuration = configuration, NoBuild = true });
});

Task("Example").IsDependentOn("Build").Does(() =>
{
    DotNetRun("./src/Cli/Kernels.Cli.csproj", new ProcessArgumentBuilder().Append("example").Append("--out").AppendQuoted(outDir == "" ? "out/example" : outDir),
        new DotNetRunSettings { Configuration = configuration, NoBuild = true });
});

RunTarget(target);
