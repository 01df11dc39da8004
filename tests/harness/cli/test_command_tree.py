"""The whole ``selma3d`` command tree, walked: one spelling and one kind for each option."""

import dataclasses
import shlex
import typing
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from harness.cli import cli
from harness.cli.options import LIMIT_FLAGS, Option
from harness.containers.limits import Limits
from harness.rounds.config import RoundConfig


def _leaves(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue  # a deprecated alias of a visible group, walked there
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def _groups(group: click.Group, path: tuple[str, ...] = ()):
    yield " ".join(path) or "selma3d", group
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group) and not command.hidden:
            yield from _groups(command, (*path, name))


COMMANDS = dict(_leaves(cli))

# Every command is one of these two kinds; a new command must be put in one.
LONG = {
    "check", "demo", "evaluate", "leaderboard", "predict", "round", "data synth",
    "dev baselines table", "dev baselines train", "dev baselines tune",
}
QUICK = {
    "doctor": "reads the engine's state",
    "template": "copies a few files",
    "worker": "a server: it logs what it does until stopped",
    "images build": "the build log is its output",
    "images build-folder": "the build log is its output",
    "data import": "writes a manifest; reads headers only",
    "data split": "writes two manifests",
    "data check": "reads headers and labels of a split, prints a summary",
    "data ground-truth": "copies a split's label files",
    "dev baselines prepare": "prints the splits it made, nothing in between",
}
GATE = {"--threshold", "--geometry"}
METRIC = {"--connectivity", "--iou-threshold", "--matching"}


def _params(command: click.Command):
    return [p for p in command.params if p.name != "help"]


def _option(command: click.Command, flag: str) -> click.Option | None:
    for param in command.params:
        if isinstance(param, click.Option) and flag in param.opts:
            return param
    return None


def test_every_command_is_classified_as_long_or_quick():
    assert set(COMMANDS) == LONG | set(QUICK)
    assert not LONG & set(QUICK)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_and_argument_has_help(path):
    command = COMMANDS[path]
    assert (command.help or "").strip(), f"{path} has no help"
    missing = [p.name for p in _params(command) if not (getattr(p, "help", None) or "").strip()]
    assert not missing, f"selma3d {path}: no help for {missing}"


@pytest.mark.parametrize("path", [p for p, _ in _groups(cli)])
def test_every_group_has_help(path):
    assert (dict(_groups(cli))[path].help or "").strip()


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_split_and_out_are_options_wherever_they_appear(path):
    for param in _params(COMMANDS[path]):
        words = {param.name or "", *(param.opts or [])}
        if isinstance(param, click.Argument):
            # The one exception: an earlier release's positional form, deprecated.
            named = {w.upper().removesuffix("_POSITIONAL") for w in words}
            if named & {"SPLIT", "SPLIT_PATH", "OUT", "OUT_DIR"}:
                assert param.name.endswith("_positional") and param.help.startswith("Deprecated")
        for flag in ("--split", "--out"):
            option = _option(COMMANDS[path], flag)
            if option is not None:
                assert isinstance(option, Option) and not option.is_flag


@pytest.mark.parametrize("path", sorted(LONG))
def test_every_long_command_has_no_progress(path):
    option = _option(COMMANDS[path], "--no-progress")
    assert option is not None and option.is_flag, f"selma3d {path} has no --no-progress"


@pytest.mark.parametrize("path", ["predict", "evaluate", "check"])
def test_gate_flags_on_every_command_that_judges_predictions(path):
    assert all(_option(COMMANDS[path], flag) for flag in GATE)


@pytest.mark.parametrize("path", ["evaluate", "check"])
def test_metric_flags_on_every_command_that_scores(path):
    assert all(_option(COMMANDS[path], flag) for flag in METRIC)


