using System.CommandLine;

namespace Kernels.Cli;

/// <summary>
/// The <c>kernels</c> command line: evaluates the exact score of an empirical distribution (and its log-density,
/// denoiser and divergence) and its kernel smoothings (log-domain <c>smooth</c>, density-domain <c>kde</c>) for queries
/// read from .npy files, and makes a small example data set.
/// </summary>
internal static class Program
{
    private static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Parses <paramref name="args"/> and runs the verb, writing to the given writers (so tests can run it in-process).
    /// Returns 0 on success, 1 for an error in the inputs (a message <c>error: …</c> on <paramref name="stderr"/>),
    /// and System.CommandLine's own non-zero code for usage errors.
    /// </summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        return BuildRootCommand()
            .Parse(args)
            .Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    /// <summary>The command tree: score, logdensity, denoise, divergence, smooth …, kde …, hessian, ridge residual, ridge project, devices, example and bench ….</summary>
    internal static RootCommand BuildRootCommand()
    {
        var root = new RootCommand(
            "Exact score s(x) = grad log p(x) of the empirical distribution of a training set noised at (alpha, sigma), " +
            "p(x) = (1/N) sum_i N(x; alpha y_i, sigma^2 I), and of its smoothings by a kernel: `smooth` (log-domain, " +
            "Monte Carlo E_z[f(x + z)]) and `kde` (density-domain, closed form). Inputs and outputs are .npy files. " +
            "New here? Run `kernels example --out DIR`.");
        foreach (Quantity quantity in Enum.GetValues<Quantity>())
            root.Subcommands.Add(ScoreCommands.Create(quantity));
        root.Subcommands.Add(PartialCommands.CreatePartial());
        root.Subcommands.Add(PartialCommands.CreateMerge());
        root.Subcommands.Add(SmoothingCommands.CreateSmooth());
        root.Subcommands.Add(SmoothingCommands.CreateKde());
        root.Subcommands.Add(RidgeCommands.CreateHessian());
        root.Subcommands.Add(RidgeCommands.CreateRidge());
        root.Subcommands.Add(SampleCommands.CreateSample());
        root.Subcommands.Add(SampleCommands.CreateLikelihood());
        root.Subcommands.Add(RandomFeatureCommands.Create());
        root.Subcommands.Add(ReproduceCommand.Create());
        root.Subcommands.Add(DevicesCommand.Create());
        root.Subcommands.Add(ExampleCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        VersionAction.Install(root);
        return root;
    }
}
