using System.CommandLine;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Kernels.Numerics;
using Kernels.Numerics.Io;

namespace Kernels.Cli;

/// <summary>
/// <c>--shard mpi</c>: under <c>mpirun -np P</c>, rank r reads only rows [r·N/P, (r+1)·N/P) of --train (by seeking),
/// evaluates every query against them into partial states, the states are reduced to rank 0 with a user-defined MPI
/// operation over whole records (<see cref="PartialStateBatch"/>'s layout), and rank 0 finishes them and writes --out
/// atomically. A rank that fails tells every rank, and all exit non-zero naming that rank and its message; nothing is
/// written. MPI is reached through native/mpi/kernels_mpi.c (built with mpicc beside the CLI).
/// </summary>
internal static unsafe class MpiShard
{
    private const string Shim = "kernels_mpi";

    /// <summary>Bytes of the failure message every rank learns.</summary>
    private const int MessageBytes = 1024;

    [DllImport(Shim)] private static extern int knmpi_init();
    [DllImport(Shim)] private static extern int knmpi_finalize();
    [DllImport(Shim)] private static extern int knmpi_comm_world();
    [DllImport(Shim)] private static extern int knmpi_rank_size(int comm, out int rank, out int size);
    [DllImport(Shim)] private static extern int knmpi_agree(int comm, int failed, out int failingRank, byte* message, int messageBytes);
    [DllImport(Shim)] private static extern int knmpi_reduce_states(int comm, void* states, long m, long d, int root,
        delegate* unmanaged<void*, void*, long, long, int> merge);

    /// <summary>Rows [first, end) of N for rank <paramref name="rank"/> of <paramref name="size"/>.</summary>
    public static (long First, long End) RowRange(long rows, int rank, int size) => (rows * rank / size, rows * (rank + 1) / size);

