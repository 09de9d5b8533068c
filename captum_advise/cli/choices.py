"""The names the command line offers, without importing what they name.

The parser is built on every call, ``--help`` included, so it must not import torch, captum or
matplotlib; each command imports its machinery when it runs. The test suite checks that these
names equal the ones in the modules that define them.
"""

from __future__ import annotations

__all__ = [
    "ADVISE_RULES",
    "ALL_METHODS",
    "COMPARED_METHODS",
    "CONTROL_METHODS",
    "DEFAULT_ROBUSTNESS_METHODS",
    "DEFAULT_SANITY_METHODS",
    "GEOMETRIES",
    "LIBRARY_METHODS",
    "METHOD_NAMES",
    "MORE_METHODS",
    "PAPER_DENSITIES",
    "PRESET_NAMES",
    "QUANTUS_METRICS",
    "RANDOMIZED_MODULES",
    "ROBUSTNESS_METHODS",
    "SANITY_METHODS",
    "SCORES",
    "TIMM_PREFIX",
    "UPSAMPLE_MODES",
]

PRESET_NAMES = (
    "alexnet",
    "deit_small_patch16_224",
    "efficientnet_lite0",
    "mobilenet_v2",
    "resnet50",
    "swin_tiny_patch4_window7_224",
    "vgg16",
    "vit_base_patch16_224",
    "xception",
)
TIMM_PREFIX = "timm:"
GEOMETRIES = ("squash", "crop")
COMPARED_METHODS = ("advise", "gradcam", "gradcampp", "scorecam", "layercam", "lime")
MORE_METHODS = (
    "hirescam",
    "xgradcam",
    "gradcamelementwise",
    "eigencam",
    "eigengradcam",
    "ablationcam",
    "fullgrad",
    "kpcacam",
    "fem",
    "shapleycam",
    "finercam",
    "refinecam",
)
ALL_METHODS = (*COMPARED_METHODS, *MORE_METHODS)
CONTROL_METHODS = ("random", "center", "randomcam", "sobelcam")
METHOD_NAMES = (*ALL_METHODS, *CONTROL_METHODS)
ADVISE_RULES = ("confidence", "weighted")
UPSAMPLE_MODES = ("matlab_bicubic", "bicubic", "bilinear")
PAPER_DENSITIES = (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225)
LIBRARY_METHODS = ("gradcam", "gradcampp", "scorecam", "layercam", *MORE_METHODS)
SANITY_METHODS = ("advise", *LIBRARY_METHODS)
DEFAULT_SANITY_METHODS = ("advise", "gradcam", "gradcampp", "layercam")
ROBUSTNESS_METHODS = ("advise", "advise-confidence", "advise-weighted", "advise-all", "advise-frozen", *LIBRARY_METHODS)
DEFAULT_ROBUSTNESS_METHODS = (*ROBUSTNESS_METHODS[:5], "gradcam", "gradcampp", "layercam")
SCORES = ("softmax", "logit")
RANDOMIZED_MODULES = ("all", "conv-linear")
QUANTUS_METRICS = ("mprt", "smooth-mprt", "efficient-mprt", "random-logit")
