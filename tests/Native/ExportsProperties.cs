using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Kernels.Native;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Native;

/// <summary>
/// The C entry points called in-process through unmanaged function pointers (the same reverse-P/Invoke transition a C caller
/// makes), on random shapes: they must give exactly the managed API's numbers (the same code under the same JIT, so bit for
/// bit: no tolerance is needed) and answer any argument with a documented status, never an exception.
/// </summary>
public sealed unsafe class ExportsProperties
{
    private static readonly HashSet<int> Documented = [.. Enum.GetValues<Status>().Select(s => (int)s)];

    private static nint Create(float[] train, int n, int d, int threads = 0)
    {
        nint set;
        fixed (float* y = train)
            Assert.Equal(0, ((delegate* unmanaged<float*, long, long, int, int, nint*, int>)&Exports.CreateF32)(y, n, d, 0, threads, &set));
        return set;
    }

    private static int Free(nint set) => ((delegate* unmanaged<nint, int>)&Exports.Free)(set);

    private static string LastError() => Marshal.PtrToStringUTF8((nint)((delegate* unmanaged<byte*>)&Exports.LastErrorMessage)())!;

    private static (float[] LogDensity, float[] Score, float[] Denoiser, float[] Divergence) Buffers(int m, int d) =>
        (new float[m], new float[m * d], new float[m * d], new float[m]);

    /// <summary>Evaluate, per-query levels, KDE and log-domain smoothing through the exports equal the managed API exactly.</summary>
    [Property(MaxTest = 40)]
    public Property Exports_Float32_EqualTheManagedApiBitForBit() => Prop.ForAll(Problem.Arbitrary, p =>
    {
        var (train, queries, _, _) = p.Build<float>();
        int m = p.M, d = p.D;
        var model = new EmpiricalScore<float>(new TrainingSet<float>(train, p.N, d));
        nint set = Create(train, p.N, d);
        try
        {
            // One level.
            var (ld, s, den, div) = Buffers(m, d);
            fixed (float* x = queries) fixed (float* a = ld) fixed (float* b = s) fixed (float* c = den) fixed (float* e = div)
                Assert.Equal(0, ((delegate* unmanaged<nint, float*, long, long, double, double, float*, float*, float*, float*, int>)&Exports.EvaluateF32)(
                    set, x, m, d, p.Alpha, p.Sigma, a, b, c, e));
            var expected = Outputs.Evaluate(model, queries, p.Level);
            Assert.Equal(expected.LogDensity, Problem.Widen(ld));
            Assert.Equal(expected.Score, Problem.Widen(s));
            Assert.Equal(expected.Denoiser, Problem.Widen(den));
            Assert.Equal(expected.Divergence, Problem.Widen(div));

            // A level per query, from up to three distinct levels interleaved: each group is the managed call on its queries.
            int k = 1 + p.Seed % 3;
            var levels = Enumerable.Range(0, k).Select(j => new NoiseLevel(p.Alpha * (1 - 0.1 * j), p.Sigma * (1 + 0.5 * j))).ToArray();
            int[] of = Enumerable.Range(0, m).Select(q => (q * 7 + p.Seed) % k).ToArray();
            double[] alphas = of.Select(j => levels[j].Alpha).ToArray(), sigmas = of.Select(j => levels[j].Sigma).ToArray();
            var (lld, ls, _, ldiv) = Buffers(m, d);
            fixed (float* x = queries) fixed (double* al = alphas) fixed (double* si = sigmas) fixed (float* a = lld) fixed (float* b = ls) fixed (float* e = ldiv)
                Assert.Equal(0, ((delegate* unmanaged<nint, float*, long, long, double*, double*, float*, float*, float*, float*, int>)&Exports.EvaluateLevelsF32)(
                    set, x, m, d, al, si, a, b, null, e));
            for (int j = 0; j < k; j++)
            {
                int[] rows = Enumerable.Range(0, m).Where(q => of[q] == j).ToArray();
                if (rows.Length == 0) continue;
                var group = Outputs.Evaluate(model, rows.SelectMany(q => queries.AsSpan(q * d, d).ToArray()).ToArray(), levels[j]);
                for (int i = 0; i < rows.Length; i++)
                {
                    int q = rows[i];
                    Assert.Equal(group.LogDensity[i], lld[q]);
                    Assert.Equal(group.Divergence[i], ldiv[q]);
                    Assert.Equal(group.Score.AsSpan(i * d, d).ToArray(), Problem.Widen(ls.AsSpan(q * d, d).ToArray()));
                }
            }

            // KDE with a Gaussian of width h = σ/2.
            double h = p.Sigma / 2;
            var kde = new float[m * d];
            fixed (float* x = queries) fixed (float* b = kde)
                Assert.Equal(0, ((delegate* unmanaged<nint, double, float*, long, long, double, double, float*, float*, float*, float*, int>)&Exports.KdeF32)(
                    set, h, x, m, d, p.Alpha, p.Sigma, null, b, null, null));
            Assert.Equal(new KdeScore<float>(model, SmoothingKernel.Gaussian(h)).Score(queries, p.Level), kde);

            // Log-domain smoothing, 4 antithetic draws with the problem's seed, with standard errors.
            var (sm, se) = (new float[m * d], new float[m * d]);
            fixed (float* x = queries) fixed (float* b = sm) fixed (float* e = se)
                Assert.Equal(0, ((delegate* unmanaged<nint, double, int, ulong, uint, float*, long, long, double, double, float*, float*, float*, float*, float*, int>)&Exports.SmoothedF32)(
                    set, h, 4, (ulong)p.Seed, 1, x, m, d, p.Alpha, p.Sigma, null, b, null, null, e));
            var (msm, mse) = (new float[m * d], new float[m * d]);
            new LogSmoothedScore<float>(model, SmoothingKernel.Gaussian(h), new SmoothingDraws(4, (ulong)p.Seed, antithetic: true))
                .Evaluate(queries, p.Level, new SmoothedOutputs<float> { Score = msm, ScoreError = mse });
            Assert.Equal(msm, sm);
            Assert.Equal(mse, se);
            Assert.Equal("", LastError());
        }
        finally
        {
            Assert.Equal(0, Free(set));
        }
        Assert.Equal((int)Status.InvalidHandle, Free(set));
    });

