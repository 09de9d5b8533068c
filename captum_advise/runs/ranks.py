"""Runs split across torchrun's processes: this process's rank, one lock, one progress bar, one failure.

``torchrun --nproc-per-node G -m captum_advise evaluate ...`` starts G processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. :func:`process_group`
joins them through torch.distributed's ``env://`` rendezvous and gives each its GPU; the runs then
split their work by :func:`rank_and_size`. Without those variables (or with ``WORLD_SIZE=1``)
nothing here does anything and every run is the one-process run.

The processes only exchange small control messages, all through the rendezvous's key-value store
(torchrun's agent serves it): whether the output folder could be locked, how much work each has,
how far each has got (polled, so a rank that finishes early waits without a timeout), and whether
any failed. No gloo or NCCL process group is started: a gloo worker thread that still held a
finished collective's tensors when the interpreter shut down aborted the process
("terminate called without an active exception") in 4 of 34 runs here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from captum_advise.runs.output_files import OutputFolderError, locked_output, prepare_output_folder

__all__ = [
    "Interrupted",
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

# Long enough for any rank to load a model after another; work itself never waits on the store.
_STORE_TIMEOUT = timedelta(hours=2)
_POLL_SECONDS = 0.5


@dataclass
class _Joined:
    """This process's place in a torchrun run, and the store the ranks talk through."""

    store: Any
    rank: int
    size: int
    keys: Iterator[int] = field(default_factory=itertools.count)

    def key(self, kind: str) -> str:
        """A fresh key; every rank makes the same calls in the same order, so they agree on it."""
        return f"{kind}/{next(self.keys)}"


_JOINED: list[_Joined] = []


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: how far it got (its files are consistent; a rerun resumes)."""

    def __init__(self, done: int, total: int, unit: str) -> None:
        super().__init__(f"interrupted after {done} of {total} {unit}s")


class RankFailedError(RuntimeError):
    """Another process of the same torchrun run failed; this one stops too (its finished rows are kept)."""


def torchrun_ranks() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's environment, or None outside torchrun."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))


def rank_and_size() -> tuple[int, int]:
    """(this process's rank, number of processes): (0, 1) unless inside :func:`process_group` under torchrun."""
    if _JOINED:
        return _JOINED[0].rank, _JOINED[0].size
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
    Under torchrun, ``"cuda"`` becomes ``cuda:LOCAL_RANK``; a device with an index is kept. On a
    normal exit every rank waits for the others, so a rank that serves the store (a launch without
    torchrun's agent) outlives the last message; after an error a rank leaves at once (torchrun
    then stops the others).
    """
    ranks = torchrun_ranks()
    if ranks is None or ranks[1] == 1:
        yield device
        return
    import torch
    import torch.distributed as dist

    rank_device = _rank_device(device, ranks[2]) if torch.device(device).index is None else device
    # numba (the CPU density estimate, imported later) would start one OpenMP thread per core in
    # every rank; torchrun gives torch one thread per rank, and so must numba: with 2 ranks on
    # 2 cores, numba's spinning threads made a run 6x as slow.
    os.environ.setdefault("NUMBA_NUM_THREADS", str(torch.get_num_threads()))
    store, rank, size = next(iter(dist.rendezvous("env://", timeout=_STORE_TIMEOUT)))
    # A restarted torchrun attempt (--max-restarts) must not read the last attempt's messages.
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    _JOINED[:] = [_Joined(dist.PrefixStore(f"captum-advise/{attempt}", store), rank, size)]
    try:
        yield rank_device
        _leave_together(_JOINED[0])
    finally:
        _JOINED.clear()


def _leave_together(joined: _Joined) -> None:
    """Rank 0 returns last: the others have read every message and sent their last one."""
    key = joined.key("leave")
    left = joined.store.add(key, 1)
    while joined.rank == 0 and left < joined.size:
        time.sleep(_POLL_SECONDS / 10)
        left = joined.store.add(key, 0)


def gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (a picklable object), in rank order, on every rank; ``[value]`` alone.

    Every rank must call it, in the same order; it waits (up to two hours) for the slowest.
    """
    if not _JOINED:
        return [value]
    joined = _JOINED[0]
    key = joined.key("gather")
    joined.store.set(f"{key}/{joined.rank}", pickle.dumps(value))
    return [pickle.loads(joined.store.get(f"{key}/{rank}")) for rank in range(joined.size)]


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


class _Bar:
    """A tqdm bar on rank 0 that counts every rank's progress through the store."""

    def __init__(self, store: Any, key: str, bar: Any) -> None:
        self.store, self.key, self.bar = store, key, bar

    def update(self, count: int) -> None:
        done = self.store.add(f"{self.key}/done", count)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def set_postfix_str(self, text: str) -> None:
        """What rank 0 is doing, beside the bar (as tqdm's ``set_postfix_str``)."""
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def wait_for_all(self, size: int) -> None:
        while self.store.add(f"{self.key}/finished", 0) < size:
            self.update(0)
            time.sleep(_POLL_SECONDS)
        self.update(0)


@contextlib.contextmanager
def shared_progress(count: int, desc: str, unit: str, enabled: bool = True) -> Iterator[Any]:
    """A progress bar over every rank's work; ``count`` is this rank's share. Yields ``bar.update(n)``.

    One process: a plain tqdm bar; Ctrl-C inside becomes :class:`Interrupted`, which says how
    many of ``count`` were done. Several: one bar, on rank 0, over the sum of the shares. On
    leaving, every rank waits (polling, with no timeout) until all have finished; if any rank
    raised, every rank raises: the failing one its own error, the others :class:`RankFailedError`.
    """
    from tqdm.auto import tqdm

    rank, size = rank_and_size()
    if size == 1:
        with tqdm(total=count, desc=desc, unit=unit, disable=not enabled) as bar:
            try:
                yield bar
            except KeyboardInterrupt as interrupt:
                raise Interrupted(int(bar.n), count, unit) from interrupt
        return
    total = sum(gather(count))
    store, key = _JOINED[0].store, _JOINED[0].key("progress")
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
