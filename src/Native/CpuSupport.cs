using System.Runtime.Intrinsics.X86;

namespace Kernels.Native;

/// <summary>
/// Whether this CPU has the instruction sets the library was compiled for (x86-64-v3: AVX, AVX2, FMA, BMI1, BMI2, LZCNT,
/// MOVBE, F16C), read once from CPUID. Inside an image compiled for v3, <c>Avx2.IsSupported</c> is a compile-time
/// constant true, so it cannot answer this; CPUID is asked directly.
/// <para>
/// What really happens on an older CPU: the NativeAOT runtime checks the compiled-for instruction sets itself when it
/// initialises, before any managed code of the library runs, and fails fast (prints a message to stderr and aborts the process).
/// This check is therefore the second line: it reports KN_ERROR_UNSUPPORTED_CPU if the runtime's own check is ever
/// skipped or weaker (see native/README.md for the measured behaviour).
/// </para>
/// </summary>
internal static class CpuSupport
{
    private static readonly string? Missing = FindMissing();

    /// <summary>Throws KN_ERROR_UNSUPPORTED_CPU naming the missing instruction sets.</summary>
    public static void Require()
    {
        if (Missing is not null)
            throw new NativeException(Status.UnsupportedCpu,
                $"This CPU lacks {Missing}, which libkernels was compiled for (x86-64-v3); rebuild it with -p:IlcInstructionSet=x86-64-v2 for this machine.");
    }

    /// <summary>The missing instruction sets, comma-separated, or null when all are present.</summary>
    internal static string? FindMissing()
    {
        if (!X86Base.IsSupported) return null; // not x86: the build targets linux-x64 only, so unreachable in practice
        var missing = new List<string>();
        var (_, _, ecx1, _) = X86Base.CpuId(1, 0);
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        var (_, ebx7, _, _) = maxLeaf >= 7 ? X86Base.CpuId(7, 0) : (0, 0, 0, 0);
        var (maxExtended, _, _, _) = X86Base.CpuId(unchecked((int)0x80000000), 0);
        var (_, _, ecxExt, _) = (uint)maxExtended >= 0x80000001 ? X86Base.CpuId(unchecked((int)0x80000001), 0) : (0, 0, 0, 0);
        Check(ecx1, 12, "FMA");
        Check(ecx1, 22, "MOVBE");
        Check(ecx1, 27, "OSXSAVE");
        Check(ecx1, 28, "AVX");
        Check(ecx1, 29, "F16C");
        Check(ebx7, 3, "BMI1");
        Check(ebx7, 5, "AVX2");
        Check(ebx7, 8, "BMI2");
        Check(ecxExt, 5, "LZCNT");
        return missing.Count == 0 ? null : string.Join(", ", missing);

        void Check(int register, int bit, string name)
        {
            if ((register >> bit & 1) == 0) missing.Add(name);
        }
    }
}
