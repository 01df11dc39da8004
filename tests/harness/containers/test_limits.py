"""Run limits: the size parser, the floors, GPU requests, and one refusal everywhere they are read.

Expected byte counts are worked out by hand: k = 1024, m = 1024**2 = 1048576,
g = 1024**3 = 1073741824, t = 1024**4 = 1099511627776.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.errors import ConfigError
from harness.cli import EXIT_BAD_INPUT, run
from harness.containers.limits import MEMORY_FLOOR, Limits, parse_memory
from harness.rounds.config import load_round_config


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8gb", 8 * 1073741824),
        ("8g", 8589934592),
        ("8G", 8589934592),
        ("8GiB", 8589934592),
        ("8gib", 8589934592),
        ("512m", 536870912),
        ("512MB", 536870912),
        ("256MiB", 268435456),
        (" 256 MiB ", 268435456),
        ("1k", 1024),
        ("1.5g", 1610612736),
        ("2t", 2199023255552),
        ("100b", 100),
        ("100", 100),
        (1024, 1024),
        (0, 0),
        ("0", 0),
    ],
)
def test_sizes_docker_accepts_are_parsed_to_bytes(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize(
    "text",
    ["lots", "", "8x", "8ib", "8gbb", "g", "-1", -1, "8 gigs", "1e9", "8.g", True, 1.5, None],
)
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError):
        parse_memory(text)


def test_the_established_units_keep_their_values():
    assert parse_memory("1k") == 1024
    assert parse_memory("1.5g") == 3 * 2**29
    assert parse_memory("256MiB") == 256 * 2**20
    assert parse_memory("100") == 100


def test_the_memory_floor_is_the_least_docker_starts_a_container_with():
    assert MEMORY_FLOOR == 6 * 1048576 == 6291456
    assert Limits(memory="6m").memory_bytes == 6291456
    assert Limits(memory=6291456).memory == "6291456"
    for small in ("2m", "0", 0, "6291455", "5.9m"):
        with pytest.raises(ValidationError, match="must be at least 6m") as err:
            Limits(memory=small)
        assert err.value.errors()[0]["loc"] == ("memory",)
    with pytest.raises(ValidationError, match="must be at least 6m"):
        Limits(tmp_size="1m")
    with pytest.raises(ValidationError, match="at least 1 byte"):
        Limits(max_output="0")
    assert Limits(max_output="16m").max_output_bytes == 16777216


@pytest.mark.parametrize(
    ("gpus", "stored", "wanted"),
    [
        (None, None, None),
        ("all", "all", (-1, None)),
        (2, "2", (2, None)),
        ("1", "1", (1, None)),
        ("0,1", "0,1", (0, ("0", "1"))),
        ("device=0", "device=0", (0, ("0",))),
        ("device=0,2", "device=0,2", (0, ("0", "2"))),
        ("device=GPU-3a2b-01", "device=GPU-3a2b-01", (0, ("GPU-3a2b-01",))),
    ],
)
def test_gpus_are_all_a_count_or_device_ids(gpus, stored, wanted):
    limits = Limits(gpus=gpus)
    assert limits.gpus == stored
    assert limits.gpu_request() == wanted


@pytest.mark.parametrize("gpus", ["banana", "", "0", 0, "0,", "1,,2", "all,0", "-1", True, "²"])
def test_other_gpu_values_are_refused(gpus):
    with pytest.raises(ValidationError) as err:
        Limits(gpus=gpus)
    assert err.value.errors()[0]["loc"] == ("gpus",)


def test_limits_are_frozen_and_strict():
    limits = Limits()
    with pytest.raises(ValidationError):
        limits.memory = "1g"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Limits(memroy="8g")  # type: ignore[call-arg]


ROUND = """
name: r
output: out
phases:
  final:
    split: data
phase: final
limits: LIMITS
teams:
  - name: a
    image: a/b:1
"""


def round_file(tmp_path, limits):
    path = tmp_path / "round.yaml"
    path.write_text(ROUND.replace("LIMITS", limits))
    return path


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ("{memory: 2m}", "limits.memory"),
        ('{memory: "0"}', "limits.memory"),
        ("{gpus: banana}", "limits.gpus"),
    ],
)
def test_a_round_file_with_impossible_limits_fails_at_load(tmp_path, capsys, limits, field):
    path = round_file(tmp_path, limits)
    with pytest.raises(ConfigError) as err:
        load_round_config(path)
    assert str(path) in str(err.value) and field in str(err.value)
    # The same through the command line: exit 2 with the file and the field, no traceback.
    code = run(["check", "some/image:1", "--split", str(tmp_path), "--round", str(path)])
    stderr = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert field in stderr and path.name in stderr and "Traceback" not in stderr


def test_a_round_file_takes_sizes_in_every_docker_spelling(tmp_path):
    path = round_file(tmp_path, "{memory: 8GiB, tmp_size: 512mb, gpus: 2}")
    limits = load_round_config(path).limits
    assert (limits.memory_bytes, limits.tmp_bytes, limits.gpus) == (8589934592, 536870912, "2")


@pytest.mark.parametrize(
    ("args", "flag", "value"),
    [
        (["--memory", "2m"], "--memory", "'2m'"),
        (["--gpus", "banana"], "--gpus", "'banana'"),
        (["--max-output", "lots"], "--max-output", "'lots'"),
        (["--pids", "3"], "--pids", "3"),
        (["--timeout-s", "0"], "--timeout-s", "0"),
    ],
)
def test_predict_refuses_impossible_limits_naming_the_flag(tmp_path, capsys, args, flag, value):
    code = run(
        ["predict", "some/image:1", "--split", str(tmp_path), "--out", str(tmp_path / "o"), *args]
    )
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert f"{flag}:" in err and value in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_check_overrides_a_round_files_limits_with_the_same_refusals(tmp_path, capsys):
    path = round_file(tmp_path, "{memory: 1g}")
    code = run(["check", "x:1", "--split", str(tmp_path), "--round", str(path), "--memory", "0"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT and "--memory:" in err and "'0'" in err


def test_check_still_takes_the_round_file_as_config_with_a_deprecation(tmp_path, capsys):
    path = round_file(tmp_path, "{memory: 2m}")
    code = run(["check", "x:1", "--split", str(tmp_path), "--config", str(path)])
    err = capsys.readouterr().err
    # The round file was read (its impossible limit is refused, naming it) ...
    assert code == EXIT_BAD_INPUT and "limits.memory" in err and path.name in err
    # ... and the user learns the new spelling.
    assert "deprecated: selma3d check --config; write --round" in err


def test_command_defaults_are_the_models():
    from harness.cli.containers import predict

    defaults = {p.name: p.default for p in predict.params}
    model = Limits()
    assert (defaults["timeout_s"], defaults["memory"], defaults["cpus"], defaults["jobs"]) == (
        model.timeout_s,
        model.memory,
        model.cpus,
        model.jobs,
    )
    assert (defaults["pids"], defaults["tmp_size"], defaults["max_output"]) == (
        model.pids,
        model.tmp_size,
        model.max_output,
    )


def test_limits_list_every_problem():
    with pytest.raises(ValidationError) as err:
        Limits(timeout_s=0, memory="1x", jobs=0, gpus="first")
    problems = {e["loc"][0]: e["msg"] for e in err.value.errors()}
    assert set(problems) == {"timeout_s", "memory", "jobs", "gpus"}
    assert "greater than 0" in problems["timeout_s"]
    assert "expected a size such as 512m" in problems["memory"]
    assert "greater than or equal to 1" in problems["jobs"]
    assert "expected 'all', a count such as 2, or device ids" in problems["gpus"]
