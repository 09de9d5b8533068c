"""Every class-map method of pytorch-grad-cam 1.5.7 as a Captum attribution, against the library's own output.

The library returns each map ReLU'd, min-max scaled and resized to the input with OpenCV, then
scaled again as the mean over its layers; the attributions return it at the layer's resolution,
unscaled. Applying the library's own ``scale_cam_image`` the same way to an attribution must give
the library's output.
"""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_grad_cam
import torch
import torchvision
from helpers.methods import class_maps
from helpers.networks import pooled_cnn
from pytorch_grad_cam import FinerCAM, FullGrad, RefineCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from captum_advise.cams import library_attribution
from captum_advise.catalogue import CATALOGUE, method_names
from captum_advise.cli.arguments import method_list
from captum_advise.evaluation.methods import build_method

LIBRARY = method_names("library")

# One forward pass per unit for each image: run on the small CNN in the fast tier, on MobileNetV2 in the slow one.
ONE_PASS_PER_UNIT = ("scorecam", "ablationcam")


def _library_output(
    name: str, model: nn.Module, layer: nn.Module, inputs: torch.Tensor, classes: list[int], **smoothing: bool
):
    """What a user of pytorch-grad-cam gets: the library's class called as its README shows."""
    if name == "fullgrad":
        cam = FullGrad(model, [])
    elif name == "refinecam":
        cam = RefineCAM(model, [layer])
    elif name == "finercam":
        cam = FinerCAM(model, [layer])
        return np.concatenate([cam(inputs[n : n + 1], target_idx=c, **smoothing) for n, c in enumerate(classes)])
    else:
        cam = getattr(pytorch_grad_cam, CATALOGUE[name].library_class)(model=model, target_layers=[layer])
    return cam(input_tensor=inputs, targets=[ClassifierOutputTarget(c) for c in classes], **smoothing)


def _ours(
    name: str, model: nn.Module, layer: nn.Module, inputs: torch.Tensor, classes: list[int], **smoothing: bool
) -> np.ndarray:
    attribution = library_attribution(name)(model, layer, **smoothing)
    maps = attribution.attribute(inputs, target=classes, relu_attributions=True)
    if CATALOGUE[name].input_resolution or smoothing.get("aug_smooth"):
        # FullGrad: the library's own scaled map; test-time augmentation: the mean of maps the library
        # scaled one by one (the layer keeps the input's size here, so its resize is the identity).
        return maps[:, 0].numpy()
    # The library scales each layer's map to the input, then their mean again (its 1e-7 shows on small maps).
    return scale_cam_image(scale_cam_image(maps[:, 0].numpy(), tuple(inputs.shape[-2:][::-1])))


def _close(ours: np.ndarray, library: np.ndarray, name: str) -> None:
    assert ours.shape == library.shape, name
    assert np.abs(library).max() > 0, f"{name}: the library's map is all zeros, nothing is compared"
    np.testing.assert_allclose(ours, library, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_every_library_method_equals_the_library_on_a_small_cnn(name):
    model = pooled_cnn()
    layer = model[3]
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 12, 12)
    classes = [1, 4]
    ours = _ours(name, model, layer, inputs, classes)
    assert not any(module._forward_hooks for module in model.modules()), f"{name} left hooks"
    assert all(parameter.grad is None for parameter in model.parameters()), f"{name} left gradients"
    _close(ours, _library_output(name, model, layer, inputs, classes), name)


@pytest.mark.parametrize("name", sorted(set(LIBRARY) - set(ONE_PASS_PER_UNIT)))
@pytest.mark.parametrize("smoothing", ["eigen_smooth", "aug_smooth"])
def test_eigen_smooth_and_aug_smooth_equal_the_librarys(name, smoothing):
    if smoothing not in CATALOGUE[name].options:
        with pytest.raises(ValueError, match="has no aug_smooth"):
            library_attribution(name)(nn.Identity(), nn.Identity(), aug_smooth=True)
        return
    model, layer = pooled_cnn(), None
    torch.manual_seed(1)
    inputs, classes = torch.randn(2, 3, 12, 12), [1, 4]
    if (name, smoothing) == ("fullgrad", "eigen_smooth"):  # the library's map of the small CNN is all zeros
        torch.manual_seed(0)
        model, inputs, classes = torchvision.models.mobilenet_v2().eval(), torch.randn(1, 3, 64, 64), [1]
    layer = model[3] if isinstance(model, nn.Sequential) else model.features[18]
    ours = _ours(name, model, layer, inputs, classes, **{smoothing: True})
    _close(ours, _library_output(name, model, layer, inputs, classes, **{smoothing: True}), name)
    # EigenCAM, EigenGrad-CAM and KPCA-CAM are principal components already, and the library's FEM
    # ignores eigen_smooth: there it changes nothing.
    if smoothing == "aug_smooth" or name not in ("eigencam", "eigengradcam", "kpcacam", "fem"):
        plain = _ours(name, model, layer, inputs, classes)
        assert np.abs(ours - plain).max() > 1e-3, f"{name}: {smoothing} changed nothing"


