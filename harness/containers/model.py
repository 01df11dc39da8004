"""A submission's model weights: a tarball or a folder, mounted read-only at ``/opt/ml/model``.

grand-challenge ships an algorithm's weights apart from its image, as a tarball extracted to
``/opt/ml/model``. ``selma3d predict --model PATH``, ``selma3d check --model PATH`` and ``model:``
in a round file accept the same: a ``.tar``, ``.tar.gz`` (``.tgz``) or a folder. Either contract
sees it at :data:`MODEL_MOUNT`, read-only.

A tarball is a file the participant controls, so it is extracted defensively: every member name
is checked before anything is written (no absolute path, no ``..``), the sum of the member sizes
its headers declare is capped, and extraction runs under :mod:`tarfile`'s ``data`` filter (no
links leading out, no device files, no set-uid bits). It is extracted once into a cache folder
named by its sha256 (:func:`~harness.containers.base_images.cache_dir` ``/models/<sha256>``) and
reused. A folder is mounted as it is, after a walk that refuses links, hard links (a file with
more than one name, which may be a hidden label's) and special files, the prediction gate's
rules (its sha256 is over the sorted relative paths and file contents, never following a link).
A path in a model, folder or tarball, has at most :data:`MAX_MODEL_DEPTH` names and
:data:`MAX_MODEL_PATH` characters: a tree nested thousands deep is refused, not walked.
A model inside the split, or a model folder holding a file of the split, is refused
(:func:`refuse_model_in_split`): it would mount the labels into the container.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from common.files import write_atomic
from common.outputs import real
from harness.containers.base_images import cache_dir
from harness.containers.cleanup import TreeTooDeep, chmod_tree, remove_tree, walk_tree
from harness.errors import SubmissionError

if TYPE_CHECKING:
    from harness.split.manifest import Split

__all__ = [
    "MAX_MODEL_BYTES",
    "MAX_MODEL_DEPTH",
    "MAX_MODEL_PATH",
    "MODEL_MOUNT",
    "ModelInfo",
    "model_tarball",
    "prepare_model",
    "refuse_model_in_split",
]

MODEL_MOUNT = "/opt/ml/model"
"""Where a container finds the model, as on grand-challenge."""
MAX_MODEL_BYTES = 20 << 30
"""Default cap on a model's unpacked size (20 GiB)."""
MAX_MODEL_DEPTH = 32
"""Names a path inside a model may have (``a/b/c`` has 3): its folders nest at most this deep."""
MAX_MODEL_PATH = 1024
"""Characters a path inside a model may have."""
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_COMPLETE = ".selma3d-complete"
_PATH_LIMITS = (
    f"a path inside a model has at most {MAX_MODEL_DEPTH} names (folders nested at most that "
    f"deep) and {MAX_MODEL_PATH} characters"
)


@dataclass(frozen=True)
class ModelInfo:
    """A model ready to mount.

    Attributes
    ----------
    source : str
        What was given (a tarball or a folder), as an absolute path.
    sha256 : str
        ``sha256:<hex>`` of the tarball's bytes, or of a folder's content (see
        :func:`prepare_model`).
    path : Path
        The folder mounted at :data:`MODEL_MOUNT`.
    size_bytes : int
        The unpacked size.
    """

    source: str
    sha256: str
    path: Path
    size_bytes: int

    def as_record(self) -> dict[str, object]:
        """What ``run.json``, ``check.json`` and ``round.json`` keep of it."""
        return {"source": self.source, "sha256": self.sha256, "size_bytes": self.size_bytes}


