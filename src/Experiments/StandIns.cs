// TEMPORARY: stand-ins for the manifold sampling and measures API being built on another branch; deleted at merge.
#pragma warning disable CS1591
using Kernels.Numerics.Geometry;

namespace Kernels.Numerics.Geometry
{
    internal static class CircleStandIn
    {
        public static double[] Grid(this Circle c, int n)
        {
            var p = new double[n * c.Dimension];
            for (int k = 0; k < n; k++) { p[k * c.Dimension] = c.Radius * Math.Cos(2 * Math.PI * k / n); p[k * c.Dimension + 1] = c.Radius * Math.Sin(2 * Math.PI * k / n); }
            return p;
        }
        public static double[] Sample(this Circle c, int n, ulong seed)
        {
            var rng = new Random((int)seed); var p = new double[n * c.Dimension];
            for (int k = 0; k < n; k++) { double th = 2 * Math.PI * rng.NextDouble(); p[k * c.Dimension] = c.Radius * Math.Cos(th); p[k * c.Dimension + 1] = c.Radius * Math.Sin(th); }
            return p;
        }
    }

    public sealed class Segment : Manifold
    {
        private readonly double[] _start, _end, _unit; public double Length { get; }
        public Segment(double[] start, double[] end) : base(start.Length, 1)
        {
            _start = start; _end = end; _unit = new double[start.Length];
            for (int a = 0; a < start.Length; a++) _unit[a] = end[a] - start[a];
            Length = Math.Sqrt(_unit.Sum(v => v * v)); for (int a = 0; a < start.Length; a++) _unit[a] /= Length;
        }
        public double Locate(ReadOnlySpan<double> x) { double c = 0; for (int a = 0; a < Dimension; a++) c += (x[a] - _start[a]) * _unit[a]; return Math.Clamp(c / Length, 0, 1); }
        public void PointAt(double t, Span<double> p) { for (int a = 0; a < Dimension; a++) p[a] = (1 - t) * _start[a] + t * _end[a]; }
        public override void Project(ReadOnlySpan<double> x, Span<double> point) => PointAt(Locate(x), point);
        public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis) => _unit.CopyTo(basis);
        public double[] Grid(int n) { var p = new double[n * Dimension]; for (int k = 0; k < n; k++) PointAt((double)k / (n - 1), p.AsSpan(k * Dimension, Dimension)); return p; }
    }
}

namespace Kernels.Numerics.Measures
{
    public sealed record NearestNeighbours(int[] Index, double[] Distance, double[] SecondDistance);

    public static class SampleMeasures
    {
        public static double[] DistanceToManifold(Manifold manifold, ReadOnlySpan<double> samples)
        {
            int d = manifold.Dimension; var r = new double[samples.Length / d];
            for (int i = 0; i < r.Length; i++) r[i] = manifold.Distance(samples.Slice(i * d, d));
            return r;
        }
        public static NearestNeighbours Nearest(ReadOnlySpan<double> samples, ReadOnlySpan<double> training, int dimension)
        {
            int m = samples.Length / dimension, n = training.Length / dimension;
            var idx = new int[m]; var d1 = new double[m]; var d2 = new double[m];
            for (int i = 0; i < m; i++)
            {
                double b1 = double.PositiveInfinity, b2 = double.PositiveInfinity; int bi = -1;
                for (int j = 0; j < n; j++)
                {
                    double s = 0; for (int a = 0; a < dimension; a++) { double t = samples[i * dimension + a] - training[j * dimension + a]; s += t * t; }
                    if (s < b1) { b2 = b1; b1 = s; bi = j; } else if (s < b2) b2 = s;
                }
                idx[i] = bi; d1[i] = Math.Sqrt(b1); d2[i] = Math.Sqrt(b2);
            }
            return new NearestNeighbours(idx, d1, d2);
        }
        public static double MemorizationShare(NearestNeighbours nn, double ratio = 1.0 / 3) =>
            nn.Distance.Zip(nn.SecondDistance, (a, b) => a < ratio * b ? 1.0 : 0.0).Average();
    }
}
