"""The category dictionary (大类/小类) and the known counties: data, from a seed file and
admin functions, never code. Loaded offline from the seed or online from the database."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml
from sqlalchemy import Connection, text

from registry.errors import InvalidInput, UnknownCategory

SEED_DIR = Path(__file__).parent / "seed"
GEOMETRY_FAMILIES = ("point", "line", "polygon")


@dataclass(frozen=True)
class Major:
    code: str
    name_zh: str
    name_en: str
    standard: bool = True


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    geometry_types: tuple[str, ...]
    standard: bool = True
    tolerance_m: float = 3.0

    @property
    def major(self) -> str:
        return self.code[:2]


@dataclass(frozen=True)
class County:
    code: str
    name_zh: str
    name_en: str


@dataclass
class Dictionary:
    majors: dict[str, Major] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    counties: dict[str, County] = field(default_factory=dict)

    def category(self, code: str) -> Category:
        try:
            return self.categories[code]
        except KeyError:
            raise UnknownCategory(
                f"category {code!r} is not in the dictionary (see `citytwin category list`)",
                category=code,
            ) from None


@cache
def load_seed(seed_dir: Path = SEED_DIR) -> Dictionary:
    """The dictionary as shipped: what `code check` uses offline and what `sync_seed` writes."""
    doc = yaml.safe_load((seed_dir / "categories.yaml").read_text(encoding="utf-8"))
    d = Dictionary()
    for m in doc["majors"]:
        d.majors[m["code"]] = Major(m["code"], m["zh"], m["en"], m.get("standard", True))
    for c in doc["categories"]:
        std = c.get("standard", d.majors[c["code"][:2]].standard)
        d.categories[c["code"]] = _category(
            c["code"], c["zh"], c["en"], c["geometry"], std, c.get("tolerance_m", 3.0)
        )
    with (seed_dir / "counties.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            d.counties[row["code"]] = County(row["code"], row["name_zh"], row["name_en"])
    return d


def _category(code: str, zh: str, en: str, geometry: list[str] | tuple[str, ...],
              standard: bool = True, tolerance_m: float = 3.0) -> Category:
    if len(code) != 4 or not code.isdigit():
        raise InvalidInput(f"a category code is 4 digits (大类 + 小类); got {code!r}")
    unknown = set(geometry) - set(GEOMETRY_FAMILIES)
    if not geometry or unknown:
        raise InvalidInput(
            f"category {code}: geometry must be some of {', '.join(GEOMETRY_FAMILIES)}"
        )
    return Category(code, zh, en, tuple(geometry), standard, float(tolerance_m))


def load(conn: Connection) -> Dictionary:
    """The dictionary as the database holds it now (seed plus what admins added)."""
    d = Dictionary()
    for r in conn.execute(text("SELECT code, name_zh, name_en, standard FROM category_major")):
        d.majors[r.code] = Major(r.code, r.name_zh, r.name_en, r.standard)
    rows = conn.execute(text(
        "SELECT code, name_zh, name_en, geometry_types, standard, tolerance_m FROM category"
    ))
    for r in rows:
        d.categories[r.code] = Category(
            r.code, r.name_zh, r.name_en, tuple(r.geometry_types), r.standard, r.tolerance_m
        )
    for r in conn.execute(text("SELECT code, name_zh, name_en FROM county")):
        d.counties[r.code] = County(r.code, r.name_zh, r.name_en)
    return d


_CACHE: dict[str, tuple[float, Dictionary]] = {}
CACHE_SECONDS = 30.0


def load_cached(conn: Connection) -> Dictionary:
    """`load`, reused for CACHE_SECONDS per database: searches check every category they are
    given, and three queries per search were a measurable share of a 5 ms query. Changes by
    `upsert_*` in this process are seen at once."""
    key = conn.engine.url.render_as_string(hide_password=True)
    hit = _CACHE.get(key)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    d = load(conn)
    _CACHE[key] = (time.monotonic(), d)
    return d


def upsert_major(conn: Connection, major: Major) -> None:
    conn.execute(
        text("""INSERT INTO category_major (code, name_zh, name_en, standard)
                VALUES (:code, :name_zh, :name_en, :standard)
                ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh,
                  name_en = EXCLUDED.name_en, standard = EXCLUDED.standard"""),
        vars(major),
    )


def upsert_category(conn: Connection, category: Category) -> None:
    """Add or rename a 小类 (admin function). Its 大类 must exist."""
    _CACHE.clear()
    exists = conn.execute(
        text("SELECT 1 FROM category_major WHERE code = :m"), {"m": category.major}
    ).first()
    if not exists:
        raise InvalidInput(f"大类 {category.major} does not exist; add it first")
    conn.execute(
        text("""INSERT INTO category (code, major, name_zh, name_en, geometry_types, standard,
                                      tolerance_m)
                VALUES (:code, :major, :name_zh, :name_en, :geometry_types, :standard,
                        :tolerance_m)
                ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh,
                  name_en = EXCLUDED.name_en, geometry_types = EXCLUDED.geometry_types,
                  standard = EXCLUDED.standard, tolerance_m = EXCLUDED.tolerance_m"""),
        {**vars(category), "major": category.major,
         "geometry_types": list(category.geometry_types)},
    )


def add_category(conn: Connection, code: str, name_zh: str, name_en: str,
                 geometry: list[str], tolerance_m: float = 3.0) -> Category:
    """A local extension class (`standard = false`)."""
    category = _category(code, name_zh, name_en, geometry, False, tolerance_m)
    upsert_category(conn, category)
    return category


def upsert_county(conn: Connection, county: County) -> None:
    if len(county.code) != 6 or not county.code.isdigit():
        raise InvalidInput(f"a county code (GB/T 2260) is 6 digits; got {county.code!r}")
    conn.execute(
        text("""INSERT INTO county (code, name_zh, name_en) VALUES (:code, :name_zh, :name_en)
                ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh,
                  name_en = EXCLUDED.name_en"""),
        vars(county),
    )


def sync_seed(conn: Connection, seed: Dictionary | None = None) -> None:
    """Write the shipped seed into the database; entries admins added are kept."""
    seed = seed or load_seed()
    for major in seed.majors.values():
        upsert_major(conn, major)
    for category in seed.categories.values():
        upsert_category(conn, category)
    for county in seed.counties.values():
        upsert_county(conn, county)
