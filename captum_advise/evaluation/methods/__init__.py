"""The evaluator's methods: each catalogue row's adapter, called as ``explain(batch) -> MethodMaps``."""

from captum_advise.evaluation.methods.advise import AdviseMethod
from captum_advise.evaluation.methods.control_method import ControlMethod
from captum_advise.evaluation.methods.library_method import GradCamLibraryMethod
from captum_advise.evaluation.methods.lime import LimeMethod
from captum_advise.evaluation.methods.maps import ExplanationBatch, MapVariant, MethodMaps, SingleMapMethod
from captum_advise.evaluation.methods.registry import build_method

__all__ = [
    "AdviseMethod",
    "ControlMethod",
    "ExplanationBatch",
    "GradCamLibraryMethod",
    "LimeMethod",
    "MapVariant",
    "MethodMaps",
    "SingleMapMethod",
    "build_method",
]
