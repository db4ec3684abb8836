#!/usr/bin/env bash
# Wall time of `kernels score` and of `mpirun -np P kernels score --shard mpi` for P = 1..4 on this machine (loopback),
# with rank 0's split (read + accumulate, waiting for the slowest rank, the reduction, the write), for docs/scaling.md.
#   bench/mpi-scaling.sh [N] [D] [M]        (defaults 40000 784 64; needs mpirun and a built CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-40000} D=${2:-784} M=${3:-64}
KERNELS=${KERNELS:-src/Cli/bin/Release/net10.0/kernels}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -c "
import numpy as np, sys
r = np.random.default_rng(0)
np.save('$work/y.npy', r.standard_normal(($N, $D)).astype(np.float32))
np.save('$work/x.npy', r.standard_normal(($M, $D)).astype(np.float32))"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(--bind-to none --oversubscribe --mca plm isolated --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
args=(--train "$work/y.npy" --query "$work/x.npy" --alpha 1 --sigma 20)
echo "N=$N D=$D M=$M float32, $(nproc) cores; $(( (8 + 2 * D) * 8 * M + 32 )) bytes of states per rank per batch"
start=$(date +%s.%N); "$KERNELS" score "${args[@]}" --out "$work/s.npy" >/dev/null; end=$(date +%s.%N)
echo "plain: $(echo "$end - $start" | bc) s"
for p in 1 2 3 4; do
  start=$(date +%s.%N)
  line=$(mpirun -np "$p" "${flags[@]}" "$KERNELS" score "${args[@]}" --shard mpi --out "$work/s$p.npy")
  end=$(date +%s.%N)
  echo "mpirun -np $p: $(echo "$end - $start" | bc) s; ${line#*; }"
done
