"""Steps 8-9 of the estimator (spec §2): golden-section search of the stiffness ``g``, batched.

All units run the search in lockstep on padded tensors (``B`` units, grids padded to ``L``
points): a unit whose interval has converged keeps its state while the others go on, so the loop
has a fixed shape, needs no host synchronisation, and can be captured in a CUDA graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from captum_advise.density.local_bandwidths import SQRT_2PI

GOLDEN = (math.sqrt(5) + 1) / 2
MAX_ITERATIONS = 30
TOLERANCE = 1e-5
TIE_TOLERANCE = 1e-12


@dataclass
class SearchProblem:
    """Padded inputs of the search; positions ``k >= length[b]`` are padding.

    Attributes:
        y_hist: (B, L) histogram divided by ``dt``, zero on padding.
        optws: (B, M, L) locally optimal widths.
        widths: (B, M) candidate widths.
        grid: (B, L) working grid (any finite value on padding).
        dt: (B,) grid step.
        inside: (B, L) bool, True on real grid points.
    """

    y_hist: torch.Tensor
    optws: torch.Tensor
    widths: torch.Tensor
    grid: torch.Tensor
    dt: torch.Tensor
    inside: torch.Tensor


def _gauss(sq_distance: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    return torch.exp(-sq_distance / 2 / width**2) / (SQRT_2PI * width)


def _cost(problem: SearchProblem, sq_distance: torch.Tensor, g: torch.Tensor):
    """Cost(g) of step 8 for every unit; returns ``(cost (B,), yv (B, L), optwp (B, L))``."""
    widths = problem.widths
    ratios = problem.optws / widths[:, :, None]
    reaches = ratios >= g[:, None, None]
    last = widths.shape[1] - 1 - reaches.flip(1).to(torch.int8).argmax(dim=1)
    optwv = torch.where(
        ~reaches.any(dim=1),
        widths.min(dim=1, keepdim=True).values,
        torch.where(
            (ratios > g[:, None, None]).all(dim=1),
            widths.max(dim=1, keepdim=True).values,
            g[:, None] * widths.gather(1, last),
        ),
    )
    kernel = _gauss(sq_distance, (optwv / g[:, None])[:, None, :]) * problem.inside[:, None, :]
    sums = torch.bmm(kernel, torch.stack([optwv, torch.ones_like(optwv)], dim=2))
    optwp = torch.where(problem.inside, sums[..., 0] / sums[..., 1], 1.0)
    mass = problem.y_hist * problem.dt[:, None]
    yv = torch.bmm(_gauss(sq_distance, optwp[:, :, None]), mass[:, :, None])[..., 0]
    n_total = mass.sum(dim=1, keepdim=True)
    yv = yv * n_total / (yv * problem.dt[:, None] * problem.inside).sum(dim=1, keepdim=True)
    local = yv**2 - 2 * yv * problem.y_hist + 2 / SQRT_2PI / optwp * problem.y_hist
    cost = (problem.dt[:, None] * local * problem.inside).sum(dim=1)
    return cost, yv, optwp


def golden_section_search(problem: SearchProblem) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the reference's golden-section search on every unit at once.

    Returns:
        ``(yopt, optwp)``, each (B, L): the normalised estimate and the local bandwidths of the
        stiffness evaluated last (not the best one), as the reference returns them.
    """
    grid = problem.grid
    sq_distance = (grid[:, :, None] - grid[:, None, :]) ** 2
    batch = grid.shape[0]
    a = torch.full((batch,), 1e-12, dtype=torch.float64, device=grid.device)
    b = torch.ones_like(a)
    c1 = (GOLDEN - 1) * a + (2 - GOLDEN) * b
    c2 = (2 - GOLDEN) * a + (GOLDEN - 1) * b
    f1 = _cost(problem, sq_distance, c1)[0]
    f2 = _cost(problem, sq_distance, c2)[0]
    yopt = torch.zeros_like(grid)
    optwp = torch.zeros_like(grid)
    for _ in range(1, MAX_ITERATIONS):
        running = (b - a).abs() > TOLERANCE * (c1.abs() + c2.abs())
        lower = (f2 - f1) > TIE_TOLERANCE * torch.maximum(f1.abs(), f2.abs())
        new_a = torch.where(lower, a, c1)
        new_b = torch.where(lower, c2, b)
        new_c1 = torch.where(lower, (GOLDEN - 1) * a + (2 - GOLDEN) * c2, c2)
        new_c2 = torch.where(lower, c1, (2 - GOLDEN) * c1 + (GOLDEN - 1) * b)
        cost, yv, optw = _cost(problem, sq_distance, torch.where(lower, new_c1, new_c2))
        new_f1 = torch.where(lower, cost, f2)
        new_f2 = torch.where(lower, f1, cost)
        a, b, c1, c2, f1, f2 = (
            torch.where(running, new, old)
            for new, old in ((new_a, a), (new_b, b), (new_c1, c1), (new_c2, c2), (new_f1, f1), (new_f2, f2))
        )
        yopt = torch.where(running[:, None], yv, yopt)
        optwp = torch.where(running[:, None], optw, optwp)
    yopt = yopt / (yopt * problem.dt[:, None] * problem.inside).sum(dim=1, keepdim=True)
    return yopt, optwp
