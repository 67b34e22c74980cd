"""The crosswalk: one (dataset, source id) → exactly one code; many source ids per code."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from registry import crosswalk
from registry.entities import NewEntity
from registry.errors import DuplicateSourceId, NotFound
from tests.conftest import point
from tests.test_entities import register


def test_a_code_may_carry_source_ids_of_several_departments(db):
    [code] = register(db, NewEntity("0103", point(), sources=[("水务", "YS-1"), ("城管", "CG-9")]))
    with db.connect() as conn:
        assert crosswalk.resolve(conn, "水务", "YS-1") == code
        assert crosswalk.resolve(conn, "城管", "CG-9") == code
        assert crosswalk.sources(conn, code) == [("城管", "CG-9"), ("水务", "YS-1")]


def test_a_source_id_links_to_exactly_one_code(db):
    [a] = register(db, NewEntity("0103", point(), sources=[("水务", "YS-1")]))
    with pytest.raises(DuplicateSourceId) as e:
        register(db, NewEntity("0103", point(), sources=[("水务", "YS-1")]))
    assert a in e.value.message
    with pytest.raises(DuplicateSourceId):
        register(db, NewEntity("0103", point(), sources=[("水务", "YS-2")]),
                 NewEntity("0103", point(), sources=[("水务", "YS-2")]))
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entity")).scalar() == 1


def test_linking_again_to_the_same_code_is_a_no_op(db):
    [a] = register(db, NewEntity("0103", point(), sources=[("水务", "YS-1")]))
    with db.begin() as conn:
        crosswalk.link(conn, "水务", "YS-1", a)
        assert crosswalk.sources(conn, a) == [("水务", "YS-1")]


def test_resolving_an_unknown_source_id(db):
    with pytest.raises(NotFound) as e, db.connect() as conn:
        crosswalk.resolve(conn, "水务", "nope")
    assert "nope" in e.value.message
