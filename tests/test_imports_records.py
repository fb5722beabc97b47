"""Importing a county's chronic conditions, contracts and follow-ups: every kind of bad row with
its report line, re-runs and interrupted runs, the region scope, encodings, a visit imported
against the same visit entered through the API, and the commands."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from backend import clock
from backend.contracts.models import Contract
from backend.extensions import db
from backend.followups import rules
from backend.followups.models import Condition, FollowUp
from backend.imports.conditions import import_conditions
from backend.imports.contracts import ContractImporter, import_contracts
from backend.imports.followups import import_follow_ups
from tests.factories import (
    COUNTY, OTHER_VILLAGE, TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, add_resident, id_number_for,
)

TODAY = "2025-06-16T10:00:00+08:00"
LIU = id_number_for(date(1958, 3, 9), 472)      # 67, 平安村
WANG = id_number_for(date(1971, 11, 2), 131)    # 53, 永安村
ZHAO = id_number_for(date(1965, 4, 5), 211)     # 60, 青山村 (team b)
CHEN = id_number_for(date(1960, 1, 1), 311)     # 镇赉县: outside the county
YOUNG = id_number_for(date(1990, 5, 5), 412)    # 35, 平安村
NOBODY = id_number_for(date(1980, 1, 1), 555)   # not on file


def masked(id_number: str) -> str:
    return id_number[:6] + "*" * 8 + id_number[-4:]


@pytest.fixture
def people(app, county):
    clock.freeze(clock.parse_moment(TODAY))
    found = {
        "liu": add_resident("刘桂兰", LIU, "13604361234", VILLAGE_A1),
        "wang": add_resident("王振国", WANG, None, VILLAGE_A2),
        "zhao": add_resident("赵青山", ZHAO, None, VILLAGE_B1),
        "chen": add_resident("陈东风", CHEN, None, OTHER_VILLAGE),
        "young": add_resident("李小燕", YOUNG, None, VILLAGE_A1),
    }
    return {key: resident.id for key, resident in found.items()}


def table(headers: list[str], rows: list[list], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode(encoding)


def lines(report) -> list[tuple]:
    return [(r.row, r.column, r.value or "", r.reason) for r in report.rejections]


def expected_lines(bad: list[tuple], first_row: int) -> list[tuple]:
    """Bad rows (row, (column, value, reason)...) as report lines, numbered from ``first_row``."""
    out = []
    for number, (_, *problems) in enumerate(bad, start=first_row):
        out += [(number, *problem) for problem in problems]
    return out


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def register(resident_id: str, disease: str, diagnosed_on: date, registered_on: date) -> None:
    db.session.add(Condition(resident_id=resident_id, disease=disease, diagnosed_on=diagnosed_on,
                             registered_on=registered_on, next_due_on=rules.first_due_on(registered_on)))
    db.session.commit()


# Conditions

CONDITION_HEADERS = ["身份证号", "疾病", "确诊日期", "管理日期", "备注"]
CONDITION_GOOD = [[LIU, "高血压", "2019-05-20", "2019/6/1", "老病号"], [WANG, "2型糖尿病", "2020-01-01", None, None]]
CONDITION_ON_FILE = [ZHAO, "糖尿病", "2018-02-02", "2018-03-01", None]
CONDITION_BAD = [
    ([None, "高血压", "2019-05-20", None], ("身份证号", "", "必填")),
    (["22080219580309", "高血压", "2019-05-20", None], ("身份证号", "**************", "身份证号应为18位")),
    ([NOBODY, "高血压", "2019-05-20", None], ("身份证号", masked(NOBODY), "该身份证号的居民未建档，请先导入居民")),
    ([CHEN, "高血压", "2019-05-20", None], ("身份证号", masked(CHEN), "该居民不在导入范围内")),
    ([YOUNG, "冠心病", "2019-05-20", None], ("疾病", "冠心病", "疾病应为：高血压、2型糖尿病、糖尿病、原发性高血压")),
    ([YOUNG, "高血压", "2019-13-01", None], ("确诊日期", "2019-13-01", "确诊日期应为 YYYY-MM-DD 或 YYYY/M/D")),
    ([YOUNG, "高血压", None, None], ("确诊日期", "", "必填")),
    ([YOUNG, "高血压", "2025-07-01", None], ("确诊日期", "2025-07-01", "不能晚于今天"),
     ("管理日期", "", "不能早于确诊日期")),  # the registration defaults to today
    ([YOUNG, "高血压", "1989-01-01", None], ("确诊日期", "1989-01-01", "不能早于出生日期")),
    ([YOUNG, "高血压", "2020-01-01", "2019-12-31"], ("管理日期", "2019-12-31", "不能早于确诊日期")),
    ([YOUNG, "高血压", "2020-01-01", "2025-06-17"], ("管理日期", "2025-06-17", "不能晚于今天")),
]


def condition_file(encoding: str = "utf-8") -> tuple[bytes, list[tuple]]:
    rows = CONDITION_GOOD + [CONDITION_ON_FILE] + [bad[0] + [None] for bad in CONDITION_BAD] + [
        [LIU, "原发性高血压", "2019-05-20", None, None]]
    expected = expected_lines(CONDITION_BAD, first_row=5) + [
        (len(rows) + 1, "疾病", "原发性高血压", "与本文件前面的行重复（同一居民、同一疾病）")]
    return table(CONDITION_HEADERS, rows, encoding), expected


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_every_kind_of_bad_condition_row_is_reported_once_and_the_rest_registered(people, encoding):
    register(people["zhao"], "diabetes", date(2018, 2, 2), date(2018, 3, 1))
    data, expected = condition_file(encoding)
    report = import_conditions(io.BytesIO(data), region_code=COUNTY)
    assert report.counts() == {"read": 15, "imported": 2, "already_on_file": 1, "rejected": len(CONDITION_BAD) + 1}
    assert report.unknown_columns == ["备注"]
    assert lines(report) == expected
    liu = db.session.scalar(sa.select(Condition).where(Condition.resident_id == people["liu"]))
    assert (liu.disease, liu.diagnosed_on, liu.registered_on) == ("hypertension", date(2019, 5, 20), date(2019, 6, 1))
    assert liu.next_due_on == date(2019, 6, 15) and liu.region_code == VILLAGE_A1 and liu.registered_by_id is None
    wang = db.session.scalar(sa.select(Condition).where(Condition.resident_id == people["wang"]))
    assert (wang.registered_on, wang.next_due_on) == (date(2025, 6, 16), date(2025, 6, 30))
    assert count(Condition) == 3


def test_a_condition_dry_run_writes_nothing_and_reports_everything(people):
    register(people["zhao"], "diabetes", date(2018, 2, 2), date(2018, 3, 1))
    data, expected = condition_file()
    report = import_conditions(io.BytesIO(data), region_code=COUNTY, dry_run=True)
    assert report.counts() == {"read": 15, "imported": 2, "already_on_file": 1, "rejected": len(CONDITION_BAD) + 1}
    assert lines(report) == expected
    assert count(Condition) == 1


def test_conditions_run_again_are_registered_once(people):
    data, _ = condition_file()
    import_conditions(io.BytesIO(data), batch_size=4, region_code=COUNTY)
    again = import_conditions(io.BytesIO(data), batch_size=4, region_code=COUNTY)
    assert again.counts()["imported"] == 0 and again.counts()["already_on_file"] == 3
    assert count(Condition) == 3


def test_an_imported_condition_is_scheduled_as_one_registered_through_the_api(people, client, county):
    import_conditions(io.BytesIO(table(CONDITION_HEADERS, [[LIU, "高血压", "2025-06-01", "2025-06-05", None]])))
    headers = county.headers(client, "doctor_a")
    posted = client.post(f"/api/v1/residents/{people['young']}/conditions", headers=headers,
                         json={"disease": "hypertension", "diagnosed_on": "2025-06-01", "registered_on": "2025-06-05"})
    assert posted.status_code == 201, posted.get_json()
    imported = client.get(f"/api/v1/residents/{people['liu']}/conditions", headers=headers).get_json()[0]
    assert imported["next_due_on"] == posted.get_json()["next_due_on"] == "2025-06-19"
    due = client.get("/api/v1/follow-ups/due?window=week", headers=headers).get_json()
    assert {item["resident"]["id"] for item in due["items"]} == {people["liu"], people["young"]}


def test_the_region_code_keeps_an_import_to_its_residents(people):
    rows = [[LIU, "高血压", "2020-01-01", None, None], [ZHAO, "高血压", "2020-01-01", None, None]]
    report = import_conditions(io.BytesIO(table(CONDITION_HEADERS, rows)), region_code=TOWNSHIP_A)
    assert report.counts()["imported"] == 1
    assert lines(report) == [(3, "身份证号", masked(ZHAO), "该居民不在导入范围内")]
    everywhere = import_conditions(io.BytesIO(table(CONDITION_HEADERS, rows)))
    assert everywhere.counts() == {"read": 2, "imported": 1, "already_on_file": 1, "rejected": 0}


# Contracts

CONTRACT_HEADERS = ["身份证号", "签约团队", "服务包", "签约日期", "开始日期", "签约医生"]


def contract_rows(team_a_id: str) -> tuple[list[list], list[tuple]]:
    good = [
        [LIU, "平安镇家医一队", "basic；老年人个性化包", "2025-03-01", "2025-03-05", "王医生"],
        [WANG, team_a_id, "基础包", "2024-03-01", None, None],          # the term ended: expired
        [WANG, "平安镇家医一队", "basic", "2025/3/1", "2025/3/1", None],
    ]
    on_file = [[ZHAO, "青山镇家医一队", "basic", "2025-01-10", None, None]]
    bad = [
        ([YOUNG, "不存在的团队", "basic", "2025-03-01", None, None], ("签约团队", "不存在的团队", "团队不存在")),
        ([YOUNG, "青山镇家医一队", "basic", "2025-03-01", None, None],
         ("签约团队", "青山镇家医一队", "该团队不服务居民所在的村（社区）")),
        ([YOUNG, "平安镇家医一队", "vip", "2025-03-01", None, None], ("服务包", "vip", "服务包不存在：vip")),
        ([ZHAO, "青山镇家医一队", "elderly", "2025-05-01", None, None], ("服务包", "elderly", "该团队不提供：elderly")),
        ([YOUNG, "平安镇家医一队", "basic,elderly", "2025-03-01", None, None],
         ("服务包", "basic,elderly", "居民不属于该服务包的适用人群：elderly")),
        ([YOUNG, "平安镇家医一队", None, "2025-03-01", None, None], ("服务包", "", "必填")),
        ([YOUNG, "平安镇家医一队", "basic", "3/1/2025", None, None],
         ("签约日期", "3/1/2025", "签约日期应为 YYYY-MM-DD 或 YYYY/M/D")),
        ([YOUNG, "平安镇家医一队", "basic", "2025-07-01", None, None], ("签约日期", "2025-07-01", "签约日期不能晚于今天")),
        ([YOUNG, "平安镇家医一队", "basic", "2025-03-01", "2025-02-28", None],
         ("开始日期", "2025-02-28", "不得早于签约日期（2025-03-01）")),
        ([YOUNG, "平安镇家医一队", "basic", "2025-03-01", "2025-06-01", None],
         ("开始日期", "2025-06-01", "开始日期不得晚于签约后90天")),
        ([YOUNG, "平安镇家医一队", "basic", "2025-03-01", None, "刘医生"], ("签约医生", "刘医生", "不是该团队的成员")),
        ([NOBODY, "平安镇家医一队", "basic", "2025-03-01", None, None],
         ("身份证号", masked(NOBODY), "该身份证号的居民未建档，请先导入居民")),
        ([ZHAO, "青山镇家医一队", "basic", "2025-05-01", None, None],
         ("身份证号", masked(ZHAO), "该居民已有待审核或生效中的签约")),
        ([YOUNG, "平安镇家医一队", "basic", "2025-04-01", None, None], ("签约团队", "平安镇家医一队", "该团队签约人数已满")),
    ]
    rows = good + on_file + [r for r, _ in bad] + [[LIU, "平安镇家医一队", "basic", "2025-03-01", "2025-03-05", None]]
    expected = expected_lines(bad, first_row=6) + [
        (len(rows) + 1, "开始日期", "2025-03-05", "与本文件前面的行重复（同一居民、同一开始日期）")]
    return rows, expected


@pytest.fixture
def contracts_county(people, county):
    """Team a holds two live contracts at most; 赵青山 has this year's contract with team b."""
    county.teams["a"].capacity_limit = 2
    db.session.add(Contract(resident_id=people["zhao"], team_id=county.teams["b"].id, status="active",
                            start_date=date(2025, 1, 10), end_date=date(2026, 1, 9), created_by_kind="staff",
                            created_by_id=county.staff["doctor_b"].id))
    db.session.commit()
    return county


