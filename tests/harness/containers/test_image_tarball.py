"""A ``docker save`` tarball is read before the engine sees it, and loaded under one tag alone."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from harness.containers.engine import short_reference
from harness.containers.image_tarball import (
    TarballLimits,
    load_image_tarball,
    read_image_tarball,
    rewritten,
)
from harness.errors import SubmissionError
from tests.harness.containers.hostile_tarballs import (
    declared_layer,
    named,
    oci_layout,
    synthetic_save,
)


def _add(dest: Path, src: Path, info: tarfile.TarInfo, data: bytes | None = None) -> Path:
    """``src`` with one member more (before the end-of-archive blocks)."""
    with tarfile.open(src) as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]
    with tarfile.open(dest, "w") as out:
        for m, d in [*members, (info, data)]:
            if d is not None:
                m.size = len(d)
            out.addfile(m, io.BytesIO(d) if d is not None else None)
    return dest


def test_a_docker_save_tarball_is_read_to_its_one_image_and_the_names_it_asks_for(tmp_path):
    image_id = synthetic_save(tmp_path / "a.tar", tags=("team-a/seg:1",))
    hostile = named(tmp_path / "a.tar", tmp_path / "b.tar", ["team-b/seg:1", "selma3d/python:3.11"])
    read = read_image_tarball(hostile)
    # The id is the sha256 of the config's bytes, worked out here by hand.
    assert read.image_id == image_id
    assert read.layout == "docker-archive" and len(read.layers) == 1
    # index.json's OCI annotation holds a tag alone ("1"): kept as asked, never applied.
    assert {"team-a/seg:1", "team-b/seg:1", "selma3d/python:3.11"} <= set(read.names)
    assert read.sha256 == "sha256:" + hashlib.sha256(hostile.read_bytes()).hexdigest()
    assert read.layer_bytes == len("hello")


@pytest.mark.parametrize("with_manifest", [True, False])
def test_the_oci_layout_of_docker_25_is_read_to_the_same_image(tmp_path, with_manifest):
    image_id = synthetic_save(tmp_path / "a.tar")
    oci = oci_layout(
        tmp_path / "a.tar", tmp_path / "oci.tar", ["team-b/seg:1"], with_manifest=with_manifest
    )
    read = read_image_tarball(oci)
    assert read.image_id == image_id
    assert read.layout == ("docker-archive" if with_manifest else "oci")
    assert "team-b/seg:1" in read.names


def test_a_gzip_compressed_tarball_is_read_too(tmp_path):
    image_id = synthetic_save(tmp_path / "a.tar")
    packed = tmp_path / "a.tar.gz"
    packed.write_bytes(gzip.compress((tmp_path / "a.tar").read_bytes()))
    assert read_image_tarball(packed).image_id == image_id


def test_the_rewritten_copy_names_one_tag_and_nothing_else(tmp_path):
    synthetic_save(tmp_path / "a.tar", tags=("team-a/seg:1",))
    hostile = named(tmp_path / "a.tar", tmp_path / "b.tar", ["team-b/seg:1"])
    read = read_image_tarball(hostile)
    copy = tmp_path / "copy.tar"
    copy.write_bytes(b"".join(rewritten(read, "selma3d-tarball/a:1")))
    with tarfile.open(copy) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert "repositories" not in names and "index.json" not in names
    assert manifest[0]["RepoTags"] == ["selma3d-tarball/a:1"]
    # The copy is itself a tarball of the same image.
    assert read_image_tarball(copy).image_id == read.image_id


def _cut(src: Path, dest: Path, size: int) -> Path:
    dest.write_bytes(src.read_bytes()[:size])
    return dest


def _members_end(src: Path) -> int:
    """Where the last member's data ends: what follows is the end-of-archive blocks."""
    with tarfile.open(src) as tar:
        tar.getmembers()
        return tar.offset


def _file(dest: Path, data: bytes) -> Path:
    dest.write_bytes(data)
    return dest


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d, s: _file(d / "empty.tar", b""), "is empty"),
        (lambda d, s: _cut(s, d / "cut.tar", 2000), "cut short"),
        (lambda d, s: _cut(s, d / "cut.tar", _members_end(s)), "cut short"),
        (lambda d, s: _cut(s, d / "cut.tar", 700), "cut short"),
        (lambda d, s: _file(d / "x.tar", b"not a tar\n"), "not a readable tar"),
    ],
    ids=["empty", "cut-in-a-member", "cut-before-the-end-blocks", "cut-in-a-header", "text"],
)
def test_an_empty_cut_or_non_tar_file_is_refused_naming_it(tmp_path, make, words):
    synthetic_save(tmp_path / "a.tar")
    bad = make(tmp_path, tmp_path / "a.tar")
    with pytest.raises(SubmissionError, match=words) as err:
        read_image_tarball(bad)
    assert str(bad) in str(err.value)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(
    ("info", "data", "words"),
    [
        (_member("../escape"), b"x", "climbs out"),
        (_member("/etc/passwd"), b"x", "absolute path"),
        (_member("dev", tarfile.CHRTYPE), None, "device"),
        (_member("fifo", tarfile.FIFOTYPE), None, "device or other special file"),
        (_member("out", tarfile.SYMTYPE, "../../etc/shadow"), None, "outside the tarball"),
        (_member("abs", tarfile.SYMTYPE, "/etc/shadow"), None, "outside the tarball"),
        (_member("hard", tarfile.LNKTYPE, "../x"), None, "outside the tarball"),
    ],
    ids=["dotdot", "absolute", "device", "fifo", "symlink-out", "symlink-absolute", "hardlink-out"],
)
def test_unsafe_members_are_refused_before_the_engine_sees_them(tmp_path, info, data, words):
    synthetic_save(tmp_path / "a.tar")
    bad = _add(tmp_path / "bad.tar", tmp_path / "a.tar", info, data)
    with pytest.raises(SubmissionError, match=words) as err:
        read_image_tarball(bad)
    assert str(bad) in str(err.value)


