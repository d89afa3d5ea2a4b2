"""graphc.nn.utils.prune against torch.nn.utils.prune on the same weights: masks, the weight_orig /
weight_mask layout, forward pre-hook values and gradients, iterative and global pruning, remove,
a pruned module in a compiled training step, and the random methods' statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.utils.prune as tprune
from helpers import assert_matches, data

import graphc
import graphc.nn.utils.prune as gprune


def _distinct(*shape: int) -> np.ndarray:
    """Weights whose magnitudes (and channel norms) are all different: torch's topk then has no ties to break."""
    values = (np.random.default_rng(7).permutation(int(np.prod(shape))) + 1.0) / 10.0
    signs = np.where(np.random.default_rng(8).random(values.shape) < 0.5, -1.0, 1.0)
    return (values * signs).reshape(shape).astype(np.float32)


def _linear_pair(shape: tuple[int, int] = (5, 4)) -> tuple[graphc.nn.Linear, torch.nn.Linear]:
    t = torch.nn.Linear(shape[1], shape[0])
    g = graphc.nn.Linear(shape[1], shape[0])
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(_distinct(*shape)))
    g.load_state_dict(t.state_dict())
    return g, t


def _conv_pair() -> tuple[graphc.nn.Conv2d, torch.nn.Conv2d]:
    t = torch.nn.Conv2d(3, 4, 2)
    g = graphc.nn.Conv2d(3, 4, 2)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(_distinct(4, 3, 2, 2)))
    g.load_state_dict(t.state_dict())
    return g, t


def _assert_same_pruning(g: graphc.nn.Module, t: torch.nn.Module, name: str = "weight") -> None:
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(g.state_dict()) == list(t.state_dict())
    assert_matches(getattr(g, name + "_mask"), getattr(t, name + "_mask"))
    assert_matches(getattr(g, name), getattr(t, name))


def test_l1_unstructured_matches_torch_masks_layout_values_and_gradients(backend: str) -> None:
    g, t = _linear_pair()
    gprune.l1_unstructured(g, "weight", amount=0.4)
    tprune.l1_unstructured(t, "weight", amount=0.4)
    _assert_same_pruning(g, t)
    assert gprune.is_pruned(g) and not gprune.is_pruned(graphc.nn.Linear(2, 2))
    x = data(3, 4)
    g_out, t_out = g(graphc.tensor(x)), t(torch.from_numpy(x))
    assert_matches(g_out, t_out)
    g_out.sum().backward()
    t_out.sum().backward()
    assert_matches(g.weight_orig.grad, t.weight_orig.grad)  # pruned entries get no gradient


@pytest.mark.parametrize("amount", [3, 0.0, 1.0])
def test_l1_unstructured_amount_as_count_or_fraction(amount: float) -> None:
    g, t = _linear_pair()
    gprune.l1_unstructured(g, "weight", amount=amount)
    tprune.l1_unstructured(t, "weight", amount=amount)
    _assert_same_pruning(g, t)


def test_l1_unstructured_by_importance_scores() -> None:
    g, t = _linear_pair()
    scores = _distinct(5, 4)[::-1, 0].copy()
    gprune.l1_unstructured(g, "bias", amount=2, importance_scores=graphc.tensor(scores))
    tprune.l1_unstructured(t, "bias", amount=2, importance_scores=torch.from_numpy(scores))
    _assert_same_pruning(g, t, "bias")


@pytest.mark.parametrize("n, dim", [(1, 0), (2, 1), (float("inf"), -1), (float("-inf"), 1)])
def test_ln_structured_matches_torch(n: float | str, dim: int) -> None:
    g, t = _conv_pair()
    gprune.ln_structured(g, "weight", amount=0.5, n=n, dim=dim)
    tprune.ln_structured(t, "weight", amount=0.5, n=n, dim=dim)
    _assert_same_pruning(g, t)


def test_iterative_pruning_combines_masks_like_torch() -> None:
    g, t = _conv_pair()
    mask = np.arange(48).reshape(4, 3, 2, 2) % 5 != 0
    for prune, module, custom in ((gprune, g, graphc.tensor(mask)), (tprune, t, torch.from_numpy(mask))):
        prune.l1_unstructured(module, "weight", amount=0.25)
        prune.ln_structured(module, "weight", amount=1, n=2, dim=0)
        prune.l1_unstructured(module, "weight", amount=5)
        prune.custom_from_mask(module, "weight", mask=custom)
    _assert_same_pruning(g, t)
    hooks = [h for h in g._forward_pre_hooks.values() if isinstance(h, gprune.BasePruningMethod)]
    assert len(hooks) == 1 and isinstance(hooks[0], gprune.PruningContainer) and len(hooks[0]) == 4


def test_global_unstructured_and_identity_match_torch() -> None:
    (g1, t1), (g2, t2) = _linear_pair((5, 4)), _linear_pair((3, 5))
    with torch.no_grad():
        t2.weight.mul_(0.5)
    g2.load_state_dict(t2.state_dict())
    gprune.identity(g2, "bias")
    tprune.identity(t2, "bias")
    gprune.global_unstructured([(g1, "weight"), (g2, "weight"), (g2, "bias")], gprune.L1Unstructured, amount=0.5)
    tprune.global_unstructured([(t1, "weight"), (t2, "weight"), (t2, "bias")], tprune.L1Unstructured, amount=0.5)
    _assert_same_pruning(g1, t1)
    _assert_same_pruning(g2, t2)
    _assert_same_pruning(g2, t2, "bias")
    with pytest.raises(TypeError, match="unstructured"):
        gprune.global_unstructured([(g1, "weight")], gprune.LnStructured, amount=1, n=2, dim=0)


