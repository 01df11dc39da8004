"""A worker lacking a team's image loads the round's tarball, checked by digest, moving no tag."""

from __future__ import annotations

import contextlib
import os

import pytest

from harness.errors import EngineError
from harness.rounds.cluster import (
    ensure_image,
    save_image_tarball,
)


@pytest.mark.docker
def test_a_worker_lacking_the_image_loads_the_rounds_tarball_checked_by_digest(
    tmp_path, engine_client
):
    from docker.errors import ImageNotFound

    client = engine_client
    context = tmp_path / "context"
    context.mkdir()
    (context / "payload").write_text(str(tmp_path))  # unique content: a unique image id
    # Labeled as an invoke server: the worker's runner must see it as one (it picks the contract).
    (context / "Dockerfile").write_text(
        "FROM scratch\nLABEL org.grand-challenge.api-method=invoke\nCOPY payload /payload\n"
    )
    tag = f"selma3d-test/tarball-{os.getpid()}:1"
    image, _ = client.images.build(path=str(context), tag=tag, rm=True, network_mode="none")
    other_context = tmp_path / "other"
    other_context.mkdir()
    (other_context / "payload").write_text("another image")
    (other_context / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    other, _ = client.images.build(path=str(other_context), rm=True, network_mode="none")
    try:
        tarball = save_image_tarball(client, tag, image.id, tmp_path / "images")
        assert tarball.name == image.id.split(":")[1] + ".tar"
        wrong = save_image_tarball(client, other.id, other.id, tmp_path / "images")
        client.images.remove(image.id, force=True)

        with pytest.raises(EngineError, match="round keeps no tarball"):
            ensure_image(client, tag, image.id, None)
        with pytest.raises(EngineError, match="does not match what was submitted"):
            ensure_image(client, tag, image.id, wrong)
        info = ensure_image(client, tag, image.id, tarball)
        assert info.digest == image.id and info.invoke
        # The copy was saved without names and loaded under selma3d's tag alone: the team's
        # tag is not created (nor moved) on the worker's engine.
        with pytest.raises(ImageNotFound):
            client.images.get(tag)
        loaded = client.images.get(image.id)
        assert loaded.tags == [f"selma3d-round-copy/image:{image.id.split(':')[1]}"]
    finally:
        for ref in (image.id, other.id):
            with contextlib.suppress(ImageNotFound):
                client.images.remove(ref, force=True)
