"""Readers for the raw files of a study: coding sheets, surveys, operations logs and BORIS exports.

Why our own readers when pandas reads CSV, Excel and SPSS: field files need things no single
library call gives together, and the cleaner depends on all of them:

* **originals, not conversions** — every cell comes back as the string that was written (no type
  guessing, no stripping), because the normaliser counts label variants (`` Yes``, ``y``, ``kyllä``)
  and quarantine must show the original value;
* **where each value came from** — ``source_row`` is the line number a text editor or spreadsheet
  shows (note rows, header and blank lines counted, multi-line quoted cells handled), so every
  quarantined value points at its place in the raw file;
* **sniffing** of encoding (UTF-8, UTF-8 with BOM, cp1252), delimiter (``,`` ``;`` tab ``|``), the
  real header row below note/title rows, and decimal commas (reported only);
* **one plain error line** (:class:`~svcresearch._validation.InputError` naming the file) for every
  unusable input instead of a parser traceback.

Parsing itself is delegated to ``pyarrow.csv`` (C++, multi-threaded; all columns read as strings),
``openpyxl`` (read-only mode) and ``pyreadstat``; we only add the sniffing and bookkeeping around
them. Line numbers come from a vectorised scan of newline and quote positions (numpy), so a
1,000,000-row file still reads in about the time of a bare ``pyarrow.csv.read_csv``.

BORIS (Behavioral Observation Research Interactive Software) has no reader outside BORIS itself,
which is a Qt GUI application; :func:`read_boris` implements the export layouts of BORIS v7 to v9
and the ``.boris`` project format as documented in DESIGN.md §6 and checked against real files
exported by BORIS (``shared/fixtures/boris``).
"""
from __future__ import annotations

import csv
import datetime as _dt
import io as _io
import json
import math
import re
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from svcresearch._validation import InputError, check_number, check_option, check_type

__all__ = ["read_table", "read_boris", "BORIS_COLUMNS"]

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
EXCEL_EXTENSIONS = (".xlsx", ".xlsm")
SPSS_EXTENSIONS = (".sav", ".zsav")
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS + EXCEL_EXTENSIONS + SPSS_EXTENSIONS
SEPARATORS = (",", ";", "\t", "|")
ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
_STRING = pd.StringDtype()
# How many records the sniffers look at: enough for a note block plus a solid run of data rows.
_SNIFF_RECORDS = 200
_SNIFF_BYTES = 256 * 1024
_NONSPACE = re.compile(rb"\S")

BORIS_COLUMNS = [
    "observation_id", "subject", "behavior", "behavior_type", "start_s", "stop_s", "duration_s",
    "modifiers", "observation_duration_s", "source_file", "source_row", "unparsed_time",
]


# --------------------------------------------------------------------------------------------
# helpers shared by the readers
# --------------------------------------------------------------------------------------------
def _check_path(path: Any, *, name: str = "path") -> Path:
    check_type(name, path, (str, Path), what="a file path (str or pathlib.Path)")
    p = Path(path)
    if not p.exists():
        raise InputError("file not found; expected an existing file", file=p)
    if p.is_dir():
        raise InputError("is a folder; expected a file", file=p)
    return p


def _decode(raw: bytes, *, file: Path, encoding: str | None,
            by_line: bool = False) -> tuple[bytes, str, list[int]]:
    """Return (UTF-8 bytes without BOM, encoding name, cp1252 line numbers) for ``raw``.

    Without ``encoding``: a BOM means UTF-8; else UTF-8 if the first ``_SNIFF_BYTES`` are valid
    UTF-8 (the rest is validated by pyarrow while parsing, and :func:`_read_text` calls again with
    ``by_line=True`` when it fails), else UTF-8 decided line by line (:func:`_decode_by_line`):
    only the lines that are not valid UTF-8 are read as cp1252 — the encoding Finnish/Western
    Excel writes "CSV" in — and their numbers are returned. A valid UTF-8 line is therefore
    never misread as cp1252, and one cp1252 line does not turn a UTF-8 file into mojibake.
    """
    if b"\x00" in raw[:_SNIFF_BYTES]:
        raise InputError("contains NUL bytes (a binary file?); expected a text file (CSV/TSV)", file=file)
    if encoding is not None:
        check_type("encoding", encoding, str)
        enc = encoding.lower().replace("_", "-")
        try:
            text = raw.decode(enc)
        except LookupError:
            raise InputError(f"unknown encoding {encoding!r}; expected e.g. one of {', '.join(ENCODINGS)}",
                             file=file) from None
        except UnicodeDecodeError as err:
            raise InputError(f"cannot be decoded as {encoding} (byte {err.start}); "
                             f"expected a text file in that encoding", file=file) from None
        if enc in ("utf-8", "utf8", "utf-8-sig"):
            return (raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw), enc, []
        return text.removeprefix("\ufeff").encode("utf-8"), enc, []
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            raw[3:_SNIFF_BYTES].decode("utf-8")
        except UnicodeDecodeError as err:
            cut = len(raw) > _SNIFF_BYTES and err.start >= _SNIFF_BYTES - 3 - 4
            if not cut:  # a character cut by the window end is fine
                line = raw.count(b"\n", 0, err.start + 3) + 1
                raise InputError(f"starts with a UTF-8 BOM but is not valid UTF-8 (byte {err.start + 3}, "
                                 f"line {line}); expected UTF-8, UTF-8 with BOM or cp1252 text",
                                 file=file) from None
        return raw[3:], "utf-8-sig", []
    if not by_line:
        try:
            raw[:_SNIFF_BYTES].decode("utf-8")
            return raw, "utf-8", []
        except UnicodeDecodeError as err:
            if len(raw) > _SNIFF_BYTES and err.start >= _SNIFF_BYTES - 4:
                return raw, "utf-8", []
    return _decode_by_line(raw, file=file)


_DECODE_CHUNK = 1 << 20


def _decode_by_line(raw: bytes, *, file: Path) -> tuple[bytes, str, list[int]]:
    """UTF-8 line by line; a line that is not valid UTF-8 is decoded as cp1252.

    Returns (UTF-8 bytes, encoding, 1-based numbers of the cp1252 lines). The encoding is
    ``'cp1252'`` when no line holds a non-ASCII UTF-8 character (a plain cp1252 file: every
    non-ASCII line was cp1252), else ``'utf-8'`` and the cp1252 lines are the mixed ones.
    Chunks of about 1 MiB ending at a line end are validated whole; only a chunk that fails is
    split into lines, so the cost is one UTF-8 validation plus a Python loop over the lines of
    the failing chunks.
    """
    nl = b"\n" if b"\n" in raw else b"\r"  # classic Mac line ends
    parts: list[bytes] = []
    cp_lines: list[int] = []
    utf8_non_ascii = False
    pos, line, n = 0, 1, len(raw)
    while pos < n:
        end = raw.find(nl, min(pos + _DECODE_CHUNK, n))
        end = n if end < 0 else end + 1
        chunk = raw[pos:end]
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            parts.append(chunk)
            utf8_non_ascii = utf8_non_ascii or not chunk.isascii()
            line += chunk.count(nl)
            pos = end
            continue
        for k, text in enumerate(chunk.split(nl)):
            if k:
                parts.append(nl)
            try:
                text.decode("utf-8")
                parts.append(text)
                utf8_non_ascii = utf8_non_ascii or not text.isascii()
            except UnicodeDecodeError:
                try:
                    parts.append(text.decode("cp1252").encode("utf-8"))
                except UnicodeDecodeError as err:
                    raise InputError(f"cannot be decoded: line {line + k}, byte 0x{text[err.start]:02x} is "
                                     "invalid in UTF-8 and cp1252; expected UTF-8, UTF-8 with BOM or cp1252 text",
                                     file=file) from None
                cp_lines.append(line + k)
        line += chunk.count(nl)
        pos = end
    if not cp_lines:
        return raw, "utf-8", []
    if not utf8_non_ascii:
        return b"".join(parts), "cp1252", []
    return b"".join(parts), "utf-8", cp_lines


def _mixed_info(cp_lines: list[int]) -> dict:
    """``read_info["mixed_encoding_lines"]``: how many lines of a UTF-8 file were cp1252, and the first."""
    return {"count": len(cp_lines), "first_lines": [int(x) for x in cp_lines[:10]]}


