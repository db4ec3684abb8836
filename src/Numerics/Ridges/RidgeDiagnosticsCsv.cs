using System.Globalization;
using System.Numerics;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// CSV output of <see cref="RidgeDiagnostics"/>: one row per sample and frame, or one summary row per frame. Numbers are
/// written round-trip and invariant; booleans as 1/0; the error columns read NaN when no model was given.
/// </summary>
public static class RidgeDiagnosticsCsv
{
    /// <summary>The header of <see cref="WriteSamples{T}"/>.</summary>
    public const string SamplesHeader =
        "frame,time,alpha,sigma,sample,residual,normalized_residual,eigengap,curvature_ok,distance_to_ridge,projection_converged," +
        "error_norm,normal_error,tangential_error,capped";

    /// <summary>The header of <see cref="WriteSummary{T}"/>.</summary>
    public const string SummaryHeader =
        "frame,time,alpha,sigma,samples,mean_residual,median_residual,mean_normalized_residual,median_normalized_residual," +
        "mean_distance,median_distance,mean_error,mean_normal_error,mean_tangential_error,converged_share,curvature_share,capped_share";

    /// <summary>Writes the header and one row per sample of every frame.</summary>
    /// <param name="writer">The destination.</param>
    /// <param name="frames">The frames, in order.</param>
    public static void WriteSamples<T>(TextWriter writer, IReadOnlyList<RidgeFrameDiagnostics<T>> frames) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(frames);
        writer.WriteLine(SamplesHeader);
        for (int f = 0; f < frames.Count; f++)
        {
            var frame = frames[f];
            for (int i = 0; i < frame.Samples.Length; i++)
            {
                var s = frame.Samples[i];
                writer.WriteLine(Join(f, frame.Time, frame.Level.Alpha, frame.Level.Sigma, i, s.Residual, s.NormalizedResidual,
                    s.EigenGap, s.CurvatureOk, s.DistanceToRidge, s.ProjectionConverged, s.ErrorNorm, s.NormalError, s.TangentialError, s.Capped));
            }
        }
    }

    /// <summary>Writes the header and one summary row per frame.</summary>
    /// <param name="writer">The destination.</param>
    /// <param name="frames">The frames, in order.</param>
    public static void WriteSummary<T>(TextWriter writer, IReadOnlyList<RidgeFrameDiagnostics<T>> frames) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(frames);
        writer.WriteLine(SummaryHeader);
        for (int f = 0; f < frames.Count; f++)
        {
            var r = frames[f];
            writer.WriteLine(Join(f, r.Time, r.Level.Alpha, r.Level.Sigma, r.Samples.Length, r.MeanResidual, r.MedianResidual,
                r.MeanNormalizedResidual, r.MedianNormalizedResidual, r.MeanDistance, r.MedianDistance, r.MeanError, r.MeanNormalError,
                r.MeanTangentialError, r.ConvergedShare, r.CurvatureShare, r.CappedShare));
        }
    }

    private static string Join(params object[] values) => string.Join(',', values.Select(v => v switch
    {
        double x => x.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "1" : "0",
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString(),
    }));
}
