"""Sphinx configuration of the captum-advise documentation (``sphinx-build -W docs docs/_build``)."""

from __future__ import annotations

import shutil
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "captum-advise"
author = "the captum-advise authors"
copyright = "captum-advise authors, BSD-3-Clause"
release = "0.1.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "myst_nb"]
# The notebooks are shown with the outputs stored in them; the slow test tier runs them.
nb_execution_mode = "off"
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields, not a second description of each attribute
# Torch's and Captum's own docstrings and type aliases are not ours to fix.
suppress_warnings = ["myst.xref_missing", "autodoc.import_object"]
nitpicky = False
exclude_patterns = ["_build", "jupyter_execute", "package_description.md", "results/records", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = "captum-advise"


def _copy_tutorials(app) -> None:
    """The notebooks live in tutorials/ (the tests run them there); the site renders copies."""
    target = DOCS / "tutorials"
    target.mkdir(exist_ok=True)
    for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
        shutil.copy2(notebook, target / notebook.name)


# The API reference, one section per subpackage: each public name where its subpackage's
# ``__all__`` exports it first (a name re-exported by several appears once).
API_PACKAGES = (
    "captum_advise.attr",
    "captum_advise.cams",
    "captum_advise.catalogue",
    "captum_advise.density",
    "captum_advise.matlab",
    "captum_advise.models",
    "captum_advise.data",
    "captum_advise.pipeline",
    "captum_advise.figures",
    "captum_advise.metrics",
    "captum_advise.evaluation",
    "captum_advise.evaluation.methods",
    "captum_advise.experiments",
    "captum_advise.runs.output_files",
    "captum_advise.runs.ranks",
)


def _write_api_page(app) -> None:
    import importlib

    seen: set[int] = set()
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings when the site is built. Tensor shapes are stated in each docstring;",
        "`from captum_advise import LayerADVISE` is the top-level entry point; every pytorch-grad-cam method and "
        "control is a Captum class importable from `captum_advise` too (`captum_advise.cams`).",
        "",
    ]
    for name in API_PACKAGES:
        module = importlib.import_module(name)
        members = []
        for member in getattr(module, "__all__", ()):
            value = getattr(module, member)
            if id(value) in seen or isinstance(value, (str, int, float, tuple, dict)):
                continue
            seen.add(id(value))
            members.append(member)
        lines += [f"## `{name}`", "", "```{eval-rst}", f".. automodule:: {name}", "   :no-members:", "```", ""]
        for member in members:
            kind = "autoclass" if isinstance(getattr(module, member), type) else "autofunction"
            lines += ["```{eval-rst}", f".. {kind}:: {name}.{member}", "```", ""]
    page = DOCS / "api.md"
    text = "\n".join(lines)
    if not page.exists() or page.read_text() != text:
        page.write_text(text)


def setup(app) -> None:
    app.connect("builder-inited", _copy_tutorials)
    app.connect("builder-inited", _write_api_page)
