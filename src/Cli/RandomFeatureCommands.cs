using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using System.Text;
using Kernels.Numerics;
using Kernels.Numerics.Models;

namespace Kernels.Cli;

/// <summary>
/// <c>kernels rf fit</c> (closed-form training of a random-feature score, written as a model file), <c>kernels rf score</c>
/// (the model's score at queries and a time) and <c>kernels rf errors</c> (its losses and error split per time node, CSV).
/// </summary>
internal static class RandomFeatureCommands
{
    /// <summary><c>kernels rf</c> and its verbs.</summary>
    public static Command Create()
    {
        var rf = new Command("rf",
            "Random-feature score model m(x,t) = A relu(W_x x + W_t phi(t) + b)/sqrt(P), score (m - x)/sigma_t^2, trained in closed form " +
            "on denoising score matching (DESIGN.md section 5). Model files are NumPy .npz archives (see README).");
        rf.Subcommands.Add(CreateFit());
        rf.Subcommands.Add(CreateScore());
        rf.Subcommands.Add(CreateErrors());
        return rf;
    }

    private static Option<string> ModelOption() => new("--model")
    {
        Description = "Model file (.npz) written by `kernels rf fit`.",
        HelpName = "MODEL.npz",
        Required = true,
    };

    private static Option<int?> ThreadsOption() => new("--threads")
    {
        Description = "Most CPU threads (default: all cores). Results do not depend on it.",
        HelpName = "N",
        CustomParser = r => Parsers.Count(r, minimum: 1),
    };

    private static Option<string> PrecisionOption()
    {
        var option = new Option<string>("--precision")
        {
            Description = "Precision of the computation (float32: the fast path; float64).",
            DefaultValueFactory = _ => "float32",
        };
        option.AcceptOnlyFromAmong("float32", "float64");
        return option;
    }

