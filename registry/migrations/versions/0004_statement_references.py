"""References checked once per statement instead of once per row

A foreign key checks each inserted row with its own look-up and row lock: inserting a million
imported entities spent 5.5 s of 21 s in the check against `category`, the crosswalk 4.2 s of
8.4 s in the check against `entity` (bench/import.py, EXPLAIN ANALYZE). The same rules are
kept here by statement-level triggers over transition tables — one anti-join per statement,
for every writer (registry, loaders, plain SQL) — raising SQLSTATE 23503 as a foreign key
would:

- entity.category must be a class of the dictionary (on INSERT and UPDATE of entity; a class
  in use cannot be deleted or renamed);
- crosswalk, entity_version, entity_cover and lineage rows must name an entity (on their
  INSERT and UPDATE; an entity they name cannot be deleted — entities are never deleted).

With no foreign key depending on it, an import that at least doubles the registry may also
drop and rebuild the indexes of the tables it fills (`registry.bulk`).

TRUNCATE is not checked, as with a foreign key truncated together with its table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

S = "citytwin"
#: (child table, column, parent table, parent column, constraint name of the foreign key)
REFERENCES = [
    ("entity", "category", "category", "code", "entity_category_fkey"),
    ("crosswalk", "code", "entity", "code", "crosswalk_code_fkey"),
    ("entity_version", "code", "entity", "code", "entity_version_code_fkey"),
    ("entity_cover", "code", "entity", "code", "entity_cover_code_fkey"),
    ("lineage", "from_code", "entity", "code", "lineage_from_code_fkey"),
    ("lineage", "to_code", "entity", "code", "lineage_to_code_fkey"),
]


def _child_check(child: str, col: str, parent: str, pcol: str) -> str:
    """Every new row's `col` is in the parent: one anti-join over the statement's rows."""
    return f"""
        CREATE FUNCTION {S}.{child}_{col}_exists() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE missing text;
        BEGIN
            -- min(), not LIMIT 1: a LIMIT makes the planner hope for an early row and loop
            -- over the parent once per new row, which without its index (a bulk load) is
            -- quadratic; the aggregate plans one hash anti-join.
            SELECT min(n.{col}) INTO missing FROM new_rows n
            WHERE n.{col} IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {S}.{parent} p WHERE p.{pcol} = n.{col});
            IF missing IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    MESSAGE = format('%s.%s %s is not in %s', '{child}', '{col}', missing,
                                     '{parent}');
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER {child}_{col}_exists_insert AFTER INSERT ON {S}.{child}
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.{child}_{col}_exists();
        CREATE TRIGGER {child}_{col}_exists_update AFTER UPDATE ON {S}.{child}
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.{child}_{col}_exists();"""


def _parent_check(parent: str, pcol: str, children: list[tuple[str, str]]) -> str:
    """No removed (deleted or re-keyed) parent value is still named by a child."""
    probes = " OR ".join(
        f"EXISTS (SELECT 1 FROM {S}.{child} c WHERE c.{col} = o.{pcol})"
        for child, col in children)
    return f"""
        CREATE FUNCTION {S}.{parent}_still_named() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE named text;
        BEGIN
            SELECT min(o.{pcol}) INTO named FROM old_rows o
            WHERE NOT EXISTS (SELECT 1 FROM {S}.{parent} p WHERE p.{pcol} = o.{pcol})
              AND ({probes});
            IF named IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    MESSAGE = format('%s %s is still in use', '{parent}', named);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER {parent}_still_named_delete AFTER DELETE ON {S}.{parent}
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.{parent}_still_named();
        CREATE TRIGGER {parent}_still_named_update AFTER UPDATE ON {S}.{parent}
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.{parent}_still_named();"""


def upgrade() -> None:
    for child, col, parent, pcol, fkey in REFERENCES:
        op.execute(f"ALTER TABLE {S}.{child} DROP CONSTRAINT {fkey}")
        op.execute(_child_check(child, col, parent, pcol))
    op.execute(_parent_check("category", "code", [("entity", "category")]))
    op.execute(_parent_check("entity", "code", [(c, col) for c, col, p, _, _ in REFERENCES
                                                 if p == "entity"]))


def downgrade() -> None:
    for parent in ("entity", "category"):
        op.execute(f"""DROP TRIGGER {parent}_still_named_update ON {S}.{parent};
                       DROP TRIGGER {parent}_still_named_delete ON {S}.{parent};
                       DROP FUNCTION {S}.{parent}_still_named();""")
    for child, col, parent, pcol, fkey in REFERENCES:
        op.execute(f"""DROP TRIGGER {child}_{col}_exists_update ON {S}.{child};
                       DROP TRIGGER {child}_{col}_exists_insert ON {S}.{child};
                       DROP FUNCTION {S}.{child}_{col}_exists();
                       ALTER TABLE {S}.{child} ADD CONSTRAINT {fkey}
                           FOREIGN KEY ({col}) REFERENCES {S}.{parent} ({pcol});""")
