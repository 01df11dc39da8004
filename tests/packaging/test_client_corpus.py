"""What participants really submit passes `selma3d check` in real containers.

Each folder of submissions/client-* is modelled on a public form a participant starts from: the
SELMA3D 2026 example's invoke server, the exec algorithm grand-challenge-forge generates, the
SELMA3D 2024 exec layout, and code reading only the `socket` or only the `interface` key of
inputs.json. One generated sample serves every check of the module.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from harness.assets import asset_dir
from harness.cli import EXIT_OK, run
from harness.split.synth import synthesize_split

pytestmark = pytest.mark.docker

CASES = 3
LIMITS = ["--timeout", "120", "--memory", "1g", "--cpus", "1"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "sample"
    synthesize_split(root, cases=CASES, size=(32, 32, 32), seed=7)
    return root


def client(name: str) -> Path:
    folder = asset_dir("submissions") / f"client-{name}"
    assert (folder / "Dockerfile").is_file(), folder
    return folder


def model_tarball(folder: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:  # as its README says: tar -czf ... -C model .
        tar.add(folder / "model", arcname=".")
    return dest


def check(folder: Path, sample: Path, out: Path, capsys, *extra: str) -> tuple[int, dict, str]:
    report = out / "check.json"
    args = ["check", str(folder), "--split", str(sample), "--out", str(out / "run")]
    code = run([*args, *LIMITS, "--report", str(report), *extra])
    printed = capsys.readouterr().out
    return code, json.loads(report.read_text()), printed


def assert_every_case_scored(doc: dict, printed: str) -> None:
    assert [c["status"] for c in doc["cases"]] == ["ok"] * CASES, printed
    for case in doc["cases"]:
        assert "dice" in case["metrics"], case


@pytest.mark.parametrize(
    "name, needs_model",
    [
        ("forge-exec", True),
        ("selma3d2024-exec", False),
        ("socket-only", False),
        ("interface-only", False),
    ],
)
def test_an_exec_client_scores_every_case(sample, tmp_path, capsys, name, needs_model):
    folder = client(name)
    extra = (
        ["--model", str(model_tarball(folder, tmp_path / "model.tar.gz"))] if needs_model else []
    )
    code, doc, printed = check(folder, sample, tmp_path, capsys, *extra)
    assert code == EXIT_OK, printed
    assert doc["api_method"] == "exec"
    assert_every_case_scored(doc, printed)
    if name.endswith("-only"):
        key = name.removesuffix("-only")
        logs = (tmp_path / "run" / "logs").iterdir()
        assert all(f"through '{key}'" in p.read_text() for p in logs)


def test_the_2026_invoke_client_scores_every_case_batched_and_one_server_per_case(
    sample, tmp_path, capsys
):
    folder = client("selma3d2026-invoke")
    model = str(model_tarball(folder, tmp_path / "model.tar.gz"))
    code, doc, printed = check(folder, sample, tmp_path / "batch", capsys, "--model", model)
    assert code == EXIT_OK, printed
    assert doc["api_method"] == "invoke" and doc["reuse"] == "batch"
    assert_every_case_scored(doc, printed)
    assert [s["cases"] for s in doc["servers"]] == [CASES]
    # The time grand-challenge bills per case: the server's start-up plus the case.
    billed = doc["billed"]
    assert billed["per_case_s"] == pytest.approx(billed["startup_s"] + billed["case_s"], rel=0.5)
    assert re.search(r"grand-challenge time per case .*start-up [\d.]+ s \+ case", printed)
    print(f"2026 invoke, batch: {billed}")  # the numbers, for whoever runs this with -s

    # Into the same folder: the batched records must not pass for a server per case.
    code, doc, printed = check(
        folder, sample, tmp_path / "batch", capsys, "--model", model, "--reuse", "case"
    )
    assert code == EXIT_OK, printed
    assert doc["reuse"] == "case" and doc["previous"] is not None
    assert_every_case_scored(doc, printed)
    # A fresh server per case, each one healthy and loading the model, as on grand-challenge.
    assert [s["cases"] for s in doc["servers"]] == [1] * CASES
    assert all(s["startup_s"] > 0 for s in doc["servers"])
    startups = sorted(c["startup_s"] for c in doc["cases"])
    assert startups == sorted(s["startup_s"] for s in doc["servers"])
    print(f"2026 invoke, reuse case: {doc['billed']}")


def test_a_failing_invoke_client_gets_advice_without_an_empty_log_tail(sample, tmp_path, capsys):
    # Without its model tarball init_model() cannot load: the server dies starting.
    code, doc, printed = check(client("selma3d2026-invoke"), sample, tmp_path, capsys)
    assert code == 1
    assert {c["status"] for c in doc["cases"]} == {"failed"}
    assert "The invoke server failed: the server exited with code" in printed
    assert "log tail:" not in printed, printed
    assert "threshold.json" in printed  # the log's own words, below the advice
