"""pytorch-grad-cam's methods as Captum layer attributions: the library's maps, Captum's call forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution
from captum.metrics import infidelity, sensitivity_max
from helpers.methods import batch_of, class_maps
from helpers.networks import small_cnn
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget
from torch import nn

from captum_advise.attr import for_captum_metrics, normalize_and_resize
from captum_advise.cams import (
    LayerGradCamLib,
    LayerGradCamPlusPlus,
    LayerLayerCam,
    LayerScoreCam,
)
from captum_advise.cams.library import shared_score_cam_forwards
from captum_advise.evaluation.methods import GradCamLibraryMethod

WRAPPERS = {
    LayerGradCamLib: GradCAM,
    LayerGradCamPlusPlus: GradCAMPlusPlus,
    LayerScoreCam: ScoreCAM,
    LayerLayerCam: LayerCAM,
}


def images(n: int = 3) -> torch.Tensor:
    torch.manual_seed(9)
    return torch.rand(n, 3, 16, 16) * 2 - 1


def library_output(wrapper_maps: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """What pytorch-grad-cam 1.5.7 does after its layer-resolution map: scale and resize, then scale again."""
    resized = scale_cam_image(wrapper_maps[:, 0].numpy(), size)
    return scale_cam_image(np.maximum(resized, 0))


@pytest.mark.parametrize("wrapper", list(WRAPPERS), ids=lambda w: w.__name__)
def test_each_wrapper_gives_the_librarys_map(wrapper):
    net, x, targets = small_cnn(), images(), [0, 3, 1]
    maps = wrapper(net, net[1]).attribute(x, target=targets, relu_attributions=True)
    assert maps.shape == (3, 1, 16, 16) and maps.dtype == torch.float32
    with WRAPPERS[wrapper](model=net, target_layers=[net[1]]) as cam:
        expected = cam(input_tensor=x, targets=[ClassifierOutputTarget(c) for c in targets])
    np.testing.assert_allclose(library_output(maps, (16, 16)), expected, atol=1e-6)
    # Without the ReLU (Captum's default) the negative evidence stays, and the positive part is the same.
    signed = wrapper(net, net[1]).attribute(x, target=targets)
    torch.testing.assert_close(torch.relu(signed), maps)


@pytest.mark.parametrize("wrapper", list(WRAPPERS), ids=lambda w: w.__name__)
def test_score_softmax_explains_the_probability_as_the_library_does(wrapper):
    net, x, targets = small_cnn(), images(), [0, 3, 1]
    maps = wrapper(net, net[1], score="softmax").attribute(x, target=targets, relu_attributions=True)
    with WRAPPERS[wrapper](model=net, target_layers=[net[1]]) as cam:
        expected = cam(input_tensor=x, targets=[ClassifierOutputSoftmaxTarget(c) for c in targets])
    np.testing.assert_allclose(library_output(maps, (16, 16)), expected, atol=1e-6)
    logits = wrapper(net, net[1]).attribute(x, target=targets, relu_attributions=True)
    assert (maps - logits).abs().max() > 1e-4


@pytest.mark.parametrize("name", ["gradcam", "gradcampp", "scorecam", "layercam"])
def test_the_evaluators_method_is_the_captum_attribution_normalised_and_upsampled(name):
    net, x, targets = small_cnn(), images(), torch.tensor([0, 3, 1])
    wrapper = next(w for w in WRAPPERS if w.method == name)
    at_layer = wrapper(net, net[1], score="softmax").attribute(x, target=targets, relu_attributions=True)
    expected = normalize_and_resize(at_layer[:, 0], (16, 16), "matlab_bicubic")
    torch.testing.assert_close(
        class_maps(GradCamLibraryMethod(name), net, net[1], x, targets), expected, rtol=0, atol=0
    )


def test_score_cam_shares_its_masked_forwards_between_classes_to_the_bit():
    net, x = small_cnn(), images()
    calls = []
    handle = net.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    try:
        separate = [
            LayerScoreCam(net, net[1], score="softmax", score_cam_batch_size=5).attribute(x, target=t) for t in (0, 3)
        ]
        separate_calls, calls[:] = list(calls), []
        with shared_score_cam_forwards():
            shared = [
                LayerScoreCam(net, net[1], score="softmax", score_cam_batch_size=5).attribute(x, target=t)
                for t in (0, 3)
            ]
            # Another batch size gives other masked batches: not shared.
            LayerScoreCam(net, net[1], score_cam_batch_size=4).attribute(x[:1], target=1)
        shared_calls = list(calls)
    finally:
        handle.remove()
    # Per image: its own forward pass, then its 12 units' masked copies in batches of 5 (of 4 for the last call).
    assert separate_calls == 2 * 3 * [1, 5, 5, 2]
    assert shared_calls == 3 * [1, 5, 5, 2] + 3 * [1] + [1, 4, 4, 4]
    for one, other in zip(separate, shared, strict=True):
        assert torch.equal(one, other)
    assert not (separate[0] == separate[1]).all()


def test_the_evaluators_score_cam_equals_its_maps_class_by_class():
    net, x = small_cnn(), images()
    method = GradCamLibraryMethod("scorecam", score_cam_batch_size=3)
    first, second = torch.tensor([0, 3, 1]), torch.tensor([2, 2, 4])
    explained = method.explain(batch_of(net, net[1], x, first, second))
    for n in range(3):
        assert torch.equal(explained.maps[n][0], class_maps(method, net, net[1], x, first)[n])
        assert torch.equal(explained.second_maps[n][0], class_maps(method, net, net[1], x, second)[n])


def test_a_bad_score_is_a_one_line_error():
    net = small_cnn()
    with pytest.raises(ValueError, match=r"score must be one of \('softmax', 'logit'\), got 'probability'"):
        LayerGradCamLib(net, net[1], score="probability")


@pytest.mark.parametrize("wrapper", [LayerGradCamPlusPlus, LayerLayerCam], ids=lambda w: w.__name__)
def test_every_captum_target_form_and_batched_equals_one_by_one(wrapper):
    net, x = small_cnn(), images()
    method = wrapper(net, net[2])
    predicted = net(x).argmax(dim=1)
    per_example = torch.cat([method.attribute(x[n : n + 1], target=int(predicted[n])) for n in range(3)])
    forms = [None, predicted, predicted.tolist(), [(int(c),) for c in predicted]]
    for target in forms:
        torch.testing.assert_close(method.attribute(x, target=target), per_example)
    same_class = torch.cat([method.attribute(x[n : n + 1], target=2) for n in range(3)])
    for target in (2, (2,), torch.tensor([2]), torch.tensor(2)):
        torch.testing.assert_close(method.attribute(x, target=target), same_class)
    with pytest.raises(ValueError, match=r"target class indices must lie in \[0, 4\]"):
        method.attribute(x, target=7)


def test_hooks_removed_and_model_state_restored_on_every_path():
    net = small_cnn().train()
    net[0].weight.requires_grad_(False)
    running_mean = net[3].running_mean.clone()
    for wrapper in WRAPPERS:
        method = wrapper(net, net[2])
        method.attribute(images(2), target=1)
        with pytest.raises(ValueError):
            method.attribute(images(2), target=[1, 2, 3])
        with pytest.raises(ValueError, match="attribute_to_layer_input"):
            method.attribute(images(2), target=1, attribute_to_layer_input=True)
        for module in net.modules():
            assert module.training and not module._forward_hooks and not module._backward_hooks
        assert not net[0].weight.requires_grad and net[2].weight.requires_grad
        assert all(parameter.grad is None for parameter in net.parameters())
        torch.testing.assert_close(net[3].running_mean, running_mean)


class TwoInputs(nn.Module):
    """A network of two images and a scale (an additional forward argument)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = small_cnn()

    def forward(self, first: torch.Tensor, second: torch.Tensor, scale: float) -> torch.Tensor:
        return self.body(first + second) * scale


