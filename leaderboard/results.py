"""Load and validate a results table (one row per team and case) and complete it.

Stages: read (CSV or Parquet) -> check columns -> check each row -> check the table as a whole
(duplicates, one track per case, one display name per team, one split) -> complete (a case a team
has no row for becomes ``missing_output``) -> fill worst values on rows that are not ``ok``.
Every problem is collected and reported at once, each naming the file, the row and the column.
A metric value outside the registry's bounds (Dice 1000, an infinite count) is a problem naming
the team, the case, the column and the value; it is never ranked. A column that is neither an id,
a known optional column nor a metric of the registry is listed in ``Results.ignored_columns``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import ResultsError
from common.status import STATUSES
from leaderboard import metric_info
from leaderboard.cases import SplitInfo

__all__ = [
    "ID_COLUMNS",
    "OPTIONAL_COLUMNS",
    "Results",
    "prepare_results",
    "read_results",
]

ID_COLUMNS: tuple[str, ...] = ("team", "case_id", "track", "structure", "status")
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "message",
    "prediction",
    "display_name",
    "image_digest",
    "split_hash",
    "wall_time_s",
    "peak_memory_bytes",
)
_NUMERIC_OPTIONAL = ("wall_time_s", "peak_memory_bytes")
_TEXT_OPTIONAL = ("message", "prediction", "display_name", "image_digest", "split_hash")


@dataclass(frozen=True)
class Results:
    """A validated, complete results table.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per (team, case) for every team and every case, sorted by team then case id;
        columns ``ID_COLUMNS``, ``message``, ``prediction``, the metric columns present, the
        optional numeric columns present, and ``filled`` (True where worst values were put in).
    teams : tuple of str
        Sorted team ids.
    cases : pandas.DataFrame
        ``case_id, track, structure`` sorted by case id.
    display_names : dict of str to str
        Per team; the team id where the table gives none.
    image_digests : dict of str to list of str
        Per team, the distinct image digests seen (sorted).
    split_hash : str or None
        The single split hash recorded in the table (or given by the split).
    metrics : tuple of str
        Metric columns present in the table, in registry order.
    source : str
        Where the table came from, for messages.
    ignored_columns : tuple of str
        Columns of the table that are not used (not an id, optional or metric column).
    """

    frame: pd.DataFrame
    teams: tuple[str, ...]
    cases: pd.DataFrame
    display_names: dict[str, str]
    image_digests: dict[str, list[str]]
    split_hash: str | None
    metrics: tuple[str, ...]
    source: str
    ignored_columns: tuple[str, ...] = ()

    @property
    def tracks(self) -> tuple[str, ...]:
        """Tracks that have cases, sorted."""
        return tuple(sorted(self.cases["track"].unique()))


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a results table from CSV or Parquet, keeping ids as text.

    Parameters
    ----------
    path : str or Path
        ``.csv`` or ``.parquet``/``.pq``.

    Returns
    -------
    pandas.DataFrame
        As stored; text columns keep values such as ``NA`` (a valid team name) as text.

    Raises
    ------
    ResultsError
        If the file is missing, unreadable or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(str(path), ["file not found"])
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # Read as text first so that team "NA" stays a name; numbers are parsed per column.
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ResultsError(str(path), [f"cannot read the table ({exc})"]) from exc
    raise ResultsError(str(path), [f"unknown format {suffix!r}; expected .csv or .parquet"])


def _row_label(source_is_csv: bool, position: int) -> str:
    # CSV line numbers count the header line, so users can jump to the line in an editor.
    return f"line {position + 2}" if source_is_csv else f"row {position}"


def _as_text(series: pd.Series) -> pd.Series:
    # pd.NA (nullable integer columns), None and NaN all mean "no value".
    return series.map(
        lambda v: (
            ""
            if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))
            else str(v).strip()
        )
    )


def prepare_results(
    table: pd.DataFrame,
    *,
    ranked: dict[str, tuple[str, ...]],
    source: str = "results",
    split: SplitInfo | None = None,
) -> Results:
    """Validate a results table and complete it with worst values.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per (team, case): ``team, case_id, track, structure, status``, metric columns
        (at least the ranked ones of each track present), optional ``OPTIONAL_COLUMNS``.
    ranked : dict of str to tuple of str, keyword-only
        Ranked metrics per track; their values must exist on every row of the track.
    source : str, keyword-only
        File name for messages; a name ending in ``.csv`` numbers rows as file lines.
    split : leaderboard.cases.SplitInfo, optional, keyword-only
        When given, the table's cases must be the split's (same tracks and structures); cases of
        the split no team has a row for are added as ``missing_output`` for every team.

    Returns
    -------
    Results

    Raises
    ------
    ResultsError
        Listing every problem, each naming the row and the column.

    Notes
    -----
    A case a team has no row for, while other teams do, is added with status ``missing_output``
    (never dropped). On rows whose status is not ``ok``, every metric with a constant worst value
    (0 for ratios and ``blob_tp``, ``blob_fp``) is set to it, whatever the cell says (a table
    that gives an invalid prediction Dice 1.0 ranks it as missing); a ranked metric with no
    constant worst value (Betti errors, ``blob_fn``: they depend on the reference) must already be
    filled by the evaluation, and is taken as the table gives it. Counts
    (``metric_info.is_integer``) must be whole numbers.

    Examples
    --------
    >>> t = pd.DataFrame({"team": ["a", "a", "b"], "case_id": ["c1", "c2", "c1"],
    ...     "track": "vessel", "structure": "blood_vessel", "status": "ok",
    ...     "dice": [0.5, 0.7, 0.9], "cldice": [0.4, 0.6, 0.8]})
    >>> r = prepare_results(t, ranked={"vessel": ("dice", "cldice")})
    >>> r.frame[["team", "case_id", "status", "dice"]].values.tolist()[-1]
    ['b', 'c2', 'missing_output', 0.0]
    """
    is_csv = source.lower().endswith(".csv")
    all_metrics = metric_info.metric_columns()
    per_track = metric_info.track_metrics()
    problems: list[str] = []

    df = _id_frame(table, source)
    labels = [_row_label(is_csv, i) for i in range(len(table))]
    present = tuple(m for m in all_metrics if m in table.columns)
    known = {*ID_COLUMNS, *OPTIONAL_COLUMNS, *all_metrics, "filled"}
    ignored = tuple(str(c) for c in table.columns if c not in known)
    for name in (*present, *(c for c in _NUMERIC_OPTIONAL if c in table.columns)):
        df[name] = _numbers(table[name], name, df, labels, problems)
    _check_rows(df, labels, per_track, problems)
    _check_ranked_present(df, ranked, present, problems)
    if problems:
        raise ResultsError(source, problems)

    names, split_hash = _check_table(df, labels, problems)
    cases = df.drop_duplicates("case_id")[["case_id", "track", "structure"]]
    if split is not None:
        split_hash = _check_against_split(cases, split, split_hash, problems)
        cases = pd.DataFrame(
            [(c.case_id, c.track, c.structure) for c in split.cases],
            columns=["case_id", "track", "structure"],
        )
    if problems:
        raise ResultsError(source, problems)
    cases = cases.sort_values("case_id", kind="stable").reset_index(drop=True)

    digests = {
        str(team): sorted(v for v in group["image_digest"].unique() if v)
        for team, group in df.groupby("team", sort=True)
    }
    df["filled"] = False
    df["_where"] = labels
    frame = _complete(df, cases, teams=tuple(sorted(names)), metrics=present)
    _fill_worst(frame, ranked=ranked, per_track=per_track, metrics=present, problems=problems)
    if problems:
        raise ResultsError(source, problems)
    frame = frame.drop(columns="_where")
    return Results(
        frame=frame,
        teams=tuple(sorted(names)),
        cases=cases,
        display_names=names,
        image_digests=digests,
        split_hash=split_hash,
        metrics=present,
        source=source,
        ignored_columns=ignored,
    )


def _id_frame(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """The id and text columns as stripped text (empty where the table gives none).

    Raises
    ------
    ResultsError
        An id column is missing, or the table has no rows.
    """
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise ResultsError(
            source, [f"missing column(s) {missing}; a results table needs {list(ID_COLUMNS)}"]
        )
    if len(table) == 0:
        raise ResultsError(source, ["the table has no rows"])
    df = pd.DataFrame({c: _as_text(table[c]) for c in ID_COLUMNS})
    for c in _TEXT_OPTIONAL:
        df[c] = _as_text(table[c]) if c in table.columns else ""
    return df


def _numbers(
    raw: pd.Series, name: str, df: pd.DataFrame, labels: list[str], problems: list[str]
) -> np.ndarray:
    """Column ``name`` as floats, NaN where empty.

    A cell that is no number, lies outside the column's bounds or is a fractional count adds a
    problem naming its row.
    """
    all_metrics = metric_info.metric_columns()
    values = pd.to_numeric(raw.replace("", np.nan) if raw.dtype == object else raw, errors="coerce")
    missing = raw.isna() | _as_text(raw).str.lower().isin(["", "nan", "none", "null", "<na>"])
    bad = values.isna() & ~missing
    for i in np.flatnonzero(bad.to_numpy()):
        problems.append(f"{labels[i]}, column {name!r}: expected a number, got {raw.iloc[i]!r}")
    floats = values.astype(float).to_numpy()
    low, high = metric_info.bounds(name) if name in all_metrics else (0.0, math.inf)
    # Bounds are closed, but every value must be finite: an infinite count is impossible.
    outside = ~np.isnan(floats) & (~np.isfinite(floats) | (floats < low) | (floats > high))
    for i in np.flatnonzero(outside):
        problems.append(
            f"{labels[i]} (team {df['team'].iat[i]!r}, case {df['case_id'].iat[i]!r}), "
            f"column {name!r}: value {_as_text(raw).iloc[i]} is outside the bounds "
            f"[{low:g}, {high:g}] and must be finite"
        )
    if name in all_metrics and metric_info.is_integer(name):
        fractional = np.isfinite(floats) & (floats != np.floor(floats))
        for i in np.flatnonzero(fractional & ~outside):
            problems.append(
                f"{labels[i]} (team {df['team'].iat[i]!r}, case {df['case_id'].iat[i]!r}), "
                f"column {name!r}: value {_as_text(raw).iloc[i]} is not a whole number; "
                f"{name} is a count"
            )
    return floats


def _check_rows(
    df: pd.DataFrame,
    labels: list[str],
    per_track: dict[str, tuple[str, ...]],
    problems: list[str],
) -> None:
    """Each row's ids: none empty, a known track and a known status."""
    for i, row in enumerate(df[list(ID_COLUMNS)].itertuples(index=False)):
        where = labels[i]
        for column in ("team", "case_id", "structure"):
            if not getattr(row, column):
                problems.append(f"{where}, column {column!r}: empty")
        if row.track not in per_track:
            problems.append(
                f"{where}, column 'track': unknown track {row.track!r}; "
                f"expected one of {sorted(per_track)}"
            )
        if row.status not in STATUSES:
            problems.append(
                f"{where}, column 'status': unknown status {row.status!r}; "
                f"expected one of {list(STATUSES)}"
            )


