"""What every metric returns when the reference, the prediction or both masks are empty.

This table is the single statement of those choices. Each metric module implements it, a test
checks every cell, and ``docs/metrics.md`` shows it (``empty_table_markdown()`` renders it).

Why these values
----------------
- **Both empty** is a perfect answer: the ratios give 1 and the errors 0. A missing prediction
  never reaches this table; it gets ``metrics.missing_scores``.
- **One empty** gives 0 to every ratio, including the 0/0 ones (recall with an empty reference,
  precision with an empty prediction): nothing was found, or only false things were, and an
  empty prediction must never earn credit. The SELMA3D 2024 evaluator's ``+1e-6`` smoothing
  gave an empty prediction clDice = 1.0: this table rules that out.
- Counts and Betti errors need no convention: they are computed as usual (an empty mask has
  no instance and Betti numbers ``(0, 0, 0)``).
- **Declared rule for skeletons**: the skeleton is scikit-image's thinning of the whole mask,
  as in the SELMA3D 2026 evaluator (panoptica 2.1.7), so clDice equals the official value
  wherever that is defined. Thinning empties some small components (a 2x2x2 cube); when it
  empties the *whole* non-empty mask, the official clDice divides by zero (NaN), and here each
  component gets one skeleton voxel, its voxel nearest to its centroid, so clDice stays
  defined (``metrics.cldice.skeleton``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["EMPTY_CASES", "EMPTY_TABLE", "SKELETON_RULE", "empty_table_markdown"]

EMPTY_CASES: tuple[str, ...] = ("both_empty", "reference_empty", "prediction_empty")
"""Column keys of ``EMPTY_TABLE``: which of the two masks have no foreground voxel."""

_ROWS: dict[str, dict[str, float | str]] = {
    "dice": {"both_empty": 1.0, "reference_empty": 0.0, "prediction_empty": 0.0},
    "cldice": {"both_empty": 1.0, "reference_empty": 0.0, "prediction_empty": 0.0},
    "blob_f1": {"both_empty": 1.0, "reference_empty": 0.0, "prediction_empty": 0.0},
    "blob_precision": {"both_empty": 1.0, "reference_empty": 0.0, "prediction_empty": 0.0},
    "blob_recall": {"both_empty": 1.0, "reference_empty": 0.0, "prediction_empty": 0.0},
    "blob_tp": {"both_empty": 0, "reference_empty": 0, "prediction_empty": 0},
    "blob_fp": {"both_empty": 0, "reference_empty": "n_prediction", "prediction_empty": 0},
    "blob_fn": {"both_empty": 0, "reference_empty": 0, "prediction_empty": "n_reference"},
    "pq": {"both_empty": 1.0, "reference_empty": 0.0, "prediction_empty": 0.0},
    "betti0_error": {"both_empty": 0, "reference_empty": "b0(P)", "prediction_empty": "b0(R)"},
    "betti1_error": {"both_empty": 0, "reference_empty": "b1(P)", "prediction_empty": "b1(R)"},
}

EMPTY_TABLE: Mapping[str, Mapping[str, float | str]] = MappingProxyType(
    {name: MappingProxyType(row) for name, row in _ROWS.items()}
)
"""Metric name -> {case -> value}. A string names the quantity the value equals:
``n_prediction``/``n_reference`` are instance counts, ``b0(P)``, ``b1(R)``... Betti numbers."""

SKELETON_RULE = (
    "The skeleton is scikit-image's 3D thinning of the whole mask on its (z, y, x) array, as in "
    "the SELMA3D 2026 evaluator. Only when it is empty for a non-empty mask (e.g. a lone 2x2x2 "
    "cube; the official clDice is then 0/0 = NaN) does each 26-connected component get one "
    "skeleton voxel, its voxel nearest to its centroid (ties: first in z, y, x order). "
    "Tprec = Tsens = 0 (official: NaN) gives clDice 0."
)


def empty_table_markdown() -> str:
    """Render ``EMPTY_TABLE`` and ``SKELETON_RULE`` as the Markdown table of the docs.

    Examples
    --------
    >>> print(empty_table_markdown().splitlines()[2])
    | dice | 1 | 0 | 0 |
    """
    lines = [
        "| metric | both empty | reference empty | prediction empty |",
        "|---|---|---|---|",
    ]
    for name, row in EMPTY_TABLE.items():
        cells = [_cell(row[case]) for case in EMPTY_CASES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Declared rule (clDice skeletons): {SKELETON_RULE}")
    return "\n".join(lines)


def _cell(value: float | str) -> str:
    if isinstance(value, str):
        return f"= {value}"
    return f"{value:g}"
