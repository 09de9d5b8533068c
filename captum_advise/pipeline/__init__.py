"""Pipelines that run ADVISE over images with a loaded model."""

from captum_advise.pipeline.explain_images import ExplainedImage, explain_images, top_classes
from captum_advise.pipeline.unit_density import UnitDensity, unit_density

__all__ = ["ExplainedImage", "UnitDensity", "explain_images", "top_classes", "unit_density"]
