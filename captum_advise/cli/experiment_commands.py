"""``captum-advise ablate``, ``robustness``, ``sanity``, ``sanity-data`` and ``sanity-quantus``: robustness and
sanity experiments."""

from __future__ import annotations

import argparse
from pathlib import Path

from captum_advise.catalogue import robustness_methods, sanity_methods
from captum_advise.cli.arguments import (
    add_image_arguments,
    add_model_arguments,
    add_new_argument,
    folder_images,
    method_list,
    named_methods,
)
from captum_advise.cli.choices import PAPER_DENSITIES, QUANTUS_METRICS, RANDOMIZED_MODULES, SCORES
from captum_advise.runs.ranks import is_main_rank

__all__ = ["add_ablate_command", "add_sanity_commands"]


def _densities(text: str) -> list[float]:
    try:
        values = [float(item) for item in text.split(",") if item]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--densities wants comma-separated numbers, got {text!r}") from None
    if not values or not all(0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"densities must lie in [0, 1], got {text!r}")
    return values


def add_ablate_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ablate",
        help="noise ablation: AVX of every method against salt-and-pepper density, with and without ReLU",
        description="Paper §4.2.1 / Figure 5: the AVX protocol on salt-and-pepper-noisy images, for each density, "
        "with and without the ReLU on the maps. Writes ablation.csv, ablation.png and an evaluation per setting.",
    )
    add_model_arguments(parser)
    add_image_arguments(parser, default_limit=20)
    parser.add_argument(
        "--methods",
        type=method_list,
        default=list(sanity_methods(default=True)),
        help=f"[default: {','.join(sanity_methods(default=True))}: those evaluate compares, but the slow ones]",
    )
    parser.add_argument(
        "--densities", type=_densities, default=list(PAPER_DENSITIES), help="[default: 0.025,...,0.225]"
    )
    parser.add_argument("--relu", choices=("both", "on", "off"), default="both", help="[default: both]")
    parser.add_argument("--seed", type=int, default=0, help="noise seed [default: 0]")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_new_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run_ablate, across_ranks=True, resumes=True)


