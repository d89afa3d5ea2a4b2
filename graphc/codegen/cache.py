"""The source cache: generated code lives in real files named by the hash of their content.

Triton's ``@jit`` reads the source of the functions it compiles, so kernels must
come from files on disk (``exec`` of a string only works under the interpreter).
Writing every backend's code the same way also lets a person open the code that
ran. Files are written atomically (temporary file, then rename), so processes
that share the cache never see half a file, and a second process reuses the file.

The cache is kept under a size limit (``GRAPHC_CACHE_LIMIT_MB``, 1024 by default): the
first time a process writes to it, the files used longest ago go until it is under
three quarters of the limit, unless a process did so in the last ``TRIM_INTERVAL`` seconds
(walking a cache of tens of thousands of files took 0.6 s, paid by every new process's
first compile). A file's modification time is its last use, as every reuse
touches it. Deleting a module another process has imported is harmless (it is in that
process's memory), and the files in use are the newest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import time
from types import ModuleType


def cache_dir() -> str:
    default = os.path.join(os.path.expanduser("~"), ".cache", "graphc")
    path = os.environ.get("GRAPHC_CACHE_DIR", default)
    os.makedirs(path, exist_ok=True)
    return path


DEFAULT_LIMIT_MB = 1024
TRIM_INTERVAL = 600.0
_trimmed = False


def limit_bytes() -> int:
    return int(float(os.environ.get("GRAPHC_CACHE_LIMIT_MB", DEFAULT_LIMIT_MB)) * (1 << 20))


def trim(limit: int) -> list[str]:
    """Delete the least recently used files until the cache holds at most three quarters of ``limit`` bytes; the paths deleted."""
    files = []
    for folder, _, names in os.walk(cache_dir()):
        for name in names:
            if name.endswith(".tmp"):
                continue  # another process is writing it
            path = os.path.join(folder, name)
            try:
                stat = os.stat(path)
            except FileNotFoundError:  # another process trimmed it
                continue
            files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    if total <= limit:
        return []
    deleted = []
    for _, size, path in sorted(files):
        if total <= limit * 3 // 4:
            break
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        total -= size
        deleted.append(path)
    return deleted


def used(path: str) -> None:
    """Mark a cached file as used now (its modification time), and trim the cache once per process
    unless another process trimmed it within ``TRIM_INTERVAL`` (the stamp file's modification time)."""
    global _trimmed
    os.utime(path)
    if _trimmed:
        return
    _trimmed = True
    stamp = os.path.join(cache_dir(), "trimmed.stamp")
    try:
        if time.time() - os.path.getmtime(stamp) < TRIM_INTERVAL:
            return
    except FileNotFoundError:
        pass
    with open(stamp, "w"):
        pass
    trim(limit_bytes())


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def write_source(name: str, source: str) -> str:
    """Write ``source`` as ``<cache>/<hash[:2]>/<name>_<hash>.py`` unless it is already there."""
    digest = content_hash(source)
    folder = os.path.join(cache_dir(), digest[:2])
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}_{digest}.py")
    if not os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    used(path)
    return path


# Generated modules, by name. They stay out of sys.modules: a process compiles thousands of
# programs, and tools that walk sys.modules pay for each one (Hypothesis parses every local
# module's source for constants: 36 s in a test worker that had compiled a few thousand).
generated_modules: dict[str, ModuleType] = {}


def import_source(name: str, source: str) -> ModuleType:
    """Write ``source`` to the cache and import it as a module (imported once per process)."""
    path = write_source(name, source)
    module_name = "graphc_generated." + os.path.basename(path)[:-3]
    if module_name in generated_modules:
        return generated_modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated_modules[module_name] = module
    return module
