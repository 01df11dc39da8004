"""No orphans: an evaluation interrupted by Ctrl-C or ``kill -9`` leaves nothing for long.

A real ``selma3d evaluate --container`` process runs an evaluation container that never ends
(the hidden ground truth, a tarball, is extracted into a temporary folder and mounted). Ctrl-C
leaves no container and no temporary folder. ``kill -9`` cannot clean up: the container and the
extracted ground truth stay, and the next ``evaluate`` into the same ``--out`` removes both
before it runs. A container past the deadline on its label is removed by any later sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from docker.errors import NotFound

from harness.assets import asset_dir
from harness.containers.base_images import build_specs
from harness.containers.images import build_folder
from harness.containers.isolation import LABEL_DEADLINE, LABEL_RUN_ID, remove_expired_containers
from harness.evaluation import write_ground_truth
from harness.evaluation.contract import GROUND_TRUTH_SUBFOLDER
from harness.evaluation.run import evaluation_run_id
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume, write_volume
from tests.integration.evaluation_support import evaluate_command

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TEMPLATE = asset_dir("submissions") / "template-evaluation"
TAG = "selma3d-test-orphans"


@pytest.fixture(scope="module")
def client(engine_client):  # type: ignore[no-untyped-def]
    return engine_client


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory, client):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("orphans")
    split = synthesize_split(root / "split", cases=2, size=(24, 24, 24), seed=3)
    preds = root / "preds"
    preds.mkdir()
    for case in split.cases:
        label = read_volume(case.label)
        write_volume(preds / f"{case.case_id}.nii.gz", label.array.astype(np.uint8), label.grid)
    gt = write_ground_truth(split, root / "ground-truth.tar.gz")
    build_specs(only=("evaluation",), client=client, log=lambda _: None)
    template = build_folder(TEMPLATE, f"{TAG}/template:1", client=client, log=lambda _: None)
    never = root / "never-ends"
    never.mkdir()
    (never / "Dockerfile").write_text(
        f'FROM {template.ref}\nENTRYPOINT ["python3", "-c", "import time; '
        "print('evaluating', flush=True); time.sleep(3600)\"]\n"
    )
    slow = build_folder(never, f"{TAG}/never-ends:1", client=client, log=lambda _: None)
    return {
        "root": root,
        "split": split,
        "preds": preds,
        "gt": gt,
        "template": template.ref,
        "never": slow.ref,
    }


def _evaluate(setting, image: str, out: Path) -> list[str]:  # type: ignore[no-untyped-def]
    return evaluate_command(setting["split"].root, setting["preds"], out, image, setting["gt"])


def _env(tmpdir: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(tmpdir)}


def _running(client, run_id: str, deadline_s: float = 120.0):  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = client.containers.list(filters={"label": f"{LABEL_RUN_ID}={run_id}"})
        # The evaluation container itself (an exec image: no relay beside it).
        if found and "evaluating" in found[0].logs().decode():
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no evaluation container labeled {run_id} started within {deadline_s:g} s")


def _scratch(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob("selma3d-evaluation-*"))


@pytest.mark.parametrize(
    ("sent", "code", "line"),
    [(signal.SIGINT, 130, "aborted"), (signal.SIGTERM, 143, "terminated")],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_leaves_no_container_and_no_ground_truth_copy(
    setting, client, tmp_path, sent, code, line
):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "scores.csv"
    proc = subprocess.Popen(
        _evaluate(setting, setting["never"], out),
        env=_env(tmpdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell's background job starts with SIGINT ignored, which Python keeps: the child
        # gets the default SIGINT a terminal's program has, or it would never see this Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    container = _running(client, evaluation_run_id(out))
    proc.send_signal(sent)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert output.rstrip().splitlines()[-1] == line, output
    assert "Traceback" not in output, output
    with pytest.raises(NotFound):
        container.reload()
    assert _scratch(tmpdir) == [], output


def test_after_kill_9_the_next_evaluate_removes_the_container_and_the_ground_truth_copy(
    setting, client, tmp_path
):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "scores.csv"
    proc = subprocess.Popen(
        _evaluate(setting, setting["never"], out),
        env=_env(tmpdir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    orphan = _running(client, evaluation_run_id(out))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    # What a kill -9 leaves: the container running with the ground truth, its extracted copy.
    orphan.reload()
    assert orphan.status == "running"
    assert int(orphan.labels[LABEL_DEADLINE]) > time.time() + 3000  # the 3600 s timeout's
    left = _scratch(tmpdir)
    assert len(left) == 1
    assert list(left[0].rglob(f"{GROUND_TRUTH_SUBFOLDER}/*.nii.gz")), "no extracted copy found"

    # The next evaluate into the same --out, with an evaluation container that finishes.
    done = subprocess.run(
        _evaluate(setting, setting["template"], out),
        env=_env(tmpdir),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with pytest.raises(NotFound):
        orphan.reload()
    assert _scratch(tmpdir) == []


def test_a_container_past_its_deadline_is_removed_by_the_next_sweep(setting, client):
    def start(deadline: float):  # type: ignore[no-untyped-def]
        return client.containers.run(
            setting["never"],
            detach=True,
            network_disabled=True,
            labels={LABEL_DEADLINE: f"{deadline:.0f}", LABEL_RUN_ID: f"{TAG}-sweep"},
        )

    expired, alive = start(time.time() - 1), start(time.time() + 3600)
    try:
        assert remove_expired_containers(client) >= 1
        with pytest.raises(NotFound):
            expired.reload()
        alive.reload()
        assert alive.status in {"created", "running"}
    finally:
        for c in (expired, alive):
            try:
                c.remove(force=True)
            except NotFound:
                pass
