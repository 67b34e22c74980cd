"""CQL2 filters a user gets wrong are refused with a 400 that says what to fix, and attribute
comparisons are safe for whatever an attribute holds: no filter fails inside SQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry.entities import NewEntity
from tests.conftest import point
from tests.test_entities import register

ITEMS = "/collections/manholes/items"


@pytest.fixture
def client(settings, district):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def manholes(district):
    """Three manholes whose attributes hold numbers, dates and things that only look so."""
    return register(district, *(NewEntity("0101", point(113.81 + i / 100, 22.71), attributes=a)
                                for i, a in enumerate([
        {"install_date": "2014-11-26", "BGID": 7, "depth": "1.5"},
        {"install_date": "2019-03-01T08:00:00Z", "BGID": "12", "depth": 3},
        {"install_date": "2014-02-30", "BGID": "n/a", "depth": "1e99999"},
    ])))


def refused(client, cql: str) -> str:
    r = client.get(ITEMS, params={"filter": cql})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "invalid_filter", r.text
    return r.json()["detail"]


def matched(client, cql: str) -> set[str]:
    r = client.get(ITEMS, params={"filter": cql})
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["features"]}


@pytest.mark.parametrize("cql,words", [
    ("version > 'abc'", "version is a whole number; 'abc' is not"),
    ("version = 'one'", "version is a whole number; 'one' is not"),
    ("version IN (1, 'a')", "version is a whole number; 'a' is not"),
    ('{"op": "=", "args": [{"property": "version"}, true]}', "version is a whole number; true"),
    ("version LIKE '1%'", "LIKE matches text; version is a whole number"),
    ("name = 5", "name is text; 5 is not: compare it with a value like '5'"),
    ("valid_from > 'notadate'", "valid_from is a timestamp; 'notadate' is not"),
    ("valid_from > DATE('2020-13-45')", "DATE('2020-13-45') is not a real date"),
    ("valid_from > DATE('0000-01-01')", "DATE('0000-01-01') is not a real date"),
    ("valid_from > TIMESTAMP('0000-01-01T00:00:00Z')", "is not a real timestamp"),
    ('{"op": "=", "args": [{"property": "status"}, {"date": "2020-01-01"}]}',
     "status is text; DATE('2020-01-01') is not"),
    ("T_AFTER(name, TIMESTAMP('2020-01-01T00:00:00Z'))", "T_AFTER compares times; name is text"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_type(client, cql, words):
    assert words in refused(client, cql)


def test_an_attribute_compares_only_where_it_holds_that_kind_of_value(client, manholes):
    a, b, c = manholes
    assert matched(client, "attributes.install_date > 5") == set()
    assert matched(client, "attributes.BGID > 5") == {a, b}  # 7 and "12"; not "n/a"
    assert matched(client, "attributes.depth < 2") == {a}  # not "1e99999"
    assert matched(client, "attributes.depth BETWEEN 1 AND 3") == {a, b}
    assert matched(client, "attributes.install_date = TIMESTAMP('2019-03-01T08:00:00Z')") == {b}
    # "2014-02-30" looks like a date but is none: not matched, and no error
    assert matched(client, "attributes.install_date < DATE('2015-01-01')") == {a}
    assert matched(client, "T_AFTER(attributes.install_date, DATE('2015-01-01'))") == {b}
    assert matched(client, "attributes.install_date = '2014-02-30'") == {c}


def test_an_attribute_list_of_mixed_kinds_is_refused(client):
    assert "attributes.BGID IN mixes number and text values" in \
        refused(client, "attributes.BGID IN (1, 'a')")


def test_an_empty_in_list_is_refused(client):
    detail = refused(client, '{"op": "in", "args": [{"property": "status"}, []]}')
    assert "status IN needs at least one value" in detail


@pytest.mark.parametrize("cql", [
    '{"op": "=", "args": [{"property": "name"}, "a\\u0000b"]}',
    '{"op": "=", "args": [{"property": "attributes.a\\u0000b"}, "x"]}',
])
def test_a_nul_character_is_refused(client, cql):
    assert "NUL character" in refused(client, cql)


@pytest.mark.parametrize("cql,words", [
    ("status = NULL", "write status IS NULL"),
    ("status <> NULL", "write status IS NOT NULL"),
    ("version = 1e400", "a number in the filter is out of range"),
    ("T_INTERSECTS(valid_from, INTERVAL('2020-01-01', '2021-01-01'))",
     "time intervals are not supported"),
    ("T_DURING(valid_from, INTERVAL('2020-01-01', '..'))", "time intervals are not supported"),
])
def test_the_message_says_what_to_write_instead(client, cql, words):
    assert words in refused(client, cql)
