namespace Kernels.Experiments;

/// <summary>Not yet written.</summary>
public sealed class TangentVersusIsotropic : Experiment
{
    /// <inheritdoc/>
    public override string Name => "TangentVersusIsotropic".ToLowerInvariant();

    /// <inheritdoc/>
    public override string Description => "";

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context) => throw new NotImplementedException();
}
