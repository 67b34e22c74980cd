"""Entity queries by area (bbox, polygon, radius, admin area, H3 cells) combined with class,
status, department and attribute filters; sorted and paged; counted cheaply; nearest-k.

Exact by default (PostGIS predicates on the GiST index); `approx=True` swaps the area for its
res-9 H3 cover (fast interactive counts). SQL is assembled from fixed fragments; every value is
a bound parameter.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

import psycopg
from sqlalchemy import Connection, text

from registry import dictionary, lifecycle
from registry.cql import Filter
from registry.db import fetch_named
from registry.errors import InvalidParameter, NotFound
from spatial import area as areas
from spatial import h3

LIVE = ("provisional", "active", "suspended")
ALL_STATUSES = tuple(lifecycle.TRANSITIONS)
SORTS = {  # whitelisted: the user picks a key, never SQL
    "code": "e.code", "-code": "e.code DESC", "name": "e.name NULLS LAST, e.code",
    "-name": "e.name DESC NULLS LAST, e.code", "category": "e.category, e.code",
    "-category": "e.category DESC, e.code", "distance": "distance_m, e.code",
}
APPROX_RES = 9
MAX_LIMIT = 10_000


@dataclass
class Query:
    area: areas.Area | None = None
    categories: list[str] = field(default_factory=list)  # 小类 (4 digits) or 大类 (2 digits)
    statuses: list[str] | None = None  # None: the living ones (not retired, not void)
    department: str | None = None  # in any role: 主管, 权属 or 养护
    attributes: dict[str, Any] = field(default_factory=dict)  # equality on attribute values
    approx: bool = False
    sort: str = "code"
    limit: int = 100
    offset: int = 0
    after: str | None = None  # keyset paging: codes after this one (sort "code")
    filter: Filter | None = None  # a compiled CQL2 filter (registry.cql)


@dataclass
class Compiled:
    source: str  # FROM clause
    where: str
    params: dict[str, Any]
    distance: str | None = None  # SQL of the distance in metres, for a radius query


def _circle_sql(c: areas.Circle, params: dict[str, Any]) -> tuple[str, str]:
    # An envelope around the circle lets the GiST index work; geography makes it exact.
    dlat = c.radius_m / 110_574 * 1.01
    dlon = c.radius_m / (111_320 * max(math.cos(math.radians(c.lat)), 1e-6)) * 1.01
    params.update(cx=c.lon, cy=c.lat, r=c.radius_m, cminx=c.lon - dlon, cmaxx=c.lon + dlon,
                  cminy=c.lat - dlat, cmaxy=c.lat + dlat)
    point = "ST_SetSRID(ST_MakePoint(:cx, :cy), 4490)::geography"
    where = ("e.geom && ST_MakeEnvelope(:cminx, :cminy, :cmaxx, :cmaxy, 4490) "
             f"AND ST_DWithin(e.geom::geography, {point}, :r)")
    return where, f"ST_Distance(e.geom::geography, {point})"


def _admin_sql(conn: Connection, a: areas.Admin, params: dict[str, Any]) -> str:
    level = conn.execute(text("SELECT level FROM admin_area WHERE code = :c"),
                         {"c": a.code}).scalar()
    if level is None:
        raise NotFound(f"no district, street, community or grid has the code {a.code}")
    params["admin"] = a.code
    return {
        "district": "e.street_code IN (SELECT code FROM admin_area WHERE parent_code = :admin)",
        "street": "e.street_code = :admin",
        "community": "e.community_code = :admin",
        "grid": "e.grid_code = :admin",
    }[level]


# `&&` finds candidates on the index but compares float4-rounded boxes (about a metre here);
# a point's own coordinates make it exact at a third of ST_Intersects' cost (bench/spatial.py).
_ENVELOPE = """e.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490) AND CASE
    WHEN GeometryType(e.geom) = 'POINT'
    THEN ST_X(e.geom) BETWEEN :minx AND :maxx AND ST_Y(e.geom) BETWEEN :miny AND :maxy
    ELSE ST_Intersects(e.geom, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490)) END"""
_RANGES = "unnest(CAST(:lo AS bigint[]), CAST(:hi AS bigint[])) AS r(lo, hi)"
_POINT_CELLS = f"{_RANGES} JOIN entity e ON e.h3 BETWEEN r.lo AND r.hi"
# Points by their cell; lines and polygons also by the cells their footprint touches: a
# footprint cell inside a query cell (its `lo` in the range) or containing it (an ancestor).
_FOOTPRINT = f"""e.code IN (
    SELECT p.code FROM {_RANGES} JOIN entity p ON p.h3 BETWEEN r.lo AND r.hi
    UNION
    SELECT c.code FROM {_RANGES} JOIN entity_cover c ON c.lo BETWEEN r.lo AND r.hi
    UNION
    SELECT c.code FROM entity_cover c WHERE c.cell = ANY(CAST(:ancestors AS bigint[])))"""


def custom_plans(conn: Connection) -> None:
    """Plan spatial queries for their actual values. psycopg prepares a statement after five
    runs, and PostgreSQL may then switch to a generic plan, which for a predicate on a bound
    geometry was measured at 165-700 ms against 1.5 ms for the custom plan. Inside a
    transaction block the setting ends with it; on an autocommit connection (where SET LOCAL
    would do nothing) it stays for the session and makes every later prepared statement on it
    replan (a code look-up 0.41 ms instead of 0.18). So this module's own functions run their
    SQL unprepared (`registry.db.fetch_named`) and never set it; only a caller of `page_sql`
    that executes the SQL itself does."""
    status = conn.connection.driver_connection.info.transaction_status
    scope = "SESSION" if status == psycopg.pq.TransactionStatus.IDLE else "LOCAL"
    conn.execute(text(f"SET {scope} plan_cache_mode = force_custom_plan"))


def compile_query(conn: Connection, q: Query, *, unprepared: bool = False) -> Compiled:
    """The FROM and WHERE of `q`. `unprepared`: the caller runs it as a one-off statement
    (`registry.db.fetch_named`), which PostgreSQL always plans for its values."""
    if not unprepared:
        custom_plans(conn)
    params: dict[str, Any] = {}
    where: list[str] = []
    source = "entity e"
    distance = None
    area = q.area
    if q.approx and isinstance(area, areas.Envelope | areas.Shape):
        area = areas.Cells(tuple(h3.cover(area.geometry, APPROX_RES)), footprint=False)
    elif q.approx and isinstance(area, areas.Circle):
        area = areas.Cells(tuple(h3.cover(area.polygon(), APPROX_RES)), footprint=False)
    if isinstance(area, areas.Envelope):
        params.update(minx=area.minx, miny=area.miny, maxx=area.maxx, maxy=area.maxy)
        where.append(_ENVELOPE)
    elif isinstance(area, areas.Shape):
        params["shape"] = area.geometry.wkb
        where.append("ST_Intersects(e.geom, ST_GeomFromWKB(:shape, 4490))")
    elif isinstance(area, areas.Circle):
        sql, distance = _circle_sql(area, params)
        where.append(sql)
    elif isinstance(area, areas.Cells):
        params["lo"], params["hi"] = h3.compact_ranges(area.cells)
        if area.footprint:
            params["ancestors"] = sorted({a for c in area.cells for a in h3.ancestors(c)})
            where.append(_FOOTPRINT)
        else:
            source = _POINT_CELLS
    elif isinstance(area, areas.Admin):
        where.append(_admin_sql(conn, area, params))
    _filters(conn, q, where, params)
    if q.sort == "distance" and distance is None:
        raise InvalidParameter("sort=distance needs a point and radius")
    return Compiled(source, " AND ".join(where) or "true", params, distance)


def _filters(conn: Connection, q: Query, where: list[str], params: dict[str, Any]) -> None:
    if q.categories:
        where.append(category_sql(conn, q.categories, params))
    statuses = list(LIVE) if q.statuses is None else [lifecycle.check_status(s)
                                                      for s in q.statuses]
    if set(statuses) != set(lifecycle.TRANSITIONS):
        params["statuses"] = statuses
        where.append("e.status = ANY(CAST(:statuses AS text[]))")
    if q.department:
        params["dept"] = q.department
        where.append(":dept IN (e.dept_admin, e.dept_owner, e.dept_maintainer)")
    if q.attributes:
        params["attrs"] = json.dumps(q.attributes, ensure_ascii=False)
        where.append("e.attributes @> CAST(:attrs AS jsonb)")
    if q.filter is not None:
        where.append(q.filter.sql)
        params.update(q.filter.params)
    if q.after:
        if q.sort != "code":
            raise InvalidParameter("keyset paging (after=) goes with sort=code")
        params["after"] = q.after
        where.append("e.code > :after")


def category_sql(conn: Connection, categories: list[str], params: dict[str, Any]) -> str:
    """Index-friendly SQL for 小类 and 大类 (a 大类 is a range of codes, not left(), so the
    category index serves it); the codes are checked against the dictionary."""
    d = dictionary.load_cached(conn)
    minors = [c for c in categories if len(c) == 4]
    majors = sorted({c for c in categories if len(c) == 2})
    if len(minors) + len(majors) != len(set(categories)) or not all(
            c.isdigit() for c in categories):
        raise InvalidParameter("a category is a 4-digit 小类 or a 2-digit 大类")
    for c in minors:  # a query parameter: 400, where a body's unknown class is a 422
        if c not in d.categories:
            raise InvalidParameter(f"category {c!r} is not in the dictionary (see "
                                   "/categories)", category=c)
    arms = []
    if minors:
        params["minors"] = minors
        arms.append("e.category = ANY(CAST(:minors AS text[]))")
    for i, m in enumerate(majors):
        if m not in d.majors:
            raise InvalidParameter(f"大类 {m!r} is not in the dictionary")
        params[f"major{i}"] = m
        arms.append(f"(e.category >= :major{i} AND e.category < :major{i} || '~')")
    return "(" + " OR ".join(arms) + ")"


def _page(q: Query) -> tuple[str, dict[str, Any]]:
    if q.sort not in SORTS:
        raise InvalidParameter(f"sort by one of {', '.join(SORTS)}")
    if not 1 <= q.limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be 1..{MAX_LIMIT}")
    if q.offset < 0:
        raise InvalidParameter("offset must be 0 or more")
    return f"ORDER BY {SORTS[q.sort]} LIMIT :limit OFFSET :offset", \
        {"limit": q.limit, "offset": q.offset}


def page_sql(conn: Connection, q: Query, *, matched: int | None = None,
             unprepared: bool = False, sort: bool = True
             ) -> tuple[Compiled, str, dict[str, Any]]:
    """The compiled query, its ORDER BY / LIMIT / OFFSET, and all parameters, for callers that
    assemble their own SELECT (the features of `registry.features`). `matched`, when the caller
    has counted, decides the fence: only a sparse result is sorted after the spatial index.
    Without `sort`: no order and no fence, one row past the limit (did it hold everything?)."""
    c = compile_query(conn, q, unprepared=unprepared)
    page, page_params = _page(q)
    if not sort:
        return c, "LIMIT :limit", {**c.params, "limit": q.limit + 1}
    if c.distance:
        page = page.replace("distance_m", c.distance)
    if matched is None or matched <= FENCE_MAX_ROWS:
        c.source, c.where = _fenced(c, q)
    return c, page, {**c.params, **page_params}


FENCE_MAX_DEG2 = 0.0025  # about 25 km² here: past that, walking an index in order can win
#: Sorting a dense window after the spatial index is slower than walking the code index
#: (46 ms against 3.5 ms for 50,000 matches, bench/api.py): fence only sparse results.
FENCE_MAX_ROWS = 5_000


def _fenced(c: Compiled, q: Query) -> tuple[str, str]:
    """A small area is found through the spatial index first, then sorted: left alone, the
    planner may walk the primary key in code order hoping to meet matches early — with
    several counties in one table that read 2.7M rows for a 1 km window (bench/spatial.py)."""
    area = q.area
    small = (isinstance(area, areas.Envelope) and area.geometry.area <= FENCE_MAX_DEG2) or \
        (isinstance(area, areas.Shape) and area.geometry.envelope.area <= FENCE_MAX_DEG2) or \
        (isinstance(area, areas.Circle) and area.radius_m <= 3_000)
    if not small or c.source != "entity e":
        return c.source, c.where
    return f"(SELECT * FROM entity e WHERE {c.where} OFFSET 0) e", "true"


COLUMNS = """e.code, e.category, e.status, e.condition, e.name, e.dept_admin, e.dept_owner,
    e.dept_maintainer, e.street_code, e.community_code, e.grid_code, e.version,
    ST_AsGeoJSON(e.geom, 9, 0) AS geometry"""


def _select(conn: Connection, q: Query, columns: str) -> list[Any]:
    c, page, params = page_sql(conn, q, unprepared=True)
    dist = f", {c.distance} AS distance_m" if c.distance else ""
    return fetch_named(conn, f"SELECT {columns}{dist} FROM {c.source} WHERE {c.where} {page}",
                       params)


def find(conn: Connection, q: Query) -> list[Any]:
    """The entities matching `q`, one page, as named tuples (`row.code`, `row.name`, …,
    `row.geometry` as GeoJSON text, `row.distance_m` for a radius query; `row._asdict()`).
    Rows come straight from psycopg: a dict per row costs as much as the query itself."""
    if q.sort == "code" and q.limit >= FETCH_ALL and q.offset == 0:
        # Everything in a small area: fetched unsorted (one row past the limit tells whether
        # that was all) and sorted here, for a third of what PostgreSQL's sort costs.
        rows = fetch_named(conn, *find_sql(conn, q, sort=False))
        if len(rows) <= q.limit:
            rows.sort(key=itemgetter(0))
            return rows
    return fetch_named(conn, *find_sql(conn, q))


#: A limit this high asks for everything in the area rather than for a page.
FETCH_ALL = 1_000


def find_sql(conn: Connection, q: Query, *, sort: bool = True) -> tuple[str, dict[str, Any]]:
    """The SELECT of `find` and its parameters (SQLAlchemy `:name` style); unsorted, it
    fetches up to one row more than the limit."""
    c, page, params = page_sql(conn, q, unprepared=True, sort=sort)
    dist = f", {c.distance} AS distance_m" if c.distance else ""
    return f"SELECT {COLUMNS}{dist} FROM {c.source} WHERE {c.where} {page}", params


def codes(conn: Connection, q: Query) -> list[str]:
    return [r.code for r in _select(conn, q, "e.code")]


def count(conn: Connection, q: Query, *, exact_up_to: int = 100_000) -> tuple[int, bool]:
    """(n, exact): counted up to `exact_up_to`, past it the planner's estimate — never a full
    count of a huge table. When the planner already expects ten times the cap, the capped
    count (which would read cap + 1 rows to say the same) is skipped."""
    c = compile_query(conn, q, unprepared=True)
    plan = fetch_named(conn, f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {c.source} WHERE {c.where}",
                       c.params)[0][0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    # Only on a plain table scan: the planner overestimates a join on H3 ranges a hundredfold.
    if estimate > 10 * exact_up_to and c.source == "entity e":
        return estimate, False
    if isinstance(q.area, areas.Envelope) and not q.approx and \
            min(q.area.maxx - q.area.minx, q.area.maxy - q.area.miny) > 4 * _SURE:
        n = _envelope_count(conn, q, exact_up_to + 1)
        return (n, True) if n <= exact_up_to else (max(estimate, n), False)
    n = fetch_named(
        conn, f"SELECT count(*) FROM (SELECT 1 FROM {c.source} WHERE {c.where} LIMIT :cap) s",
        {**c.params, "cap": exact_up_to + 1})[0][0]
    if n <= exact_up_to:
        return n, True
    return max(estimate, n), False


#: A point whose index box (its coordinates rounded outward to float4: at most 1.5e-5° off
#: up to 180°) touches a bbox shrunk by this many degrees lies inside the bbox.
_SURE = 5e-5
_BOX = "ST_MakeEnvelope({}, {}, {}, {}, 4490)"
_ENVELOPE_COUNT = """SELECT
    (SELECT count(*) FROM (SELECT 1 FROM entity e WHERE e.geom && {inner} AND {rest}
                           LIMIT :cap) a) AS boxed,
    (SELECT count(*) FROM entity e
     WHERE GeometryType(e.geom) <> 'POINT' AND e.geom && {inner} AND {rest})
    - (SELECT count(*) FROM entity e
       WHERE GeometryType(e.geom) <> 'POINT' AND e.geom && {outer}
         AND ST_Intersects(e.geom, {outer}) AND {rest})
    - (SELECT count(*) FROM entity e
       WHERE ({band}) AND NOT e.geom && {inner} AND {rest}
         AND CASE WHEN GeometryType(e.geom) = 'POINT'  -- a CASE orders the tests
             THEN ST_X(e.geom) BETWEEN :minx AND :maxx AND ST_Y(e.geom) BETWEEN :miny AND :maxy
             ELSE false END) AS less"""


def _envelope_count(conn: Connection, q: Query, cap: int) -> int:
    """The exact count of a bbox (up to `cap`) without testing each point's coordinates:
    points whose index box touches the bbox shrunk by _SURE are inside it (counted from the
    index, their rows' geometry never read); the points of the thin band left over are
    tested exactly, the lines and polygons (a partial index of their own) by ST_Intersects.
    For 52,523 points in a 1 km window: 11 ms instead of 24 (bench/api.py)."""
    e = q.area
    rest = compile_query(conn, replace(q, area=None), unprepared=True)
    inner = _BOX.format(":minx + :sure", ":miny + :sure", ":maxx - :sure", ":maxy - :sure")
    outer = _BOX.format(":minx", ":miny", ":maxx", ":maxy")
    band = " OR ".join("e.geom && " + _BOX.format(*b) for b in (
        (":minx", ":miny", ":minx + :sure", ":maxy"), (":maxx - :sure", ":miny", ":maxx", ":maxy"),
        (":minx", ":miny", ":maxx", ":miny + :sure"), (":minx", ":maxy - :sure", ":maxx", ":maxy")))
    sql = _ENVELOPE_COUNT
    for name, part in (("inner", inner), ("outer", outer), ("band", band),
                       ("rest", rest.where)):  # not format(): a filter may hold braces
        sql = sql.replace("{" + name + "}", part)
    boxed, less = fetch_named(conn, sql, {**rest.params, "minx": e.minx, "miny": e.miny,
                                          "maxx": e.maxx, "maxy": e.maxy, "sure": _SURE,
                                          "cap": cap})[0]
    # Past the cap, the capped part is not all there is to subtract from: not exact.
    return cap if boxed >= cap else boxed - less


def nearest(conn: Connection, lon: float, lat: float, k: int = 5,
            q: Query | None = None) -> list[tuple[str, float]]:
    """The k entities nearest to a lon/lat point, with true distances in metres.

    The index's KNN (`<->`) orders by degrees, which stretch differently east and north; its k
    nearest bound the radius, and a geography pass within that radius makes the answer exact."""
    if not 1 <= k <= 1000:
        raise InvalidParameter("k must be 1..1000")
    base = q or Query()
    areas.circle(lon, lat, 1)  # checks the point
    c = compile_query(conn, Query(categories=base.categories, statuses=base.statuses,
                                  department=base.department, attributes=base.attributes),
                      unprepared=True)
    params = {**c.params, "px": lon, "py": lat, "k": k}
    point = "ST_SetSRID(ST_MakePoint(:px, :py), 4490)"
    far = fetch_named(
        conn, f"""SELECT max(ST_Distance(geom::geography, {point}::geography)) FROM (
                      SELECT e.geom FROM {c.source} WHERE {c.where}
                      ORDER BY e.geom <-> {point} LIMIT :k) s""", params)[0][0]
    if far is None:
        return []
    circle = areas.Circle(lon, lat, far + 0.01)
    within = Query(area=circle, categories=base.categories, statuses=base.statuses,
                   department=base.department, attributes=base.attributes, sort="distance",
                   limit=k)
    c = compile_query(conn, within, unprepared=True)
    rows = fetch_named(
        conn, f"SELECT e.code, {c.distance} AS d FROM {c.source} WHERE {c.where} "
        "ORDER BY d, e.code LIMIT :k", {**c.params, "k": k})
    return [(r.code, float(r.d)) for r in rows]


def ring(conn: Connection, code: str, k: int = 1, res: int = 9) -> areas.Cells:
    """The k-ring of res-`res` cells around an entity's cell: "what is around this one"."""
    value = conn.execute(text("SELECT h3 FROM entity WHERE code = :c"), {"c": code}).scalar()
    if value is None:
        raise NotFound(f"no entity has the code {code}")
    if not 0 <= res <= h3.FINE_RES:
        raise InvalidParameter(f"res must be 0..{h3.FINE_RES}")
    parent = h3.to_str(h3.parent(value, res))
    return areas.cells([parent], k)
