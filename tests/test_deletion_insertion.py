"""RISE's deletion and insertion AUC on a hand-built model whose curve is known, and its blur kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from captum_advise.metrics import deletion_insertion_auc
from captum_advise.metrics.deletion_insertion import blurred, pixel_order, rise_kernel


def red_share(images: torch.Tensor) -> torch.Tensor:
    """A 'model' whose class 0 probability is the mean red value / 255 (linear in the pixels)."""
    share = images[:, 0].float().mean(dim=(1, 2)) / 255
    return torch.stack([share, 1 - share], dim=1)


def test_rise_kernel_is_rise_gkern():
    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    expected = gaussian_filter(delta, 5)  # RISE's gkern(11, 5)
    one_axis = rise_kernel().numpy()
    np.testing.assert_allclose(np.outer(one_axis, one_axis), expected, rtol=0, atol=1e-15)
    assert one_axis.sum() == pytest.approx(1.0)


def test_blur_keeps_a_constant_image_and_pads_with_the_fill_colour():
    fill = torch.tensor([10.0, 20.0, 30.0])
    flat = fill.view(1, 3, 1, 1).expand(1, 3, 6, 6)
    torch.testing.assert_close(blurred(flat, fill), flat.float())
    # One bright pixel in a corner: the blur is the kernel's corner (the fill lies beyond the edge).
    spike = flat.clone()
    spike[0, 0, 0, 0] += 100
    k = rise_kernel()
    assert float(blurred(spike, fill)[0, 0, 0, 0]) == pytest.approx(10 + 100 * float(k[5] ** 2), rel=1e-5)


def test_pixel_order_ranks_the_most_salient_first_and_ties_in_raster_order():
    maps = torch.tensor([[[0.2, 0.9], [0.2, 0.5]]])
    assert pixel_order(maps).tolist() == [[2, 0, 3, 1]]


def test_deletion_and_insertion_on_a_linear_model():
    image = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    image[0, 0] = torch.tensor([[255, 255], [0, 0]], dtype=torch.uint8)  # red top row
    saliency = torch.tensor([[[1.0, 0.5], [0.2, 0.0]]])  # removes (0,0), (0,1), (1,0), (1,1)
    removed = torch.zeros(3)
    deletion, insertion = deletion_insertion_auc(red_share, image, saliency, torch.tensor([0]), removed, steps=4)
    # Deletion: red share 2/4, 1/4, 0, 0, 0 after 0..4 pixels: trapezoid (0.75 - 0.25) / 4.
    assert float(deletion[0]) == pytest.approx(0.125)
    # Insertion from the blurred image (fill 0): the top row's blurred red values, then the originals.
    start = blurred(image, removed)[0, 0] / 255
    curve = [
        float(start.mean()),
        float((1 + start[0, 1] + start[1].sum()) / 4),
        float((2 + start[1].sum()) / 4),
        float((2 + start[1, 1]) / 4),
        0.5,
    ]
    expected = (sum(curve) - (curve[0] + curve[-1]) / 2) / 4
    assert float(insertion[0]) == pytest.approx(expected, rel=1e-6)
    # The reversed map deletes the black pixels first: a worse (higher) deletion, a worse insertion.
    worse_deletion, worse_insertion = deletion_insertion_auc(
        red_share, image, -saliency, torch.tensor([0]), removed, steps=4
    )
    assert float(worse_deletion[0]) > float(deletion[0]) and float(worse_insertion[0]) < float(insertion[0])


def test_batched_equals_one_map_at_a_time():
    torch.manual_seed(0)
    images = (torch.rand(3, 3, 8, 8) * 255).to(torch.uint8)
    maps = torch.rand(3, 8, 8)
    targets = torch.tensor([0, 1, 0])
    removed = torch.tensor([124.0, 116.0, 104.0])
    together = deletion_insertion_auc(red_share, images, maps, targets, removed, steps=8, batch_size=5)
    for n in range(3):
        alone = deletion_insertion_auc(red_share, images[n : n + 1], maps[n : n + 1], targets[n : n + 1], removed, 8)
        assert float(alone[0][0]) == pytest.approx(float(together[0][n]))
        assert float(alone[1][0]) == pytest.approx(float(together[1][n]))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        deletion_insertion_auc(red_share, images, maps, targets, removed, steps=0)
