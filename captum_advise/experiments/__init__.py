"""Robustness and sanity experiments: noise ablation, parameter and data randomisation."""

from captum_advise.experiments.data_randomization import (
    COMPARISONS,
    DataRandomizationResult,
    TrainedModel,
    run_data_randomization,
    shapes_dataset,
    small_cnn,
    summarize_data_randomization,
    train,
)
from captum_advise.experiments.network_signal import NetworkSignal, network_signal
from captum_advise.experiments.noise_ablation import ablation_plot, relu_options, run_noise_ablation
from captum_advise.experiments.quantus_checks import (
    QUANTUS_METRICS,
    QuantusConfig,
    quantus_explain_func,
    quantus_metric,
    quantus_summary,
    run_quantus_checks,
    smoothed_explain_func,
)
from captum_advise.experiments.randomization import (
    RANDOMIZED_MODULES,
    cascading_randomization,
    independent_randomization,
    randomizable_layers,
    randomize_layer,
)
from captum_advise.experiments.robustness import (
    ROBUSTNESS_COLUMNS,
    RobustnessConfig,
    robustness_summary,
    run_robustness,
)
from captum_advise.experiments.robustness_methods import robustness_explanation
from captum_advise.experiments.sanity import (
    FLOOR_MODE,
    SanityConfig,
    noise_floor,
    run_parameter_randomization,
    sanity_plot,
    summarize_similarity,
)
from captum_advise.experiments.sanity_maps import sanity_maps
from captum_advise.experiments.similarity import MEASURE_TITLES, SIMILARITY_MEASURES, map_similarity

__all__ = [
    "COMPARISONS",
    "FLOOR_MODE",
    "MEASURE_TITLES",
    "QUANTUS_METRICS",
    "RANDOMIZED_MODULES",
    "ROBUSTNESS_COLUMNS",
    "SIMILARITY_MEASURES",
    "DataRandomizationResult",
    "NetworkSignal",
    "QuantusConfig",
    "RobustnessConfig",
    "SanityConfig",
    "TrainedModel",
    "ablation_plot",
    "cascading_randomization",
    "independent_randomization",
    "map_similarity",
    "network_signal",
    "noise_floor",
    "quantus_explain_func",
    "quantus_metric",
    "quantus_summary",
    "randomizable_layers",
    "randomize_layer",
    "relu_options",
    "robustness_explanation",
    "robustness_summary",
    "run_data_randomization",
    "run_noise_ablation",
    "run_parameter_randomization",
    "run_quantus_checks",
    "run_robustness",
    "sanity_maps",
    "sanity_plot",
    "shapes_dataset",
    "small_cnn",
    "smoothed_explain_func",
    "summarize_data_randomization",
    "summarize_similarity",
    "train",
]
