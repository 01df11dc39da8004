"""A scheduler address where no Dask scheduler answers: a bounded wait, what was tried, exit 2.

Real processes on loopback only: an HTTP server that is not Dask, a port nothing listens on,
addresses refused before any traffic (port 65536, port 0, ``udp://``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness.split.synth import synthesize_split

WAIT_S = 2


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_server() -> Iterator[str]:
    """A plain HTTP server on loopback (not Dask), as a process of its own."""
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail("the HTTP server did not start within 30 s")
            time.sleep(0.1)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def selma3d(*args: str) -> tuple[int, str, float]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        # Any folder: the installed package, never the checkout beside the test.
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Rich wraps long messages: compare words, not line breaks.
    said = " ".join((proc.stdout + proc.stderr).split())
    return proc.returncode, said, time.monotonic() - start


def test_a_worker_at_a_closed_port_waits_the_stated_time_and_exits_2():
    address = f"tcp://127.0.0.1:{closed_port()}"
    code, said, took = selma3d("worker", address, "--connect-timeout-s", str(WAIT_S))
    assert code == 2, said
    assert f"no Dask scheduler answered at {address} within {WAIT_S} s" in said
    assert "tried: connecting" in said and "Traceback" not in said
    # The stated wait, plus the interpreter's start: nowhere near a hang.
    assert took < WAIT_S + 30


def test_a_worker_at_an_http_server_says_it_is_not_dask_and_exits_2():
    with http_server() as address:
        code, said, took = selma3d("worker", address, "--connect-timeout-s", str(WAIT_S))
    assert code == 2, said
    assert f"no Dask scheduler answered at {address} within {WAIT_S} s" in said
    assert "a service accepts connections there" in said and "Traceback" not in said
    assert took < WAIT_S + 30


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("tcp://127.0.0.1:65536", "port 65536 is not between 1 and 65535"),
        ("tcp://127.0.0.1:0", "port 0 is not between 1 and 65535"),
        ("udp://127.0.0.1:8786", "Dask does not speak udp"),
    ],
)
def test_a_worker_at_an_impossible_address_exits_2_before_any_traffic(address, why):
    code, said, _ = selma3d("worker", address, "--connect-timeout-s", "600")
    assert code == 2, said
    assert "SCHEDULER_ADDRESS" in said and why in said and "Traceback" not in said


def test_the_connect_timeout_must_be_positive():
    code, said, _ = selma3d("worker", "tcp://127.0.0.1:8786", "--connect-timeout-s", "0")
    assert code == 2 and "--connect-timeout-s" in said


def write_round(tmp: Path, cluster: dict[str, object]) -> Path:
    split = tmp / "split"
    if not split.exists():
        synthesize_split(split, cases=1, size=(16, 16, 16), seed=1)
    config = tmp / "round.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "output": str(tmp / "out"),
                "phases": {"final": {"split": str(split)}},
                "phase": "final",
                "teams": [{"name": "t", "image": "selma3d-test/never-resolved:1"}],
                "cluster": cluster,
            }
        )
    )
    return config


def test_a_round_at_a_closed_port_or_an_http_server_exits_2_in_the_stated_time(tmp_path):
    # The scheduler is asked first, before any image is looked up or saved for it.
    closed = f"tcp://127.0.0.1:{closed_port()}"
    config = write_round(tmp_path, {"scheduler": closed, "connect_timeout_s": WAIT_S})
    code, said, took = selma3d("round", str(config))
    assert code == 2, said
    assert f"no Dask scheduler answered at {closed} within {WAIT_S} s" in said
    assert "Traceback" not in said and took < WAIT_S + 30

    with http_server() as address:
        code, said, took = selma3d(
            "round", str(config), "--scheduler", address, "--connect-timeout-s", str(WAIT_S)
        )
    assert code == 2, said
    assert f"no Dask scheduler answered at {address} within {WAIT_S} s" in said
    assert "a service accepts connections there" in said
    assert "Traceback" not in said and took < WAIT_S + 30


@pytest.mark.parametrize("value", [0, -1, 1e309, "soon"])
def test_a_bad_connect_timeout_in_round_yaml_is_bad_input(tmp_path, value):
    cluster = {"scheduler": "tcp://127.0.0.1:8786", "connect_timeout_s": value}
    config = write_round(tmp_path, cluster)
    code, said, _ = selma3d("round", str(config))
    assert code == 2, said
    assert "cluster.connect_timeout_s" in said and "Traceback" not in said
