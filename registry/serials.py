"""Serial allocation per (county, category): monotonic, gap-free among committed writes,
never reused. The counter row's lock serialises concurrent minters of one class only, and
rolls back with the transaction that took it, so an aborted import leaves no hole."""

from __future__ import annotations

from sqlalchemy import Connection, text

from registry import codes
from registry.errors import CodeSpaceExhausted

_ALLOCATE = text("""
    INSERT INTO serial_counter AS c (county, category, last_serial)
    VALUES (:county, :category, :n)
    ON CONFLICT (county, category) DO UPDATE SET last_serial = c.last_serial + :n
        WHERE c.last_serial + :n <= :max
    RETURNING last_serial
""")


def allocate(conn: Connection, county: str, category: str, n: int = 1) -> range:
    """Reserve `n` consecutive serials; the caller's transaction decides whether they stick."""
    if n < 1:
        raise ValueError("allocate at least one serial")
    last = None
    if n <= codes.MAX_SERIAL:
        last = conn.execute(
            _ALLOCATE, {"county": county, "category": category, "n": n, "max": codes.MAX_SERIAL}
        ).scalar()
    if last is None:
        used = conn.execute(
            text("SELECT last_serial FROM serial_counter WHERE county = :c AND category = :k"),
            {"c": county, "k": category},
        ).scalar() or 0
        raise CodeSpaceExhausted(
            f"class {category} of county {county} has {codes.MAX_SERIAL - used} serials left; "
            f"{n} were asked for. Use another 小类 (or a new local extension class).",
            county=county, category=category,
        )
    return range(last - n + 1, last + 1)


def mint(conn: Connection, county: str, category: str, n: int = 1) -> list[str]:
    """`n` new codes of one class (check digits included)."""
    return codes.make_range(county, category, allocate(conn, county, category, n).start, n)