def _check_ranked_present(
    df: pd.DataFrame,
    ranked: dict[str, tuple[str, ...]],
    present: tuple[str, ...],
    problems: list[str],
) -> None:
    """Every metric ranked for a track the table has cases of is a column of the table."""
    for track, names in ranked.items():
        if not (df["track"] == track).any():
            continue
        absent = [n for n in names if n not in present]
        if absent:
            problems.append(f"missing metric column(s) {absent}, ranked for track {track!r}")


def _check_table(
    df: pd.DataFrame, labels: list[str], problems: list[str]
) -> tuple[dict[str, str], str | None]:
    """Table-wide checks: no duplicates, one track and structure per case, one name per team.

    Also one split: the rows may record at most one split hash.

    Returns
    -------
    tuple
        Each team's display name (its id where none is given), and the split hash recorded.
    """
    dup = df.duplicated(["team", "case_id"], keep=False)
    if dup.any():
        for (team, case), group in df[dup].groupby(["team", "case_id"], sort=True):
            rows = ", ".join(labels[i] for i in group.index)
            problems.append(f"duplicate rows for team {team!r}, case {case!r}: {rows}")
    for column in ("track", "structure"):
        for case, group in df.groupby("case_id", sort=True):
            values = sorted(group[column].unique())
            if len(values) > 1:
                problems.append(
                    f"case {case!r}, column {column!r}: differs between rows ({values}); "
                    f"first at {labels[group.index[0]]}"
                )
    names: dict[str, str] = {}
    for team, group in df.groupby("team", sort=True):
        given = sorted(v for v in group["display_name"].unique() if v)
        if len(given) > 1:
            problems.append(f"team {team!r}, column 'display_name': several values {given}")
        names[str(team)] = given[0] if given else str(team)
    hashes = sorted(v for v in df["split_hash"].unique() if v)
    if len(hashes) > 1:
        problems.append(f"column 'split_hash': rows come from several splits {hashes}")
    return names, hashes[0] if hashes else None


