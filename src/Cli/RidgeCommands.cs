using System.CommandLine;
using System.Globalization;
using System.Numerics;
using System.Text;
using Kernels.Numerics;
using Kernels.Numerics.Ridges;

namespace Kernels.Cli;

/// <summary>
/// The verbs <c>hessian</c> (the Hessian of the log-density at each query, dense or its top eigenpairs) and
/// <c>ridge residual</c> (the distance of each query from the d-dimensional log-density ridge, DESIGN.md §5) and
/// <c>ridge project</c> (subspace-constrained mean shift onto that ridge).
/// </summary>
internal static class RidgeCommands
{
    /// <summary>The largest dense output <c>hessian --out</c> writes: M·D·D·8 bytes.</summary>
    public const long DenseLimitBytes = 1L << 30;

    /// <summary><c>kernels hessian</c>.</summary>
    public static Command CreateHessian()
    {
        var options = new CommonOptions();
        var outDense = new Option<string?>("--out")
        {
            Description = "Output .npy file of shape (M, D, D): the Hessian of log p at each query (without --eig). " +
                          $"Refused when M*D*D*8 bytes exceed 1 GiB; use --eig then.",
            HelpName = "H.npy",
        };
        var eig = new Option<int?>("--eig")
        {
            Description = "Instead of the dense Hessian: its K largest eigenvalues (descending) and unit eigenvectors, " +
                          "written to --out-values (M, K) and --out-vectors (M, K, D); 1 <= K <= D.",
            HelpName = "K",
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };
        var outValues = new Option<string?>("--out-values")
        {
            Description = "With --eig: output .npy file of shape (M, K), the eigenvalues in descending order.",
            HelpName = "L.npy",
        };
        var outVectors = new Option<string?>("--out-vectors")
        {
            Description = "With --eig: output .npy file of shape (M, K, D); row k of query q is the eigenvector of value k.",
            HelpName = "V.npy",
        };
        var command = new Command("hessian",
            "Hessian H = grad^2 log p(x) = (alpha^2/sigma^4) Cov[X_0 | x] - I/sigma^2 of the noised empirical distribution at " +
            "each query, from its low-rank form (every eigenvalue outside the span of the weighted points is -1/sigma^2). " +
            "Writes an (M, D, D) array with --out, or with --eig K the top K eigenpairs to --out-values and --out-vectors.");
        var maxRank = MaxRankOption();
        options.AddInputsTo(command, eig, outDense, outValues, outVectors, maxRank);
        command.Validators.Add(result =>
        {
            bool dense = CommonOptions.Given(result, outDense), withEig = CommonOptions.Given(result, eig);
            bool values = CommonOptions.Given(result, outValues), vectors = CommonOptions.Given(result, outVectors);
            if (withEig)
            {
                if (dense) result.AddError("--out writes the dense Hessian; with --eig give --out-values and --out-vectors instead.");
                if (!values || !vectors) result.AddError("--eig needs both --out-values L.npy and --out-vectors V.npy.");
            }
            else
            {
                if (values || vectors) result.AddError("--out-values and --out-vectors go with --eig K.");
                if (!dense) result.AddError("Give --out H.npy for the dense Hessian, or --eig K with --out-values and --out-vectors.");
            }
        });
        command.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error,
            () => ExecuteHessian(parse, options, outDense, eig, outValues, outVectors, maxRank)));
        return command;
    }

    /// <summary><c>kernels ridge</c> with its subcommands <c>residual</c> and <c>project</c>.</summary>
    public static Command CreateRidge()
    {
        var ridge = new Command("ridge",
            "The d-dimensional ridge of the noised log-density: {x : V_perp^T grad log p = 0, lambda_{d+1} < 0}, with V_perp the " +
            "eigenvectors of the D - d smallest Hessian eigenvalues.");
        var options = new CommonOptions();
        var dim = DimOption();
        var maxRank = MaxRankOption();
        var report = new Option<string?>("--report")
        {
            Description = "Also write a CSV with one row per query: residual,normalized_residual,eigengap,curvature_ok " +
                          "(residual / |grad log p|, lambda_d - lambda_{d+1}, lambda_{d+1} < 0).",
            HelpName = "R.csv",
        };
        var residual = new Command("residual",
            "Ridge residual |V_perp V_perp^T g| at each query, g = grad log p(x) the score and V_perp the eigenvectors of the " +
            "D - d smallest eigenvalues of the Hessian; writes an (M,) array (and with --report a CSV with the normalised " +
            "residual, the eigen-gap and the curvature condition).");
        options.AddTo(residual, dim, maxRank, report);
        residual.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error,
            () => ExecuteResidual(parse, options, dim, maxRank, report)));
        ridge.Subcommands.Add(residual);
        ridge.Subcommands.Add(CreateProject());
        return ridge;
    }

    /// <summary><c>kernels ridge project</c>.</summary>
    private static Command CreateProject()
    {
        var options = new CommonOptions();
        var dim = DimOption();
        var tol = new Option<double?>("--tol")
        {
            Description = "Stop a point when its normalised residual |V_perp V_perp^T g| / |g| is at most T (finite, > 0); " +
                          "default 1e-6 with --precision float64, 1e-3 with float32 (the score's rounding floors the residual).",
            HelpName = "T",
            CustomParser = r => Parsers.Number(r),
        };
        var maxIter = new Option<int>("--max-iter")
        {
            Description = "The most steps per point, >= 1 (default 200); a point that reaches it is reported as not converged.",
            HelpName = "K",
            DefaultValueFactory = _ => 200,
            CustomParser = r => Parsers.Count(r, minimum: 1),
        };
        var report = new Option<string?>("--report")
        {
            Description = "Also write a CSV with one row per point: " + ProjectReportHeader +
                          " (normalised residual at the returned point, lambda_{d+1} < 0 there, |returned - start|).",
            HelpName = "R.csv",
        };
        var project = new Command("project",
            "Subspace-constrained mean shift onto the d-dimensional ridge: from each query x <- x + sigma^2 V_perp V_perp^T g " +
            "(= V_perp V_perp^T (alpha m(x) - x)), V_perp the eigenvectors of the D - d smallest Hessian eigenvalues, until |V_perp V_perp^T g| / |g| <= --tol or --max-iter steps; writes the " +
            "projected points (M, D) (and with --report a CSV of convergence, steps, residual, curvature and distance moved). " +
            "Each point's result depends on it alone.");
        var maxRank = MaxRankOption();
        options.AddTo(project, dim, tol, maxIter, maxRank, report);
        project.SetAction(parse => CliErrors.Guarded(parse.InvocationConfiguration.Error,
            () => ExecuteProject(parse, options, dim, tol, maxIter, maxRank, report)));
        return project;
    }

    /// <summary>The CSV header of <c>ridge project --report</c>.</summary>
    public const string ProjectReportHeader = "converged,iterations,residual,curvature_ok,distance_moved";

    private static int ExecuteProject(ParseResult parse, CommonOptions options, Option<int> dim, Option<double?> tol,
        Option<int> maxIter, Option<int> maxRank, Option<string?> report)
    {
        int cap = parse.GetValue(maxRank);
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = options.Level(parse);
        bool float64 = options.Float64(parse);
        double tolerance = parse.GetValue(tol) ?? (float64 ? 1e-6 : 1e-3);
        if (!(tolerance > 0) || !double.IsFinite(tolerance))
            throw new InputException($"--tol {tolerance.ToString("R", CultureInfo.InvariantCulture)}: the tolerance must be finite and > 0 (e.g. 1e-6).");
        int maxIterations = parse.GetValue(maxIter);
        string outPath = options.OutPath(parse);
        string? reportPath = ReportPath(parse, report, outPath);
        var (train, query) = options.ReadInputs(parse);
        int d = query.Columns, dimension = parse.GetValue(dim);
        RequireRidgeDimension(dimension, d);

        var backend = options.Backend(parse);
        using var owned = backend as IDisposable;
        int[] shape = [query.Rows, d];
        ProjectionReport[] reports = float64
            ? Project<double>(train, query, level, backend, dimension, tolerance, maxIterations, cap, outPath, shape)
            : Project<float>(train, query, level, backend, dimension, tolerance, maxIterations, cap, outPath, shape);
        if (reportPath is not null)
        {
            var text = new StringBuilder();
            text.Append(ProjectReportHeader).Append('\n');
            foreach (var p in reports)
                text.Append(CultureInfo.InvariantCulture,
                    $"{(p.Converged ? "true" : "false")},{p.Iterations},{p.Residual:R},{(p.CurvatureOk ? "true" : "false")},{p.DistanceMoved:R}\n");
            WriteText(reportPath, text.ToString());
        }
        int converged = reports.Count(p => p.Converged);
        stdout.WriteLine(CommonOptions.Summary(outPath, $"ridge projection (d = {dimension}, tol = {tolerance.ToString("R", CultureInfo.InvariantCulture)})",
            shape, float64, CommonOptions.Problem(train, query, level)));
        stdout.WriteLine($"{converged} of {reports.Length} points converged within {maxIterations} steps");
        WriteCapLine(stdout, reports.Count(p => p.Capped), reports.Length, cap, d, "returned points");
        if (reportPath is not null) stdout.WriteLine($"wrote {reportPath}: {reports.Length} rows of {ProjectReportHeader}");
        return 0;
    }

    private static ProjectionReport[] Project<T>(MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend,
        int dimension, double tolerance, int maxIterations, int maxRank, string outPath, int[] shape)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new EmpiricalScore<T>(CommonOptions.TrainingSet<T>(train), backend);
        RidgeProjectionResult<T> result;
        try
        {
            result = RidgeProjection.Project(model, query.Values<T>(), level, dimension, tolerance, maxIterations, maxRank);
        }
        catch (ArgumentException e) when (e.ParamName == "starts")
        {
            throw new InputException($"--query {query.Path}: {CliErrors.Describe(e)}");
        }
        CommonOptions.RequireFinite(result.Points, "projected point", shape[1]);
        MatrixFile.Write(outPath, result.Points, shape);
        return result.Reports;
    }

    private static int ExecuteHessian(ParseResult parse, CommonOptions options, Option<string?> outDense, Option<int?> eig,
        Option<string?> outValues, Option<string?> outVectors, Option<int> maxRank)
    {
        int cap = parse.GetValue(maxRank);
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = options.Level(parse);
        bool float64 = options.Float64(parse);
        int? k = parse.GetValue(eig);
        string? densePath = null, valuesPath = null, vectorsPath = null;
        if (k is null)
        {
            densePath = parse.GetValue(outDense)!;
            MatrixFile.RequireWritableLocation(densePath, "--out");
        }
        else
        {
            valuesPath = parse.GetValue(outValues)!;
            vectorsPath = parse.GetValue(outVectors)!;
            MatrixFile.RequireWritableLocation(valuesPath, "--out-values");
            MatrixFile.RequireWritableLocation(vectorsPath, "--out-vectors");
            if (Path.GetFullPath(valuesPath) == Path.GetFullPath(vectorsPath))
                throw new InputException($"--out-values and --out-vectors are the same file {valuesPath}; give two paths.");
        }
        var (train, query) = options.ReadInputs(parse);
        int m = query.Rows, d = query.Columns;
        string problem = CommonOptions.Problem(train, query, level);
        if (k is int kk)
        {
            if (kk > d)
                throw new InputException($"--eig {kk} asks for more eigenpairs than D = {d}; use 1 <= K <= {d}.");
            if ((long)m * kk * d > Array.MaxLength)
                throw new InputException($"--eig {kk} with M = {m} and D = {d} makes {(long)m * kk * d} values, more than one array holds; use fewer queries or a smaller K.");
        }
        else
        {
            long bytes = (long)m * d * d * 8;
            if (bytes > DenseLimitBytes)
                throw new InputException(
                    $"the dense Hessian of M = {m} queries in D = {d} is {m} x {d} x {d} values ({bytes / (double)(1 << 30):F1} GiB at 8 bytes each), over the 1 GiB limit; " +
                    "use --eig K --out-values L.npy --out-vectors V.npy for the top K eigenpairs (every eigenvalue past the span of the weighted points is -1/sigma^2), or fewer queries.");
        }

        var backend = options.Backend(parse);
        using var owned = backend as IDisposable;
        if (float64) Hessian<double>(train, query, level, backend, cap, k, densePath, valuesPath, vectorsPath, stdout, problem);
        else Hessian<float>(train, query, level, backend, cap, k, densePath, valuesPath, vectorsPath, stdout, problem);
        return 0;
    }

    private static void Hessian<T>(MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend, int maxRank, int? k,
        string? densePath, string? valuesPath, string? vectorsPath, TextWriter stdout, string problem)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var factors = Factor<T>(train, query, level, backend, maxRank);
        int m = query.Rows, d = query.Columns;
        WriteCapLine(stdout, factors.Count(f => f.Capped), m, maxRank, d, "queries");
        bool float64 = typeof(T) == typeof(double);
        if (k is not int kk)
        {
            var result = new T[(long)m * d * d];
            var h = new double[d * d];
            for (int q = 0; q < m; q++)
            {
                factors[q].Dense(h);
                for (int i = 0; i < h.Length; i++) result[(long)q * d * d + i] = T.CreateSaturating(h[i]);
            }
            CommonOptions.RequireFinite(result, "Hessian", d * d);
            int[] shape = [m, d, d];
            MatrixFile.Write(densePath!, result, shape);
            stdout.WriteLine(CommonOptions.Summary(densePath!, "hessian", shape, float64, problem));
            return;
        }
        var values = new T[m * kk];
        var vectors = new T[(long)m * kk * d];
        Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = backend.MaxDegreeOfParallelism }, q =>
        {
            var e = factors[q].Eigen(kk, largest: true);
            for (int i = 0; i < kk; i++) values[q * kk + i] = T.CreateSaturating(e.Values[i]);
            var v = e.Vectors;
            for (int i = 0; i < v.Length; i++) vectors[(long)q * kk * d + i] = T.CreateSaturating(v[i]);
        });
        CommonOptions.RequireFinite(values, "Hessian eigenvalues", kk);
        int[] valuesShape = [m, kk], vectorsShape = [m, kk, d];
        MatrixFile.Write(valuesPath!, values, valuesShape);
        MatrixFile.Write(vectorsPath!, vectors, vectorsShape);
        stdout.WriteLine(CommonOptions.Summary(valuesPath!, $"top {kk} Hessian eigenvalues (descending)", valuesShape, float64, problem));
        stdout.WriteLine(CommonOptions.Summary(vectorsPath!, $"top {kk} Hessian eigenvectors", vectorsShape, float64, problem));
    }

    private static HessianFactor[] Factor<T>(MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend, int maxRank)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new EmpiricalScore<T>(CommonOptions.TrainingSet<T>(train), backend);
        try
        {
            return Numerics.Ridges.Hessian.Factor(model, query.Values<T>(), level, maxRank);
        }
        catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
        {
            throw problem;
        }
    }

    private static int ExecuteResidual(ParseResult parse, CommonOptions options, Option<int> dim, Option<int> maxRank, Option<string?> report)
    {
        int cap = parse.GetValue(maxRank);
        TextWriter stdout = parse.InvocationConfiguration.Output;
        NoiseLevel level = options.Level(parse);
        bool float64 = options.Float64(parse);
        string outPath = options.OutPath(parse);
        string? reportPath = ReportPath(parse, report, outPath);
        var (train, query) = options.ReadInputs(parse);
        int d = query.Columns, dimension = parse.GetValue(dim);
        RequireRidgeDimension(dimension, d);

        var backend = options.Backend(parse);
        using var owned = backend as IDisposable;
        var points = float64
            ? Residual<double>(train, query, level, backend, dimension, cap)
            : Residual<float>(train, query, level, backend, dimension, cap);
        foreach (var p in points)
            if (!double.IsFinite(p.Residual))
                throw new ArithmeticException($"a ridge residual is {p.Residual}: an intermediate overflowed; rescale the data. Nothing was written.");

        int[] shape = [query.Rows];
        if (float64) MatrixFile.Write(outPath, points.Select(p => p.Residual).ToArray(), shape);
        else MatrixFile.Write(outPath, points.Select(p => (float)p.Residual).ToArray(), shape);
        if (reportPath is not null) WriteReport(reportPath, points);
        stdout.WriteLine(CommonOptions.Summary(outPath, $"ridge residual (d = {dimension})", shape, float64, CommonOptions.Problem(train, query, level)));
        WriteCapLine(stdout, points.Count(p => p.Capped), points.Length, cap, d, "queries");
        if (reportPath is not null) stdout.WriteLine($"wrote {reportPath}: {points.Length} rows of residual,normalized_residual,eigengap,curvature_ok");
        return 0;
    }

    private static RidgePoint[] Residual<T>(MatrixFile train, MatrixFile query, NoiseLevel level, IScoreBackend backend, int dimension, int maxRank)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = new EmpiricalScore<T>(CommonOptions.TrainingSet<T>(train), backend);
        try
        {
            return RidgeResidual.Evaluate(model, query.Values<T>(), level, dimension, maxRank);
        }
        catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
        {
            throw problem;
        }
    }

    /// <summary>The CSV header of <c>--report</c>.</summary>
    public const string ReportHeader = "residual,normalized_residual,eigengap,curvature_ok";

    /// <summary>Writes the report atomically: a temporary file beside the target, then a rename.</summary>
    /// <summary>The --report path, checked to be writable and distinct from --out (null when not asked for).</summary>
    private static string? ReportPath(ParseResult parse, Option<string?> report, string outPath)
    {
        string? reportPath = parse.GetValue(report);
        if (reportPath is null) return null;
        MatrixFile.RequireWritableLocation(reportPath, "--report");
        if (Path.GetFullPath(reportPath) == Path.GetFullPath(outPath))
            throw new InputException($"--report and --out are the same file {reportPath}; give two paths.");
        return reportPath;
    }

    /// <summary>The <c>--dim</c> option of the ridge verbs (and <c>bench project</c>): required, at least 1.</summary>
    internal static Option<int> DimOption() => new Option<int>("--dim")
    {
        Description = "The ridge dimension d, 1 <= d < D.",
        HelpName = "d",
        Required = true,
        CustomParser = r => Parsers.Count(r, minimum: 1),
    };

    /// <summary>
    /// The <c>--max-rank</c> option of the ridge verbs (and <c>bench project</c>): the cap on kept points per query
    /// (<see cref="Numerics.Ridges.Hessian.Factor{T}"/>'s maxRank), at least 1.
    /// </summary>
    internal static Option<int> MaxRankOption() => new Option<int>("--max-rank")
    {
        Description = $"The most training points a query's Hessian factor keeps, >= 1 (default {Numerics.Ridges.Hessian.DefaultMaxRank}). " +
                      "Where more lie within the cut-off and D exceeds the cap, only the heaviest are kept and the factor is " +
                      "approximate: its reduced eigenproblem costs about r^2 D / 2 multiply-adds. Raise it (up to D, where the factor " +
                      "sums every kept point densely) for accuracy at that cost.",
        HelpName = "R",
        DefaultValueFactory = _ => Numerics.Ridges.Hessian.DefaultMaxRank,
        CustomParser = r => Parsers.Count(r, minimum: 1),
    };

    /// <summary>
    /// Says where the rank cap bound (nothing where it bound nowhere): those factors kept only the cap's heaviest points,
    /// so their eigenvectors are an approximation.
    /// </summary>
    private static void WriteCapLine(TextWriter stdout, int capped, int total, int cap, int d, string what)
    {
        if (capped == 0) return;
        stdout.WriteLine($"the rank cap bound at {capped} of {total} {what}: more than {cap} points lie within the cut-off there and the factor keeps " +
                         $"the {cap} heaviest, an approximation; --max-rank raises the cap (up to D = {d}, where the factor sums every kept point)");
    }

    /// <summary>Refuses a ridge dimension d ≥ D (d ≥ 1 is the option's own check) before any work.</summary>
    internal static void RequireRidgeDimension(int dimension, int d)
    {
        if (dimension >= d)
            throw new InputException(d < 2
                ? $"--dim {dimension}: a ridge needs 1 <= d < D, and the data have D = {d}, which leaves none."
                : $"--dim {dimension} is not below D = {d}; the ridge dimension must satisfy 1 <= d < D (1 to {d - 1}).");
    }

    private static void WriteReport(string path, RidgePoint[] points)
    {
        var text = new StringBuilder();
        text.Append(ReportHeader).Append('\n');
        foreach (var p in points)
            text.Append(CultureInfo.InvariantCulture, $"{p.Residual:R},{p.NormalizedResidual:R},{p.EigenGap:R},{(p.CurvatureOk ? "true" : "false")}\n");
        WriteText(path, text.ToString());
    }

    /// <summary>Writes a text file atomically: a temporary file beside the target, then a rename.</summary>
    private static void WriteText(string path, string text)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string tmp = Path.Combine(directory, ".kn-" + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
