using System.Numerics;

namespace Kernels.Numerics.Ridges;

/// <summary>Options of <see cref="RidgeDiagnostics"/>: the projection that measures the distance to the ridge, and threads.</summary>
public sealed record RidgeDiagnosticsOptions
{
    /// <summary>
    /// The stopping tolerance of the projection onto the ridge (<see cref="RidgeProjection.Project{T}"/>) on the normalised
    /// residual; null (the default) for 1e-6 in double and 1e-3 in float (the residual of a float32 score has a floor of
    /// a few ulp).
    /// </summary>
    public double? Tolerance { get; init; }

    /// <summary>The projection's cap on steps per sample (default 200); a sample that reaches it is flagged, not dropped.</summary>
    public int MaxIterations { get; init; } = 200;

    /// <summary>The cap on kept points per query of the Hessian factor (<see cref="Hessian.Factor{T}"/>).</summary>
    public int MaxRank { get; init; } = Hessian.DefaultMaxRank;

    /// <summary>Threads for the host passes; −1 for the backend's setting.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Called after each frame of a trajectory (frames done, frames in all), on the calling thread; or null.</summary>
    public Action<int, int>? Progress { get; init; }

    /// <summary>The tolerance for working type T.</summary>
    internal double ToleranceFor<T>() => Tolerance ?? (typeof(T) == typeof(float) ? 1e-3 : 1e-6);
}

/// <summary>
/// One sample's place relative to the d-dimensional ridge of p̂_t, and the split of a model score's error there
/// (<see cref="RidgeDiagnostics"/>).
/// </summary>
/// <param name="Residual">‖V_⊥V_⊥ᵀ g‖ at the sample (g the exact score), as <see cref="RidgeResidual"/> computes it.</param>
/// <param name="NormalizedResidual">Residual/‖g‖; 0 when g = 0.</param>
/// <param name="EigenGap">λ_d − λ_{d+1} of the Hessian at the sample.</param>
/// <param name="CurvatureOk">λ_{d+1} &lt; 0 at the sample.</param>
/// <param name="DistanceToRidge">‖x − SCMS(x)‖, the distance the projection moved the sample.</param>
/// <param name="ProjectionConverged">Whether that projection met its tolerance within its step cap (if not, the distance is
/// to where it stopped).</param>
/// <param name="ErrorNorm">‖e‖, e = s_model − s_exact at the sample; NaN when no model was given.</param>
/// <param name="NormalError">‖P_N e‖, the part of e outside the span of the top-d Hessian eigenvectors; NaN without a model.</param>
/// <param name="TangentialError">‖P_T e‖, the part of e in that span; NaN without a model.</param>
/// <param name="Capped">The Hessian factor at the sample kept only the rank cap's heaviest points
/// (<see cref="RidgePoint.Capped"/>): its eigenvectors, and the split above, are then an approximation.</param>
public sealed record RidgeSampleDiagnostics(double Residual, double NormalizedResidual, double EigenGap, bool CurvatureOk,
    double DistanceToRidge, bool ProjectionConverged, double ErrorNorm, double NormalError, double TangentialError, bool Capped);

/// <summary>The diagnostics of one trajectory frame: its time and noise level, one row per sample, and their summaries.</summary>
/// <param name="Time">The frame's time t (NaN when the level was given directly).</param>
/// <param name="Level">The noise level (α, σ) of p̂_t.</param>
/// <param name="Samples">One row per sample, in the frame's order.</param>
/// <param name="Projections">The samples' projections onto the ridge, M×D row-major (what <see cref="RidgeSampleDiagnostics.DistanceToRidge"/> measures to).</param>
/// <typeparam name="T">float or double.</typeparam>
public sealed record RidgeFrameDiagnostics<T>(double Time, NoiseLevel Level, RidgeSampleDiagnostics[] Samples, T[] Projections)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>True when a model's error was split (the error columns are numbers, not NaN).</summary>
    public bool HasModel => Samples.Length > 0 && !double.IsNaN(Samples[0].ErrorNorm);

    /// <summary>Mean of the residuals ‖V_⊥V_⊥ᵀ g‖.</summary>
    public double MeanResidual => Samples.Average(s => s.Residual);

    /// <summary>Median of the residuals.</summary>
    public double MedianResidual => RidgeDiagnostics.Median(Samples.Select(s => s.Residual));

    /// <summary>Mean of the normalised residuals ‖V_⊥V_⊥ᵀ g‖/‖g‖.</summary>
    public double MeanNormalizedResidual => Samples.Average(s => s.NormalizedResidual);

    /// <summary>Median of the normalised residuals.</summary>
    public double MedianNormalizedResidual => RidgeDiagnostics.Median(Samples.Select(s => s.NormalizedResidual));

    /// <summary>Mean distance to the ridge.</summary>
    public double MeanDistance => Samples.Average(s => s.DistanceToRidge);

    /// <summary>Median distance to the ridge.</summary>
    public double MedianDistance => RidgeDiagnostics.Median(Samples.Select(s => s.DistanceToRidge));

    /// <summary>Mean ‖e‖ (NaN without a model).</summary>
    public double MeanError => Samples.Average(s => s.ErrorNorm);

    /// <summary>Mean ‖P_N e‖ (NaN without a model).</summary>
    public double MeanNormalError => Samples.Average(s => s.NormalError);

    /// <summary>Mean ‖P_T e‖ (NaN without a model).</summary>
    public double MeanTangentialError => Samples.Average(s => s.TangentialError);

    /// <summary>The share of samples whose projection met its tolerance.</summary>
    public double ConvergedShare => Samples.Average(s => s.ProjectionConverged ? 1.0 : 0.0);

    /// <summary>The share of samples where λ_{d+1} &lt; 0.</summary>
    public double CurvatureShare => Samples.Average(s => s.CurvatureOk ? 1.0 : 0.0);

    /// <summary>The share of samples whose Hessian factor the rank cap bound (<see cref="RidgeSampleDiagnostics.Capped"/>).</summary>
    public double CappedShare => Samples.Average(s => s.Capped ? 1.0 : 0.0);
}
