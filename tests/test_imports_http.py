"""Imports through the API: the upload answered 202, the run's progress and counts, the report as
CSV and xlsx, the audit trail, the size limit refused before the body is read, and who may import
what."""
from __future__ import annotations

import csv
import io
import socket
from datetime import timedelta
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from backend.extensions import db
from backend.imports.models import ImportRun
from backend.imports.service import wait_for_imports
from backend.residents.models import Resident
from tests.factories import TOWNSHIP_A, VILLAGE_A1, VILLAGE_B1, add_resident, served
from tests.test_imports import ON_FILE, VILLAGE_A2, bad_file_rows, csv_bytes, good, xlsx_bytes

URL = "/api/v1/admin/imports"


def upload(client, headers, data: bytes, name="居民.csv", kind="residents", **form):
    body = {"kind": kind, "file": (io.BytesIO(data), name), **{k: str(v).lower() if isinstance(v, bool) else v
                                                                 for k, v in form.items()}}
    return client.post(URL, headers=headers, data=body, content_type="multipart/form-data")


def finished(client, headers, run_id: str) -> dict:
    assert wait_for_imports(timeout=60)
    shown = client.get(f"{URL}/{run_id}", headers=headers)
    assert shown.status_code == 200
    return shown.get_json()


def residents() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Resident))


def test_an_upload_is_answered_at_once_and_imports_in_the_background_with_its_report(client, county):
    add_resident("王振国", ON_FILE, None, VILLAGE_A2)
    rows, expected = bad_file_rows()
    headers = county.headers(client, "county_admin")
    before = residents()

    dry = upload(client, headers, csv_bytes(rows, "gb18030"), dry_run=True, region_code=TOWNSHIP_A)
    assert dry.status_code == 202, dry.get_json()
    queued = dry.get_json()
    assert queued["status"] in ("queued", "running", "succeeded") and queued["dry_run"] is True
    assert queued["submitted_by"]["name"] == "县卫健局" and queued["region_code"] == TOWNSHIP_A
    run = finished(client, headers, queued["id"])
    assert run["status"] == "succeeded" and run["rows_read"] == len(rows)
    assert (run["imported"], run["already_on_file"], run["rejected"]) == (1, 1, len(expected))
    assert run["unknown_columns"] == ["备注"]
    assert residents() == before  # a dry run writes nothing

    report = client.get(run["report_url"], headers=headers)
    assert report.status_code == 200 and report.mimetype == "text/csv"
    assert report.data.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "值", "原因"]
    assert lines[1] == ["1", "备注", "", "未识别的列，已忽略"]
    shown = [(int(n), c, v, r) for n, c, v, r in lines[2:]]
    assert [s[:3] for s in shown] == [e[:3] for e in expected]
    assert all(s[3].startswith(e[3]) for s, e in zip(shown, expected))
    # Identity numbers and phones are masked in the report.
    assert not any(ON_FILE in line or "13604361234" in line for line in report.data.decode("utf-8-sig").splitlines())

    workbook = client.get(run["report_url"] + "?format=xlsx", headers=headers)
    assert workbook.status_code == 200 and workbook.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(workbook.data), read_only=True).worksheets[0]
    assert [list(r) for r in sheet.iter_rows(values_only=True)][2][:3] == [expected[0][0], expected[0][1],
                                                                            expected[0][2] or None]

    real = upload(client, headers, csv_bytes(rows, "gb18030"), region_code=TOWNSHIP_A)
    run = finished(client, headers, real.get_json()["id"])
    assert (run["status"], run["imported"], run["rejected"]) == ("succeeded", 1, len(expected))
    assert residents() == before + 1
    again = finished(client, headers, upload(client, headers, csv_bytes(rows, "gb18030"), region_code=TOWNSHIP_A)
                     .get_json()["id"])
    assert (again["imported"], again["already_on_file"]) == (0, 2)
    assert residents() == before + 1

    # The audit trail: every run, newest first, with who ran it.
    trail = client.get(URL, headers=headers).get_json()
    assert [r["id"] for r in trail["items"]] == [again["id"], run["id"], queued["id"]]
    assert {r["submitted_by"]["name"] for r in trail["items"]} == {"县卫健局"}
    assert {r["source"] for r in trail["items"]} == {"api"}


