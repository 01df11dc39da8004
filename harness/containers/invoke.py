"""grand-challenge's "invoke" contract: a server started once, called once per case.

An image labeled ``org.grand-challenge.api-method=invoke``
(:data:`~harness.containers.images.API_METHOD_LABEL`) is an HTTP server on port
:data:`INVOKE_PORT`. It loads its model once, at start, and answers ``GET /health`` with 200 when
ready; for each case the harness stages ``/input`` (that case only) and empties ``/output``, then
``POST /invoke`` runs the case and answers 201 when done. grand-challenge's shim allows 300 s for
the start and the health check together, 10 s per try (:data:`HEALTH_TRY_S`), and fails at once
on a redirect; the harness does the same within ``Limits.startup_timeout_s`` (300 s by default),
polling more often (:data:`HEALTH_POLL_S`) so a light server is not kept waiting. Every request
has a wall-clock deadline (:meth:`InvokeServer.request`), however slowly a server drips its
answer: a health try ends by the start-up deadline, ``POST /invoke`` at the case's timeout. A
server is stopped as the shim stops it: SIGTERM, then SIGKILL after a grace
(:func:`~harness.containers.isolation.stop_container`).

Isolation is the exec contract's (:func:`~harness.containers.isolation.container_options`): the
server has no network interface. The harness reaches it through a relay
(:mod:`harness.containers.invoke_relay`) in a helper container of its own base image
(:data:`HELPER_IMAGE`) that joins the server's network namespace
(``network_mode="container:<id>"``, loopback only) and exposes the port as a Unix socket in a
folder of the harness. No docker network is created and nothing is ever exec'd in the
participant's container.

:class:`InvokeServer` is one server and its relay: :meth:`~InvokeServer.start` waits for health,
:meth:`~InvokeServer.invoke` runs one case (killing the server at the timeout) and describes it as
a :class:`~harness.containers.isolation.ContainerResult` for
:func:`~harness.containers.verdicts.case_verdict`, and :meth:`~InvokeServer.close` removes both
containers.

Its length (over 500 lines) is one server's whole life (start, health, relay, each
``POST /invoke``, removal), whose parts share the server's state and make sense only together.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from docker.errors import APIError, ImageNotFound, NotFound

from harness.containers.cleanup import remove_tree
from harness.containers.engine import engine_traits
from harness.containers.images import ImageInfo
from harness.containers.isolation import (
    ContainerResult,
    Watcher,
    container_options,
    container_ulimits,
    stop_container,
)
from harness.containers.limits import Limits
from harness.containers.verdicts import log_reason, log_tail
from harness.errors import EngineError, SubmissionError
from harness.predictions.validate import OutputLimits

__all__ = [
    "HEALTH_POLL_MAX_S",
    "HEALTH_POLL_S",
    "HEALTH_TRY_S",
    "HELPER_IMAGE",
    "INVOKE_PORT",
    "LABEL_ROLE",
    "REDIRECT_CODES",
    "Answer",
    "InvokeOutcome",
    "InvokeServer",
    "Startup",
    "relay_image_id",
    "squeeze",
]

INVOKE_PORT = 4743
"""The port an invoke server listens on, inside its own network namespace."""
HELPER_IMAGE = "selma3d/python:3.11"
"""The harness's base image the relay runs on (``make images`` builds it)."""
HEALTH_TRY_S = 10.0
"""Seconds one ``GET /health`` may take, its whole answer included, as on grand-challenge."""
HEALTH_POLL_S = 0.05
"""Seconds before the second health try; each wait is 1.5 times the last, up to
:data:`HEALTH_POLL_MAX_S`. grand-challenge waits 5 s, which only delays the start."""
HEALTH_POLL_MAX_S = 1.0
"""The longest wait between two health tries."""
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
"""Answers to ``GET /health`` that fail the start at once, as grand-challenge's shim fails it."""
LABEL_ROLE = "org.selma3d.role"
"""``invoke-server`` or ``invoke-relay``, beside the run id label."""
_RELAY_SCRIPT = Path(__file__).with_name("invoke_relay.py")
_SOCKET = "invoke.sock"
_BODY_BYTES = 1 << 16
_NOBODY = 65534
_HEALTH_MIN_TRY_S = 0.1
"""The least time left for which a health try is still made."""
_RELAY_MARGIN_S = 10.0
"""Seconds a relayed connection outlives the longest request the harness makes on it."""


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange with the server: its status code, or why there was none.

    Attributes
    ----------
    status : int or None
        None when no HTTP answer came (refused, closed, timed out).
    body : str
        The start of the answer's body (at most 64 KiB).
    error : str
        Why there was no answer.
    """

    status: int | None
    body: str = ""
    error: str = ""

    def describe(self) -> str:
        """``HTTP 503`` or the error, for a reason."""
        return f"HTTP {self.status}" if self.status is not None else self.error


@dataclass(frozen=True)
class Startup:
    """How a server's start went.

    Attributes
    ----------
    healthy : bool
    startup_s : float
        From the container's start to its first 200 on ``GET /health`` (or to giving up).
    status : str
        ``"ok"``, or the status every case it should have served gets (``failed``, ``oom``).
    reason : str
        Why it is not healthy, with the end of its log.
    log : str
        The container's output until then.
    """

    healthy: bool
    startup_s: float
    status: str = "ok"
    reason: str = ""
    log: str = ""


@dataclass(frozen=True)
class InvokeOutcome:
    """One case run by ``POST /invoke``.

    Attributes
    ----------
    result : ContainerResult
        The case as a container run: exit code 0 for a 201, ``timed_out``, ``oom``, the server's
        exit code when it died, or ``failure`` for another answer; the wall time is the
        invoke's, the peak memory the case's.
    server_gone : bool
        The server was killed or died: a fresh one must serve the next case.
    """

    result: ContainerResult
    server_gone: bool


def squeeze(log: str) -> str:
    r"""``log`` with each run of identical lines shown once, with its count.

    Examples
    --------
    >>> squeeze("loading\nGET /health 503\nGET /health 503\nGET /health 503\n")
    'loading\nGET /health 503 (3 times)'
    """
    out: list[str] = []
    counts: list[int] = []
    for line in log.splitlines():
        if out and line == out[-1]:
            counts[-1] += 1
        else:
            out.append(line)
            counts.append(1)
    pairs = zip(out, counts, strict=True)
    return "\n".join(f"{line} ({n} times)" if n > 1 else line for line, n in pairs)


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the relay's Unix socket.

    The socket is reached through the open descriptor of its folder (``/proc/self/fd/<fd>/``):
    a socket path is limited to 107 bytes, which a run folder nested deep easily exceeds.
    """

    def __init__(self, folder_fd: int, *, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = f"/proc/self/fd/{folder_fd}/{_SOCKET}"

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def relay_image_id(client: Any, pins: Any | None = None) -> str:
    """The id :data:`HELPER_IMAGE` names now: what every relay of the command is created from.

    Parameters
    ----------
    client : docker.DockerClient
    pins : harness.containers.images.ImagePins, optional
        The command's pins, which keep the tag (checked for moves like every other).

    Raises
    ------
    EngineError
        The image is missing: ``make images`` builds it.
    """
    try:
        image = pins.pin(HELPER_IMAGE) if pins is not None else client.images.get(HELPER_IMAGE)
    except (ImageNotFound, SubmissionError) as exc:
        raise EngineError(
            f"the harness's image {HELPER_IMAGE}, which relays calls to invoke servers, is "
            "not on this engine; build it with `make images` (or `selma3d images build`)."
        ) from exc
    return str(image.id)


class InvokeServer:
    """One invoke server container and its relay, serving cases one at a time.

    Parameters
    ----------
    client : docker.DockerClient
    image : ImageInfo
    input_dir, output_dir : Path
        Host folders mounted at ``/input`` (read-only) and ``/output`` for the server's life;
        the caller stages each case into them in place (a bind mount keeps its folder).
    relay_dir : Path
        A host folder of the harness for the relay's socket, made by :meth:`start`.
    limits : Limits, keyword-only
    labels : dict, keyword-only
        Labels of both containers (the run id).
    log_bytes : int, keyword-only
        Bytes of the server's output kept per case.
    model_dir : Path, keyword-only, optional
        Mounted read-only at ``/opt/ml/model``.
    mounts : mapping of Path to str, keyword-only, optional
        More host folders mounted read-only (an evaluation container's ground truth).
    relay_image : str, keyword-only, optional
        The id the relay is created from (:func:`relay_image_id`, pinned once by the command);
        default: :data:`HELPER_IMAGE`'s id when the server starts.
    """

    def __init__(
        self,
        client: Any,
        image: ImageInfo,
        input_dir: Path,
        output_dir: Path,
        relay_dir: Path,
        *,
        limits: Limits,
        labels: dict[str, str],
        log_bytes: int,
        model_dir: Path | None = None,
        mounts: Mapping[Path, str] | None = None,
        relay_image: str | None = None,
    ) -> None:
        self.client = client
        self.relay_image = relay_image
        self.image = image
        self.input_dir, self.output_dir, self.relay_dir = input_dir, output_dir, relay_dir
        self.limits = limits
        self.labels = labels
        self.log_bytes = log_bytes
        self.model_dir = model_dir
        self.mounts = dict(mounts or {})
        self.container: Any = None
        self.relay: Any = None
        self.watcher: Watcher | None = None
        self.started_at = 0.0
        self.cases_served = 0
        self._killed_for_timeout = threading.Event()
        self._relay_fd: int | None = None
        self._relay_limit_s = 0.0

    @property
    def socket_path(self) -> Path:
        """The relay's socket on the host."""
        return self.relay_dir / _SOCKET

    def start(self, *, startup_timeout_s: float) -> Startup:
        """Start the server and its relay, and wait until ``GET /health`` answers 200.

        Raises
        ------
        EngineError
            The helper image is missing.
        docker.errors.APIError, requests.exceptions.ConnectionError
            The engine failed (the caller retries, then records ``infrastructure_error``).
        """
        if self.relay_image is None:
            self.relay_image = relay_image_id(self.client)
        try:
            self.client.images.get(self.relay_image)
        except ImageNotFound as exc:
            raise EngineError(
                f"the image {self.relay_image} pinned for {HELPER_IMAGE}, which relays calls to "
                "invoke servers, is no longer on this engine (removed during the run)."
            ) from exc
        self._relay_limit_s = max(startup_timeout_s, self.limits.timeout_s) + _RELAY_MARGIN_S
        self.relay_dir.mkdir(mode=0o700)
        self._relay_fd = os.open(self.relay_dir, os.O_RDONLY | os.O_DIRECTORY)
        labels = {**self.labels, LABEL_ROLE: "invoke-server"}
        self.container = self.client.containers.create(
            **container_options(
                self.image,
                self.input_dir,
                self.output_dir,
                limits=self.limits,
                labels=labels,
                model_dir=self.model_dir,
                mounts=self.mounts,
                engine=engine_traits(self.client),
            )
        )
        self.watcher = Watcher(
            self.container,
            self.output_dir,
            OutputLimits(self.limits.max_output_bytes, self.limits.max_output_files),
        )
        t0 = time.perf_counter()
        self.started_at = time.time()
        self.container.start()
        self.watcher.start()
        try:
            self._start_relay()
        except APIError:
            # A server that exits at once (e.g. no model to load) takes its network namespace
            # with it before the relay can join: that is the server dying, not the engine.
            self.container.reload()
            if self.container.status not in ("created", "running"):
                return self._died_starting(time.perf_counter() - t0)
            raise
        deadline = t0 + startup_timeout_s
        last = Answer(None, error="no answer yet")
        tries = 0
        while True:
            self.container.reload()
            if self.container.status not in ("created", "running"):
                return self._died_starting(time.perf_counter() - t0)
            now = time.perf_counter()
            # A try cut short at once would only hide the last real answer (a 503, say).
            if deadline - now < _HEALTH_MIN_TRY_S:
                break
            if self.socket_path.exists():
                # Never past the start-up deadline, however slowly the answer comes.
                last = self.request("GET", "/health", deadline=min(now + HEALTH_TRY_S, deadline))
                if last.status == 200:
                    return Startup(True, time.perf_counter() - t0)
                if last.status in REDIRECT_CODES:
                    return self._redirected(last, time.perf_counter() - t0)
            # Often at first (a light server is up in a fraction of a second), then less, so a
            # slow model's log is not buried under health checks; never past the deadline.
            pause = min(HEALTH_POLL_MAX_S, HEALTH_POLL_S * 1.5**tries)
            time.sleep(max(0.0, min(pause, deadline - time.perf_counter())))
            tries += 1
        elapsed = time.perf_counter() - t0
        log = self._final_log()
        return Startup(
            False,
            elapsed,
            "failed",
            f"the server never answered GET /health with 200 within {startup_timeout_s:g} s "
            f"(--startup-timeout-s); last try: {last.describe()}" + log_reason(squeeze(log)),
            log,
        )

    def _redirected(self, answer: Answer, elapsed: float) -> Startup:
        log = self._final_log()
        return Startup(
            False,
            elapsed,
            "failed",
            f"GET /health answered {answer.describe()}, a redirect: grand-challenge fails the "
            "start at once on a redirect; answer GET /health itself with 200 when ready"
            + log_reason(squeeze(log)),
            log,
        )

    def _final_log(self) -> str:
        """The server's whole log, read once it stopped (only then has the engine all of it)."""
        with contextlib.suppress(NotFound):
            stop_container(self.container)
            with contextlib.suppress(
                requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError
            ):
                self.container.wait(timeout=30)
        return self._logs(since=self.started_at)

    def _start_relay(self) -> None:
        # The relay runs as the harness's user, so only the harness may use its socket; as
        # nobody when the harness is root (a root harness reaches any socket).
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            uid = gid = _NOBODY
            os.chown(self.relay_dir, uid, gid)
        # Created, then started: a relay whose start fails is still held, so close() removes it.
        self.relay = self.client.containers.create(
            # By the id pinned when the command resolved its images: a moved tag changes nothing.
            self.relay_image,
            # A relayed connection is cut after the longest request the harness may make on it.
            [
                "python3",
                "-S",
                "-I",
                "/opt/selma3d/relay.py",
                f"/relay/{_SOCKET}",
                str(INVOKE_PORT),
                f"{self._relay_limit_s:g}",
            ],
            detach=True,
            # Inside the server's network namespace: its loopback, nothing else.
            network_mode=f"container:{self.container.id}",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user=f"{uid}:{gid}",
            pids_limit=64,
            mem_limit=64 << 20,
            ulimits=container_ulimits(self.limits),
            volumes={
                str(_RELAY_SCRIPT): {"bind": "/opt/selma3d/relay.py", "mode": "ro"},
                str(self.relay_dir): {"bind": "/relay", "mode": "rw"},
            },
            labels={**self.labels, LABEL_ROLE: "invoke-relay"},
            log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}},
        )
        self.relay.start()

    def _died_starting(self, elapsed: float) -> Startup:
        code = int(self.container.wait(timeout=30)["StatusCode"])
        self.container.reload()
        oom = bool((self.container.attrs.get("State") or {}).get("OOMKilled"))
        log = self._logs(since=self.started_at)
        if oom:
            return Startup(
                False,
                elapsed,
                "oom",
                f"the server was killed for exceeding the memory limit of {self.limits.memory} "
                "(no swap) while starting, before GET /health answered 200",
                log,
            )
        return Startup(
            False,
            elapsed,
            "failed",
            f"the server exited with code {code} before GET /health answered 200"
            + log_reason(squeeze(log)),
            log,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        deadline: float,
        on_expiry: Callable[[], None] | None = None,
    ) -> Answer:
        """One HTTP request through the relay, ended at ``deadline``; never raises for a bad answer.

        Parameters
        ----------
        method, path : str
        deadline : float, keyword-only
            A :func:`time.perf_counter` time. A timer then runs ``on_expiry`` and shuts the
            connection: a server dripping its answer a byte at a time (each read within any
            socket timeout) cannot hold the request past it. The answer is then "no whole
            answer within ... s", whatever part of it came.
        on_expiry : callable, keyword-only, optional
            Run by the timer first (``POST /invoke`` stops the server there).
        """
        if self._relay_fd is None:
            raise RuntimeError("InvokeServer.request before start")
        limit_s = max(0.0, deadline - time.perf_counter())
        # The socket's own timeout is a backstop only: the timer ends the request first.
        conn = _UnixHTTPConnection(self._relay_fd, timeout=limit_s + _RELAY_MARGIN_S)
        expired = threading.Event()

        def cut() -> None:
            sock = conn.sock
            if sock is not None:
                # Wakes a blocked read at once (it sees the end of the stream).
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        def expire() -> None:
            expired.set()
            if on_expiry is not None:
                on_expiry()
            cut()

        timer = threading.Timer(limit_s, expire)
        timer.start()
        response = None
        try:
            conn.connect()
            if expired.is_set():
                cut()  # the timer fired before the socket existed: nothing was cut
            conn.request(method, path, headers={"Content-Length": "0"} if method == "POST" else {})
            response = conn.getresponse()
            body = response.read(_BODY_BYTES)
            answer = Answer(response.status, body.decode("utf-8", errors="replace"))
        except TimeoutError:
            answer = Answer(None, error=f"no answer within {limit_s:.3g} s")
        # What a server not listening yet, closing the connection or dying looks like (and the
        # timer's shutdown); any other error is the harness's own and propagates.
        except (ConnectionError, FileNotFoundError, http.client.HTTPException) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            answer = Answer(None, error=f"no answer ({detail})")
        finally:
            timer.cancel()
            # A running expiry finishes first: the socket is closed only after its shutdown.
            timer.join()
            # A response read in part (or a connection that closes) holds the socket, not conn.
            if response is not None:
                response.close()
            conn.close()
        if expired.is_set():
            return Answer(None, error=f"no whole answer within {limit_s:.3g} s")
        return answer

    def invoke(self, *, timeout_s: float, last: bool = False) -> InvokeOutcome:
        """Run the staged case: ``POST /invoke``, the server killed at ``timeout_s``.

        A server that did not answer 201 is stopped (SIGTERM, then SIGKILL after a grace)
        before its log is read, and so is every server with ``last``: the engine has all of a
        container's log only once it stopped, and a server's last lines (the traceback before
        a 500) often reach it after the answer.
        """
        watcher = self.watcher
        if watcher is None or self.container is None:
            raise RuntimeError("InvokeServer.invoke before start")
        since = self.started_at if self.cases_served == 0 else time.time()
        self.cases_served += 1
        watcher.mark()
        answer, wall = self._post_invoke(timeout_s)
        peak = watcher.case_peak()
        timed_out = self._killed_for_timeout.is_set()
        gone = timed_out or watcher.output_problem is not None or answer.status is None
        exit_code, state, stopped = self._settle(answer, gone=gone, timed_out=timed_out, last=last)
        gone = gone or stopped
        log = self._logs(since=since)
        mem = self.limits.memory_bytes
        oom = not timed_out and (
            bool(state.get("OOMKilled"))
            or (exit_code == 137 and watcher.output_problem is None and (peak or 0) >= 0.95 * mem)
        )
        if oom:
            peak = max(peak or 0, mem)
        failure = None
        if timed_out:
            failure = (
                "timeout",
                f"POST /invoke still running after {timeout_s:g} s (--timeout-s); the server was "
                "stopped and a fresh one serves the next cases",
            )
        elif oom:
            failure = (
                "oom",
                f"the server was killed for exceeding the memory limit of {self.limits.memory} "
                "(no swap) during POST /invoke; a fresh one serves the next cases",
            )
        elif watcher.output_problem is None:
            failure = self._failure(
                answer, exit_code=exit_code, log=log, since=since, stopped=stopped and not last
            )
        result = ContainerResult(
            # None while the server lives on (an answer, not an exit) or when it was killed.
            exit_code=None if timed_out or stopped else exit_code,
            timed_out=timed_out,
            oom=oom,
            wall_time_s=wall,
            peak_memory_bytes=peak,
            log=log[-self.log_bytes :],
            output_problem=watcher.output_problem,
            failure=failure,
        )
        return InvokeOutcome(result, server_gone=gone)

    def _post_invoke(self, timeout_s: float) -> tuple[Answer, float]:
        """``POST /invoke`` with the server stopped by a timer at ``timeout_s``; its wall time."""
        self._killed_for_timeout.clear()

        def kill() -> None:
            self._killed_for_timeout.set()
            with contextlib.suppress(NotFound, APIError):
                stop_container(self.container)

        t0 = time.perf_counter()
        answer = self.request("POST", "/invoke", deadline=t0 + timeout_s, on_expiry=kill)
        return answer, time.perf_counter() - t0

    def _settle(
        self, answer: Answer, *, gone: bool, timed_out: bool, last: bool
    ) -> tuple[int | None, dict[str, Any], bool]:
        """The server after the answer: exit code and state if it exited, whether it was stopped.

        A server still running is stopped here when it did not answer 201 or served the last
        case: only then does the engine have its whole log.
        """
        exit_code: int | None = None
        if gone:
            try:
                exit_code = int(self.container.wait(timeout=10)["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                exit_code = None  # still running: it closed the connection without an answer
        state: dict[str, Any] = {}
        if exit_code is not None:
            self.container.reload()
            state = self.container.attrs.get("State") or {}
        stopped = False
        if exit_code is None and not timed_out and (last or answer.status != 201):
            # Its own exit code, if any, was read above; this stop only completes the log.
            stop_container(self.container)
            with contextlib.suppress(
                requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError, NotFound
            ):
                self.container.wait(timeout=30)
            stopped = True
        elif timed_out:
            with contextlib.suppress(
                requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError, NotFound
            ):
                self.container.wait(timeout=30)
        return exit_code, state, stopped

    def _failure(
        self, answer: Answer, *, exit_code: int | None, log: str, since: float, stopped: bool
    ) -> tuple[str, str] | None:
        """Why a case that neither timed out, ran out of memory nor broke its output failed.

        ``stopped``: the server was stopped to read its whole log and a fresh one follows.
        """
        if exit_code is not None:
            # stderr alone: the streams interleave unreliably, and errors go there.
            err = self._logs(since=since, stdout=False)
            return (
                "failed",
                f"the server exited with code {exit_code} during POST /invoke; a fresh "
                "container serves the next cases" + log_reason(log, tail_of=err),
            )
        if answer.status is None:
            return (
                "failed",
                f"POST /invoke got no answer ({answer.error}) and the server kept running; "
                "it was replaced" + log_reason(log),
            )
        if answer.status != 201:
            body = log_tail(answer.body, lines=5, chars=300)
            stop_note = (
                "; the server was stopped so that its whole log could be read, and a fresh one "
                "serves the next cases"
                if stopped
                else ""
            )
            return (
                "failed",
                f"POST /invoke answered HTTP {answer.status} where 201 means done"
                + (f"; body: {body}" if body else "; empty body")
                + stop_note
                + log_reason(log),
            )
        return None

    def _logs(self, *, since: float, stdout: bool = True) -> str:
        try:
            data = self.container.logs(stdout=stdout, stderr=True, since=since, timestamps=False)
        except NotFound:
            return ""
        return data[-self.log_bytes :].decode("utf-8", errors="replace")

    def close(self) -> None:
        """Remove the server and its relay (running or not) and the relay's socket."""
        if self.watcher is not None:
            self.watcher.stop.set()
            self.watcher.join(timeout=5)
        if self.container is not None:
            # SIGTERM first, as grand-challenge tears a server down; the relay needs no grace.
            stop_container(self.container)
        for container in (self.relay, self.container):
            if container is not None:
                with contextlib.suppress(NotFound):
                    container.remove(force=True, v=True)
        self.relay = self.container = None
        if self._relay_fd is not None:
            os.close(self._relay_fd)
            self._relay_fd = None
        with contextlib.suppress(FileNotFoundError):
            remove_tree(self.relay_dir)
