"""Robustness and sanity experiments: noise ablation, parameter and data randomisation."""

from captum_advise.experiments.data_randomization import (
    DataRandomizationResult,
    run_data_randomization,
    shapes_dataset,
    small_cnn,
    train,
)
from captum_advise.experiments.network_signal import NetworkSignal, network_signal
from captum_advise.experiments.noise_ablation import ablation_plot, relu_options, run_noise_ablation
from captum_advise.experiments.randomization import (
    cascading_randomization,
    independent_randomization,
    randomizable_layers,
    randomize_layer,
)
from captum_advise.experiments.sanity import (
    SanityConfig,
    run_parameter_randomization,
    sanity_plot,
    summarize_similarity,
)
from captum_advise.experiments.sanity_maps import SANITY_METHODS, sanity_maps
from captum_advise.experiments.similarity import MEASURE_TITLES, SIMILARITY_MEASURES, map_similarity

__all__ = [
    "MEASURE_TITLES",
    "SANITY_METHODS",
    "SIMILARITY_MEASURES",
    "DataRandomizationResult",
    "NetworkSignal",
    "SanityConfig",
    "ablation_plot",
    "cascading_randomization",
    "independent_randomization",
    "map_similarity",
    "network_signal",
    "randomizable_layers",
    "randomize_layer",
    "relu_options",
    "run_data_randomization",
    "run_noise_ablation",
    "run_parameter_randomization",
    "sanity_maps",
    "sanity_plot",
    "shapes_dataset",
    "small_cnn",
    "summarize_similarity",
    "train",
]
