"""Hostile files written by a real container into ``/output`` are refused by the runner.

The bytes are those of tests/harness/predictions/hostile.py (built by hand), baked into one
image; the container picks the file of each case from the value of its input image (case
``k``'s image holds ``k`` everywhere), so two container runs cover every file: the
grand-challenge contract (MetaImage and TIFF, one container per case) and the folder contract
(NIfTI, one container for all cases). The hidden labels are uncompressed NIfTI files, whose
last voxels are exactly the masks: a reader that followed ``ElementDataFile`` would score
Dice 1.0.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.containers.images import build_folder
from harness.containers.limits import Limits
from harness.containers.run_config import RunConfig
from harness.containers.runner import run_submission
from harness.split.manifest import load_split, write_manifest
from harness.split.volume import write_volume
from tests.harness.predictions.hostile import SHAPE, hostile_files, mha, mha_fields

pytestmark = pytest.mark.docker

BASE = Path(__file__).resolve().parent / "misbehaving" / "_base"

PREDICT = '''\
"""Writes, for the case whose image holds k, the hostile file /opt/hostile/k.*"""
import os
import shutil
from pathlib import Path

import SimpleITK as sitk

def pick(image):
    k = int(sitk.GetArrayFromImage(sitk.ReadImage(str(image))).flat[0])
    return next(Path("/opt/hostile").glob(f"{k}.*"))

if Path("/input/images").is_dir():  # grand-challenge: one case
    src = next(Path("/input/images/light-sheet-3d-microscopy").iterdir())
    out = Path("/output/images/isolated-biological-structure")
    out.mkdir(parents=True, exist_ok=True)
    chosen = pick(src)
    dest = out / (src.stem + chosen.name[chosen.name.index("."):])
    if chosen.name.endswith(".fifo"):
        os.mkfifo(out / (src.stem + ".mha"))
    else:
        shutil.copyfile(chosen, dest)
else:  # folder: every case
    for src in Path("/input").glob("*.nii.gz"):
        shutil.copyfile(pick(src), Path("/output") / src.name)
'''


def _label() -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[1:3, 1:3, 1:3] = 1
    m[4:6, 4:7, 4:7] = 1
    return m


def _split(root: Path, n: int):
    root.mkdir(parents=True)
    rows = []
    for k in range(n):
        write_volume(root / f"c{k}.nii.gz", np.full(SHAPE, k, np.uint8))
        write_volume(root / f"c{k}_label.nii", _label())
        rows.append(
            {
                "case_id": f"c{k}",
                "track": "spot",
                "structure": "x",
                "image": f"c{k}.nii.gz",
                "label": f"c{k}_label.nii",
            }
        )
    write_manifest(root, rows)
    return load_split(root)


@pytest.fixture(scope="module")
def client(engine_client):
    return engine_client


def _image(client, folder: Path, files: dict[int, tuple[str, bytes]]) -> str:
    (folder / "hostile").mkdir(parents=True)
    for k, (ext, data) in files.items():
        (folder / "hostile" / f"{k}{ext}").write_bytes(data)
    (folder / "predict.py").write_text(PREDICT)
    (folder / "Dockerfile").write_text(
        "FROM selma3d-test/misbehaving-base:latest\n"
        "COPY hostile /opt/hostile\nCOPY predict.py /opt/predict.py\n"
        'USER app\nENTRYPOINT ["python3", "/opt/predict.py"]\n'
    )
    build_folder(BASE, "selma3d-test/misbehaving-base:latest", client=client, log=lambda m: None)
    return build_folder(
        folder, "selma3d-test/gate-hostile:latest", client=client, log=lambda m: None
    ).ref


def _run(client, ref, split, out, contract):
    limits = Limits(timeout_s=60, memory="512m", cpus=1, jobs=2)
    config = RunConfig(contract=contract, limits=limits, progress=False)
    return run_submission(ref, split, out, config=config, client=client)


def test_hostile_outputs_are_invalid_and_nothing_else_is_read(client, tmp_path):
    probe = hostile_files(tmp_path / "x")
    gc_cases = [h for h in probe if h.ext in (".mha", ".tif")]
    nii_cases = [h for h in probe if h.ext.startswith(".nii")]
    n_gc = len(gc_cases) + 2  # and a FIFO written as the prediction, and one named as data
    split = _split(tmp_path / "split", n_gc + len(nii_cases))
    os.mkfifo(tmp_path / "pipe")
    files: dict[int, tuple[str, bytes]] = {}
    expected: dict[str, str] = {}
    for k, h in enumerate(gc_cases):
        h = hostile_files(split.root / f"c{k}_label.nii")[probe.index(h)]
        files[k] = (h.ext, h.data)
        expected[f"c{k}"] = h.words
    k = len(gc_cases)
    files[k] = (".fifo", b"")
    expected[f"c{k}"] = "is not a regular file"
    files[k + 1] = (".mha", mha(mha_fields(str(tmp_path / "pipe"))))
    expected[f"c{k + 1}"] = "ElementDataFile = LOCAL"
    for j, h in enumerate(nii_cases, start=n_gc):
        data = h.data if h.ext == ".nii.gz" else gzip.compress(h.data)
        files[j] = (".nii.gz", data)
        expected[f"c{j}"] = h.words
    ref = _image(client, tmp_path / "image", files)

    gc_ids = {f"c{i}" for i in range(n_gc)}
    gc_split_root = tmp_path / "gc-split"
    folder_split_root = tmp_path / "folder-split"
    for root, keep in ((gc_split_root, gc_ids), (folder_split_root, set(expected) - gc_ids)):
        root.mkdir()
        sub = []
        for case_id in sorted(keep):
            shutil.copyfile(split.root / f"{case_id}.nii.gz", root / f"{case_id}.nii.gz")
            label = str(split.root / f"{case_id}_label.nii")
            sub.append(
                {
                    "case_id": case_id,
                    "track": "spot",
                    "structure": "x",
                    "image": f"{case_id}.nii.gz",
                    "label": label,
                }
            )
        write_manifest(root, sub)

    records = {}
    for root, contract in ((gc_split_root, "grand-challenge"), (folder_split_root, "folder")):
        summary = _run(client, ref, load_split(root), tmp_path / contract, contract)
        records.update(summary.records)
    assert set(records) == set(expected)
    for case_id, words in expected.items():
        rec = records[case_id]
        assert rec.status == "invalid_output", (case_id, words, rec.reason)
        assert words in rec.reason, (case_id, rec.reason)
        assert rec.prediction == ""