def _line_offset(ubuf: bytes, line: int) -> int:
    """Byte offset where 1-based ``line`` starts, or -1 when the text has fewer lines."""
    pos = 0
    for _ in range(line - 1):
        pos = ubuf.find(b"\n", pos) + 1
        if pos == 0:
            return -1
    return pos


def _records(text: str, sep: str, limit: int | None = None) -> list[tuple[int, list[str]]]:
    """Parse ``text`` with the csv module; return (1-based start line, fields) per record.

    Blank lines are skipped (they are counted in the line numbers).
    """
    out: list[tuple[int, list[str]]] = []
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=sep, quotechar='"', doublequote=True,
                        strict=False)
    last_end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise _RaggedError(last_end + 1, str(err)) from None
        start = last_end + 1
        last_end = reader.line_num
        if not row or (len(row) == 1 and row[0] == ""):
            continue
        out.append((start, row))
        if limit is not None and len(out) >= limit:
            break
    return out


class _RaggedError(Exception):
    def __init__(self, line: int, msg: str):
        super().__init__(msg)
        self.line = line


def _sniff_sep(text: str, *, default: str) -> str:
    """Pick the delimiter that splits the first records into the most rows of one common width."""
    sample = text[:_SNIFF_BYTES]
    if len(text) > _SNIFF_BYTES:  # drop the possibly cut last line
        sample = sample[: sample.rfind("\n") + 1] or sample
    best, best_score = default, (0.0, 0, False, 0)
    for sep in SEPARATORS:
        try:
            recs = _records(sample, sep, limit=_SNIFF_RECORDS)
        except _RaggedError:
            continue
        widths = [len(r) for _, r in recs]
        if not widths:
            continue
        width, freq = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        # Share of records of the modal width (a wrong delimiter splits quoted text unevenly),
        # then their number, then the default for the extension, then the wider split.
        score = (freq / len(widths), freq, sep == default, width)
        if score > best_score:
            best, best_score = sep, score
    return best


def _is_blank(cell: Any) -> bool:
    return cell is None or cell == ""


def _find_header(rows: list[list[Any]]) -> int:
    """Index (into ``rows``) of the header: the first row as wide as the table and (nearly) full.

    The table width is the most common number of fields. Note/title rows above the header
    ("Coding sheet v2 – do not edit") are either narrower or, when a spreadsheet padded them
    with empty cells, mostly empty; a header has a name in (nearly) every column.
    """
    filled = [sum(not _is_blank(c) for c in r) for r in rows]
    widths = [len(r) for r, f in zip(rows, filled) if f]
    if not widths:
        return 0
    width = Counter(widths).most_common(1)[0][0]
    need = width if width <= 2 else max(2, math.ceil(width / 2))
    for i, r in enumerate(rows):
        if len(r) >= width and filled[i] >= need:
            return i
    return next(i for i, f in enumerate(filled) if f)


def _check_columns(names: list[str], *, file: Path, where: str = "") -> None:
    counts = Counter(n for n in names if n != "")
    dup = [n for n, c in counts.items() if c > 1]
    if dup:
        raise InputError(f"duplicate column name(s) {', '.join(map(repr, dup))}{where}; "
                         "expected every header cell to be unique", file=file)
    for reserved in ("source_row", "source_sheet"):
        if reserved in counts:
            raise InputError(f"has a column named {reserved!r}{where}, a name the reader adds itself; "
                             "expected it to be renamed", file=file)


def _drop_unnamed(df: pd.DataFrame, names: list[str], *, file: Path, where: str = "") -> pd.DataFrame:
    """Drop columns with an empty header when they hold nothing; refuse them when they hold values."""
    keep = []
    for pos, (col, name) in enumerate(zip(df.columns, names)):
        if name == "":
            if df[col].notna().any():
                raise InputError(f"column {pos + 1} has values but no header{where}; "
                                 "expected a name in the header row", file=file)
            continue
        keep.append(col)
    out = df[keep]
    out.columns = [n for n in names if n != ""]
    return out


def _detect_decimal(df: pd.DataFrame) -> str:
    """'.' or ',' from which number pattern dominates a sample of cells (report only)."""
    sample = df.head(2000)
    comma = dot = 0
    for col in sample.columns:
        s = sample[col].dropna()
        if s.empty:
            continue
        s = s.astype(str).str.strip()
        # 12,000 / 1.234 could be either mark (thousands or decimals): no evidence
        ambiguous = s.str.fullmatch(r"[-+]?[1-9]\d{0,2}[.,]\d{3}")
        comma += int((s.str.fullmatch(r"[-+]?\d+,\d+") & ~ambiguous).sum())
        dot += int((s.str.fullmatch(r"[-+]?\d+\.\d+") & ~ambiguous).sum())
    return "," if comma > dot else "."


def _finish(df: pd.DataFrame, source_row: np.ndarray, info: dict, *, file: Path) -> pd.DataFrame:
    """Drop fully empty rows (counted), add ``source_row``, attach ``read_info``."""
    cols = list(df.columns)
    empty = df.isna().all(axis=1).to_numpy() if cols else np.zeros(len(df), bool)
    n_empty = int(empty.sum())
    if n_empty:
        df = df.loc[~empty]
        source_row = source_row[~empty]
    if len(df) == 0:
        raise InputError("has a header but no data rows; expected at least one data row below the header",
                         file=file)
    df = df.reset_index(drop=True)
    df["source_row"] = np.asarray(source_row, dtype=np.int64)
    info["empty_rows_dropped"] = n_empty
    df.attrs["read_info"] = info
    return df


# --------------------------------------------------------------------------------------------
# text (CSV / TSV / TXT)
# --------------------------------------------------------------------------------------------
def _record_lines(ubuf: bytes, arr: np.ndarray, nl: np.ndarray, first_line: int) -> np.ndarray:
    """1-based start line of every non-blank record from line ``first_line`` of ``ubuf`` on.

    ``arr`` is ``ubuf`` as uint8 and ``nl`` the positions of every newline in it. A record ends at
    a newline outside quotes; the quote state is the parity of the number of quote characters
    before the newline (``""`` escapes count twice, so parity holds). Blank records (empty or a
    lone ``\\r``) are skipped, as pyarrow skips them.
    """
    offset = 0 if first_line == 1 else int(nl[first_line - 2]) + 1
    ends = nl[first_line - 1:]
    line_idx = np.arange(first_line - 1, len(nl))  # newline k ends (0-based) line k
    if ubuf.find(b'"', offset) != -1:
        q = np.flatnonzero(arr[offset:] == 34) + offset
        even = (np.searchsorted(q, ends) % 2) == 0
        ends, line_idx = ends[even], line_idx[even]
    if len(ubuf) > offset and ubuf[-1:] != b"\n":
        ends = np.append(ends, len(ubuf))
        line_idx = np.append(line_idx, len(nl))
    if not len(ends):
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[offset], ends[:-1] + 1])
    start_line = np.concatenate([[first_line - 1], line_idx[:-1] + 1])
    length = ends - starts
    blank = length == 0
    one = np.flatnonzero(length == 1)
    if len(one):  # a CRLF blank line is a lone \r
        blank[one] = arr[starts[one]] == 13
    return (start_line[~blank] + 1).astype(np.int64)


