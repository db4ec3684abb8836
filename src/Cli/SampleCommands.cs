using System.CommandLine;
using System.CommandLine.Parsing;
using System.Numerics;
using Kernels.Numerics;
using Kernels.Numerics.Models;
using Kernels.Numerics.Sampling;
using Kernels.Numerics.Smoothing;

namespace Kernels.Cli;

/// <summary>
/// The verbs <c>sample</c> (reverse-time SDE or probability-flow ODE from t_max down to t_min) and <c>likelihood</c>
/// (log p_{t_min}(x) under the probability-flow ODE), driven by the exact score of a training set or by its log-domain or
/// density (KDE) smoothing.
/// </summary>
internal static class SampleCommands
{
    /// <summary>The options both verbs share: training set, model, schedule and grid, output, precision, threads.</summary>
    private sealed class ModelOptions
    {
        public Option<string> Train { get; } = new("--train")
        {
            Description = "Training set Y: a 2-D .npy file of shape (N, D), float32 or float64.",
            HelpName = "Y.npy",
            Required = true,
        };

        public Option<KernelSpec?> Kernel { get; } = new("--kernel")
        {
            Description = "Smooth the score with this kernel (default: the exact score): gaussian:H, aniso:HT,HN, tangent:H (these two " +
                          "need --tangent) or ball:R. Log-domain smoothing with --draws fixed antithetic draws, or KDE with --kde.",
            HelpName = "SPEC",
            CustomParser = r => KernelSpec.Parse(r, gaussianOnly: false),
        };

        public Option<TangentSpec?> Tangent { get; } = new("--tangent")
        {
            Description = "Tangent space for the aniso and tangent kernels: circle[:R], sphere[:R], line or knn:K[,D] (as for kernels smooth).",
            HelpName = "TSPEC",
            CustomParser = r => TangentSpec.Parse(r),
        };

        public Option<int> Draws { get; } = new("--draws")
        {
            Description = "Draws per point of log-domain smoothing (fixed and antithetic, so the smoothed score is a smooth function of x).",
            HelpName = "K",
            DefaultValueFactory = _ => 64,
            CustomParser = r => Parsers.Count(r, minimum: 2, maximum: int.MaxValue - 1, why: ": the draws are antithetic pairs, so an odd count is rounded up"),
        };

        public Option<bool> Kde { get; } = new("--kde") { Description = "Smooth the density (KDE, closed form) instead of the log-density." };

        public Option<string> Schedule { get; } = new("--schedule")
        {
            Description = "Noise schedule: ou, vp, ve (sigma^2 = t) or edm (sigma = t).",
            Required = true,
        };

        public Option<double> TimeMax { get; } = new("--t-max")
        {
            Description = "Largest time t_max of the grid.",
            HelpName = "T",
            Required = true,
            CustomParser = Parsers.Number,
        };

        public Option<double> TimeMin { get; } = new("--t-min")
        {
            Description = "Smallest time t_min > 0 of the grid (the exact score is singular at 0).",
            HelpName = "T",
            Required = true,
            CustomParser = Parsers.Number,
        };

        public Option<int> Steps { get; } = new("--steps")
        {
            Description = "Steps of the time grid.",
            HelpName = "N",
            DefaultValueFactory = _ => 100,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };

        public Option<string> Grid { get; } = new("--grid")
        {
            Description = "Time grid: geometric (equal steps in log t), uniform or edm (rho = 7).",
            DefaultValueFactory = _ => "geometric",
        };

        /// <summary>--out, --precision, --backend, --device and --threads, shared with the score verbs.</summary>
        public CommonOptions Common { get; } = new();

        public Option<string> Out => Common.Out;

        public Option<string> Precision => Common.Precision;

        public ModelOptions()
        {
            Schedule.AcceptOnlyFromAmong("ou", "vp", "ve", "edm");
            Grid.AcceptOnlyFromAmong("geometric", "uniform", "edm");
        }

        public void AddTo(Command command, params IEnumerable<Option> specific)
        {
            foreach (Option option in (IEnumerable<Option>)[Train, Kernel, Tangent, Draws, Kde, Schedule, TimeMax, TimeMin, Steps, Grid, .. specific,
                         Common.Out, Common.Precision, Common.BackendName, Common.Device, Common.Threads])
                command.Options.Add(option);
            command.Validators.Add(Validate);
        }

        private void Validate(CommandResult result)
        {
            if (CommonOptions.Given(result, Common.Device) && result.GetValue(Common.BackendName) != "opencl")
                result.AddError("--device selects an OpenCL device: give it with --backend opencl.");
            bool kernel = CommonOptions.Given(result, Kernel), tangent = CommonOptions.Given(result, Tangent);
            if (!kernel && (tangent || CommonOptions.Given(result, Kde) || CommonOptions.Given(result, Draws)))
                result.AddError("--tangent, --draws and --kde describe a smoothing: give --kernel too, or drop them for the exact score.");
            else if (kernel && result.GetResult(Kernel) is { Tokens.Count: > 0 } k && KernelSpec.TryParse(k.Tokens[^1].Value, out var spec, out _)
                     && spec.NeedsTangent != tangent)
                result.AddError(spec.NeedsTangent
                    ? $"--kernel {spec.Text} needs --tangent, the tangent space at each point: {TangentSpec.Forms}."
                    : $"--tangent applies only to the aniso:HT,HN and tangent:H kernels, not to --kernel {spec.Text}.");
        }

