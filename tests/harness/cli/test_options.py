"""The shared options of ``selma3d`` and the old spellings they still accept, with a warning."""

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harness.cli import run
from harness.cli.options import (
    METRIC_DEFAULTS,
    Command,
    gate_from_options,
    metrics_from_options,
    moved_to_option,
    option,
    out_option,
    rewrite_old_spellings,
    warn_deprecated,
)
from harness.predictions.validate import BinarizeRule, GateOptions
from harness.split.synth import synthesize_split
from metrics import MetricOptions
from tests.conftest import REAL_PATCHES


def test_a_deprecation_goes_to_stderr_naming_the_new_spelling(capsys):
    warn_deprecated("--timeout", "--timeout-s", command="selma3d predict")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "deprecated: selma3d predict --timeout; write --timeout-s "
        "(it will stop working in the next release)\n"
    )


def test_only_whole_old_flags_are_rewritten_and_nothing_after_a_double_dash(capsys):
    renames = {"--timeout": "--timeout-s", "--quiet": "--no-progress"}
    args = ["--timeout", "5", "--timeout-s", "6", "--timeout=7", "--timeouts", "--quiet", "--",
            "--quiet"]
    assert rewrite_old_spellings(args, renames, command="c") == [
        "--timeout-s", "5", "--timeout-s", "6", "--timeout-s=7", "--timeouts", "--no-progress",
        "--", "--quiet",
    ]
    err = capsys.readouterr().err
    # One message per old spelling, however often it is written.
    assert err.count("c --timeout;") == 1 and err.count("c --quiet;") == 1


@click.command("toy", cls=Command)
@option("--limit-s", "limit_s", type=float, old_names=("--limit",), help="A limit.")
@out_option("Where to write.", moved=True)
@moved_to_option("out", flag="--out", metavar="OUT")
def _toy(limit_s: float | None, out: Path) -> None:
    click.echo(f"limit={limit_s} out={out}")


def _invoke(args):
    return CliRunner().invoke(_toy, args)


