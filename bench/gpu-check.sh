#!/usr/bin/env bash
# The OpenCL test suite and the OpenCL timings on a lent GPU machine, in one call (a few minutes at most).
#
# That machine has no .NET SDK, no network and maybe no OpenCL ICD loader, so everything comes in the bundle .gpu/
# that bench/gpu-bundle.sh builds here (a .NET runtime, the Release test and CLI output with an xunit console runner,
# Debian's ocl-icd loader). Run from the repo root with .gpu/ beside it and OUT set to the folder that comes back:
#
#   bench/gpu-bundle.sh                          # here, once per build
#   device run, carry [".gpu"]:  bash bench/gpu-check.sh
#   locally (any OpenCL runtime):  OUT=/tmp/gpuout CASES=small,mnist bash bench/gpu-check.sh
#
# Steps, each under its own timeout so one hang cannot eat the lease:
#   1. unpack the runtime into /tmp/dotnet and the app into .gpu/app (inside the repo: some tests find repo files
#      above their assembly's folder);
#   2. OpenCL: print what the machine has; add the carried ICD loader (LD_LIBRARY_PATH) when ldconfig knows no
#      libOpenCL.so.1, and an ICD folder naming libnvidia-opencl.so.1 by its path (OCL_ICD_VENDORS) when no registered
#      ICD names it; then `kernels devices`;
#   3. the OpenCL tests (Kernels.Tests.OpenCl.* and OpenClRuntimeTests; not tests/Native, which needs the SDK) with
#      KERNELS_REQUIRE_OPENCL=1, so a missing runtime fails them instead of skipping;
#   4. the six standard cases of bench/compare-peers (data generated there with its generator and NumPy), timed by
#      `kernels bench` on --backend opencl --device gpu, and mnist on the CPU backend as the host's reference;
#   5. the PyTorch peer on the same GPU, timed in this call: float32, TF32 off, the same six cases, one GEMM for the
#      logits, a softmax and one GEMM for the weighted sum per chunk of queries, the chunk size the fastest of a few;
#      the training set resident on the GPU (as the project's), the queries' upload and the scores' download timed
#      (as the project's). Skipped, with a line saying so, when torch is missing or has no CUDA device;
#   6. the GPU's float32 matrix-product rate through PyTorch (TF32 off), as the ceiling to read the timings against.
# Writes into $OUT (flat, 8 files at most): gpu-check.log (everything), opencl-setup.txt, devices.txt,
# opencl-tests.txt (counts, failures with messages, skips), opencl-tests.xml, gpu-bench.jsonl (the project's runs and,
# backend "torch", the peer's), torch-ceiling.txt, summary.txt; the last line printed is the summary, each case's
# project time beside the peer's.
# Environment: OUT (default /tmp/gpuout), CASES (default all six), DEVICE (default gpu; `cpu` on a PoCL-only host),
# REPEAT (default 5), TEST_TIMEOUT (default 180 s), BENCH_TIMEOUT (default 180 s), TORCH_TIMEOUT (default 120 s),
# VARIANTS and VARIANT_CASES (A/B runs with extra `kernels bench` tuning flags; by default both score kernels forced,
# "--opencl-kernel classic;--opencl-kernel tiled" on mnist and big, beside the tuner's choice in the plain runs;
# VARIANTS="" for none). Worst case, every step at its timeout: about 8 minutes; expected on an H100: 2-3 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-/tmp/gpuout}
CASES=${CASES:-small,circle,latent,mnist,big,smoothed}
DEVICE=${DEVICE:-gpu}
REPEAT=${REPEAT:-5}
TEST_TIMEOUT=${TEST_TIMEOUT:-180}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}
TORCH_TIMEOUT=${TORCH_TIMEOUT:-120}
VARIANTS=${VARIANTS---opencl-kernel classic;--opencl-kernel tiled}  # ";"-separated sets of tuning flags for A/B runs
VARIANT_CASES=${VARIANT_CASES:-mnist,big}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu-check.log") 2>&1
t0=$(date +%s)
stamp() { echo "== [$(($(date +%s) - t0)) s] $*"; }

