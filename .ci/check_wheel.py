"""Check a built wheel holds the package as a user installs it: every module, py.typed, no tests or notebooks.

python .ci/check_wheel.py dist/captum_advise-*.whl
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(wheel: str) -> int:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "captum_advise").rglob("*.py")}
    problems = [f"missing {name}" for name in sorted(modules - names)]
    shipped = {name for name in names if name.startswith("captum_advise/") and name.endswith(".py")}
    problems += [f"not in the checkout (a stale build?): {name}" for name in sorted(shipped - modules)]
    problems += [] if "captum_advise/py.typed" in names else ["missing captum_advise/py.typed"]
    stray = [n for n in names if not n.startswith(("captum_advise/", "captum_advise-")) or n.endswith(".ipynb")]
    problems += [f"does not belong in the wheel: {name}" for name in sorted(stray)]
    for problem in problems:
        print(f"{Path(wheel).name}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{Path(wheel).name}: {len(modules)} modules and py.typed, nothing else")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
