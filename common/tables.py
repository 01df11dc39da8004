"""Tables the project writes for people: every text cell a spreadsheet would run is neutralised.

Every CSV the project writes goes through :func:`write_csv` (or :func:`csv_text` when the text
is also needed, e.g. to be published with other files), which neutralises every text cell with
:func:`neutralise_formulas`, whoever wrote it (a participant's container, a team name given on
the command line, an image digest or message read back from a record).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from common.files import write_atomic

__all__ = ["csv_text", "neutralise_formulas", "write_csv"]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(
    table: pd.DataFrame, *, columns: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """A copy of ``table`` whose text cells a spreadsheet would run as formulas start with ``'``.

    A cell is text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    (OWASP's CSV injection list); numbers are left alone. ``columns`` limits it to those
    columns (present ones).

    Examples
    --------
    >>> t = pd.DataFrame({"team": ["=HYPERLINK(1)", "ok", "-x"], "score": [-1.0, 2.0, 3.0]})
    >>> neutralise_formulas(t).values.tolist()
    [["'=HYPERLINK(1)", -1.0], ['ok', 2.0], ["'-x", 3.0]]
    """
    out = table.copy()
    chosen = out.columns if columns is None else [c for c in columns if c in out.columns]
    for column in chosen:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_STARTS) else v
            )
    return out


def csv_text(table: pd.DataFrame, *, float_format: str | None = None) -> str:
    """The CSV text of ``table`` (no index, one line per row), every text cell neutralised.

    Examples
    --------
    >>> print(csv_text(pd.DataFrame({"team": ["=1+1"], "dice": [0.5]})), end="")
    team,dice
    '=1+1,0.5
    """
    return neutralise_formulas(table).to_csv(
        index=False, lineterminator="\n", na_rep="", float_format=float_format
    )


def write_csv(
    table: pd.DataFrame, path: str | Path, *, float_format: str | None = None
) -> Path:
    """Write ``table`` as CSV atomically (``common.files.write_atomic``), text neutralised.

    Returns
    -------
    Path
        ``path``.
    """
    return write_atomic(path, csv_text(table, float_format=float_format))
