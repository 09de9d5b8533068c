"""ADVISE and the baselines on token layers (ViT, DeiT, Swin) through ``reshape_transform``; timm models by name.

Every model here has random weights: the tests check the code paths, not explanations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from pytorch_grad_cam.utils.reshape_transforms import vit_reshape_transform
from torch import nn

from captum_advise import LayerADVISE
from captum_advise.attr import swin_tokens_to_map, vit_tokens_to_map
from captum_advise.cams import LayerGradCamLib, LayerRandomMap
from captum_advise.cli import main
from captum_advise.models import PRESETS, load_model
from captum_advise.models.timm_models import default_timm_layer, timm_preprocessor

timm = pytest.importorskip("timm")


def _tiny_vit(distilled: bool = False) -> nn.Module:
    """A 2-block ViT on 32 x 32 inputs: 4 x 4 patches of 8 pixels, 48 channels, 5 classes."""
    torch.manual_seed(0)
    name = "deit_tiny_distilled_patch16_224" if distilled else "vit_tiny_patch16_224"
    return timm.create_model(name, pretrained=False, img_size=32, patch_size=8, depth=2, embed_dim=48, num_classes=5)


class _GridNorm(nn.Module):
    """The ViT's norm1 whose patch tokens pass through ``grid``, an identity on the (N, D, h, w) map:
    the same network, with the token layer presented as a convolutional feature map."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm
        self.grid = nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        normed = self.norm(tokens)
        grid = self.grid(vit_tokens_to_map(normed))
        return torch.cat([normed[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)


def test_advise_through_reshape_transform_equals_advise_on_the_same_map_as_a_conv_layer():
    vit = _tiny_vit().eval()
    torch.manual_seed(1)
    images = torch.randn(3, 3, 32, 32)
    through_transform = LayerADVISE(vit, vit.blocks[-1].norm1, reshape_transform="vit")
    first = through_transform.explain(images, target=[0, 3, 4])
    vit.blocks[-1].norm1 = _GridNorm(vit.blocks[-1].norm1).eval()
    as_feature_map = LayerADVISE(vit, vit.blocks[-1].norm1.grid)
    second = as_feature_map.explain(images, target=[0, 3, 4])
    assert first.relevance.shape == (3, 48)
    assert torch.equal(first.relevance, second.relevance)
    assert torch.allclose(first.grad_cam, second.grad_cam, atol=1e-6)
    assert first.auto_peaks == second.auto_peaks and any(first.groups)
    for mine, theirs in zip(first.groups, second.groups, strict=True):
        assert [g.peaks for g in mine] == [g.peaks for g in theirs]
        for a, b in zip(mine, theirs, strict=True):
            assert torch.equal(a.units, b.units)
            assert torch.allclose(a.attribution, b.attribution, atol=1e-6)


def test_grad_cam_through_the_transform_equals_the_library_with_its_reshape_transform():
    vit = _tiny_vit().eval()
    torch.manual_seed(2)
    images = torch.randn(2, 3, 32, 32)
    layer = vit.blocks[-1].norm1
    ours = LayerGradCamLib(vit, layer, reshape_transform="vit").attribute(images, target=[1, 2], relu_attributions=True)
    cam = GradCAM(vit, [layer], reshape_transform=lambda t: vit_reshape_transform(t, 4, 4))
    library = cam(images, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(2)])
    scaled = scale_cam_image(scale_cam_image(ours[:, 0].numpy(), (32, 32)))
    assert np.abs(library).max() > 0
    np.testing.assert_allclose(scaled, library, atol=2e-5)


def test_the_transformer_path_leaves_the_model_as_it_found_it():
    vit = _tiny_vit().train()
    for parameter in vit.head.parameters():
        parameter.requires_grad_(False)
    images = torch.randn(2, 3, 32, 32)
    layer = vit.blocks[-1].norm1
    with pytest.warns(UserWarning, match="training mode"):
        LayerADVISE(vit, layer, reshape_transform="vit").attribute(images, target=0)
    LayerGradCamLib(vit, layer, reshape_transform="vit").attribute(images, target=0)
    assert vit.training and all(module.training for module in vit.modules())
    assert not any(module._forward_hooks or module._forward_pre_hooks for module in vit.modules())
    assert all(p.requires_grad is False for p in vit.head.parameters())
    assert all(p.grad is None for p in vit.parameters())


def test_vit_transform_drops_the_class_and_distillation_tokens():
    tokens = torch.arange(2 * 18 * 3, dtype=torch.float32).view(2, 18, 3)  # 2 prefix tokens + 4 x 4 patches
    grid = vit_tokens_to_map(tokens)
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[1, 2, 0, 1], tokens[1, 3, 2])  # patch (0, 1) is token 2 + 1
    assert vit_tokens_to_map(tokens[:, 1:]).shape == (2, 3, 4, 4)  # one class token
    distilled = _tiny_vit(distilled=True).eval()
    maps = LayerADVISE(distilled, distilled.blocks[-1].norm1, reshape_transform="vit").attribute(
        torch.randn(1, 3, 32, 32), target=0
    )
    assert maps.shape == (1, 1, 4, 4)


