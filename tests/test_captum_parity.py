"""LayerADVISE accepts every call LayerGradCam accepts (modelled on Captum's test_targets and
test_hook_removal configs), and handles the model states and inputs Captum users meet."""

from __future__ import annotations

import warnings

import matplotlib
import pytest
import torch
from captum.attr import LayerGradCam, visualization
from helpers.networks import batch_norm_net, model_state, tiny_cnn, tiny_images

from captum_advise import LayerADVISE

matplotlib.use("Agg")

# Captum's target forms for an (N, C) output, each with the class of every example it means.
TARGET_FORMS = [
    (2, [2, 2, 2]),
    ((2,), [2, 2, 2]),
    ([0, 3, 4], [0, 3, 4]),
    ([(0,), (3,), (4,)], [0, 3, 4]),
    (torch.tensor([0, 3, 4]), [0, 3, 4]),
    (torch.tensor(1), [1, 1, 1]),
    (torch.tensor([1]), [1, 1, 1]),
]


@pytest.mark.parametrize(("target", "classes"), TARGET_FORMS, ids=lambda value: repr(value)[:24])
@pytest.mark.parametrize("peaks", ["auto", "all", 1])
def test_every_captum_target_form_equals_one_example_at_a_time(target, classes, peaks):
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    batched = advise.attribute(images, target=target, peaks=peaks)
    for n, c in enumerate(classes):
        single = advise.attribute(images[n : n + 1], target=c, peaks=peaks)
        torch.testing.assert_close(batched[n : n + 1], single, rtol=1e-5, atol=1e-7)


def test_layer_grad_cams_positional_call_and_attr_dim_summation():
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1], score="logit")
    gradcam = LayerGradCam(net, net[1])
    for relu in (True, False):
        for summation in (True, False):
            ours = advise.attribute(images, 1, None, False, relu, summation, None, peaks="all")
            theirs = gradcam.attribute(images, 1, None, False, relu, summation, None)
            assert ours.shape == theirs.shape == ((3, 1, 14, 14) if summation else (3, 12, 14, 14))
            torch.testing.assert_close(ours, theirs)
    # Positional relu_attributions is relu_attributions, not peaks.
    torch.testing.assert_close(
        advise.attribute(images, 1, None, False, False), advise.attribute(images, target=1, relu_attributions=False)
    )
    # Per-unit maps of a group: zero outside it, and they add up to the group's map.
    relevance = advise.relevance(images)
    per_unit = advise.attribute(images, 1, None, False, False, False, peaks=2)
    outside = (relevance != 2).unsqueeze(-1).unsqueeze(-1).expand_as(per_unit)
    assert per_unit[outside].abs().max() == 0
    torch.testing.assert_close(
        per_unit.sum(dim=1, keepdim=True), advise.attribute(images, 1, None, False, False, True, peaks=2)
    )


def test_a_target_tuple_beyond_the_class_and_non_integer_targets_are_refused():
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    with pytest.raises(ValueError, match=r"target tuple \(1, 2\) indexes output dimensions beyond the class"):
        advise.attribute(images, target=(1, 2))
    with pytest.raises(ValueError, match=r"target class indices must be integers, got 1\.7"):
        advise.attribute(images, target=1.7)
    with pytest.raises(ValueError, match=r"target class indices must be integers, got 1\.5"):
        advise.attribute(images, target=[0, 1.5, 2])
    with pytest.raises(ValueError, match=r"integer class indices, got dtype torch\.float32"):
        advise.attribute(images, target=torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="must be integers, got True"):
        advise.attribute(images, target=True)


def test_inference_mode_gets_a_one_line_error_and_no_grad_works():
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    with torch.inference_mode(), pytest.raises(RuntimeError, match=r"needs gradients.*outside torch\.inference_mode"):
        advise.attribute(images)
    with torch.no_grad():
        assert advise.attribute(images).shape == (3, 1, 14, 14)


def test_a_model_in_training_mode_is_explained_in_eval_mode_and_left_as_found():
    net, images = batch_norm_net(), tiny_images()
    net.train()
    buffers = [buffer.clone() for buffer in net.buffers()]
    before = model_state(net)
    advise = LayerADVISE(net, net[2])
    with pytest.warns(UserWarning, match="training mode.*eval mode.*restored"):
        first = advise.attribute(images, target=1, peaks="all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per LayerADVISE
        second = advise.attribute(images, target=1, peaks="all")
    torch.testing.assert_close(first, second)
    assert all(torch.equal(a, b) for a, b in zip(buffers, net.buffers(), strict=True))
    assert model_state(net) == before and net.training
    torch.testing.assert_close(first, LayerADVISE(net.eval(), net[2]).attribute(images, target=1, peaks="all"))


def test_nan_in_the_layer_names_the_example_and_the_unit():
    net, images = tiny_cnn(), tiny_images()
    images = images.clone()
    images[1, :, 4, 4] = torch.nan  # example 1: every unit of the first convolution sees it
    with pytest.raises(ValueError, match=r"NaN or Inf \(example 1 unit 0, example 1 unit 1, .* and 7 more\)"):
        LayerADVISE(net, net[1]).attribute(images)


def test_hooks_are_removed_when_the_layer_output_is_refused():
    net, images = tiny_cnn(), tiny_images()
    before = model_state(net)
    with pytest.raises(ValueError, match="N, K, U, V"):
        LayerADVISE(net, net[6]).attribute(images)
    with pytest.raises(ValueError, match="integers"):
        LayerADVISE(net, net[1]).explain(images, target=0.5)
    assert model_state(net) == before


def test_explain_lists_only_groups_with_a_map_so_every_one_can_be_visualised():
    """The documented way around an all-zero map (e.g. ``peaks=p`` where an image has no such unit)."""
    net, images = tiny_cnn(), tiny_images()
    advise = LayerADVISE(net, net[1])
    explanation = advise.explain(images, target=[0, 3, 4])
    for n, groups in enumerate(explanation.groups):
        for group in groups:
            assert group.attribution.max() > group.attribution.min()
            attribution = group.attribution[..., None].detach().numpy()
            figure, _ = visualization.visualize_image_attr(attribution, sign="absolute_value", use_pyplot=False)
            assert figure is not None
        missing = max(explanation.peak_counts[n]) + 1
        empty = advise.attribute(images[n : n + 1], target=[0, 3, 4][n], peaks=missing)
        assert empty.abs().max() == 0  # documented: an image without such units gets an all-zero map
        assert not (empty.flatten(1).amax(dim=1) > 0).item()  # the check the quickstart shows
