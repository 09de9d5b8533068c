"""The comparisons' controls: control maps by hand, ADVISE's random-groups twin, matched areas, summary tests."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
from helpers.methods import batch_of, class_maps
from helpers.networks import same_size_cnn, tiny_cnn, tiny_images
from pytorch_grad_cam import RandomCAM
from pytorch_grad_cam.sobel_cam import sobel_cam
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from captum_advise.attr import LayerADVISE
from captum_advise.attr.explanation import min_max_normalize
from captum_advise.attr.random_groups import shuffled_relevance
from captum_advise.cams import LayerCenterPrior, LayerRandomCam, LayerRandomMap, LayerSobelCam, center_prior
from captum_advise.cams.seeds import content_generator, content_seed
from captum_advise.cli import main
from captum_advise.evaluation import AnalysisPlan, ProtocolOptions, score_maps
from captum_advise.evaluation.intervals import holm, paired_p_value
from captum_advise.evaluation.methods import AdviseMethod, ControlMethod
from captum_advise.evaluation.paired_tests import sign_flip_p_value
from captum_advise.evaluation.summary import per_image_lines, planned_comparisons, summary_table
from captum_advise.metrics import kept_pixel_count, top_area_masks
from conftest import SHARED


def test_random_map_is_the_seeded_uniform_draw_and_differs_between_classes():
    net, images = tiny_cnn(), tiny_images()
    targets = torch.tensor([0, 3, 4])
    maps = LayerRandomMap(net, net[1], seed=7).attribute(images, target=targets)
    assert maps.shape == (3, 1, 14, 14)
    for n in range(3):
        expected = torch.rand((1, 14, 14), generator=content_generator(images[n], int(targets[n]), 7))
        torch.testing.assert_close(maps[n], expected, rtol=0, atol=0)
    one = LayerRandomMap(net, net[1], seed=7).attribute(images[1:2], target=3)
    torch.testing.assert_close(one[0], maps[1], rtol=0, atol=0)  # batched == one by one
    other_class = LayerRandomMap(net, net[1], seed=7).attribute(images, target=torch.tensor([1, 2, 0]))
    assert not torch.equal(other_class, maps)
    assert not torch.equal(LayerRandomMap(net, net[1], seed=8).attribute(images, target=targets), maps)
    assert content_seed(images[0], 1, 0) != content_seed(images[0], 0, 1)


def test_center_prior_is_the_gaussian_of_its_formula():
    prior = center_prior(3, 5, sigma=0.5)  # s = 0.5 x 3 = 1.5 cells, centre (1, 2)
    assert prior[1, 2] == 1.0
    assert prior[0, 0] == pytest.approx(math.exp(-(1 + 4) / (2 * 1.5**2)))
    assert prior[2, 4] == pytest.approx(math.exp(-(1 + 4) / (2 * 1.5**2)))
    assert prior[1, 0] == pytest.approx(math.exp(-4 / 4.5))
    net, images = tiny_cnn(), tiny_images()
    maps = LayerCenterPrior(net, net[1], sigma=0.5).attribute(images, target=0)
    torch.testing.assert_close(maps[2, 0], center_prior(14, 14, 0.5).float())
    torch.testing.assert_close(maps, LayerCenterPrior(net, net[1], sigma=0.5).attribute(images, target=4))
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        LayerCenterPrior(net, net[1], sigma=0)


def test_random_cam_is_pytorch_grad_cams_own_with_the_same_seed_and_leaves_numpys_generator_alone():
    net = same_size_cnn()
    torch.manual_seed(2)
    images = torch.rand(2, 3, 8, 8)
    targets = torch.tensor([1, 3])
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    ours = LayerRandomCam(net, net[1], seed=4).attribute(images, target=targets, relu_attributions=True)
    assert np.array_equal(np.random.get_state()[1], before)
    for n in range(2):
        np.random.seed(content_seed(images[n], int(targets[n]), 4) % 2**32)
        cam = RandomCAM(model=net, target_layers=[net[1]])
        try:
            library = cam(input_tensor=images[n : n + 1], targets=[ClassifierOutputTarget(int(targets[n]))])
        finally:
            cam.activations_and_grads.release()
        # The library min-max scales its map (max + 1e-7) and resizes it to the input: here 8 x 8 already.
        np.testing.assert_allclose(min_max_normalize(ours[n, 0]).numpy(), library[0], atol=1e-5)


def test_sobel_cam_is_the_librarys_edge_map_of_the_image():
    torch.manual_seed(4)
    images = (torch.rand(2, 3, 16, 12) * 255).to(torch.uint8)
    net = same_size_cnn()
    maps = LayerSobelCam(net, net[1]).attribute(images)
    assert maps.shape == (2, 1, 16, 12)
    for n in range(2):
        expected = sobel_cam(images[n].permute(1, 2, 0).contiguous().numpy())
        np.testing.assert_array_equal(maps[n, 0].numpy(), expected.astype(np.float32))
    control = ControlMethod("sobelcam")
    torch.testing.assert_close(
        class_maps(control, net, net[1], images.float(), torch.tensor([0, 1]), images=images),
        min_max_normalize(maps[:, 0]),
    )
    with pytest.raises(ValueError, match="unknown control"):
        ControlMethod("noise")


def test_shuffled_relevance_keeps_every_group_size():
    relevance = torch.tensor([[0, 0, 1, 2, 2, 2, 3], [1, 1, 1, 1, 1, 1, 1]])
    generators = [torch.Generator().manual_seed(s) for s in (0, 1)]
    shuffled = shuffled_relevance(relevance, generators)
    assert torch.equal(shuffled.sort(dim=1).values, relevance.sort(dim=1).values)
    assert not torch.equal(shuffled[0], relevance[0])
    assert torch.equal(shuffled[1], relevance[1])  # one peak count: one partition of that size
    single = torch.tensor([[2]])
    assert torch.equal(shuffled_relevance(single, [torch.Generator()]), single)  # a single unit


def test_explain_with_given_relevance_groups_and_sums_exactly_those_units():
    net, images = tiny_cnn(), tiny_images(2)
    targets = torch.tensor([2, 4])
    advise = LayerADVISE(net, net[1])
    relevance = advise.relevance(images)
    shuffled = shuffled_relevance(relevance, [torch.Generator().manual_seed(s) for s in (3, 4)])
    explanation = advise.explain(images, target=targets, relevance=shuffled)
    activations, gradients = {}, {}
    handle = net[1].register_forward_hook(lambda _m, _a, out: activations.setdefault("a", out))
    try:
        scores = torch.softmax(net(images), dim=1)
        gradients["a"] = torch.autograd.grad(scores.gather(1, targets[:, None]).sum(), activations["a"])[0]
    finally:
        handle.remove()
    weights = gradients["a"].mean(dim=(2, 3))
    for n in range(2):
        for group in explanation.groups[n]:
            members = (shuffled[n] == group.peaks).nonzero().flatten()
            assert torch.equal(group.units, members)
            assert group.units.numel() == int((relevance[n] == group.peaks).sum())  # ADVISE's own size
            by_hand = torch.relu(torch.einsum("k,kuv->uv", weights[n, members], activations["a"][n, members]))
            torch.testing.assert_close(group.attribution, by_hand.detach(), atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match=r"relevance must have the layer's \(N, K\) shape \(2, 12\)"):
        advise.explain(images, target=targets, relevance=shuffled[:, :5])
    # attribute takes the same groups; given its own estimate, it gives its own default map.
    group = explanation.groups[0][0]
    given = advise.attribute(images, target=targets, peaks=group.peaks, relevance=shuffled)
    torch.testing.assert_close(given[0, 0], group.attribution, atol=1e-6, rtol=1e-5)
    own = advise.attribute(images, target=targets, relevance=relevance)
    assert torch.equal(own, advise.attribute(images, target=targets))
    with pytest.raises(ValueError, match=r"relevance must be an integer tensor"):
        advise.attribute(images, target=targets, relevance=shuffled.float())


def test_the_random_groups_twin_has_advises_group_sizes_in_every_draw():
    net, images = tiny_cnn(), tiny_images()
    first, second = torch.tensor([0, 3, 4]), torch.tensor([1, 2, 0])
    result = AdviseMethod(random_group_draws=2).explain(batch_of(net, net[1], images, first, second))
    relevance = LayerADVISE(net, net[1]).relevance(images)
    for n in range(3):
        twin = [v for v in result.variants[n] if v.method == "advise-random-groups"]
        assert {v.draw for v in twin} == {0, 1}
        for v in twin:
            assert v.units == int((relevance[n] == v.group).sum())
        real = [v for v in result.variants[n] if v.method == "advise"]
        assert all(v.draw is None for v in real)
        assert len(result.maps[n]) == len(result.variants[n]) == len(result.second_maps[n])
        names = {name for v in result.variants[n] for name in (v.method, *v.also_as)}
        assert {"advise-random-groups-auto", "advise-random-groups-weighted"} <= names
    again = AdviseMethod(random_group_draws=2).explain(batch_of(net, net[1], images[1:2], first[1:2], second[1:2]))
    torch.testing.assert_close(again.maps[0], result.maps[1])  # seeded per image, not per batch
    alone = AdviseMethod(random_group_draws=0).explain(batch_of(net, net[1], images, first, second))
    names = {name for labels in alone.variants for v in labels for name in (v.method, *v.also_as)}
    assert names == {"advise", "advise-auto", "advise-confidence", "advise-weighted"}


def test_matched_area_masks_keep_exactly_the_top_pixels_with_row_major_ties():
    assert kept_pixel_count(0.25, 10) == 3  # 2.5 rounds up
    assert kept_pixel_count(0.1, 50176) == 5018
    maps = torch.tensor([[[0.2, 0.9, 0.9], [0.9, 0.1, 0.5]]])
    keep = top_area_masks(maps, 0.5)
    assert keep.tolist() == [[[False, True, True], [True, False, False]]]
    constant = top_area_masks(torch.zeros(1, 4, 5), 0.3)  # 6 pixels: the first row, then one of the second
    assert constant.sum() == 6 and constant[0, 0].all() and constant[0, 1].tolist() == [True] + [False] * 4
    with pytest.raises(ValueError, match=r"matched area must lie in \(0, 1\]"):
        top_area_masks(maps, 0)


def _scoring_case(seed: int, count: int, classes: int = 5):
    """A classifier of uint8 images, ``count`` random 14 x 14 photos, their probabilities and classes."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 14 * 14, classes)).eval()  # every pixel counts

    def classify(batch: torch.Tensor) -> torch.Tensor:
        return torch.softmax(net(batch.float() / 255), dim=1)

    images = (torch.rand(count, 3, 14, 14) * 255).to(torch.uint8)
    with torch.no_grad():
        probabilities = classify(images)
    return classify, images, probabilities, probabilities.argmax(dim=1)


