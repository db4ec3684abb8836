using System.Diagnostics.CodeAnalysis;
using System.Numerics;

namespace Kernels.Numerics;

/// <summary>Validation at the public boundary: every message names the parameter, the bad value or row, and the remedy.</summary>
internal static class Guard
{
    public static void RequireFloatOrDouble<T>()
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"Element type {typeof(T).Name} is not supported; use float (the fast default) or double.");
    }

    /// <summary>Throws naming the first non-finite entry as (row, column) of a row-major matrix with <paramref name="columns"/> columns.</summary>
    public static void RequireFinite<T>(ReadOnlySpan<T> values, int columns, string parameterName, string rowName)
        where T : IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!T.IsFinite(values[i]))
                ThrowNotFinite(values[i], i / columns, i % columns, parameterName, rowName);
        }
    }

    [DoesNotReturn]
    private static void ThrowNotFinite<T>(T value, int row, int column, string parameterName, string rowName)
        where T : IFloatingPointIeee754<T> =>
        throw new ArgumentException(
            $"{rowName} row {row} has {(T.IsNaN(value) ? "NaN" : T.IsPositiveInfinity(value) ? "+infinity" : "-infinity")} in column {column}; every value must be finite: remove or repair that row.",
            parameterName);

    /// <summary>Checks that a flat row-major span holds whole rows of <paramref name="dimension"/> values and returns the row count.</summary>
    public static int RowCount<T>(ReadOnlySpan<T> values, int dimension, string parameterName)
    {
        if (values.Length % dimension != 0)
            throw new ArgumentException(
                $"{parameterName} has {values.Length} values, which is not a whole number of rows of dimension {dimension}; pass an M×{dimension} row-major matrix.",
                parameterName);
        return values.Length / dimension;
    }

    public static void RequireLength<T>(Span<T> destination, long required, string parameterName, string shape)
    {
        if (destination.Length < required)
            throw new ArgumentException(
                $"Destination is too short: {parameterName} has {destination.Length} elements but {shape} needs {required}; allocate at least that many.",
                parameterName);
    }

    /// <summary>Checks M×D queries (whole rows, at least one, all finite) and returns M.</summary>
    public static int RequireQueries<T>(ReadOnlySpan<T> queries, int dimension) where T : IFloatingPointIeee754<T>
    {
        int m = RowCount(queries, dimension, "queries");
        if (m == 0)
            throw new ArgumentException($"queries is empty; pass at least one row of dimension {dimension}.", "queries");
        RequireFinite(queries, dimension, "queries", "query");
        return m;
    }

    /// <summary>Rejects default(NoiseLevel), the one invalid level a struct can hold.</summary>
    public static NoiseLevel RequireLevel(NoiseLevel level) =>
        level.Sigma > 0 ? level
            : throw new ArgumentException("level is default(NoiseLevel); create it with new NoiseLevel(alpha, sigma) or a schedule's At(t).", "level");

    /// <summary>Rejects a destination that overlaps the queries it is computed from.</summary>
    public static void RequireNoOverlap<T>(ReadOnlySpan<T> queries, Span<T> destination, string name)
    {
        if (!destination.IsEmpty && queries.Overlaps(destination))
            throw new ArgumentException($"{name} overlaps queries; results would overwrite inputs still being read: use a separate buffer.", name);
    }
}
