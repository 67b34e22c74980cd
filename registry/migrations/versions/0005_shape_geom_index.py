"""entity_shape_geom_idx: a spatial index of the lines and polygons alone

An exact bbox count takes the points whose index box lies inside the bbox without looking at
their rows' geometry (`registry.search.count`), and needs the few lines and polygons of the
window apart, to test them exactly: this partial index finds them without a per-row type
test over every point.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX entity_shape_geom_idx ON citytwin.entity USING gist (geom) "
               "WHERE GeometryType(geom) <> 'POINT'")


def downgrade() -> None:
    op.execute("DROP INDEX citytwin.entity_shape_geom_idx")
