"""`data split`: carving a labeled split into a public sample and a hidden test set."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from common.errors import ConfigError
from harness.cli import cli
from harness.split.manifest import load_split
from harness.split.partition import allocate_sample, partition_split
from harness.split.synth import synthesize_split


def test_allocate_sample_by_hand() -> None:
    # 12 cases: 6/4/2 -> 3 of 12 gives quotas 1.5/1.0/0.5: floor 1/1/0, then the largest
    # remainder (0.5, tie between a and c) goes to the larger stratum a.
    assert allocate_sample({"a": 6, "b": 4, "c": 2}, 3) == {"a": 2, "b": 1, "c": 0}
    assert allocate_sample({"a": 6, "b": 4, "c": 2}, 6) == {"a": 3, "b": 2, "c": 1}
    with pytest.raises(ConfigError, match="sample must be between 1 and 11"):
        allocate_sample({"a": 6, "b": 4, "c": 2}, 12)


def test_data_split_is_stratified_and_copies_nothing(tmp_path: Path) -> None:
    # 10 spot cases: cfos 4, cell_nucleus 3, amyloid_plaque 3 (cycled).
    src = synthesize_split(tmp_path / "src", cases=10, size=(10, 12, 12), seed=0,
                           tracks=("spot",))
    before = sorted(p.name for p in (tmp_path / "src").rglob("*.nii.gz"))
    sample, test = partition_split(tmp_path / "src", tmp_path / "out", sample=5, seed=3)
    # Quotas 2.0 / 1.5 / 1.5 -> 2 / 2 / 1 (tie on remainder and size: by name).
    assert Counter(c.structure for c in sample.cases) == {
        "cfos": 2, "amyloid_plaque": 2, "cell_nucleus": 1}
    assert Counter(c.structure for c in test.cases) == {
        "cfos": 2, "amyloid_plaque": 1, "cell_nucleus": 2}
    assert set(sample.case_ids).isdisjoint(test.case_ids)
    assert set(sample.case_ids) | set(test.case_ids) == set(src.case_ids)
    assert {c.phase for c in sample.cases} == {"sample"} and {c.phase for c in test.cases} == {
        "test"}
    # No volume written: manifests point at the source's files.
    assert not list((tmp_path / "out").rglob("*.nii.gz"))
    assert sorted(p.name for p in (tmp_path / "src").rglob("*.nii.gz")) == before
    for case in sample.cases:
        assert case.image == src.case(case.case_id).image
        assert case.label == src.case(case.case_id).label
    # Same seed, same carving; and the carving is recorded.
    again, _ = partition_split(src, tmp_path / "again", sample=5, seed=3)
    assert again.case_ids == sample.case_ids
    assert src.content_hash in (tmp_path / "out" / "partition.json").read_text()


def test_data_split_needs_labels_and_cli(tmp_path: Path) -> None:
    synthesize_split(tmp_path / "u", cases=2, size=(10, 12, 12), labeled=False)
    with pytest.raises(ConfigError, match="every case needs a label"):
        partition_split(tmp_path / "u", tmp_path / "o", sample=1)
    synthesize_split(tmp_path / "l", cases=4, size=(10, 12, 12))
    result = CliRunner().invoke(cli, ["data", "split", "--split", str(tmp_path / "l"), "--out",
                                      str(tmp_path / "c"),
                                      "--sample", "2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert len(load_split(tmp_path / "c" / "sample").cases) == 2
    assert len(load_split(tmp_path / "c" / "test").cases) == 2
