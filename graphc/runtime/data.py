"""Datasets and the ``DataLoader`` (``graphc.data``), with the interface of ``torch.utils.data``.

Batches are realized graphc tensors (input leaves holding NumPy arrays), so a
training step reads them without recomputing anything.

Shuffling and ``random_split`` draw from a random generator chosen by the
``generator`` argument (``DataLoader`` also takes ``seed=``):

- ``None``: graphc's global generator, reset by ``graphc.manual_seed``;
- an ``int``: a private ``numpy.random.default_rng(seed)`` made once, so every run
  with the same seed sees the same sequence of epochs (each epoch is shuffled
  differently, and the sequence repeats from run to run);
- a ``numpy.random.Generator`` (``graphc.manual_seed`` returns the global one) or a
  ``numpy.random.RandomState``: used as it is, and advanced;
- a ``torch.Generator``: permutations come from ``torch.randperm``, so the order is
  the one ``torch.utils.data.DataLoader`` gives with an equally seeded generator.

Each epoch first draws a base seed from that generator (as torch does, whatever
``num_workers`` is, so the order does not depend on it); worker ``i`` seeds
graphc's global generator, NumPy's legacy global generator and Python's
``random`` with ``base_seed + i``.

Worker processes (``num_workers > 0``) use the default ``multiprocessing`` start
method (or ``multiprocessing_context``). Each worker fetches and collates whole
batches; tensors cross the process boundary as NumPy arrays and become graphc
tensors again in the main process. Batches come back in order.

An ``IterableDataset`` is iterated, not indexed: each batch is the next
``batch_size`` samples of ``iter(dataset)``. With workers, every worker iterates
its own copy of the dataset (so each sample comes once per worker unless
``__iter__`` shards by ``get_worker_info()``), and batches are taken from the
workers in turn, skipping a worker once its iterator is exhausted, as torch does.

``pin_memory`` and ``pin_memory_device`` are accepted and change nothing: batches
are NumPy-backed CPU tensors, and moving them to a device is the model's ``to()``.
``persistent_workers=True`` is accepted (and, as in torch, needs ``num_workers > 0``),
but workers are still started for each epoch: what a worker keeps between epochs
(its copy of the dataset, ``worker_init_fn`` having run once) is not kept.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import multiprocessing
import os
import pickle
import queue
import random as py_random
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from graphc.frontend import lazy
from graphc.frontend.constructors import as_array
from graphc.runtime import random as graphc_random
from graphc.runtime.tensor import Tensor

T_co = TypeVar("T_co", covariant=True)

__all__ = [
    "Dataset",
    "IterableDataset",
    "ChainDataset",
    "TensorDataset",
    "Subset",
    "ConcatDataset",
    "DataLoader",
    "random_split",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "WorkerInfo",
]


# ---------------------------------------------------------------------- datasets


class Dataset(Generic[T_co]):
    """A map-style dataset: ``__getitem__(index)`` and usually ``__len__``."""

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """An iterable-style dataset: ``__iter__`` yields the samples (a stream, a file read in order, ...).

    A ``DataLoader`` iterates it instead of indexing it, so it takes no ``shuffle``, ``sampler``
    or ``batch_sampler``; ``__len__`` is optional (``len(loader)`` needs it).
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class ChainDataset(IterableDataset[T_co]):
    """Several iterable datasets one after the other, chained lazily (what ``a + b`` gives)."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[T_co]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            total += len(d)  # type: ignore[arg-type]
        return total


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.numpy()
    return as_array(value)


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Samples are the rows of tensors with the same first dimension: ``dataset[i] == (t[i] for t in tensors)``.

    Accepts graphc tensors, NumPy arrays and torch tensors; they are realized once, here.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor._constant(as_array(t)) for t in tensors)
        lazy.realize([t._node for t in self.tensors])
        self._arrays = [_as_array(t) for t in self.tensors]
        if any(a.ndim == 0 for a in self._arrays) or any(len(a) != len(self._arrays[0]) for a in self._arrays):
            raise ValueError("Size mismatch between tensors")

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        if isinstance(index, Tensor):
            index = index.numpy()
        return tuple(Tensor._constant(np.array(a[index])) for a in self._arrays)

    def __len__(self) -> int:
        return len(self._arrays[0])


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]  # type: ignore[index]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[T_co]:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])  # type: ignore[attr-defined]
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset[T_co]):
    """The samples of several datasets one after the other."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if which == 0 else self.cumulative_sizes[which - 1]
        return self.datasets[which][idx - start]


