"""``graphc.save`` and ``graphc.load``: state dicts in a safe, documented file format.

A file is a zip archive (stored, not compressed) holding ``graphc.json``, an index
that describes the saved object, and one ``arrays/<n>.npy`` file per tensor or
array. Loading parses JSON and reads ``.npy`` files with ``allow_pickle=False``:
nothing in a file can run code, and files that contain pickles (``pickle.dump``,
``torch.save``, object arrays) are refused. ``docs/serialization.md`` specifies
the format.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import lazy
from graphc.frontend.constructors import as_array
from graphc.ir import dtypes
from graphc.runtime.tensor import Tensor

FORMAT = "graphc"
VERSION = 1
INDEX = "graphc.json"

# How each graphc dtype is stored in a .npy file (bfloat16 has no standard NumPy type: its bits are kept as uint16).
_STORAGE = {d.name: ("uint16" if d.name == "bfloat16" else np.dtype(d.numpy).name) for d in dtypes.ALL_DTYPES}
_ARRAY_KINDS = "biufc"  # plain numeric arrays; nothing that needs pickle


class _Writer:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps memoized objects alive so their ids stay unique

    def array(self, obj: Any, array: np.ndarray) -> int:
        key = id(obj)
        if key not in self.memo:
            self.memo[key] = len(self.arrays)
            self.arrays.append(np.asarray(array, order="C"))
            self.keep.append(obj)
        return self.memo[key]

    def encode(self, obj: Any, path: str) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            if math.isfinite(obj):
                return float(obj)
            return {"$float": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
        if isinstance(obj, Tensor):
            array = np.asarray(obj.numpy(), order="C")
            stored = array.view(np.uint16) if obj.dtype == dtypes.bfloat16 else array
            entry = {"id": self.array(obj, stored), "dtype": obj.dtype.name, "shape": list(array.shape)}
            if obj.requires_grad:
                entry["requires_grad"] = True
            return {"$tensor": entry}
        if _is_torch_tensor(obj):
            array = np.asarray(as_array(obj), order="C")
            dtype = dtypes.to_dtype(array.dtype)
            stored = array.view(np.uint16) if dtype == dtypes.bfloat16 else array
            entry = {"id": self.array(obj, stored), "dtype": dtype.name, "shape": list(array.shape)}
            if obj.requires_grad:
                entry["requires_grad"] = True
            return {"$tensor": entry}
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in _ARRAY_KINDS or obj.dtype.fields is not None:
                raise GraphcError(f"graphc.save: cannot store a NumPy array of dtype {obj.dtype} (at {path}); only numeric arrays")
            return {"$ndarray": {"id": self.array(obj, obj), "dtype": obj.dtype.str, "shape": list(obj.shape)}}
        if isinstance(obj, np.generic) and obj.dtype.kind in _ARRAY_KINDS:
            return self.encode(obj.item(), path)
        if isinstance(obj, dtypes.DType):
            return {"$dtype": obj.name}
        if isinstance(obj, bytes):
            return {"$bytes": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, Mapping):
            items = []
            for key, value in obj.items():
                if not (key is None or isinstance(key, (bool, int, float, str, tuple))):
                    raise GraphcError(f"graphc.save: dict keys must be strings, numbers, None or tuples, got {type(key).__name__} (at {path})")
                items.append([self.encode(key, f"{path} key"), self.encode(value, f"{path}[{key!r}]")])
            return {"$dict": items}
        raise GraphcError(
            f"graphc.save: cannot store an object of type {type(obj).__module__}.{type(obj).__qualname__} (at {path}); "
            "it stores tensors, NumPy arrays, numbers, strings, bytes, None, dtypes and lists, tuples and dicts of them"
        )


def _is_torch_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach") and hasattr(obj, "numpy")


def _collect_tensors(obj: Any, out: list[Tensor]) -> None:
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, Mapping):
        for value in obj.values():
            _collect_tensors(value, out)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect_tensors(value, out)


def save(obj: Any, f: str | os.PathLike | IO[bytes]) -> None:
    """Save ``obj`` (a state dict: nested dicts, lists and tuples of tensors, arrays, numbers, strings) to ``f``.

    ``f`` is a path or a binary file object. Tensors are saved with their dtype, shape and
    ``requires_grad`` flag; a tensor that appears twice is stored once and loads as one
    tensor. torch tensors are accepted and load as graphc tensors.
    """
    tensors: list[Tensor] = []
    _collect_tensors(obj, tensors)
    lazy.realize([t._node for t in tensors])  # one program for everything still pending
    writer = _Writer()
    root = writer.encode(obj, "obj")
    index = {"format": FORMAT, "version": VERSION, "object": root}
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                _write(out, index, writer.arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    else:
        _write(f, index, writer.arrays)


def _write(out: IO[bytes], index: dict[str, Any], arrays: list[np.ndarray]) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(INDEX, json.dumps(index, allow_nan=False))
        for i, array in enumerate(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(f"arrays/{i}.npy", buffer.getvalue())


# ---------------------------------------------------------------------- loading


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, device: str | None) -> None:
        self.archive = archive
        self.device = device
        self.names = set(archive.namelist())
        self.tensors: dict[int, Tensor] = {}
        self.ndarrays: dict[int, np.ndarray] = {}

    def read_array(self, entry: Any, expected_dtype: str | None) -> np.ndarray:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or not isinstance(entry.get("shape"), list):
            raise GraphcError(f"graphc.load: malformed array entry {entry!r}")
        name = f"arrays/{entry['id']}.npy"
        if name not in self.names:
            raise GraphcError(f"graphc.load: the file has no {name}")
        with self.archive.open(name) as member:
            try:
                array = np.lib.format.read_array(member, allow_pickle=False)
            except ValueError as error:
                raise GraphcError(f"graphc.load: refusing {name}: {error} (graphc files never contain pickles)") from None
        if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
            raise GraphcError(f"graphc.load: {name} has dtype {array.dtype}, which graphc files never contain")
        if expected_dtype is not None and (not isinstance(expected_dtype, str) or array.dtype.str != np.dtype(expected_dtype).str):
            raise GraphcError(f"graphc.load: {name} holds {array.dtype} but the index says {expected_dtype}")
        if list(array.shape) != entry["shape"]:
            raise GraphcError(f"graphc.load: {name} has shape {list(array.shape)} but the index says {entry['shape']}")
        return array

    def decode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict) or len(value) != 1:
            raise GraphcError(f"graphc.load: malformed value in the index: {str(value)[:80]}")
        ((tag, payload),) = value.items()
        if tag == "$tensor":
            key = payload.get("id") if isinstance(payload, dict) else None
            if key in self.tensors:
                return self.tensors[key]
            name = payload.get("dtype")
            if name not in _STORAGE:
                raise GraphcError(f"graphc.load: unknown tensor dtype {name!r}")
            array = self.read_array(payload, _STORAGE[name])
            if name == "bfloat16":
                array = array.view(dtypes.bfloat16.numpy)
            tensor = Tensor(array, requires_grad=bool(payload.get("requires_grad", False)))
            if self.device not in (None, "cpu"):
                tensor = tensor.to(self.device)
            self.tensors[key] = tensor
            return tensor
        if tag == "$ndarray":
            key = payload.get("id") if isinstance(payload, dict) else None
            if key not in self.ndarrays:
                self.ndarrays[key] = self.read_array(payload, payload.get("dtype"))
            return self.ndarrays[key]
        if tag == "$tuple" and isinstance(payload, list):
            return tuple(self.decode(v) for v in payload)
        if tag == "$dict" and isinstance(payload, list):
            result = {}
            for item in payload:
                if not isinstance(item, list) or len(item) != 2:
                    raise GraphcError("graphc.load: malformed dict entry in the index")
                result[self.decode(item[0])] = self.decode(item[1])
            return result
        if tag == "$float" and payload in ("nan", "inf", "-inf"):
            return float(payload)
        if tag == "$bytes" and isinstance(payload, str):
            return base64.b64decode(payload.encode("ascii"), validate=True)
        if tag == "$dtype" and payload in dtypes.BY_NAME:
            return dtypes.BY_NAME[payload]
        raise GraphcError(f"graphc.load: unknown entry {tag!r} in the index")


def load(f: str | os.PathLike | IO[bytes], map_location: str | None = None) -> Any:
    """Load an object saved by ``graphc.save``. Tensors come back as graphc tensors (on ``map_location``).

    Never unpickles: a file written by ``pickle`` or ``torch.save`` is refused with an
    explanation (read a torch checkpoint with ``torch.load(path, weights_only=True)`` and
    pass the result to ``load_state_dict``, which accepts torch tensors).
    """
    if map_location is not None and str(map_location).split(":")[0] not in ("cpu", "cuda"):
        raise GraphcError(f"graphc.load: map_location must be 'cpu' or 'cuda', got {map_location!r}")
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as file:
            return _load(file, map_location)
    return _load(f, map_location)


def _load(file: IO[bytes], device: str | None) -> Any:
    head = file.read(4)
    file.seek(0)
    if not head.startswith(b"PK"):
        if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}"):
            raise GraphcError("graphc.load: this file is a pickle (from pickle.dump or an old torch.save); graphc never unpickles files")
        raise GraphcError("graphc.load: not a graphc file (graphc files are zip archives written by graphc.save)")
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as error:
        raise GraphcError(f"graphc.load: not a graphc file: {error}") from None
    with archive:
        names = archive.namelist()
        if INDEX not in names:
            if any(n.endswith("data.pkl") for n in names):
                raise GraphcError(
                    "graphc.load: this is a torch.save file, which holds a pickle; graphc never unpickles files. "
                    "Load it with torch.load(path, weights_only=True) and pass the result to load_state_dict"
                )
            raise GraphcError(f"graphc.load: not a graphc file (no {INDEX} in the archive)")
        try:
            index = json.loads(archive.read(INDEX).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise GraphcError(f"graphc.load: the index is not valid JSON: {error}") from None
        if not isinstance(index, dict) or index.get("format") != FORMAT or "object" not in index:
            raise GraphcError("graphc.load: not a graphc file (the index has no graphc format marker)")
        if not isinstance(index.get("version"), int) or index["version"] > VERSION:
            raise GraphcError(f"graphc.load: the file has format version {index.get('version')}; this graphc reads up to {VERSION}")
        return _Reader(archive, device).decode(index["object"])
