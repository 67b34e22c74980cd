"""GeoJSON Features assembled in PostgreSQL, for the hot read paths (no Python geometry)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from registry.errors import NotFound
from spatial.h3 import sql_to_str

_AREA = "CASE WHEN {a}.code IS NULL THEN NULL ELSE json_build_object('code', {a}.code, " \
        "'name', {a}.name) END"

_FEATURE = text(f"""
    SELECT e.status, json_build_object(
        'type', 'Feature',
        'id', e.code,
        'geometry', ST_AsGeoJSON(e.geom, 9, 0)::json,
        'properties', json_build_object(
            'code', e.code,
            'category', e.category,
            'category_name', c.name_zh,
            'category_name_en', c.name_en,
            'status', e.status,
            'condition', e.condition,
            'name', e.name,
            'departments', json_build_object('admin', e.dept_admin, 'owner', e.dept_owner,
                                             'maintainer', e.dept_maintainer),
            'street', {_AREA.format(a="s")},
            'community', {_AREA.format(a="m")},
            'grid', {_AREA.format(a="g")},
            'h3', {sql_to_str("e.h3")},
            'version', e.version,
            'valid_from', e.valid_from,
            'attributes', e.attributes,
            'successors', (SELECT json_agg(json_build_object('code', l.to_code, 'kind', l.kind,
                                                             'date', l.happened_on)
                                           ORDER BY l.to_code)
                           FROM lineage l WHERE l.from_code = e.code)
        ),
        'links', json_build_array(json_build_object(
            'rel', 'self', 'type', 'application/geo+json', 'href', '/entities/' || e.code))
    )::text AS feature
    FROM entity e
    JOIN category c ON c.code = e.category
    LEFT JOIN admin_area s ON s.code = e.street_code
    LEFT JOIN admin_area m ON m.code = e.community_code
    LEFT JOIN admin_area g ON g.code = e.grid_code
    WHERE e.code = :code
""")


@dataclass
class Feature:
    status: str
    json: str


def entity_feature(conn: Connection, code: str) -> Feature:
    row = conn.execute(_FEATURE, {"code": code}).first()
    if row is None:
        raise NotFound(f"no entity has the code {code}")
    return Feature(row.status, row.feature)