def _scorer(case: tuple, index: torch.Tensor, **arguments: object):
    """``score_maps`` with a scoring case's classifier, images, probabilities and classes bound."""
    classify, images, probabilities, predicted = case
    bound = {"classify": classify, "images": images, "probabilities": probabilities, "predicted": predicted}
    return partial(score_maps, **bound, image_index=index, **arguments)


def test_avx_at_area_one_is_the_unmasked_score_and_areas_are_scored_like_the_reference():
    case = _scoring_case(1, 2)
    maps, second = torch.rand(2, 14, 14), torch.rand(2, 14, 14)
    options = ProtocolOptions(areas=(1.0, 0.25), auc_steps=0)
    score = _scorer(case, torch.tensor([0, 1]), second_maps=second)
    result = score(maps=maps, options=options)
    unmasked = score(maps=torch.ones(2, 14, 14), options=ProtocolOptions(areas=()))
    for metric in ("hit", "ad", "ssim", "fsim", "mse", "avx"):
        torch.testing.assert_close(result[f"{metric}@1"], unmasked[metric])
    torch.testing.assert_close(result["area"], (maps >= 0.5).flatten(1).double().mean(1))
    binary = top_area_masks(maps, 0.25).double()
    as_reference = score(maps=binary, options=ProtocolOptions())
    for metric in ("hit", "ad", "ssim", "fsim", "mse"):  # the check is the maps' own, so AVX may differ
        torch.testing.assert_close(result[f"{metric}@0.25"], as_reference[metric])
    for bad in ((0.5, 0.5), (1.5,), (0,), ("a",)):
        with pytest.raises(ValueError, match="matched areas must"):
            ProtocolOptions(areas=bad)