def _field_type(model: type, name: str) -> type:
    """The model (pydantic or dataclass) a field of ``model`` holds, for walking a key path."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        annotation = typing.get_type_hints(model)[name]
    else:
        annotation = {f.name: f.type for f in dataclasses.fields(model)}[name]
        if isinstance(annotation, str):
            annotation = typing.get_type_hints(model)[name]
    # tuple[TeamConfig, ...], X | None: the model inside.
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and (issubclass(arg, BaseModel) or dataclasses.is_dataclass(arg)):
            return arg
    return annotation


def _has_field(model: type, name: str) -> bool:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return name in model.model_fields
    return dataclasses.is_dataclass(model) and name in {f.name for f in dataclasses.fields(model)}


def _resolve(key: str) -> bool:
    model: type = RoundConfig
    for part in key.split("."):
        if not _has_field(model, part):
            return False
        model = _field_type(model, part)
    return True


def _mirrors():
    for path, command in COMMANDS.items():
        for param in command.params:
            if isinstance(param, Option) and param.mirrors:
                yield path, param


@pytest.mark.parametrize(
    ("path", "flag", "key"), [(p, o.opts[0], o.mirrors) for p, o in _mirrors()]
)
def test_flags_mirroring_round_yaml_keys_are_spelled_as_the_keys(path, flag, key):
    assert _resolve(key), f"selma3d {path} {flag}: round.yaml has no key {key}"
    assert flag == "--" + key.rsplit(".", 1)[-1].replace("_", "-")


def _section_keys(section: str) -> set[str]:
    model = _field_type(RoundConfig, section)
    if issubclass(model, BaseModel):
        return set(model.model_fields)
    return {f.name for f in dataclasses.fields(model)}


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_options_named_as_a_round_yaml_section_key_say_so(path):
    # An option whose value is a limit, a gate or a metric setting is declared as mirroring it,
    # so the spelling test above covers it.
    keys = {
        name: f"{section}.{name}"
        for section in ("limits", "metrics", "binarize")
        for name in _section_keys(section)
    }
    for param in COMMANDS[path].params:
        if isinstance(param, click.Option) and param.name in keys and path != "worker":
            # The evaluation container's limits are the same fields under evaluation.limits.
            allowed = {keys[param.name], f"evaluation.{keys[param.name]}"}
            assert isinstance(param, Option) and param.mirrors in allowed, (
                f"selma3d {path} {param.opts[0]} sets {keys[param.name]} but does not say so"
            )


def test_every_limit_has_a_flag_spelled_as_its_key():
    assert set(LIMIT_FLAGS) == set(Limits.model_fields)
    for field, flag in LIMIT_FLAGS.items():
        assert flag.name == "--" + field.replace("_", "-")


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_jobs_means_containers_run_at_once_everywhere(path):
    option = _option(COMMANDS[path], "--jobs")
    if option is not None:
        assert "Containers" in option.help and "run at once" in option.help


def test_developer_commands_sit_under_dev():
    assert "baselines" in cli.commands["dev"].commands
    assert cli.commands["baselines"].hidden
    assert not any(path.startswith("baselines") for path in COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_no_default_path_points_into_a_checkout(path):
    for param in COMMANDS[path].params:
        default = param.default if isinstance(param.default, str | bytes) else None
        default = default or (str(param.default) if hasattr(param.default, "parts") else None)
        if default:
            assert not default.startswith(("docs", "examples", "submissions", "baselines/")), (
                f"selma3d {path} {param.name}: default {default} only exists in a checkout"
            )


def _old_spellings():
    for path, command in COMMANDS.items():
        for param in command.params:
            if isinstance(param, Option):
                for old in param.old_names:
                    yield path, old, param


def _value(param: click.Option) -> list[str]:
    if param.is_flag:
        return []
    if isinstance(param.type, click.Choice):
        return [str(param.type.choices[0])]
    if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
        return ["3"]
    return ["x"]


@pytest.mark.parametrize(
    ("path", "old", "param"),
    list(_old_spellings()),
    ids=[f"{p} {o}" for p, o, _ in _old_spellings()],
)
def test_every_old_spelling_reaches_its_option_and_warns(path, old, param, capsys):
    command = COMMANDS[path]
    value = _value(param)
    new = command.make_context(path, [param.opts[0], *value], resilient_parsing=True)
    capsys.readouterr()
    ctx = command.make_context(path, [old, *value], resilient_parsing=True)
    assert ctx.params[param.name] == new.params[param.name] != param.default
    assert f"{path} {old}; write {param.opts[0]}" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[3]


def _documented_command_lines():
    """``selma3d ...`` lines of the docs' code blocks and of the templates' CI workflows."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "submissions").glob("*/README.md"))
    workflows = sorted((ROOT / "submissions").glob("*/.github/workflows/*.yml"))
    for path in [*files, *workflows]:
        fenced = path in workflows
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip().startswith("```"):
                fenced = not fenced
                continue
            text = line.strip().removeprefix("run: ").split("  #")[0].strip()
            # Synopses with [optional] parts, alternatives or line continuations are not commands.
            if fenced and text.startswith("selma3d ") and not any(c in text for c in "[|\\<>$`"):
                yield path.relative_to(ROOT).as_posix(), text


@pytest.mark.parametrize(("where", "line"), list(_documented_command_lines()))
def test_documented_command_lines_use_the_current_spellings(where, line):
    words = shlex.split(line)[1:]
    command: click.Command = cli
    while isinstance(command, click.Group):
        name, words = words[0], words[1:]
        command = command.commands.get(name)
        assert command is not None and not command.hidden, f"{where}: {line}"
    # Parsed as click parses, without converting values (the paths need not exist here): an
    # unknown or old spelling is an error, as is a missing required option.
    ctx = click.Context(command, info_name=name)
    opts, _, _ = command.make_parser(ctx).parse_args(args=words)
    for param in command.params:
        if param.required and isinstance(param, click.Option):
            assert param.name in opts, f"{where}: {line}: no {param.opts[0]}"
    given = {name for name, value in opts.items() if isinstance(value, str | tuple | list)}
    assert not any(name.endswith("_positional") for name in given), (
        f"{where}: {line}: a deprecated positional form"
    )
