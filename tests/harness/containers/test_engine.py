"""The Docker engine: an unreachable one is one clear error (exit 3); a real one is described."""

from __future__ import annotations

import contextlib

import pytest

from harness.cli import EXIT_ENGINE, run
from harness.containers.engine import connect, engine_report
from harness.errors import EngineError


def test_an_unreachable_engine_is_an_engine_error_that_says_how_to_fix_it(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    with pytest.raises(EngineError) as err:
        connect(timeout=5)
    message = str(err.value)
    assert message.startswith("no Docker engine answers at unix:///nonexistent.sock")
    assert "docker info" in message and "DOCKER_HOST" in message


def test_doctor_exits_3_without_a_traceback_when_no_engine_answers(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert run(["doctor"]) == EXIT_ENGINE
    err = capsys.readouterr().err
    assert "engine error" in err and "no Docker engine answers" in err
    assert "Traceback" not in err


@pytest.mark.docker
def test_doctor_reports_the_engine_and_base_image():
    with contextlib.closing(connect()) as client:
        report = engine_report(client)
    assert report.storage_driver and report.server_version
    python = {i.ref: i for i in report.images}["selma3d/python:3.11"]
    assert python.present and python.digest.startswith("sha256:")
    rows = dict(report.as_rows())
    assert "GPUs" in rows and rows["selma3d/python:3.11"].startswith("present sha256:")
    assert report.cgroup_version in ("1", "2") and report.free_disk_bytes > 0


@pytest.mark.docker
def test_doctor_prints_the_report_and_exits_0(capsys):
    assert run(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "selma3d doctor" in out and "selma3d/python:3.11" in out
