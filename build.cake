// Build script: `dotnet tool restore && dotnet cake --target=<Target>`.
//   Build  – the solution in Release
//   Test   – the test suite (xUnit + FsCheck) in Release; fails on any failing test
//   Bench  – the BenchmarkDotNet suites (pass --filter to narrow, e.g. --filter='*Score*')
//   Example – the README's main job: builds the CLI, makes a small data set and writes its scores
//   Native – the C ABI: publishes src/Native (NativeAOT) as artifacts/native/libkernels.so beside kernels.h, builds and
//            runs the C example there (gcc). --isa=x86-64-v4 for AVX-512-only deployments (the default v3 runs on AVX2).
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var filter = Argument("filter", "*");
var exampleOut = Argument("out", "out/example");
var isa = Argument("isa", "");
var nativeOut = Argument("native-out", "artifacts/native");

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

Task("Example").IsDependentOn("Build").Does(() =>
{
    DotNetRun("./src/Cli/Kernels.Cli.csproj", new ProcessArgumentBuilder().Append("example").Append("--out").AppendQuoted(exampleOut),
        new DotNetRunSettings { Configuration = configuration, NoBuild = true });
});

Task("Native").Does(() =>
{
    var publishDir = "./artifacts/obj/native-publish";
    var msbuild = new DotNetMSBuildSettings();
    if (isa != "") msbuild.WithProperty("IlcInstructionSet", isa.Replace(",", "%2C"));
    DotNetPublish("./src/Native/Kernels.Native.csproj", new DotNetPublishSettings
    {
        Configuration = configuration, Runtime = "linux-x64", OutputDirectory = publishDir, MSBuildSettings = msbuild,
    });
    EnsureDirectoryExists(nativeOut);
    CopyFile(publishDir + "/Kernels.Native.so", nativeOut + "/libkernels.so");
    CopyFile("./native/include/kernels.h", nativeOut + "/kernels.h");

    // The C example, linked as a user would: -lkernels, found at run time next to the program ($ORIGIN).
    var example = nativeOut + "/score";
    int gcc = StartProcess("gcc", new ProcessSettings { Arguments = new ProcessArgumentBuilder()
        .Append("-std=c11 -Wall -Wextra -Werror -O2 native/examples/score.c -I native/include")
        .Append("-L").AppendQuoted(nativeOut).Append("-lkernels -Wl,-rpath,$ORIGIN -lm -o").AppendQuoted(example) });
    if (gcc != 0) throw new Exception($"gcc failed to build the C example (exit code {gcc}).");
    if (StartProcess(example) != 0) throw new Exception("The C example failed.");
    Information($"C ABI: {nativeOut}/libkernels.so, {nativeOut}/kernels.h, example {example}");
});

RunTarget(target);