        public NoiseSchedule ScheduleOf(ParseResult parse) => NoiseSchedule.Parse(parse.GetRequiredValue(Schedule));

        public TimeGrid GridOf(ParseResult parse)
        {
            try
            {
                return TimeGrid.Parse(parse.GetRequiredValue(Grid), parse.GetValue(TimeMax), parse.GetValue(TimeMin), parse.GetValue(Steps));
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new InputException($"--{(e.ParamName == "tMax" ? "t-max" : e.ParamName == "tMin" ? "t-min" : "steps")}: {CliErrors.Describe(e)}");
            }
        }

        /// <summary>The score model of the training set: exact, log-smoothed with fixed antithetic draws, or KDE.</summary>
        public IScoreModel<T> Model<T>(ParseResult parse, MatrixFile train, IScoreBackend backend) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var set = CommonOptions.TrainingSet<T>(train);
            var exact = new EmpiricalScore<T>(set, backend);
            if (parse.GetValue(Kernel) is not { } spec) return exact;
            SmoothingKernel kernel = spec.Build(parse.GetValue(Tangent)?.Build(set));
            if (parse.GetValue(Kde)) return new KdeScore<T>(exact, kernel);
            int draws = parse.GetValue(Draws);
            return new LogSmoothedScore<T>(exact, kernel, new SmoothingDraws(draws + draws % 2, seed: 0, antithetic: true, fixedDraws: true));
        }

