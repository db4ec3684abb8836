// Build script: `dotnet tool restore && dotnet cake --target=<Target>`.
//   Build  – the solution in Release
//   Test   – the test suite (xUnit + FsCheck) in Release; fails on any failing test
//   Bench  – the BenchmarkDotNet suites (pass --filter to narrow, e.g. --filter='*Score*')
//   BenchCheck – the performance regression gate: a short in-process run of the "Check" benchmarks, each as its share of
//            the FMA ceiling measured in the same run, written to artifacts/bench-check/results.json and compared with
//            bench/baseline.json; fails when a share falls by more than the baseline's threshold (--threshold=F to
//            override). --update-baseline=true rewrites the baseline from this run instead (then commit it).
//   Reproduce – the README's main job: one of the papers' experiments (--name=circle-ucurve, or all) into --out
//   Example – builds the CLI, makes a small data set and writes its scores (into --out, default out/example)
//   Native – the C ABI in artifacts/native (--native-out=DIR): src/Native published with NativeAOT twice, as
//            libkernels-x86-64-v3.so (AVX2) and libkernels-x86-64-v4.so (AVX-512), the dispatcher libkernels.so that
//            loads the one the CPU runs (gcc, native/src/dispatch.c), kernels.h, and the C example built and run there
//   Python – the wheel of the Python package (python/) into artifacts/packages, with the Native target's libraries
//            inside (built offline with Debian's python3-setuptools and python3-wheel: --python=/usr/bin/python3)
//   Pack   – everything a user installs, into artifacts/packages: the NuGet packages Kernels.Numerics and
//            Kernels.Interop (with symbol packages), the .NET tool Kernels.Cli (command `kernels`) and the Python wheel
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var filter = Argument("filter", "*");
var experiment = Argument("name", "circle-ucurve");
var outDir = Argument("out", "");
var nativeOut = Argument("native-out", "artifacts/native");
var updateBaseline = Argument("update-baseline", false);
var threshold = Argument("threshold", "");
var python = Argument("python", "/usr/bin/python3");
var packagesOut = "artifacts/packages";

Task("Clean").Does(() =>
{
    CleanDirectories("./src/**/bin/" + configuration);
    CleanDirectories("./tests/bin/" + configuration);
    CleanDirectories("./bench/bin/" + configuration);
    CleanDirectories("./src/Native/bin/native/" + configuration); // the NativeAOT variants (one folder per instruction set)
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

Task("BenchCheck").IsDependentOn("Build").Does(() =>
{
    var arguments = new ProcessArgumentBuilder().Append("check").Append("--baseline").AppendQuoted("bench/baseline.json")
        .Append("--out").AppendQuoted("artifacts/bench-check/results.json");
    if (threshold != "") arguments.Append("--threshold").Append(threshold);
    if (updateBaseline) arguments.Append("--update");
    // DotNetRun throws on a non-zero exit code: a regression fails the target
    DotNetRun("./bench/Kernels.Bench.csproj", arguments, new DotNetRunSettings { Configuration = configuration, NoBuild = true });
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

Task("Native").Does(() =>
{
    EnsureDirectoryExists(nativeOut);
    foreach (var isa in new[] { "x86-64-v3", "x86-64-v4" })
    {
        var publishDir = "./artifacts/obj/native-" + isa;
        DotNetPublish("./src/Native/Kernels.Native.csproj", new DotNetPublishSettings
        {
            Configuration = configuration, Runtime = "linux-x64", OutputDirectory = publishDir,
            MSBuildSettings = new DotNetMSBuildSettings().WithProperty("IlcInstructionSet", isa),
        });
        CopyFile(publishDir + "/Kernels.Native.so", nativeOut + "/libkernels-" + isa + ".so");
    }
    CopyFile("./native/include/kernels.h", nativeOut + "/kernels.h");
    Gcc("-std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC native/src/dispatch.c -I native/include -Wl,-soname,libkernels.so -ldl -pthread -o",
        nativeOut + "/libkernels.so");

    // The C example, linked as a user would: -lkernels, found at run time next to the program ($ORIGIN).
    var example = nativeOut + "/score";
    Gcc("-std=c11 -Wall -Wextra -Werror -O2 native/examples/score.c -I native/include -L " + nativeOut + " -lkernels -Wl,-rpath,$ORIGIN -lm -o", example);
    if (StartProcess(example) != 0) throw new Exception("The C example failed.");
    Information($"C ABI in {nativeOut}: libkernels.so (+ libkernels-x86-64-v3.so, libkernels-x86-64-v4.so), kernels.h, example score");
});

Task("Python").IsDependentOn("Native").Does(() =>
{
    // Built from a copy of python/ with the libraries dropped in, so the source tree stays as committed.
    var staging = "./artifacts/obj/python";
    CleanDirectory(staging);
    CopyDirectory("./python", staging);
    DeleteDirectories(GetDirectories(staging + "/**/__pycache__"), new DeleteDirectorySettings { Recursive = true, Force = true });
    EnsureDirectoryExists(staging + "/kernels/_native");
    CopyFiles(nativeOut + "/libkernels*.so", staging + "/kernels/_native");
    EnsureDirectoryExists(packagesOut);
    DeleteFiles(packagesOut + "/kernels-*.whl");
    int code = StartProcess(python, new ProcessSettings
    {
        Arguments = new ProcessArgumentBuilder().Append("-m pip wheel --no-deps --no-index --no-build-isolation --quiet")
            .Append("--wheel-dir").AppendQuoted(MakeAbsolute(Directory(packagesOut)).FullPath).AppendQuoted(MakeAbsolute(Directory(staging)).FullPath),
    });
    if (code != 0)
        throw new Exception($"{python} -m pip wheel failed (exit code {code}): it needs Debian's python3-pip, python3-setuptools and python3-wheel.");
    Information($"Python wheel in {packagesOut}: " + string.Join(", ", GetFiles(packagesOut + "/kernels-*.whl").Select(f => f.GetFilename().FullPath)));
});

Task("Pack").IsDependentOn("Build").IsDependentOn("Python").Does(() =>
{
    EnsureDirectoryExists(packagesOut);
    foreach (var project in new[] { "./src/Numerics/Kernels.Numerics.csproj", "./src/Interop/Kernels.Interop.csproj", "./src/Cli/Kernels.Cli.csproj" })
        DotNetPack(project, new DotNetPackSettings { Configuration = configuration, NoBuild = true, OutputDirectory = packagesOut });
    Information($"Packages in {packagesOut}: " + string.Join(", ", GetFiles(packagesOut + "/*").Select(f => f.GetFilename().FullPath)));
});

void Gcc(string arguments, string output)
{
    int code = StartProcess("gcc", new ProcessSettings { Arguments = new ProcessArgumentBuilder().Append(arguments).AppendQuoted(output) });
    if (code != 0) throw new Exception($"gcc failed building {output} (exit code {code}).");
}

RunTarget(target);
