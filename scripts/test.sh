#!/usr/bin/env bash
# The test command of the README: set up, lint, the default suite on 2 workers, then the
# slow tests (long runs, and the Triton-interpreter cases beyond each test's first) as a
# second command. Arguments go to both pytest commands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ruff check .
python -m pytest -n 2 -q "$@"
python -m pytest -n 2 -q -m slow "$@"
