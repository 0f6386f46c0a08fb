#!/usr/bin/env bash
# Every GPU check in one run, for a CUDA machine with the project installed (`pip install -e '.[dev]'`):
#   1. the kernels compile for this device's architecture, within its shared memory (kernels/triton/aot.py);
#   2. the compiled kernels agree with the torch references: the interpreter tests of tests/kernels/triton,
#      run with TRITON_INTERPRET=0, call the kernels on the GPU and compare on CPU (their conftest.py);
#   3. whole jobs with device=cuda end where the CPU torch jobs end (tests/pipeline/test_backend.py);
#   4. the kernel benchmark on the target shapes, with its PASS/FAIL lines (benchmarks/kernels.py);
#   5. low-rank (polynomial-method) attention against exact attention and SDPA, forward and E07 gradient,
#      float32, n up to where exact attention runs out of memory (benchmarks/fast_attention.py);
#   6. E01's empirical NTK: closed form against torch.func per-sample Jacobians and the per-sample loop, up to
#      m = 65536 neurons (benchmarks/ntk.py; the loop only where it stays short);
#   7. E05's training throughput: the vectorised k-input network against autograd and the per-neuron loop,
#      float64 and float32, up to k = 4, p = 13 (benchmarks/modular_training.py).
# Each step's output goes to $OUT (default gpu-check/); the exit status is the number of failed steps.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
export TRITON_INTERPRET=0 DVC_NO_ANALYTICS=1 MPLBACKEND=Agg
failed=0
step() {  # step NAME COMMAND...: run, keep its output, count a failure
  local name=$1; shift
  echo "== $name: $*"
  if "$@" > "$OUT/$name.txt" 2>&1; then echo "   ok"; else echo "   FAILED (exit $?), see $OUT/$name.txt"; failed=$((failed + 1)); fi
  tail -n 5 "$OUT/$name.txt"
}
arch=$(python -c "import torch; a, b = torch.cuda.get_device_capability(); print(10 * a + b)")
python -c "import torch, triton; print(torch.cuda.get_device_name(), 'sm_$arch', 'torch', torch.__version__, 'triton', triton.__version__)" | tee "$OUT/device.txt"
step aot python -m kernels.triton.aot --arch "$arch"
step kernels python -m pytest tests/kernels/triton -q -p no:cacheprovider
step pipeline python -m pytest tests/pipeline/test_backend.py -q -p no:cacheprovider -k cuda -rs
step benchmark python benchmarks/kernels.py --device cuda --gpu-sizes --json "$OUT/kernels-gpu.json"
step fast_attention python benchmarks/fast_attention.py --device cuda --dtype float32 --sections forward gradient \
  --n-min 1024 --n-max 131072 --grad-n-max 65536 --repeats 3 --json "$OUT/fast-attention-gpu.json"
step ntk python benchmarks/ntk.py --device cuda --sizes 64x4096,64x16384,256x65536 --repeats 5 --json "$OUT/ntk-gpu.json"
step modular python benchmarks/modular_training.py --device cuda --sizes 11,3,160 31,3,480 13,4,2304 --repeats 5 \
  --json "$OUT/modular-gpu.json"
exit "$failed"
