import json
import math

import numpy as np
import pandas as pd
import pytest

from harness.cli import run
from harness.scoring.evaluate import EVALUATION_COLUMNS, evaluate_predictions, write_results
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import Grid, write_volume

SHAPE = (8, 9, 10)


def _mask(kind):
    m = np.zeros(SHAPE, np.uint8)
    if kind == "vessel":
        m[4, 4, 1:9] = 1  # one straight tube
    else:
        m[1:3, 1:3, 1:3] = 1  # two blobs
        m[5:7, 5:8, 5:8] = 1
    return m


@pytest.fixture
def split(tmp_path):
    root = tmp_path / "split"
    root.mkdir()
    rows = []
    grid = Grid(SHAPE, spacing=(2.0, 1.0, 1.0))
    for case_id, track in [("c1", "spot"), ("c2", "spot"), ("c3", "vessel"), ("c4", "vessel"),
                           ("c5", "spot")]:
        write_volume(root / f"{case_id}.nii.gz", np.zeros(SHAPE, np.float32), grid)
        write_volume(root / f"{case_id}_label.nii.gz", _mask(track), grid)
        rows.append({"case_id": case_id, "track": track, "structure": "x",
                     "image": f"{case_id}.nii.gz", "label": f"{case_id}_label.nii.gz"})
    write_manifest(root, rows)
    return load_split(root)


def _plain_folder(tmp_path, split):
    out = tmp_path / "team"
    out.mkdir()
    grid = Grid(SHAPE, spacing=(2.0, 1.0, 1.0))
    write_volume(out / "c1.nii.gz", _mask("spot"), grid)  # perfect
    # c2: missing
    write_volume(out / "c3.mha", _mask("vessel")[:, :, :5], None)  # wrong shape
    (out / "c4.nii.gz").write_bytes(b"\x1f\x8b\x08not really gzip")  # unreadable
    write_volume(out / "c5.nii.gz", _mask("spot"), grid)  # two files for one case
    write_volume(out / "c5.tif", _mask("spot"))
    (out / "notes.txt").write_text("ignored")
    return out


def test_statuses_of_a_plain_folder(tmp_path, split):
    frame = evaluate_predictions(split, {"t": _plain_folder(tmp_path, split)}, progress=False)
    assert list(frame.columns[: len(EVALUATION_COLUMNS)]) == list(EVALUATION_COLUMNS)
    status = dict(zip(frame["case_id"], frame["status"], strict=True))
    assert status == {"c1": "ok", "c2": "missing_output", "c3": "invalid_output",
                      "c4": "invalid_output", "c5": "invalid_output"}
    rows = frame.set_index("case_id")
    assert rows.loc["c1", "dice"] == 1.0 and rows.loc["c1", "blob_f1"] == 1.0
    assert math.isnan(rows.loc["c1", "cldice"])  # not a spot-track metric
    # Missing or invalid: the worst values (blob_fn = the reference's 2 blobs; the tube's b0 = 1)
    assert rows.loc["c2", "dice"] == 0.0 and rows.loc["c2", "blob_fn"] == 2
    assert rows.loc["c4", "cldice"] == 0.0 and rows.loc["c4", "betti0_error"] == 1
    assert "shape (z, y, x) is (8, 9, 5)" in rows.loc["c3", "message"]
    assert "c4.nii.gz" in rows.loc["c4", "message"]
    assert "c5.nii.gz" in rows.loc["c5", "message"] and "c5.tif" in rows.loc["c5", "message"]
    assert frame.attrs["unexpected_files"] == {"t": ["notes.txt"]}


