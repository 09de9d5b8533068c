"""Baseline adapters: real pytorch-grad-cam and Captum LIME, made safe; the ADVISE adapter."""

from __future__ import annotations

import pytest
import torch
from test_layer_advise import model_state, tiny_cnn, tiny_images

from captum_advise import LayerADVISE
from captum_advise.attr import min_max_normalize
from captum_advise.baselines import (
    CAM_CLASSES,
    AdviseMethod,
    GradCamLibraryMethod,
    LimeMethod,
    build_method,
    explain_batch,
    superpixels,
)


@pytest.mark.parametrize("name", sorted(CAM_CLASSES))
def test_grad_cam_library_leaves_the_model_as_found(name):
    net, images = tiny_cnn(), tiny_images()
    net[2].train()
    net[0].weight.requires_grad_(False)
    before = model_state(net)
    maps = GradCamLibraryMethod(name, score_cam_batch_size=4)(net, net[1], images, torch.tensor([0, 1, 2]))
    assert model_state(net) == before
    assert maps.shape == (3, 14, 14) and maps.dtype == torch.float32
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1 + 1e-6


def test_grad_cam_equals_advise_with_all_units_normalised_the_same_way():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 3, 4])
    ours = LayerADVISE(net, net[1]).attribute(images, target=targets, peaks="all")
    theirs = GradCamLibraryMethod("gradcam")(net, net[1], images, targets)
    # pytorch-grad-cam: ReLU, min-max (twice, each with a 1e-7 guard), cv2's bilinear resize (identity here).
    torch.testing.assert_close(theirs, min_max_normalize(ours[:, 0]), rtol=1e-4, atol=1e-5)


def test_grad_cam_library_checks_the_target_count_and_releases_hooks_on_error():
    net, images = tiny_cnn(), tiny_images()
    with pytest.raises(ValueError, match="2 targets for 3 images"):
        GradCamLibraryMethod("gradcam")(net, net[1], images, torch.tensor([0, 1]))
    with pytest.raises(IndexError):
        GradCamLibraryMethod("gradcam")(net, net[1], images, torch.tensor([0, 1, 99]))
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    with pytest.raises(ValueError, match="unknown pytorch-grad-cam method"):
        GradCamLibraryMethod("eigencam")


def test_softmax_and_logit_targets_differ():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 1, 2])
    soft = GradCamLibraryMethod("gradcam", score="softmax")(net, net[1], images, targets)
    logit = GradCamLibraryMethod("gradcam", score="logit")(net, net[1], images, targets)
    assert not torch.allclose(soft, logit, atol=1e-3)


def test_lime_keeps_exactly_the_top_superpixels_and_is_reproducible():
    net = tiny_cnn()
    torch.manual_seed(0)
    tiles = (torch.rand(2, 3, 4, 4) * 255).to(torch.uint8)
    uint8 = tiles.repeat_interleave(7, dim=2).repeat_interleave(7, dim=3)  # 16 flat 7 x 7 tiles: 16 superpixels
    inputs = uint8.float() / 255
    method = LimeMethod(images=uint8, n_samples=40, n_segments=16, top_superpixels=3, batch_size=20)
    maps = method(net, net[1], inputs, torch.tensor([1, 2]))
    assert maps.shape == (2, 28, 28)
    assert set(maps.unique().tolist()) <= {0.0, 1.0}
    for n in range(2):
        segments = superpixels(uint8[n], 16)
        assert segments.unique().numel() == 16
        kept = segments[maps[n] == 1].unique()
        assert len(kept) == 3
        assert torch.equal(maps[n] == 1, torch.isin(segments, kept))
    assert torch.equal(maps, method(net, net[1], inputs, torch.tensor([1, 2])))


def test_advise_adapter_reports_every_group_and_flags_the_auto_group():
    net, images = tiny_cnn(), tiny_images()
    first, second = torch.tensor([0, 3, 4]), torch.tensor([1, 2, 0])
    result = AdviseMethod().explain_batch(net, net[1], images, first, second)
    explanation = LayerADVISE(net, net[1]).explain(images, target=first)
    reference_maps = explanation.interpolate((14, 14))
    for n in range(3):
        variants = result.variants[n]
        assert [v.group for v in variants] == explanation.peak_counts[n]
        assert [v.also_as for v in variants if v.also_as] == ["advise-auto"]
        assert [v.group for v in variants if v.also_as] == [explanation.auto_peaks[n]]
        torch.testing.assert_close(result.maps[n], reference_maps[n])
        assert result.second_maps[n].shape == result.maps[n].shape
    assert result.seconds > 0


def test_registry_builds_every_method_and_single_map_methods_explain_two_classes():
    net, images = tiny_cnn(), tiny_images()
    assert isinstance(build_method("advise"), AdviseMethod)
    with pytest.raises(ValueError, match="unknown method 'gradient'"):
        build_method("gradient")
    result = explain_batch(
        build_method("layercam"), net, net[1], images, torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3]), None
    )
    assert [len(maps) for maps in result.maps] == [1, 1, 1]
    direct = GradCamLibraryMethod("layercam")(net, net[1], images, torch.tensor([1, 2, 3]))
    torch.testing.assert_close(torch.cat(result.second_maps), direct)