def test_penalty_off_scores_the_raw_measures():
    maps = torch.zeros(8, 14, 14)  # all but the top two rows masked out
    maps[:, :2] = 1
    # Equal maps for both classes (CS = 1 > tau) fail the check: a lost prediction then costs everything.
    score = _scorer(_scoring_case(6, 8, classes=50), torch.arange(8), maps=maps, second_maps=maps)
    penalised = score(options=ProtocolOptions(tau=0.5))
    raw = score(options=ProtocolOptions(tau=0.5, penalty="off"))
    lost = penalised["hit"] == 0
    assert lost.any() and not lost.all()  # this case has both kinds
    for metric in ("ad", "ssim", "fsim", "mse", "avx"):
        assert torch.equal(raw[metric][~lost], penalised[metric][~lost])
    assert (penalised["avx"][lost] == 0).all() and (raw["avx"][lost] > 0).all()
    assert (penalised["ssim"][lost] == 0).all() and torch.equal(raw["hit"], penalised["hit"])
    with pytest.raises(ValueError, match="penalty must be"):
        ProtocolOptions(penalty="none")


def _row(image: str, method: str, avx: float, group: str = "", draw: str = "") -> dict[str, str]:
    return {
        "image": image,
        "label": "",
        "predicted": "1",
        "second": "2",
        "method": method,
        "group": group,
        "units": "",
        "draw": draw,
        "avx": f"{avx}",
        "avx@0.1": f"{avx / 2}",
        **{m: "0.5" for m in ("hit", "ad", "ssim", "fsim", "mse", "area", "seconds", "metric_seconds")},
        "deletion": "",
        "insertion": "",
    }