def test_every_kind_of_bad_contract_row_is_reported_once_and_the_rest_signed(people, contracts_county):
    rows, expected = contract_rows(contracts_county.teams["a"].id)
    report = import_contracts(io.BytesIO(table(CONTRACT_HEADERS, rows, "gb18030")), region_code=COUNTY)
    assert report.counts() == {"read": len(rows), "imported": 3, "already_on_file": 1, "rejected": 15}
    assert lines(report) == expected
    liu = db.session.scalar(sa.select(Contract).where(Contract.resident_id == people["liu"]))
    assert (liu.status, liu.start_date, liu.end_date) == ("active", date(2025, 3, 5), date(2026, 3, 4))
    assert liu.package_codes == ["basic", "elderly"] and liu.price_fen == 42000
    assert liu.doctor_id == contracts_county.staff["doctor_a"].id and liu.region_code == VILLAGE_A1
    assert [item.code for item in liu.items] == ["health_check"]
    assert liu.created_at.date() == date(2025, 3, 1)
    terms = list(db.session.scalars(sa.select(Contract).where(Contract.resident_id == people["wang"])
                                    .order_by(Contract.start_date)))
    assert [(c.status, c.start_date, c.end_date, c.ended_on) for c in terms] == [
        ("expired", date(2024, 3, 1), date(2025, 2, 28), date(2025, 2, 28)),
        ("active", date(2025, 3, 1), date(2026, 2, 28), None)]
    assert count(Contract) == 4


