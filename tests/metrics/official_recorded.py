"""Masks and the values the official SELMA3D evaluators' computations gave on them.

Provenance
----------
Recorded with panoptica 2.1.7 in its own venv (``benchmarks/.venv-panoptica``: Python 3.11,
numpy 2.2.6, scikit-image 0.26.0, connected-components-3d 3.29.0, SimpleITK 2.5.4, the
versions of the SELMA3D 2026 evaluator's requirements.txt where it pins them), by running
this file as a script there::

    benchmarks/.venv-panoptica/bin/python tests/metrics/official_recorded.py

For each case it reads the real patches with SimpleITK (``GetArrayFromImage``: (z, y, x)
arrays, as the 2026 evaluator does), binarizes with ``> 0`` and computes what the evaluators
compute:

- ``dice``: the 2026 evaluator's volumetric Dice (1 when both masks are empty, 0 when one is,
  else ``2|P∩R| / (|P| + |R|)``);
- ``cldice``: ``panoptica.metrics.cldice._compute_centerline_dice_coefficient(reference,
  prediction)`` (NaN where it divides by zero);
- ``tp, fp, fn, rq, pq``: ``Panoptica_Evaluator(expected_input=InputType.SEMANTIC,
  instance_approximator=ConnectedComponentsInstanceApproximator(cca_backend=None),
  instance_matcher=NaiveThresholdMatching(matching_threshold=0.3),
  instance_metrics=[Metric.DSC]).evaluate(prediction, reference)["ungrouped"]`` and its
  ``tp, fp, fn, rq, pq_dsc``, the 2026 evaluator's set-up;
- ``betti0_error, betti1_error``: the SELMA3D 2024 evaluator's Betti number error: on the
  zero-padded mask, ``b0`` = 26-connected components (``skimage.measure.label``,
  connectivity 3), ``b2`` = 6-connected background components minus one, ``b1 = b0 + b2 -
  euler_number(connectivity=3)``; 0 and 0 when both masks are empty.

It prints ``RECORDED``, pasted below. ``ref_sha``/``pred_sha`` are the first 16 hex digits
of the SHA-256 of each binarized mask's packed bits: the tests check that selma3d reads and
builds the very same arrays (same axis order, same generated fragments).

Cases: every real patch of ``../shared/data/lsm-patches`` against three predictions made
from it with numpy only (``shifted``: the label moved one voxel along x; ``eroded``: a
6-neighbour erosion; ``thresholded``: the image's brightest voxels, as many as the label
has, which leaves the many small fragments a real thresholding does), and generated masks
with many small fragments (10-200 voxel pieces that thin to nothing beside tubes that do not;
a prediction made only of such pieces, whose whole skeleton is empty).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lsm-patches"
GENERATED_SHAPE = (48, 64, 64)


def sha(mask: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of a binarized mask's shape and packed bits."""
    m = np.ascontiguousarray(mask > 0)
    digest = hashlib.sha256(repr(m.shape).encode() + np.packbits(m).tobytes())
    return digest.hexdigest()[:16]


def _shifted(label: np.ndarray) -> np.ndarray:
    out = np.zeros_like(label)
    out[:, :, 1:] = label[:, :, :-1]
    return out


def _eroded(label: np.ndarray) -> np.ndarray:
    m = label > 0
    out = m.copy()
    out[0, :, :] = out[-1, :, :] = False
    out[:, 0, :] = out[:, -1, :] = False
    out[:, :, 0] = out[:, :, -1] = False
    inner = out[1:-1, 1:-1, 1:-1]
    for axis in range(3):
        for step in (-1, 1):
            inner &= np.roll(m, step, axis=axis)[1:-1, 1:-1, 1:-1]
    return out.astype(np.uint8)


def _thresholded(image: np.ndarray, label: np.ndarray) -> np.ndarray:
    k = int(np.count_nonzero(label))
    threshold = np.sort(image, axis=None)[-k]
    return (image >= threshold).astype(np.uint8)


