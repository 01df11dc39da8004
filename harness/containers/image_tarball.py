"""A ``docker save`` tarball, read before the engine sees it and loaded under one tag of selma3d's.

``docker load`` applies every name a tarball asks for: the ``RepoTags`` of ``manifest.json``, the
``repositories`` file, the name annotations of an OCI ``index.json``. A participant's tarball
listing another team's reference, the evaluation image's or ``selma3d/python:3.11`` would move
those tags to its own image. So a tarball is never handed to the engine as it is:

1. :func:`read_image_tarball` reads it once, streaming (a ``.tar``, or one compressed with gzip,
   bzip2 or xz): every member's name (relative, no ``..``), kind (files and folders; a link only to
   another member, as older ``docker save`` writes for a repeated layer; no devices), count and
   declared size, and inside every file that is a tar (a layer) the sizes its own members declare,
   against :class:`TarballLimits` (so a small tarball cannot make the engine write gigabytes). It
   finds the one image in it: from ``manifest.json`` (Docker's layout, which Docker 25 and later
   still write beside the OCI one) or else from ``index.json`` (the OCI layout); its id is the
   sha256 of its config, which the engine derives the same way.
2. :func:`load_image_tarball` streams to the engine a rewritten copy holding that image's config,
   its layers and a ``manifest.json`` naming one tag only, the one selma3d chose for it; no
   ``repositories`` file, no ``index.json``. The names the tarball asked for are kept in
   :attr:`ImageTarball.names` (reported, never applied). An engine that already has the image (the
   same config id) is not sent it again. After the load, the engine's image must have the id read
   in step 1.

Moving tags selma3d did not name is therefore impossible by construction; the pins of
:class:`harness.containers.images.ImagePins` check it after every load anyway.

Its length (about 600 lines) is one file format's: the read, its limits, both layouts and the
rewritten copy share one table of members and must agree on it.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.errors import EngineError, SubmissionError

__all__ = [
    "ImageTarball",
    "TarballLimits",
    "load_image_tarball",
    "read_image_tarball",
]

_CHUNK = 1 << 20
_JSON_NAMES = ("manifest.json", "index.json", "repositories", "oci-layout")
_KEEP_MAX = 4 << 20
"""Members up to this size are kept in memory during the read (JSON documents, OCI manifests)."""
_KEEP_TOTAL = 64 << 20
_BLOB = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")
_NAME_ANNOTATIONS = ("org.opencontainers.image.ref.name", "io.containerd.image.name")
_OCI_MANIFESTS = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_OCI_INDEXES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class TarballLimits:
    """What an image tarball may hold, checked before the engine sees it.

    Attributes
    ----------
    max_file_bytes : int
        The tarball file's own size (32 GiB).
    max_unpacked_bytes : int
        What the tarball's members declare, and apart what the members of its layers declare
        (the files the engine would write), each at most this (64 GiB) ...
    max_expansion : float
        ... and at most this many times the file's size (20), ...
    min_allowance_bytes : int
        ... though never less than this (1 GiB), so a small image is not held to its ratio.
    max_members : int
        Members of the tarball itself (10,000).
    max_layer_members : int
        Members of all its layers together (2,000,000).
    """

    max_file_bytes: int = 32 << 30
    max_unpacked_bytes: int = 64 << 30
    max_expansion: float = 20.0
    min_allowance_bytes: int = 1 << 30
    max_members: int = 10_000
    max_layer_members: int = 2_000_000

    def unpacked_cap(self, file_bytes: int) -> int:
        """The most the members (or the layers' members) of a file of ``file_bytes`` may declare.

        Examples
        --------
        >>> limits = TarballLimits()
        >>> limits.unpacked_cap(37 << 20) == limits.min_allowance_bytes
        True
        >>> limits.unpacked_cap(2 << 30) == 40 << 30
        True
        """
        by_ratio = max(int(self.max_expansion * file_bytes), self.min_allowance_bytes)
        return min(self.max_unpacked_bytes, by_ratio)


@dataclass(frozen=True)
class ImageTarball:
    """What :func:`read_image_tarball` found in a ``docker save`` tarball.

    Attributes
    ----------
    path : Path
    sha256 : str
        ``sha256:<hex>`` of the file's bytes.
    image_id : str
        ``sha256:<hex>`` of the image's config: the id the engine gives it.
    config : str
        The member holding the config.
    layers : tuple of str
        The members holding its layers, in order (a repeated layer appears again).
    layout : {"docker-archive", "oci"}
        Which index named the image (``manifest.json``, or ``index.json`` without it).
    names : tuple of str
        Every image name the tarball asked for (``RepoTags``, ``repositories``, ``index.json``
        annotations): recorded, never applied.
    unpacked_bytes : int
        What its members declare.
    layer_bytes : int
        What the members of its (distinct) layers declare.
    """

    path: Path
    sha256: str
    image_id: str
    config: str
    layers: tuple[str, ...]
    layout: str
    names: tuple[str, ...] = ()
    unpacked_bytes: int = 0
    layer_bytes: int = 0
    member_sha256: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class _Member:
    kind: str  # "file", "dir" or "link"
    size: int = 0
    sha256: str = ""
    target: str = ""  # a link's member
    layer_bytes: int | None = None  # declared by its own members when it is a tar; else None
    layer_members: int = 0
    data: bytes | None = None


class _Scan:
    """The state of one read of a tarball."""

    def __init__(self, path: Path, file_bytes: int, limits: TarballLimits) -> None:
        self.path, self.limits = path, limits
        self.cap = limits.unpacked_cap(file_bytes)
        self.members: dict[str, _Member] = {}
        self.unpacked = 0
        self.kept = 0
        self.layer_members = 0

    def fail(self, what: str) -> SubmissionError:
        return SubmissionError(f"image tarball {self.path}: {what}")


def read_image_tarball(
    path: str | Path, *, limits: TarballLimits = TarballLimits()
) -> ImageTarball:
    """Check a ``docker save`` tarball and find its one image, without the engine.

    Parameters
    ----------
    path : str or Path
        A ``.tar`` (or gzip-, bzip2- or xz-compressed) written by ``docker save`` (Docker's
        layout, or the OCI layout Docker 25 and later write).
    limits : TarballLimits, keyword-only

    Returns
    -------
    ImageTarball

    Raises
    ------
    SubmissionError
        Naming the file (and member): not a tar, empty or cut short; a member absolute,
        climbing out with ``..``, a link leading out of the tarball, a device or other special
        file; over a limit; no ``manifest.json`` nor ``index.json``; not exactly one image; a
        layer that is not a tar. Nothing has reached the engine.
    """
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"image tarball {path}: not a file.")
    size = path.stat().st_size
    if size == 0:
        raise SubmissionError(f"image tarball {path}: is empty; expected a `docker save` tarball.")
    if size > limits.max_file_bytes:
        raise SubmissionError(
            f"image tarball {path}: {size} bytes, over the cap of {limits.max_file_bytes} bytes."
        )
    scan = _Scan(path, size, limits)
    file_hash = hashlib.sha256()
    with path.open("rb") as raw:
        hashed = _Hashing(raw, file_hash)
        try:
            with tarfile.open(fileobj=hashed, mode="r|*") as tar:  # type: ignore[call-overload]
                for info in tar:
                    _read_member(scan, tar, info)
                # tarfile ends quietly where the data ends; a tar ends with two zero blocks
                # (one of them read above), and one cut short lacks them.
                rest = tar.fileobj.read(tarfile.BLOCKSIZE)
                if len(rest) < tarfile.BLOCKSIZE or rest.strip(b"\0"):
                    raise scan.fail(
                        "is cut short: it does not end with tar's end-of-archive blocks "
                        f"(after {len(scan.members)} member(s))."
                    )
            # Whatever follows the end-of-archive blocks is hashed too: the sha256 is the file's.
            while hashed.read(_CHUNK):
                pass
        except tarfile.ReadError as exc:
            if "unexpected end of data" in str(exc):
                raise scan.fail(f"is cut short ({exc}).") from exc
            raise scan.fail(
                f"not a readable tar archive ({exc}); expected `docker save` output."
            ) from exc
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise scan.fail(f"cannot be read, cut short or corrupt ({exc}).") from exc
    if not scan.members:
        raise scan.fail("holds no member; expected `docker save` output.")
    image = _find_image(scan)
    return ImageTarball(
        path=path,
        sha256="sha256:" + file_hash.hexdigest(),
        member_sha256={n: m.sha256 for n, m in scan.members.items() if m.kind == "file"},
        unpacked_bytes=scan.unpacked,
        **image,
    )


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes what is read through it."""

    def __init__(self, raw: IO[bytes], digest: Any) -> None:
        self.raw, self.digest = raw, digest
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.count += len(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def _clean_name(scan: _Scan, name: str) -> str:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise scan.fail(f"member {name!r} has an absolute path; members must be relative.")
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../") or ".." in name.split("/"):
        raise scan.fail(f"member {name!r} climbs out of the tarball with '..'.")
    return "" if norm == "." else norm


def _read_member(scan: _Scan, tar: tarfile.TarFile, info: tarfile.TarInfo) -> None:
    if len(scan.members) >= scan.limits.max_members:
        raise scan.fail(f"holds more than {scan.limits.max_members} members.")
    name = _clean_name(scan, info.name)
    if info.isdir():
        scan.members[name] = _Member("dir")
        return
    if info.issym() or info.islnk():
        # Older `docker save` links a repeated layer to its first copy; nothing else is a link.
        base = posixpath.dirname(name) if info.issym() else ""
        target = posixpath.normpath(posixpath.join(base, info.linkname))
        if info.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise scan.fail(f"member {name!r} links to {info.linkname!r}, outside the tarball.")
        scan.members[name] = _Member("link", target=target)
        return
    if not info.isreg() or info.issparse():
        kind = "a sparse file" if info.issparse() else "a device or other special file"
        raise scan.fail(f"member {name!r} is {kind}; `docker save` writes files and folders.")
    scan.unpacked += info.size
    if scan.unpacked > scan.cap:
        raise scan.fail(
            f"its members declare more than {scan.cap} bytes (a file of "
            f"{scan.path.stat().st_size} bytes may unpack to at most that)."
        )
    member = _Member("file", size=info.size)
    stream = tar.extractfile(info)
    if stream is None:  # a regular member always has one; said rather than assumed
        raise scan.fail(f"member {name!r} cannot be read.")
    digest = hashlib.sha256()
    small = info.size <= _KEEP_MAX
    if small:
        # Read whole (at most 4 MiB at a time): it may be a document read later.
        member.data = stream.read()
        digest.update(member.data)
        got = len(member.data)
        member.layer_bytes, member.layer_members = _layer_size(scan, name, io.BytesIO(member.data))
    else:
        hashed = _Hashing(stream, digest)  # type: ignore[arg-type]
        member.layer_bytes, member.layer_members = _layer_size(scan, name, hashed)
        while hashed.read(_CHUNK):
            pass
        got = hashed.count
    if got != info.size:
        raise scan.fail(
            f"is cut short: member {name!r} declares {info.size} bytes and holds {got}."
        )
    member.sha256 = "sha256:" + digest.hexdigest()
    # Kept: the index files, and small files that are not tars (configs, OCI manifests), up
    # to a total; a document dropped here is refused by name if the image needs it.
    wanted = name in _JSON_NAMES or (small and member.layer_bytes is None)
    if wanted and scan.kept + info.size <= _KEEP_TOTAL:
        scan.kept += info.size
    else:
        member.data = None
    scan.members[name] = member


def _layer_size(scan: _Scan, name: str, stream: IO[bytes]) -> tuple[int | None, int]:
    """What the members of ``stream`` declare if it is a tar (maybe compressed), else None."""
    total = count = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as inner:  # type: ignore[call-overload]
            for info in inner:
                count += 1
                scan.layer_members += 1
                if scan.layer_members > scan.limits.max_layer_members:
                    raise scan.fail(
                        f"its layers hold more than {scan.limits.max_layer_members} members."
                    )
                if info.issparse():
                    raise scan.fail(f"layer {name!r}: member {info.name!r} is a sparse file.")
                if info.isreg():
                    total += info.size
                    if total > scan.cap:
                        raise scan.fail(
                            f"layer {name!r} declares more than {scan.cap} bytes of files (a "
                            f"tarball of {scan.path.stat().st_size} bytes may unpack to at most "
                            "that)."
                        )
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError):
        # Not a tar (a config, a manifest) or a broken one: decided when the image names it.
        return None, count
    return total, count


def _json(scan: _Scan, name: str) -> Any:
    member = scan.members.get(name)
    if member is None or member.kind != "file":
        raise scan.fail(f"{name} is missing or not a file.")
    if member.data is None:
        raise scan.fail(
            f"{name} is larger than {_KEEP_MAX} bytes, or follows more than {_KEEP_TOTAL} bytes "
            "of other small documents; expected a small JSON file."
        )
    try:
        return json.loads(member.data)
    except (ValueError, RecursionError) as exc:
        raise scan.fail(f"{name} is not valid JSON ({exc}).") from exc


def _resolve(scan: _Scan, name: str, what: str) -> str:
    """The file member ``name`` is, following links inside the tarball."""
    seen = set()
    current = _clean_name(scan, name) if isinstance(name, str) else ""
    while True:
        member = scan.members.get(current)
        if member is None:
            raise scan.fail(f"{what} {name!r} is not in the tarball.")
        if member.kind == "file":
            return current
        if member.kind != "link" or current in seen:
            raise scan.fail(f"{what} {name!r} is not a file.")
        seen.add(current)
        current = member.target


def _find_image(scan: _Scan) -> dict[str, Any]:
    names: list[str] = []
    if "repositories" in scan.members:
        repos = _json(scan, "repositories")
        if isinstance(repos, dict):
            for repo, tags in repos.items():
                names.extend(f"{repo}:{t}" for t in (tags if isinstance(tags, dict) else {}))
    if "index.json" in scan.members:
        index = _json(scan, "index.json")
        for entry in index.get("manifests") or [] if isinstance(index, dict) else []:
            notes = entry.get("annotations") if isinstance(entry, dict) else None
            if isinstance(notes, dict):
                names.extend(str(notes[k]) for k in _NAME_ANNOTATIONS if k in notes)
    if "manifest.json" in scan.members:
        config, layers, tagged = _from_manifest(scan)
        layout = "docker-archive"
    elif "index.json" in scan.members:
        config, layers = _from_index(scan)
        tagged = []
        layout = "oci"
    else:
        raise scan.fail(
            "holds neither manifest.json nor index.json; expected the output of `docker save`."
        )
    names = [*tagged, *names]
    config_member = scan.members[config]
    for layer in layers:
        if scan.members[layer].layer_bytes is None:
            raise scan.fail(f"layer {layer!r} is not a tar archive (nor a gzip/bzip2/xz one).")
    layer_bytes = sum(int(scan.members[m].layer_bytes or 0) for m in dict.fromkeys(layers))
    if layer_bytes > scan.cap:
        raise scan.fail(
            f"its layers declare {layer_bytes} bytes of files together, over the {scan.cap} "
            f"bytes a tarball of {scan.path.stat().st_size} bytes may unpack to."
        )
    return {
        "image_id": config_member.sha256,
        "config": config,
        "layers": tuple(layers),
        "layout": layout,
        "names": tuple(dict.fromkeys(names)),
        "layer_bytes": layer_bytes,
    }


def _from_manifest(scan: _Scan) -> tuple[str, list[str], list[str]]:
    manifest = _json(scan, "manifest.json")
    if not isinstance(manifest, list) or not manifest:
        raise scan.fail("manifest.json is not a list of images.")
    if len(manifest) != 1:
        raise scan.fail(
            f"manifest.json lists {len(manifest)} images; a submission is one image "
            "(`docker save` it alone)."
        )
    entry = manifest[0]
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
        raise scan.fail("manifest.json: its image has no Config.")
    layers = entry.get("Layers")
    if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise scan.fail("manifest.json: its image's Layers is not a list of member names.")
    tags = entry.get("RepoTags") or []
    config = _resolve(scan, entry["Config"], "manifest.json: Config")
    return (
        config,
        [_resolve(scan, x, "manifest.json: layer") for x in layers],
        [str(t) for t in tags] if isinstance(tags, list) else [],
    )


def _blob(scan: _Scan, descriptor: Any, what: str) -> str:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    hex_ = str(digest).removeprefix("sha256:")
    name = f"blobs/sha256/{hex_}"
    if not isinstance(digest, str) or not _BLOB.match(name):
        raise scan.fail(f"index.json: {what} has no sha256 digest.")
    member = _resolve(scan, name, f"index.json: {what}")
    if scan.members[member].sha256 != f"sha256:{hex_}":
        raise scan.fail(f"{name} does not match its digest.")
    return member


def _from_index(scan: _Scan) -> tuple[str, list[str]]:
    index = _json(scan, "index.json")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    for _depth in range(2):  # an index may point at one index of its own (a platform list)
        if not isinstance(manifests, list) or len(manifests) != 1:
            count = len(manifests) if isinstance(manifests, list) else 0
            raise scan.fail(f"index.json lists {count} images; a submission is one image.")
        media = manifests[0].get("mediaType") if isinstance(manifests[0], dict) else None
        member = _blob(scan, manifests[0], "its manifest")
        document = _json(scan, member)
        if media in _OCI_INDEXES or (isinstance(document, dict) and "manifests" in document):
            manifests = document.get("manifests") if isinstance(document, dict) else None
            continue
        if media not in (*_OCI_MANIFESTS, None) or not isinstance(document, dict):
            raise scan.fail(f"index.json: {member} is not an image manifest ({media}).")
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise scan.fail(f"{member}: the image manifest lists no layers.")
        config = _blob(scan, document.get("config"), "the image's config")
        return config, [_blob(scan, x, "a layer") for x in layers]
    raise scan.fail("index.json nests indexes more than one deep.")


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def rewritten(tarball: ImageTarball, tag: str) -> Iterator[bytes]:
    """The bytes of a tarball holding only ``tarball``'s image, named ``tag`` and nothing else.

    Read again from the file in one pass; each member sent is checked against the sha256 the
    first read found, so a file changed in between is refused rather than sent.

    Raises
    ------
    SubmissionError
        The file changed since :func:`read_image_tarball` read it.
    """
    new_names = {tarball.config: tarball.image_id.removeprefix("sha256:") + ".json"}
    for i, layer in enumerate(dict.fromkeys(tarball.layers)):
        new_names[layer] = f"layers/{i:04d}.tar"
    sent: set[str] = set()
    with tarball.path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:  # type: ignore[call-overload]
        for info in tar:
            name = posixpath.normpath(info.name)
            if name not in new_names or name in sent or not info.isreg():
                continue
            stream = tar.extractfile(info)
            if stream is None:
                continue
            yield _header(new_names[name], info.size)
            digest = hashlib.sha256()
            sent_bytes = 0
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                sent_bytes += len(chunk)
                yield chunk
            if "sha256:" + digest.hexdigest() != tarball.member_sha256.get(name):
                raise SubmissionError(
                    f"image tarball {tarball.path}: member {name!r} changed since it was read."
                )
            yield _pad(sent_bytes)
            sent.add(name)
    if sent != set(new_names):
        raise SubmissionError(f"image tarball {tarball.path}: changed since it was read.")
    manifest = json.dumps(
        [
            {
                "Config": new_names[tarball.config],
                "RepoTags": [tag],
                "Layers": [new_names[x] for x in tarball.layers],
            }
        ]
    ).encode()
    yield _header("manifest.json", len(manifest)) + manifest + _pad(len(manifest))
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def load_image_tarball(client: Any, tarball: ImageTarball, tag: str) -> Any:
    """Give the engine ``tarball``'s image under ``tag`` alone; return the engine's image.

    An engine that already has an image of that id only gets ``tag`` added to it.

    Parameters
    ----------
    client : docker.DockerClient
    tarball : ImageTarball
        As :func:`read_image_tarball` found it.
    tag : str
        The one reference the load may create or move (one of selma3d's own).

    Raises
    ------
    SubmissionError
        The engine refused the image (a layer that does not match its config, ...), or loaded
        an image of another id.
    EngineError
        The engine failed.
    """
    # Docker's SDK is loaded only where an engine is called, as connect() loads it.
    from docker.errors import APIError, ImageLoadError, ImageNotFound
    from requests.exceptions import ConnectionError as RequestsConnectionError

    repository, _, name = tag.rpartition(":")
    try:
        image = client.images.get(tarball.image_id)
    except ImageNotFound:
        try:
            client.images.load(rewritten(tarball, tag))
        except RequestsConnectionError as exc:
            raise EngineError(
                f"image tarball {tarball.path}: the engine stopped answering while loading it "
                f"({exc})."
            ) from exc
        except (APIError, ImageLoadError) as exc:
            # What was sent was checked and rewritten: what the engine still refuses is the
            # image's content (a layer that does not match its config, ...).
            detail = exc.explanation if isinstance(exc, APIError) else exc
            raise SubmissionError(
                f"image tarball {tarball.path}: the engine refused its image: {detail or exc}"
            ) from exc
        try:
            image = client.images.get(tarball.image_id)
        except ImageNotFound as exc:
            raise SubmissionError(
                f"image tarball {tarball.path}: after loading, the engine has no image "
                f"{tarball.image_id} (the id of its config)."
            ) from exc
    if tag not in (image.tags or []):
        image.tag(repository, name)
        image.reload()
    return image
