"""Static figures of the report, rendered by matplotlib's Agg backend to PNG bytes.

Figures are built on ``matplotlib.figure.Figure`` objects (no pyplot global state) inside one
``rc_context`` with a fixed font and no file metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd

from common.status import STATUS_TABLE

__all__ = [
    "GROUP_COLOURS",
    "STATUS_CODES",
    "blob_plot",
    "case_heatmap",
    "metric_distributions",
    "mip_panels",
    "resource_plot",
]

# Pale fills for statistically tied groups (table rows) and strong ones for plot marks.
GROUP_COLOURS: tuple[tuple[str, str], ...] = (
    ("#dbeafe", "#2563eb"),
    ("#fde68a", "#b45309"),
    ("#dcfce7", "#15803d"),
    ("#fce7f3", "#be185d"),
    ("#ede9fe", "#6d28d9"),
    ("#ffedd5", "#c2410c"),
    ("#cffafe", "#0e7490"),
)
# One letter per failure status, printed on the heatmap cells (``common.status``).
STATUS_CODES: dict[str, str] = {s.name: s.mark for s in STATUS_TABLE if s.mark}
_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "selma3d",
    "path.simplify": True,
}
_NEUTRAL = "#6b7280"


@contextmanager
def _style() -> Iterator[None]:
    # matplotlib (0.4 s to import) is loaded when a figure is drawn.
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def _figure(width: float, height: float) -> object:
    # matplotlib (0.4 s to import) is loaded when a figure is drawn.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: object) -> bytes:
    buf = io.BytesIO()
    # No Software/CreationDate chunks: the bytes depend on the data only.
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})  # type: ignore[attr-defined]
    return buf.getvalue()


def _literal(label: str) -> str:
    # matplotlib reads text between two '$' as mathematics (and raises on '$^$'): a name is text.
    return label.replace("$", r"\$")


def _short(label: str, width: int = 18) -> str:
    return _literal(label if len(label) <= width else label[: width - 1] + "…")


def group_colour(group: int, *, strong: bool) -> str | None:
    """Colour of a tied group (None for group 0, a team separated from its neighbours)."""
    if group <= 0:
        return None
    pale, bold = GROUP_COLOURS[(group - 1) % len(GROUP_COLOURS)]
    return bold if strong else pale


def _by_team(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each team's rows, in the frame's order: one pass, not one scan of the frame per team."""
    return {str(t): g for t, g in frame.groupby("team", sort=False)}


def _of_team(by_team: dict[str, pd.DataFrame], team: str, column: str) -> pd.Series:
    rows = by_team.get(str(team))
    return pd.Series([], dtype=object) if rows is None else rows[column]


BLOB_PLOT_TEAMS = 60
"""Teams up to which the blob plot grows with their number; beyond, its size stays."""


HEATMAP_TEAMS = 100
"""Teams up to which a case heatmap's panel grows with their number; beyond, its height stays."""