# ------------------------------------------------------------------------------------------------ 1. runtime, app
stamp "unpack"
bundle=$root/.gpu
[[ -f $bundle/dotnet-runtime.tar.xz && -f $bundle/app.tar.xz ]] || { echo "no bundle at $bundle: run bench/gpu-bundle.sh"; exit 2; }
rm -rf /tmp/dotnet "$bundle/app"
tar -C /tmp -xJf "$bundle/dotnet-runtime.tar.xz"
tar -C "$bundle" -xJf "$bundle/app.tar.xz"
app=$bundle/app
# The unpacked app (about 30 MB) must not travel with the next call: it goes again on exit.
trap 'rm -rf "$app"' EXIT
export DOTNET_ROOT=/tmp/dotnet PATH=/tmp/dotnet:$PATH:/sbin:/usr/sbin
# No ICU on a CUDA image; the project's assemblies are invariant already, the xunit runner is not.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
dotnet --info 2>&1 | head -12
uname -a; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | head -3
kernels() { dotnet "$app/kernels.dll" "$@"; }

# ------------------------------------------------------------------------------------------------ 2. OpenCL
stamp "OpenCL setup"
{
    echo "## /etc/OpenCL/vendors"; ls -la /etc/OpenCL/vendors 2>&1
    for f in /etc/OpenCL/vendors/*.icd; do [[ -f $f ]] && echo "$f: $(head -c 300 "$f")"; done
    echo "## ldconfig -p | grep -i opencl"; ldconfig -p | grep -i opencl
    echo "## libnvidia-opencl*"
    timeout 20 find / \( -path /proc -o -path /sys -o -path /dev -o -path "$root" -o -path /tmp \) -prune -o \
        -name 'libnvidia-opencl*' -print 2>/dev/null | head
} >"$OUT/opencl-setup.txt" 2>&1
nvlib=$(grep -m1 '/libnvidia-opencl\.so\.1$' "$OUT/opencl-setup.txt" || grep -m1 '/libnvidia-opencl\.so' "$OUT/opencl-setup.txt" || true)
mkdir -p /tmp/ocl
if ! ldconfig -p | grep -q 'libOpenCL\.so\.1 '; then
    deb=$(ls "$bundle"/ocl-icd-libopencl1_*.deb 2>/dev/null | head -1)
    if [[ -n $deb ]]; then
        dpkg -x "$deb" /tmp/ocl/deb
        lib=/tmp/ocl/deb/usr/lib/x86_64-linux-gnu
        # Silk.NET.OpenCL tries libOpenCL.so.1, then libOpenCL.so: make both resolve.
        ln -sf libOpenCL.so.1 "$lib/libOpenCL.so"
        export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        echo "## no libOpenCL.so.1 in ldconfig: using the carried loader at $lib" >>"$OUT/opencl-setup.txt"
    else
        echo "## no libOpenCL.so.1 in ldconfig and no carried .deb" >>"$OUT/opencl-setup.txt"
    fi
fi
if [[ -n $nvlib ]] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
    mkdir -p /tmp/ocl/vendors
    echo "$nvlib" >/tmp/ocl/vendors/nvidia.icd
    export OCL_ICD_VENDORS=/tmp/ocl/vendors
    # The driver's other libraries (libcuda, libnvidia-*) sit beside it, maybe outside ldconfig's cache.
    export LD_LIBRARY_PATH=$(dirname "$nvlib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    echo "## no ICD names nvidia: OCL_ICD_VENDORS=/tmp/ocl/vendors with nvidia.icd = $nvlib" >>"$OUT/opencl-setup.txt"
fi
echo "## LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} OCL_ICD_VENDORS=${OCL_ICD_VENDORS:-}" >>"$OUT/opencl-setup.txt"
cat "$OUT/opencl-setup.txt"
stamp "kernels devices"
timeout 30 dotnet "$app/kernels.dll" devices >"$OUT/devices.txt" 2>&1; echo "exit $?" >>"$OUT/devices.txt"
command -v clinfo >/dev/null && timeout 30 clinfo -l >>"$OUT/devices.txt" 2>&1
cat "$OUT/devices.txt"

# ------------------------------------------------------------------------------------------------ 3. tests
stamp "OpenCL tests (timeout ${TEST_TIMEOUT} s)"
(cd "$app" && KERNELS_REQUIRE_OPENCL=1 DOTNET_ROLL_FORWARD=Major timeout "$TEST_TIMEOUT" \
    dotnet exec xunit.console.dll Kernels.Tests.dll -method 'Kernels.Tests.OpenCl.*' \
    -method 'Kernels.Tests.OpenClRuntimeTests.*' -nologo -nocolor -parallel collections \
    -xml "$OUT/opencl-tests.xml")
test_rc=$?
echo "xunit.console exit $test_rc"
python3 - "$OUT/opencl-tests.xml" "$test_rc" >"$OUT/opencl-tests.txt" <<'EOF'
import sys, xml.etree.ElementTree as ET
path, rc = sys.argv[1], sys.argv[2]
try:
    tests = list(ET.parse(path).getroot().iter("test"))
except Exception as e:
    print(f"tests: no result file ({e}); runner exit {rc}")
    sys.exit()
count = {r: sum(t.get("result") == r for t in tests) for r in ("Pass", "Fail", "Skip")}
print(f"tests: {len(tests)} run, {count['Pass']} passed, {count['Fail']} failed, {count['Skip']} skipped (runner exit {rc})")
for t in tests:
    if t.get("result") == "Fail":
        msg = (t.findtext("failure/message") or "").strip()
        trace = (t.findtext("failure/stack-trace") or "").strip().splitlines()[:4]
        print(f"\nFAIL {t.get('name')} ({t.get('time')} s)\n  {msg[:3000]}\n  " + "\n  ".join(trace))
skips = {}
for t in tests:
    if t.get("result") == "Skip":
        skips.setdefault((t.findtext("reason") or "").strip(), []).append(t.get("name"))
for reason, names in skips.items():
    print(f"\nSKIP x{len(names)}: {reason[:300]}\n  e.g. {names[0]}")
slow = sorted(tests, key=lambda t: -float(t.get("time") or 0))[:8]
print("\nslowest: " + "; ".join(f"{t.get('name')} {float(t.get('time')):.2f} s" for t in slow))
EOF
cat "$OUT/opencl-tests.txt"

# ------------------------------------------------------------------------------------------------ 4. timings
stamp "bench: $CASES on --backend opencl --device $DEVICE (+ mnist on cpu)"
KERNELS_DLL=$app/kernels.dll timeout "$BENCH_TIMEOUT" python3 - "$CASES" "$DEVICE" "$REPEAT" "$OUT/gpu-bench.jsonl" "$VARIANTS" "$VARIANT_CASES" <<'EOF'
import importlib.machinery, importlib.util, json, os, subprocess, sys, tempfile, time
cases, device, repeat, out = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
# A/B variants: extra runs of VARIANT_CASES on the OpenCL backend with extra tuning flags, e.g. "--opencl-shards 1"
variants = [v for v in sys.argv[5].split(";") if v] if len(sys.argv) > 5 else []
variant_cases = [c for c in sys.argv[6].split(",") if c] if len(sys.argv) > 6 else []
# The generator and the cases are bench/compare-peers' own, so the numbers line up with the README's table.
loader = importlib.machinery.SourceFileLoader("compare_peers", "bench/compare-peers")
spec = importlib.util.spec_from_loader("compare_peers", loader)
peers = importlib.util.module_from_spec(spec); loader.exec_module(peers)
import numpy as np
work = tempfile.mkdtemp(prefix="gpubench")
runs = [(c, "opencl", "") for c in cases] + ([("mnist", "cpu", "")] if "mnist" in cases else [])
runs += [(c, "opencl", v) for v in variants for c in variant_cases]
with open(out, "w") as f:
    for case, backend, variant in runs:
        n, m, d, k, _, a, s, h = peers.CASES[case]
        train, query = os.path.join(work, case + "-train.npy"), os.path.join(work, case + "-query.npy")
        if not os.path.exists(train):
            y, x, _ = peers.generate(case)
            np.save(train, y); np.save(query, x)
        op = ["smooth", "--kernel", f"gaussian:{h}", "--draws", str(k), "--seed", "1"] if k else ["score"]
        dev = ["--backend", "opencl", "--device", device, "--no-ceiling"] if backend == "opencl" else ["--backend", "cpu"]
        cmd = ["dotnet", os.environ["KERNELS_DLL"], "bench", *op, "--train", train, "--query", query, "--alpha", str(a),
               "--sigma", str(s), "--precision", "float32", "--repeat", repeat, "--min-seconds", "1", *dev, *variant.split()]
        start = time.time()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=45)
            lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
            rec = json.loads(lines[-1]) if r.returncode == 0 and lines else \
                {"error": f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-500:]}"}
        except subprocess.TimeoutExpired:
            rec = {"error": "timed out after 45 s"}
        rec = {"case": case, "backend": backend, "variant": variant or "default", "device": device if backend == "opencl" else "cpu",
               "flops": peers.flop_count(case), "wall_seconds": round(time.time() - start, 2), **rec}
        f.write(json.dumps(rec) + "\n"); f.flush()
        sec = rec.get("seconds")
        print(f"{case:9s} {backend:6s} {variant or 'default':24s} {rec.get('opencl_kernel', ''):8s}" + (f"{sec * 1e3:10.3f} ms  {rec['flops'] / sec / 1e9:9.1f} GFLOP/s" if sec else rec.get("error", "?")), flush=True)
EOF
echo "bench exit $?"

# ------------------------------------------------------------------------------------------------ 5. PyTorch peer
stamp "PyTorch peer on the GPU: $CASES"
PYTHONUNBUFFERED=1 timeout "$TORCH_TIMEOUT" python3 - "$CASES" "$REPEAT" "$OUT/gpu-bench.jsonl" <<'EOF'
import importlib.machinery, importlib.util, json, statistics, sys, time
cases, repeat, out = sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3]
try:
    import torch
except ImportError as e:
    print(f"torch peer skipped: {e}"); raise SystemExit
if not torch.cuda.is_available():
    print(f"torch peer skipped: torch {torch.__version__} sees no CUDA device"); raise SystemExit
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
loader = importlib.machinery.SourceFileLoader("compare_peers", "bench/compare-peers")
spec = importlib.util.spec_from_loader("compare_peers", loader)
peers = importlib.util.module_from_spec(spec); loader.exec_module(peers)
dev = torch.device("cuda")
print(torch.__version__, torch.cuda.get_device_name(0), "float32, TF32 off")

def prepare(y, a, s):
    """The training set on the GPU, made once (as the project's resident set): (a y)/s^2 transposed and the bias."""
    ay = torch.from_numpy(y).to(dev) * a
    inv = 1.0 / (s * s)
    return ay, (ay * inv).t().contiguous(), (ay * ay).sum(1) * (-0.5 * inv), inv

def score(prepared, x, rows):
    """Per chunk of queries: one GEMM for the logits (the -|x|^2 term cancels in the softmax), softmax, one GEMM."""
    ay, ay_scaled_t, bias, inv = prepared
    out = torch.empty_like(x)
    for start in range(0, len(x), rows):
        xc = x[start:start + rows]
        w = torch.softmax(torch.addmm(bias, xc, ay_scaled_t), dim=1)
        out[start:start + len(xc)] = torch.mm(w, ay).sub_(xc).mul_(inv)
    return out

def operation(case, x, z, chunk_mib, prepared):
    n, m, d, k, _, a, s, h = peers.CASES[case]
    rows = max(1, int(chunk_mib * 2 ** 20 // (4 * n)))
    def run():
        # timed as the project's call is: queries up, scores down
        xt = torch.from_numpy(x).to(dev)
        if k:
            xs = xt.repeat_interleave(k, dim=0).add_(torch.from_numpy(z).to(dev), alpha=h)
            result = score(prepared, xs, rows).view(m, k, d).mean(1)
        else:
            result = score(prepared, xt, rows)
        result.cpu()
    return run

def timed(run, runs):
    times = []
    for _ in range(runs):
        torch.cuda.synchronize(); t0 = time.perf_counter(); run(); torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times

with open(out, "a") as f:
    for case in cases:
        n, m, d, k, _, a, s, h = peers.CASES[case]
        y, x, z = peers.generate(case)
        prepared = prepare(y, a, s)
        best = None
        for chunk in (16, 64, 256, 1024):      # the logits block of one chunk, MiB
            run = operation(case, x, z, chunk, prepared)
            try:
                run()  # warm-up (and the allocator's first blocks)
                t = min(timed(run, 2))
            except RuntimeError as e:  # out of memory at the larger chunks
                print(f"{case}: chunk {chunk} MiB failed: {str(e)[:120]}"); torch.cuda.empty_cache(); continue
            if best is None or t < best[1]: best = (chunk, t)
        if best is None:
            f.write(json.dumps({"case": case, "backend": "torch", "error": "every chunk size failed"}) + "\n"); continue
        times = timed(operation(case, x, z, best[0], prepared), max(repeat, 5))
        sec = statistics.median(times)
        rec = {"case": case, "backend": "torch", "variant": "cuda float32 tf32-off", "device": torch.cuda.get_device_name(0),
               "flops": peers.flop_count(case), "seconds": sec, "min_seconds": min(times), "chunk_mib": best[0]}
        f.write(json.dumps(rec) + "\n"); f.flush()
        print(f"{case:9s} torch  chunk {best[0]:5d} MiB   {sec * 1e3:10.3f} ms  {rec['flops'] / sec / 1e9:9.1f} GFLOP/s", flush=True)
        del prepared; torch.cuda.empty_cache()
EOF
echo "torch peer exit $?"

# ------------------------------------------------------------------------------------------------ 6. ceiling
stamp "torch float32 matmul ceiling"
PYTHONUNBUFFERED=1 timeout 45 python3 - >"$OUT/torch-ceiling.txt" 2>&1 <<'EOF'
import time, torch
if not torch.cuda.is_available():
    print("torch: no CUDA device"); raise SystemExit
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
print(torch.__version__, torch.cuda.get_device_name(0))
for dtype, n, reps in ((torch.float32, 8192, 10), (torch.float64, 8192, 3)):
    a = torch.randn(n, n, device="cuda", dtype=dtype); b = torch.randn(n, n, device="cuda", dtype=dtype)
    for _ in range(3): a @ b
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter(); a @ b; torch.cuda.synchronize(); times.append(time.perf_counter() - start)
    best, med = min(times), sorted(times)[len(times) // 2]
    print(f"{str(dtype)[6:]} matmul {n}^3: median {med * 1e3:.2f} ms = {2 * n**3 / med / 1e12:.1f} TFLOP/s (best {2 * n**3 / best / 1e12:.1f})")
EOF
cat "$OUT/torch-ceiling.txt"

# ------------------------------------------------------------------------------------------------ summary
tests_line=$(head -1 "$OUT/opencl-tests.txt" 2>/dev/null)
gpu=$(grep -B1 -m1 "kind gpu" "$OUT/devices.txt" | head -1 | tr -s ' ' | cut -c1-80)
ceiling=$(grep -m1 '^float32' "$OUT/torch-ceiling.txt" | sed 's/.*= //; s/ (.*//')
bench=$(python3 - "$OUT/gpu-bench.jsonl" 2>/dev/null <<'EOF'
import json,sys
r=[json.loads(l) for l in open(sys.argv[1])]
ms=lambda x: f"{x['seconds']*1e3:.3g} ms" if 'seconds' in x else 'ERR'
peer={x['case']: x for x in r if x['backend'] == 'torch'}
parts=[]
for x in r:
    if x['backend'] == 'torch': continue
    p=f"{x['case']}/{x['backend']}" + ('' if x.get('variant','default') == 'default' else f" [{x['variant']}]") + (f" ({x['opencl_kernel']})" if 'opencl_kernel' in x else '') + ' ' + ms(x)
    t=peer.get(x['case']) if x['backend'] == 'opencl' else None
    if t and 'seconds' in t and 'seconds' in x: p += f" vs torch {ms(t)} ({x['seconds']/t['seconds']:.2f}x)"
    parts.append(p)
print(', '.join(parts) + ('' if peer else ', torch: none'))
EOF
)
stamp "done"
echo "SUMMARY: ${tests_line:-tests: none} | device: ${gpu:-no gpu listed} | bench: ${bench:-none} | torch fp32: ${ceiling:-n/a} | $(($(date +%s) - t0)) s" |
    tee "$OUT/summary.txt"
