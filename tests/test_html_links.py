"""Links the API writes (next / prev / self, in JSON and in the HTML pages): percent-encoded,
escaped in HTML, never carrying markup from the request; and the format chosen by Accept q."""

from __future__ import annotations

from html.parser import HTMLParser

import h3
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import load_builtin_sample

XSS_VALUE = "name <> '\"><script>alert(1)</script>'"
XSS_NAME = 'x"><img src=x onerror=alert(1)>'
#: A filter whose text holds &, #, %, + and Chinese: all must survive a link.
HARD_FILTER = "name LIKE '样例%' OR name = 'a&b#c+d 光明'"


@pytest.fixture(scope="module")
def client(engine, settings):
    load_builtin_sample(engine)
    with TestClient(create_app(settings)) as c:
        yield c


class Page(HTMLParser):
    """The elements of an HTML page as a browser would build them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def nav(page_text: str, rel: str) -> str:
    """The href of the page's one link reading `rel` (next, prev, JSON), as a browser reads it."""
    hrefs = []

    class Anchors(HTMLParser):
        href: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self.href = dict(attrs).get("href")

        def handle_data(self, data: str) -> None:
            if self.href is not None and data.strip() == rel:
                hrefs.append(self.href)
            self.href = None

    Anchors().feed(page_text)
    assert len(hrefs) == 1, f"expected one {rel} link"
    return hrefs[0]


def ids(doc: dict) -> list[str]:
    return [f["id"] for f in doc["features"]]


def link(doc: dict, rel: str) -> str:
    [href] = [x["href"] for x in doc["links"] if x["rel"] == rel]
    return href


def test_a_filter_value_is_escaped_in_the_html_items_page(client):
    r = client.get("/collections/manholes/items",
                   params={"f": "html", "limit": 1, "filter": XSS_VALUE})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = Page(r.text)
    assert "<script>" not in r.text
    assert [t for t, _ in page.tags if t in ("script", "img")] == []
    # Every attribute stays one attribute: no element got an attribute from the payload.
    assert all(set(a) <= {"href", "lang", "charset", "name", "content"} for _, a in page.tags)
    # The next link, followed as a browser would, is the second page of the same query.
    second = client.get(nav(r.text, "next"))
    assert second.status_code == 200 and second.headers["content-type"].startswith("text/html")
    assert "2–2" in second.text
    assert "<script>" not in second.text and nav(second.text, "prev")


def test_an_unknown_parameter_name_is_not_echoed(client):
    params = [("f", "html"), ("limit", "1"), (XSS_NAME, "1")]
    r = client.get("/collections/manholes/items", params=params)
    assert r.status_code == 200
    page = Page(r.text)
    assert [t for t, _ in page.tags if t in ("script", "img")] == []
    assert "onerror" not in r.text and "<img" not in r.text
    assert nav(r.text, "next")
    doc = client.get("/collections/manholes/items", params=params[1:]).json()
    assert doc["numberReturned"] == 1
    assert not [x for x in doc["links"] if "onerror" in x["href"] or "img" in x["href"]]