def test_runner_folder_statuses_propagate(tmp_path, split):
    run = tmp_path / "run"
    (run / "predictions").mkdir(parents=True)
    write_volume(run / "predictions" / "c1.nii.gz", _mask("spot"), Grid(SHAPE, (2.0, 1.0, 1.0)))
    write_volume(run / "predictions" / "c3.nii.gz", np.zeros(SHAPE, np.uint8))  # left by a retry
    records = [
        {"case_id": "c1", "status": "ok", "wall_time_s": 1.5, "peak_memory_bytes": 1000},
        {"case_id": "c2", "status": "ok"},  # ok, but the file is missing
        {"case_id": "c3", "status": "timeout", "reason": "killed after 60 s"},
        {"case_id": "c4", "status": "oom"},
        {"case_id": "c5", "status": "failed", "reason": "exit code 1"},
    ]
    # Every field the runner writes, the ones a case does not set at their runner defaults.
    full = [
        {"exit_code": 0, "image_digest": "sha256:0", "reason": "", "wall_time_s": 0.0,
         "peak_memory_bytes": None, **r}
        for r in records
    ]
    (run / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in full))
    frame = evaluate_predictions(split, {"t": run}, progress=False).set_index("case_id")
    assert frame["status"].to_dict() == {"c1": "ok", "c2": "missing_output", "c3": "timeout",
                                         "c4": "oom", "c5": "failed"}
    assert frame.loc["c3", "message"] == "killed after 60 s"
    assert frame.loc["c3", "dice"] == 0.0 and frame.loc["c3", "prediction"] == ""
    assert frame.loc["c1", "wall_time_s"] == 1.5
    # Note: grid spacing (2, 1, 1) was kept, so no header note for c1.
    assert frame.loc["c1", "message"] == ""


def test_two_jobs_equal_one_and_teams_share_the_reference(tmp_path, split):
    team = _plain_folder(tmp_path, split)
    other = tmp_path / "other"
    other.mkdir()
    for case in split.cases:
        write_volume(other / f"{case.case_id}.nii.gz", np.zeros(SHAPE, np.uint8))
    teams = {"a": team, "b": other}
    serial = evaluate_predictions(split, teams, jobs=1, progress=False)
    parallel = evaluate_predictions(split, teams, jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(zip(serial["team"], serial["case_id"], strict=True)) == [
        (t, c) for t in ("a", "b") for c in ("c1", "c2", "c3", "c4", "c5")
    ]


def test_cli_writes_sorted_csv_and_exits_1_on_failed_cases(tmp_path, split):
    folder = _plain_folder(tmp_path, split)
    out = tmp_path / "metrics.csv"
    code = run(["evaluate", "--split", str(split.root), "--predictions", str(folder),
                "--out", str(out), "--team", "demo", "--no-progress"])
    assert code == 1
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["case_id"]) == ["c1", "c2", "c3", "c4", "c5"]
    assert set(table["team"]) == {"demo"}
    assert table.loc[0, "cldice"] == ""  # not applicable to a spot case: an empty cell
    assert table.loc[0, "blob_tp"] == "2"  # an integer column, written without ".0"


def test_write_results_keeps_the_previous_table_when_writing_fails(tmp_path, split, monkeypatch):
    frame = evaluate_predictions(split, {"t": _plain_folder(tmp_path, split)}, progress=False)
    out = write_results(frame, tmp_path / "deep" / "m.csv")
    before = out.read_bytes()
    real_to_csv = pd.DataFrame.to_csv

    def half_then_full_disk(self, path_or_buf=None, *args, **kwargs):
        text = real_to_csv(self, None, *args, **kwargs)
        if path_or_buf is not None:
            with open(path_or_buf, "w", encoding="utf-8") as fh:
                fh.write(text[: len(text) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_results(frame.iloc[:2], out)
    monkeypatch.undo()
    assert out.read_bytes() == before  # a reader still sees the whole previous table
    assert [p.name for p in out.parent.iterdir()] == ["m.csv"]  # no temporary file left


def test_write_results_neutralises_formulas_a_container_printed(tmp_path):
    # The message is the tail of a participant's log: a spreadsheet must not run it.
    frame = pd.DataFrame(
        {
            "team": ["b", "a"],
            "case_id": ["c1", "c1"],
            "status": ["failed", "ok"],
            "message": ['=HYPERLINK("http://x","click")', "fine"],
            "dice": [-0.0, 0.5],
        }
    )
    text = write_results(frame, tmp_path / "r.csv").read_text(encoding="utf-8")
    assert text.splitlines() == [
        "team,case_id,status,message,dice",
        "a,c1,ok,fine,0.5",
        'b,c1,failed,"\'=HYPERLINK(""http://x"",""click"")",-0.0',
    ]