def _read_text(p: Path, *, sep, encoding, decimal, header_row, by_line: bool = False) -> pd.DataFrame:
    raw = p.read_bytes()
    if not _NONSPACE.search(raw):
        raise InputError("is empty; expected a header row and data rows", file=p)
    ubuf, enc, cp_lines = _decode(raw, file=p, encoding=encoding, by_line=by_line)
    del raw
    if b"\n" not in ubuf and b"\r" in ubuf:  # classic Mac line ends
        ubuf = ubuf.replace(b"\r", b"\n")
    sample = ubuf[:_SNIFF_BYTES]
    if len(ubuf) > _SNIFF_BYTES:  # drop the line the window cuts
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    sample_text = sample.decode("utf-8", "ignore")
    default = "\t" if p.suffix.lower() == ".tsv" else ","
    if sep is None:
        sep = _sniff_sep(sample_text, default=default)
    else:
        check_option("sep", sep, SEPARATORS)

    try:
        if header_row is None:
            recs = _records(sample_text, sep, limit=_SNIFF_RECORDS)
            if not recs:
                raise InputError("is empty; expected a header row and data rows", file=p)
            header_line = recs[_find_header([r for _, r in recs])][0]
        else:
            header_line = header_row
    except _RaggedError as err:
        raise InputError(f"cannot be parsed near line {err.line}: {err}; expected {sep!r}-separated text",
                         file=p) from None
    hstart = _line_offset(ubuf, header_line)
    if hstart < 0 or hstart >= len(ubuf):
        n_lines = ubuf.count(b"\n") + (0 if ubuf.endswith(b"\n") else 1)
        raise InputError(f"header_row={header_line} but the file has {n_lines} lines; "
                         "expected the 1-based line number of the header", file=p)
    window = ubuf[hstart: hstart + (1 << 20)].decode("utf-8", "ignore")
    reader = csv.reader(_io.StringIO(window, newline=""), delimiter=sep, quotechar='"', strict=False)
    try:
        names = next(reader)
    except (StopIteration, csv.Error):
        names = []
    if not names or names == [""]:
        raise InputError(f"line {header_line} is blank or unreadable; expected the header row there", file=p)
    data_line = header_line + reader.line_num
    _check_columns(names, file=p)
    dstart = _line_offset(ubuf, data_line)
    if dstart < 0 or not _NONSPACE.search(ubuf, dstart):
        raise InputError("has a header but no data rows; expected at least one data row below the header",
                         file=p)
    data = memoryview(ubuf)[dstart:]

    placeholders = [f"__col{i}" for i in range(len(names))]

    def parse():
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=pacsv.ReadOptions(column_names=placeholders, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char='"', double_quote=True,
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in placeholders},
                strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=[""]),
        )

    # pyarrow releases the GIL while parsing, so counting lines meanwhile costs no wall time.
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(parse)
        n_nl = ubuf.count(b"\n", dstart)
        try:
            table = job.result()
        except pa.ArrowInvalid as err:
            table, error = None, err
    if table is None:
        msg = str(error).split("\n")[0]
        if "UTF8" in msg or "UTF-8" in msg:
            if encoding is None and enc == "utf-8" and not by_line:
                # valid UTF-8 at the start only: decide line by line after all
                return _read_text(p, sep=sep, encoding=None, decimal=decimal, header_row=header_row,
                                  by_line=True)
            what = "UTF-8" if enc.startswith("utf") else enc
            raise InputError(f"is not valid {what} text beyond the first {_SNIFF_BYTES} bytes; expected "
                             "UTF-8, UTF-8 with BOM or cp1252 text", file=p) from None
        line = _first_ragged_line(bytes(data).decode("utf-8", "replace"), sep, len(names), data_line)
        where = f" at line {line}" if line else ""
        if "Expected" in msg and "columns" in msg:
            msg = msg[msg.find("Expected"):].split(":")[0]
        raise InputError(f"ragged row{where} ({msg}); expected {len(names)} {sep!r}-separated fields "
                         "per row as in the header", file=p) from None
    n_phys = n_nl + (0 if ubuf.endswith(b"\n") else 1)
    if n_phys == table.num_rows:
        # pyarrow only ever merges lines (quoted newlines) or skips them (blank lines), so equal
        # counts mean one record per line: the line numbers follow without a scan.
        lines = np.arange(data_line, data_line + n_phys, dtype=np.int64)
    else:
        arr = np.frombuffer(ubuf, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        lines = _record_lines(ubuf, arr, nl, data_line)
        if len(lines) != table.num_rows:
            # Quote characters inside unquoted fields fool the parity scan; use the csv module.
            lines = np.array([ln for ln, _ in _records(bytes(data).decode("utf-8"), sep)],
                             dtype=np.int64) + data_line - 1
        if len(lines) != table.num_rows:
            raise InputError(f"cannot be parsed consistently ({table.num_rows} rows by pyarrow vs "
                             f"{len(lines)} records by the csv module); expected {sep!r}-separated text",
                             file=p)
    df = table.to_pandas(types_mapper={pa.string(): _STRING, pa.large_string(): _STRING}.get)
    del table
    df = _drop_unnamed(df, names, file=p)
    info = {"file": str(p), "format": "csv", "encoding": enc, "sep": sep,
            "decimal": decimal if decimal is not None else _detect_decimal(df),
            "header_row": int(header_line), "sheets": None}
    if cp_lines:
        info["mixed_encoding_lines"] = _mixed_info(cp_lines)
    return _finish(df, lines, info, file=p)


def _first_ragged_line(text: str, sep: str, width: int, first_line: int) -> int | None:
    try:
        for ln, row in _records(text, sep):
            if len(row) != width:
                return ln + first_line - 1
    except _RaggedError as err:
        return err.line + first_line - 1
    return None


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------
def _cell_str(v: Any) -> str | None:
    """A typed Excel cell as the text a spreadsheet shows (numbers without float noise)."""
    if v is None:
        return None
    if isinstance(v, str):
        return v if v != "" else None
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isfinite(v) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, _dt.datetime):
        if v.time() == _dt.time(0):
            return v.date().isoformat()
        return v.isoformat(sep=" ", timespec="seconds" if not v.microsecond else "microseconds")
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, _dt.timedelta):
        return str(v)
    return str(v)


def _open_workbook(p: Path):
    import openpyxl

    try:
        return openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as err:
        raise InputError(f"cannot be opened as an Excel workbook ({type(err).__name__}); "
                         "expected a valid .xlsx file", file=p) from None
    except Exception as err:  # openpyxl raises assorted errors on corrupt XML
        raise InputError(f"cannot be opened as an Excel workbook ({type(err).__name__}: {err}); "
                         "expected a valid .xlsx file", file=p) from None


def _sheet_rows(ws) -> list[list[str | None]]:
    rows = [[_cell_str(v) for v in r] for r in ws.iter_rows(min_row=1, values_only=True)]
    width = max((len(r) for r in rows), default=0)
    return [r + [None] * (width - len(r)) for r in rows]


_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z0-9_]+:)?f[\s>/]")


def _has_formulas(p: Path) -> bool:
    """Whether any worksheet XML of the workbook holds a formula (``<f>``), streamed in 1 MiB
    chunks so that a workbook without formulas costs one decompression, not a second parse."""
    try:
        with zipfile.ZipFile(p) as zf:
            for name in zf.namelist():
                if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                    continue
                with zf.open(name) as fh:
                    tail = b""
                    while chunk := fh.read(1 << 20):
                        if _FORMULA_TAG.search(tail + chunk):
                            return True
                        tail = chunk[-16:]
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return False


def _formula_cells(p: Path, sheets: dict[str, list[list[str | None]]]) -> dict[str, list[tuple[int, int]]]:
    """(1-based row, 0-based column) of every formula cell without a cached value, per sheet.

    ``sheets`` holds each sheet's rows as read with ``data_only=True`` (cached values), where such
    a cell is None; a second read without ``data_only`` shows which of those hold a formula. The
    caller does the second read only when the workbook holds formulas (:func:`_has_formulas`).
    """
    import openpyxl

    out: dict[str, list[tuple[int, int]]] = {}
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=False)
    except Exception:  # the first read succeeded; a failing second read only loses this check
        return {}
    try:
        for name, rows in sheets.items():
            cells = []
            for i, r in enumerate(wb[name].iter_rows(min_row=1, values_only=True)):
                cached = rows[i] if i < len(rows) else []
                for j, v in enumerate(r):
                    if v is None or (j < len(cached) and cached[j] is not None):
                        continue
                    if (isinstance(v, str) and v.startswith("=")) or type(v).__name__ in (
                            "ArrayFormula", "DataTableFormula"):
                        cells.append((i + 1, j))
            if cells:
                out[name] = cells
    finally:
        wb.close()
    return out


def _column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


_EXCEL_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:e[+-][0-9]+)?"  # how _cell_str writes an int or float cell


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    """Columns whose every non-empty cell is written as a number cell is (see :func:`_cell_str`)."""
    out = []
    for col in df.columns:
        if col in ("source_sheet", "source_row"):
            continue
        s = df[col].dropna()
        if len(s) and s.head(50).str.fullmatch(_EXCEL_NUMBER).all() and s.str.fullmatch(_EXCEL_NUMBER).all():
            out.append(col)
    return out


