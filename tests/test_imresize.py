"""MATLAB's bicubic imresize (spec §4 step 4, §5): weights worked out by hand, images, maps, geometry."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from captum_advise.attr import normalize_and_resize
from captum_advise.matlab import cubic, imresize, resize_weights, upsample_maps
from captum_advise.models import ImagePreprocessor


def keys(x: float) -> float:
    """Keys' cubic, a = -0.5, written out from the spec's formula."""
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x < 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def test_cubic_kernel_values():
    points = torch.tensor([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5], dtype=torch.float64)
    assert cubic(points).tolist() == [keys(float(x)) for x in points]
    assert keys(0.25) == 0.8671875 and keys(0.75) == 0.2265625 and keys(1.25) == -0.0703125


def test_enlarging_two_to_four_by_hand():
    # u = i/2 + 1/4; taps at u -2.25 .. u + 2.75, indices 0 and -1 mirrored onto 1 and 2.
    # Row 1 (u = 0.75): taps -1, 0, 1, 2 with weights k(1.75), k(0.75), k(0.25), k(1.25) -> columns 2, 1, 1, 2.
    expected = torch.tensor(
        [
            [0.2265625 + 0.8671875, -0.0234375 - 0.0703125],
            [-0.0703125 + 0.8671875, 0.2265625 - 0.0234375],
            [0.2265625 - 0.0234375, -0.0703125 + 0.8671875],
            [-0.0234375 - 0.0703125, 0.2265625 + 0.8671875],
        ],
        dtype=torch.float64,
    )
    assert torch.equal(resize_weights(2, 4), expected)
    assert imresize(torch.tensor([[0.0, 1.0]]), (1, 4)).tolist() == [[-0.09375, 0.203125, 0.796875, 1.09375]]


def test_shrinking_four_to_two_stretches_the_kernel_by_hand():
    # scale 1/2: h(x) = k(x/2)/2 over 8 input pixels; u = 1.5 for output 1; taps -3..6 mirrored.
    half = [keys(d / 2) / 2 for d in (3.5, 2.5, 1.5, 0.5)]  # -0.01171875, -0.03515625, 0.11328125, 0.43359375
    first_row = [half[2] + half[3], half[1] + half[3], half[0] + half[2], half[1] + half[0]]
    assert first_row == [0.546875, 0.3984375, 0.1015625, -0.046875]
    weights = resize_weights(4, 2)
    assert weights[0].tolist() == first_row and weights[1].tolist() == first_row[::-1]
    # Without antialiasing the plain kernel samples u = 1.5, 3.5.
    plain = resize_weights(4, 2, antialias=False)
    assert plain[0].tolist() == [keys(0.5) + keys(1.5), keys(0.5), keys(1.5), 0.0]


def test_seven_to_224_weights_follow_the_formula_with_mirrored_edges():
    weights = resize_weights(7, 224)
    mirror = [1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 3, 2, 1]
    for i in (1, 2, 17, 112, 224):
        u = i / 32 + 0.5 * (1 - 1 / 32)
        left = int(torch.floor(torch.tensor(u - 2)))
        row = [0.0] * 7
        for tap in range(left, left + 6):
            row[mirror[(tap - 1) % 14] - 1] += keys(u - tap)
        assert weights[i - 1].tolist() == pytest.approx(row, abs=1e-15)
    assert torch.allclose(weights.sum(dim=1), torch.ones(224, dtype=torch.float64))


def test_maps_upsample_with_matlabs_kernel_by_default_and_differ_from_torchs():
    generator = torch.Generator().manual_seed(0)
    maps = torch.rand(3, 7, 7, generator=generator)
    matlab = upsample_maps(maps, (224, 224))
    rows, columns = resize_weights(7, 224), resize_weights(7, 224)
    expected = torch.einsum("hu,guv,wv->ghw", rows, maps.double(), columns).float()
    torch.testing.assert_close(matlab, expected)
    torch_bicubic = upsample_maps(maps, (224, 224), "bicubic")
    assert (matlab - torch_bicubic).abs().max() > 0.01
    normalised = normalize_and_resize(maps, (224, 224))
    scaled = (maps - maps.amin(dim=(1, 2), keepdim=True)) / (
        maps.amax(dim=(1, 2), keepdim=True) - maps.amin(dim=(1, 2), keepdim=True)
    )
    torch.testing.assert_close(normalised, upsample_maps(scaled, (224, 224)))
    with pytest.raises(ValueError, match="upsample"):
        upsample_maps(maps, (224, 224), "lanczos")  # type: ignore[arg-type]


def test_uint8_images_are_rounded_after_each_axis_and_saturate():
    image = torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8)
    out = imresize(image, (4, 4))
    assert out.dtype == torch.uint8
    rows = torch.floor(resize_weights(2, 4) @ image[0].double() + 0.5).clamp(0, 255)
    both = torch.floor(rows @ resize_weights(2, 4).T + 0.5).clamp(0, 255)
    assert torch.equal(out[0], both.to(torch.uint8))
    assert out.max() == 255 and out.min() == 0  # overshoot clipped


def test_squash_geometry_resizes_the_whole_photo_and_crop_cuts_its_sides():
    photo = torch.zeros(3, 20, 40, dtype=torch.uint8)
    photo[0, :, :10] = 255  # red in the left quarter
    photo[2, :, 30:] = 255  # blue in the right quarter
    image = Image.fromarray(photo.permute(1, 2, 0).numpy())
    squash = ImagePreprocessor(resize=16, crop=16, mean=(0, 0, 0), std=(1, 1, 1), geometry="squash")
    squashed = squash.to_uint8(image)
    assert squashed.shape == (3, 16, 16)
    assert torch.equal(squashed, imresize(photo, (16, 16)))
    assert squashed[0, :, 0].min() == 255 and squashed[2, :, -1].min() == 255  # both ends survive
    cropped = squash.with_geometry("crop").to_uint8(image)
    assert cropped.shape == (3, 16, 16) and cropped[0].max() < 64 and cropped[2].max() < 64  # the centre only
    with pytest.raises(ValueError, match="geometry"):
        squash.with_geometry("stretch")  # type: ignore[arg-type]


def test_squash_of_a_two_by_four_photo_by_hand():
    # Rows keep their scale; the four columns shrink to two with the stretched kernel, whose
    # weights are [0.546875, 0.3984375, 0.1015625, -0.046875] (test above) and their mirror image.
    photo = torch.tensor([[0, 100, 200, 255]] * 2, dtype=torch.uint8).expand(3, 2, 4).contiguous()
    image = Image.fromarray(photo.permute(1, 2, 0).numpy())
    squash = ImagePreprocessor(resize=2, crop=2, mean=(0, 0, 0), std=(1, 1, 1), geometry="squash")
    left = 0.546875 * 0 + 0.3984375 * 100 + 0.1015625 * 200 - 0.046875 * 255  # 48.203125
    right = -0.046875 * 0 + 0.1015625 * 100 + 0.3984375 * 200 + 0.546875 * 255  # 229.296875
    assert (round(left), round(right)) == (48, 229)
    assert squash.to_uint8(image)[0].tolist() == [[48, 229], [48, 229]]
