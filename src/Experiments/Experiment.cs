namespace Kernels.Experiments;

/// <summary>How big a run is: quick (seconds, for tests), the default (under two minutes on two cores), or the papers' sizes.</summary>
public enum ExperimentSize
{
    /// <summary>Small sizes that still show the effect: seconds.</summary>
    Quick,

    /// <summary>The default: under two minutes on a two-core machine.</summary>
    Default,

    /// <summary>The papers' sizes exactly, where they are known: minutes.</summary>
    Full,
}

/// <summary>Reports the progress of a long step (rendered as a progress bar by the command line, or ignored).</summary>
public interface IExperimentProgress
{
    /// <summary>Starts a task of <paramref name="total"/> units and returns the callback that advances it by some units.</summary>
    /// <param name="description">What the task does, shown beside its bar.</param>
    /// <param name="total">Its size in units (steps, say).</param>
    Action<double> Start(string description, double total);
}

/// <summary>An <see cref="IExperimentProgress"/> that shows nothing.</summary>
public sealed class SilentProgress : IExperimentProgress
{
    /// <summary>The one instance.</summary>
    public static SilentProgress Instance { get; } = new();

    /// <inheritdoc/>
    public Action<double> Start(string description, double total) => _ => { };
}

/// <summary>What one run of an experiment gets: where to write, how big, which seed, how to report progress.</summary>
/// <param name="OutputDirectory">The folder for the CSV, PNGs and summary (created if missing).</param>
/// <param name="Size">Quick, default or full.</param>
/// <param name="Seed">The seed of every random choice in the run.</param>
/// <param name="Progress">Progress reporting.</param>
public sealed record ExperimentContext(string OutputDirectory, ExperimentSize Size, ulong Seed, IExperimentProgress Progress)
{
    /// <summary>Picks the value for this run's size.</summary>
    public T Pick<T>(T quick, T normal, T full) => Size switch
    {
        ExperimentSize.Quick => quick,
        ExperimentSize.Full => full,
        _ => normal,
    };
}

/// <summary>
/// One of the papers' experiments, end to end: data, score models, samplers, measures, and a report (a CSV of its
/// numbers, PNG plots and a Markdown summary with a table that links the plots).
/// </summary>
public abstract class Experiment
{
    /// <summary>The name <c>kernels reproduce NAME</c> takes.</summary>
    public abstract string Name { get; }

    /// <summary>One line: what it shows.</summary>
    public abstract string Description { get; }

    /// <summary>Runs the experiment and writes its report into <see cref="ExperimentContext.OutputDirectory"/>.</summary>
    /// <param name="context">Output folder, size, seed and progress.</param>
    public abstract ExperimentReport Run(ExperimentContext context);

    /// <summary>Every experiment, in the order the README lists them.</summary>
    public static IReadOnlyList<Experiment> All { get; } =
    [
        new CircleUCurve(),
        new WavyCircleBias(),
        new KdeVersusLog(),
        new TangentVersusIsotropic(),
        new Interpolation(),
        new RidgeReachAlign(),
        new RidgeSynthetic(),
        new RidgeLatent(),
    ];

    /// <summary>The experiment called <paramref name="name"/>, or an exception listing the known names.</summary>
    /// <param name="name">The name, case-insensitive.</param>
    public static Experiment Find(string name) =>
        All.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException(
            $"Unknown experiment '{name}'; expected one of {string.Join(", ", All.Select(e => e.Name))}.", nameof(name));
}
