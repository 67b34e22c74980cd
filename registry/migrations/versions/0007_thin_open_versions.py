"""entity_version: the open version of an imported entity may leave its state to `entity`

An import wrote every new entity twice: into `entity`, and its whole state again into its
first version (3.5 s of a million-point import). Its first version now records the change
(code, version, status, times, actor, batch) and leaves the state columns empty while it is
the open version, whose state the entity row holds; closing it copies that state in before
the entity changes (`registry.entities.close_sql`). A closed version always has its state.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_STATE = ("category", "attributes", "geom")  # the state columns that were NOT NULL


def upgrade() -> None:
    for column in _STATE:
        op.execute(f"ALTER TABLE citytwin.entity_version ALTER COLUMN {column} DROP NOT NULL")
    op.execute("ALTER TABLE citytwin.entity_version ADD CONSTRAINT entity_version_closed_state "
               "CHECK (geom IS NOT NULL OR valid_to IS NULL)")


def downgrade() -> None:
    op.execute("""UPDATE citytwin.entity_version v SET category = e.category,
                  condition = e.condition, name = e.name, dept_admin = e.dept_admin,
                  dept_owner = e.dept_owner, dept_maintainer = e.dept_maintainer,
                  attributes = e.attributes, geom = e.geom, street_code = e.street_code,
                  community_code = e.community_code, grid_code = e.grid_code, h3 = e.h3
                  FROM citytwin.entity e WHERE e.code = v.code AND v.geom IS NULL""")
    op.execute("ALTER TABLE citytwin.entity_version DROP CONSTRAINT entity_version_closed_state")
    for column in _STATE:
        op.execute(f"ALTER TABLE citytwin.entity_version ALTER COLUMN {column} SET NOT NULL")
