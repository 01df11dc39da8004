"""The organizers' evaluation container, run as grand-challenge runs it, beside selma3d's scores."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.assets import asset_dir
from harness.containers.base_images import build_specs
from harness.containers.images import build_folder
from harness.evaluation import EvaluationConfig, prepare_evaluation, write_ground_truth
from harness.evaluation.run import evaluate_with_container
from harness.scoring.evaluate import evaluate_predictions
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume, write_volume
from tests.integration.evaluation_support import (
    evaluate_command,
    evaluation_round,
    run_round,
    write_team,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TEMPLATE = asset_dir("submissions") / "template-evaluation"
THRESHOLD = asset_dir("submissions") / "baseline-threshold"
EVALUTILS = Path(__file__).resolve().parent / "evaluators" / "evalutils"
TAG = "selma3d-test-evaluation"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    """Independent of the metrics package: 2|A and B| / (|A| + |B|), 1 for two empty masks."""
    a, b = a > 0, b > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


@pytest.fixture(scope="module")
def client(engine_client):  # type: ignore[no-untyped-def]
    return engine_client


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory, client):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("evaluation")
    split = synthesize_split(root / "split", cases=4, size=(32, 32, 32), seed=5)
    preds = root / "preds"
    preds.mkdir()
    dice = {}
    for case in split.cases:
        label = read_volume(case.label)
        shifted = np.roll(label.array, 1, axis=2).astype(np.uint8)
        write_volume(preds / f"{case.case_id}.nii.gz", shifted, label.grid)
        dice[case.case_id] = _dice(shifted, label.array)
    gt = write_ground_truth(split, root / "ground-truth.tar.gz")
    build_specs(only=("evaluation",), client=client, log=lambda _: None)
    template = build_folder(TEMPLATE, f"{TAG}/template:1", client=client, log=lambda _: None)
    # The same container with one metric computed differently: 0.01 added to every Dice.
    plus = root / "plus-dice"
    plus.mkdir()
    source = (TEMPLATE / "evaluate.py").read_text()
    exact = '"dice": float(scores["dice"])'
    changed = source.replace(exact, f"{exact} + 0.01")
    assert changed != source
    (plus / "evaluate.py").write_text(changed)
    (plus / "Dockerfile").write_text(
        f"FROM {template.ref}\nCOPY evaluate.py /opt/app/evaluate.py\n"
    )
    # The template as an invoke server, as the SELMA3D 2026 evaluator is one.
    invoke = root / "invoke"
    invoke.mkdir()
    (invoke / "server.py").write_text(_INVOKE_SERVER)
    (invoke / "Dockerfile").write_text(
        f"FROM {template.ref}\nCOPY server.py /opt/app/server.py\n"
        "LABEL org.grand-challenge.api-method=invoke\n"
        'ENTRYPOINT ["python3", "/opt/app/server.py"]\n'
    )
    silent = root / "silent"
    silent.mkdir()
    (silent / "Dockerfile").write_text(
        f'FROM {template.ref}\nENTRYPOINT ["python3", "-c", "print(\'done\')"]\n'
    )
    failing = root / "failing"
    failing.mkdir()
    (failing / "Dockerfile").write_text(
        f'FROM {template.ref}\nENTRYPOINT ["python3", "-c", '
        "\"import sys; print('ground truth not found'); sys.exit(3)\"]\n"
    )
    invalid = root / "invalid"
    invalid.mkdir()
    (invalid / "Dockerfile").write_text(
        f'FROM {template.ref}\nENTRYPOINT ["python3", "-c", "import json; '
        "open('/output/metrics.json', 'w').write(json.dumps({'aggregates': "
        "{'con_dice_mean': 'high'}}))\"]\n"
    )
    # evalutils' classic form, and the same with 0.01 added to every DiceCoefficient.
    evalutils = build_folder(EVALUTILS, f"{TAG}/evalutils:1", client=client, log=lambda _: None)
    evalutils_plus = _variant(
        root / "evalutils-plus",
        evalutils.ref,
        EVALUTILS / "evaluate.py",
        'row = {"DiceCoefficient": float(scores["dice"])}',
        'row = {"DiceCoefficient": float(scores["dice"]) + 0.01}',
    )
    # The 2026 evaluator's results do not name their cases: the template without image_name.
    anonymous = _variant(
        root / "anonymous",
        template.ref,
        TEMPLATE / "evaluate.py",
        'result = {"image_name": name, "dice": float(scores["dice"])}',
        'result = {"dice": float(scores["dice"])}',
    )
    frame = evaluate_predictions(split, {"team": preds}, progress=False)
    return {
        "root": root,
        "split": split,
        "preds": preds,
        "gt": gt,
        "dice": dice,
        "frame": frame,
        "template": template.ref,
        "plus": plus,
        "failing": failing,
        "invalid": invalid,
        "invoke": invoke,
        "silent": silent,
        "evalutils": evalutils.ref,
        "evalutils_plus": evalutils_plus,
        "anonymous": anonymous,
    }


def _variant(folder: Path, base: str, source: Path, exact: str, changed: str) -> Path:
    """A folder building ``base`` with one line of its evaluate.py replaced."""
    folder.mkdir()
    text = source.read_text()
    assert exact in text
    (folder / "evaluate.py").write_text(text.replace(exact, changed))
    (folder / "Dockerfile").write_text(f"FROM {base}\nCOPY evaluate.py /opt/app/evaluate.py\n")
    return folder


def _run(setting, image: str, client, name: str):  # type: ignore[no-untyped-def]
    config = EvaluationConfig(image=image, ground_truth=setting["gt"])
    prepared = prepare_evaluation(
        config,
        cache_dir=setting["root"] / "cache",
        client=client,
        where="test",
        log=lambda _: None,
    )
    rows = setting["frame"].to_dict("records")
    return evaluate_with_container(
        prepared, rows, setting["split"], work_dir=setting["root"] / name, client=client
    )


def test_the_template_container_agrees_with_selma3d_on_every_value(setting, client):
    run = _run(setting, setting["template"], client, "template")
    assert run.status == "ok", run.reason
    assert run.differences == []
    # 8 aggregates (mean, std of Dice, clDice, PQ per category) and 2 values per case.
    assert run.comparison["compared"] == 8 + 2 * 4
    assert run.image_digest.startswith("sha256:") and run.ground_truth_sha256.startswith("sha256:")
    assert run.wall_time_s is not None and run.peak_memory_bytes
    by_name = {r["image_name"]: r for r in run.metrics["results"]}
    for case in setting["split"].cases:
        assert by_name[f"{case.case_id}.nii.gz"]["dice"] == pytest.approx(
            setting["dice"][case.case_id], abs=1e-12
        )
    vessel = [setting["dice"][c] for c in ("vessel_000", "vessel_001")]
    assert run.metrics["aggregates"]["con_dice_mean"] == pytest.approx(np.mean(vessel), abs=1e-12)
    assert run.metrics["aggregates"]["con_dice_std"] == pytest.approx(
        np.std(vessel, ddof=1), abs=1e-12
    )


def test_a_container_adding_001_to_every_dice_has_each_difference_named(setting, client):
    run = _run(setting, str(setting["plus"]), client, "plus")
    assert run.status == "ok", run.reason
    named = {(d["path"], d["case"]) for d in run.differences}
    order = {r["image_name"]: i for i, r in enumerate(run.metrics["results"])}
    assert named == {
        ("aggregates.con_dice_mean", ""),
        ("aggregates.iso_dice_mean", ""),
        *(
            (f"results[{order[c.case_id + '.nii.gz']}].dice", c.case_id)
            for c in setting["split"].cases
        ),
    }
    for d in run.differences:
        assert d["container"] - d["selma3d"] == pytest.approx(0.01, abs=1e-9)


def test_an_invoke_evaluation_server_is_called_once_and_agrees(setting, client):
    run = _run(setting, str(setting["invoke"]), client, "invoke")
    assert run.api_method == "invoke"
    assert run.status == "ok", run.reason
    assert run.differences == [] and run.comparison["compared"] == 16


def test_a_container_writing_no_metrics_is_missing_metrics(setting, client):
    run = _run(setting, str(setting["silent"]), client, "silent")
    assert run.status == "missing_metrics"
    assert "/output/metrics.json was not written" in run.reason
    assert "done" in run.log_tail


def test_a_failing_container_is_a_status_with_its_log(setting, client):
    run = _run(setting, str(setting["failing"]), client, "failing")
    assert run.status == "failed"
    assert "code 3" in run.reason and "ground truth not found" in run.reason
    assert run.comparison is None


def test_a_non_numeric_metric_is_invalid_metrics_naming_the_key(setting, client):
    run = _run(setting, str(setting["invalid"]), client, "invalid")
    assert run.status == "invalid_metrics"
    assert "aggregates.con_dice_mean is a string ('high'), not a number" in run.reason


def test_evaluate_command_puts_the_container_values_beside_its_own(setting):
    out = setting["root"] / "scores.csv"
    proc = subprocess.run(
        evaluate_command(
            setting["split"].root, setting["preds"], out, setting["template"], setting["gt"]
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no difference beyond 1e-09" in proc.stdout
    import pandas as pd

    table = pd.read_csv(out)
    assert (table["container_dice"] == table["dice"]).all()
    record = json.loads((out.parent / "scores.csv.container.json").read_text())
    assert record["status"] == "ok" and record["comparison"]["differences"] == []


def test_a_round_runs_the_evaluation_container_for_every_team(setting, tmp_path):
    out = tmp_path / "round"
    team = setting["root"] / "bright-team"
    if not team.exists():
        write_team(team)
    config = evaluation_round(
        "eval",
        out,
        setting["split"].root,
        [
            {"name": "threshold", "folder": str(THRESHOLD)},
            {"name": "bright", "folder": str(team)},
        ],
        {"image": setting["template"], "ground_truth": str(setting["gt"])},
    )
    proc = run_round(config, tmp_path / "round.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = json.loads((out / "round.json").read_text())
    runs = record["evaluation"]
    assert set(runs) == {"threshold/s00", "bright/s00"}
    for key, run in runs.items():
        assert run["status"] == "ok", (key, run["reason"])
        assert run["comparison"]["differences"] == [], key
        assert run["image_digest"].startswith("sha256:")
        assert run["wall_time_s"] > 0 and run["peak_memory_bytes"] > 0
    import pandas as pd

    table = pd.read_csv(out / "results.csv")
    assert len(table) == 8 and table["container_dice"].notna().all()
    assert (table["container_dice"] == table["dice"]).all()
    vessel = table[table["track"] == "vessel"]
    assert (vessel["container_cldice"] == vessel["cldice"]).all()
    spot = table[table["track"] == "spot"]
    assert (spot["container_pq"] == spot["pq"]).all() and spot["container_cldice"].isna().all()
    html = (out / "leaderboard" / "index.html").read_text()
    assert "Evaluation container" in html and "0 difference(s)" in html


_INVOKE_SERVER = """
import http.server
import sys

