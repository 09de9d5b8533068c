"""captum-advise: ADVISE (adaptive feature relevance and visual explanations for CNNs) for Captum.

The names below are imported on first use, so that ``captum-advise --help`` and the modules that
need no torch start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ADVISEExplanation",
    "KDEResult",
    "LayerADVISE",
    "PeakGroup",
    "adaptive_kde",
    "count_peaks",
    "unit_relevance",
]
__version__ = "0.1.0"

_HOMES = {
    "ADVISEExplanation": "captum_advise.attr",
    "LayerADVISE": "captum_advise.attr",
    "PeakGroup": "captum_advise.attr",
    "unit_relevance": "captum_advise.attr",
    "KDEResult": "captum_advise.density",
    "adaptive_kde": "captum_advise.density",
    "count_peaks": "captum_advise.density",
}


_SUBPACKAGES = {
    "attr",
    "baselines",
    "cli",
    "data",
    "density",
    "evaluation",
    "experiments",
    "figures",
    "matlab",
    "metrics",
    "models",
    "pipeline",
    "runs",
}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"captum_advise.{name}")
    if name not in _HOMES:
        raise AttributeError(f"module 'captum_advise' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