def _frame_from_rows(rows: list[list[str | None]], *, file: Path, header_row: int | None,
                     where: str) -> tuple[pd.DataFrame | None, int | None]:
    """Header detection + DataFrame of strings for rows read from a spreadsheet (row k = rows[k-1])."""
    if not any(any(c is not None for c in r) for r in rows):
        return None, None
    if header_row is None:
        nonblank = [i for i, r in enumerate(rows) if any(c is not None for c in r)][: _SNIFF_RECORDS]
        h = nonblank[_find_header([rows[i] for i in nonblank])]
    else:
        if header_row > len(rows):
            raise InputError(f"header_row={header_row} but{where} has {len(rows)} rows; expected the "
                             "1-based row number of the header", file=file)
        h = header_row - 1
    names = [("" if c is None else c) for c in rows[h]]
    while names and names[-1] == "":
        names.pop()
    _check_columns(names, file=file, where=where)
    body = rows[h + 1:]
    width = len(names)
    src = np.arange(h + 2, h + 2 + len(body), dtype=np.int64)
    for k, r in enumerate(body):
        if any(c is not None for c in r[width:]):
            raise InputError(f"row {h + 2 + k}{where} has values beyond the last header column "
                             f"({width}); expected every value under a named column", file=file)
    df = pd.DataFrame([r[:width] for r in body], columns=[f"__col{i}" for i in range(width)], dtype=_STRING) \
        if body else pd.DataFrame({f"__col{i}": pd.Series([], dtype=_STRING) for i in range(width)})
    df = _drop_unnamed(df, names, file=file, where=where)
    empty = df.isna().all(axis=1).to_numpy() if len(df) else np.zeros(0, bool)
    df = df.loc[~empty].reset_index(drop=True)
    df["source_row"] = src[~empty]
    df.attrs["empty_rows_dropped"] = int(empty.sum())
    return df, h + 1


def _read_excel(p: Path, *, sheet, decimal, header_row) -> pd.DataFrame:
    wb = _open_workbook(p)
    try:
        names = list(wb.sheetnames)
        if sheet is not None:
            check_type("sheet", sheet, str, what="a sheet name (str)")
            if sheet not in names:
                raise InputError(f"has no sheet {sheet!r}; expected one of {', '.join(map(repr, names))}",
                                 file=p)
            wanted = [sheet]
        else:
            wanted = names
        frames, headers, skipped = [], {}, []
        n_empty = 0
        # the rows as cached values are kept only to find formulas without one (if there are any)
        has_formulas = _has_formulas(p)
        sheet_rows = {}
        for name in wanted:
            try:
                rows = _sheet_rows(wb[name])
            except Exception as err:  # corrupt sheet XML
                raise InputError(f"sheet {name!r} cannot be read ({type(err).__name__}); expected a valid "
                                 ".xlsx file", file=p) from None
            if has_formulas:
                sheet_rows[name] = rows
            where = f" in sheet {name!r}"
            df, h = _frame_from_rows(rows, file=p, header_row=header_row, where=where)
            if df is None or len(df) == 0:
                if sheet is not None or len(wanted) == 1:
                    if df is None:
                        raise InputError(f"sheet {name!r} is empty; expected a header row and data rows",
                                         file=p)
                    raise InputError(f"sheet {name!r} has a header but no data rows; expected at least one "
                                     "data row below the header", file=p)
                skipped.append(name)
                continue
            n_empty += df.attrs.pop("empty_rows_dropped", 0)
            df.insert(len(df.columns) - 1, "source_sheet", pd.array([name] * len(df), dtype=_STRING))
            frames.append(df)
            headers[name] = h
    finally:
        wb.close()
    if not frames:
        raise InputError(f"no sheet has data rows (sheets: {', '.join(map(repr, wanted))}); expected a "
                         "header row and data rows", file=p)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out = out.astype({c: _STRING for c in out.columns if c != "source_row"})
    cols = [c for c in out.columns if c not in ("source_sheet", "source_row")] + ["source_sheet", "source_row"]
    out = out[cols]
    hdr = next(iter(headers.values())) if len(set(headers.values())) == 1 else headers
    info = {"file": str(p), "format": "xlsx", "encoding": None, "sep": None,
            "decimal": decimal if decimal is not None else _detect_decimal(out.drop(columns=["source_row"])),
            "header_row": hdr, "sheets": list(headers), "skipped_sheets": skipped,
            "empty_rows_dropped": n_empty}
    numeric = _numeric_columns(out)
    if numeric:
        info["excel_numeric_columns"] = numeric
    formulas = []
    found = _formula_cells(p, {n: sheet_rows[n] for n in headers}) if has_formulas else {}
    for name, cells in found.items():
        header = sheet_rows[name][headers[name] - 1]
        for row, j in cells:
            if row > headers[name]:
                column = header[j] if j < len(header) else None
                formulas.append({"sheet": name, "row": row, "column": column, "cell": f"{_column_letter(j)}{row}"})
    attrs = {"read_info": info}
    if formulas:
        info["formula_cells_without_value"] = {
            "count": len(formulas), "first_cells": [f"{c['sheet']}!{c['cell']}" for c in formulas[:10]]}
        attrs["formula_cells_without_value"] = formulas
    out.attrs = attrs
    return out


# --------------------------------------------------------------------------------------------
# SPSS
# --------------------------------------------------------------------------------------------
def _spss_str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, str):
        return v if v != "" else None
    return _cell_str(v)


def _read_sav(p: Path, *, decimal) -> pd.DataFrame:
    import pyreadstat

    if p.stat().st_size == 0:
        raise InputError("is empty; expected an SPSS .sav file", file=p)
    try:
        raw, meta = pyreadstat.read_sav(str(p), apply_value_formats=False)
    except Exception as err:  # pyreadstat.ReadstatError and friends on corrupt files
        raise InputError(f"cannot be read as SPSS data ({type(err).__name__}: {str(err).strip()}); "
                         "expected a valid .sav file", file=p) from None
    if raw.shape[0] == 0:
        raise InputError("has variables but no cases; expected at least one case (row)", file=p)
    _check_columns(list(raw.columns), file=p)
    labels = dict(meta.variable_value_labels or {})
    cols = {}
    for col in raw.columns:
        lab = labels.get(col) or {}
        if not lab and pd.api.types.infer_dtype(raw[col], skipna=True) in ("string", "empty"):
            # text (often unique per case: receipt codes, comments): kept as written, "" missing
            text = raw[col].astype(_STRING)
            cols[col] = text.mask(text == "").array
            continue
        # each distinct value is rendered once (label, or the text a spreadsheet shows) and
        # spread back by its factorize code; missing values (NaN, NaT, None) have code -1
        codes, uniques = pd.factorize(raw[col], use_na_sentinel=True)
        text = [lab.get(v, _spss_str(v)) if lab else _spss_str(v) for v in uniques.tolist()]
        table = np.array([None if t is None else str(t) for t in text] + [None], dtype=object)
        cols[col] = pd.array(table[np.where(codes < 0, len(uniques), codes)], dtype=_STRING)
    df = pd.DataFrame(cols)
    info = {"file": str(p), "format": "sav", "encoding": meta.file_encoding, "sep": None,
            "decimal": decimal if decimal is not None else ".", "header_row": None, "sheets": None}
    out = _finish(df, np.arange(1, len(df) + 1), info, file=p)
    out.attrs["value_labels"] = {c: dict(v) for c, v in labels.items()}
    return out


