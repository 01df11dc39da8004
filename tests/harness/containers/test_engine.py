"""The engine: chosen by address or name; an unreachable one is one clear error (exit 3)."""

from __future__ import annotations

import contextlib
import gc
import os
import socket
from pathlib import Path

import pytest

from harness.cli import EXIT_ENGINE, run
from harness.containers import engine as engine_module
from harness.containers.engine import (
    EngineTraits,
    connect,
    engine_address,
    engine_report,
    engine_traits,
    podman_socket,
    select_engine,
)
from harness.errors import EngineError


def test_an_unreachable_engine_is_an_engine_error_that_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("SELMA3D_ENGINE", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    with pytest.raises(EngineError) as err:
        connect(timeout=5)
    message = str(err.value)
    assert message.startswith("no Docker engine answers at unix:///nonexistent.sock")
    assert "docker info" in message and "DOCKER_HOST" in message


def test_a_socket_nothing_listens_on_is_an_engine_error_and_no_socket_is_left_open(
    monkeypatch, tmp_path
):
    # A socket file left by a stopped service: the path exists, nothing accepts on it.
    path = tmp_path / "engine.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))
    monkeypatch.delenv("SELMA3D_ENGINE", raising=False)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    with pytest.raises(EngineError) as err:
        connect(timeout=5)
    assert str(err.value).startswith(
        f"no Docker engine answers at unix://{path} (connection refused). "
    )
    del err
    gc.collect()  # an unclosed socket would be reported (as an error) here


def test_doctor_exits_3_without_a_traceback_when_no_engine_answers(monkeypatch, capsys):
    monkeypatch.delenv("SELMA3D_ENGINE", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    assert run(["doctor"]) == EXIT_ENGINE
    err = capsys.readouterr().err
    assert "engine error" in err and "no Docker engine answers" in err
    assert "Traceback" not in err


@pytest.mark.docker
def test_doctor_reports_the_engine_and_base_image(engine_name):
    with contextlib.closing(connect()) as client:
        report = engine_report(client)
    # The engine is named, and the set-up of docker/ensure-engine.sh lacks nothing.
    assert report.engine.startswith(f"{engine_name} at unix://") and report.lacks == ()
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


# Choosing the engine: by address (DOCKER_HOST) or by name, the name finding its own socket.


def test_a_name_finds_the_engines_own_socket_and_docker_host_wins(monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("SELMA3D_ENGINE", raising=False)
    assert engine_address() == (None, "unix:///var/run/docker.sock")
    assert engine_address("docker") == ("docker", "unix:///var/run/docker.sock")
    monkeypatch.setenv("SELMA3D_ENGINE", "podman")
    assert engine_address() == ("podman", f"unix://{podman_socket()}")
    monkeypatch.setenv("DOCKER_HOST", "unix:///somewhere/podman.sock")
    assert engine_address() == ("podman", "unix:///somewhere/podman.sock")


def test_podmans_socket_is_roots_or_the_users_runtime_folder(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert podman_socket() == Path("/run/podman/podman.sock")
    monkeypatch.setattr(os, "geteuid", lambda: 1234)
    monkeypatch.setattr(os, "getuid", lambda: 1234)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1234")
    assert podman_socket() == Path("/run/user/1234/podman/podman.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert podman_socket() == Path("/run/user/1234/podman/podman.sock")


def test_an_unknown_engine_name_is_an_engine_error_naming_where_it_came_from(monkeypatch):
    monkeypatch.setenv("SELMA3D_ENGINE", "containerd")
    with pytest.raises(EngineError, match="SELMA3D_ENGINE names the engine 'containerd'"):
        engine_address()
    assert run(["doctor"]) == EXIT_ENGINE


def test_podman_asked_for_where_no_podman_answers_says_how_to_start_it(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1234)
    with pytest.raises(EngineError) as err:
        connect(engine="podman", timeout=5)
    message = str(err.value)
    assert message.startswith(f"no Podman engine answers at unix://{tmp_path}/podman/podman.sock")
    assert "podman system service" in message and "ensure-engine.sh" in message


def test_a_round_file_engine_yields_to_the_command_line(monkeypatch):
    monkeypatch.setenv("SELMA3D_ENGINE", "docker")
    monkeypatch.setattr(engine_module, "_NAMED_ON_COMMAND_LINE", [])
    select_engine("podman", from_round_file=True)
    assert os.environ["SELMA3D_ENGINE"] == "podman"  # the round file beats the variable
    select_engine("docker")
    select_engine("podman", from_round_file=True)
    assert os.environ["SELMA3D_ENGINE"] == "docker"  # --engine beats the round file


def test_gpus_on_podman_are_cdi_devices_and_an_old_podman_is_refused():
    new = EngineTraits("podman", "5.4.2")
    assert [r["Driver"] for r in new.device_requests((-1, None))] == ["cdi"]
    assert new.device_requests((-1, None))[0]["DeviceIDs"] == ["nvidia.com/gpu=all"]
    assert new.device_requests((0, ("1", "3")))[0]["DeviceIDs"] == [
        "nvidia.com/gpu=1",
        "nvidia.com/gpu=3",
    ]
    assert new.device_requests(None) == []
    with pytest.raises(EngineError, match=r"Podman 4\.3\.1 drops CDI device requests"):
        EngineTraits("podman", "4.3.1").device_requests((1, None))
    docker = EngineTraits("docker", "26.1.5").device_requests((0, ("0",)))[0]
    assert docker["Capabilities"] == [["gpu"]] and docker["DeviceIDs"] == ["0"]


@pytest.mark.docker
def test_the_engine_named_must_be_the_engine_that_answers(engine_name, monkeypatch):
    _, address = engine_address()
    with contextlib.closing(connect()) as client:
        assert engine_traits(client).version
    other = "docker" if engine_name == "podman" else "podman"
    monkeypatch.setenv("DOCKER_HOST", address)
    with pytest.raises(EngineError, match=f"{other} was asked for, but {engine_name} answers"):
        connect(engine=other, timeout=10)


def test_rootless_podman_on_cgroup_v1_is_refused_since_it_ignores_every_limit():
    with pytest.raises(EngineError, match="ignores memory, CPU and process limits"):
        EngineTraits("podman", "4.3.1", rootless=True, cgroup_version="1").check_limits_apply()
    EngineTraits("podman", "4.3.1", rootless=True, cgroup_version="2").check_limits_apply()
    EngineTraits("podman", "4.3.1", rootless=False, cgroup_version="1").check_limits_apply()
