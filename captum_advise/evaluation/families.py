"""Statistics declared before the data: the measures and families of a run's comparisons, Holm within
each family, and the verdict words that follow the adjusted p.

A run names its *primary* measure (``avx@0.5/zero`` by default: AVX at the matched area q = 0.5,
every lost class scored 0) and an equivalence margin before any photo is scored; both are in
``settings.json``. Its paired comparisons fall into three families:

- **primary**: on the primary measure, each ADVISE line against its random-groups twin and
  against Grad-CAM;
- **controls**: on the primary measure, every method against every control of the catalogue;
- **secondary**: everything else (the other comparisons on the primary measure, and every
  comparison on every other measure).

Each comparison has the paired t-test's p and the sign-flip permutation p (exact up to 16 photos,
else seeded draws: at least 10,000, more in a large family, :func:`permutation_draws`); the
verdict follows the sign-flip p, Holm-adjusted within its family
(AVX per photo is bounded and often exactly 0, which the t-test's normal approximation does not
fit at these sample sizes). Two one-sided sign-flip tests, Holm-adjusted within the family too,
say where two lines are equivalent within ±margin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from captum_advise.evaluation.intervals import holm, mean_interval, paired_p_value
from captum_advise.evaluation.paired_tests import equivalence_p_value, paired_effect_size, sign_flip_p_value

__all__ = [
    "FAMILIES",
    "AnalysisPlan",
    "Comparison",
    "compare",
    "default_primary",
    "measure_column",
    "parse_measure",
    "permutation_draws",
    "plan_of_settings",
]

FAMILIES = ("primary", "controls", "secondary")
FAMILY_TEXT = {
    "primary": "each ADVISE line against its random-groups twin and against Grad-CAM, on the primary measure",
    "controls": "every method against every control, on the primary measure",
    "secondary": "every other comparison, on every measure",
}
_MEASURE = re.compile(r"^avx(?:@(?P<area>[0-9.]+))?(?:/(?P<penalty>[a-z_]+))?$")


@dataclass(frozen=True)
class AnalysisPlan:
    """What a run's summary tests, fixed before the data.

    Attributes:
        primary: the primary measure, ``avx[@q][/penalty]`` (``avx@0.5/zero``: AVX at matched
            area 0.5 under the ``zero`` penalty; without ``@q`` the reference's mask, without
            ``/penalty`` the run's first penalty); None: :func:`default_primary`.
        margin: the equivalence margin, in the measure's units (AVX: default 0.02).
        alpha: the level of every test, after Holm's adjustment within the family.
    """

    primary: str | None = None
    margin: float = 0.02
    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not (isinstance(self.margin, (int, float)) and math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"the equivalence margin must be a number > 0, got {self.margin!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha!r}")
        if self.primary is not None:
            parse_measure(self.primary)

    def primary_measure(self, areas: Sequence[float], penalties: Sequence[str]) -> str:
        """The primary measure's records column for a run with these areas and penalties (one-line
        error if the run does not compute it)."""
        measure = self.primary if self.primary is not None else default_primary(areas, penalties)
        return measure_column(measure, areas, penalties)


def parse_measure(measure: str) -> tuple[float | None, str | None]:
    """``avx[@q][/penalty]`` -> (q or None, penalty or None); a one-line error for anything else."""
    match = _MEASURE.match(measure)
    if match is None:
        raise ValueError(f"a measure is avx, avx@Q, avx/PENALTY or avx@Q/PENALTY (e.g. avx@0.5/zero), got {measure!r}")
    area = match.group("area")
    return (None if area is None else float(area)), match.group("penalty")


def measure_column(measure: str, areas: Sequence[float], penalties: Sequence[str]) -> str:
    """The records column of ``measure`` in a run with these matched areas and penalties: the first
    penalty's columns carry no suffix (``avx@0.5``), the others' do (``avx@0.5/zero``).

    >>> measure_column("avx@0.5/zero", (0.1, 0.5), ("reference", "zero"))
    'avx@0.5/zero'
    >>> measure_column("avx@0.5/zero", (0.5,), ("zero",))
    'avx@0.5'
    """
    area, penalty = parse_measure(measure)
    if area is not None and all(f"{area:g}" != f"{known:g}" for known in areas):
        known = ", ".join(f"{a:g}" for a in areas) or "none"
        raise ValueError(f"the measure {measure} needs matched area {area:g}, and the run scores areas {known}")
    if penalty is not None and penalty not in penalties:
        raise ValueError(f"the measure {measure} needs penalty {penalty}, and the run scores {', '.join(penalties)}")
    column = "avx" if area is None else f"avx@{area:g}"
    return column if penalty is None or penalty == penalties[0] else f"{column}/{penalty}"


def default_primary(areas: Sequence[float], penalties: Sequence[str]) -> str:
    """``avx@0.5/zero`` where the run computes it; else the same at its largest matched area and its
    first penalty where those are missing.

    >>> default_primary((0.1, 0.25, 0.5), ("reference", "zero"))
    'avx@0.5/zero'
    >>> default_primary((), ("reference",))
    'avx/reference'
    """
    names = {f"{area:g}": area for area in areas}
    area = "0.5" if "0.5" in names else (f"{max(areas):g}" if areas else None)
    penalty = "zero" if "zero" in penalties else penalties[0]
    return ("avx" if area is None else f"avx@{area}") + f"/{penalty}"


def plan_of_settings(settings: dict[str, object]) -> tuple[AnalysisPlan, str | None]:
    """The plan and primary measure column a run recorded in its flat settings (the defaults, and
    None, for settings written before runs recorded them)."""
    margin, alpha = settings.get("analysis.margin", 0.02), settings.get("analysis.alpha", 0.05)
    primary = settings.get("analysis.primary")
    return AnalysisPlan(margin=float(margin), alpha=float(alpha)), None if primary is None else str(primary)  # type: ignore[arg-type]


@dataclass
class Comparison:
    """One paired comparison: ``line`` minus ``reference`` on ``measure``, photo by photo.

    Attributes:
        difference: (mean, half-width of the Student-t 95% interval) of the per-photo difference.
        effect: paired Cohen's d (the mean difference over its standard deviation).
        p_t: the paired t-test's two-sided p; ``p``: the sign-flip test's.
        p_equivalence: the two one-sided sign-flip tests' p for equivalence within ±margin.
        holm, holm_equivalence: ``p`` and ``p_equivalence`` Holm-adjusted within the family.
    """

    line: str
    reference: str
    measure: str
    family: str
    images: int
    difference: tuple[float, float]
    effect: float
    p_t: float
    p: float
    p_equivalence: float
    wins: int
    ties: int
    losses: int
    holm: float = math.nan
    holm_equivalence: float = math.nan

    def verdict(self, plan: AnalysisPlan, higher_is_better: bool = True) -> str:
        """``"better"``, ``"worse"``, ``"equivalent within ±m"`` or ``"not shown to differ"``: from the
        Holm-adjusted p of the family alone (never from an unadjusted interval)."""
        if self.holm < plan.alpha:
            return "better" if (self.difference[0] > 0) == higher_is_better else "worse"
        if self.holm_equivalence < plan.alpha:
            return f"equivalent within ±{plan.margin:g}"
        return "not shown to differ"


def permutation_draws(family_size: int, alpha: float) -> int:
    """Sign patterns drawn per test in a family of ``family_size``: at least 10,000, and enough that the
    smallest two-sided p the draws can give, 2 / (draws + 1), is below half of Holm's smallest
    threshold alpha / family_size (a family of 365 at 0.05: 29,200).

    >>> permutation_draws(8, 0.05), permutation_draws(365, 0.05)
    (10000, 29200)
    """
    return max(10_000, math.ceil(4 * family_size / alpha))


def compare(
    values: dict[str, dict[str, dict[str, float]]],
    pairs: Sequence[tuple[str, str, str]],
    primary: str,
    plan: AnalysisPlan,
) -> list[Comparison]:
    """Every planned comparison of every measure, with its family and Holm's adjustment within it.

    Args:
        values: measure -> line -> photo -> value.
        pairs: (line, reference, family on the primary measure): ``"primary"``, ``"controls"`` or
            ``"secondary"``; on every other measure a pair is ``"secondary"``.
        primary: the primary measure (a key of ``values``).
        plan: the margin of the equivalence tests.

    Returns:
        The comparisons with at least one photo in common, the primary measure's first.
    """
    planned = []
    measures = [primary, *(measure for measure in values if measure != primary)]
    for measure in measures:
        by_line = values.get(measure, {})
        for line, reference, family in pairs:
            mine, theirs = by_line.get(line, {}), by_line.get(reference, {})
            photos = sorted(mine.keys() & theirs.keys())
            if photos:
                differences = [mine[photo] - theirs[photo] for photo in photos]
                planned.append((line, reference, measure, family if measure == primary else "secondary", differences))
    sizes = {family: sum(entry[3] == family for entry in planned) for family in FAMILIES}
    compared = []
    for line, reference, measure, family, differences in planned:
        draws = permutation_draws(sizes[family], plan.alpha)
        compared.append(
            Comparison(
                line,
                reference,
                measure,
                family,
                len(differences),
                mean_interval(differences),
                paired_effect_size(differences),
                paired_p_value(differences),
                sign_flip_p_value(differences, draws),
                equivalence_p_value(differences, plan.margin, draws),
                sum(d > 0 for d in differences),
                sum(d == 0 for d in differences),
                sum(d < 0 for d in differences),
            )
        )
    for family in FAMILIES:
        members = [comparison for comparison in compared if comparison.family == family]
        for comparison, adjusted, adjusted_equivalence in zip(
            members,
            holm([c.p for c in members]),
            holm([c.p_equivalence for c in members]),
            strict=True,
        ):
            comparison.holm, comparison.holm_equivalence = adjusted, adjusted_equivalence
    return compared
