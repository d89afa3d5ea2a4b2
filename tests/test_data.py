"""graphc.data: datasets, collation, the DataLoader with and without worker processes, random_split."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate, get_worker_info, random_split

N = 50
FEATURES = np.arange(N * 3, dtype=np.float32).reshape(N, 3)
LABELS = np.arange(N, dtype=np.int64)


def dataset() -> TensorDataset:
    return TensorDataset(graphc.tensor(FEATURES), LABELS)


def as_lists(loader: DataLoader) -> list[Any]:
    return [[t.numpy().tolist() for t in batch] for batch in loader]


class Squares(Dataset):
    """A dataset with dict samples, for collation of nested structures through workers."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> dict[str, Any]:
        info = get_worker_info()
        return {"x": np.full(2, i, dtype=np.float64), "y": i * i, "name": f"s{i}", "worker": -1 if info is None else info.id}


class Failing(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> int:
        if i == 5:
            raise KeyError("sample 5 is broken")
        return i


def test_tensor_dataset_samples() -> None:
    ds = dataset()
    assert len(ds) == N
    x, y = ds[7]
    assert isinstance(x, graphc.Tensor) and x.shape == (3,) and x.dtype == graphc.float32
    assert y.shape == () and y.dtype == graphc.int64 and y.item() == 7
    np.testing.assert_array_equal(x.numpy(), FEATURES[7])
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


@pytest.mark.parametrize("drop_last, expected_batches, last_size", [(False, 7, 2), (True, 6, 8)])
def test_batch_count_and_shapes(drop_last: bool, expected_batches: int, last_size: int) -> None:
    loader = DataLoader(dataset(), batch_size=8, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(batches) == expected_batches
    for i, (x, y) in enumerate(batches):
        size = last_size if i == len(batches) - 1 else 8
        assert x.shape == (size, 3) and y.shape == (size,)
        assert x.dtype == graphc.float32 and y.dtype == graphc.int64
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), LABELS[: 48 if drop_last else N])


def test_fast_tensor_dataset_path_equals_collating_samples() -> None:
    fast = as_lists(DataLoader(dataset(), batch_size=8, shuffle=True, seed=3))
    slow = as_lists(DataLoader(dataset(), batch_size=8, shuffle=True, seed=3, collate_fn=lambda b: default_collate(b)))
    assert fast == slow


def test_shuffle_is_reproducible_from_a_seed() -> None:
    first = DataLoader(dataset(), batch_size=8, shuffle=True, seed=123)
    epoch1, epoch2 = as_lists(first), as_lists(first)
    assert epoch1 != epoch2  # each epoch is shuffled anew
    again = DataLoader(dataset(), batch_size=8, shuffle=True, generator=123)
    assert as_lists(again) == epoch1 and as_lists(again) == epoch2
    labels = sorted(v for batch in epoch1 for v in batch[1])
    assert labels == list(range(N))
    assert epoch1 != as_lists(DataLoader(dataset(), batch_size=8, shuffle=True, seed=124))


def test_shuffle_with_numpy_and_global_generators() -> None:
    a = as_lists(DataLoader(dataset(), batch_size=8, shuffle=True, generator=np.random.default_rng(7)))
    b = as_lists(DataLoader(dataset(), batch_size=8, shuffle=True, generator=np.random.default_rng(7)))
    assert a == b
    graphc.manual_seed(11)
    c = as_lists(DataLoader(dataset(), batch_size=8, shuffle=True))
    graphc.manual_seed(11)
    d = as_lists(DataLoader(dataset(), batch_size=8, shuffle=True))
    assert c == d


def test_shuffle_with_a_torch_generator_matches_torch() -> None:
    ours = DataLoader(TensorDataset(LABELS), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5))
    torch_dataset = torch.utils.data.TensorDataset(torch.tensor(LABELS))
    theirs = torch.utils.data.DataLoader(torch_dataset, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(5))
    for _ in range(2):
        assert [b[0].numpy().tolist() for b in ours] == [b[0].tolist() for b in theirs]


def test_two_workers_give_the_same_batches_as_none() -> None:
    single = DataLoader(dataset(), batch_size=8, shuffle=True, seed=9)
    multi = DataLoader(dataset(), batch_size=8, shuffle=True, seed=9, num_workers=2)
    assert len(multi) == 7
    assert as_lists(multi) == as_lists(single)
    batches = list(DataLoader(dataset(), batch_size=8, num_workers=2, drop_last=True))
    assert len(batches) == 6 and all(isinstance(x, graphc.Tensor) and x.shape == (8, 3) for x, _ in batches)


