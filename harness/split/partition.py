"""Partition one labeled split into a public sample and a hidden test set (``data split``).

``OUT/sample`` and ``OUT/test`` are splits whose manifests point at the source split's files (no
volume is copied; paths follow :func:`~harness.split.importers.manifest_path`). The sample is
drawn per structure, in proportion to each structure's share of the source (largest-remainder
rounding), so both parts keep the source's mix of structures. ``OUT/partition.json`` records
the seed, the sizes and the source's content hash.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.errors import ConfigError
from common.files import write_atomic
from harness.split.importers import manifest_path
from harness.split.manifest import Case, Split, load_split, write_manifest

__all__ = ["allocate_sample", "partition_split"]


def allocate_sample(counts: dict[str, int], sample: int) -> dict[str, int]:
    """Share ``sample`` cases among strata in proportion to their sizes.

    Largest-remainder (Hamilton) rounding; ties go to the larger stratum, then by name. No
    stratum gets more than it has.

    Examples
    --------
    >>> allocate_sample({"a": 2, "b": 2, "c": 2}, 3)
    {'a': 1, 'b': 1, 'c': 1}
    >>> allocate_sample({"vessel": 10, "cfos": 5}, 3)
    {'cfos': 1, 'vessel': 2}
    """
    total = sum(counts.values())
    if not 0 < sample < total:
        raise ConfigError(
            f"sample must be between 1 and {total - 1} (cases: {total}). Got {sample}."
        )
    quotas = {k: sample * n / total for k, n in counts.items()}
    out = {k: int(q) for k, q in quotas.items()}
    order = sorted(counts, key=lambda k: (-(quotas[k] - out[k]), -counts[k], k))
    for k in order[: sample - sum(out.values())]:
        out[k] += 1
    return dict(sorted(out.items()))


def _row(case: Case, root: Path, *, phase: str, absolute: bool) -> dict[str, str]:
    return {
        "case_id": case.case_id,
        "track": case.track,
        "structure": case.structure,
        "image": ";".join(manifest_path(p, root, absolute=absolute) for p in case.images),
        "label": manifest_path(case.label, root, absolute=absolute) if case.label else "",
        "phase": phase,
        "spacing": ",".join(repr(v) for v in case.spacing) if case.spacing else "",
    }


def partition_split(
    source: str | Path | Split,
    out: str | Path,
    *,
    sample: int,
    seed: int = 0,
    absolute: bool = False,
) -> tuple[Split, Split]:
    """Split a labeled split into ``OUT/sample`` (public) and ``OUT/test`` (hidden).

    Parameters
    ----------
    source : str, Path or Split
        The split to partition; every case must have a label.
    out : str or Path
        Folder receiving ``sample/``, ``test/`` and ``partition.json``; must be new or empty.
    sample : int, keyword-only
        Number of cases in the public sample (the rest are the test set).
    seed : int, keyword-only
        Which cases go to the sample, per structure.
    absolute : bool, keyword-only
        Always write absolute paths in the manifests.

    Returns
    -------
    (Split, Split)
        The sample and the test split, validated.

    Examples
    --------
    >>> import tempfile
    >>> from harness.split.synth import synthesize_split
    >>> src = synthesize_split(tempfile.mkdtemp(), cases=4, size=(12, 16, 16), seed=0)
    >>> pub, test = partition_split(src, tempfile.mkdtemp(), sample=2, seed=0)
    >>> sorted(c.track for c in pub.cases), len(test.cases)
    (['spot', 'vessel'], 2)
    """
    split = source if isinstance(source, Split) else load_split(source)
    unlabeled = [c.case_id for c in split.cases if c.label is None]
    if unlabeled:
        raise ConfigError(
            f"{split.manifest}: every case needs a label to be partitioned; "
            f"unlabeled: {', '.join(unlabeled)}."
        )
    if int(seed) < 0:
        raise ConfigError(f"seed must be >= 0. Got {seed}.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; expected a folder.")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: output folder is not empty.")
    strata: dict[str, list[Case]] = {}
    for case in split.cases:
        strata.setdefault(case.structure, []).append(case)
    quota = allocate_sample({k: len(v) for k, v in strata.items()}, sample)
    rng = np.random.default_rng(seed)
    chosen: set[str] = set()
    for structure in sorted(strata):
        cases = sorted(strata[structure], key=lambda c: c.case_id)
        picks = rng.permutation(len(cases))[: quota[structure]]
        chosen.update(cases[i].case_id for i in picks)
    parts = {"sample": [c for c in split.cases if c.case_id in chosen],
             "test": [c for c in split.cases if c.case_id not in chosen]}
    for name, cases in parts.items():
        folder = out / name
        write_manifest(folder, [_row(c, folder, phase=name, absolute=absolute) for c in cases])
    record = {
        "source": str(split.manifest),
        "source_hash": split.content_hash,
        "seed": int(seed),
        "sample_per_structure": quota,
        "test_per_structure": {k: len(v) - quota[k] for k, v in sorted(strata.items())},
    }
    write_atomic(out / "partition.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    return load_split(out / "sample"), load_split(out / "test")
