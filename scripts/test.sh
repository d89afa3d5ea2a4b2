#!/usr/bin/env bash
# The test command of the README: set up, lint, then the default suite on 2 workers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ruff check .
python -m pytest -n 2 -q "$@"
