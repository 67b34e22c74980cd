// The 一张图 web map: layers by department and class with counts, an H3 density overlay, a
// search box for codes (checked as typed) and names, and an entity card on click. No CDN, no
// build step: MapLibre is vendored next to this file.
(function () {
  "use strict";
  var T = {
    zh: { title: "一张图", search: "输入编码或名称", density: "H3 密度", layers: "图层",
      code: "编码", category: "类别", name: "名称", status: "状态", condition: "部件状态",
      admin: "主管", owner: "权属", maintainer: "养护", street: "街道", community: "社区",
      grid: "网格", open: "巡查页", history: "历史", successors: "继承编码",
      more: "还差 {n} 位", bad_check: "校验位错误：编码有误（错一位或两位颠倒）",
      bad_digit: "编码只含数字", ok: "编码有效", notfound: "未找到", gone: "已注销",
      statuses: { active: "在用", provisional: "待核", suspended: "停用", retired: "注销", void: "作废" },
      conditions: { intact: "完好", damaged: "破损", lost: "丢失", occupied: "占用" } },
    en: { title: "One map", search: "Code or name", density: "H3 density", layers: "Layers",
      code: "Code", category: "Class", name: "Name", status: "Status", condition: "Condition",
      admin: "Authority", owner: "Owner", maintainer: "Maintainer", street: "Street",
      community: "Community", grid: "Grid", open: "Inspector page", history: "History",
      successors: "Successors", more: "{n} digits to go",
      bad_check: "Wrong check digit: a digit is mistyped or two are swapped",
      bad_digit: "Codes have digits only", ok: "Valid code", notfound: "Not found",
      gone: "Retired", statuses: {}, conditions: {} }
  };
  var params = new URLSearchParams(location.search);
  var lang = params.get("lang") === "en" ? "en" : "zh";
  var t = T[lang];
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t[el.dataset.i18n]; });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) { el.placeholder = t[el.dataset.i18nPlaceholder]; });
  var langButton = document.getElementById("lang");
  langButton.textContent = lang === "zh" ? "EN" : "中文";
  langButton.onclick = function () {
    params.set("lang", lang === "zh" ? "en" : "zh");
    location.search = params.toString();  // the hash (the view) is kept
  };

  // Where to look first: the URL's view (#zoom/lat/lon, shareable), else the whole district.
  var map;
  function start(bounds) {
    map = new maplibregl.Map({ container: "map", style: "/styles/default.json?lang=" + lang,
      hash: true, bounds: bounds, fitBoundsOptions: { padding: 20 },
      attributionControl: { compact: true } });
    window.citytwinMap = map;
    map.addControl(new maplibregl.NavigationControl(), "bottom-right");
    map.addControl(new maplibregl.ScaleControl(), "bottom-left");
    map.on("load", buildPanel);
    map.on("click", onClick);
    map.on("mousemove", onMove);
  }
  if (location.hash) start(undefined);
  else fetch("/tiles.json").then(function (r) { return r.json(); }).then(function (tj) {
    var b = tj.bounds; start([[b[0], b[1]], [b[2], b[3]]]);
  });

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function styleLayersOf(id) {
    return map.getStyle().layers.filter(function (l) {
      return l.metadata && l.metadata["citytwin:layer"] === id;
    }).map(function (l) { return l.id; });
  }

  // Layers panel, grouped by department, with counts.
  function buildPanel() {
    fetch("/collections").then(function (r) { return r.json(); }).then(function (doc) {
      var list = document.getElementById("layers");
      var groups = {};
      doc.collections.forEach(function (c) {
        if (c["citytwin:kind"] !== "entities" || c.id === "entities") return;
        var dept = c["citytwin:department"] || "";
        (groups[dept] = groups[dept] || []).push(c);
      });
      Object.keys(groups).sort().forEach(function (dept) {
        if (dept) list.appendChild(el("li", dept, "dept"));
        groups[dept].forEach(function (c) {
          var li = el("li");
          var box = el("input"); box.type = "checkbox"; box.checked = true; box.id = "layer-" + c.id;
          box.onchange = function () {
            styleLayersOf(c.id).forEach(function (id) {
              map.setLayoutProperty(id, "visibility", box.checked ? "visible" : "none");
            });
          };
          var swatch = el("span", "", "swatch");
          swatch.style.background = (c["citytwin:style"] || {}).color || "#555";
          var label = el("label", lang === "zh" ? c.title : c["citytwin:title_en"]);
          label.htmlFor = box.id;
          var count = el("span", "…", "count");
          li.append(box, swatch, label, count);
          list.appendChild(li);
          fetch("/collections/" + c.id + "/aggregate?by=street").then(function (r) { return r.json(); })
            .then(function (a) { count.textContent = a.total; });
        });
      });
    });
  }
  document.getElementById("density").onchange = function (ev) {
    map.setLayoutProperty("density", "visibility", ev.target.checked ? "visible" : "none");
  };

  // The entity card.
  var card = document.getElementById("card");
  function showCard(code) {
    return fetch("/entities/" + code).then(function (r) {
      return r.json().then(function (body) { return { status: r.status, body: body }; });
    }).then(function (res) {
      card.innerHTML = "";
      var close = el("button", "×", "close"); close.onclick = function () { card.hidden = true; };
      card.appendChild(close);
      if (res.status === 404 || res.status === 422) {
        card.appendChild(el("h3", code)); card.appendChild(el("p", res.body.detail));
        card.hidden = false; return null;
      }
      var feature = res.status === 410 ? res.body.entity : res.body;
      var p = feature.properties;
      card.appendChild(el("h3", (p.name || p.category_name) + (res.status === 410 ? " · " + t.gone : "")));
      var table = el("table");
      function row(k, v) { if (v === null || v === undefined || v === "") return;
        var tr = el("tr"); tr.append(el("td", k), el("td", v)); table.appendChild(tr); }
      row(t.code, p.code);
      row(t.category, p.category + " " + (lang === "zh" ? p.category_name : p.category_name_en));
      row(t.status, t.statuses[p.status] || p.status);
      row(t.condition, t.conditions[p.condition] || p.condition);
      row(t.admin, p.departments.admin); row(t.owner, p.departments.owner);
      row(t.maintainer, p.departments.maintainer);
      row(t.street, p.street && (p.street.name + " " + p.street.code));
      row(t.community, p.community && (p.community.name + " " + p.community.code));
      row(t.grid, p.grid && (p.grid.name + " " + p.grid.code));
      if (p.successors) row(t.successors, p.successors.map(function (s) { return s.code; }).join(", "));
      card.appendChild(table);
      var links = el("p");
      var a1 = el("a", t.open); a1.href = "/e/" + p.code;
      var a2 = el("a", t.history); a2.href = "/entities/" + p.code + "/history";
      links.append(a1, " · ", a2);
      card.appendChild(links);
      card.hidden = false;
      card.dataset.code = p.code;
      return feature;
    });
  }

  function centre(geometry) {
    var pts = [];
    (function walk(c) { if (typeof c[0] === "number") pts.push(c); else c.forEach(walk); })(geometry.coordinates);
    var x = 0, y = 0; pts.forEach(function (q) { x += q[0]; y += q[1]; });
    return [x / pts.length, y / pts.length];
  }

  function flyTo(code) {
    showCard(code).then(function (feature) {
      if (feature) map.flyTo({ center: centre(feature.geometry), zoom: 18 });
    });
  }

  function onClick(ev) {
    var layers = map.getStyle().layers.filter(function (l) {
      return l.metadata && (l.metadata["citytwin:layer"] || l.metadata["citytwin:kind"]);
    }).map(function (l) { return l.id; });
    var hits = map.queryRenderedFeatures(ev.point, { layers: layers });
    var entity = hits.find(function (f) { return f.properties.code; });
    if (entity) { showCard(entity.properties.code); return; }
    var hex = hits.find(function (f) { return f.properties.cell; });
    if (hex) map.flyTo({ center: ev.lngLat, zoom: Math.min(map.getZoom() + 2, 16) });
  }
  function onMove(ev) {
    var n = map.queryRenderedFeatures(ev.point).filter(function (f) {
      return f.properties.code || f.properties.cell; }).length;
    map.getCanvas().style.cursor = n ? "pointer" : "";
  }

  // Search: codes are checked as they are typed; anything else searches names.
  var q = document.getElementById("q"), hint = document.getElementById("hint");
  var results = document.getElementById("results");
  q.addEventListener("input", function () {
    var v = q.value.trim(); results.innerHTML = "";
    if (!/^\d+$/.test(v)) { hint.textContent = ""; hint.className = ""; return; }
    var c = window.citytwinCodes.check(v);
    if (c.valid) { hint.textContent = t.ok; hint.className = "good"; }
    else if (c.partial) { hint.textContent = t.more.replace("{n}", 17 - v.length); hint.className = ""; }
    else { hint.textContent = c.reason === "check_digit" ? t.bad_check : t.bad_digit; hint.className = "bad"; }
  });
  document.getElementById("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = q.value.trim(); if (!v) return;
    if (/^\d+$/.test(v)) { if (window.citytwinCodes.check(v).valid) flyTo(v); return; }
    var filter = "name LIKE '%" + v.replace(/'/g, "''") + "%'";
    fetch("/collections/entities/items?limit=10&properties=code,name,category&filter=" + encodeURIComponent(filter))
      .then(function (r) { return r.json(); }).then(function (doc) {
        results.innerHTML = "";
        if (!doc.features || !doc.features.length) { results.appendChild(el("li", t.notfound)); return; }
        doc.features.forEach(function (f) {
          var li = el("li", f.properties.name + " · " + f.properties.code);
          li.onclick = function () { flyTo(f.properties.code); };
          results.appendChild(li);
        });
      });
  });
})();
