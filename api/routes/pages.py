"""The inspector's page `/e/{code}` (phone-first, opened from a QR tag) and the QR codes."""

from __future__ import annotations

import io
from html import escape

import orjson
import segno
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.deps import AppSettings, Db, Dict
from registry import codes, features, reads
from registry.errors import InvalidCode, NotFound

router = APIRouter(tags=["inspector"])
STATUS = {"active": ("在用", "#2e7d32"), "provisional": ("待核", "#f9a825"),
          "suspended": ("停用", "#ef6c00"), "retired": ("注销", "#c62828"),
          "void": ("作废", "#616161")}
CONDITION = {"intact": "完好", "damaged": "破损", "lost": "丢失", "occupied": "占用"}
CSS = """body{margin:0;font:16px/1.5 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;
color:#222;background:#f6f6f4}main{max-width:640px;margin:0 auto;padding:12px}
h1{font-size:20px;margin:4px 0}.code{font-family:ui-monospace,monospace;font-size:15px;
color:#555;word-break:break-all}.badge{display:inline-block;color:#fff;border-radius:4px;
padding:0 8px;margin-right:6px;font-size:14px}section{background:#fff;border-radius:8px;
padding:10px 12px;margin:10px 0;box-shadow:0 1px 3px #0002}h2{font-size:15px;margin:0 0 6px;
color:#555}table{width:100%;border-collapse:collapse}td{padding:4px 2px;border-bottom:1px solid
#eee;vertical-align:top}td:first-child{color:#666;width:6em}#mini{height:200px;border-radius:6px}
a{color:#0b5cad}.why{color:#c62828}"""


def _page(title: str, body: str, status: int = 200, *, with_map: bool = False) -> HTMLResponse:
    head = ('<link rel="stylesheet" href="/static/vendor/maplibre-gl-5.24.1/maplibre-gl.css">'
            if with_map else "")
    return HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><link rel='icon' href='data:,'>{head}"
        f"<style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>", status_code=status)


def _rows(items: list[tuple[str, str | None]]) -> str:
    return "<table>" + "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                               for k, v in items if v) + "</table>"


def _area(a: dict | None) -> str | None:
    return f"{a['name']}（{a['code']}）" if a else None


@router.get("/e/{code}", response_class=HTMLResponse, summary="The inspector's entity page")
def entity_page(code: str, conn: Db, dictionary: Dict) -> HTMLResponse:
    try:
        code = str(codes.validate(code, dictionary))
    except InvalidCode as e:
        return _page("编码无效", f'<h1>编码无效</h1><p class="code">{escape(code)}</p>'
                     f'<p class="why">{escape(e.message)}</p>'
                     "<p>请核对标牌上的编码；校验位能发现错一位或两位颠倒。</p>", 422)
    try:
        feature = features.entity_feature(conn, code)
    except NotFound:
        return _page("未找到", f'<h1>未找到</h1><p class="code">{code}</p>'
                     "<p>这个编码格式正确，但登记库中没有它。</p>", 404)
    f = orjson.loads(feature.json)
    p = f["properties"]
    label, color = STATUS.get(p["status"], (p["status"], "#616161"))
    cond = CONDITION.get(p["condition"] or "", "")
    body = [f'<p class="code">{escape(code)}</p><h1>{escape(p["name"] or p["category_name"])}</h1>',
            f'<p><span class="badge" style="background:{color}">{escape(label)}</span>'
            f'{escape(cond)} · {escape(p["category"])} {escape(p["category_name"])}</p>']
    if p["successors"]:
        links = "、".join(f'<a href="/e/{escape(s["code"])}">{escape(s["code"])}</a>'
                         f'（{escape(s["kind"])}）'
                         for s in p["successors"])
        body.append(f"<section><h2>已注销，由以下编码继承</h2><p>{links}</p></section>")
    body.append("<section><h2>位置</h2>" + _rows([
        ("街道", _area(p["street"])), ("社区", _area(p["community"])),
        ("网格", _area(p["grid"]))]) + '<div id="mini"></div></section>')
    d = p["departments"]
    body.append("<section><h2>责任单位</h2>" + _rows([
        ("主管", d["admin"]), ("权属", d["owner"]), ("养护", d["maintainer"])]) + "</section>")
    history = reads.history(conn, code)[-5:][::-1]
    body.append("<section><h2>最近变更</h2>" + _rows([
        (v.valid_from.strftime("%Y-%m-%d"), f"{v.change} · {v.actor}"
         + (f" · {v.reason}" if v.reason else "")) for v in history]) + "</section>")
    body.append(f'<p><a href="/#18/{_centre(f)}">在一张图中查看</a> · '
                f'<a href="/entities/{code}/history">全部历史</a></p>')
    script = (
        '<script src="/static/vendor/maplibre-gl-5.24.1/maplibre-gl.js"></script><script>'
        f"var g={orjson.dumps(f['geometry']).decode()};"
        "var c=[];(function w(a){typeof a[0]==='number'?c.push(a):a.forEach(w)})(g.coordinates);"
        "var x=0,y=0;c.forEach(function(q){x+=q[0];y+=q[1]});var ctr=[x/c.length,y/c.length];"
        "var m=new maplibregl.Map({container:'mini',style:'/styles/default.json',center:ctr,"
        "zoom:17,interactive:false,attributionControl:false});"
        "new maplibregl.Marker({color:'#c62828'}).setLngLat(ctr).addTo(m);</script>")
    status = 410 if p["status"] in ("retired", "void") else 200
    return _page(f"{code} · {p['category_name']}", "".join(body) + script, status,
                 with_map=True)


def _centre(feature: dict) -> str:
    pts: list[list[float]] = []

    def walk(c: list) -> None:
        if isinstance(c[0], int | float):
            pts.append(c)
        else:
            for x in c:
                walk(x)

    walk(feature["geometry"]["coordinates"])
    lon = sum(q[0] for q in pts) / len(pts)
    lat = sum(q[1] for q in pts) / len(pts)
    return f"{lat:.6f}/{lon:.6f}"


@router.get("/entities/{code}/qr.{kind}", summary="A QR tag linking to the inspector page")
def qr(code: str, kind: str, dictionary: Dict, settings: AppSettings) -> Response:
    code = str(codes.validate(code, dictionary))
    if kind not in ("svg", "png"):
        raise NotFound("QR codes come as .svg or .png")
    target = f"{settings.public_url.rstrip('/')}/e/{code}"
    out = io.BytesIO()
    segno.make(target, error="m").save(out, kind=kind, scale=8, border=2)
    media = "image/svg+xml" if kind == "svg" else "image/png"
    return Response(out.getvalue(), media_type=media,
                    headers={"Cache-Control": "public, max-age=86400"})
