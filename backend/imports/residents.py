"""Importing a county's resident health files (居民健康档案).

Each row is checked as ``POST /residents`` checks a registration, plus what a file says that a
request does not: the sex and birth date must be the identity number's, the village must be a
village inside the importer's region. The identity number is the natural key: a resident already
on file (found through its blind index) is counted and skipped, so a file run twice, or run again
after an interruption, imports each resident once. Valid rows are written a batch at a time
through the model code the API uses, so they are encrypted, blind-indexed and masked as any other.
"""
from __future__ import annotations


import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend.directory.models import Region
from backend.directory.regions import InvalidRegionCode, is_within, level_of
from backend import clock
from backend.extensions import db, new_id
from backend.imports.columns import GROUP_CODES, GROUP_SEPARATORS, RESIDENTS, SEX_NAMES
from backend.imports.runner import Importer, Row, Written, date_of, importing, split_list, text_of
from backend.residents.models import Resident, ResidentGroup
from backend.residents.service import _normalize, new_resident
from backend.security.fields import blind_index
from backend.security.identity import birth_date_of, sex_of
from backend.unit_of_work import unit_of_work


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


def check_row(values: dict, regions: _Regions) -> tuple[dict | None, list[tuple[str, str]]]:
    """A row's resident (``data``, identity number, phone) or what is wrong with it, as
    [(field, reason)]: every problem of the row beyond a missing required cell."""
    problems: list[tuple[str, str]] = []
    text = {c.field: text_of(values.get(c.header)) for c in RESIDENTS if c.field != "birth_date"}
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
        born = date_of(values["出生日期"])
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
    for part in split_list(text["groups"], GROUP_SEPARATORS):
        if part not in GROUP_CODES:
            problems.append(("groups", f"未知或不能手工设置的重点人群：{part}（可填：{'、'.join(GROUP_CODES)}）"))
        elif GROUP_CODES[part] not in groups:
            groups.append(GROUP_CODES[part])
    if problems:
        return None, problems
    data = {"name": name, "region_code": text["region_code"], "address": text["address"], "groups": groups}
    return {"data": data, "id_number": id_number, "phone": phone}, []


def _insert(session, residents: list[Resident]) -> None:
    """The residents (made by the API's model code: encrypted, blind-indexed, tagged) written
    together, not by an ORM flush of each object: a county's file has hundreds of thousands of
    them. The objects never enter the session, so its memory stays flat."""
    if not residents:
        return
    now = clock.utcnow()
    attributes = [(prop.key, prop.columns[0].name) for prop in sa.inspect(Resident).column_attrs]
    rows, tags = [], []
    for resident in residents:
        resident.id, resident.created_at, resident.updated_at = new_id(), now, now
        resident.phone_wrong = False
        rows.append({name: getattr(resident, key) for key, name in attributes})
        tags += [{"resident_id": resident.id, "group": t.group, "set_on": t.set_on, "removed_on": None}
                 for t in resident.tag_history]
    insert_rows(session, Resident.__table__, rows)
    if tags:
        insert_rows(session, ResidentGroup.__table__, tags)


def insert_rows(session, table: sa.Table, rows: list[dict]) -> None:
    """Many rows (keyed by column name) into ``table``: PostgreSQL's COPY, each value through its
    column's type as an INSERT would bind it (encryption included); one executemany elsewhere."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(table.insert(), rows)
        return
    columns = [table.c[name] for name in rows[0]]
    processors = [(c.name, c.type.bind_processor(connection.dialect)) for c in columns]
    names = ", ".join(f'"{c.name}"' for c in columns)
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([process(row[name]) if process else row[name] for name, process in processors])


class ResidentImporter(Importer):
    kind = "residents"
    columns = RESIDENTS
    duplicate = ("id_number", "与本文件前面的行身份证号重复")

    def __init__(self, region_code: str | None, actor: str) -> None:
        super().__init__(region_code, actor)
        self.regions = _Regions(region_code)

    def check(self, rows: list[Row]) -> None:
        for row in rows:
            checked, problems = check_row(row.values, self.regions)
            row.problems += problems
            if checked is not None and not row.problems:
                row.checked = checked
                row.key = blind_index(checked["id_number"], "id_number")

    def write(self, rows: list[Row], dry_run: bool) -> Written:
        """One transaction: the rows whose identity number is not on file yet."""
        if not rows:
            return Written()
        for attempt in (1, 2):
            on_file = set(db.session.scalars(sa.select(Resident.id_number_index).where(
                Resident.id_number_index.in_([row.key for row in rows]))))
            new = [row.checked for row in rows if row.key not in on_file]
            if dry_run:
                db.session.rollback()
                break
            written = [new_resident(checked["data"], checked["id_number"], checked["phone"]) for checked in new]
            try:
                with unit_of_work() as session:
                    _insert(session, written)
            except IntegrityError:
                # Someone registered one of them meanwhile: read what is on file again, once.
                if attempt == 2:
                    raise
                continue
            break
        return Written(imported=len(new), already_on_file=len(rows) - len(new))


import_residents = importing(ResidentImporter)
