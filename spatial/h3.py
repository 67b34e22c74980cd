"""H3 (v4) cells: the one place that converts between BIGINT (inside) and strings (the edge).

The registry stores each entity's res-12 cell. The res-12 descendants of any coarser cell form
one contiguous BIGINT range (digits below the parent's resolution run 0..6), so a single btree
on the res-12 column answers "in cell X" at every coarser resolution exactly.
"""

from __future__ import annotations

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
    try:
        value = h3.str_to_int(text.strip().lower())
    except (ValueError, TypeError):
        raise SpatialError(f"{text!r} is not an H3 cell (15 hex digits, e.g. 8c4...)") from None
    if not h3.is_valid_cell(value):
        raise SpatialError(f"{text!r} is not a valid H3 cell")
    return value


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
