"""One container run under the isolation flags, watched for memory and output, always removed.

:func:`run_container` creates the container with the flags below (each commented with what it
protects), starts it, waits up to the timeout (then kills it), samples its peak memory and the
size of ``/output`` while it runs (:class:`Watcher`), and removes it whatever happens. Containers
carry the run's id as a label, so :func:`remove_run_containers` finds every one of an interrupted
run.
"""

from __future__ import annotations

import contextlib
import math
import posixpath
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.containers.engine import EngineTraits, engine_traits, is_not_running
from harness.containers.images import ImageInfo
from harness.containers.limits import Limits
from harness.containers.model import MODEL_MOUNT
from harness.errors import SubmissionError
from harness.predictions.validate import OutputLimits, scan_output_tree

__all__ = [
    "LABEL_DEADLINE",
    "LABEL_OUT_DIR",
    "LABEL_RUN_ID",
    "STOP_GRACE_S",
    "ContainerResult",
    "Watcher",
    "cgroup_memory_files",
    "container_options",
    "container_ulimits",
    "grand_challenge_environment",
    "image_volume_tmpfs",
    "is_engine_failure",
    "remove_expired_containers",
    "remove_run_containers",
    "run_container",
    "stop_container",
]

LABEL_RUN_ID = "org.selma3d.run-id"
LABEL_OUT_DIR = "org.selma3d.out-dir"
LABEL_DEADLINE = "org.selma3d.deadline"
"""Unix time after which the container has outlived every limit: any later sweep removes it
(:func:`remove_expired_containers`), even when the process that ran it was killed."""
STOP_GRACE_S = 5.0
"""Seconds between SIGTERM and SIGKILL when a container is stopped, as grand-challenge's shim
waits (``GRAND_CHALLENGE_COMPONENT_SIGTERM_GRACE_SECONDS``, 5 by default)."""
# The current usage beside each high-water mark file (cgroup v1, v2).
_CURRENT_USAGE = {
    "memory.max_usage_in_bytes": "memory.usage_in_bytes",
    "memory.peak": "memory.current",
}


@dataclass
class ContainerResult:
    """What one container run did.

    Attributes
    ----------
    exit_code : int or None
        None when it timed out.
    timed_out, oom : bool
        Killed at the wall-clock limit; killed for exceeding the memory limit.
    wall_time_s : float
    peak_memory_bytes : int or None
        The cgroup's high-water mark (the limit for an OOM-killed run); None if never sampled.
    log : str
        The last ``log_bytes`` of its output, both streams.
    output_problem : str or None
        Why the watcher killed it for its output (over a cap), if it did.
    stderr : str
        The end of its stderr alone, for a non-zero exit.
    failure : tuple of (str, str) or None
        A failure already judged by the caller, as ``(status, reason)``: an invoke server's
        answer other than 201 (:mod:`harness.containers.invoke`).
    """

    exit_code: int | None
    timed_out: bool
    oom: bool
    wall_time_s: float
    peak_memory_bytes: int | None
    log: str
    output_problem: str | None = None
    stderr: str = ""
    failure: tuple[str, str] | None = None


def remove_run_containers(client: Any, run_id: str) -> int:
    """Force-remove every container labeled with ``run_id`` (running or not); return how many."""
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import NotFound

    # ignore_removed: listing inspects each container, and a worker may remove its own
    # container between the engine's list and that inspection.
    containers = client.containers.list(
        all=True, filters={"label": f"{LABEL_RUN_ID}={run_id}"}, ignore_removed=True
    )
    # Helpers first: Podman refuses to remove a server whose network namespace a relay shares.
    containers.sort(key=lambda c: (c.labels or {}).get("org.selma3d.role") != "invoke-relay")
    for c in containers:
        with contextlib.suppress(NotFound):  # removed meanwhile by its own worker: the goal
            c.remove(force=True, v=True)
    return len(containers)


