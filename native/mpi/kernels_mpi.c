/* kernels_mpi: the few MPI calls a sharded evaluation needs, behind plain C types, so that neither managed code nor a
 * caller's language binding ever sees an MPI handle type. The communicator travels as MPI_Fint (a C int in every MPI:
 * MPI_Comm_c2f / MPI_Comm_f2c), so one build of the callers works with any MPI this file is compiled against.
 *
 * Build: mpicc -O2 -shared -fPIC -o libkernels_mpi.so kernels_mpi.c
 *
 * A batch of M partial-state records (kernels.h, "partial states": KN_PARTIAL_BYTES(d) bytes each) is reduced with a
 * user-defined MPI operation over a contiguous datatype of one whole record: MPI hands a user operation whole elements
 * only, whereas over a flat array of doubles Open MPI passes slices (about 64 000 doubles) that cut through records. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* int merge(void *into, const void *from, int64_t m, int64_t d): into[q] <- into[q] (+) from[q]; 0 on success
 * (kn_partial_merge's signature). */
typedef int (*knmpi_merge_fn)(void *into, const void *from, int64_t m, int64_t d);

/* An MPI operation carries no user data: the merge and D of the reduction in flight live here (one at a time). */
static knmpi_merge_fn current_merge;
static int64_t current_d;
static int merge_failed;

static int64_t record_bytes(int64_t d) { return (8 + 2 * d) * (int64_t)sizeof(double); }

static void merge_records(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    if (*len > 0 && current_merge(inout, in, *len, current_d) != 0) merge_failed = 1;
}

/* MPI_Init_thread(FUNNELED) unless MPI is already initialised (a caller that owns MPI keeps it). 0 on success. */
int knmpi_init(void)
{
    int initialised = 0, provided = 0;
    MPI_Initialized(&initialised);
    return initialised ? 0 : MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

/* MPI_Finalize unless already finalised. */
int knmpi_finalize(void)
{
    int finalised = 0;
    MPI_Finalized(&finalised);
    return finalised ? 0 : MPI_Finalize();
}

/* MPI_COMM_WORLD as an MPI_Fint. */
MPI_Fint knmpi_comm_world(void) { return MPI_Comm_c2f(MPI_COMM_WORLD); }

int knmpi_rank_size(MPI_Fint comm, int *rank, int *size)
{
    MPI_Comm c = MPI_Comm_f2c(comm);
    int status = MPI_Comm_rank(c, rank);
    return status != MPI_SUCCESS ? status : MPI_Comm_size(c, size);
}

/* Every rank says whether it failed; all learn the lowest failing rank (-1: none) and its message (message_bytes bytes,
 * NUL-terminated, broadcast from that rank into every rank's buffer). Collective. */
int knmpi_agree(MPI_Fint comm, int failed, int *failing_rank, char *message, int message_bytes)
{
    MPI_Comm c = MPI_Comm_f2c(comm);
    int rank = 0, size = 0, first = 0;
    MPI_Comm_rank(c, &rank);
    MPI_Comm_size(c, &size);
    int mine = failed ? rank : size;
    int status = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, c);
    if (status != MPI_SUCCESS) return status;
    *failing_rank = first < size ? first : -1;
    if (first == size) return MPI_SUCCESS;
    message[message_bytes - 1] = '\0';
    return MPI_Bcast(message, message_bytes, MPI_CHAR, first, c);
}

/* Reduces m records of dimension d from every rank into root's `states` (in place; other ranks' buffers are left as
 * they were) with `merge` as the operation. Returns an MPI error code, or -1 when a merge failed on any rank. */
