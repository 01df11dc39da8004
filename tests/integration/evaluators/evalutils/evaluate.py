"""A segmentation evaluation in evalutils' form, on grand-challenge's evaluation contract.

As evalutils' ``ClassificationEvaluation`` with its segmentation template: ``score_case`` gives
one row per case (``DiceCoefficient``, ``clDice`` for contiguous structures,
``PanopticQuality`` for isolated ones, ``pred_fname``, ``gt_fname``); the table's columns are
summarised as pandas' ``describe()`` does (a missing value is NaN and not counted); the file
is ``{"case": table.to_dict(), "aggregates": {...}}`` written with ``json.dumps``, so a NaN
cell is written ``NaN``. The cases come from ``/input/predictions.json``; each ground truth is
``/opt/ml/input/data/ground_truth/task1_gt/<input image name>``.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import SimpleITK

from metrics import MetricOptions, prepare_reference, score_prediction

INPUT = Path("/input")
OUTPUT = Path("/output")
GROUND_TRUTH = Path("/opt/ml/input/data/ground_truth/task1_gt")
OPTIONS = MetricOptions(connectivity=26, iou_threshold=0.3, matching="greedy")
AGGREGATES = ("count", "mean", "std", "min", "25%", "50%", "75%", "max")


def socket_of(value):
    return value.get("socket") or value["interface"]


def find_value(values, slug):
    for value in values:
        if socket_of(value)["slug"] == slug:
            return value
    raise RuntimeError(f"no socket value {slug!r}")


def score_case(job):
    name = find_value(job["inputs"], "light-sheet-3d-microscopy")["image"]["name"]
    relative = socket_of(find_value(job["outputs"], "isolated-biological-structure"))
    folder = INPUT / str(job["pk"]) / "output" / relative["relative_path"]
    pred_path = sorted(folder.iterdir())[0]
    gt_path = GROUND_TRUTH / name
    reference = SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(gt_path)))
    prediction = SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(pred_path)))
    contiguous = name.startswith("vessel")
    prepared = prepare_reference(
        reference, track="vessel" if contiguous else "spot", options=OPTIONS
    )
    scores = score_prediction(prepared, prediction)
    row = {"DiceCoefficient": float(scores["dice"])}
    if contiguous:
        row["clDice"] = float(scores["cldice"])
    else:
        row["PanopticQuality"] = float(scores["pq"])
    row["pred_fname"] = pred_path.name
    row["gt_fname"] = gt_path.name
    print(f"scored {name}", flush=True)
    return row


def describe(values):
    """pandas' Series.describe() of a numeric column: NaN left out, quartiles interpolated."""
    present = np.array([v for v in values if not math.isnan(v)], dtype=float)
    if len(present) == 0:
        return {"count": 0.0}
    return {
        "count": float(len(present)),
        "mean": float(present.mean()),
        "std": float(present.std(ddof=1)) if len(present) > 1 else math.nan,
        "min": float(present.min()),
        "25%": float(np.percentile(present, 25)),
        "50%": float(np.percentile(present, 50)),
        "75%": float(np.percentile(present, 75)),
        "max": float(present.max()),
    }


def describe_names(values):
    """describe() of a column of strings: count, unique, top, freq."""
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    top = max(counts, key=lambda v: (counts[v], v))
    return {"count": len(values), "unique": len(counts), "top": top, "freq": counts[top]}


def main():
    jobs = json.loads((INPUT / "predictions.json").read_text(encoding="utf-8"))
    rows = [score_case(job) for job in jobs]
    columns = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    # DataFrame(rows).to_dict(): {column: {row index: value}}, NaN where a row has no value.
    table = {c: {i: row.get(c, math.nan) for i, row in enumerate(rows)} for c in columns}
    aggregates = {}
    for column, cells in table.items():
        values = list(cells.values())
        if all(isinstance(v, str) for v in values):
            aggregates[column] = describe_names(values)
        else:
            summary = describe(values)
            aggregates[column] = {k: summary[k] for k in AGGREGATES if k in summary}
    metrics = {"case": table, "aggregates": aggregates}
    (OUTPUT / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    print(f"wrote /output/metrics.json ({len(rows)} cases)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