# --------------------------------------------------------------------------------------------
# public: read_table
# --------------------------------------------------------------------------------------------
def read_table(path, *, sheet: str | None = None, sep: str | None = None, encoding: str | None = None,
               decimal: str | None = None, header_row: int | None = None) -> pd.DataFrame:
    """Read a coding sheet, survey or log (CSV/TSV/TXT, XLSX, SPSS .sav) with every cell as text.

    Parameters
    ----------
    path : str or pathlib.Path
        The file. Format from the extension: ``.csv``/``.tsv``/``.txt``, ``.xlsx``/``.xlsm``,
        ``.sav``/``.zsav``.
    sheet : str, optional
        Excel only: read this sheet. Default: every sheet with data (stacked; column union).
    sep : {',', ';', '\\t', '|'}, optional
        Text only: the delimiter. Default: sniffed from the first records.
    encoding : str, optional
        Text only: e.g. ``'utf-8'``, ``'utf-8-sig'``, ``'cp1252'``. Default: UTF-8 (a BOM is
        removed), decided line by line: a line that is not valid UTF-8 is read as cp1252.
    decimal : {'.', ','}, optional
        Only reported in ``read_info`` (values stay strings). Default: sniffed from the cells.
    header_row : int, optional
        1-based line (text) or row (Excel) number of the header. Default: the first row as wide
        as the table that is mostly filled, so note/title rows above it are skipped.

    Returns
    -------
    pandas.DataFrame
        One column per header cell, pandas ``string`` dtype, values exactly as written (no
        stripping, no type conversion; Excel numbers/dates rendered as text), empty cells
        ``<NA>``; fully empty rows are dropped (counted in ``read_info``). Added columns:
        ``source_sheet`` (Excel) and ``source_row`` (int64: the 1-based line/row number an editor
        or spreadsheet shows; SPSS: the case number). ``df.attrs["read_info"]`` holds ``file,
        format, encoding, sep, decimal, header_row, sheets`` (plus ``empty_rows_dropped`` and,
        for Excel, ``skipped_sheets``); SPSS adds ``df.attrs["value_labels"]``
        (``{column: {code: label}}`` as stored in the file). Only when they apply, read_info
        also holds ``mixed_encoding_lines`` (text: ``{count, first_lines}`` of the lines of a
        UTF-8 file that were cp1252), ``excel_numeric_columns`` (Excel: columns whose every
        cell is a number, where Excel serial dates may be read) and
        ``formula_cells_without_value`` (Excel: ``{count, first_cells}`` of formula cells
        saved without a computed value, read as empty; every such cell is listed in
        ``df.attrs["formula_cells_without_value"]`` as ``{sheet, row, column, cell}``).

    Raises
    ------
    InputError
        One line naming the file: missing/empty file, header but no data rows, duplicate column
        names, unsupported extension, undecodable text, corrupt Excel/SPSS file, ragged rows,
        unknown sheet (the message lists the sheets).

    Notes
    -----
    Validated by round-trip property tests (random tables written with ``,``/``;``, UTF-8,
    UTF-8-BOM and cp1252, with a note row, read back identically with the right line numbers)
    and by comparing against ``pyarrow.csv.read_csv``/``openpyxl``/``pyreadstat`` on the same
    files (tests/test_io.py). SPSS user-missing values are read as missing (pyreadstat's
    default). Excel cells are typed by Excel, so "as written" there means as displayed: integers
    without ``.0``, floats in shortest round-trip form, dates ISO 8601.
    """
    p = _check_path(path)
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise InputError(f"has unsupported extension {p.suffix or '(none)'!r}; expected one of "
                         f"{', '.join(SUPPORTED_EXTENSIONS)}", file=p)
    if decimal is not None:
        check_option("decimal", decimal, (".", ","))
    if header_row is not None:
        check_number("header_row", header_row, low=1, integer=True)
    if ext in TEXT_EXTENSIONS:
        if sheet is not None:
            raise ValueError(f"`sheet` applies to Excel files only; got sheet={sheet!r} for a {ext} file.")
        return _read_text(p, sep=sep, encoding=encoding, decimal=decimal, header_row=header_row)
    if sep is not None or encoding is not None:
        raise ValueError(f"`sep` and `encoding` apply to text files only; got them for a {ext} file.")
    if ext in EXCEL_EXTENSIONS:
        if p.stat().st_size == 0:
            raise InputError("is empty; expected an Excel workbook", file=p)
        return _read_excel(p, sheet=sheet, decimal=decimal, header_row=header_row)
    if sheet is not None or header_row is not None:
        raise ValueError(f"`sheet` and `header_row` do not apply to SPSS files; got them for a {ext} file.")
    return _read_sav(p, decimal=decimal)


# --------------------------------------------------------------------------------------------
# BORIS
# --------------------------------------------------------------------------------------------
_BORIS_NA = {"", "NA"}
_MODIFIER_COL = re.compile(r"^modifier\s*#?\s*(\d+)$", re.IGNORECASE)
# Columns that hold the observation (encounter) length, most specific first.
_BORIS_DURATION_COLS = ("Coding duration", "Total duration", "Observation duration", "Total length",
                        "Media duration (s)", "Observation duration by subject by observation")
_BORIS_EXPECTED = (
    "expected a BORIS events export: tabular (Time, Subject, Behavior, Status START/STOP/POINT — "
    "v7 — or Observation id, Subject, Behavior, Behavior type START/STOP/POINT, Time — v8.9.11+), "
    "aggregated (Observation id, Subject, Behavior, Modifiers or Modifier #1…, Behavior type "
    "STATE/POINT, Start (s), Stop (s), Duration (s)), headerless aggregated rows, or a .boris project"
)


def _boris_rows(p: Path) -> list[tuple[str | None, int, list[str]]]:
    """Every non-blank row of a BORIS export as (sheet, 1-based row/line, cells as str)."""
    ext = p.suffix.lower()
    if ext in EXCEL_EXTENSIONS:
        wb = _open_workbook(p)
        out = []
        try:
            for name in wb.sheetnames:
                for k, r in enumerate(_sheet_rows(wb[name]), start=1):
                    cells = ["" if c is None else c for c in r]
                    while cells and cells[-1] == "":
                        cells.pop()
                    if cells:
                        out.append((name, k, cells))
        finally:
            wb.close()
        return out
    raw = p.read_bytes()
    if not _NONSPACE.search(raw):
        raise InputError(f"is empty; {_BORIS_EXPECTED}", file=p)
    ubuf, _enc, _cp_lines = _decode(raw, file=p, encoding=None)
    try:
        text = ubuf.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode(raw, file=p, encoding=None, by_line=True)[0].decode("utf-8")
    sep = _sniff_sep(text, default="\t" if ext == ".tsv" else ",")
    try:
        recs = _records(text, sep)
    except _RaggedError as err:
        raise InputError(f"cannot be parsed near line {err.line} ({err}); {_BORIS_EXPECTED}", file=p) from None
    return [(None, ln, r) for ln, r in recs if any(c.strip() for c in r)]


def _is_boris_header(cells: list[str]) -> bool:
    s = {c.strip() for c in cells}
    return "Behavior" in s and "Subject" in s and ("Status" in s or "Behavior type" in s)


# A BORIS time: seconds written as a plain decimal number (BORIS writes e.g. 12.345 or 1e-05).
_BORIS_TIME = r"[+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?"


