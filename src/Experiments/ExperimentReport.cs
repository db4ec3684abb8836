using System.Globalization;
using System.Text;

namespace Kernels.Experiments;

/// <summary>A table of results: named columns, rows of text or numbers. Written as CSV and as a Markdown table.</summary>
public sealed class ResultTable
{
    private readonly List<object[]> _rows = [];

    /// <summary>Creates an empty table with these column names.</summary>
    /// <param name="columns">Column names (CSV headers).</param>
    public ResultTable(params string[] columns)
    {
        if (columns.Length == 0) throw new ArgumentException("A table needs at least one column.", nameof(columns));
        Columns = columns;
    }

    /// <summary>The column names.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>The rows; each value is a string or a double.</summary>
    public IReadOnlyList<object[]> Rows => _rows;

    /// <summary>Appends a row of one value per column (strings, or numbers stored as double).</summary>
    /// <param name="values">The values.</param>
    public void Add(params object[] values)
    {
        if (values.Length != Columns.Count)
            throw new ArgumentException($"A row needs {Columns.Count} values ({string.Join(", ", Columns)}) but got {values.Length}.", nameof(values));
        _rows.Add(values.Select(v => v is string ? v : (object)Convert.ToDouble(v, CultureInfo.InvariantCulture)).ToArray());
    }

    /// <summary>The number in <paramref name="column"/> of row <paramref name="row"/>.</summary>
    public double Number(int row, string column) => (double)_rows[row][Index(column)];

    /// <summary>The text in <paramref name="column"/> of row <paramref name="row"/>.</summary>
    public string Text(int row, string column) => (string)_rows[row][Index(column)];

    /// <summary>Every number of a column, in row order.</summary>
    public double[] Numbers(string column) => Enumerable.Range(0, _rows.Count).Select(r => Number(r, column)).ToArray();

    private int Index(string column)
    {
        for (int i = 0; i < Columns.Count; i++)
            if (Columns[i] == column) return i;
        throw new ArgumentException($"No column '{column}'; the columns are {string.Join(", ", Columns)}.", nameof(column));
    }

    /// <summary>RFC 4180 CSV with a header line; numbers in round-trip invariant format.</summary>
    public string ToCsv()
    {
        var text = new StringBuilder();
        text.AppendLine(string.Join(',', Columns));
        foreach (var row in _rows)
            text.AppendLine(string.Join(',', row.Select(v => v is double d ? d.ToString("R", CultureInfo.InvariantCulture) : Quote((string)v))));
        return text.ToString();
    }

    /// <summary>A Markdown table with numbers to four significant digits.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", Columns) + " |");
        text.AppendLine("|" + string.Concat(Columns.Select(_ => "---|")));
        foreach (var row in _rows)
            text.AppendLine("| " + string.Join(" | ", row.Select(v => v is double d ? Format(d) : (string)v)) + " |");
        return text.ToString();
    }

    /// <summary>Four significant digits, invariant.</summary>
    public static string Format(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    private static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
}

/// <summary>A figure of a report: its file name in the output folder and a caption.</summary>
/// <param name="File">The PNG's file name.</param>
/// <param name="Caption">What it shows.</param>
public sealed record Figure(string File, string Caption);

/// <summary>What an experiment wrote: its table (also as CSV), its figures and its Markdown summary.</summary>
public sealed class ExperimentReport
{
    private ExperimentReport(string name, string directory, ResultTable table, IReadOnlyList<Figure> figures, IReadOnlyList<string> findings)
    {
        Name = name;
        Directory = directory;
        Table = table;
        Figures = figures;
        Findings = findings;
    }

    /// <summary>The experiment's name.</summary>
    public string Name { get; }

    /// <summary>The output folder.</summary>
    public string Directory { get; }

    /// <summary>The numbers.</summary>
    public ResultTable Table { get; }

    /// <summary>The plots.</summary>
    public IReadOnlyList<Figure> Figures { get; }

    /// <summary>Conclusions read off the numbers, one sentence each.</summary>
    public IReadOnlyList<string> Findings { get; }

    /// <summary>The CSV's path: <c>DIR/NAME.csv</c>.</summary>
    public string CsvPath => Path.Combine(Directory, Name + ".csv");

    /// <summary>The summary's path: <c>DIR/summary.md</c>.</summary>
    public string SummaryPath => Path.Combine(Directory, "summary.md");

    /// <summary>Writes the CSV and the Markdown summary (title, setup, table, findings, linked figures) and returns the report.</summary>
    internal static ExperimentReport Write(ExperimentContext context, Experiment experiment, string setup, ResultTable table,
        IReadOnlyList<Figure> figures, IReadOnlyList<string> findings)
    {
        var report = new ExperimentReport(experiment.Name, context.OutputDirectory, table, figures, findings);
        System.IO.Directory.CreateDirectory(context.OutputDirectory);
        File.WriteAllText(report.CsvPath, table.ToCsv());
        var text = new StringBuilder();
        text.AppendLine($"# {experiment.Name}");
        text.AppendLine();
        text.AppendLine(experiment.Description);
        text.AppendLine();
        text.AppendLine($"Setup ({context.Size.ToString().ToLowerInvariant()} size, seed {context.Seed}): {setup}");
        text.AppendLine();
        text.Append(table.ToMarkdown());
        text.AppendLine();
        text.AppendLine($"Numbers: [{experiment.Name}.csv]({experiment.Name}.csv).");
        if (findings.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("## Findings");
            text.AppendLine();
            foreach (var finding in findings) text.AppendLine($"- {finding}");
        }
        foreach (var figure in figures)
        {
            text.AppendLine();
            text.AppendLine($"![{figure.Caption}]({figure.File})");
            text.AppendLine();
            text.AppendLine($"*{figure.Caption}*");
        }
        File.WriteAllText(report.SummaryPath, text.ToString());
        return report;
    }
}
