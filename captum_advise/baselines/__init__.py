"""ADVISE and the baselines it is compared with, behind one interface for the evaluator."""

from captum_advise.baselines.advise import AdviseMethod
from captum_advise.baselines.captum_layer_cams import (
    LAYER_ATTRIBUTIONS,
    LayerGradCamLib,
    LayerGradCamPlusPlus,
    LayerLayerCam,
    LayerScoreCam,
)
from captum_advise.baselines.explanations import Explanations, MapVariant, SingleMapMethod, explain_two_classes
from captum_advise.baselines.grad_cam_library import CAM_CLASSES, GRADIENT_RELU_METHODS
from captum_advise.baselines.grad_cam_method import GradCamLibraryMethod
from captum_advise.baselines.lime import LimeMethod, TreeSurrogate, superpixels, top_superpixel_mask
from captum_advise.baselines.registry import METHOD_NAMES, build_method, explain_batch

__all__ = [
    "CAM_CLASSES",
    "GRADIENT_RELU_METHODS",
    "LAYER_ATTRIBUTIONS",
    "METHOD_NAMES",
    "AdviseMethod",
    "Explanations",
    "GradCamLibraryMethod",
    "LayerGradCamLib",
    "LayerGradCamPlusPlus",
    "LayerLayerCam",
    "LayerScoreCam",
    "LimeMethod",
    "MapVariant",
    "SingleMapMethod",
    "TreeSurrogate",
    "build_method",
    "explain_batch",
    "explain_two_classes",
    "superpixels",
    "top_superpixel_mask",
]
