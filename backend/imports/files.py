"""Spreadsheets as a county's systems export them, read a row at a time.

``.xlsx`` is recognised by its content (a zip holding ``xl/workbook.xml``), whatever the file is
called; anything else is read as CSV, in UTF-8 (with or without a byte-order mark) or GB18030,
which Excel in China writes. Nothing is read whole: openpyxl streams the first sheet in
read-only mode and the csv module reads the text as it is decoded, so a file of hundreds of
thousands of rows costs the memory of one row.
"""
from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, BinaryIO, Iterator

Value = str | int | float | date | datetime | None
Row = dict[str, Value]

_HEAD_BYTES = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_MERGE_TAG = b"<mergeCell"
_CHUNK = 1024 * 1024


class SpreadsheetError(ValueError):
    """The file as a whole cannot be imported; ``message`` says why in zh-CN, as shown to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Table:
    """A file's header (trimmed, in file order) and its data rows."""

    headers: list[str]
    _rows: Iterator[tuple[int, Row]]

    def rows(self) -> Iterator[tuple[int, Row]]:
        """(row number as the spreadsheet shows it, the header row being 1, {header: value});
        empty rows are skipped, empty cells are None, text is trimmed."""
        return self._rows


def read_rows(source: str | os.PathLike | BinaryIO) -> Iterator[tuple[int, Row]]:
    """Every data row of a file (a path or a binary stream)."""
    with open_table(source) as table:
        yield from table.rows()


@contextlib.contextmanager
def open_table(source: str | os.PathLike | BinaryIO) -> Iterator[Table]:
    """Open a file and check what can be checked before any row: that it is a spreadsheet,
    not empty, with distinct headers and at least one data row (and, for xlsx, no formula in the
    header or the first row, no merged cells). A formula further down is found when read."""
    with contextlib.ExitStack() as stack:
        if isinstance(source, (str, os.PathLike)):
            stream: BinaryIO = stack.enter_context(open(source, "rb"))
        else:
            stream = source
            if not stream.seekable():  # an upload piped in: spooled, so that it can be read twice
                spooled = stack.enter_context(tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024))
                shutil.copyfileobj(stream, spooled)
                stream = spooled
            stream.seek(0)
        head = stream.read(_HEAD_BYTES)
        stream.seek(0)
        if not head.strip().removeprefix(codecs.BOM_UTF8).strip():
            raise SpreadsheetError("文件为空")
        if head.startswith(_ZIP_MAGIC):
            cells = stack.enter_context(_xlsx_rows(stream))
        else:
            cells = _csv_rows(stack, stream, head)
        yield _table(cells)


def _table(cells: Iterator[tuple[int, list[Value]]]) -> Table:
    header_row = next((row for row in cells if any(v is not None for v in row[1])), None)
    if header_row is None:
        raise SpreadsheetError("文件为空")
    headers = [str(v).strip() if v is not None else "" for v in header_row[1]]
    seen: set[str] = set()
    duplicates = []
    for header in headers:
        if header and header in seen and header not in duplicates:
            duplicates.append(header)
        seen.add(header)
    if duplicates:
        raise SpreadsheetError("表头重复：" + "、".join(duplicates))
    columns = [(i, h) for i, h in enumerate(headers) if h]

    def data() -> Iterator[tuple[int, Row]]:
        for number, values in cells:
            if all(v is None for v in values):
                continue
            yield number, {h: (values[i] if i < len(values) else None) for i, h in columns}

    rows = data()
    first = next(rows, None)
    if first is None:
        raise SpreadsheetError("文件只有表头，没有数据行")

    def all_rows() -> Iterator[tuple[int, Row]]:
        yield first
        yield from rows

    return Table([h for _, h in columns], all_rows())


def _clean(value) -> Value:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


# CSV