    /// <summary>The float64 entry points equal the managed float64 API exactly.</summary>
    [Property(MaxTest = 30)]
    public Property Exports_Float64_EqualTheManagedApiBitForBit() => Prop.ForAll(Problem.Arbitrary, p =>
    {
        var (train, queries, _, _) = p.Build<double>();
        int m = p.M, d = p.D;
        nint set;
        fixed (double* y = train)
            Assert.Equal(0, ((delegate* unmanaged<double*, long, long, int, int, nint*, int>)&Exports.CreateF64)(y, p.N, d, 0, 1, &set));
        var (ld, s, den, div) = (new double[m], new double[m * d], new double[m * d], new double[m]);
        fixed (double* x = queries) fixed (double* a = ld) fixed (double* b = s) fixed (double* c = den) fixed (double* e = div)
            Assert.Equal(0, ((delegate* unmanaged<nint, double*, long, long, double, double, double*, double*, double*, double*, int>)&Exports.EvaluateF64)(
                set, x, m, d, p.Alpha, p.Sigma, a, b, c, e));
        var expected = Outputs.Evaluate(new EmpiricalScore<double>(new TrainingSet<double>(train, p.N, d)), queries, p.Level);
        Assert.Equal(expected.LogDensity, ld);
        Assert.Equal(expected.Score, s);
        Assert.Equal(expected.Denoiser, den);
        Assert.Equal(expected.Divergence, div);
        Assert.Equal(0, Free(set));
    });

    /// <summary>One call with arguments drawn from valid and invalid values alike.</summary>
    public sealed record Call(int Function, int Handle, long M, long D, double Alpha, double Sigma, double H, int Draws, uint Flags,
        bool NullQueries, bool NaNQuery, int OutputMask);

    private static readonly Gen<double> Scalar = Gen.Elements(1.0, 0.5, 2.0, 0.0, -1.0, double.NaN, double.PositiveInfinity, 1e-300);

