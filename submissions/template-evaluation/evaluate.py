"""Score a grand-challenge submission with selma3d's metrics, as the SELMA3D 2026 evaluator does.

grand-challenge runs this once per submission, after every algorithm job of the phase succeeded:

- ``/input/predictions.json`` lists the jobs; each has ``pk``, ``inputs`` and ``outputs``
  (socket values: ``socket`` with its ``slug`` and ``relative_path``, ``image`` with its
  ``name``), ``status``, ``exec_duration`` and ``invoke_duration``;
- a job's output image is in ``/input/<job pk>/output/<relative_path>/``;
- the ground truth tarball is extracted at ``/opt/ml/input/data/ground_truth/``; the mask of a
  case is ``task1_gt/<the input image's name>`` there (the organizers' own file names, which
  also give the category: contiguous or isolated structures);
- the result is ``/output/metrics.json``: ``results`` (one entry per job: ``dice`` and
  ``cldice`` for contiguous structures, ``dice`` and ``panoptic_quality`` for isolated ones,
  plus ``image_name`` so each value can be traced to its case) and ``aggregates`` (the mean and
  sample standard deviation of each, per category: ``con_dice_mean``, ``iso_dice_std``...).

The values come from ``metrics.prepare_reference`` and ``metrics.score_prediction``, the code
``selma3d evaluate`` scores with, so on the same cases the two agree exactly.

Where the official 2026 evaluator fails, this one scores, and says so (in its log and in
``metrics.json`` under ``official_evaluator_would_fail``, one line per cause):

- an image name with none of the official prefixes (``spot_000.nii.gz``): the official one
  raises ``RuntimeError: Unknown category``; this one also knows selma3d's names (``vessel``,
  ``spot``, ``cfos``...);
- an empty mask: the official clDice is NaN when either mask is empty, PQ when both are, and its
  ``statistics.stdev`` then raises; this one gives selma3d's values (1 when both are empty, 0
  when one is);
- a category with one case (or none): the official ``statistics.stdev`` (``statistics.mean``)
  raises; this one writes null.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import SimpleITK

from metrics import MetricOptions, prepare_reference, score_prediction

INPUT = Path("/input")
OUTPUT = Path("/output")
GROUND_TRUTH = Path("/opt/ml/input/data/ground_truth/task1_gt")
INPUT_SLUG = "light-sheet-3d-microscopy"
OUTPUT_SLUG = "isolated-biological-structure"
IMAGE_SUFFIXES = (".mha", ".tif", ".tiff")

# The 2026 evaluator's categories by file-name prefix; "vessel" and "spot" name selma3d's own
# tracks directly (its generated cases are called vessel_000, spot_000, ...).
CONTIGUOUS = (
    "axonalmarker", "blood_vessel", "gutnerve", "lymphatic_vessel", "peripheral_nerve", "vessel",
)
ISOLATED = (
    "AD_plaques", "cell_nuclei", "cfos_neuron", "microglia", "protein",
    "amyloid_plaque", "cell_nucleus", "cfos", "spot",
)
OPTIONS = MetricOptions(connectivity=26, iou_threshold=0.3, matching="greedy")
# The official evaluator's own prefixes: any other name makes it raise.
OFFICIAL_CONTIGUOUS = CONTIGUOUS[:5]
OFFICIAL_ISOLATED = ISOLATED[:5]
WOULD_FAIL = []
"""What the official evaluator would fail on, found while scoring."""


def socket_of(value: dict) -> dict:
    """The socket of a value (``socket``; ``interface`` in older platform versions)."""
    return value.get("socket") or value["interface"]


def find_value(values: list, slug: str) -> dict:
    for value in values:
        if socket_of(value)["slug"] == slug:
            return value
    raise RuntimeError(f"no socket value {slug!r} among {[socket_of(v)['slug'] for v in values]}")


def category(name: str) -> str:
    """``con`` or ``iso`` from the image's name; the longest matching prefix wins."""
    matches = [(len(p), "con") for p in CONTIGUOUS if name.startswith(p)]
    matches += [(len(p), "iso") for p in ISOLATED if name.startswith(p)]
    if not matches:
        raise RuntimeError(f"{name}: no known structure prefix, so no category")
    return max(matches)[1]