sys.path.insert(0, "/opt/app")
import evaluate


class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self._answer(200 if self.path == "/health" else 404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        evaluate.main()
        self._answer(201)


http.server.HTTPServer(("0.0.0.0", 4743), Handler).serve_forever()
"""


# ---- evalutils' classic form --------------------------------------------------------------


def test_an_evalutils_container_is_read_by_path_and_agrees_on_every_value(setting, client):
    run = _run(setting, setting["evalutils"], client, "evalutils")
    assert run.status == "ok", run.reason
    assert run.comparison["form"] == "evalutils"
    assert run.differences == []
    paths = {v["path"] for v in run.comparison["values"]}
    # Every statistic of the three metric columns, and each case's value of each.
    for column in ("DiceCoefficient", "clDice", "PanopticQuality"):
        for stat in ("count", "mean", "std", "min", "25%", "50%", "75%", "max"):
            assert f"aggregates.{column}.{stat}" in paths
        assert {f"case.{column}.{i}" for i in range(4)} <= paths
    assert run.comparison["compared"] == 3 * 8 + 3 * 4
    # The cases are named by gt_fname (pred_fname is the algorithm's output file).
    assert "case: cases named by the column 'gt_fname'" in run.comparison["notes"]
    # pandas writes NaN where a row has no value (clDice of a spot case): kept as no value.
    [nan_note] = [n for n in run.comparison["notes"] if "not finite" in n]
    assert "4 value(s) not finite" in nan_note and "case.clDice." in nan_note
    assert run.metrics["case"]["clDice"]["2"] is None or run.metrics["case"]["clDice"]["0"] is None
    dice = setting["dice"]
    values = {v["path"]: v for v in run.comparison["values"]}
    assert values["aggregates.DiceCoefficient.mean"]["container"] == pytest.approx(
        np.mean(list(dice.values())), abs=1e-12
    )
    assert values["aggregates.DiceCoefficient.25%"]["container"] == pytest.approx(
        np.percentile(list(dice.values()), 25), abs=1e-12
    )


def test_an_evalutils_container_adding_001_to_every_dice_has_each_difference_named(setting, client):
    run = _run(setting, str(setting["evalutils_plus"]), client, "evalutils-plus")
    assert run.status == "ok", run.reason
    named = {d["path"] for d in run.differences}
    # Shifting every value moves each location statistic; count and std stay.
    assert named == {
        *(f"aggregates.DiceCoefficient.{s}" for s in ("mean", "min", "25%", "50%", "75%", "max")),
        *(f"case.DiceCoefficient.{i}" for i in range(4)),
    }
    for d in run.differences:
        assert d["container"] - d["selma3d"] == pytest.approx(0.01, abs=1e-9)
    cases = {d["case"] for d in run.differences if d["case"]}
    assert cases == {c.case_id for c in setting["split"].cases}


def _evaluate(setting, out, image, *extra, preds=None):
    return subprocess.run(
        evaluate_command(
            setting["split"].root, preds or setting["preds"], out, image, setting["gt"], *extra
        ),
        capture_output=True,
        text=True,
        check=False,
    )


def test_evaluate_prints_the_detected_form_and_every_compared_value(setting):
    out = setting["root"] / "evalutils-scores.csv"
    proc = _evaluate(setting, out, setting["evalutils"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "metrics.json form: evalutils" in proc.stdout
    assert "36 value(s) compared with selma3d's: no difference beyond 1e-09" in proc.stdout
    lines = proc.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["path", "selma3d", "value"]
    )
    table = lines[header + 1 : header + 37]
    assert any(line.split()[0] == "aggregates.DiceCoefficient.mean" for line in table)
    assert any(line.split()[0] == "case.PanopticQuality.3" for line in table)
    assert not any("differs" in line for line in table)
    import pandas as pd

    frame = pd.read_csv(out)
    assert (frame["container_dice"] == frame["dice"]).all()
    assert (frame["container_scope"] == "case").all()


def test_results_naming_no_case_fill_the_container_columns_with_the_track_mean(setting):
    out = setting["root"] / "anonymous-scores.csv"
    proc = _evaluate(setting, out, str(setting["anonymous"]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "do not name their case (image_name)" in proc.stdout
    import pandas as pd

    frame = pd.read_csv(out)
    assert (frame["container_scope"] == "track mean").all()
    for _track, rows in frame.groupby("track"):
        assert rows["container_dice"].nunique() == 1
        assert rows["container_dice"].iloc[0] == pytest.approx(rows["dice"].mean(), abs=1e-12)
    vessel = frame[frame["track"] == "vessel"]
    assert vessel["container_cldice"].iloc[0] == pytest.approx(vessel["cldice"].mean(), abs=1e-12)


def test_evaluate_limits_the_container_with_timeout_s_and_memory(setting):
    sleeper = setting["root"] / "sleeper"
    if not sleeper.exists():
        sleeper.mkdir()
        (sleeper / "Dockerfile").write_text(
            f'FROM {setting["template"]}\nENTRYPOINT ["sleep", "600"]\n'
        )
    out = setting["root"] / "sleeper-scores.csv"
    proc = _evaluate(setting, out, str(sleeper), "--timeout-s", "3", "--memory", "256m")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ": timeout - still running after 3 s; killed" in proc.stdout
    record = json.loads(out.with_name(out.name + ".container.json").read_text())
    assert record["status"] == "timeout" and record["wall_time_s"] < 60
    proc = _evaluate(setting, out, str(sleeper), "--memory", "lots")
    assert proc.returncode == 2 and "--memory" in proc.stderr


def test_evaluate_passes_its_gate_on_to_the_container(setting):
    # Probabilities: 0.9 on the label, 0.3 elsewhere in a band. With --threshold 0.5 selma3d
    # scores the label itself (Dice 1), and the container must be given the same masks.
    preds = setting["root"] / "probabilities"
    if not preds.exists():
        preds.mkdir()
        for case in setting["split"].cases:
            label = read_volume(case.label)
            values = np.where(label.array > 0, 0.9, 0.0).astype(np.float32)
            values[:, :, :4] = np.where(label.array[:, :, :4] > 0, 0.9, 0.3)
            write_volume(preds / f"{case.case_id}.nii.gz", values, label.grid)
    out = setting["root"] / "gate-scores.csv"
    proc = _evaluate(setting, out, setting["template"], "--threshold", "0.5", preds=preds)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import pandas as pd

    frame = pd.read_csv(out)
    assert (frame["dice"] == 1.0).all() and (frame["container_dice"] == 1.0).all()


# ---- complete logs ------------------------------------------------------------------------

# An evaluation failing as the SELMA3D 2026 evaluator fails on a name it cannot categorize: the
# cause, then the exception that ends the program, 30 lines below it.
_FAILING_EVALUATION = """
def category(name):
    raise RuntimeError(f"Unknown category: {name}")


class PredictionProcessingError(Exception):
    pass


def deep(n):
    if n == 0:
        try:
            category("spot_000.nii.gz")
        except RuntimeError as exc:
            raise PredictionProcessingError("the evaluation failed") from exc
    deep(n - 1)


deep(12)
"""

_FORWARDING_SERVER = """
import http.server, os, signal, subprocess, sys, threading

forwarders = []


def graceful(signum, frame):
    for thread in forwarders:
        thread.join(timeout=10)
    os._exit(0)


signal.signal(signal.SIGTERM, graceful)


class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self._answer(200 if self.path == "/health" else 404)

    def do_POST(self):
        # As grand-challenge's shim: the evaluation in a subprocess, its output forwarded line
        # by line by a thread, the answer given as soon as the subprocess has ended.
        proc = subprocess.Popen([sys.executable, "/opt/app/failing.py"], stderr=subprocess.PIPE)

        def forward():
            for line in proc.stderr:
                sys.stderr.write(line.decode())
                sys.stderr.flush()
                __import__("time").sleep(0.003)

        thread = threading.Thread(target=forward)
        forwarders.append(thread)
        thread.start()
        proc.wait()
        self._answer(500)

    def log_message(self, fmt, *args):
        pass


http.server.HTTPServer(("0.0.0.0", 4743), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def failing_evaluations(setting):
    root = setting["root"]
    exec_folder, invoke_folder = root / "failing-exec", root / "failing-invoke"
    for folder in (exec_folder, invoke_folder):
        folder.mkdir()
        (folder / "failing.py").write_text(_FAILING_EVALUATION)
    (exec_folder / "Dockerfile").write_text(
        f"FROM {setting['template']}\nCOPY failing.py /opt/app/failing.py\n"
        'ENTRYPOINT ["python3", "/opt/app/failing.py"]\n'
    )
    (invoke_folder / "server.py").write_text(_FORWARDING_SERVER)
    (invoke_folder / "Dockerfile").write_text(
        f"FROM {setting['template']}\nCOPY failing.py server.py /opt/app/\n"
        "LABEL org.grand-challenge.api-method=invoke\n"
        'ENTRYPOINT ["python3", "/opt/app/server.py"]\n'
    )
    return {"exec": exec_folder, "invoke": invoke_folder}


@pytest.mark.parametrize("kind", ["exec", "invoke"])
def test_a_traceback_written_just_before_the_end_is_always_in_the_log(
    setting, client, failing_evaluations, kind
):
    for attempt in range(10):
        run = _run(setting, str(failing_evaluations[kind]), client, f"failing-{kind}-{attempt}")
        assert run.status == "failed", (attempt, run.reason)
        assert (
            "first exception in the log" in run.reason
            and "RuntimeError: Unknown category: spot_000.nii.gz" in run.reason
            and "PredictionProcessingError: the evaluation failed" in run.reason
        ), (attempt, run.reason)
        log = Path(run.log_file).read_text()
        assert log.rstrip().endswith("PredictionProcessingError: the evaluation failed"), (
            attempt,
            log[-500:],
        )
        assert log.count("Traceback (most recent call last)") == 2, (attempt, log)
        assert "RuntimeError: Unknown category: spot_000.nii.gz" in log, (attempt, log)


# ---- hostile metrics.json in a round ------------------------------------------------------

# Each team marks as many voxels as its number; the evaluation container writes the hostile
# metrics.json of that number, so one round meets every kind.
_COUNTED_PREDICT = """
import glob, os
import numpy as np
import SimpleITK as sitk
src = glob.glob("/input/images/light-sheet-3d-microscopy/*")[0]
img = sitk.ReadImage(src)
mask = np.zeros(sitk.GetArrayFromImage(img).shape, np.uint8)
mask.flat[:COUNT] = 1
out = sitk.GetImageFromArray(mask)
out.CopyInformation(img)
os.makedirs("/output/images/isolated-biological-structure", exist_ok=True)
sitk.WriteImage(out, "/output/images/isolated-biological-structure/mask.mha")
"""

_HOSTILE_EVALUATION = """
import glob, json
import SimpleITK as sitk
jobs = json.load(open("/input/predictions.json"))
first = glob.glob(f"/input/{jobs[0]['pk']}/output/images/*/*")[0]
kind = int(sitk.GetArrayFromImage(sitk.ReadImage(first)).sum())
name = jobs[0]["inputs"][0]["image"]["name"]
if kind == 1:  # what the official 2026 evaluator writes for empty masks: NaN per case
    text = ('{"aggregates": {"con_dice_mean": NaN, "con_dice_std": Infinity, '
            '"iso_dice_mean": -Infinity}, "results": [{"image_name": "%s", "dice": NaN}]}' % name)
elif kind == 2:
    text = '{"a": ' * 200000 + "1" + "}" * 200000
elif kind == 3:
    text = '{"aggregates": {"con_dice_mean": ' + "9" * 5000 + "}}"
elif kind == 4:
    text = '{"pad": "' + "x" * (16 << 20) + '"}'
else:
    text = json.dumps({"aggregates": {"con_dice_mean": 0.5},
                       "results": [{"image_name": [name, name], "dice": 0.5}]})
open("/output/metrics.json", "w").write(text)
print(f"wrote kind {kind}", flush=True)
"""


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"{constant} in a file selma3d wrote")

    return json.loads(text, parse_constant=refuse)


def test_a_round_with_hostile_metrics_json_names_each_and_still_writes_its_leaderboard(
    setting, tmp_path
):
    root = tmp_path / "hostile"
    root.mkdir()
    teams = []
    for count in range(1, 6):
        team = write_team(root / f"team{count}", _COUNTED_PREDICT.replace("COUNT", str(count)))
        teams.append({"name": f"t{count}", "folder": str(team)})
    evaluation = root / "hostile-evaluation"
    evaluation.mkdir()
    (evaluation / "hostile.py").write_text(_HOSTILE_EVALUATION)
    (evaluation / "Dockerfile").write_text(
        f"FROM {setting['template']}\nCOPY hostile.py /opt/app/hostile.py\n"
        'ENTRYPOINT ["python3", "/opt/app/hostile.py"]\n'
    )
    out = root / "round"
    config = evaluation_round(
        "hostile",
        out,
        setting["split"].root,
        teams,
        {"image": str(evaluation), "ground_truth": str(setting["gt"])},
    )
    proc = run_round(config, root / "round.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = _strict((out / "round.json").read_text())
    runs = record["evaluation"]
    assert runs["t1/s00"]["status"] == "ok"
    [note] = [n for n in runs["t1/s00"]["comparison"]["notes"] if "not finite" in n]
    assert note == (
        "metrics.json: 4 value(s) not finite, kept as no value: aggregates.con_dice_mean (NaN), "
        "aggregates.con_dice_std (Infinity), aggregates.iso_dice_mean (-Infinity), "
        "results[0].dice (NaN)"
    )
    expected = {
        "t2/s00": "/output/metrics.json is nested 200000 deep; at most 64 levels are read",
        "t3/s00": "/output/metrics.json holds a number of 5000 characters (999999999999...); "
        "at most 100 are read",
        "t4/s00": f"/output/metrics.json is {(16 << 20) + 11} bytes; at most 16777216 are read",
        "t5/s00": "/output/metrics.json: results[0].image_name is a list, not a string",
    }
    for key, reason in expected.items():
        assert (runs[key]["status"], runs[key]["reason"]) == ("invalid_metrics", reason), key
    board = out / "leaderboard"
    assert (board / "index.html").is_file()
    for published in board.rglob("*.json"):
        _strict(published.read_text())
    html = (board / "index.html").read_text()
    # The report is public: it counts the notes and gives each failure its status's fixed text;
    # the paths and reasons, which quote the container's metrics.json, stay in round.json.
    assert "1 note(s) on values with no counterpart or no value (NaN, Infinity)" in html
    assert "the evaluation container&#x27;s metrics.json could not be used" in html
    assert "aggregates.con_dice_mean (NaN)" not in html
    assert "results[0].image_name is a list" not in html


# ---- a form selma3d does not know, declared in round.yaml ----------------------------------

_CUSTOM_FORM = """
import json, sys
sys.path.insert(0, "/opt/app")
import evaluate
evaluate.main()
m = json.load(open("/output/metrics.json"))
a = m["aggregates"]
custom = {
    "board": {"vessels": {"overlap": a["con_dice_mean"], "skeleton": a["con_cldice_mean"]},
              "spots": {"overlap": a["iso_dice_mean"], "spread": a["iso_dice_std"]}},
    "per_case": {r["image_name"].split(".")[0]: r["dice"] for r in m["results"]},
}
json.dump(custom, open("/output/metrics.json", "w"))
"""


def test_a_round_compares_the_paths_its_round_file_declares(setting, tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "custom.py").write_text(_CUSTOM_FORM)
    (folder / "Dockerfile").write_text(
        f"FROM {setting['template']}\nCOPY custom.py /opt/app/custom.py\n"
        'ENTRYPOINT ["python3", "/opt/app/custom.py"]\n'
    )
    out = tmp_path / "round"
    config = evaluation_round(
        "declared",
        out,
        setting["split"].root,
        [{"name": "threshold", "folder": str(THRESHOLD)}],
        {
            "image": str(folder),
            "ground_truth": str(setting["gt"]),
            "compare": {
                "board.vessels.overlap": {"metric": "dice", "track": "vessel", "statistic": "mean"},
                "board.vessels.skeleton": {
                    "metric": "cldice",
                    "track": "vessel",
                    "statistic": "mean",
                },
                "board.spots.overlap": {"metric": "dice", "track": "spot", "statistic": "mean"},
                "board.spots.spread": {"metric": "dice", "track": "spot", "statistic": "std"},
                "per_case.vessel_000": {"metric": "dice", "case": "vessel_000"},
                "per_case.spot_001": {"metric": "cldice", "case": "spot_001"},
            },
        },
    )
    proc = run_round(config, tmp_path / "round.yaml", env={**os.environ, "COLUMNS": "400"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = proc.stdout + proc.stderr
    run = json.loads((out / "round.json").read_text())["evaluation"]["threshold/s00"]
    assert run["status"] == "ok", run["reason"]
    comparison = run["comparison"]
    assert comparison["form"] == "declared" and comparison["compared"] == 6
    # per_case holds Dice; declared as clDice for a spot case (selma3d has none), it is named.
    [wrong] = comparison["differences"]
    assert (wrong["path"], wrong["metric"], wrong["case"], wrong["selma3d"]) == (
        "per_case.spot_001",
        "cldice",
        "spot_001",
        None,
    )
    import pandas as pd

    table = pd.read_csv(out / "results.csv")
    spot = table[table["case_id"] == "spot_001"]
    assert wrong["container"] == pytest.approx(float(spot["dice"].iloc[0]), abs=1e-12)
    assert "metrics.json form: declared (round.yaml evaluation.compare)" in printed
    assert "1 of 6 value(s) differ from selma3d's" in printed