def test_an_old_flag_reaches_the_new_option_with_a_warning():
    result = _invoke(["--limit", "2.5", "--out", "o"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "limit=2.5 out=o\n"
    assert "deprecated: toy --limit; write --limit-s" in result.stderr
    new = _invoke(["--limit-s", "2.5", "--out", "o"])
    assert new.stdout == "limit=2.5 out=o\n" and new.stderr == ""


def test_an_old_positional_reaches_the_option_with_a_warning():
    result = _invoke(["o"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "limit=None out=o\n"
    assert "deprecated: toy OUT as an argument; write --out OUT" in result.stderr


def test_a_moved_option_is_required_in_one_form_only():
    neither = _invoke([])
    assert neither.exit_code == 2 and "Missing option '--out'" in neither.output
    both = _invoke(["o", "--out", "p"])
    assert both.exit_code == 2 and "give --out only" in both.output


def test_the_old_flags_are_not_in_the_help():
    text = _invoke(["--help"]).output
    assert "--limit-s" in text and "--limit " not in text and "--limit," not in text


def test_the_gate_takes_the_options_given_over_the_base():
    base = GateOptions(binarize=BinarizeRule(threshold=0.5), geometry="strict")
    assert gate_from_options(None, None) == GateOptions()
    assert gate_from_options(None, None, base=base) == base
    assert gate_from_options(0.2, None, base=base) == GateOptions(
        binarize=BinarizeRule(threshold=0.2), geometry="strict"
    )
    assert gate_from_options(None, "voxel", base=base).geometry == "voxel"
    with pytest.raises(click.UsageError, match="--threshold"):
        gate_from_options(float("nan"), None)


def test_the_metric_options_take_the_options_given_over_the_base():
    base = MetricOptions(connectivity=6, iou_threshold=0.5, matching="hungarian")
    assert metrics_from_options(None, None, None) == MetricOptions()
    assert metrics_from_options(None, None, None, base=base) == base
    assert metrics_from_options("18", None, None, base=base) == MetricOptions(
        connectivity=18, iou_threshold=0.5, matching="hungarian"
    )
    with pytest.raises(click.UsageError, match="--iou-threshold: iou_threshold must be"):
        metrics_from_options(None, 1.5, None)


def test_the_metric_defaults_shown_in_the_help_are_the_models():
    defaults = MetricOptions()
    assert METRIC_DEFAULTS == {name: getattr(defaults, name) for name in METRIC_DEFAULTS}
    assert set(METRIC_DEFAULTS) == set(MetricOptions.__dataclass_fields__)


# The old spellings of earlier releases, each run for real: the value reaches the new option
# (its refusal names the new flag) and the user is told the new spelling.
@pytest.mark.parametrize(
    ("old", "new", "value"),
    [("--timeout", "--timeout-s", "0"), ("--pids-limit", "--pids", "3"),
     ("--startup-timeout", "--startup-timeout-s", "-1")],
)
def test_predict_still_takes_the_old_limit_flags(tmp_path, capsys, old, new, value):
    args = ["predict", "x:1", "--split", str(tmp_path), "--out", str(tmp_path / "o"), old, value]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert f"{new}: " in err and f"deprecated: selma3d predict {old}; write {new}" in err
    assert not (tmp_path / "o").exists()


def test_evaluate_still_takes_jobs_as_processes(tmp_path, capsys):
    args = ["evaluate", "--split", str(tmp_path), "--predictions", str(tmp_path), "--out",
            str(tmp_path / "m.csv"), "--jobs", "0"]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "'--processes'" in err
    assert "deprecated: selma3d evaluate --jobs; write --processes" in err


def test_worker_still_takes_slots_as_jobs(capsys):
    assert run(["worker", "tcp://127.0.0.1:1", "--slots", "0"]) == 2
    err = capsys.readouterr().err
    assert "'--jobs'" in err and "deprecated: selma3d worker --slots; write --jobs" in err


def test_the_data_commands_still_take_their_old_positionals(tmp_path, capsys):
    assert run(["data", "synth", str(tmp_path / "s"), "--cases", "2", "--size", "8", "8", "8",
                "--no-progress"]) == 0
    assert "deprecated: selma3d data synth OUT as an argument; write --out OUT" in (
        capsys.readouterr().err
    )
    assert run(["data", "check", str(tmp_path / "s")]) == 0
    assert "data check SPLIT as an argument; write --split SPLIT" in capsys.readouterr().err
    synthesize_split(tmp_path / "l", cases=4, size=(8, 8, 8))
    assert run(["data", "split", str(tmp_path / "l"), str(tmp_path / "c"), "--sample", "2"]) == 0
    err = capsys.readouterr().err
    assert "data split SPLIT as an argument; write --split SPLIT" in err
    assert "data split OUT as an argument; write --out OUT" in err
    assert (tmp_path / "c" / "sample" / "manifest.csv").is_file()


def test_data_import_still_takes_its_old_positional_out(tmp_path, capsys):
    assert run(["data", "import", str(REAL_PATCHES), str(tmp_path / "o")]) == 0
    assert "data import OUT as an argument; write --out OUT" in capsys.readouterr().err
    assert (tmp_path / "o" / "manifest.csv").is_file()


def test_the_baselines_group_still_answers_under_its_old_name(capsys):
    assert run(["baselines", "tune", "--help"]) == 0
    captured = capsys.readouterr()
    assert "deprecated: selma3d baselines; write selma3d dev baselines" in captured.err
    assert "Grid-search the classical baseline" in captured.out
    assert run(["dev", "baselines", "tune", "--help"]) == 0
    assert "deprecated" not in capsys.readouterr().err


@pytest.mark.docker
def test_check_scores_with_the_metric_and_gate_options_given(tmp_path, capsys):
    """``check --iou-threshold/--matching/--threshold`` reach the scores, as ``evaluate``'s do."""
    import json

    import pandas as pd

    from harness.assets import asset_dir

    sample = tmp_path / "sample"
    synthesize_split(sample, cases=2, size=(32, 32, 32), seed=7, tracks=("spot",))
    template = asset_dir("submissions") / "template"

    def check(name, *flags):
        out = tmp_path / name
        args = ["check", str(template), "--split", str(sample), "--out", str(out)]
        args += ["--timeout-s", "120", "--memory", "1g", "--cpus", "1", "--no-progress", *flags]
        assert run(args) == 0, capsys.readouterr().out
        report = json.loads((out / "check.json").read_text())
        return out, {c["case_id"]: c["metrics"]["blob_f1"] for c in report["cases"]}

    def evaluate(run_dir, *flags):
        csv = tmp_path / f"{run_dir.name}.csv"
        args = ["evaluate", "--split", str(sample), "--predictions", str(run_dir)]
        assert run([*args, "--out", str(csv), "--no-progress", *flags]) in (0, 1)
        table = pd.read_csv(csv)
        return dict(zip(table["case_id"], table["blob_f1"], strict=True))

    strict = ("--iou-threshold", "1.0", "--matching", "hungarian", "--threshold", "0.5")
    default_dir, default = check("default")
    strict_dir, strictly = check("strict", *strict)
    # An IoU of exactly 1 is rarely reached: the strict options change the scores ...
    assert default != strictly
    # ... exactly as evaluate scores the same masks under the same options.
    assert strictly == evaluate(strict_dir, *strict)
    assert default == evaluate(default_dir)


def test_evaluate_takes_the_gate_and_metric_flags(tmp_path, capsys):
    """A hand-drawn spot case scored under each flag: the values are worked out by hand."""
    import numpy as np
    import pandas as pd

    from harness.split.manifest import write_manifest
    from harness.split.volume import Grid, write_volume

    shape, grid = (6, 7, 8), Grid((6, 7, 8), spacing=(2.0, 1.0, 1.0))
    label = np.zeros(shape, np.uint8)
    label[1:3, 1:3, 1:3] = 1  # blob A, 8 voxels
    label[4:6, 4:7, 4:7] = 1  # blob B, 18 voxels
    split = tmp_path / "split"
    split.mkdir()
    write_volume(split / "c1.nii.gz", np.zeros(shape, np.float32), grid)
    write_volume(split / "c1_label.nii.gz", label, grid)
    write_manifest(split, [{"case_id": "c1", "track": "spot", "structure": "x",
                            "image": "c1.nii.gz", "label": "c1_label.nii.gz"}])
    pred = np.zeros(shape, np.float32)
    pred[1:3, 1:3, 2:4] = 0.4  # A shifted by one voxel: IoU 4 / 12 = 1/3
    pred[4:6, 4:7, 4:7] = 0.9  # B exactly
    team = tmp_path / "team"
    team.mkdir()
    write_volume(team / "c1.nii.gz", pred, grid)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_volume(elsewhere / "c1.nii.gz", pred, Grid(shape, spacing=(3.0, 1.0, 1.0)))

    def row(folder, *flags):
        out = tmp_path / f"{len(list(tmp_path.glob('*.csv')))}.csv"
        args = ["evaluate", "--split", str(split), "--predictions", str(folder), "--out", str(out)]
        run([*args, "--no-progress", *flags])
        return pd.read_csv(out, keep_default_na=False).iloc[0]

    # value > 0; A matches at IoU 1/3 >= 0.3: two true positives.
    assert row(team)["blob_f1"] == 1.0
    # value >= 0.5 leaves B only: tp 1, fn 1: F1 = 1 / (1 + 1/2).
    assert row(team, "--threshold", "0.5")["blob_f1"] == pytest.approx(2 / 3)
    # IoU 1/3 < 0.5: A and its shifted copy no longer match: tp 1, fp 1, fn 1: F1 = 1/2.
    assert row(team, "--iou-threshold", "0.5")["blob_f1"] == 0.5
    # Another spacing is scored on the voxel grid by default, refused under strict geometry.
    assert row(elsewhere)["status"] == "ok"
    assert row(elsewhere, "--geometry", "strict")["status"] == "invalid_output"
