"""``docker save`` tarballs as a hostile participant makes them, for the image-pinning tests.

Each is made from a real ``docker save`` of the engine (Docker's layout, with ``manifest.json``
and ``repositories``), rewritten by hand: extra names in ``RepoTags``, ``repositories`` and an
OCI ``index.json``; the OCI layout Docker 25 and later write; layers that declare more than they
hold (a gzip bomb), cut-short files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
import zlib
from pathlib import Path
from typing import Any

from harness.containers.engine import short_reference

__all__ = [
    "declared_layer",
    "docker_save",
    "gzip_bomb",
    "gzipped",
    "named",
    "oci_layout",
    "synthetic_save",
    "tiny_image",
]


def synthetic_save(dest: Path, text: str = "hello", *, tags: tuple[str, ...] = ()) -> str:
    """A tarball laid out as ``docker save`` writes it, made without an engine; its image id.

    One layer holding ``hello.txt``; the config names the layer's diff id, as the engine's do.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = raw.getvalue()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()],
            },
        }
    ).encode()
    image_id = hashlib.sha256(config).hexdigest()
    layer_dir = hashlib.sha256(b"dir" + layer).hexdigest()
    manifest = [
        {"Config": f"{image_id}.json", "RepoTags": list(tags), "Layers": [f"{layer_dir}/layer.tar"]}
    ]
    folder = tarfile.TarInfo(layer_dir)
    folder.type = tarfile.DIRTYPE
    members: list[tuple[tarfile.TarInfo, bytes | None]] = [
        (tarfile.TarInfo(f"{image_id}.json"), config),
        (folder, None),
        (tarfile.TarInfo(f"{layer_dir}/layer.tar"), layer),
        (tarfile.TarInfo("manifest.json"), json.dumps(manifest).encode()),
    ]
    if tags:
        repos = {t.rpartition(":")[0]: {t.rpartition(":")[2]: layer_dir} for t in tags}
        members.append((tarfile.TarInfo("repositories"), json.dumps(repos).encode()))
    _write(dest, members)
    return "sha256:" + image_id


def tiny_image(client: Any, tag: str, text: str = "") -> str:
    """A new image of one small file (its content unique), tagged ``tag``; its id.

    ``docker import`` of a one-file tarball: nothing to run, but new to the engine, so loading
    its ``docker save`` really loads.
    """
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = (text or uuid.uuid4().hex).encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    repository, _, name = tag.rpartition(":")
    client.api.import_image_from_data(raw.getvalue(), repository=repository, tag=name)
    return str(client.images.get(tag).id)


def docker_save(client: Any, reference: str, dest: Path) -> Path:
    """``docker save reference`` into ``dest`` (its tags named, as the CLI writes it)."""
    image = client.images.get(reference)
    named: str | bool = False
    if ":" in reference:
        # The SDK takes the name as the engine lists it: Podman's is qualified (docker.io/...).
        named = next(t for t in image.tags if short_reference(t) == short_reference(reference))
    with dest.open("wb") as fh:
        for chunk in image.save(named=named):
            fh.write(chunk)
    return dest


def _members(src: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(src) as tar:
        out = []
        for member in tar.getmembers():
            stream = tar.extractfile(member) if member.isreg() else None
            out.append((member, stream.read() if stream is not None else None))
        return out


def _write(dest: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(dest, "w") as tar:
        for member, data in members:
            if data is None:
                tar.addfile(member)
            else:
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
    return dest


def named(src: Path, dest: Path, tags: list[str]) -> Path:
    """``src`` asking for ``tags`` too: in ``RepoTags``, ``repositories`` and ``index.json``."""
    out = []
    for member, data in _members(src):
        if member.name == "manifest.json" and data is not None:
            manifest = json.loads(data)
            manifest[0]["RepoTags"] = [*(manifest[0].get("RepoTags") or []), *tags]
            data = json.dumps(manifest).encode()
        elif member.name == "repositories" and data is not None:
            repos = json.loads(data)
            layer = next(iter(next(iter(repos.values())).values()))
            for tag in tags:
                repository, _, name = tag.rpartition(":")
                repos.setdefault(repository, {})[name] = layer
            data = json.dumps(repos).encode()
        out.append((member, data))
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "0" * 64,
                "size": 1,
                "annotations": {
                    "io.containerd.image.name": tag,
                    "org.opencontainers.image.ref.name": tag.rpartition(":")[2],
                },
            }
            for tag in tags
        ],
    }
    out.append((tarfile.TarInfo("index.json"), json.dumps(index).encode()))
    return _write(dest, out)