def _check_against_split(
    cases: pd.DataFrame, split: SplitInfo, split_hash: str | None, problems: list[str]
) -> str:
    known = {c.case_id: c for c in split.cases}
    for row in cases.itertuples(index=False):
        case = known.get(row.case_id)
        if case is None:
            problems.append(f"case {row.case_id!r} is not in the split {split.manifest}")
            continue
        if case.track != row.track or case.structure != row.structure:
            problems.append(
                f"case {row.case_id!r}: track/structure {row.track}/{row.structure} differ "
                "from the "
                f"split's {case.track}/{case.structure}"
            )
    if split_hash is not None and split_hash != split.content_hash:
        problems.append(
            f"column 'split_hash': results were computed on {split_hash}, the split given is "
            f"{split.content_hash}"
        )
    return str(split.content_hash)


def _complete(
    df: pd.DataFrame, cases: pd.DataFrame, *, teams: Iterable[str], metrics: tuple[str, ...]
) -> pd.DataFrame:
    grid = pd.MultiIndex.from_product(
        [list(teams), list(cases["case_id"])], names=["team", "case_id"]
    )
    have = pd.MultiIndex.from_frame(df[["team", "case_id"]])
    absent = grid.difference(have)
    if len(absent):
        info = cases.set_index("case_id")
        added = pd.DataFrame(
            {"team": absent.get_level_values(0), "case_id": absent.get_level_values(1)}
        )
        added["track"] = info.loc[added["case_id"], "track"].to_numpy()
        added["structure"] = info.loc[added["case_id"], "structure"].to_numpy()
        added["status"] = "missing_output"
        added["message"] = "no row for this case in the results table"
        for c in ("prediction", "display_name", "image_digest", "split_hash"):
            added[c] = ""
        for c in df.columns:
            if c not in added.columns:
                added[c] = np.nan
        added["filled"] = True
        added["_where"] = [f"added row (team {t!r}, case {c!r})" for t, c in absent]
        df = pd.concat([df, added[df.columns]], ignore_index=True)
    return df.sort_values(["team", "case_id"], kind="stable").reset_index(drop=True)


