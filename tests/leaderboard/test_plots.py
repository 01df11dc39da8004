"""Figures of the report (leaderboard.plots): valid, sensibly sized, deterministic PNGs."""

import io

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from leaderboard import plots
from leaderboard.mips import error_projection, image_projection

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEAMS = ("alpha", "beta", "gamma")
LABELS = ("Alpha Lab", "Beta", "Gamma team")


def _board() -> pd.DataFrame:
    # Three teams, two vessel and two spot cases; beta times out once, gamma's output is invalid.
    rows = []
    for t, team in enumerate(TEAMS):
        for case, track in (("v1", "vessel"), ("v2", "vessel"), ("s1", "spot"), ("s2", "spot")):
            status = {("beta", "v2"): "timeout", ("gamma", "s1"): "invalid_output"}.get(
                (team, case), "ok"
            )
            good = 0.0 if status != "ok" else 0.9 - 0.2 * t
            rows.append({
                "team": team, "case_id": case, "track": track, "structure": "x", "status": status,
                "dice": good, "cldice": good if track == "vessel" else np.nan,
                "blob_f1": good if track == "spot" else np.nan,
                "wall_time_s": 10.0 + t, "peak_memory_bytes": (t + 1) * 2**30,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _figures() -> dict[str, bytes]:
    frame = _board()
    rgb = error_projection(np.eye(4, dtype=bool)[None], np.ones((1, 4, 4), bool), size=8)
    return {
        "blob_plot": plots.blob_plot(
            np.array([[8, 2, 0], [2, 7, 1], [0, 1, 9]]),
            labels=LABELS,
            median=np.array([1.0, 2.0, 3.0]),
            low=np.array([1.0, 1.0, 2.0]),
            high=np.array([2.0, 3.0, 3.0]),
            groups=np.array([1, 1, 0]),
        ),
        "metric_distributions": plots.metric_distributions(
            frame, track="vessel", metrics=("dice", "cldice"), teams=TEAMS, labels=LABELS,
            ranked=("dice",),
        ),
        "case_heatmap": plots.case_heatmap(
            frame, track="spot", metrics=("dice", "blob_f1"), teams=TEAMS, labels=LABELS,
            directions=(True, True),
        ),
        "resource_plot": plots.resource_plot(frame, teams=TEAMS, labels=LABELS),
        "mip_panels": plots.mip_panels(
            [
                ("image", image_projection(np.arange(16.0).reshape(1, 4, 4), size=8), None),
                ("alpha", rgb, None),
                ("beta", rgb, "timeout"),
            ]
        ),
    }  # fmt: skip


@pytest.fixture(scope="module")
def figures():
    return _figures()


@pytest.mark.parametrize(
    "name", ["blob_plot", "metric_distributions", "case_heatmap", "resource_plot", "mip_panels"]
)
def test_each_figure_is_a_png_of_sensible_size(figures, name):
    png = figures[name]
    assert png[:8] == PNG_SIGNATURE
    assert b"Software" not in png  # no metadata chunk: the bytes depend on the data only
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width = pixels.shape[:2]
    assert 200 <= width <= 1400 and 100 <= height <= 1400, (width, height)
    assert pixels.std() > 0  # something was drawn


def test_figures_are_deterministic(figures):
    assert _figures() == figures


def test_resource_plot_without_runtime_columns_is_none():
    frame = _board().drop(columns=["wall_time_s", "peak_memory_bytes"])
    assert plots.resource_plot(frame, teams=TEAMS, labels=LABELS) is None


def test_every_failure_status_has_a_heatmap_letter():
    from common.status import FAILURES

    assert set(plots.STATUS_CODES) == set(FAILURES)
