"""The one atomic writer and the one YAML-to-model loader (common.files)."""

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from common.errors import ConfigError
from common.files import atomic_path, load_yaml_mapping, load_yaml_model, resolved, write_atomic


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_atomic_keeps_the_previous_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    write_atomic(target, "previous\n")
    real_write_bytes = Path.write_bytes

    def half_then_full_disk(self, data):
        real_write_bytes(self, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "a longer new content that never fully arrives\n")
    monkeypatch.undo()
    assert target.read_text() == "previous\n"
    assert _names(tmp_path) == ["results.json"]


def test_write_atomic_replaces_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    write_atomic(target, "one")
    write_atomic(target, "twö".encode())
    assert target.read_bytes() == "twö".encode()
    assert _names(target.parent) == ["out.txt"]


def test_atomic_path_removes_its_file_when_the_body_raises(tmp_path):
    target = tmp_path / "mask.nii.gz"
    target.write_bytes(b"previous")
    with (
        pytest.raises(ValueError, match="bad voxels"),
        atomic_path(target, suffix=".tmp.nii.gz") as tmp,
    ):
        assert tmp.parent == tmp_path and tmp.name.startswith(".mask.nii.gz.")
        assert tmp.name.endswith(".tmp.nii.gz")  # writers that go by the extension see it
        tmp.write_bytes(b"half")
        raise ValueError("bad voxels")
    assert target.read_bytes() == b"previous"
    assert _names(tmp_path) == ["mask.nii.gz"]


def test_written_files_get_the_permissions_of_a_plain_write(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = write_atomic(tmp_path / "atomic.txt", "x")
    assert atomic.stat().st_mode == plain.stat().st_mode


def test_atomic_path_refuses_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"), atomic_path(tmp_path):
        pass


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = Field(default=0, ge=0)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    resamples: int = Field(default=10, ge=0)
    inner: _Inner = _Inner()


def _write(tmp_path, content: str | bytes) -> Path:
    path = tmp_path / "conf.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_a_valid_file_loads(tmp_path):
    path = _write(tmp_path, "name: demo\ninner: {seed: 3}\n")
    assert load_yaml_model(path, _Config, what="demo configuration") == _Config(
        name="demo", inner=_Inner(seed=3)
    )


def test_field_errors_list_the_file_each_field_and_its_value(tmp_path):
    path = _write(tmp_path, "name: demo\nresamples: -1\ninner: {seed: -2}\ncolour: red\n")
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, _Config, what="demo configuration")
    assert str(info.value) == (
        f"{path}: 3 problem(s) in the demo configuration:\n"
        "  - resamples: Input should be greater than or equal to 0 (got -1)\n"
        "  - inner.seed: Input should be greater than or equal to 0 (got -2)\n"
        "  - colour: Extra inputs are not permitted (got 'red')"
    )


def test_a_missing_field_is_named_without_a_value(tmp_path):
    path = _write(tmp_path, "resamples: 3\n")
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, _Config, what="demo configuration")
    assert str(info.value) == (
        f"{path}: 1 problem(s) in the demo configuration:\n  - name: Field required"
    )


def test_extra_problems_join_the_field_errors(tmp_path):
    path = _write(tmp_path, "resamples: -1\nname: x\n")

    def cross(raw):
        return [f"name: {raw['name']!r} is too short"]

    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, _Config, what="demo configuration", extra_problems=cross)
    message = str(info.value)
    assert message.startswith(f"{path}: 2 problem(s)")
    assert "  - resamples: " in message and "  - name: 'x' is too short" in message


def test_prepare_adds_to_the_raw_mapping(tmp_path):
    path = _write(tmp_path, "resamples: 4\n")
    loaded = load_yaml_model(
        path, _Config, what="demo configuration", prepare=lambda raw: {**raw, "name": "added"}
    )
    assert (loaded.name, loaded.resamples) == ("added", 4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: caf\xe9\n", ": the demo configuration is not UTF-8 text (invalid continuation"),
        ("name: [unclosed\n", ": the demo configuration is not valid YAML: "),
        ("- a\n- b\n", ": the demo configuration must be a mapping of fields at the top, got list"),
        ("just text\n", ": the demo configuration must be a mapping of fields at the top, got str"),
        ("", ": the demo configuration must be a mapping of fields at the top, got NoneType"),
    ],
)
def test_unreadable_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, _Config, what="demo configuration")
    assert str(info.value).startswith(str(path) + message)


def test_a_missing_file_is_named(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_yaml_model(path, _Config, what="demo configuration")
    assert str(info.value) == f"{path}: no such demo configuration file"


def test_an_empty_file_may_mean_the_defaults(tmp_path):
    path = _write(tmp_path, "")
    assert load_yaml_mapping(path, what="track map", empty_ok=True) == {}

    class Defaults(BaseModel):
        resamples: int = 10

    assert load_yaml_model(path, Defaults, what="x", empty_ok=True) == Defaults()


LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def test_nested_yaml_aliases_are_refused_at_once_naming_the_line(tmp_path):
    import time

    path = tmp_path / "round.yaml"
    path.write_text(LAUGHS + "\n")
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_yaml_mapping(path, what="round configuration")
    assert time.monotonic() - t0 < 2
    message = str(info.value)
    assert str(path) in message
    assert "YAML aliases ('*a') are not accepted" in message
    assert "line 2" in message


def test_an_anchor_without_alias_still_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: &x 1\nb: 2\n")
    assert load_yaml_mapping(path, what="configuration") == {"a": 1, "b": 2}


def test_a_key_written_twice_is_refused_naming_the_key_and_both_lines(tmp_path):
    path = tmp_path / "round.yaml"
    path.write_text("name: r\nteams:\n  - {name: a, image: x}\nphase: final\nteams: []\n")
    with pytest.raises(ConfigError) as info:
        load_yaml_mapping(path, what="round configuration")
    assert str(info.value) == (
        f"{path}: the round configuration is not valid YAML: duplicate key 'teams' on line 5 "
        "(first on line 2); write each key once"
    )


@pytest.mark.parametrize(
    "text",
    ["a: {b: 1, b: 2}\n", "a:\n  - {x: 1}\n  - {y: 1, y: 2}\n", "1: a\n1: b\n"],
    ids=["flow-mapping", "nested", "integer-keys"],
)
def test_duplicates_are_refused_at_any_depth(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="duplicate key"):
        load_yaml_mapping(path, what="configuration")


def test_equal_keys_in_different_mappings_are_not_duplicates(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a: {name: 1}\nb: {name: 2}\nc: [{name: 3}, {name: 4}]\n")
    assert load_yaml_mapping(path, what="configuration")["c"] == [{"name": 3}, {"name": 4}]


def test_a_loop_of_links_is_a_clear_error_naming_the_path(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError) as info:
        resolved(tmp_path / "a" / "x")
    assert (
        str(info.value)
        == f"{tmp_path / 'a' / 'x'}: a loop of symbolic links; expected a file or a folder"
    )
    assert resolved(tmp_path / "." / "c") == tmp_path.resolve() / "c"
