using Kernels.Numerics.Io;

namespace Kernels.Cli;

/// <summary>A problem with the command's inputs that the user can fix; its message is printed as is.</summary>
internal sealed class InputException(string message) : Exception(message);

/// <summary>Turns the expected failures of a verb into <c>error: message</c> on stderr and exit code 1.</summary>
internal static class CliErrors
{
    /// <summary>Exit code of a verb that failed on its inputs (bad file, bad value, I/O error).</summary>
    public const int InputError = 1;

    /// <summary>
    /// Runs <paramref name="body"/>; an expected exception (bad input, unreadable file, I/O, arithmetic) becomes one
    /// line on <paramref name="stderr"/> and <see cref="InputError"/>, with no stack trace. Anything else is a bug and
    /// is left to System.CommandLine's default handler, which prints it in full.
    /// </summary>
    public static int Guarded(TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (IsExpected(Unwrap(e)))
        {
            stderr.WriteLine($"error: {Describe(Unwrap(e))}");
            return InputError;
        }
    }

    /// <summary>The first inner exception of a parallel loop's AggregateException (the library's own objection); others as they are.</summary>
    private static Exception Unwrap(Exception e) =>
        e is AggregateException { InnerExceptions.Count: > 0 } aggregate ? Unwrap(aggregate.InnerExceptions[0]) : e;

    private static bool IsExpected(Exception e) =>
        e is InputException or ArgumentException or NpyFormatException or IOException // FileNotFoundException is an IOException
            or ArithmeticException or UnauthorizedAccessException or NotSupportedException
            or Kernels.Interop.OpenClUnavailableException or Kernels.Interop.OpenClException; // no runtime or device: the message says what to install

    /// <summary>
    /// The message without the runtime's parameter suffix: an ArgumentException's Message ends in
    /// " (Parameter 'name')" and, for ArgumentOutOfRangeException, "Actual value was …", both noise on a command line
    /// (the library's messages already name the value and the remedy).
    /// </summary>
    public static string Describe(Exception e)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: not null } argument)
        {
            int cut = message.IndexOf($" (Parameter '{argument.ParamName}')", StringComparison.Ordinal);
            if (cut > 0) message = message[..cut];
        }
        return message.Trim();
    }
}
