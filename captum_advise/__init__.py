"""captum-advise: ADVISE (adaptive feature relevance and visual explanations for CNNs) for Captum.

``LayerADVISE`` and every method of the catalogue (:mod:`captum_advise.catalogue`) as a Captum
layer attribution: each pytorch-grad-cam class-map method (``LayerGradCamPlusPlus``,
``LayerScoreCam``, ...) and the controls (``LayerRandomMap``, ``LayerCenterPrior``,
``LayerRandomCam``, ``LayerBrightness``, ``LayerSobelCam``). The names are imported on first use, so that
``captum-advise --help`` and the modules that need no torch start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from captum_advise.catalogue import captum_class_homes

__version__ = "0.1.0"

_HOMES = {
    "ADVISEExplanation": "captum_advise.attr",
    "PeakGroup": "captum_advise.attr",
    "unit_relevance": "captum_advise.attr",
    "KDEResult": "captum_advise.density",
    "adaptive_kde": "captum_advise.density",
    "count_peaks": "captum_advise.density",
    **captum_class_homes(),
}
__all__ = sorted(_HOMES)


_SUBPACKAGES = {
    "attr",
    "cams",
    "catalogue",
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
    homes = {**_HOMES, **captum_class_homes()}  # a row added to the catalogue at run time too
    if name not in homes:
        raise AttributeError(f"module 'captum_advise' has no attribute {name!r}")
    value = getattr(importlib.import_module(homes[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
