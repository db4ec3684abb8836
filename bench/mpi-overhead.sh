#!/usr/bin/env bash
# What `--shard mpi` costs on one node: wall time of the whole command, plain verb against `mpirun -np 1 … --shard mpi`,
# interleaved (plain, sharded, launcher alone) REPEATS times, on compare-peers' mnist case (N = 6000, D = 784, M = 1000,
# ±1 pixels, alpha 0.316, sigma 0.949; the same generator) for `score`, and its first 256 queries for `smooth score`
# (gaussian:0.3, K = 8). `mpirun -np 1 true` is the launcher's own cost, which no program it starts can avoid. Then
# P = 2..4 once each (ranks share the machine's cores: read the split, not a speed-up). CASE names another
# compare-peers case for `score` (big: N = 60 000, M = 2000, where the launcher's fixed cost weighs less).
#   bench/mpi-overhead.sh [REPEATS [CASE]]        (default 5 mnist; needs mpirun and a built CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-5}
CASE=${2:-mnist}
KERNELS=${KERNELS:-src/Cli/bin/Release/net10.0/kernels}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -c "
import importlib.machinery, numpy as np
peers = importlib.machinery.SourceFileLoader('compare_peers', 'bench/compare-peers').load_module()
y, x, _ = peers.generate('mnist')
np.save('$work/ys.npy', y); np.save('$work/x256.npy', x[:256])
y, x, _ = peers.generate('$CASE')
np.save('$work/y.npy', y); np.save('$work/x.npy', x)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
flags=(--bind-to none --oversubscribe --mca plm isolated --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
score=(score --train "$work/y.npy" --query "$work/x.npy" --alpha 0.316 --sigma 0.949)
smooth=(smooth score --train "$work/ys.npy" --query "$work/x256.npy" --alpha 0.316 --sigma 0.949 --kernel gaussian:0.3 --draws 8 --seed 1)
seconds() { local s e; s=$(date +%s.%N); "$@" >"$work/last.txt" 2>&1 || { cat "$work/last.txt" >&2; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }
echo "score: $CASE case; smooth: mnist N=6000 D=784, M=256 K=8; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a sp sm st mp mm
for r in $(seq "$REPEATS"); do
  sp+=("$(seconds "$KERNELS" "${score[@]}" --out "$work/s.npy")")
  sm+=("$(seconds mpirun -np 1 "${flags[@]}" "$KERNELS" "${score[@]}" --shard mpi --out "$work/s1.npy")")
  split=$(sed -n 's/.*rank 0: //p' "$work/last.txt")
  st+=("$(seconds mpirun -np 1 "${flags[@]}" true)")
  mp+=("$(seconds "$KERNELS" "${smooth[@]}" --out "$work/m.npy")")
  mm+=("$(seconds mpirun -np 1 "${flags[@]}" "$KERNELS" "${smooth[@]}" --shard mpi --out "$work/m1.npy")")
  echo "repeat $r: score plain ${sp[-1]} s, np 1 ${sm[-1]} s; mpirun -np 1 true ${st[-1]} s; smooth plain ${mp[-1]} s, np 1 ${mm[-1]} s (load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "np 1 rank 0 (last score run): $split"
ms=$(median "${sp[@]}") m1=$(median "${sm[@]}") mt=$(median "${st[@]}") mps=$(median "${mp[@]}") mm1=$(median "${mm[@]}")
echo "medians: score plain $ms s, np 1 $m1 s (ratio $(echo "scale=3; $m1 / $ms" | bc)); launcher alone $mt s; np 1 less the launcher: ratio $(echo "scale=3; ($m1 - $mt) / $ms" | bc)"
echo "medians: smooth plain $mps s, np 1 $mm1 s (ratio $(echo "scale=3; $mm1 / $mps" | bc)); np 1 less the launcher: ratio $(echo "scale=3; ($mm1 - $mt) / $mps" | bc)"
for p in 2 3 4; do
  t=$(seconds mpirun -np "$p" "${flags[@]}" "$KERNELS" "${score[@]}" --shard mpi --out "$work/s$p.npy")
  echo "score mpirun -np $p: $t s; rank 0: $(sed -n 's/.*rank 0: //p' "$work/last.txt")"
  t=$(seconds mpirun -np "$p" "${flags[@]}" "$KERNELS" "${smooth[@]}" --shard mpi --out "$work/m$p.npy")
  echo "smooth mpirun -np $p: $t s; rank 0: $(sed -n 's/.*rank 0: //p' "$work/last.txt")"
done