def test_imported_contracts_are_seen_through_the_api(people, contracts_county, client):
    rows, _ = contract_rows(contracts_county.teams["a"].id)
    import_contracts(io.BytesIO(table(CONTRACT_HEADERS, rows[:1])))
    headers = contracts_county.headers(client, "doctor_a")
    page = client.get(f"/api/v1/teams/{contracts_county.teams['a'].id}/contracts?status=active", headers=headers)
    assert [(c["resident_id"], c["status"], c["start_date"]) for c in page.get_json()["items"]] == [
        (people["liu"], "active", "2025-03-05")]


def test_a_contract_dry_run_writes_nothing_and_a_rerun_signs_nothing_twice(people, contracts_county):
    rows, expected = contract_rows(contracts_county.teams["a"].id)
    data = table(CONTRACT_HEADERS, rows)
    dry = import_contracts(io.BytesIO(data), dry_run=True, region_code=COUNTY)
    assert dry.counts()["imported"] == 3 and lines(dry) == expected and count(Contract) == 1
    import_contracts(io.BytesIO(data), region_code=COUNTY)
    again = import_contracts(io.BytesIO(data), region_code=COUNTY)
    assert (again.counts()["imported"], again.counts()["already_on_file"]) == (0, 4)
    assert count(Contract) == 4


