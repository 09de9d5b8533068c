"""The confidence rule: each group's Score-CAM-style masked input, scored by the model; hand cases and MobileNetV2."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from captum_advise import LayerADVISE
from captum_advise.attr.explanation import min_max_normalize
from captum_advise.attr.group_rules import confidence_choice, confidence_weighted_maps, group_confidence


def sum_model(inputs: torch.Tensor) -> torch.Tensor:
    """Logits (sum of the input, 0): class 0's probability is sigmoid(sum)."""
    return torch.stack([inputs.sum(dim=(1, 2, 3)), torch.zeros(inputs.shape[0])], dim=1)


def test_confidence_is_the_probability_of_the_input_times_the_normalised_map():
    inputs = torch.tensor([[[[1.0, 2.0], [-1.0, 0.5]]]])  # (1, 1, 2, 2): maps at input size need no resize
    maps = torch.tensor([[[[4.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 3.0]], [[2.0, 2.0], [2.0, 2.0]]]])
    kept = torch.tensor([[True, True, False]])  # the constant third map is not scored
    confidence = group_confidence(sum_model, inputs, maps, kept, torch.tensor([0]))
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert confidence[0, 0].item() == pytest.approx(sigmoid(1.0))  # keeps only the top-left 1
    assert confidence[0, 1].item() == pytest.approx(sigmoid(2 / 3 - 1 / 3 + 0.5))
    assert confidence[0, 2].item() == -math.inf
    assert confidence_choice(confidence).tolist() == [0]  # sigmoid(1) > sigmoid(5/6)
    assert confidence_choice(torch.full((1, 2), -math.inf)).tolist() == [-1]
    fused = confidence_weighted_maps(maps[:, :2], confidence[:, :2])
    expected = confidence[0, 0] * torch.tensor([[1.0, 0], [0, 0]]) + confidence[0, 1] * torch.tensor(
        [[0, 1 / 3], [1 / 3, 1.0]], dtype=torch.float64
    )
    torch.testing.assert_close(fused[0].double(), expected, rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def advise_mobilenet(mobilenet_v2):
    return LayerADVISE(mobilenet_v2, mobilenet_v2.features[18])


def test_confidence_peaks_pick_the_group_the_adapter_reports(mobilenet_v2, advise_mobilenet, sample_photos):
    from helpers.methods import batch_of

    from captum_advise.evaluation.methods import AdviseMethod

    images, labels = sample_photos
    targets = torch.as_tensor(labels)
    maps = advise_mobilenet.attribute(images, target=targets, peaks="confidence")
    explanation = advise_mobilenet.explain(images, target=targets)
    second = torch.zeros_like(targets)
    adapter = AdviseMethod(upsample="bilinear")
    found = adapter.explain(batch_of(mobilenet_v2, mobilenet_v2.features[18], images, targets, second))
    for n, variants in enumerate(found.variants):
        chosen = [v.group for v in variants if "advise-confidence" in v.also_as]
        assert len(chosen) == 1 and chosen[0] in explanation.peak_counts[n]
        # One image alone against the batch: float32 maps move by ~5e-5 of their maximum with batch size.
        expected = advise_mobilenet.attribute(images[n : n + 1], target=labels[n], peaks=chosen[0])
        torch.testing.assert_close(maps[n : n + 1], expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_weighted_map_is_the_confidence_weighted_sum_of_the_explained_group_maps(
    mobilenet_v2, advise_mobilenet, sample_photos
):
    images, labels = sample_photos
    targets = torch.as_tensor(labels)
    fused = advise_mobilenet.attribute(images, target=targets, peaks="weighted")
    assert fused.shape == (len(labels), 1, 7, 7) and fused.dtype == images.dtype and (fused >= 0).all()
    explanation = advise_mobilenet.explain(images, target=targets)
    for n, groups in enumerate(explanation.groups):
        maps = torch.stack([group.attribution for group in groups]).unsqueeze(0)  # (1, P, 7, 7), ReLU'd
        one = images[n : n + 1]
        confidence = group_confidence(
            mobilenet_v2, one, maps, torch.ones(maps.shape[:2], dtype=torch.bool), targets[n : n + 1]
        )
        expected = sum(float(c) * min_max_normalize(m) for c, m in zip(confidence[0], maps[0], strict=True))
        # One image alone against the batch: float32 maps move by ~5e-5 of their maximum with batch size.
        torch.testing.assert_close(fused[n, 0], expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_weighted_has_no_per_unit_form():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    with pytest.raises(ValueError, match="no per-unit form"):
        LayerADVISE(net, net[0]).attribute(torch.rand(1, 3, 8, 8), target=0, peaks="weighted", attr_dim_summation=False)


@pytest.mark.parametrize("peaks", ["confidence", "weighted"])
def test_score_cam_style_rules_need_one_input_tensor(peaks):
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    advise = LayerADVISE(lambda a, b: net(a + b), net[0])
    with pytest.raises(ValueError, match=f"peaks='{peaks}' masks the input .* needs one input tensor"):
        advise.attribute((torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)), target=0, peaks=peaks)
