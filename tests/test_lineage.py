"""Split, merge, replace: inputs retired, outputs minted, edges linking them."""

from __future__ import annotations

import pytest

from registry import lineage, reads
from registry.entities import NewEntity
from registry.errors import IllegalTransition, InvalidInput, NotFound
from tests.conftest import point, square
from tests.test_entities import register


def test_split_retires_the_input_and_links_the_parts(db):
    [field] = register(db, NewEntity("0405", square(113.80, 22.70, 113.82, 22.72)))
    with db.begin() as conn:
        parts = lineage.split(conn, field, [
            NewEntity("0405", square(113.80, 22.70, 113.81, 22.72)),
            NewEntity("0405", square(113.81, 22.70, 113.82, 22.72))], actor="x")
        old = reads.get(conn, field)
        preds = lineage.predecessors(conn, parts[0])
    assert old.status == "retired"
    assert sorted(e.to_code for e in old.successors) == sorted(parts)
    assert {e.kind for e in old.successors} == {"split"}
    assert [e.from_code for e in preds] == [field]


def test_merge_and_replace(db):
    a, b, c = register(db, *(NewEntity("0305", point()) for _ in range(3)))
    with db.begin() as conn:
        merged = lineage.merge(conn, [a, b], NewEntity("0305", point()), actor="x")
        new = lineage.replace(conn, c, NewEntity("0305", point()), actor="x", reason="broken")
        got = {code: reads.get(conn, code) for code in (a, b, c, merged, new)}
        history = reads.history(conn, c)
    assert [e.to_code for e in got[a].successors] == [merged]
    assert [e.to_code for e in got[b].successors] == [merged]
    assert [(e.to_code, e.kind) for e in got[c].successors] == [(new, "replace")]
    assert got[merged].status == got[new].status == "active"
    assert history[-1].reason == "broken" and history[-1].status == "retired"


def test_a_retired_entity_cannot_be_split_again(db):
    [a] = register(db, NewEntity("0305", point()))
    with db.begin() as conn:
        lineage.replace(conn, a, NewEntity("0305", point()), actor="x")
    with pytest.raises(IllegalTransition), db.begin() as conn:
        lineage.replace(conn, a, NewEntity("0305", point()), actor="x")


def test_bad_lineage_requests(db):
    [a] = register(db, NewEntity("0305", point()))
    with pytest.raises(InvalidInput), db.begin() as conn:
        lineage.split(conn, a, [NewEntity("0305", point())], actor="x")
    with pytest.raises(InvalidInput), db.begin() as conn:
        lineage.merge(conn, [a, a], NewEntity("0305", point()), actor="x")
    with pytest.raises(NotFound), db.begin() as conn:
        lineage.replace(conn, "44031103050999990", NewEntity("0305", point()), actor="x")
    with db.connect() as conn:
        assert reads.get(conn, a).status == "active"