def test_contracts_interrupted_by_a_failed_write_are_signed_once_when_run_again(people, county, monkeypatch):
    rows = [[id_number, "平安镇家医一队", "basic", "2025-03-01", None, None] for id_number in (LIU, WANG, YOUNG)]
    data = table(CONTRACT_HEADERS, rows)
    written = ContractImporter._contract
    calls = []

    def failing(self, row, today, groups):
        calls.append(row.number)
        if len(calls) == 3:  # the second batch's first contract: the database went away
            raise RuntimeError("connection lost")
        return written(self, row, today, groups)

    monkeypatch.setattr(ContractImporter, "_contract", failing)
    with pytest.raises(RuntimeError):
        import_contracts(io.BytesIO(data), batch_size=2)
    assert count(Contract) == 2
    monkeypatch.setattr(ContractImporter, "_contract", written)
    rest = import_contracts(io.BytesIO(data), batch_size=2)
    assert rest.counts() == {"read": 3, "imported": 1, "already_on_file": 2, "rejected": 0}
    assert sorted(db.session.scalars(sa.select(Contract.resident_id))) == sorted(
        [people["liu"], people["wang"], people["young"]])


# Follow-ups

FOLLOW_UP_HEADERS = ["身份证号", "疾病", "随访日期", "随访方式", "症状", "收缩压", "舒张压", "体重", "身高", "心率",
                     "空腹血糖", "服药依从性", "药物不良反应", "并发症"]


def visit(id_number=LIU, disease="高血压", on="2025-03-10", method="门诊", symptoms=None, sbp=150, dbp=95,
          weight=68, height=160, heart_rate=78, glucose=None, adherence="规律", adverse="无", complication="无"):
    return [id_number, disease, on, method, symptoms, sbp, dbp, weight, height, heart_rate, glucose, adherence,
            adverse, complication]