def remove_expired_containers(client: Any, *, now: float | None = None) -> int:
    """Force-remove every container whose :data:`LABEL_DEADLINE` has passed; return how many."""
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import NotFound

    now = time.time() if now is None else now
    containers = client.containers.list(
        all=True, filters={"label": LABEL_DEADLINE}, ignore_removed=True
    )
    removed = 0
    for c in containers:
        try:
            deadline = float((c.labels or {}).get(LABEL_DEADLINE, ""))
        except ValueError:
            continue  # not selma3d's label value: not selma3d's container
        if deadline < now:
            with contextlib.suppress(NotFound):
                c.remove(force=True, v=True)
            removed += 1
    return removed


def cgroup_memory_files(container_id: str) -> list[Path]:
    """Where a local engine's cgroup of a container keeps its memory high-water mark.

    cgroup v1 (``memory.max_usage_in_bytes``) and v2 (``memory.peak``), with the cgroupfs and
    systemd drivers' folder names: Docker's (``docker/<id>``, ``docker-<id>.scope``) and
    Podman's (``libpod_parent/libpod-<id>``, ``libpod-<id>.scope``); the caller keeps those
    whose folder exists.
    """
    root = Path("/sys/fs/cgroup")
    v1, v2 = "memory.max_usage_in_bytes", "memory.peak"
    docker_scope, podman_scope = f"docker-{container_id}.scope", f"libpod-{container_id}.scope"
    podman_dir = f"libpod-{container_id}"
    return [
        # Docker: cgroupfs, then systemd.
        root / "memory" / "docker" / container_id / v1,
        root / "memory" / "system.slice" / docker_scope / v1,
        root / "docker" / container_id / v2,
        root / "system.slice" / docker_scope / v2,
        # Podman: cgroupfs, then systemd.
        root / "memory" / "libpod_parent" / podman_dir / v1,
        root / "memory" / "machine.slice" / podman_scope / v1,
        root / "libpod_parent" / podman_dir / v2,
        root / "machine.slice" / podman_scope / v2,
    ]


class Watcher(threading.Thread):
    """Samples peak memory and the size of ``/output`` while a container runs.

    Peak memory comes from the cgroup's high-water mark when the engine is local (cgroup v1
    ``memory.max_usage_in_bytes``, v2 ``memory.peak``), else from the stats API. The output
    folder is watched so a container filling the disk is killed early, not after the fact.
    """

    def __init__(self, container: Any, output_dir: Path, limits: OutputLimits) -> None:
        super().__init__(daemon=True)
        self.container = container
        self.output_dir = output_dir
        self.limits = limits
        self.peak: int | None = None
        self.output_problem: str | None = None
        self.stop = threading.Event()
        self.files: list[Path] = []
        # Per case of a long-lived container (an invoke server): the high-water mark when the
        # case began, and the highest usage sampled since.
        self._peak_at_mark = 0
        self._case_high: int | None = None

    def sample_memory(self) -> None:
        """Raise :attr:`peak` to the current high-water mark (and the case's sampled usage)."""
        for p in self.files:
            with contextlib.suppress(OSError, ValueError):  # the cgroup vanishes at exit
                value = int(p.read_text())
                self.peak = max(self.peak or 0, value)
                current = int(p.with_name(_CURRENT_USAGE[p.name]).read_text())
                self._case_high = max(self._case_high or 0, current)
                return
        if not self.files:
            # Docker's SDK is loaded only where an engine is called, as connect() loads it.
            from docker.errors import APIError

            # ValueError: Podman's service answers a container that has just exited with a
            # body that is not JSON.
            with contextlib.suppress(APIError, ValueError):
                stats = self.container.stats(stream=False, one_shot=True)
                mem = stats.get("memory_stats") or {}
                value = mem.get("max_usage") or mem.get("usage")
                if value:
                    self.peak = max(self.peak or 0, int(value))
                if mem.get("usage"):
                    self._case_high = max(self._case_high or 0, int(mem["usage"]))

    def mark(self) -> None:
        """Begin a case: :meth:`case_peak` reports the memory used from now on."""
        self.sample_memory()
        self._peak_at_mark = self.peak or 0
        self._case_high = None

    def case_peak(self) -> int | None:
        """Peak memory since :meth:`mark`.

        The cgroup's high-water mark when the case raised it (exact); otherwise the highest
        usage sampled during the case (every 50 ms), since the mark then holds an earlier peak
        (the model's loading, a larger case).
        """
        self.sample_memory()
        if self.peak is not None and self.peak > self._peak_at_mark:
            return self.peak
        return self._case_high

    def run(self) -> None:
        """Sample every 50 ms (1 s through the stats API), the output every tenth sample."""
        # The cgroup exists from the container's start until shortly after its exit.
        self.files = [p for p in cgroup_memory_files(self.container.id) if p.parent.is_dir()]
        self.sample_memory()
        tick = 0
        while not self.stop.wait(0.05 if self.files else 1.0):
            self.sample_memory()
            tick += 1
            if tick % 10 == 0 and self.output_problem is None:
                with contextlib.suppress(OSError):  # files come and go while it writes
                    scan = scan_output_tree(self.output_dir, limits=self.limits)
                    if scan.problem and "cap" in scan.problem:
                        self.output_problem = scan.problem
                        with contextlib.suppress(Exception):  # already exited: nothing to kill
                            self.container.kill()


