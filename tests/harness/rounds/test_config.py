import shutil
import tarfile
from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.evaluation.forms import plan_comparison
from harness.rounds.config import load_round_config

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "ranking.yaml").write_text("scheme: rank-then-aggregate\n")
    path = tmp_path / "round.yaml"
    path.write_text(text)
    return path


GOOD = """
name: demo
output: runs/{phase}
phases:
  preliminary: {split: data/prelim}
  final: {split: data/final}
phase: preliminary
contract: folder
limits: {timeout_s: 30, memory: 2g, cpus: 1, jobs: 2}
ranking: ranking.yaml
teams:
  - name: alpha
    display_name: Alpha Lab
    submissions:
      - {image: alpha/seg:v1, phase: preliminary}
      - {folder: subs/alpha, phase: final}
      - {tarball: up/alpha.tar, phase: preliminary, label: late}
  - {name: beta, image: beta/seg:latest}
"""


def test_paths_resolve_against_the_config_file_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    config = load_round_config(write(tmp_path, GOOD))
    assert config.phases["final"].split == tmp_path / "data/final"
    assert config.out_dir == tmp_path / "runs/preliminary"
    assert config.ranking == tmp_path / "ranking.yaml"
    alpha = config.teams[0]
    assert alpha.submissions[1].folder == tmp_path / "subs/alpha"
    assert alpha.submissions[2].tarball == tmp_path / "up/alpha.tar"


def test_submissions_for_a_phase_keep_submission_order_and_ids(tmp_path):
    config = load_round_config(write(tmp_path, GOOD))
    alpha, beta = config.teams
    assert [(i, s.source) for i, s in config.submissions_for(alpha)] == [
        ("s00", "alpha/seg:v1"),
        ("late", str(tmp_path / "up/alpha.tar")),
    ]
    final = config.with_phase("final")
    assert [i for i, _ in final.submissions_for(alpha)] == ["s01"]
    assert final.out_dir == tmp_path / "runs/final"
    # The shorthand is one submission that counts in every phase.
    assert [s.source for _, s in final.submissions_for(beta)] == ["beta/seg:latest"]


