"""Shared by the docker and skopeo stand-ins: a container registry kept in a JSON file.

Each tag maps to the raw bytes of the manifest (or index) it points at, so a digest is what a
registry reports, the SHA-256 of those bytes, and re-pointing a tag can be checked to keep it.
The file is registry.json of the services' state (record.remote_state).
"""

from __future__ import annotations

import hashlib
import json
import tarfile

# Run as a script beside record.py (its folder is on sys.path), not as a package module.
from record import load_json, save_json  # type: ignore[import-not-found]


def load() -> dict[str, str]:
    tags: dict[str, str] = load_json("registry.json", {})
    return tags


def save(tags: dict[str, str]) -> None:
    save_json("registry.json", tags)


def digest_of(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def resolve(reference: str) -> str | None:
    """The manifest a `name:tag` or `name@sha256:...` reference points at, or None."""
    tags = load()
    if "@" in reference:
        name, digest = reference.split("@", 1)
        for tag, manifest in tags.items():
            if tag.rsplit(":", 1)[0] == name and digest_of(manifest) == digest:
                return manifest
        return None
    return tags.get(reference)


def tag(reference: str, manifest: str) -> None:
    tags = load()
    tags[reference] = manifest
    save(tags)


def archive_manifest(archive: str) -> str:
    """The top-level manifest of an OCI archive: the blob index.json's one entry names."""
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        (entry,) = index["manifests"]
        algorithm, hexdigest = entry["digest"].split(":")
        blob = tar.extractfile(f"blobs/{algorithm}/{hexdigest}")
        return blob.read().decode()  # type: ignore[union-attr]
