"""User mistakes end in exit 2 with a message naming the argument or file, and damage nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import run
from harness.split.manifest import load_split, write_manifest
from harness.split.synth import synthesize_split
from harness.split.volume import Grid, write_volume
from tests.conftest import REAL_PATCHES

SHAPE = (4, 5, 6)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one line per message


@pytest.fixture
def split(tmp_path):
    root = tmp_path / "split"
    root.mkdir()
    label = np.zeros(SHAPE, np.uint8)
    label[1, 1, 1] = 1
    write_volume(root / "c1.nii.gz", np.zeros(SHAPE, np.float32))
    write_volume(root / "c1_label.nii.gz", label)
    write_manifest(root, [{"case_id": "c1", "track": "spot", "structure": "x",
                           "image": "c1.nii.gz", "label": "c1_label.nii.gz"}])
    return load_split(root)


def _team(tmp_path, split):
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", np.zeros(SHAPE, np.uint8))
    return team


@pytest.mark.parametrize("args", [
    ["data", "synth", "--out", "{out}", "--seed", "-1"],
    ["data", "split", "--split", "{split}", "--out", "{out}", "--sample", "1", "--seed", "-3"],
])
def test_negative_seeds_exit_2(tmp_path, split, capsys, args):
    argv = [a.format(out=tmp_path / "out", split=split.root) for a in args]
    assert run(argv) == 2
    assert "--seed" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_huge_synth_is_refused_before_anything_is_written(tmp_path, capsys):
    big = ["--size", "1200", "1200", "1200"]
    assert run(["data", "synth", "--out", str(tmp_path / "big"), *big]) == 2
    err = capsys.readouterr().err
    assert "1,728,000,000 voxels per case, over the cap of 134,217,728" in err
    assert not (tmp_path / "big").exists()


def test_synth_never_writes_over_a_split_it_did_not_generate(tmp_path, split, capsys):
    before = (split.root / "manifest.csv").read_bytes()
    args = ["--cases", "2", "--size", "8", "8", "8"]
    assert run(["data", "synth", "--out", str(split.root), *args]) == 2
    assert "a split not written by `data synth`" in capsys.readouterr().err
    assert (split.root / "manifest.csv").read_bytes() == before
    # Its own split it may replace.
    synthesize_split(tmp_path / "gen", cases=2, size=(8, 8, 8), seed=0, progress=False)
    synthesize_split(tmp_path / "gen", cases=2, size=(8, 8, 8), seed=1, progress=False)


def test_out_that_is_a_folder_or_under_a_file_exits_2_and_leaves_nothing(tmp_path, split, capsys):
    team = _team(tmp_path, split)
    (tmp_path / "m.csv").mkdir()
    base = ["evaluate", "--split", str(split.root), "--predictions", str(team), "--no-progress"]
    assert run([*base, "--out", str(tmp_path / "m.csv")]) == 2
    assert "is a folder; expected the path of a CSV file" in capsys.readouterr().err
    assert list((tmp_path / "m.csv").iterdir()) == []
    assert not list(tmp_path.glob(".m.csv*"))
    (tmp_path / "file").write_text("mine")
    assert run([*base, "--out", str(tmp_path / "file" / "m.csv")]) == 2
    assert "lies under" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"
    assert run(["leaderboard", str(tmp_path / "r.csv"), "--out", str(tmp_path / "file")]) == 2


@pytest.mark.parametrize(("content", "words"), [
    (json.dumps([{"case_id": "c1", "status": "ok"}]).encode() + b"\n", "a JSON list"),
    (b'{"case_id": "c1", "status": "\xff\xfe"}\n', "not UTF-8 text"),
])
def test_a_malformed_cases_jsonl_exits_2_naming_the_file(tmp_path, split, capsys, content,
                                                         words):
    run_dir = tmp_path / "run"
    (run_dir / "predictions").mkdir(parents=True)
    (run_dir / "cases.jsonl").write_bytes(content)
    assert run(["evaluate", "--split", str(split.root), "--predictions", str(run_dir),
                "--out", str(tmp_path / "m.csv"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cases.jsonl" in err and words in err


def test_a_failed_import_leaves_no_manifest_behind(tmp_path, capsys):
    src = tmp_path / "lsm"
    src.mkdir()
    write_volume(src / "microglia_patch_001_vol002_ch0.nii.gz", np.zeros(SHAPE, np.float32))
    # A label on another grid: the split fails validation after the manifest is written.
    write_volume(src / "microglia_patch_001_vol002_ch0_label.nii.gz",
                 np.zeros((4, 5, 7), np.uint8), Grid((4, 5, 7)))
    assert run(["data", "import", str(src), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out" / "manifest.csv").exists()
    # Over an earlier import, the earlier manifest is kept as it was.
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.csv").write_text("earlier\n")
    assert run(["data", "import", str(src), "--out", str(tmp_path / "old")]) == 2
    assert (tmp_path / "old" / "manifest.csv").read_text() == "earlier\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("round.yaml", b"name: r\n\xff\xfe: 1\n"),
        ("map.yaml", b"a: vessel\n\xff: spot\n"),
        ("map.csv", b"source,track\n\xff,spot\n"),
    ],
)
def test_configuration_files_that_are_not_utf8_exit_2_naming_the_file(
    tmp_path, capsys, name, content
):
    bad = tmp_path / name
    bad.write_bytes(content)
    if name == "round.yaml":
        code = run(["round", str(bad)])
    else:
        out = tmp_path / "imported"
        code = run(
            ["data", "import", str(REAL_PATCHES), "--out", str(out), "--track-map", str(bad)]
        )
        assert not out.exists()
    assert code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not UTF-8 text" in err


def test_a_malformed_scheduler_address_exits_2_naming_the_argument(tmp_path, capsys):
    config = tmp_path / "round.yaml"
    config.write_text("name: r\n")  # the address is refused before the file is read
    assert run(["worker", "notanaddress"]) == 2
    err = capsys.readouterr().err
    assert "SCHEDULER_ADDRESS" in err and "expected a scheduler address" in err
    assert run(["round", str(config), "--scheduler", "bad address"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "got 'bad address'" in err


@pytest.mark.docker
def test_a_round_naming_a_missing_model_exits_2_naming_the_file_and_team(tmp_path, capsys):
    synthesize_split(tmp_path / "split", cases=1, size=(16, 16, 16), seed=1)
    config = tmp_path / "round.yaml"
    config.write_text(
        json.dumps(
            {
                "name": "r",
                "output": str(tmp_path / "out"),
                "phases": {"final": {"split": str(tmp_path / "split")}},
                "phase": "final",
                "teams": [
                    {"name": "a", "image": "selma3d/python:3.11", "model": "missing/model.tar"}
                ],
            }
        )
    )
    assert run(["round", str(config)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{config}: team 'a', model: model {tmp_path / 'missing' / 'model.tar'}" in err
    assert not list((tmp_path / "out").rglob("cases.jsonl")), "no container ran"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--timeout-s", "5"], "--timeout-s and --memory limit the evaluation container"),
        (["--container", "e:1", "--ground-truth", "{gt}", "--memory", "lots"],
         "--memory: expected a size such as 512m"),
        (["--container", "e:1", "--ground-truth", "{gt}", "--timeout-s", "-1"], "--timeout-s"),
    ],
)
def test_evaluation_container_limits_are_checked_before_anything_is_scored(
    tmp_path, split, capsys, extra, words
):
    team = _team(tmp_path, split)
    gt = tmp_path / "gt"
    gt.mkdir()
    out = tmp_path / "scores.csv"
    argv = ["evaluate", "--split", str(split.root), "--predictions", str(team), "--out", str(out),
            "--no-progress", *(a.format(gt=gt) for a in extra)]
    assert run(argv) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()
