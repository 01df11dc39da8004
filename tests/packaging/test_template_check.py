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
    args += ["--timeout", "120", "--memory", "1g", "--cpus", "1", "--report", str(report)]
    code = run(args)
    assert code == EXIT_OK, capsys.readouterr().out
    doc = json.loads(report.read_text())
    assert [c["status"] for c in doc["cases"]] == ["ok", "ok"]