def _encoding_of(head: bytes) -> str:
    """UTF-8 when the first bytes decode as UTF-8 strictly, else GB18030; a file with NUL bytes
    or that neither decodes is not text."""
    if b"\x00" in head:
        raise SpreadsheetError("文件不是电子表格（应为 .xlsx 或 .csv）")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            # Incremental, so that a character cut at the end of the head is not an error.
            codecs.getincrementaldecoder(encoding)(errors="strict").decode(head, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    raise SpreadsheetError("文件不是电子表格（应为 .xlsx 或 .csv），或文字编码无法识别（应为 UTF-8 或 GB18030）")


def _csv_rows(stack: contextlib.ExitStack, stream: BinaryIO, head: bytes) -> Iterator[tuple[int, list[Value]]]:
    encoding = _encoding_of(head)
    text: IO[str] = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    # The wrapper must not close a stream the caller gave us.
    stack.callback(text.detach)
    reader = csv.reader(text)
    number = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise SpreadsheetError(f"第{number + 1}行的文字编码无法识别（整个文件应为同一种编码：UTF-8 或 GB18030）") from None
        except csv.Error as error:
            raise SpreadsheetError(f"第{number + 1}行不是有效的 CSV：{error}") from None
        number += 1
        yield number, [_clean(v) for v in record]


# xlsx

@contextlib.contextmanager
def _xlsx_rows(stream: BinaryIO) -> Iterator[Iterator[tuple[int, list[Value]]]]:
    from openpyxl import load_workbook

    try:
        archive = zipfile.ZipFile(stream)
        names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise SpreadsheetError("文件不是电子表格（应为 .xlsx 或 .csv）") from None
    if "xl/workbook.xml" not in names:
        raise SpreadsheetError("文件不是电子表格（是压缩包，但不是 .xlsx）")
    stream.seek(0)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=False)
    except Exception:  # openpyxl raises many kinds for a damaged workbook
        raise SpreadsheetError("无法读取该 .xlsx 文件（文件可能已损坏）") from None
    try:
        sheet = workbook.worksheets[0]
        if _has_merged_cells(archive, sheet._worksheet_path):
            raise SpreadsheetError(f"工作表“{sheet.title}”含有合并单元格，请取消合并后再导入")
        sheet.reset_dimensions()  # some tools write a wrong <dimension>: read what is there
        yield _sheet_rows(sheet)
    finally:
        workbook.close()
        archive.close()


def _has_merged_cells(archive: zipfile.ZipFile, path: str) -> bool:
    """Looks for <mergeCell in the sheet's XML, a megabyte at a time."""
    tail = b""
    with archive.open(path.lstrip("/")) as xml:
        while chunk := xml.read(_CHUNK):
            if _MERGE_TAG in tail + chunk:
                return True
            tail = chunk[-len(_MERGE_TAG):]
    return False


def _sheet_rows(sheet) -> Iterator[tuple[int, list[Value]]]:
    for number, cells in enumerate(sheet.iter_rows(), start=1):
        values = []
        for cell in cells:
            value = getattr(cell, "value", None)
            if getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.startswith("=")):
                column = getattr(cell, "column_letter", "")
                raise SpreadsheetError(f"单元格 {column}{number} 是公式，请把公式转换为数值后再导入")
            values.append(_clean(value))
        yield number, values


def estimate_rows(path: str | os.PathLike) -> int | None:
    """About how many data rows a file has, for a progress bar: the lines of a CSV (a quoted
    field may hold more), the <dimension> an xlsx declares (None when it declares none)."""
    with open(path, "rb") as stream:
        if stream.read(4) != _ZIP_MAGIC:
            stream.seek(0)
            lines = 0
            while chunk := stream.read(_CHUNK):
                lines += chunk.count(b"\n")
            return max(lines - 1, 0)
    try:
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True)
        try:
            rows = workbook.worksheets[0].max_row
        finally:
            workbook.close()
    except Exception:  # the import itself says what is wrong with the file
        return None
    return rows - 1 if rows else None