FOLLOW_UP_GOOD = [
    visit(symptoms="头晕"),
    visit(on="2025-04-10", method="家庭", sbp=138, dbp=85),
    visit(id_number=WANG, disease="2型糖尿病", on="2025-05-01", method="电话", symptoms="多饮、多尿", sbp=None,
          dbp=None, glucose=8.2),
]
FOLLOW_UP_ON_FILE = visit(on="2025-02-01", sbp=132, dbp=82)
FOLLOW_UP_BAD = [
    (visit(id_number=CHEN), ("身份证号", masked(CHEN), "该居民不在导入范围内")),
    (visit(disease="2型糖尿病", glucose=7.5), ("疾病", "2型糖尿病", "该居民未登记此慢病，请先导入慢病登记")),
    (visit(on="2025-02-30"), ("随访日期", "2025-02-30", "随访日期应为 YYYY-MM-DD 或 YYYY/M/D")),
    (visit(on="2025-06-17"), ("随访日期", "2025-06-17", "随访日期不能晚于今天")),
    (visit(on="2019-01-01"), ("随访日期", "2019-01-01", "随访日期不能早于确诊日期（2019-05-20）")),
    (visit(method="微信"), ("随访方式", "微信", "随访方式应为：门诊、家庭、家庭访视、电话、网络、在线")),
    (visit(symptoms="头晕、咳嗽"), ("症状", "头晕、咳嗽", "未知的症状：咳嗽")),
    (visit(sbp=400), ("收缩压", "400", "须在 50 到 300 之间")),
    (visit(sbp="高"), ("收缩压", "高", "应为整数")),
    (visit(sbp=120, dbp=130), ("舒张压", "130", "舒张压须低于收缩压")),
    (visit(sbp=None, dbp=80), ("收缩压", "", "高血压随访须填写血压")),
    (visit(weight=500), ("体重", "500", "须在 2 到 300 之间")),
    (visit(heart_rate=10), ("心率", "10", "须在 20 到 250 之间")),
    (visit(id_number=WANG, disease="糖尿病", sbp=None, dbp=None), ("空腹血糖", "", "糖尿病随访须填写空腹血糖")),
    (visit(id_number=WANG, disease="糖尿病", sbp=None, dbp=None, glucose=50),
     ("空腹血糖", "50", "须在 1.0 到 40.0 之间")),
    (visit(adherence="偶尔"), ("服药依从性", "偶尔", "服药依从性应为：规律、间断、不服药")),
    (visit(adverse="不知道"), ("药物不良反应", "不知道", "药物不良反应应为“有”或“无”")),
    (visit(complication="好转"), ("并发症", "好转", "并发症应为：无、新发、加重")),
]


@pytest.fixture
def patients(people, county, client):
    """刘桂兰 under management for hypertension with a visit entered through the API; 王振国 for diabetes."""
    register(people["liu"], "hypertension", date(2019, 5, 20), date(2019, 6, 1))
    register(people["wang"], "diabetes", date(2020, 1, 1), date(2020, 1, 10))
    register(people["chen"], "hypertension", date(2019, 5, 20), date(2019, 6, 1))
    posted = client.post(f"/api/v1/residents/{people['liu']}/follow-ups", headers=county.headers(client, "doctor_a"),
                         json={"disease": "hypertension", "visited_on": "2025-02-01", "method": "clinic",
                               "sbp": 132, "dbp": 82})
    assert posted.status_code == 201, posted.get_json()
    return people


def follow_up_file(encoding="utf-8") -> tuple[bytes, list[tuple]]:
    rows = FOLLOW_UP_GOOD + [FOLLOW_UP_ON_FILE] + [r for r, _ in FOLLOW_UP_BAD] + [visit(sbp=155, dbp=92)]
    expected = expected_lines(FOLLOW_UP_BAD, first_row=6) + [
        (len(rows) + 1, "随访日期", "2025-03-10", "与本文件前面的行重复（同一居民、同一疾病、同一随访日期）")]
    return table(FOLLOW_UP_HEADERS, rows, encoding), expected


