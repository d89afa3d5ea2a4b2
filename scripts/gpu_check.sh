#!/usr/bin/env bash
# For a session with a lent GPU, run through the device tool from a plain checkout
# (PYTHONPATH=., the GPU image's torch and Triton; no installs): the Triton tests on the
# real GPU, then the CUDA half of the benchmark, whose tables go to $OUT (or docs/benchmarks).
# Written without a GPU to try it on: its first run is also its test (docs/benchmarks.md).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.cuda.is_available())"
python -m pytest -q -x -p no:cacheprovider tests/test_triton_kernels.py tests/test_triton_primitives.py tests/test_triton_training.py 2>&1 | tail -40
python benchmarks/run.py --device cuda --repeats "${REPEATS:-50}" --out "${OUT:-docs/benchmarks}"
