"""Build and resolve container images without a registry.

Two kinds of build share the same offline machinery:

- **Image specs** under ``docker/<name>/`` (the base images ``make images`` builds). A spec is a
  folder with a ``Dockerfile`` (or, for the root file system, a ``debootstrap`` section), an
  optional ``requirements.txt`` and an optional ``image.yaml``::

      tag: selma3d/python:3.11          # default: selma3d/<folder>:latest
      base: selma3d/rootfs:bookworm     # another spec's tag, or none
      registry_base: python:3.11-slim   # the base used with --from-registry (optional)
      include: [baselines]              # repository paths staged into the build context

  Specs build in dependency order. A spec is skipped when its image exists and carries the label
  ``org.selma3d.spec-hash`` equal to the hash of its folder, its staged files, its base image's id
  and the build mode: the second ``make images`` takes seconds.
- **Submission folders** (:func:`build_folder`): a participant's folder with a ``Dockerfile``.

Both are built with ``network_mode="none"``. A ``requirements.txt`` is satisfied from wheels that
the host downloads with ``pip download`` (cached under ``docker/.cache/wheels/``) and stages into
the build context as ``wheels/``; a Dockerfile installs them with
``pip install --no-index --find-links wheels -r requirements.txt``. The context always has a
``wheels/`` folder, empty when there is no ``requirements.txt``.

The root file system ``selma3d/rootfs:bookworm`` is a ``debootstrap --variant=minbase`` Debian
bookworm (python3 3.11) imported with ``docker import``; its tarball is cached under
``docker/.cache/rootfs/``. With ``--from-registry`` (or ``SELMA3D_FROM_REGISTRY=1``) specs that
declare ``registry_base`` are built on that image instead, and the root file system is not needed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.assets import asset_dir
from harness.errors import ConfigError, EngineError, SubmissionError

__all__ = [
    "SPEC_HASH_LABEL",
    "BuildResult",
    "ImageInfo",
    "ImageSpec",
    "build_folder",
    "build_specs",
    "cache_dir",
    "discover_specs",
    "download_wheels",
    "folder_hash",
    "is_root_user",
    "load_spec",
    "order_specs",
    "resolve_image",
]

SPEC_HASH_LABEL = "org.selma3d.spec-hash"
"""Image label holding the hash of everything the image was built from."""
_DOCKER_DIR = asset_dir("docker")
_SKIP_NAMES = {".git", "__pycache__", ".cache", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
_TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz")


@dataclass(frozen=True)
class ImageInfo:
    """A local image ready to run.

    Attributes
    ----------
    ref : str
        The reference it is run by (a tag, or the id when it has none).
    digest : str
        The image id (``sha256:`` of its config): changes whenever the content changes. Images
        built here have no registry digest, so this is what runs record and compare.
    user : str
        The configured user (``""`` means root).
    """

    ref: str
    digest: str
    user: str


@dataclass(frozen=True)
class ImageSpec:
    """One image spec folder under ``docker/``.

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
        Repository paths (relative to the repository root) copied into the context.
    debootstrap : dict or None
        ``{"suite": ..., "packages": [...]}`` for a root file system built by debootstrap.
    """

    name: str
    folder: Path
    tag: str
    base: str | None = None
    registry_base: str | None = None
    include: tuple[str, ...] = ()
    debootstrap: dict[str, Any] | None = None


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
    """Folder for downloaded wheels and the root file-system tarball.

    ``$SELMA3D_CACHE`` if set; else ``docker/.cache`` in a source checkout; else
    ``~/.cache/selma3d``.
    """
    env = os.environ.get("SELMA3D_CACHE")
    if env:
        return Path(env)
    if _DOCKER_DIR.is_dir():
        return _DOCKER_DIR / ".cache"
    return Path.home() / ".cache" / "selma3d"


def is_root_user(user: str) -> bool:
    """Tell whether an image's configured ``User`` runs as root.

    Examples
    --------
    >>> [is_root_user(u) for u in ("", "root", "0", "0:0", "root:staff", "app", "1000:1000")]
    [True, True, True, True, True, False, False]
    """
    name = (user or "").split(":", 1)[0].strip()
    return name in ("", "root", "0")


def folder_hash(folder: Path, *, extra: tuple[Path, ...] = (), root: Path | None = None) -> str:
    """Hash a folder's files (names and contents), plus extra paths, in a stable order.

    Parameters
    ----------
    folder : Path
        Hashed with paths relative to itself.
    extra : tuple of Path, keyword-only
        Files or folders hashed with paths relative to ``root``.
    root : Path, keyword-only
        Base of ``extra``'s relative names.
    """
    h = hashlib.sha256()
    for base, paths in ((folder, (folder,)), (root or folder, extra)):
        for path in paths:
            for f in _files_under(path):
                h.update(f.relative_to(base).as_posix().encode() + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_NAMES)
        out.extend(Path(dirpath) / n for n in sorted(filenames) if not n.endswith(".pyc"))
    return out


def load_spec(folder: Path) -> ImageSpec:
    """Read ``folder/image.yaml`` (optional) into an :class:`ImageSpec`.

    Raises
    ------
    ConfigError
        Naming the file and field when ``image.yaml`` is malformed or the folder has neither a
        Dockerfile nor a ``debootstrap`` section.
    """
    folder = Path(folder)
    meta_path = folder / "image.yaml"
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        loaded = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{meta_path}: expected a mapping, got {type(loaded).__name__}.")
        meta = loaded or {}
    known = {"tag", "base", "registry_base", "include", "debootstrap", "description"}
    unknown = sorted(set(meta) - known)
    if unknown:
        raise ConfigError(
            f"{meta_path}: unknown field(s) {unknown}; expected some of {sorted(known)}."
        )
    tag = str(meta.get("tag") or f"selma3d/{folder.name}:latest")
    base = meta.get("base")
    base = None if base in (None, "", "none", "None") else str(base)
    include = meta.get("include") or []
    if not isinstance(include, list) or not all(isinstance(p, str) for p in include):
        raise ConfigError(f"{meta_path}: field 'include' must be a list of paths, got {include!r}.")
    for p in include:
        if Path(p).is_absolute() or ".." in Path(p).parts:
            raise ConfigError(
                f"{meta_path}: include path {p!r} must be relative to the repository."
            )
    deb = meta.get("debootstrap")
    if deb is not None and (not isinstance(deb, dict) or "suite" not in deb):
        raise ConfigError(f"{meta_path}: field 'debootstrap' needs at least 'suite', got {deb!r}.")
    if deb is None and not (folder / "Dockerfile").is_file():
        raise ConfigError(f"{folder}: an image spec needs a Dockerfile (or a debootstrap section).")
    if base is None and deb is None:
        base = _dockerfile_base(folder / "Dockerfile")
    return ImageSpec(
        name=folder.name,
        folder=folder,
        tag=tag,
        base=base,
        registry_base=str(meta["registry_base"]) if meta.get("registry_base") else None,
        include=tuple(include),
        debootstrap=deb,
    )


def _dockerfile_base(dockerfile: Path) -> str | None:
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].upper() == "FROM" and "$" not in parts[1]:
            return parts[1]
    return None


def discover_specs(docker_dir: Path = _DOCKER_DIR) -> list[ImageSpec]:
    """Every spec folder under ``docker_dir``, in dependency order."""
    specs = [
        load_spec(d)
        for d in sorted(Path(docker_dir).iterdir())
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
    (dest / ".complete").write_text(" ".join(cmd[3:]) + "\n", encoding="utf-8")
    return dest


def _stage_context(
    source: Path,
    *,
    include: tuple[str, ...] = (),
    repo_root: Path = _DOCKER_DIR.parent,
    log: Callable[[str], None] = print,
) -> Path:
    ctx = Path(tempfile.mkdtemp(prefix="selma3d-build-"))
    shutil.copytree(
        source, ctx, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_SKIP_NAMES, "*.pyc")
    )
    for rel in include:
        src = repo_root / rel
        if not src.exists():
            shutil.rmtree(ctx)
            raise ConfigError(f"{source}/image.yaml: include path {rel!r} not found at {src}.")
        dst = ctx / rel
        if src.is_dir():
            shutil.copytree(
                src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_SKIP_NAMES, "*.pyc")
            )
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
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
    return ctx


def _has_requirements(req: Path) -> bool:
    lines = (ln.split("#", 1)[0].strip() for ln in req.read_text(encoding="utf-8").splitlines())
    return any(ln and not ln.startswith("-") for ln in lines)


def _docker_build(
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
) -> Any:
    from docker.errors import APIError

    tail: list[str] = []
    try:
        for chunk in client.api.build(
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
        ):
            if "stream" in chunk:
                for line in chunk["stream"].splitlines():
                    if line.strip():
                        tail = [*tail[-40:], line]
                        if line.startswith("Step "):
                            log(f"  {line}")
            if "error" in chunk:
                detail = "\n".join(tail[-25:])
                raise error(f"{what}: docker build failed: {chunk['error'].strip()}\n{detail}")
    except APIError as exc:
        if exc.is_server_error():
            raise EngineError(f"{what}: the Docker engine failed during the build: {exc}") from exc
        raise error(f"{what}: docker build refused: {exc.explanation or exc}") from exc
    return client.images.get(tag)


def build_folder(
    folder: str | Path,
    tag: str | None = None,
    *,
    client: Any | None = None,
    labels: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
) -> ImageInfo:
    """Build a submission folder offline and return its image.

    The folder is staged into a temporary context with a ``wheels/`` folder holding the wheels
    of its ``requirements.txt`` (downloaded on the host), then built with no network. An image
    already carrying the folder's hash is reused.

    Parameters
    ----------
    folder : str or Path
        Holds a ``Dockerfile``.
    tag : str, optional
        Defaults to ``selma3d-submission/<folder name>:<hash prefix>``.
    labels : dict, keyword-only
        Extra image labels.

    Raises
    ------
    SubmissionError
        No Dockerfile, missing wheels, or the build failed (with the end of its log).
    """
    from docker.errors import ImageNotFound

    from harness.containers.engine import connect

    folder = Path(folder).resolve()
    if not (folder / "Dockerfile").is_file():
        raise SubmissionError(f"{folder}: no Dockerfile; a submission folder must contain one.")
    client = client if client is not None else connect()
    digest = folder_hash(folder)
    base = _dockerfile_base(folder / "Dockerfile")
    if base:
        # A rebuilt base image (e.g. after `make images`) must rebuild the submission too.
        try:
            base_id = client.images.get(base).id
        except ImageNotFound as exc:
            if base.startswith("selma3d/"):
                # Without this the engine would look for it in a registry and fail obscurely.
                raise SubmissionError(
                    f"{folder}: its base image {base} is not on this engine; build the base "
                    "images first with `make images` (or `selma3d images build`)."
                ) from exc
            base_id = "absent"
        digest = "sha256:" + hashlib.sha256(f"{digest}|{base}|{base_id}".encode()).hexdigest()
    safe_name = "".join(c if c.isalnum() or c in "._-" else "-" for c in folder.name.lower()).strip(
        ".-"
    )
    tag = tag or f"selma3d-submission/{safe_name or 'folder'}:{digest[7:19]}"
    try:
        existing = client.images.get(tag)
        if (existing.labels or {}).get(SPEC_HASH_LABEL) == digest:
            return _info(existing, tag)
    except ImageNotFound:
        pass
    ctx = _stage_context(folder, log=log)
    try:
        image = _docker_build(
            client,
            ctx,
            tag,
            labels={SPEC_HASH_LABEL: digest, **(labels or {})},
            error=SubmissionError,
            what=str(folder),
            log=log,
        )
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return _info(image, tag)


def _info(image: Any, ref: str) -> ImageInfo:
    return ImageInfo(
        ref=ref, digest=image.id, user=str((image.attrs.get("Config") or {}).get("User") or "")
    )


def resolve_image(
    image: str | Path, *, client: Any | None = None, log: Callable[[str], None] = print
) -> ImageInfo:
    """Turn what the user gave into a local image.

    Parameters
    ----------
    image : str or Path
        An image reference (``team/algo:1``), a ``docker save`` tarball (``.tar``, ``.tar.gz``,
        ``.tgz``: loaded first) or a folder with a Dockerfile (built offline).

    Raises
    ------
    SubmissionError
        If the reference is not present locally (nothing is pulled), the tarball holds no image,
        or the folder does not build.
    """
    from docker.errors import APIError, ImageNotFound

    from harness.containers.engine import connect

    client = client if client is not None else connect()
    path = Path(image)
    if path.is_dir():
        return build_folder(path, client=client, log=log)
    if path.is_file() and path.name.lower().endswith(_TARBALL_SUFFIXES):
        with path.open("rb") as fh:
            try:
                # A file object is streamed to the engine; a large tarball never sits in memory.
                loaded = client.images.load(fh)
            except APIError as exc:
                raise SubmissionError(
                    f"{path}: docker load failed: {exc.explanation or exc}"
                ) from exc
        if not loaded:
            raise SubmissionError(f"{path}: the tarball holds no image.")
        img = loaded[0]
        return _info(img, img.tags[0] if img.tags else img.id)
    try:
        img = client.images.get(str(image))
    except ImageNotFound as exc:
        raise SubmissionError(
            f"image {image!r} is not present on this engine (nothing is pulled): give a local "
            "reference (`docker images`), a `docker save` tarball, or a folder with a Dockerfile."
        ) from exc
    return _info(img, str(image))


def build_specs(
    docker_dir: Path = _DOCKER_DIR,
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
    from_registry : bool, keyword-only
        Build specs that declare ``registry_base`` on it (pulled) instead of their local base;
        the debootstrap root file system is then skipped.
    force : bool, keyword-only
        Rebuild even when the cached image's hash matches.
    only : tuple of str, keyword-only
        Spec folder names to build (their bases must already exist).
    """
    from harness.containers.engine import connect

    client = client if client is not None else connect()
    mode = _Mode(from_registry=from_registry, force=force, log=log)
    results = []
    for spec in discover_specs(docker_dir):
        if only and spec.name not in only:
            continue
        if spec.debootstrap is not None and from_registry:
            log(f"{spec.tag}: skipped (--from-registry builds on registry bases)")
            continue
        results.append(_build_spec(client, spec, mode))
    return results


