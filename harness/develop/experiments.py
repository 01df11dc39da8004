"""The baselines' experiments: load training data, tune, train, and the results table.

Used by ``selma3d dev baselines prepare|tune|train|table`` (:mod:`harness.cli.baselines`).
It reads splits with the harness and scores with the metrics, on the host; the ``baselines``
package that runs in containers imports none of it.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skimage

from baselines import classical, threshold
from baselines._common import choose_track
from baselines.tuning import SPOT_GRID, VESSEL_GRID, LabeledCase, tune
from common.errors import ConfigError
from common.files import write_atomic
from harness.split.importers import import_layout
from harness.split.manifest import MANIFEST_NAME, load_split
from harness.split.synth import split_is_current, synthesize_split
from harness.split.volume import SUPPORTED_EXTENSIONS, read_volume
from metrics import blob_f1, cldice, dice

__all__ = [
    "GENERATED",
    "METHODS",
    "GeneratedSpec",
    "load_labeled",
    "load_unlabeled",
    "prepare_generated",
    "prepare_real",
    "results_table",
    "run_table",
    "save_weights",
    "split_hash",
    "tune_to_file",
    "write_json",
]

METHODS: tuple[str, ...] = ("threshold", "classical", "unet-scratch", "unet")


@dataclass(frozen=True)
class GeneratedSpec:
    """One generated split used by the baselines (``selma3d data synth`` arguments)."""

    cases: int
    seed: int
    labeled: bool = True
    size: tuple[int, int, int] = (96, 96, 96)


# The generated data of the shipped artefacts: different seeds keep the three sets disjoint.
GENERATED: dict[str, GeneratedSpec] = {
    "train": GeneratedSpec(cases=10, seed=1),
    "val": GeneratedSpec(cases=10, seed=2),
    "unlabeled": GeneratedSpec(cases=10, seed=3, labeled=False),
}


def write_json(path: Path, doc: Any) -> Path:
    """Write JSON atomically (``common.files.write_atomic``), keys sorted."""
    return write_atomic(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def save_weights(
    model: Any, path: Path, *, config: Any, provenance: dict[str, Any] | None = None
) -> str:
    """Write U-Net weights atomically (``baselines.unet.serialize_model``); return their digest.

    Parameters
    ----------
    model : torch.nn.Module
        A network of ``baselines.unet.build_model``.
    path : Path
        The ``.pt`` file; read back with ``baselines.unet.load_model``.
    config : baselines.unet.TrainConfig, keyword-only
    provenance : dict, optional, keyword-only
        Plain JSON values stored with the weights.

    Returns
    -------
    str
        ``baselines.unet.weights_digest(model)``.
    """
    # torch, the deep extra: needed only when weights are saved.
    from baselines import unet

    write_atomic(path, unet.serialize_model(model, config=config, provenance=provenance))
    return unet.weights_digest(model)


def prepare_generated(work: Path) -> dict[str, Path]:
    """Generate the three generated splits of :data:`GENERATED` under ``work``.

    A split already there is reused only when this version of the generator wrote it with
    the same recipe (``harness.split.synth.split_is_current``); otherwise it is written again.
    """
    out = {}
    for name, spec in GENERATED.items():
        folder = work / f"generated-{name}"
        recipe = {"cases": spec.cases, "size": spec.size, "seed": spec.seed}
        if split_is_current(folder, **recipe, labeled=spec.labeled):
            load_split(folder)
        else:
            synthesize_split(folder, **recipe, labeled=spec.labeled)
        out[f"generated-{name}"] = folder
    return out


def prepare_real(work: Path, *, source: Path) -> dict[str, Path]:
    """Import the real sample's ``train`` and ``val`` folders as two splits (manifests only).

    Parameters
    ----------
    work : Path
        Folder the two splits are written into (``real-train``, ``real-val``).
    source : Path, keyword-only
        The real patches: a folder with ``train/`` and ``val/`` in the layout of
        :func:`harness.split.importers.import_layout` (e.g. ``../shared/data/lsm-patches``).

    Raises
    ------
    ConfigError
        ``source`` lacks ``train/`` or ``val/``.
    """
    missing = [p for p in ("train", "val") if not (source / p).is_dir()]
    if missing:
        raise ConfigError(
            f"{source}: no {' and no '.join(m + '/' for m in missing)} folder; the real patches "
            "are a folder with train/ and val/ (such as lsm-patches)."
        )
    out = {}
    for phase in ("train", "val"):
        folder = work / f"real-{phase}"
        import_layout(source / phase, folder, absolute=True)
        out[f"real-{phase}"] = folder
    return out


def load_labeled(splits: Sequence[str | Path]) -> list[LabeledCase]:
    """Read every labeled case of the given split folders."""
    cases = []
    for path in splits:
        split = load_split(path)
        for c in split.cases:
            if c.label is None:
                raise ValueError(
                    f"{split.manifest}: case {c.case_id!r} has no label; "
                    "training needs labeled splits."
                )
            cases.append(
                LabeledCase(
                    case_id=f"{Path(path).name}/{c.case_id}",
                    track=c.track,
                    structure=c.structure,
                    image=read_volume(c.image).array,
                    label=read_volume(c.label).array > 0,
                )
            )
    return cases


def load_unlabeled(folders: Sequence[str | Path]) -> list[np.ndarray]:
    """Images of split folders (by manifest) or plain folders (every volume but ``*_label*``)."""
    images = []
    for folder in map(Path, folders):
        if (folder / MANIFEST_NAME).is_file():
            paths = [c.image for c in load_split(folder).cases]
        elif folder.is_dir():
            paths = sorted(
                p
                for p in folder.iterdir()
                if p.name.lower().endswith(SUPPORTED_EXTENSIONS) and "_label" not in p.name
            )
        else:
            raise FileNotFoundError(f"{folder}: not a folder of volumes or a split.")
        if not paths:
            raise ValueError(f"{folder}: no volumes found.")
        images.extend(read_volume(p).array for p in paths)
    return images


def tune_to_file(
    splits: Sequence[str | Path], out: Path, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the classical parameter search on ``splits``; write the table with its provenance."""
    start = time.perf_counter()
    cases = load_labeled(splits)
    result = tune(cases, progress=progress)
    seconds = time.perf_counter() - start
    doc = {
        "provenance": {
            "command": "selma3d dev baselines tune "
            + " ".join(f"--data {_shown(s)}" for s in splits)
            + f" --out {_shown(out)}",
            "data": [{"split": _shown(s), "content_hash": split_hash(s)} for s in splits],
            "cases": [c.case_id for c in cases],
            "objective": "mean over cases of (Dice + clDice)/2 for vessel-like, "
            "(Dice + blob F1)/2 for spot-like",
            "grids": {"vessel": _plain(VESSEL_GRID), "spot": _plain(SPOT_GRID)},
            "evaluated_settings": result.evaluated,
            "seconds": round(seconds, 1),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scikit-image": skimage.__version__,
            },
        },
        "tracks": {t: classical.params_to_dict(p) for t, (p, _) in result.tracks.items()},
        "track_scores": {t: round(s, 4) for t, (_, s) in result.tracks.items()},
        "structures": {
            name: {"track": track, "params": classical.params_to_dict(p), "score": round(score, 4)}
            for name, (track, p, score) in result.structures.items()
        },
    }
    write_json(out, doc)
    classical.load_params(out)  # the table must read back
    return doc


