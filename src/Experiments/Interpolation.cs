namespace Kernels.Experiments;

/// <summary>Not yet written.</summary>
public sealed class Interpolation : Experiment
{
    /// <inheritdoc/>
    public override string Name => "Interpolation".ToLowerInvariant();

    /// <inheritdoc/>
    public override string Description => "";

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context) => throw new NotImplementedException();
}
