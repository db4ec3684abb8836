using System.CommandLine;
using System.Numerics;
using Kernels.Numerics;
using Kernels.Numerics.Ridges;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels bench project</c>: the time of one round of subspace-constrained mean shift over every start (the
/// Hessian factor's host pass, the reduced eigenproblems and the steps), timed back to back with the score pass of the
/// backend on the same data, interleaved run by run, so their ratio compares like with like on a loaded host. The
/// tolerance is set below reach so every start takes exactly --iterations steps (--iterations + 1 evaluations, the last
/// one reporting where it stopped); the line reports seconds per round (per evaluation of every start),
/// the score's seconds at the starts and their ratio, and the score's seconds per evaluation at the points the rounds
/// evaluate (the starts and each step's iterates, formed before the timing) and that ratio, the mean rank of the factors and the share whose rank the cap bound, at the starts
/// and where the timed run stopped (outside the timing), and the peak memory growth of one projection run on its own
/// (before the timed runs).
/// </summary>
internal static class BenchProjectCommand
{
    public static Command Create()
    {
        var common = new CommonOptions();
        var timing = new TimingOptions();
        var dim = RidgeCommands.DimOption();
        var maxRank = RidgeCommands.MaxRankOption();
        var iterations = new Option<int>("--iterations")
        {
            Description = "Rounds per timed run (every start takes each of them).",
            HelpName = "K",
            DefaultValueFactory = _ => 3,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };
        var command = new Command("project",
            "Time `kernels ridge project`: seconds per round of subspace-constrained mean shift over all starts, next to the score pass on the same data.");
        common.AddInputsTo(command, [dim, iterations, maxRank, .. timing.All]);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            NoiseLevel level = common.Level(parse);
            IScoreBackend backend = common.Backend(parse);
            using var owned = backend as IDisposable;
            var (train, query) = common.ReadInputs(parse);
            int d = parse.GetValue(dim), rounds = parse.GetValue(iterations), cap = parse.GetValue(maxRank);
            RidgeCommands.RequireRidgeDimension(d, train.Columns);
            TimingPlan plan = timing.Plan(parse);
            string line = common.Float64(parse)
                ? Time<double>(train, query, level, backend, d, rounds, cap, plan)
                : Time<float>(train, query, level, backend, d, rounds, cap, plan);
            parse.InvocationConfiguration.Output.WriteLine(line);
            return 0;
        }));
        return command;
    }

    private static string Time<T>(MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend, int d, int rounds,
        int maxRank, TimingPlan plan) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var set = CommonOptions.TrainingSet<T>(train);
        var model = new EmpiricalScore<T>(set, backend);
        T[] queries = query.Values<T>();
        var score = new T[queries.Length];
        backend.Prepare(set);
        var atStarts = Hessian.Factor(model, queries, level, maxRank);
        long steps = 0;
        T[] stopped = queries;
        // the projection's own memory, in a window of its own (the interleaved score would add its buffers to the peak)
        var memory = PeakMemory.Start();
        RidgeProjection.Project(model, queries, level, d, tolerance: double.Epsilon, maxIterations: rounds, maxRank: maxRank);
        var used = memory.Stop();
        // the points each round evaluates (the starts, then where each step leaves them): the score there is the like for
        // like of a round, as it costs more where the points stand among many training points
        var evaluated = new List<T[]> { queries };
        for (int k = 1; k <= rounds; k++)
            evaluated.Add(RidgeProjection.Project(model, queries, level, d, tolerance: double.Epsilon, maxIterations: k, maxRank: maxRank).Points);
        var runs = TimingHarness.Measure(plan with { Warmup = Math.Min(plan.Warmup, 1), WarmupSeconds = 0 }, [
            () => model.Evaluate(queries, level, new ScoreOutputs<T> { Score = score }),
            () =>
            {
                foreach (var points in evaluated) model.Evaluate(points, level, new ScoreOutputs<T> { Score = score });
            },
            () =>
            {
                var run = RidgeProjection.Project(model, queries, level, d, tolerance: double.Epsilon, maxIterations: rounds, maxRank: maxRank);
                steps = run.Reports.Sum(r => (long)r.Iterations);
                stopped = run.Points;
            },
        ]);
        var atStop = Hessian.Factor(model, stopped, level, maxRank);
        // K steps evaluate every start K + 1 times (the last evaluation reports where the start stopped): a round is one
        // evaluation, the factor's pass over the set, the reduced eigenproblems and the step
        double perRound = runs[2].Median / (rounds + 1), scoreThere = runs[1].Median / (rounds + 1);
        return TimingHarness.JsonLine(json =>
        {
            json.WriteString("op", "project");
            json.WriteString("precision", typeof(T) == typeof(double) ? "float64" : "float32");
            json.WriteString("backend", backend.Name);
            json.WriteNumber("n", train.Rows);
            json.WriteNumber("m", query.Rows);
            json.WriteNumber("d", train.Columns);
            json.WriteNumber("ridge_dim", d);
            json.WriteNumber("rounds", rounds);
            json.WriteNumber("max_rank", maxRank);
            json.WriteNumber("steps_per_start", (double)steps / query.Rows);
            json.WriteNumber("mean_rank", Math.Round(atStarts.Average(f => f.Rank), 2));
            json.WriteNumber("capped_share", Math.Round(atStarts.Average(f => f.Capped ? 1.0 : 0.0), 4));
            json.WriteNumber("mean_rank_at_stop", Math.Round(atStop.Average(f => f.Rank), 2));
            json.WriteNumber("capped_share_at_stop", Math.Round(atStop.Average(f => f.Capped ? 1.0 : 0.0), 4));
            json.WriteNumber("repeat", runs[2].Seconds.Length);
            json.WriteNumber("seconds_per_round", perRound);
            json.WriteNumber("score_seconds", runs[0].Median);
            json.WriteNumber("round_over_score", Math.Round(perRound / runs[0].Median, 3));
            json.WriteNumber("score_seconds_at_round_points", scoreThere);
            json.WriteNumber("round_over_score_at_round_points", Math.Round(perRound / scoreThere, 3));
            used.WriteTo(json);
        });
    }
}