def test_an_xlsx_upload_imports_and_the_uploaded_file_does_not_stay_on_disk(client, county, app):
    from backend.imports.service import upload_dir

    headers = county.headers(client, "county_admin")
    answer = upload(client, headers, xlsx_bytes([good(i) for i in range(30)]), name="居民.xlsx")
    run = finished(client, headers, answer.get_json()["id"])
    assert (run["status"], run["imported"], run["rows_read"], run["rows_estimated"]) == ("succeeded", 30, 30, 30)
    assert list(upload_dir().iterdir()) == []


@pytest.mark.parametrize("data, name, reason", [
    (b"%PDF-1.4\n\x00\xff\xfe binary", "居民.csv", "不是电子表格"),
    (csv_bytes([]), "居民.csv", "只有表头"),
    (b"PK\x03\x04 not really a zip", "居民.xlsx", "不是电子表格"),
])
def test_a_file_that_cannot_be_imported_fails_its_run_with_the_reason(client, county, data, name, reason):
    headers = county.headers(client, "county_admin")
    answer = upload(client, headers, data, name=name)
    assert answer.status_code == 202
    run = finished(client, headers, answer.get_json()["id"])
    assert run["status"] == "failed" and run["error"] and reason in run["error"]
    assert run["imported"] == 0


@pytest.mark.parametrize("form, field", [
    ({"kind": "patients"}, "kind"), ({"kind": None}, "kind"), ({"dry_run": "perhaps"}, "dry_run"),
    ({"region_code": "2208"}, "region_code"), ({"name": "居民.pdf"}, "file"), ({"data": b""}, "file"),
])
def test_bad_uploads_are_422_naming_the_field_and_record_no_run(client, county, form, field):
    headers = county.headers(client, "county_admin")
    body = {"kind": "residents", "file": (io.BytesIO(form.pop("data", csv_bytes([good(1)]))), form.pop("name", "a.csv"))}
    body.update({k: v for k, v in form.items() if v is not None})
    for k, v in form.items():
        if v is None:
            body.pop(k)
    answer = client.post(URL, headers=headers, data=body, content_type="multipart/form-data")
    assert answer.status_code == 422 and field in answer.get_json()["errors"], answer.get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRun)) == 0


def test_a_missing_file_is_422(client, county):
    answer = client.post(URL, headers=county.headers(client, "county_admin"), data={"kind": "residents"},
                         content_type="multipart/form-data")
    assert answer.status_code == 422 and "file" in answer.get_json()["errors"]


def test_an_upload_over_the_limit_is_refused_before_its_body_is_read(app, county, client):
    """Over real HTTP: the server answers 413 from the Content-Length while the client has sent
    only the headers, and keeps no run."""
    headers = county.headers(client, "county_admin")
    limit = app.config["JIAYI"].import_max_bytes
    with served(app) as base:
        address = urlparse(base)
        with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
            connection.sendall((f"POST {URL} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                                f"Authorization: {headers['Authorization']}\r\n"
                                f"Content-Type: multipart/form-data; boundary=x\r\n"
                                f"Content-Length: {limit + 1}\r\n\r\n").encode())
            connection.settimeout(10)
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
            answer = received.decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert '"code":"payload_too_large"' in answer.replace(" ", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportRun)) == 0


@pytest.mark.parametrize("who, region, status", [
    ("county_admin", None, 202), ("root", None, 202), ("inst_admin", None, 202),
    ("county_admin", "220802100000", 202), ("inst_admin", "220802200000", 403),
    ("other_county_admin", None, 202), ("doctor_a", None, 403),
])
def test_who_may_import_and_into_which_region(client, county, who, region, status):
    headers = county.headers(client, who)
    form = {"region_code": region} if region else {}
    answer = upload(client, headers, csv_bytes([good(1, VILLAGE_A1)]), **form)
    assert answer.status_code == status, answer.get_json()
    if status != 202:
        assert answer.get_json()["code"] == "forbidden"
        return
    run = finished(client, headers, answer.get_json()["id"])
    # The importer's scope holds: a village of another county is refused as a row.
    assert run["imported"] == (0 if who == "other_county_admin" else 1)


