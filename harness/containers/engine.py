"""Connect to the container engine and describe it (``selma3d doctor``).

Everything that talks to an engine goes through :func:`connect`, so an unreachable engine always
becomes one :class:`~harness.errors.EngineError` that says how to fix it, never a traceback from
the SDK. Any engine that speaks the Docker API will do: Docker, or Podman's API service. It is
chosen by ``DOCKER_HOST`` (an address), or by name (``--engine docker|podman``, ``engine:`` in a
round file, ``SELMA3D_ENGINE``), a name finding the engine's socket where the engine puts it.
Where Podman behaves differently from Docker, :class:`EngineTraits` says how, in one place.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import socket
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.containers.limits import Limits
from harness.errors import EngineError

__all__ = [
    "BASE_IMAGES",
    "ENGINES",
    "ENGINE_VARIABLE",
    "EngineReport",
    "EngineTraits",
    "ImagePresence",
    "connect",
    "engine_address",
    "engine_report",
    "engine_traits",
    "is_not_running",
    "podman_socket",
    "select_engine",
    "short_reference",
]

BASE_IMAGES: tuple[str, ...] = (
    "selma3d/rootfs:bookworm",
    "selma3d/python:3.11",
    "selma3d/baselines:0.1.0",
    "selma3d/baselines-torch:0.1.0",
)
"""Images ``make images`` builds; ``doctor`` reports which are present."""

ENGINES: tuple[str, ...] = ("docker", "podman")
"""The engines selma3d knows by name."""
ENGINE_VARIABLE = "SELMA3D_ENGINE"
"""The environment variable that names the engine (``docker`` or ``podman``)."""

_DEFAULT_HOST = "unix:///var/run/docker.sock"
"""Where the SDK looks for the engine when ``DOCKER_HOST`` is not set."""
_HOW_TO_FIX = {
    "docker": (
        "Start a Docker engine and check it with `docker info`: on this project's Debian machines "
        "run `bash docker/ensure-engine.sh` (as root it installs docker.io and starts dockerd); "
        "elsewhere start your engine (`sudo systemctl start docker`) or add your user to the "
        "`docker` group. DOCKER_HOST selects a non-default engine."
    ),
    "podman": (
        "Start Podman's API service: on this project's Debian machines run "
        "`SELMA3D_ENGINE=podman bash docker/ensure-engine.sh` (as root it installs and "
        "configures Podman and starts its service); elsewhere run `podman system service "
        "--time=0 unix://SOCKET &` with the socket named here (rootless: `systemctl --user start "
        "podman.socket`). DOCKER_HOST selects another address."
    ),
}


def podman_socket() -> Path:
    """Where Podman's API service listens by default: rootful or rootless.

    Root's service listens at ``/run/podman/podman.sock``; a user's (rootless) at
    ``$XDG_RUNTIME_DIR/podman/podman.sock`` (``/run/user/UID`` when the variable is unset), as
    ``podman system service`` and its systemd socket units place them.
    """
    if os.geteuid() == 0:
        return Path("/run/podman/podman.sock")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(runtime) / "podman" / "podman.sock"


def _engine_name(name: str, *, source: str) -> str:
    if name not in ENGINES:
        expected = ", ".join(ENGINES)
        raise EngineError(f"{source} names the engine {name!r}; expected one of {expected}")
    return name


_NAMED_ON_COMMAND_LINE: list[str] = []


def select_engine(name: str | None, *, from_round_file: bool = False) -> None:
    """Use the engine ``name`` for the rest of this process and the processes it starts.

    What ``--engine`` and a round file's ``engine:`` do: the name goes into ``SELMA3D_ENGINE``,
    so local Dask workers and ``selma3d`` subprocesses use the same engine. A round file's
    choice (``from_round_file``) yields to ``--engine`` given on the command line and overrides
    the variable. None changes nothing.
    """
    if name is None:
        return
    source = "the round file's engine:" if from_round_file else "--engine"
    name = _engine_name(name, source=source)
    if from_round_file and _NAMED_ON_COMMAND_LINE:
        return
    if not from_round_file:
        _NAMED_ON_COMMAND_LINE[:] = [name]
    os.environ[ENGINE_VARIABLE] = name


def engine_address(name: str | None = None) -> tuple[str | None, str]:
    """The engine asked for and the address to reach it: ``(name or None, url)``.

    ``DOCKER_HOST`` wins when set (an address says exactly where); otherwise the engine named by
    ``name`` or ``SELMA3D_ENGINE`` is looked for at its own socket (:func:`podman_socket` for
    Podman); otherwise Docker's default socket. The name, when given, is checked against what
    answers (:func:`connect`).
    """
    if name is None:
        env = os.environ.get(ENGINE_VARIABLE, "").strip()
        name = _engine_name(env, source=ENGINE_VARIABLE) if env else None
    else:
        name = _engine_name(name, source="--engine")
    host = os.environ.get("DOCKER_HOST", "").strip()
    if host:
        return name, host
    if name == "podman":
        return name, f"unix://{podman_socket()}"
    return name, _DEFAULT_HOST


CDI_PODMAN = (5, 4)
"""The first Podman whose Docker API honours CDI device requests (earlier ones drop them)."""


@dataclass(frozen=True)
class EngineTraits:
    """How the engine at the other end of a client differs from Docker: the one place that says.

    Podman's differences that selma3d meets, and where each is handled:

    - GPUs: Podman gives devices through CDI (``nvidia.com/gpu=0``), not Docker's ``--gpus``
      (:meth:`device_requests`).
    - Memory: Podman's cgroups are ``libpod_parent/libpod-<id>`` (cgroupfs) or
      ``libpod-<id>.scope`` (systemd), not ``docker/<id>``
      (:func:`harness.containers.isolation.cgroup_memory_files`); its stats API answers a
      container that has just exited with a body that is not JSON
      (:meth:`harness.containers.isolation.Watcher.sample_memory`).
    - Limits: once any ulimit is given Podman drops its configured defaults and asks for
      built-in ones above the host's hard limits, so every container states its own
      (:func:`harness.containers.isolation.container_ulimits`).
    - Rootless Podman on cgroup v1 ignores every resource limit: refused
      (:meth:`check_limits_apply`).
    - Image import: Podman's service ignores a separate ``tag`` parameter; the tag goes in the
      repository (:mod:`harness.containers.base_images`).
    - Image names: Podman qualifies a short name with ``docker.io/`` (``localhost/`` when
      loaded from a tarball); names are shown and recorded as Docker writes them
      (:func:`short_reference`). Image ids are the same: a ``docker save`` tarball loads on
      Podman under the id Docker gave it.
    - A container that is not running: Docker refuses to kill it with 409, Podman with 500
      ``container state improper`` (:func:`is_not_running`).
    - Removal: Podman refuses to remove a container while another shares its network namespace
      (an invoke server's relay), so helpers are removed first
      (:func:`harness.containers.isolation.remove_run_containers`).
    - A build cut at its time limit (:func:`harness.containers.base_images.docker_build`):
      Docker cancels it once its client is gone; Podman's service lets the running ``RUN`` step
      go on to its own end, then stops the build (nothing tagged) and removes its build
      container, which its Docker API does not list (``podman ps --external`` does). The folder
      is refused at the limit on both; nothing in the API ends the step sooner.
    - Image history: Podman writes layer ids without their ``sha256:`` prefix (selma3d does not
      read the history).

    Attributes
    ----------
    name : str
        ``docker`` or ``podman`` (Podman's API service names a ``Podman Engine`` component).
    version : str
        The engine's own version.
    rootless : bool
        Whether the engine runs as an unprivileged user.
    cgroup_version : str
        ``1`` or ``2``.
    """

    name: str
    version: str
    rootless: bool = False
    cgroup_version: str = "2"

    def check_limits_apply(self) -> None:
        """Refuse an engine that would run containers without their limits.

        Rootless Podman on cgroup v1 starts containers with memory, CPU and process limits
        ignored (it says so on its terminal only): a round's limits would not hold.

        Raises
        ------
        EngineError
            On such an engine.
        """
        if self.rootless and self.cgroup_version == "1":
            raise EngineError(
                f"rootless {self.name} on cgroup v1 ignores memory, CPU and process limits, so "
                "no container is run on it: run the engine as root, or on a host with cgroup v2 "
                "(docs/cluster.md, 'Podman without root')."
            )

    @property
    def podman(self) -> bool:
        """Whether the engine is Podman."""
        return self.name == "podman"

    def device_requests(self, gpus: tuple[int, tuple[str, ...] | None] | None) -> list[Any]:
        """The device requests of a container for ``gpus`` (``Limits.gpu_request()``).

        Docker: the ``--gpus`` request (the nvidia runtime's capability ``gpu``). Podman: CDI
        devices named ``nvidia.com/gpu=<id>`` (``all``; a count ``n`` is devices ``0`` to
        ``n - 1``), through the ``cdi`` driver of its Docker API, which Podman honours from
        5.4 on; an earlier Podman would start the container without them, so it is refused.

        Examples
        --------
        >>> [r["DeviceIDs"] for r in EngineTraits("podman", "5.4.0").device_requests((2, None))]
        [['nvidia.com/gpu=0', 'nvidia.com/gpu=1']]
        >>> EngineTraits("docker", "26.1.5").device_requests((-1, None))[0]["Count"]
        -1
        """
        # Docker's SDK is loaded only where an engine is called, as connect() loads it.
        from docker.types import DeviceRequest

        if gpus is None:
            return []
        count, ids = gpus
        if not self.podman:
            return [
                DeviceRequest(
                    count=count, device_ids=list(ids) if ids else None, capabilities=[["gpu"]]
                )
            ]
        numbers = tuple(int(x) for x in re.findall(r"\d+", self.version)[:2])
        if numbers < CDI_PODMAN:
            raise EngineError(
                f"GPUs were asked for, but Podman {self.version} drops CDI device requests made "
                f"through its Docker API (honoured from Podman {CDI_PODMAN[0]}.{CDI_PODMAN[1]} "
                "on); upgrade Podman or run GPU rounds on Docker."
            )
        if count == -1:
            names = ["all"]
        elif ids:
            names = list(ids)
        else:
            names = [str(i) for i in range(count)]
        return [DeviceRequest(driver="cdi", device_ids=[f"nvidia.com/gpu={n}" for n in names])]


def is_not_running(exc: Exception) -> bool:
    """Whether the engine refused an API call because the container is not running.

    Docker answers 409; Podman's service 500 with ``container state improper``.
    """
    status = getattr(exc, "status_code", None)
    explanation = str(getattr(exc, "explanation", "") or "")
    return status == 409 or (status == 500 and "container state improper" in explanation)


def short_reference(name: str) -> str:
    """An image name as Docker writes it, without Podman's qualification.

    Podman names an image it built or imported ``docker.io/...`` and one loaded from a tarball
    ``localhost/...``.

    Examples
    --------
    >>> short_reference("docker.io/selma3d-test/tiny:latest")
    'selma3d-test/tiny:latest'
    >>> short_reference("docker.io/library/x")
    'x'
    >>> short_reference("localhost/team/model:1"), short_reference("selma3d/python:3.11")
    ('team/model:1', 'selma3d/python:3.11')
    """
    for prefix in ("docker.io/library/", "docker.io/", "localhost/"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


_TRAITS: weakref.WeakKeyDictionary[Any, EngineTraits] = weakref.WeakKeyDictionary()


def engine_traits(client: Any) -> EngineTraits:
    """What engine answers ``client`` (asked once per client).

    Raises
    ------
    docker.errors.DockerException
        If the engine does not answer.
    """
    traits = _TRAITS.get(client)
    if traits is None:
        version = client.version()
        names = {str(c.get("Name", "")) for c in version.get("Components") or ()}
        name = "podman" if any(n.startswith("Podman") for n in names) else "docker"
        info = client.info()
        traits = EngineTraits(
            name=name,
            version=str(version.get("Version", "?")),
            rootless=bool(info.get("Rootless"))
            or "rootless" in " ".join(map(str, info.get("SecurityOptions") or ())),
            cgroup_version=str(info.get("CgroupVersion") or "1"),
        )
        _TRAITS[client] = traits
    return traits


def _unix_socket_refuses(path: str) -> str | None:
    """Why nothing accepts a connection at the Unix socket ``path``; None when something does."""
    if not Path(path).exists():
        return "no such socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(path)
        except OSError as exc:
            return (exc.strerror or type(exc).__name__).lower()
    return None


def connect(*, engine: str | None = None, timeout: float = 120.0) -> Any:
    """Return a ``docker.DockerClient`` that has answered a ping.

    Parameters
    ----------
    engine : str, keyword-only, optional
        ``docker`` or ``podman``; defaults to ``SELMA3D_ENGINE``, then to whatever answers at
        ``DOCKER_HOST`` (:func:`engine_address`). A named engine must be the one that answers.
    timeout : float, keyword-only
        Seconds the SDK waits for one API call before giving up (long calls such as ``wait``
        pass their own timeout).

    Raises
    ------
    EngineError
        If the SDK is missing, no engine answers, or another engine than the one named answers;
        the message says how to fix it.
    """
    try:
        # Loaded here, not at import: a missing SDK is told as an EngineError with its fix.
        from docker.errors import DockerException

        import docker
    except ImportError as exc:  # pragma: no cover - the package is a core dependency
        raise EngineError(
            f"the Docker SDK for Python is not installed ({exc}); run `pip install docker`."
        ) from exc
    name, where = engine_address(engine)
    label = "Podman" if name == "podman" else "Docker"
    fix = _HOW_TO_FIX[name or "docker"]
    if where.startswith("unix://"):
        # Said before the SDK tries: its failed connection to a socket nothing listens on is
        # never closed (the garbage collector closes it later, wherever it runs then).
        refused = _unix_socket_refuses(where.removeprefix("unix://"))
        if refused is not None:
            raise EngineError(f"no {label} engine answers at {where} ({refused}). {fix}")
    client = None
    try:
        client = docker.from_env(
            environment={**os.environ, "DOCKER_HOST": where}, timeout=int(timeout)
        )
        client.ping()
        found = engine_traits(client).name
    except DockerException as exc:
        if client is not None:
            client.close()  # its connection pool would otherwise outlive the error
        raise EngineError(f"no {label} engine answers at {where} ({exc}). {fix}") from exc
    if name is not None and found != name:
        client.close()
        raise EngineError(
            f"{name} was asked for, but {found} answers at {where}: unset DOCKER_HOST to use "
            f"{name}'s own socket, or ask for {found}."
        )
    return client


@contextlib.contextmanager
def engine_client(client: Any | None = None) -> Iterator[Any]:
    """Yield ``client``, or a new :func:`connect` closed on leaving.

    A client left to the garbage collector leaves its socket open until then; every command
    that connects for itself closes what it opened, and leaves a caller's client open.
    """
    if client is not None:
        yield client
        return
    own = connect()
    try:
        yield own
    finally:
        own.close()


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
    engine : str
        ``docker`` or ``podman``, and where it answers.
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
    lacks : tuple of str
        What the engine lacks to run selma3d's containers, each with its fix
        (:func:`engine_lacks`).
    """

    engine: str
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
    lacks: tuple[str, ...] = field(default_factory=tuple)

    def as_rows(self) -> list[tuple[str, str]]:
        """Return ``(name, value)`` pairs in display order."""
        rows = [
            ("engine", f"{self.engine} {self.server_version} (API {self.api_version})"),
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
        rows.extend(("lacks", w) for w in self.lacks)
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
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import ImageNotFound

    info = client.info()
    version = client.version()
    runtimes = tuple(sorted((info.get("Runtimes") or {}).keys()))
    traits = engine_traits(client)
    if traits.podman:
        gpus = _podman_gpus(traits)
    elif "nvidia" in runtimes:
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
    local = str(client.api.base_url).startswith("http+docker://localhost")
    return EngineReport(
        engine=f"{traits.name} at {engine_address(traits.name)[1]}",
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
        lacks=engine_lacks(traits, info, local=local),
    )


def _podman_gpus(traits: EngineTraits) -> str:
    """A sentence on GPUs through Podman: CDI devices, from Podman 5.4 on."""
    if tuple(int(x) for x in re.findall(r"\d+", traits.version)[:2]) < CDI_PODMAN:
        return (
            f"Podman {traits.version} drops CDI device requests made through its API: CPU only "
            f"(GPUs from Podman {CDI_PODMAN[0]}.{CDI_PODMAN[1]} on)"
        )
    specs = [p for d in ("/etc/cdi", "/var/run/cdi") for p in sorted(Path(d).glob("*.*ml"))]
    if not specs:
        return "no CDI specification in /etc/cdi or /var/run/cdi (nvidia-ctk cdi generate)"
    return f"CDI devices nvidia.com/gpu=... from {', '.join(map(str, specs))}"


def engine_lacks(traits: EngineTraits, info: dict[str, Any], *, local: bool) -> tuple[str, ...]:
    """What the engine lacks to run selma3d's containers, each with its fix.

    Parameters
    ----------
    traits : EngineTraits
    info : dict
        The engine's ``/info``.
    local : bool, keyword-only
        Whether the engine runs on this machine (a unix socket): only then are its binaries and
        this host's limits looked at.

    Examples
    --------
    >>> info = {"DefaultRuntime": "crun", "CgroupVersion": "1", "CgroupDriver": "cgroupfs"}
    >>> engine_lacks(EngineTraits("podman", "4.3.1"), info, local=False)  # doctest: +ELLIPSIS
    ('a runtime for cgroup v1: crun ... runtime = "runc" in /etc/containers/containers.conf',)
    """
    lacks = []
    if traits.podman:
        runtime = str(info.get("DefaultRuntime", ""))
        if runtime == "crun" and str(info.get("CgroupVersion", "2")) == "1":
            lacks.append(
                "a runtime for cgroup v1: crun does not support cgroup v1 or hybrid hosts; set "
                'runtime = "runc" in /etc/containers/containers.conf'
            )
        if info.get("CgroupDriver") == "systemd" and not Path("/run/systemd/system").is_dir():
            lacks.append(
                "a cgroup manager: systemd is not this host's init; set "
                'cgroup_manager = "cgroupfs" in /etc/containers/containers.conf'
            )
        if info.get("Rootless") and str(info.get("CgroupVersion", "2")) == "1":
            lacks.append(
                "cgroup v2: rootless Podman on cgroup v1 cannot apply memory, CPU or process "
                "limits; run Podman as root, or on a host with cgroup v2 (docs/cluster.md)"
            )
    if local:
        if traits.podman and not (
            shutil.which("catatonit") or Path("/usr/libexec/podman/catatonit").exists()
        ):
            lacks.append("catatonit, the init of --init: apt-get install catatonit")
        paths = info.get("Runtimes") or {}
        runtime = str(info.get("DefaultRuntime", ""))
        path = (paths.get(runtime) or {}).get("path")
        if traits.podman and path and not shutil.which(str(path)):
            lacks.append(f"its runtime {runtime} ({path}): apt-get install {runtime}")
        host_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = Limits().nofile
        if host_nofile != resource.RLIM_INFINITY and host_nofile < nofile:
            lacks.append(
                f"open files: this host's hard limit ({host_nofile}) is below the default "
                f"limits.nofile ({nofile}); give --nofile {host_nofile} or raise the limit"
            )
    return tuple(lacks)
