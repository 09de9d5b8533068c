"""The ``captum-advise`` command line."""

from captum_advise.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