def add_robustness_command(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "robustness",
        help="Captum's randomised tools on every method: max-sensitivity, infidelity, noise that flips the class",
        description="For each image and method (each a Captum attribution): captum.metrics.sensitivity_max, "
        "captum.metrics.infidelity, and with captum.robust.MinParamPerturbation the smallest salt-and-pepper "
        "density that changes the prediction, with how much the map moved there. Writes robustness.csv "
        "(resumed if present) and summary.md.",
    )
    add_model_arguments(parser)
    add_image_arguments(parser, default_limit=8)
    default_methods = ",".join(robustness_methods(default=True))
    parser.add_argument(
        "--methods",
        default=default_methods,
        help=f"of {','.join(robustness_methods())} (advise: the auto group; advise-all: every unit; advise-frozen: "
        f"auto with the groups of the clean input), or 'all' [default: {default_methods}]",
    )
    parser.add_argument(
        "--score",
        choices=SCORES,
        default="softmax",
        help="what every method explains: the class's softmax probability (as the evaluator) or its logit "
        "[default: softmax]",
    )
    parser.add_argument(
        "--floor-radius",
        type=float,
        default=0.005,
        help="radius of the two imperceptible uniform perturbations of each method's noise floor [default: 0.005]",
    )
    parser.add_argument(
        "--radius", type=float, default=0.02, help="sensitivity_max's perturbation radius [default: 0.02]"
    )
    parser.add_argument("--sensitivity-samples", type=int, default=10, help="[default: 10]")
    parser.add_argument(
        "--infidelity-std", type=float, default=0.05, help="Gaussian perturbation's std [default: 0.05]"
    )
    parser.add_argument("--infidelity-samples", type=int, default=32, help="[default: 32]")
    parser.add_argument("--max-density", type=float, default=0.5, help="largest noise density searched [default: 0.5]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_new_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_robustness_command, resumes=True)


def run_robustness_command(args: argparse.Namespace) -> int:
    from captum_advise.experiments import RobustnessConfig, run_robustness
    from captum_advise.models import load_model

    config = RobustnessConfig(
        methods=tuple(named_methods(args.methods, robustness_methods(), "robustness method")),
        layer=args.layer,
        device=args.device,
        geometry=args.geometry,
        radius=args.radius,
        sensitivity_samples=args.sensitivity_samples,
        infidelity_std=args.infidelity_std,
        infidelity_samples=args.infidelity_samples,
        max_density=args.max_density,
        seed=args.seed,
        score=args.score,
        floor_radius=args.floor_radius,
    )
    records = folder_images(args.images, args.limit, args.every)
    loaded = load_model(args.model, args.weights, device=args.device)
    rows = run_robustness(loaded, records, args.out, config, progress=not args.quiet, new=args.new)
    print(f"{len(rows)} row{'s' * (len(rows) != 1)} in {args.out / 'robustness.csv'}\n")
    print((args.out / "summary.md").read_text())
    return 0


def _add_sanity_inputs(parser: argparse.ArgumentParser) -> None:
    """The model, the photos and the methods of a sanity check."""
    add_model_arguments(parser)
    add_image_arguments(parser, default_limit=8)
    parser.add_argument(
        "--methods",
        default=",".join(sanity_methods(default=True)),
        help=f"of {','.join(sanity_methods())}, or 'all' [default: {','.join(sanity_methods(default=True))}]",
    )


def add_sanity_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sanity",
        help="model-parameter randomisation test (cascading or independent)",
        description="Adebayo et al.'s parameter randomisation on copies of the model: each method's maps on the "
        "randomised model against its maps on the trained one (Spearman, SSIM and HOG of the absolute and the "
        "signed map, each min-max scaled, the same for every method), beside each method's noise floor (its maps "
        "under two imperceptible input perturbations). Writes sanity.csv and sanity.png.",
    )
    _add_sanity_inputs(parser)
    parser.add_argument("--mode", choices=("cascading", "independent"), default="cascading")
    parser.add_argument(
        "--init",
        choices=("scaled", "reset"),
        default="scaled",
        help="re-initialisation: 'scaled' draws each layer with its trained weights' scale, so the network keeps "
        "depending on its input; 'reset' is PyTorch's reset_parameters() [default: scaled]",
    )
    parser.add_argument(
        "--randomize",
        choices=RANDOMIZED_MODULES,
        default="all",
        help="which modules: 'all' has parameters, BatchNorm included (as Quantus's MPRT); 'conv-linear' only "
        "convolution and linear layers [default: all]",
    )
    parser.add_argument("--steps", type=int, help="modules from the top [default: all]")
    parser.add_argument(
        "--floor-radius",
        type=float,
        default=0.005,
        help="radius of the two imperceptible uniform input perturbations of each method's noise floor "
        "[default: 0.005]",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_new_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run_sanity, across_ranks=True, resumes=True)

    data = commands.add_parser(
        "sanity-data",
        help="data randomisation test on a generated shapes task (CPU, minutes)",
        description="Per seed, train three small CNNs on generated shapes from independent initial weights, two "
        "on the true labels and one on permuted labels, and compare each method's maps: the first true-label "
        "model with the permuted-label one (the test) and with the other true-label one (the ceiling). "
        "Writes data_randomization.csv and run_info.json.",
    )
    data.add_argument(
        "--methods",
        default=",".join(sanity_methods(default=True)),
        help=f"of {','.join(sanity_methods())}, or 'all' [default: {','.join(sanity_methods(default=True))}]",
    )
    data.add_argument("--train", type=int, default=256, help="training images [default: 256]")
    data.add_argument("--test", type=int, default=32, help="compared images [default: 32]")
    data.add_argument("--max-epochs", type=int, default=400, help="stop training after this many epochs [default: 400]")
    data.add_argument(
        "--target-accuracy",
        type=float,
        default=0.95,
        help="train each model until its training accuracy reaches this [default: 0.95]",
    )
    data.add_argument(
        "--seeds", type=_seed_list, default=(0, 1, 2), help="comma-separated seeds, one replicate each [default: 0,1,2]"
    )
    data.add_argument("--out", type=Path, required=True, help="output folder")
    data.add_argument("--quiet", action="store_true", help="no progress bars")
    data.set_defaults(run=run_sanity_data)

    peer = commands.add_parser(
        "sanity-quantus",
        help="Quantus's MPRT, Smooth MPRT, Efficient MPRT and Random Logit on the sanity methods (needs [quantus])",
        description="Run Quantus 0.6.0's randomisation metrics on the same photos, model and methods as 'sanity' "
        "(the methods' sanity maps through an explain_func; MPRT top-down; Smooth MPRT as MPRT on the maps "
        "averaged over noisy copies, since Quantus 0.6.0's SmoothMPRT ignores a given explain_func; every other "
        "setting Quantus's default). Writes quantus.csv (one score per metric, method, photo and, for MPRT and "
        "Smooth MPRT, layer) and run_info.json.",
    )
    _add_sanity_inputs(peer)
    peer.add_argument(
        "--metrics", default=",".join(QUANTUS_METRICS), help=f"Quantus metrics [default: {','.join(QUANTUS_METRICS)}]"
    )
    peer.add_argument(
        "--smooth-samples", type=int, default=50, help="Smooth MPRT's noisy copies per map [default: 50, Quantus's]"
    )
    peer.add_argument(
        "--last-layer-only",
        action="store_true",
        help="MPRT and Smooth MPRT compare only the fully randomised model (Quantus's skip_layers)",
    )
    peer.add_argument("--seed", type=int, default=42, help="Quantus's seed [default: 42, Quantus's]")
    peer.add_argument("--out", type=Path, required=True, help="output folder")
    peer.add_argument("--quiet", action="store_true", help="no progress")
    peer.set_defaults(run=run_sanity_quantus)


