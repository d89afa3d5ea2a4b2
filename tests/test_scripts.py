"""The scripts for a lent GPU run here too (``--device cpu``), so they do not rot between GPU sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """The script as a GPU session runs it: without the TRITON_INTERPRET=1 that importing the Triton backend sets here."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True, text=True, timeout=900, cwd=ROOT, env=env)


@pytest.mark.slow
def test_the_gpu_ab_script_times_each_pair_on_and_off() -> None:
    done = run_script("gpu_ab.py", "--device", "cpu", "--repeats", "3")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if " on/off " in line]
    assert [line.split(" (")[0] for line in lines] == ["LSTM columns", "cross-entropy few rows"]


@pytest.mark.slow
def test_the_gpu_profile_script_profiles_a_step() -> None:
    done = run_script("gpu_profile.py", "softmax", "--device", "cpu", "--steps", "2")
    assert done.returncode == 0, done.stderr
    assert "first call" in done.stdout and "per step" in done.stdout and "graphc profile" in done.stdout


@pytest.mark.slow
def test_the_gpu_sweep_script_times_every_setting_of_each_kernel() -> None:
    done = run_script("gpu_sweep.py", "--device", "cpu", "--repeats", "2")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("softmax") and first.endswith("(reduction):")
    timed = [line for line in done.stdout.splitlines() if line.endswith("GB/s") or line.endswith("(default)")]
    assert len(timed) == 3 * 9 + 8  # three reductions under 9 settings, the GELU chain under 8
    assert done.stdout.count("(default)") == 4
