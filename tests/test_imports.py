"""Importing a county's resident files: every kind of bad row, encodings, xlsx, whole-file errors,
dry runs, re-runs and interrupted runs, encryption at rest, and the two commands."""
from __future__ import annotations

import csv
import io
import logging
import zipfile
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from backend.extensions import db
from backend.imports.files import SpreadsheetError, read_rows
from backend.imports.residents import import_residents
from backend.residents.models import Resident
from backend.security.fields import blind_index
from tests.factories import (
    TOWNSHIP_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, add_resident, id_number_for,
)

HEADERS = ["姓名", "性别", "出生日期", "身份证号", "联系电话", "现住址", "行政区划代码", "重点人群"]
WOMAN = id_number_for(date(1958, 3, 9), 472)   # even 17th digit
MAN = id_number_for(date(1971, 11, 2), 131)    # odd 17th digit
ON_FILE = id_number_for(date(1949, 10, 1), 203)
BAD_CHECK = WOMAN[:-1] + ("0" if WOMAN[-1] != "0" else "1")


def person(i: int, born=date(1980, 1, 1)) -> str:
    return id_number_for(born, 300 + i)


def row(name="刘桂兰", sex="女", born="1958-03-09", id_number=WOMAN, phone="13604361234", address="平安村二组",
        region=VILLAGE_A1, groups="") -> list:
    return [name, sex, born, id_number, phone, address, region, groups]


def good(i: int, region=VILLAGE_A1) -> list:
    id_number = person(i)
    return row(name=f"居民{i}", sex="男" if int(id_number[16]) % 2 else "女", born="1980/1/1", id_number=id_number,
               phone=f"1390436{i:04d}", region=region)


# Each bad row has one reason; the expected report line is (row, column, value shown, reason).
BAD_ROWS = [
    (row(name=None, id_number=person(1), sex="女" if int(person(1)[16]) % 2 == 0 else "男", born="1980-01-01"),
     ("姓名", "", "必填")),
    (row(sex="女士"), ("性别", "女士", "性别应为“男”或“女”")),
    (row(sex="男"), ("性别", "男", "性别与身份证号不符")),
    (row(born="1958-13-40"), ("出生日期", "1958-13-40", "出生日期应为 YYYY-MM-DD 或 YYYY/M/D")),
    (row(born="1958-03-10"), ("出生日期", "1958-03-10", "出生日期与身份证号不符")),
    (row(id_number="22080219580309"), ("身份证号", "**************", "身份证号应为18位")),
    (row(id_number=BAD_CHECK), ("身份证号", "220802********" + BAD_CHECK[-4:], "身份证号校验位错误")),
    (row(phone="0436-1234567"), ("联系电话", "043*****4567", "手机号应为以1开头的11位数字")),
    (row(region="2208021"), ("行政区划代码", "2208021", "区划代码应为12位数字")),
    (row(region="220802100099"), ("行政区划代码", "220802100099", "区划不存在")),
    (row(region=TOWNSHIP_A), ("行政区划代码", TOWNSHIP_A, "请选择到村（社区）一级")),
    (row(region=VILLAGE_B1), ("行政区划代码", VILLAGE_B1, "该区划不在导入范围内")),
    (row(groups="脱贫人口、老年人"), ("重点人群", "脱贫人口、老年人", "未知或不能手工设置的重点人群：老年人")),
    (row(address="村" * 201), ("现住址", "村" * 201, "现住址至多200个字")),
    (row(name="名" * 51), ("姓名", "名" * 51, "姓名至多50个字")),
]


def bad_file_rows() -> tuple[list[list], list[tuple]]:
    """A valid row, a resident already on file, every bad row, then the valid row again."""
    rows = [row(groups="脱贫人口, 残疾人")] + [r for r, _ in BAD_ROWS] + [
        row(name="王振国", sex="男", born="1949-10-01", id_number=ON_FILE, phone=None, groups=None),
        row(name="刘桂兰（重复）")]
    expected = []
    for number, (_, (column, value, reason)) in enumerate(BAD_ROWS, start=3):
        expected.append((number, column, value, reason))
    expected.append((len(rows) + 1, "身份证号", "220802********" + WOMAN[-4:], "与本文件前面的行身份证号重复"))
    return rows, expected


