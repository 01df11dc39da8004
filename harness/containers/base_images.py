"""Build the offline base images (``selma3d images build``), and the offline build machinery.

**Image specs** live in ``harness.assets.asset_dir("docker")``, one folder each (the base images
``make images`` builds). A spec is a folder with a ``Dockerfile`` (or, for the root file system, a
``debootstrap`` section), an optional ``requirements.txt`` and an optional ``image.yaml``::

    tag: selma3d/python:3.11          # default: selma3d/<folder>:latest
    base: selma3d/rootfs:bookworm     # another spec's tag, or none
    registry_base: python:3.11-slim   # the base used with --from-registry (optional)
    include: [baselines]              # Python packages of selma3d staged into the context

Specs build in dependency order. A spec is skipped when its image exists and carries the label
``org.selma3d.spec-hash`` equal to the hash of its folder, its staged packages, its base image's
id and the build mode: the second ``make images`` takes seconds. An ``include`` names an
importable package (``baselines``); it is staged from the imported package's own folder, so a
checkout and an installed wheel build the same image.

Every build, here and of submission folders (:func:`harness.containers.images.build_folder`),
runs with ``network_mode="none"``. A ``requirements.txt`` is satisfied from wheels that the host
downloads with ``pip download`` (cached under :func:`cache_dir` ``/wheels/``) and stages into the
build context as ``wheels/``; a Dockerfile installs them with
``pip install --no-index --find-links wheels -r requirements.txt``. The context always has a
``wheels/`` folder, empty when there is no ``requirements.txt``.

The root file system ``selma3d/rootfs:bookworm`` is a ``debootstrap --variant=minbase`` Debian
bookworm (python3 3.11) imported with ``docker import``; its tarball is cached under
:func:`cache_dir` ``/rootfs/``. With ``--from-registry`` (or ``SELMA3D_FROM_REGISTRY=1``) specs
that declare ``registry_base`` are built on that image instead, and the root file system is not
needed.

Its length (over 500 lines) is one machinery's, used only by ``selma3d images build``: the
specs, their order, staging, the offline wheel cache and the build itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import platform
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.errors import ConfigError
from common.files import atomic_path, load_yaml_model, write_atomic
from harness.assets import asset_dir
from harness.containers.cleanup import walk_tree
from harness.containers.engine import engine_client
from harness.errors import EngineError, SubmissionError

__all__ = [
    "SPEC_HASH_LABEL",
    "BuildResult",
    "Debootstrap",
    "ImageSpec",
    "build_specs",
    "cache_dir",
    "discover_specs",
    "docker_build",
    "dockerfile_base",
    "download_wheels",
    "folder_hash",
    "load_spec",
    "order_specs",
    "package_folder",
    "stage_context",
]

SPEC_HASH_LABEL = "org.selma3d.spec-hash"
"""Image label holding the hash of everything the image was built from."""
_SKIP_NAMES = {".git", "__pycache__", ".cache", ".pytest_cache", ".ruff_cache", ".mypy_cache"}


class Debootstrap(BaseModel):
    """The ``debootstrap`` section of a root file-system spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = Field(description="Debian suite, e.g. bookworm.")
    variant: str = Field("minbase", description="debootstrap --variant.")
    packages: tuple[str, ...] = Field((), description="debootstrap --include packages.")


