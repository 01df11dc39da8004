"""Fixtures of the cluster tests: a small synthetic split, the test images and a tarball."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.rounds.cluster import (
    save_image_tarball,
)
from harness.split.manifest import load_split
from harness.split.synth import synthesize_split
from tests.harness.rounds.cluster.support import (
    MISBEHAVING,
    TEMPLATE,
)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):

    root = tmp_path_factory.mktemp("cluster") / "split"
    synthesize_split(root, cases=3, size=(24, 24, 24), seed=5)
    return load_split(root)


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    from harness.containers.images import build_folder

    quiet = {"log": lambda message: None}
    build_folder(MISBEHAVING / "_base", "selma3d-test/misbehaving-base:latest", **quiet)
    return {
        "template": build_folder(TEMPLATE, "selma3d-test/template:latest", **quiet).ref,
        "slow": build_folder(MISBEHAVING / "slow", "selma3d-test/slow:latest", **quiet).ref,
        "exit-3": build_folder(MISBEHAVING / "exit-3", "selma3d-test/exit-3:latest", **quiet).ref,
    }


@pytest.fixture(scope="module")
def tarballs(images, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The slow image saved once; rounds of it start with a link to it (a round saves an image
    only when its folder has no tarball of that digest)."""
    from harness.containers.engine import engine_client

    with engine_client() as client:
        digest = client.images.get(images["slow"]).id
        return save_image_tarball(client, images["slow"], digest, tmp_path_factory.mktemp("images"))
