#!/usr/bin/env bash
# For a session with a lent GPU, run through the device tool from a plain checkout
# (PYTHONPATH=., the GPU image's torch and Triton; no installs): the Triton tests on the
# real GPU, then the CUDA half of the benchmark, one workload per process so that each is
# time-boxed and a slow compile costs only its own row. Logs and tables go to $OUT/logs and,
# after every step, into $OUT/logs.tgz (the device tool brings back at most 8 files).
#   WORKLOADS: names (substrings) to benchmark; PROFILE: names to profile first (empty: none);
#   TEST_SECONDS, BENCH_SECONDS: the time boxes.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
OUT=${OUT:-/tmp/graphc-gpu}
LOGS=$OUT/logs
mkdir -p "$LOGS"
pack() { tar czf "$OUT/logs.tgz" -C "$OUT" logs; }
{ nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"; } 2>&1 | tee "$LOGS/machine.txt"
pack
# Where the time of the steps named in PROFILE goes (torch.profiler), before the benchmark.
IFS=";" read -r -a profiled <<< "${PROFILE-Adam step}"
for name in "${profiled[@]}"; do
    file="$LOGS/profile-${name// /_}.txt"
    timeout "${BENCH_SECONDS:-60}" python scripts/gpu_profile.py "$name" > "$file" 2>&1
    echo "profile $name: exit $?"
    grep -E "first call|per step" "$file"
done
pack
# This session's choices made without a GPU, each timed on and off (scripts/gpu_ab.py).
timeout "${BENCH_SECONDS:-60}" python scripts/gpu_ab.py > "$LOGS/ab.txt" 2>&1
echo "ab: exit $?"
grep -E " on/off " "$LOGS/ab.txt"
pack
# Block sizes and warps of the memory-bound kernels, every setting timed (scripts/gpu_sweep.py).
timeout "${BENCH_SECONDS:-60}" python scripts/gpu_sweep.py > "$LOGS/sweep.txt" 2>&1
echo "sweep: exit $?"
grep -E -A1 ":$" "$LOGS/sweep.txt" | grep -v "^--"  # each kernel and its best setting
grep -E "bandwidth|default" "$LOGS/sweep.txt"
pack
tests=(tests/test_triton_kernels.py tests/test_triton_compile.py tests/test_triton_primitives.py tests/test_triton_training.py tests/test_triton_hardware_semantics.py)
# On the machine's cores where pytest-xdist is there (Triton's compiles are CPU-bound), else on one.
if python -c "import xdist" 2>/dev/null; then parallel=(-n 12); else parallel=(); fi
timeout "${TEST_SECONDS:-180}" python -m pytest -v -rf --tb=short -p no:cacheprovider "${parallel[@]}" "${tests[@]}" > "$LOGS/tests.log" 2>&1
echo "tests: exit $? ($(grep -c PASSED "$LOGS/tests.log") passed, $(grep -c FAILED "$LOGS/tests.log") failed, 124 = time box)"
grep -E "^FAILED|^E  " "$LOGS/tests.log" | head -16
pack
# Every Triton case (-m "") of the files holding Triton code not yet run on a GPU: the linalg
# kernels (one program per matrix) and half precision rounded inside fused kernels.
unrun=(tests/test_linalg_lu.py tests/test_linalg_cholesky.py tests/test_linalg_eigh.py tests/test_linalg_svd_qr.py tests/test_linalg_spectral.py tests/test_tensor_methods.py
       tests/test_linalg_matrix_exp.py tests/test_linalg_lu_factor.py tests/test_linalg_vectors.py)
timeout "${TEST_SECONDS:-180}" python -m pytest -v -rf --tb=short -p no:cacheprovider -m "" -k triton "${parallel[@]}" "${unrun[@]}" > "$LOGS/tests-unrun.log" 2>&1
echo "unrun tests: exit $? ($(grep -c PASSED "$LOGS/tests-unrun.log") passed, $(grep -c FAILED "$LOGS/tests-unrun.log") failed, 124 = time box)"
grep -E "^FAILED|^E  " "$LOGS/tests-unrun.log" | head -16
pack
IFS=';' read -r -a workloads <<< "${WORKLOADS:-softmax;layer-norm;cross-entropy;GELU;Adam step;Transformer;GPT;MLP 50;LeNet;LSTM}"
for name in "${workloads[@]}"; do
    file="$LOGS/bench-${name// /_}.md"
    timeout "${BENCH_SECONDS:-60}" python benchmarks/run.py --device cuda --only "$name" --repeats "${REPEATS:-30}" > "$file" 2>&1
    echo "bench $name: exit $?"
    grep -E "^\| |copy bandwidth|Error" "$file" | grep -v "^|---" | tail -5
    pack
done
