"""Registering and changing entities: validation, versions, as-of, lifecycle, concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from registry import entities, reads
from registry.entities import NewEntity
from registry.errors import (
    GeometryError,
    GeometryTypeNotAllowed,
    Gone,
    IllegalTransition,
    InvalidInput,
    UnknownCategory,
    UnknownCounty,
    VersionConflict,
)
from registry.lifecycle import TRANSITIONS
from tests.conftest import COUNTY, point, square


def _count(db, table: str) -> int:
    with db.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def register(db, *items: NewEntity) -> list[str]:
    with db.begin() as conn:
        return entities.register_many(conn, list(items), county=COUNTY, actor="tester")


def test_register_and_read_back(district):
    [code] = register(district, NewEntity(
        "0101", point(113.83, 22.72), name="上水井盖 1", condition="破损",
        dept_admin="水务局", dept_owner="水务集团", dept_maintainer="养护公司",
        attributes={"material": "铸铁"}))
    with district.connect() as conn:
        e = reads.get(conn, code)
    assert code.startswith("4403110101") and len(code) == 17
    assert (e.category, e.status, e.condition, e.name) == ("0101", "active", "damaged",
                                                           "上水井盖 1")
    assert (e.dept_admin, e.dept_owner, e.dept_maintainer) == ("水务局", "水务集团", "养护公司")
    assert e.attributes == {"material": "铸铁"}
    assert e.geometry == {"type": "Point", "coordinates": [113.83, 22.72]}
    assert e.version == 1 and e.h3 and len(e.h3) == 15


@pytest.mark.parametrize("item,error", [
    (NewEntity("9999", point()), UnknownCategory),
    (NewEntity("0101", square(113.8, 22.7, 113.81, 22.71)), GeometryTypeNotAllowed),
    (NewEntity("0701", point()), GeometryTypeNotAllowed),
    (NewEntity("0101", {"type": "Point", "coordinates": []}), GeometryError),
    (NewEntity("0101", "POINT EMPTY"), GeometryError),
    (NewEntity("0101", {"type": "Point", "coordinates": [float("nan"), 22.7]}), GeometryError),
    (NewEntity("0101", point(500000.0, 2500000.0)), GeometryError),
    (NewEntity("0101", "not a geometry"), GeometryError),
    (NewEntity("0101", point(), condition="shiny"), InvalidInput),
    (NewEntity("0101", point(), status="retired"), IllegalTransition),
    (NewEntity("0101", point(), county="999999"), UnknownCounty),
])
def test_bad_input_is_refused_and_nothing_is_written(db, item, error):
    good = NewEntity("0101", point())
    with pytest.raises(error) as e:
        register(db, good, item)
    assert e.value.message.startswith("item 1: ")  # says which item is wrong
    assert _count(db, "entity") == 0
    assert _count(db, "entity_version") == 0
    assert _count(db, "serial_counter") == 0


def test_an_invalid_polygon_is_repaired_when_the_repair_keeps_its_type(db):
    bowtie = "POLYGON((113.80 22.70, 113.81 22.71, 113.81 22.70, 113.80 22.71, 113.80 22.70))"
    [code] = register(db, NewEntity("0701", bowtie))
    with db.connect() as conn:
        e = reads.get(conn, code)
        valid = conn.execute(text("SELECT ST_IsValid(geom) FROM entity WHERE code = :c"),
                             {"c": code}).scalar()
    assert e.geometry["type"] == "MultiPolygon" and valid


def test_update_appends_a_version_and_as_of_reads_the_past(db):
    [code] = register(db, NewEntity("0118", point(), name="路灯", condition="完好"))
    with db.begin() as conn:
        v = entities.update(conn, code, {"condition": "damaged", "name": "路灯 A"}, actor="x",
                            expected_version=1, reason="inspection")
    assert v == 2
    with db.connect() as conn:
        history = reads.history(conn, code)
        now = reads.get(conn, code)
        before = reads.as_of(conn, code, history[0].valid_from)
        after = reads.as_of(conn, code, history[1].valid_from + timedelta(seconds=1))
    assert [h.change for h in history] == ["created", "updated"]
    assert history[1].changed == ["condition", "name"] or \
        sorted(history[1].changed) == ["condition", "name"]
    assert history[1].reason == "inspection" and history[1].actor == "x"
    assert history[0].valid_to == history[1].valid_from and history[1].valid_to is None
    assert (before.condition, before.name, before.version) == ("intact", "路灯", 1)
    assert (after.condition, after.name) == (now.condition, now.name) == ("damaged", "路灯 A")


def test_as_of_a_date_before_the_entity_existed_is_not_found(db):
    [code] = register(db, NewEntity("0118", point()))
    with db.connect() as conn, pytest.raises(Exception) as e:
        reads.as_of(conn, code, datetime(2000, 1, 1, tzinfo=UTC))
    assert "did not exist yet" in str(e.value)


def test_an_update_that_changes_nothing_writes_no_version(db):
    [code] = register(db, NewEntity("0118", point(), name="A"))
    with db.begin() as conn:
        assert entities.update(conn, code, {"name": "A", "geometry": point()}, actor="x") == 1
    assert _count(db, "entity_version") == 1


def test_a_geometry_change_reindexes_h3(db):
    [code] = register(db, NewEntity("0118", point(113.83, 22.72)))
    with db.begin() as conn:
        before = reads.get(conn, code).h3
        entities.update(conn, code, {"geometry": point(113.95, 22.78)}, actor="x")
        after = reads.get(conn, code)
    assert after.h3 != before and after.geometry["coordinates"] == [113.95, 22.78]


def test_concurrent_update_of_the_same_entity_is_refused(db):
    [code] = register(db, NewEntity("0118", point()))
    with db.begin() as conn:
        entities.update(conn, code, {"name": "first"}, actor="a", expected_version=1)
    with pytest.raises(VersionConflict) as e, db.begin() as conn:
        entities.update(conn, code, {"name": "second"}, actor="b", expected_version=1)
    assert e.value.detail["current_version"] == 2
    with db.connect() as conn:
        assert reads.get(conn, code).name == "first"


def test_unknown_or_status_fields_cannot_be_updated(db):
    [code] = register(db, NewEntity("0118", point()))
    with pytest.raises(InvalidInput), db.begin() as conn:
        entities.update(conn, code, {"status": "retired"}, actor="x")


def test_valid_from_cannot_go_back_in_time(db):
    [code] = register(db, NewEntity("0118", point()))
    with pytest.raises(InvalidInput), db.begin() as conn:
        entities.update(conn, code, {"name": "x"}, actor="x",
                        valid_from=datetime(2001, 1, 1, tzinfo=UTC))


ALL = ["provisional", "active", "suspended", "retired", "void"]


@pytest.mark.parametrize("start", ["provisional", "active", "suspended", "retired", "void"])
@pytest.mark.parametrize("target", ALL)
def test_lifecycle_rules(db, start, target):
    path = {"provisional": ["provisional"], "active": ["active"],
            "suspended": ["active", "suspended"], "retired": ["active", "retired"],
            "void": ["provisional", "void"]}[start]
    [code] = register(db, NewEntity("0118", point(), status=path[0]))
    with db.begin() as conn:
        for step in path[1:]:
            entities.transition(conn, code, step, actor="x")
    allowed = target in TRANSITIONS[start]
    if allowed:
        with db.begin() as conn:
            entities.transition(conn, code, target, actor="x", reason="rule test")
            assert reads.get(conn, code).status == target
    else:
        with pytest.raises(IllegalTransition), db.begin() as conn:
            entities.transition(conn, code, target, actor="x")
        with db.connect() as conn:
            assert reads.get(conn, code).status == start


def test_the_lifecycle_is_the_documented_one():
    assert TRANSITIONS["provisional"] == {"active", "void"}
    assert TRANSITIONS["active"] == {"suspended", "retired", "void"}
    assert TRANSITIONS["suspended"] == {"active", "retired", "void"}
    assert not TRANSITIONS["retired"] and not TRANSITIONS["void"]


def test_a_retired_entity_cannot_be_edited(db):
    [code] = register(db, NewEntity("0118", point()))
    with db.begin() as conn:
        entities.transition(conn, code, "retired", actor="x")
    with pytest.raises(Gone), db.begin() as conn:
        entities.update(conn, code, {"name": "zombie"}, actor="x")


@pytest.mark.parametrize("sql, words", [
    ("UPDATE entity SET category = '9999'", "entity.category 9999 is not in category"),
    ("INSERT INTO crosswalk (dataset, source_id, code) VALUES ('d', 's', '44031101019999990')",
     "crosswalk.code 44031101019999990 is not in entity"),
    ("INSERT INTO entity_cover (code, cell, lo) VALUES ('44031101019999990', 1, 1)",
     "entity_cover.code 44031101019999990 is not in entity"),
    ("DELETE FROM entity", "entity {code} is still in use"),
    ("DELETE FROM category WHERE code = '0101'", "category 0101 is still in use"),
])
def test_references_hold_for_plain_sql_writers(db, sql, words):
    """The references the registry keeps per statement (migration 0004) refuse a write from
    any writer, as a foreign key would, and leave the tables as they were."""
    [code] = register(db, NewEntity("0101", point(113.83, 22.72)))
    with db.begin() as conn:  # the delete case needs a row that names the entity
        conn.execute(text("INSERT INTO crosswalk (dataset, source_id, code) "
                          "VALUES ('d', 'x', :c)"), {"c": code})
    with pytest.raises(Exception, match="foreign_key_violation|ForeignKeyViolation") as e, \
            db.begin() as conn:
        conn.execute(text(sql))
    assert words.format(code=code) in str(e.value)
    assert _count(db, "entity") == 1 and _count(db, "crosswalk") == 1
    assert _count(db, "entity_cover") == 0


def test_lineage_names_entities(db):
    [code] = register(db, NewEntity("0101", point(113.83, 22.72)))
    with pytest.raises(Exception, match="lineage.to_code 44031101019999990 is not in entity"), \
            db.begin() as conn:
        conn.execute(text("INSERT INTO lineage (from_code, to_code, kind, happened_on) "
                          "VALUES (:c, '44031101019999990', 'replace', current_date)"),
                     {"c": code})