def test_every_kind_of_bad_follow_up_row_is_reported_once_and_the_rest_recorded(patients):
    data, expected = follow_up_file("utf-8-sig")
    report = import_follow_ups(io.BytesIO(data), region_code=COUNTY)
    assert report.counts() == {"read": 23, "imported": 3, "already_on_file": 1, "rejected": len(FOLLOW_UP_BAD) + 1}
    assert lines(report) == expected
    visits = list(db.session.scalars(sa.select(FollowUp).where(FollowUp.resident_id == patients["liu"])
                                     .order_by(FollowUp.visited_on)))
    assert [(v.visited_on, v.classification, v.next_due_on) for v in visits] == [
        (date(2025, 2, 1), "controlled", date(2025, 5, 2)),
        (date(2025, 3, 10), "uncontrolled", date(2025, 3, 24)),
        (date(2025, 4, 10), "controlled", date(2025, 7, 9))]
    assert visits[1].symptoms == ["dizziness"] and visits[1].medication_adherence == "regular"
    assert visits[1].bmi == 26.6 and visits[1].recorded_by_id is None
    liu = db.session.scalar(sa.select(Condition).where(Condition.resident_id == patients["liu"]))
    assert (liu.next_due_on, liu.last_visited_on) == (date(2025, 7, 9), date(2025, 4, 10))
    wang = db.session.scalar(sa.select(FollowUp).where(FollowUp.resident_id == patients["wang"]))
    assert (wang.method, wang.fasting_glucose, wang.symptoms, wang.classification) == (
        "phone", 8.2, ["polydipsia", "polyuria"], "uncontrolled")


def test_a_follow_up_dry_run_writes_nothing_and_a_rerun_records_nothing_twice(patients):
    data, expected = follow_up_file()
    dry = import_follow_ups(io.BytesIO(data), dry_run=True, region_code=COUNTY)
    assert dry.counts()["imported"] == 3 and lines(dry) == expected and count(FollowUp) == 1
    import_follow_ups(io.BytesIO(data), region_code=COUNTY)
    again = import_follow_ups(io.BytesIO(data), region_code=COUNTY)
    assert (again.counts()["imported"], again.counts()["already_on_file"]) == (0, 4)
    assert count(FollowUp) == 4


def test_follow_ups_interrupted_midway_are_recorded_once_when_run_again(patients):
    rows = [visit(on=(date(2025, 1, 1) + timedelta(days=20 * n)).isoformat(), sbp=150 - n, dbp=90)
            for n in range(5)]
    data = table(FOLLOW_UP_HEADERS, rows)

    def interrupt(read: int) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, after the first batch

    with pytest.raises(KeyboardInterrupt):
        import_follow_ups(io.BytesIO(data), batch_size=2, on_progress=interrupt)
    assert count(FollowUp) == 3
    rest = import_follow_ups(io.BytesIO(data), batch_size=2)
    assert rest.counts() == {"read": 5, "imported": 3, "already_on_file": 2, "rejected": 0}
    assert count(FollowUp) == 6


def file_contents(path, data: bytes | None = None):
    """What a generated file holds: its bytes, or an .xlsx's cells sheet by sheet."""
    data = path.read_bytes() if data is None else data
    if path.suffix != ".xlsx":
        return data
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    return [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook.worksheets]


