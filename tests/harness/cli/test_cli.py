"""The exit-code contract of ``selma3d``: 0 ok, 1 submission failed, 2 bad input, 3 engine."""

import click
import pytest

from common.errors import ConfigError
from common.outputs import MARKER_NAME
from harness.cli import EXIT_BAD_INPUT, EXIT_ENGINE, EXIT_FAILED, EXIT_INTERNAL, cli, run
from harness.errors import EngineError


@click.command("t-fail")
def _fail() -> None:
    click.get_current_context().exit(EXIT_FAILED)


@click.command("t-config")
def _config() -> None:
    raise ConfigError("round.yaml: limits.memory: expected a size")


@click.command("t-engine")
def _engine() -> None:
    raise EngineError("no Docker engine answers")


@click.command("t-markup")
@click.argument("kind")
def _markup(kind: str) -> None:
    # What a team controls, quoted in a message: a build log's line, a file's name.
    text = "step 2: [/red][bold]not yours"
    raise {"config": ConfigError, "engine": EngineError}[kind](text)


@click.command("t-bug")
def _bug() -> None:
    raise ZeroDivisionError("a bug")


COMMANDS = (_fail, _config, _engine, _markup, _bug)


@pytest.fixture(autouse=True, scope="module")
def _commands():
    for command in COMMANDS:
        cli.add_command(command)
    yield
    for command in COMMANDS:
        cli.commands.pop(command.name)


def exit_code(args: list[str]) -> int:
    return run(args)


def test_a_command_exit_code_reaches_the_shell():
    assert exit_code(["t-fail"]) == 1


def test_bad_input_exits_2_with_the_message(capsys):
    assert exit_code(["t-config"]) == EXIT_BAD_INPUT
    assert "limits.memory" in capsys.readouterr().err


def test_engine_errors_exit_3(capsys):
    assert exit_code(["t-engine"]) == EXIT_ENGINE
    assert "no Docker engine answers" in capsys.readouterr().err


@pytest.mark.parametrize(("kind", "code"), [("config", EXIT_BAD_INPUT), ("engine", EXIT_ENGINE)])
def test_a_message_quoting_console_markup_is_printed_as_text(capsys, kind, code):
    assert exit_code(["t-markup", kind]) == code
    assert "step 2: [/red][bold]not yours" in capsys.readouterr().err


def test_usage_errors_exit_2():
    assert exit_code(["no-such-command"]) == EXIT_BAD_INPUT


def test_help_exits_0():
    assert exit_code(["--help"]) == 0


def test_a_bug_exits_4_with_its_traceback_not_1(capsys):
    assert exit_code(["t-bug"]) == EXIT_INTERNAL
    assert "ZeroDivisionError" in capsys.readouterr().err


def _demo_folder(root):
    from harness.split.manifest import MANIFEST_NAME

    (root / "data" / "hidden").mkdir(parents=True)
    (root / "data" / "hidden" / MANIFEST_NAME).write_text("kept\n")
    # A split the generator wrote (synth.json), with a record of no current recipe.
    (root / "data" / "hidden" / "synth.json").write_text("{}\n")
    (root / "runs" / "unet" / "s00").mkdir(parents=True)
    (root / "leaderboard").mkdir()
    (root / "results.csv").write_text("old\n")
    # A folder a demo made (its marker), where the user left a note since.
    (root / MARKER_NAME).write_text('{"kind": "demo", "command": "selma3d demo"}\n')
    (root / "notes.txt").write_text("not the round's\n")


