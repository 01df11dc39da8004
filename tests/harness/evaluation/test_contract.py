"""grand-challenge's evaluation contract as staged, the ground truth, round.yaml's evaluation:."""

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from common.errors import ConfigError
from harness.evaluation.contract import (
    duration_text,
    ground_truth_hash,
    jobs_from_results,
    prepare_ground_truth,
    stage_predictions,
    write_ground_truth,
)
from harness.rounds.config import load_round_config
from harness.split.synth import synthesize_split
from harness.split.volume import read_volume, write_volume


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return synthesize_split(tmp_path_factory.mktemp("s") / "split", cases=2, size=(16, 16, 16))


def _rows(split, status="ok"):
    return [
        {"case_id": c.case_id, "status": status if i == 0 else "ok",
         "prediction": str(c.label), "wall_time_s": 1.5}
        for i, c in enumerate(split.cases)
    ]


def test_durations_are_written_as_grand_challenges_api_writes_them():
    assert duration_text(0.25) == "00:00:00.250000"
    assert duration_text(90061.5) == "1 01:01:01.500000"


def test_a_submission_with_a_failed_job_is_not_evaluated(split):
    jobs, reason = jobs_from_results(_rows(split, status="timeout"), split)
    assert jobs == []
    assert "failed on 1 of 2 case(s)" in reason and "(timeout)" in reason


def test_predictions_json_lists_each_job_with_the_organizers_image_name(split, tmp_path):
    jobs, reason = jobs_from_results(_rows(split), split)
    assert reason == ""
    entries = stage_predictions(jobs, split, tmp_path)
    assert json.loads((tmp_path / "predictions.json").read_text()) == entries
    for entry, case in zip(entries, sorted(split.cases, key=lambda c: c.case_id), strict=True):
        assert set(entry) == {"pk", "inputs", "outputs", "status", "exec_duration",
                              "invoke_duration"}
        assert entry["status"] == "Succeeded" and entry["exec_duration"] == "00:00:01.500000"
        (value,) = entry["inputs"]
        assert value["image"]["name"] == case.images[0].name
        assert value["socket"] == value["interface"]
        assert value["socket"]["slug"] == "light-sheet-3d-microscopy"
        (out,) = entry["outputs"]
        folder = tmp_path / entry["pk"] / "output" / out["socket"]["relative_path"]
        (image,) = folder.iterdir()
        assert image.suffix == ".mha"
        np.testing.assert_array_equal(
            read_volume(image).array, read_volume(case.label).array > 0
        )


def test_the_ground_truth_is_each_label_under_its_image_name(split, tmp_path):
    tarball = write_ground_truth(split, tmp_path / "gt.tar.gz")
    with tarfile.open(tarball) as tar:
        names = sorted(tar.getnames())
    assert names == ["task1_gt", *sorted(f"task1_gt/{c.images[0].name}" for c in split.cases)]
    with pytest.raises(ConfigError, match="already exists"):
        write_ground_truth(split, tarball)
    folder = prepare_ground_truth(tarball, ground_truth_hash(tarball), cache_dir=tmp_path / "c")
    case = split.cases[0]
    np.testing.assert_array_equal(
        read_volume(folder / "task1_gt" / case.images[0].name).array,
        read_volume(case.label).array,
    )


def test_a_folders_hash_changes_with_any_file(split, tmp_path):
    folder = write_ground_truth(split, tmp_path / "gt")
    before = ground_truth_hash(folder)
    assert ground_truth_hash(folder) == before
    path = folder / "task1_gt" / split.cases[0].images[0].name
    write_volume(path, np.zeros((16, 16, 16), np.uint8))
    assert ground_truth_hash(folder) != before


ROUND = """
name: r
output: out
phases: {final: {split: data}}
phase: final
teams: [{name: a, image: a/b:1}]
"""


def test_round_evaluation_paths_resolve_against_the_round_file(tmp_path, monkeypatch):
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "gt").mkdir()
    path = tmp_path / "round.yaml"
    path.write_text(ROUND + "evaluation: {image: evaluation, ground_truth: gt}\n")
    monkeypatch.chdir("/")
    config = load_round_config(path)
    assert config.evaluation.image == str(tmp_path / "evaluation")
    assert config.evaluation.ground_truth == tmp_path / "gt"
    assert config.evaluation.limits.timeout_s == 3600 and config.evaluation.limits.memory == "8g"
    path.write_text(ROUND + "evaluation: {image: org/eval:1, ground_truth: gt}\n")
    assert load_round_config(path).evaluation.image == "org/eval:1"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{image: e:1, ground_truth: nowhere.tar.gz}",
         "evaluation.ground_truth: {dir}/nowhere.tar.gz does not exist"),
        ("{image: e:1, ground_truth: round.yaml}",
         "evaluation.ground_truth: {dir}/round.yaml is neither a folder nor"),
        ("{image: e:1}", "evaluation.ground_truth: Field required"),
        ("{image: e:1, ground_truth: x, gpus: 1}", "evaluation.gpus: Extra inputs"),
    ],
)
def test_a_bad_evaluation_section_names_the_file_and_field(tmp_path, section, message):
    path = tmp_path / "round.yaml"
    path.write_text(ROUND + f"evaluation: {section}\n")
    with pytest.raises(ConfigError) as info:
        load_round_config(path)
    text = str(info.value)
    assert str(path) in text and message.format(dir=Path(tmp_path).resolve()) in text