def test_an_institution_admin_imports_only_its_township_and_sees_only_its_runs(client, county):
    inst = county.headers(client, "inst_admin")
    run = finished(client, inst, upload(client, inst, csv_bytes([good(1, VILLAGE_A1), good(2, VILLAGE_B1)]))
                   .get_json()["id"])
    assert (run["imported"], run["rejected"]) == (1, 1)
    other = county.headers(client, "inst_admin_b")
    assert client.get(f"{URL}/{run['id']}", headers=other).status_code == 404
    assert client.get(f"{URL}/{run['id']}/report", headers=other).status_code == 404
    assert client.get(URL, headers=other).get_json()["items"] == []
    assert [r["id"] for r in client.get(URL, headers=county.headers(client, "county_admin")).get_json()["items"]] \
        == [run["id"]]
    assert client.get(URL, headers=county.headers(client, "other_county_admin")).get_json()["items"] == []
    assert client.get(f"{URL}/{run['id']}", headers=county.headers(client, "doctor_a")).status_code == 403


def test_unknown_runs_are_404_and_a_bad_report_format_is_422(client, county):
    headers = county.headers(client, "county_admin")
    assert client.get(f"{URL}/no-such-run", headers=headers).status_code == 404
    run = finished(client, headers, upload(client, headers, csv_bytes([good(1)])).get_json()["id"])
    bad = client.get(f"{URL}/{run['id']}/report?format=pdf", headers=headers)
    assert bad.status_code == 422 and "format" in bad.get_json()["errors"]


def test_an_import_from_the_command_line_is_in_the_audit_trail_too(app, client, county, tmp_path):
    path = tmp_path / "平安镇居民.csv"
    path.write_bytes(csv_bytes([good(1), good(2)]))
    result = app.test_cli_runner().invoke(args=["import", "residents", str(path), "--region-code", TOWNSHIP_A])
    assert result.exit_code == 0, result.output
    trail = client.get(URL, headers=county.headers(client, "county_admin")).get_json()["items"]
    assert len(trail) == 1
    run = trail[0]
    assert (run["source"], run["file_name"], run["status"], run["imported"], run["region_code"]) == \
        ("cli", "平安镇居民.csv", "succeeded", 2, TOWNSHIP_A)
    assert run["submitted_by"] is None and run["actor"].startswith("cli:")
    bad = tmp_path / "坏.csv"
    bad.write_bytes(b"")
    assert app.test_cli_runner().invoke(args=["import", "residents", str(bad)]).exit_code != 0
    failed = client.get(URL, headers=county.headers(client, "root")).get_json()["items"][0]
    assert (failed["status"], failed["error"]) == ("failed", "文件为空")


def test_a_run_whose_process_stopped_is_shown_as_failed_after_fifteen_silent_minutes(client, county):
    from backend import clock

    headers = county.headers(client, "county_admin")
    run = finished(client, headers, upload(client, headers, csv_bytes([good(1)])).get_json()["id"])
    stored = db.session.get(ImportRun, run["id"])
    stored.status = "running"  # as a worker killed mid-file leaves it
    db.session.commit()
    assert client.get(f"{URL}/{run['id']}", headers=headers).get_json()["status"] == "running"
    clock.freeze(clock.now() + timedelta(minutes=16))
    shown = client.get(f"{URL}/{run['id']}", headers=headers).get_json()
    assert shown["status"] == "failed" and "可重新导入" in shown["error"]


def test_the_report_downloads_over_real_http(app, client, county):
    """Served as the CSV streams out of a running server, after the request's own work is done."""
    import requests

    headers = county.headers(client, "county_admin")
    run = finished(client, headers, upload(client, headers, csv_bytes([good(1), good(1)])).get_json()["id"])
    with served(app) as base:
        answer = requests.get(base + run["report_url"], headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert lines[0] == ["行号", "列", "值", "原因"] and len(lines) == 3 and lines[2][0] == "3"
