"""Byte-deterministic writers for delimited text, Excel and SPSS files.

Why our own: ``pandas.to_csv`` is too slow for a million rows of strings and cannot add a BOM and
cp1252 in one pass; openpyxl stamps the save time into ``docProps/core.xml`` and the zip entries;
ReadStat stamps the creation date and time into the ``.sav`` header. Each writer here removes
that nondeterminism so the same seed gives byte-identical files.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

S = np.dtypes.StringDType()

#: Fixed timestamp for every file container (the day the default study was designed).
FIXED_ZIP_TIME = (2026, 11, 22, 0, 0, 0)
FIXED_ISO = "2026-11-22T00:00:00Z"


def as_str(values) -> np.ndarray:
    """A numpy StringDType array (vectorised string operations)."""
    arr = np.asarray(values)
    return arr if arr.dtype == S else arr.astype(S)


def quote_needed(col: np.ndarray, sep: str) -> np.ndarray:
    """Quote cells holding the separator or a quote (RFC 4180 minimal quoting, as Excel does)."""
    need = (np.strings.find(col, sep) >= 0) | (np.strings.find(col, '"') >= 0)
    if not need.any():
        return col
    out = col.copy()
    sub = np.strings.replace(col[need], '"', '""')
    out[need] = np.strings.add(np.strings.add('"', sub), '"')
    return out


def delimited_text(columns: dict[str, np.ndarray], *, sep: str, eol: str = "\n") -> str:
    """The text of a delimited file with a header row; cells are strings ('' = blank)."""
    names = list(columns)
    lines = None
    for name in names:
        col = quote_needed(as_str(columns[name]), sep)
        lines = col if lines is None else np.strings.add(np.strings.add(lines, sep), col)
    body = eol.join(lines.tolist()) if lines is not None and len(lines) else ""
    return sep.join(names) + eol + body + (eol if body else "")


def write_delimited(path: Path, columns: dict[str, np.ndarray], *, sep: str = ",", encoding: str = "utf-8",
                    bom: bool = False, eol: str = "\n") -> None:
    text = delimited_text(columns, sep=sep, eol=eol)
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    Path(path).write_bytes(data)


def normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip (xlsx) with fixed entry times and fixed docProps dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                text = content.decode("utf-8")
                text = re.sub(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)",
                              lambda m: m.group(1) + FIXED_ISO + m.group(3), text)
                content = text.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, content)
    return out.getvalue()


def write_xlsx(path: Path, *, sheet: str, note: str | None, header: list[str], rows: list[list]) -> None:
    """One-sheet workbook: optional note row, header row, data rows; byte-deterministic."""
    import datetime

    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    fixed = datetime.datetime(2026, 11, 22)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "svcresearch simulate"
    ws = wb.create_sheet(sheet)
    if note is not None:
        ws.append([note])
    ws.append(header)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    Path(path).write_bytes(normalise_zip(buf.getvalue()))


# SPSS system-file header (IBM "SPSS Statistics System File Format"): rec_type(4) prod_name(60)
# layout_code(4) nominal_case_size(4) compression(4) weight_index(4) ncases(4) bias(8), then
# creation_date[9] "dd mmm yy" at byte 92 and creation_time[8] "hh:mm:ss" at byte 101.
_SAV_DATE_OFFSET = 92
_SAV_FIXED_DATETIME = b"22 Nov 2600:00:00"


def write_sav(path: Path, frame, *, value_labels: dict, variable_labels: dict, missing_ranges: dict) -> None:
    """Write an SPSS .sav with value labels; the header's creation date/time are fixed."""
    import pyreadstat

    pyreadstat.write_sav(frame, str(path), column_labels=variable_labels,
                         variable_value_labels=value_labels, missing_ranges=missing_ranges,
                         file_label="svcresearch simulated survey (paper)")
    data = bytearray(Path(path).read_bytes())
    if data[:4] not in (b"$FL2", b"$FL3"):
        raise RuntimeError(f"{path}: unexpected SPSS header {bytes(data[:4])!r}")
    data[_SAV_DATE_OFFSET:_SAV_DATE_OFFSET + len(_SAV_FIXED_DATETIME)] = _SAV_FIXED_DATETIME
    Path(path).write_bytes(bytes(data))