def real_cases(
    read: Callable[[Path], np.ndarray],
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Case name -> (reference, prediction) on the real patches, arrays read by ``read``."""
    out = {}
    for label_path in sorted(DATA.glob("*/*_label.nii.gz")):
        stem = label_path.name[: -len("_label.nii.gz")]
        label = read(label_path)
        image = read(label_path.with_name(stem + ".nii.gz"))
        out[f"{stem}/shifted"] = (label, _shifted(label))
        out[f"{stem}/eroded"] = (label, _eroded(label))
        out[f"{stem}/thresholded"] = (label, _thresholded(image, label))
    return out


def _tubes(shape, segments) -> np.ndarray:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    mask = np.zeros(shape, bool)
    for a, b, radius in segments:
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = b - a
        t = np.clip(((z - a[0]) * d[0] + (y - a[1]) * d[1] + (x - a[2]) * d[2]) / (d @ d), 0, 1)
        dist2 = (z - a[0] - t * d[0]) ** 2 + (y - a[1] - t * d[1]) ** 2
        mask |= dist2 + (x - a[2] - t * d[2]) ** 2 <= radius**2
    return mask


def _fragments(shape, seed: int, n: int, *, cubes_only: bool = False) -> np.ndarray:
    """``n`` small boxes (2x2x2 cubes, or 1-6 voxels a side: 1 to 216 voxels)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, bool)
    for _ in range(n):
        size = np.full(3, 2) if cubes_only else rng.integers(1, 7, size=3)
        corner = [int(rng.integers(0, s - int(w))) for s, w in zip(shape, size, strict=True)]
        mask[tuple(slice(c, c + int(w)) for c, w in zip(corner, size, strict=True))] = True
    return mask


_TUBES_REFERENCE = [
    ((4, 4, 4), (44, 40, 10), 2.5),
    ((44, 40, 10), (30, 8, 60), 2.0),
    ((6, 60, 20), (24, 20, 58), 1.5),
    ((24, 6, 30), (24, 60, 30), 2.0),
]
_TUBES_PREDICTION = [
    ((5, 4, 4), (44, 41, 10), 2.0),
    ((44, 41, 10), (30, 9, 59), 2.5),
    ((6, 60, 20), (14, 44, 36), 1.5),
    ((24, 6, 31), (24, 24, 31), 2.0),
    ((24, 30, 31), (24, 60, 31), 2.0),
]


