"""Importing a county's resident health files (居民健康档案).

Each row is checked as ``POST /residents`` checks a registration, plus what a file says that a
request does not: the sex and birth date must be the identity number's, the village must be a
village inside the importer's region. The identity number is the natural key: a resident already
on file (found through its blind index) is counted and skipped, so a file run twice, or run again
after an interruption, imports each resident once. Valid rows are written a batch at a time
through the model code the API uses, so they are encrypted, blind-indexed and masked as any other.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO, Callable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend import clock
from backend.directory.models import Region
from backend.directory.regions import InvalidRegionCode, is_within, level_of
from backend.extensions import db
from backend.imports.columns import GROUP_CODES, GROUP_SEPARATORS, RESIDENTS, SEX_NAMES
from backend.imports.files import SpreadsheetError, open_table
from backend.residents.models import Resident
from backend.residents.service import _normalize, new_resident
from backend.security.fields import blind_index
from backend.security.identity import birth_date_of, sex_of
from backend.security.masking import mask_id_number, mask_phone
from backend.unit_of_work import unit_of_work

log = logging.getLogger("jiayi.audit")

BATCH_SIZE = 1000
COLUMNS = {c.header: c for c in RESIDENTS}
_MASKS = {"id_number": mask_id_number, "phone": mask_phone}
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")


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


class _Regions:
    """Region levels, read once per code for the whole file."""

    def __init__(self, scope: str | None) -> None:
        self.scope = scope
        self._levels: dict[str, str | None] = {}

    def reason(self, code: str) -> str | None:
        try:
            level_of(code)
        except InvalidRegionCode as error:
            return str(error)
        if code not in self._levels:
            self._levels[code] = db.session.scalar(sa.select(Region.level).where(Region.code == code))
        level = self._levels[code]
        if level is None:
            return "区划不存在"
        if level != "village":
            return "请选择到村（社区）一级"
        if self.scope and not is_within(code, self.scope):
            return "该区划不在导入范围内"
        return None


def _text(value) -> str | None:
    """A cell as text: a number Excel kept for a code or a phone loses its ".0"."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    return str(value).strip() or None


def _date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.fullmatch(_text(value) or "")
    if match:
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            return None
    return None


def check_row(values: dict, regions: _Regions) -> tuple[dict | None, list[tuple[str, str]]]:
    """A row's resident (``data``, identity number, phone) or what is wrong with it, as
    [(field, reason)]: every problem of the row, not only the first."""
    problems: list[tuple[str, str]] = []
    text = {c.field: _text(values.get(c.header)) for c in RESIDENTS if c.field != "birth_date"}
    for column in RESIDENTS:
        if column.required and values.get(column.header) is None:
            problems.append((column.field, "必填"))
    name = text["name"]
    if name is not None and len(name) > 50:
        problems.append(("name", "姓名至多50个字"))
    errors: dict = {}
    request = {"phone": text["phone"]}
    if text["id_number"] is not None:
        request["id_number"] = text["id_number"]
    id_number, phone = _normalize(request, errors)  # the API's own checks and reasons
    problems += [(f, errors[f][0]) for f in ("id_number", "phone") if f in errors]
    if text["sex"] is not None:
        sex = SEX_NAMES.get(text["sex"])
        if sex is None:
            problems.append(("sex", "性别应为“男”或“女”"))
        elif id_number and sex != sex_of(id_number):
            problems.append(("sex", "性别与身份证号不符"))
    if values.get("出生日期") is not None:
        born = _date(values["出生日期"])
        if born is None:
            problems.append(("birth_date", "出生日期应为 YYYY-MM-DD 或 YYYY/M/D"))
        elif id_number and born != birth_date_of(id_number):
            problems.append(("birth_date", "出生日期与身份证号不符"))
    if text["address"] is not None and len(text["address"]) > 200:
        problems.append(("address", "现住址至多200个字"))
    if text["region_code"] is not None:
        reason = regions.reason(text["region_code"])
        if reason:
            problems.append(("region_code", reason))
    groups = []
    for part in re.split(f"[{GROUP_SEPARATORS}]", text["groups"] or ""):
        part = part.strip()
        if not part:
            continue
        if part not in GROUP_CODES:
            problems.append(("groups", f"未知或不能手工设置的重点人群：{part}（可填：{'、'.join(GROUP_CODES)}）"))
        elif GROUP_CODES[part] not in groups:
            groups.append(GROUP_CODES[part])
    if problems:
        return None, problems
    data = {"name": name, "region_code": text["region_code"], "address": text["address"], "groups": groups}
    return {"data": data, "id_number": id_number, "phone": phone}, []