def test_an_imported_visit_is_classified_and_scheduled_as_the_same_visit_entered_through_the_api(
        app, county, client):
    clock.freeze(clock.parse_moment(TODAY))
    imported_id, posted_id = id_number_for(date(1955, 1, 1), 100), id_number_for(date(1955, 1, 1), 102)
    imported = add_resident("甲", imported_id, None, VILLAGE_A1).id
    posted = add_resident("乙", posted_id, None, VILLAGE_A1).id
    for resident in (imported, posted):
        register(resident, "hypertension", date(2020, 1, 1), date(2020, 1, 1))
    visits = [  # uncontrolled; urgent and two uncontrolled in a row; controlled; an adverse reaction
        {"on": "2025-01-05", "sbp": 160, "dbp": 95, "symptoms": None, "adverse": "无"},
        {"on": "2025-01-19", "sbp": 185, "dbp": 100, "symptoms": "剧烈头痛", "adverse": "无"},
        {"on": "2025-02-02", "sbp": 130, "dbp": 80, "symptoms": None, "adverse": "无"},
        {"on": "2025-05-02", "sbp": 132, "dbp": 84, "symptoms": None, "adverse": "有"},
    ]
    report = import_follow_ups(io.BytesIO(table(FOLLOW_UP_HEADERS, [
        visit(id_number=imported_id, on=v["on"], sbp=v["sbp"], dbp=v["dbp"], symptoms=v["symptoms"],
              adverse=v["adverse"]) for v in visits])))
    assert report.counts()["imported"] == 4
    headers = county.headers(client, "doctor_a")
    for v in visits:
        answer = client.post(f"/api/v1/residents/{posted}/follow-ups", headers=headers, json={
            "disease": "hypertension", "visited_on": v["on"], "method": "clinic", "sbp": v["sbp"], "dbp": v["dbp"],
            "weight_kg": 68, "height_cm": 160, "heart_rate": 78, "medication_adherence": "regular",
            "adverse_reaction": v["adverse"] == "有", "complication": "none",
            "symptoms": ["severe_headache"] if v["symptoms"] else []})
        assert answer.status_code == 201, answer.get_json()

    def outcome(resident_id):
        rows = client.get(f"/api/v1/residents/{resident_id}/follow-ups", headers=headers).get_json()["items"]
        keys = ("visited_on", "classification", "refer", "urgent_referral", "referral_reasons", "next_due_on",
                "bmi", "symptoms", "sbp", "dbp")
        return [{k: row[k] for k in keys} for row in rows]

    assert outcome(imported) == outcome(posted)
    assert [row["classification"] for row in outcome(imported)] == [
        "adverse_reaction", "controlled", "uncontrolled", "uncontrolled"]
    schedule = {c.resident_id: (c.next_due_on, c.urgent, c.last_visited_on)
                for c in db.session.scalars(sa.select(Condition))}
    assert schedule[imported] == schedule[posted] == (date(2025, 5, 16), False, date(2025, 5, 2))


def test_a_visit_earlier_than_those_on_file_is_classified_in_its_place(patients):
    rows = [visit(on="2025-03-10", sbp=150, dbp=95), visit(on="2025-01-10", sbp=152, dbp=96)]
    import_follow_ups(io.BytesIO(table(FOLLOW_UP_HEADERS, rows)))
    visits = {v.visited_on: v for v in db.session.scalars(sa.select(FollowUp))}
    # 2025-01-10 uncontrolled, then 2025-02-01 controlled (entered), then 2025-03-10 uncontrolled.
    assert visits[date(2025, 1, 10)].classification == "uncontrolled"
    assert visits[date(2025, 3, 10)].referral_reasons == []
    liu = db.session.scalar(sa.select(Condition).where(Condition.resident_id == patients["liu"]))
    assert liu.next_due_on == date(2025, 3, 24)


# The commands

