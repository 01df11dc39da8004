"""Tables the project writes for people: text cells a spreadsheet would run are neutralised.

Every CSV the project writes passes through :func:`neutralise_formulas`, whoever wrote its
text cells (a participant's container, a team name, a record read back from disk).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["neutralise_formulas"]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(
    table: pd.DataFrame, *, columns: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """A copy of ``table`` whose text cells a spreadsheet would run as formulas start with ``'``.

    A cell is text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    (OWASP's CSV injection list); numbers are left alone. ``columns`` limits it to those
    columns (present ones), e.g. the free text a participant's container controls.

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
