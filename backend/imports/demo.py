"""Files to try the import on: what the demo county's provincial system might export.

Four files, written for the demo county loaded in the database (its villages, teams and
packages): ``residents.xlsx`` of residents not yet on file, then ``conditions.csv`` (GB18030, as
Excel in China saves a CSV), ``contracts.xlsx`` and ``follow-ups.csv`` (UTF-8 with a byte-order
mark) of their records. A few rows of each file are wrong on purpose, one for each of some
common mistakes, so that a dry run has something to report; the rest import. The same seed
writes the same files, so importing them again imports nothing twice.
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from faker import Faker

from backend import clock
from backend.demo.directory import COUNTY_CODE, team_finder
from backend.demo.residents import GIVEN_FEMALE, GIVEN_MALE
from backend.directory.models import Region, Team
from backend.extensions import db
from backend.imports.columns import CONDITIONS, CONTRACTS, FOLLOW_UPS, RESIDENTS
from backend.residents.models import Resident
from backend.security.fields import blind_index
from backend.security.identity import age_on, make_id_number

# Born elsewhere in 白城市 (通榆县): the numbers never meet those of the demo's own residents.
BIRTHPLACE = "220822"
FILES = {"residents": "residents.xlsx", "conditions": "conditions.csv", "contracts": "contracts.xlsx",
         "follow-ups": "follow-ups.csv"}
METHODS = ["门诊"] * 6 + ["家庭"] * 3 + ["电话"]


class NotLoaded(RuntimeError):
    pass


@dataclass
class Written:
    """What was written: each file's rows, and how many of them are wrong on purpose."""

    directory: Path
    rows: dict[str, int] = field(default_factory=dict)
    bad: dict[str, int] = field(default_factory=dict)


@dataclass
class Person:
    name: str
    sex: str
    born: date
    id_number: str
    phone: str | None
    village: Region
    groups: list[str]
    conditions: list[tuple[str, date, date]] = field(default_factory=list)  # (disease, diagnosed, registered)


def write_demo_files(directory: Path, residents: int = 200, seed: int = 2025) -> Written:
    """Write the four files into ``directory`` (made if missing) for ``residents`` new residents."""
    villages = list(db.session.scalars(sa.select(Region).where(
        Region.level == "village", Region.code.like(COUNTY_CODE[:6] + "%")).order_by(Region.code)))
    teams = list(db.session.scalars(sa.select(Team).where(Team.active.is_(True)).order_by(Team.name)))
    if not villages or not teams:
        raise NotLoaded("数据库中没有示范县（洮北区）的村和团队，请先运行 flask --app wsgi demo-data")
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    today = clock.today()
    on_file = set(db.session.scalars(sa.select(Resident.id_number_index)))
    people = _people(rng, fake, villages, residents, today, on_file)
    directory.mkdir(parents=True, exist_ok=True)
    written = Written(directory)
    serving = team_finder(teams)
    for kind, (rows, bad) in {
        "residents": _resident_rows(rng, people, villages),
        "conditions": _condition_rows(people, today),
        "contracts": _contract_rows(rng, people, serving, teams, today),
        "follow-ups": _follow_up_rows(rng, people, today),
    }.items():
        path = directory / FILES[kind]
        headers = [c.header for c in {"residents": RESIDENTS, "conditions": CONDITIONS, "contracts": CONTRACTS,
                                      "follow-ups": FOLLOW_UPS}[kind]]
        _write(path, headers, rows, "gb18030" if kind == "conditions" else "utf-8-sig")
        written.rows[kind], written.bad[kind] = len(rows), bad
    return written


