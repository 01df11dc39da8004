"""Resolve a submission to a local image: a reference, a ``docker save`` tarball, or a folder.

A folder with a Dockerfile is built offline (:func:`build_folder`: its ``requirements.txt`` from
wheels downloaded on the host, no network during the build, within a time limit; see
:mod:`harness.containers.base_images` for the machinery). A tarball is read and loaded under a
tag of selma3d's alone (:mod:`harness.containers.image_tarball`). A run records and compares an
image by its id (:attr:`ImageInfo.digest`), creates every container from that id, and refuses an
image whose user is root (:func:`is_root_user`) unless the organizers allow it.

Tags can be moved by anyone using the engine. :class:`ImagePins` reads each tag a command relies
on (a team's reference, the evaluation image's, the invoke relay's, a build's base) once and
keeps its id; after every load and between a round's stages it checks that none moved
(:meth:`ImagePins.verify`), and a folder is built on its base's pinned id, never on the tag.

Its length (over 500 lines) is one concern's: how what a user gave becomes an image pinned by
its id (references, pins, tarball loads, folder builds), parts that share the pins.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import shutil
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.files import resolved
from harness.containers.base_images import (
    SPEC_HASH_LABEL,
    docker_build,
    folder_hash,
    stage_context,
)
from harness.containers.cleanup import TreeTooDeep
from harness.containers.engine import engine_client
from harness.containers.image_tarball import load_image_tarball, read_image_tarball
from harness.errors import SubmissionError

__all__ = [
    "API_METHOD_LABEL",
    "DEFAULT_BUILD_TIMEOUT_S",
    "PASSWD_MAX_BYTES",
    "TARBALL_REPOSITORY",
    "ImageInfo",
    "ImagePins",
    "build_folder",
    "check_reference",
    "check_tag",
    "dockerfile_bases",
    "image_info",
    "is_invoke",
    "is_root_user",
    "load_tarball",
    "pin_dockerfile",
    "resolve_image",
    "resolve_user",
    "tarball_tag",
]

DEFAULT_BUILD_TIMEOUT_S = 3600.0
"""How long a submission folder's build may take by default (``build_timeout_s``): one hour."""
TARBALL_REPOSITORY = "selma3d-tarball"
"""Loaded tarballs are tagged ``selma3d-tarball/<name>:<sha256 of the tarball, 32 digits>``."""

