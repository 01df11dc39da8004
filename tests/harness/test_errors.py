"""The harness's kinds of error and the exit codes of every command."""

from __future__ import annotations

import re

import pytest

import harness.errors
from common.errors import ProblemsError, Selma3dError
from harness.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENGINE,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    ClusterError,
    EngineError,
    SplitError,
    SubmissionError,
    VolumeError,
)


def test_the_exit_codes():
    assert (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ENGINE, EXIT_INTERNAL) == (0, 1, 2, 3, 4)


def test_the_documented_table_names_every_exit_code_once():
    # The module's docstring is where users read the codes: one row per code, 0 to 4.
    rows = re.findall(r"^(\d)   (\S.*)$", harness.errors.__doc__, flags=re.MULTILINE)
    assert [int(code) for code, _ in rows] == [0, 1, 2, 3, 4]
    assert rows[0][1] == "success"
    assert rows[2][1].startswith("bad input")
    assert rows[3][1].startswith("the Docker engine or the Dask cluster failed")


@pytest.mark.parametrize("kind", [VolumeError, SplitError, SubmissionError, EngineError])
def test_every_harness_error_is_a_selma3d_error(kind):
    assert issubclass(kind, Selma3dError)


def test_a_cluster_failure_is_an_engine_failure_and_neither_is_a_teams():
    # Exit 3 and never charged to a team: a lost Dask cluster is handled as an engine failure.
    assert issubclass(ClusterError, EngineError)
    assert not issubclass(EngineError, SubmissionError)
    assert not issubclass(SubmissionError, EngineError)


def test_a_split_error_shows_every_problem_and_names_its_manifest():
    problems = [f"row {i}: no image" for i in range(2, 62)]
    error = SplitError("split/manifest.csv", problems)
    assert isinstance(error, ProblemsError)
    assert error.manifest == error.source == "split/manifest.csv"
    text = str(error)
    assert text.startswith("split/manifest.csv: 60 problem(s):\n  - row 2: no image\n")
    assert text.endswith("  - row 61: no image")
    assert "... and" not in text