def test_workers_collate_dicts_and_report_their_id() -> None:
    batches = list(DataLoader(Squares(), batch_size=4, num_workers=2))
    assert [b["y"].numpy().tolist() for b in batches] == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]]
    assert batches[0]["name"] == ["s0", "s1", "s2", "s3"]
    assert batches[1]["x"].shape == (4, 2) and batches[1]["x"].dtype == graphc.float64
    assert [b["worker"].numpy().tolist() for b in batches] == [[0] * 4, [1] * 4, [0] * 2]


def test_worker_errors_are_raised_in_the_main_process() -> None:
    with pytest.raises(KeyError, match="sample 5 is broken"):
        list(DataLoader(Failing(), batch_size=2, num_workers=2))


def test_default_collate_of_tuples_dicts_and_numbers() -> None:
    Point = namedtuple("Point", "x y")
    batch = [
        {"a": 1.0, "b": (np.ones(2, dtype=np.float32), 3), "c": "u", "p": Point(1, True)},
        {"a": 2.5, "b": (np.zeros(2, dtype=np.float32), 4), "c": "v", "p": Point(2, False)},
    ]
    out = default_collate(batch)
    assert out["a"].dtype == graphc.float64 and out["a"].numpy().tolist() == [1.0, 2.5]
    assert isinstance(out["b"], list) and len(out["b"]) == 2  # tuples collate into lists, as in torch
    assert out["b"][0].shape == (2, 2) and out["b"][0].dtype == graphc.float32
    assert out["b"][1].dtype == graphc.int64 and out["b"][1].numpy().tolist() == [3, 4]
    assert out["c"] == ["u", "v"]
    assert isinstance(out["p"], Point) and out["p"].y.dtype == graphc.bool
    stacked = default_collate([graphc.tensor([1.0, 2.0]), graphc.tensor([3.0, 4.0]) * 2])
    np.testing.assert_array_equal(stacked.numpy(), [[1, 2], [6, 8]])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1,)])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([np.ones(2), np.ones(3)])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])


def test_collate_fn_and_unbatched_loading() -> None:
    loader = DataLoader(dataset(), batch_size=5, collate_fn=lambda samples: len(samples))
    assert list(loader) == [5] * 10
    unbatched = list(DataLoader(Squares(), batch_size=None))
    assert len(unbatched) == 10 and unbatched[3]["y"] == 9 and isinstance(unbatched[3]["x"], graphc.Tensor)


def test_sampler_and_batch_sampler() -> None:
    sampled = as_lists(DataLoader(dataset(), batch_size=2, sampler=[4, 2, 9]))
    assert [b[1] for b in sampled] == [[4, 2], [9]]
    grouped = as_lists(DataLoader(dataset(), batch_sampler=[[1, 3], [5]]))
    assert [b[1] for b in grouped] == [[1, 3], [5]]
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(dataset(), sampler=[1], shuffle=True)


def test_random_split_lengths_and_disjointness() -> None:
    ds = dataset()
    parts = random_split(ds, [30, 15, 5], generator=0)
    assert [len(p) for p in parts] == [30, 15, 5]
    indices = [set(p.indices) for p in parts]
    assert not (indices[0] & indices[1]) and not (indices[0] & indices[2]) and not (indices[1] & indices[2])
    assert set().union(*indices) == set(range(N))
    assert random_split(ds, [30, 15, 5], generator=0)[0].indices == parts[0].indices
    fractions = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(1))
    assert [len(p) for p in fractions] == [25, 15, 10]
    uneven = random_split(Subset(ds, list(range(7))), [0.5, 0.5], generator=2)
    assert [len(p) for p in uneven] == [4, 3]  # the remainder goes to the first split, as in torch
    x, y = parts[1][0]
    assert y.item() == parts[1].indices[0] and x.shape == (3,)
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [10, 10])
    tg = torch.Generator().manual_seed(3)
    expected = [list(s.indices) for s in torch.utils.data.random_split(range(N), [20, 30], generator=tg)]
    assert [p.indices for p in random_split(ds, [20, 30], generator=torch.Generator().manual_seed(3))] == expected


def test_subset_and_concat_datasets() -> None:
    ds = dataset()
    subset = Subset(ds, [10, 3])
    assert len(subset) == 2 and subset[1][1].item() == 3
    both = ConcatDataset([subset, Subset(ds, [7])])
    assert len(both) == 3 and both[2][1].item() == 7 and both[-3][1].item() == 10
    loader = DataLoader(ds + ds, batch_size=40)
    assert [b[1].shape[0] for b in loader] == [40, 40, 20]


def test_leaving_an_epoch_early_stops_the_workers() -> None:
    iterator = iter(DataLoader(dataset(), batch_size=2, num_workers=2))
    first = next(iterator)
    assert first[1].numpy().tolist() == [0, 1]
    workers = list(iterator._workers)
    del iterator
    for worker in workers:
        worker.join(timeout=10)
        assert not worker.is_alive()
