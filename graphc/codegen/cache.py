"""The source cache: generated code lives in real files named by the hash of their content.

Triton's ``@jit`` reads the source of the functions it compiles, so kernels must
come from files on disk (``exec`` of a string only works under the interpreter).
Writing every backend's code the same way also lets a person open the code that
ran. Files are written atomically (temporary file, then rename), so processes
that share the cache never see half a file, and a second process reuses the file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from types import ModuleType


def cache_dir() -> str:
    default = os.path.join(os.path.expanduser("~"), ".cache", "graphc")
    path = os.environ.get("GRAPHC_CACHE_DIR", default)
    os.makedirs(path, exist_ok=True)
    return path


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
    return path


def import_source(name: str, source: str) -> ModuleType:
    """Write ``source`` to the cache and import it as a module (imported once per process)."""
    path = write_source(name, source)
    module_name = "graphc_generated." + os.path.basename(path)[:-3]
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
