"""What every kind of import shares: the cells read as text and dates, the report, and the run
itself (the file opened and its headers mapped, each row checked, a batch at a time written).

A kind (``Importer``) says which columns it has, how a batch of rows is checked and how the
valid ones are written; the run does the rest the same way for every kind: missing and
unknown columns, a row's duplicate earlier in the file, the dry run, the progress callback and
the audit line.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO, Callable, Hashable

from backend import clock
from backend.directory.models import Region
from backend.directory.regions import InvalidRegionCode, level_of
from backend.errors import Conflict, ValidationFailed
from backend.extensions import db
from backend.imports.columns import Column
from backend.imports.files import SpreadsheetError, open_table
from backend.security.masking import mask_id_number, mask_phone

log = logging.getLogger("jiayi.audit")

BATCH_SIZE = 1000
WHOLE_ROW = "（整行）"
_MASKS = {"id_number": mask_id_number, "phone": mask_phone}
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


@dataclass
class Rejection:
    row: int
    column: str
    value: str | None  # masked when personal
    reason: str


@dataclass
class Report:
    file_name: str
    dry_run: bool
    read: int = 0
    imported: int = 0  # with a dry run: would be imported
    already_on_file: int = 0
    rejected: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"read": self.read, "imported": self.imported, "already_on_file": self.already_on_file,
                "rejected": self.rejected}


Problems = list[tuple[str, str]]  # (field, reason)


@dataclass
class Row:
    """A data row of the file on its way through a run: ``checked`` holds what the kind will
    write (None when the row has problems); ``key`` is its natural key within the file."""

    number: int
    values: dict
    checked: Any = None
    key: Hashable | None = None
    problems: Problems = field(default_factory=list)


@dataclass
class Written:
    """What a batch's write did: how many rows were new, how many on file already, and the rows
    refused at writing (a rule only the write can check)."""

    imported: int = 0
    already_on_file: int = 0
    refused: list[Row] = field(default_factory=list)


class Importer:
    """One kind of import. ``check`` fills in each row's ``checked`` and ``key``, or its
    ``problems``; ``write`` writes the checked rows (or, with ``dry_run``, only counts what it
    would write) and must leave a file run twice, or run again after an interruption, with
    each row once."""

    kind: str
    columns: tuple[Column, ...]
    # The problem of a row whose natural key an earlier row of the file has: (field, reason).
    duplicate: tuple[str, str]

    def __init__(self, region_code: str | None, actor: str) -> None:
        self.region_code = region_code
        self.actor = actor

    def check(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def write(self, rows: list[Row], dry_run: bool) -> Written:
        raise NotImplementedError


# Cells

def text_of(value) -> str | None:
    """A cell as text: a number Excel kept for a code or a phone loses its ".0"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    return str(value).strip() or None


def date_of(value) -> date | None:
    """An Excel date, or text as YYYY-MM-DD, YYYY/M/D or YYYY.M.D; None when it is none of them."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.fullmatch(text_of(value) or "")
    if match:
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            return None
    return None


def number_of(value):
    """A cell as a number for a schema to check: an int when it has no fraction, the text
    itself when it is not a number (the schema then says what it should be)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else value
    text = str(value).strip()
    if not _NUMBER.fullmatch(text):
        return text
    number = float(text)
    return int(number) if number.is_integer() else number  # "150.0", as some exports write it, is 150


def split_list(value, separators: str = "、,，;；") -> list[str]:
    return [part.strip() for part in re.split(f"[{re.escape(separators)}]", text_of(value) or "") if part.strip()]


def shown(column: Column, value) -> str | None:
    """A cell as the report shows it: personal values masked as the API masks them."""
    text = text_of(value)
    mask = _MASKS.get(column.field)
    return mask(text) if mask and text is not None else text


def check_scope(region_code: str | None) -> None:
    """The importer's region must be a region on file: the file is refused otherwise."""
    if region_code is None:
        return
    try:
        level_of(region_code)
    except InvalidRegionCode as error:
        raise SpreadsheetError(f"导入范围 {region_code}：{error}") from None
    if db.session.get(Region, region_code) is None:
        raise SpreadsheetError(f"导入范围 {region_code}：区划不存在")


# The run

