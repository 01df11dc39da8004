r"""Text from outside selma3d, printed to a terminal as the text it is.

A container's log, a build's output, an exception quoting a participant's file, a file's name:
rich reads ``[/red]`` in what it prints as its own markup (a closing tag that matches nothing
raises, and the command ends in a traceback), and a terminal obeys the escape sequences a line
may carry (clearing the screen, moving the cursor up to overwrite a verdict already printed).
:func:`as_text` makes such a value inert: markup escaped, control characters shown as
``\xNN``.
"""

from __future__ import annotations

import re

from rich.markup import escape

__all__ = ["as_text", "show_characters"]

# C0 controls but newline and tab, DEL, and the C1 controls (U+009B is a one-character CSI).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def as_text(value: object) -> str:
    r"""``str(value)`` for a rich console: its markup escaped, its control characters shown.

    Parameters
    ----------
    value : object
        Anything whose text came from outside selma3d (a log, a reason, an exception).

    Returns
    -------
    str
        Text that prints as itself inside a rich markup string: each control character but
        newline and tab as ``\xNN``, each ``[`` that would open a markup tag escaped.

    Examples
    --------
    >>> print(as_text("[/red][bold]fake\x1b[2J\rPASSED"))
    \[/red]\[bold]fake\x1b[2J\x0dPASSED
    """
    return escape(show_characters(str(value), _CONTROL))


def show_characters(text: str, characters: re.Pattern[str]) -> str:
    r"""``text`` with each character ``characters`` matches written as ``\xNN`` (or ``\uNNNN``).

    Examples
    --------
    >>> print(show_characters("a\x1bb\x00", re.compile("[\x00-\x1f]")))
    a\x1bb\x00
    """
    return characters.sub(lambda m: _shown(m.group()), text)


def _shown(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