def test_next_prev_and_self_links_keep_a_filter_with_ampersand_hash_and_chinese(client):
    first = client.get("/collections/manholes/items",
                       params={"filter": HARD_FILTER, "limit": 2, "sortby": "-name"})
    assert first.status_code == 200
    one = first.json()
    assert one["numberReturned"] == 2 and one["numberMatched"] > 4
    second = client.get(link(one, "next"))
    assert second.status_code == 200, second.text
    two = second.json()
    assert two["numberMatched"] == one["numberMatched"] and two["numberReturned"] == 2
    assert not set(ids(one)) & set(ids(two))
    assert ids(two) == ids(client.get("/collections/manholes/items", params={
        "filter": HARD_FILTER, "limit": 2, "sortby": "-name", "offset": 2}).json())
    assert ids(client.get(link(two, "prev")).json()) == ids(one)
    assert ids(client.get(link(two, "self")).json()) == ids(two)
    # The HTML page's links too.
    page = client.get(link(one, "alternate"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html_second = client.get(nav(page.text, "next"))
    assert html_second.status_code == 200 and "3–4" in html_second.text
    assert all(code in html_second.text for code in ids(two))


def test_the_json_link_of_an_html_page_gives_json_to_a_browser(client):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    items = client.get("/collections/manholes/items",
                       params={"limit": 2, "filter": HARD_FILTER}, headers=browser)
    assert items.headers["content-type"].startswith("text/html")
    doc = client.get(nav(items.text, "JSON"), headers=browser)
    assert doc.headers["content-type"].startswith("application/geo+json")
    assert doc.json()["numberReturned"] == 2
    code = doc.json()["features"][0]["id"]
    one = client.get(f"/collections/manholes/items/{code}", headers=browser)
    assert one.headers["content-type"].startswith("text/html") and code in one.text
    assert client.get(nav(one.text, "JSON"), headers=browser).json()["id"] == code


def test_repeated_parameters_stay_in_the_links(client):
    # The last of a repeated parameter is the one applied; the link must apply the same one.
    r = client.get("/collections/manholes/items?limit=2&filter=name%20%3D%20%27x%27"
                   f"&filter={'name LIKE %27样例%25%27 OR name = %27a%26b%23%27'}")
    assert r.status_code == 200
    one = r.json()
    assert one["numberReturned"] == 2
    two = client.get(link(one, "next")).json()
    assert two["numberReturned"] == 2 and not set(ids(one)) & set(ids(two))


@pytest.mark.parametrize("path", ["/areas/440311/entities", "h3"])
def test_area_and_cell_paging_links_are_followable(client, path):
    if path == "h3":
        path = f"/h3/{h3.latlng_to_cell(22.77, 113.92, 6)}/entities"
        params = {"k": 2, "limit": 3}
    else:
        params = {"limit": 3}
    # An extra parameter with & and # in it, and one named like the helper's own arguments.
    params |= {"note": "a&b#c 光明", "path": "/x", "request": "1"}
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    one = r.json()
    assert one["numberReturned"] == 3
    two = client.get(link(one, "next"))
    assert two.status_code == 200
    assert two.json()["numberReturned"] == 3 and not set(ids(one)) & set(ids(two.json()))
    assert ids(two.json()) == ids(client.get(path, params={**params, "offset": 3}).json())


def test_accept_q_values_choose_the_format(client):
    cases = [
        ({"Accept": "text/html;q=0.1, application/json"}, "", "json"),
        ({"Accept": "text/html; q=0.5, application/geo+json"}, "", "json"),
        ({"Accept": "application/json;q=0.5, text/html"}, "", "html"),
        ({"Accept": "text/html;q=0"}, "", "json"),
        ({"Accept": "text/html, application/json"}, "", "json"),  # no preference: JSON
        ({"Accept": "*/*"}, "", "json"),
        ({"Accept": "text/html;q=abc, application/json"}, "", "json"),
        ({"Accept": ";;, ,/,text/;q=,*/*;q=2"}, "", "json"),
        ({"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, "",
         "html"),  # a browser
        ({"Accept": "text/html;q=0.1, application/json"}, "f=html", "html"),  # f= wins
        ({"Accept": "text/html"}, "f=json", "json"),
    ]
    for headers, query, expected in cases:
        for path in ("/collections/manholes", "/collections/manholes/items?limit=1"):
            url = path + ("&" if "?" in path else "?") + query if query else path
            r = client.get(url, headers=headers)
            assert r.status_code == 200, (headers, url)
            kind = "html" if r.headers["content-type"].startswith("text/html") else "json"
            assert kind == expected, (headers, url)
    landing = client.get("/", headers={"Accept": "text/html;q=0.1, application/json"})
    assert landing.json()["title"] == "citytwin"


def test_negotiated_responses_vary_on_accept(client):
    r = client.get("/collections/manholes/items?limit=1")
    assert "accept" in [v.strip().lower() for v in r.headers.get("vary", "").split(",")]
    again = client.get("/collections/manholes/items?limit=1",
                       headers={"Accept": "text/html", "If-None-Match": r.headers["etag"]})
    assert again.status_code == 200 and again.headers["content-type"].startswith("text/html")
