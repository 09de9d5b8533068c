"""The AVX protocol's metrics on hand-computed cases."""

from __future__ import annotations

import importlib
import itertools
import math
from functools import partial

import piq
import pytest
import torch

from captum_advise.evaluation import score_maps
from captum_advise.metrics import (
    Scores,
    apply_penalty,
    average_drop,
    avx,
    class_sensitivity,
    fsim_against,
    fsim_chromatic,
    fsim_references,
    gaussian_taps,
    hit,
    mask_images,
    normalized_mse,
    passes_check,
    recorded_cs,
    ssim_against,
    ssim_references,
    ssim_volume,
)


def scores(ad, ssim, fsim, mse) -> Scores:
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return Scores(as_tensor(ad), as_tensor(ssim), as_tensor(fsim), as_tensor(mse))


def test_avx_is_the_harmonic_mean_of_the_four_scores():
    values = avx(
        scores(
            [0.0, 0.5, 0.2, 0.3, 1.0], [1.0, 0.5, 0.8, 0.0, 0.9], [1.0, 0.5, 0.6, 0.7, 0.9], [0.0, 0.5, 0.1, 0.1, 0.1]
        )
    )
    expected_third = 4 / (1 / 0.8 + 1 / 0.6 + 1 / 0.9 + 1 / 0.8)
    torch.testing.assert_close(values, torch.tensor([1.0, 0.5, expected_third, 0.0, 0.0], dtype=torch.float64))


def test_penalty_scales_when_the_maps_differ_and_zeroes_when_they_do_not():
    raw = scores([0.2, 0.2, 0.2], [0.6, 0.6, 0.6], [0.7, 0.7, 0.7], [0.1, 0.1, 0.1])
    hits = torch.tensor([True, False, False])
    check = torch.tensor([False, True, False])
    y = torch.tensor([0.9, 0.9, 0.9], dtype=torch.float64)
    o = torch.tensor([0.5, 0.6, 0.6], dtype=torch.float64)
    penalised = apply_penalty(raw, hits, check, y, o)
    delta = 1 - 0.3
    torch.testing.assert_close(penalised.ad, torch.tensor([0.2, 0.2 * delta, 1.0], dtype=torch.float64))
    torch.testing.assert_close(penalised.ssim, torch.tensor([0.6, 0.6 * delta, 0.0], dtype=torch.float64))
    torch.testing.assert_close(penalised.fsim, torch.tensor([0.7, 0.7 * delta, 0.0], dtype=torch.float64))
    torch.testing.assert_close(penalised.mse, torch.tensor([0.1, 0.1 * delta, 1.0], dtype=torch.float64))
    assert avx(penalised)[2] == 0


def test_binary_mask_rounds_at_one_half_and_soft_mask_scales():
    images = torch.full((1, 3, 1, 6), 200, dtype=torch.uint8)
    maps = torch.tensor([[[0.49, 0.5, 0.51, 1.02, -0.01, 0.25]]])
    binary = mask_images(images, maps)
    assert binary[0, :, 0].tolist() == [[0, 200, 200, 200, 0, 0]] * 3
    soft = mask_images(images, maps, "soft")
    assert soft[0, 0, 0].tolist() == [98, 100, 102, 200, 0, 50]
    with pytest.raises(ValueError, match="uint8"):
        mask_images(images.float(), maps)


def test_class_sensitivity_is_raw_and_the_check_is_decided_before_nan_becomes_zero():
    first = torch.tensor(
        [[[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0, 3.0, 4.0]], [[1.0, 2.0, 3.0, 4.0]], [[0.0, 1.0, 0.0, 1.0]]]
    )
    second = torch.tensor(
        [[[2.0, 4.0, 6.0, 8.0]], [[4.0, 3.0, 2.0, 1.0]], [[5.0, 5.0, 5.0, 5.0]], [[1.0, 1.0, 0.0, 0.0]]]
    )
    cs = class_sensitivity(first, second)
    # Spec §5: corr2 of a constant map is NaN; check = (-tau <= R <= tau) on that raw R, so NaN fails ...
    assert cs[:2].tolist() == [1.0, -1.0] and math.isnan(cs[2]) and cs[3] == 0.0
    assert passes_check(cs, 0.55).tolist() == [False, False, False, True]
    # ... and only the recorded CS turns NaN into 0.
    assert recorded_cs(cs).tolist() == [1.0, -1.0, 0.0, 0.0]
    assert passes_check(torch.tensor([0.55, -0.55, 0.56, 0.5]), 0.55).tolist() == [True, True, False, True]
    assert passes_check(torch.tensor([0.55]), 0.5).tolist() == [False]


