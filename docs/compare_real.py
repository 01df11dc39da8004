"""Compare synthetic patches with the real light-sheet patches: statistics and a MIP figure.

Run from anywhere::

    .venv/bin/python docs/compare_real.py

It reads the real patches from ``<repo>/../shared/data/lsm-patches``, generates synthetic cases
of the same structures (seed 0, 96^3) in memory, prints a Markdown table of statistics for each
patch and writes ``docs/img/synth_vs_real.png`` (maximum-intensity projections, mask outlines in
red) and ``docs/img/synth_gallery.png`` (one case per synthetic structure).

Statistics
----------
- ``fg``: foreground fraction of the mask.
- ``blobs``: 26-connected components of the mask (cc3d); ``size``: their median voxel count
  and 10th-90th percentiles.
- ``radius``: vessels only, the Euclidean distance transform (voxel units) sampled on the
  mask's skeleton (scikit-image), median and 90th percentile.
- ``b1``: vessels only, ``b0 - chi`` with chi from ``skimage.measure.euler_number`` (a lower
  bound of the first Betti number, exact without cavities).
- ``fg p10/50/90`` and ``bg p10/50/90``: image intensity percentiles inside and outside the mask.
  Real vessel patches are zero-padded along z (about half the slices): those all-zero slices are
  left out of the background.
"""

from __future__ import annotations

from pathlib import Path

import cc3d
import matplotlib
import numpy as np
from scipy import ndimage as ndi
from skimage.measure import euler_number
from skimage.morphology import skeletonize

from harness.split.synth import CasePlan, synthesize_case
from harness.split.volume import read_volume

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "lsm-patches"
IMG = REPO / "docs" / "img"
# Synthetic cases of the real patches' structures: (track, index) -> structure by the cycle.
SYNTH = [("spot", 2), ("spot", 5), ("spot", 1), ("spot", 4), ("vessel", 0), ("vessel", 2)]
GALLERY = [("vessel", 0), ("vessel", 1), ("spot", 0), ("spot", 1), ("spot", 2), ("spot", 3)]


def load_real() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Real patches as ``(name, image, mask)``, sorted by structure then name."""
    if not REAL.is_dir():
        raise SystemExit(f"real patches not found at {REAL}")
    out = []
    for label in sorted(REAL.glob("*/*_label.nii.gz")):
        image = read_volume(label.with_name(label.name.replace("_label", ""))).array
        out.append((label.name.removesuffix("_label.nii.gz"), image.astype(np.float32),
                    read_volume(label).array > 0))
    return sorted(out, key=lambda t: t[0])


def synthetic(cases: list[tuple[str, int]]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Synthetic patches (seed 0, 96^3) as ``(name, image, mask)``."""
    from harness.split.synth import EMPTY_EVERY, STRUCTURES

    out = []
    for track, k in cases:
        names = STRUCTURES[track]
        plan = CasePlan(case_id=f"{track}_{k:03d}", track=track, structure=names[k % len(names)],
                        index=k, empty=track == "spot" and k % EMPTY_EVERY == 3)
        image, label, _, _ = synthesize_case(plan, seed=0)
        out.append((f"synth {plan.structure} ({plan.case_id})", image, label > 0))
    return out


def stats(image: np.ndarray, mask: np.ndarray, *, vessel: bool) -> dict[str, str]:
    """The statistics of one patch, formatted for the table."""
    padded = np.all(image == 0, axis=(1, 2))
    valid = ~padded[:, None, None] & np.ones_like(mask)
    labels, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
    sizes = np.bincount(labels.ravel())[1:]
    row = {
        "fg": f"{mask.mean():.4f}",
        "blobs": str(n),
        "size": (f"{np.median(sizes):.0f} [{np.percentile(sizes, 10):.0f}-"
                 f"{np.percentile(sizes, 90):.0f}]") if n else "-",
        "radius": "-",
        "b1": "-",
    }
    if vessel and n:
        edt = ndi.distance_transform_edt(mask)
        skeleton = skeletonize(mask)
        row["radius"] = f"{np.median(edt[skeleton]):.2f} / {np.percentile(edt[skeleton], 90):.2f}"
        row["b1"] = str(n - euler_number(mask, connectivity=3))
    fg, bg = image[mask], image[~mask & valid]
    def percentiles(values: np.ndarray) -> str:
        return "/".join(f"{v:.0f}" for v in np.percentile(values, [10, 50, 90]))

    row["fg p10/50/90"] = percentiles(fg) if n else "-"
    row["bg p10/50/90"] = percentiles(bg)
    return row


def table(patches: list[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """A Markdown table of :func:`stats` for each patch."""
    rows = [(name, stats(img, m, vessel="vessel" in name)) for name, img, m in patches]
    columns = list(rows[0][1])
    lines = ["| patch | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(r[c] for c in columns) + " |" for name, r in rows]
    return "\n".join(lines)


def _panel(ax: plt.Axes, image: np.ndarray, mask: np.ndarray, axis: int, title: str) -> None:
    mip = image.max(axis=axis)
    lo, hi = np.percentile(mip, [1, 99.5])
    ax.imshow(mip, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
    if mask.any():
        ax.contour(mask.max(axis=axis), levels=[0.5], colors="red", linewidths=0.5)
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def figure(rows: list[tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]], path: Path) -> None:
    """Top (z) and side (y) MIPs per patch; one row pair per group of patches."""
    ncol = max(len(p) for _, p in rows)
    fig, axes = plt.subplots(2 * len(rows), ncol, figsize=(2.1 * ncol, 2.2 * 2 * len(rows)),
                             squeeze=False)
    for r, (group, patches) in enumerate(rows):
        for c in range(ncol):
            top, side = axes[2 * r, c], axes[2 * r + 1, c]
            if c >= len(patches):
                top.axis("off")
                side.axis("off")
                continue
            name, image, mask = patches[c]
            _panel(top, image, mask, 0, f"{group}: {name}\nMIP along z")
            _panel(side, image, mask, 1, "MIP along y (z vertical)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    """Print the statistics table and write the figures."""
    real = load_real()
    synth = synthetic(SYNTH)
    print(table(real + synth))
    figure([("real", real), ("synthetic", synth)], IMG / "synth_vs_real.png")
    figure([("synthetic", synthetic(GALLERY))], IMG / "synth_gallery.png")
    print(f"wrote {IMG / 'synth_vs_real.png'} and {IMG / 'synth_gallery.png'}")


if __name__ == "__main__":
    main()
