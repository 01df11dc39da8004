"""Text from outside printed through a real rich console: as itself, never markup or a command."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from common.terminal import as_text

HOSTILE = [
    "[/red]",
    "[bold red]not selma3d's[/bold red]",
    "[link=https://example.org]click[/link]",
    "\x1b[2J\x1b[H",  # clear the screen, cursor home
    "\x1b[1A\x1b[2KPASSED",  # up a line, erase it, write a verdict
    "\x1b]0;window title\x07",  # an operating system command
    "\x9b2J",  # the one-character CSI
    "line\roverwritten",
    "back\x08space",
]


def _printed(text: str, *, terminal: bool) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=terminal,
        color_system=None if not terminal else "standard",
        width=400,
        highlight=False,
    )
    console.print(f"[red]selma3d:[/red] {as_text(text)}")
    return buf.getvalue()


@pytest.mark.parametrize("text", HOSTILE)
def test_markup_and_control_characters_print_as_visible_text(text):
    shown = text
    for char in sorted({c for c in text if ord(c) < 32 or 0x7F <= ord(c) <= 0x9F}):
        shown = shown.replace(char, f"\\x{ord(char):02x}")
    assert _printed(text, terminal=False) == f"selma3d: {shown}\n"
    on_terminal = _printed(text, terminal=True)
    # Only the console's own colour codes reach the terminal.
    assert on_terminal.replace("\x1b[31m", "").replace("\x1b[0m", "") == f"selma3d: {shown}\n"


def test_newlines_and_tabs_stay_as_they_are():
    assert as_text("a\n\tb") == "a\n\tb"