def test_the_import_command_takes_each_kind_and_reports_for_excel(app, patients, tmp_path):
    path = tmp_path / "随访.csv"
    data, expected = follow_up_file("gb18030")
    path.write_bytes(data)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "follow-ups", str(path), "--dry-run", "--region-code", COUNTY])
    assert result.exit_code == 0, result.output
    assert f"试运行，未写入任何数据。读取 23 行：导入 3，已在档 1，拒绝 {len(FOLLOW_UP_BAD) + 1}" in result.output
    written = list(csv.reader(io.StringIO((tmp_path / "随访.csv.errors.csv").read_text(encoding="utf-8-sig"))))
    assert [(int(n), c, v, r) for n, c, v, r in written[1:]] == expected
    assert LIU not in (tmp_path / "随访.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert count(FollowUp) == 1
    result = runner.invoke(args=["import", "follow-ups", str(path), "--region-code", COUNTY])
    assert result.exit_code == 0 and "导入 3" in result.output and count(FollowUp) == 4


@pytest.mark.parametrize("kind, headers", [
    ("conditions", CONDITION_HEADERS[:4]), ("contracts", CONTRACT_HEADERS), ("follow-ups", None)])
def test_each_kind_has_a_template_with_its_allowed_values(app, county, tmp_path, kind, headers):
    path = tmp_path / f"{kind}.xlsx"
    result = app.test_cli_runner().invoke(args=["import-template", kind, str(path)])
    assert result.exit_code == 0, result.output
    fill, notes = load_workbook(path).worksheets
    written = [c.value for c in fill[1]]
    assert written == (headers or written) and written[0] == "身份证号"
    if kind == "follow-ups":
        assert set(FOLLOW_UP_HEADERS) <= set(written) and "此次随访分类" not in written
    assert {row[0] for row in notes.iter_rows(min_row=2, max_row=len(written) + 1, values_only=True)} == set(written)


# The demo county's files

def test_the_demo_files_import_their_good_rows_into_the_demo_county(app, tmp_path, client):
    import random

    from faker import Faker

    from backend.demo import DEMO_PASSWORD
    from backend.demo.directory import load_directory
    from backend.imports import importer_of
    from backend.imports.demo import FILES, write_demo_files
    from tests.factories import login

    clock.freeze(clock.parse_moment(TODAY))
    fake = Faker("zh_CN")
    fake.seed_instance(1)
    load_directory(random.Random(1), fake, DEMO_PASSWORD, clock.today())
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["import-demo-files", str(tmp_path), "--residents", "60"])
    assert result.exit_code == 0, result.output
    first = {name: (tmp_path / name).read_bytes() for name in FILES.values()}
    written = write_demo_files(tmp_path, 60)  # the same seed writes the same files
    # (an .xlsx is compared by its cells: the zip inside it stamps each part with the time written)
    assert {name: file_contents(tmp_path / name) for name in FILES.values()} == \
        {name: file_contents(tmp_path / name, data) for name, data in first.items()}
    assert written.rows["residents"] == 68 and min(written.rows.values()) > 10
    with pytest.raises(UnicodeDecodeError):
        first["conditions.csv"].decode("utf-8")  # GB18030, as Excel writes it
    for kind, name in FILES.items():
        dry = importer_of(kind)(tmp_path / name, dry_run=True, region_code=COUNTY)
        report = importer_of(kind)(tmp_path / name, region_code=COUNTY)
        good = written.rows[kind] - written.bad[kind]
        assert dry.counts() == report.counts() == {"read": written.rows[kind], "imported": good, "already_on_file": 0,
                                                   "rejected": written.bad[kind]}, kind
        assert len({r.row for r in report.rejections}) == written.bad[kind]
    for kind, name in FILES.items():
        again = importer_of(kind)(tmp_path / name, region_code=COUNTY)
        assert again.counts()["imported"] == 0 and again.counts()["already_on_file"] > 0
    assert count(FollowUp) == written.rows["follow-ups"] - written.bad["follow-ups"]
    headers = login(client, "county-admin", DEMO_PASSWORD)
    patients = client.get("/api/v1/residents?group=hypertension&page_size=100", headers=headers).get_json()
    assert patients["total"] == db.session.scalar(sa.select(sa.func.count()).select_from(Condition).where(
        Condition.disease == "hypertension")) > 0
    # Each patient is due when the latest imported visit says, or 14 days after registration.
    for condition in db.session.scalars(sa.select(Condition)):
        latest = db.session.scalars(sa.select(FollowUp).where(FollowUp.condition_id == condition.id)
                                    .order_by(FollowUp.visited_on.desc())).first()
        assert condition.next_due_on == (latest.next_due_on if latest else rules.first_due_on(condition.registered_on))


def test_the_templates_example_rows_import_one_after_another_into_the_demo_county(app, tmp_path):
    import random

    from faker import Faker

    from backend.demo import DEMO_PASSWORD
    from backend.demo.directory import load_directory
    from backend.imports import importer_of

    clock.freeze(clock.parse_moment(TODAY))
    load_directory(random.Random(1), Faker("zh_CN"), DEMO_PASSWORD, clock.today())
    db.session.commit()
    for kind in ("residents", "conditions", "contracts", "follow-ups"):
        path = tmp_path / f"{kind}.xlsx"
        assert app.test_cli_runner().invoke(args=["import-template", kind, str(path)]).exit_code == 0
        report = importer_of(kind)(path, region_code=COUNTY)
        assert (report.counts()["imported"], lines(report)) == (1, []), kind
    visit = db.session.scalar(sa.select(FollowUp))
    assert (visit.sbp, visit.dbp, visit.classification, visit.symptoms) == (150, 95, "uncontrolled", ["dizziness"])


def test_numbers_written_with_a_fraction_of_zero_are_whole_numbers(patients):
    report = import_follow_ups(io.BytesIO(table(FOLLOW_UP_HEADERS, [visit(sbp="152.0", dbp=" 93 ", heart_rate="78.5")])))
    assert lines(report) == [(2, "心率", "78.5", "应为整数")]
    report = import_follow_ups(io.BytesIO(table(FOLLOW_UP_HEADERS, [visit(sbp="152.0", dbp=" 93 ")])))
    assert report.counts()["imported"] == 1
    stored = db.session.scalar(sa.select(FollowUp).where(FollowUp.visited_on == date(2025, 3, 10)))
    assert (stored.sbp, stored.dbp) == (152, 93)