def read_array(path: Path) -> np.ndarray:
    return SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(path)))


def output_image(job: dict) -> Path:
    relative = socket_of(find_value(job["outputs"], OUTPUT_SLUG))["relative_path"]
    folder = INPUT / str(job["pk"]) / "output" / relative
    images = sorted(p for p in folder.iterdir() if p.name.lower().endswith(IMAGE_SUFFIXES))
    if len(images) != 1:
        raise RuntimeError(f"{folder}: expected one image, found {[p.name for p in images]}")
    return images[0]


def score_job(job: dict) -> dict:
    name = find_value(job["inputs"], INPUT_SLUG)["image"]["name"]
    kind = category(name)
    reference = read_array(GROUND_TRUTH / name)
    prediction = read_array(output_image(job))
    if prediction.shape != reference.shape:
        raise RuntimeError(
            f"{name}: prediction {prediction.shape} vs ground truth {reference.shape}"
        )
    prepared = prepare_reference(
        reference, track="vessel" if kind == "con" else "spot", options=OPTIONS
    )
    scores = score_prediction(prepared, prediction)
    result = {"image_name": name, "dice": float(scores["dice"])}
    if not name.startswith(OFFICIAL_CONTIGUOUS + OFFICIAL_ISOLATED):
        WOULD_FAIL.append(
            f"{name}: no category for the official evaluator (RuntimeError: Unknown category); "
            f"scored here as {kind} by selma3d's prefix"
        )
    empty = [what for what, a in (("reference", reference), ("prediction", prediction))
             if not a.any()]
    if kind == "con":
        result["cldice"] = float(scores["cldice"])
        if empty:
            WOULD_FAIL.append(
                f"{name}: empty {' and '.join(empty)}: the official clDice is NaN and its "
                f"statistics.stdev raises; clDice here {result['cldice']:g}"
            )
    else:
        result["panoptic_quality"] = float(scores["pq"])
        if len(empty) == 2:
            WOULD_FAIL.append(
                f"{name}: empty reference and prediction: the official PQ is NaN and its "
                f"statistics.stdev raises; PQ here {result['panoptic_quality']:g}"
            )
    print(f"scored {name} ({kind})", flush=True)
    return result


def aggregate(results: list) -> dict:
    """Mean and sample standard deviation per category and metric (the 2026 evaluator's keys)."""
    columns = {
        "iso_dice": ("panoptic_quality", "dice"),
        "iso_panoptic_quality": ("panoptic_quality", "panoptic_quality"),
        "con_dice": ("cldice", "dice"),
        "con_cldice": ("cldice", "cldice"),
    }
    out = {}
    for key, (marker, metric) in columns.items():
        values = [r[metric] for r in results if marker in r]
        out[f"{key}_mean"] = statistics.mean(values) if values else None
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
    for category, marker in (("contiguous", "cldice"), ("isolated", "panoptic_quality")):
        n = sum(marker in r for r in results)
        if n < 2:
            failing = "statistics.stdev" if n else "statistics.mean"
            WOULD_FAIL.append(
                f"{n} case(s) of category {category}: the official {failing} raises; "
                "null here"
            )
    return out


def main() -> int:
    jobs = json.loads((INPUT / "predictions.json").read_text(encoding="utf-8"))
    results = [score_job(job) for job in jobs]
    metrics = {"results": results, "aggregates": aggregate(results)}
    if WOULD_FAIL:
        metrics["official_evaluator_would_fail"] = WOULD_FAIL
        for line in WOULD_FAIL:
            print(f"the official evaluator would fail here: {line}", flush=True)
    (OUTPUT / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    print(f"wrote /output/metrics.json ({len(results)} jobs)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
