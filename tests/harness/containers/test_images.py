"""Images without a registry: spec files, order, folder hashes, root users, cache, staging."""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

import baselines
from common.errors import ConfigError
from harness.assets import asset_dir
from harness.containers.base_images import (
    Debootstrap,
    ImageSpec,
    build_specs,
    cache_dir,
    discover_specs,
    folder_hash,
    load_spec,
    order_specs,
    package_folder,
    stage_context,
)
from harness.containers.engine import engine_traits
from harness.containers.images import (
    ImagePins,
    build_folder,
    dockerfile_bases,
    is_root_user,
    resolve_user,
)
from harness.errors import SubmissionError
from tests.harness.containers.build_containers import SLEEPER_S, wait_for_no_build_containers


def spec_folder(root: Path, name: str, image_yaml: str | None, dockerfile: str | None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    if image_yaml is not None:
        (folder / "image.yaml").write_text(image_yaml)
    if dockerfile is not None:
        (folder / "Dockerfile").write_text(dockerfile)
    return folder


# ---- spec files --------------------------------------------------------------------------------


def test_a_spec_reads_its_fields_and_defaults_from_the_dockerfile(tmp_path):
    folder = spec_folder(tmp_path, "tools", None, "# comment\nFROM selma3d/python:3.11\nRUN true\n")
    spec = load_spec(folder)
    assert (spec.name, spec.tag, spec.base, spec.include, spec.debootstrap) == (
        "tools",
        "selma3d/tools:latest",
        "selma3d/python:3.11",
        (),
        None,
    )
    folder = spec_folder(
        tmp_path,
        "full",
        "tag: x/full:2\nbase: x/base:1\nregistry_base: python:3.11-slim\ninclude: [baselines]\n",
        "ARG BASE=x/base:1\nFROM ${BASE}\n",
    )
    spec = load_spec(folder)
    assert (spec.tag, spec.base, spec.registry_base, spec.include) == (
        "x/full:2",
        "x/base:1",
        "python:3.11-slim",
        ("baselines",),
    )
    rootfs = load_spec(
        spec_folder(tmp_path, "fs", "base: none\ndebootstrap: {suite: bookworm}\n", None)
    )
    assert rootfs.base is None
    assert rootfs.debootstrap == Debootstrap(suite="bookworm", variant="minbase", packages=())


@pytest.mark.parametrize(
    ("image_yaml", "dockerfile", "words"),
    [
        ("tga: x/y:1\n", "FROM a\n", "tga: Extra inputs are not permitted"),
        ("include: [../secrets]\n", "FROM a\n", "include: include names Python packages"),
        ("include: baselines\n", "FROM a\n", "include"),
        ("debootstrap: {variant: minbase}\n", None, "debootstrap.suite: Field required"),
        ("- a list\n", "FROM a\n", "must be a mapping"),
        ("tag: [unclosed\n", "FROM a\n", "not valid YAML"),
        ("tag: x/y:1\n", None, "needs a Dockerfile (or a debootstrap section)"),
    ],
)
def test_a_bad_spec_names_its_file_and_field(tmp_path, image_yaml, dockerfile, words):
    folder = spec_folder(tmp_path, "bad", image_yaml, dockerfile)
    with pytest.raises(ConfigError) as err:
        load_spec(folder)
    assert str(folder) in str(err.value) and words in str(err.value)


def test_the_shipped_specs_build_in_dependency_order():
    names = [s.name for s in discover_specs()]
    assert sorted(names) == ["baselines", "baselines-torch", "evaluation", "python", "rootfs"]
    assert names.index("rootfs") < names.index("python")
    assert names.index("python") < min(names.index("baselines"), names.index("baselines-torch"))
    assert names.index("baselines") < names.index("evaluation")
    assert [s.name for s in discover_specs(asset_dir("docker"))] == names


def test_ordering_puts_bases_first_and_refuses_cycles_and_twins():
    a = ImageSpec("a", Path("a"), "x/a:1", base="x/c:1")
    b = ImageSpec("b", Path("b"), "x/b:1", base="x/a:1")
    c = ImageSpec("c", Path("c"), "x/c:1", base="elsewhere/base:1")
    assert [s.name for s in order_specs([b, a, c])] == ["c", "a", "b"]
    looped = ImageSpec("c", Path("c"), "x/c:1", base="x/b:1")
    with pytest.raises(ConfigError, match="cycle: x/a:1 -> x/c:1 -> x/b:1 -> x/a:1"):
        order_specs([a, b, looped])
    with pytest.raises(ConfigError, match="both build x/a:1"):
        order_specs([a, ImageSpec("a2", Path("a2"), "x/a:1")])


# ---- folder hashes -----------------------------------------------------------------------------


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "Dockerfile").write_bytes(b"FROM x\n")
    (root / "sub" / "a.py").write_bytes(b"print(1)\n")
    return root


