"""Files on disk: each department's tables in its format (Shapefile GBK in EPSG:4547, GeoPackage
in EPSG:4490, GeoJSON in EPSG:4326, CSV with GCJ-02 lon/lat or WKT), the admin areas, the base
map and the truth file. Byte-identical for the same input: fixed DBF and GeoPackage dates."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyogrio.raw import write
from shapely.geometry.base import BaseGeometry

from sample_gis import coords
from sample_gis.areas import AdminArea
from sample_gis.network import Network
from sample_gis.sources import Table


@contextlib.contextmanager
def fixed_date(day: np.datetime64) -> Iterator[None]:
    """GeoPackages record when they were written (gpkg_contents.last_change); pin it."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": f"{day}T00:00:00.000Z"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _gdal_columns(t: Table) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    types = t.source.types
    names, data, masks = [], [], []
    for name, col in t.cols.items():
        mask = None
        if types.get(name) == "int":
            mask = np.equal(col, None)
            col = np.where(mask, 0, col).astype(np.int32)
        names.append(name)
        data.append(col)
        masks.append(mask)
    return names, data, masks


def write_table(t: Table, root: Path, day: np.datetime64) -> list[Path]:
    """Write one table; returns the files written (for a Shapefile, its sidecars too)."""
    src, spec = t.source, t.spec
    path = root / spec.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if src.driver == "CSV":
        _write_csv(t, path)
        return [path]
    if spec.kind == "point":
        geom = shapely.points(t.x, t.y)
    else:
        geom = t.geom
    gtype = {"point": "Point", "line": "LineString", "polygon": "Polygon"}[spec.kind]
    names, data, masks = _gdal_columns(t)
    opts: dict = {}
    if src.driver == "ESRI Shapefile":
        opts = {"encoding": src.encoding,
                # RESIZE: text fields as wide as their longest value, not 80 bytes each
                "layer_options": {"DBF_DATE_LAST_UPDATE": str(day), "RESIZE": "YES"}}
    else:
        geom = coords.geoms_to_lonlat(geom)
        if src.driver == "GeoJSON":
            opts = {"layer_options": {"COORDINATE_PRECISION": 8}}
    write(str(path), shapely.to_wkb(geom), data, names, field_mask=masks,
          layer=spec.layer or path.stem, driver=src.driver, geometry_type=gtype,
          crs=f"EPSG:{src.crs}", **opts)  # a new layer in an existing GeoPackage is added
    if src.driver != "ESRI Shapefile":
        return [path]
    if spec.missing:  # the department forgot this sidecar
        path.with_suffix(spec.missing).unlink()
    return sorted(p for p in path.parent.glob(path.stem + ".*"))


def _text(col: np.ndarray) -> list[str]:
    if col.dtype.kind == "f":
        return [f"{v:.6f}" for v in col]
    if col.dtype.kind == "M":
        s = np.datetime_as_string(col)
        return ["" if v == "NaT" else v.replace("T", " ") for v in s]
    return ["" if v is None else str(v) for v in col]


def _write_csv(t: Table, path: Path) -> None:
    cols = [_text(c) for c in t.cols.values()]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(t.cols))
        w.writerows(zip(*cols, strict=True))


def _multi(geoms: Iterable[BaseGeometry], kind: type) -> np.ndarray:
    """Promote to the multi type (a layer has one geometry type)."""
    return np.array([kind(list(shapely.get_parts(g))) for g in geoms], dtype=object)


def write_areas(path: Path, areas: tuple[AdminArea, ...]) -> None:
    """District, streets, communities and grids in one layer, EPSG:4490, for the registry."""
    geom = _multi([a.geometry for a in areas], shapely.MultiPolygon)
    cols = {"code": [a.code for a in areas], "level": [a.level for a in areas],
            "name": [a.name for a in areas], "parent_code": [a.parent_code for a in areas],
            "code_origin": [a.code_origin for a in areas]}
    write(str(path), shapely.to_wkb(geom), [np.array(v, dtype=object) for v in cols.values()],
          list(cols), layer="admin_area", driver="GPKG", geometry_type="MultiPolygon",
          crs="EPSG:4490")


def write_basemap(path: Path, net: Network) -> None:
    """Roads, rivers and parks for the map (context, not entities), EPSG:4490."""
    r = net.roads
    layers = [
        ("roads", "LineString", r.edges, {
            "name": np.array(r.names, dtype=object)[r.edge_road],
            "class": np.where(r.edge_cls == 0, "arterial", "local").astype(object)}),
        ("rivers", "MultiLineString", _multi(net.rivers, shapely.MultiLineString), {
            "name": np.array(net.river_names, dtype=object),
            "width_m": net.river_width.astype(np.float64)}),
        ("parks", "MultiPolygon", _multi(net.parks, shapely.MultiPolygon), {
            "name": np.array(net.park_names, dtype=object)}),
    ]
    for layer, gtype, geoms, cols in layers:
        write(str(path), shapely.to_wkb(coords.geoms_to_lonlat(geoms)), list(cols.values()),
              list(cols), layer=layer, driver="GPKG", geometry_type=gtype, crs="EPSG:4490")


TRUTH_FIELDS = ["entity", "category", "in_v1", "in_v2", "lon", "lat", "lon_v2", "lat_v2",
                "sources", "wkt"]


def write_truth(path: Path, chunks: Iterable[dict[str, list[str]]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(TRUTH_FIELDS)
        for rows in chunks:
            w.writerows(zip(*(rows[k] for k in TRUTH_FIELDS), strict=True))