API_METHOD_LABEL = "org.grand-challenge.api-method"
"""The image label by which grand-challenge picks an algorithm's interface (``invoke``)."""
# Docker's reference grammar (distribution/reference): an optional registry host[:port], then
# lowercase path components separated by '/', then an optional ':tag'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
# A first component is a registry host only with a '.', a port, or as 'localhost' (as Docker).
_HOST = rf"(?:(?:{_LABEL}(?:\.{_LABEL})+(?::[0-9]+)?|{_LABEL}:[0-9]+|localhost)/)?"
_REFERENCE = re.compile(rf"^{_HOST}{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_ID = re.compile(r"^(?:sha256:)?[0-9a-f]{12,64}$")

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
    api_method : str
        The image's :data:`API_METHOD_LABEL`: ``"invoke"`` for a grand-challenge invoke server
        (:mod:`harness.containers.invoke`); ``""`` for a program run once per case.
    volumes : tuple of str
        The paths of the image's ``VOLUME`` lines (``Config.Volumes``), each covered by a
        capped tmpfs when a container is made
        (:func:`harness.containers.isolation.image_volume_tmpfs`).
    run_as : str
        :attr:`user` with its user name replaced by the uid the image's ``/etc/passwd`` gives
        it (:func:`resolve_user`): what containers run as and what :func:`is_root_user` judges.
        ``""`` when not resolved (then :attr:`user` is used).
    """

    ref: str
    digest: str
    user: str
    api_method: str = ""
    volumes: tuple[str, ...] = ()
    run_as: str = ""

    @property
    def container_user(self) -> str:
        """The ``user`` a container of this image is created with (numeric once resolved)."""
        return self.run_as or self.user or "0"

    @property
    def runs_as_root(self) -> bool:
        """Whether its containers would run as uid 0 (:func:`is_root_user` of the resolved user)."""
        return is_root_user(self.container_user)

    @property
    def invoke(self) -> bool:
        """Whether the image is an invoke server, as grand-challenge decides: by its label."""
        return is_invoke(self.api_method)


def is_invoke(api_method: str) -> bool:
    """Whether an image whose :data:`API_METHOD_LABEL` is ``api_method`` is an invoke server.

    The one rule by which both the runner (its contract) and a round's organizer (how a
    submission's cases are sent to the cluster) tell an invoke server from a program.

    Examples
    --------
    >>> is_invoke("invoke"), is_invoke(""), is_invoke("exec")
    (True, False, False)
    """
    return api_method == "invoke"


def is_root_user(user: str) -> bool:
    """Tell whether an image's configured ``User`` runs as root.

    A numeric user (digits, with or without a group part) is compared as a number, as the
    engine reads it: ``00`` is uid 0. Any other name but ``root`` is not judged here: it is
    resolved to its uid from the image's ``/etc/passwd`` first (:func:`resolve_user`), so a
    second name for uid 0 is caught (:attr:`ImageInfo.runs_as_root`).

    Examples
    --------
    >>> [is_root_user(u) for u in ("", "root", "0", "00", "0:0", "root:staff", "app", "1000")]
    [True, True, True, True, True, True, False, False]
    """
    name = (user or "").split(":", 1)[0].strip()
    if _NUMERIC.fullmatch(name):
        return int(name) == 0
    return name in ("", "root")


PASSWD_MAX_BYTES = 1 << 20
"""The largest ``/etc/passwd`` read from an image (1 MiB); a larger one is refused."""
_NUMERIC = re.compile(r"[0-9]+")


def resolve_user(client: Any, image_id: str, user: str) -> str:
    """``user`` with a user name replaced by its uid (and primary gid) in the image's passwd.

    Containers are then run with this numeric user, so the uid judged is the uid run: a
    second name for uid 0 (``toor:x:0:0``) is root, whatever the engine's own lookup would
    make of the name. A numeric user is kept (``00`` becomes ``0``), ``""`` and ``root`` too.
    The file is read with the engine's archive API from a container created, never started,
    from ``image_id``, at most :data:`PASSWD_MAX_BYTES`, never through a link, and the
    container is removed after.

    Raises
    ------
    SubmissionError
        The image's ``/etc/passwd`` is missing, a link, too large, or has no entry for the
        name, or that entry's uid or gid is not a number.
    """
    name, sep, group = (user or "").strip().partition(":")
    name = name.strip()
    if _NUMERIC.fullmatch(name):
        return str(int(name)) + sep + group
    if name in ("", "root"):
        return user
    entry = _passwd_entry(_read_passwd(client, image_id, user), name)
    where = f"image {image_id}: user {user!r}"
    if entry is None:
        raise SubmissionError(
            f"{where} is not in the image's /etc/passwd; add it (useradd) or give a numeric "
            "USER (uid[:gid])."
        )
    uid, gid = entry
    if not (_NUMERIC.fullmatch(uid) and _NUMERIC.fullmatch(gid)):
        raise SubmissionError(
            f"{where}: its /etc/passwd entry has uid {uid!r} and gid {gid!r}; expected numbers."
        )
    return f"{int(uid)}:{group.strip() or int(gid)}"


def _passwd_entry(text: str, name: str) -> tuple[str, str] | None:
    """(uid, gid) fields of the first passwd line for ``name``, as the engine picks it."""
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) >= 4 and fields[0] == name:
            return fields[2].strip(), fields[3].strip()
    return None


def _read_passwd(client: Any, image_id: str, user: str) -> str:
    """The image's ``/etc/passwd`` through the archive API: bounded, a regular file only."""
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import APIError, NotFound

    where = f"image {image_id}: user {user!r}: /etc/passwd"
    try:
        container = client.containers.create(
            image_id,
            entrypoint=["/nonexistent"],  # never started: only its file system is read
            network_disabled=True,
            # Podman resolves a container's user to read its files, and fails on a name the
            # image's passwd lacks; this container's user is never used.
            user="0:0",
        )
    except APIError as exc:
        raise SubmissionError(
            f"{where}: the engine cannot create a container to read it: {exc.explanation or exc}"
        ) from exc
    try:
        try:
            chunks, _ = container.get_archive("/etc/passwd")
        except NotFound as exc:
            raise SubmissionError(f"{where} is missing; the user name cannot be resolved") from exc
        except APIError as exc:
            raise SubmissionError(
                f"{where}: the engine cannot read it: {exc.explanation or exc}"
            ) from exc
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > PASSWD_MAX_BYTES + 64 * 1024:  # the file plus tar's headers
                raise SubmissionError(f"{where} is over {PASSWD_MAX_BYTES} bytes; refused")
        with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tar:
            member = tar.next()
            if member is None or not member.isreg():
                raise SubmissionError(f"{where} is not a regular file (a link?); refused")
            if member.size > PASSWD_MAX_BYTES:
                raise SubmissionError(f"{where} is over {PASSWD_MAX_BYTES} bytes; refused")
            fh = tar.extractfile(member)
            return (fh.read() if fh is not None else b"").decode("utf-8", errors="replace")
    finally:
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)