        public string Describe(ParseResult parse, MatrixFile train, TimeGrid grid) =>
            $"{(parse.GetValue(Kernel) is { } k ? (parse.GetValue(Kde) ? $"KDE with {k.Text}" : $"log-domain smoothing with {k.Text}, {parse.GetValue(Draws)} draws") : "exact score")} " +
            $"of N={train.Rows} points in D={train.Columns}, {parse.GetRequiredValue(Schedule)} schedule, {grid}, {parse.GetValue(Common.BackendName)}";
    }

    /// <summary><c>kernels sample</c>.</summary>
    public static Command CreateSample()
    {
        var options = new ModelOptions();
        var count = new Option<int>("--count")
        {
            Description = "Number M of samples.",
            HelpName = "M",
            Required = true,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };
        var method = new Option<string>("--method")
        {
            Description = "sde: the reverse-time SDE by Euler-Maruyama (stochastic); ode: the probability-flow ODE by Heun (deterministic).",
            DefaultValueFactory = _ => "sde",
        };
        method.AcceptOnlyFromAmong("sde", "ode");
        var seed = new Option<ulong>("--seed")
        {
            Description = "Seed of the starting points and the SDE's noise; the same seed gives the same bits whatever --threads.",
            HelpName = "S",
            DefaultValueFactory = _ => 0,
            CustomParser = r => Parsers.Seed(r),
        };
        var rfModel = new Option<string?>("--rf-model")
        {
            Description = "Drive the sampler by a random-feature score model file (`kernels rf fit`) instead of the exact score of --train " +
                          "(--train still sets the start's variance and must have the model's D; --schedule must be the model's).",
            HelpName = "MODEL.npz",
        };
        var command = new Command("sample",
            "Sample the reverse process from t_max down to t_min, driven by the exact score of --train or its smoothing; starts " +
            "from N(0, (alpha^2 v + sigma^2) I) at t_max with v the training set's mean square per coordinate. Writes the M×D samples.");
        options.AddTo(command, count, method, seed, rfModel);
        command.Validators.Add(result =>
        {
            if (CommonOptions.Given(result, rfModel) && CommonOptions.Given(result, options.Kernel))
                result.AddError("--rf-model and --kernel choose two different score models: give one.");
        });
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            var train = MatrixFile.Read(parse.GetRequiredValue(options.Train), "--train", "N");
            var learned = parse.GetValue(rfModel) is { } modelPath ? RandomFeatureCommands.ReadModel(modelPath) : null;
            if (learned is not null)
            {
                if (learned.Features.Dimension != train.Columns)
                    throw new InputException($"--rf-model {parse.GetValue(rfModel)} is for D={learned.Features.Dimension} but --train has D={train.Columns}; pass the training set of the model's dimension.");
                if (learned.Features.Schedule.Name != parse.GetRequiredValue(options.Schedule))
                    throw new InputException($"--rf-model {parse.GetValue(rfModel)} was fitted on the {learned.Features.Schedule.Name} schedule; sample with --schedule {learned.Features.Schedule.Name}.");
            }
            CommonOptions.RequireArrayFits("--count", parse.GetValue(count), train.Columns,
                " (for more samples, run again with another --seed and concatenate)");
            string outPath = parse.GetRequiredValue(options.Out);
            MatrixFile.RequireWritableLocation(outPath, "--out");
            var grid = options.GridOf(parse);
            var sampler = new SamplerOptions
            {
                Seed = parse.GetValue(seed),
                Method = parse.GetValue(method) == "ode" ? SamplerMethod.Heun : SamplerMethod.EulerMaruyama,
            };
            int m = parse.GetValue(count);
            bool float64 = parse.GetValue(options.Precision) == "float64";
            var shape = new[] { m, train.Columns };
            var backend = options.Common.Backend(parse);
            using var owned = backend as IDisposable;
            if (float64)
                MatrixFile.Write(outPath, Sample<double>(parse, options, train, grid, m, sampler, backend, learned), shape);
            else
                MatrixFile.Write(outPath, Sample<float>(parse, options, train, grid, m, sampler, backend, learned), shape);
            parse.InvocationConfiguration.Output.WriteLine(CommonOptions.Summary(outPath, "samples", shape, float64,
                $"{(sampler.Method == SamplerMethod.Heun ? "probability-flow ODE (Heun)" : "reverse SDE (Euler-Maruyama)")}, " +
                (learned is null ? options.Describe(parse, train, grid) : $"random-feature model {parse.GetValue(rfModel)} (P={learned.Features.Count}, tau={learned.Tau}), {grid}")));
            return 0;
        }));
        return command;
    }

    private static T[] Sample<T>(ParseResult parse, ModelOptions options, MatrixFile train, TimeGrid grid, int count, SamplerOptions sampler,
        IScoreBackend backend, RandomFeatureModel? learned) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = train.Values<double>();
        double variance = values.Sum(v => v * v) / values.Length;
        IScoreModel<T> model = learned is null ? options.Model<T>(parse, train, backend)
            : new RandomFeatureScore<T>(learned.Features, learned.Coefficients, learned.Tau) { MaxDegreeOfParallelism = parse.GetValue(options.Common.Threads) ?? -1 };
        var samples = new ReverseSampler<T>(model, options.ScheduleOf(parse), grid).Sample(count, sampler, variance).Samples;
        CommonOptions.RequireFinite(samples, "sample", train.Columns);
        return samples;
    }

    /// <summary><c>kernels likelihood</c>.</summary>
    public static Command CreateLikelihood()
    {
        var options = new ModelOptions();
        var query = new Option<string>("--query")
        {
            Description = "Points X at t_min: a 2-D .npy file of shape (M, D), with the same D as --train.",
            HelpName = "X.npy",
            Required = true,
        };
        var command = new Command("likelihood",
            "Log-likelihood log p_{t_min}(x) of each point under the probability-flow ODE of the exact or smoothed score (exact " +
            "divergence, Heun, the model's own log-density at t_max). Writes M values; their negative mean is the NLL.");
        options.AddTo(command, query);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            var train = MatrixFile.Read(parse.GetRequiredValue(options.Train), "--train", "N");
            var points = MatrixFile.Read(parse.GetRequiredValue(query), "--query", "M");
            if (points.Columns != train.Columns)
                throw new InputException($"--query has D={points.Columns} columns but --train has D={train.Columns}.");
            string outPath = parse.GetRequiredValue(options.Out);
            MatrixFile.RequireWritableLocation(outPath, "--out");
            var grid = options.GridOf(parse);
            bool float64 = parse.GetValue(options.Precision) == "float64";
            var backend = options.Common.Backend(parse);
            using var owned = backend as IDisposable;
            double[] ll = float64
                ? LogLikelihood<double>(parse, options, train, points, grid, backend)
                : LogLikelihood<float>(parse, options, train, points, grid, backend);
            if (float64) MatrixFile.Write(outPath, ll, [points.Rows]);
            else MatrixFile.Write(outPath, ll.Select(v => (float)v).ToArray(), [points.Rows]);
            parse.InvocationConfiguration.Output.WriteLine(CommonOptions.Summary(outPath, "log-likelihoods", [points.Rows], float64,
                $"mean NLL {-ll.Average():G6} nats, {options.Describe(parse, train, grid)}"));
            return 0;
        }));
        return command;
    }

    private static double[] LogLikelihood<T>(ParseResult parse, ModelOptions options, MatrixFile train, MatrixFile points, TimeGrid grid,
        IScoreBackend backend) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = options.Model<T>(parse, train, backend);
        double[] ll;
        try
        {
            ll = ProbabilityFlow.LogLikelihood(model, options.ScheduleOf(parse), grid, points.Values<T>());
        }
        catch (ArgumentException e) when (CommonOptions.QueryProblem(e, points) is { } problem)
        {
            throw problem;
        }
        if (ll.FirstOrDefault(v => !double.IsFinite(v)) is var bad && !double.IsFinite(bad))
            throw new ArithmeticException($"a log-likelihood is {bad}; the density underflowed at t_min: use a larger --t-min or --precision float64. Nothing was written.");
        return ll;
    }
}
