"""The ``captum-advise`` command line: subcommands, and one-line errors instead of tracebacks."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from captum_advise import __version__
from captum_advise.cli.evaluate_command import add_evaluate_command, add_merge_command
from captum_advise.cli.experiment_commands import add_ablate_command, add_robustness_command, add_sanity_commands
from captum_advise.cli.explain_command import add_demo_command, add_explain_command
from captum_advise.runs.allocator import keep_freed_memory
from captum_advise.runs.ranks import process_group, torchrun_ranks

__all__ = ["build_parser", "main"]


def _expected_errors() -> tuple[type[Exception], ...]:
    # Imported when a command fails, not for every --help.
    from captum_advise.data import ImageReadError
    from captum_advise.models import WeightsUnavailableError
    from captum_advise.runs.ranks import RankFailedError

    return (ValueError, ImageReadError, WeightsUnavailableError, ImportError, FileNotFoundError, RankFailedError)


def _run_on_ranks(args: argparse.Namespace) -> int:
    """Run the command; under torchrun, as one rank of a process group (evaluate, ablate, sanity only)."""
    ranks = torchrun_ranks()
    if ranks is None or ranks[1] == 1:
        return args.run(args)
    if not getattr(args, "across_ranks", False):
        raise ValueError(f"{args.command} does not split across torchrun's processes: run it without torchrun")
    if getattr(args, "shard", None) is not None:
        raise ValueError("--shard and torchrun both split the images: use one of them")
    with process_group(args.device) as device:
        args.device = device
        return args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="captum-advise",
        description="ADVISE explanations for CNNs: unit relevance from adaptive densities, one map per peak group.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_explain_command(commands)
    add_demo_command(commands)
    add_evaluate_command(commands)
    add_merge_command(commands)
    add_ablate_command(commands)
    add_sanity_commands(commands)
    add_robustness_command(commands)
    return parser


class _StderrNow(logging.Handler):
    """Writes to ``sys.stderr`` as it is at each message (tests and notebooks replace it), on a
    line of its own above any progress bar (tqdm's ``write``), not inside the bar's line."""

    def emit(self, record: logging.LogRecord) -> None:
        progress = sys.modules.get("tqdm")
        if progress is None:
            print(self.format(record), file=sys.stderr)
        else:
            progress.tqdm.write(self.format(record), file=sys.stderr)


def show_library_messages() -> None:
    """The library's one-line notices (logger ``captum_advise``, level INFO) on stderr, once; Python's
    warnings go the same way, so that they too land above a progress bar, not inside its line."""
    logger = logging.getLogger("captum_advise")
    if not logger.handlers:
        handler = _StderrNow()
        handler.setFormatter(logging.Formatter("captum-advise: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    warnings_logger = logging.getLogger("py.warnings")
    if not warnings_logger.handlers:
        handler = _StderrNow()
        handler.setFormatter(logging.Formatter("%(message)s"))
        warnings_logger.addHandler(handler)
        warnings_logger.propagate = False
        logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; return its exit status (0 on success, 1 on an error, 2 on bad usage, 130 on Ctrl-C)."""
    args = build_parser().parse_args(argv)
    keep_freed_memory()
    show_library_messages()
    try:
        return _run_on_ranks(args)
    except KeyboardInterrupt as interrupt:
        # Every file is written atomically or appended row by row: the run stops consistent.
        done = str(interrupt) or "interrupted"
        then = (
            "rerun the same command to resume" if getattr(args, "resumes", False) else "the files written are complete"
        )
        print(f"\ncaptum-advise {args.command}: {done}; {then}", file=sys.stderr)
        return 130
    except Exception as error:
        if not isinstance(error, _expected_errors()):
            raise
        print(f"captum-advise {args.command}: error: {error}", file=sys.stderr)
        return 1