class _SpecFile(BaseModel):
    """The fields of ``image.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    tag: str | None = None
    base: str | None = None
    registry_base: str | None = None
    include: tuple[str, ...] = ()
    debootstrap: Debootstrap | None = None

    @field_validator("base")
    @classmethod
    def _none_word(cls, value: str | None) -> str | None:
        return None if value in ("", "none", "None") else value

    @field_validator("include")
    @classmethod
    def _package_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(
                    f"include names Python packages of selma3d (such as baselines); {name!r} "
                    "is not a package name"
                )
        return value


@dataclass(frozen=True)
class ImageSpec:
    """One image spec folder.

    Attributes
    ----------
    name : str
        Folder name.
    folder : Path
        The spec folder.
    tag : str
        Reference the image is tagged with.
    base : str or None
        Tag of the image it builds on, when that is another spec (or any local image).
    registry_base : str or None
        Base image used instead of ``base`` in ``--from-registry`` mode.
    include : tuple of str
        Python packages staged into the context under their own names.
    debootstrap : Debootstrap or None
        The root file system debootstrap makes, for a spec without a Dockerfile.
    """

    name: str
    folder: Path
    tag: str
    base: str | None = None
    registry_base: str | None = None
    include: tuple[str, ...] = ()
    debootstrap: Debootstrap | None = None


@dataclass(frozen=True)
class BuildResult:
    """Outcome of building one spec."""

    spec: str
    tag: str
    digest: str
    cached: bool
    seconds: float


@dataclass(frozen=True)
class _Mode:
    from_registry: bool = False
    force: bool = False
    log: Callable[[str], None] = field(default=lambda msg: print(msg, flush=True))


def cache_dir() -> Path:
    """Folder for downloaded wheels and the root file-system tarball; never inside a package.

    ``$SELMA3D_CACHE`` if set (``docker/build-images.sh`` sets it to a checkout's
    ``docker/.cache``); else ``$XDG_CACHE_HOME/selma3d`` if that is an absolute path; else
    ``~/.cache/selma3d``.

    Raises
    ------
    ConfigError
        The path exists and is not a folder (a file, a broken link), naming it and where it
        came from.
    """
    env = os.environ.get("SELMA3D_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    if env:
        folder, source = Path(env), "SELMA3D_CACHE"
    # The XDG specification says a relative value is invalid and must be ignored.
    elif xdg and Path(xdg).is_absolute():
        folder, source = Path(xdg) / "selma3d", "XDG_CACHE_HOME"
    else:
        folder, source = Path.home() / ".cache" / "selma3d", "the home folder's .cache"
    if os.path.lexists(folder) and not folder.is_dir():
        raise ConfigError(
            f"the cache {folder} (from {source}) is not a folder; point SELMA3D_CACHE at a "
            "folder selma3d may write (or unset it)."
        )
    return folder


def folder_hash(folder: Path, *, extra: Mapping[str, Path] | None = None) -> str:
    """Hash a folder's files (names and contents), plus named extra folders, in a stable order.

    Caches, ``__pycache__`` and ``.pyc`` files are left out.

    Parameters
    ----------
    folder : Path
        Hashed with paths relative to itself.
    extra : mapping of str to Path, keyword-only
        More files or folders, each hashed with paths under its name (``{"baselines":
        Path(...)}`` hashes ``baselines/__init__.py``, ...), as they are staged.

    Returns
    -------
    str
        ``sha256:`` and the hex digest.
    """
    h = hashlib.sha256()
    for f in _files_under(folder):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for name, path in (extra or {}).items():
        for f in _files_under(path):
            rel = name if f == path else f"{name}/{f.relative_to(path).as_posix()}"
            h.update(rel.encode() + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    # As os.walk listed them (a link to a folder is a folder, not entered), with an explicit
    # stack: a participant's folder nested thousands deep raises TreeTooDeep, never recurses.
    return [
        p
        for p, _relative, st in walk_tree(path, skip=_SKIP_NAMES)
        if not p.name.endswith(".pyc")
        and not stat.S_ISDIR(st.st_mode)
        and not (stat.S_ISLNK(st.st_mode) and p.is_dir())
    ]


def load_spec(folder: Path) -> ImageSpec:
    """Read ``folder/image.yaml`` (optional) into an :class:`ImageSpec`.

    Raises
    ------
    ConfigError
        Naming the file and field when ``image.yaml`` is malformed, or the folder when it has
        neither a Dockerfile nor a ``debootstrap`` section.
    """
    folder = Path(folder)
    meta_path = folder / "image.yaml"
    meta = (
        load_yaml_model(meta_path, _SpecFile, what="image spec", empty_ok=True)
        if meta_path.is_file()
        else _SpecFile()
    )
    if meta.debootstrap is None and not (folder / "Dockerfile").is_file():
        raise ConfigError(f"{folder}: an image spec needs a Dockerfile (or a debootstrap section).")
    base = meta.base
    if base is None and meta.debootstrap is None:
        base = dockerfile_base(folder / "Dockerfile")
    return ImageSpec(
        name=folder.name,
        folder=folder,
        tag=meta.tag or f"selma3d/{folder.name}:latest",
        base=base,
        registry_base=meta.registry_base or None,
        include=meta.include,
        debootstrap=meta.debootstrap,
    )


def dockerfile_base(dockerfile: Path) -> str | None:
    """The image of a Dockerfile's first ``FROM`` line, unless it is a build argument."""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].upper() == "FROM" and "$" not in parts[1]:
            return parts[1]
    return None


