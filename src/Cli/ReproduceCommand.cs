using System.CommandLine;
using Kernels.Experiments;
using Spectre.Console;

namespace Kernels.Cli;

/// <summary>
/// The verb <c>reproduce NAME --out DIR</c>: runs one of the papers' experiments end to end (or <c>all</c>) and writes a
/// CSV of its numbers, PNG plots and a Markdown summary. A progress bar shows on a terminal and stays off when the output
/// is redirected.
/// </summary>
internal static class ReproduceCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME")
        {
            Description = $"The experiment: {string.Join(", ", Experiment.All.Select(e => e.Name))}, or all.",
        };
        name.AcceptOnlyFromAmong([.. Experiment.All.Select(e => e.Name), "all"]);
        var outDir = new Option<string>("--out")
        {
            Description = "Directory for NAME.csv, the PNG plots and summary.md (created if missing; with 'all', one subfolder per experiment).",
            HelpName = "DIR",
            Required = true,
        };
        var quick = new Option<bool>("--quick") { Description = "Small sizes that still show the effect (seconds)." };
        var full = new Option<bool>("--full") { Description = "The papers' sizes exactly (minutes)." };
        var seed = new Option<int>("--seed")
        {
            Description = "Seed of every random choice; the same seed gives the same numbers.",
            HelpName = "SEED",
            DefaultValueFactory = _ => 1,
            CustomParser = Parsers.Integer,
        };

        var command = new Command("reproduce",
            "Run one of the papers' experiments end to end: data, score models, samplers, measures; writes NAME.csv, PNG plots " +
            "and summary.md into DIR. The default size takes under two minutes on two cores.")
        {
            name, outDir, quick, full, seed,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(quick) && result.GetValue(full))
                result.AddError("--quick and --full exclude each other; pick one.");
        });
        command.SetAction(parseResult =>
            CliErrors.Guarded(parseResult.InvocationConfiguration.Error, () => Execute(
                parseResult.InvocationConfiguration.Output,
                parseResult.GetRequiredValue(name),
                parseResult.GetRequiredValue(outDir),
                parseResult.GetValue(quick) ? ExperimentSize.Quick : parseResult.GetValue(full) ? ExperimentSize.Full : ExperimentSize.Default,
                parseResult.GetValue(seed))));
        return command;
    }

    private static int Execute(TextWriter stdout, string name, string directory, ExperimentSize size, int seed)
    {
        if (seed < 0) throw new InputException($"--seed {seed}: the seed must be >= 0.");
        if (File.Exists(directory)) throw new InputException($"--out {directory} is a file; give a directory.");
        var experiments = name == "all" ? Experiment.All : [Experiment.Find(name)];
        foreach (var experiment in experiments)
        {
            string folder = name == "all" ? Path.Combine(directory, experiment.Name) : directory;
            var started = System.Diagnostics.Stopwatch.StartNew();
            var report = RunWithProgress(stdout, experiment, new ExperimentContext(folder, size, (ulong)seed, SilentProgress.Instance));
            stdout.WriteLine($"{experiment.Name}: {experiment.Description}");
            stdout.WriteLine();
            stdout.Write(report.Table.ToMarkdown());
            stdout.WriteLine();
            foreach (var finding in report.Findings) stdout.WriteLine($"- {finding}");
            stdout.WriteLine();
            stdout.WriteLine($"Wrote {report.CsvPath}, {string.Join(", ", report.Figures.Select(f => Path.Combine(folder, f.File)))} and {report.SummaryPath} " +
                $"in {started.Elapsed.TotalSeconds:F1} s.");
            stdout.WriteLine();
        }
        return 0;
    }

    /// <summary>Runs with a live progress bar when writing to an interactive terminal, silently otherwise.</summary>
    private static ExperimentReport RunWithProgress(TextWriter stdout, Experiment experiment, ExperimentContext context)
    {
        bool terminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (!terminal) return experiment.Run(context);
        return AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(progress => experiment.Run(context with { Progress = new SpectreProgress(progress) }));
    }

    private sealed class SpectreProgress(ProgressContext progress) : IExperimentProgress
    {
        public Action<double> Start(string description, double total)
        {
            var task = progress.AddTask(Markup.Escape(description), maxValue: total);
            return amount => task.Increment(amount);
        }
    }
}
