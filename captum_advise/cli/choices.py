"""The names the command line offers, without importing what they name.

The parser is built on every call, ``--help`` included, so it must not import torch, captum or
matplotlib; each command imports its machinery when it runs. The test suite checks that these
names equal the ones in the modules that define them.
"""

from __future__ import annotations

__all__ = [
    "ADVISE_RULES",
    "COMPARED_METHODS",
    "CONTROL_METHODS",
    "GEOMETRIES",
    "METHOD_NAMES",
    "PAPER_DENSITIES",
    "PRESET_NAMES",
    "QUANTUS_METRICS",
    "RANDOMIZED_MODULES",
    "ROBUSTNESS_METHODS",
    "SANITY_METHODS",
    "SCORES",
    "UPSAMPLE_MODES",
]

PRESET_NAMES = ("alexnet", "efficientnet_lite0", "mobilenet_v2", "resnet50", "vgg16", "xception")
GEOMETRIES = ("squash", "crop")
COMPARED_METHODS = ("advise", "gradcam", "gradcampp", "scorecam", "layercam", "lime")
CONTROL_METHODS = ("random", "center", "randomcam", "sobelcam")
METHOD_NAMES = (*COMPARED_METHODS, *CONTROL_METHODS)
ADVISE_RULES = ("confidence", "weighted")
UPSAMPLE_MODES = ("matlab_bicubic", "bicubic", "bilinear")
PAPER_DENSITIES = (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225)
SANITY_METHODS = ("advise", "gradcam", "gradcampp", "layercam")
ROBUSTNESS_METHODS = (
    "advise",
    "advise-confidence",
    "advise-weighted",
    "advise-all",
    "advise-frozen",
    "gradcam",
    "gradcampp",
    "scorecam",
    "layercam",
)
SCORES = ("softmax", "logit")
RANDOMIZED_MODULES = ("all", "conv-linear")
QUANTUS_METRICS = ("mprt", "smooth-mprt", "efficient-mprt", "random-logit")