def _shown(column_field: str, value) -> str | None:
    text = _text(value)
    mask = _MASKS.get(column_field)
    return mask(text) if mask and text is not None else text


def import_residents(source: str | os.PathLike | BinaryIO, *, dry_run: bool = False, region_code: str | None = None,
                     file_name: str | None = None, actor: str = "cli", batch_size: int = BATCH_SIZE,
                     on_progress: Callable[[int], None] | None = None) -> Report:
    """Check every row of the file and, unless ``dry_run``, write the valid ones that are not on
    file yet, ``batch_size`` to a transaction. Raises SpreadsheetError before any row is written
    when the file as a whole cannot be imported (not a spreadsheet, no data, a missing column, a
    region scope that does not exist); a formula found further down an xlsx stops the import
    there, with the batches before it written."""
    name = file_name or (os.path.basename(source) if isinstance(source, (str, os.PathLike)) else "upload")
    report = Report(file_name=str(name), dry_run=dry_run)
    if region_code is not None:
        try:
            level_of(region_code)
        except InvalidRegionCode as error:
            raise SpreadsheetError(f"导入范围 {region_code}：{error}") from None
        if db.session.get(Region, region_code) is None:
            raise SpreadsheetError(f"导入范围 {region_code}：区划不存在")
    regions = _Regions(region_code)
    try:
        with open_table(source) as table:
            missing = [c.header for c in RESIDENTS if c.required and c.header not in table.headers]
            if missing:
                raise SpreadsheetError("缺少必需的列：" + "、".join(missing))
            report.unknown_columns = [h for h in table.headers if h not in COLUMNS]
            seen: set[str] = set()  # blind indexes of this file's rows, for duplicates within it
            batch: list[tuple[int, dict, str]] = []
            for number, values in table.rows():
                report.read += 1
                checked, problems = check_row(values, regions)
                if checked is not None:
                    index = blind_index(checked["id_number"], "id_number")
                    if index in seen:
                        problems = [("id_number", "与本文件前面的行身份证号重复")]
                    else:
                        seen.add(index)
                        batch.append((number, checked, index))
                if problems:
                    _reject(report, number, values, problems)
                if len(batch) >= batch_size:
                    _write(batch, report, dry_run)
                    batch = []
                    if on_progress:
                        on_progress(report.read)
            _write(batch, report, dry_run)
            if on_progress:
                on_progress(report.read)
    finally:
        log.info("import residents by %s: file=%s dry_run=%s read=%d imported=%d already_on_file=%d rejected=%d at=%s",
                 actor, report.file_name, dry_run, report.read, report.imported, report.already_on_file,
                 report.rejected, clock.now().isoformat())
    return report


def _reject(report: Report, number: int, values: dict, problems: list[tuple[str, str]]) -> None:
    report.rejected += 1
    by_field = {c.field: c for c in RESIDENTS}
    order = list(by_field)
    for field_name, reason in sorted(problems, key=lambda problem: order.index(problem[0])):
        column = by_field[field_name]
        report.rejections.append(Rejection(number, column.header, _shown(field_name, values.get(column.header)),
                                           reason))


def _write(batch: list[tuple[int, dict, str]], report: Report, dry_run: bool) -> None:
    """One transaction: the rows whose identity number is not on file yet."""
    if not batch:
        return
    for attempt in (1, 2):
        on_file = set(db.session.scalars(sa.select(Resident.id_number_index).where(
            Resident.id_number_index.in_([index for _, _, index in batch]))))
        new = [checked for _, checked, index in batch if index not in on_file]
        if dry_run:
            db.session.rollback()
            break
        written = [new_resident(checked["data"], checked["id_number"], checked["phone"]) for checked in new]
        try:
            with unit_of_work() as session:
                session.add_all(written)
        except IntegrityError:
            # Someone registered one of them meanwhile: read what is on file again, once.
            if attempt == 2:
                raise
            continue
        for resident in written:  # not needed again: the session's memory stays flat
            db.session.expunge(resident)
        break
    report.already_on_file += len(batch) - len(new)
    report.imported += len(new)