def prepare_model(
    source: str | Path, *, cache: str | Path | None = None, max_bytes: int = MAX_MODEL_BYTES
) -> ModelInfo:
    """Check a model tarball or folder and return the folder to mount.

    Parameters
    ----------
    source : str or Path
        A ``.tar``, ``.tar.gz`` or ``.tgz`` file, or a folder.
    cache : str or Path, keyword-only, optional
        Where tarballs are extracted (``<cache>/<sha256 hex>/``); default
        :func:`~harness.containers.base_images.cache_dir` ``/models``.
    max_bytes : int, keyword-only
        Cap on the unpacked size (the sum of file sizes).

    Returns
    -------
    ModelInfo

    Raises
    ------
    SubmissionError
        The path does not exist or is neither a folder nor a tarball; a member is absolute,
        climbs out with ``..``, is a link leading out or a device; a folder holds a link or a
        special file; a path has more than :data:`MAX_MODEL_DEPTH` names or
        :data:`MAX_MODEL_PATH` characters; the unpacked size is over the cap. The message names
        the file and member.
    """
    path = Path(source).absolute()
    if not os.path.lexists(path):
        raise SubmissionError(
            f"model {source}: no such file or folder; expected a .tar, .tar.gz or a folder "
            f"to mount read-only at {MODEL_MOUNT}."
        )
    if path.is_symlink():
        raise SubmissionError(f"model {source}: is a symbolic link; give the file or folder.")
    if path.is_dir():
        digest, size = _folder_digest(path, max_bytes=max_bytes)
        return ModelInfo(str(path), digest, path, size)
    if not (path.is_file() and path.name.lower().endswith(_TAR_SUFFIXES)):
        raise SubmissionError(
            f"model {source}: expected a .tar, .tar.gz or .tgz file or a folder, got "
            f"{'a file named ' + path.name if path.is_file() else 'a special file'}."
        )
    digest = _file_digest(path)
    if cache is None:
        cache = cache_dir() / "models"
    target = Path(cache) / digest.removeprefix("sha256:")
    if not (target / _COMPLETE).is_file():
        _extract(path, target, max_bytes=max_bytes)
    folder = target / "model"  # the completion marker stays beside it, unseen by the container
    walked = walk_tree(folder, max_depth=MAX_MODEL_DEPTH)
    size = sum(st.st_size for _, _, st in walked if not stat.S_ISDIR(st.st_mode))
    return ModelInfo(str(path), digest, folder, size)


def refuse_model_in_split(source: str | Path, split: Split) -> None:
    """Refuse a model that is, or lies inside, the split, or a folder holding any of its files.

    Either would mount the split's files (its hidden labels) into the participant's container.
    Symbolic links and ``..`` are resolved.

    Raises
    ------
    SubmissionError
        Naming the model and the split's file or folder.
    """
    model = real(source)
    protected = [
        ("split", split.root),
        ("split's manifest", split.manifest),
        *(("split's image", p) for c in split.cases for p in c.images),
        *(("split's label", c.label) for c in split.cases if c.label is not None),
    ]
    for what, path in protected:
        target = real(path)
        if model == target or target in model.parents:
            raise SubmissionError(
                f"model {source}: lies inside the {what} {target}; a model is never taken "
                "from the split (its labels would reach the container)."
            )
        if model in target.parents:
            raise SubmissionError(
                f"model {source}: the folder holds the {what} {target}; it would be mounted "
                "into the container. Give a folder of the model's files only."
            )