def run_import(importer: Importer, source: str | os.PathLike | BinaryIO, *, dry_run: bool = False,
               file_name: str | None = None, batch_size: int = BATCH_SIZE,
               on_progress: Callable[[int], None] | None = None) -> Report:
    """Check every row of the file and, unless ``dry_run``, write the valid ones that are not on
    file yet, ``batch_size`` at a time. Raises SpreadsheetError before any row is written when
    the file as a whole cannot be imported (not a spreadsheet, no data, a missing column, a
    region scope that does not exist); a formula found further down an xlsx stops the import
    there, with the batches before it written."""
    name = file_name or (os.path.basename(source) if isinstance(source, (str, os.PathLike)) else "upload")
    report = Report(file_name=str(name), dry_run=dry_run)
    columns = importer.columns
    try:
        check_scope(importer.region_code)
        with open_table(source) as table:
            known = {c.header: c for c in columns}
            missing = [c.header for c in columns if c.required and c.header not in table.headers]
            if missing:
                raise SpreadsheetError("缺少必需的列：" + "、".join(missing))
            report.unknown_columns = [h for h in table.headers if h not in known]
            seen: set = set()  # natural keys of this file's rows, for duplicates within it
            batch: list[Row] = []
            for number, values in table.rows():
                report.read += 1
                batch.append(Row(number, values))
                if len(batch) >= batch_size:
                    _run_batch(importer, batch, seen, report, dry_run)
                    batch = []
                    if on_progress:
                        on_progress(report.read)
            _run_batch(importer, batch, seen, report, dry_run)
            if on_progress:
                on_progress(report.read)
    finally:
        log.info("import %s by %s: file=%s dry_run=%s read=%d imported=%d already_on_file=%d rejected=%d at=%s",
                 importer.kind, importer.actor, report.file_name, dry_run, report.read, report.imported,
                 report.already_on_file, report.rejected, clock.now().isoformat())
    return report


def importing(importer_class: type[Importer]) -> Callable[..., Report]:
    """The import function of a kind, whose rows ``importer_class`` checks and writes."""
    def run(source: str | os.PathLike | BinaryIO, *, dry_run: bool = False, region_code: str | None = None,
            file_name: str | None = None, actor: str = "cli", batch_size: int = BATCH_SIZE,
            on_progress: Callable[[int], None] | None = None) -> Report:
        return run_import(importer_class(region_code, actor), source, dry_run=dry_run, file_name=file_name,
                          batch_size=batch_size, on_progress=on_progress)

    run.__doc__ = f"Import a file of {importer_class.kind} (see ``run_import``)."
    return run


def _run_batch(importer: Importer, batch: list[Row], seen: set, report: Report, dry_run: bool) -> None:
    if not batch:
        return
    for row in batch:
        row.problems = [(c.field, "必填") for c in importer.columns
                        if c.required and row.values.get(c.header) is None]
    importer.check(batch)
    valid = []
    for row in batch:
        if row.problems:
            row.checked = None
            continue
        if row.key in seen:
            row.problems = [importer.duplicate]
            continue
        seen.add(row.key)
        valid.append(row)
    refused = [row for row in batch if row.problems]
    written = importer.write(valid, dry_run)
    report.imported += written.imported
    report.already_on_file += written.already_on_file
    for row in sorted(refused + written.refused, key=lambda r: r.number):
        reject(report, importer.columns, row)


def reject(report: Report, columns: tuple[Column, ...], row: Row) -> None:
    report.rejected += 1
    by_field = {c.field: c for c in columns}
    order = list(by_field)

    def place(problem: tuple[str, str]) -> int:
        return order.index(problem[0]) if problem[0] in by_field else -1

    for field_name, reason in sorted(row.problems, key=place):
        column = by_field.get(field_name)
        if column is None:
            report.rejections.append(Rejection(row.number, WHOLE_ROW, None, reason))
        else:
            report.rejections.append(Rejection(row.number, column.header, shown(column, row.values.get(column.header)),
                                               reason))


def write_through(written: Written, row: Row, save: Callable[[], tuple[Any, bool]]) -> None:
    """One row written by the API's own service function, ``save`` -> (record, created): counted
    as imported or on file (a conflict: stored meanwhile), or refused with the service's reasons."""
    try:
        record, created = save()
    except Conflict:
        written.already_on_file += 1
        return
    except ValidationFailed as error:
        row.problems = errors_as_problems(error.errors)
        written.refused.append(row)
        return
    db.session.expunge(record)  # not needed again: the session's memory stays flat
    if created:
        written.imported += 1
    else:
        written.already_on_file += 1


def errors_as_problems(errors: dict, fields: dict[str, str] | None = None) -> Problems:
    """A ValidationFailed's (or a schema's, flattened and translated) errors as problems; a
    field the file has under another name is renamed through ``fields``."""
    fields = fields or {}
    problems = []
    for name, reasons in errors.items():
        for reason in reasons if isinstance(reasons, list) else [reasons]:
            problems.append((fields.get(name, name), str(reason)))
    return problems
