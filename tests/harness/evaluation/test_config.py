"""``evaluation:`` of a round file: grand-challenge's defaults, refused settings, ground truths."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.containers.limits import Limits
from harness.evaluation.config import (
    DEFAULT_EVALUATION_LIMITS,
    EvaluationConfig,
    LeaderboardSettings,
    ground_truth_problems,
)


def test_the_default_limits_are_grand_challenges():
    # 60 minutes, 8 GB of memory, no GPU.
    assert DEFAULT_EVALUATION_LIMITS == Limits(timeout_s=3600.0, memory="8g", cpus=2.0)
    config = EvaluationConfig(image="org/evaluator:1", ground_truth=Path("gt"))
    assert config.limits == DEFAULT_EVALUATION_LIMITS
    assert config.leaderboard is None and config.compare is None


def test_leaderboard_defaults_are_grand_challenges_phase_defaults():
    # grand-challenge's Phase model: score_default_sort DESCENDING, score_decimal_places 4,
    # scoring_method_choice ABSOLUTE.
    settings = LeaderboardSettings(score_jsonpath="aggregates.dice.mean")
    assert settings.score_default_sort == "desc"
    assert settings.score_decimal_places == 4
    assert settings.scoring_method_choice == "abs"
    assert settings.extra_results_columns == ()


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"score_jsonpath": ""}, "score_jsonpath"),
        ({"score_jsonpath": "s", "score_default_sort": "up"}, "score_default_sort"),
        ({"score_jsonpath": "s", "scoring_method_choice": "mean"}, "scoring_method_choice"),
        ({"score_jsonpath": "s", "result_display_choice": "best"}, "result_display_choice"),
        ({"score_jsonpath": "s", "score_decimal_places": -1}, "score_decimal_places"),
        ({"score_jsonpath": "s", "public": True}, "public"),
    ],
)
def test_a_setting_grand_challenge_would_not_store_is_named(fields, needle):
    with pytest.raises(ValidationError, match=needle):
        LeaderboardSettings(**fields)


@pytest.mark.parametrize(
    ("score_title", "extra_title", "named"),
    [("Score", "Score", "Score"), ("rank", None, "rank"), ("Dice", "team", "team")],
)
def test_each_column_needs_a_title_of_its_own(score_title, extra_title, named):
    columns = [] if extra_title is None else [{"title": extra_title, "path": "a", "order": "desc"}]
    with pytest.raises(ValidationError, match=rf"column title '{named}' is used twice \(or is one"):
        LeaderboardSettings(
            score_jsonpath="s", score_title=score_title, extra_results_columns=columns
        )


def test_an_empty_compare_mapping_is_refused():
    with pytest.raises(
        ValidationError, match="an empty mapping compares nothing; leave 'compare' out"
    ):
        EvaluationConfig(image="org/evaluator:1", ground_truth=Path("gt"), compare={})


def test_paths_beside_the_round_file_are_resolved_and_an_image_reference_is_kept(tmp_path):
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "gt").mkdir()
    folder, problems = EvaluationConfig(image="evaluation", ground_truth=Path("gt")).resolved(
        tmp_path
    )
    assert (folder.image, folder.ground_truth, problems) == (
        str((tmp_path / "evaluation").resolve()),
        (tmp_path / "gt").resolve(),
        [],
    )
    reference, _ = EvaluationConfig(image="org/evaluator:1", ground_truth=Path("gt")).resolved(
        tmp_path
    )
    assert reference.image == "org/evaluator:1"


def test_a_missing_ground_truth_is_named_with_its_field(tmp_path):
    _, problems = EvaluationConfig(image="org/e:1", ground_truth=Path("nowhere.tar.gz")).resolved(
        tmp_path
    )
    assert problems == [
        f"evaluation.ground_truth: {tmp_path / 'nowhere.tar.gz'} does not exist; expected a "
        "folder or a .tar, .tar.gz or .tgz tarball"
    ]


@pytest.mark.parametrize("name", ["gt.tar", "gt.tar.gz", "gt.tgz", "GT.TAR.GZ"])
def test_a_tarball_can_be_a_ground_truth(tmp_path, name):
    with tarfile.open(tmp_path / name, "w"):
        pass
    assert ground_truth_problems(tmp_path / name) == []


def test_a_file_of_another_kind_cannot(tmp_path):
    (tmp_path / "gt.zip").write_bytes(b"PK")
    assert ground_truth_problems(tmp_path / "gt.zip") == [
        f"{tmp_path / 'gt.zip'} is neither a folder nor a .tar, .tar.gz or .tgz tarball"
    ]


def test_a_folder_of_files_and_links_can_be_a_ground_truth(tmp_path):
    (tmp_path / "gt" / "labels").mkdir(parents=True)
    (tmp_path / "gt" / "labels" / "c1.nii.gz").write_bytes(b"x")
    # Links are not followed, so even one to nowhere is no problem of the folder's.
    (tmp_path / "gt" / "dangling").symlink_to(tmp_path / "nowhere")
    assert ground_truth_problems(tmp_path / "gt") == []


def test_special_files_in_a_folder_are_named_the_first_five(tmp_path):
    (tmp_path / "gt").mkdir()
    for i in range(7):
        os.mkfifo(tmp_path / "gt" / f"fifo{i}")
    problems = ground_truth_problems(tmp_path / "gt")
    assert len(problems) == 5
    assert all(
        p.startswith(str(tmp_path / "gt" / "fifo"))
        and p.endswith(" is a special file; expected folders and regular files")
        for p in problems
    )
