"""Connect to the Docker engine and describe it (``selma3d doctor``).

Everything that talks to Docker goes through :func:`connect`, so an unreachable engine always
becomes one :class:`~harness.errors.EngineError` that says how to fix it, never a traceback from
the SDK.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import EngineError

__all__ = [
    "BASE_IMAGES",
    "EngineReport",
    "ImagePresence",
    "connect",
    "engine_report",
]

BASE_IMAGES: tuple[str, ...] = (
    "selma3d/rootfs:bookworm",
    "selma3d/python:3.11",
    "selma3d/baselines:0.1.0",
    "selma3d/baselines-torch:0.1.0",
)
"""Images ``make images`` builds; ``doctor`` reports which are present."""

_DEFAULT_HOST = "unix:///var/run/docker.sock"
"""Where the SDK looks for the engine when ``DOCKER_HOST`` is not set."""
_HOW_TO_FIX = (
    "Start a Docker engine and check it with `docker info`: on this project's Debian machines "
    "run `bash docker/ensure-engine.sh` (as root it installs docker.io and starts dockerd); "
    "elsewhere start your engine (`sudo systemctl start docker`) or add your user to the "
    "`docker` group. DOCKER_HOST selects a non-default engine."
)


def connect(*, timeout: float = 120.0) -> Any:
    """Return a ``docker.DockerClient`` that has answered a ping.

    Parameters
    ----------
    timeout : float, keyword-only
        Seconds the SDK waits for one API call before giving up (long calls such as ``wait``
        pass their own timeout).

    Raises
    ------
    EngineError
        If the SDK is missing or no engine answers; the message says how to fix it.
    """
    try:
        from docker.errors import DockerException

        import docker
    except ImportError as exc:  # pragma: no cover - the package is a core dependency
        raise EngineError(
            f"the Docker SDK for Python is not installed ({exc}); run `pip install docker`."
        ) from exc
    where = os.environ.get("DOCKER_HOST") or _DEFAULT_HOST
    if where.startswith("unix://") and not Path(where.removeprefix("unix://")).exists():
        # Said before the SDK tries: its failed connection to a missing socket is never closed.
        raise EngineError(f"no Docker engine answers at {where} (no such socket). {_HOW_TO_FIX}")
    client = None
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        if client is not None:
            client.close()  # its connection pool would otherwise outlive the error
        raise EngineError(f"no Docker engine answers at {where} ({exc}). {_HOW_TO_FIX}") from exc
    return client


@dataclass(frozen=True)
class ImagePresence:
    """Whether an image is present locally, and its id (the config digest)."""

    ref: str
    present: bool
    digest: str = ""
    created: str = ""


@dataclass(frozen=True)
class EngineReport:
    """What ``selma3d doctor`` prints.

    Attributes
    ----------
    server_version, api_version : str
        Engine and API versions.
    storage_driver : str
        ``overlay2`` etc.
    cgroup_version, cgroup_driver : str
        ``1`` or ``2``; ``cgroupfs`` or ``systemd``.
    runtimes : tuple of str
        OCI runtimes known to the engine (``nvidia`` means GPUs can be requested).
    gpus : str
        A sentence on GPU availability.
    images : tuple of ImagePresence
        The base images.
    free_disk_bytes : int
        Free space where the engine stores images (``DockerRootDir`` when visible, else ``/``).
    warnings : tuple of str
        Engine warnings (e.g. missing swap or memory limit support).
    """

    server_version: str
    api_version: str
    storage_driver: str
    cgroup_version: str
    cgroup_driver: str
    runtimes: tuple[str, ...]
    gpus: str
    images: tuple[ImagePresence, ...]
    free_disk_bytes: int
    docker_root: str
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_rows(self) -> list[tuple[str, str]]:
        """Return ``(name, value)`` pairs in display order."""
        rows = [
            ("engine", f"{self.server_version} (API {self.api_version})"),
            ("storage driver", self.storage_driver),
            ("cgroup", f"v{self.cgroup_version} ({self.cgroup_driver})"),
            ("runtimes", ", ".join(self.runtimes)),
            ("GPUs", self.gpus),
            ("free disk", f"{self.free_disk_bytes / 2**30:.1f} GiB at {self.docker_root}"),
        ]
        for img in self.images:
            value = f"present {img.digest[:19]} ({img.created[:19]})" if img.present else "missing"
            rows.append((img.ref, value))
        rows.extend(("warning", w) for w in self.warnings)
        return rows


def engine_report(
    client: Any | None = None, *, images: tuple[str, ...] = BASE_IMAGES
) -> EngineReport:
    """Describe the engine: versions, storage, cgroups, GPUs, base images, free disk.

    Parameters
    ----------
    client : docker.DockerClient, optional
        Defaults to :func:`connect`.
    images : tuple of str, keyword-only
        Image references to look up.
    """
    if client is None:
        client = connect()
        with contextlib.closing(client):
            return engine_report(client, images=images)
    from docker.errors import ImageNotFound

    info = client.info()
    version = client.version()
    runtimes = tuple(sorted((info.get("Runtimes") or {}).keys()))
    if "nvidia" in runtimes:
        gpus = "nvidia runtime present: --gpus can request devices"
    else:
        gpus = "no nvidia runtime: --gpus is unavailable (CPU only)"
    presence = []
    for ref in images:
        try:
            img = client.images.get(ref)
        except ImageNotFound:
            presence.append(ImagePresence(ref=ref, present=False))
            continue
        presence.append(
            ImagePresence(
                ref=ref, present=True, digest=img.id, created=img.attrs.get("Created", "")
            )
        )
    root = str(info.get("DockerRootDir") or "/")
    probe = Path(root) if Path(root).exists() else Path("/")
    return EngineReport(
        server_version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        storage_driver=str(info.get("Driver", "?")),
        cgroup_version=str(info.get("CgroupVersion", "1")),
        cgroup_driver=str(info.get("CgroupDriver", "?")),
        runtimes=runtimes,
        gpus=gpus,
        images=tuple(presence),
        free_disk_bytes=shutil.disk_usage(probe).free,
        docker_root=str(probe),
        warnings=tuple(info.get("Warnings") or ()),
    )