    private static readonly Arbitrary<Call> Calls = (
        from function in Gen.Choose(0, 3)
        from handle in Gen.Frequency((4, Gen.Constant(0)), (1, Gen.Choose(1, 4)))
        from m in Gen.Frequency((4, Gen.Choose(1, 12).Select(v => (long)v)), (1, Gen.Elements(0L, -3L, long.MaxValue)))
        from d in Gen.Frequency((4, Gen.Constant(3L)), (1, Gen.Elements(0L, 2L, 4L, -1L)))
        from alpha in Scalar
        from sigma in Scalar
        from h in Scalar
        from draws in Gen.Choose(-1, 4)
        from flags in Gen.Elements(0u, 1u, 2u, 3u, 4u)
        from nullQueries in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true)))
        from nanQuery in Gen.Frequency((6, Gen.Constant(false)), (1, Gen.Constant(true)))
        from mask in Gen.Choose(0, 15)
        select new Call(function, handle, m, d, alpha, sigma, h, draws, flags, nullQueries, nanQuery, mask)).ToArbitrary();

    /// <summary>
    /// Any mix of bad handles (freed, NULL, garbage), sizes, levels, widths, draws, flags, NULL pointers and NaN is answered with
    /// a documented status; the last error is empty exactly on success; a failing call leaves every output untouched.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property Exports_AnswerArbitraryArgumentsWithADocumentedStatus() => Prop.ForAll(Calls, call =>
    {
        const int n = 5, d = 3, capacity = 12;
        var train = Enumerable.Range(0, n * d).Select(i => (float)Math.Sin(i)).ToArray();
        nint valid = Create(train, n, d), freed = Create(train, n, d);
        Free(freed);
        nint handle = call.Handle switch { 0 => valid, 1 => freed, 2 => 0, 3 => (nint)0x12345678, _ => (nint)((long)valid ^ 1L << 40) };
        var queries = Enumerable.Range(0, capacity * (d + 1)).Select(i => (float)Math.Cos(i)).ToArray();
        if (call.NaNQuery) queries[4] = float.NaN;
        const float sentinel = -777f;
        var outputs = Enumerable.Range(0, 5).Select(_ => Enumerable.Repeat(sentinel, capacity * (d + 1)).ToArray()).ToArray();
        double[] alphas = Enumerable.Repeat(call.Alpha, capacity).ToArray(), sigmas = Enumerable.Repeat(call.Sigma, capacity).ToArray();
        // The buffers hold `capacity` rows: a size beyond that must be refused before any access (long.MaxValue is).
        long m = call.M is > capacity and < long.MaxValue ? capacity : call.M;
        int status;
        fixed (float* x0 = queries) fixed (float* o0 = outputs[0]) fixed (float* o1 = outputs[1]) fixed (float* o2 = outputs[2])
        fixed (float* o3 = outputs[3]) fixed (float* o4 = outputs[4]) fixed (double* al = alphas) fixed (double* si = sigmas)
        {
            float* x = call.NullQueries ? null : x0;
            float* ld = (call.OutputMask & 1) != 0 ? o0 : null, s = (call.OutputMask & 2) != 0 ? o1 : null;
            float* den = (call.OutputMask & 4) != 0 ? o2 : null, div = (call.OutputMask & 8) != 0 ? o3 : null;
            status = call.Function switch
            {
                0 => ((delegate* unmanaged<nint, float*, long, long, double, double, float*, float*, float*, float*, int>)&Exports.EvaluateF32)(
                    handle, x, m, call.D, call.Alpha, call.Sigma, ld, s, den, div),
                1 => ((delegate* unmanaged<nint, float*, long, long, double*, double*, float*, float*, float*, float*, int>)&Exports.EvaluateLevelsF32)(
                    handle, x, m, call.D, al, si, ld, s, den, div),
                2 => ((delegate* unmanaged<nint, double, float*, long, long, double, double, float*, float*, float*, float*, int>)&Exports.KdeF32)(
                    handle, call.H, x, m, call.D, call.Alpha, call.Sigma, ld, s, den, div),
                _ => ((delegate* unmanaged<nint, double, int, ulong, uint, float*, long, long, double, double, float*, float*, float*, float*, float*, int>)&Exports.SmoothedF32)(
                    handle, call.H, call.Draws, 7, call.Flags, x, m, call.D, call.Alpha, call.Sigma, ld, s, den, div, (call.OutputMask & 1) != 0 ? o4 : null),
            };
        }
        string message = LastError();
        Free(valid);
        Assert.True(Documented.Contains(status), $"status {status} is not documented; message: {message}");
        Assert.True(status == 0 == (message.Length == 0), $"status {status} with message \"{message}\"");
        Assert.DoesNotContain("Exception", message); // a mapped failure reads as a sentence, not as an internal error
        if (status != 0)
            Assert.All(outputs, o => Assert.All(o, v => Assert.Equal(sentinel, v)));
        Assert.NotEqual((int)Status.Internal, status);
    });
}
