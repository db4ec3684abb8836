using System.CommandLine;
using Kernels.Numerics;

namespace Kernels.Cli;

/// <summary>
/// The verb <c>example</c>: a small, deterministic data set (points on the unit circle, queries in a square), its
/// scores, and a table of the first few, so a newcomer sees the whole pipeline and has files to feed the other verbs.
/// </summary>
internal static class ExampleCommand
{
    /// <summary>Rows of the printed table.</summary>
    private const int TableRows = 5;

    /// <summary>Half the side of the square [-1.5, 1.5]² the queries are drawn from.</summary>
    private const double QueryHalfWidth = 1.5;

    public static Command Create()
    {
        var outDir = new Option<string>("--out")
        {
            Description = "Directory to write train.npy, query.npy and score.npy into (created if missing).",
            HelpName = "DIR",
            Required = true,
        };
        var points = new Option<int>("--points")
        {
            Description = "Number N of training points, equispaced on the unit circle.",
            HelpName = "N",
            DefaultValueFactory = _ => 12,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };
        var queries = new Option<int>("--queries")
        {
            Description = "Number M of query points, uniform in the square [-1.5, 1.5]^2.",
            HelpName = "M",
            DefaultValueFactory = _ => 200,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };
        var sigma = new Option<double>("--sigma")
        {
            Description = "Noise standard deviation sigma > 0 of the scores (alpha = 1).",
            HelpName = "S",
            DefaultValueFactory = _ => 0.2,
            CustomParser = Parsers.Number,
        };
        var seed = new Option<int>("--seed")
        {
            Description = "Seed of the query points; the same seed gives the same files.",
            HelpName = "SEED",
            DefaultValueFactory = _ => 1,
            CustomParser = Parsers.Integer,
        };

        var command = new Command("example",
            "Make a small example data set (points on the unit circle, random queries), compute its scores at alpha = 1, " +
            "and print the first few. Writes DIR/train.npy (N, 2), DIR/query.npy (M, 2) and DIR/score.npy (M, 2), all float32.")
        {
            outDir, points, queries, sigma, seed,
        };
        command.SetAction(parseResult =>
            CliErrors.Guarded(parseResult.InvocationConfiguration.Error, () => Execute(
                parseResult.InvocationConfiguration.Output,
                parseResult.GetRequiredValue(outDir),
                parseResult.GetValue(points),
                parseResult.GetValue(queries),
                parseResult.GetValue(sigma),
                parseResult.GetValue(seed))));
        return command;
    }

    private static int Execute(TextWriter stdout, string directory, int n, int m, double sigma, int seed)
    {
        var level = new NoiseLevel(1, sigma);
        if (File.Exists(directory))
            throw new InputException($"--out {directory} is a file; give a directory to write the example into.");

        const int d = 2;
        CommonOptions.RequireArrayFits("--points", n, d, "");
        CommonOptions.RequireArrayFits("--queries", m, d, "");
        var train = new float[n * d];
        for (int i = 0; i < n; i++)
        {
            double angle = 2 * Math.PI * i / n;
            train[i * d] = (float)Math.Cos(angle);
            train[i * d + 1] = (float)Math.Sin(angle);
        }

        var rng = new Random(seed); // a seeded System.Random is deterministic
        var query = new float[m * d];
        for (int i = 0; i < query.Length; i++)
            query[i] = (float)(QueryHalfWidth * (2 * rng.NextDouble() - 1));

        // Everything is computed before anything is written.
        float[] score = new EmpiricalScore<float>(new TrainingSet<float>(train, n, d)).Score(query, level);

        Directory.CreateDirectory(directory);
        string trainPath = Path.Combine(directory, "train.npy");
        string queryPath = Path.Combine(directory, "query.npy");
        string scorePath = Path.Combine(directory, "score.npy");
        MatrixFile.Write(trainPath, train, [n, d]);
        MatrixFile.Write(queryPath, query, [m, d]);
        MatrixFile.Write(scorePath, score, [m, d]);

        stdout.WriteLine($"{n} training points on the unit circle, {m} queries uniform in [-1.5, 1.5]^2 (seed {seed}).");
        stdout.WriteLine($"Score s(x) = grad log p(x) of p(x) = (1/N) sum_i N(x; y_i, sigma^2 I) at alpha = 1, sigma = {sigma}:");
        stdout.WriteLine();
        stdout.WriteLine($"  {"query x1",10} {"query x2",10}  {"score s1",10} {"score s2",10}");
        int shown = Math.Min(TableRows, m);
        for (int q = 0; q < shown; q++)
            stdout.WriteLine($"  {query[q * d],10:F4} {query[q * d + 1],10:F4}  {score[q * d],10:F4} {score[q * d + 1],10:F4}");
        if (m > shown)
            stdout.WriteLine($"  ... ({m - shown} more in {scorePath})");
        stdout.WriteLine();
        stdout.WriteLine("Wrote:");
        stdout.WriteLine($"  {trainPath}  ({n}, 2) float32  training points");
        stdout.WriteLine($"  {queryPath}  ({m}, 2) float32  queries");
        stdout.WriteLine($"  {scorePath}  ({m}, 2) float32  scores");
        stdout.WriteLine();
        stdout.WriteLine("The same scores from the files:");
        stdout.WriteLine(
            $"  kernels score --train {Quote(trainPath)} --query {Quote(queryPath)} --alpha 1 --sigma {sigma:R} --out {Quote(Path.Combine(directory, "score2.npy"))}");
        return 0;
    }

    /// <summary>A path as a shell word: quoted when it holds spaces or quotes.</summary>
    private static string Quote(string path) =>
        path.IndexOfAny([' ', '\t', '"', '\'']) < 0 ? path : "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