def is_engine_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the engine's fault (a server error, a lost connection), not the run's."""
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    import requests
    from docker.errors import APIError

    if isinstance(exc, APIError):
        return exc.is_server_error()
    return isinstance(exc, requests.exceptions.ConnectionError | ConnectionError)


def grand_challenge_environment(limits: Limits) -> dict[str, str]:
    """The variables grand-challenge sets on every algorithm container, for ``limits``.

    ``LOG_LEVEL`` and ``PYTHONUNBUFFERED`` as grand-challenge's component backends set them;
    ``GRAND_CHALLENGE_COMPONENT_MAX_MEMORY_MB``, the memory limit in MiB, as they compute it
    (gigabytes times 1024). Variables that only address its cloud storage are left out.

    Examples
    --------
    >>> grand_challenge_environment(Limits(memory="8g"))["GRAND_CHALLENGE_COMPONENT_MAX_MEMORY_MB"]
    '8192'
    """
    return {
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        "GRAND_CHALLENGE_COMPONENT_MAX_MEMORY_MB": str(limits.memory_bytes >> 20),
    }


def stop_container(container: Any, *, grace_s: float = STOP_GRACE_S) -> None:
    """Stop ``container`` as grand-challenge stops a process: SIGTERM, SIGKILL after a grace.

    The init process (``init=True``) passes the SIGTERM on to the container's program; SIGKILL
    follows after ``grace_s`` seconds if it is still running. A container already gone is not
    an error.
    """
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    import requests
    from docker.errors import APIError, NotFound

    try:
        container.kill(signal="SIGTERM")
    except NotFound:
        return
    except APIError as exc:
        if is_not_running(exc):  # nothing to stop
            return
        raise
    try:
        container.wait(timeout=grace_s)
        return
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        pass  # still running after the grace
    with contextlib.suppress(NotFound):
        try:
            container.kill()
        except APIError as exc:
            if not is_not_running(exc):  # exited meanwhile
                raise


_BIND_MOUNTS = ("/input", "/output", MODEL_MOUNT)
"""Where every participant's container may get a bind mount of selma3d's."""
_DOCKER = EngineTraits(name="docker", version="")
"""Docker's traits, for options made without a client."""
_PID_MAX_LIMIT = 1 << 22
"""The kernel's ceiling on process ids (``PID_MAX_LIMIT``): a finite stand-in for unlimited."""