def test_a_folder_hash_is_the_documented_digest_of_names_and_contents(tmp_path):
    folder = make_tree(tmp_path / "f")
    h = hashlib.sha256()
    for name, data in (("Dockerfile", b"FROM x\n"), ("sub/a.py", b"print(1)\n")):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    assert folder_hash(folder) == "sha256:" + h.hexdigest()


def test_a_folder_hash_is_stable_and_sensitive(tmp_path):
    folder = make_tree(tmp_path / "f")
    first = folder_hash(folder)
    assert folder_hash(folder) == first
    # Elsewhere, with caches beside the files: the same hash.
    moved = make_tree(tmp_path / "elsewhere" / "g")
    (moved / "__pycache__").mkdir()
    (moved / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (moved / "sub" / "b.pyc").write_bytes(b"\0")
    assert folder_hash(moved) == first
    (moved / "sub" / "a.py").write_bytes(b"print(2)\n")
    assert folder_hash(moved) != first
    (moved / "sub" / "a.py").write_bytes(b"print(1)\n")
    assert folder_hash(moved) == first
    (moved / "sub" / "a.py").rename(moved / "sub" / "c.py")
    assert folder_hash(moved) != first


def test_included_folders_are_hashed_under_their_names(tmp_path):
    folder = make_tree(tmp_path / "f")
    pkg = tmp_path / "somewhere" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_bytes(b"X = 1\n")
    with_pkg = folder_hash(folder, extra={"pkg": pkg})
    assert with_pkg not in (folder_hash(folder), folder_hash(folder, extra={"other": pkg}))
    h = hashlib.sha256()
    for name, data in (
        ("Dockerfile", b"FROM x\n"),
        ("sub/a.py", b"print(1)\n"),
        ("pkg/__init__.py", b"X = 1\n"),
    ):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    assert with_pkg == "sha256:" + h.hexdigest()


# ---- users, cache, staging ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("", True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:staff", True),
        (" root ", True),
        ("app", False),
        ("1000", False),
        ("1000:1000", False),
        ("app:0", False),
        # Numbers are compared as numbers, as the engine reads them: uid 0 is root.
        ("00", True),
        ("000:1000", True),
        ("0100", False),
    ],
)
def test_root_users_are_recognised(user, root):
    assert is_root_user(user) is root


