"""graphc.save / graphc.load: round trips of tensors and nested structures; files with pickles are refused."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

import graphc
from graphc.errors import GraphcError
from graphc.ir.dtypes import ALL_DTYPES


def round_trip(obj: object) -> object:
    buffer = io.BytesIO()
    graphc.save(obj, buffer)
    buffer.seek(0)
    return graphc.load(buffer)


@pytest.mark.parametrize("dtype", [d.name for d in ALL_DTYPES])
def test_tensors_of_every_dtype(dtype: str, tmp_path: Path) -> None:
    values = np.array([[0, 1.5, -2.25], [3, 0, 1e3]])
    original = graphc.tensor(values).to(getattr(graphc, "bool" if dtype == "bool" else dtype))
    path = tmp_path / "t.gc"
    graphc.save({"t": original, "scalar": original[0, 1]}, path)
    loaded = graphc.load(path)
    assert loaded["t"].dtype == original.dtype and loaded["t"].shape == (2, 3)
    assert loaded["scalar"].shape == () and loaded["scalar"].dtype == original.dtype
    np.testing.assert_array_equal(loaded["t"].numpy().astype(np.float64), original.numpy().astype(np.float64))


def test_nested_structures_and_python_values() -> None:
    weight = graphc.randn(4, 3, dtype=graphc.float64, requires_grad=True)
    obj = {
        "model": OrderedDict([("fc.weight", weight), ("fc.bias", graphc.zeros(3))]),
        "tied": weight,
        3: [1, 2.5, float("nan"), float("inf"), -float("inf"), None, True, "text", b"\x00\xff"],
        (1, "a"): ({"deep": [graphc.arange(5)]}, ()),
        "array": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "numpy scalar": np.float32(0.5),
        "dtype": graphc.bfloat16,
        "big": 2**70,
    }
    back = round_trip(obj)
    assert list(back) == ["model", "tied", 3, (1, "a"), "array", "numpy scalar", "dtype", "big"]
    assert list(back["model"]) == ["fc.weight", "fc.bias"]
    np.testing.assert_array_equal(back["model"]["fc.weight"].numpy(), weight.numpy())
    assert back["model"]["fc.weight"].requires_grad and not back["model"]["fc.bias"].requires_grad
    assert back["tied"] is back["model"]["fc.weight"]  # stored once, loaded as one tensor
    values = back[3]
    assert values[:2] == [1, 2.5] and isinstance(values[0], int) and np.isnan(values[2])
    assert values[3:] == [float("inf"), -float("inf"), None, True, "text", b"\x00\xff"]
    inner, empty = back[(1, "a")]
    assert empty == () and inner["deep"][0].numpy().tolist() == [0, 1, 2, 3, 4]
    assert back["array"].dtype == np.uint8 and back["array"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["numpy scalar"] == 0.5 and back["dtype"] is graphc.bfloat16 and back["big"] == 2**70


def test_pending_tensors_and_torch_tensors_are_saved_by_value() -> None:
    x = graphc.ones(3) * 2 + 1  # still lazy
    back = round_trip({"x": x, "torch": torch.tensor([1.0, 2.0], dtype=torch.bfloat16)})
    np.testing.assert_array_equal(back["x"].numpy(), [3, 3, 3])
    assert back["torch"].dtype == graphc.bfloat16 and back["torch"].numpy().astype(np.float32).tolist() == [1.0, 2.0]


def test_the_file_is_a_zip_with_a_json_index_and_npy_arrays(tmp_path: Path) -> None:
    path = tmp_path / "f.gc"
    graphc.save({"w": graphc.ones(2, 2)}, str(path))
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["graphc.json", "arrays/0.npy"]
        index = json.loads(archive.read("graphc.json"))
        array = np.load(io.BytesIO(archive.read("arrays/0.npy")), allow_pickle=False)
    assert index == {"format": "graphc", "version": 1, "object": {"$dict": [["w", {"$tensor": {"id": 0, "dtype": "float32", "shape": [2, 2]}}]]}}
    assert array.dtype == np.float32 and array.shape == (2, 2)


def test_unsupported_objects_are_refused_with_their_place() -> None:
    with pytest.raises(GraphcError, match=r"cannot store an object of type .*Path.*obj\['a'\]\[1\]"):
        round_trip({"a": [1, Path("x")]})
    with pytest.raises(GraphcError, match="dtype object"):
        round_trip(np.array([None]))


class _Exploit:
    marker = ""

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def _exploit(marker: Path) -> _Exploit:
    exploit = _Exploit()
    exploit.marker = str(marker)
    return exploit


def test_a_pickle_is_refused_without_being_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"x": _exploit(marker)}))
    with pytest.raises(GraphcError, match="pickle"):
        graphc.load(raw)
    torch_file = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, torch_file)
    with pytest.raises(GraphcError, match="torch.save file"):
        graphc.load(torch_file)
    assert not marker.exists()


def test_a_pickle_inside_a_graphc_file_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.gc"
    graphc.save({"w": graphc.ones(2)}, path)
    evil = io.BytesIO()
    np.save(evil, np.array([_exploit(marker), 1], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path) as archive:
        index = archive.read("graphc.json")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("graphc.json", index)
        archive.writestr("arrays/0.npy", evil.getvalue())
    with pytest.raises(GraphcError, match="never contain pickles"):
        graphc.load(path)
    assert not marker.exists()


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.gc"
    path.write_bytes(b"hello")
    with pytest.raises(GraphcError, match="not a graphc file"):
        graphc.load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("graphc.json", json.dumps({"format": "graphc", "version": 1, "object": {"$tensor": {"id": 0, "dtype": "float32", "shape": [2]}}}))
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(3, dtype=np.float32))
        archive.writestr("arrays/0.npy", buffer.getvalue())
    with pytest.raises(GraphcError, match="shape"):
        graphc.load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("graphc.json", json.dumps({"format": "graphc", "version": 99, "object": None}))
    with pytest.raises(GraphcError, match="version 99"):
        graphc.load(path)


def test_save_to_a_path_replaces_the_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.gc"
    graphc.save({"step": 1}, path)
    graphc.save({"step": 2}, os.fspath(path))
    assert graphc.load(path) == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.gc"]
