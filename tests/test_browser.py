"""The map and the inspector's page in a real browser (Debian's Chromium, driven by
Playwright): no console errors, tiles drawn, a click opens the card, a code search flies there,
and /e/{code} works on a phone-sized screen."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import text

from tests.conftest import api_server, load_builtin_sample

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def server(engine, settings):
    load_builtin_sample(engine)
    with api_server(settings) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def lamp(engine):
    with engine.connect() as conn:
        row = conn.execute(text("SELECT code, ST_X(geom) x, ST_Y(geom) y FROM entity "
                                "WHERE category = '0118' ORDER BY code LIMIT 1")).one()
    return row.code, row.x, row.y


def open_page(browser, url: str, width: int = 1200, height: int = 800):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return page, errors


def wait_for_map(page) -> None:
    page.wait_for_function("window.citytwinMap && window.citytwinMap.loaded() && "
                           "window.citytwinMap.areTilesLoaded()", timeout=30_000)
    page.wait_for_timeout(500)


def colours(png: bytes) -> int:
    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or [])


def test_the_map_loads_without_errors_and_draws_tiles(browser, server):
    page, errors = open_page(browser, server + "/")
    wait_for_map(page)
    assert errors == []
    shot = page.locator("#map").screenshot()
    assert colours(shot) > 10  # background, hexagons, street lines: not a blank canvas
    assert page.locator("#layers li input").count() >= 8
    page.wait_for_function("[...document.querySelectorAll('#layers .count')]"
                           ".every(e => e.textContent !== '…')")
    counts = page.locator("#layers .count").all_inner_texts()
    assert sum(int(c) for c in counts) > 0
    page.close()


def test_clicking_a_feature_opens_its_card(browser, server, lamp):
    code, x, y = lamp
    page, errors = open_page(browser, f"{server}/#19/{y}/{x}")
    wait_for_map(page)
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#card:not([hidden])", timeout=10_000)
    assert code in page.locator("#card").inner_text()
    assert errors == []
    page.close()


def test_searching_a_code_flies_to_the_entity(browser, server, lamp):
    code, x, y = lamp
    page, errors = open_page(browser, server + "/")
    wait_for_map(page)
    page.fill("#q", code[:-1] + str((int(code[-1]) + 1) % 10))
    assert "bad" in page.locator("#hint").get_attribute("class")
    page.fill("#q", code[:10])
    assert page.locator("#hint").get_attribute("class") in ("", None)
    page.fill("#q", code)
    assert "good" in page.locator("#hint").get_attribute("class")
    page.press("#q", "Enter")
    page.wait_for_selector("#card:not([hidden])", timeout=10_000)
    page.wait_for_function("window.citytwinMap.getZoom() > 17", timeout=15_000)
    lng, lat = page.evaluate("[citytwinMap.getCenter().lng, citytwinMap.getCenter().lat]")
    assert abs(lng - x) < 1e-4 and abs(lat - y) < 1e-4
    assert "#" in page.url and code in page.locator("#card").inner_text()
    assert errors == []
    page.close()


def test_the_inspector_page_on_a_phone(browser, server, lamp):
    code, _, _ = lamp
    page, errors = open_page(browser, f"{server}/e/{code}", 375, 812)
    page.wait_for_selector("#mini canvas")
    body = page.inner_text("main")
    assert code in body and "在用" in body and "养护" in body
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # no sideways scrolling on a phone
    assert errors == []
    bad, _ = open_page(browser, f"{server}/e/{code[:-1]}{(int(code[-1]) + 1) % 10}", 375, 812)
    assert "校验位" in bad.inner_text("main") or "check digit" in bad.inner_text("main")
    page.close()
    bad.close()
