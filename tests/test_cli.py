"""The command line, run as a user runs it: the installed `citytwin` script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from registry.codes import make
from registry.entities import NewEntity
from tests.conftest import point
from tests.test_entities import register

CLI = shutil.which("citytwin", path=str(Path(sys.executable).parent)) or "citytwin"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "120", **(env or {})})


def test_code_check_explains_a_valid_code():
    r = run("code", "check", "44031101010000014")
    assert r.returncode == 0
    assert "光明区" in r.stdout and "上水井盖" in r.stdout and "000001" in r.stdout


@pytest.mark.parametrize("code,words", [
    ("44031101010000041", "check digit"),
    ("4403110101000001", "17 digits"),
    ("4403110101A000014", "only digits"),
    ("99999901010000014", "not a known county"),
])
def test_code_check_says_why_a_code_is_bad(code, words):
    r = run("code", "check", code)
    assert r.returncode == 1
    assert words in r.stderr.replace("\n", " ")
    assert "Traceback" not in r.stderr


def test_code_check_json():
    r = run("code", "check", "--json", "44031101010000041")
    assert r.returncode == 1
    assert json.loads(r.stdout)["reason"] == "check_digit"


def test_entity_show_prints_the_card(settings, district):
    [code] = register(district, NewEntity("0113", point(113.81, 22.71), name="消火栓 12",
                                          condition="完好", sources=[("水务", "XF-12")]))
    env = {"CITYTWIN_DATABASE_URL": settings.database_url}
    r = run("entity", "show", code, env=env)
    assert r.returncode == 0, r.stderr
    for words in (code, "消防设施", "消火栓 12", "active", "完好", "光明街道", "水务:XF-12"):
        assert words in r.stdout
    r = run("entity", "show", "--json", code, env=env)
    data = json.loads(r.stdout)
    assert data["code"] == code and data["street_code"] == "440311001"
    assert data["sources"] == [["水务", "XF-12"]]


def test_entity_show_of_an_unknown_code(settings, db):
    r = run("entity", "show", make("440311", "0113", 9999),
            env={"CITYTWIN_DATABASE_URL": settings.database_url})
    assert r.returncode == 1 and "no entity" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(bool(os.environ.get("CITYTWIN_DATABASE_URL")),
                    reason="an external database is in use: no local cluster")
def test_db_up_is_idempotent_and_status_says_where():
    first = run("db", "up")
    assert first.returncode == 0 and "PostGIS up" in first.stdout
    r = run("db", "status")
    assert r.returncode == 0
    assert "running" in r.stdout and "127.0.0.1:" in r.stdout and "postgis" in r.stdout
    assert run("db", "up").stdout == first.stdout
