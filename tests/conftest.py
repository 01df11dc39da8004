"""Shared by every test folder: where the real light-sheet patches are, and which engine runs.

The real-container tests (marker ``docker``) run on the engine chosen as selma3d chooses it
(:func:`harness.containers.engine.engine_address`): ``--engine docker|podman`` here sets
``SELMA3D_ENGINE`` for the test process and every ``selma3d`` it starts, so the same tests run
on Docker or on Podman.
"""

import contextlib
import gc
import os
from pathlib import Path

import pytest

from harness.containers.engine import ENGINE_VARIABLE, ENGINES, connect, engine_address
from harness.errors import EngineError

REAL_PATCHES = Path(__file__).resolve().parents[2] / "shared" / "data" / "lsm-patches"
"""Six real SELMA3D-derived patches with masks, beside the checkout (never copied into it)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--engine``: the container engine of the real-container tests."""
    parser.addoption(
        "--engine",
        choices=ENGINES,
        default=None,
        help=f"Container engine of the real-container tests (default: ${ENGINE_VARIABLE}, "
        "else DOCKER_HOST, else docker).",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Pass ``--engine`` on as ``SELMA3D_ENGINE``, which selma3d and its subprocesses read."""
    name = config.getoption("--engine", default=None)
    if name:
        os.environ[ENGINE_VARIABLE] = name


def pytest_report_header(config: pytest.Config) -> str:
    """Name the engine the real-container tests use."""
    name, address = engine_address()
    return f"container engine: {name or 'as DOCKER_HOST answers'} at {address}"


def engines_that_answer() -> list[str]:
    """The engines (by name) whose own socket answers, DOCKER_HOST aside."""
    found = []
    saved = os.environ.pop("DOCKER_HOST", None)
    try:
        for name in ENGINES:
            with contextlib.suppress(EngineError):
                connect(engine=name, timeout=10).close()
                found.append(name)
    finally:
        if saved is not None:
            os.environ["DOCKER_HOST"] = saved
    return found


@pytest.fixture(scope="session")
def engine_name() -> str:
    """The name of the engine the real-container tests run on."""
    with contextlib.closing(connect()) as client:
        from harness.containers.engine import engine_traits

        return engine_traits(client).name


@pytest.fixture(scope="session")
def engine_client():  # type: ignore[no-untyped-def]
    """One client of the engine for the whole session, closed at its end.

    A client left to the garbage collector closes its socket whenever it is collected, which
    pytest reports (as an error) against whichever test happens to run then.
    """
    with contextlib.closing(connect()) as client:
        yield client


@pytest.fixture(autouse=True)
def _collect_after_engine_tests(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Collect the garbage after each real-container test.

    A socket left open (a client, a stream) is closed by the collector whenever it runs, and
    pytest reports the warning against the test running then; collected here, it is reported
    against the test that left it.
    """
    yield
    if request.node.get_closest_marker("docker") is not None:
        gc.collect()
