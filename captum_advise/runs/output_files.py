"""A user's files are never lost: atomic writes, checked output folders, and a lock for runs that append.

Every file the package writes goes to a temporary file in the same folder first and is renamed over
the target only when complete, so a kill mid-write leaves the previous version (or nothing), never
a truncated file. A run that appends to a folder (``evaluate``, ``ablate``) holds an exclusive lock
on it, so two runs cannot interleave their rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FIGURE_MARKER",
    "OutputFolderError",
    "atomic_write",
    "atomic_write_csv",
    "atomic_write_text",
    "csv_text",
    "locked_output",
    "prepare_output_folder",
    "save_figure",
    "written_by_captum_advise",
]


# The PNG text that marks a figure as captum-advise's own (so that a folder of photos and sheets is
# never explained twice over).
FIGURE_MARKER = "captum-advise"


class OutputFolderError(ValueError):
    """An output folder that cannot be used: a file, not writable, or locked by another run."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` and rename the result onto ``path`` once it is complete.

    The temporary file sits in ``path``'s folder with the same suffix (so writers that infer a
    format from the name, like matplotlib, still do); it is removed if ``write`` fails.
    """
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from the user's group
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write(path, lambda temporary: temporary.write_text(text))


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]], header: bool = True) -> str:
    """``rows`` (dicts keyed by ``columns``) as CSV text, with the header line first if asked."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def atomic_write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts keyed by ``columns``) as a CSV file, atomically."""
    text = csv_text(columns, rows)
    atomic_write(path, lambda temporary: temporary.write_text(text, newline=""))


def save_figure(figure: Any, path: Path, dpi: int = 100) -> None:
    """``figure.savefig(path, dpi=dpi)``, atomically; a PNG is marked as written by captum-advise."""
    metadata = {"Software": FIGURE_MARKER} if Path(path).suffix.lower() == ".png" else None
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi, metadata=metadata))


def written_by_captum_advise(path: Path) -> bool:
    """Whether ``path`` is a figure :func:`save_figure` wrote (its PNG ``Software`` text), not a photo."""
    if Path(path).suffix.lower() != ".png":
        return False
    from PIL import Image

    try:
        with Image.open(path) as image:
            return str(image.info.get("Software", "")).startswith(FIGURE_MARKER)
    except (OSError, Image.DecompressionBombError):  # not a figure; reading it as a photo says what is wrong
        return False


def prepare_output_folder(folder: Path) -> Path:
    """Create ``folder`` if needed and check, before any work, that files can be written there.

    Raises:
        OutputFolderError: ``folder`` is an existing file, or it cannot be created or written to.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"output folder {folder} is an existing file: choose a folder for --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OutputFolderError(f"cannot write to output folder {folder}: {error.strerror or error}") from None
    return folder


_HELD: dict[Path, int] = {}


@contextlib.contextmanager
def locked_output(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock on an output folder (``folder/.lock``) for the duration of a run.

    Re-entrant within a process (the command line locks before loading the model, and the run it
    calls locks again); another process gets the error.

    Raises:
        OutputFolderError: another run (another process) holds the lock; raised at once.
    """
    import fcntl

    folder = prepare_output_folder(folder)
    key = folder.resolve()
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    lock_path = folder / ".lock"
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputFolderError(
                f"another run is writing to {folder} (it holds {lock_path}): "
                "wait for it to finish or choose another --out"
            ) from None
        _HELD[key] = 1
        try:
            yield folder
        finally:
            del _HELD[key]
            fcntl.flock(handle, fcntl.LOCK_UN)