@pytest.mark.parametrize("resume", [False, True])
def test_demo_starts_its_runs_over_unless_resumed(tmp_path, monkeypatch, resume):
    # The round itself runs in the integration tests; here only what the demo keeps matters.
    import harness.rounds.round

    seen = {}

    def fake_round(config, *, console):
        seen["runs"] = (tmp_path / "runs").exists()
        seen["split"] = str(config.phases[config.phase].split)
        return type("R", (), {"report": tmp_path / "leaderboard" / "index.html"})()

    monkeypatch.setattr(harness.rounds.round, "run_round", fake_round)
    _demo_folder(tmp_path)
    small = ["--cases", "2", "--size", "12"]
    args = ["demo", "--out", str(tmp_path), *small, *(["--resume"] if resume else [])]
    assert cli.main(args=args, standalone_mode=False) is None
    assert seen == {"runs": resume, "split": str(tmp_path / "data" / "hidden")}
    assert (tmp_path / "results.csv").exists() == resume
    assert (tmp_path / "leaderboard").exists() == resume
    assert (tmp_path / "notes.txt").is_file()
    # The placeholder split's generator record matched no recipe: it was written again.
    hidden = tmp_path / "data" / "hidden"
    manifest = (hidden / "manifest.csv").read_text()
    assert manifest.count("\n") == 3 and "spot_000" in manifest and "vessel_000" in manifest


def test_demo_refuses_a_folder_it_did_not_make_and_keeps_every_file(tmp_path, monkeypatch):
    import harness.rounds.round

    monkeypatch.setattr(harness.rounds.round, "run_round", lambda *a, **k: pytest.fail("ran"))
    _demo_folder(tmp_path)
    (tmp_path / MARKER_NAME).unlink()  # no marker: an earlier demo's folder, with a user's note
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert exit_code(["demo", "--out", str(tmp_path), "--size", "12"]) == EXIT_BAD_INPUT
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_demo_reuses_its_split_only_for_the_same_recipe(tmp_path, monkeypatch):
    import harness.rounds.round

    monkeypatch.setattr(
        harness.rounds.round,
        "run_round",
        lambda config, *, console: type("R", (), {"report": "r"})(),
    )
    hidden = tmp_path / "data" / "hidden"

    def demo(*extra):
        args = ["demo", "--out", str(tmp_path), "--size", "12", *extra]
        assert cli.main(args=args, standalone_mode=False) is None
        return (hidden / "manifest.csv").stat().st_mtime_ns, len(list(hidden.rglob("*.nii.gz")))

    first = demo("--cases", "2")
    assert demo("--cases", "2") == first  # same recipe: not written again
    changed = demo("--cases", "3")
    assert changed[0] != first[0] and changed[1] == 6  # 3 images + 3 labels


def test_demo_runs_the_named_teams_from_the_shipped_submissions(tmp_path, monkeypatch):
    import harness.rounds.round
    from harness.assets import asset_dir

    seen = {}

    def fake_round(config, *, console):
        seen["teams"] = [(t.name, t.folder) for t in config.teams]
        return type("R", (), {"report": "r"})()

    monkeypatch.setattr(harness.rounds.round, "run_round", fake_round)
    monkeypatch.chdir(tmp_path)
    args = ["demo", "--out", "out", "--cases", "2", "--size", "12", "--teams", "template,threshold"]
    assert cli.main(args=args, standalone_mode=False) is None
    shipped = asset_dir("submissions")
    # In the round file's order, whatever the order asked for.
    assert seen["teams"] == [
        ("threshold", shipped / "baseline-threshold"),
        ("template", shipped / "template"),
    ]
    assert (tmp_path / "out" / "data" / "hidden" / "manifest.csv").is_file()


def test_demo_refuses_an_unknown_team_before_writing_anything(tmp_path, capsys):
    assert exit_code(["demo", "--out", str(tmp_path / "out"), "--teams", "threshold,nope"]) == 2
    assert "nope; the demo's teams are unet, classical, threshold, template" in " ".join(
        capsys.readouterr().err.split()
    )
    assert not (tmp_path / "out").exists()


def test_baselines_commands_need_the_real_data_folder(tmp_path, capsys):
    work = tmp_path / "work"
    assert exit_code(["baselines", "prepare", "--work", str(work)]) == EXIT_BAD_INPUT
    assert "--real-data" in capsys.readouterr().err
    empty = tmp_path / "patches"
    empty.mkdir()
    args = ["baselines", "prepare", "--work", str(work), "--real-data", str(empty)]
    assert exit_code(args) == EXIT_BAD_INPUT
    assert "no train/ and no val/ folder" in " ".join(capsys.readouterr().err.split())
    # Reported before anything was generated.
    assert not work.exists()
