"""The evaluator's methods: pytorch-grad-cam through its Captum attributions, Captum's LIME, the ADVISE adapter,
all called as ``explain(batch)`` or ``class_maps(batch, targets)``."""

from __future__ import annotations

import pytest
import torch
from helpers.methods import batch_of, class_maps
from helpers.networks import model_state, tiny_cnn, tiny_images

from captum_advise import LayerADVISE
from captum_advise.attr import min_max_normalize, normalize_and_resize
from captum_advise.catalogue import method_names
from captum_advise.evaluation.methods import AdviseMethod, GradCamLibraryMethod, LimeMethod, build_method
from captum_advise.evaluation.methods.lime import TreeSurrogate, superpixels, top_superpixel_mask
from captum_advise.matlab import upsample_maps


@pytest.mark.parametrize("name", sorted(method_names("library", compared=True)))
def test_grad_cam_library_leaves_the_model_as_found(name):
    net, images = tiny_cnn(), tiny_images()
    net[2].train()
    net[0].weight.requires_grad_(False)
    before = model_state(net)
    maps = class_maps(GradCamLibraryMethod(name, score_cam_batch_size=4), net, net[1], images, torch.tensor([0, 1, 2]))
    assert model_state(net) == before
    assert maps.shape == (3, 14, 14) and maps.dtype == torch.float32
    assert float(maps.min()) >= 0 and float(maps.max()) <= 1 + 1e-6


def test_grad_cam_equals_advise_with_all_units_normalised_the_same_way():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 3, 4])
    ours = LayerADVISE(net, net[1]).attribute(images, target=targets, peaks="all")
    theirs = class_maps(GradCamLibraryMethod("gradcam"), net, net[1], images, targets)
    # pytorch-grad-cam: ReLU, min-max (twice, each with a 1e-7 guard), cv2's bilinear resize (identity here).
    torch.testing.assert_close(theirs, min_max_normalize(ours[:, 0]), rtol=1e-4, atol=1e-5)


def test_library_maps_are_normalised_at_the_layer_then_upsampled_with_matlabs_bicubic():
    net, images = tiny_cnn(), tiny_images()  # net[2] is a stride-2 convolution: 6 x 6 maps for 14 x 14 inputs
    targets = torch.tensor([0, 3, 4])
    at_layer = torch.relu(LayerADVISE(net, net[2]).attribute(images, target=targets, peaks="all"))[:, 0]
    expected = upsample_maps(min_max_normalize(at_layer), (14, 14))
    theirs = class_maps(GradCamLibraryMethod("gradcam"), net, net[2], images, targets)
    torch.testing.assert_close(theirs, expected, rtol=1e-4, atol=1e-5)
    torch_bicubic = class_maps(GradCamLibraryMethod("gradcam", upsample="bicubic"), net, net[2], images, targets)
    torch.testing.assert_close(torch_bicubic, normalize_and_resize(at_layer, (14, 14), "bicubic"), rtol=1e-4, atol=1e-5)
    assert (theirs - torch_bicubic).abs().max() > 1e-3


def test_grad_cam_library_checks_the_target_count_and_releases_hooks_on_error():
    net, images = tiny_cnn(), tiny_images()
    three = batch_of(net, net[1], images, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="target has 2 entries but the inputs hold 3 examples"):
        GradCamLibraryMethod("gradcam").class_maps(three, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="a batch of 3 inputs needs as many images and classes"):
        batch_of(net, net[1], images, torch.tensor([0, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"target class indices must lie in \[0, 4\], got \[0, 1, 99\]"):
        class_maps(GradCamLibraryMethod("gradcam"), net, net[1], images, torch.tensor([0, 1, 99]))
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    with pytest.raises(ValueError, match="unknown pytorch-grad-cam method"):
        GradCamLibraryMethod("eigencam2")


def test_softmax_and_logit_targets_differ():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 1, 2])
    soft = class_maps(GradCamLibraryMethod("gradcam", score="softmax"), net, net[1], images, targets)
    logit = class_maps(GradCamLibraryMethod("gradcam", score="logit"), net, net[1], images, targets)
    assert not torch.allclose(soft, logit, atol=1e-3)