# ---------------------------------------------------------------------- random generators


def _resolve_generator(generator: Any) -> Any:
    """None (graphc's global generator, looked up when used), an int seed, or a generator object."""
    if generator is None:
        return None
    if isinstance(generator, (bool, np.bool_)):
        raise TypeError("generator must be a random generator or an int seed, not a bool")
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    if isinstance(generator, (np.random.Generator, np.random.RandomState)) or _is_torch_generator(generator):
        return generator
    raise TypeError(f"generator must be a numpy/graphc/torch random generator or an int seed, got {type(generator).__name__}")


def _is_torch_generator(generator: Any) -> bool:
    return type(generator).__module__.startswith("torch") and type(generator).__name__ == "Generator"


def _current(generator: Any) -> Any:
    return graphc_random.generator() if generator is None else generator


def _permutation(generator: Any, n: int) -> list[int]:
    generator = _current(generator)
    if _is_torch_generator(generator):
        import torch

        return torch.randperm(n, generator=generator).tolist()
    return [int(i) for i in generator.permutation(n)]


def _draw_seed(generator: Any) -> int:
    generator = _current(generator)
    if _is_torch_generator(generator):
        import torch

        return int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())
    if isinstance(generator, np.random.RandomState):
        return int(generator.randint(0, 2**63 - 1, dtype=np.int64))
    return int(generator.integers(0, 2**63 - 1))


def _shuffled_indices(generator: Any, n: int) -> Iterator[int]:
    yield from _permutation(generator, n)
    if _is_torch_generator(_current(generator)):
        # torch's RandomSampler draws a second, empty, permutation at the end of an epoch;
        # drawing it too keeps later epochs equal to torch's.
        _permutation(generator, n)