def _sanity_methods(text: str) -> list[str]:
    return named_methods(text, sanity_methods(), "sanity method")


def run_ablate(args: argparse.Namespace) -> int:
    from captum_advise.evaluation import EvaluationConfig, ProtocolOptions
    from captum_advise.experiments import run_noise_ablation
    from captum_advise.models import load_model

    records = folder_images(args.images, args.limit, args.every)
    loaded = load_model(args.model, args.weights, device=args.device)
    config = EvaluationConfig(
        methods=args.methods,
        layer=args.layer,
        batch_size=args.batch_size,
        device=args.device,
        # The ablation reproduces the paper's noise figure: AVX under the reference's mask, the methods only.
        protocol=ProtocolOptions(auc_steps=0, areas=()),
        controls=False,
        noise_seed=args.seed,
        geometry=args.geometry,
    )
    relu_modes = {"both": (True, False), "on": (True,), "off": (False,)}[args.relu]
    rows = run_noise_ablation(
        loaded, records, args.out, config, args.densities, relu_modes, progress=not args.quiet, new=args.new
    )
    if is_main_rank():
        print(f"{len(rows)} lines in {args.out / 'ablation.csv'}; plot {args.out / 'ablation.png'}")
    return 0


def run_sanity(args: argparse.Namespace) -> int:
    from captum_advise.experiments import SanityConfig, noise_floor, run_parameter_randomization, summarize_similarity
    from captum_advise.models import load_model

    methods = _sanity_methods(args.methods)
    records = folder_images(args.images, args.limit, args.every)
    loaded = load_model(args.model, args.weights, device=args.device)
    config = SanityConfig(
        methods=methods,
        layer=args.layer,
        mode=args.mode,
        steps=args.steps,
        seed=args.seed,
        device=args.device,
        geometry=args.geometry,
        init=args.init,
        randomize=args.randomize,
        floor_radius=args.floor_radius,
    )
    rows = run_parameter_randomization(loaded, records, args.out, config, progress=not args.quiet, new=args.new)
    if not is_main_rank():
        return 0
    summary = summarize_similarity(rows)
    alive = {int(row["step"]): str(row["alive"]) == "1" for row in rows if row["mode"] == args.mode}
    floors = noise_floor(rows)
    print(
        f"{args.mode} randomisation ({args.init}, {args.randomize} modules), {len(records)} images: mean Spearman "
        "(abs) to the trained maps"
    )
    for method, measures in floors.items():
        print(f"  noise floor {'':<20} {method:<10} {measures['spearman_abs'][0]:.3f}")
    for (step, layer, method), measures in sorted(summary.items()):
        if step in (0, 1, 2, 5, 10) or step == max(s for s, _, _ in summary):
            dead = "" if alive[step] else "  (network no longer depends on its input)"
            print(f"  step {step:>3} {layer:<24} {method:<10} {measures['spearman_abs'][0]:.3f}{dead}")
    print(
        f"{len(rows)} row{'s' * (len(rows) != 1)} in {args.out / 'sanity.csv'}; plot {args.out / 'sanity.png'}; "
        f"every step with intervals in {args.out / 'summary.md'}"
    )
    return 0


