"""Resolve a submission to a local image: a reference, a ``docker save`` tarball, or a folder.

A folder with a Dockerfile is built offline (:func:`build_folder`: its ``requirements.txt`` from
wheels downloaded on the host, no network during the build; see
:mod:`harness.containers.base_images` for the machinery). A run records and compares an image by
its id (:attr:`ImageInfo.digest`), and refuses an image whose user is root
(:func:`is_root_user`) unless the organizers allow it.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.containers.base_images import (
    SPEC_HASH_LABEL,
    docker_build,
    dockerfile_base,
    folder_hash,
    stage_context,
)
from harness.errors import SubmissionError

__all__ = [
    "API_METHOD_LABEL",
    "ImageInfo",
    "build_folder",
    "check_tag",
    "image_info",
    "is_invoke",
    "is_root_user",
    "resolve_image",
]

API_METHOD_LABEL = "org.grand-challenge.api-method"
# Docker's reference grammar (distribution/reference): an optional registry host[:port], then
# lowercase path components separated by '/', then an optional ':tag'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
# A first component is a registry host only with a '.', a port, or as 'localhost' (as Docker).
_HOST = rf"(?:(?:{_LABEL}(?:\.{_LABEL})+(?::[0-9]+)?|{_LABEL}:[0-9]+|localhost)/)?"
_REFERENCE = re.compile(rf"^{_HOST}{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?$")
"""The image label by which grand-challenge picks an algorithm's interface (``invoke``)."""

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
    """

    ref: str
    digest: str
    user: str
    api_method: str = ""

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

    Examples
    --------
    >>> [is_root_user(u) for u in ("", "root", "0", "0:0", "root:staff", "app", "1000:1000")]
    [True, True, True, True, True, False, False]
    """
    name = (user or "").split(":", 1)[0].strip()
    return name in ("", "root", "0")


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
    if tag is not None:
        check_tag(tag)
    if not (folder / "Dockerfile").is_file():
        raise SubmissionError(f"{folder}: no Dockerfile; a submission folder must contain one.")
    client = client if client is not None else connect()
    digest = folder_hash(folder)
    base = dockerfile_base(folder / "Dockerfile")
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
            return image_info(existing, tag)
    except ImageNotFound:
        pass
    ctx = stage_context(folder, log=log)
    try:
        image = docker_build(
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
    return image_info(image, tag)


def image_info(image: Any, ref: str) -> ImageInfo:
    """What the runner needs of an engine's image: id, configured user and API-method label.

    Parameters
    ----------
    image : docker.models.images.Image
    ref : str
        The reference it is run by.
    """
    config = image.attrs.get("Config") or {}
    return ImageInfo(
        ref=ref,
        digest=image.id,
        user=str(config.get("User") or ""),
        api_method=str((config.get("Labels") or {}).get(API_METHOD_LABEL) or ""),
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

    from harness.containers.engine import connect, short_reference

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
        return image_info(img, short_reference(img.tags[0]) if img.tags else img.id)
    try:
        img = client.images.get(str(image))
    except ImageNotFound as exc:
        raise SubmissionError(
            f"image {image!r} is not present on this engine (nothing is pulled): give a local "
            "reference (`docker images`), a `docker save` tarball, or a folder with a Dockerfile."
        ) from exc
    return image_info(img, str(image))
