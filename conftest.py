"""Test-run defaults for the whole tree (tests, doctests, tutorials): where the offline data is.

Only the test run defaults to the ``shared/`` folder beside the checkout ($ADVISE_SHARED); the
library and the tutorials take their paths from the environment like any user's code.
"""

import os
from pathlib import Path

SHARED = Path(os.environ.get("ADVISE_SHARED", Path(__file__).resolve().parent.parent / "shared"))
os.environ.setdefault("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
os.environ.setdefault("ADVISE_IMAGES", str(SHARED / "assets" / "imagenet-samples"))


def _triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


# The doctest collection imports every module: the Triton kernels only where Triton is installed.
collect_ignore = (
    []
    if _triton_importable()
    else [
        "captum_advise/density/backends/triton_v1.py",
        "captum_advise/density/backends/triton_no_spill.py",
        "tests/helpers/triton_probes.py",
    ]
)
