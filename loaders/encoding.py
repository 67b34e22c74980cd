"""The text encoding of a department's file: found from its bytes when the file does not say
(GBK or UTF-8 — a GBK file read as anything else turns 光明路灯 into mojibake without an
error), and a UTF-8 copy of a text file that is not UTF-8, because GDAL reads CSV, GeoJSON
and KML as UTF-8 whatever they hold and pyogrio's Arrow reader takes no other encoding."""

from __future__ import annotations

import atexit
import codecs
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO

from loaders.errors import ImportRefused

#: Formats that are text, which a UTF-8 copy can fix; a Shapefile's DBF is decoded by GDAL
#: itself, and GeoPackage, FlatGeobuf and FileGDB store UTF-8 by their specifications.
TEXT_SUFFIXES = (".csv", ".tsv", ".json", ".geojson", ".geojsonl", ".geojsons", ".kml")
_BOM = b"\xef\xbb\xbf"
_XML_DECLARED = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)["'][^"']*["']""")
_SIDECARS = (".prj", ".csvt")


def checked(name: str) -> str:
    """The encoding's canonical name ("gbk", "utf-8"); refused when Python knows no such."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ImportRefused(f"--encoding {name!r} is not an encoding: e.g. GBK, GB18030, "
                              "UTF-8") from None


def is_utf8(name: str | None) -> bool:
    return name is None or checked(name) in ("utf-8", "ascii")


def contradicts(given: str, found: str) -> bool:
    """Whether the bytes (`detect`: UTF-8 or GBK) plainly are not in the encoding given: text
    that decodes as strict UTF-8 is UTF-8, and text that does not is not (a GBK detection may
    be another legacy encoding — Big5 — so it contradicts only a claim of UTF-8)."""
    return (found == "UTF-8") != is_utf8(given)


def detect(f: IO[bytes], stretch: int = 1 << 20) -> str | None:
    """UTF-8 or GBK from the bytes to come (None: plain ASCII, or neither). The first stretch
    with any non-ASCII byte decides — a layer's first records may all be plain ASCII, its
    Chinese names further down: strict UTF-8 first (GBK text is almost never valid UTF-8),
    then GBK."""
    while (body := f.read(stretch)).isascii():
        if len(body) < stretch:
            return None
    # A stretch may cut a multi-byte character at its end: an incremental decoder keeps such a
    # tail for later instead of failing on it.
    final = len(body) < stretch
    for encoding in ("UTF-8", "GBK"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(body, final=final)
            return encoding
        except UnicodeDecodeError:
            continue
    return None


def detect_text_file(path: Path) -> str | None:
    with path.open("rb") as f:
        if f.read(3) != _BOM:
            f.seek(0)
        else:
            return "UTF-8"
        return detect(f)


def bare_array(path: Path) -> bool:
    """A GeoJSON file that is a bare array of Features (GDAL recognises only a collection)."""
    if path.suffix.lower() not in (".json", ".geojson"):
        return False
    with path.open("rb") as f:
        return f.read(4096).lstrip(_BOM + b" \t\r\n").startswith(b"[")


def utf8_copy(path: Path, encoding: str, *, wrap: bool) -> Path:
    """A UTF-8 copy of a text file (decoded as `encoding`), its bare array of Features `wrap`ped
    in a FeatureCollection; made by streaming, never read whole, in a temporary folder removed
    when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="citytwin-import-"))
    atexit.register(shutil.rmtree, folder, True)
    out_path = folder / (path.stem + (".geojson" if wrap else path.suffix))
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with path.open("rb") as f, out_path.open("wb") as out:
        if f.read(3) != _BOM:
            f.seek(0)
        if wrap:
            out.write(b'{"type": "FeatureCollection", "features": ')
        try:
            while block := f.read(1 << 20):
                text = decoder.decode(block)
                if not done:  # an XML declaration that names the old encoding (KML)
                    text = _XML_DECLARED.sub(r'\1"UTF-8"', text, count=1)
                out.write(text.encode("utf-8"))
                done += len(block)
            out.write(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as e:
            raise ImportRefused(
                f"{path.name} is not {encoding} text (near byte {done + max(e.start, 0):,}): "
                "give its encoding with --encoding, e.g. GBK or UTF-8") from None
        if wrap:
            out.write(b"}")
    for sidecar in path.parent.glob(path.stem + ".*"):  # its .prj, a CSV's .csvt
        if sidecar.suffix.lower() in _SIDECARS:
            shutil.copyfile(sidecar, folder / (out_path.stem + sidecar.suffix))
    return out_path