def model_tarball(files: dict[str, Path], dest: str | Path) -> Path:
    """Write ``files`` (name in the tarball -> file) as a ``.tar.gz`` model, byte for byte stable.

    Times, owners and modes are fixed (0, root, 0644), so the same files give the same bytes and
    the same sha256; ``dest`` is rewritten only when its bytes differ.

    Parameters
    ----------
    files : dict of str to Path
        Relative member names and the files they hold.
    dest : str or Path
        The tarball to write (atomically).

    Returns
    -------
    Path
        ``dest``.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            data = Path(files[name]).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    dest = Path(dest)
    if not (dest.is_file() and dest.read_bytes() == packed):
        write_atomic(dest, packed)
    return dest


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _folder_digest(root: Path, *, max_bytes: int) -> tuple[str, int]:
    """sha256 over ``(relative path, kind, content)`` of every entry, sorted; no link followed."""
    h = hashlib.sha256()
    total = 0
    try:
        entries = [(path, rel) for path, rel, _ in walk_tree(root, max_depth=MAX_MODEL_DEPTH)]
    except TreeTooDeep as exc:
        raise SubmissionError(
            f"model folder {root}: {exc.relative} nests folders too deep; {_PATH_LIMITS}."
        ) from exc
    for entry, rel in sorted(entries, key=lambda e: e[1]):
        if len(rel) > MAX_MODEL_PATH:
            raise SubmissionError(
                f"model folder {root}: a path of {len(rel)} characters; {_PATH_LIMITS}."
            )
        mode = entry.lstat().st_mode
        if stat.S_ISDIR(mode):
            h.update(f"d {rel}\0".encode())
        elif stat.S_ISREG(mode):
            links = entry.lstat().st_nlink
            if links > 1:
                # Another name of the same file may be anywhere, a hidden label included.
                raise SubmissionError(
                    f"model folder {root}: {rel} is a hard link ({links} links); a model folder "
                    "holds regular files with one name each (copy the file instead)."
                )
            total += entry.lstat().st_size
            if total > max_bytes:
                raise SubmissionError(
                    f"model folder {root}: larger than the cap of {max_bytes} bytes."
                )
            h.update(f"f {rel}\0".encode())
            with entry.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
            h.update(b"\0")
        else:
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
            raise SubmissionError(
                f"model folder {root}: {rel} is {kind}; a model folder holds regular files and "
                "folders only."
            )
    return "sha256:" + h.hexdigest(), total


def _check_members(tar: tarfile.TarFile, source: Path, *, max_bytes: int) -> None:
    """Refuse unsafe names and an unpacked size over the cap, before anything is written."""
    total = 0
    for member in tar:
        name = PurePosixPath(member.name)
        where = f"model tarball {source}: member {member.name!r}"
        if name.is_absolute() or member.name.startswith(("/", "\\")):
            raise SubmissionError(f"{where} has an absolute path; members must be relative.")
        if ".." in name.parts:
            raise SubmissionError(f"{where} climbs out of the model folder with '..'.")
        if len(name.parts) > MAX_MODEL_DEPTH or len(member.name) > MAX_MODEL_PATH:
            shown = member.name if len(member.name) <= 80 else member.name[:60] + "..."
            raise SubmissionError(
                f"model tarball {source}: member {shown!r} has {len(name.parts)} names and "
                f"{len(member.name)} characters; {_PATH_LIMITS}."
            )
        if member.isfile():
            total += member.size
            if total > max_bytes:
                raise SubmissionError(
                    f"model tarball {source}: unpacks to more than the cap of {max_bytes} bytes."
                )


def _extract(source: Path, target: Path, *, max_bytes: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # A folder of its own beside the target, renamed into place when complete: a run killed
    # mid-extraction leaves no half model behind under the final name.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name[:12]}-", dir=target.parent))
    try:
        try:
            with tarfile.open(source, "r:*") as tar:
                _check_members(tar, source, max_bytes=max_bytes)
                # The data filter refuses links leading out, devices and set-uid bits too.
                tar.extractall(tmp / "model", filter="data")
        except tarfile.FilterError as exc:
            raise SubmissionError(f"model tarball {source}: refused: {exc}") from exc
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SubmissionError(f"model tarball {source}: cannot be read: {exc}") from exc
        # Readable by the container's user, whoever owned the files in the archive.
        chmod_tree(tmp / "model", dirs=0o755, files=0o644, max_depth=MAX_MODEL_DEPTH)
        (tmp / _COMPLETE).write_text(str(source) + "\n", encoding="utf-8")
        if (target / _COMPLETE).is_file():
            return  # extracted meanwhile by another run: the same bytes, keep that one
        if target.exists():
            remove_tree(target)  # an interrupted extraction (no marker): replaced
        os.rename(tmp, target)
    finally:
        if tmp.exists():
            remove_tree(tmp)