def discover_specs(docker_dir: Path | None = None) -> list[ImageSpec]:
    """Every spec folder under ``docker_dir`` (default: the shipped one), in dependency order."""
    root = asset_dir("docker") if docker_dir is None else Path(docker_dir)
    specs = [
        load_spec(d)
        for d in sorted(root.iterdir())
        if d.is_dir()
        and not d.name.startswith(".")
        and ((d / "Dockerfile").is_file() or (d / "image.yaml").is_file())
    ]
    return order_specs(specs)


def order_specs(specs: list[ImageSpec]) -> list[ImageSpec]:
    """Sort specs so each comes after the spec whose tag it builds on.

    Raises
    ------
    ConfigError
        On a dependency cycle or two specs with the same tag.

    Examples
    --------
    >>> a = ImageSpec("a", Path("a"), "x/a:1", base="x/b:1")
    >>> b = ImageSpec("b", Path("b"), "x/b:1")
    >>> [s.name for s in order_specs([a, b])]
    ['b', 'a']
    """
    by_tag: dict[str, ImageSpec] = {}
    for s in specs:
        if s.tag in by_tag:
            raise ConfigError(f"specs {by_tag[s.tag].folder} and {s.folder} both build {s.tag}.")
        by_tag[s.tag] = s
    ordered: list[ImageSpec] = []
    state: dict[str, int] = {}

    def visit(s: ImageSpec, chain: tuple[str, ...]) -> None:
        if state.get(s.tag) == 2:
            return
        if state.get(s.tag) == 1:
            raise ConfigError(f"image specs form a cycle: {' -> '.join((*chain, s.tag))}.")
        state[s.tag] = 1
        if s.base in by_tag:
            visit(by_tag[s.base], (*chain, s.tag))
        state[s.tag] = 2
        ordered.append(s)

    for s in sorted(specs, key=lambda s: s.name):
        visit(s, ())
    return ordered


def package_folder(name: str, *, spec: Path | None = None) -> Path:
    """The folder of an importable Python package, found without importing it.

    Parameters
    ----------
    name : str
        A top-level package name (``baselines``).
    spec : Path, optional, keyword-only
        The spec folder asking, for the message.

    Raises
    ------
    ConfigError
        When ``name`` is not an importable package, or is a namespace package spread over
        several folders.
    """
    where = f"{spec / 'image.yaml'}: include" if spec is not None else "include"
    found = importlib.util.find_spec(name)
    if found is None or not found.submodule_search_locations:
        raise ConfigError(f"{where} {name!r} is not an importable Python package here.")
    locations = list(found.submodule_search_locations)
    if len(locations) != 1:
        raise ConfigError(
            f"{where} {name!r} is a namespace package spread over {locations}; expected one folder."
        )
    return Path(locations[0])


def _wheel_platforms() -> list[str]:
    arch = platform.machine() or "x86_64"
    return [f"manylinux_2_{v}_{arch}" for v in (36, 35, 34, 31, 28, 27, 24, 17)] + [
        f"manylinux2014_{arch}",
        f"manylinux2010_{arch}",
        f"manylinux1_{arch}",
        "linux_" + arch,
    ]


