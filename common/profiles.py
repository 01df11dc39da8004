"""Profiles: the scoring rules of each SELMA3D edition, one definition each, selected by name.

A profile says which structures are scored as which track (vessel-like = the 2026
"contiguous" / 2024 "tree-like" structures, spot-like = "isolated" / "dot-like"), which metrics
each track ranks and with which scheme. ``--profile NAME`` (``evaluate``, ``leaderboard``,
``round``, ``check``, ``data import``) and ``profile:`` (round.yaml, ranking.yaml) select one;
every output names the profile in force.

Sources: the SELMA3D 2026 evaluator (repository YingChen7/SELMA3D2026_evaluation,
``evaluate.py``: structures by file-name prefix, Dice + panoptica ``pq_dsc`` for isolated,
Dice + clDice for contiguous, per-metric means) and the 2026 web page's ranking (rank each
mean, mean rank per structure type, overall mean over the two types); the SELMA3D 2024
evaluator (YingChen7/SELMA3D_challenge-evaluation: Dice, clDice, Betti-0 and Betti-1 errors
for tree-like, Dice and Betti-0 error for dot-like) ranked test-then-rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict

from common.errors import ConfigError

__all__ = ["DEFAULT_PROFILE", "PROFILES", "Profile", "get_profile"]


class Profile(BaseModel):
    """The rules of one edition.

    Attributes
    ----------
    name : str
        What ``--profile`` and ``profile:`` take.
    title : str
        One line for reports.
    structure_tracks : dict of str to {"vessel", "spot"}, optional
        Track of each structure, by the edition's own names; ``None`` keeps each case's track
        as its manifest gives it.
    aliases : dict of str to str
        selma3d's structure names (``cfos``, ``cell_nucleus``...) -> the edition's names.
    ranked_metrics : dict of str to tuple of str
        Ranked metrics per track.
    scheme : {"aggregate-then-rank", "rank-then-aggregate", "test-then-rank"}
    aggregation : {"track", "structure"}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    structure_tracks: dict[str, Literal["vessel", "spot"]] | None = None
    aliases: dict[str, str] = {}
    ranked_metrics: dict[str, tuple[str, ...]]
    scheme: Literal["aggregate-then-rank", "rank-then-aggregate", "test-then-rank"]
    aggregation: Literal["track", "structure"] = "track"

    def structure_name(self, structure: str) -> str:
        """The edition's name of a structure (aliases applied; unknown names unchanged).

        Examples
        --------
        >>> get_profile("selma3d-2026").structure_name("cfos")
        'cfos_neuron'
        """
        return self.aliases.get(structure, structure)

    def track_of(self, structure: str) -> str | None:
        """Track of ``structure`` under this profile; ``None`` when the profile has no map.

        Raises
        ------
        ValueError
            The profile has a map and the structure is not in it (the message lists the
            names it knows).

        Examples
        --------
        >>> get_profile("selma3d-2026").track_of("microglia")
        'spot'
        >>> get_profile("selma3d-2024").track_of("microglia")
        'vessel'
        """
        if self.structure_tracks is None:
            return None
        name = self.structure_name(structure)
        if name not in self.structure_tracks:
            known = sorted({*self.structure_tracks, *self.aliases})
            raise ValueError(
                f"structure {structure!r} is not scored by profile {self.name!r}; "
                f"it knows {', '.join(known)}"
            )
        return self.structure_tracks[name]


_VESSEL, _SPOT = "vessel", "spot"

_PROFILES = (
    Profile(
        name="selma3d",
        title="selma3d's own: SELMA3D 2026 aggregation with blob F1 for spot-like structures",
        ranked_metrics={_VESSEL: ("dice", "cldice"), _SPOT: ("dice", "blob_f1")},
        scheme="aggregate-then-rank",
    ),
    Profile(
        name="selma3d-2026",
        title="SELMA3D 2026: Dice + clDice (contiguous), Dice + PQ (isolated)",
        structure_tracks={
            **dict.fromkeys(
                ("axonalmarker", "blood_vessel", "gutnerve", "lymphatic_vessel",
                 "peripheral_nerve"),
                _VESSEL,
            ),
            **dict.fromkeys(
                ("AD_plaques", "cell_nuclei", "cfos_neuron", "microglia", "protein"), _SPOT
            ),
        },
        aliases={
            "cfos": "cfos_neuron",
            "cell_nucleus": "cell_nuclei",
            "amyloid_plaque": "AD_plaques",
        },
        ranked_metrics={_VESSEL: ("dice", "cldice"), _SPOT: ("dice", "pq")},
        scheme="aggregate-then-rank",
    ),
    Profile(
        name="selma3d-2024",
        title="SELMA3D 2024: Dice, clDice, Betti-0/1 errors (tree-like), Dice, Betti-0 error "
        "(dot-like); test, then rank",
        structure_tracks={
            "blood_vessel": _VESSEL,
            "microglia": _VESSEL,
            "cfos": _SPOT,
            "cell_nucleus": _SPOT,
            "amyloid_plaque": _SPOT,
        },
        aliases={
            "cfos_neuron": "cfos",
            "cell_nuclei": "cell_nucleus",
            "AD_plaques": "amyloid_plaque",
        },
        ranked_metrics={
            _VESSEL: ("dice", "cldice", "betti0_error", "betti1_error"),
            _SPOT: ("dice", "betti0_error"),
        },
        scheme="test-then-rank",
    ),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in _PROFILES})
"""Every profile by name."""

DEFAULT_PROFILE = "selma3d"
"""The profile in force when none is named: the ranking the README describes."""


def get_profile(name: str) -> Profile:
    """The profile called ``name``.

    Raises
    ------
    ConfigError
        Naming the profiles there are.

    Examples
    --------
    >>> get_profile("selma3d-2024").scheme
    'test-then-rank'
    """
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    return PROFILES[name]
