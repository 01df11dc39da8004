"""A round's copies of its images: saved once by the organizer, loaded by a worker lacking one.

A copy is saved without any name and loaded the way a participant's tarball is
(:mod:`harness.containers.image_tarball`): under one tag of selma3d's, so loading it on a worker
moves no tag of that worker's engine; the loaded image must have the id the organizer pinned.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from common.files import atomic_path
from harness.containers.image_tarball import load_image_tarball, read_image_tarball
from harness.containers.images import image_info
from harness.errors import EngineError, SubmissionError

__all__ = ["ensure_image", "save_image_tarball"]


def ensure_image(client: Any, ref: str, digest: str, tarball: Path | None) -> Any:
    """Make sure the engine has the image with id ``digest``; load it from ``tarball`` if not.

    Returns
    -------
    harness.containers.images.ImageInfo
        For ``digest`` (the id every container is created from), its configured user and its
        API-method label (which contract the runner uses).

    Raises
    ------
    EngineError
        The image is missing and there is no tarball, or the tarball holds another image
        (infrastructure: never charged to the team).
    """
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import ImageNotFound

    try:
        image = client.images.get(digest)
    except ImageNotFound:
        if tarball is None:
            raise EngineError(
                f"image {ref} ({digest}) is not on the engine of {socket.gethostname()} and the "
                "round keeps no tarball of it."
            ) from None
        try:
            saved = read_image_tarball(tarball)
            if saved.image_id != digest:
                raise EngineError(
                    f"{tarball}: holds image {saved.image_id}, not {digest} of {ref}; the "
                    "round's copy does not match what was submitted."
                )
            hex_ = digest.removeprefix("sha256:")
            image = load_image_tarball(client, saved, f"selma3d-round-copy/image:{hex_}")
        except SubmissionError as exc:
            raise EngineError(f"the round's copy of {ref} cannot be loaded: {exc}") from exc
    # Its labels too: an invoke image must reach the runner as one (it picks the contract).
    return image_info(image, ref)


def save_image_tarball(client: Any, ref: str, digest: str, folder: Path) -> Path:
    """``docker save`` the image ``digest`` into ``folder`` once; return the tarball's path.

    Named after the digest, so an existing file is that image and is kept. Saved by its id,
    without names: loading it can create no tag but the one selma3d gives it.
    """
    path = folder / f"{digest.removeprefix('sha256:')}.tar"
    if path.is_file():
        return path
    image = client.images.get(digest)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        for chunk in image.save(named=False):
            fh.write(chunk)
    return path
