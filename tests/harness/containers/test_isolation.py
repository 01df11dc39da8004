"""Every container states its ulimits, within the host's hard limits, on either engine."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

import pytest

from common.errors import Selma3dError
from harness.containers.engine import connect, engine_traits
from harness.containers.images import resolve_image
from harness.containers.isolation import container_options, container_ulimits
from harness.containers.limits import Limits


def _host_nproc() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    hard = 1 << 22 if hard == resource.RLIM_INFINITY else min(hard, 1 << 22)
    return min(hard, int(Path("/proc/sys/kernel/pid_max").read_text()))


def test_core_nofile_and_nproc_are_stated_and_nproc_never_binds():
    limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in container_ulimits(Limits(nofile=512))}
    assert limits == {"core": (0, 0), "nofile": (512, 512), "nproc": (_host_nproc(),) * 2}


def test_open_files_above_the_hosts_hard_limit_are_refused_naming_both():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 1 << 20:
        pytest.skip(f"this host's hard limit of open files ({hard}) is above any limits.nofile")
    with pytest.raises(Selma3dError, match=rf"limits.nofile is {hard + 1}, above .*\({hard}"):
        container_ulimits(Limits(nofile=hard + 1))


@pytest.mark.docker
def test_a_container_runs_with_the_stated_limits(tmp_path):
    # Podman would otherwise ask for its built-in nofile above the host's hard limit and the
    # container would not start; Docker would pass its daemon's own limits on.
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    with contextlib.closing(connect()) as client:
        options = container_options(
            resolve_image("selma3d/python:3.11", client=client),
            tmp_path / "in",
            tmp_path / "out",
            limits=Limits(nofile=1000, memory="256m", cpus=1),
            labels={"org.selma3d.test": "isolation"},
            engine=engine_traits(client),
        )
        container = client.containers.create(command=["cat", "/proc/self/limits"], **options)
        try:
            container.start()
            assert container.wait(timeout=60)["StatusCode"] == 0
            text = container.logs().decode()
        finally:
            container.remove(force=True)
    # /proc/self/limits: the name in the first 26 columns, then the soft and hard values.
    rows = {line[:26].strip(): tuple(line[26:].split()[:2]) for line in text.splitlines()[1:]}
    assert rows["Max open files"] == ("1000", "1000")
    assert rows["Max core file size"] == ("0", "0")
    assert rows["Max processes"] == (str(_host_nproc()),) * 2
