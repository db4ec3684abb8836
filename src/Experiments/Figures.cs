using ScottPlot;

namespace Kernels.Experiments;

/// <summary>A named set of 2-D points or a curve for a figure.</summary>
/// <param name="Label">The legend text (empty for none).</param>
/// <param name="X">x coordinates.</param>
/// <param name="Y">y coordinates.</param>
/// <param name="Line">True: a connected line without markers; false: markers only.</param>
internal sealed record Series(string Label, double[] X, double[] Y, bool Line = false);

/// <summary>One panel of a multi-panel figure.</summary>
/// <param name="Title">The panel's title.</param>
/// <param name="Series">What it draws.</param>
internal sealed record Panel(string Title, IReadOnlyList<Series> Series);

/// <summary>The report's PNG figures, drawn with ScottPlot (headless).</summary>
internal static class Figures
{
    private const int Width = 800, Height = 520, PanelSize = 340;

    /// <summary>One plot of curves and point sets, with axis labels and a legend.</summary>
    public static Figure Plot(ExperimentContext context, string file, string caption, string xLabel, string yLabel,
        IReadOnlyList<Series> series, bool equalAxes = false)
    {
        var plot = new Plot();
        Draw(plot, series);
        plot.Title(caption);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        if (equalAxes) plot.Axes.SquareUnits();
        if (series.Any(s => s.Label.Length > 0)) plot.ShowLegend(Alignment.UpperRight);
        Directory.CreateDirectory(context.OutputDirectory);
        plot.SavePng(Path.Combine(context.OutputDirectory, file), Width, Height);
        return new Figure(file, caption);
    }

    /// <summary>Several panels side by side in rows of at most <paramref name="columns"/>, each with equal axes when asked.</summary>
    public static Figure Panels(ExperimentContext context, string file, string caption, IReadOnlyList<Panel> panels, int columns,
        bool equalAxes)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        int rows = (panels.Count + columns - 1) / columns;
        int cols = Math.Min(columns, panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, cols);
        for (int i = 0; i < panels.Count; i++)
        {
            var plot = multiplot.GetPlot(i);
            Draw(plot, panels[i].Series);
            plot.Title(panels[i].Title, size: 13);
            plot.HideLegend(); // the caption names the series
            if (equalAxes) plot.Axes.SquareUnits();
        }
        Directory.CreateDirectory(context.OutputDirectory);
        multiplot.SavePng(Path.Combine(context.OutputDirectory, file), cols * PanelSize, rows * PanelSize);
        return new Figure(file, caption);
    }

    /// <summary>Normalised histograms (densities) of several value sets over common bins, drawn as step lines.</summary>
    public static Figure Histograms(ExperimentContext context, string file, string caption, string xLabel,
        IReadOnlyList<(string Label, double[] Values)> sets, int bins, double min, double max)
    {
        var series = sets.Select(set =>
        {
            var (centres, density) = Histogram(set.Values, bins, min, max);
            return new Series(set.Label, centres, density, Line: true);
        }).ToList();
        return Plot(context, file, caption, xLabel, "density", series);
    }

    /// <summary>Bin centres and densities (counts / (n · width)); values outside [min, max] are left out.</summary>
    public static (double[] Centres, double[] Density) Histogram(double[] values, int bins, double min, double max)
    {
        double width = (max - min) / bins;
        var density = new double[bins];
        foreach (double v in values)
        {
            int b = (int)Math.Floor((v - min) / width);
            if (b == bins && v == max) b--;
            if (b >= 0 && b < bins) density[b] += 1.0 / (values.Length * width);
        }
        return (Enumerable.Range(0, bins).Select(b => min + (b + 0.5) * width).ToArray(), density);
    }

    private static void Draw(Plot plot, IReadOnlyList<Series> series)
    {
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var scatter = plot.Add.Scatter(s.X, s.Y, palette.GetColor(i));
            scatter.LegendText = s.Label;
            if (s.Line)
            {
                scatter.MarkerSize = 0;
                scatter.LineWidth = 2;
            }
            else
            {
                scatter.LineWidth = 0;
                scatter.MarkerSize = s.X.Length > 200 ? 2 : 5;
            }
        }
    }
}