def test_lime_keeps_exactly_the_top_superpixels_and_is_reproducible():
    net = tiny_cnn()
    torch.manual_seed(0)
    tiles = (torch.rand(2, 3, 4, 4) * 255).to(torch.uint8)
    uint8 = tiles.repeat_interleave(7, dim=2).repeat_interleave(7, dim=3)  # 16 flat 7 x 7 tiles: 16 superpixels
    inputs = uint8.float() / 255
    method = LimeMethod(n_samples=40, n_segments=16, top_superpixels=3, batch_size=20)
    maps = class_maps(method, net, net[1], inputs, torch.tensor([1, 2]), images=uint8)
    assert maps.shape == (2, 28, 28)
    assert set(maps.unique().tolist()) <= {0.0, 1.0}
    for n in range(2):
        segments = superpixels(uint8[n], 16)
        assert segments.unique().numel() == 16
        kept = segments[maps[n] == 1].unique()
        assert len(kept) == 3
        assert torch.equal(maps[n] == 1, torch.isin(segments, kept))
    assert torch.equal(maps, class_maps(method, net, net[1], inputs, torch.tensor([1, 2]), images=uint8))


def test_advise_adapter_reports_every_group_and_flags_the_auto_and_confidence_groups():
    net, images = tiny_cnn(), tiny_images()
    first, second = torch.tensor([0, 3, 4]), torch.tensor([1, 2, 0])
    method = AdviseMethod(rules=("confidence", "weighted"), random_group_draws=0)
    result = method.explain(batch_of(net, net[1], images, first, second))
    advise = LayerADVISE(net, net[1])
    explanation = advise.explain(images, target=first)
    reference_maps = explanation.interpolate((14, 14))
    confident = advise.attribute(images, target=first, peaks="confidence")
    fused = normalize_and_resize(advise.attribute(images, target=first, peaks="weighted")[:, 0], (14, 14))
    for n in range(3):
        *groups, weighted = result.variants[n]
        assert [v.group for v in groups] == explanation.peak_counts[n]
        assert [v.group for v in groups if "advise-auto" in v.also_as] == [explanation.auto_peaks[n]]
        (chosen,) = [v.group for v in groups if "advise-confidence" in v.also_as]
        torch.testing.assert_close(confident[n], advise.attribute(images[n : n + 1], target=first[n], peaks=chosen)[0])
        assert (weighted.method, weighted.group, weighted.also_as) == ("advise-weighted", None, ())
        assert weighted.units == sum(v.units for v in groups)
        torch.testing.assert_close(result.maps[n][-1:], fused[n : n + 1])
        torch.testing.assert_close(result.maps[n][:-1], reference_maps[n])
        assert result.second_maps[n].shape == result.maps[n].shape
    assert result.seconds > 0
    with pytest.raises(ValueError, match="unknown ADVISE rule"):
        AdviseMethod(rules=("magic",)).explain(batch_of(net, net[1], images, first, second))


def test_each_advise_rule_alone_reports_only_its_own_rows():
    net, images = tiny_cnn(), tiny_images()
    first, second = torch.tensor([0, 3, 4]), torch.tensor([1, 2, 0])

    def rows(rules: tuple[str, ...]) -> set[str]:
        result = AdviseMethod(rules=rules, random_group_draws=0).explain(batch_of(net, net[1], images, first, second))
        return {name for labels in result.variants for v in labels for name in (v.method, *v.also_as)}

    assert rows(("weighted",)) == {"advise", "advise-auto", "advise-weighted"}
    assert rows(("confidence",)) == {"advise", "advise-auto", "advise-confidence"}
    assert rows(()) == {"advise", "advise-auto"}
    assert AdviseMethod().rules == ("confidence", "weighted")  # the evaluator reports both by default


def test_registry_builds_every_method_and_single_map_methods_explain_two_classes():
    net, images = tiny_cnn(), tiny_images()
    assert isinstance(build_method("advise"), AdviseMethod)
    with pytest.raises(ValueError, match="unknown method 'gradient'"):
        build_method("gradient")
    result = build_method("layercam").explain(
        batch_of(net, net[1], images, torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3]))
    )
    assert [len(maps) for maps in result.maps] == [1, 1, 1]
    direct = class_maps(GradCamLibraryMethod("layercam"), net, net[1], images, torch.tensor([1, 2, 3]))
    torch.testing.assert_close(torch.cat(result.second_maps), direct)