    /// <summary>
    /// Runs a score verb sharded over MPI_COMM_WORLD. Returns the exit code (0 on every rank, or 1 on every rank when
    /// any rank failed); writes the output on rank 0 only.
    /// </summary>
    public static int Run(ParseResult parse, Quantity quantity, CommonOptions options, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (knmpi_init() != 0) throw new InputException("--shard mpi: MPI_Init failed; run under mpirun.");
        }
        catch (DllNotFoundException)
        {
            throw new InputException(
                "--shard mpi needs libkernels_mpi.so beside the kernels program, built with mpicc: install an MPI (Debian: openmpi-bin libopenmpi-dev) and rebuild.");
        }
        int comm = knmpi_comm_world();
        knmpi_rank_size(comm, out int rank, out int size);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double accumulated = 0, agreed = 0, reduced = 0;
        try
        {
            string? failure = null;
            PartialStateBatch? batch = null;
            MatrixFile? query = null;
            int[] shape = [];
            string outPath = "";
            NoiseLevel level = default;
            bool float64 = false;
            long trainRows = 0;
            try
            {
                level = options.Level(parse);
                float64 = options.Float64(parse);
                outPath = options.OutPath(parse);
                query = MatrixFile.Read(parse.GetRequiredValue(options.Query), "--query", "M");
                shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), query);
                var backend = options.Backend(parse);
                using var owned = backend as IDisposable;
                batch = float64
                    ? Shard<double>(parse.GetRequiredValue(options.Train), query, level, backend, rank, size, quantity, out trainRows)
                    : Shard<float>(parse.GetRequiredValue(options.Train), query, level, backend, rank, size, quantity, out trainRows);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failure = e is InputException or ArgumentException or IOException or NpyFormatException or ArithmeticException or UnauthorizedAccessException
                    ? CliErrors.Describe(e) : e.ToString();
            }
            accumulated = clock.Elapsed.TotalSeconds;
            if (Agree(comm, rank, failure, stderr)) return CliErrors.InputError;
            agreed = clock.Elapsed.TotalSeconds;

            int status = knmpi_reduce_states(comm, Unsafe.AsPointer(ref MemoryMarshal.GetReference(batch!.Records)), batch.QueryCount, batch.Dimension, 0, &Merge);
            if (status != 0)
            {
                stderr.WriteLine($"error: rank {rank}: the reduction of the partial states failed (MPI status {status}){(status == -1 ? ": a merge refused its records" : "")}; nothing was written.");
                return CliErrors.InputError;
            }

            reduced = clock.Elapsed.TotalSeconds;
            failure = null;
            if (rank == 0)
            {
                try
                {
                    if (float64) PartialCommands.WriteFinished<double>(batch, quantity, outPath, shape);
                    else PartialCommands.WriteFinished<float>(batch, quantity, outPath, shape);
                }
                catch (Exception e) when (e is ArithmeticException or IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    failure = CliErrors.Describe(e);
                }
            }
            if (Agree(comm, rank, failure, stderr)) return CliErrors.InputError;
            if (rank == 0)
                stdout.WriteLine(CommonOptions.Summary(outPath, ScoreCommands.VerbName(quantity), shape, float64,
                    $"{query!.Rows} queries against N={trainRows} points in D={query.Columns} at {level}, sharded over {size} MPI rank{(size == 1 ? "" : "s")}; " +
                    $"rank 0: read and accumulate {accumulated:F3} s, wait for every rank {agreed - accumulated:F3} s, " +
                    $"reduce {batch.QueryCount} states of {PartialStateBatch.RecordBytes(batch.Dimension)} bytes {reduced - agreed:F3} s, write {clock.Elapsed.TotalSeconds - reduced:F3} s"));
            return 0;
        }
        finally
        {
            knmpi_finalize();
        }
    }

    /// <summary>Tells every rank whether any failed; true (after printing the failing rank's message) when one did.</summary>
    private static bool Agree(int comm, int rank, string? failure, TextWriter stderr)
    {
        var message = new byte[MessageBytes];
        if (failure is not null)
        {
            int length = Encoding.UTF8.GetBytes(failure.AsSpan(0, Math.Min(failure.Length, MessageBytes / 4 - 1)), message);
            message[length] = 0;
        }
        int failing;
        fixed (byte* buffer = message)
            if (knmpi_agree(comm, failure is null ? 0 : 1, out failing, buffer, MessageBytes) != 0)
                failing = rank;
        if (failing < 0) return false;
        int end = Array.IndexOf(message, (byte)0);
        string text = Encoding.UTF8.GetString(message, 0, end < 0 ? MessageBytes : end);
        stderr.WriteLine(failing == rank
            ? $"error: rank {rank}: {text}; nothing was written."
            : $"error: rank {failing} failed ({text}); rank {rank} stops too, and nothing was written.");
        return true;
    }

    /// <summary>This rank's rows of --train, read by seeking, accumulated against every query.</summary>
    private static PartialStateBatch Shard<T>(string trainPath, MatrixFile query, NoiseLevel level, IScoreBackend backend, int rank, int size,
        Quantity quantity, out long trainRows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var shard = MatrixFile.ReadRows(trainPath, "--train", rank, size, out long first, out trainRows);
        if (shard.Columns != query.Columns)
            throw new InputException($"--query has D={query.Columns} columns but --train has D={shard.Columns}; the queries must be points of the same space.");
        T[] queries = query.Values<T>();
        T[] rows = shard.Array.Length == 0 ? [] : shard.Values<T>();
        for (long i = 0; i < rows.Length; i++)
            if (!T.IsFinite(rows[i]))
                throw new InputException(
                    $"--train {trainPath} row {first + i / shard.Columns} (column {i % shard.Columns}) is {rows[i]}; every training value must be finite: fix or drop that row.");
        ScorePartials partials;
        if (shard.Rows == 0)
            partials = ScorePartials.Identity(query.Rows, query.Columns, level); // a rank with no rows contributes the identity
        else
        {
            var model = new EmpiricalScore<T>(new TrainingSet<T>(rows, shard.Rows, shard.Columns), backend);
            try
            {
                partials = model.Accumulate(queries, level);
            }
            catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
            {
                throw problem;
            }
        }
        return PartialStateBatch.FromPartials(partials, PartialStateBatch.PrecisionOf<T>(), PartialCommands.OutputOf(quantity));
    }

    /// <summary>The MPI operation: into ← into ⊕ from over m whole records; non-zero (never an exception) when it refuses.</summary>
    [UnmanagedCallersOnly]
    private static int Merge(void* into, void* from, long m, long d)
    {
        try
        {
            long bytes = m * PartialStateBatch.RecordBytes(d);
            PartialStateBatch.MergeRecords(new Span<byte>(into, (int)bytes), new ReadOnlySpan<byte>(from, (int)bytes), (int)m, (int)d);
            return 0;
        }
        catch (Exception)
        {
            return 1;
        }
    }
}