def _shown(path: str | Path) -> str:
    """A path as recorded in provenance: as it was given, so the command can be run again."""
    return Path(path).as_posix()


def _plain(grid: dict[str, tuple[Any, ...]]) -> dict[str, list[Any]]:
    return {k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in grid.items()}


def split_hash(path: str | Path) -> str:
    """The content hash of the split at ``path`` (its volumes are not opened)."""
    return load_split(path, check_volumes=False).content_hash


def _segmenters(
    weights_dir: Path, params_path: Path
) -> dict[str, Callable[[np.ndarray, str], np.ndarray]]:
    # torch, the deep extra: needed only when the U-Nets are scored.
    from baselines import unet

    table = classical.load_params(params_path)

    def run_classical(image: np.ndarray, structure: str) -> np.ndarray:
        choice = choose_track(image, structure=structure)
        return classical.segment(
            image, structure=structure, params=classical.params_for(choice, table=table)
        )

    models = {
        name: unet.load_model(weights_dir / f"{name}.pt")[0] for name in ("unet", "unet-scratch")
    }
    return {
        "threshold": lambda image, structure: threshold.segment(image),
        "classical": run_classical,
        "unet-scratch": lambda image, structure: unet.segment(
            image, structure=structure, model=models["unet-scratch"]
        ),
        "unet": lambda image, structure: unet.segment(
            image, structure=structure, model=models["unet"]
        ),
    }


