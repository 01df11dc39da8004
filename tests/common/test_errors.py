"""The exception tree: one root, messages listing every problem, a write error as an OSError."""

from __future__ import annotations

import pytest

from common.errors import ConfigError, ProblemsError, ResultsError, Selma3dError, WriteError


@pytest.mark.parametrize("kind", [ConfigError, ProblemsError, ResultsError, WriteError])
def test_every_error_is_a_selma3d_error(kind):
    # A command line catches the root alone: every error raised on purpose must be under it.
    assert issubclass(kind, Selma3dError)


def test_a_results_error_lists_problems_and_a_config_error_does_not():
    assert issubclass(ResultsError, ProblemsError)
    assert not issubclass(ConfigError, ProblemsError)


def test_problems_are_counted_and_listed_one_per_line():
    error = ProblemsError("results.csv", ["row 2: dice is 1.5", "row 3: no team"])
    assert str(error) == "results.csv: 2 problem(s):\n  - row 2: dice is 1.5\n  - row 3: no team"
    assert error.source == "results.csv"
    assert error.problems == ["row 2: dice is 1.5", "row 3: no team"]


def test_only_the_first_problems_are_spelled_out_but_all_are_kept():
    error = ProblemsError("m.csv", ["a", "b", "c"], shown=1)
    assert str(error) == "m.csv: 3 problem(s):\n  - a\n  ... and 2 more"
    assert error.problems == ["a", "b", "c"]


def test_fifty_problems_are_shown_by_default():
    problems = [f"row {i}" for i in range(51)]
    text = str(ProblemsError("m.csv", problems))
    assert text.startswith("m.csv: 51 problem(s):\n  - row 0\n")
    assert "  - row 49\n  ... and 1 more" in text
    assert "row 50" not in text
    assert text.endswith("... and 1 more")
    assert "... and" not in str(ProblemsError("m.csv", problems[:50]))


def test_the_problems_are_a_copy_of_the_callers_list():
    problems = ["a"]
    error = ProblemsError("m.csv", problems)
    problems.append("b")
    assert error.problems == ["a"]
    assert str(error) == "m.csv: 1 problem(s):\n  - a"


def test_a_write_error_is_caught_as_an_oserror_and_reads_as_its_message():
    with pytest.raises(OSError) as caught:
        raise WriteError("cannot write out/leaderboard.csv: the disk is full")
    error = caught.value
    # An atomic writer may set errno and strerror on it; OSError would then print
    # "[Errno 28] ..." instead of the message.
    error.errno, error.strerror = 28, "No space left on device"
    assert str(error) == "cannot write out/leaderboard.csv: the disk is full"
    assert error.errno == 28