def fixed_records() -> list[dict[str, str]]:
    """Four images: Grad-CAM, the random control, ADVISE's groups and two draws of its twin."""
    rows = []
    for n, (gradcam, random, groups, twin) in enumerate(
        [
            (0.50, 0.40, (0.6, 0.3), ((0.5, 0.2), (0.3, 0.1))),
            (0.40, 0.45, (0.5, 0.2), ((0.4, 0.3), (0.6, 0.2))),
            (0.30, 0.10, (0.7, 0.1), ((0.2, 0.1), (0.4, 0.2))),
            (0.60, 0.20, (0.4, 0.6), ((0.5, 0.5), (0.3, 0.1))),
        ]
    ):
        image = f"im{n}"
        rows += [_row(image, "gradcam", gradcam), _row(image, "random", random)]
        rows += [_row(image, "advise", avx, str(g)) for g, avx in enumerate(groups)]
        for draw, draw_groups in enumerate(twin):
            rows += [_row(image, "advise-random-groups", avx, str(g), str(draw)) for g, avx in enumerate(draw_groups)]
    return rows


def test_the_summary_states_its_tests_in_words_with_holm_adjusted_p_values():
    rows = fixed_records()
    lines = per_image_lines(rows)
    twin = {row["image"]: float(row["avx"]) for row in lines["ADVISE oracle, random groups"]}
    assert twin == pytest.approx({"im0": 0.4, "im1": 0.5, "im2": 0.3, "im3": 0.4})  # best per draw, then mean
    compared = planned_comparisons(rows, primary="avx")
    on_avx = {f"{c.line} vs {c.reference}": c for c in compared if c.measure == "avx"}
    assert {name: c.family for name, c in on_avx.items()} == {
        "ADVISE oracle vs ADVISE oracle, random groups": "primary",
        "ADVISE oracle vs Grad-CAM": "primary",
        "ADVISE oracle vs Random map": "controls",
        "Grad-CAM vs Random map": "controls",
    }
    assert {c.family for c in compared if c.measure == "avx@0.1"} == {"secondary"}
    differences = {
        "ADVISE oracle vs Grad-CAM": [0.1, 0.1, 0.4, 0.0],
        "ADVISE oracle vs ADVISE oracle, random groups": [0.6 - 0.4, 0.5 - 0.5, 0.7 - 0.3, 0.6 - 0.4],
        "ADVISE oracle vs Random map": [0.2, 0.05, 0.6, 0.4],
        "Grad-CAM vs Random map": [0.1, -0.05, 0.2, 0.4],
    }
    for name, values in differences.items():
        assert on_avx[name].p_t == pytest.approx(paired_p_value(values))
        assert on_avx[name].p == pytest.approx(sign_flip_p_value(values))
    # Holm within each family of two: the sign-flip p's of 4 photos (3 non-zero: 2/8; 4 non-zero: 2/16, 4/16).
    assert [on_avx[n].p for n in differences] == pytest.approx([0.25, 0.25, 0.125, 0.25])
    assert [on_avx[n].holm for n in differences] == pytest.approx([0.5, 0.5, 0.25, 0.25])
    assert on_avx["ADVISE oracle vs ADVISE oracle, random groups"].difference[0] == pytest.approx(0.2)
    page = summary_table(rows, primary="avx")
    assert "the primary measure is **avx** (AVX, mask)" in page
    assert "*primary* (2)" in page and "*controls* (2)" in page and "*secondary* (4)" in page
    assert (
        "- ADVISE oracle minus its random-groups twin, 4 images: +0.200 ± 0.260, d 1.22, Holm p 0.500: "
        "not shown to differ." in page
    )
    assert "- Random map: not shown to differ: ADVISE oracle (+0.312 ± 0.381, d 1.31, Holm p 0.250), Grad-CAM" in page
    assert "| ADVISE oracle | 0.300 [" in page  # the matched-area table: half the AVX in these rows
    # At q = 0.1 the oracle takes the best group by AVX at q = 0.1: im0's second group there.
    changed = [dict(row) for row in rows]
    (second_group,) = [r for r in changed if (r["image"], r["method"], r["group"]) == ("im0", "advise", "1")]
    second_group["avx@0.1"] = "0.9"
    assert "| ADVISE oracle | 0.450 [" in summary_table(changed)  # (0.9 + 0.25 + 0.35 + 0.3) / 4


