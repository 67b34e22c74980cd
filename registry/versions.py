"""Versions whose state lives elsewhere while they are open (migration 0007): an import's
`created` version records the change and leaves the state columns empty; the entity row holds
that state until the version closes. These are the few SQL pieces that keep that true: fill a
thin version's state from its entity before the entity changes, close versions, and read a
version's state whichever kind it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

#: The state columns of a version (what a thin open version leaves to the entity row).
STATE = ("category", "condition", "name", "dept_admin", "dept_owner", "dept_maintainer",
         "attributes", "geom", "street_code", "community_code", "grid_code", "h3")


def state_of(column: str, v: str = "v", e: str = "e") -> str:
    """A version's `column` (version alias `v`, its entity's alias `e`), thin or not."""
    return f"CASE WHEN {v}.geom IS NULL THEN {e}.{column} ELSE {v}.{column} END"


_FILL = ", ".join(f"{c} = {state_of(c)}" for c in STATE)


def close_sql(where: str, when: str = ":when") -> Any:
    """Close the open versions matching `where` (SQL over `entity_version v`) at `when`; run
    it before their entities change: a thin one takes its state from the entity row first."""
    return text(f"""UPDATE entity_version v SET valid_to = {when}, {_FILL}
                    FROM entity e WHERE e.code = v.code AND v.valid_to IS NULL AND ({where})""")


def fill_sql(where: str) -> Any:
    """Give the thin open versions matching `where` their entity's state, now: before the
    entity changes without a new version (placement after the admin areas change)."""
    return text(f"""UPDATE entity_version v SET {_FILL}
                    FROM entity e WHERE e.code = v.code AND v.valid_to IS NULL
                      AND v.geom IS NULL AND ({where})""")
