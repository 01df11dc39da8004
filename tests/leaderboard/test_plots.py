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


def _png_size(png: bytes) -> tuple[int, int]:
    # The IHDR chunk: width and height, big-endian, right after the signature and chunk header.
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _blob_inputs(t: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    ranks = np.argsort(rng.random((200, t)) + np.arange(t) / t, axis=1).argsort(axis=1)
    frequency = np.stack([np.bincount(ranks[:, i], minlength=t) for i in range(t)])
    order = np.arange(1, t + 1, dtype=float)
    return {
        "frequency": frequency,
        "labels": [f"team {i}" for i in range(t)],
        "median": order, "low": np.maximum(order - 1, 1), "high": np.minimum(order + 1, t),
        "groups": np.array([1 + i // 3 if i < 6 else 0 for i in range(t)]),
    }  # fmt: skip


def _blob_plot_every_cell(frequency, *, labels, median, low, high, groups) -> bytes:
    """The blob plot drawn over the whole (team, rank) grid, as before the team cap."""
    t = frequency.shape[0]
    share = frequency / max(int(frequency[0].sum()), 1)
    with plots._style():
        fig = plots._figure(max(5.0, 0.45 * t + 2.5), max(3.2, 0.3 * t + 2.0))
        ax = fig.add_subplot()
        xs, ys = np.meshgrid(np.arange(1, t + 1), np.arange(1, t + 1), indexing="ij")
        colours = [plots.group_colour(int(g), strong=True) or plots._NEUTRAL for g in groups]
        mask = share > 0
        ax.scatter(xs[mask], ys[mask], s=(share[mask] * 900.0),
                   c=np.repeat(np.array(colours, dtype=object)[:, None], t, axis=1)[mask],
                   alpha=0.55, linewidths=0)
        x = np.arange(1, t + 1)
        ax.vlines(x, low, high, colors="black", linewidth=1.2)
        ax.scatter(x, median, s=14, c="black", zorder=3)
        ax.plot([0.5, t + 0.5], [0.5, t + 0.5], color="#d1d5db", linewidth=0.8, zorder=0)
        ax.set_xticks(x, [plots._short(s) for s in labels], rotation=45, ha="right")
        ax.set_yticks(x)
        ax.set_ylim(t + 0.7, 0.3)
        ax.set_xlim(0.4, t + 0.6)
        ax.set_ylabel("rank in bootstrap replicates")
        ax.grid(axis="y", color="#f3f4f6")
        ax.set_axisbelow(True)
        return plots._png(fig)  # fmt: skip


@pytest.mark.parametrize("t", [3, 12])
def test_up_to_its_team_cap_the_blob_plot_is_the_whole_grid_drawn(t):
    inputs = _blob_inputs(t)
    assert plots.blob_plot(**inputs) == _blob_plot_every_cell(**inputs)


def test_past_their_team_caps_the_blob_plot_and_heatmap_keep_their_size():
    cap = plots.BLOB_PLOT_TEAMS
    sizes = {t: _png_size(plots.blob_plot(**_blob_inputs(t))) for t in (cap // 2, cap, 3 * cap)}
    assert sizes[cap // 2][0] < sizes[cap][0] and sizes[cap // 2][1] < sizes[cap][1]
    assert sizes[3 * cap] == sizes[cap]

    def heatmap(t: int) -> tuple[int, int]:
        teams = [f"t{i:04d}" for i in range(t)]
        frame = pd.DataFrame([
            {"team": team, "case_id": c, "track": "spot", "status": "ok" if i else "timeout",
             "dice": i / t}
            for i, team in enumerate(teams) for c in ("s1", "s2")
        ])  # fmt: skip
        png = plots.case_heatmap(frame, track="spot", metrics=("dice",), teams=teams,
                                 labels=teams, directions=(True,))
        return _png_size(png)

    cap = plots.HEATMAP_TEAMS
    small, at_cap, past = heatmap(cap // 4), heatmap(cap), heatmap(4 * cap)
    assert small[1] < at_cap[1] and past == at_cap


def test_past_the_cap_distributions_draw_every_point_in_a_fixed_size():
    t = 3 * plots.DISTRIBUTION_TEAMS
    teams = [f"t{i:04d}" for i in range(t)]
    frame = pd.DataFrame([
        {"team": team, "case_id": c, "track": "spot", "status": "ok" if i % 7 else "timeout",
         "dice": (i % 10) / 10, "wall_time_s": float(i), "peak_memory_bytes": i * 2**20}
        for i, team in enumerate(teams) for c in ("s1", "s2")
    ])  # fmt: skip
    many = plots.metric_distributions(frame, track="spot", metrics=("dice",), teams=teams,
                                      labels=teams, ranked=("dice",))
    few = plots.metric_distributions(frame, track="spot", metrics=("dice",), teams=teams[:40],
                                     labels=teams[:40], ranked=("dice",))
    assert _png_size(many) == _png_size(few)
    pixels = matplotlib.image.imread(io.BytesIO(many), format="png")
    assert pixels.std() > 0
    resources = plots.resource_plot(frame, teams=teams, labels=teams)
    assert resources is not None and _png_size(resources)[0] <= 1400 * 2


def test_names_holding_dollar_signs_are_drawn_as_text_not_mathematics():
    inputs = _blob_inputs(3)
    # "$^$" is malformed mathematics to matplotlib (it raised); "$x$" would be typeset.
    inputs["labels"] = ["Honest $^$", "$x$ lab", "a $ b"]
    assert plots.blob_plot(**inputs).startswith(b"\x89PNG")
    assert plots._short("$x$ lab") == r"\$x\$ lab"
    assert plots._short_middle("$" * 30) == "\\$" * 10 + "…" + "\\$" * 11
