using System.Runtime.InteropServices;
using Kernels.Native;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// Issue 14: kn_last_error is the library's own text. .NET's " (Parameter 'sigma')" and "Actual value was …" suffixes are
/// cut, and an overflow names the argument that caused it (KDE widens σ² to σ² + h², so h = 1e300 is h's fault, not σ's).
/// In-process through the exports, as ExportsProperties calls them.
/// </summary>
public sealed unsafe class ExportMessageTests
{
    private static readonly double[] Train = [1, 0, 0, 1, -1, 0, 0, -1];
    private static readonly double[] Queries = [0.5, 0.25, 0.1, -0.2];

    private static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastErrorMessage)())!;

    private static (int Status, string Message) Kde(double h, double alpha, double sigma)
    {
        nint set;
        var ld = new double[2];
        fixed (double* y = Train) fixed (double* x = Queries) fixed (double* l = ld)
        {
            Assert.Equal(0, ((delegate* unmanaged<double*, long, long, int, int, nint*, int>)&Exports.CreateF64)(y, 4, 2, 0, 1, &set));
            int status = ((delegate* unmanaged<nint, double, double*, long, long, double, double, double*, double*, double*, double*, int>)&Exports.KdeF64)(
                set, h, x, 2, 2, alpha, sigma, l, null, null, null);
            string message = LastError();
            ((delegate* unmanaged<nint, int>)&Exports.Free)(set);
            return (status, message);
        }
    }

    private static void AssertOwnWords(string message)
    {
        Assert.DoesNotContain("(Parameter '", message);
        Assert.DoesNotContain("Actual value was", message);
    }

    [Fact]
    public void KdeWithAHugeWidth_BlamesH_AndSaysWhatToDo()
    {
        var (status, message) = Kde(1e300, 1, 0.5);
        Assert.Equal((int)Status.InvalidValue, status);
        Assert.StartsWith("h = 1E+300 is too large", message);
        Assert.Contains("sigma² + h²", message);
        Assert.Contains("use a kernel width h below 1e154", message);
        Assert.DoesNotContain("sigma must be", message); // it used to blame sigma
        AssertOwnWords(message);
    }

    [Fact]
    public void KdeWithAHugeSigma_BlamesSigma()
    {
        var (status, message) = Kde(1, 1, 1e200);
        Assert.Equal((int)Status.InvalidValue, status);
        Assert.Contains("sigma = 1E+200 is too large", message);
        Assert.Contains("use sigma below 1e154", message);
        AssertOwnWords(message);
    }

    [Fact]
    public void OwnMessage_CutsTheParameterAndActualValueSuffixes()
    {
        var range = new ArgumentOutOfRangeException("sigma", 3.5, "sigma = 3.5 is out of range; use sigma below 2.");
        Assert.Contains("(Parameter 'sigma')", range.Message); // what .NET appends, cut below
        Assert.Contains("Actual value was 3.5", range.Message);
        Assert.Equal("sigma = 3.5 is out of range; use sigma below 2.", Exports.OwnMessage(range));
    }

    [Fact]
    public void OwnMessage_LeadsWithTheParameter_OnlyWhenTheTextDoesNotNameIt()
    {
        Assert.Equal("score: Value cannot be null.", Exports.OwnMessage(new ArgumentNullException("score")));
        Assert.Equal("dimension ('0') must be greater than or equal to '1'.",
            Exports.OwnMessage(Catch(() => ArgumentOutOfRangeException.ThrowIfLessThan(0, 1, "dimension"))));
    }

    [Fact]
    public void OwnMessage_WithoutAParameterName_CutsTheActualValueLine()
    {
        var range = new ArgumentOutOfRangeException(null, 7, "count must be at most 5; use 5.");
        Assert.Equal("count must be at most 5; use 5.", Exports.OwnMessage(range));
    }

    private static ArgumentException Catch(Action action)
    {
        try
        {
            action();
        }
        catch (ArgumentException e)
        {
            return e;
        }
        throw new InvalidOperationException("no exception");
    }
}