def _build_spec(client: Any, spec: ImageSpec, mode: _Mode) -> BuildResult:
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
                "(`bash docker/build-images.sh`)."
            ) from exc
    repo_root = spec.folder.parent.parent
    extra = tuple(repo_root / p for p in spec.include)
    digest = folder_hash(spec.folder, extra=extra, root=repo_root)
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
        image = _build_rootfs(client, spec, digest, mode)
    else:
        ctx = _stage_context(spec.folder, include=spec.include, repo_root=repo_root, log=mode.log)
        try:
            image = _docker_build(
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


def _build_rootfs(client: Any, spec: ImageSpec, digest: str, mode: _Mode) -> Any:
    deb = spec.debootstrap or {}
    suite = str(deb["suite"])
    packages = [str(p) for p in deb.get("packages", [])]
    variant = str(deb.get("variant", "minbase"))
    key = hashlib.sha256(f"{suite}|{variant}|{','.join(packages)}".encode()).hexdigest()[:12]
    tar_dir = cache_dir() / "rootfs"
    tarball = tar_dir / f"{suite}-{key}.tar"
    if not tarball.is_file():
        if os.geteuid() != 0:
            raise ConfigError(
                f"{spec.folder}: building the root file system needs debootstrap as root; run "
                "`sudo bash docker/build-images.sh`, or build on a registry base with "
                "`bash docker/build-images.sh --from-registry`."
            )
        if shutil.which("debootstrap") is None:
            raise ConfigError(
                f"{spec.folder}: debootstrap is not installed (`apt-get install debootstrap`)."
            )
        tar_dir.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tar_dir))
        try:
            cmd = ["debootstrap", f"--variant={variant}"]
            if packages:
                cmd.append("--include=" + ",".join(packages))
            cmd += [suite, str(root)]
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
            partial = tarball.with_suffix(".tar.partial")
            subprocess.run(
                ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], check=True
            )
            partial.replace(tarball)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    repository, _, tag = spec.tag.rpartition(":")
    mode.log(f"  docker import {tarball.name} {spec.tag}")
    changes = [
        f"LABEL {SPEC_HASH_LABEL}={digest}",
        "ENV LANG=C.UTF-8",
        'CMD ["/bin/bash"]',
    ]
    client.api.import_image_from_file(str(tarball), repository=repository, tag=tag, changes=changes)
    return client.images.get(spec.tag)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.containers.images", description="Build selma3d images offline."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    base = sub.add_parser("build-base", help="build every spec under docker/ (cached)")
    base.add_argument(
        "--from-registry",
        action="store_true",
        default=os.environ.get("SELMA3D_FROM_REGISTRY", "") not in ("", "0"),
        help="build on registry base images (also SELMA3D_FROM_REGISTRY=1)",
    )
    base.add_argument("--force", action="store_true", help="rebuild even when cached")
    base.add_argument("--only", nargs="*", default=[], help="spec folder names to build")
    folder = sub.add_parser("build-folder", help="build a submission folder offline")
    folder.add_argument("folder")
    folder.add_argument("--tag")
    args = parser.parse_args(argv)
    if args.command == "build-base":
        t0 = time.perf_counter()
        results = build_specs(
            from_registry=args.from_registry, force=args.force, only=tuple(args.only)
        )
        built = sum(not r.cached for r in results)
        took = time.perf_counter() - t0
        print(f"images: {built} built, {len(results) - built} cached, {took:.1f} s")
    else:
        info = build_folder(args.folder, args.tag)
        print(f"{info.ref} {info.digest} user={info.user or 'root'}")
    return 0


if __name__ == "__main__":
    from harness.errors import Selma3dError

    try:
        sys.exit(_main())
    except Selma3dError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(3 if isinstance(exc, EngineError) else 2)