def container_ulimits(limits: Limits) -> list[Any]:
    """The resource limits of every container, stated and within the host's hard limits.

    Stated on every engine, never left to it: Docker passes its daemon's own limits on, and
    Podman, once any ulimit is given, drops its configured ``default_ulimits`` and asks for a
    built-in ``nofile`` that may exceed the host's hard limit (the container then fails to
    start: ``error setting rlimit type 7``). So: ``core`` 0 (no core dumps: they could be huge
    and hold data); ``nofile`` from the limits; ``nproc`` at the system's ceiling of process
    ids (``kernel.pid_max``) or the host's hard limit, whichever is lower: the kernel counts it
    per user across every container of that user, so a binding value would let one team's
    processes stop another's (the per-container cap is ``pids``). Podman's service lowers its
    own hard limit of processes to ``pid_max`` when it starts, and a container cannot be given
    more than the engine has.

    Raises
    ------
    Selma3dError
        If ``limits.nofile`` exceeds this host's hard limit of open files.
    """
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    import resource

    from docker.types import Ulimit

    from common.errors import Selma3dError

    def hard(which: int) -> int:
        value = resource.getrlimit(which)[1]
        return _PID_MAX_LIMIT if value == resource.RLIM_INFINITY else min(value, _PID_MAX_LIMIT)

    host_nofile = hard(resource.RLIMIT_NOFILE)
    if limits.nofile > host_nofile:
        raise Selma3dError(
            f"limits.nofile is {limits.nofile}, above this host's hard limit of open files "
            f"({host_nofile}, `ulimit -Hn`); give at most {host_nofile} (--nofile)."
        )
    nproc = hard(resource.RLIMIT_NPROC)
    with contextlib.suppress(OSError, ValueError):  # not Linux: the hard limit alone
        nproc = min(nproc, int(Path("/proc/sys/kernel/pid_max").read_text()))
    return [
        Ulimit(name="core", soft=0, hard=0),
        Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
        Ulimit(name="nproc", soft=nproc, hard=nproc),
    ]


