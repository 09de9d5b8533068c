"""Robustness and sanity experiments: noise ablation, parameter and data randomisation."""

from captum_advise.experiments.data_randomization import run_data_randomization, summarize_data_randomization
from captum_advise.experiments.noise_ablation import run_noise_ablation
from captum_advise.experiments.quantus_checks import QuantusConfig, quantus_summary, run_quantus_checks
from captum_advise.experiments.randomization import randomizable_layers
from captum_advise.experiments.robustness import RobustnessConfig, robustness_summary, run_robustness
from captum_advise.experiments.robustness_methods import robustness_explanation
from captum_advise.experiments.sanity import (
    SanityConfig,
    noise_floor,
    run_parameter_randomization,
    summarize_similarity,
)
from captum_advise.experiments.sanity_maps import sanity_maps
from captum_advise.experiments.similarity import map_similarity

__all__ = [
    "QuantusConfig",
    "RobustnessConfig",
    "SanityConfig",
    "map_similarity",
    "noise_floor",
    "quantus_summary",
    "randomizable_layers",
    "robustness_explanation",
    "robustness_summary",
    "run_data_randomization",
    "run_noise_ablation",
    "run_parameter_randomization",
    "run_quantus_checks",
    "run_robustness",
    "sanity_maps",
    "summarize_data_randomization",
    "summarize_similarity",
]
