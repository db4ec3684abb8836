/*
 * mpi_score.c: the exact score of a training set sharded across MPI ranks, through the C ABI, for a solver that owns
 * its communicator. Each rank holds rows [r N / P, (r + 1) N / P) only (here made from a formula; a solver would read
 * or compute them), accumulates partial states for every query (kn_partial_accumulate_f32), the states are reduced to
 * rank 0 with a user-defined MPI operation that calls kn_partial_merge over whole records (one record = one element of
 * a contiguous datatype of KN_PARTIAL_BYTES(d) bytes: never split a record), and rank 0 finishes them.
 *
 *   mpicc -std=c11 -O2 mpi_score.c -I native/include -L artifacts/native -lkernels -Wl,-rpath,'$ORIGIN' -lm -o mpi_score
 *   mpirun -np 3 ./mpi_score
 *
 * Rank 0 prints per query "query q x0 .. x(D-1) log-density s0 .. s(D-1)" with 9 significant digits. Any failure on
 * any rank makes every rank exit non-zero (the status is agreed before the reduction).
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include "kernels.h"

#define N 50 /* training points in all */
#define M 4  /* queries */
#define D 3

static int64_t record_d; /* the op has no user data: the dimension of the reduction in flight */
static int merge_failed;

/* inout[q] <- inout[q] (+) in[q] for the *len whole records MPI hands over. */
static void merge_records(void* in, void* inout, int* len, MPI_Datatype* type)
{
    (void)type;
    if (kn_partial_merge(inout, in, *len, record_d) != KN_SUCCESS) merge_failed = 1;
}

int main(int argc, char** argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD; /* a solver passes its own communicator */
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const double alpha = 1.0, sigma = 0.5;
    const int64_t first = (int64_t)N * rank / size, end = (int64_t)N * (rank + 1) / size, rows = end - first;

    float queries[M * D];
    for (int q = 0; q < M; q++)
        for (int k = 0; k < D; k++) queries[q * D + k] = (float)(0.6 * cos(0.9 * q + 0.4 * k));
    float* shard = malloc((size_t)(rows > 0 ? rows : 1) * D * sizeof(float));
    for (int64_t i = 0; i < rows; i++)
        for (int k = 0; k < D; k++) shard[i * D + k] = (float)sin(0.37 * (double)(first + i) + 1.1 * k);

    /* this rank's states: identity records, then its rows (a rank with no rows contributes the identity) */
    char* states = malloc((size_t)(M * KN_PARTIAL_BYTES(D)));
    kn_status status = kn_partial_init(states, M, D, alpha, sigma);
    kn_training_set* set = NULL;
    if (status == KN_SUCCESS && rows > 0) status = kn_training_set_create_f32(shard, rows, D, KN_BACKEND_CPU, 0, &set);
    if (status == KN_SUCCESS && rows > 0) status = kn_partial_accumulate_f32(set, queries, M, D, states);
    if (set) kn_training_set_free(set);
    int failed = status != KN_SUCCESS, any_failed = 0;
    if (failed) fprintf(stderr, "rank %d (rows %lld to %lld): %s: %s\n", rank, (long long)first, (long long)end,
                        kn_status_name(status), kn_last_error());
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, comm);
    if (any_failed) {
        MPI_Finalize();
        return 1;
    }

    MPI_Datatype record;
    MPI_Op merge;
    MPI_Type_contiguous((int)KN_PARTIAL_BYTES(D), MPI_BYTE, &record);
    MPI_Type_commit(&record);
    MPI_Op_create(merge_records, 1 /* commutative */, &merge);
    record_d = D;
    char* merged = rank == 0 ? malloc((size_t)(M * KN_PARTIAL_BYTES(D))) : NULL;
    MPI_Reduce(states, merged, M, record, merge, 0, comm);
    MPI_Allreduce(&merge_failed, &any_failed, 1, MPI_INT, MPI_MAX, comm);
    MPI_Op_free(&merge);
    MPI_Type_free(&record);

    int exit_code = any_failed;
    if (rank == 0 && !any_failed) {
        float log_density[M], score[M * D];
        status = kn_partial_finish_f32(merged, M, D, log_density, score, NULL, NULL);
        if (status != KN_SUCCESS) {
            fprintf(stderr, "kn_partial_finish_f32: %s: %s\n", kn_status_name(status), kn_last_error());
            exit_code = 1;
        } else {
            printf("# %d ranks, N = %d, M = %d, D = %d, alpha = %g, sigma = %g\n", size, N, M, D, alpha, sigma);
            for (int q = 0; q < M; q++) {
                printf("query %d", q);
                for (int k = 0; k < D; k++) printf(" %.9g", queries[q * D + k]);
                printf(" %.9g", log_density[q]);
                for (int k = 0; k < D; k++) printf(" %.9g", score[q * D + k]);
                printf("\n");
            }
        }
    }
    free(merged);
    free(states);
    free(shard);
    MPI_Finalize();
    return exit_code;
}