def container_options(
    image: ImageInfo,
    input_dir: Path,
    output_dir: Path,
    *,
    limits: Limits,
    labels: dict[str, str],
    model_dir: Path | None = None,
    mounts: Mapping[Path, str] | None = None,
    engine: EngineTraits | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``containers.create`` for a participant's container.

    Every isolation flag of the project, each commented with what it protects; the same for a
    container run once (:func:`run_container`) and an invoke server
    (:mod:`harness.containers.invoke`).

    Parameters
    ----------
    image : ImageInfo
        Created from its id, so a tag moved meanwhile changes nothing.
    input_dir, output_dir : Path
        Mounted read-only at ``/input`` and writable at ``/output``.
    limits : Limits, keyword-only
    labels : dict, keyword-only
    model_dir : Path, keyword-only, optional
        Mounted read-only at ``/opt/ml/model``.
    mounts : mapping of Path to str, keyword-only, optional
        More host folders, each mounted read-only at the given path (an evaluation container's
        ground truth).
    engine : EngineTraits, keyword-only, optional
        The engine the container is made on (:func:`~harness.containers.engine.engine_traits`);
        Docker when not given.
    """
    engine = engine or _DOCKER
    engine.check_limits_apply()
    mem = limits.memory_bytes
    threads = str(max(1, math.floor(limits.cpus)))
    # GPUs only when asked: a device request exposes the host's driver to the container.
    device_requests = engine.device_requests(limits.gpu_request()) or None
    volumes = {
        # The staged inputs of this run only, read-only: never the organizer's data folder.
        str(input_dir): {"bind": "/input", "mode": "ro"},
        # A fresh, empty folder per run; its content is validated before it is used.
        str(output_dir): {"bind": "/output", "mode": "rw"},
    }
    if model_dir is not None:
        # The weights shipped beside the image, as grand-challenge mounts them: read-only.
        volumes[str(model_dir)] = {"bind": MODEL_MOUNT, "mode": "ro"}
    for host, bind in (mounts or {}).items():
        # The organizer's own data, read-only like every input.
        volumes[str(host)] = {"bind": bind, "mode": "ro"}
    return dict(
        image=image.digest,  # the exact image checked at start, even if its tag moves meanwhile
        detach=True,
        # No network interface but loopback: nothing can leave (data) or come in (downloads).
        network_mode="none",
        # The same, without the engine's own network sandbox: the runtime gives the container
        # an empty network namespace (loopback only) directly. Halves the container's start.
        network_disabled=True,
        # Read-only root file system: the image cannot be altered or used as scratch space.
        read_only=True,
        # The only writable scratch space, size-limited (and counted in the memory cgroup).
        # Executable, as on grand-challenge: JIT caches and compiled kernels run from there.
        # The image's VOLUME paths likewise, so the engine makes no volume on its own disk.
        tmpfs={
            "/tmp": f"size={limits.tmp_bytes},mode=1777,exec",
            **image_volume_tmpfs(
                image, tmp_bytes=limits.tmp_bytes, mounted=(mounts or {}).values(), engine=engine
            ),
        },
        volumes=volumes,
        # No capabilities: no raw sockets, mounts, ownership changes, ptrace, etc.
        cap_drop=["ALL"],
        # setuid binaries cannot raise privileges.
        security_opt=["no-new-privileges"],
        # The image's own non-root user (root images were refused unless allowed).
        user=image.container_user,
        # A fork bomb stops at this many processes and threads instead of exhausting the host.
        pids_limit=limits.pids,
        # Memory limit; swap limit equal to it means no swap, so the limit is real.
        mem_limit=mem,
        memswap_limit=mem,
        # CPU limit in billionths of a CPU.
        nano_cpus=int(limits.cpus * 1e9),
        device_requests=device_requests,
        # Private IPC namespace.
        ipc_mode="private",
        # No core dumps; open files and processes stated, within the host's hard limits.
        ulimits=container_ulimits(limits),
        # A tiny init reaps zombies and forwards the kill signal to every process.
        init=True,
        # Docker's own copy of the output is capped too, so a chatty container cannot fill the disk.
        log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "2"}},
        labels=labels,
        # The same name in every run: the container's id (the default) does not show through.
        hostname="selma3d",
        environment={
            # What grand-challenge sets on its algorithm containers.
            **grand_challenge_environment(limits),
            # Numerical libraries start one thread per granted core, not per host core.
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        },
    )


def image_volume_tmpfs(
    image: ImageInfo,
    *,
    tmp_bytes: int,
    mounted: Iterable[str] = (),
    engine: EngineTraits | None = None,
) -> dict[str, str]:
    """A tmpfs capped like ``/tmp`` over each path of the image's ``VOLUME`` lines.

    An image's volume would otherwise be an anonymous engine volume: writable despite the
    read-only root, unbounded, on the engine's disk, and left behind. A path where the
    container gets a mount anyway (``/input``, ``/output``, the model, ``/tmp``, ``mounted``)
    is that mount; a path below one of the bind mounts is refused: a volume inside
    ``/output`` would hold files outside the output folder and its cap, one inside an input
    would hide or shadow what is given.

    Parameters
    ----------
    image : ImageInfo
        Its numeric user (:attr:`ImageInfo.container_user`) owns each tmpfs.
    tmp_bytes : int, keyword-only
        Each tmpfs's size (the limits' ``tmp_size``); every one counts toward the memory limit.
    mounted : iterable of str, keyword-only
        More mount points of the container (an evaluation container's ground truth).
    engine : EngineTraits, keyword-only, optional
        The engine (the owner is stated differently on Podman); Docker when not given.

    Raises
    ------
    SubmissionError
        A volume path is relative, the root, or below ``/input``, ``/output``, the model or
        ``mounted``.
    """
    binds = [*_BIND_MOUNTS, *mounted]
    uid, _, gid = image.container_user.partition(":")
    # Docker passes uid= and gid= to the kernel; Podman refuses them and chowns to the
    # container's user when asked with U.
    owner = ",U" if (engine or _DOCKER).podman else ""
    if not owner:
        owner = "".join(f",{k}={v}" for k, v in (("uid", uid), ("gid", gid)) if v.isdigit())
    tmpfs: dict[str, str] = {}
    for given in image.volumes:
        path = posixpath.normpath(given)
        if not path.startswith("/") or path.startswith("//") or path == "/":
            raise SubmissionError(
                f"image {image.ref} declares VOLUME {given!r}: a volume must be an absolute "
                "folder below / (the root file system stays read-only); remove that VOLUME line."
            )
        if path in (*binds, "/tmp"):
            continue  # the mount selma3d gives replaces the volume
        inside = [b for b in binds if path.startswith(b.rstrip("/") + "/")]
        if inside:
            raise SubmissionError(
                f"image {image.ref} declares VOLUME {given!r} inside {inside[0]}, which selma3d "
                "mounts itself; a volume there would escape its checks (the output cap, the "
                "read-only inputs). Remove that VOLUME line."
            )
        # As large as /tmp, never the engine's disk; owned by the container's user, so it is
        # writable as the volume was: the runtime gives a tmpfs over an image's folder that
        # folder's mode, not the one asked.
        tmpfs[path] = f"size={tmp_bytes},mode=1777,exec{owner}"
    return tmpfs


def run_container(
    client: Any,
    image: ImageInfo,
    input_dir: Path,
    output_dir: Path,
    *,
    limits: Limits,
    timeout_s: float,
    labels: dict[str, str],
    log_bytes: int,
    model_dir: Path | None = None,
    mounts: Mapping[Path, str] | None = None,
) -> ContainerResult:
    """Run ``image`` once on a staged ``input_dir``, writing into ``output_dir``, and remove it.

    Parameters
    ----------
    client : docker.DockerClient
    image : ImageInfo
        Run by its id, so a tag moved meanwhile changes nothing.
    input_dir, output_dir : Path
        Mounted read-only at ``/input`` and writable at ``/output``.
    limits : Limits, keyword-only
        Memory, CPUs, GPUs, processes, ``/tmp`` and ``/output`` caps.
    timeout_s : float, keyword-only
        Wall-clock limit of this run; the container is killed when it is reached.
    labels : dict, keyword-only
        Container labels (the run's id, so an interrupted run's containers can be found).
    log_bytes : int, keyword-only
        Bytes of output kept (the tail).
    model_dir : Path, keyword-only, optional
        The model folder, mounted read-only at ``/opt/ml/model``.
    mounts : mapping of Path to str, keyword-only, optional
        More host folders mounted read-only (:func:`container_options`).

    Raises
    ------
    docker.errors.APIError, requests.exceptions.ConnectionError
        When the engine fails (:func:`is_engine_failure` tells these apart); the container is
        removed all the same.
    """
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    import requests
    from docker.errors import NotFound

    mem = limits.memory_bytes
    container = client.containers.create(
        **container_options(
            image,
            input_dir,
            output_dir,
            limits=limits,
            labels=labels,
            model_dir=model_dir,
            mounts=mounts,
            engine=engine_traits(client),
        )
    )
    watcher = Watcher(
        container, output_dir, OutputLimits(limits.max_output_bytes, limits.max_output_files)
    )
    try:
        t0 = time.perf_counter()
        container.start()
        watcher.start()
        timed_out = False
        exit_code: int | None = None
        while True:
            remaining = timeout_s - (time.perf_counter() - t0)
            if remaining <= 0:
                timed_out = True
                break
            try:
                exit_code = int(container.wait(timeout=max(1.0, remaining))["StatusCode"])
                break
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                # Either the timeout or a lost engine; asking the engine tells them apart (a
                # second failure propagates as an engine failure).
                container.reload()
                if container.status != "running":
                    continue
        wall = time.perf_counter() - t0
        if timed_out:
            stop_container(container)
            container.wait(timeout=30)
        watcher.stop.set()
        watcher.join(timeout=5)
        watcher.sample_memory()
        container.reload()
        state = container.attrs.get("State") or {}
        oom = bool(state.get("OOMKilled")) or (
            exit_code == 137
            and not timed_out
            and watcher.output_problem is None
            and (watcher.peak or 0) >= 0.95 * mem
        )
        log = container.logs(stdout=True, stderr=True, timestamps=False)
        # stderr on its own too: the two streams interleave unreliably, and errors go there.
        # No `tail=`: the engine counts it over both streams before filtering, so later stdout
        # lines could hide the only stderr line.
        err = b""
        if exit_code not in (0, None):
            err = container.logs(stdout=False, stderr=True)[-8192:]
        peak = watcher.peak
        if oom:
            peak = max(peak or 0, mem)
        return ContainerResult(
            exit_code=None if timed_out else exit_code,
            timed_out=timed_out,
            oom=oom,
            wall_time_s=wall,
            peak_memory_bytes=peak,
            log=log[-log_bytes:].decode("utf-8", errors="replace"),
            output_problem=watcher.output_problem,
            stderr=err.decode("utf-8", errors="replace"),
        )
    finally:
        watcher.stop.set()
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)
