"""The report of an import, as the importer opens it in Excel: row number, column, value (masked
when personal), reason; as CSV (UTF-8 with a byte-order mark, which Excel reads as UTF-8) or .xlsx."""
from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator

HEADER = ("行号", "列", "值", "原因")
UNKNOWN_COLUMN = "未识别的列，已忽略"

Line = tuple[int, str, str, str]


def lines_of(report) -> Iterator[Line]:
    """A run's report (runner.Report) as lines: the unknown columns, then each refused row's problems."""
    for header in report.unknown_columns:
        yield 1, header, "", UNKNOWN_COLUMN
    for rejection in report.rejections:
        yield rejection.row, rejection.column, rejection.value or "", rejection.reason


def csv_chunks(lines: Iterable[Line], rows_per_chunk: int = 2000) -> Iterator[str]:
    """The report as CSV text, a chunk at a time (a report of a large file is streamed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(HEADER)
    for n, line in enumerate(lines, 1):
        writer.writerow(line)
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_bytes(lines: Iterable[Line]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("导入报告")
    sheet.append(HEADER)
    for line in lines:
        sheet.append(list(line))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
