"""The evaluator's method of each catalogue row, built by name with its options."""

from __future__ import annotations

from typing import Any

from captum_advise.attr.token_layout import ReshapeTransform
from captum_advise.catalogue import entry
from captum_advise.evaluation.methods.advise import AdviseMethod
from captum_advise.evaluation.methods.control_method import ControlMethod
from captum_advise.evaluation.methods.library_method import GradCamLibraryMethod
from captum_advise.evaluation.methods.lime import LimeMethod

__all__ = ["Method", "build_method"]

Method = AdviseMethod | GradCamLibraryMethod | LimeMethod | ControlMethod


def build_method(name: str, reshape_transform: ReshapeTransform = None, **options: Any) -> Method:
    """The evaluator's method of a catalogue name with its options (the keywords of its adapter);
    ``reshape_transform`` (a token layer's layout) goes to every method that reads the layer (LIME
    reads only the image). Every method is called as ``method.explain(batch)``."""
    row = entry(name)
    if row.kind == "lime":
        return LimeMethod(**options)
    if row.kind == "advise":
        return AdviseMethod(reshape_transform=reshape_transform, **options)
    adapter = GradCamLibraryMethod if row.kind == "library" else ControlMethod
    return adapter(name, reshape_transform=reshape_transform, **options)