def random_split(dataset: Dataset[T_co], lengths: Sequence[int | float], generator: Any = None) -> list[Subset[T_co]]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (or fractions summing to 1).

    Fractions are turned into lengths as torch does: each gets ``floor(len * fraction)`` and
    the remainder is handed out one by one from the first subset. ``generator`` is described
    in this module's docstring.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        subset_lengths: list[int] = []
        for i, fraction in enumerate(lengths):
            if fraction < 0 or fraction > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            subset_lengths.append(int(math.floor(n * fraction)))
        for i in range(n - sum(subset_lengths)):
            subset_lengths[i % len(subset_lengths)] += 1
        for i, length in enumerate(subset_lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.", stacklevel=2)
        lengths = subset_lengths
    if any(int(length) != length or length < 0 for length in lengths):
        raise ValueError(f"lengths must be non-negative integers or fractions summing to 1, got {list(lengths)}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = _permutation(_resolve_generator(generator), int(sum(lengths)))
    return [Subset(dataset, indices[offset - int(length) : offset]) for offset, length in zip(itertools.accumulate(int(x) for x in lengths), lengths)]


# ---------------------------------------------------------------------- collation


_COLLATE_ERROR = "default_collate: batch must contain graphc tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_torch_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter")


def _stack_arrays(arrays: list[np.ndarray]) -> Tensor:
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and {list(a.shape)} at entry {i}")
    return Tensor._constant(as_array(np.stack(arrays)))


def default_collate(batch: list[Any]) -> Any:
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors, NumPy arrays and torch tensors are stacked into a graphc tensor with a new first
    dimension; Python floats become a float64 tensor, ints an int64 tensor, bools a bool
    tensor; strings stay a list; dicts, tuples, lists and namedtuples are collated field by
    field (a tuple of fields gives a list, as in torch).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        lazy.realize([t._node for t in batch])
        return _stack_arrays([t.numpy() for t in batch])
    if isinstance(elem, np.ndarray) or _is_torch_tensor(elem):
        arrays = [as_array(x) if _is_torch_tensor(x) else x for x in batch]
        if arrays[0].dtype.kind in "SaUOV":
            raise TypeError(_COLLATE_ERROR.format(arrays[0].dtype))
        return _stack_arrays(arrays)
    if isinstance(elem, np.generic):
        if isinstance(elem, (np.str_, np.bytes_, np.object_)):
            raise TypeError(_COLLATE_ERROR.format(type(elem).__name__))
        return Tensor._constant(as_array(np.array(batch)))
    if isinstance(elem, float):
        return Tensor._constant(np.array(batch, dtype=np.float64))
    if isinstance(elem, bool):
        return Tensor._constant(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return Tensor._constant(np.array(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [list(samples) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return type(elem)([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(_COLLATE_ERROR.format(type(elem).__name__))


def default_convert(data: Any) -> Any:
    """What ``batch_size=None`` applies to each sample: NumPy arrays and torch tensors become graphc tensors."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) or _is_torch_tensor(data):
        array = as_array(data) if _is_torch_tensor(data) else data
        return data if array.dtype.kind in "SaUOV" else Tensor._constant(as_array(array))
    if isinstance(data, np.generic) and not isinstance(data, (np.str_, np.bytes_, np.object_)):
        return Tensor._constant(as_array(np.array(data)))
    if isinstance(data, Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])  # type: ignore[call-arg]
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _fetch(dataset: Any, indices: Any, collate_fn: Callable[[Any], Any], batched: bool) -> Any:
    if not batched:
        return collate_fn(dataset[indices])
    if type(dataset) is TensorDataset and collate_fn is default_collate:
        # The same batch default_collate would stack from the samples, gathered in one step.
        index = np.asarray(indices, dtype=np.int64)
        return [Tensor._constant(np.ascontiguousarray(a[index])) for a in dataset._arrays]
    if callable(getattr(dataset, "__getitems__", None)):
        samples = dataset.__getitems__(indices)
    else:
        samples = [dataset[i] for i in indices]
    return collate_fn(samples)


class _IterableFetcher:
    """Batches from ``iter(dataset)``: each task is a batch size (None: one sample, unbatched).

    Raises StopIteration once the iterator is exhausted, and also for a short last batch
    when ``drop_last``, as torch's ``_IterableDatasetFetcher``.
    """

    def __init__(self, dataset: IterableDataset, collate_fn: Callable[[Any], Any], drop_last: bool) -> None:
        self._iterator = iter(dataset)
        self._collate_fn = collate_fn
        self._drop_last = drop_last
        self._ended = False

    def __call__(self, batch_size: int | None) -> Any:
        if self._ended:
            raise StopIteration
        if batch_size is None:
            return self._collate_fn(next(self._iterator))
        samples = list(itertools.islice(self._iterator, batch_size))
        if len(samples) < batch_size:
            self._ended = True
        if not samples or (self._drop_last and len(samples) < batch_size):
            raise StopIteration
        return self._collate_fn(samples)


@dataclass
class _FetchSpec:
    """What a worker (or the main process) needs to turn a task into a batch; picklable, sent to each worker."""

    dataset: Any
    collate_fn: Callable[[Any], Any]
    batched: bool
    drop_last: bool

    def fetcher(self) -> Callable[[Any], Any]:
        """A new fetch function; for an iterable dataset this calls ``iter(dataset)``, so call it where the samples are read."""
        if isinstance(self.dataset, IterableDataset):
            return _IterableFetcher(self.dataset, self.collate_fn, self.drop_last)
        return lambda indices: _fetch(self.dataset, indices, self.collate_fn, self.batched)


# ---------------------------------------------------------------------- crossing processes


@dataclass
class _WireTensor:
    """A graphc tensor on its way between processes: its array and whether it requires grad."""

    array: np.ndarray
    requires_grad: bool


def _to_wire(obj: Any) -> Any:
    tensors: list[Tensor] = []
    _collect(obj, tensors)
    lazy.realize([t._node for t in tensors])
    return _convert(obj, lambda t: _WireTensor(t.numpy(), t.requires_grad), Tensor)


def _from_wire(obj: Any) -> Any:
    return _convert(obj, lambda w: Tensor(w.array, requires_grad=True) if w.requires_grad else Tensor._constant(w.array), _WireTensor)


def _collect(obj: Any, out: list[Tensor]) -> None:
    if isinstance(obj, Tensor):
        out.append(obj)
    elif isinstance(obj, Mapping):
        for value in obj.values():
            _collect(value, out)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _collect(value, out)


def _convert(obj: Any, fn: Callable[[Any], Any], kind: type) -> Any:
    if isinstance(obj, kind):
        return fn(obj)
    if isinstance(obj, Mapping):
        converted = {k: _convert(v, fn, kind) for k, v in obj.items()}
        try:
            return type(obj)(converted)
        except TypeError:
            return converted
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_convert(v, fn, kind) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_convert(v, fn, kind) for v in obj)
    return obj


class _ExceptionWrapper:
    """An exception raised in a worker, carried back with its traceback as text."""

    def __init__(self, where: str) -> None:
        exc_type, _, _ = sys.exc_info()
        try:  # the type travels only if the main process can import it
            pickle.dumps(exc_type)
        except Exception:
            exc_type = None
        self.exc_type = exc_type
        self.message = f"Caught {exc_type.__name__ if exc_type else 'an exception'} {where}.\nOriginal " + "".join(traceback.format_exc())

    def reraise(self) -> None:
        try:
            error = self.exc_type(self.message) if self.exc_type is not None else RuntimeError(self.message)
        except Exception:
            error = RuntimeError(self.message)
        raise error


@dataclass
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker process."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, its id, the number of workers, its seed and its copy of the dataset; else None."""
    return _worker_info


_POLL_SECONDS = 1.0


@dataclass
class _WorkerDone:
    """A worker's answer once its iterable dataset is exhausted: it takes no more tasks this epoch."""

    worker_id: int


def _worker_loop(
    spec: _FetchSpec,
    index_queue: Any,
    result_queue: Any,
    seed: int,
    init_fn: Callable[[int], None] | None,
    worker_id: int,
    num_workers: int,
    parent_pid: int,
) -> None:
    global _worker_info
    init_error = None
    fetch: Callable[[Any], Any] | None = None
    exhausted = False
    try:
        graphc_random.manual_seed(seed)
        np.random.seed(seed % 2**32)
        py_random.seed(seed)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=spec.dataset)
        if init_fn is not None:
            init_fn(worker_id)
        fetch = spec.fetcher()  # after _worker_info is set: an iterable dataset's __iter__ shards by it
    except Exception:
        init_error = _ExceptionWrapper(f"in DataLoader worker process {worker_id}")
    try:
        while True:
            try:
                task = index_queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if os.getppid() != parent_pid:  # the main process is gone
                    break
                continue
            if task is None:
                break
            if exhausted:  # tasks sent before the main process heard of it: it skips them
                continue
            index, indices = task
            if fetch is None:  # seeding, worker_init_fn or iter(dataset) failed: every task reports it
                data: Any = init_error
            else:
                try:
                    data = _to_wire(fetch(indices))
                except Exception as error:
                    # Only an iterable dataset ends by StopIteration; from a map-style one it is an error.
                    exhausted = isinstance(error, StopIteration) and isinstance(spec.dataset, IterableDataset)
                    data = _WorkerDone(worker_id) if exhausted else _ExceptionWrapper(f"in DataLoader worker process {worker_id}")
            try:  # pickled here, so a batch that cannot be pickled is reported instead of lost
                payload = pickle.dumps((index, data), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                payload = pickle.dumps((index, _ExceptionWrapper(f"pickling a batch in DataLoader worker process {worker_id}")))
            result_queue.put(payload)
            del data, payload
    except KeyboardInterrupt:
        pass
    result_queue.cancel_join_thread()
    result_queue.close()


# ---------------------------------------------------------------------- the loader


class DataLoader(Generic[T_co]):
    """Iterate over a dataset in batches, as ``torch.utils.data.DataLoader``.

    ``batch_size=None`` turns batching off (each sample goes through ``default_convert``).
    ``sampler`` (an iterable of indices) and ``batch_sampler`` (an iterable of index lists)
    replace the built-in sequential/shuffled order. ``generator`` (or ``seed``) chooses the
    random generator for shuffling and worker seeds: see this module's docstring.
    ``timeout`` (seconds, workers only) bounds the wait for one batch.
    How an ``IterableDataset`` is read, and what ``pin_memory``, ``pin_memory_device`` and
    ``persistent_workers`` do here, is in this module's docstring.
    """

    def __init__(
        self,
        dataset: Dataset[T_co],
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Iterable[int] | None = None,
        batch_sampler: Iterable[list[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        seed: int | None = None,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing. Let num_workers > 0 to enable multiprocessing.")
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError("prefetch_factor option should be at least 1")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if isinstance(dataset, IterableDataset):
            # torch's checks, in torch's order: an iterable dataset has no indices to sample.
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last")
        if batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.drop_last = drop_last
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.persistent_workers = persistent_workers
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None else (2 if num_workers > 0 else None)
        self.generator = _resolve_generator(seed if seed is not None else generator)
        self._batched = batch_size is not None or batch_sampler is not None
        self.collate_fn = collate_fn if collate_fn is not None else (default_collate if self._batched else default_convert)
        self._iterable = isinstance(dataset, IterableDataset)
        self._reported_len: int | None = None  # the dataset's len() seen by len(loader), for torch's warning

    def _num_samples(self) -> int:
        return len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore[arg-type]

    def _indices(self) -> Iterator[int]:
        if self.sampler is not None:
            return iter(self.sampler)
        if self.shuffle:
            return _shuffled_indices(self.generator, len(self.dataset))  # type: ignore[arg-type]
        return iter(range(len(self.dataset)))  # type: ignore[arg-type]

    def _batches(self) -> Iterator[Any]:
        if self.batch_sampler is not None:
            yield from (list(b) for b in self.batch_sampler)
            return
        indices = self._indices()
        if self.batch_size is None:
            yield from indices
            return
        while True:
            batch = list(itertools.islice(indices, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                # Exhaust the index stream, as torch's samplers are exhausted at the end of an epoch.
                for _ in indices:
                    pass
                return
            yield batch

    def _spec(self) -> _FetchSpec:
        return _FetchSpec(self.dataset, self.collate_fn, self._batched, self.drop_last)

    def __iter__(self) -> Iterator[Any]:
        base_seed = _draw_seed(self.generator)
        # An iterable dataset's tasks are endless batch sizes: its fetcher ends the epoch when the samples run out.
        batches = itertools.repeat(self.batch_size) if self._iterable else self._batches()
        if self.num_workers == 0:
            return _SingleProcessIter(self, batches)
        return _MultiProcessIter(self, batches, base_seed)

    def __len__(self) -> int:
        if self._iterable:
            # The dataset's own length (TypeError without __len__, as torch), in batches.
            n = self._reported_len = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        n = self._num_samples()
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class _LengthCheck:
    """torch's warning when an iterable dataset yields more batches than ``len(loader)`` said it would."""

    def __init__(self, loader: DataLoader) -> None:
        self._reported = loader._reported_len if loader._iterable else None
        self._dataset = loader.dataset
        self._workers = loader.num_workers > 0
        self._yielded = 0

    def count(self) -> None:
        self._yielded += 1
        if self._reported is not None and self._yielded > self._reported:
            message = (
                f"Length of IterableDataset {self._dataset} was reported to be {self._reported}"
                f"(when accessing len(dataloader)), but {self._yielded} samples have been fetched. "
            )
            if self._workers:
                message += "For multiprocessing data-loading, this could be caused by not properly configuring the IterableDataset replica at each worker."
            warnings.warn(message, stacklevel=3)


class _SingleProcessIter:
    def __init__(self, loader: DataLoader, batches: Iterator[Any]) -> None:
        self._loader = loader
        self._batches = batches
        self._fetch = loader._spec().fetcher()
        self._length_check = _LengthCheck(loader)

    def __iter__(self) -> _SingleProcessIter:
        return self

    def __next__(self) -> Any:
        data = self._fetch(next(self._batches))
        self._length_check.count()
        return data

    def __len__(self) -> int:
        return len(self._loader)


class _MultiProcessIter:
    """Worker processes fetch batches round-robin; results are put back in order.

    With an iterable dataset a worker answers ``_WorkerDone`` once its copy is exhausted;
    from then on it gets no tasks, and the tasks it was already given are skipped.
    """

    def __init__(self, loader: DataLoader, batches: Iterator[Any], base_seed: int) -> None:
        self._loader = loader
        self._batches = batches
        self._timeout = loader.timeout
        context = loader.multiprocessing_context
        if context is None:
            context = multiprocessing.get_context()
        elif isinstance(context, str):
            context = multiprocessing.get_context(context)
        self._result_queue = context.Queue()
        self._index_queues = []
        self._workers = []
        self._shut_down = False
        for worker_id in range(loader.num_workers):
            index_queue = context.Queue()
            index_queue.cancel_join_thread()
            worker = context.Process(
                target=_worker_loop,
                args=(
                    loader._spec(),
                    index_queue,
                    self._result_queue,
                    base_seed + worker_id,
                    loader.worker_init_fn,
                    worker_id,
                    loader.num_workers,
                    os.getpid(),
                ),
                daemon=True,
            )
            worker.start()
            self._index_queues.append(index_queue)
            self._workers.append(worker)
        self._next_worker = itertools.cycle(range(loader.num_workers))
        self._active = [True] * loader.num_workers
        self._task_worker: dict[int, int] = {}  # task index -> the worker it was sent to
        self._sent = 0
        self._received = 0
        self._waiting: dict[int, Any] = {}
        self._length_check = _LengthCheck(loader)
        for _ in range(loader.prefetch_factor * loader.num_workers):
            self._send_next()

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def _send_next(self) -> None:
        if not any(self._active):
            return
        try:
            indices = next(self._batches)
        except StopIteration:
            return
        worker_id = next(self._next_worker)
        while not self._active[worker_id]:
            worker_id = next(self._next_worker)
        self._index_queues[worker_id].put((self._sent, indices))
        self._task_worker[self._sent] = worker_id
        self._sent += 1

    def _get(self) -> tuple[int, Any]:
        start = time.monotonic()
        while True:
            wait = _POLL_SECONDS if not self._timeout else min(_POLL_SECONDS, self._timeout)
            try:
                return pickle.loads(self._result_queue.get(timeout=wait))
            except queue.Empty:
                dead = [w for w in self._workers if not w.is_alive()]
                if dead:
                    self._shutdown()
                    pids = ", ".join(str(w.pid) for w in dead)
                    raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from None
                if self._timeout and time.monotonic() - start > self._timeout:
                    self._shutdown()
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds") from None

    def __next__(self) -> Any:
        while True:
            # A task of a worker that ran out, with no result: it never comes (torch skips it too).
            while self._received < self._sent and self._received not in self._waiting and not self._active[self._task_worker[self._received]]:
                del self._task_worker[self._received]
                self._received += 1
            if self._received in self._waiting:
                data = self._waiting.pop(self._received)
                del self._task_worker[self._received]
                self._received += 1
                self._send_next()
                if isinstance(data, _ExceptionWrapper):
                    self._shutdown()
                    data.reraise()
                self._length_check.count()
                return _from_wire(data)
            if self._received >= self._sent or self._shut_down:
                self._shutdown()
                raise StopIteration
            index, data = self._get()
            if isinstance(data, _WorkerDone):
                self._active[data.worker_id] = False
                self._send_next()
                continue
            self._waiting[index] = data

    def _shutdown(self) -> None:
        if self._shut_down:
            return
        self._shut_down = True
        for index_queue in self._index_queues:
            with contextlib.suppress(OSError, ValueError):
                index_queue.put(None)
        for worker in self._workers:
            worker.join(timeout=5.0)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=1.0)
        for q in [*self._index_queues, self._result_queue]:
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._shutdown()
