"""The one list of explanation methods: every other list of methods in the package is derived from it.

One row per method: its name (as ``--methods`` and records.csv write it), title and legend (as
summaries print them), kind, the Captum attribution that computes it, the pytorch-grad-cam class
behind it, and flags the evaluator and the experiments read. The command line's choices and help,
the binding's classes, the Captum classes exported by :mod:`captum_advise`, the evaluator's
per-method options, the summary's titles and legends and the experiments' method sets all read
these rows when they are used, so a row added here (or in a test, to :data:`CATALOGUE`) is known
everywhere at once.

This module imports nothing heavy (no torch): the command line reads it to build ``--help``.

Adding a pytorch-grad-cam method is one :class:`MethodEntry` of kind ``"library"`` here and one
thin class in :mod:`captum_advise.cams.library_cams` (``method = "<name>"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ADVISE_ROBUSTNESS_ROWS",
    "ADVISE_RULES",
    "CATALOGUE",
    "EVALUATOR_OPTIONS",
    "MethodEntry",
    "captum_class_homes",
    "entry",
    "method_names",
    "robustness_methods",
    "sanity_methods",
    "title_of",
]

Kind = Literal["advise", "library", "control", "lime"]
Cost = Literal["fast", "slow"]

# The evaluator's per-method options, each a keyword of the methods' adapters
# (:mod:`captum_advise.evaluation.methods`) that a command-line option sets.
EVALUATOR_OPTIONS = (
    "value_range",
    "upsample",
    "rules",
    "random_group_draws",
    "score_cam_batch_size",
    "n_samples",
    "surrogate",
    "aug_smooth",
    "eigen_smooth",
)
# ADVISE's rules besides ``"auto"`` that the evaluator reports as rows of their own.
ADVISE_RULES = ("confidence", "weighted")
# The robustness experiment's ADVISE rows (see :mod:`captum_advise.experiments.robustness_methods`).
ADVISE_ROBUSTNESS_ROWS = ("advise", "advise-confidence", "advise-weighted", "advise-all", "advise-frozen")


@dataclass(frozen=True)
class MethodEntry:
    """One explanation method.

    Attributes:
        name: the method's name in ``--methods``, records.csv and the Python API's method arguments.
        title: how summaries and tables name it.
        legend: one line on what it is, printed below a summary's table.
        kind: ``"advise"``; ``"library"`` (a pytorch-grad-cam class-map method); ``"control"`` (a map
            a method must beat to mean anything: every evaluation scores the controls); ``"lime"``.
        captum_class: the name of its Captum attribution, exported by :mod:`captum_advise` (None:
            LIME runs through Captum's own ``Lime``).
        library_class: the pytorch-grad-cam class the binding runs (None: not a library method).
        base: a meta-method's base method (a name in this catalogue): the library's default base.
        class_agnostic: its map uses no gradient and is the same for every class.
        input_resolution: its map is at the input's resolution (no layer, no upsampling).
        options: the evaluator's options (:data:`EVALUATOR_OPTIONS`) its adapter takes.
        compared: ``evaluate`` compares it by default (the controls come with every run anyway).
        cost: ``"slow"``: hundreds to thousands of forward passes per map (left out of the
            experiments' default sets and of ``evaluate``'s default on a CPU).
        cpu_seconds: roughly how many seconds one photo takes on one core of a 2-core CPU: its
            maps for both classes and their AVX under the reference's mask and at three matched
            areas, at the default options (deletion and insertion not included; measured with
            ``benchmarks/bench_evaluate.py``); ``evaluate`` states its estimate from these before
            it starts.
        maps_per_photo: how many maps of a photo are scored (ADVISE: its groups, its rules and
            its two random-groups draws, about 15 on MobileNetV2).
    """

    name: str
    title: str
    legend: str
    kind: Kind
    captum_class: str | None = None
    library_class: str | None = None
    base: str | None = None
    class_agnostic: bool = False
    input_resolution: bool = False
    options: tuple[str, ...] = ()
    compared: bool = False
    cost: Cost = "fast"
    cpu_seconds: float = 0.4
    maps_per_photo: int = 1

    def __post_init__(self) -> None:
        unknown = [option for option in self.options if option not in EVALUATOR_OPTIONS]
        if unknown:
            raise ValueError(f"{self.name}: unknown evaluator option(s) {unknown}: choose from {EVALUATOR_OPTIONS}")
        if self.kind == "library" and (self.library_class is None or self.captum_class is None):
            raise ValueError(f"{self.name}: a pytorch-grad-cam method names its library class and its Captum class")

    @property
    def home(self) -> str:
        """The module that defines :attr:`captum_class`."""
        return "captum_advise.attr" if self.kind == "advise" else "captum_advise.cams"


def _library(name: str, title: str, legend: str, captum: str, library: str, **flags: Any) -> MethodEntry:
    """A pytorch-grad-cam row: its own options, then ``upsample`` (at the layer's resolution),
    ``eigen_smooth`` (every one) and ``aug_smooth`` (all but the meta-methods)."""
    own = tuple(flags.pop("options", ()))
    common = ("upsample",) * (not flags.get("input_resolution")) + ("eigen_smooth",)
    common += ("aug_smooth",) * (flags.get("base") is None)
    options = own + tuple(option for option in common if option not in own)
    return MethodEntry(name, title, legend, "library", captum, library, options=options, **flags)


_LIB = "pytorch-grad-cam's"
_ENTRIES = (
    MethodEntry(
        "advise",
        "ADVISE",
        "each peak group's Grad-CAM-style map (the group rules and the oracle are rows of their own)",
        "advise",
        "LayerADVISE",
        options=("value_range", "upsample", "rules", "random_group_draws"),
        compared=True,
        cpu_seconds=4.0,
        maps_per_photo=15,
    ),
    _library("gradcam", "Grad-CAM", f"{_LIB} GradCAM", "LayerGradCamLib", "GradCAM", compared=True),
    _library(
        "gradcampp", "Grad-CAM++", f"{_LIB} GradCAMPlusPlus", "LayerGradCamPlusPlus", "GradCAMPlusPlus", compared=True
    ),
    _library(
        "scorecam",
        "Score-CAM",
        f"{_LIB} ScoreCAM",
        "LayerScoreCam",
        "ScoreCAM",
        options=("score_cam_batch_size", "upsample"),
        compared=True,
        cost="slow",
        cpu_seconds=30.0,
    ),
    _library("layercam", "Layer-CAM", f"{_LIB} LayerCAM", "LayerLayerCam", "LayerCAM", compared=True),
    MethodEntry(
        "lime",
        "LIME",
        "MATLAB's imageLIME (superpixels, a tree surrogate, the top 5 kept)",
        "lime",
        options=("n_samples", "surrogate"),
        compared=True,
        cost="slow",
        cpu_seconds=80.0,
    ),
    _library("hirescam", "HiResCAM", f"{_LIB} HiResCAM", "LayerHiResCam", "HiResCAM"),
    _library("xgradcam", "XGrad-CAM", f"{_LIB} XGradCAM", "LayerXGradCam", "XGradCAM"),
    _library(
        "gradcamelementwise",
        "Grad-CAM element-wise",
        f"{_LIB} GradCAMElementWise",
        "LayerGradCamElementWise",
        "GradCAMElementWise",
    ),
    _library(
        "eigencam",
        "EigenCAM",
        f"{_LIB} EigenCAM (the same map for every class)",
        "LayerEigenCam",
        "EigenCAM",
        class_agnostic=True,
    ),
    _library("eigengradcam", "EigenGrad-CAM", f"{_LIB} EigenGradCAM", "LayerEigenGradCam", "EigenGradCAM"),
    _library(
        "ablationcam",
        "Ablation-CAM",
        f"{_LIB} AblationCAM",
        "LayerAblationCam",
        "AblationCAM",
        options=("score_cam_batch_size", "upsample"),
        cost="slow",
        cpu_seconds=45.0,
    ),
    _library(
        "fullgrad",
        "FullGrad",
        f"{_LIB} FullGrad (every bias layer, not one layer; at the input's resolution)",
        "LayerFullGrad",
        "FullGrad",
        input_resolution=True,
        cpu_seconds=4.0,
    ),
    _library(
        "kpcacam",
        "KPCA-CAM",
        f"{_LIB} KPCA_CAM (the same map for every class)",
        "LayerKpcaCam",
        "KPCA_CAM",
        class_agnostic=True,
    ),
    _library("fem", "FEM", f"{_LIB} FEM (the same map for every class)", "LayerFem", "FEM", class_agnostic=True),
    _library("shapleycam", "ShapleyCAM", f"{_LIB} ShapleyCAM", "LayerShapleyCam", "ShapleyCAM"),
    _library(
        "finercam",
        "FinerCAM",
        f"{_LIB} FinerCAM (the class against its three nearest classes)",
        "LayerFinerCam",
        "FinerCAM",
        base="gradcam",
    ),
    _library(
        "refinecam",
        "RefineCAM",
        f"{_LIB} RefineCAM (at one layer: Grad-CAM++ min-max scaled)",
        "LayerRefineCam",
        "RefineCAM",
        base="gradcampp",
    ),
    MethodEntry(
        "random",
        "Random map",
        "control: i.i.d. uniform values at the layer's resolution, seeded per image and class",
        "control",
        "LayerRandomMap",
        options=("upsample",),
    ),
    MethodEntry(
        "center",
        "Centre prior",
        "control: a centred Gaussian at the layer's resolution, the same for every image and class",
        "control",
        "LayerCenterPrior",
        class_agnostic=True,
        options=("upsample",),
    ),
    MethodEntry(
        "randomcam",
        "RandomCAM",
        f"control: {_LIB} RandomCAM (random channel weights over the real activations)",
        "control",
        "LayerRandomCam",
        "RandomCAM",
        options=("upsample",),
    ),
    MethodEntry(
        "brightness",
        "Brightness",
        "control: the photo's luminance at the layer's resolution (no model; the same for both classes)",
        "control",
        "LayerBrightness",
        class_agnostic=True,
        options=("upsample",),
    ),
    MethodEntry(
        "sobelcam",
        "SobelCAM",
        f"control: {_LIB} SobelCAM (an edge map of the image; no model)",
        "control",
        "LayerSobelCam",
        class_agnostic=True,
        input_resolution=True,
    ),
)
# Every method by name, in the order summaries and help list them.
CATALOGUE: dict[str, MethodEntry] = {row.name: row for row in _ENTRIES}


def entry(name: str) -> MethodEntry:
    """The row of ``name``; a one-line error naming the known methods otherwise."""
    if name not in CATALOGUE:
        raise ValueError(f"unknown method {name!r}: choose from {', '.join(CATALOGUE)}")
    return CATALOGUE[name]


def method_names(
    *kinds: Kind, compared: bool | None = None, cost: Cost | None = None, option: str | None = None
) -> tuple[str, ...]:
    """The names of the rows of the given kinds (every kind if none), in catalogue order.

    Args:
        kinds: keep these kinds only.
        compared: keep the rows ``evaluate`` compares by default (True) or the others (False).
        cost: keep the rows of this cost.
        option: keep the rows that take this evaluator option.
    """
    return tuple(
        row.name
        for row in CATALOGUE.values()
        if (not kinds or row.kind in kinds)
        and (compared is None or row.compared == compared)
        and (cost is None or row.cost == cost)
        and (option is None or option in row.options)
    )


def title_of(name: str) -> str:
    """A method's title (the name itself for a name not in the catalogue)."""
    row = CATALOGUE.get(name)
    return row.title if row is not None else name


def captum_class_homes() -> dict[str, str]:
    """Each Captum attribution class of the catalogue and the module that defines it."""
    return {row.captum_class: row.home for row in CATALOGUE.values() if row.captum_class is not None}


def sanity_methods(default: bool = False) -> tuple[str, ...]:
    """The methods the sanity checks compare: ADVISE and every pytorch-grad-cam method; ``default``: those
    ``evaluate`` compares by default, but the slow ones."""
    if default:
        return method_names("advise", "library", compared=True, cost="fast")
    return method_names("advise", "library")


def robustness_methods(default: bool = False) -> tuple[str, ...]:
    """The robustness experiment's rows: ADVISE's five (:data:`ADVISE_ROBUSTNESS_ROWS`) and every
    pytorch-grad-cam method; ``default``: the library methods ``evaluate`` compares by default, but the slow ones."""
    if default:
        return (*ADVISE_ROBUSTNESS_ROWS, *method_names("library", compared=True, cost="fast"))
    return (*ADVISE_ROBUSTNESS_ROWS, *method_names("library"))
