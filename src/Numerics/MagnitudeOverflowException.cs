namespace Kernels.Numerics;

/// <summary>
/// Inputs whose magnitudes take the computation past the range of its floating-point type (squared distances, or σ²,
/// beyond float's or double's largest value). It names the argument it was found in (the queries, whose distances
/// overflowed), but the cause may lie in another (a smoothing width that carried the queries there, a noise level):
/// a caller that knows the call's other arguments should name them too.
/// </summary>
public sealed class MagnitudeOverflowException(string message, string parameterName) : ArgumentException(message, parameterName)
{
    /// <summary>
    /// Refuses a noise level whose logit scale −1/(2σ²) or signal scale α is not finite in <typeparamref name="T"/> (σ
    /// below about 1e−19 in float, 1e−154 in double). Every backend checks this one rule before it streams.
    /// </summary>
    public static void ThrowIfOutOfRange<T>(NoiseLevel level) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (T.IsFinite(T.CreateTruncating(-0.5 / level.Variance)) && T.IsFinite(T.CreateTruncating(level.Alpha))) return;
        string remedy = typeof(T) == typeof(float) ? "use double precision" : "rescale the data and sigma by a common factor";
        throw new MagnitudeOverflowException(
            $"level = {level}: 1/(2 sigma^2) or alpha is outside the range of {typeof(T).Name}; {remedy}.", nameof(level));
    }
}