def results_table(
    split: str | Path,
    *,
    weights_dir: Path,
    params_path: Path,
    methods: Sequence[str] = METHODS,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Per-case Dice, clDice and blob F1 of every method on a labeled split, with inference time.

    Returns
    -------
    list of dict
        One row per (method, case): method, case_id, track, structure, dice, cldice, blob_f1,
        seconds.
    """
    segmenters = _segmenters(weights_dir, params_path)
    rows = []
    for case in load_split(split).cases:
        image = read_volume(case.image).array
        reference = read_volume(case.label).array > 0
        for method in methods:
            start = time.perf_counter()
            mask = segmenters[method](image, case.structure)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "method": method,
                    "case_id": case.case_id,
                    "track": case.track,
                    "structure": case.structure,
                    "dice": dice(reference, mask),
                    "cldice": cldice(reference, mask),
                    "blob_f1": blob_f1(reference, mask),
                    "seconds": seconds,
                }
            )
            if progress is not None:
                progress(f"{case.case_id} {method}: Dice {rows[-1]['dice']:.3f} in {seconds:.1f} s")
    return rows


def _markdown(rows: list[dict[str, Any]], title: str, methods: Sequence[str]) -> str:
    df = pd.DataFrame(rows)
    lines = [
        f"### {title}",
        "",
        "| structure (track, cases) | baseline | Dice | clDice | blob F1 | seconds/case |",
        "|---|---|---|---|---|---|",
    ]
    for (structure, track), part in df.groupby(["structure", "track"], sort=True):
        n = part["case_id"].nunique()
        for method in methods:
            m = part[part["method"] == method]
            lines.append(
                f"| {structure} ({track}, {n}) | {method} | {m['dice'].mean():.3f} | "
                f"{m['cldice'].mean():.3f} | "
                f"{m['blob_f1'].mean():.3f} | {m['seconds'].mean():.1f} |"
            )
    lines += [
        "",
        "| baseline | Dice, all cases | clDice, vessel-like | blob F1, spot-like | seconds/case |",
        "|---|---|---|---|---|",
    ]
    for method in methods:
        m = df[df["method"] == method]
        vessel, spot = m[m["track"] == "vessel"], m[m["track"] == "spot"]
        lines.append(
            f"| {method} | {m['dice'].mean():.3f} | {vessel['cldice'].mean():.3f} | "
            f"{spot['blob_f1'].mean():.3f} | {m['seconds'].mean():.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def run_table(
    out: Path,
    *,
    work: Path,
    real_data: Path,
    weights_dir: Path,
    params_path: Path,
    methods: Sequence[str] = METHODS,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Evaluate every baseline on the generated and the real validation splits; write markdown.

    The real splits are imported from ``real_data`` (see :func:`prepare_real`). The per-case rows
    are kept in ``work/table-rows.json``. Returns the markdown.
    """
    # The real data first: a wrong folder is reported before minutes of generating.
    real = prepare_real(work, source=real_data)
    paths = {**prepare_generated(work), **real}
    sections = {}
    all_rows = {}
    for name, title in (
        ("generated-val", "Generated split (validation)"),
        ("real-val", "Real patches (val)"),
    ):
        start = time.perf_counter()
        rows = results_table(
            paths[name],
            weights_dir=weights_dir,
            params_path=params_path,
            methods=methods,
            progress=progress,
        )
        all_rows[name] = rows
        sections[name] = (
            _markdown(rows, f"{title}: {split_hash(paths[name])[:19]}", methods)
            + f"\nEvaluated in {time.perf_counter() - start:.0f} s.\n"
        )
    write_json(work / "table-rows.json", all_rows)
    provenance = {
        name: json.loads((weights_dir / f"{name}.json").read_text())
        for name in ("unet", "unet-scratch")
    }
    params_doc = json.loads(params_path.read_text())
    table = _document(sections, provenance, params_doc)
    text = table
    if out.is_file():
        # Keep the prose around the table: only the marked region is replaced.
        old = out.read_text(encoding="utf-8")
        if _BEGIN in old and _END in old:
            head, rest = old.split(_BEGIN, 1)
            tail = rest.split(_END, 1)[1]
            text = head + table.rstrip("\n").removesuffix(_END).rstrip("\n") + "\n" + _END + tail
    write_atomic(out, text)
    return table


_BEGIN = "<!-- results table: written by `selma3d baselines table` -->"
_END = "<!-- end of results table -->"


def _document(
    sections: dict[str, str], provenance: dict[str, Any], params_doc: dict[str, Any]
) -> str:
    lines = [
        _BEGIN,
        "",
        sections["generated-val"],
        sections["real-val"],
        "Cost of the shipped artefacts (wall seconds on the machine that made them, 2 cores):",
        "",
        "| artefact | seconds | what |",
        "|---|---|---|",
    ]
    for name, doc in provenance.items():
        cfg, sec = doc["config"], doc["seconds"]
        lines.append(
            f"| `weights/{name}.pt` | {sec['total']:.0f} | {cfg['pretrain_steps']} pretraining "
            f"({sec['pretrain']:.0f} s) + {cfg['finetune_steps']} finetuning steps "
            f"({sec['finetune']:.0f} s), seed {cfg['seed']} |"
        )
    search = params_doc.get("provenance", {})
    lines += [
        f"| `classical_params.json` | {search.get('seconds', float('nan')):.0f} | grid search, "
        f"{search.get('evaluated_settings', '?')} settings over both tracks' grids |",
        "",
        _END,
        "",
    ]
    return "\n".join(lines)