def _to_seconds(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Floats from BORIS time cells; ``NA``/blank are missing; returns (float array, unparseable mask).

    A time is a finite, non-negative decimal number; anything else (text, ``inf``,
    ``Infinity``, ``nan``, ``1e999``, a negative time) is unparseable: NaN with the mask set.
    """
    s = values.astype(_STRING).str.strip()
    missing = (s.isna() | s.isin(list(_BORIS_NA))).to_numpy(dtype=bool)
    ok = s.str.fullmatch(_BORIS_TIME).fillna(False).to_numpy(dtype=bool)
    num = pd.to_numeric(s.where(ok), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    num = np.where(np.isfinite(num), num, np.nan)  # a new array: pandas may hand out read-only views
    bad = np.isnan(num) & ~missing
    return num, pd.Series(bad, index=values.index)


def _clean_modifiers(text: str) -> str:
    bits = ["" if b.strip() == "NA" else b.strip() for b in text.split("|")]
    while bits and bits[-1] == "":
        bits.pop()
    return "|".join(bits)


def _join_modifiers(frame: pd.DataFrame, cols: list[str]) -> pd.Series:
    """Pipe-joined modifiers, each part stripped; ``NA``/blank parts empty; trailing empties dropped.

    ``Modifier #1``, ``Modifier #2`` … columns (v8.9.11+) are joined positionally so that they
    read like the single pipe-joined ``Modifiers`` column of older exports.
    """
    if not cols:
        return pd.Series([""] * len(frame), index=frame.index, dtype=_STRING)
    parts = [frame[c].fillna("").astype(str) for c in cols]
    joined = parts[0] if len(parts) == 1 else parts[0].str.cat(parts[1:], sep="|")
    lookup = {v: _clean_modifiers(v) for v in pd.unique(joined)}
    return joined.map(lookup).astype(_STRING)


def _first_number(values: pd.Series) -> np.ndarray:
    num, _bad = _to_seconds(values)
    return num


def _pair_states(ev: pd.DataFrame) -> pd.DataFrame:
    """Pair START/STOP rows per observation × subject × behavior × modifiers, in time order.

    A START pairs with the next row of its key when that row is a STOP; every other START is
    unpaired (``stop_s`` NaN) and every other STOP is unpaired (``start_s`` NaN). Each input row
    ends in exactly one output event.
    """
    if ev.empty:
        return ev.assign(start_s=pd.Series(dtype=float), stop_s=pd.Series(dtype=float))
    key = ["observation_id", "subject", "behavior", "modifiers"]
    ev = ev.sort_values(key + ["time", "order"], kind="stable").reset_index(drop=True)
    k = ev[key].astype(str)
    same_next = np.ones(len(ev), dtype=bool)
    for c in key:
        col = k[c].to_numpy()
        same_next[:-1] &= col[:-1] == col[1:]
    same_next[-1] = False
    status = ev["status"].to_numpy()
    is_start = status == "START"
    nxt_stop = np.zeros(len(ev), dtype=bool)
    nxt_stop[:-1] = status[1:] == "STOP"
    pair = is_start & nxt_stop & same_next
    consumed = np.zeros(len(ev), dtype=bool)
    consumed[1:] = pair[:-1]
    time = ev["time"].to_numpy(dtype=float)
    keep = ~consumed
    out = ev.loc[keep].copy()
    t_keep = time[keep]
    pair_k = pair[keep]
    stop_next = np.full(len(ev), np.nan)
    stop_next[:-1] = time[1:]
    out["start_s"] = np.where(status[keep] == "STOP", np.nan, t_keep)
    out["stop_s"] = np.where(pair_k, stop_next[keep], np.where(status[keep] == "STOP", t_keep, np.nan))
    return out


def _boris_segment(header: list[str], rows: list[tuple[str | None, int, list[str]]], *, p: Path,
                   meta_obs: str | None, meta_duration: float) -> pd.DataFrame:
    """Events of one header's rows (cells padded or cut to the header's width)."""
    width = len(header)
    body = [r + [""] * (width - len(r)) if len(r) < width else r[:width] for _, _, r in rows]
    frame = pd.DataFrame(body, columns=[f"__c{i}" for i in range(width)], dtype=_STRING)
    lines = np.array([r[1] for r in rows], dtype=np.int64)
    sheets = np.array([r[0] for r in rows], dtype=object)
    return _boris_frame(header, frame, lines, sheets, p=p, meta_obs=meta_obs, meta_duration=meta_duration)


def _boris_frame(header: list[str], frame: pd.DataFrame, lines: np.ndarray, sheets: np.ndarray, *, p: Path,
                 meta_obs: str | None, meta_duration: float) -> pd.DataFrame:
    """Events from ``frame`` (column ``__c{i}`` = header cell i; ``""`` for empty cells), whose
    rows start at ``lines`` (1-based) of ``sheets`` (None for text files)."""
    names = [h.strip() for h in header]
    first = {}
    for i, n in enumerate(names):
        first.setdefault(n, f"__c{i}")
    col = first.get
    mod_cols = sorted(((int(m.group(1)), first[n]) for n in first if (m := _MODIFIER_COL.match(n))))
    modifiers = [c for _, c in mod_cols] or ([col("Modifiers")] if col("Modifiers") else [])

    if col("Status") and col("Time"):
        layout, type_col = "tabular", col("Status")
    elif col("Behavior type") and col("Time") and not col("Start (s)"):
        layout, type_col = "tabular", col("Behavior type")
    elif col("Behavior type") and col("Start (s)") and col("Stop (s)"):
        layout, type_col = "aggregated", col("Behavior type")
    else:
        raise InputError(f"has an unrecognised BORIS header ({', '.join(n for n in names if n)}); "
                         f"{_BORIS_EXPECTED}", file=p)
    if col("Observation id"):
        obs = frame[col("Observation id")]
    elif meta_obs is not None:
        obs = pd.Series([meta_obs] * len(frame), dtype=_STRING)
    else:
        raise InputError(f"has no 'Observation id' column or metadata row; {_BORIS_EXPECTED}", file=p)
    dur_col = next((col(c) for c in _BORIS_DURATION_COLS if col(c)), None)
    obs_dur = _first_number(frame[dur_col]) if dur_col else np.full(len(frame), meta_duration)
    kind = frame[type_col].fillna("").str.strip().str.upper()
    allowed = ("START", "STOP", "POINT") if layout == "tabular" else ("STATE", "POINT")
    wrong = ~kind.isin(allowed).to_numpy(dtype=bool)
    if wrong.all():
        raise InputError(f"row {lines[0]} has {names[int(type_col[3:])]!r} {frame[type_col].iloc[0]!r}; "
                         f"expected one of {', '.join(allowed)}", file=p)
    garbage = None
    if wrong.any():
        # a row that is not an event (a stray note, a pasted line): returned with no time and its
        # text in unparsed_time, so validate_events quarantines it (unparseable_time) and the
        # rest of the file is read
        cells = frame.loc[wrong].fillna("")
        text = cells.iloc[:, 0].str.strip()
        for c in cells.columns[1:]:
            text = text.str.cat(cells[c].str.strip(), sep="\t")
        garbage = pd.DataFrame({
            "observation_id": obs[wrong].fillna("").str.strip().astype(_STRING).to_numpy(),
            "subject": cells[col("Subject")].str.strip().astype(_STRING).to_numpy(),
            "behavior": cells[col("Behavior")].str.strip().astype(_STRING).to_numpy(),
            "modifiers": pd.Series([""] * int(wrong.sum()), dtype=_STRING).to_numpy(),
            "observation_duration_s": np.asarray(obs_dur, dtype=float)[wrong],
            "source_row": np.asarray(lines, dtype=np.int64)[wrong],
            "source_sheet": np.asarray(sheets, dtype=object)[wrong],
            "behavior_type": "POINT", "start_s": np.nan, "stop_s": np.nan,
            "unparsed_time": pd.array(text.str.strip("\t").replace("", "(blank)").to_numpy(), dtype=_STRING),
        })
        keep = ~wrong
        frame, kind = frame.loc[keep].reset_index(drop=True), kind.loc[keep].reset_index(drop=True)
        obs = obs[keep].reset_index(drop=True)
        lines, sheets = np.asarray(lines)[keep], np.asarray(sheets, dtype=object)[keep]
        obs_dur = np.asarray(obs_dur, dtype=float)[keep]
    events = _boris_events(frame, kind, obs, obs_dur, lines, sheets, layout=layout, col=col, modifiers=modifiers)
    if garbage is None:
        return events
    return pd.concat([events, garbage.astype({"behavior_type": _STRING})], ignore_index=True)


def _boris_events(frame, kind, obs, obs_dur, lines, sheets, *, layout, col, modifiers) -> pd.DataFrame:
    """Events of rows whose type cell is valid (see :func:`_boris_frame`)."""
    base = pd.DataFrame({
        "observation_id": obs.fillna("").str.strip().astype(_STRING),
        "subject": frame[col("Subject")].fillna("").str.strip().astype(_STRING),
        "behavior": frame[col("Behavior")].fillna("").str.strip().astype(_STRING),
        "modifiers": _join_modifiers(frame, modifiers),
        "observation_duration_s": obs_dur,
        "source_row": np.asarray(lines, dtype=np.int64),
        "source_sheet": np.asarray(sheets, dtype=object),
    })
    if layout == "aggregated":
        start, bad_start = _to_seconds(frame[col("Start (s)")])
        stop, bad_stop = _to_seconds(frame[col("Stop (s)")])
        is_point = (kind == "POINT").to_numpy()
        base["behavior_type"] = np.where(is_point, "POINT", "STATE")
        base["start_s"] = start
        base["stop_s"] = np.where(is_point, start, stop)
        # the original text of the first unparseable time of the row (a POINT has no stop)
        bad_stop_state = bad_stop & pd.Series(~is_point, index=bad_stop.index)
        unparsed = frame[col("Stop (s)")].where(bad_stop_state)
        base["unparsed_time"] = frame[col("Start (s)")].where(bad_start, unparsed).astype(_STRING).array
        return base
    time, bad = _to_seconds(frame[col("Time")])
    base["time"] = time
    base["order"] = np.arange(len(base))
    base["status"] = kind.to_numpy()
    base["unparsed_time"] = frame[col("Time")].where(bad).astype(_STRING).array
    # unparseable or 'NA': cannot be put in order, so never paired (a new array: the Series'
    # own numpy view is read-only under copy-on-write)
    bad = bad.to_numpy(dtype=bool) | np.isnan(time)
    point = base.loc[(base["status"] == "POINT").to_numpy() | bad].copy()
    point["behavior_type"] = np.where(point["status"] == "POINT", "POINT", "STATE")
    point["start_s"] = np.where(point["status"] == "STOP", np.nan, point["time"])
    point["stop_s"] = np.where(point["status"] == "START", np.nan, point["time"])
    state = _pair_states(base.loc[(base["status"] != "POINT").to_numpy() & ~bad])
    state["behavior_type"] = "STATE"
    out = pd.concat([point, state], ignore_index=True)
    return out.drop(columns=["time", "order", "status"])


def _boris_headerless(rows, *, p: Path) -> pd.DataFrame | None:
    """Aggregated rows without a header: find the STATE/POINT column by shape."""
    widths = {len(r) for _, _, r in rows}
    if len(widths) != 1:
        return None
    width = widths.pop()
    for k in range(5, width - 2):
        kinds = {r[k].strip().upper() for _, _, r in rows}
        if not kinds <= {"STATE", "POINT"}:
            continue
        ok = True
        for _, _, r in rows:
            for v in (r[k + 1], r[k + 2]):
                v = v.strip()
                if v not in _BORIS_NA:
                    try:
                        float(v)
                    except ValueError:
                        ok = False
                        break
            if not ok:
                break
        if not ok:
            continue
        header = [""] * width
        header[0], header[k - 4], header[k - 3] = "Observation id", "Subject", "Behavior"
        header[k - 1], header[k], header[k + 1], header[k + 2] = "Modifiers", "Behavior type", "Start (s)", "Stop (s)"
        # Without a header the duration columns cannot be told apart from IVs: left NaN.
        return _boris_segment(header, rows, p=p, meta_obs=None, meta_duration=np.nan)
    return None


def _boris_one_header(p: Path) -> pd.DataFrame | None:
    """Fast path for a text export that is one header line followed by its events (the
    v8.9.11+ layouts BORIS writes today): parsed by :func:`read_table` (pyarrow) instead of
    row by row. Returns None, leaving the file to the general reader, whenever the file is
    anything else: Excel, a v7 block layout, a repeated header, ragged or blank-typed rows,
    or any error (the general reader then reports it in its own words)."""
    if p.suffix.lower() not in TEXT_EXTENSIONS:
        return None
    try:
        raw = p.read_bytes()
        ubuf, enc, _cp_lines = _decode(raw, file=p, encoding=None)
        del raw
        # _sniff_sep reads the first _SNIFF_BYTES characters (and cuts a longer text at a line
        # end): decoding 4 bytes per character and a few more gives it the same view of the file
        # as the general reader's whole-file decode, without decoding the whole file.
        window = 4 * _SNIFF_BYTES + 4
        try:
            text = ubuf[:window].decode("utf-8", "ignore") if len(ubuf) > window else ubuf.decode("utf-8")
        except UnicodeDecodeError:
            return None
        sep = _sniff_sep(text, default="\t" if p.suffix.lower() == ".tsv" else ",")
        first = _records(text, sep, limit=1)
        if not first or not _is_boris_header(first[0][1]) or "Status" in {c.strip() for c in first[0][1]}:
            return None
        line, header = first[0]
        table = read_table(p, sep=sep, header_row=line)
    except (InputError, _RaggedError, ValueError):
        return None
    if enc.startswith("utf") and table.attrs["read_info"]["encoding"] == "cp1252":
        return None  # not UTF-8 after all: the general reader decodes it as a whole
    by_name = {str(c): c for c in table.columns}
    frame = pd.DataFrame({f"__c{i}": (table[by_name[h]].fillna("") if h in by_name
                                      else pd.Series("", index=table.index, dtype=_STRING))
                          for i, h in enumerate(header)})
    # a second header line inside the data would start a new segment in the general reader
    stripped = [frame[c].str.strip() for c in frame.columns]
    has_behavior = np.logical_or.reduce([(c == "Behavior").to_numpy(dtype=bool) for c in stripped])
    has_subject = np.logical_or.reduce([(c == "Subject").to_numpy(dtype=bool) for c in stripped])
    if (has_behavior & has_subject).any():
        return None
    blank = np.logical_and.reduce([(c == "").to_numpy(dtype=bool) for c in stripped])
    if blank.any():  # whitespace-only rows are skipped by the general reader
        return None
    try:
        return _boris_frame(header, frame, table["source_row"].to_numpy(dtype=np.int64),
                            np.full(len(frame), None, dtype=object), p=p, meta_obs=None, meta_duration=np.nan)
    except InputError:
        return None


def _read_boris_tables(p: Path) -> pd.DataFrame:
    fast = _boris_one_header(p)
    if fast is not None:
        return fast
    rows = _boris_rows(p)
    if not rows:
        raise InputError(f"is empty; {_BORIS_EXPECTED}", file=p)
    segments, current, header = [], [], None
    meta_obs, meta_dur = None, np.nan
    for sheet, line, cells in rows:
        first = cells[0].strip() if cells else ""
        if _is_boris_header(cells):
            if header is not None and current:
                segments.append(_boris_segment(header, current, p=p, meta_obs=meta_obs, meta_duration=meta_dur))
            header, current = cells, []
            continue
        if first == "Observation id" and header is not None and "Status" in [h.strip() for h in header]:
            # v7 tabular: the next observation's metadata block starts
            if current:
                segments.append(_boris_segment(header, current, p=p, meta_obs=meta_obs, meta_duration=meta_dur))
            header, current = None, []
        if header is None:
            if first == "Observation id":
                meta_obs = cells[1].strip() if len(cells) > 1 else ""
                meta_dur = np.nan
            continue
        current.append((sheet, line, cells))
    if header is None:
        out = _boris_headerless(rows, p=p)
        if out is None:
            raise InputError(f"has no recognisable BORIS header or event rows; {_BORIS_EXPECTED}", file=p)
        return out
    if current:
        segments.append(_boris_segment(header, current, p=p, meta_obs=meta_obs, meta_duration=meta_dur))
    if not segments:
        raise InputError(f"has a BORIS header but no event rows; {_BORIS_EXPECTED}", file=p)
    return pd.concat(segments, ignore_index=True)


#: Largest .boris project read (BORIS projects of a study are a few MB).
MAX_BORIS_PROJECT_BYTES = 200 * 1024 * 1024


def _read_boris_project(p: Path) -> pd.DataFrame:
    """A ``.boris`` project; any malformed part is one InputError line naming the file."""
    if p.stat().st_size > MAX_BORIS_PROJECT_BYTES:
        raise InputError(f"is larger than {MAX_BORIS_PROJECT_BYTES // (1024 * 1024)} MB; expected a .boris "
                         "project file saved by BORIS", file=p)
    try:
        project = json.loads(p.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"is not a BORIS project (invalid JSON: {err}); expected a .boris file saved by BORIS",
                         file=p) from None
    except RecursionError:
        raise InputError("is not a BORIS project (JSON nested too deeply); expected a .boris file saved by "
                         "BORIS", file=p) from None
    try:
        return _boris_project_events(project, p)
    except InputError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, RecursionError) as err:
        what = " ".join(str(err).split())[:120]
        raise InputError(f"is not a usable BORIS project ({type(err).__name__}: {what}); expected a .boris "
                         "file saved by BORIS (observations with lists of events, an ethogram in "
                         "behaviors_conf)", file=p) from None


def _boris_project_events(project: Any, p: Path) -> pd.DataFrame:
    if not isinstance(project, dict) or "observations" not in project or "behaviors_conf" not in project:
        raise InputError("is not a BORIS project (no 'observations' or 'behaviors_conf'); expected a .boris "
                         "file saved by BORIS", file=p)
    for key in ("observations", "behaviors_conf"):
        if not isinstance(project[key] or {}, dict):
            raise InputError(f"is not a BORIS project ('{key}' is a {type(project[key]).__name__}); expected "
                             "a mapping as BORIS saves it", file=p)
    types = {}
    for b in (project["behaviors_conf"] or {}).values():
        if not isinstance(b, dict):
            raise InputError(f"is not a BORIS project (an ethogram entry is {type(b).__name__}); expected "
                             "a mapping with 'code' and 'type'", file=p)
        code = str(b.get("code", "")).strip()
        types[code] = "STATE" if "state" in str(b.get("type", "")).lower() else "POINT"
    recs = []
    for obs_id, obs in (project["observations"] or {}).items():
        if not isinstance(obs, dict) or not isinstance(obs.get("events", []) or [], list):
            raise InputError(f"observation {str(obs_id)[:80]!r} is not a BORIS observation; expected a "
                             "mapping with a list of 'events'", file=p)
        length = np.nan
        media = obs.get("media_info", {}) or {}
        files = obs.get("file", {})
        if str(obs.get("type", "")).upper() == "MEDIA" and isinstance(files, dict) and isinstance(media, dict):
            lengths = media.get("length", {}) or {}
            player1 = files.get("1", []) or []
            if isinstance(lengths, dict) and isinstance(player1, list) and player1 and \
                    all(isinstance(f, str) and f in lengths for f in player1):
                total, _bad = _to_seconds(pd.Series([str(lengths[f]) for f in player1], dtype=_STRING))
                length = float(total.sum()) if not np.isnan(total).any() else np.nan
        for i, e in enumerate(obs.get("events", []) or [], start=1):
            if not isinstance(e, (list, tuple)) or len(e) < 3:
                raise InputError(f"observation {str(obs_id)[:80]!r} event {i} is {str(e)[:80]!r}; expected "
                                 "[time, subject, behavior, modifier, comment]", file=p)
            behavior = str(e[2]).strip()
            if behavior not in types:
                raise InputError(f"observation {str(obs_id)[:80]!r} event {i} has behavior {behavior[:80]!r} that is not in "
                                 f"the ethogram ({', '.join(map(repr, types))}); expected an ethogram behavior",
                                 file=p)
            recs.append((str(obs_id), str(e[1]).strip() or "No focal subject", behavior,
                         str(e[3]) if len(e) > 3 and e[3] is not None else "", e[0], i, length,
                         types[behavior]))
    if not recs:
        raise InputError("has no coded events in any observation; expected at least one event", file=p)
    ev = pd.DataFrame(recs, columns=["observation_id", "subject", "behavior", "modifiers", "time_raw",
                                     "source_row", "observation_duration_s", "behavior_type"])
    for c in ("observation_id", "subject", "behavior"):
        ev[c] = ev[c].astype(_STRING)
    ev["modifiers"] = _join_modifiers(ev.assign(modifiers=ev["modifiers"].astype(_STRING)), ["modifiers"])
    time_text = ev["time_raw"].map(lambda v: None if v is None else str(v)).astype(_STRING)
    time, bad = _to_seconds(time_text)
    ev["unparsed_time"] = time_text.where(bad).array
    bad = bad.to_numpy(dtype=bool) | np.isnan(time)
    ev["time"] = time
    ev["order"] = np.arange(len(ev))
    ev["source_sheet"] = None
    is_state = (ev["behavior_type"] == "STATE").to_numpy()
    point = ev.loc[~is_state | bad].copy()
    point["start_s"] = point["time"]
    point["stop_s"] = np.where(point["behavior_type"] == "POINT", point["time"], np.nan)
    # In a project file a state event is recorded by its onsets and offsets alternately, per
    # observation × subject × behavior × modifiers (how BORIS itself pairs them when exporting).
    st = ev.loc[is_state & ~bad].sort_values(["observation_id", "subject", "behavior", "modifiers",
                                              "time", "order"], kind="stable")
    nth = st.groupby(["observation_id", "subject", "behavior", "modifiers"], sort=False).cumcount().to_numpy()
    st["status"] = np.where(nth % 2 == 0, "START", "STOP")
    state = _pair_states(st)
    out = pd.concat([point, state], ignore_index=True)
    return out.drop(columns=["time", "order", "time_raw", "status"], errors="ignore")


def read_boris(path) -> pd.DataFrame:
    """Read a BORIS events export or project file into one row per event.

    Parameters
    ----------
    path : str or pathlib.Path
        A BORIS export (``.tsv``, ``.csv``, ``.txt``, ``.xlsx``) in any layout of BORIS v7 to v9
        (DESIGN.md §6: v7 tabular with its metadata block; v7–v8.6 aggregated; v8.9.11+ tabular
        and aggregated; headerless aggregated rows) or a ``.boris`` project file.

    Returns
    -------
    pandas.DataFrame
        Columns ``observation_id, subject, behavior, behavior_type`` (``STATE``/``POINT``),
        ``start_s, stop_s, duration_s`` (float seconds of media time; ``duration_s`` NaN for
        POINT), ``modifiers`` (pipe-joined, each part stripped, ``""`` when none),
        ``observation_duration_s`` (observation/media length when the file has it, else NaN),
        ``source_file`` (the path as given), ``source_row`` (1-based line/row of the event's
        START or only row; for ``.boris`` the 1-based index of the event in its observation),
        ``unparsed_time`` (the original text of a time cell that is not a number, else NA).
        Sorted by file order. STATE events whose START has no STOP keep ``stop_s`` NaN, STOPs
        without START keep ``start_s`` NaN: nothing is dropped; use
        :func:`svcresearch.events.validate_events` to quarantine them.

    Raises
    ------
    InputError
        Missing/empty/undecodable file, unrecognised layout (the message lists the layouts and
        columns expected), unknown START/STOP/POINT value, behaviour missing from the ethogram.

    Notes
    -----
    Validated against real BORIS exports (``shared/fixtures/boris``): the v9 aggregated and
    v8.9.11+ tabular service files reproduce ``service_expected.json`` (counts, STATE durations
    to 1e-3 s); the v7 tabular ``.tsv`` and ``.csv`` agree with each other and with observation
    ``observation #1`` of ``test.boris``; the v7 aggregated export agrees with ``observation #2``
    of ``test.boris`` (tests/test_boris.py). The subject ``""`` of a project file is reported as
    ``No focal subject`` as BORIS's exports do. BORIS writes ``None`` for a modifier set left
    unselected; it is kept as written.
    """
    p = _check_path(path)
    ext = p.suffix.lower()
    allowed = (".boris",) + TEXT_EXTENSIONS + EXCEL_EXTENSIONS
    if ext not in allowed:
        raise InputError(f"has unsupported extension {p.suffix or '(none)'!r} for a BORIS file; expected "
                         f"one of {', '.join(allowed)}", file=p)
    if p.stat().st_size == 0:
        raise InputError(f"is empty; {_BORIS_EXPECTED}", file=p)
    ev = _read_boris_project(p) if ext == ".boris" else _read_boris_tables(p)
    ev = ev.sort_values(["source_sheet", "source_row"] if ev["source_sheet"].notna().any() else ["source_row"],
                        kind="stable") if ext != ".boris" else \
        ev.assign(_o=pd.Categorical(ev["observation_id"], categories=pd.unique(ev["observation_id"]))) \
          .sort_values(["_o", "source_row"], kind="stable").drop(columns="_o")
    ev["duration_s"] = np.where(ev["behavior_type"] == "STATE", ev["stop_s"] - ev["start_s"], np.nan)
    sheets = ev["source_sheet"].dropna().unique()
    if len(sheets) > 1:  # rows of several sheets: the row number alone would be ambiguous
        ev["source_file"] = [f"{path}[{sh}]" for sh in ev["source_sheet"]]
    else:
        ev["source_file"] = str(path)
    ev["behavior_type"] = ev["behavior_type"].astype(_STRING)
    ev["source_file"] = ev["source_file"].astype(_STRING)
    ev["modifiers"] = ev["modifiers"].astype(_STRING)
    ev["unparsed_time"] = ev["unparsed_time"].astype(_STRING)
    for c in ("start_s", "stop_s", "duration_s", "observation_duration_s"):
        ev[c] = ev[c].astype("float64")
    ev["source_row"] = ev["source_row"].astype("int64")
    return ev[BORIS_COLUMNS].reset_index(drop=True)