def test_remove_makes_the_pruning_permanent() -> None:
    g, t = _linear_pair()
    gprune.l1_unstructured(g, "weight", amount=0.5)
    tprune.l1_unstructured(t, "weight", amount=0.5)
    gprune.remove(g, "weight")
    tprune.remove(t, "weight")
    assert list(g.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert isinstance(g.weight, graphc.nn.Parameter) and not gprune.is_pruned(g)
    assert_matches(g.weight, t.weight)
    with pytest.raises(ValueError, match="has to be pruned"):
        gprune.remove(g, "weight")


def test_a_pruned_module_compiles_into_a_training_step(backend: str) -> None:
    g, t = _linear_pair((3, 4))
    gprune.l1_unstructured(g, "weight", amount=0.5)
    tprune.l1_unstructured(t, "weight", amount=0.5)
    g_opt, t_opt = graphc.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(t.parameters(), lr=0.1)

    @graphc.compile
    def step(x: graphc.Tensor) -> graphc.Tensor:
        g_opt.zero_grad()
        loss = (g(x) ** 2).mean()
        loss.backward()
        g_opt.step()
        return loss

    for _ in range(3):
        x = data(2, 4)
        t_opt.zero_grad()
        t_loss = (t(torch.from_numpy(x)) ** 2).mean()
        t_loss.backward()
        t_opt.step()
        assert_matches(step(graphc.tensor(x)), t_loss)
    assert_matches(g.weight_orig, t.weight_orig)
    assert_matches(g.weight, t.weight)  # the attribute the hook set in the last compiled call
    assert step.trace_count == 1


def test_l1_unstructured_prunes_the_lowest_indices_among_equal_magnitudes() -> None:
    """torch's topk breaks ties by its partial sort; graphc prunes the lowest flat indices (docs/decisions.md)."""
    weights = np.array([[1.0, -1.0, 2.0, 1.0], [0.5, 1.0, -0.5, 3.0]], dtype=np.float32)
    g, t = graphc.nn.Linear(4, 2), torch.nn.Linear(4, 2)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(weights))
    g.load_state_dict(t.state_dict())
    gprune.l1_unstructured(g, "weight", amount=4)
    tprune.l1_unstructured(t, "weight", amount=4)
    g_mask, t_mask = g.weight_mask.numpy(), t.weight_mask.numpy()
    assert g_mask.sum() == t_mask.sum() == 4
    assert sorted(np.abs(weights[g_mask == 0])) == sorted(np.abs(weights[t_mask == 0])) == [0.5, 0.5, 1.0, 1.0]
    np.testing.assert_array_equal(g_mask, [[0, 0, 1, 1], [0, 1, 0, 1]])


def test_random_unstructured_prunes_each_entry_with_equal_probability() -> None:
    graphc.manual_seed(0)
    trials, size, amount = 300, 10, 3
    counts = np.zeros(size)
    for _ in range(trials):
        module = graphc.nn.Linear(size, 1)
        gprune.random_unstructured(module, "weight", amount=amount)
        mask = module.weight_mask.numpy().reshape(-1)
        assert mask.sum() == size - amount and set(np.unique(mask)) <= {0.0, 1.0}
        counts += 1 - mask
    # each entry is pruned with probability 0.3: within 5 binomial standard deviations of it
    assert np.all(np.abs(counts / trials - 0.3) < 5 * np.sqrt(0.3 * 0.7 / trials)), counts
    # pruned again, it prunes among the kept entries only
    gprune.random_unstructured(module, "weight", amount=0.5)
    assert module.weight_mask.numpy().sum() == 3 and np.all(module.weight_mask.numpy().reshape(-1)[mask == 0] == 0)


def test_random_structured_prunes_whole_channels() -> None:
    graphc.manual_seed(1)
    pruned = np.zeros(4)
    for _ in range(40):
        module = graphc.nn.Conv2d(3, 4, 2)
        gprune.random_structured(module, "weight", amount=0.5, dim=0)
        channel_kept = module.weight_mask.numpy().reshape(4, -1)
        assert np.all((channel_kept == 0).all(axis=1) | (channel_kept == 1).all(axis=1))
        assert (channel_kept[:, 0] == 0).sum() == 2
        pruned += channel_kept[:, 0] == 0
    assert pruned.min() > 5  # every channel gets pruned now and then (each in half the draws)


def test_bad_amounts_and_dims_are_refused_as_torch_does() -> None:
    g, _ = _linear_pair()
    with pytest.raises(ValueError, match="float in the range"):
        gprune.l1_unstructured(g, "weight", amount=1.5)
    with pytest.raises(ValueError, match="smaller than the number of parameters"):
        gprune.l1_unstructured(g, "weight", amount=21)
    assert "weight" in dict(g.named_parameters())  # a failed pruning leaves the parameter in place
    with pytest.raises(ValueError, match="multidimensional"):
        gprune.ln_structured(g, "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index"):
        gprune.random_structured(g, "weight", amount=1, dim=2)
