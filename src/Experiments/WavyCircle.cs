namespace Kernels.Experiments;

/// <summary>Not yet written.</summary>
public sealed class WavyCircle : Experiment
{
    /// <inheritdoc/>
    public override string Name => "WavyCircle".ToLowerInvariant();

    /// <inheritdoc/>
    public override string Description => "";

    /// <inheritdoc/>
    public override ExperimentReport Run(ExperimentContext context) => throw new NotImplementedException();
}
