"""nn.ParameterList and nn.ParameterDict against torch's: registration names, indexing, mutation, repr, training.

Each test builds the same container in both libraries from the same NumPy data and compares what a
user sees: ``parameters()``/``named_parameters()``/``state_dict()`` keys and values, items, lengths,
errors and ``repr`` (with ``torch`` read as ``graphc`` and torch's legacy type names as graphc's dtypes).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data

import graphc
from graphc import nn

A = data(2, 3)
B = data(4)
C = data(3, 1, dtype="float64")


def both_lists(values: list[np.ndarray]) -> tuple[nn.ParameterList, torch.nn.ParameterList]:
    """The same ParameterList in both libraries: the first value as a Parameter, the others as plain tensors."""
    g = nn.ParameterList([nn.Parameter(graphc.tensor(values[0])), *(graphc.tensor(v) for v in values[1:])])
    t = torch.nn.ParameterList([torch.nn.Parameter(torch.from_numpy(values[0].copy())), *(torch.from_numpy(v.copy()) for v in values[1:])])
    return g, t


def torch_repr_as_graphc(text: str) -> str:
    return text.replace("torch.FloatTensor", "torch.float32").replace("torch.DoubleTensor", "torch.float64").replace("torch.", "graphc.")


def assert_same_state(got: nn.Module, expected: torch.nn.Module) -> None:
    assert [n for n, _ in got.named_parameters()] == [n for n, _ in expected.named_parameters()]
    assert list(got.state_dict()) == list(expected.state_dict())
    for g, t in zip(got.parameters(), expected.parameters()):
        assert isinstance(g, nn.Parameter)
        assert_matches(g, t)
    assert len(list(got.parameters())) == len(list(expected.parameters()))


# ---------------------------------------------------------------------- ParameterList


def test_list_registers_tensors_as_parameters_like_torch() -> None:
    g, t = both_lists([A, B, C])
    assert_same_state(g, t)
    assert len(g) == len(t) == 3
    for gp, tp in zip(g, t):
        assert_matches(gp, tp)


def test_list_indexing_negative_indices_and_slices() -> None:
    g, t = both_lists([A, B, C])
    assert_matches(g[-1], t[-1])
    assert g[1] is list(g.parameters())[1]
    sliced_g, sliced_t = g[1:], t[1:]
    assert isinstance(sliced_g, nn.ParameterList)
    assert_same_state(sliced_g, sliced_t)
    assert sliced_g[0] is g[1]  # the same parameters, not copies, as torch
    assert len(g[::2]) == len(t[::2]) == 2
    with pytest.raises(IndexError, match="index 3 is out of range"):
        t[3]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        g[3]
    with pytest.raises(IndexError, match="index -4 is out of range"):
        g[-4]


def test_list_append_extend_iadd_and_setitem() -> None:
    g, t = both_lists([A])
    assert g.append(graphc.tensor(B)) is g
    t.append(torch.from_numpy(B.copy()))
    g.extend([graphc.tensor(C)])
    t.extend([torch.from_numpy(C.copy())])
    g += [nn.Parameter(graphc.tensor(A))]
    t += [torch.nn.Parameter(torch.from_numpy(A.copy()))]
    g[0] = graphc.tensor(C)  # a plain tensor replacing an item becomes a Parameter too
    t[0] = torch.from_numpy(C.copy())
    assert_same_state(g, t)
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Tensor"):
        g.extend(graphc.tensor(A))
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable, but got Tensor"):
        t.extend(torch.from_numpy(A))


def test_list_keeps_other_objects_outside_parameters() -> None:
    g, t = both_lists([A])
    g.append("a string")
    t.append("a string")
    assert g[1] == t[1] == "a string"
    assert len(g) == len(t) == 2
    assert_same_state(g, t)
    assert repr(g) == torch_repr_as_graphc(repr(t))


def test_list_repr_and_call_match_torch() -> None:
    g, t = both_lists([A, C])
    assert repr(g) == torch_repr_as_graphc(repr(t))
    assert repr(nn.ParameterList()) == repr(torch.nn.ParameterList()) == "ParameterList()"
    with pytest.raises(RuntimeError, match="ParameterList should not be called."):
        g(graphc.tensor(A))
    assert "0" not in dir(g) and "append" in dir(g)


# ---------------------------------------------------------------------- ParameterDict


def both_dicts(items: dict[str, np.ndarray]) -> tuple[nn.ParameterDict, torch.nn.ParameterDict]:
    g = nn.ParameterDict({k: graphc.tensor(v) for k, v in items.items()})
    t = torch.nn.ParameterDict({k: torch.from_numpy(v.copy()) for k, v in items.items()})
    return g, t


def test_dict_from_a_plain_dict_is_sorted_as_torch() -> None:
    g, t = both_dicts({"w": A, "b": B, "a": C})
    assert list(g) == list(t) == ["a", "b", "w"]
    assert_same_state(g, t)


@pytest.mark.parametrize("make", [OrderedDict, list], ids=["ordered_dict", "pairs"])
def test_dict_from_ordered_items_keeps_their_order(make: Any) -> None:
    items = [("w", A), ("b", B), ("a", C)]
    g = nn.ParameterDict(make([(k, graphc.tensor(v)) for k, v in items]))
    t = torch.nn.ParameterDict(make([(k, torch.from_numpy(v.copy())) for k, v in items]))
    assert list(g.keys()) == list(t.keys()) == ["w", "b", "a"]
    assert_same_state(g, t)


def test_dict_mapping_methods_match_torch() -> None:
    g, t = both_dicts({"w": A, "b": B})
    for lib, d in (("g", g), ("t", t)):
        new = graphc.tensor(C) if lib == "g" else torch.from_numpy(C.copy())
        d["c"] = new
        assert "c" in d and "z" not in d
        assert d.get("z") is None
        d.setdefault("x", None)
    assert list(g) == list(t) == ["b", "w", "c", "x"]
    assert g["x"] is None and "x" not in dict(g.named_parameters())
    assert_same_state(g, t)
    assert_matches(g.pop("w"), t.pop("w"))
    assert list(reversed(g)) == list(reversed(t))
    gk, gv = g.popitem()
    tk, tv = t.popitem()
    assert gk == tk == "x" and gv is None and tv is None
    del g["b"]
    del t["b"]
    assert_same_state(g, t)
    assert [k for k, _ in g.items()] == [k for k, _ in t.items()] == ["c"]
    assert len(list(g.values())) == len(g) == len(t) == 1
    g.clear()
    t.clear()
    assert len(g) == len(t) == 0 and list(g.state_dict()) == list(t.state_dict()) == []


def test_dict_copy_union_and_fromkeys() -> None:
    g, t = both_dicts({"w": A})
    g2, t2 = both_dicts({"b": B})
    assert_same_state(g | g2, t | t2)
    copied = g.copy()
    assert copied["w"] is g["w"]  # the same parameter objects, as torch
    g |= g2
    t |= t2
    assert_same_state(g, t)
    assert list(g.fromkeys(["p", "q"])) == list(t.fromkeys(["p", "q"])) == ["p", "q"]


def test_dict_errors_match_torch() -> None:
    g, t = both_dicts({"w": A})
    for d in (g, t):
        with pytest.raises(TypeError, match="not a string \\(type is 'int'\\)"):
            d[1] = None
        with pytest.raises(AttributeError, match="'ParameterDict' object has no attribute 'missing'"):
            d["missing"]  # torch's quirk: items are attributes
        with pytest.raises(ValueError, match="element #0 has length 3; 2 is required"):
            d.update([("a", None, None)])
        with pytest.raises(TypeError, match="ParametersDict.update should be called with an iterable"):
            d.update(3)
    with pytest.raises(RuntimeError, match="ParameterDict should not be called."):
        g(graphc.tensor(A))


def test_dict_repr_matches_torch() -> None:
    g, t = both_dicts({"w": A, "c": C})
    g["s"] = "text"
    t["s"] = "text"
    assert repr(g) == torch_repr_as_graphc(repr(t))
    assert repr(nn.ParameterDict()) == repr(torch.nn.ParameterDict()) == "ParameterDict()"


# ---------------------------------------------------------------------- inside a model


class GModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ParameterList([nn.Parameter(graphc.tensor(A.astype(np.float64))), nn.Parameter(graphc.tensor(A.T.astype(np.float64)))])
        self.scales = nn.ParameterDict({"out": nn.Parameter(graphc.tensor(np.float64(1.5)))})

    def forward(self, x: Any) -> Any:
        return (x @ self.layers[0].T @ self.layers[1].T).tanh().sum() * self.scales["out"]


class TModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        weights = [A.astype(np.float64), A.T.astype(np.float64)]
        self.layers = torch.nn.ParameterList([torch.nn.Parameter(torch.from_numpy(w.copy())) for w in weights])
        self.scales = torch.nn.ParameterDict({"out": torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float64))})

    def forward(self, x: Any) -> Any:
        return (x @ self.layers[0].T @ self.layers[1].T).tanh().sum() * self.scales["out"]


def test_model_state_dict_gradients_and_load_match_torch() -> None:
    g, t = GModel(), TModel()
    assert_same_state(g, t)
    assert list(g.state_dict()) == ["layers.0", "layers.1", "scales.out"]
    x = data(5, 3, dtype="float64")
    g_loss = g(graphc.tensor(x))
    t_loss = t(torch.from_numpy(x))
    g_loss.backward()
    t_loss.backward()
    assert_matches(g_loss, t_loss.detach())
    for gp, tp in zip(g.parameters(), t.parameters()):
        assert_matches(gp.grad, tp.grad)
    with torch.no_grad():
        for p in t.parameters():
            p.mul_(2.0)
    g.load_state_dict(t.state_dict())
    assert_same_state(g, t)


def test_optimizer_and_compile_see_the_contained_parameters() -> None:
    g, t = GModel(), TModel()
    x = data(5, 3, dtype="float64")
    g_opt = graphc.optim.SGD(g.parameters(), lr=0.1)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.1)

    @graphc.compile
    def g_step(inputs: graphc.Tensor) -> graphc.Tensor:
        g_opt.zero_grad()
        loss = g(inputs)
        loss.backward()
        g_opt.step()
        return loss

    for _ in range(2):
        g_step(graphc.tensor(x))
        t_opt.zero_grad()
        t(torch.from_numpy(x)).backward()
        t_opt.step()
    assert_same_state(g, t)
