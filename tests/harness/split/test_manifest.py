"""The split format: manifest round trips, every validation error, the content hash."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.errors import SplitError
from harness.split.manifest import MANIFEST_COLUMNS, load_split, write_manifest
from harness.split.volume import Grid, read_volume, write_volume

SHAPE = (4, 5, 6)


def _volume(path: Path, value: float = 0.0, *, dtype=np.float32, grid: Grid | None = None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = grid.shape if grid is not None else SHAPE
    write_volume(path, np.full(shape, value, dtype=dtype), grid)
    return path.name


def _case(root: Path, case_id: str, **overrides: str) -> dict[str, str]:
    """A valid labeled case, with files, as a manifest row."""
    _volume(root / "img" / f"{case_id}.nii.gz", 1.0)
    mask = np.zeros(SHAPE, np.uint8)
    mask[1, 2, 3] = 1
    (root / "lbl").mkdir(exist_ok=True)
    write_volume(root / "lbl" / f"{case_id}.nii.gz", mask)
    row = {"case_id": case_id, "track": "spot", "structure": "cfos",
           "image": f"img/{case_id}.nii.gz", "label": f"lbl/{case_id}.nii.gz"}
    row.update(overrides)
    return row


def _problems(root: Path) -> list[str]:
    with pytest.raises(SplitError) as info:
        load_split(root)
    return info.value.problems


# --- round trips -----------------------------------------------------------------------------


def test_manifest_round_trip_keeps_fields_and_sorts_ids(tmp_path: Path) -> None:
    rows = [
        _case(tmp_path, "b", phase="final", spacing="2.0,1.0,0.5"),
        _case(tmp_path, "a", track="vessel", structure="blood_vessel"),
    ]
    write_manifest(tmp_path, rows)
    header = (tmp_path / "manifest.csv").read_text().splitlines()[0]
    assert header == ",".join(MANIFEST_COLUMNS)
    split = load_split(tmp_path / "manifest.csv")
    assert split.case_ids == ("a", "b")
    a, b = split.cases
    assert (a.track, a.structure, a.phase, a.spacing) == ("vessel", "blood_vessel", None, None)
    assert (b.phase, b.spacing) == ("final", (2.0, 1.0, 0.5))
    assert b.image == (tmp_path / "img" / "b.nii.gz").resolve()
    assert b.label == (tmp_path / "lbl" / "b.nii.gz").resolve()
    assert split.case("b") is b
    assert split.labeled
    with pytest.raises(KeyError, match="no case 'zz'"):
        split.case("zz")


def test_volume_round_trip_through_a_split(tmp_path: Path) -> None:
    grid = Grid((3, 4, 5), spacing=(2.0, 0.5, 0.5), origin=(1.0, 2.0, 3.0))
    data = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    write_volume(tmp_path / "i.nii.gz", data, grid)
    write_volume(tmp_path / "m.nii.gz", data > 30, grid)
    write_manifest(tmp_path, [{"case_id": "c", "track": "spot", "structure": "cfos",
                               "image": "i.nii.gz", "label": "m.nii.gz"}])
    case = load_split(tmp_path).case("c")
    image, label = read_volume(case.image), read_volume(case.label)
    np.testing.assert_array_equal(image.array, data)
    np.testing.assert_array_equal(label.array, (data > 30).astype(np.uint8))
    assert image.grid.mismatch(grid) is None and label.grid.mismatch(grid) is None


def test_multichannel_image_and_unlabeled_case(tmp_path: Path) -> None:
    _volume(tmp_path / "raw" / "p_0000.nii.gz", 1.0)
    _volume(tmp_path / "raw" / "p_0001.nii.gz", 2.0)
    write_manifest(tmp_path, [{"case_id": "p", "track": "vessel", "structure": "blood_vessel",
                               "image": "raw/p_0000.nii.gz; raw/p_0001.nii.gz", "label": ""}])
    split = load_split(tmp_path)
    case = split.case("p")
    assert [p.name for p in case.images] == ["p_0000.nii.gz", "p_0001.nii.gz"]
    assert case.image.name == "p_0000.nii.gz"
    assert case.label is None and not split.labeled


def test_labels_any_values_binarize_with_greater_than_zero(tmp_path: Path) -> None:
    row = _case(tmp_path, "c")
    label = np.array([-1.0, 0.0, 0.5, 2.0, np.inf] + [0.0] * 115, np.float32).reshape(SHAPE)
    write_volume(tmp_path / "lbl" / "c.nii.gz", label)
    write_manifest(tmp_path, [row])
    assert load_split(tmp_path).case_ids == ("c",)


def test_manifest_with_byte_order_mark_loads(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c")])
    text = (tmp_path / "manifest.csv").read_text(encoding="utf-8")
    (tmp_path / "manifest.csv").write_text(text, encoding="utf-8-sig")
    assert load_split(tmp_path).case_ids == ("c",)


# --- validation: every problem at once, naming the row ---------------------------------------


def test_duplicate_ids(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c"), _case(tmp_path, "c")])
    [problem] = _problems(tmp_path)
    assert "row 3 (case 'c')" in problem and "duplicate case_id, first seen on row 2" in problem


def test_ids_equal_but_for_case_collide(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "Case1"), _case(tmp_path, "case1")])
    [problem] = _problems(tmp_path)
    assert "differs only by case from 'Case1'" in problem


def test_unsafe_id(tmp_path: Path) -> None:
    write_manifest(tmp_path, [{**_case(tmp_path, "ok"), "case_id": "../evil"}])
    [problem] = _problems(tmp_path)
    assert "case '../evil'" in problem and "case_id must be" in problem


def test_missing_files(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c", image="img/nope.nii.gz",
                                    label="lbl/gone.nii.gz")])
    problems = _problems(tmp_path)
    assert len(problems) == 2
    assert "row 2 (case 'c'): image file 'img/nope.nii.gz' not found" in problems[0]
    assert "label file 'lbl/gone.nii.gz' not found" in problems[1]


def test_unknown_track_and_empty_structure(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c", track="tubes", structure="")])
    problems = _problems(tmp_path)
    assert any("unknown track 'tubes'" in p for p in problems)
    assert any("empty structure" in p for p in problems)


def test_label_on_other_grid(tmp_path: Path) -> None:
    row_shape = _case(tmp_path, "shape")
    _volume(tmp_path / "lbl" / "shape.nii.gz", 0, dtype=np.uint8, grid=Grid((4, 5, 7)))
    row_spacing = _case(tmp_path, "spacing")
    _volume(tmp_path / "lbl" / "spacing.nii.gz", 0, dtype=np.uint8,
            grid=Grid(SHAPE, spacing=(2.0, 1.0, 1.0)))
    write_manifest(tmp_path, [row_shape, row_spacing])
    problems = _problems(tmp_path)
    assert len(problems) == 2
    assert "case 'shape'" in problems[0] and "shape (z, y, x) is (4, 5, 7)" in problems[0]
    assert "case 'spacing'" in problems[1] and "spacing is (2.0, 1.0, 1.0)" in problems[1]


def test_channels_on_different_grids(tmp_path: Path) -> None:
    _volume(tmp_path / "a_0000.nii.gz")
    _volume(tmp_path / "a_0001.nii.gz", grid=Grid((4, 5, 8)))
    write_manifest(tmp_path, [{"case_id": "a", "track": "vessel", "structure": "v",
                               "image": "a_0000.nii.gz;a_0001.nii.gz", "label": ""}])
    [problem] = _problems(tmp_path)
    assert "channel a_0001.nii.gz differs from a_0000.nii.gz" in problem


def test_nan_label_is_not_binary(tmp_path: Path) -> None:
    row = _case(tmp_path, "c")
    label = np.zeros(SHAPE, np.float32)
    label[0, 0, 0] = np.nan
    write_volume(tmp_path / "lbl" / "c.nii.gz", label)
    write_manifest(tmp_path, [row])
    [problem] = _problems(tmp_path)
    assert "row 2 (case 'c'): label contains NaN" in problem


def test_unreadable_volumes(tmp_path: Path) -> None:
    row = _case(tmp_path, "c")
    image = tmp_path / "img" / "c.nii.gz"
    image.write_bytes(image.read_bytes()[:40])  # truncated gzip stream
    (tmp_path / "lbl" / "c.nii.gz").write_bytes(gzip.compress(b"not a nifti header"))
    write_manifest(tmp_path, [row])
    problems = _problems(tmp_path)
    assert len(problems) == 2
    assert "image unreadable" in problems[0] and "c.nii.gz" in problems[0]
    assert "label unreadable" in problems[1]


def test_label_listed_as_image(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c", label="img/c.nii.gz")])
    [problem] = _problems(tmp_path)
    assert "label file is also listed as an image" in problem


def test_bad_spacing_and_columns(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c", spacing="1,0,1")])
    [problem] = _problems(tmp_path)
    assert "spacing must be three positive finite numbers" in problem and "'1,0,1'" in problem
    (tmp_path / "manifest.csv").write_text("case_id,track\nc,spot\n")
    [problem] = _problems(tmp_path)
    assert "missing column(s): structure, image, label" in problem


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    rows = [
        _case(tmp_path, "a", track="nope"),
        _case(tmp_path, "b", image="img/missing.nii.gz"),
        _case(tmp_path, "a"),
        _case(tmp_path, "ok"),
    ]
    write_manifest(tmp_path, rows)
    with pytest.raises(SplitError) as info:
        load_split(tmp_path)
    problems = info.value.problems
    # Rows are sorted by id on write: a, a, b, ok -> rows 2, 3, 4, 5.
    assert len(problems) == 3
    assert "row 2 (case 'a'): unknown track 'nope'" in problems[0]
    assert "row 3 (case 'a'): duplicate case_id" in problems[1]
    assert "row 4 (case 'b'): image file" in problems[2]
    assert "3 problem(s)" in str(info.value)


def test_no_manifest_and_empty_manifest(tmp_path: Path) -> None:
    assert _problems(tmp_path) == ["no manifest file here"]
    write_manifest(tmp_path, [])
    assert _problems(tmp_path) == ["the manifest lists no cases"]


def test_write_manifest_rejects_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rows\\[0\\] must have a case_id"):
        write_manifest(tmp_path, [{"case_id": "a", "colour": "red"}])


# --- content hash -----------------------------------------------------------------------------


def test_content_hash_follows_content_not_location(tmp_path: Path) -> None:
    first = tmp_path / "one"
    write_manifest(first, [_case(first, "a"), _case(first, "b")])
    h = load_split(first).content_hash
    assert h.startswith("sha256:") and len(h) == len("sha256:") + 64

    # Same files, elsewhere, with absolute paths: same hash.
    moved = tmp_path / "two"
    shutil.copytree(first, moved)
    (moved / "manifest.csv").unlink()
    write_manifest(moved / "m", [
        {**row, "image": str(moved / row["image"]), "label": str(moved / row["label"])}
        for row in (_row("a"), _row("b"))
    ])
    assert load_split(moved / "m").content_hash == h

    # One voxel changed: another hash.
    write_volume(moved / "img" / "b.nii.gz", np.full(SHAPE, 1.5, np.float32))
    assert load_split(moved / "m").content_hash != h

    # Another track: another hash.
    write_manifest(first, [_case(first, "a", track="vessel"), _case(first, "b")])
    assert load_split(first).content_hash != h


def _row(case_id: str) -> dict[str, str]:
    return {"case_id": case_id, "track": "spot", "structure": "cfos",
            "image": f"img/{case_id}.nii.gz", "label": f"lbl/{case_id}.nii.gz"}


# --- hostile manifests ---------------------------------------------------------------------


def test_a_duplicated_column_is_refused(tmp_path: Path) -> None:
    _case(tmp_path, "c")
    (tmp_path / "manifest.csv").write_text(
        "case_id,track,structure,image,label,label\n"
        "c,spot,cfos,img/c.nii.gz,lbl/c.nii.gz,img/c.nii.gz\n"
    )
    assert _problems(tmp_path) == ["column(s) named twice in the header: label"]


def test_cells_beyond_the_header_are_refused(tmp_path: Path) -> None:
    _case(tmp_path, "c")
    (tmp_path / "manifest.csv").write_text(
        "case_id,track,structure,image,label\nc,spot,cfos,img/c.nii.gz,lbl/c.nii.gz,extra\n"
    )
    assert _problems(tmp_path) == ["row 2 (case 'c'): 6 cells, more than the header's 5 columns"]


@pytest.mark.parametrize("spacing", ["inf,1,1", "1,nan,1", "1,1,1e999"])
def test_a_spacing_that_is_not_finite_is_refused(tmp_path: Path, spacing: str) -> None:
    write_manifest(tmp_path, [_case(tmp_path, "c", spacing=spacing)])
    [problem] = _problems(tmp_path)
    assert "spacing must be three positive finite numbers" in problem


def test_a_million_rows_naming_missing_files_stop_quickly_saying_how_many_are_left(
    tmp_path: Path,
) -> None:
    import time

    n = 1_000_000
    lines = ["case_id,track,structure,image,label"]
    lines += [f"c{i},spot,cfos,missing/{i}.nii.gz,missing/{i}_label.nii.gz" for i in range(n)]
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    t0 = time.monotonic()
    problems = _problems(tmp_path)
    assert time.monotonic() - t0 < 20
    # Two problems a row (image and label): reading stops at the 51st data row (line 52).
    assert len(problems) == 101
    assert problems[-1] == (
        f"stopped at row 52 after 100 problems: {n - 50:,} more row(s) were not checked "
        "(fix these and load again)"
    )


def test_a_label_that_is_a_loop_of_links_is_a_problem_of_its_row(tmp_path: Path) -> None:
    row = _case(tmp_path, "c")
    (tmp_path / "loop-a").symlink_to("loop-b")
    (tmp_path / "loop-b").symlink_to("loop-a")
    write_manifest(tmp_path, [{**row, "label": "loop-a"}])
    with pytest.raises(SplitError) as info:
        load_split(tmp_path)
    assert "row 2 (case 'c'): label file 'loop-a' is a loop of symbolic links" in str(info.value)