def check_tag(tag: str) -> str:
    """``tag`` if Docker accepts it as an image name, else a :class:`SubmissionError` saying why.

    Examples
    --------
    >>> check_tag("selma3d-test/seg:v1")
    'selma3d-test/seg:v1'
    >>> check_tag("UPPER/../x:::")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.errors.SubmissionError: image tag 'UPPER/../x:::' is not a valid image name: ...
    """
    if len(tag) > 255 or not _REFERENCE.match(tag):
        raise SubmissionError(
            f"image tag {tag!r} is not a valid image name: expected lowercase path components "
            "of letters, digits and . _ - separated by '/', then optionally ':' and a tag of "
            "letters, digits, '.', '_' or '-' (e.g. team/seg:v1)"
        )
    return tag


def check_reference(reference: str) -> str:
    """``reference`` if the engine can look it up (a name, a name with a digest, or an id).

    Raises
    ------
    SubmissionError
        Saying what a reference looks like; the engine is never asked about a malformed one.

    Examples
    --------
    >>> check_reference("team/seg:v1"), check_reference("sha256:" + "a" * 64)[:10]
    ('team/seg:v1', 'sha256:aaa')
    >>> check_reference("UPPER CASE::")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.errors.SubmissionError: image 'UPPER CASE::' is not a valid image reference: ...
    """
    name = _DIGEST.sub("", reference)
    if _IMAGE_ID.match(reference) or (len(name) <= 255 and _REFERENCE.match(name)):
        return reference
    raise SubmissionError(
        f"image {reference!r} is not a valid image reference: expected lowercase path "
        "components of letters, digits and . _ - separated by '/', then optionally ':' and a "
        "tag (e.g. team/seg:v1), an image id (sha256:...), a `docker save` tarball (.tar, "
        ".tar.gz, .tgz) or a folder with a Dockerfile"
    )