def test_lime_mask_follows_the_segments_device_whatever_the_importances_device():
    """The surrogate's importances come back on the CPU while the segments live with the model (CUDA)."""
    segments = torch.tensor([[0, 0, 1], [2, 2, 1]])
    importance = torch.tensor([[0.1, 0.7, 0.3]])
    mask = top_superpixel_mask(segments.to("meta"), importance, 2)
    assert mask.device.type == "meta" and mask.shape == (2, 3) and mask.dtype == torch.float32
    assert top_superpixel_mask(segments, importance, 2).tolist() == [[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]


def test_lime_defaults_are_imagelimes_and_the_tree_surrogate_ranks_by_importance():
    method = LimeMethod()
    assert (method.n_samples, method.n_segments, method.top_superpixels, method.surrogate) == (2048, 49, 5, "tree")
    assert method.cs_of == "masked_images" and GradCamLibraryMethod("gradcam").cs_of == "maps"
    with pytest.raises(ValueError, match="surrogate"):
        LimeMethod(surrogate="forest")
    # A target that depends only on feature 2 (and a little on 0): the tree ranks 2 first, then 0.
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (200, 4), generator=generator).float()
    y = 3 * x[:, 2] + 0.5 * x[:, 0]
    tree = TreeSurrogate()
    tree.fit(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y, torch.ones(200)), batch_size=64))
    importance = tree.representation()
    assert importance.shape == (1, 4) and importance[0].argsort(descending=True)[:2].tolist() == [2, 0]
    torch.testing.assert_close(tree(x[:3]), y[:3].double())


def test_lime_linear_surrogate_is_an_option():
    net = tiny_cnn()
    torch.manual_seed(0)
    uint8 = (torch.rand(1, 3, 4, 4) * 255).to(torch.uint8).repeat_interleave(7, dim=2).repeat_interleave(7, dim=3)
    maps = class_maps(
        LimeMethod(n_samples=40, n_segments=16, top_superpixels=3, surrogate="linear"),
        net,
        net[1],
        uint8.float() / 255,
        torch.tensor([1]),
        images=uint8,
    )
    assert maps.shape == (1, 28, 28) and maps.sum() == 3 * 49


def _layer_gradients_and_activations(net, layer, images, targets):
    from captum.attr import LayerActivation, LayerGradientXActivation

    softmax = lambda x: torch.softmax(net(x), dim=1)  # noqa: E731
    gradients = LayerGradientXActivation(softmax, layer, multiply_by_inputs=False).attribute(images, target=targets)
    return gradients.double(), LayerActivation(softmax, layer).attribute(images).double()


def test_without_gradient_relu_layer_cam_and_grad_cam_plus_plus_keep_negative_gradients():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 3, 4])
    grads, acts = _layer_gradients_and_activations(net, net[1], images, targets)
    assert (grads < 0).any() and (grads > 0).any()
    layer_cam = class_maps(
        GradCamLibraryMethod("layercam", relu=False, gradient_relu=False), net, net[1], images, targets
    )
    torch.testing.assert_close(layer_cam, min_max_normalize((grads * acts).sum(dim=1)).float(), rtol=1e-4, atol=1e-5)
    squared = grads**2
    sums = acts.sum(dim=(2, 3), keepdim=True)
    alpha = torch.where(grads != 0, squared / (2 * squared + sums * squared * grads + 1e-6), 0)
    weights = (grads * alpha).sum(dim=(2, 3), keepdim=True)
    plus_plus = class_maps(
        GradCamLibraryMethod("gradcampp", relu=False, gradient_relu=False), net, net[1], images, targets
    )
    torch.testing.assert_close(plus_plus, min_max_normalize((weights * acts).sum(dim=1)).float(), rtol=1e-4, atol=1e-5)
    for name in ("layercam", "gradcampp"):
        kept = class_maps(GradCamLibraryMethod(name, relu=False), net, net[1], images, targets)
        dropped = class_maps(GradCamLibraryMethod(name, relu=False, gradient_relu=False), net, net[1], images, targets)
        assert (kept - dropped).abs().max() > 0.05
    # Grad-CAM has no ReLU on gradients: the switch changes nothing there.
    torch.testing.assert_close(
        class_maps(GradCamLibraryMethod("gradcam", relu=False), net, net[1], images, targets),
        class_maps(GradCamLibraryMethod("gradcam", relu=False, gradient_relu=False), net, net[1], images, targets),
    )


def test_channels_last_inputs_reach_the_model_in_that_format_and_the_hook_goes_with_the_block():
    from captum_advise.attr.model_state import channels_last_inputs

    net = tiny_cnn()
    images = torch.rand(3, 3, 14, 14, generator=torch.Generator().manual_seed(2))
    formats = []
    net[0].register_forward_pre_hook(
        lambda _, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    before = model_state(net)
    with torch.no_grad():
        plain = net(images)
        with channels_last_inputs(net):
            faster = net(images)
        after = net(images)
    assert formats == [False, True, False]
    torch.testing.assert_close(faster, plain, rtol=0, atol=1e-5)
    assert torch.equal(after, plain)
    assert not net._forward_pre_hooks and model_state(net) == before
    assert all(parameter.is_contiguous() for parameter in net.parameters())
