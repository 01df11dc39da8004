"""``selma3d round``, ``check`` and ``demo`` through the real command line, in a subprocess.

Outputs never land on an input or in a folder selma3d did not make; one round writes into a
folder at a time (a second is refused during every stage, the evaluation included); Ctrl-C
prints one line; option and file mistakes exit 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from common.outputs import claim_folder
from harness.rounds.cluster.worker import remove_task_containers
from harness.split.synth import synthesize_split

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "submissions" / "template"
TEMPLATE_EVALUATION = REPO / "submissions" / "template-evaluation"


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def selma3d(*args: str, timeout: float = 600) -> tuple[int, str]:
    """Run the command line to its end: exit code and stdout+stderr."""
    proc = subprocess.run(
        command(*args), capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "COLUMNS": "400"},
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("round") / "split"
    synthesize_split(root, cases=2, size=(24, 24, 24), seed=3, progress=False)
    return root


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_round(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def round_data(split: Path, output: Path, **extra) -> dict:
    return {
        "name": "outputs",
        "output": str(output),
        "phases": {"final": {"split": str(split)}},
        "phase": "final",
        "limits": {"timeout_s": 120, "memory": "1g", "cpus": 1, "jobs": 2},
        "canary": False,
        "teams": [{"name": "template", "folder": str(TEMPLATE)}],
        **extra,
    }


@pytest.mark.parametrize(
    ("flag", "target", "named"),
    [
        ("--junit", "manifest.csv", "is the split's manifest"),
        ("--report", "labels/vessel_000.nii.gz", "is the split's labels"),
        ("--out", "labels", "lies inside the split"),
    ],
)
def test_check_outputs_onto_the_split_exit_2_and_change_nothing(split, tmp_path, flag, target,
                                                               named):
    before = snapshot(split)
    code, out = selma3d("check", "no/such:image", "--split", str(split), flag,
                        str(split / target), "--no-progress")
    assert code == 2, out
    assert f"{flag} {split / target} {named}" in out
    assert snapshot(split) == before


@pytest.mark.parametrize("flag", ["--junit", "--report"])
def test_check_reports_over_a_users_file_are_refused(split, tmp_path, flag):
    mine = tmp_path / "thesis.xml"
    mine.write_text("<thesis/>\n")
    code, out = selma3d("check", "no/such:image", "--split", str(split), flag, str(mine),
                        "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 2, out
    assert f"{flag} {mine}: the file exists and selma3d did not write it" in out
    assert mine.read_text() == "<thesis/>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.xml"]


def test_check_hidden_cases_below_zero_exits_2_naming_the_option(split, tmp_path):
    code, out = selma3d("check", "no/such:image", "--split", str(split), "--hidden-cases", "-5",
                        "--out", str(tmp_path / "run"))
    assert code == 2, out
    assert out.splitlines()[-1] == (
        "Error: Invalid value for '--hidden-cases': -5 is not in the range x>=0."
    )
    assert "Traceback" not in out
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("cmd", ["check", "predict"])
def test_a_second_command_into_a_run_folder_being_written_is_refused(split, tmp_path, cmd):
    out = tmp_path / "run"
    with claim_folder(out, kind="run"):  # the first command, still writing
        code, text = selma3d(cmd, "no/such:image", "--split", str(split), "--out", str(out),
                             "--no-progress")
    assert code == 2, text
    assert text == (
        f"error: --out {out}: another selma3d command is writing into this folder; wait for "
        "it to finish, or give another folder\n"
    )
    # Only the first command's marker and lock: the second wrote nothing.
    assert sorted(p.name for p in out.iterdir()) == [".selma3d-folder.json", ".selma3d-folder.lock"]


@pytest.mark.parametrize("cmd", ["check", "predict"])
def test_a_model_inside_the_split_is_refused_before_anything_runs(split, tmp_path, cmd):
    code, out = selma3d(cmd, "no/such:image", "--split", str(split), "--model",
                        str(split / "labels"), "--out", str(tmp_path / "run"))
    assert code == 2, out
    assert f"model {split / 'labels'}: lies inside the split" in out
    assert not (tmp_path / "run").exists()


def test_a_round_file_with_a_key_written_twice_exits_2_naming_it(split, tmp_path):
    text = yaml.safe_dump(round_data(split, tmp_path / "out"), sort_keys=False)
    text += "teams:\n  - {name: late, image: x/y:1}\n"  # the first teams would be dropped
    path = tmp_path / "round.yaml"
    path.write_text(text)
    code, out = selma3d("round", str(path))
    assert code == 2, out
    first = 1 + text.splitlines().index("teams:")
    assert out == (
        f"error: {path}: the round configuration is not valid YAML: duplicate key 'teams' on "
        f"line {len(text.splitlines()) - 1} (first on line {first}); write each key once\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_round_output_inside_its_split_or_a_users_folder_is_refused(split, tmp_path):
    inside = write_round(tmp_path / "a.yaml", round_data(split, split / "results"))
    code, out = selma3d("round", str(inside))
    assert code == 2, out
    assert f"output {split / 'results'} lies inside the split {split}" in out
    assert not (split / "results").exists()

    users = tmp_path / "mine"
    users.mkdir()
    (users / "results.csv").write_text("my own results\n")
    code, out = selma3d("round", str(write_round(tmp_path / "b.yaml", round_data(split, users))))
    assert code == 2, out
    assert "the folder is not empty and selma3d did not make it" in out
    assert snapshot(users) == {users / "results.csv": b"my own results\n"}


# ---------------------------------------------------------------------------- real containers

SLOW_EVALUATION = """\
FROM selma3d/evaluation:0.1.0
RUN useradd --uid 1000 --no-create-home --home-dir /tmp evaluator
WORKDIR /opt/app
COPY evaluate.py /opt/app/evaluate.py
USER evaluator
# Slow, so that a second round is started while this one is in its evaluation stage.
ENTRYPOINT ["sh", "-c", "sleep 20 && exec python3 /opt/app/evaluate.py"]
"""


# A team whose containers are still running when Ctrl-C comes: the local cluster's workers busy.
SLEEPER = """\
FROM selma3d/python:3.11
RUN useradd --uid 1000 --no-create-home app
USER app
ENTRYPOINT ["sleep", "600"]
"""


def sigint_as_in_a_terminal() -> None:
    """Give the child the default SIGINT a terminal's program has.

    A shell's background job starts with SIGINT ignored, and Python keeps an ignored SIGINT:
    run from one, the command would never see the test's Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, *, within_s: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the round ended first:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"not reached within {within_s:.0f} s")
        time.sleep(0.2)