class Bound(nn.Module):
    """The same network with its second image and scale fixed: what the library is given."""

    def __init__(self, net: TwoInputs, second: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.net, self.second, self.scale = net, second, scale

    def forward(self, first: torch.Tensor) -> torch.Tensor:
        return self.net(first, self.second, self.scale)


def test_tuple_inputs_and_additional_forward_args_reach_the_model():
    net = TwoInputs().eval()
    first, second = images(2), images(2) * 0.5
    method = LayerGradCamPlusPlus(net, net.body[2])
    maps = method.attribute((first, second), [1, 4], (3.0,), relu_attributions=True)
    with GradCAMPlusPlus(model=Bound(net, second, 3.0), target_layers=[net.body[2]]) as cam:
        expected = cam(input_tensor=first, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(4)])
    np.testing.assert_allclose(library_output(maps, (16, 16)), expected, atol=1e-6)
    without_second = method.attribute((first, torch.zeros_like(second)), [1, 4], (3.0,), relu_attributions=True)
    assert not torch.allclose(maps, without_second)


@pytest.mark.parametrize("wrapper", list(WRAPPERS), ids=lambda w: w.__name__)
def test_captum_metrics_run_on_every_wrapper(wrapper):
    net, x = small_cnn(), images(2)
    method = wrapper(net, net[2])
    scores = sensitivity_max(for_captum_metrics(method.attribute), x, target=1, n_perturb_samples=3)
    assert scores.shape == (2,) and torch.isfinite(scores).all()

    def perturb(inputs):
        noise = torch.randn_like(inputs) * 0.05
        return noise, inputs - noise

    maps = LayerAttribution.interpolate(method.attribute(x, target=1), (16, 16)).expand_as(x)
    values = infidelity(net, perturb, x, maps, target=1, n_perturb_samples=4)
    assert values.shape == (2,) and torch.isfinite(values).all()


def test_on_the_real_mobilenet_the_maps_equal_the_librarys(mobilenet_v2, sample_photos):
    x, labels = sample_photos
    layer = mobilenet_v2.features[18]
    maps = LayerGradCamPlusPlus(mobilenet_v2, layer).attribute(x, target=list(labels), relu_attributions=True)
    assert maps.shape == (3, 1, 7, 7)
    with GradCAMPlusPlus(model=mobilenet_v2, target_layers=[layer]) as cam:
        expected = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in labels])
    np.testing.assert_allclose(library_output(maps, (224, 224)), expected, atol=1e-5)