int knmpi_reduce_states(MPI_Fint comm, void *states, int64_t m, int64_t d, int root, knmpi_merge_fn merge)
{
    MPI_Comm c = MPI_Comm_f2c(comm);
    int rank = 0;
    MPI_Comm_rank(c, &rank);
    if (m < 0 || m > INT32_MAX || d < 1 || record_bytes(d) > INT32_MAX) return MPI_ERR_COUNT;
    MPI_Datatype record;
    MPI_Op op;
    int status = MPI_Type_contiguous((int)record_bytes(d), MPI_BYTE, &record);
    if (status != MPI_SUCCESS) return status;
    MPI_Type_commit(&record);
    MPI_Op_create(merge_records, 1, &op);
    current_merge = merge;
    current_d = d;
    merge_failed = 0;
    void *result = NULL;
    if (rank == root && m > 0) {
        result = malloc((size_t)(m * record_bytes(d)));
        if (!result) status = MPI_ERR_NO_MEM;
    }
    int any_failed = 0;
    if (status == MPI_SUCCESS) {
        status = MPI_Reduce(states, result, (int)m, record, op, root, c);
        int failed = merge_failed || status != MPI_SUCCESS;
        MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, c);
        if (rank == root && status == MPI_SUCCESS && !any_failed && m > 0) memcpy(states, result, (size_t)(m * record_bytes(d)));
    }
    free(result);
    MPI_Op_free(&op);
    MPI_Type_free(&record);
    current_merge = NULL;
    return status != MPI_SUCCESS ? status : any_failed ? -1 : MPI_SUCCESS;
}

/* Sums `count` doubles over every rank into every rank's `values` with the same bits everywhere: reduced to rank 0,
 * then broadcast (an all-reduce may combine in a different order on different ranks). In slices of at most 2^27
 * doubles, so that any count fits MPI's int. Collective; returns an MPI error code. */
int knmpi_sum_everywhere(MPI_Fint comm, double *values, int64_t count)
{
    MPI_Comm c = MPI_Comm_f2c(comm);
    int rank = 0;
    MPI_Comm_rank(c, &rank);
    const int64_t slice = (int64_t)1 << 27;
    for (int64_t start = 0; start < count; start += slice) {
        int n = (int)(count - start < slice ? count - start : slice);
        int status = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : values + start, values + start, n, MPI_DOUBLE, MPI_SUM, 0, c);
        if (status != MPI_SUCCESS) return status;
        status = MPI_Bcast(values + start, n, MPI_DOUBLE, 0, c);
        if (status != MPI_SUCCESS) return status;
    }
    return MPI_SUCCESS;
}

/* Every rank sends `bytes` bytes; every rank receives all of them in rank order into `received` (size * bytes).
 * Collective; returns an MPI error code. */
int knmpi_gather_everywhere(MPI_Fint comm, const void *sent, int64_t bytes, void *received)
{
    if (bytes < 0 || bytes > INT32_MAX) return MPI_ERR_COUNT;
    return MPI_Allgather(sent, (int)bytes, MPI_BYTE, received, (int)bytes, MPI_BYTE, MPI_Comm_f2c(comm));
}

/* Bitwise OR of `bytes` bytes over every rank, in place on every rank: where exactly one rank holds a value and every
 * other holds zeros, every rank receives that value's exact bits. In slices of at most 2^30 bytes. Collective. */
int knmpi_or_everywhere(MPI_Fint comm, void *buffer, int64_t bytes)
{
    MPI_Comm c = MPI_Comm_f2c(comm);
    const int64_t slice = (int64_t)1 << 30;
    for (int64_t start = 0; start < bytes; start += slice) {
        int n = (int)(bytes - start < slice ? bytes - start : slice);
        int status = MPI_Allreduce(MPI_IN_PLACE, (char *)buffer + start, n, MPI_BYTE, MPI_BOR, c);
        if (status != MPI_SUCCESS) return status;
    }
    return MPI_SUCCESS;
}

/* Ends every rank of the communicator with `code` (for a failure that the ranks could not agree on). */
void knmpi_abort(MPI_Fint comm, int code) { MPI_Abort(MPI_Comm_f2c(comm), code); }