class ImagePins:
    """Image tags read once, each kept with the id it named then; checked for moves later.

    Parameters
    ----------
    client : docker.DockerClient
    during : str, keyword-only
        What is running, for messages (``"the round"``, ``"the check"``).

    Examples
    --------
    A round pins every tag it uses before it loads or builds anything, creates every container
    from the pinned ids, and calls :meth:`verify` after each load and between its stages.
    """

    def __init__(self, client: Any, *, during: str = "the run") -> None:
        self.client = client
        self.during = during
        self.ids: dict[str, str] = {}

    def pin(self, reference: str) -> Any:
        """The engine's image for ``reference``, whose id is kept (again: it must not have moved).

        Raises
        ------
        SubmissionError
            The reference is malformed or not on the engine (nothing is pulled).
        ConfigError
            It was pinned before and now names another image.
        """
        # Docker's SDK is loaded only where an engine is called, as connect() loads it.
        from docker.errors import APIError, ImageNotFound

        check_reference(reference)
        try:
            image = self.client.images.get(reference)
        except ImageNotFound as exc:
            if reference in self.ids:
                raise self._moved(reference, None) from exc
            raise SubmissionError(
                f"image {reference!r} is not present on this engine (nothing is pulled): give a "
                "local reference (`docker images`), a `docker save` tarball, or a folder with a "
                "Dockerfile."
            ) from exc
        except APIError as exc:
            raise SubmissionError(
                f"image {reference!r}: the engine cannot look it up: {exc.explanation or exc}"
            ) from exc
        before = self.ids.setdefault(reference, image.id)
        if before != image.id:
            raise self._moved(reference, image.id)
        return image

    def keep(self, reference: str, image_id: str) -> None:
        """Pin a tag selma3d itself just gave ``image_id`` (a build's, a loaded tarball's)."""
        self.ids[reference] = image_id

    def current(self, references: Iterable[str]) -> dict[str, str | None]:
        """The id each of ``references`` names now (None for a missing or malformed one)."""
        # Docker's SDK is loaded only where an engine is called, as connect() loads it.
        from docker.errors import APIError, ImageNotFound

        now: dict[str, str | None] = {}
        for ref in references:
            try:
                check_reference(ref)
                now[ref] = self.client.images.get(ref).id
            except (ImageNotFound, APIError, SubmissionError):
                now[ref] = None
        return now

    def verify(self, *, when: str) -> None:
        """Check that every pinned tag still names its image.

        Raises
        ------
        ConfigError
            Naming each tag that moved, what it named and what it names now.
        """
        now = self.current(self.ids)
        moved = [ref for ref, image_id in self.ids.items() if now[ref] != image_id]
        if moved:
            raise self._moved(moved[0], now[moved[0]], when=when, more=moved[1:])

    def _moved(
        self, ref: str, now: str | None, *, when: str = "", more: Iterable[str] = ()
    ) -> ConfigError:
        others = ", ".join(repr(m) for m in more)
        return ConfigError(
            f"image tag {ref!r} moved during {self.during}"
            + (f" ({when})" if when else "")
            + f": it named {self.ids[ref]} when {self.during} pinned it and names "
            + (now if now else "no image")
            + " now"
            + (f" (and so did {others})" if others else "")
            + "; something re-tagged it on this engine (`docker tag`, `docker load`, a build). "
            "Refusing to go on with images that may not be the ones resolved; rerun once "
            "nothing else changes the tag."
        )


