"""Runs split across torchrun's processes: this process's rank, one lock, one progress bar, one failure.

``torchrun --nproc-per-node G -m captum_advise evaluate ...`` starts G processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`process_group` joins them into a
``torch.distributed`` group (NCCL for CUDA devices, gloo otherwise) and gives each its GPU; the
runs then split their work by :func:`rank_and_size`. Without those variables (or with
``WORLD_SIZE=1``) nothing here does anything and every run is the one-process run.

The processes only exchange small control messages: whether the output folder could be locked,
how much work each has, how far each has got (through a TCP store, so a rank that finishes early
waits without a collective's timeout), and whether any failed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from captum_advise.output_files import OutputFolderError, locked_output, prepare_output_folder

__all__ = [
    "RankFailedError",
    "gather",
    "is_main_rank",
    "locked_run_output",
    "process_group",
    "rank_and_size",
    "rank_folder",
    "shared_progress",
    "torchrun_ranks",
]

# Long enough for any rank to load a model after another; work itself never waits in a collective.
_COLLECTIVE_TIMEOUT = timedelta(hours=2)
_POLL_SECONDS = 0.5


class RankFailedError(RuntimeError):
    """Another process of the same torchrun run failed; this one stops too (its finished rows are kept)."""


def torchrun_ranks() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's environment, or None outside torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))


def rank_and_size() -> tuple[int, int]:
    """(this process's rank, number of processes): (0, 1) unless a process group is running."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_rank() -> bool:
    """True in the process that writes a run's merged tables (rank 0, or the only process)."""
    return rank_and_size()[0] == 0


def rank_folder(out: Path) -> Path:
    """Where this rank appends its own rows inside a run's shared output folder."""
    rank, size = rank_and_size()
    return Path(out) / "ranks" / f"rank-{rank}-of-{size}"


def _rank_device(device: str, local_rank: int) -> str:
    import torch

    if torch.device(device).type != "cuda":
        return device
    torch.cuda.set_device(local_rank)
    return f"cuda:{local_rank}"


@contextlib.contextmanager
def process_group(device: str) -> Iterator[str]:
    """Join torchrun's processes for the duration of a command; yield this process's device.

    Outside torchrun (or with one process) nothing happens and ``device`` is yielded unchanged.
    Under torchrun, ``"cuda"`` becomes ``cuda:LOCAL_RANK``; a device with an index is kept.
    """
    ranks = torchrun_ranks()
    if ranks is None or ranks[1] == 1:
        yield device
        return
    import torch
    import torch.distributed as dist

    rank_device = _rank_device(device, ranks[2]) if torch.device(device).index is None else device
    backend = "nccl" if torch.device(rank_device).type == "cuda" else "gloo"
    # numba (the CPU density estimate, imported later) would start one OpenMP thread per core in
    # every rank; torchrun gives torch one thread per rank, and so must numba: with 2 ranks on
    # 2 cores, numba's spinning threads made a run 6x as slow.
    os.environ.setdefault("NUMBA_NUM_THREADS", str(torch.get_num_threads()))
    dist.init_process_group(backend, timeout=_COLLECTIVE_TIMEOUT)
    try:
        yield rank_device
    finally:
        _close_progress_store()
        dist.destroy_process_group()


def gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (a picklable object), in rank order, on every rank; ``[value]`` alone."""
    import torch.distributed as dist

    if rank_and_size()[1] == 1:
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


@contextlib.contextmanager
def locked_run_output(folder: Path) -> Iterator[Path]:
    """:func:`locked_output` for a run that may be split across ranks.

    Rank 0 takes the folder's lock for the whole run; if it cannot (another run holds it), every
    rank raises the same :class:`OutputFolderError` at once, before any work.
    """
    if rank_and_size()[1] == 1:
        with locked_output(folder) as locked:
            yield locked
        return
    with contextlib.ExitStack() as stack:
        error = ""
        if is_main_rank():
            try:
                stack.enter_context(locked_output(folder))
            except OutputFolderError as failure:
                error = str(failure)
        errors = [message for message in gather(error) if message]
        if errors:
            raise OutputFolderError(errors[0])
        yield prepare_output_folder(folder)


_STORES: list[Any] = []
_CALLS = [0]


def _progress_store() -> Any:
    """One TCP store per process group (rank 0 serves it on a free port), made on first use."""
    import torch.distributed as dist

    group = dist.group.WORLD
    if _STORES and _STORES[0][0] is group:
        return _STORES[0][1]
    host = os.environ.get("MASTER_ADDR", "127.0.0.1")
    size = dist.get_world_size()
    if is_main_rank():
        store = dist.TCPStore(host, 0, size, True, wait_for_workers=False)
        gather(store.port)
    else:
        port = gather(None)[0]
        store = dist.TCPStore(host, port, size, False)
    _STORES[:] = [(group, store)]
    return store


def _close_progress_store() -> None:
    """Clients disconnect before rank 0 stops serving: a client whose server went first aborts the process."""
    if not _STORES:
        return
    if not is_main_rank():
        _STORES.clear()
    gather(None)
    _STORES.clear()


class _Bar:
    """A tqdm bar on rank 0 that counts every rank's progress through the store."""

    def __init__(self, store: Any, key: str, bar: Any) -> None:
        self.store, self.key, self.bar = store, key, bar

    def update(self, count: int) -> None:
        done = self.store.add(f"{self.key}/done", count)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def wait_for_all(self, size: int) -> None:
        while self.store.add(f"{self.key}/finished", 0) < size:
            self.update(0)
            time.sleep(_POLL_SECONDS)
        self.update(0)


@contextlib.contextmanager
def shared_progress(count: int, desc: str, unit: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar over every rank's work; ``count`` is this rank's share. Yields ``bar.update(n)``.

    One process: a plain tqdm bar. Several: one bar, on rank 0, over the sum of the shares. On
    leaving, every rank waits (polling, with no timeout) until all have finished; if any rank
    raised, every rank raises: the failing one its own error, the others :class:`RankFailedError`.
    """
    from tqdm.auto import tqdm

    rank, size = rank_and_size()
    if size == 1:
        with tqdm(total=count, desc=desc, unit=unit, disable=not enabled) as bar:
            yield bar
        return
    total = sum(gather(count))
    store = _progress_store()
    _CALLS[0] += 1
    key = f"progress/{_CALLS[0]}"
    bar = tqdm(total=total, desc=f"{desc} ({size} ranks)", unit=unit) if enabled and rank == 0 else None
    shared = _Bar(store, key, bar)
    failure: BaseException | None = None
    try:
        yield shared
    except BaseException as error:  # re-raised below, once the other ranks know of it
        failure = error
    store.add(f"{key}/finished", 1)
    shared.wait_for_all(size)
    if bar is not None:
        bar.close()
    failed = [index for index, message in enumerate(gather(failure is not None)) if message]
    if failure is not None:
        raise failure
    if failed:
        raise RankFailedError(f"rank {failed[0]} of {size} failed (see its error); rerun the same command to resume")
