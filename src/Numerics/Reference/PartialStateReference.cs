namespace Kernels.Numerics.Reference;

/// <summary>
/// The float64 reference of the log-sum-exp state (<see cref="PartialRow"/>) of one query against a shard of a training
/// set, from the definitions in two passes and with every point kept: the oracle that the backends' states and the
/// merge laws are tested against.
/// </summary>
public static class PartialStateReference
{
    /// <summary>
    /// Writes into <paramref name="row"/> the state of query <paramref name="x"/> against the row-major
    /// <paramref name="train"/>: u* = max u_i, S = Mass = Σ e_i, V = Σ e_i (α y_i − x), P = Σ e_i y_i,
    /// Spread = Σ e_i ‖(α y_i − x) − V/S‖².
    /// </summary>
    public static void Evaluate(ReadOnlySpan<double> train, int dimension, ReadOnlySpan<double> x, NoiseLevel level, PartialRow row)
    {
        double[] u = ScoreReference.Logits(train, dimension, x, level);
        int n = u.Length;
        row.Clear();
        if (n == 0) return;
        double max = u.Max();
        row.Max = max;
        var v = row.Displacement;
        var p = row.Points;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            double e = Math.Exp(u[i] - max);
            sum += e;
            for (int k = 0; k < dimension; k++)
            {
                double y = train[i * dimension + k];
                v[k] += e * Math.FusedMultiplyAdd(level.Alpha, y, -x[k]);
                p[k] += e * y;
            }
        }
        double spread = 0;
        for (int i = 0; i < n; i++)
        {
            double e = Math.Exp(u[i] - max);
            for (int k = 0; k < dimension; k++)
            {
                double t = Math.FusedMultiplyAdd(level.Alpha, train[i * dimension + k], -x[k]) - v[k] / sum;
                spread += e * t * t;
            }
        }
        row.Sum = row.Mass = sum;
        row.Spread = spread;
    }
}