def _two_state_classifier(bright: list[float], dark: list[float]):
    """A classifier of 10 classes that answers ``bright`` for images with mean > 100 and ``dark`` otherwise."""

    def classify(images: torch.Tensor) -> torch.Tensor:
        is_bright = images.double().flatten(1).mean(dim=1) > 100
        return torch.where(is_bright.unsqueeze(1), torch.tensor(bright), torch.tensor(dark)).double()

    return classify


def _first_image_scorer(classify, images: torch.Tensor, first: torch.Tensor):
    """``score_maps`` of one image's map ``first`` for class 0, with its probabilities from ``classify``."""
    probabilities, zero = classify(images), torch.tensor([0])
    bound = {"classify": classify, "images": images, "probabilities": probabilities}
    return partial(score_maps, **bound, predicted=zero, image_index=zero, maps=first)


def test_a_constant_c2_map_fails_the_check_so_a_miss_gets_the_full_penalty():
    """A 1-unit group whose c2 map is constant, on an image the mask makes miss: AVX 0, as the reference."""
    images = torch.full((1, 3, 8, 8), 200, dtype=torch.uint8)
    bright = [0.5, 0.2, 0.1, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01, 0.0]
    dark = [0.0, 0.3, 0.2, 0.15, 0.15, 0.1, 0.05, 0.03, 0.01, 0.01]  # class 0 falls out of the top 5
    classify = _two_state_classifier(bright, dark)
    first = torch.zeros(1, 8, 8)
    first[0, :2, :2] = 1.0  # keeps 4 of 64 pixels: the masked image is dark
    constant = torch.zeros(1, 8, 8)
    score = _first_image_scorer(classify, images, first)
    result = score(second_maps=constant)
    assert result["hit"].tolist() == [0.0]
    assert result["cs"].tolist() == [0.0] and result["check"].tolist() == [0.0]
    assert result["ad"].tolist() == [1.0] and result["ssim"].tolist() == [0.0] and result["mse"].tolist() == [1.0]
    assert result["avx"].tolist() == [0.0]
    # A c2 map that does vary and is uncorrelated passes the check: the mild delta-scaling, AVX > 0.
    varied = torch.zeros(1, 8, 8)
    varied[0, 6:, :] = 1.0
    mild = score(second_maps=varied)
    assert mild["check"].tolist() == [1.0] and abs(float(mild["cs"][0])) <= 0.55
    delta = 1 - abs(0.5 - 0.3)
    assert float(mild["ad"][0]) == pytest.approx(delta * (0.5 - 0.3) / 0.5)
    assert float(mild["avx"][0]) > 0


def test_lime_cs_correlates_the_masked_rgb_images_not_the_masks():
    generator = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (1, 3, 6, 6), generator=generator, dtype=torch.uint8)
    first = torch.zeros(1, 6, 6)
    first[0, :3] = 1.0
    second = torch.zeros(1, 6, 6)
    second[0, 2:5] = 1.0
    classify = _two_state_classifier([0.6, 0.4], [0.6, 0.4])
    score = partial(_first_image_scorer(classify, images, first), second_maps=second)
    on_images = score(cs_of="masked_images")
    masked_first = torch.where(first.bool(), images[0], 0).double().flatten()
    masked_second = torch.where(second.bool(), images[0], 0).double().flatten()
    expected = float(torch.corrcoef(torch.stack([masked_first, masked_second]))[0, 1])
    assert float(on_images["cs"][0]) == pytest.approx(expected, abs=1e-12)
    on_maps = score()
    mask_correlation = float(torch.corrcoef(torch.stack([first.flatten(), second.flatten()]).double())[0, 1])
    assert float(on_maps["cs"][0]) == pytest.approx(mask_correlation, abs=1e-12)
    assert abs(expected - mask_correlation) > 0.05


