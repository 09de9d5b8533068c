"""Find a layer of any model by its dotted name, with a helpful error."""

from __future__ import annotations

import difflib

from torch import nn

__all__ = ["resolve_layer"]


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (as in ``model.named_modules()``, e.g. ``"features.28"``).

    Raises:
        ValueError: naming the closest existing layers when ``name`` is not one.
    """
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    close = difflib.get_close_matches(name, [key for key in modules if key], n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"the model has no layer named {name!r}{hint}")