def test_verdict_words_follow_the_adjusted_p_of_the_family_not_the_unadjusted_interval():
    """Records built to sit between the two: every method beats each control on all 6 photos, by a
    steady margin, so every Student-t interval lies far above 0 and every unadjusted sign-flip p is
    2/64; Holm over the controls family of 6 comparisons lifts the smallest to 0.1875."""
    rows = []
    for n in range(6):
        jitter = 0.01 * ((n * 5) % 7 - 3)
        for method, value in {"gradcam": 0.60, "gradcampp": 0.58, "layercam": 0.57}.items():
            rows.append(_row(f"im{n}", method, value + jitter + 0.002 * n))
        rows += [_row(f"im{n}", "random", 0.40 + jitter), _row(f"im{n}", "center", 0.45 + jitter)]
    compared = planned_comparisons(rows, primary="avx")
    controls = [c for c in compared if c.family == "controls" and c.measure == "avx"]
    assert len(controls) == 6
    assert all(c.difference[0] - c.difference[1] > 0.05 for c in controls)  # unadjusted: clearly above 0
    assert all(c.p_t < 0.001 and c.p == pytest.approx(2 / 64) for c in controls)
    assert all(c.holm == pytest.approx(6 * 2 / 64) for c in controls)
    page = summary_table(rows, primary="avx")
    for c in controls:
        assert c.verdict(AnalysisPlan()) == "not shown to differ"
        row = f"| {c.line} vs {c.reference} | controls | 6 | "
        assert page.split(row)[1].split("\n")[0].endswith("| not shown to differ |")
    assert "better than it" not in page.split("Controls family")[1].split("Secondary family")[0]
    # A family of one comparison (Grad-CAM alone against one control): the same photos are now "better".
    alone = [r for r in rows if r["method"] in ("gradcam", "random")]
    (single,) = [c for c in planned_comparisons(alone, primary="avx") if c.family == "controls"]
    assert single.holm == pytest.approx(2 / 64) and single.verdict(AnalysisPlan()) == "better"


