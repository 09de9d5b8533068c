"""Matplotlib figure sheets like the paper's: explanation, unit and depth sheets."""

from captum_advise.figures.depth_sheet import depth_sheet
from captum_advise.figures.explanation_sheet import explanation_sheet
from captum_advise.figures.unit_sheet import unit_sheet

__all__ = ["depth_sheet", "explanation_sheet", "unit_sheet"]
