#!/usr/bin/env bash
# Installs graphc and what it needs. The pinned CPU build of torch goes first: an
# unpinned torch requirement would otherwise pull several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --disable-pip-version-check torch==2.13.0
python -m pip install -q --disable-pip-version-check -e ".[test,demo]"