def test_the_cache_is_the_env_then_xdg_then_home_and_never_in_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SELMA3D_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("SELMA3D_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "selma3d"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid by the XDG specification
    assert cache_dir() == tmp_path / "home" / ".cache" / "selma3d"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "selma3d"
    monkeypatch.setenv("SELMA3D_CACHE", "")
    assert cache_dir() == tmp_path / "home" / ".cache" / "selma3d"


def test_an_included_package_is_found_where_it_is_imported_from(tmp_path):
    assert package_folder("baselines") == Path(baselines.__file__).resolve().parent
    with pytest.raises(ConfigError, match="'no_such_package_here' is not an importable"):
        package_folder("no_such_package_here")
    # A module is not a package: there is no folder to stage.
    with pytest.raises(ConfigError, match="'string' is not an importable Python package"):
        package_folder("string", spec=tmp_path)


def test_staging_copies_the_folder_and_included_packages_without_caches(tmp_path, monkeypatch):
    site = tmp_path / "site"
    pkg = site / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    (pkg / "sub" / "mod.py").write_text("Y = 2\n")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (pkg / "sub" / "stale.pyc").write_bytes(b"\0")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    source = spec_folder(tmp_path, "ctx-src", None, "FROM x\n")
    (source / "requirements.txt").write_text("# nothing to install\n")
    ctx = stage_context(source, include={"fakepkg": package_folder("fakepkg")})
    try:
        staged = sorted(p.relative_to(ctx).as_posix() for p in ctx.rglob("*"))
        assert staged == [
            "Dockerfile",
            "fakepkg",
            "fakepkg/__init__.py",
            "fakepkg/sub",
            "fakepkg/sub/mod.py",
            "requirements.txt",
            "wheels",
        ]
        assert (ctx / "fakepkg" / "sub" / "mod.py").read_text() == "Y = 2\n"
    finally:
        shutil.rmtree(ctx)


def test_building_an_unknown_spec_is_refused_before_the_engine_is_asked(tmp_path):
    spec = tmp_path / "python"
    spec.mkdir()
    (spec / "Dockerfile").write_text("FROM scratch\n")
    refused = r"--only: no image spec named 'nothing'; the specs are python"
    with pytest.raises(ConfigError, match=refused):
        # No engine is reachable through this client: the refusal must come first.
        build_specs(tmp_path, only=("nothing",), client=object())


def test_a_cache_that_is_not_a_folder_is_refused_naming_it(tmp_path, monkeypatch):
    cache = tmp_path / "cache-file"
    cache.write_text("not a folder\n")
    monkeypatch.setenv("SELMA3D_CACHE", str(cache))
    with pytest.raises(ConfigError, match="SELMA3D_CACHE") as err:
        cache_dir()
    assert str(cache) in str(err.value)


@pytest.mark.parametrize("reference", ["UPPER CASE::", "team/seg::", "a b", "-x/y:1", ""])
def test_a_malformed_reference_is_refused_before_the_engine_is_asked(reference):
    with pytest.raises(SubmissionError, match="is not a valid image reference"):
        # No engine answers through this client: the refusal must come first.
        ImagePins(object()).pin(reference)


def test_the_bases_of_a_dockerfile_are_its_from_images_but_stages_and_scratch(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG BASE=selma3d/python:3.11\n"
        "FROM --platform=linux/amd64 ${BASE} AS build\n"
        "RUN echo\n"
        "from build\n"
        "FROM scratch\n"
        "FROM team/tools:2 as tools\n"
    )
    assert dockerfile_bases(dockerfile) == ["selma3d/python:3.11", "team/tools:2"]
    dockerfile.write_text("ARG BASE\nFROM $BASE\n")
    with pytest.raises(SubmissionError, match="build argument BASE with no default"):
        dockerfile_bases(dockerfile)


@pytest.fixture
def engine(engine_client):  # type: ignore[no-untyped-def]
    return engine_client


def _own_tag(client, image_id: str, uid: str, name: str) -> str:  # type: ignore[no-untyped-def]
    repository = f"selma3d-pintest-{uid}/{name}"
    client.images.get(image_id).tag(repository, "1")
    return f"{repository}:1"


@pytest.mark.docker
def test_a_pinned_tag_that_moves_is_refused_naming_it(engine):
    uid = uuid.uuid4().hex[:10]
    rootfs = engine.images.get("selma3d/rootfs:bookworm").id
    python = engine.images.get("selma3d/python:3.11").id
    tag = _own_tag(engine, rootfs, uid, "moving")
    try:
        pins = ImagePins(engine, during="the round")
        assert pins.pin(tag).id == rootfs
        pins.verify(when="at once")
        engine.images.get(python).tag(f"selma3d-pintest-{uid}/moving", "1")  # re-tagged
        with pytest.raises(ConfigError, match="moved during the round") as err:
            pins.verify(when="before the containers started")
        assert tag in str(err.value) and rootfs in str(err.value) and python in str(err.value)
        with pytest.raises(ConfigError, match="moved"):
            pins.pin(tag)
    finally:
        engine.images.remove(tag)


@pytest.mark.docker
def test_a_folder_is_built_on_its_base_pinned_before_and_not_on_the_moved_tag(engine, tmp_path):
    uid = uuid.uuid4().hex[:10]
    rootfs = engine.images.get("selma3d/rootfs:bookworm").id
    base = _own_tag(engine, rootfs, uid, "base")
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM {base}\nRUN echo {uid} > /uid\n")
    tag = f"selma3d-pintest-{uid}/built:1"
    try:
        pins = ImagePins(engine, during="the round")
        pins.pin(base)
        info = build_folder(folder, tag, client=engine, pins=pins, log=lambda _: None)
        # Podman's history writes an id without its "sha256:" prefix.
        history = engine.images.get(info.digest).history()
        ancestors = {"sha256:" + step["Id"].removeprefix("sha256:") for step in history}
        assert rootfs in ancestors
        assert pins.ids[tag] == info.digest
        # Moved after the pinning: the next build refuses rather than build on it.
        engine.images.get("selma3d/python:3.11").tag(f"selma3d-pintest-{uid}/base", "1")
        (folder / "Dockerfile").write_text(f"FROM {base}\nRUN echo {uid}-2 > /uid\n")
        with pytest.raises(ConfigError, match=f"'{base}' moved"):
            build_folder(folder, tag, client=engine, pins=pins, log=lambda _: None)
    finally:
        for ref in (base, tag):
            engine.images.remove(ref, force=True)


@pytest.mark.docker
def test_a_build_past_its_time_limit_is_stopped_and_leaves_no_container(engine, tmp_path):
    uid = uuid.uuid4().hex[:10]
    folder = tmp_path / "sleeper"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        f"FROM selma3d/rootfs:bookworm\nRUN sleep {SLEEPER_S} && echo {uid}\n"
    )
    since = time.time()
    started = time.monotonic()
    with pytest.raises(SubmissionError, match="time limit of 4 s") as err:
        build_folder(folder, client=engine, timeout_s=4, log=lambda _: None)
    assert time.monotonic() - started < 60
    assert "build_timeout_s" in str(err.value) and str(folder) in str(err.value)
    # Docker cancels the build once its client is gone; Podman lets the step end first. Either
    # then removes the step's container.
    assert wait_for_no_build_containers(engine, uid, since=since) == []