def test_hit_and_average_drop():
    original = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1]])
    masked = torch.tensor([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    predicted = torch.tensor([0, 0])
    assert hit(masked, predicted, k=1).tolist() == [False, False]
    assert hit(masked, predicted, k=2).tolist() == [True, False]
    assert hit(masked, predicted).tolist() == [True, True]  # k = 5 > 3 classes: every class is in the top 5
    ad, y, o = average_drop(original, masked, predicted)
    torch.testing.assert_close(o, torch.tensor([0.7, 0.7], dtype=torch.float64))
    torch.testing.assert_close(ad, torch.tensor([0.0, 0.0], dtype=torch.float64))
    ad_target, _, o_target = average_drop(original, masked, predicted, o="target")
    torch.testing.assert_close(ad_target, torch.tensor([(0.6 - 0.2) / 0.6, (0.5 - 0.1) / 0.5], dtype=torch.float64))
    torch.testing.assert_close(o_target, torch.tensor([0.2, 0.1], dtype=torch.float64))
    torch.testing.assert_close(y, torch.tensor([0.6, 0.5], dtype=torch.float64))


def test_mse_on_a_hand_example():
    reference = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    image = reference.clone()
    image[0, 0, 0, 0] = 255
    torch.testing.assert_close(normalized_mse(image, reference), torch.tensor([1 / 12], dtype=torch.float64))


def direct_ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    """MATLAB's 3-D SSIM by explicit sums over the 11 x 11 x 11 window, edges replicated."""
    taps = gaussian_taps().tolist()
    radius = len(taps) // 2
    depth, height, width = x.shape
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    total = 0.0
    for d, i, j in itertools.product(range(depth), range(height), range(width)):
        moments = [0.0] * 5
        for a, b, c in itertools.product(range(-radius, radius + 1), repeat=3):
            weight = taps[a + radius] * taps[b + radius] * taps[c + radius]
            p = (min(max(d + a, 0), depth - 1), min(max(i + b, 0), height - 1), min(max(j + c, 0), width - 1))
            u, v = float(x[p]), float(y[p])
            for k, value in enumerate((u, v, u * u, v * v, u * v)):
                moments[k] += weight * value
        mx, my, xx, yy, xy = moments
        sx, sy, sxy = xx - mx * mx, yy - my * my, xy - mx * my
        total += ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sx + sy + c2))
    return total / (depth * height * width)


def test_ssim_is_matlabs_3d_ssim_on_a_tiny_volume():
    assert len(gaussian_taps()) == 11
    generator = torch.Generator().manual_seed(5)
    x = torch.randint(0, 256, (3, 5, 6), generator=generator, dtype=torch.uint8)
    y = torch.where(torch.rand(3, 5, 6, generator=generator) < 0.5, x, 0).to(torch.uint8)
    got = ssim_volume(y[None], x[None])
    assert math.isclose(float(got), direct_ssim(y.double(), x.double()), rel_tol=1e-12)
    assert float(ssim_volume(x[None], x[None])) == pytest.approx(1.0, abs=1e-15)


def test_ssim_mixes_channels_unlike_per_channel_ssim():
    generator = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (1, 3, 12, 12), generator=generator, dtype=torch.uint8)
    y = x.clone()
    y[:, 0] = 0
    volume = float(ssim_volume(y, x))
    per_channel = (
        sum(
            float(ssim_volume(y[:, c : c + 1].expand(1, 3, 12, 12), x[:, c : c + 1].expand(1, 3, 12, 12)))
            for c in range(3)
        )
        / 3
    )
    assert abs(volume - per_channel) > 1e-3


