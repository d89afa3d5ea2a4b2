"""graphc.data.IterableDataset through the DataLoader, and the loader's torch-compatible options, against torch.

The same stream class is built on graphc's and on torch's ``IterableDataset`` (a shared mixin), and
both loaders' batches are compared: values, dtypes, shapes and order, also with worker processes
(each worker iterates its own copy; ``get_worker_info()`` shards it).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from helpers import assert_matches

from graphc.data import ChainDataset, DataLoader, IterableDataset, TensorDataset, get_worker_info


class _Stream:
    """Samples ``(features, label)`` for ``start <= i < end``; with ``shard``, each worker takes every num_workers-th."""

    worker_info: Any

    def __init__(self, start: int, end: int, shard: bool = False) -> None:
        self.start, self.end, self.shard = start, end, shard

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        info = type(self).worker_info()
        first, step = self.start, 1
        if self.shard and info is not None:
            first, step = self.start + info.id, info.num_workers
        for i in range(first, self.end, step):
            yield np.array([i, i * 0.5], dtype=np.float32), i


class GStream(_Stream, IterableDataset):
    worker_info = staticmethod(get_worker_info)


class TStream(_Stream, tud.IterableDataset):
    worker_info = staticmethod(tud.get_worker_info)


class _SizedStream(_Stream):
    def __len__(self) -> int:
        return self.end - self.start


class GSized(_SizedStream, IterableDataset):
    worker_info = staticmethod(get_worker_info)


class TSized(_SizedStream, tud.IterableDataset):
    worker_info = staticmethod(tud.get_worker_info)


class _Broken:
    """Fails at its fourth sample."""

    def __iter__(self) -> Iterator[int]:
        for i in range(10):
            if i == 3:
                raise KeyError("sample 3 is broken")
            yield i


class GBroken(_Broken, IterableDataset):
    pass


def _compare(got: list[Any], expected: list[Any]) -> None:
    assert len(got) == len(expected), f"{len(got)} batches, torch gives {len(expected)}"
    for g, e in zip(got, expected):
        assert_matches(list(g) if isinstance(g, (list, tuple)) else g, list(e) if isinstance(e, (list, tuple)) else e)


@pytest.mark.parametrize("batch_size", [1, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_match_torch(batch_size: int, drop_last: bool) -> None:
    got = list(DataLoader(GStream(0, 10), batch_size=batch_size, drop_last=drop_last))
    expected = list(tud.DataLoader(TStream(0, 10), batch_size=batch_size, drop_last=drop_last))
    _compare(got, expected)


def test_unbatched_samples_match_torch() -> None:
    got = list(DataLoader(GStream(2, 6), batch_size=None))
    expected = list(tud.DataLoader(TStream(2, 6), batch_size=None))
    assert len(got) == len(expected) == 4
    for (gx, gy), (tx, ty) in zip(got, expected):
        assert_matches(gx, tx)
        assert gy == ty  # an int stays an int, as default_convert leaves it


def test_each_epoch_iterates_the_dataset_again() -> None:
    loader = DataLoader(GStream(0, 5), batch_size=2)
    first = [b[1].numpy().tolist() for b in loader]
    assert first == [b[1].numpy().tolist() for b in loader] == [[0, 1], [2, 3], [4]]


def test_len_is_a_type_error_without_dataset_len() -> None:
    with pytest.raises(TypeError) as expected:
        len(tud.DataLoader(TStream(0, 10), batch_size=3))
    with pytest.raises(TypeError) as got:
        len(DataLoader(GStream(0, 10), batch_size=3))
    assert str(got.value) == str(expected.value).replace("TStream", "GStream")


@pytest.mark.parametrize(("batch_size", "drop_last"), [(3, False), (3, True), (None, False), (5, True)])
def test_len_from_the_dataset_len_matches_torch(batch_size: int | None, drop_last: bool) -> None:
    got = len(DataLoader(GSized(0, 10), batch_size=batch_size, drop_last=drop_last))
    assert got == len(tud.DataLoader(TSized(0, 10), batch_size=batch_size, drop_last=drop_last))


def test_more_batches_than_len_said_warns_as_torch() -> None:
    loader = DataLoader(GSized(0, 4), batch_size=1, num_workers=2)  # each worker yields the 4 samples
    assert len(loader) == 4
    with pytest.warns(UserWarning, match="was reported to be 4"):
        batches = list(loader)
    assert len(batches) == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(GSized(0, 4), batch_size=1))  # no len() asked: no warning, as torch


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"shuffle": True}, "expected unspecified shuffle option"),
        ({"sampler": [0, 1]}, "expected unspecified sampler option"),
        ({"batch_sampler": [[0, 1]]}, "expected unspecified batch_sampler option"),
    ],
)
def test_sampling_options_are_refused_as_torch(option: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tud.DataLoader(TStream(0, 4), **option)
    with pytest.raises(ValueError, match=message):
        DataLoader(GStream(0, 4), **option)
    DataLoader(GStream(0, 4), shuffle=False)  # False is allowed, as torch (it used to be the default)


@pytest.mark.parametrize("shard", [False, True])
@pytest.mark.parametrize(("end", "batch_size", "drop_last"), [(10, 2, False), (11, 3, False), (11, 3, True), (7, 1, False)])
def test_workers_give_torchs_batches_in_torchs_order(shard: bool, end: int, batch_size: int, drop_last: bool) -> None:
    """Without sharding each worker yields the whole stream; with it, uneven shards run out at different batches."""
    got = list(DataLoader(GStream(0, end, shard), batch_size=batch_size, drop_last=drop_last, num_workers=2))
    expected = list(tud.DataLoader(TStream(0, end, shard), batch_size=batch_size, drop_last=drop_last, num_workers=2))
    _compare(got, expected)


@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")  # torch's, on a 2-core machine
def test_three_workers_unbatched_and_prefetch_factor_one() -> None:
    got = [int(y) for _, y in DataLoader(GStream(0, 8, shard=True), batch_size=None, num_workers=3, prefetch_factor=1)]
    expected = [int(y) for _, y in tud.DataLoader(TStream(0, 8, shard=True), batch_size=None, num_workers=3, prefetch_factor=1)]
    assert got == expected
    assert sorted(got) == list(range(8))


def test_get_worker_info_is_none_in_the_main_process() -> None:
    assert get_worker_info() is None
    labels = [b[1].numpy().tolist() for b in DataLoader(GStream(0, 4, shard=True), batch_size=4)]
    assert labels == [[0, 1, 2, 3]]  # not sharded: no worker


def test_worker_errors_are_raised_in_the_main_process() -> None:
    with pytest.raises(KeyError, match="sample 3 is broken"):
        list(DataLoader(GBroken(), batch_size=2, num_workers=2))
    with pytest.raises(KeyError, match="sample 3 is broken"):
        list(DataLoader(GBroken(), batch_size=2))


def test_chain_dataset_and_plus() -> None:
    chained = GStream(0, 3) + GStream(10, 12)
    assert isinstance(chained, ChainDataset)
    got = [b[1].numpy().tolist() for b in DataLoader(chained, batch_size=2)]
    expected = [b[1].tolist() for b in tud.DataLoader(TStream(0, 3) + TStream(10, 12), batch_size=2)]
    assert got == expected
    assert len(GSized(0, 3) + GSized(0, 4)) == 7


# ---------------------------------------------------------------------- loader options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"persistent_workers": True}, "persistent_workers option needs num_workers > 0"),
        ({"prefetch_factor": 2}, "prefetch_factor option could only be specified in multiprocessing"),
        ({"timeout": -1}, "timeout option should be non-negative"),
        ({"num_workers": -1}, "num_workers option should be non-negative"),
    ],
)
def test_option_validation_matches_torch(kwargs: dict[str, Any], message: str) -> None:
    features = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        tud.DataLoader(tud.TensorDataset(torch.from_numpy(features)), **kwargs)
    with pytest.raises(ValueError, match=message):
        DataLoader(TensorDataset(features), **kwargs)


def test_pin_memory_persistent_workers_and_timeout_give_the_same_batches() -> None:
    features = np.arange(24, dtype=np.float32).reshape(12, 2)
    labels = np.arange(12, dtype=np.int64)
    options = {"pin_memory": True, "pin_memory_device": "", "persistent_workers": True, "prefetch_factor": 3, "timeout": 30.0}
    loader = DataLoader(TensorDataset(features, labels), batch_size=5, num_workers=2, **options)
    assert (loader.pin_memory, loader.persistent_workers, loader.prefetch_factor, loader.timeout) == (True, True, 3, 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that there is no accelerator to pin memory for
        reference = tud.DataLoader(tud.TensorDataset(torch.from_numpy(features), torch.from_numpy(labels)), batch_size=5, num_workers=2, **options)
        expected = [list(reference), list(reference)]  # two epochs: persistent workers are reused
    for epoch in expected:
        _compare(list(loader), epoch)


def test_iterable_dataset_with_persistent_workers_restarts_each_epoch() -> None:
    loader = DataLoader(GStream(0, 5, shard=True), batch_size=2, num_workers=2, persistent_workers=True)
    reference = tud.DataLoader(TStream(0, 5, shard=True), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        _compare(list(loader), list(reference))
