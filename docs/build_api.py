"""Write docs/api/*.md, the API reference, from the public docstrings (one page per subpackage).

python docs/build_api.py          # rewrite the pages
python docs/build_api.py --check  # exit 1 if a page is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

PACKAGES = [
    "captum_advise.attr",
    "captum_advise.density",
    "captum_advise.matlab",
    "captum_advise.models",
    "captum_advise.data",
    "captum_advise.pipeline",
    "captum_advise.figures",
    "captum_advise.baselines",
    "captum_advise.metrics",
    "captum_advise.evaluation",
    "captum_advise.experiments",
    "captum_advise.runs.output_files",
    "captum_advise.runs.ranks",
]
API = Path(__file__).resolve().parent / "api"


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def _entry(name: str, obj: object) -> list[str]:
    doc = inspect.getdoc(obj) or "(no docstring)"
    if inspect.isclass(obj):
        lines = [f"## class `{name}{_signature(obj)}`", "", doc, ""]
        init = vars(obj).get("__init__")
        if init is not None and inspect.getdoc(init) and inspect.getdoc(init) != doc:
            lines += ["Constructor:", "", inspect.getdoc(init), ""]
        for member, value in inspect.getmembers(obj):
            own = member in vars(obj)
            if own and not member.startswith("_") and (inspect.isfunction(value) or isinstance(value, property)):
                target = value.fget if isinstance(value, property) else value
                suffix = "" if isinstance(value, property) else _signature(value)
                lines += [f"### `{name}.{member}{suffix}`", "", inspect.getdoc(target) or "", ""]
        return lines
    if callable(obj):
        return [f"## `{name}{_signature(obj)}`", "", doc, ""]
    if isinstance(obj, dict):
        return [f"## `{name}`", "", f"A dict keyed by: {', '.join(f'`{key}`' for key in obj)}.", ""]
    return [f"## `{name}`", "", f"`{obj!r}`", ""]


def page(package: str) -> str:
    module = importlib.import_module(package)
    lines = [f"# `{package}`", "", inspect.getdoc(module) or "", ""]
    for name in module.__all__:
        lines += _entry(name, getattr(module, name))
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the pages are up to date")
    args = parser.parse_args()
    stale = []
    API.mkdir(exist_ok=True)
    for package in PACKAGES:
        path = API / f"{package.split('.')[-1]}.md"
        text = page(package)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python docs/build_api.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
