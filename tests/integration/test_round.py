"""A whole round through real containers: three teams, an interruption, the participants check."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.split.synth import synthesize_split

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "submissions" / "template"
THRESHOLD = REPO / "submissions" / "baseline-threshold"

# A team whose container always crashes: it must still appear, ranked last, every case failed.
CRASHING_DOCKERFILE = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --create-home runner
USER runner
ENTRYPOINT ["python3", "-c", "import sys; print('model weights not found'); sys.exit(3)"]
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("round") / "split"
    synthesize_split(root, cases=4, size=(48, 48, 48), seed=11)
    return root


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crashing")
    (folder / "Dockerfile").write_text(CRASHING_DOCKERFILE)
    return folder


def write_config(path: Path, split: Path, crashing: Path, output: Path) -> Path:
    config = {
        "name": "itest",
        "output": str(output),
        "phases": {"final": {"split": str(split)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 2},
        "canary": False,
        "teams": [
            {"name": "template", "folder": str(TEMPLATE), "tags": {"ssl": True}},
            {"name": "threshold", "display_name": "Otsu", "folder": str(THRESHOLD),
             "tags": {"ssl": False}},
            {"name": "crashing", "folder": str(crashing), "tags": {"ssl": False}},
        ],
        "leaderboards": [{"name": "no-ssl", "where": {"ssl": False}}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def selma3d(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def run_to_end(*args: str) -> tuple[int, str]:
    proc = selma3d(*args)
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


RANK_COLUMNS = ["rank", "team"]


def test_three_teams_end_to_end_and_a_crashing_team_still_appears(tmp_path, sample, crashing):
    config = write_config(tmp_path / "round.yaml", sample, crashing, tmp_path / "out")
    code, out = run_to_end("round", str(config))
    assert code == 0, out

    board = pd.read_csv(tmp_path / "out" / "leaderboard" / "leaderboard.csv")
    assert sorted(board["team"]) == ["crashing", "template", "threshold"]
    assert board.iloc[-1]["team"] == "crashing"

    results = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(results) == 3 * 4
    crashed = results[results["team"] == "crashing"]
    assert set(crashed["status"]) == {"failed"}
    # A failed case is scored as missing: the worst value, never dropped.
    assert (crashed["dice"] == 0).all()

    record = json.loads((tmp_path / "out" / "round.json").read_text())
    assert record["split"]["content_hash"].startswith("sha256:")
    digests = {s["team"]: s["digest"] for s in record["submissions"]}
    assert set(digests) == {"crashing", "template", "threshold"}
    assert all(d.startswith("sha256:") for d in digests.values())
    assert (tmp_path / "out" / "leaderboard" / "index.html").is_file()
    # The tag filter's leaderboard ranks the two teams without ssl among themselves.
    no_ssl = pd.read_csv(tmp_path / "out" / "leaderboards" / "no-ssl" / "leaderboard.csv")
    assert list(no_ssl["team"]) == ["threshold", "crashing"]
    assert list(no_ssl["rank"]) == [1, 2]
    assert set(results.loc[results["team"] == "threshold", "tags"]) == {'{"ssl": false}'}
    assert record["leaderboards"]["no-ssl"]["teams"] == ["crashing", "threshold"]
    # The terminal summary names every team.
    for team in ("crashing", "template", "threshold"):
        assert team in out


def test_a_killed_round_resumes_to_the_same_leaderboard(tmp_path, sample, crashing, kill_when):
    straight = write_config(tmp_path / "a.yaml", sample, crashing, tmp_path / "straight")
    code, out = run_to_end("round", str(straight))
    assert code == 0, out

    interrupted = write_config(tmp_path / "b.yaml", sample, crashing, tmp_path / "interrupted")
    proc = selma3d("round", str(interrupted), start_new_session=True)
    records = tmp_path / "interrupted" / "runs" / "template" / "s00" / "cases.jsonl"
    kill_when(
        proc,
        lambda: records.is_file() and records.read_text().count("\n") >= 1,
        within_s=300,
        poll_s=0.2,
        output=proc.stdout.read,
    )
    proc.stdout.close()
    assert not (tmp_path / "interrupted" / "leaderboard" / "leaderboard.csv").exists()

    code, out = run_to_end("round", str(interrupted))
    assert code == 0, out

    def board(folder: str) -> pd.DataFrame:
        table = pd.read_csv(tmp_path / folder / "leaderboard" / "leaderboard.csv")
        # Run times differ between two runs; ranks and scores must not.
        keep = [c for c in table.columns if "time" not in c and "memory" not in c]
        return table[keep]

    pd.testing.assert_frame_equal(board("straight"), board("interrupted"))
    lines = records.read_text().splitlines()
    finished = [json.loads(line)["case_id"] for line in lines if line.strip().endswith("}")]
    assert sorted(set(finished)) == sorted(finished), "a case was recorded twice"


def test_check_exit_codes_for_a_good_and_a_broken_image(tmp_path, sample, crashing):
    code, out = run_to_end(
        "check",
        str(TEMPLATE),
        "--split",
        str(sample),
        "--out",
        str(tmp_path / "good"),
        "--timeout-s",
        "120",
        "--memory",
        "1g",
    )
    assert code == 0, out
    assert "PASSED" in out
    report = json.loads((tmp_path / "good" / "check.json").read_text())
    assert report["passed"] is True
    assert all("dice" in c["metrics"] for c in report["cases"])
    assert report["estimate"]["estimated_s"] > 0

    code, out = run_to_end(
        "check",
        str(crashing),
        "--split",
        str(sample),
        "--out",
        str(tmp_path / "bad"),
        "--timeout-s",
        "120",
        "--memory",
        "1g",
    )
    assert code == 1, out
    assert "FAILED" in out
    assert "exited with code 3" in out
    assert "model weights not found" in out
    junit = (tmp_path / "bad" / "check.xml").read_text()
    assert 'failures="4"' in junit


def test_a_config_with_mistakes_exits_2_listing_them_all(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\noutput: o\nphases: {a: {split: s}}\nphase: b\n"
        "limits: {memory: huge}\nteams: [{name: t}]\n"
    )
    code, out = run_to_end("round", str(bad))
    assert code == 2, out
    for needle in ("limits.memory", "teams.0", "phase: 'b' is not one of phases"):
        assert needle in out


def test_scoring_while_containers_run_gives_the_sequential_results(tmp_path, sample, crashing):
    from rich.console import Console

    from harness.rounds.config import load_round_config
    from harness.rounds.round import run_round

    quiet = Console(stderr=True, quiet=True)
    tables, records = {}, {}
    for name, overlap in (("overlapped", True), ("sequential", False)):
        config = write_config(tmp_path / f"{name}.yaml", sample, crashing, tmp_path / name)
        run_round(load_round_config(config), console=quiet, overlap_scoring=overlap)
        tables[name] = pd.read_csv(tmp_path / name / "results.csv").drop(
            columns=["wall_time_s", "peak_memory_bytes", "prediction"]
        )
        records[name] = json.loads((tmp_path / name / "round.json").read_text())["stages"]
    pd.testing.assert_frame_equal(tables["overlapped"], tables["sequential"])
    assert len(tables["overlapped"]) == 3 * 4
    # Every case was scored once, some while later cases' containers still ran; the
    # sequential order scored none before the last container.
    assert records["overlapped"]["scoring"]["tasks"] == 4
    assert records["overlapped"]["overlap_s"] > 0
    assert records["sequential"]["overlap_s"] == 0
    # A rerun runs no container and scores nothing again.
    out = io.StringIO()
    config = load_round_config(tmp_path / "overlapped.yaml")
    run_round(config, console=Console(file=out, width=200))
    assert "4 case(s) scored before, 0 to score" in out.getvalue()
    assert out.getvalue().count("4 recorded, 0 to run") == 3