def test_equivalence_is_said_where_the_tests_show_it():
    rows = []
    for n in range(12):
        base = 0.4 + 0.02 * n
        rows += [_row(f"im{n}", "gradcam", base), _row(f"im{n}", "random", base + (0.003 if n % 2 else -0.002))]
    (compared,) = [c for c in planned_comparisons(rows, primary="avx") if c.measure == "avx"]
    assert compared.holm_equivalence < 0.05 and compared.verdict(AnalysisPlan()) == "equivalent within ±0.02"
    narrow = AnalysisPlan(margin=0.001)
    (tighter,) = [c for c in planned_comparisons(rows, narrow, primary="avx") if c.measure == "avx"]
    assert tighter.holm_equivalence > 0.05 and tighter.verdict(narrow) == "not shown to differ"
    assert "- Random map: equivalent within ±0.02: Grad-CAM (" in summary_table(rows, primary="avx")


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.5, 0.2]) == [0.5, 0.4]
    assert math.isnan(paired_p_value([0.3])) and paired_p_value([0.0, 0.0]) == 1.0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--areas", "0.1,1.5"], "--areas values must lie in (0, 1)"),
        (["--areas", "0.1,0.10"], "--areas values must be distinct"),
        (["--areas", "a"], "--areas wants numbers in (0, 1)"),
        (["--random-group-draws", "0"], "--random-group-draws wants a whole number >= 1"),
    ],
)
def test_bad_comparison_options_fail_in_one_line_before_any_work(option, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--model", "mobilenet_v2", "--images", str(tmp_path), "--out", str(tmp_path / "o"), *option])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.shared
def test_evaluate_writes_control_rows_the_random_twin_and_matched_areas(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(SHARED / "assets" / "torch-home"))
    photos = SHARED / "assets" / "imagenet-samples"
    out = tmp_path / "out"
    args = ["evaluate", "--model", "mobilenet_v2", "--images", str(photos), "--methods", "advise,gradcam"]
    assert main([*args, "--out", str(out), "--limit", "1", "--auc-steps", "0", "--quiet"]) == 0
    from captum_advise.evaluation import read_records

    rows = read_records(out / "records.csv")
    methods = {row["method"] for row in rows}
    assert {"random", "center", "randomcam", "sobelcam", "advise-random-groups", "advise-random-groups-auto"} <= methods
    assert {row["draw"] for row in rows if row["method"] == "advise-random-groups"} == {"0", "1"}
    assert all(0 <= float(row["area"]) <= 1 and row["avx@0.25"] != "" for row in rows)
    summary = (out / "summary.md").read_text()
    assert "| Random map | 1 * |" in summary and "AVX at matched areas" in summary
    assert "ADVISE oracle, random groups" in summary