    /// <summary>τ: a number ≥ 0 or inf.</summary>
    private static double Tau(ArgumentResult result)
    {
        string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (token is "inf" or "infinity" or "Infinity")
            return double.PositiveInfinity;
        if (double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double tau) && tau >= 0 && !double.IsNaN(tau))
            return tau;
        result.AddError($"--tau: '{token}' is not a training time; give a number >= 0 or inf (the converged model).");
        return 0;
    }

    /// <summary>Reads a model file, turning a malformed one into an input error.</summary>
    internal static RandomFeatureModel ReadModel(string path)
    {
        if (Directory.Exists(path)) throw new InputException($"--model {path} is a directory; pass a model file written by `kernels rf fit`.");
        if (!File.Exists(path)) throw new FileNotFoundException($"--model {path}: no such file.", path);
        try
        {
            return RandomFeatureFile.Read(path);
        }
        catch (FormatException e)
        {
            throw new InputException($"--model {e.Message}");
        }
    }

    private static Command CreateFit()
    {
        var train = new Option<string>("--train") { Description = "Training set Y: a 2-D .npy file (N, D).", HelpName = "Y.npy", Required = true };
        var features = new Option<int>("--features") { Description = "P, the number of random features.", HelpName = "P", Required = true, CustomParser = r => Parsers.Count(r, minimum: 1) };
        var harmonics = new Option<int>("--harmonics") { Description = "K, Fourier harmonics of the time embedding (2K+1 entries).", HelpName = "K", DefaultValueFactory = _ => 128, CustomParser = r => Parsers.Count(r, minimum: 0) };
        var schedule = new Option<string>("--schedule") { Description = "Noise schedule: ou, vp, ve or edm.", DefaultValueFactory = _ => "ou" };
        schedule.AcceptOnlyFromAmong("ou", "vp", "ve", "edm");
        var tMax = new Option<double>("--t-max") { Description = "T = t_max, the last node and the embedding's period.", HelpName = "T", Required = true, CustomParser = Parsers.Number };
        var tMin = new Option<double>("--t-min") { Description = "t_min > 0, the first node.", HelpName = "T0", DefaultValueFactory = _ => 1e-3, CustomParser = Parsers.Number };
        var nodes = new Option<int>("--nodes") { Description = "L, Simpson nodes over [t_min, T] (odd, >= 3).", HelpName = "L", DefaultValueFactory = _ => 101, CustomParser = r => Parsers.Count(r, minimum: 3) };
        var draws = new Option<int>("--draws") { Description = "m_z, noise draws per (point, node).", HelpName = "MZ", DefaultValueFactory = _ => 8, CustomParser = r => Parsers.Count(r, minimum: 1) };
        var weighting = new Option<string>("--weighting") { Description = "w(t) in the loss: 1, sigma2 or sigma4.", DefaultValueFactory = _ => "1" };
        weighting.AcceptOnlyFromAmong("1", "sigma2", "sigma4");
        var tau = new Option<double>("--tau") { Description = "Training time tau >= 0 of the gradient flow, or inf (least squares).", HelpName = "TAU", Required = true, CustomParser = Tau };
        var activation = new Option<string>("--activation") { Description = "relu or tanh.", DefaultValueFactory = _ => "relu" };
        activation.AcceptOnlyFromAmong("relu", "tanh");
        var initial = new Option<string>("--initial") { Description = "A_0: zero or gaussian (N(0,1) entries by --seed).", DefaultValueFactory = _ => "zero" };
        initial.AcceptOnlyFromAmong("zero", "gaussian");
        var seed = new Option<ulong>("--seed") { Description = "Seed of W_x, W_t, b, the draws and A_0.", HelpName = "S", DefaultValueFactory = _ => 0, CustomParser = r => Parsers.Seed(r) };
        var precision = PrecisionOption();
        var threads = ThreadsOption();
        var output = new Option<string>("--out") { Description = "Model file to write (.npz).", HelpName = "MODEL.npz", Required = true };
        var command = new Command("fit",
            "Fit the random-feature score to a training set in closed form: accumulate U and V over N*MZ*L noised draws, decompose U " +
            "once, and take A at training time --tau. Writes the model file.");
        foreach (Option option in (Option[])[train, features, harmonics, schedule, tMax, tMin, nodes, draws, weighting, tau, activation, initial, seed, precision, threads, output])
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            var y = MatrixFile.Read(parse.GetRequiredValue(train), "--train", "N");
            string outPath = parse.GetRequiredValue(output);
            MatrixFile.RequireWritableLocation(outPath, "--out");
            double t = parse.GetValue(tMax);
            if (!(t > 0) || !double.IsFinite(t)) throw new InputException($"--t-max must be finite and > 0 (got {t}).");
            double t0 = parse.GetValue(tMin);
            if (!(t0 > 0) || !(t0 < t)) throw new InputException($"--t-min must satisfy 0 < t_min < t_max = {t} (got {t0}).");
            if (parse.GetValue(nodes) % 2 == 0) throw new InputException($"--nodes must be odd for Simpson's rule (got {parse.GetValue(nodes)}; use {parse.GetValue(nodes) + 1}).");
            var rf = RandomFeatures.Draw(y.Columns, parse.GetValue(features), parse.GetValue(harmonics), NoiseSchedule.Parse(parse.GetRequiredValue(schedule)), t,
                parse.GetValue(seed), parse.GetValue(activation) == "tanh" ? FeatureActivation.Tanh : FeatureActivation.Relu);
            var options = new RandomFeatureTraining
            {
                TimeMin = t0,
                Nodes = parse.GetValue(nodes),
                Draws = parse.GetValue(draws),
                Weighting = RandomFeatureTraining.ParseWeighting(parse.GetRequiredValue(weighting)),
                Initial = parse.GetValue(initial) == "gaussian" ? InitialCoefficients.Gaussian : InitialCoefficients.Zero,
                MaxDegreeOfParallelism = parse.GetValue(threads) ?? -1,
            };
            bool float64 = parse.GetValue(precision) == "float64";
            var fit = float64
                ? RandomFeatureTrainer.Fit(CommonOptions.TrainingSet<double>(y), rf, options)
                : RandomFeatureTrainer.Fit(CommonOptions.TrainingSet<float>(y), rf, options);
            double tauValue = parse.GetValue(tau);
            var a = fit.Coefficients(tauValue);
            RandomFeatureFile.Write(outPath, new RandomFeatureModel(rf, a, tauValue, options));
            parse.InvocationConfiguration.Output.WriteLine(
                $"wrote {outPath}: random-feature model, P={rf.Count}, K={rf.Harmonics}, D={rf.Dimension}, tau={tauValue.ToString(CultureInfo.InvariantCulture)}, " +
                $"loss {fit.Loss(a):G6} (A=0: {fit.TargetMeanSquare / rf.Dimension:G6}), rank {fit.Rank}/{rf.Count}; {fit.Timing.Rows} feature rows, " +
                $"U and V {fit.Timing.AccumulateSeconds:F2} s ({(float64 ? "float64" : "float32")}), eigen-decomposition {fit.Timing.DecomposeSeconds:F2} s ({fit.Timing.Decomposition})");
            return 0;
        }));
        return command;
    }

    private static Command CreateScore()
    {
        var model = ModelOption();
        var query = new Option<string>("--query") { Description = "Queries X: a 2-D .npy file (M, D) with the model's D.", HelpName = "X.npy", Required = true };
        var time = new Option<double>("--t") { Description = "Time t > 0 (on the model's schedule).", HelpName = "T", Required = true, CustomParser = Parsers.Number };
        var precision = PrecisionOption();
        var threads = ThreadsOption();
        var output = new Option<string>("--out") { Description = "Output .npy file (M, D): the score.", HelpName = "S.npy", Required = true };
        var command = new Command("score", "The model's score s(x, t) = (m(x, t) - x)/sigma_t^2 at the queries.");
        foreach (Option option in (Option[])[model, query, time, precision, threads, output])
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            var rf = ReadModel(parse.GetRequiredValue(model));
            var x = MatrixFile.Read(parse.GetRequiredValue(query), "--query", "M");
            if (x.Columns != rf.Features.Dimension)
                throw new InputException($"--query has D={x.Columns} columns but the model {parse.GetRequiredValue(model)} is for D={rf.Features.Dimension}; pass queries of the model's dimension or a model fitted to data of D={x.Columns}.");
            string outPath = parse.GetRequiredValue(output);
            MatrixFile.RequireWritableLocation(outPath, "--out");
            double t = parse.GetValue(time);
            if (!(t > 0) || !double.IsFinite(t)) throw new InputException($"--t must be finite and > 0 (got {t}).");
            bool float64 = parse.GetValue(precision) == "float64";
            int threadCount = parse.GetValue(threads) ?? -1;
            if (float64) MatrixFile.Write(outPath, Score<double>(rf, x, t, threadCount), [x.Rows, x.Columns]);
            else MatrixFile.Write(outPath, Score<float>(rf, x, t, threadCount), [x.Rows, x.Columns]);
            parse.InvocationConfiguration.Output.WriteLine(CommonOptions.Summary(outPath, "random-feature score", [x.Rows, x.Columns], float64,
                $"P={rf.Features.Count}, tau={rf.Tau.ToString(CultureInfo.InvariantCulture)}, t={t.ToString(CultureInfo.InvariantCulture)}"));
            return 0;
        }));
        return command;
    }

    private static T[] Score<T>(RandomFeatureModel rf, MatrixFile x, double t, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new RandomFeatureScore<T>(rf.Features, rf.Coefficients, rf.Tau) { MaxDegreeOfParallelism = threads };
        var queries = x.Values<T>();
        var score = new T[queries.Length];
        try
        {
            model.EvaluateAt(queries, t, new ScoreOutputs<T> { Score = score });
        }
        catch (ArgumentException e) when (CommonOptions.QueryProblem(e, x) is { } problem)
        {
            throw problem;
        }
        CommonOptions.RequireFinite(score, "random-feature score", x.Columns);
        return score;
    }

    private static Command CreateErrors()
    {
        var model = ModelOption();
        var train = new Option<string>("--train") { Description = "The training set the model was fitted on: a 2-D .npy file (N, D).", HelpName = "Y.npy", Required = true };
        var dim = new Option<int>("--dim") { Description = "Ridge dimension d (1 <= d < D) for the normal/tangential split.", HelpName = "d", DefaultValueFactory = _ => 1, CustomParser = r => Parsers.Count(r, minimum: 1) };
        var threads = ThreadsOption();
        var output = new Option<string>("--out") { Description = "Output CSV: one row per time node, then the integrated totals.", HelpName = "E.csv", Required = true };
        var command = new Command("errors",
            "Losses and errors apart on the model's own training draws (float64): per time node the loss of A(tau), of A(inf) (refitted " +
            "from --train) and of the exact posterior mean L*, the optimization error L(A(tau)) - L(A(inf)) and the architectural bias " +
            "L(A(inf)) - L*, each split into normal and tangential parts relative to the d-dimensional ridge of p_t (and per axis for D = 2).");
        foreach (Option option in (Option[])[model, train, dim, threads, output])
            command.Options.Add(option);
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error, () =>
        {
            var rf = ReadModel(parse.GetRequiredValue(model));
            var y = MatrixFile.Read(parse.GetRequiredValue(train), "--train", "N");
            int d = rf.Features.Dimension;
            if (y.Columns != d)
                throw new InputException($"--train has D={y.Columns} columns but the model {parse.GetRequiredValue(model)} is for D={d}; pass the training set the model was fitted on.");
            int ridge = parse.GetValue(dim);
            if (ridge >= d)
                throw new InputException($"--dim {ridge}: the ridge dimension must satisfy 1 <= d < D = {d}{(d < 2 ? " (D = 1 has no ridge split)" : "")}.");
            string outPath = parse.GetRequiredValue(output);
            MatrixFile.RequireWritableLocation(outPath, "--out");
            var set = CommonOptions.TrainingSet<double>(y);
            var options = rf.Training with { MaxDegreeOfParallelism = parse.GetValue(threads) ?? -1 };
            var fit = RandomFeatureTrainer.Fit(set, rf.Features, options);
            var nodes = RandomFeatureErrors.Evaluate(rf.Score<double>(), fit.Model<double>(double.PositiveInfinity), set, options, ridge);
            WriteCsv(outPath, nodes, d);
            parse.InvocationConfiguration.Output.WriteLine(
                $"wrote {outPath}: {nodes.Length} nodes; loss {RandomFeatureErrors.Integrate(nodes, n => n.Loss):G6}, optimization error " +
                $"{RandomFeatureErrors.Integrate(nodes, n => n.Optimization):G6}, architectural bias {RandomFeatureErrors.Integrate(nodes, n => n.Bias):G6} (L* = " +
                $"{RandomFeatureErrors.Integrate(nodes, n => n.ExactLoss):G6})");
            return 0;
        }));
        return command;
    }

    /// <summary>The CSV: node rows, then a row "total" with the Simpson-weighted integrals (weight column = ∫w).</summary>
    private static void WriteCsv(string path, NodeErrors[] nodes, int d)
    {
        bool axes = d == 2;
        var text = new StringBuilder("node,t,weight,loss_tau,loss_inf,loss_star,opt,opt_normal,opt_tangential,bias,bias_normal,bias_tangential");
        if (axes) text.Append(",opt_axis0,opt_axis1,bias_axis0,bias_axis1");
        text.Append('\n');
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        foreach (var n in nodes)
        {
            text.Append(string.Join(",", n.Node.ToString(CultureInfo.InvariantCulture), F(n.Time), F(n.Weight), F(n.Loss), F(n.ConvergedLoss), F(n.ExactLoss),
                F(n.Optimization), F(n.OptimizationNormal), F(n.OptimizationTangential), F(n.Bias), F(n.BiasNormal), F(n.BiasTangential)));
            if (axes) text.Append(',').Append(string.Join(",", F(n.OptimizationAxes[0]), F(n.OptimizationAxes[1]), F(n.BiasAxes[0]), F(n.BiasAxes[1])));
            text.Append('\n');
        }
        double I(Func<NodeErrors, double> q) => RandomFeatureErrors.Integrate(nodes, q);
        text.Append(string.Join(",", "total", "", F(nodes.Sum(n => n.Weight)), F(I(n => n.Loss)), F(I(n => n.ConvergedLoss)), F(I(n => n.ExactLoss)),
            F(I(n => n.Optimization)), F(I(n => n.OptimizationNormal)), F(I(n => n.OptimizationTangential)), F(I(n => n.Bias)), F(I(n => n.BiasNormal)), F(I(n => n.BiasTangential))));
        if (axes) text.Append(',').Append(string.Join(",", F(I(n => n.OptimizationAxes[0])), F(I(n => n.OptimizationAxes[1])), F(I(n => n.BiasAxes[0])), F(I(n => n.BiasAxes[1]))));
        text.Append('\n');
        string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        File.WriteAllText(tmp, text.ToString());
        File.Move(tmp, path, overwrite: true);
    }
}
