"""The HTML report opened in headless Chromium: tables and images rendered, team order in the DOM.

Chromium is installed by ``make browser`` (part of ``make test``); without it these tests fail.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

pytestmark = pytest.mark.chromium

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed; run `make browser` (Debian package `chromium`)")
    return path


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.rows: list[str] = []
        self.tables: list[str] = []
        self._in_overall = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if tag == "table":
            self.tables.append(a.get("id") or "")
            self._in_overall = a.get("id") == "overall"
        if tag == "tr" and self._in_overall and "data-team" in a:
            self.rows.append(a["data-team"])

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_overall = False


@pytest.fixture(scope="module")
def rendered(built, tmp_path_factory):
    exe = chromium()
    url = (built / "index.html").as_uri()
    profile = tmp_path_factory.mktemp("profile")
    shot = tmp_path_factory.mktemp("shot") / "shot.png"
    dom = subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    subprocess.run(
        [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1400,2000",
            url,
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return {"dom": dom, "shot": shot}


def test_tables_and_team_order(rendered, small_round):
    parser = _Dom()
    parser.feed(rendered["dom"])
    assert {"overall", "track-vessel", "track-spot"} <= set(parser.tables)
    assert parser.rows == small_round["order"]


def test_every_image_is_an_embedded_png(rendered):
    from PIL import Image

    parser = _Dom()
    parser.feed(rendered["dom"])
    # blob plot, 2 distributions, 2 heatmaps, resources, 3 projection galleries
    assert len(parser.images) == 9
    for img in parser.images:
        src = img["src"] or ""
        match = re.fullmatch(r"data:image/png;base64,([A-Za-z0-9+/=]+)", src)
        assert match, src[:60]
        data = base64.b64decode(match.group(1))
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        picture = Image.open(io.BytesIO(data))
        picture.verify()
        assert len(data) > 5_000 and min(Image.open(io.BytesIO(data)).size) > 100


def test_screenshot_is_not_blank(rendered):
    from PIL import Image

    pixels = np.asarray(Image.open(rendered["shot"]).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1400)
    assert pixels.std() > 20
    # the dark header band and the light page both present
    assert (pixels < 40).mean() > 0.02 and (pixels > 230).mean() > 0.3
