"""The source cache stays under its size limit by deleting what was used longest ago."""

from __future__ import annotations

import os

import pytest

from graphc.codegen import cache


@pytest.fixture
def empty_cache(tmp_path: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_trimmed", False)
    return str(tmp_path)


def _file(folder: str, name: str, size: int, age: float) -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("x" * size)
    when = os.path.getmtime(path) - age
    os.utime(path, (when, when))
    return path


def test_trim_deletes_the_least_recently_used_files_down_to_three_quarters_of_the_limit(empty_cache: str) -> None:
    oldest = _file(empty_cache, "a.py", 400, age=300)
    older = _file(empty_cache, "b.so", 400, age=200)
    newest = _file(empty_cache, "c.py", 400, age=100)
    in_flight = _file(empty_cache, "d.tmp", 400, age=400)
    assert cache.trim(2000) == []  # 1200 bytes of cache files: under the limit
    assert cache.trim(1000) == [oldest, older]  # down to 400 <= 750
    assert os.path.exists(newest) and os.path.exists(in_flight)


def test_a_reused_file_counts_as_recently_used(empty_cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "_trimmed", True)  # no trimming while the files are made
    first = cache.write_source("program", "x = 1\n")
    second = cache.write_source("program", "x = 2\n")
    for path, age in ((first, 300), (second, 100)):
        when = os.path.getmtime(path) - age
        os.utime(path, (when, when))
    assert cache.write_source("program", "x = 1\n") == first  # reused: now the newest
    assert cache.trim(os.path.getsize(first) * 4 // 3 + 1) == [second]  # keeps three quarters: room for one


def test_the_first_write_of_a_process_trims_the_cache_to_its_limit(empty_cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = _file(empty_cache, "stale.py", 4096, age=1000)
    monkeypatch.setenv("GRAPHC_CACHE_LIMIT_MB", "0.001")  # 1 KiB
    fresh = cache.write_source("program", "y = 3\n")
    assert not os.path.exists(stale) and os.path.exists(fresh)
    again = _file(empty_cache, "again.py", 4096, age=1000)
    cache.write_source("program", "y = 4\n")
    assert os.path.exists(again)  # once per process


def test_a_process_starting_soon_after_a_trim_does_not_walk_the_cache_again(empty_cache: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_LIMIT_MB", "0.001")  # 1 KiB
    cache.write_source("program", "z = 1\n")  # this process trims, and stamps the cache
    monkeypatch.setattr(cache, "_trimmed", False)  # another process, a moment later
    stale = _file(empty_cache, "stale.py", 4096, age=1000)
    cache.write_source("program", "z = 2\n")
    assert os.path.exists(stale)
    stamp = os.path.join(empty_cache, "trimmed.stamp")
    when = os.path.getmtime(stamp) - cache.TRIM_INTERVAL - 1
    os.utime(stamp, (when, when))
    monkeypatch.setattr(cache, "_trimmed", False)  # one more, after the interval
    cache.write_source("program", "z = 3\n")
    assert not os.path.exists(stale)
