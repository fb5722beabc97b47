"""What the imports of a resident's records (conditions, contracts, follow-ups) share: each row
names its resident by identity number, found through the blind index among the residents on
file inside the importer's region; and the import acts as a county administrator of that region,
so that the services the API's routes call can be called for its rows too."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from backend import clock
from backend.auth.principal import Principal
from backend.directory.regions import is_within
from backend.extensions import db
from backend.imports.runner import Importer, Row, date_of, text_of
from backend.residents.models import Resident
from backend.security.fields import blind_index
from backend.security.identity import InvalidIdNumber, normalize_id_number

NOT_ON_FILE = "该身份证号的居民未建档，请先导入居民"
OUT_OF_SCOPE = "该居民不在导入范围内"


@dataclass(frozen=True)
class OnFile:
    """What a record's checks need of its resident."""

    id: str
    birth_date: date
    region_code: str | None


def importer_principal(region_code: str | None) -> Principal:
    """Who the services see writing an import's records: a county administrator of the import's
    region (of everything without one). It is no staff member, so the records it writes name no
    one as having registered or recorded them."""
    return Principal(kind="staff", id=None, name="导入", roles=frozenset({"county_admin"}),  # type: ignore[arg-type]
                     region_code=region_code)


class RecordImporter(Importer):
    """A kind whose rows each name a resident on file in their first column, 身份证号."""

    def __init__(self, region_code: str | None, actor: str) -> None:
        super().__init__(region_code, actor)
        self.principal = importer_principal(region_code)

    def residents_of(self, rows: list[Row]) -> dict[int, OnFile]:
        """Each row's resident, by row number; a row whose number is wrong, whose resident is not
        on file or lives outside the import's region gets that problem instead."""
        today = clock.today()
        indexes: dict[int, str] = {}
        for row in rows:
            text = text_of(row.values.get("身份证号"))
            if text is None:
                continue
            try:
                indexes[row.number] = blind_index(normalize_id_number(text, today), "id_number")
            except InvalidIdNumber as error:
                row.problems.append(("id_number", error.reason))
        found = {index: OnFile(id, born, region) for index, id, born, region in db.session.execute(
            sa.select(Resident.id_number_index, Resident.id, Resident.birth_date, Resident.region_code)
            .where(Resident.id_number_index.in_(set(indexes.values()))))} if indexes else {}
        residents = {}
        for row in rows:
            if row.number not in indexes:
                continue
            resident = found.get(indexes[row.number])
            if resident is None:
                row.problems.append(("id_number", NOT_ON_FILE))
            elif self.region_code and not (resident.region_code and is_within(resident.region_code,
                                                                                self.region_code)):
                row.problems.append(("id_number", OUT_OF_SCOPE))
            else:
                residents[row.number] = resident
        return residents


def parse_date(row: Row, header: str, field: str, problems: list) -> date | None:
    """The cell as a date; a cell that is not one is a problem named for its column."""
    value = row.values.get(header)
    if value is None:
        return None
    parsed = date_of(value)
    if parsed is None:
        problems.append((field, f"{header}应为 YYYY-MM-DD 或 YYYY/M/D"))
    return parsed


def parse_code(row: Row, header: str, field: str, codes: dict, allowed: tuple, problems: list):
    """A coded answer, by its Chinese words or the system's own code."""
    text = text_of(row.values.get(header))
    if text is None:
        return None
    if text in codes:
        return codes[text]
    if text in allowed:
        return text
    problems.append((field, f"{header}应为：" + "、".join(codes)))
    return None
