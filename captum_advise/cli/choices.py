"""The names the command line offers besides the methods, without importing what they name.

The parser is built on every call, ``--help`` included, so it must not import torch, captum or
matplotlib; each command imports its machinery when it runs. The methods' names come from the
catalogue (:mod:`captum_advise.catalogue`, torch-free); the test suite checks that the names here
equal the ones in the modules that define them.
"""

from __future__ import annotations

__all__ = [
    "GEOMETRIES",
    "PAPER_DENSITIES",
    "PENALTIES",
    "PRESET_NAMES",
    "QUANTUS_METRICS",
    "RANDOMIZED_MODULES",
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
UPSAMPLE_MODES = ("matlab_bicubic", "bicubic", "bilinear")
PAPER_DENSITIES = (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225)
SCORES = ("softmax", "logit")
PENALTIES = ("reference", "delta", "zero", "off")
RANDOMIZED_MODULES = ("all", "conv-linear")
QUANTUS_METRICS = ("mprt", "smooth-mprt", "efficient-mprt", "random-logit")