def csv_bytes(rows: list[list], encoding: str = "utf-8", headers=HEADERS + ["备注"]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for r in rows:
        writer.writerow([("" if v is None else v) for v in r] + ([""] * (len(headers) - len(r))))
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list], headers=HEADERS, prepare=None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for r in rows:
        sheet.append(r)
    if prepare:
        prepare(sheet)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def residents() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Resident))


def lines(report) -> list[tuple]:
    return [(r.row, r.column, r.value or "", r.reason) for r in report.rejections]


def _reason_prefix(expected: list[tuple], actual: list[tuple]) -> list[tuple]:
    """The group reason lists the allowed names after its own: compare up to that."""
    return [a[:3] + (a[3][:len(e[3])],) for e, a in zip(expected, actual)]


# Every kind of bad row

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_every_kind_of_bad_row_is_reported_once_and_the_rest_imported(app, county, encoding):
    add_resident("王振国", ON_FILE, None, VILLAGE_A2)
    rows, expected = bad_file_rows()
    data = csv_bytes(rows, encoding)
    if encoding == "gb18030":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # really not UTF-8
    report = import_residents(io.BytesIO(data), region_code=TOWNSHIP_A, file_name="平安镇.csv")
    assert report.counts() == {"read": len(rows), "imported": 1, "already_on_file": 1, "rejected": len(BAD_ROWS) + 1}
    assert report.unknown_columns == ["备注"]
    assert len(lines(report)) == len(expected)
    assert _reason_prefix(expected, lines(report)) == expected
    assert residents() == 2
    imported = db.session.scalar(sa.select(Resident).where(Resident.id_number_index == blind_index(WOMAN, "id_number")))
    assert (imported.name, imported.sex, imported.birth_date, imported.source) == ("刘桂兰", "female", date(1958, 3, 9), "staff")
    assert sorted(t.group for t in imported.tags) == ["disabled", "poverty_relief"]


def test_a_row_with_several_problems_names_each(app, county):
    report = import_residents(io.BytesIO(csv_bytes([row(sex="X", phone="123", region="220802100099")])))
    assert [(r.column, r.reason) for r in report.rejections] == [
        ("性别", "性别应为“男”或“女”"), ("联系电话", "手机号应为以1开头的11位数字"), ("行政区划代码", "区划不存在")]
    assert report.rejected == 1


def test_a_missing_required_column_stops_before_any_row(app, county):
    headers = [h for h in HEADERS if h not in ("身份证号", "行政区划代码")]
    data = csv_bytes([["刘桂兰", "女", "1958-03-09", "13604361234", "x", ""]], headers=headers)
    with pytest.raises(SpreadsheetError, match="缺少必需的列：身份证号、行政区划代码"):
        import_residents(io.BytesIO(data))
    assert residents() == 0


def test_columns_are_found_by_header_not_position(app, county):
    order = [6, 3, 0, 1, 2, 5, 4, 7]
    data = csv_bytes([[row()[i] for i in order]], headers=[HEADERS[i] for i in order])
    report = import_residents(io.BytesIO(data))
    assert report.counts()["imported"] == 1 and report.unknown_columns == []


# xlsx

def test_an_xlsx_with_an_excel_date_and_numeric_codes_imports(app, county):
    rows = [row(born=datetime(1958, 3, 9), region=int(VILLAGE_A1), phone=13604361234),
            good(1, VILLAGE_A2)]

    def date_format(sheet):
        sheet["C2"].number_format = "yyyy/m/d"

    report = import_residents(io.BytesIO(xlsx_bytes(rows, prepare=date_format)), file_name="x.xlsx")
    assert report.counts() == {"read": 2, "imported": 2, "already_on_file": 0, "rejected": 0}
    woman = db.session.scalar(sa.select(Resident).where(Resident.id_number_index == blind_index(WOMAN, "id_number")))
    assert woman.phone == "13604361234" and woman.region_code == VILLAGE_A1