def test_fsim_chromatic_on_a_fixed_pair():
    generator = torch.Generator().manual_seed(0)
    reference = torch.randint(0, 256, (1, 3, 64, 64), generator=generator, dtype=torch.uint8)
    masked = reference.clone()
    masked[..., 32:] = 0
    assert float(fsim_chromatic(reference, reference)) == pytest.approx(1.0, abs=1e-6)
    value = fsim_chromatic(masked, reference)
    # float32 agrees with piq's float64 FSIMc to 1e-6.
    exact = piq.fsim(masked.double(), reference.double(), data_range=255.0, chromatic=True)
    assert float(value) == pytest.approx(float(exact), abs=1e-6)
    assert 0.3 < float(value) < 0.7
    assert float(fsim_chromatic(reference, masked)) == pytest.approx(float(value), abs=1e-6)


def _masked_copies(references: torch.Tensor, index: torch.Tensor, seed: int) -> torch.Tensor:
    """Binary-masked copies of ``references[index]``, blocky masks as a thresholded map gives."""
    generator = torch.Generator().manual_seed(seed)
    size = references.shape[-1]
    coarse = torch.rand(index.numel(), 1, 4, 4, generator=generator)
    keep = torch.nn.functional.interpolate(coarse, size=(size, size), mode="nearest") >= 0.5
    return torch.where(keep, references[index], 0)


@pytest.mark.parametrize("count", [9, 10, 17])
def test_fsim_against_the_reference_half_computed_once_is_bitwise_piq(count):
    """Counts that leave a last chunk of 1, 2 and 1 image: whatever the chunks, piq's values to the bit."""
    generator = torch.Generator().manual_seed(3)
    references = torch.randint(0, 256, (3, 3, 48, 48), generator=generator, dtype=torch.uint8)
    index = torch.arange(count) % 3
    masked = _masked_copies(references, index, count)
    piq_values = piq.fsim(
        masked.float(), references[index].float(), reduction="none", data_range=255.0, chromatic=True
    ).double()
    assert torch.equal(fsim_against(masked, fsim_references(references), index), piq_values)
    assert torch.equal(fsim_chromatic(masked, references[index]), piq_values)
    # One image alone: the sum of a batch of two, so the score does not depend on the batch's size.
    alone = fsim_against(masked[:1], fsim_references(references[:1]))
    assert torch.equal(alone, piq_values[:1])


def _five_volume_ssim(images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """SSIM with x, y, x², y² and xy smoothed together, one image at a time (the direct computation)."""
    module = importlib.import_module("captum_advise.metrics.ssim_volume")
    values = []
    for x, y in zip(images.double(), references.double(), strict=True):
        x, y = x[None], y[None]
        mu_x, mu_y, xx, yy, xy = module._smooth(torch.stack([x, y, x * x, y * y, x * y]), gaussian_taps()).unbind(0)
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        numerator = (2 * mu_x * mu_y + c1) * (2 * (xy - mu_x * mu_y) + c2)
        denominator = (mu_x**2 + mu_y**2 + c1) * (xx - mu_x**2 + yy - mu_y**2 + c2)
        values.append((numerator / denominator).flatten(1).mean(dim=1))
    return torch.cat(values)


def test_ssim_against_the_reference_half_computed_once_is_bitwise_the_direct_computation():
    generator = torch.Generator().manual_seed(4)
    references = torch.randint(0, 256, (2, 3, 40, 40), generator=generator, dtype=torch.uint8)
    index = torch.tensor([0, 1, 1, 0, 1])
    binary = _masked_copies(references, index, 4)  # x·y = x·x: only x and x·x are smoothed
    scaled = (references[index].double() * 0.6).round().to(torch.uint8)  # not a mask: x·y smoothed too
    moments = ssim_references(references)
    for images in (binary, scaled):
        direct = _five_volume_ssim(images, references[index])
        assert torch.equal(ssim_against(images, references, moments, index), direct)
        assert torch.equal(ssim_volume(images, references[index]), direct)
