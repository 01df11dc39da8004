"""Every container states its ulimits and covers its image's volumes, on either engine."""

from __future__ import annotations

import contextlib
import resource
import uuid
from pathlib import Path

import pytest

from common.errors import Selma3dError
from harness.containers.engine import connect, engine_traits
from harness.containers.images import ImageInfo, build_folder, resolve_image
from harness.containers.isolation import container_options, container_ulimits
from harness.containers.limits import Limits
from harness.errors import SubmissionError


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


@pytest.mark.parametrize(
    ("volume", "inside"),
    [("/output/extra", "/output"), ("/input/x", "/input"), ("/opt/ml/model/w", "/opt/ml/model")],
)
def test_a_volume_inside_a_mount_of_selma3ds_is_refused_naming_it(tmp_path, volume, inside):
    image = ImageInfo("team/vol:1", "sha256:" + "a" * 64, "1000", volumes=(volume,))
    with pytest.raises(
        SubmissionError,
        match=rf"image team/vol:1 declares VOLUME '{volume}' inside {inside}, which selma3d "
        "mounts itself",
    ):
        container_options(image, tmp_path, tmp_path, limits=Limits(), labels={})


@pytest.mark.docker
def test_an_image_volume_is_a_tmpfs_of_the_tmp_cap_and_no_engine_volume(tmp_path):
    # The volume /data would otherwise be an anonymous engine volume, unbounded on its disk.
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        "FROM selma3d/python:3.11\n"
        "RUN mkdir /data && chown 1000 /data\n"
        "VOLUME /data\nVOLUME /output\n"
        "USER 1000\n"
    )
    tag = f"selma3d-test/volume-{uuid.uuid4().hex[:10]}:1"
    script = (
        "dd if=/dev/zero of=/data/fill bs=1M count=64 2>/dev/null; echo rc=$?; "
        "stat -c %s /data/fill"
    )
    with contextlib.closing(connect()) as client:
        image = build_folder(folder, tag, client=client, log=lambda _: None)
        try:
            assert image.volumes == ("/data", "/output")
            volumes_before = {v.name for v in client.volumes.list()}
            options = container_options(
                image,
                tmp_path / "in",
                tmp_path / "out",
                limits=Limits(tmp_size="16m", memory="256m", cpus=1),
                labels={"org.selma3d.test": "isolation"},
                engine=engine_traits(client),
            )
            container = client.containers.create(entrypoint=["sh", "-c", script], **options)
            try:
                container.start()
                status = container.wait(timeout=60)["StatusCode"]
                text = container.logs().decode().split()
                container.reload()
                kinds = {m["Destination"]: m["Type"] for m in container.attrs["Mounts"]}
            finally:
                container.remove(force=True, v=True)
            volumes_after = {v.name for v in client.volumes.list()}
        finally:
            client.images.remove(tag, force=True)
    # dd stops at the 16 MiB cap (no space left): 1, and the file holds exactly the cap.
    assert (status, text) == (0, ["rc=1", str(16 << 20)])
    # /output is the bind selma3d gives, /data a tmpfs (not listed among mounts by Docker).
    assert "volume" not in kinds.values() and kinds.get("/output") == "bind"
    assert volumes_after <= volumes_before
