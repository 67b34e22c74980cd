"""The layer catalog of the map (一张图): which collections exist, what each holds, and how it
looks by default. Data from `registry/seed/layers.yaml`, checked against the dictionary."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from registry.dictionary import Dictionary
from registry.errors import InvalidInput, NotFound
from registry.models import AREA_LEVELS

CATALOG = Path(__file__).parent / "seed" / "layers.yaml"


@dataclass(frozen=True)
class Layer:
    id: str
    title: str
    title_en: str
    description: str
    kind: str = "entities"  # or "areas"
    categories: tuple[str, ...] = ()  # 小类 or 大类; empty: all
    level: str | None = None  # for kind "areas"
    department: str = ""  # the group the map's panel shows it under
    style: dict[str, Any] = field(default_factory=dict)


@dataclass
class Catalog:
    layers: dict[str, Layer]

    def get(self, layer_id: str) -> Layer:
        try:
            return self.layers[layer_id]
        except KeyError:
            raise NotFound(f"no collection {layer_id!r}; the collections are "
                           f"{', '.join(self.layers)}") from None


@cache
def _read(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(yaml.safe_load(path.read_text(encoding="utf-8"))["layers"])


def load(dictionary: Dictionary, path: Path = CATALOG) -> Catalog:
    layers: dict[str, Layer] = {}
    for raw in _read(path):
        layer = Layer(
            id=raw["id"], title=raw["title"], title_en=raw.get("title_en", raw["title"]),
            description=raw.get("description", ""), kind=raw.get("kind", "entities"),
            categories=tuple(raw.get("categories", ())), level=raw.get("level"),
            department=raw.get("department", ""),
            style=dict(raw.get("style", {})),
        )
        if layer.id in layers or not layer.id.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"layer id {layer.id!r} is repeated or not a plain name")
        if layer.kind == "areas" and layer.level not in AREA_LEVELS:
            raise InvalidInput(f"layer {layer.id}: level must be one of {AREA_LEVELS}")
        for c in layer.categories:
            known = dictionary.majors if len(c) == 2 else dictionary.categories
            if c not in known:
                raise InvalidInput(f"layer {layer.id}: category {c} is not in the dictionary")
        layers[layer.id] = layer
    return Catalog(layers)