@pytest.mark.docker
@pytest.mark.slow
def test_a_second_round_during_the_evaluation_stage_is_refused_and_the_first_ends_well(
    split, tmp_path
):
    from harness.evaluation import write_ground_truth
    from harness.split.manifest import load_split

    evaluation = tmp_path / "slow-evaluation"
    evaluation.mkdir()
    (evaluation / "Dockerfile").write_text(SLOW_EVALUATION)
    (evaluation / "evaluate.py").write_bytes((TEMPLATE_EVALUATION / "evaluate.py").read_bytes())
    gt = write_ground_truth(load_split(split), tmp_path / "gt.tar.gz")
    out = tmp_path / "out"
    data = round_data(split, out, evaluation={"image": str(evaluation), "ground_truth": str(gt)})
    config = write_round(tmp_path / "round.yaml", data)
    first = subprocess.Popen(command("round", str(config), "--no-progress"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
    try:
        # The evaluation container is staged under evaluation/ once the scoring stage is over.
        wait_for(lambda: (out / "evaluation").is_dir() and (out / "results.csv").is_file(),
                 within_s=500, proc=first)
        staged = sorted(p.relative_to(out) for p in (out / "evaluation").rglob("*"))
        code, text = selma3d("round", str(config), "--no-progress")
        assert code == 2, text
        assert f"output {out}: another selma3d command is writing into this folder" in text
        assert sorted(p.relative_to(out) for p in (out / "evaluation").rglob("*"))[
            : len(staged)
        ] == staged
        output, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    assert first.returncode == 0, output
    record = json.loads((out / "round.json").read_text())
    assert record["evaluation"]["template/s00"]["status"] == "ok", record["evaluation"]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(
    ("send", "code", "line"),
    [
        # What Ctrl-C in a terminal does: SIGINT to the whole process group.
        (lambda pid: os.killpg(pid, signal.SIGINT), 130, "aborted"),
        # What `kill PID` or a batch system's stop does: SIGTERM to the round's process.
        (lambda pid: os.kill(pid, signal.SIGTERM), 143, "terminated"),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_on_a_round_prints_one_line_and_no_worker_traceback(split, tmp_path,
                                                                   engine_client, send, code,
                                                                   line):
    sleeper = tmp_path / "sleeper"
    sleeper.mkdir()
    (sleeper / "Dockerfile").write_text(SLEEPER)
    out = tmp_path / "out"
    data = round_data(split, out, teams=[{"name": "sleeper", "folder": str(sleeper)}])
    config = write_round(tmp_path / "round.yaml", data)
    proc = subprocess.Popen(command("round", str(config), "--no-progress"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=sigint_as_in_a_terminal)
    try:
        # The containers stage has started: the workers are waiting on the sleeping containers.
        wait_for(lambda: (out / "runs" / "sleeper" / "s00" / "run.json").is_file(),
                 within_s=500, proc=proc)
        time.sleep(2)
        send(proc.pid)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        left = remove_task_containers(engine_client, out)
    # The round removed its sleeping containers on its way out: none is left running.
    assert left == 0
    assert proc.returncode == code, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert output.rstrip().splitlines()[-1].strip() == line
    assert [x for x in output.splitlines() if x.strip() in ("aborted", "terminated")] == [line]
