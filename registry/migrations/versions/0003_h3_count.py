"""h3_count: entities per (category, status, res-8 cell), kept by statement triggers

Density layers of a whole district read this summary instead of every entity row (res 8 and
coarser: 55x faster than grouping geometry at 300k entities, 106x at 3M, bench/spatial.py).
Statement-level triggers with transition tables keep it exact for every writer: the registry,
set-based loader SQL and COPY alike.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

from spatial.h3 import sql_parent

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CELL8 = sql_parent("h3", 8)


def _apply(rows: str, sign: str, changed_only: bool = False) -> str:
    """Add (or subtract) the rows of a transition table; for an UPDATE only the rows whose
    category, status or cell changed (most updates touch none of them)."""
    other = "new_rows" if rows == "old_rows" else "old_rows"
    join = (f" r JOIN {other} x USING (code) WHERE (r.category, r.status, r.h3) "
            "IS DISTINCT FROM (x.category, x.status, x.h3) AND r.h3 IS NOT NULL"
            if changed_only else " r WHERE r.h3 IS NOT NULL")
    return f"""
        INSERT INTO citytwin.h3_count AS c (category, status, cell, n)
        SELECT r.category, r.status, {sql_parent("r.h3", 8)}, {sign}count(*) FROM {rows}{join}
        GROUP BY 1, 2, 3
        ON CONFLICT (category, status, cell) DO UPDATE SET n = c.n + EXCLUDED.n;"""


def upgrade() -> None:
    op.create_table('h3_count',
    sa.Column('category', sa.String(length=4), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('cell', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('category', 'status', 'cell'),
    schema='citytwin'
    )
    op.execute(f"""
        CREATE FUNCTION citytwin.h3_count_apply() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN {_apply('new_rows', '')} END IF;
            IF TG_OP = 'DELETE' THEN {_apply('old_rows', '-')} END IF;
            IF TG_OP = 'UPDATE' THEN
                {_apply('old_rows', '-', changed_only=True)}
                {_apply('new_rows', '', changed_only=True)}
            END IF;
            RETURN NULL;
        END $$;
        CREATE FUNCTION citytwin.h3_count_clear() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE citytwin.h3_count; RETURN NULL; END $$;
        CREATE TRIGGER entity_h3_count_insert AFTER INSERT ON citytwin.entity
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION citytwin.h3_count_apply();
        CREATE TRIGGER entity_h3_count_update AFTER UPDATE
            ON citytwin.entity REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION citytwin.h3_count_apply();
        CREATE TRIGGER entity_h3_count_delete AFTER DELETE ON citytwin.entity
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION citytwin.h3_count_apply();
        CREATE TRIGGER entity_h3_count_truncate AFTER TRUNCATE ON citytwin.entity
            FOR EACH STATEMENT EXECUTE FUNCTION citytwin.h3_count_clear();
        INSERT INTO citytwin.h3_count (category, status, cell, n)
            SELECT category, status, {CELL8}, count(*) FROM citytwin.entity
            WHERE h3 IS NOT NULL GROUP BY 1, 2, 3;
    """)


def downgrade() -> None:
    op.execute("""
        DROP TRIGGER entity_h3_count_truncate ON citytwin.entity;
        DROP TRIGGER entity_h3_count_delete ON citytwin.entity;
        DROP TRIGGER entity_h3_count_update ON citytwin.entity;
        DROP TRIGGER entity_h3_count_insert ON citytwin.entity;
        DROP FUNCTION citytwin.h3_count_clear();
        DROP FUNCTION citytwin.h3_count_apply();
    """)
    op.drop_table('h3_count', schema='citytwin')