def blob_plot(
    frequency: np.ndarray,
    *,
    labels: Sequence[str],
    median: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    groups: np.ndarray,
) -> bytes:
    """Bootstrap rank distribution per team (challengeR's blob plot).

    Parameters
    ----------
    frequency : (T, T) ndarray of int
        ``frequency[i, k]``: replicates with team i (in rank order) at rank k + 1.
    labels : sequence of str, keyword-only
        Team labels in rank order.
    median, low, high : (T,) ndarray, keyword-only
        Median rank and interval bounds per team.
    groups : (T,) ndarray of int, keyword-only
        Tied group per team (0: none).

    Returns
    -------
    bytes
        PNG. Circle area is proportional to the share of replicates; the black dot is the
        median, the bar the interval; the diagonal is the observed rank.
    """
    t = frequency.shape[0]
    # Up to BLOB_PLOT_TEAMS teams the figure grows with them; beyond, it keeps that size (its
    # area would grow with the square of the teams) and circles and labels thin out instead.
    drawn = min(t, BLOB_PLOT_TEAMS)
    shrink = (drawn / t) ** 2
    step = -(-t // BLOB_PLOT_TEAMS)
    total = max(int(frequency[0].sum()), 1)
    # Only the ranks a team reached: at most one point per team and replicate.
    rows, cols = np.nonzero(frequency)
    share = frequency[rows, cols] / total
    with _style():
        fig = _figure(max(5.0, 0.45 * drawn + 2.5), max(3.2, 0.3 * drawn + 2.0))
        ax = fig.add_subplot()
        colours = [group_colour(int(g), strong=True) or _NEUTRAL for g in groups]
        ax.scatter(
            rows + 1,
            cols + 1,
            s=(share * 900.0 * shrink),
            c=np.array(colours, dtype=object)[rows],
            alpha=0.55,
            linewidths=0,
        )
        x = np.arange(1, t + 1)
        ax.vlines(x, low, high, colors="black", linewidth=1.2)
        ax.scatter(x, median, s=14 * shrink, c="black", zorder=3)
        ax.plot([0.5, t + 0.5], [0.5, t + 0.5], color="#d1d5db", linewidth=0.8, zorder=0)
        ax.set_xticks(x[::step], [_short(s) for s in labels[::step]], rotation=45, ha="right")
        ax.set_yticks(x[::step])
        ax.set_ylim(t + 0.7, 0.3)
        ax.set_xlim(0.4, t + 0.6)
        ax.set_ylabel("rank in bootstrap replicates")
        ax.grid(axis="y", color="#f3f4f6")
        ax.set_axisbelow(True)
        return _png(fig)


def metric_distributions(
    frame: pd.DataFrame,
    *,
    track: str,
    metrics: Sequence[str],
    teams: Sequence[str],
    labels: Sequence[str],
    ranked: Sequence[str],
) -> bytes:
    """Per-case metric values of each team: box plot plus every case as a point.

    Parameters
    ----------
    frame : pandas.DataFrame
        The completed results (``team, case_id, track, status`` and the metric columns).
    track : str, keyword-only
    metrics : sequence of str, keyword-only
        One panel per metric.
    teams, labels : sequences of str, keyword-only
        Team ids and labels in rank order (left to right).
    ranked : sequence of str, keyword-only
        Metrics marked "(ranked)" in the panel titles.

    Returns
    -------
    bytes
        PNG. Cases whose status is not ``ok`` are red crosses (their worst values).
    """
    rows = frame[frame["track"] == track]
    by_team = _by_team(rows)
    n = len(metrics)
    cols = min(n, 2)
    nrows = (n + cols - 1) // cols
    width = max(4.5, 0.42 * len(teams) + 1.8) * cols
    jitter = np.random.default_rng(0).uniform(-0.18, 0.18, size=len(rows) + 1)
    with _style():
        fig = _figure(min(width, 14.0), 3.0 * nrows + 0.4)
        for k, name in enumerate(metrics):
            ax = fig.add_subplot(nrows, cols, k + 1)
            data = [_of_team(by_team, t, name).to_numpy(dtype=float) for t in teams]
            ok = [_of_team(by_team, t, "status").to_numpy() == "ok" for t in teams]
            finite = [d[np.isfinite(d)] for d in data]
            positions = np.arange(1, len(teams) + 1)
            if len(teams) > DISTRIBUTION_TEAMS:
                # A box and two point sets per team are a dozen drawn objects per team: past the
                # cap, every team's points are one set and the medians another.
                _many_teams(ax, data, ok, finite, positions, jitter, labels)
                ax.set_title(f"{track}: {name}" + (" (ranked)" if name in ranked else ""))
                ax.grid(axis="y", color="#f3f4f6")
                ax.set_axisbelow(True)
                continue
            if any(len(d) for d in finite):
                ax.boxplot(
                    [d if len(d) else [np.nan] for d in finite],
                    positions=positions,
                    widths=0.55,
                    showfliers=False,
                    medianprops={"color": "#111827"},
                    boxprops={"color": "#9ca3af"},
                    whiskerprops={"color": "#9ca3af"},
                    capprops={"color": "#9ca3af"},
                )
            for i, (d, good) in enumerate(zip(data, ok, strict=True)):
                x = positions[i] + jitter[: len(d)]
                ax.scatter(x[good], d[good], s=9, c="#2563eb", alpha=0.7, linewidths=0)
                ax.scatter(x[~good], d[~good], s=16, c="#dc2626", marker="x", linewidths=1)
            ax.set_xticks(positions, [_short(s, 14) for s in labels], rotation=45, ha="right")
            ax.set_title(f"{track}: {name}" + (" (ranked)" if name in ranked else ""))
            ax.grid(axis="y", color="#f3f4f6")
            ax.set_axisbelow(True)
        return _png(fig)


DISTRIBUTION_TEAMS = 60
"""Teams up to which a metric's distribution is drawn as one box and point set per team."""


def _many_teams(
    ax: object,
    data: list[np.ndarray],
    ok: list[np.ndarray],
    finite: list[np.ndarray],
    positions: np.ndarray,
    jitter: np.ndarray,
    labels: Sequence[str],
) -> None:
    """Every team's values as one point set (failures another) and the medians as a third."""
    xs = np.concatenate([positions[i] + jitter[: len(d)] for i, d in enumerate(data)])
    ys = np.concatenate(data)
    good = np.concatenate(ok).astype(bool)
    ax.scatter(xs[good], ys[good], s=4, c="#2563eb", alpha=0.5, linewidths=0)  # type: ignore[attr-defined]
    ax.scatter(xs[~good], ys[~good], s=8, c="#dc2626", marker="x", linewidths=0.8)  # type: ignore[attr-defined]
    medians = np.array([np.median(d) if len(d) else np.nan for d in finite])
    ax.scatter(positions, medians, s=10, c="#111827", marker="_", linewidths=1)  # type: ignore[attr-defined]
    step = -(-len(positions) // DISTRIBUTION_TEAMS)
    ax.set_xticks(  # type: ignore[attr-defined]
        positions[::step], [_short(s, 14) for s in labels[::step]], rotation=45, ha="right"
    )


def _short_middle(label: str, width: int = 22) -> str:
    if len(label) <= width:
        return _literal(label)
    keep = (width - 1) // 2
    return _literal(label[:keep] + "…" + label[-(width - 1 - keep) :])


def case_heatmap(
    frame: pd.DataFrame,
    *,
    track: str,
    metrics: Sequence[str],
    teams: Sequence[str],
    labels: Sequence[str],
    directions: Sequence[bool],
) -> bytes:
    """Team-by-case heatmaps of a track's metrics, failed cases boxed and lettered by status.

    Parameters
    ----------
    frame : pandas.DataFrame
        Completed results.
    track : str, keyword-only
    metrics : sequence of str, keyword-only
        One panel per metric, stacked.
    teams, labels : sequences of str, keyword-only
        Rows, in rank order.
    directions : sequence of bool, keyword-only
        ``higher_is_better`` per metric; sets the colour map so that dark always means bad.

    Returns
    -------
    bytes
        PNG.
    """
    # matplotlib (0.4 s to import) is loaded when a figure is drawn.
    from matplotlib.patches import Rectangle

    rows = frame[frame["track"] == track]
    cases = sorted(rows["case_id"].unique())
    status = (
        rows.pivot(index="team", columns="case_id", values="status")
        .reindex(index=list(teams), columns=cases)
        .to_numpy()
    )
    failed = list(zip(*np.nonzero(status != "ok"), strict=True))
    w = min(14.0, max(6.0, 0.3 * len(cases) + 3.5))
    # Up to HEATMAP_TEAMS rows a panel grows with them; beyond, it keeps that height (its pixels,
    # and the memory to draw them, would grow without bound) and row labels thin out.
    drawn = min(len(teams), HEATMAP_TEAMS)
    row_step = -(-len(teams) // HEATMAP_TEAMS)
    panel_h = max(1.2, 0.3 * drawn + 0.5)
    label_h = 0.08 * max(len(_short_middle(c)) for c in cases) + 0.3
    with _style():
        fig = _figure(w, panel_h * len(metrics) + label_h + 0.4)
        axes = fig.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0]
        for ax, metric, higher in zip(axes, metrics, directions, strict=True):
            values = rows.pivot(index="team", columns="case_id", values=metric).reindex(
                index=list(teams), columns=cases
            )
            array = values.to_numpy(dtype=float)
            finite = array[np.isfinite(array)]
            lo = float(finite.min()) if finite.size else 0.0
            hi = float(finite.max()) if finite.size else 1.0
            if lo >= 0.0 and hi <= 1.0:
                lo, hi = 0.0, 1.0  # ratios share one scale across panels and reports
            if lo == hi:
                hi = lo + 1.0
            image = ax.imshow(
                array,
                cmap="viridis" if higher else "viridis_r",
                vmin=lo,
                vmax=hi,
                aspect="auto",
                interpolation="nearest",
            )
            for i, j in failed:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#ef4444", lw=1.5))
                if row_step > 1:
                    continue  # a letter does not fit a thinned row
                ax.text(
                    j,
                    i,
                    STATUS_CODES.get(str(status[i, j]), "?"),
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=9,
                    fontweight="bold",
                )
            ax.set_yticks(
                range(0, len(teams), row_step), [_short(s) for s in labels[::row_step]]
            )
            ax.set_title(f"{track}: {metric} per case", loc="left")
            fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
        step = max(1, len(cases) // 40)
        axes[-1].set_xticks(
            range(0, len(cases), step),
            [_short_middle(cases[k]) for k in range(0, len(cases), step)],
            rotation=60,
            ha="right",
            fontsize=7,
        )
        return _png(fig)


def resource_plot(
    frame: pd.DataFrame, *, teams: Sequence[str], labels: Sequence[str]
) -> bytes | None:
    """Wall time per case (box) and peak memory (maximum) per team.

    Parameters
    ----------
    frame : pandas.DataFrame
        Completed results with ``wall_time_s`` and/or ``peak_memory_bytes``.
    teams, labels : sequences of str, keyword-only

    Returns
    -------
    bytes or None
        PNG, or None when neither column has a value.
    """
    panels = [
        c
        for c in ("wall_time_s", "peak_memory_bytes")
        if c in frame.columns and frame[c].notna().any()
    ]
    if not panels:
        return None
    by_team = _by_team(frame)
    with _style():
        fig = _figure(min(14.0, max(5.0, 0.4 * len(teams) + 2.0)) * len(panels) / 1.3, 3.4)
        positions = np.arange(1, len(teams) + 1)
        for k, column in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), k + 1)
            if column == "wall_time_s" and len(teams) > DISTRIBUTION_TEAMS:
                data = [_of_team(by_team, t, column).dropna().to_numpy(float) for t in teams]
                ok = [np.ones(len(d), bool) for d in data]
                jitter = np.zeros(max((len(d) for d in data), default=0) + 1)
                _many_teams(ax, data, ok, data, positions, jitter, labels)
                ax.set_ylabel("wall time per case (s)")
                ax.grid(axis="y", color="#f3f4f6")
                ax.set_axisbelow(True)
                continue
            if column == "wall_time_s":
                data = [_of_team(by_team, t, column).dropna().to_numpy() for t in teams]
                ax.boxplot(
                    [d if len(d) else [np.nan] for d in data],
                    positions=positions,
                    widths=0.55,
                    showfliers=True,
                    medianprops={"color": "#111827"},
                    flierprops={"markersize": 3},
                )
                ax.set_ylabel("wall time per case (s)")
            else:
                peak = [_of_team(by_team, t, column).max() / 2**30 for t in teams]
                ax.bar(positions, np.nan_to_num(np.asarray(peak, dtype=float)), color="#60a5fa")
                ax.set_ylabel("peak memory (GiB, max over cases)")
            step = -(-len(teams) // DISTRIBUTION_TEAMS) if len(teams) > DISTRIBUTION_TEAMS else 1
            ax.set_xticks(
                positions[::step], [_short(s, 14) for s in labels[::step]], rotation=45, ha="right"
            )
            ax.grid(axis="y", color="#f3f4f6")
            ax.set_axisbelow(True)
        return _png(fig)


def mip_panels(panels: Sequence[tuple[str, np.ndarray, str | None]], *, columns: int = 8) -> bytes:
    """A grid of RGB projection panels with titles and the TP/FP/FN legend.

    Parameters
    ----------
    panels : sequence of (title, (H, W, 3) float ndarray in [0, 1], note or None)
        A note (such as a failure status) is written across the middle of the panel.
    columns : int, keyword-only

    Returns
    -------
    bytes
        PNG.
    """
    # matplotlib (0.4 s to import) is loaded when a figure is drawn.
    from matplotlib.patches import Patch

    n = len(panels)
    cols = min(columns, n)
    nrows = (n + cols - 1) // cols
    with _style():
        fig = _figure(1.75 * cols, 1.9 * nrows + 0.4)
        for k, (title, rgb, note) in enumerate(panels):
            ax = fig.add_subplot(nrows, cols, k + 1)
            ax.imshow(rgb, interpolation="nearest")
            ax.set_title(title, fontsize=7.5)
            if note:
                ax.text(
                    0.5,
                    0.5,
                    note,
                    transform=ax.transAxes,
                    ha="center",
                    va="center",
                    color="#f87171",
                    fontsize=8,
                    fontweight="bold",
                )
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        fig.legend(
            handles=[
                Patch(color="white", label="true positive", ec="#9ca3af"),
                Patch(color="#ff00ff", label="false positive"),
                Patch(color="#00c000", label="false negative"),
            ],
            loc="outside lower center",
            ncols=3,
            frameon=False,
            fontsize=8,
        )
        return _png(fig)