def test_every_mistake_is_reported_at_once_with_file_and_field(tmp_path):
    path = write(
        tmp_path,
        """
name: bad name
output: runs
phases: {preliminary: {split: a}, final: {split: b}}
phase: test
limits: {memory: lots, timeout_s: 0}
teams:
  - {name: x, image: a, folder: b}
  - {name: x, submissions: [{image: c, phase: nope}]}
  - {name: "y z", image: q, colour: red}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_round_config(path)
    message = str(info.value)
    assert str(path) in message
    expected_fields = [
        "name:",
        "limits.memory:",
        "limits.timeout_s:",
        "teams.0:",
        "teams.2.name:",
        "teams.2.colour:",
        "phase: 'test' is not one of phases",
        "duplicate team name(s) ['x']",
        "teams.1.submissions.0.phase: 'nope'",
        "output: 'runs' must contain '{phase}'",
    ]
    for field in expected_fields:
        assert field in message, field
    assert "10 problem(s)" in message


def test_unknown_phase_on_the_command_line_names_the_file(tmp_path):
    config = load_round_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"round\.yaml: phase 'test' is not one of"):
        config.with_phase("test")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("- a\n- b\n", "must be a mapping of fields at the top, got list"),
        ("name: [unclosed\n", "the round configuration is not valid YAML"),
    ],
)
def test_malformed_files(tmp_path, text, needle):
    with pytest.raises(ConfigError, match=needle):
        load_round_config(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such round configuration file"):
        load_round_config(tmp_path / "absent.yaml")


def test_a_wrong_ranking_section_is_reported_at_load(tmp_path):
    text = GOOD.replace("ranking: ranking.yaml", "ranking: {scheme: fastest-first}")
    with pytest.raises(ConfigError) as info:
        load_round_config(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'round.yaml'}: 1 problem(s) in the round configuration")
    assert "  - ranking.scheme: Input should be 'aggregate-then-rank'" in message
    assert "(got 'fastest-first')" in message


def test_the_gate_defaults_to_the_official_rule_and_a_round_may_set_both_keys(tmp_path):
    import json

    from harness.predictions.validate import GateOptions
    from harness.rounds.config import run_config_for

    assert load_round_config(write(tmp_path, GOOD)).gate == GateOptions()
    config = load_round_config(
        write(tmp_path, GOOD + "binarize: {threshold: 0.5}\ngeometry: strict\n")
    )
    assert config.gate.binarize.threshold == 0.5 and config.gate.geometry == "strict"
    # The runner gets the same rule, and round.json (a dump of the config) records it.
    runner = run_config_for(config)
    assert runner.gate == config.gate and runner.limits == config.limits
    recorded = json.loads(config.model_dump_json())
    assert (recorded["binarize"], recorded["geometry"]) == ({"threshold": 0.5}, "strict")


def test_bad_gate_keys_are_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_round_config(write(tmp_path, GOOD + "binarize: {cutoff: 0.5}\ngeometry: loose\n"))
    text = str(err.value)
    assert "binarize.cutoff" in text and "geometry" in text


# A typo in the organizer's own file must not cost the machine: refused at load, naming the
# file and the field, through the command (exit 2) ---------------------------------------------


def _round_exit(tmp_path, text, capsys):
    from harness.cli import run

    path = write(tmp_path, text)
    code = run(["round", str(path)])
    return code, " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (
            "jobs: 2}",
            "jobs: 1000000000000000000000000000000}",
            "limits.jobs: Input should be less than or equal to 256",
        ),
        (
            "timeout_s: 30,",
            "timeout_s: 1e309,",
            "limits.timeout_s: Input should be less than or equal to 604800",
        ),
        ("memory: 2g,", "memory: 99999999999999999999t,", "limits.memory: must be at most 1024t"),
        ("output: runs/{phase}", "output: ''", "output: String should have at least 1 character"),
    ],
)
def test_absurd_values_are_refused_at_load(tmp_path, capsys, old, new, words):
    code, err = _round_exit(tmp_path, GOOD.replace(old, new), capsys)
    assert code == 2
    assert str(tmp_path / "round.yaml") in err
    assert words in err


def test_no_phases_is_refused(tmp_path, capsys):
    text = (
        GOOD.replace(
            "phases:\n  preliminary: {split: data/prelim}\n  final: {split: data/final}\n",
            "phases: {}\n",
        )
        .replace("phase: preliminary\n", "phase: x\n")
        .replace("      - {image: alpha/seg:v1, phase: preliminary}\n", "")
        .replace("      - {folder: subs/alpha, phase: final}\n", "")
        .replace(
            "      - {tarball: up/alpha.tar, phase: preliminary, label: late}\n",
            "      - {image: alpha/seg:v1}\n",
        )
    )
    code, err = _round_exit(tmp_path, text, capsys)
    assert code == 2
    assert "phases: Dictionary should have at least 1 item" in err


def test_an_output_that_is_an_existing_file_is_refused(tmp_path, capsys):
    (tmp_path / "runs").write_text("mine\n")
    code, err = _round_exit(tmp_path, GOOD, capsys)
    assert code == 2
    assert f"{tmp_path / 'runs'} is a file; expected a folder" in err
    assert (tmp_path / "runs").read_text() == "mine\n"


def test_a_phase_name_cannot_climb_out_of_the_output_folder(tmp_path, capsys):
    text = (
        GOOD.replace("output: runs/{phase}", "output: .../{phase}")
        .replace("  final: {split: data/final}", "  ../../escape: {split: data/final}")
        .replace("phase: final}", "phase: preliminary}")
    )
    code, err = _round_exit(tmp_path, text, capsys)
    assert code == 2
    assert "phase names must be letters, digits" in err and "'../../escape'" in err
    assert not (tmp_path.parent.parent / "escape").exists()


def test_nested_aliases_in_round_and_ranking_files_exit_2_at_once(tmp_path, capsys):
    import time

    from harness.cli import run
    from tests.common.test_files import LAUGHS

    path = write(tmp_path, LAUGHS + "\n")
    t0 = time.monotonic()
    assert run(["round", str(path)]) == 2
    ranking = tmp_path / "laughs.yaml"
    ranking.write_text(LAUGHS + "\n")
    results = tmp_path / "results.csv"
    results.write_text("team,case_id,track,status\n")
    assert (
        run(["leaderboard", str(results), "--out", str(tmp_path / "lb"), "--config", str(ranking)])
        == 2
    )
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    assert "YAML aliases ('*a') are not accepted" in err
    assert str(ranking) in err.replace("\n", "")


def test_the_metrics_section_is_the_metric_suites_own_options(tmp_path):
    from metrics import MetricOptions

    assert load_round_config(write(tmp_path, GOOD)).metrics == MetricOptions()
    text = GOOD + "metrics: {connectivity: 6, iou_threshold: 0.5, matching: hungarian}\n"
    config = load_round_config(write(tmp_path, text))
    assert config.metrics == MetricOptions(6, 0.5, "hungarian")
    # round.json (a dump of the configuration) keeps the keys the file used.
    assert config.model_dump(mode="json")["metrics"] == {
        "connectivity": 6,
        "iou_threshold": 0.5,
        "matching": "hungarian",
    }


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("{connectivity: 8}", "connectivity must be one of (26, 18, 6). Got 8."),
        ("{iou_threshold: 0}", "iou_threshold must be a number in (0, 1]. Got 0.0."),
        ("{matching: best}", "metrics.matching: Input should be 'greedy' or 'hungarian'"),
        ("{iou: 0.5}", "metrics.iou: Unexpected keyword argument"),
    ],
)
def test_a_wrong_metrics_key_is_named_at_load(tmp_path, section, words):
    with pytest.raises(ConfigError) as err:
        load_round_config(write(tmp_path, GOOD + f"metrics: {section}\n"))
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'round.yaml'}: 1 problem(s) in the round configuration")
    assert words in text and "metrics" in text


def test_a_wrong_grand_challenge_leaderboard_setting_is_named_at_load(tmp_path):
    (tmp_path / "gt").mkdir()
    text = GOOD + (
        "evaluation:\n  image: evaluator:1\n  ground_truth: gt\n  leaderboard:\n"
        "    score_jsonpath: aggregates.dice.mean\n    scoring_method_choice: mean\n"
        "    extra_results_columns:\n      - {title: HD, path: aggregates.hd.mean, order: up}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_round_config(write(tmp_path, text))
    message = str(info.value)
    assert str(tmp_path / "round.yaml") in message
    assert "evaluation.leaderboard.scoring_method_choice" in message
    assert "evaluation.leaderboard.extra_results_columns.0.order" in message
    good = GOOD + (
        "evaluation:\n  image: evaluator:1\n  ground_truth: gt\n  leaderboard:\n"
        "    score_jsonpath: aggregates.dice.mean\n    result_display_choice: bst\n"
    )
    config = load_round_config(write(tmp_path, good))
    assert config.evaluation.leaderboard.result_display_choice == "bst"
    assert config.evaluation.leaderboard.score_decimal_places == 4


def test_the_selma3d_2026_example_ranks_the_2026_evaluators_keys(tmp_path):
    # The example as shipped, with the split and ground truth its comment says to make.
    example = tmp_path / "examples" / "selma3d-2026" / "round.yaml"
    example.parent.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "selma3d-2026" / "round.yaml", example)
    (tmp_path / "submissions").symlink_to(REPO / "submissions")
    (tmp_path / "runs" / "2026").mkdir(parents=True)
    tarfile.open(tmp_path / "runs" / "2026" / "ground-truth.tar.gz", "w:gz").close()
    config = load_round_config(example)
    assert config.profile == "selma3d-2026"
    assert config.evaluation.image == str(REPO / "submissions" / "template-evaluation")
    board = config.evaluation.leaderboard
    assert (board.scoring_method_choice, board.result_display_choice) == ("avg", "rec")
    columns = [(board.score_title, board.score_jsonpath, board.score_error_jsonpath)] + [
        (c.title, c.path, c.error_path) for c in board.extra_results_columns
    ]
    assert columns == [
        ("Contiguous Dice", "aggregates.con_dice_mean", "aggregates.con_dice_std"),
        ("Contiguous clDice", "aggregates.con_cldice_mean", "aggregates.con_cldice_std"),
        ("Isolated Dice", "aggregates.iso_dice_mean", "aggregates.iso_dice_std"),
        (
            "Isolated PQ",
            "aggregates.iso_panoptic_quality_mean",
            "aggregates.iso_panoptic_quality_std",
        ),
    ]
    extra = board.extra_results_columns
    assert all(c.order == "desc" and not c.exclude_from_ranking for c in extra)
    # Each path is a key of the 2026 evaluator's flat form, which selma3d compares: a
    # metrics.json holding exactly these keys is read as that form with nothing left over.
    paths = [p for _, path, error in columns for p in (path, error)]
    metrics = {"aggregates": {p.split(".", 1)[1]: 0.5 for p in paths}, "results": []}
    plan = plan_comparison(metrics, case_of_image={}, track_of_case={})
    assert plan.form == "selma3d-2026"
    assert sorted(e.path for e in plan.entries) == sorted(paths)
    means = {e.path: e.target.describe() for e in plan.entries if e.path.endswith("_mean")}
    assert means == {
        "aggregates.con_dice_mean": "dice, vessel, mean",
        "aggregates.con_cldice_mean": "cldice, vessel, mean",
        "aggregates.iso_dice_mean": "dice, spot, mean",
        "aggregates.iso_panoptic_quality_mean": "pq, spot, mean",
    }
    assert plan.notes == () and plan.problems == ()


@pytest.mark.parametrize(
    "label, needle",
    [
        ("../../../escaped", "teams.0.submissions.2.label: submission label name must be"),
        ("/tmp/victim", "teams.0.submissions.2.label: submission label name must be"),
        # Its default id would be s02; "s00" is the first submission's.
        ("s00", "teams.0: submissions: two submissions of the team have the id(s) ['s00']"),
    ],
)
def test_a_submission_label_names_a_folder_of_its_own_inside_the_round(tmp_path, label, needle):
    with pytest.raises(ConfigError) as info:
        load_round_config(write(tmp_path, GOOD.replace("label: late", f"label: {label!r}")))
    assert needle in str(info.value)


def test_a_split_that_is_a_loop_of_links_is_refused_at_load_naming_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "final").symlink_to("loop")
    (tmp_path / "data" / "loop").symlink_to("final")
    with pytest.raises(ConfigError, match="data/final: a loop of symbolic links"):
        load_round_config(write(tmp_path, GOOD))