def test_xlsx_is_recognised_by_content_whatever_its_name(app, county, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(xlsx_bytes([row()]))
    assert [values["姓名"] for _, values in read_rows(path)] == ["刘桂兰"]


def _formula(sheet):
    sheet["A3"] = "=A2"


def _merged(sheet):
    sheet.merge_cells("F2:F3")


@pytest.mark.parametrize("content, message", [
    (lambda: xlsx_bytes([row(), good(1)], prepare=_formula), "单元格 A3 是公式"),
    (lambda: xlsx_bytes([row(), good(1)], prepare=_merged), "合并单元格"),
    (lambda: b"", "文件为空"),
    (lambda: "\ufeff\r\n".encode(), "文件为空"),
    (lambda: csv_bytes([]), "文件只有表头，没有数据行"),
    (lambda: xlsx_bytes([]), "文件只有表头，没有数据行"),
    (lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "文件不是电子表格"),
    (lambda: bytes(range(128, 256)) * 4, "文件不是电子表格"),
    (lambda: _zip_without_workbook(), "不是 .xlsx"),
    (lambda: csv_bytes([row()], headers=HEADERS + ["姓名"]), "表头重复：姓名"),
])
def test_a_file_that_cannot_be_imported_gets_a_clear_error(app, county, content, message):
    with pytest.raises(SpreadsheetError, match=message):
        import_residents(io.BytesIO(content()))
    assert residents() == 0


def _zip_without_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


# Dry runs, re-runs, interruptions

def test_a_dry_run_writes_nothing_and_reports_everything(app, county):
    add_resident("王振国", ON_FILE, None, VILLAGE_A2)
    rows, expected = bad_file_rows()
    report = import_residents(io.BytesIO(csv_bytes(rows)), dry_run=True, region_code=TOWNSHIP_A)
    assert report.counts() == {"read": len(rows), "imported": 1, "already_on_file": 1, "rejected": len(BAD_ROWS) + 1}
    assert _reason_prefix(expected, lines(report)) == expected
    assert residents() == 1


def test_running_the_same_file_again_imports_nothing_twice(app, county):
    data = csv_bytes([good(i) for i in range(5)])
    first = import_residents(io.BytesIO(data), batch_size=2)
    again = import_residents(io.BytesIO(data), batch_size=2)
    assert first.counts() == {"read": 5, "imported": 5, "already_on_file": 0, "rejected": 0}
    assert again.counts() == {"read": 5, "imported": 0, "already_on_file": 5, "rejected": 0}
    assert residents() == 5


def test_a_run_interrupted_midway_imports_the_rest_once_when_run_again(app, county):
    data = csv_bytes([good(i) for i in range(7)])

    def interrupt(read: int) -> None:
        raise KeyboardInterrupt  # the operator's Ctrl-C, after the first batch was committed

    with pytest.raises(KeyboardInterrupt):
        import_residents(io.BytesIO(data), batch_size=3, on_progress=interrupt)
    assert residents() == 3
    rest = import_residents(io.BytesIO(data), batch_size=3)
    assert rest.counts() == {"read": 7, "imported": 4, "already_on_file": 3, "rejected": 0}
    assert residents() == 7


def test_the_first_half_imported_then_the_whole_file(app, county):
    rows = [good(i) for i in range(6)]
    import_residents(io.BytesIO(csv_bytes(rows[:3])))
    whole = import_residents(io.BytesIO(xlsx_bytes(rows)))
    assert whole.counts() == {"read": 6, "imported": 3, "already_on_file": 3, "rejected": 0}
    assert residents() == 6


# Stored as the API stores residents

def test_imported_identity_numbers_and_phones_are_encrypted_and_masked(app, county, client):
    import_residents(io.BytesIO(csv_bytes([row()])))
    stored = db.session.execute(sa.text("SELECT id, id_number_enc, phone_enc, id_number_index, phone_index, "
                                        "phone_shown FROM residents")).one()
    assert WOMAN not in stored.id_number_enc and "13604361234" not in stored.phone_enc
    assert stored.id_number_index == blind_index(WOMAN, "id_number")
    assert stored.phone_index == blind_index("13604361234", "phone") and stored.phone_shown == "136****1234"
    response = client.get(f"/api/v1/residents/{stored.id}", headers=county.headers(client, "county_admin"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["id_number"] == "220802********" + WOMAN[-4:] and body["phone"] == "136****1234"
    assert WOMAN not in response.get_data(as_text=True)
    found = client.get(f"/api/v1/residents?q={WOMAN}", headers=county.headers(client, "county_admin")).get_json()
    assert [r["id"] for r in found["items"]] == [stored.id]


# The commands

def test_the_import_command_prints_counts_and_writes_the_report_for_excel(app, county, tmp_path, caplog):
    add_resident("王振国", ON_FILE, None, VILLAGE_A2)
    rows, expected = bad_file_rows()
    path = tmp_path / "平安镇.csv"
    path.write_bytes(csv_bytes(rows, "gb18030"))
    runner = app.test_cli_runner()
    with caplog.at_level(logging.INFO, logger="jiayi.audit"):
        result = runner.invoke(args=["import", "residents", str(path), "--region-code", TOWNSHIP_A])
    assert result.exit_code == 0, result.output
    assert f"读取 {len(rows)} 行：导入 1，已在档 1，拒绝 {len(BAD_ROWS) + 1}" in result.output
    assert "未识别的列（已忽略）：备注" in result.output
    report = tmp_path / "平安镇.csv.errors.csv"
    raw = report.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == ["行号", "列", "值", "原因"]
    assert table[1] == ["1", "备注", "", "未识别的列，已忽略"]
    got = [(int(n), c, v, r) for n, c, v, r in table[2:]]
    assert _reason_prefix(expected, got) == expected
    assert WOMAN not in raw.decode("utf-8-sig")
    audit = [r.getMessage() for r in caplog.records if r.name == "jiayi.audit"]
    assert len(audit) == 1 and "by cli" in audit[0] and "file=平安镇.csv" in audit[0] and "imported=1" in audit[0]
    assert WOMAN not in audit[0]


def test_the_import_command_dry_runs_to_a_chosen_report(app, county, tmp_path):
    path = tmp_path / "residents.xlsx"
    path.write_bytes(xlsx_bytes([row(), row(phone="123")]))
    report = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(args=["import", "residents", str(path), "--dry-run", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "试运行，未写入任何数据。读取 2 行：导入 1，已在档 0，拒绝 1" in result.output
    assert residents() == 0 and "手机号应为" in report.read_text(encoding="utf-8-sig")


def test_the_import_command_refuses_a_bad_file_with_its_reason(app, county, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    result = app.test_cli_runner().invoke(args=["import", "residents", str(path)])
    assert result.exit_code != 0 and "文件为空" in result.output
    unknown_scope = tmp_path / "ok.csv"
    unknown_scope.write_bytes(csv_bytes([row()]))
    result = app.test_cli_runner().invoke(args=["import", "residents", str(unknown_scope), "--region-code", "220802999000"])
    assert result.exit_code != 0 and "区划不存在" in result.output and residents() == 0


def test_the_xlsx_template_lists_the_allowed_values_and_its_example_row_imports(app, county, tmp_path):
    path = tmp_path / "template.xlsx"
    result = app.test_cli_runner().invoke(args=["import-template", "residents", str(path)])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(path)
    fill, notes = workbook.worksheets
    assert [c.value for c in fill[1]] == HEADERS
    allowed = {r[0]: r for r in notes.iter_rows(min_row=2, values_only=True) if r and r[0] in HEADERS}
    assert set(allowed) == set(HEADERS) and "脱贫人口" in allowed["重点人群"][2] and allowed["姓名"][1] == "必填"
    report = import_residents(path, dry_run=True)
    assert report.counts() == {"read": 1, "imported": 1, "already_on_file": 0, "rejected": 0}


def test_the_csv_template_has_the_headers_and_the_example(app, county, tmp_path):
    path = tmp_path / "template.csv"
    result = app.test_cli_runner().invoke(args=["import-template", "residents", str(path)])
    assert result.exit_code == 0 and "重点人群" in result.output
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert import_residents(path, dry_run=True).counts()["imported"] == 1
