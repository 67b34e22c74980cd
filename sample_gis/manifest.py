"""The manifest beside the files: every count, every seeded fault and the records carrying it,
the changes between editions, and a checksum of every file. Its hash (SHA-256 of its canonical
JSON, checksums included) identifies a sample: same seed and scale, same hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NAME = "manifest.json"
FORMAT = 1  # bump when the generator's output changes for the same seed and scale


@dataclass(frozen=True)
class Manifest:
    root: Path
    data: dict[str, Any]

    @property
    def hash(self) -> str:
        return self.data["hash"]

    @property
    def counts(self) -> dict[str, Any]:
        return self.data["counts"]

    def path(self, relative: str) -> Path:
        return self.root / relative

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def canonical_hash(data: dict[str, Any]) -> str:
    body = {k: v for k, v in data.items() if k != "hash"}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save(root: Path, data: dict[str, Any]) -> Manifest:
    """Written last, via a rename: a manifest on disk means the sample is complete."""
    data = {**data, "hash": canonical_hash(data)}
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    tmp = root / (NAME + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(root / NAME)
    return Manifest(root, json.loads(text))  # as a later load sees it (sorted keys)


def load(root: Path) -> Manifest | None:
    path = root / NAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("hash") != canonical_hash(data):
        return None  # edited or truncated: not a complete sample
    return Manifest(root, data)