def _people(rng: random.Random, fake: Faker, villages: list[Region], count: int, today: date,
            on_file: set[str]) -> list[Person]:
    people, used = [], set()
    while len(people) < count:
        sex = rng.choice(("male", "female"))
        age = rng.choices([rng.randint(0, 17), rng.randint(18, 44), rng.randint(45, 64), rng.randint(65, 90)],
                          [1, 3, 4, 3])[0]
        born = today - timedelta(days=age * 365 + rng.randint(0, 364))
        sequence = rng.randrange(0 if sex == "female" else 1, 1000, 2)  # odd 17th digit: male
        id_number = make_id_number(BIRTHPLACE, born, sequence)
        if id_number in used or blind_index(id_number, "id_number") in on_file:
            continue
        used.add(id_number)
        name = fake.last_name() + rng.choice(GIVEN_MALE if sex == "male" else GIVEN_FEMALE)
        groups = []
        if rng.random() < 0.05:
            groups.append("脱贫人口")
        if rng.random() < 0.03:
            groups.append("残疾人")
        person = Person(name, sex, born, id_number, fake.phone_number() if rng.random() < 0.85 else None,
                        rng.choice(villages), groups)
        for disease, share in (("hypertension", 0.35 if age >= 65 else 0.15), ("diabetes", 0.12 if age >= 45 else 0)):
            if age >= 35 and rng.random() < share:
                diagnosed = max(today - timedelta(days=rng.randint(60, 8 * 365)), born + timedelta(days=30 * 365))
                registered = min(diagnosed + timedelta(days=rng.randint(0, 30)), today)
                person.conditions.append((disease, diagnosed, registered))
        people.append(person)
    return people


def _resident_rows(rng: random.Random, people: list[Person], villages: list[Region]) -> tuple[list[list], int]:
    rows = [[p.name, "男" if p.sex == "male" else "女", p.born.isoformat(), p.id_number, p.phone,
             f"{p.village.name}{rng.randint(1, 8)}组{rng.randint(1, 60)}号", p.village.code, "、".join(p.groups)]
            for p in people]
    township = villages[0].parent_code
    sample = people[0]
    wrong_check = sample.id_number[:-1] + ("0" if sample.id_number[-1] != "0" else "1")
    woman = [make_id_number(BIRTHPLACE, date(1966, 6, 6), sequence) for sequence in (998, 992, 990)]
    bad = [  # each wrong in one way, as a dry run reports it
        [sample.name, "男" if sample.sex == "male" else "女", sample.born.isoformat(), wrong_check, None, "",
         villages[0].code, ""],                                                           # check character
        ["孙建军", "男", "1966-06-06", woman[0], None, "", villages[0].code, ""],         # sex against the number
        ["孙淑芬", "女", "1966-06-07", woman[1], None, "", villages[0].code, ""],         # birth date against it
        ["周玉兰", "女", "1966-06-06", woman[2], "0436-3212345", "", villages[0].code, ""],  # not a mobile number
        ["吴德明", "男", "1950-01-01", make_id_number(BIRTHPLACE, date(1950, 1, 1), 997), None, "", township, ""],
        ["郑秀英", "女", "1950-01-01", make_id_number(BIRTHPLACE, date(1950, 1, 1), 996), None, "",
         villages[-1].code, "老年人"],                                                    # a derived group
        [None, "男", "1950-01-01", make_id_number(BIRTHPLACE, date(1950, 1, 1), 995), None, "", villages[0].code, ""],
        rows[-1][:],                                                                       # the same person twice
    ]
    return _spread(rows, bad), len(bad)


def _condition_rows(people: list[Person], today: date) -> tuple[list[list], int]:
    names = {"hypertension": "高血压", "diabetes": "2型糖尿病"}
    rows = [[p.id_number, names[disease], diagnosed.isoformat(), registered.isoformat()]
            for p in people for disease, diagnosed, registered in p.conditions]
    someone = people[0]
    bad = [
        [someone.id_number, "冠心病", "2020-01-01", None],                                         # not managed here
        [someone.id_number, "高血压", (today + timedelta(days=30)).isoformat(), None],            # in the future
        [make_id_number(BIRTHPLACE, date(1955, 5, 5), 994), "高血压", "2020-01-01", None],      # not on file
    ]
    return _spread(rows, bad), len(bad)


