using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;
using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Smoothing;

namespace Kernels.Cli;

/// <summary>The smoothing kernels the command line offers.</summary>
internal enum KernelKind
{
    /// <summary>gaussian:H, N(0, h² I).</summary>
    Gaussian,

    /// <summary>aniso:HT,HN, h_T along the tangent space and h_N normal to it.</summary>
    Aniso,

    /// <summary>tangent:H, Gaussian along the tangent space only.</summary>
    Tangent,

    /// <summary>ball:R, uniform on the ball of radius R.</summary>
    Ball,
}

/// <summary>
/// A parsed <c>--kernel</c> value: <c>gaussian:H</c>, <c>aniso:HT,HN</c>, <c>tangent:H</c> or <c>ball:R</c>. Parsing checks
/// the spelling only; the values' ranges (h &gt; 0, …) are the library's to check, and its objections name --kernel.
/// </summary>
internal sealed record KernelSpec(string Text, KernelKind Kind, double[] Values)
{
    /// <summary>The accepted forms, for messages.</summary>
    public const string Forms = "gaussian:H, aniso:HT,HN, tangent:H or ball:R";

    /// <summary>The Gaussian forms, which have a closed-form density smoothing.</summary>
    public const string GaussianForms = "gaussian:H, aniso:HT,HN or tangent:H";

    /// <summary>True for the kernels built about a tangent space (they need --tangent).</summary>
    public bool NeedsTangent => Kind is KernelKind.Aniso or KernelKind.Tangent;