def generated_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Case name -> (reference, prediction): tubes with many small fragments."""
    shape = GENERATED_SHAPE
    ref_tubes = _tubes(shape, _TUBES_REFERENCE)
    pred_tubes = _tubes(shape, _TUBES_PREDICTION)
    ref_bits = _fragments(shape, 1, 80)
    # Half of the reference's fragments, moved by one voxel, and new ones.
    moved = np.zeros(shape, bool)
    moved[:, 1:, :] = _fragments(shape, 1, 40)[:, :-1, :]
    pred_bits = moved | _fragments(shape, 2, 60)
    cubes = _fragments(shape, 3, 50, cubes_only=True)
    u8 = np.uint8
    return {
        "generated/tubes_and_fragments": ((ref_tubes | ref_bits).astype(u8),
                                          (pred_tubes | pred_bits).astype(u8)),
        "generated/fragments_against_tubes": ((ref_tubes | ref_bits).astype(u8),
                                              pred_bits.astype(u8)),
        "generated/cubes_only_prediction": (ref_tubes.astype(u8), cubes.astype(u8)),
        "generated/cubes_only_reference": (cubes.astype(u8), (cubes | pred_tubes).astype(u8)),
    }


nan = float("nan")

RECORDED: dict[str, dict[str, float | str]] = {
    'amyloid_plaque_patch_000_vol000_ch0/shifted': {
        'ref_sha': 'f32c842bd8441473',
        'pred_sha': '6710d650078ea60e',
        'dice': 0.7787568468683019,
        'cldice': 0.9523809523809523,
        'tp': 6.0,
        'fp': 1.0,
        'fn': 1.0,
        'rq': 0.8571428571428571,
        'pq': 0.633982620436418,
        'betti0_error': 0.0,
        'betti1_error': 0.0,
    },
    'amyloid_plaque_patch_000_vol000_ch0/eroded': {
        'ref_sha': 'f32c842bd8441473',
        'pred_sha': '2ec5a185908adb04',
        'dice': 0.5881565741050518,
        'cldice': 0.9320388349514563,
        'tp': 4.0,
        'fp': 2.0,
        'fn': 3.0,
        'rq': 0.6153846153846154,
        'pq': 0.370324808583418,
        'betti0_error': 1.0,
        'betti1_error': 0.0,
    },
    'amyloid_plaque_patch_000_vol000_ch0/thresholded': {
        'ref_sha': 'f32c842bd8441473',
        'pred_sha': '56a296a5a3e17f32',
        'dice': 0.005191127890514393,
        'cldice': 0.01411764705882353,
        'tp': 0.0,
        'fp': 24.0,
        'fn': 7.0,
        'rq': 0.0,
        'pq': 0.0,
        'betti0_error': 17.0,
        'betti1_error': 20.0,
    },
    'cell_nucleus_patch_002_vol007_ch0/shifted': {
        'ref_sha': '57de33bc5f5d1447',
        'pred_sha': '6c092d3aef812919',
        'dice': 0.7707129953834831,
        'cldice': 0.918673515874138,
        'tp': 232.0,
        'fp': 7.0,
        'fn': 10.0,
        'rq': 0.9646569646569647,
        'pq': 0.7134521087480757,
        'betti0_error': 3.0,
        'betti1_error': 0.0,
    },
    'cell_nucleus_patch_002_vol007_ch0/eroded': {
        'ref_sha': '57de33bc5f5d1447',
        'pred_sha': '300620e319b7b9f1',
        'dice': 0.3306625120557905,
        'cldice': 0.6989247311827956,
        'tp': 11.0,
        'fp': 173.0,
        'fn': 231.0,
        'rq': 0.051643192488262914,
        'pq': 0.02540004646923254,
        'betti0_error': 58.0,
        'betti1_error': 1.0,
    },
    'cell_nucleus_patch_002_vol007_ch0/thresholded': {
        'ref_sha': '57de33bc5f5d1447',
        'pred_sha': '1a74987e49b10160',
        'dice': 0.6175758249083435,
        'cldice': 0.7365441644355334,
        'tp': 130.0,
        'fp': 47.0,
        'fn': 112.0,
        'rq': 0.6205250596658711,
        'pq': 0.398837767404702,
        'betti0_error': 65.0,
        'betti1_error': 0.0,
    },
    'vessels_patch_014_vol013_ch0/shifted': {
        'ref_sha': '70b01fa90ecae3e9',
        'pred_sha': '5af4877d18f33d29',
        'dice': 0.8225322878228782,
        'cldice': 0.9275163505294014,
        'tp': 24.0,
        'fp': 26.0,
        'fn': 28.0,
        'rq': 0.47058823529411764,
        'pq': 0.32031425922744067,
        'betti0_error': 2.0,
        'betti1_error': 0.0,
    },
    'vessels_patch_014_vol013_ch0/eroded': {
        'ref_sha': '70b01fa90ecae3e9',
        'pred_sha': 'ead109dff0a737fd',
        'dice': 0.6451003236245955,
        'cldice': 0.8919392523364487,
        'tp': 4.0,
        'fp': 44.0,
        'fn': 48.0,
        'rq': 0.08,
        'pq': 0.04868439967139891,
        'betti0_error': 4.0,
        'betti1_error': 11.0,
    },
    'vessels_patch_014_vol013_ch0/thresholded': {
        'ref_sha': '70b01fa90ecae3e9',
        'pred_sha': '7e3a3b73309ac8d2',
        'dice': 0.7331233295150821,
        'cldice': 0.7680685456035575,
        'tp': 8.0,
        'fp': 86.0,
        'fn': 44.0,
        'rq': 0.1095890410958904,
        'pq': 0.07001744003179174,
        'betti0_error': 42.0,
        'betti1_error': 105.0,
    },
    'amyloid_plaque_patch_003_vol016_ch0/shifted': {
        'ref_sha': '30647b5dc5dc6979',
        'pred_sha': '26e3c75514493a13',
        'dice': 0.6904761904761905,
        'cldice': 1.0,
        'tp': 2.0,
        'fp': 0.0,
        'fn': 0.0,
        'rq': 1.0,
        'pq': 0.659375,
        'betti0_error': 0.0,
        'betti1_error': 0.0,
    },
    'amyloid_plaque_patch_003_vol016_ch0/eroded': {
        'ref_sha': '30647b5dc5dc6979',
        'pred_sha': '018014dc0b3f1bc4',
        'dice': 0.17391304347826086,
        'cldice': 1.0,
        'tp': 0.0,
        'fp': 1.0,
        'fn': 2.0,
        'rq': 0.0,
        'pq': 0.0,
        'betti0_error': 1.0,
        'betti1_error': 0.0,
    },
    'amyloid_plaque_patch_003_vol016_ch0/thresholded': {
        'ref_sha': '30647b5dc5dc6979',
        'pred_sha': 'fcc7fe733815f70d',
        'dice': 0.0,
        'cldice': nan,
        'tp': 0.0,
        'fp': 15.0,
        'fn': 2.0,
        'rq': 0.0,
        'pq': 0.0,
        'betti0_error': 13.0,
        'betti1_error': 0.0,
    },
    'cell_nucleus_patch_010_vol000_ch0/shifted': {
        'ref_sha': '38caa4232adb959c',
        'pred_sha': '29d4880c4ba28768',
        'dice': 0.8022920273724132,
        'cldice': 0.925062116889922,
        'tp': 231.0,
        'fp': 9.0,
        'fn': 13.0,
        'rq': 0.9545454545454546,
        'pq': 0.7522626874311649,
        'betti0_error': 4.0,
        'betti1_error': 0.0,
    },
    'cell_nucleus_patch_010_vol000_ch0/eroded': {
        'ref_sha': '38caa4232adb959c',
        'pred_sha': 'dc6a564aa0d62977',
        'dice': 0.183352627058516,
        'cldice': 0.43705463182897863,
        'tp': 0.0,
        'fp': 144.0,
        'fn': 244.0,
        'rq': 0.0,
        'pq': 0.0,
        'betti0_error': 100.0,
        'betti1_error': 8.0,
    },
    'cell_nucleus_patch_010_vol000_ch0/thresholded': {
        'ref_sha': '38caa4232adb959c',
        'pred_sha': 'ca8512d34e361f46',
        'dice': 0.8484686536485098,
        'cldice': 0.9174751792297081,
        'tp': 209.0,
        'fp': 13.0,
        'fn': 35.0,
        'rq': 0.8969957081545065,
        'pq': 0.7392881101489516,
        'betti0_error': 22.0,
        'betti1_error': 8.0,
    },
    'vessels_patch_017_vol006_ch1/shifted': {
        'ref_sha': 'f39dba8dfe3386b4',
        'pred_sha': '1f927037c97930dd',
        'dice': 0.8908137653442194,
        'cldice': 0.9580283459336342,
        'tp': 15.0,
        'fp': 6.0,
        'fn': 6.0,
        'rq': 0.7142857142857143,
        'pq': 0.533423934586632,
        'betti0_error': 0.0,
        'betti1_error': 1.0,
    },
    'vessels_patch_017_vol006_ch1/eroded': {
        'ref_sha': 'f39dba8dfe3386b4',
        'pred_sha': '7003f6a12368528e',
        'dice': 0.7608772600489884,
        'cldice': 0.8487723214285715,
        'tp': 2.0,
        'fp': 30.0,
        'fn': 19.0,
        'rq': 0.07547169811320754,
        'pq': 0.05469542764306929,
        'betti0_error': 11.0,
        'betti1_error': 10.0,
    },
    'vessels_patch_017_vol006_ch1/thresholded': {
        'ref_sha': 'f39dba8dfe3386b4',
        'pred_sha': 'b3f08203159bb076',
        'dice': 0.6170240712715228,
        'cldice': 0.422896432731376,
        'tp': 0.0,
        'fp': 56.0,
        'fn': 21.0,
        'rq': 0.0,
        'pq': 0.0,
        'betti0_error': 35.0,
        'betti1_error': 222.0,
    },
    'generated/tubes_and_fragments': {
        'ref_sha': '78626b913fcd846e',
        'pred_sha': '845f884239388da8',
        'dice': 0.4892703862660944,
        'cldice': 0.6079341265133805,
        'tp': 23.0,
        'fp': 58.0,
        'fn': 42.0,
        'rq': 0.3150684931506849,
        'pq': 0.21135540790232848,
        'betti0_error': 16.0,
        'betti1_error': 0.0,
    },
    'generated/fragments_against_tubes': {
        'ref_sha': '78626b913fcd846e',
        'pred_sha': '8c4846bead7cc43e',
        'dice': 0.24059324361439166,
        'cldice': 0.2399127589967285,
        'tp': 23.0,
        'fp': 64.0,
        'fn': 42.0,
        'rq': 0.3026315789473684,
        'pq': 0.2047378028280873,
        'betti0_error': 22.0,
        'betti1_error': 0.0,
    },
    'generated/cubes_only_prediction': {
        'ref_sha': 'd4b2a4d935020d6f',
        'pred_sha': '24f732cec2b1af58',
        'dice': 0.005819028222286878,
        'cldice': nan,
        'tp': 0.0,
        'fp': 50.0,
        'fn': 3.0,
        'rq': 0.0,
        'pq': 0.0,
        'betti0_error': 47.0,
        'betti1_error': 0.0,
    },
    'generated/cubes_only_reference': {
        'ref_sha': '24f732cec2b1af58',
        'pred_sha': '8d613dff63a7ad88',
        'dice': 0.22032497934453318,
        'cldice': nan,
        'tp': 47.0,
        'fp': 4.0,
        'fn': 3.0,
        'rq': 0.9306930693069307,
        'pq': 0.9306930693069307,
        'betti0_error': 1.0,
        'betti1_error': 0.0,
    },
}


def _official(reference: np.ndarray, prediction: np.ndarray) -> dict[str, float | str]:
    from panoptica import (
        ConnectedComponentsInstanceApproximator,
        InputType,
        NaiveThresholdMatching,
        Panoptica_Evaluator,
    )
    from panoptica.metrics import Metric
    from panoptica.metrics.cldice import _compute_centerline_dice_coefficient
    from skimage.measure import euler_number, label

    gt = reference.copy()
    pred = prediction.copy()
    gt[gt > 0] = 1
    pred[pred > 0] = 1
    g, p = gt.astype(bool), pred.astype(bool)
    if not g.any() and not p.any():
        dice = 1.0
    elif not g.any() or not p.any():
        dice = 0.0
    else:
        dice = float(2.0 * int((g & p).sum()) / (int(g.sum()) + int(p.sum())))
    with np.errstate(divide="ignore", invalid="ignore"):
        cldice = float(_compute_centerline_dice_coefficient(gt, pred))
    result = Panoptica_Evaluator(
        expected_input=InputType.SEMANTIC,
        instance_approximator=ConnectedComponentsInstanceApproximator(cca_backend=None),
        instance_matcher=NaiveThresholdMatching(matching_threshold=0.3),
        instance_metrics=[Metric.DSC],
    ).evaluate(pred, gt, verbose=False)["ungrouped"]

    def betti(m: np.ndarray) -> tuple[int, int]:
        padded = np.pad(m.astype(np.uint8), 1)
        _, b0 = label(padded, return_num=True, connectivity=3)
        _, background = label(1 - padded, return_num=True, connectivity=1)
        chi = euler_number(padded, connectivity=3)
        return int(b0), int(b0 + (background - 1) - chi)

    if g.any() or p.any():
        (r0, r1), (p0, p1) = betti(gt), betti(pred)
        b0_error, b1_error = abs(p0 - r0), abs(p1 - r1)
    else:
        b0_error = b1_error = 0
    return {
        "ref_sha": sha(gt),
        "pred_sha": sha(pred),
        "dice": dice,
        "cldice": cldice,
        "tp": float(result.tp),
        "fp": float(result.fp),
        "fn": float(result.fn),
        "rq": float(result.rq),
        "pq": float(result.pq_dsc),
        "betti0_error": float(b0_error),
        "betti1_error": float(b1_error),
    }


if __name__ == "__main__":
    import SimpleITK
    from panoptica import disable_citation_reminder

    disable_citation_reminder()

    def read(path: Path) -> np.ndarray:
        return SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(path)))

    print("RECORDED: dict[str, dict[str, float | str]] = {")
    for name, (reference, prediction) in {**real_cases(read), **generated_cases()}.items():
        values = _official(reference, prediction)
        print(f"    {name!r}: {{")
        for key, value in values.items():
            print(f"        {key!r}: {value!r},")
        print("    },")
    print("}")
