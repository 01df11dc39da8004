"""Images pinned by content: hostile tarballs, bad images and moved tags, through the real CLI.

Two attacking teams submit ``docker save`` tarballs naming another team's tag, the evaluation
image's tag and ``selma3d/python:3.11`` (one in Docker's layout, one in the OCI layout of Docker
25 and later); other teams submit a cut-short tarball, a malformed reference and a build that
runs far past its limit. The round goes on with every other team, runs each image by its pinned
id, and moves no tag. Every tag these tests create is their own (``selma3d-pintest-<uid>/...``); the
shared ``selma3d/python:3.11`` is only named by the tarballs, and restored (and the restore
checked) if anything ever moved it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.assets import asset_dir
from harness.containers.images import build_folder
from harness.evaluation import write_ground_truth
from harness.split.synth import synthesize_split
from tests.harness.containers.build_containers import SLEEPER_S, wait_for_no_build_containers
from tests.harness.containers.hostile_tarballs import (
    declared_layer,
    docker_save,
    named,
    oci_layout,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SHARED = "selma3d/python:3.11"
TEMPLATE = asset_dir("submissions") / "template"
EVALUATION = asset_dir("submissions") / "template-evaluation"
# An attacker's image: it writes nothing, so a victim running it would get no prediction, and
# as the evaluation container it would print into the report.
ATTACKER = """\
FROM selma3d/rootfs:bookworm
RUN useradd --uid 1000 --no-create-home attacker && echo {uid} > /uid
USER attacker
ENTRYPOINT ["python3", "-c", "print('ATTACKER {uid} RAN HERE')"]
"""


def selma3d(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    """Run the real CLI in a subprocess; (exit code, stdout + stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def client(engine_client):  # type: ignore[no-untyped-def]
    return engine_client


@pytest.fixture(scope="module")
def shared_tag_kept(client):  # type: ignore[no-untyped-def]
    """The shared relay/base tag's id; restored (and the restore checked) if a test moved it."""
    before = client.images.get(SHARED).id
    yield before
    if client.images.get(SHARED).id != before:
        client.images.get(before).tag("selma3d/python", "3.11")
        assert client.images.get(SHARED).id == before
        pytest.fail(f"{SHARED} was moved by a test and has been restored")


@pytest.fixture(scope="module")
def world(tmp_path_factory, client, shared_tag_kept):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("pinning")
    uid = uuid.uuid4().hex[:10]
    mine = f"selma3d-pintest-{uid}"
    split = synthesize_split(root / "split", cases=2, size=(32, 32, 32), seed=7)
    quiet = {"client": client, "log": lambda _: None}
    victim = build_folder(TEMPLATE, f"{mine}/victim:1", **quiet)
    evaluation = build_folder(EVALUATION, f"{mine}/evaluation:1", **quiet)
    targets = [victim.ref, evaluation.ref, SHARED]
    tarballs, attackers = {}, []
    for name in ("attacker-a", "attacker-b"):
        folder = root / name
        folder.mkdir()
        (folder / "Dockerfile").write_text(ATTACKER.format(uid=f"{uid}-{name}"))
        image = build_folder(folder, f"{mine}/{name}:1", **quiet)
        attackers.append(image.digest)
        docker_save(client, image.ref, root / f"{name}-saved.tar")
        # Removed again, so the round's load really loads it.
        client.images.remove(image.ref)
    tarballs["attacker-a"] = named(root / "attacker-a-saved.tar", root / "attacker-a.tar", targets)
    tarballs["attacker-b"] = oci_layout(
        root / "attacker-b-saved.tar", root / "attacker-b.tar", targets, with_manifest=False
    )
    saved = (root / "attacker-a-saved.tar").read_bytes()
    (root / "cut.tar").write_bytes(saved[: len(saved) // 2])
    (root / "empty.tar").write_bytes(b"")
    (root / "text.tar").write_text("this is not a tarball\n")
    declared_layer(root / "attacker-a-saved.tar", root / "bomb.tar", 8 << 30)
    sleeper = root / "sleeper"
    sleeper.mkdir()
    (sleeper / "Dockerfile").write_text(
        f"FROM selma3d/rootfs:bookworm\nRUN sleep {SLEEPER_S} && echo {uid}\n"
    )
    # A build whose log is made of the console's markup: it fails, and its words are text.
    marked = root / "marked"
    marked.mkdir()
    (marked / "Dockerfile").write_text(
        f"FROM selma3d/rootfs:bookworm\nRUN echo '{MARKUP}' && exit 3\n"
    )
    gt = write_ground_truth(split, root / "ground-truth.tar.gz")
    before = {ref: client.images.get(ref).id for ref in targets}
    yield {
        "root": root,
        "uid": uid,
        "split": split,
        "victim": victim,
        "evaluation": evaluation,
        "tarballs": tarballs,
        "attackers": attackers,
        "before": before,
        "gt": gt,
        "sleeper": sleeper,
        "marked": marked,
        "mine": mine,
    }
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{mine}/"):
                client.images.remove(tag, force=True)
    from docker.errors import ImageNotFound

    for image_id in attackers:
        with contextlib.suppress(ImageNotFound):  # already gone with its tags
            client.images.remove(image_id, force=True)


# The console's own markup: a closing tag that matches nothing, then a style.
MARKUP = "[/red][bold]MARKUP-FROM-A-BUILD"


def said(output: str, text: str) -> bool:
    """Whether ``text`` is in the CLI's output, however the terminal width wrapped it."""
    return text in " ".join(output.split()) or text in output.replace("\n", "")


def _tags_now(client, refs):  # type: ignore[no-untyped-def]
    return {ref: client.images.get(ref).id for ref in refs}


def test_a_round_of_hostile_teams_runs_each_image_by_its_pinned_id(world, client):
    out = world["root"] / "round-out"
    config = {
        "name": "pinning",
        "output": str(out),
        "phases": {"final": {"split": str(world["split"].root)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 2},
        "canary": False,
        "build_timeout_s": 5,
        "teams": [
            {"name": "attacker-a", "tarball": str(world["tarballs"]["attacker-a"])},
            {"name": "attacker-b", "tarball": str(world["tarballs"]["attacker-b"])},
            {"name": "victim", "image": world["victim"].ref},
            {"name": "cut", "tarball": str(world["root"] / "cut.tar")},
            {"name": "upper", "image": "UPPER CASE::"},
            {"name": "sleeper", "folder": str(world["sleeper"])},
            {"name": "marked", "folder": str(world["marked"])},
        ],
        "evaluation": {"image": world["evaluation"].ref, "ground_truth": str(world["gt"])},
    }
    path = world["root"] / "round.yaml"
    path.write_text(yaml.safe_dump(config))
    since = time.time()
    code, output = selma3d("round", str(path))
    assert code == 0, output[-4000:]
    # No tag the tarballs asked for moved.
    assert _tags_now(client, world["before"]) == world["before"]
    record = json.loads((out / "round.json").read_text())
    digests = {s["team"]: s["digest"] for s in record["submissions"]}
    assert digests["victim"] == world["victim"].digest
    assert {digests["attacker-a"], digests["attacker-b"]} == set(world["attackers"])
    failures = {f["team"]: f for f in record["image_failures"]}
    assert set(failures) == {"cut", "upper", "sleeper", "marked"}
    # The build log's markup reached the terminal as the text it is.
    assert MARKUP in failures["marked"]["reason"] and said(output, MARKUP)
    assert all(f["status"] == "image_failed" for f in failures.values())
    assert str(world["root"] / "cut.tar") in failures["cut"]["reason"]
    assert "cut short" in failures["cut"]["reason"]
    assert "not a valid image reference" in failures["upper"]["reason"]
    assert "build_timeout_s" in failures["sleeper"]["reason"]
    assert record["pinned_images"][world["victim"].ref] == world["victim"].digest
    assert record["pinned_images"][world["evaluation"].ref] == world["evaluation"].digest
    # The victim ran its own image: every case ok; the attackers' wrote nothing.
    table = pd.read_csv(out / "results.csv")
    statuses = table.groupby("team")["status"].apply(set).to_dict()
    assert statuses["victim"] == {"ok"}
    assert statuses["attacker-a"] == statuses["attacker-b"] == {"missing_output"}
    assert set(table["team"]) == {"victim", "attacker-a", "attacker-b"}
    # The evaluation container ran by its id for every team, never the attacker's image.
    for key, run in record["evaluation"].items():
        assert run["image_digest"] == world["evaluation"].digest, key
    published = "".join(
        p.read_text(errors="replace") for p in (out / "leaderboard").iterdir() if p.is_file()
    )
    assert f"ATTACKER {world['uid']}" not in published
    # The teams set aside are named on the board with their status's fixed text, never the
    # engine's or the build's words.
    public = json.loads((out / "leaderboard" / "leaderboard.json").read_text())
    assert {(e["team"], e["status"], e["reason"]) for e in public["metadata"]["not_ranked"]} == {
        (team, "image_failed", "its image could not be built, loaded or found")
        for team in ("cut", "upper", "sleeper", "marked")
    }
    md = (out / "leaderboard" / "leaderboard.md").read_text()
    assert "sleeper (submission s00): its image could not be built, loaded or found" in md
    for reason in ("cut short", "build_timeout_s", "not a valid image reference"):
        assert reason not in published
    # No build container of the stopped build is left.
    assert wait_for_no_build_containers(client, world["uid"], since=since) == []


def test_check_runs_a_hostile_tarball_as_itself_and_moves_no_tag(world, client):
    out = world["root"] / "check-hostile"
    code, output = selma3d(
        "check",
        str(world["tarballs"]["attacker-b"]),
        "--split",
        str(world["split"].root),
        "--out",
        str(out),
        "--no-progress",
    )
    assert code == 1, output[-3000:]  # it ran, and wrote no prediction
    assert _tags_now(client, world["before"]) == world["before"]
    report = json.loads((out / "check.json").read_text())
    assert report["image_digest"] == world["attackers"][1]
    assert report["image"].startswith("selma3d-tarball/attacker-b:")
    assert "asks for the name(s)" in output and world["victim"].ref in output


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty.tar", "is empty"),
        ("cut.tar", "cut short"),
        ("text.tar", "not a readable tar"),
        ("bomb.tar", "declares more than"),
    ],
)
def test_check_refuses_a_bad_tarball_with_exit_2_naming_it(world, client, name, words):
    pid = _engine_pid()
    io_file = Path("/proc") / str(pid) / "io" if pid else None
    written = _written(io_file)
    code, output = selma3d(
        "check",
        str(world["root"] / name),
        "--split",
        str(world["split"].root),
        "--out",
        str(world["root"] / f"check-{name}"),
        "--no-progress",
    )
    assert code == 2, output[-3000:]
    assert said(output, str(world["root"] / name)) and said(output, words)
    assert "Traceback" not in output
    if io_file is not None and name == "bomb.tar":
        # The engine never saw it: nothing like the 8 GiB it declares was written.
        assert _written(io_file) - written < 256 << 20


def _engine_pid() -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "dockerd":
                    return int(proc.name)
            except OSError:
                continue
    return None


def _written(io_file: Path | None) -> int:
    if io_file is None:
        return 0
    try:
        fields = dict(line.split(": ") for line in io_file.read_text().splitlines())
    except OSError:
        return 0
    return int(fields["write_bytes"])


def test_check_refuses_a_malformed_reference_with_exit_2(world):
    code, output = selma3d(
        "check",
        "UPPER CASE::",
        "--split",
        str(world["split"].root),
        "--out",
        str(world["root"] / "check-upper"),
        "--no-progress",
    )
    assert code == 2, output[-3000:]
    assert said(output, "'UPPER CASE::'") and said(output, "not a valid image reference")


def test_check_refuses_a_cache_that_is_a_file_with_exit_2_naming_it(world):
    folder = world["root"] / "with-requirements"
    folder.mkdir(exist_ok=True)
    (folder / "Dockerfile").write_text("FROM selma3d/rootfs:bookworm\n")
    (folder / "requirements.txt").write_text("numpy\n")
    cache = world["root"] / "cache-file"
    cache.write_text("a file\n")
    code, output = selma3d(
        "check",
        str(folder),
        "--split",
        str(world["split"].root),
        "--out",
        str(world["root"] / "check-cache"),
        "--no-progress",
        env={"SELMA3D_CACHE": str(cache)},
    )
    assert code == 2, output[-3000:]
    assert said(output, str(cache)) and said(output, "SELMA3D_CACHE")


def test_check_stops_a_build_at_build_timeout_s(world, client):
    since = time.time()
    code, output = selma3d(
        "check",
        str(world["sleeper"]),
        "--split",
        str(world["split"].root),
        "--out",
        str(world["root"] / "check-sleeper"),
        "--no-progress",
        "--build-timeout-s",
        "4",
    )
    assert code == 2, output[-3000:]
    assert said(output, "build_timeout_s") and said(output, str(world["sleeper"]))
    assert "Traceback" not in output
    assert wait_for_no_build_containers(client, world["uid"], since=since) == []


def test_a_bad_evaluation_image_tarball_is_exit_2_naming_it(world):
    out = world["root"] / "round-bad-evaluation"
    config = {
        "name": "badeval",
        "output": str(out),
        "phases": {"final": {"split": str(world["split"].root)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 1},
        "teams": [{"name": "victim", "image": world["victim"].ref}],
        "evaluation": {"image": str(world["root"] / "cut.tar"), "ground_truth": str(world["gt"])},
    }
    path = world["root"] / "round-bad-evaluation.yaml"
    path.write_text(yaml.safe_dump(config))
    code, output = selma3d("round", str(path))
    assert code == 2, output[-3000:]
    assert said(output, "evaluation.image") and said(output, str(world["root"] / "cut.tar"))
    assert said(output, "cut short")


def test_a_tag_moved_during_a_round_stops_it_with_exit_2_naming_it(world, client):
    moving = f"{world['mine']}/moving:1"
    client.images.get(world["victim"].digest).tag(f"{world['mine']}/moving", "1")
    out = world["root"] / "round-moved"
    config = {
        "name": "moved",
        "output": str(out),
        "phases": {"final": {"split": str(world["split"].root)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 1},
        "canary": False,
        "teams": [{"name": "victim", "image": moving}],
    }
    path = world["root"] / "round-moved.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "round", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "containers" in line:
                # Someone re-tags the team's tag once its image was resolved.
                client.images.get("selma3d/rootfs:bookworm").tag(f"{world['mine']}/moving", "1")
                break
        rest, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode == 2, output[-3000:]
    assert said(output, f"image tag '{moving}' moved during the round")
    assert not (out / "leaderboard").exists()


@pytest.mark.parametrize("container", ["cut.tar", "empty.tar", "UPPER CASE::"])
def test_evaluate_refuses_a_bad_container_with_exit_2_naming_it(world, container):
    predictions = world["root"] / "no-predictions"
    predictions.mkdir(exist_ok=True)
    given = str(world["root"] / container) if container.endswith(".tar") else container
    code, output = selma3d(
        "evaluate",
        "--split",
        str(world["split"].root),
        "--predictions",
        str(predictions),
        "--out",
        str(world["root"] / f"evaluate-{uuid.uuid4().hex[:6]}.csv"),
        "--container",
        given,
        "--ground-truth",
        str(world["gt"]),
    )
    assert code == 2, output[-3000:]
    assert said(output, given) and "Traceback" not in output
