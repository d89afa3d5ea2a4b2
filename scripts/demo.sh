#!/usr/bin/env bash
# The README's demo: train a small CNN on scikit-learn's handwritten digits with graphc.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python examples/digits_cnn.py "$@"