def test_swin_transform_takes_channels_last_maps_and_flat_tokens():
    channels_last = torch.randn(2, 3, 3, 5)
    assert torch.equal(swin_tokens_to_map(channels_last), channels_last.permute(0, 3, 1, 2))
    flat = channels_last.reshape(2, 9, 5)
    assert torch.equal(swin_tokens_to_map(flat), channels_last.permute(0, 3, 1, 2))


def test_swin_is_explained_end_to_end():
    torch.manual_seed(0)
    swin = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=4, depths=(1, 1, 1, 1))
    swin.eval()
    layer = swin.layers[-1].blocks[-1].norm1
    images = torch.randn(1, 3, 224, 224)
    explanation = LayerADVISE(swin, layer, reshape_transform="swin").explain(images, target=1)
    assert explanation.relevance.shape == (1, 768) and explanation.grad_cam.shape == (1, 7, 7)
    grad_cam = LayerGradCamLib(swin, layer, reshape_transform="swin").attribute(images, target=1)
    random_map = LayerRandomMap(swin, layer, reshape_transform="swin").attribute(images, target=1)
    assert grad_cam.shape == random_map.shape == (1, 1, 7, 7)


def test_token_layers_without_or_with_a_wrong_transform_are_one_line_errors():
    vit = _tiny_vit().eval()
    images = torch.randn(1, 3, 32, 32)
    layer = vit.blocks[-1].norm1
    with pytest.raises(ValueError, match=r"layer 'blocks.1.norm1''s output has shape \(1, 17, 48\).*reshape_transform"):
        LayerADVISE(vit, layer).attribute(images, target=0)
    with pytest.raises(ValueError, match=r"reshape_transform turned .*\(1, 17, 48\) into \(1, 816\)"):
        LayerADVISE(vit, layer, reshape_transform=lambda t: t.flatten(1)).attribute(images, target=0)
    with pytest.raises(ValueError, match=r"15 tokens .* not a class token"):
        vit_tokens_to_map(torch.randn(1, 15, 4))
    with pytest.raises(ValueError, match="not a square grid"):
        swin_tokens_to_map(torch.randn(1, 15, 4))
    with pytest.raises(ValueError, match="reshape_transform must be 'vit', 'swin'"):
        LayerADVISE(vit, layer, reshape_transform="deit")
    with pytest.raises(ValueError, match=r"ShapleyCAM .* cannot explain a token layer"):
        from captum_advise.cams import LayerShapleyCam

        LayerShapleyCam(vit, layer, reshape_transform="vit").attribute(images, target=0)


@pytest.mark.parametrize("name", ["vit_base_patch16_224", "deit_small_patch16_224", "swin_tiny_patch4_window7_224"])
def test_transformer_presets_use_timms_preprocessing_and_a_token_layer(name):
    model = timm.create_model(name, pretrained=False)
    preset = PRESETS[name]
    assert preset.preprocessor == timm_preprocessor(model)
    assert preset.reference_layer == default_timm_layer(model)
    assert preset.reshape_transform == ("swin" if name.startswith("swin") else "vit")


def test_any_timm_model_by_name(tmp_path):
    cnn = load_model("timm:resnet18", "none")
    assert cnn.preset.reference_layer == "layer4" and cnn.reshape_transform is None and cnn.random_weights
    vit = load_model("timm:deit_tiny_patch16_224", "none")
    assert vit.preset.reference_layer == "blocks.11.norm1" and vit.reshape_transform == "vit"
    weights = tmp_path / "resnet18.pt"
    torch.save(cnn.model.state_dict(), weights)
    again = load_model("timm:resnet18", weights)
    assert torch.equal(again.model.fc.weight, cnn.model.fc.weight) and not again.random_weights
    with pytest.raises(ValueError, match="timm has no model 'resnet7'"):
        load_model("timm:resnet7", "none")


def _photos(folder, count: int = 2):
    from PIL import Image

    folder.mkdir()
    generator = np.random.default_rng(0)
    for n in range(count):
        pixels = generator.integers(0, 256, (240, 260, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{n:03d}_photo.png")
    return folder


@pytest.mark.parametrize("model", ["timm:deit_tiny_patch16_224", "timm:resnet18", "swin_tiny_patch4_window7_224"])
def test_explain_runs_on_timm_models_from_the_command_line(tmp_path, model):
    photos = _photos(tmp_path / "photos", 1)
    out = tmp_path / "out"
    assert (
        main(["explain", str(photos / "000_photo.png"), "--model", model, "--weights", "none", "--out", str(out)]) == 0
    )
    record = json.loads((out / "000_photo.json").read_text())
    assert record["random_weights"] is True


def test_evaluate_runs_on_a_random_weight_vit(tmp_path):
    photos = _photos(tmp_path / "photos", 2)
    out = tmp_path / "evaluated"
    command = ["evaluate", "--model", "timm:deit_tiny_patch16_224", "--weights", "none", "--images", str(photos)]
    command += ["--methods", "advise,gradcam,hirescam,eigencam", "--auc-steps", "0", "--out", str(out)]
    assert main(command) == 0
    import csv

    with (out / "records.csv").open() as handle:
        methods = {row["method"] for row in csv.DictReader(handle)}
    assert {"advise", "gradcam", "hirescam", "eigencam", "random", "center", "randomcam", "sobelcam"} <= methods