    /// <summary>The option's custom parser; <paramref name="gaussianOnly"/> for kde, which rejects ball:R.</summary>
    public static KernelSpec Parse(ArgumentResult result, bool gaussianOnly)
    {
        string option = OptionName(result, "--kernel");
        string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (!TryParse(token, out KernelSpec? spec, out string? problem))
        {
            result.AddError($"{option}: '{token}' is not a kernel{problem}; use {Forms}.");
            return new KernelSpec(token, KernelKind.Gaussian, [double.NaN]);
        }
        if (gaussianOnly && spec.Kind == KernelKind.Ball)
            result.AddError(
                $"{option}: '{token}' is not a Gaussian kernel, and KDE (density smoothing) has a closed form only for Gaussian kernels; " +
                $"use {GaussianForms}, or `kernels smooth` (log-domain smoothing) for ball:R.");
        return spec;
    }

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="problem"/> is "" or ": why", to follow "is not a kernel".</summary>
    public static bool TryParse(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out KernelSpec? spec, out string? problem)
    {
        spec = null;
        problem = "";
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        string[] parameters = colon < 0 ? [] : text[(colon + 1)..].Split(',');
        (KernelKind Kind, string Parameters)? form = name switch
        {
            "gaussian" => (KernelKind.Gaussian, "H"),
            "aniso" => (KernelKind.Aniso, "HT,HN"),
            "tangent" => (KernelKind.Tangent, "H"),
            "ball" => (KernelKind.Ball, "R"),
            _ => null,
        };
        if (form is not { } f)
            return false;
        int expected = f.Parameters.Split(',').Length;
        if (parameters.Length != expected)
        {
            problem = $": {name} takes {(expected == 1 ? "one number" : "two numbers")} ({name}:{f.Parameters})";
            return false;
        }
        var values = new double[expected];
        for (int i = 0; i < expected; i++)
        {
            if (!double.TryParse(parameters[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
            {
                problem = $": '{parameters[i]}' is not a number";
                return false;
            }
        }
        spec = new KernelSpec(text, f.Kind, values);
        return true;
    }

    /// <summary>The library's kernel; <paramref name="tangents"/> is null exactly when <see cref="NeedsTangent"/> is false.</summary>
    public SmoothingKernel Build(ITangentSpace? tangents)
    {
        try
        {
            return Kind switch
            {
                KernelKind.Gaussian => SmoothingKernel.Gaussian(Values[0]),
                KernelKind.Aniso => SmoothingKernel.Anisotropic(tangents!, Values[0], Values[1]),
                KernelKind.Tangent => SmoothingKernel.Tangent(tangents!, Values[0]),
                KernelKind.Ball => SmoothingKernel.Ball(Values[0]),
                _ => throw new InvalidOperationException($"unknown kernel kind {Kind}"),
            };
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--kernel {Text}: {CliErrors.Describe(e)}");
        }
    }

    internal static string OptionName(ArgumentResult result, string fallback) =>
        result.Parent is OptionResult option ? option.Option.Name : fallback;
}

/// <summary>The tangent spaces the command line offers.</summary>
internal enum TangentKind
{
    /// <summary>circle[:R], in the plane of the first two coordinates, about the origin.</summary>
    Circle,

    /// <summary>sphere[:R], S^{D-1} in R^D about the origin.</summary>
    Sphere,

    /// <summary>line, the principal line of the training set.</summary>
    Line,

    /// <summary>knn:K[,D], local PCA of the K nearest training points.</summary>
    Knn,

    /// <summary>ridge:D[,project], the top-D Hessian eigenvectors of the noised training set's log-density at the command's level.</summary>
    Ridge,
}

/// <summary>
/// A parsed <c>--tangent</c> value: <c>circle[:R]</c>, <c>sphere[:R]</c>, <c>line</c>, <c>knn:K[,D]</c> or
/// <c>ridge:D[,project]</c> (Neighbours = 1 for ',project'). Parsing checks
/// the spelling only; ranges (R &gt; 0, K ≤ N, d &lt; D, …) are the library's to check, and its objections name --tangent.
/// </summary>
internal sealed record TangentSpec(string Text, TangentKind Kind, double Radius, int Neighbours, int? Dimension)
{
    /// <summary>The accepted forms, for messages.</summary>
    public const string Forms = "circle[:R], sphere[:R], line, knn:K[,D] or ridge:D[,project]";

    /// <summary>The option's custom parser.</summary>
    public static TangentSpec? Parse(ArgumentResult result)
    {
        string option = KernelSpec.OptionName(result, "--tangent");
        string token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (TryParse(token, out TangentSpec? spec, out string? problem))
            return spec;
        result.AddError($"{option}: '{token}' is not a tangent space{problem}; use {Forms}.");
        return null;
    }

    /// <summary>Parses <paramref name="text"/>; on failure <paramref name="problem"/> is "" or ": why".</summary>
    public static bool TryParse(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TangentSpec? spec, out string? problem)
    {
        spec = null;
        problem = "";
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = (colon < 0 ? text : text[..colon]).Trim().ToLowerInvariant();
        string[] parameters = colon < 0 ? [] : text[(colon + 1)..].Split(',');
        switch (name)
        {
            case "circle" or "sphere":
            {
                double radius = 1;
                if (parameters.Length > 1)
                {
                    problem = $": {name} takes at most one number, the radius R ({name} or {name}:R)";
                    return false;
                }
                if (parameters.Length == 1 &&
                    !double.TryParse(parameters[0].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out radius))
                {
                    problem = $": '{parameters[0]}' is not a number (the radius R)";
                    return false;
                }
                spec = new TangentSpec(text, name == "circle" ? TangentKind.Circle : TangentKind.Sphere, radius, 0, null);
                return true;
            }
            case "line":
                if (colon >= 0)
                {
                    problem = ": line takes no parameters (it is fitted to the training set)";
                    return false;
                }
                spec = new TangentSpec(text, TangentKind.Line, 0, 0, null);
                return true;
            case "knn":
            {
                if (parameters.Length is < 1 or > 2)
                {
                    problem = ": knn takes K, the number of neighbours, and optionally D, the tangent dimension (knn:K or knn:K,D)";
                    return false;
                }
                var numbers = new int[parameters.Length];
                for (int i = 0; i < parameters.Length; i++)
                {
                    if (!int.TryParse(parameters[i].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out numbers[i]))
                    {
                        problem = $": '{parameters[i]}' is not a whole number ({(i == 0 ? "K, the number of neighbours" : "D, the tangent dimension")})";
                        return false;
                    }
                }
                spec = new TangentSpec(text, TangentKind.Knn, 0, numbers[0], numbers.Length == 2 ? numbers[1] : null);
                return true;
            }
            case "ridge":
            {
                bool project = parameters.Length == 2 && parameters[1].Trim().Equals("project", StringComparison.OrdinalIgnoreCase);
                if (parameters.Length is < 1 or > 2 || (parameters.Length == 2 && !project))
                {
                    problem = ": ridge takes D, the ridge dimension, and optionally 'project' to take the eigenvectors at the point's ridge projection (ridge:D or ridge:D,project)";
                    return false;
                }
                if (!int.TryParse(parameters[0].Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int dimension))
                {
                    problem = $": '{parameters[0]}' is not a whole number (D, the ridge dimension)";
                    return false;
                }
                spec = new TangentSpec(text, TangentKind.Ridge, 0, project ? 1 : 0, dimension);
                return true;
            }
            default:
                return false;
        }
    }

    /// <summary>True for the tangent spaces fitted to the training set (line, knn, ridge); circle and sphere are analytic.</summary>
    public bool NeedsTrainingSet => Kind is TangentKind.Line or TangentKind.Knn or TangentKind.Ridge;

    /// <summary>
    /// The tangent space for the data in <paramref name="set"/>; the library's objections name --tangent. The ridge's
    /// tangents need the command's backend and its one noise level (<paramref name="level"/> null where it has none).
    /// </summary>
    public ITangentSpace Build<T>(TrainingSet<T> set, IScoreBackend? backend = null, NoiseLevel? level = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Kind == TangentKind.Ridge && level is null)
            throw new InputException(
                $"--tangent {Text}: ridge tangents follow the ridge at one noise level, and this command has none (its level changes with t); use knn:K[,D], line, circle or sphere here, or ridge:D with smooth or kde.");
        return Build(set.Dimension, () => Kind switch
        {
            TangentKind.Line => AffineSubspace.FitLine(set),
            TangentKind.Knn => LocalPca.From(set, Neighbours, Dimension),
            TangentKind.Ridge => new RidgeTangentSpace<T>(new EmpiricalScore<T>(set, backend), level!.Value, Dimension!.Value, atProjection: Neighbours == 1),
            _ => throw new InvalidOperationException($"unknown tangent kind {Kind}"),
        });
    }

    /// <summary>
    /// The tangent space in dimension <paramref name="dimension"/> for a training set that no process holds whole
    /// (sharded over MPI ranks, <paramref name="context"/>): the analytic ones (circle, sphere); the fitted ones are
    /// built collectively by <see cref="MpiTangents"/>, and any fitted kind it does not handle is refused here.
    /// </summary>
    public ITangentSpace Build(int dimension, string context) => Build(dimension, () => throw new InputException(
        $"--tangent {Text} is not sharded ({context}); use knn:K[,D], line or ridge:D (fitted across the ranks), circle[:R] or sphere[:R], or run without --shard."));

    /// <summary>A fitted tangent space from <paramref name="fitted"/> (or an analytic one), D checked first and the library's objections naming --tangent.</summary>
    internal ITangentSpace Build(int dimension, Func<ITangentSpace> fitted) => Guarded(dimension, () => Kind switch
    {
        TangentKind.Circle => new Circle(Radius, null, dimension),
        TangentKind.Sphere => new Sphere(dimension - 1, dimension, Radius),
        _ => fitted(),
    });

    /// <summary>
    /// Runs <paramref name="step"/> of building this tangent space after checking D ≥ 2; the library's objections
    /// (ArgumentException) become input errors naming --tangent.
    /// </summary>
    internal TResult Guarded<TResult>(int dimension, Func<TResult> step)
    {
        if (dimension < 2)
            throw new InputException(
                $"--tangent {Text}: a tangent space needs points in D >= 2 (a d-dimensional tangent space with 1 <= d < D){(Kind == TangentKind.Circle ? "; the circle lies in the plane of the first two coordinates" : "")}, but --train has D={dimension}.");
        try
        {
            return step();
        }
        catch (ArgumentException e)
        {
            throw new InputException($"--tangent {Text}: {CliErrors.Describe(e)}");
        }
    }
}
