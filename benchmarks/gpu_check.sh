#!/usr/bin/env bash
# The first GPU check of spikeforge, in one command that fits 8 minutes (see benchmarks/README.md).
#
#   bash benchmarks/gpu_check.sh            # from the repository root, on a machine with CUDA
#
# 1. environment: GPU, driver, python, torch, triton;
# 2. tests: the Triton LIF kernels under the interpreter and on CUDA, and every `cuda` test;
# 3. one LIF layer: Triton kernel against the PyTorch scan (agreement with the CPU, launches per
#    forward + backward at T = 10 and 100, time) -- benchmarks/gpu_lif_kernel.py;
# 4. the SHD-shaped training benchmark on CUDA, batch 128: spikeforge (kernel), spikeforge_torch
#    (its PyTorch scan), snntorch, spikingjelly (torch, cupy and triton backends), a plain loop;
# 5. CUBA on the Triton circuits engine at 4,000 / 64,000 / 1,000,000 neurons (in-degree 100):
#    spikes equal to the CPU engine, real-time factors, GPU memory -- benchmarks/gpu_circuits.py.
#
# Results go to $OUT (default out/gpu_check): one log per step, JSON, and summary.txt. Peers that
# are not installed are skipped; pure-Python wheels found in .whl/ (spikingjelly, snntorch) are
# installed first into /tmp/site. Each step has its own time limit (30+20+100+80+60+130+60 s = 8 min
# at most); expected about 4 min on an H100.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
summary="$OUT/summary.txt"
: >"$summary"
start_all=$(date +%s)

step() {  # step NAME LIMIT_S COMMAND...: run with a time limit, log to $OUT/NAME.log, note the result
  local name=$1 limit=$2 t0 rc
  shift 2
  echo "=== $name (limit ${limit}s): $*"
  t0=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  rc=${PIPESTATUS[0]}
  printf '%-14s rc=%-3s %4ss  %s\n' "$name" "$rc" "$(($(date +%s) - t0))" "$*" | tee -a "$summary"
}

if ls .whl/*.whl >/dev/null 2>&1; then
  step wheels 30 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi

step env 20 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; \
  $PY -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.get_device_name()); \
import triton; print(\"triton\", triton.__version__)'"

# the interpreter tests, the CUDA ones in the same file, then every test marked cuda
step tests 100 "$PY" -m pytest -q -p no:randomly -p no:cacheprovider --continue-on-collection-errors \
  tests/neurons/test_triton_lif.py tests/neurons/test_triton_alif.py tests/neurons/test_triton_if.py \
  tests/gpu -m "not slow or cuda" --junitxml="$OUT/tests_triton_lif.xml"
step cuda_tests 80 "$PY" -m pytest -q -p no:randomly -p no:cacheprovider --continue-on-collection-errors \
  -m cuda tests --junitxml="$OUT/tests_cuda.xml"

step lif_kernel 60 "$PY" benchmarks/gpu_lif_kernel.py --json "$OUT/gpu_lif_kernel.json"

step lif_training 130 "$PY" benchmarks/lif_training.py --device cuda --batch 128 --repeats 10 \
  --only spikeforge,spikeforge_torch,snntorch,spikingjelly,spikingjelly_cupy,spikingjelly_triton,pytorch \
  --json "$OUT/lif_training.json"

# sizes in increasing order, one row printed at a time: a size cut by the limit leaves the others
step circuits_gpu 60 "$PY" benchmarks/gpu_circuits.py --sizes 4000,64000,1000000 --in-degree 100 \
  --json "$OUT/gpu_circuits.json"

echo "total $(($(date +%s) - start_all)) s" | tee -a "$summary"
cat "$summary"