@pytest.fixture(scope="module")
def random_mobilenet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.mobilenet_v2().eval()


def _mobilenet_case(model: nn.Module, name: str) -> None:
    torch.manual_seed(2)
    inputs = torch.randn(1, 3, 160, 160)
    classes = [int(model(inputs).argmax())]
    layer = model.features[18]
    _close(_ours(name, model, layer, inputs, classes), _library_output(name, model, layer, inputs, classes), name)


# KPCA-CAM's sigmoid kernel saturates on random MobileNetV2's features: the library's map is all
# zeros there, so it is compared on the small CNN only.
@pytest.mark.parametrize("name", sorted(set(LIBRARY) - {*ONE_PASS_PER_UNIT, "kpcacam"}))
def test_every_library_method_equals_the_library_on_mobilenet_v2(random_mobilenet, name):
    """Random weights: the comparison is of code paths, not of explanations."""
    _mobilenet_case(random_mobilenet, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_PASS_PER_UNIT)
def test_per_unit_methods_equal_the_library_on_mobilenet_v2(random_mobilenet, name):
    _mobilenet_case(random_mobilenet, name)


def test_class_agnostic_methods_give_one_map_for_every_class():
    model = pooled_cnn()
    inputs = torch.randn(1, 3, 12, 12)
    agnostic = [name for name in LIBRARY if CATALOGUE[name].class_agnostic]
    assert agnostic == ["eigencam", "kpcacam", "fem"]
    for name in agnostic:
        attribution = library_attribution(name)(model, model[3])
        assert torch.equal(attribution.attribute(inputs, target=0), attribution.attribute(inputs, target=3)), name
    grad_cam = library_attribution("hirescam")(model, model[3])
    assert not torch.equal(grad_cam.attribute(inputs, target=0), grad_cam.attribute(inputs, target=3))


def test_ablation_cam_puts_the_layer_back_after_an_error():
    model = pooled_cnn()
    layer = model[3]
    with pytest.raises(ValueError, match=r"target class indices must lie in \[0, 4\]"):
        library_attribution("ablationcam")(model, layer).attribute(torch.randn(1, 3, 12, 12), target=7)
    assert model[3] is layer


def test_every_method_is_an_evaluator_method_by_name():
    assert method_list("all")[: len(method_list("advise,gradcam,gradcampp,scorecam,layercam,lime"))] == [
        "advise",
        "gradcam",
        "gradcampp",
        "scorecam",
        "layercam",
        "lime",
    ]
    assert set(LIBRARY) <= set(method_list("all"))
    model = pooled_cnn()
    inputs = torch.randn(2, 3, 12, 12)
    for name in method_names("library", compared=False):
        maps = class_maps(build_method(name, upsample="bilinear"), model, model[3], inputs, torch.tensor([0, 2]))
        assert maps.shape == (2, 12, 12) and float(maps.min()) >= 0 and float(maps.max()) <= 1, name


def test_an_unknown_method_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"choose from .*hirescam.*refinecam"):
        build_method("gradcam2")


@pytest.mark.parametrize(
    "smoothing", [{"eigen_smooth": True}, {"aug_smooth": True}, {"aug_smooth": True, "eigen_smooth": True}]
)
def test_advise_smooths_as_the_library_smooths_its_grad_cam(smoothing):
    """With every unit in one group, ADVISE is Grad-CAM: smoothed, it equals the library's smoothed Grad-CAM."""
    from captum_advise import LayerADVISE

    model = pooled_cnn().eval()
    torch.manual_seed(1)
    inputs, classes = torch.randn(2, 3, 12, 12), [1, 4]
    advise = LayerADVISE(model, model[3], score="logit")
    maps = advise.attribute(inputs, target=classes, peaks="all", **smoothing)[:, 0].detach().numpy()
    ours = maps if smoothing.get("aug_smooth") else scale_cam_image(scale_cam_image(maps, (12, 12)))
    library = _library_output("gradcam", model, model[3], inputs, classes, **smoothing)
    _close(ours, library, str(smoothing))
    plain = scale_cam_image(scale_cam_image(advise.attribute(inputs, target=classes, peaks="all")[:, 0].numpy()))
    assert np.abs(ours - plain).max() > 1e-3
    # One peak group: its units alone are projected or augmented, and the predicted class is kept.
    group = advise.attribute(inputs, peaks="auto", **smoothing)
    assert group.shape == (2, 1, 12, 12) and torch.isfinite(group).all()
    with pytest.raises(ValueError, match="eigen_smooth projects one group's units"):
        advise.attribute(inputs, peaks="weighted", eigen_smooth=True)
    with pytest.raises(ValueError, match="aug_smooth averages one map per example"):
        advise.attribute(inputs, attr_dim_summation=False, aug_smooth=True)