def _blob(data: bytes) -> tuple[str, tarfile.TarInfo]:
    digest = hashlib.sha256(data).hexdigest()
    return "sha256:" + digest, tarfile.TarInfo(f"blobs/sha256/{digest}")


def oci_layout(src: Path, dest: Path, tags: list[str], *, with_manifest: bool) -> Path:
    """``src`` rewritten in the OCI layout (``index.json``, ``blobs/sha256``), as Docker 25+.

    With ``with_manifest``, a ``manifest.json`` naming ``tags`` beside it (Docker 25+ writes
    both); without, the pure OCI layout, the names only in ``index.json``'s annotations.
    """
    files = {m.name: d for m, d in _members(src) if d is not None}
    manifest_json = json.loads(files["manifest.json"])[0]
    config = files[manifest_json["Config"]]
    layers = [files[name] for name in manifest_json["Layers"]]
    out: list[tuple[tarfile.TarInfo, bytes | None]] = []
    config_digest, info = _blob(config)
    out.append((info, config))
    layer_entries = []
    for layer in layers:
        digest, info = _blob(layer)
        out.append((info, layer))
        layer_entries.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": digest,
                "size": len(layer),
            }
        )
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": layer_entries,
        }
    ).encode()
    manifest_digest, info = _blob(manifest)
    out.append((info, manifest))
    annotations = {"io.containerd.image.name": tags[0]} if tags else {}
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "annotations": annotations,
            }
        ],
    }
    out.append((tarfile.TarInfo("index.json"), json.dumps(index).encode()))
    out.append((tarfile.TarInfo("oci-layout"), b'{"imageLayoutVersion": "1.0.0"}'))
    if with_manifest:
        docker_manifest = [
            {
                "Config": f"blobs/sha256/{config_digest[7:]}",
                "RepoTags": tags,
                "Layers": [f"blobs/sha256/{e['digest'][7:]}" for e in layer_entries],
            }
        ]
        out.append((tarfile.TarInfo("manifest.json"), json.dumps(docker_manifest).encode()))
    return _write(dest, out)


def _zero_layer(size: int) -> bytes:
    """A gzip-compressed layer tar holding one file of ``size`` zero bytes (a bomb)."""
    header = tarfile.TarInfo("zeros")
    header.size = size
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    parts = [packer.compress(header.tobuf(format=tarfile.GNU_FORMAT))]
    block = b"\0" * (1 << 20)
    left = size + (-size % 512) + 1024
    while left > 0:
        parts.append(packer.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.append(packer.flush())
    return b"".join(parts)


def gzip_bomb(src: Path, dest: Path, size: int) -> Path:
    """``src`` with its one layer replaced by a gzip of ``size`` zero bytes: small on disk.

    The config's ``diff_ids`` still name the old layer, which makes no difference to how much
    the engine writes before it notices.
    """
    layer = _zero_layer(size)
    files = _members(src)
    manifest = json.loads(next(d for m, d in files if m.name == "manifest.json") or b"[]")
    target = manifest[0]["Layers"][0]
    return _write(dest, [(m, layer if m.name == target else d) for m, d in files])


def declared_layer(src: Path, dest: Path, declared: int) -> Path:
    """``src`` whose layer holds one header declaring a file of ``declared`` bytes, no data."""
    header = tarfile.TarInfo("huge")
    header.size = declared
    layer = header.tobuf(format=tarfile.GNU_FORMAT)
    files = _members(src)
    manifest = json.loads(next(d for m, d in files if m.name == "manifest.json") or b"[]")
    target = manifest[0]["Layers"][0]
    return _write(dest, [(m, layer if m.name == target else d) for m, d in files])


def gzipped(src: Path, dest: Path) -> Path:
    """``src`` compressed with gzip, as ``docker save | gzip`` writes it."""
    dest.write_bytes(gzip.compress(src.read_bytes()))
    return dest
