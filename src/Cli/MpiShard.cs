using System.Collections.Concurrent;
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
/// written. MPI is reached through native/mpi/kernels_mpi.c (built with mpicc beside the CLI). This file holds the
/// session (<see cref="Session"/>) and the score verbs; the smoothing verbs are in <see cref="MpiSmoothing"/>.
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
    [DllImport(Shim)] private static extern int knmpi_sum_everywhere(int comm, double* values, long count);
    [DllImport(Shim)] private static extern int knmpi_gather_everywhere(int comm, void* sent, long bytes, void* received);
    [DllImport(Shim)] private static extern int knmpi_or_everywhere(int comm, void* buffer, long bytes);

    /// <summary>
    /// True where the launcher started this process as the only rank: then the whole file is this rank's shard and
    /// there is nothing to reduce, so a verb runs as it does without <c>--shard</c> (no states formed, copied or finished).
    /// </summary>
    public static bool LaunchedAlone => Session.Launcher() is { Size: 1 };

    /// <summary>Whether <paramref name="shard"/> asks for MPI with more than one rank (<see cref="LaunchedAlone"/>).</summary>
    public static bool Sharded(string? shard) => shard == "mpi" && !LaunchedAlone;

    /// <summary>The summary's end where <c>--shard mpi</c> ran as the plain verb (<see cref="LaunchedAlone"/>).</summary>
    public static string AloneNote(string? shard) =>
        shard == "mpi" ? "; sharded over 1 MPI rank: evaluated whole, as without --shard (nothing to reduce; MPI not started)" : "";

    /// <summary>Rows [first, end) of N for rank <paramref name="rank"/> of <paramref name="size"/>.</summary>
    public static (long First, long End) RowRange(long rows, int rank, int size) => (rows * rank / size, rows * (rank + 1) / size);

    /// <summary>
    /// Runs <paramref name="work"/> on every rank of MPI_COMM_WORLD and prints the summary it returns on rank 0. Returns
    /// the exit code: 0 on every rank, or 1 on every rank when any rank failed (each has printed why).
    /// </summary>
    public static int Run(TextWriter stdout, TextWriter stderr, Func<Session, string> work)
    {
        var session = Session.Open(stderr);
        string summary;
        try
        {
            summary = work(session);
        }
        catch (RankFailedException)
        {
            return CliErrors.InputError;
        }
        finally
        {
            session.Close();
        }
        if (session.IsRoot) stdout.WriteLine($"{summary}; {session.Timing}");
        return 0;
    }

    /// <summary>A score verb (<c>score|logdensity|denoise|divergence</c>) sharded over MPI_COMM_WORLD.</summary>
    public static int Run(ParseResult parse, Quantity quantity, CommonOptions options, TextWriter stdout, TextWriter stderr) =>
        RunEmpirical(parse, quantity, options, ScoreCommands.VerbName(quantity), (_, level) => level, "", stdout, stderr);

    /// <summary>
    /// The quantity of the empirical distribution at <paramref name="levelOf"/>(D, the command's level), sharded (the
    /// score verbs at their level, an isotropic KDE at its widened one); <paramref name="verb"/> and
    /// <paramref name="detail"/> are for the summary.
    /// </summary>
    public static int RunEmpirical(ParseResult parse, Quantity quantity, CommonOptions options, string verb, Func<int, NoiseLevel, NoiseLevel> levelOf,
        string detail, TextWriter stdout, TextWriter stderr) => Run(stdout, stderr, mpi =>
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long trainRows = 0;
        double accumulated = 0;
        // one step up to the first collective call, so that all of it overlaps MPI's start-up
        var (level, float64, outPath, query, batch) = mpi.Collective(() =>
        {
            string path = options.OutPath(parse);
            var queries = MatrixFile.Read(parse.GetRequiredValue(options.Query), "--query", "M");
            NoiseLevel given = options.Level(parse), evaluated = levelOf(queries.Columns, given);
            bool wide = options.Float64(parse);
            var backend = options.Backend(parse);
            using var owned = backend as IDisposable;
            var states = wide
                ? mpi.Accumulate<double>(parse.GetRequiredValue(options.Train), queries, evaluated, backend, PartialCommands.OutputOf(quantity), out trainRows)
                : mpi.Accumulate<float>(parse.GetRequiredValue(options.Train), queries, evaluated, backend, PartialCommands.OutputOf(quantity), out trainRows);
            accumulated = clock.Elapsed.TotalSeconds;
            return (given, wide, path, queries, states);
        });
        int[] shape = CommonOptions.Shape(ScoreCommands.IsScalar(quantity), query);
        double agreed = clock.Elapsed.TotalSeconds;
        mpi.Reduce(batch);
        double reduced = clock.Elapsed.TotalSeconds;
        mpi.Collective(() =>
        {
            if (!mpi.IsRoot) return 0;
            if (float64) PartialCommands.WriteFinished<double>(batch, quantity, outPath, shape);
            else PartialCommands.WriteFinished<float>(batch, quantity, outPath, shape);
            return 0;
        });
        return CommonOptions.Summary(outPath, verb, shape, float64,
            $"{detail}{query.Rows} queries against N={trainRows} points in D={query.Columns} at {level}, {mpi.Description}; " +
            $"rank 0: read and accumulate {accumulated:F3} s, wait for every rank {agreed - accumulated:F3} s, " +
            $"reduce {batch.QueryCount} states of {PartialStateBatch.RecordBytes(batch.Dimension)} bytes {reduced - agreed:F3} s, write {clock.Elapsed.TotalSeconds - reduced:F3} s");
    });

    /// <summary>Thrown on every rank once all have agreed that one failed (each has printed why): the command exits 1.</summary>
    private sealed class RankFailedException() : Exception("a rank failed");

    /// <summary>
    /// One sharded command's view of MPI_COMM_WORLD. Every collective step is entered by every rank in the same order; a
    /// step that fails on any rank throws <see cref="RankFailedException"/> on all of them, so none is left waiting.
    /// <para>
    /// Start-up overlaps the work: every MPI call runs on one thread of its own (the thread MPI_THREAD_FUNNELED lets call
    /// MPI), which loads MPI and calls MPI_Init as soon as the session opens, while this thread reads the shard and
    /// accumulates it; the first collective step waits for it. The rank and size come from the launcher's environment
    /// (Open MPI's mpirun, MPICH's hydra) and are checked against MPI's once it has started; without them the session
    /// waits for MPI first.
    /// </para>
    /// <para>
    /// Where the launcher says there is one rank, MPI is not started at all: one rank's states are the result (nothing
    /// to agree on, nothing to reduce), and loading MPI and MPI_Init cost CPU time the evaluation would share (about
    /// 0.4–0.6 s on this machine), so <c>mpirun -np 1 … --shard mpi</c> costs the launcher alone over the plain verb.
    /// </para>
    /// </summary>
    internal sealed class Session
    {
        private readonly TextWriter _stderr;
        private readonly BlockingCollection<Action> _calls = new();
        private readonly Task _start;
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private readonly bool _alone; // the launcher started one rank: MPI is not started
        private int _comm;
        private double _startSeconds, _waitSeconds, _finalizeSeconds;

        private Session(int rank, int size, TextWriter stderr)
        {
            Rank = rank;
            Size = size;
            _stderr = stderr;
            if (size == 1)
            {
                _alone = true;
                _start = Task.CompletedTask;
                return;
            }
            var thread = new Thread(() =>
            {
                foreach (var call in _calls.GetConsumingEnumerable()) call();
            }) { IsBackground = true, Name = "MPI" };
            thread.Start();
            _start = Post(StartMpi);
        }

        /// <summary>The session; MPI starts on its own thread now.</summary>
        public static Session Open(TextWriter stderr)
        {
            var launched = Launcher();
            var session = new Session(launched?.Rank ?? 0, launched?.Size ?? 0, stderr);
            if (launched is null) session.Started(); // the rank decides the rows: nothing can start before MPI says it
            return session;
        }

        /// <summary>The rank and size the launcher's environment gives (Open MPI's mpirun, MPICH's hydra), or null.</summary>
        public static (int Rank, int Size)? Launcher() =>
            Launched("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE") ?? Launched("PMI_RANK", "PMI_SIZE");

        private static (int Rank, int Size)? Launched(string rankVariable, string sizeVariable) =>
            int.TryParse(Environment.GetEnvironmentVariable(rankVariable), out int rank) && int.TryParse(Environment.GetEnvironmentVariable(sizeVariable), out int size)
            && size >= 1 && rank >= 0 && rank < size
                ? (rank, size)
                : null;

        public int Rank { get; private set; }

        public int Size { get; private set; }

        public bool IsRoot => Rank == 0;

        /// <summary>"sharded over P MPI ranks".</summary>
        public string Description => $"sharded over {Size} MPI rank{(Size == 1 ? "" : "s")}";

        /// <summary>Where start-up and shut-down went, for the summary.</summary>
        public string Timing => _alone ? "one rank: MPI not started (nothing to agree on or reduce)" :
            $"MPI start-up (loading MPI, MPI_Init) {_startSeconds:F3} s on its own thread, of which the work waited {_waitSeconds:F3} s; MPI_Finalize {_finalizeSeconds:F3} s";

        /// <summary>On the MPI thread: loads MPI and calls MPI_Init.</summary>
        private void StartMpi()
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
            _comm = knmpi_comm_world();
            _startSeconds = _clock.Elapsed.TotalSeconds;
        }

        /// <summary>Waits for MPI to have started (rethrowing why it could not), and checks the rank and size.</summary>
        private void Started()
        {
            if (_start.IsCompletedSuccessfully) return;
            double waiting = _clock.Elapsed.TotalSeconds;
            _start.GetAwaiter().GetResult();
            _waitSeconds = _clock.Elapsed.TotalSeconds - waiting;
            var (rank, size) = Call(() => knmpi_rank_size(_comm, out int r, out int n) == 0 ? (r, n) : (-1, -1));
            if (Size > 0 && (rank != Rank || size != Size))
                throw new InputException(
                    $"--shard mpi: the launcher's environment says rank {Rank} of {Size} but MPI says rank {rank} of {size}; run under one MPI's mpirun.");
            (Rank, Size) = (rank, size);
        }

        /// <summary>Runs <paramref name="action"/> on the MPI thread, in order after every earlier call.</summary>
        private Task Post(Action action)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _calls.Add(() =>
            {
                try
                {
                    action();
                    done.SetResult();
                }
                catch (Exception e)
                {
                    done.SetException(e);
                }
            });
            return done.Task;
        }

        private TResult Call<TResult>(Func<TResult> call)
        {
            TResult result = default!;
            Post(() => result = call()).GetAwaiter().GetResult();
            return result;
        }

        /// <summary>MPI_Finalize where MPI started, then the MPI thread ends.</summary>
        public void Close()
        {
            if (_alone) return;
            try
            {
                if (_start.Wait(Timeout.Infinite) && _start.IsCompletedSuccessfully)
                {
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    Call(knmpi_finalize);
                    _finalizeSeconds = clock.Elapsed.TotalSeconds;
                }
            }
            catch (AggregateException)
            {
                // MPI never started (its error is the one reported)
            }
            finally
            {
                _calls.CompleteAdding();
            }
        }

        /// <summary>
        /// Runs <paramref name="local"/> on this rank, then every rank learns whether any failed; returns its value, or
        /// (on every rank) throws after printing the failing rank's message. <paramref name="deferred"/>: a success
        /// does not wait for the other ranks; their verdict comes with the next collective step, which must then be a
        /// <see cref="Collective{TResult}"/> or <see cref="Agree"/> (an agreement matches an agreement whatever step it
        /// is made in), so that a start-up still running is waited for only where the work first needs MPI.
        /// </summary>
        public TResult Collective<TResult>(Func<TResult> local, bool deferred = false)
        {
            TResult result = default!;
            string? failure = null;
            try
            {
                result = local();
            }
            catch (Exception e) when (e is not (OutOfMemoryException or RankFailedException))
            {
                failure = Describe(e);
            }
            if (failure is null && deferred) return result;
            Agree(failure);
            return result;
        }

        /// <summary>Every rank learns whether any failed (this one when <paramref name="failure"/> is not null); throws on all when one did.</summary>
        public void Agree(string? failure)
        {
            var message = new byte[MessageBytes];
            if (failure is not null)
            {
                int length = Encoding.UTF8.GetBytes(failure.AsSpan(0, Math.Min(failure.Length, MessageBytes / 4 - 1)), message);
                message[length] = 0;
            }
            Started();
            int failing = _alone ? (failure is null ? -1 : Rank) : Call(() =>
            {
                fixed (byte* buffer = message)
                    return knmpi_agree(_comm, failure is null ? 0 : 1, out int first, buffer, MessageBytes) != 0 ? Rank : first;
            });
            if (failing < 0) return;
            int end = Array.IndexOf(message, (byte)0);
            string text = Encoding.UTF8.GetString(message, 0, end < 0 ? MessageBytes : end);
            _stderr.WriteLine(failing == Rank
                ? $"error: rank {Rank}: {text}; nothing was written."
                : $"error: rank {failing} failed ({text}); rank {Rank} stops too, and nothing was written.");
            throw new RankFailedException();
        }

        /// <summary>Merges every rank's <paramref name="batch"/> into rank 0's (in place; other ranks' are left as they were).</summary>
        public void Reduce(PartialStateBatch batch)
        {
            Started();
            if (Size == 1) return; // one rank's states are the result: no reduction, no copy
            int status = Call(() =>
            {
                fixed (byte* records = batch.Records) // pinned: the merge runs managed code, which may collect
                    return knmpi_reduce_states(_comm, records, batch.QueryCount, batch.Dimension, 0, &Merge);
            });
            if (status == 0) return;
            _stderr.WriteLine($"error: rank {Rank}: the reduction of the partial states failed (MPI status {status}){(status == -1 ? ": a merge refused its records" : "")}; nothing was written.");
            throw new RankFailedException();
        }

        /// <summary>Merges every rank's KDE states into rank 0's (in place), as <see cref="Reduce(PartialStateBatch)"/> does the score's.</summary>
        public void Reduce(Kernels.Numerics.Smoothing.KdeStateBatch batch)
        {
            Started();
            if (Size == 1) return;
            // a KDE record has the size of a score record of the same D, so the shim's datatype of one whole record carries it
            int status = Call(() =>
            {
                fixed (byte* records = batch.Records)
                    return knmpi_reduce_states(_comm, records, batch.QueryCount, batch.Dimension, 0, &MergeKde);
            });
            if (status == 0) return;
            _stderr.WriteLine($"error: rank {Rank}: the reduction of the KDE states failed (MPI status {status}){(status == -1 ? ": a merge refused its records" : "")}; nothing was written.");
            throw new RankFailedException();
        }

        /// <summary>Every rank's <paramref name="values"/> summed into every rank's, with the same bits on all (reduced to rank 0, broadcast).</summary>
        public void SumEverywhere(double[] values, string what)
        {
            Started();
            if (Size == 1) return;
            int status = Call(() =>
            {
                fixed (double* v = values) return knmpi_sum_everywhere(_comm, v, values.LongLength);
            });
            Check(status, what);
        }

        /// <summary>Every rank's <paramref name="sent"/> (one length on all), in rank order, on every rank.</summary>
        public byte[] GatherEverywhere(byte[] sent, string what)
        {
            Started();
            if (Size == 1) return (byte[])sent.Clone();
            var received = new byte[checked(sent.Length * Size)];
            int status = Call(() =>
            {
                fixed (byte* s = sent)
                fixed (byte* r = received)
                    return knmpi_gather_everywhere(_comm, s, sent.Length, r);
            });
            Check(status, what);
            return received;
        }

        /// <summary>Bitwise OR of every rank's <paramref name="buffer"/> into every rank's: each value held by one rank (zeros elsewhere) arrives with its exact bits.</summary>
        public void OrEverywhere(byte[] buffer, string what)
        {
            Started();
            if (Size == 1) return;
            int status = Call(() =>
            {
                fixed (byte* b = buffer) return knmpi_or_everywhere(_comm, b, buffer.LongLength);
            });
            Check(status, what);
        }

        private void Check(int status, string what)
        {
            if (status == 0) return;
            _stderr.WriteLine($"error: rank {Rank}: {what} failed (MPI status {status}); nothing was written.");
            throw new RankFailedException();
        }

        /// <summary>
        /// This rank's rows of --train (read by seeking, every value checked finite) as a model on
        /// <paramref name="backend"/>, or null when it holds none; <paramref name="trainRows"/> is N of the whole file.
        /// </summary>
        public EmpiricalScore<T>? ReadShard<T>(string trainPath, int columns, IScoreBackend backend, out long trainRows)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var shard = MatrixFile.ReadRows(trainPath, "--train", Rank, Size, out long first, out trainRows);
            if (shard.Columns != columns)
                throw new InputException($"--query has D={columns} columns but --train has D={shard.Columns}; the queries must be points of the same space.");
            if (shard.Rows == 0) return null; // a rank with no rows contributes the identity
            T[] rows = shard.Values<T>();
            for (long i = 0; i < rows.Length; i++)
                if (!T.IsFinite(rows[i]))
                    throw new InputException(
                        $"--train {trainPath} row {first + i / shard.Columns} (column {i % shard.Columns}) is {rows[i]}; every training value must be finite: fix or drop that row.");
            return new EmpiricalScore<T>(new TrainingSet<T>(rows, shard.Rows, shard.Columns), backend);
        }

        /// <summary>This rank's rows of --train, read by seeking, accumulated against every query.</summary>
        public PartialStateBatch Accumulate<T>(string trainPath, MatrixFile query, NoiseLevel level, IScoreBackend backend, StateOutput output,
            out long trainRows)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var model = ReadShard<T>(trainPath, query.Columns, backend, out trainRows);
            try
            {
                return Partials(model, query.Values<T>(), query.Columns, level, output);
            }
            catch (ArgumentException e) when (CommonOptions.QueryProblem(e, query) is { } problem)
            {
                throw problem;
            }
        }

        /// <summary>The states of <paramref name="shard"/> (the identity where null) against <paramref name="queries"/>.</summary>
        public static PartialStateBatch Partials<T>(EmpiricalScore<T>? shard, ReadOnlySpan<T> queries, int dimension, NoiseLevel level, StateOutput output)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var partials = shard is null
                ? ScorePartials.Identity(queries.Length / dimension, dimension, level, output)
                : shard.Accumulate(queries, level, output); // only the sums the output needs
            return PartialStateBatch.FromPartials(partials, PartialStateBatch.PrecisionOf<T>(), output);
        }
    }

    /// <summary>A failure's message for the other ranks: the user's problem as the CLI words it, anything else in full.</summary>
    private static string Describe(Exception e) =>
        e is InputException or ArgumentException or IOException or NpyFormatException or ArithmeticException or UnauthorizedAccessException
            or InvalidOperationException
            ? CliErrors.Describe(e) : e.ToString();

    /// <summary>The MPI operation for KDE states (<see cref="Kernels.Numerics.Smoothing.KdeStateBatch"/>): into ← into ⊕ from over m whole records.</summary>
    [UnmanagedCallersOnly]
    private static int MergeKde(void* into, void* from, long m, long d)
    {
        try
        {
            long bytes = m * Kernels.Numerics.Smoothing.KdeStateBatch.RecordBytes(d);
            Kernels.Numerics.Smoothing.KdeStateBatch.MergeRecords(new Span<byte>(into, (int)bytes), new ReadOnlySpan<byte>(from, (int)bytes), (int)m, (int)d);
            return 0;
        }
        catch (Exception)
        {
            return 1;
        }
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
