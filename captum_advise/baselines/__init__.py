"""ADVISE, the baselines it is compared with, and the controls, behind one interface for the evaluator."""

from captum_advise.baselines.advise import AdviseMethod
from captum_advise.baselines.captum_layer_cams import (
    LAYER_ATTRIBUTIONS,
    LayerGradCamLib,
    LayerGradCamPlusPlus,
    LayerLayerCam,
    LayerRandomCam,
    LayerScoreCam,
)
from captum_advise.baselines.control_attributions import LayerCenterPrior, LayerRandomMap, LayerSobelCam, center_prior
from captum_advise.baselines.control_method import CONTROL_METHODS, ControlMethod
from captum_advise.baselines.explanations import Explanations, MapVariant, SingleMapMethod, explain_two_classes
from captum_advise.baselines.grad_cam_library import CAM_CLASSES, GRADIENT_RELU_METHODS
from captum_advise.baselines.grad_cam_method import GradCamLibraryMethod
from captum_advise.baselines.lime import LimeMethod, TreeSurrogate, superpixels, top_superpixel_mask
from captum_advise.baselines.registry import COMPARED_METHODS, METHOD_NAMES, build_method, explain_batch

__all__ = [
    "CAM_CLASSES",
    "COMPARED_METHODS",
    "CONTROL_METHODS",
    "GRADIENT_RELU_METHODS",
    "LAYER_ATTRIBUTIONS",
    "METHOD_NAMES",
    "AdviseMethod",
    "ControlMethod",
    "Explanations",
    "GradCamLibraryMethod",
    "LayerCenterPrior",
    "LayerGradCamLib",
    "LayerGradCamPlusPlus",
    "LayerLayerCam",
    "LayerRandomCam",
    "LayerRandomMap",
    "LayerScoreCam",
    "LayerSobelCam",
    "LimeMethod",
    "MapVariant",
    "SingleMapMethod",
    "TreeSurrogate",
    "build_method",
    "center_prior",
    "explain_batch",
    "explain_two_classes",
    "superpixels",
    "top_superpixel_mask",
]