def download_wheels(
    requirements: Path, *, python_version: str = "3.11", log: Callable[[str], None] = print
) -> Path:
    """Download the wheels a ``requirements.txt`` needs (with dependencies) on the host.

    Wheels are for CPython ``python_version`` on manylinux of this machine's architecture
    (glibc up to 2.36, Debian bookworm's). The result is cached per requirements content; a
    folder with a ``.complete`` marker is reused without contacting the index.

    Parameters
    ----------
    requirements : Path
        The requirements file (pip syntax, options such as ``--index-url`` included).
    python_version : str, keyword-only
        Target interpreter of the image.

    Returns
    -------
    Path
        Folder of ``.whl`` files.

    Raises
    ------
    SubmissionError
        If pip cannot find wheels for every requirement (its output is included).
    """
    content = Path(requirements).read_bytes()
    key = hashlib.sha256(
        content + python_version.encode() + platform.machine().encode()
    ).hexdigest()[:16]
    dest = cache_dir() / "wheels" / key
    if (dest / ".complete").is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        "cp" + python_version.replace(".", ""),
        "-r",
        str(requirements),
    ]
    for plat in _wheel_platforms():
        cmd += ["--platform", plat]
    log(f"downloading wheels for {requirements} into {dest}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SubmissionError(
            f"{requirements}: pip could not download wheels for CPython {python_version} "
            f"(binary wheels only; builds have no network):\n{proc.stderr.strip()[-3000:]}"
        )
    write_atomic(dest / ".complete", " ".join(cmd[3:]) + "\n")
    return dest


