"""A round file resolved once into its plan: the phase's split, ranking, settings, submissions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from common.errors import ConfigError
from harness.containers.images import ImageInfo
from harness.containers.model import prepare_model
from harness.containers.run_folder import run_identity
from harness.predictions.validate import BinarizeRule, GateOptions
from harness.rounds.config import load_round_config
from harness.rounds.plan import plan_round, plan_submission, submission_key
from harness.split.manifest import load_split, write_manifest
from harness.split.synth import synthesize_split

ROUND = {
    "name": "two-by-two",
    "output": "out/{phase}",
    "phases": {"final": {"split": "split"}, "preliminary": {"split": "split"}},
    "phase": "final",
    "contract": "folder",
    "limits": {"timeout_s": 30, "memory": "2g", "cpus": 1, "jobs": 2},
    "canary": False,
    "determinism": True,
    "reuse": "case",
    "binarize": {"threshold": 0.5},
    "geometry": "strict",
    "metrics": {"connectivity": 6},
    "profile": "selma3d-2024",
    "ranking": {"scheme": "rank-then-aggregate"},
    "teams": [
        {
            "name": "alpha",
            "tags": {"ssl": True},
            "model": "weights",
            "submissions": [
                {"image": "alpha/seg:1"},
                {"image": "alpha/seg:2", "label": "late", "tags": {"ssl": False}},
                {"image": "alpha/seg:p", "phase": "preliminary"},
            ],
        },
        {
            "name": "beta",
            "submissions": [
                {"image": "beta/seg:1", "phase": "final", "tags": {"gpu": 1}},
                {"tarball": "beta.tar"},
            ],
        },
    ],
}


@pytest.fixture(scope="module")
def split_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plan") / "split"
    synthesize_split(root, cases=2, size=(8, 8, 8), seed=0, progress=False)
    return root


def _round_file(tmp_path: Path, split_root: Path, **changes) -> Path:
    data = {
        **ROUND,
        "phases": {"final": {"split": str(split_root)}, "preliminary": {"split": str(split_root)}},
        **changes,
    }
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_two_teams_with_two_submissions_each_resolve_to_what_the_file_says(tmp_path, split_root):
    plan = plan_round(load_round_config(_round_file(tmp_path, split_root)))
    assert plan.phase == "final" and plan.out_dir == tmp_path / "out" / "final"
    assert plan.split.root == split_root
    assert plan.split.content_hash == load_split(split_root).content_hash
    # The preliminary phase's submission is not the final's; the ids are the file's.
    assert [e.key for e in plan.entries] == ["alpha/s00", "alpha/late", "beta/s00", "beta/s01"]
    assert [e.source.source for e in plan.entries] == [
        "alpha/seg:1",
        "alpha/seg:2",
        "beta/seg:1",
        str(tmp_path / "beta.tar"),
    ]
    # The submission's tags override the team's; the team's model is each of its submissions'.
    assert [dict(e.tags) for e in plan.entries] == [
        {"ssl": True},
        {"ssl": False},
        {"gpu": 1},
        {},
    ]
    assert [e.model for e in plan.entries] == [tmp_path / "weights"] * 2 + [None, None]
    assert plan.submissions == ()


def test_the_plan_holds_the_ranking_and_the_run_settings_of_the_file(tmp_path, split_root):
    plan = plan_round(load_round_config(_round_file(tmp_path, split_root)))
    assert plan.profile == "selma3d-2024" == plan.ranking.profile
    assert plan.ranking.scheme == "rank-then-aggregate"
    run = plan.run
    assert (run.contract, run.canary, run.determinism, run.reuse) == ("folder", False, True, "case")
    assert (run.limits.timeout_s, run.limits.memory, run.limits.jobs) == (30, "2g", 2)
    assert plan.gate == GateOptions(binarize=BinarizeRule(threshold=0.5), geometry="strict")
    assert plan.metrics.connectivity == 6
    assert run.relay_image is None and run.model is None


def test_the_plan_and_its_parts_are_frozen(tmp_path, split_root):
    plan = plan_round(load_round_config(_round_file(tmp_path, split_root)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.split = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.entries[0].submission = "other"  # type: ignore[misc]
    assert isinstance(plan.entries, tuple)


def test_a_submission_of_the_plan_carries_its_key_image_model_and_run_identity(
    tmp_path, split_root
):
    plan = plan_round(load_round_config(_round_file(tmp_path, split_root)))
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(b"\x01\x02")
    model = prepare_model(tmp_path / "weights")
    late = plan.entries[1]
    image = ImageInfo("alpha/seg:2", "sha256:" + "2" * 64, "1000")
    sub = plan_submission(plan, late, image, model)

    assert sub.key == "alpha/late" == submission_key("alpha", "late") == late.key
    assert (sub.team, sub.submission, sub.source) == ("alpha", "late", "alpha/seg:2")
    assert sub.run_dir == tmp_path / "out" / "final" / "runs" / "alpha" / "late"
    assert sub.model == model.as_record() and sub.limits == plan.run.limits
    assert dict(sub.tags) == {"ssl": False}
    identity = sub.identity
    assert identity == run_identity(image, plan.split, plan.run, model.as_record())
    assert (identity.image, identity.split, identity.contract) == (image, plan.split, "folder")
    assert (identity.gate, identity.reuse) == (plan.gate, "case")
    assert identity.model_sha256 == model.sha256
    # A run folder of another image of the same submission is refused as the submission's own.
    problems, submission_differs = identity.differences({"image": {"digest": "sha256:" + "1" * 64}})
    assert submission_differs and "refusing to mix two images in one run" in problems[0]


def test_the_resolved_images_go_into_a_new_plan(tmp_path, split_root):
    plan = plan_round(load_round_config(_round_file(tmp_path, split_root)))
    image = ImageInfo("beta/seg:1", "sha256:" + "b" * 64, "1000", "invoke")
    beta = plan_submission(plan, plan.entries[2], image, None)
    resolved = plan.with_images([beta], "sha256:" + "r" * 64)
    assert resolved.submissions == (beta,) and resolved.by_key() == {"beta/s00": beta}
    assert resolved.run.relay_image == "sha256:" + "r" * 64
    assert dataclasses.replace(resolved.run, relay_image=None) == plan.run
    assert plan.submissions == () and plan.run.relay_image is None
    assert beta.model is None and beta.identity.model_sha256 is None


def test_a_split_without_labels_is_refused_when_the_round_is_planned(tmp_path, split_root):
    cases = load_split(split_root).cases
    unlabeled = tmp_path / "unlabeled"
    write_manifest(
        unlabeled,
        [
            {
                "case_id": c.case_id,
                "image": str(c.images[0]),
                "structure": c.structure,
                "track": c.track,
            }
            for c in cases
        ],
    )
    config = load_round_config(_round_file(tmp_path, unlabeled))
    with pytest.raises(ConfigError) as info:
        plan_round(config)
    assert str(info.value) == (
        f"{tmp_path / 'round.yaml'}: phase 'final' uses split {unlabeled}, whose cases are not "
        "all labeled; a round needs the labels to score."
    )


def test_a_ranking_naming_another_profile_is_refused_at_load_and_on_the_command_line(
    tmp_path, split_root
):
    path = _round_file(tmp_path, split_root, ranking={"profile": "selma3d-2026"})
    with pytest.raises(
        ConfigError, match=r"ranking\.profile 'selma3d-2026' differs from the round's"
    ):
        load_round_config(path)
    path = _round_file(tmp_path, split_root, profile=None, ranking={"profile": "selma3d"})
    config = load_round_config(path)
    assert plan_round(config).profile == "selma3d"
    with pytest.raises(
        ConfigError,
        match=r"ranking\.profile 'selma3d' differs from the round's profile 'selma3d-2026'",
    ):
        config.with_overrides(profile="selma3d-2026")