# ---- users resolved from the image's /etc/passwd ------------------------------------------------


def _build_user_image(engine, tmp_path: Path, lines: str):  # type: ignore[no-untyped-def]
    folder = tmp_path / uuid.uuid4().hex[:10]
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM selma3d/python:3.11\n{lines}")
    tag = f"selma3d-test/user-{folder.name}:1"
    return build_folder(folder, tag, client=engine, log=lambda _: None), tag


@pytest.mark.docker
@pytest.mark.parametrize(
    ("lines", "run_as", "root"),
    [
        ('RUN echo "toor:x:0:0::/tmp:/bin/sh" >> /etc/passwd\nUSER toor\n', "0:0", True),
        ('RUN echo "toor:x:0:0::/tmp:/bin/sh" >> /etc/passwd\nUSER toor:100\n', "0:100", True),
        ("USER 00\n", "0", True),
        ("RUN useradd --uid 1234 --no-create-home app\nUSER app\n", "1234:1234", False),
        ("USER nobody\n", "65534:65534", False),
    ],
)
def test_a_user_name_is_resolved_to_its_uid_in_the_images_passwd(
    engine, tmp_path, lines, run_as, root
):
    info, tag = _build_user_image(engine, tmp_path, lines)
    try:
        assert (info.run_as, info.container_user, info.runs_as_root) == (run_as, run_as, root)
    finally:
        engine.images.remove(tag, force=True)
    # The container made to read the file is gone.
    made = engine.containers.list(all=True, filters={"ancestor": info.digest})
    assert made == []


@pytest.mark.docker
@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("USER ghost\n", "user 'ghost' is not in the image's /etc/passwd"),
        (
            "RUN cp /etc/passwd /tmp/p && rm /etc/passwd && ln -s /tmp/p /etc/passwd\nUSER app\n",
            "/etc/passwd is not a regular file",
        ),
        (
            'RUN echo "toor:x:zero:0::/tmp:/bin/sh" >> /etc/passwd\nUSER toor\n',
            "its /etc/passwd entry has uid 'zero' and gid '0'; expected numbers",
        ),
    ],
)
def test_a_user_name_that_cannot_be_resolved_is_refused(engine, tmp_path, lines, message):
    if "ln -s" in lines and engine_traits(engine).podman:
        # Podman's archive API follows the link, inside the image's own root: the copy it
        # reaches has no such user, refused all the same (docs/runner.md, "Engines").
        message = "user 'app' is not in the image's /etc/passwd"
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "Dockerfile").write_text(f"FROM selma3d/python:3.11\n{lines}")
    tag = f"selma3d-test/user-{uuid.uuid4().hex[:10]}:1"
    try:
        with pytest.raises(SubmissionError, match=re.escape(message)):
            build_folder(folder, tag, client=engine, log=lambda _: None)
        image_id = engine.images.get(tag).id
        with pytest.raises(SubmissionError, match=re.escape(message)):
            resolve_user(engine, image_id, lines.split("USER ")[1].strip())
    finally:
        engine.images.remove(tag, force=True)