def stage_context(
    source: Path,
    *,
    include: Mapping[str, Path] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Copy a build folder into a fresh temporary context, with its wheels and included folders.

    Parameters
    ----------
    source : Path
        The folder with the Dockerfile (caches and ``__pycache__`` left out).
    include : mapping of str to Path, optional, keyword-only
        Folders copied into the context under the given names (``{"baselines": ...}``).

    Returns
    -------
    Path
        The context; the caller removes it.
    """
    ctx = Path(tempfile.mkdtemp(prefix="selma3d-build-"))
    ignore = shutil.ignore_patterns(*_SKIP_NAMES, "*.pyc")
    try:
        shutil.copytree(source, ctx, dirs_exist_ok=True, ignore=ignore)
        for name, src in (include or {}).items():
            shutil.copytree(src, ctx / name, dirs_exist_ok=True, ignore=ignore)
        wheels = ctx / "wheels"
        wheels.mkdir(exist_ok=True)
        req = ctx / "requirements.txt"
        if req.is_file() and _has_requirements(req):
            for whl in download_wheels(req, log=log).glob("*.whl"):
                try:
                    os.link(whl, wheels / whl.name)
                except OSError:
                    # Different file systems: hard links are impossible, a copy is the same bytes.
                    shutil.copy2(whl, wheels / whl.name)
    except BaseException:
        shutil.rmtree(ctx, ignore_errors=True)
        raise
    return ctx


def _has_requirements(req: Path) -> bool:
    lines = (ln.split("#", 1)[0].strip() for ln in req.read_text(encoding="utf-8").splitlines())
    return any(ln and not ln.startswith("-") for ln in lines)


def docker_build(
    client: Any,
    ctx: Path,
    tag: str,
    *,
    labels: dict[str, str],
    buildargs: dict[str, str] | None = None,
    pull: bool = False,
    error: type[Exception] = SubmissionError,
    what: str = "",
    log: Callable[[str], None] = print,
    timeout_s: float | None = None,
) -> Any:
    """Build a staged context with no network and return the image (by the id the build made).

    Parameters
    ----------
    timeout_s : float, keyword-only, optional
        How long the build may take. When it runs past it, the connection is cut: the engine
        then cancels the build and removes the step's container, and ``error`` is raised.

    Raises
    ------
    error
        The build failed (with the end of its log), the engine refused it, or it ran past
        ``timeout_s``.
    EngineError
        The engine failed during the build.
    """
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import APIError
    from requests.exceptions import RequestException
    from urllib3.exceptions import HTTPError

    tail: list[str] = []
    built = ""
    cut = threading.Event()
    with _build_response(client) as response:
        timer = None
        if timeout_s is not None:
            timer = threading.Timer(timeout_s, _cut, (client, response, cut))
            timer.daemon = True
        try:
            chunks = client.api.build(
                path=str(ctx),
                tag=tag,
                rm=True,
                forcerm=True,
                pull=pull,
                decode=True,
                # No network during the build: everything the image needs is in the context.
                network_mode="none",
                labels=labels,
                buildargs=buildargs or {},
            )
            if timer is not None:
                timer.start()
            for chunk in chunks:
                if "stream" in chunk:
                    for line in chunk["stream"].splitlines():
                        if line.strip():
                            tail = [*tail[-40:], line]
                            if line.startswith("Step "):
                                log(f"  {line}")
                if "aux" in chunk and isinstance(chunk["aux"], dict):
                    built = str(chunk["aux"].get("ID") or built)
                if "error" in chunk:
                    detail = "\n".join(tail[-25:])
                    raise error(f"{what}: docker build failed: {chunk['error'].strip()}\n{detail}")
        except APIError as exc:
            if exc.is_server_error():
                raise EngineError(
                    f"{what}: the Docker engine failed during the build: {exc}"
                ) from exc
            raise error(f"{what}: docker build refused: {exc.explanation or exc}") from exc
        except (RequestException, HTTPError, OSError, ValueError) as exc:
            # A connection cut at the time limit ends the stream one way or another.
            if not cut.is_set():
                raise EngineError(f"{what}: the build's connection failed: {exc}") from exc
        finally:
            if timer is not None:
                timer.cancel()
    if cut.is_set():
        detail = "\n".join(tail[-10:])
        raise error(
            f"{what}: the build ran past its time limit of {timeout_s:g} s (build_timeout_s) "
            f"and was stopped; its last lines:\n{detail}"
        )
    # By the id the build reported: the tag may have been moved already.
    return client.images.get(built or tag)


@contextlib.contextmanager
def _build_response(client: Any) -> Iterator[list[Any]]:
    """Catch the HTTP response of the next build this thread starts on ``client``.

    The SDK hands back only a generator of its output; cutting a build at its time limit needs
    its connection. The client's stream helper is wrapped for this thread only, and restored.
    """
    api = client.api
    caught: list[Any] = []
    me = threading.get_ident()
    original = type(api)._stream_helper

    def catch(response: Any, decode: bool = False) -> Any:
        if threading.get_ident() == me and not caught:
            caught.append(response)
        return original(api, response, decode=decode)

    with _WRAP_LOCK:
        api._stream_helper = catch
    try:
        yield caught
    finally:
        # A build that failed or was cut leaves its stream unread: its socket is closed now, not
        # whenever the garbage collector gets to it.
        for response in caught:
            response.close()
        with _WRAP_LOCK:
            if api.__dict__.get("_stream_helper") is catch:
                del api._stream_helper


_WRAP_LOCK = threading.Lock()


def _cut(client: Any, caught: list[Any], cut: threading.Event) -> None:
    """Shut the build's connection: the engine cancels a build whose client went away."""
    cut.set()
    for response in caught:
        sock = client.api._get_raw_response_socket(response)
        sock = getattr(sock, "_sock", sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def build_specs(
    docker_dir: Path | None = None,
    *,
    from_registry: bool = False,
    force: bool = False,
    only: tuple[str, ...] = (),
    client: Any | None = None,
    log: Callable[[str], None] = print,
) -> list[BuildResult]:
    """Build every image spec under ``docker_dir`` in dependency order, skipping cached ones.

    Parameters
    ----------
    docker_dir : Path, optional
        Default: the shipped specs, ``harness.assets.asset_dir("docker")``.
    from_registry : bool, keyword-only
        Build specs that declare ``registry_base`` on it (pulled) instead of their local base;
        the debootstrap root file system is then skipped.
    force : bool, keyword-only
        Rebuild even when the cached image's hash matches.
    only : tuple of str, keyword-only
        Spec folder names to build (their bases must already exist).

    Raises
    ------
    ConfigError
        ``only`` names a spec that does not exist.
    """
    specs = discover_specs(docker_dir)
    unknown = sorted(set(only) - {spec.name for spec in specs})
    if unknown:
        raise ConfigError(
            f"--only: no image spec named {', '.join(map(repr, unknown))}; the specs are "
            f"{', '.join(spec.name for spec in specs)}"
        )
    with engine_client(client) as client:
        mode = _Mode(from_registry=from_registry, force=force, log=log)
        results = []
        for spec in specs:
            if only and spec.name not in only:
                continue
            if spec.debootstrap is not None and from_registry:
                log(f"{spec.tag}: skipped (--from-registry builds on registry bases)")
                continue
            results.append(_build_spec(client, spec, mode))
        return results


def _build_spec(client: Any, spec: ImageSpec, mode: _Mode) -> BuildResult:
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import ImageNotFound

    t0 = time.perf_counter()
    base_ref = spec.registry_base if (mode.from_registry and spec.registry_base) else spec.base
    base_id = ""
    if base_ref and not (mode.from_registry and spec.registry_base):
        try:
            base_id = client.images.get(base_ref).id
        except ImageNotFound as exc:
            raise ConfigError(
                f"{spec.folder}: base image {base_ref} is missing; build its spec first "
                "(`selma3d images build`)."
            ) from exc
    include = {name: package_folder(name, spec=spec.folder) for name in spec.include}
    digest = folder_hash(spec.folder, extra=include)
    digest = (
        "sha256:"
        + hashlib.sha256(
            f"{digest}|{base_ref}|{base_id}|registry={mode.from_registry}".encode()
        ).hexdigest()
    )
    if not mode.force:
        try:
            existing = client.images.get(spec.tag)
            if (existing.labels or {}).get(SPEC_HASH_LABEL) == digest:
                mode.log(f"{spec.tag}: cached ({existing.id[:19]})")
                return BuildResult(spec.name, spec.tag, existing.id, True, time.perf_counter() - t0)
        except ImageNotFound:
            pass
    mode.log(f"{spec.tag}: building from {spec.folder}")
    if spec.debootstrap is not None:
        image = _build_rootfs(client, spec, spec.debootstrap, digest, mode)
    else:
        ctx = stage_context(spec.folder, include=include, log=mode.log)
        try:
            image = docker_build(
                client,
                ctx,
                spec.tag,
                labels={SPEC_HASH_LABEL: digest},
                buildargs={"BASE": base_ref} if base_ref else {},
                pull=bool(mode.from_registry and spec.registry_base),
                error=ConfigError,
                what=str(spec.folder),
                log=mode.log,
            )
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
    seconds = time.perf_counter() - t0
    mode.log(f"{spec.tag}: built {image.id[:19]} in {seconds:.0f} s")
    return BuildResult(spec.name, spec.tag, image.id, False, seconds)


def _build_rootfs(client: Any, spec: ImageSpec, deb: Debootstrap, digest: str, mode: _Mode) -> Any:
    key = hashlib.sha256(
        f"{deb.suite}|{deb.variant}|{','.join(deb.packages)}".encode()
    ).hexdigest()[:12]
    tar_dir = cache_dir() / "rootfs"
    tarball = tar_dir / f"{deb.suite}-{key}.tar"
    if not tarball.is_file():
        if os.geteuid() != 0:
            raise ConfigError(
                f"{spec.folder}: building the root file system needs debootstrap as root; run "
                "`selma3d images build` as root (in a checkout: `sudo make images`), or build on "
                "a registry base with `selma3d images build --from-registry`."
            )
        if shutil.which("debootstrap") is None:
            raise ConfigError(
                f"{spec.folder}: debootstrap is not installed (`apt-get install debootstrap`)."
            )
        tar_dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tar_dir))
        try:
            cmd = ["debootstrap", f"--variant={deb.variant}"]
            if deb.packages:
                cmd.append("--include=" + ",".join(deb.packages))
            cmd += [deb.suite, str(root)]
            mode.log(f"  {' '.join(cmd)} (about a minute)")
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise ConfigError(
                    f"{spec.folder}: debootstrap failed:\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
                )
            # Documentation and package lists only make the image larger.
            for rel in (
                "usr/share/doc",
                "usr/share/man",
                "usr/share/info",
                "var/lib/apt/lists",
                "var/cache/apt",
            ):
                target = root / rel
                if target.is_dir():
                    shutil.rmtree(target)
                    target.mkdir()
            with atomic_path(tarball) as partial:
                subprocess.run(
                    ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
                    check=True,
                )
        finally:
            shutil.rmtree(root, ignore_errors=True)
    mode.log(f"  docker import {tarball.name} {spec.tag}")
    changes = [
        f"LABEL {SPEC_HASH_LABEL}={digest}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]
    # The tag inside the repository parameter, as the API allows: Podman's service ignores a
    # separate tag parameter and would tag the image "latest".
    client.api.import_image_from_file(str(tarball), repository=spec.tag, changes=changes)
    return client.images.get(spec.tag)
