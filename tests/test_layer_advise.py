"""LayerADVISE against a manual computation, the real MobileNetV2, Captum's own tools, and bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam, NoiseTunnel, visualization
from captum.metrics import infidelity, sensitivity_max
from helpers.networks import model_state, tiny_cnn, tiny_images
from reference_ssvkernel import ssvkernel
from scipy.signal import find_peaks
from torch import nn

from captum_advise import LayerADVISE, adaptive_kde, count_peaks
from captum_advise.attr import for_captum_metrics, unit_relevance
from captum_advise.attr.unit_relevance import flatten_column_major
from captum_advise.matlab import resize_weights
from conftest import DEVICES


def manual_relevance(activations: torch.Tensor) -> torch.Tensor:
    """Peak counts from the line-by-line port of the authors' estimator and scipy's find_peaks."""
    counts = []
    for unit in activations.detach().double().numpy():
        values = unit.flatten(order="F")
        estimate = ssvkernel(values, np.linspace(0, 1, values.size))
        counts.append(0 if estimate is None else len(find_peaks(estimate[0])[0]))
    return torch.tensor(counts)


def manual_group_map(activations: torch.Tensor, gradients: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    total = torch.zeros(activations.shape[1:])
    for unit in members.nonzero().flatten().tolist():
        total += gradients[unit].mean() * activations[unit]
    return total


def manual_pieces(net: nn.Sequential, image: torch.Tensor, target: int):
    activations = net[:2](image.unsqueeze(0)).detach().requires_grad_()
    probabilities = torch.softmax(net[2:](activations), dim=1)
    (gradients,) = torch.autograd.grad(probabilities[0, target], activations)
    return activations[0].detach(), gradients[0], manual_relevance(activations[0])


def test_group_maps_equal_a_manual_computation():
    net, images, targets = tiny_cnn(), tiny_images(), [0, 3, 4]
    advise = LayerADVISE(net, net[1])
    explanation = advise.explain(images, target=targets)
    seen_peak_counts = set()
    for n, target in enumerate(targets):
        activations, gradients, relevance = manual_pieces(net, images[n], target)
        assert torch.equal(explanation.relevance[n], relevance)
        evidence = {}
        for peaks in range(int(relevance.max()) + 2):
            members = relevance == peaks
            expected = torch.relu(manual_group_map(activations, gradients, members))
            got = advise.attribute(images, target=targets, peaks=peaks)[n, 0]
            torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-9)
            if members.any() and expected.max() > expected.min():
                seen_peak_counts.add(peaks)
                evidence[peaks] = float(manual_group_map(activations, gradients, members).sum())
                group = explanation.group(n, peaks)
                assert torch.equal(group.units, members.nonzero().flatten())
                torch.testing.assert_close(group.attribution, expected, rtol=1e-6, atol=1e-9)
        assert explanation.peak_counts[n] == sorted(evidence)
        best = max(evidence, key=evidence.get)
        assert explanation.auto_peaks[n] == best
        torch.testing.assert_close(
            advise.attribute(images, target=targets)[n, 0], explanation.group(n, best).attribution
        )
    assert len(seen_peak_counts) >= 3, "the tiny CNN should exercise several peak groups"
    torch.testing.assert_close(explanation.grad_cam, advise.attribute(images, target=targets, peaks="all")[:, 0])


def test_absent_peak_count_gives_zeros_and_relu_can_be_turned_off():
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    assert torch.equal(advise.attribute(images, peaks=99), torch.zeros(3, 1, 14, 14))
    signed = torch.cat([advise.attribute(images, target=c, peaks=1, relu_attributions=False) for c in range(5)])
    assert (signed < 0).any()
    rectified = torch.cat([advise.attribute(images, target=c, peaks=1) for c in range(5)])
    torch.testing.assert_close(rectified, torch.relu(signed))


def test_interpolate_min_max_normalises_then_resizes_with_matlabs_bicubic():
    net, images = tiny_cnn(), tiny_images()
    explanation = LayerADVISE(net, net[1]).explain(images)
    resized = explanation.interpolate((20, 20))
    torch_resized = explanation.interpolate((20, 20), "bicubic")
    weights = resize_weights(14, 20)
    for n, groups in enumerate(explanation.groups):
        assert resized[n].shape == (len(groups), 20, 20)
        for index, group in enumerate(groups):
            low, high = group.attribution.min(), group.attribution.max()
            normalised = (group.attribution - low) / (high - low)
            expected = (weights @ normalised.double() @ weights.T).float()
            torch.testing.assert_close(resized[n][index], expected)
            torch_expected = torch.nn.functional.interpolate(normalised[None, None], (20, 20), mode="bicubic")
            torch.testing.assert_close(torch_resized[n][index], torch_expected[0, 0])


def test_layer_input_equals_previous_layer_output():
    net, images = tiny_cnn(), tiny_images()
    on_output = LayerADVISE(net, net[1]).attribute(images, peaks="all")
    on_input = LayerADVISE(net, net[2]).attribute(images, peaks="all", attribute_to_layer_input=True)
    torch.testing.assert_close(on_input, on_output)
    torch.testing.assert_close(
        LayerADVISE(net, net[2]).relevance(images, attribute_to_layer_input=True),
        LayerADVISE(net, net[1]).relevance(images),
    )


def test_gradient_density_uses_the_gradients_of_the_target():
    net, images = tiny_cnn(), tiny_images(1)
    _, gradients, _ = manual_pieces(net, images[0], 2)
    expected = count_peaks(adaptive_kde(flatten_column_major(gradients[None])).density)
    got = LayerADVISE(net, net[1], density_of="gradients").relevance(images, target=2)
    assert torch.equal(got[0], expected)


def test_logit_scores_give_grad_cam_on_logits():
    net, images = tiny_cnn(), tiny_images()
    ours = LayerADVISE(net, net[1], score="logit").attribute(images, target=1, peaks="all")
    theirs = LayerGradCam(net, net[1]).attribute(images, target=1, relu_attributions=True)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_works_under_no_grad_and_returns_a_tensor_for_tuple_inputs_as_layer_grad_cam():
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    plain = advise.attribute(images, target=2)
    with torch.no_grad():
        wrapped = advise.attribute((images,), target=2)
    assert isinstance(LayerGradCam(net, net[1]).attribute((images,), target=2), torch.Tensor)
    assert isinstance(wrapped, torch.Tensor)
    torch.testing.assert_close(wrapped, plain)
    upsampled = LayerAttribution.interpolate(advise.attribute((images,), target=2), (28, 28))
    assert upsampled.shape == (3, 1, 28, 28)


def test_model_state_is_left_as_found_also_after_an_error():
    net, images = tiny_cnn(), tiny_images()
    net[2].train()
    net[0].weight.requires_grad_(False)
    before = model_state(net)
    advise = LayerADVISE(net, net[1])
    with pytest.warns(UserWarning, match="training mode"):
        advise.attribute(images)
    advise.explain(images, target=1)
    assert model_state(net) == before

    def failing_forward(x: torch.Tensor) -> torch.Tensor:
        net(x)
        raise RuntimeError("boom inside the forward pass")

    with pytest.raises(RuntimeError, match="boom"):
        LayerADVISE(failing_forward, net[1]).attribute(images)
    with pytest.raises(ValueError, match="target has 2 entries"):
        advise.attribute(images, target=[1, 2])
    assert model_state(net) == before


# --- the real MobileNetV2 on real photos ---------------------------------------------------------


@pytest.fixture(scope="module")
def advise_mobilenet(mobilenet_v2):
    return LayerADVISE(mobilenet_v2, mobilenet_v2.features[18])


def test_relevance_equals_the_density_of_the_hooked_activations(mobilenet_v2, advise_mobilenet, sample_photos):
    images, _ = sample_photos
    captured = []
    handle = mobilenet_v2.features[18].register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))
    try:
        with torch.no_grad():
            mobilenet_v2(images)
    finally:
        handle.remove()
    activations = captured[0]
    samples = activations.permute(0, 1, 3, 2).reshape(-1, 49)
    expected = count_peaks(adaptive_kde(samples).density).view(3, 1280)
    relevance = advise_mobilenet.relevance(images)
    assert torch.equal(relevance, expected)
    assert len(relevance.unique()) >= 3


def test_all_units_equal_captum_layer_grad_cam_on_softmax(mobilenet_v2, advise_mobilenet, sample_photos):
    images, _ = sample_photos
    ours = advise_mobilenet.attribute(images, peaks="all")
    predicted = mobilenet_v2(images).argmax(dim=1)
    softmax_model = lambda x: torch.softmax(mobilenet_v2(x), dim=1)  # noqa: E731
    theirs = (
        LayerGradCam(softmax_model, mobilenet_v2.features[18])
        .attribute(images, target=predicted, relu_attributions=True)
        .detach()
    )
    assert theirs.max() > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6 * float(theirs.max()))


def test_batched_equals_one_image_at_a_time(advise_mobilenet, sample_photos):
    images, labels = sample_photos
    batched = advise_mobilenet.explain(images, target=labels)
    maps = advise_mobilenet.attribute(images, target=labels)
    for n in range(3):
        single = advise_mobilenet.explain(images[n : n + 1], target=labels[n])
        assert torch.equal(single.relevance[0], batched.relevance[n])
        assert single.peak_counts[0] == batched.peak_counts[n]
        assert single.auto_peaks[0] == batched.auto_peaks[n]
        scale = float(maps[n].abs().max())
        torch.testing.assert_close(
            advise_mobilenet.attribute(images[n : n + 1], target=labels[n])[0], maps[n], rtol=1e-4, atol=1e-5 * scale
        )


@pytest.mark.parametrize("device", DEVICES)
def test_auto_maps_without_read_back_equal_the_explained_auto_group(mobilenet_v2, sample_photos, device):
    """attribute's "auto" (every possible count, no read-back) picks explain's auto group; on CUDA the
    relevance equals the CPU estimate of the very same activations."""
    model = copy.deepcopy(mobilenet_v2).to(device)
    images, labels = sample_photos[0].to(device), torch.as_tensor(sample_photos[1]).to(device)
    advise = LayerADVISE(model, model.features[18])
    explained = advise.explain(images, target=labels)
    maps = advise.attribute(images, target=labels)
    assert maps.device.type == device
    for n, peaks in enumerate(explained.auto_peaks):
        assert peaks is not None
        chosen = advise.attribute(images, target=labels, peaks=peaks)[n]
        torch.testing.assert_close(maps[n], chosen, rtol=0, atol=0)
    captured = []
    handle = model.features[18].register_forward_hook(lambda m, i, o: captured.append(o.detach().cpu()))
    try:
        relevance = advise.relevance(images)
    finally:
        handle.remove()
    assert torch.equal(relevance.cpu(), unit_relevance(captured[0]))


def test_mobilenet_state_unchanged(mobilenet_v2, advise_mobilenet, sample_photos):
    images, _ = sample_photos
    before = model_state(mobilenet_v2)
    advise_mobilenet.attribute(images[:1])
    with pytest.raises(ValueError):
        advise_mobilenet.attribute(images[:1], target=5000)
    assert model_state(mobilenet_v2) == before


def test_captum_tools_run_on_layer_advise(mobilenet_v2, advise_mobilenet, sample_photos):
    images, labels = sample_photos
    images, labels = images[:2], labels[:2]
    # Captum's metrics expect a tuple back for tuple inputs (its input attributions' convention);
    # layer attributions return a tensor, LayerGradCam as much as LayerADVISE.
    with pytest.raises(RuntimeError, match="must match the size"):
        sensitivity_max(LayerGradCam(mobilenet_v2, mobilenet_v2.features[18]).attribute, images, target=labels)
    sensitivity = sensitivity_max(
        for_captum_metrics(advise_mobilenet.attribute), images, target=labels, n_perturb_samples=2
    )
    assert sensitivity.shape == (2,) and torch.isfinite(sensitivity).all()
    gradcam = for_captum_metrics(LayerGradCam(mobilenet_v2, mobilenet_v2.features[18]).attribute)
    assert torch.isfinite(sensitivity_max(gradcam, images, target=labels, n_perturb_samples=2)).all()

    maps = LayerAttribution.interpolate(advise_mobilenet.attribute(images, target=labels), (224, 224), "bicubic")
    input_shaped = maps.expand_as(images).detach()

    def perturb(inputs: torch.Tensor):
        noise = 0.01 * torch.randn_like(inputs)
        return noise, inputs - noise

    score = infidelity(mobilenet_v2, perturb, images, input_shaped, target=labels, n_perturb_samples=2)
    assert score.shape == (2,) and torch.isfinite(score).all()

    smoothed = NoiseTunnel(advise_mobilenet).attribute(
        images, nt_type="smoothgrad", nt_samples=2, stdevs=0.05, target=labels, peaks="all"
    )
    assert smoothed.shape == (2, 1, 7, 7) and torch.isfinite(smoothed).all()

    import matplotlib

    matplotlib.use("Agg")
    figure, _ = visualization.visualize_image_attr(
        maps[0].permute(1, 2, 0).numpy(),
        images[0].permute(1, 2, 0).numpy().clip(0, 1),
        method="blended_heat_map",
        sign="positive",
        use_pyplot=False,
    )
    assert figure is not None


# --- bad input ---------------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    net, images = tiny_cnn(), tiny_images()
    with pytest.raises(ValueError, match="not a submodule"):
        LayerADVISE(net, nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match=r"shape \(3, 6\).*\(N, K, U, V\)"):
        LayerADVISE(net, net[5]).attribute(images)
    with pytest.raises(ValueError, match="target has 4 entries but the inputs hold 3"):
        LayerADVISE(net, net[1]).attribute(images, target=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"target class indices must lie in \[0, 4\]"):
        LayerADVISE(net, net[1]).attribute(images, target=7)
    with pytest.raises(ValueError, match="is on meta but the model's parameters are on cpu"):
        LayerADVISE(net, net[1]).attribute(torch.empty(3, 3, 14, 14, device="meta"))
    with pytest.raises(ValueError, match="was not called"):
        LayerADVISE(lambda x: net(x), nn.Conv2d(3, 3, 1)).attribute(images)
    with pytest.raises(ValueError, match="peaks must be"):
        LayerADVISE(net, net[1]).attribute(images, peaks="most")
    with pytest.raises(ValueError, match="density_of must be one of"):
        LayerADVISE(net, net[1], density_of="weights")
    with pytest.raises(ValueError, match="score must be one of"):
        LayerADVISE(net, net[1], score="probability")


def test_second_target_maps_use_the_same_groups():
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    explanation = advise.explain(images, target=[0, 3, 4], second_target="runner_up")
    probabilities = torch.softmax(net(images), dim=1)
    assert torch.equal(explanation.second_target, probabilities.topk(2, dim=1).indices[:, 1])
    for n, groups in enumerate(explanation.groups):
        for group in groups:
            second = advise.attribute(images, target=explanation.second_target.tolist(), peaks=group.peaks)[n, 0]
            torch.testing.assert_close(group.second_attribution, second)
    resized = explanation.interpolate((14, 14), second=True)
    assert [len(maps) for maps in resized] == [len(groups) for groups in explanation.groups]
    with pytest.raises(ValueError, match="no second-target maps"):
        advise.explain(images).interpolate((14, 14), second=True)