def run_sanity_data(args: argparse.Namespace) -> int:
    from captum_advise.experiments import run_data_randomization, summarize_data_randomization
    from captum_advise.experiments.data_randomization import COMPARISONS

    methods = _sanity_methods(args.methods)
    result = run_data_randomization(
        args.out,
        methods=methods,
        train_count=args.train,
        test_count=args.test,
        max_epochs=args.max_epochs,
        seeds=args.seeds,
        target_accuracy=args.target_accuracy,
        progress=not args.quiet,
    )
    for model in result.models:
        print(
            f"seed {model.seed} {model.role + ' labels:':<18} train {model.train_accuracy:.3f} after "
            f"{model.epochs} epochs, test {model.test_accuracy:.3f} (initial weights from seed {model.init_seed})"
        )
    if not result.memorized:
        print(
            f"WARNING: a permuted-label model did not reach {result.target_accuracy:.2f} training accuracy: "
            "the comparison below is not the data randomisation test (raise --max-epochs or lower --train)"
        )
    summary = summarize_data_randomization(result.rows)
    print(
        f"Spearman of |map| and SSIM of |map|, mean over {len(args.seeds)} seed(s) ± 95% across seeds; a method "
        "passes where 'ceiling - test' is clearly above 0"
    )
    for method in methods:
        for comparison in (*COMPARISONS, "ceiling - test"):
            measures = summary[(method, comparison)]
            text = "  ".join(f"{k} {m:+.3f} ± {h:.3f}" for k, (m, h) in measures.items() if k.endswith("_abs"))
            print(f"  {method:<10} {comparison:<17} {text}")
    print(f"{len(result.rows)} rows in {args.out / 'data_randomization.csv'}")
    return 0


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct and at least one, got {text!r}")
    return seeds


def run_sanity_quantus(args: argparse.Namespace) -> int:
    from captum_advise.experiments import QuantusConfig, quantus_summary, run_quantus_checks
    from captum_advise.models import load_model

    metrics = [m for m in args.metrics.split(",") if m]
    config = QuantusConfig(
        methods=_sanity_methods(args.methods),
        metrics=metrics,
        layer=args.layer,
        seed=args.seed,
        smooth_samples=args.smooth_samples,
        last_layer_only=args.last_layer_only,
        device=args.device,
    )
    config.check()
    records = folder_images(args.images, args.limit, args.every)
    loaded = load_model(args.model, args.weights, device=args.device)
    rows = run_quantus_checks(loaded, records, args.out, config, progress=not args.quiet)
    print(f"Quantus on {len(records)} images, mean ± 95% interval over the images:")
    for (metric, method, what), (mean, half, undefined) in quantus_summary(rows).items():
        missing = f"  ({undefined} without a score: a constant map)" if undefined else ""
        print(f"  {metric:<15} {method:<10} {what:<17} {mean:+.3f} ± {half:.3f}{missing}")
    print(f"{len(rows)} rows in {args.out / 'quantus.csv'}")
    return 0
