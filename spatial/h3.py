"""H3 (v4) cells: the one place that converts between BIGINT (inside) and strings (the edge).

The registry stores each entity's res-12 cell. The res-12 descendants of any coarser cell form
one contiguous BIGINT range (digits below the parent's resolution run 0..6), so a single btree
on the res-12 column answers "in cell X" at every coarser resolution exactly.
"""

from __future__ import annotations

import re

import h3

from spatial.errors import SpatialError

FINE_RES = 12
_DIGIT_BITS = 3
_MAX_RES = 15


def cell(lat: float, lng: float, res: int = FINE_RES) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lng, res))


def to_str(value: int) -> str:
    return h3.int_to_str(value)


def parse(text: str) -> int:
    """A cell from its hex string (what the API accepts), refused clearly when it is not one."""
    cleaned = text.strip().lower() if isinstance(text, str) else ""
    if not re.fullmatch(r"[0-9a-f]{15,16}", cleaned) or not h3.is_valid_cell(cleaned):
        raise SpatialError(f"{text[:40]!r} is not an H3 cell (15 hex digits, e.g. 8c411c3ae2835ff)")
    return h3.str_to_int(cleaned)


def parent(value: int, res: int) -> int:
    return h3.str_to_int(h3.cell_to_parent(h3.int_to_str(value), res))


def resolution(value: int) -> int:
    return h3.get_resolution(h3.int_to_str(value))


def descendant_range(value: int, res: int = FINE_RES) -> tuple[int, int]:
    """[lo, hi] of the BIGINT values of `value`'s descendants at resolution `res`."""
    parent_res = resolution(value)
    if parent_res > res:
        raise SpatialError(f"cell resolution {parent_res} is finer than {res}")
    lo = h3.str_to_int(h3.cell_to_center_child(h3.int_to_str(value), res))
    hi = lo
    for r in range(parent_res + 1, res + 1):
        hi |= 6 << (_DIGIT_BITS * (_MAX_RES - r))
    return lo, hi


def sql_to_str(column: str) -> str:
    """The SQL expression that turns a stored cell into its string, for JSON made in
    PostgreSQL: H3 strings are the lowercase hex of the cell's integer."""
    return f"to_hex({column})"


def sql_parent(column: str, res: int) -> str:
    """SQL for the res-`res` parent of a stored res-12 cell: the resolution field (bits 52-55)
    set to `res` and the digits below it set to 7, the H3 filler. `res` is an int, coerced."""
    res = int(res)
    if not 0 <= res <= FINE_RES:
        raise SpatialError(f"H3 resolution must be 0..{FINE_RES}")
    low = (1 << (_DIGIT_BITS * (_MAX_RES - res))) - 1
    return f"(({column} & {~(15 << 52)}) | {res << 52} | {low})"


def sql_parent_bound(column: str) -> str:
    """`sql_parent` with the resolution bound at run time: bind `parent_params(res)`."""
    return f"(({column} & {~(15 << 52)}) | :resbits | :low)"


def parent_params(res: int) -> dict[str, int]:
    if not 0 <= res <= FINE_RES:
        raise SpatialError(f"H3 resolution must be 0..{FINE_RES}")
    return {"resbits": res << 52, "low": (1 << (_DIGIT_BITS * (_MAX_RES - res))) - 1}


def compact_ranges(cells: list[int] | tuple[int, ...], res: int = FINE_RES
                   ) -> tuple[list[int], list[int]]:
    """Disjoint [lo, hi] ranges of stored cells covering `cells` (descendants of a listed
    ancestor are dropped, so a join over the ranges yields each entity once)."""
    strs = [to_str(c) for c in cells]
    kept = set(h3.compact_cells(strs)) if len({h3.get_resolution(s) for s in strs}) == 1 \
        else set(strs)
    ranges = sorted(descendant_range(h3.str_to_int(s), res) for s in kept)
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1]:  # nested (ancestor listed with its child)
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [m[0] for m in merged], [m[1] for m in merged]


def cover(geom, res: int = 9) -> list[int]:  # noqa: ANN001 - a shapely (multi)polygon
    """Cells of resolution `res` whose centres lie in the lon/lat polygon (at least one)."""
    shape = h3.geo_to_h3shape(geom.__geo_interface__)
    found = h3.h3shape_to_cells(shape, res)
    if not found:
        c = geom.representative_point()
        found = [h3.latlng_to_cell(c.y, c.x, res)]
    return [h3.str_to_int(c) for c in found]


COVER_MAX = 48
_COARSEST_COVER = 6


def cover_cells(geom) -> list[int]:  # noqa: ANN001 - a shapely line or polygon, lon/lat
    """The cells a line's or polygon's footprint touches, at the finest resolution (12 down to
    6) where they number at most COVER_MAX: a building gets a handful of res-12 cells, a
    kilometre of pipe a few dozen res-10 ones."""
    shape = geom if geom.geom_type in ("Polygon", "MultiPolygon") else geom.buffer(1e-7)
    metres = 111_000.0
    area_m2 = geom.area * metres * metres
    length_m = geom.length * metres
    h3shape = h3.geo_to_h3shape(shape.__geo_interface__)
    for res in range(FINE_RES, _COARSEST_COVER - 1, -1):
        estimate = max(area_m2 / h3.average_hexagon_area(res, "m^2"),
                       length_m / (2 * h3.average_hexagon_edge_length(res, "m")))
        if estimate > COVER_MAX and res > _COARSEST_COVER:
            continue
        cells = h3.h3shape_to_cells_experimental(h3shape, res, contain="overlap")
        if len(cells) <= COVER_MAX or res == _COARSEST_COVER:
            return sorted({h3.str_to_int(c) for c in cells})
    raise AssertionError("unreachable")


def ancestors(value: int, coarsest: int = _COARSEST_COVER) -> list[int]:
    """The cell's parents from its resolution - 1 up to `coarsest`."""
    s = to_str(value)
    return [h3.str_to_int(h3.cell_to_parent(s, r))
            for r in range(coarsest, h3.get_resolution(s))]


def cells(lat, lng, res: int = FINE_RES):  # noqa: ANN001, ANN201 - numpy arrays in and out
    """Res-`res` cells of many points as an int64 array, computed in Rust by h3ronpy (the
    same H3 library underneath as h3-py, ~3x faster than a loop over h3-py for 1M points)."""
    import numpy as np
    from h3ronpy.vector import coordinates_to_cells

    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lng = np.ascontiguousarray(lng, dtype=np.float64)
    if len(lat) == 0:
        return np.empty(0, dtype=np.int64)
    return np.asarray(coordinates_to_cells(lat, lng, res)).view(np.int64)
