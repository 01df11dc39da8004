"""Fixed masks and the values panoptica computed on them (recorded reference values).

Provenance
----------
Recorded with panoptica 2.1.7 (in its own venv: numpy 2.2.6, connected-components-3d 3.29.0,
scikit-image 0.26.0, Python 3.11), by running this file as a script in that venv::

    benchmarks/.venv-panoptica/bin/python tests/metrics/panoptica_recorded.py

which calls, for each case below::

    Panoptica_Evaluator(
        expected_input=InputType.SEMANTIC,
        instance_approximator=ConnectedComponentsInstanceApproximator(),
        instance_matcher=NaiveThresholdMatching(matching_metric=Metric.IOU,
                                                matching_threshold=0.3),
        instance_metrics=[Metric.DSC, Metric.IOU],
        global_metrics=[Metric.DSC, Metric.clDSC],
    ).evaluate(prediction, reference)["ungrouped"]

and prints ``tp, fp, fn, rq, pq_dsc, global_bin_dsc, global_bin_cldsc``. The numbers were pasted
into ``RECORDED`` by hand. The masks are drawn from the literal shapes below with numpy only, so
the same arrays are built in either environment.
"""

from __future__ import annotations

import numpy as np

SHAPE = (40, 40, 40)

# (centre z, y, x), (radii z, y, x)
_SPOT_REFERENCE = [
    ((6, 6, 6), (3, 3, 3)),
    ((6, 20, 8), (2, 4, 3)),
    ((8, 33, 30), (4, 3, 3)),
    ((18, 10, 30), (3, 3, 5)),
    ((20, 25, 12), (5, 4, 4)),
    ((30, 8, 10), (3, 2, 2)),
    ((32, 30, 32), (4, 4, 4)),
    ((22, 34, 24), (2, 2, 2)),
    ((34, 20, 20), (3, 3, 2)),
    ((12, 28, 18), (2, 3, 2)),
]
_SPOT_PREDICTION = [
    ((6, 6, 7), (3, 3, 3)),  # shifted by one voxel
    ((6, 21, 8), (2, 3, 3)),  # shifted and thinner
    ((8, 33, 30), (5, 4, 4)),  # too large
    ((18, 10, 33), (3, 3, 4)),  # shifted along its long axis
    ((20, 25, 12), (4, 4, 4)),  # slightly small
    # (30, 8, 10) missed
    ((32, 30, 35), (4, 4, 4)),  # shifted by 3: low IoU
    ((22, 34, 25), (2, 2, 2)),  # shifted by one: small blob, IoU near the threshold
    ((34, 20, 20), (3, 3, 2)),  # exact
    ((12, 28, 18), (1, 1, 1)),  # far too small
    ((26, 4, 34), (2, 2, 2)),  # false positive
    ((2, 36, 4), (1, 2, 2)),  # false positive
]

# (start z, y, x), (end z, y, x), radius
_TUBE_REFERENCE = [
    ((4, 4, 4), (35, 30, 8), 2.5),
    ((35, 30, 8), (30, 8, 34), 2.0),
    ((6, 34, 20), (20, 20, 35), 1.5),
    ((20, 6, 20), (20, 34, 20), 2.0),
]
_TUBE_PREDICTION = [
    ((5, 4, 4), (35, 31, 8), 2.0),
    ((35, 31, 8), (30, 9, 33), 2.5),
    ((6, 34, 20), (12, 28, 26), 1.5),  # the third tube only half found
    ((20, 6, 21), (20, 16, 21), 2.0),  # the fourth with a gap the others bridge
    ((20, 20, 21), (20, 34, 21), 2.0),
]


def _ellipsoids(blobs) -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    mask = np.zeros(SHAPE, bool)
    for (cz, cy, cx), (rz, ry, rx) in blobs:
        mask |= ((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
    return mask.astype(np.uint8)


def _tubes(segments) -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    mask = np.zeros(SHAPE, bool)
    for a, b, radius in segments:
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = b - a
        t = np.clip(((z - a[0]) * d[0] + (y - a[1]) * d[1] + (x - a[2]) * d[2]) / (d @ d), 0, 1)
        dist2 = (z - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2
        mask |= dist2 + (x - a[2] - t * d[2]) ** 2 <= radius**2
    return mask.astype(np.uint8)


def cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Case name -> (reference, prediction)."""
    return {
        "spots": (_ellipsoids(_SPOT_REFERENCE), _ellipsoids(_SPOT_PREDICTION)),
        "tubes": (_tubes(_TUBE_REFERENCE), _tubes(_TUBE_PREDICTION)),
    }


RECORDED: dict[str, dict[str, float]] = {
    "spots": {
        "tp": 7.0,
        "fp": 4.0,
        "fn": 3.0,
        "rq": 0.6666666666666666,
        "pq_dsc": 0.48481580235559,
        "global_bin_dsc": 0.6330511593669489,
        "global_bin_cldsc": 0.7886792452830189,
    },
    "tubes": {
        "tp": 3.0,
        "fp": 0.0,
        "fn": 0.0,
        "rq": 1.0,
        "pq_dsc": 0.6564058497758722,
        "global_bin_dsc": 0.7217125382262997,
        "global_bin_cldsc": 0.9479166666666667,
    },
}


if __name__ == "__main__":
    from panoptica import (
        ConnectedComponentsInstanceApproximator,
        InputType,
        Metric,
        NaiveThresholdMatching,
        Panoptica_Evaluator,
        disable_citation_reminder,
    )

    disable_citation_reminder()
    for name, (reference, prediction) in cases().items():
        result = Panoptica_Evaluator(
            expected_input=InputType.SEMANTIC,
            instance_approximator=ConnectedComponentsInstanceApproximator(),
            instance_matcher=NaiveThresholdMatching(
                matching_metric=Metric.IOU, matching_threshold=0.3
            ),
            instance_metrics=[Metric.DSC, Metric.IOU],
            global_metrics=[Metric.DSC, Metric.clDSC],
        ).evaluate(prediction, reference)["ungrouped"]
        values = result.to_dict()
        keys = ("tp", "fp", "fn", "rq", "pq_dsc", "global_bin_dsc", "global_bin_cldsc")
        print(f"    {name!r}: {{" + ", ".join(f"{k!r}: {float(values[k])!r}" for k in keys) + "},")