def _contract_rows(rng: random.Random, people: list[Person], serving, teams: list[Team],
                   today: date) -> tuple[list[list], int]:
    rows = []
    contracted = []
    for person in people:
        team = serving(person.village.code)
        if team is None or rng.random() > 0.65:
            continue
        offered = {p.package_code for p in team.packages}
        age = age_on(person.born, today)
        diseases = {disease for disease, _, registered in person.conditions if registered <= today}
        packages = ["basic"]
        for code, wanted in (("elderly_care", age >= 65), ("hypertension_plus", "hypertension" in diseases),
                             ("diabetes_plus", "diabetes" in diseases)):
            if wanted and code in offered and rng.random() < 0.5:
                packages.append(code)
        if rng.random() < 0.15:  # last year's term, not renewed
            signed = today - timedelta(days=rng.randint(380, 450))
        else:
            signed = today - timedelta(days=rng.randint(0, 300))
        start = min(signed + timedelta(days=rng.randint(0, 5)), today)
        doctor = next((m.staff.name for m in team.members if m.team_role == "leader"), None)
        rows.append([person.id_number, team.name, "；".join(packages), signed.isoformat(), start.isoformat(),
                     doctor if rng.random() < 0.5 else None])
        contracted.append((person, team))
    person, team = next((p, t) for p, t in ((p, serving(p.village.code)) for p in people) if t is not None)
    elsewhere = next(t for t in teams if not any(a.region_code == person.village.code for a in t.service_area)
                     and serving(person.village.code) is not t)
    signed = (today - timedelta(days=10)).isoformat()
    bad = [
        [person.id_number, elsewhere.name, "basic", signed, None, None],          # not this village's team
        [person.id_number, team.name, "basic；vip", signed, None, None],          # no such package
        [person.id_number, team.name, "basic", signed, (today + timedelta(days=200)).isoformat(), None],
    ]
    return _spread(rows, bad), len(bad)


def _follow_up_rows(rng: random.Random, people: list[Person], today: date) -> tuple[list[list], int]:
    headers = [c.header for c in FOLLOW_UPS]
    rows = []
    for person in people:
        for disease, diagnosed, registered in person.conditions:
            controlled = rng.random() < 0.6
            day = max(registered, today - timedelta(days=365)) + timedelta(days=rng.randint(5, 14))
            while day <= today:
                cells = {"身份证号": person.id_number, "疾病": "高血压" if disease == "hypertension" else "2型糖尿病",
                         "随访日期": day.isoformat(), "随访方式": rng.choice(METHODS), "心率": rng.randint(62, 92),
                         "体重": round(rng.gauss(66, 8), 1), "身高": rng.randint(150, 180),
                         "服药依从性": rng.choice(["规律"] * 7 + ["间断"] * 2 + ["不服药"]), "药物不良反应": "无"}
                on_target = controlled if rng.random() < 0.8 else not controlled
                if disease == "hypertension":
                    sbp = rng.randint(118, 138) if on_target else rng.randint(152, 176)
                    cells |= {"收缩压": sbp, "舒张压": rng.randint(70, 86) if on_target else rng.randint(88, 102),
                              "症状": "" if on_target else rng.choice(["头晕", "头痛", "耳鸣", ""])}
                else:
                    cells |= {"空腹血糖": round(rng.uniform(5.0, 6.8) if on_target else rng.uniform(7.4, 11.5), 1),
                              "症状": "" if on_target else rng.choice(["多饮", "多尿", "多饮、多尿", ""])}
                rows.append([cells.get(h) for h in headers])
                day += timedelta(days=90 if on_target else 14)
    patient = next(p for p in people if any(d == "hypertension" for d, _, _ in p.conditions))
    diagnosed = next(d for disease, d, _ in patient.conditions if disease == "hypertension")

    def visit(**cells) -> list:
        base = {"身份证号": patient.id_number, "疾病": "高血压", "随访日期": today.isoformat(), "随访方式": "门诊",
                "收缩压": 150, "舒张压": 92}
        return [{**base, **cells}.get(h) for h in headers]

    bad = [
        visit(收缩压=400),                                                              # out of range
        visit(收缩压=None, 舒张压=None),                                                 # no blood pressure
        visit(随访日期=(diagnosed - timedelta(days=30)).isoformat()),                   # before the diagnosis
    ]
    return _spread(rows, bad), len(bad)


def _spread(rows: list[list], bad: list[list]) -> list[list]:
    """The bad rows spread through the good ones, as mistakes are."""
    out = list(rows)
    for n, row in enumerate(bad):
        out.insert(min(len(out), (n + 1) * len(out) // (len(bad) + 1) + n), row)
    return out


def _write(path: Path, headers: list[str], rows: list[list], encoding: str) -> None:
    if path.suffix == ".csv":
        with path.open("w", encoding=encoding, newline="") as out:
            writer = csv.writer(out)
            writer.writerow(headers)
            writer.writerows([["" if v is None else v for v in row] for row in rows])
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