def _fill_worst(
    frame: pd.DataFrame,
    *,
    ranked: dict[str, tuple[str, ...]],
    per_track: dict[str, tuple[str, ...]],
    metrics: tuple[str, ...],
    problems: list[str],
) -> None:
    not_ok = frame["status"] != "ok"
    for track, applicable in per_track.items():
        in_track = frame["track"] == track
        for name in applicable:
            if name not in metrics:
                continue
            empty = in_track & frame[name].isna()
            is_ranked = name in ranked.get(track, ())
            if is_ranked:
                for i in np.flatnonzero((empty & ~not_ok).to_numpy()):
                    problems.append(
                        f"{frame['_where'].iat[i]}, column {name!r}: empty on an 'ok' row of track "
                        f"{track!r}, where {name} is ranked"
                    )
            worst = metric_info.constant_worst(name)
            if worst is not None:
                # A row that is not ok is scored at the worst value whatever its cells say: a
                # table edited to give an invalid prediction Dice 1.0 ranks it as missing.
                to_fill = in_track & not_ok & (frame[name] != worst)
                frame.loc[to_fill, name] = worst
                frame.loc[to_fill, "filled"] = True
                continue
            to_fill = empty & not_ok
            if to_fill.any() and is_ranked:
                for i in np.flatnonzero(to_fill.to_numpy()):
                    problems.append(
                        f"{frame['_where'].iat[i]}, column {name!r}: empty on a "
                        f"'{frame['status'].iat[i]}' row; {name} has no constant worst value "
                        "(it needs the reference), so run `selma3d evaluate`, which fills it"
                    )