def test_a_layer_declaring_more_than_the_file_may_unpack_to_is_refused(tmp_path):
    synthetic_save(tmp_path / "a.tar")
    # A few kilobytes declaring 8 GiB: the engine would write the 8 GiB before failing.
    bomb = declared_layer(tmp_path / "a.tar", tmp_path / "bomb.tar", 8 << 30)
    assert bomb.stat().st_size < 64 << 10
    with pytest.raises(SubmissionError, match="declares more than 1073741824 bytes") as err:
        read_image_tarball(bomb)
    assert str(bomb) in str(err.value)


def test_the_limits_on_members_and_expansion_hold(tmp_path):
    synthetic_save(tmp_path / "a.tar", text="x" * 5000)
    with pytest.raises(SubmissionError, match="more than 3 members"):
        read_image_tarball(tmp_path / "a.tar", limits=TarballLimits(max_members=3))
    small = TarballLimits(max_expansion=0.5, min_allowance_bytes=0)
    with pytest.raises(SubmissionError, match="declare more than"):
        read_image_tarball(tmp_path / "a.tar", limits=small)
    with pytest.raises(SubmissionError, match="over the cap"):
        read_image_tarball(tmp_path / "a.tar", limits=TarballLimits(max_file_bytes=100))


def test_two_images_or_none_are_refused(tmp_path):
    synthetic_save(tmp_path / "a.tar")
    with tarfile.open(tmp_path / "a.tar") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]
    twice = [
        (m, json.dumps(manifest * 2).encode() if m.name == "manifest.json" else d)
        for m, d in members
    ]
    none = [(m, d) for m, d in members if m.name != "manifest.json"]
    for name, content, words in (
        ("two.tar", twice, "lists 2 images"),
        ("none.tar", none, "neither manifest.json nor index.json"),
    ):
        with tarfile.open(tmp_path / name, "w") as out:
            for m, d in content:
                if d is not None:
                    m.size = len(d)
                out.addfile(m, io.BytesIO(d) if d is not None else None)
        with pytest.raises(SubmissionError, match=words):
            read_image_tarball(tmp_path / name)


def test_a_layer_that_is_not_a_tar_is_refused(tmp_path):
    synthetic_save(tmp_path / "a.tar")
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar]
    with tarfile.open(tmp_path / "bad.tar", "w") as out:
        for m, d in members:
            if m.name.endswith("layer.tar"):
                d = b"\x28\xb5\x2f\xfd" + b"zstd is not read" * 40
            if d is not None:
                m.size = len(d)
            out.addfile(m, io.BytesIO(d) if d is not None else None)
    with pytest.raises(SubmissionError, match="is not a tar archive"):
        read_image_tarball(tmp_path / "bad.tar")


@pytest.mark.docker
def test_loading_a_tarball_that_names_other_tags_moves_none_of_them(tmp_path, engine_client):
    client = engine_client
    uid = uuid.uuid4().hex[:10]
    victim, evaluation = f"selma3d-pintest-{uid}/victim:1", f"selma3d-pintest-{uid}/evaluation:1"
    shared = "selma3d/python:3.11"
    base = client.images.get("selma3d/rootfs:bookworm")
    base.tag(f"selma3d-pintest-{uid}/victim", "1")
    base.tag(f"selma3d-pintest-{uid}/evaluation", "1")
    before = {ref: client.images.get(ref).id for ref in (victim, evaluation, shared)}
    image_id = synthetic_save(tmp_path / "a.tar", text=uid)
    hostile = named(tmp_path / "a.tar", tmp_path / "hostile.tar", [victim, evaluation, shared])
    tag = f"selma3d-tarball/pintest-{uid}:1"
    try:
        read = read_image_tarball(hostile)
        image = load_image_tarball(client, read, tag)
        after = {ref: client.images.get(ref).id for ref in before}
        assert image.id == image_id
        # Podman names a loaded image localhost/...: the one tag, as Docker writes it.
        assert [short_reference(t) for t in image.tags] == [tag]
        assert after == before
    finally:
        # The shared tag is restored if anything moved it, and the restore checked.
        if client.images.get(shared).id != before[shared]:
            client.images.get(before[shared]).tag("selma3d/python", "3.11")
            assert client.images.get(shared).id == before[shared]
        for ref in (victim, evaluation, tag):
            client.images.remove(ref)