_FROM = re.compile(r"^(\s*FROM\s+)((?:--\S+\s+)*)(\S+)(.*)$", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*$", re.IGNORECASE)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def dockerfile_bases(dockerfile: Path) -> list[str]:
    """The images a Dockerfile's ``FROM`` lines build on (not earlier stages, not ``scratch``).

    A build argument in a ``FROM`` line is replaced by its default from an ``ARG`` line before
    the first ``FROM``.

    Raises
    ------
    SubmissionError
        A ``FROM`` uses a build argument without a default (the base could not be pinned).
    """
    return [base for _, base in _from_lines(dockerfile) if base is not None]


def _from_lines(dockerfile: Path) -> list[tuple[int, str | None]]:
    """(line index, base image or None for a stage or ``scratch``) of every ``FROM`` line."""
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    args: dict[str, str] = {}
    stages: set[str] = set()
    out: list[tuple[int, str | None]] = []
    for i, line in enumerate(lines):
        arg = _ARG.match(line)
        if arg and not out and arg.group(2) is not None:
            args[arg.group(1)] = arg.group(2).strip("\"'")
        m = _FROM.match(line)
        if not m:
            continue
        image = m.group(3)
        rest = m.group(4).split()
        if len(rest) >= 2 and rest[0].lower() == "as":
            stages.add(rest[1].lower())

        def value(var: re.Match[str], where: int = i) -> str:
            if var.group(1) not in args:
                raise SubmissionError(
                    f"{dockerfile}: line {where + 1}: FROM uses the build argument "
                    f"{var.group(1)} with no default before the first FROM; name the base "
                    "image (it is pinned to its id before the build)."
                )
            return args[var.group(1)]

        image = _VAR.sub(value, image)
        out.append((i, None if image.lower() in stages or image == "scratch" else image))
    return out


def pin_dockerfile(dockerfile: Path, pins: ImagePins) -> list[str]:
    """Rewrite a staged Dockerfile's ``FROM`` lines to the pinned ids of their bases.

    Returns the bases, in order. The tags are pinned (looked up once) if they were not yet.
    """
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    bases = []
    for i, base in _from_lines(dockerfile):
        if base is None:
            continue
        image = pins.pin(base)
        m = _FROM.match(lines[i])
        if m is None:  # matched when listed
            raise SubmissionError(f"{dockerfile}: line {i + 1} is not a FROM line.")
        lines[i] = f"{m.group(1)}{m.group(2)}{image.id}{m.group(4)}"
        bases.append(base)
    dockerfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bases


def build_folder(
    folder: str | Path,
    tag: str | None = None,
    *,
    client: Any | None = None,
    labels: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
    pins: ImagePins | None = None,
    timeout_s: float = DEFAULT_BUILD_TIMEOUT_S,
) -> ImageInfo:
    """Build a submission folder offline, on its bases' pinned ids, and return its image.

    The folder is staged into a temporary context with a ``wheels/`` folder holding the wheels
    of its ``requirements.txt`` (downloaded on the host), its ``FROM`` lines rewritten to the ids
    of their bases (pinned in ``pins``), then built with no network. An image already carrying
    the folder's hash is reused.

    Parameters
    ----------
    folder : str or Path
        Holds a ``Dockerfile``.
    tag : str, optional
        Defaults to ``selma3d-submission/<folder name>:<hash prefix>``.
    labels : dict, keyword-only
        Extra image labels.
    pins : ImagePins, keyword-only, optional
        The command's pins; default: pins of this build alone.
    timeout_s : float, keyword-only
        How long the build may take (``build_timeout_s``); then it is stopped, its container
        removed by the engine, and the folder refused.

    Raises
    ------
    SubmissionError
        No Dockerfile, a base that is missing, missing wheels, the build failed (with the end
        of its log) or ran past ``timeout_s``.
    """
    folder = resolved(folder)
    if tag is not None:
        check_tag(tag)
    if not (folder / "Dockerfile").is_file():
        raise SubmissionError(f"{folder}: no Dockerfile; a submission folder must contain one.")
    with engine_client(client) as client:
        pins = pins if pins is not None else ImagePins(client, during="the build")
        try:
            digest = folder_hash(folder)
        except TreeTooDeep as exc:
            raise SubmissionError(
                f"{folder}: {exc.relative} nests folders too deep; a submission folder nests "
                f"folders at most {exc.limit} deep."
            ) from exc
        base_ids = []
        for base in dockerfile_bases(folder / "Dockerfile"):
            try:
                base_ids.append(f"{base}|{pins.pin(base).id}")
            except SubmissionError as exc:
                if base.startswith("selma3d/"):
                    # Without this the engine would look for it in a registry and fail obscurely.
                    raise SubmissionError(
                        f"{folder}: its base image {base} is not on this engine; build the base "
                        "images first with `make images` (or `selma3d images build`)."
                    ) from exc
                raise SubmissionError(f"{folder}: its base image: {exc}") from exc
        if base_ids:
            # A rebuilt base image (e.g. after `make images`) must rebuild the submission too.
            digest = (
                "sha256:" + hashlib.sha256(f"{digest}|{'|'.join(base_ids)}".encode()).hexdigest()
            )
        safe_name = "".join(
            c if c.isalnum() or c in "._-" else "-" for c in folder.name.lower()
        ).strip(".-")
        tag = tag or f"selma3d-submission/{safe_name or 'folder'}:{digest[7:19]}"
        existing = pins.current([tag])[tag]
        if existing is not None:
            image = client.images.get(existing)
            if (image.labels or {}).get(SPEC_HASH_LABEL) == digest:
                pins.keep(tag, image.id)
                return image_info(image, tag)
        ctx = stage_context(folder, log=log)
        try:
            pin_dockerfile(ctx / "Dockerfile", pins)
            image = docker_build(
                client,
                ctx,
                tag,
                labels={SPEC_HASH_LABEL: digest, **(labels or {})},
                error=SubmissionError,
                what=str(folder),
                log=log,
                timeout_s=timeout_s,
            )
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
        pins.keep(tag, image.id)
        return image_info(image, tag)


def image_info(image: Any, ref: str) -> ImageInfo:
    """What the runner needs of an engine's image: id, user (resolved), label and volumes.

    Parameters
    ----------
    image : docker.models.images.Image
    ref : str
        The reference it was resolved by (recorded; containers are created from the id).
    """
    config = image.attrs.get("Config") or {}
    user = str(config.get("User") or "")
    return ImageInfo(
        ref=ref,
        digest=image.id,
        user=user,
        api_method=str((config.get("Labels") or {}).get(API_METHOD_LABEL) or ""),
        volumes=tuple(sorted(config.get("Volumes") or {})),
        run_as=resolve_user(image.client, image.id, user),
    )


def tarball_tag(tarball: Any, name: str) -> str:
    """The one tag a loaded tarball gets: ``selma3d-tarball/<name>:<sha256 of the file>``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> tarball_tag(SimpleNamespace(sha256="sha256:" + "ab" * 32), "Team A")
    'selma3d-tarball/team-a:abababababababababababababababab'
    """
    safe = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "image"
    return f"{TARBALL_REPOSITORY}/{safe[:100]}:{tarball.sha256.removeprefix('sha256:')[:32]}"


def load_tarball(
    path: Path,
    *,
    client: Any,
    pins: ImagePins,
    name: str | None = None,
    log: Callable[[str], None] = print,
) -> ImageInfo:
    """Read a ``docker save`` tarball, load its image under selma3d's tag alone, and check pins.

    Raises
    ------
    SubmissionError
        The tarball is refused (:func:`~harness.containers.image_tarball.read_image_tarball`)
        or the engine refused its image.
    ConfigError
        A pinned tag, or a tag the tarball asked for, moved during the load.
    """
    tarball = read_image_tarball(path)
    tag = tarball_tag(tarball, name or path.name.split(".")[0])
    if tarball.names:
        log(
            f"{path}: asks for the name(s) {', '.join(tarball.names)}; not applied, loaded as "
            f"{tag} ({tarball.image_id[:19]})"
        )
    # The names it asks for are watched too: none may move, even one nobody pinned yet.
    asked = pins.current(tarball.names)
    image = load_image_tarball(client, tarball, tag)
    pins.verify(when=f"after loading {path}")
    after = pins.current(tarball.names)
    moved = [ref for ref in asked if asked[ref] != after[ref]]
    if moved:
        raise ConfigError(
            f"image tarball {path}: loading it moved the tag(s) {', '.join(moved)}, which it "
            "asked for; refusing to go on."
        )
    pins.keep(tag, image.id)
    return image_info(image, tag)


def resolve_image(
    image: str | Path,
    *,
    client: Any | None = None,
    log: Callable[[str], None] = print,
    pins: ImagePins | None = None,
    name: str | None = None,
    build_timeout_s: float = DEFAULT_BUILD_TIMEOUT_S,
) -> ImageInfo:
    """Turn what the user gave into a local image, pinned by its id.

    Parameters
    ----------
    image : str or Path
        An image reference (``team/algo:1``), a ``docker save`` tarball (``.tar``, ``.tar.gz``,
        ``.tgz``: read, then loaded under a tag of selma3d's alone, see :func:`load_tarball`)
        or a folder with a Dockerfile (built offline on its bases' pinned ids).
    pins : ImagePins, keyword-only, optional
        The command's pins (the reference, a build's bases and the tag given to the result are
        added); default: pins of this call alone.
    name : str, keyword-only, optional
        Names a loaded tarball's tag (a team's name); default: the file's name.
    build_timeout_s : float, keyword-only
        A folder's build time limit.

    Raises
    ------
    SubmissionError
        The reference is malformed or not present locally (nothing is pulled), the tarball is
        refused or holds no image, or the folder does not build.
    ConfigError
        A pinned tag moved.
    """
    with engine_client(client) as client:
        pins = pins if pins is not None else ImagePins(client)
        path = Path(image)
        text = str(image)
        if path.is_dir():
            return build_folder(path, client=client, log=log, pins=pins, timeout_s=build_timeout_s)
        if text.lower().endswith(_TARBALL_SUFFIXES):
            if not path.is_file():
                raise SubmissionError(
                    f"image tarball {path}: "
                    + ("not a regular file." if path.exists() else "no such file.")
                )
            return load_tarball(path, client=client, pins=pins, name=name, log=log)
        return image_info(pins.pin(text), text)
