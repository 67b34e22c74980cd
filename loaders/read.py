"""Reading a department's file: any format GDAL reads (through pyogrio), in chunks so memory
stays bounded, with its text decoded right and its coordinates brought to CGCS2000 lon/lat."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyogrio
import shapely
from pyogrio.raw import open_arrow
from pyogrio.raw import read as raw_read

from loaders import encoding as enc
from loaders.errors import ImportRefused
from spatial import crs as crs_mod
from spatial.errors import SpatialError

CHUNK = 50_000
# Field names GDAL's CSV driver is told to look for: lon/lat columns or a WKT column.
_CSV_X = "lng,lon,longitude,x,经度"
_CSV_Y = "lat,latitude,y,纬度"
_CSV_WKT = "WKT,wkt,geometry,geom"
# What GDAL's KML drivers add to every Placemark: its id, times and how Google Earth draws it
# (its description, often a table of the source's fields, is kept).
_KML = ("id", "timestamp", "begin", "end", "altitudeMode", "tessellate",
        "extrude", "visibility", "drawOrder", "icon", "snippet")
_FORMAT_FIELDS = {"KML": _KML, "LIBKML": _KML}




@dataclass
class Source:
    path: Path
    layer: str | None
    driver: str
    encoding: str | None  # what the text is decoded as (None: the driver knows)
    crs: int | str  # an EPSG code, or "gcj02" / "bd09"
    features: int
    fields: list[str]
    file_hash: str
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # GDAL open options and encoding
    read_path: Path | None = None  # what GDAL reads, when not `path` itself (a bare array)

    @property
    def format_fields(self) -> tuple[str, ...]:
        """Fields of the format, not of the data (KML's presentation: extrude, visibility …),
        left out of the attributes unless a mapping names them."""
        return tuple(f for f in self.fields if f in _FORMAT_FIELDS.get(self.driver, ()))

    @property
    def gdal_path(self) -> Path:
        return self.read_path or self.path


@dataclass
class Chunk:
    offset: int  # index of the first feature in the file
    cols: dict[str, np.ndarray]
    geoms: np.ndarray  # shapely, CGCS2000 lon/lat; None where the feature has no geometry


def file_hash(path: Path) -> str:
    """SHA-256 of the file (and of a Shapefile's sidecars; of every file, and its name, in a
    folder such as a FileGDB): what "the same file" means."""
    h = hashlib.sha256()
    parts = [path]
    if path.is_dir():
        parts = sorted(p for p in path.rglob("*") if p.is_file())
        for p in parts:
            h.update(p.relative_to(path).as_posix().encode() + b"\0")
    elif path.suffix.lower() == ".shp":
        parts = sorted(p for p in path.parent.glob(path.stem + ".*")
                       if p.suffix.lower() in (".shp", ".dbf", ".shx", ".prj", ".cpg"))
    for p in parts:
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def detect_dbf_encoding(dbf: Path | IO[bytes], sample_bytes: int = 1 << 20) -> str | None:
    """UTF-8 or GBK for a DBF that came without a `.cpg` (`loaders.encoding.detect` on its
    records). GDAL would read it as Latin-1 and raise nothing, turning 光明路灯 into mojibake.
    `dbf`: a path, or an open binary file (a member of a zip)."""
    with (dbf.open("rb") if isinstance(dbf, Path) else dbf) as f:
        head = f.read(32)
        if len(head) < 32:
            return None
        header_len = int.from_bytes(head[8:10], "little")
        f.read(header_len - 32)  # a zip member cannot seek
        return enc.detect(f, sample_bytes)


def _shapefile_encoding(path: Path, layer: str | None, *, cpg_decides: bool = True
                        ) -> str | None:
    """The detected encoding of a Shapefile (also one inside a .zip) without a `.cpg` (or
    with one, when not `cpg_decides`)."""
    if path.suffix.lower() == ".shp":
        if cpg_decides and _beside(path, ".cpg"):
            return None
        dbf = _beside(path, ".dbf")
        return detect_dbf_encoding(dbf) if dbf else None
    if path.suffix.lower() != ".zip" or not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        names = {n.lower(): n for n in z.namelist()}
        stems = [n[:-4] for n in names if n.endswith(".shp")
                 and (layer is None or Path(n).stem == layer.lower())]
        if len(stems) != 1 or (cpg_decides and stems[0] + ".cpg" in names) or \
                stems[0] + ".dbf" not in names:
            return None
        return detect_dbf_encoding(z.open(names[stems[0] + ".dbf"]))


def parse_crs(value: str | None) -> int | str | None:
    if value is None or value == "":
        return None
    low = value.strip().lower().replace("-", "")
    if low in crs_mod.OFFSET_CRS:
        return low
    try:
        return crs_mod.epsg(value)
    except SpatialError as e:
        raise ImportRefused(f"--crs {value!r}: {e}; or gcj02 / bd09") from None


def _sidecars(path: Path) -> None:
    """A Shapefile is several files; GDAL's words for a missing one do not say which."""
    if path.suffix.lower() != ".shp":
        return
    for suffix, what in ((".dbf", "its attributes, source ids among them"),
                         (".shx", "the index of its shapes")):
        if not _beside(path, suffix):
            raise ImportRefused(f"{path.name} has no {path.stem}{suffix} beside it ({what}): "
                                "copy all of the Shapefile's files (.shp .shx .dbf .prj .cpg)")


def _unreadable(path: Path, e: Exception) -> str:
    """Why GDAL cannot open a file, in words that say what to do."""
    if path.suffix.lower() == ".zip":
        if not zipfile.is_zipfile(path):
            return f"{path.name} is not a zip archive (damaged, or not fully downloaded?)"
        with zipfile.ZipFile(path) as z:
            members = [n for n in z.namelist() if not n.endswith("/")]
        return (f"{path.name} holds no layer GDAL reads (a Shapefile's .shp with its .dbf "
                f"and .shx, a .gpkg, a .gdb folder …); it holds: "
                f"{', '.join(members[:10])}{' …' if len(members) > 10 else ''}")
    return f"{path.name}: GDAL cannot read it: {e}"


def _text_copy(path: Path, encoding: str | None, notes: list[str]
               ) -> tuple[Path | None, str | None]:
    """For a text format: a UTF-8 copy when its text is not UTF-8 (given, or detected as
    GBK) or it is a bare JSON array of Features; the encoding it was read as."""
    if encoding is not None:
        encoding = enc.checked(encoding)
    if path.suffix.lower() not in enc.TEXT_SUFFIXES:
        return None, encoding
    wrap = enc.bare_array(path)
    found = enc.detect_text_file(path)
    _contradicted(path, encoding, found)
    if encoding is None and found and not enc.is_utf8(found):
        encoding = found
        notes.append(f"the text was detected as {found}")
    if wrap:
        notes.append("a bare JSON array of Features: read as a FeatureCollection")
    if wrap or not enc.is_utf8(encoding):
        return enc.utf8_copy(path, encoding or "utf-8", wrap=wrap), encoding
    return None, encoding


_NOT_HERE = ("{name}: --encoding applies to Shapefiles and to text files (CSV, GeoJSON, KML) "
             "given as they are; this format stores UTF-8 (a text file in a zip: unzip it)")


def _contradicted(path: Path, encoding: str | None, found: str | None) -> None:
    if encoding is not None and found is not None and enc.contradicts(encoding, found):
        raise ImportRefused(f"{path.name}: its text reads as {found}, not {encoding}: give "
                            f"--encoding {found}, or none")


def _beside(path: Path, suffix: str) -> Path | None:
    """A Shapefile's part (`.dbf`, `.cpg` …) beside it, in either case."""
    return next((p for p in (path.with_suffix(suffix), path.with_suffix(suffix.upper()))
                 if p.exists()), None)


def _options(path: Path) -> dict[str, Any]:
    if path.suffix.lower() in (".csv", ".tsv"):
        return {"X_POSSIBLE_NAMES": _CSV_X, "Y_POSSIBLE_NAMES": _CSV_Y,
                "GEOM_POSSIBLE_NAMES": _CSV_WKT, "KEEP_GEOM_COLUMNS": "NO",
                "AUTODETECT_TYPE": "NO"}
    return {}


def open_source(path: Path, *, layer: str | None = None, crs: str | None = None,
                encoding: str | None = None) -> Source:
    """Describe a file and decide how to read it; refuses what cannot be read safely."""
    path = Path(path)
    if not path.exists():
        raise ImportRefused(f"{path}: no such file")
    notes: list[str] = []
    _sidecars(path)
    read_path, encoding = _text_copy(path, encoding, notes)
    gdal_path = read_path or path
    try:
        layers = pyogrio.list_layers(gdal_path)
    except Exception as e:  # noqa: BLE001 - GDAL's errors are many; the message is the point
        raise ImportRefused(_unreadable(path, e)) from None
    names = [str(n) for n in layers[:, 0]]
    if layer is None and len(layers) > 1:
        raise ImportRefused(f"{path.name} has {len(layers)} layers ({', '.join(names)}): "
                            "choose one with --layer")
    if layer is not None and layer not in names:
        raise ImportRefused(f"{path.name} has no layer {layer!r}: its layers are "
                            f"{', '.join(names)}")
    opts = _options(path)
    if read_path is None and path.suffix.lower() not in enc.TEXT_SUFFIXES:
        if encoding is None:
            encoding = _shapefile_encoding(path, layer)
            if encoding:
                notes.append(f"no .cpg: the text was detected as {encoding}")
        else:
            _contradicted(path, encoding, _shapefile_encoding(path, layer, cpg_decides=False))
            if path.suffix.lower() == ".shp" and _beside(path, ".cpg"):
                notes.append(f"--encoding {encoding} overrides the file's .cpg")
    if encoding and read_path is None:
        opts["encoding"] = encoding
    try:
        info = pyogrio.read_info(gdal_path, layer=layer, **opts)
    except Exception as e:  # noqa: BLE001 - GDAL's errors are many; the message is the point
        raise ImportRefused(f"{path.name}: GDAL cannot read it: {e}") from None
    if "encoding" in opts and info["driver"] != "ESRI Shapefile" and \
            not enc.is_utf8(opts["encoding"]):  # GeoPackage, FileGDB, a zip of a text file
        raise ImportRefused(_NOT_HERE.format(name=path.name))
    where = f"{path.name}{f' (layer {layer})' if layer else ''}"
    if info["geometry_type"] is None:
        raise ImportRefused(
            f"{where} has no geometry"
            + (f": a CSV needs a lon and a lat column ({_or(_CSV_X)}; {_or(_CSV_Y)}) or a WKT "
               f"column ({_or(_CSV_WKT)}); its columns are {', '.join(map(str, info['fields']))}"
               if info["driver"] == "CSV" else ": a table of attributes only"))
    if info["features"] == 0:
        raise ImportRefused(f"{where} has no features: nothing to import (an empty file "
                            "never retires what the dataset holds)")
    declared = parse_crs(crs)
    if declared is not None:
        resolved: int | str = declared
        if info["crs"]:
            notes.append(f"--crs {crs} overrides the file's {info['crs']}")
    elif info["crs"]:
        resolved = crs_mod.epsg(info["crs"])
    else:
        bounds = info.get("total_bounds")
        if bounds is None or not np.isfinite(bounds).all():
            bounds = _first_bounds(gdal_path, layer, opts)
        if bounds is None or not np.isfinite(bounds).all():
            raise ImportRefused(
                f"{path.name}: the first features have no geometry that can be read (empty "
                "or non-numeric coordinate columns?)")
        if -180 <= bounds[0] <= bounds[2] <= 180 \
                and -90 <= bounds[1] <= bounds[3] <= 90:
            resolved = 4326
            notes.append("no CRS in the file: the coordinates are lon/lat, read as WGS84 "
                         "(say --crs gcj02 if they come from a Chinese web map)")
        elif -90 <= bounds[0] <= bounds[2] <= 90 and -180 <= bounds[1] <= bounds[3] <= 180:
            raise ImportRefused(
                f"{path.name}: its x values ({bounds[0]:g} to {bounds[2]:g}) are latitudes "
                f"and its y values ({bounds[1]:g} to {bounds[3]:g}) longitudes: are the "
                "lon and lat columns swapped?")
        else:
            raise ImportRefused(
                f"{path.name} has no CRS (no .prj?) and its coordinates are not lon/lat "
                f"(x {bounds[0]:g} to {bounds[2]:g}, y {bounds[1]:g} to {bounds[3]:g}): give "
                "--crs, e.g. --crs EPSG:4547")
    return Source(path, layer, info["driver"], encoding or info.get("encoding"), resolved,
                  int(info["features"]), [str(f) for f in info["fields"]], file_hash(path),
                  notes, opts, read_path)


def _or(names: str) -> str:
    first, _, last = names.rpartition(",")
    return f"{first.replace(',', ', ')} or {last}"


def _first_bounds(path: Path, layer: str | None, opts: dict[str, Any]) -> Any:
    try:
        _, _, geom, _ = raw_read(path, layer=layer, max_features=1000, **opts)
    except UnicodeDecodeError:
        raise ImportRefused(f"{path.name}: its text is not UTF-8: give its encoding, e.g. "
                            "--encoding GBK") from None
    g = shapely.from_wkb(geom)
    return shapely.total_bounds(g) if len(g) else None


def to_storage(geoms: np.ndarray, src: int | str) -> np.ndarray:
    """Geometries in the source CRS → CGCS2000 lon/lat; offsets first, never H3 before."""
    if isinstance(src, str):
        return crs_mod.offset_to_storage(geoms, src)
    if src in (crs_mod.STORAGE, 4326):  # 4490 ↔ 4326 is a no-op at this precision
        return geoms

    def xy(c: np.ndarray) -> np.ndarray:
        a, b = crs_mod.transform_xy(c[:, 0], c[:, 1], src)
        return np.column_stack([a, b])
    return shapely.transform(geoms, xy)


def chunks(src: Source, size: int = CHUNK) -> Iterator[Chunk]:
    """The features in order, `size` at a time, geometries already in the storage CRS.

    One pass over the file as an Arrow stream: a million GeoPackage points in 0.35 s, where
    reading them 50,000 at a time (`skip_features`) took 2.1 s — and a CSV or GeoJSON was
    scanned again from its start for every chunk."""
    offset = 0
    with open_arrow(src.gdal_path, layer=src.layer, batch_size=size, use_pyarrow=True,
                    **src.options) as (meta, reader):
        fields = [str(f) for f in meta["fields"]]
        for batch in reader:
            n = batch.num_rows
            if n == 0:
                continue
            names = batch.schema.names
            geom = [i for i, name in enumerate(names) if name not in fields]
            wkb = batch.column(geom[0]).to_numpy(zero_copy_only=False) if geom else None
            geoms = shapely.from_wkb(wkb) if wkb is not None else np.full(n, None)
            ok = ~shapely.is_missing(geoms)
            geoms[ok] = to_storage(geoms[ok], src.crs)
            cols = {f: _values(batch.column(names.index(f)), f, src) for f in fields}
            yield Chunk(offset, cols, geoms)
            offset += n


def _values(column: Any, name: str, src: Source) -> np.ndarray:
    """An Arrow column as the numpy array the mapping reads: strings and binaries as objects,
    numbers and times as numpy types; integers with gaps as Python ints and None (numpy would
    make them floats: 3 → 3.0). Text that is not in the encoding it was read as (a `.cpg`
    that says UTF-8 over GBK bytes) is refused with the field's name, not a decoding error."""
    if column.null_count and pa.types.is_integer(column.type):
        return np.array(column.to_pylist(), dtype=object)
    try:
        return column.to_numpy(zero_copy_only=False)
    except pa.ArrowException:
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            raise
        how = ("(a wrong or missing .cpg?): give its encoding, e.g. --encoding GBK"
               if src.driver == "ESRI Shapefile" or src.read_path is not None or
               src.path.suffix.lower() in enc.TEXT_SUFFIXES else
               "(a text file in a zip: unzip it and give --encoding)")
        raise ImportRefused(f"{src.path.name}: the text of field {name!r} is not "
                            f"{src.encoding or 'UTF-8'} {how}") from None
