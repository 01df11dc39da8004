"""A participant's first steps: write the template out of selma3d, then check it for real."""

from __future__ import annotations

import json

import pytest

from harness.cli import EXIT_OK, run
from harness.split.synth import synthesize_split

pytestmark = pytest.mark.docker


def test_the_written_template_passes_check_in_real_containers(tmp_path, capsys):
    submission = tmp_path / "my-submission"
    assert run(["template", str(submission)]) == EXIT_OK
    sample = tmp_path / "sample"
    synthesize_split(sample, cases=2, size=(32, 32, 32), seed=7)
    report = tmp_path / "check.json"
    args = ["check", str(submission), "--split", str(sample), "--out", str(tmp_path / "run")]
    args += ["--timeout-s", "120", "--memory", "1g", "--cpus", "1", "--report", str(report)]
    code = run(args)
    assert code == EXIT_OK, capsys.readouterr().out
    doc = json.loads(report.read_text())
    assert [c["status"] for c in doc["cases"]] == ["ok", "ok"]


def test_the_written_invoke_template_passes_check_with_its_model_tarball(tmp_path, capsys):
    import tarfile

    submission = tmp_path / "my-invoke"
    assert run(["template", str(submission), "--example", "template-invoke"]) == EXIT_OK
    assert "org.grand-challenge.api-method=invoke" in (submission / "Dockerfile").read_text()
    model = tmp_path / "model.tar.gz"
    with tarfile.open(model, "w:gz") as tar:  # as its README says: tar -czf ... -C model .
        tar.add(submission / "model", arcname=".")
    sample = tmp_path / "sample"
    synthesize_split(sample, cases=2, size=(32, 32, 32), seed=7)
    report = tmp_path / "check.json"
    args = ["check", str(submission), "--split", str(sample), "--out", str(tmp_path / "run")]
    args += ["--timeout-s", "120", "--memory", "1g", "--cpus", "1", "--report", str(report)]
    code = run([*args, "--model", str(model)])
    assert code == EXIT_OK, capsys.readouterr().out
    assert "invoke server 1: start-up" in capsys.readouterr().out
    doc = json.loads(report.read_text())
    assert [c["status"] for c in doc["cases"]] == ["ok", "ok"]
    assert doc["api_method"] == "invoke" and doc["model"]["source"] == str(model)
    # Without its model the server cannot load: every case fails, saying why.
    bare = ["check", str(submission), "--split", str(sample), "--out", str(tmp_path / "run2")]
    bare += ["--timeout-s", "120", "--memory", "1g", "--cpus", "1"]
    code = run([*bare, "--report", str(tmp_path / "nomodel.json")])
    assert code == 1
    doc = json.loads((tmp_path / "nomodel.json").read_text())
    assert {c["status"] for c in doc["cases"]} == {"failed"}
    assert "params.json is missing" in doc["cases"][0]["reason"]
