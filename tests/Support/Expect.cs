using System.Numerics;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Xunit;

namespace Kernels.Tests.Support;

/// <summary>The four outputs of one evaluation, widened to double.</summary>
public sealed record Outputs(double[] LogDensity, double[] Score, double[] Denoiser, double[] Divergence)
{
    public static Outputs Evaluate<T>(EmpiricalScore<T> model, T[] queries, NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = queries.Length / model.Dimension, d = model.Dimension;
        var (ld, s, den, div) = (new T[m], new T[m * d], new T[m * d], new T[m]);
        model.Evaluate(queries, level, new ScoreOutputs<T> { LogDensity = ld, Score = s, Denoiser = den, Divergence = div });
        return new Outputs(Problem.Widen(ld), Problem.Widen(s), Problem.Widen(den), Problem.Widen(div));
    }

    public static Outputs Finish<T>(ScorePartials partials, T[] queries) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = partials.QueryCount, d = partials.Dimension;
        var (ld, s, den, div) = (new T[m], new T[m * d], new T[m * d], new T[m]);
        partials.Finish<T>(queries, new ScoreOutputs<T> { LogDensity = ld, Score = s, Denoiser = den, Divergence = div });
        return new Outputs(Problem.Widen(ld), Problem.Widen(s), Problem.Widen(den), Problem.Widen(div));
    }

    public static Outputs Finish<T>(PartialStateBatch batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = batch.QueryCount, d = batch.Dimension;
        var (ld, s, den, div) = (new T[m], new T[m * d], new T[m * d], new T[m]);
        batch.Finish<T>(new ScoreOutputs<T> { LogDensity = ld, Score = s, Denoiser = den, Divergence = div });
        return new Outputs(Problem.Widen(ld), Problem.Widen(s), Problem.Widen(den), Problem.Widen(div));
    }
}

public static class Expect
{
    /// <summary>Asserts <paramref name="act"/> throws an ArgumentException naming <paramref name="name"/> whose message contains <paramref name="fragment"/>.</summary>
    public static void ThrowsNaming(string name, string fragment, Action act)
    {
        var e = Assert.ThrowsAny<ArgumentException>(act);
        Assert.Equal(name, e.ParamName);
        Assert.Contains(fragment, e.Message);
    }

    /// <summary>Asserts every output of every query is within <paramref name="scale"/> × its error bound of the reference.</summary>
    public static void AgainstReference(Outputs actual, double[] train, int d, double[] queries, NoiseLevel level, double u, string context, double scale = 1)
    {
        int m = queries.Length / d;
        for (int q = 0; q < m; q++)
        {
            var x = queries.AsSpan(q * d, d);
            var bound = ErrorBound.For(train, d, x, level, u);
            Within(actual.LogDensity[q], ScoreReference.LogDensity(train, d, x, level), scale * bound.LogDensity, "log-density", q, context);
            Within(actual.Score.AsSpan(q * d, d), ScoreReference.Score(train, d, x, level), scale * bound.Score, "score", q, context);
            Within(actual.Denoiser.AsSpan(q * d, d), ScoreReference.Denoiser(train, d, x, level), scale * bound.Denoiser, "denoiser", q, context);
            Within(actual.Divergence[q], ScoreReference.Divergence(train, d, x, level), scale * bound.Divergence, "divergence", q, context);
        }
    }

    public static void Within(double actual, double expected, double tolerance, string what, int row, string context)
    {
        double error = Math.Abs(actual - expected);
        Assert.True(error <= tolerance && double.IsFinite(actual),
            $"{what} of query {row}: got {actual:R}, reference {expected:R}, |error| {error:G3} > bound {tolerance:G3}. {context}");
    }

    public static void Within(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double tolerance, string what, int row, string context)
    {
        double s = 0;
        bool finite = true;
        for (int k = 0; k < actual.Length; k++)
        {
            s += (actual[k] - expected[k]) * (actual[k] - expected[k]);
            finite &= double.IsFinite(actual[k]);
        }
        double error = Math.Sqrt(s);
        Assert.True(error <= tolerance && finite,
            $"{what} of query {row}: ‖error‖ {error:G3} > bound {tolerance:G3} (‖reference‖ = {ErrorBound.Norm(expected):G6}, first component got {actual[0]:R} vs {expected[0]:R}). {context}");
    }
}
