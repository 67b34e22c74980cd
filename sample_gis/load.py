"""Load the generated sample district into the registry straight from its truth file: the
areas, and every entity of the first edition with the source ids each department uses.

This is the demo's data until the loaders issue imports the departments' own files (with their
faults, names and attributes); it writes through `registry.entities.register_many`, so codes,
H3, placement and versions are made exactly as for any registration."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

from shapely import wkt
from shapely.geometry import Point
from sqlalchemy import Connection, text

from registry import areas, entities
from registry.entities import NewEntity
from sample_gis import areas as sample_areas

DATASET_MARK = "sample-truth"  # the crosswalk dataset that says "already loaded"
BATCH = 20_000


def truth_rows(path: Path) -> Iterator[NewEntity]:
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["in_v1"] != "1":
                continue
            geometry = wkt.loads(row["wkt"]) if row["wkt"] else \
                Point(float(row["lon"]), float(row["lat"]))
            sources = [tuple(s.split(":", 1)) for s in row["sources"].split(";") if s]
            yield NewEntity(category=row["category"], geometry=geometry,
                            sources=[(DATASET_MARK, row["entity"]), *sources])


def load(conn: Connection, folder: Path, *, county: str,
         progress: Callable[[int], None] = lambda n: None) -> int:
    """Load once (a second call finds the mark and does nothing). Returns entities added."""
    done = conn.execute(text("SELECT 1 FROM crosswalk WHERE dataset = :d LIMIT 1"),
                        {"d": DATASET_MARK}).first()
    if done:
        return 0
    areas.upsert(conn, sample_areas.admin_areas(), place=True)
    added = 0
    batch: list[NewEntity] = []
    for item in truth_rows(folder / "truth.csv"):
        batch.append(item)
        if len(batch) == BATCH:
            added += len(entities.register_many(conn, batch, county=county, actor="sample",
                                                reason="sample district (truth)"))
            progress(len(batch))
            batch = []
    if batch:
        added += len(entities.register_many(conn, batch, county=county, actor="sample",
                                            reason="sample district (truth)"))
        progress(len(batch))
    return added
