"""Pipelines that run ADVISE over images with a loaded model."""

from captum_advise.pipeline.explain_images import ImageExplanation, explain_images, top_classes
from captum_advise.pipeline.unit_density import UnitDensity, unit_density

__all__ = ["ImageExplanation", "UnitDensity", "explain_images", "top_classes", "unit_density"]
