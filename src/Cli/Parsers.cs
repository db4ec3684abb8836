using System.CommandLine.Parsing;
using System.Globalization;

namespace Kernels.Cli;

/// <summary>
/// Option value parsers with plain messages ("--sigma: 'abc' is not a number") in place of the default, which names
/// the CLR type (System.Nullable`1[System.Double]). Range checks that need the library (sigma &gt; 0, t &gt; 0) stay there.
/// </summary>
internal static class Parsers
{
    /// <summary>A floating-point value in invariant notation (1e-3, 0.5; NaN and infinities parse and are rejected later).</summary>
    public static double Number(ArgumentResult result)
    {
        string token = Token(result);
        if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            return value;
        result.AddError($"{OptionName(result)}: '{token}' is not a number.");
        return double.NaN;
    }

    /// <summary>An integer from <paramref name="minimum"/> to <paramref name="maximum"/> (<paramref name="why"/> explains the maximum).</summary>
    public static int Count(ArgumentResult result, int minimum, int maximum = int.MaxValue, string why = "")
    {
        string token = Token(result);
        if (!int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
        {
            // A whole number past int's range is "too large" (or small), not "not a whole number".
            bool whole = System.Numerics.BigInteger.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var big);
            result.AddError(!whole ? $"{OptionName(result)}: '{token}' is not a whole number."
                : big > 0 ? $"{OptionName(result)} {token} is too large; use at most {maximum}{why}."
                : $"{OptionName(result)} must be at least {minimum} (got {token}).");
            return minimum;
        }
        if (value < minimum)
            result.AddError($"{OptionName(result)} must be at least {minimum} (got {value}).");
        else if (value > maximum)
        {
            result.AddError($"{OptionName(result)} must be at most {maximum} (got {value}){why}.");
            return maximum;
        }
        return value;
    }

    /// <summary>Any integer (a seed).</summary>
    public static int Integer(ArgumentResult result) => Count(result, int.MinValue);

    /// <summary>A generator seed: a whole number from 0 to 2^64 - 1.</summary>
    public static ulong Seed(ArgumentResult result)
    {
        string token = Token(result);
        if (ulong.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
            return value;
        result.AddError($"{OptionName(result)}: '{token}' is not a seed; give a whole number from 0 to {ulong.MaxValue}.");
        return 0;
    }

    private static string Token(ArgumentResult result) => result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";

    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.Option.Name : result.Argument.Name;
}
