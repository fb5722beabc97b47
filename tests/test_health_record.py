"""The resident's own health record, as JSON and as a FHIR R4 Bundle, and who read it."""
from __future__ import annotations

from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle

from backend import clock
from tests.factories import VILLAGE_A1, VILLAGE_B1, account_login, add_resident, id_number_for


@pytest.fixture
def patient(client, wechat, county):
    """A 70-year-old with hypertension and diabetes, contracted with team A, three visits on file."""
    clock.freeze(clock.parse_moment("2026-04-15T09:00:00+08:00"))
    resident = add_resident("曹桂芝", id_number_for(date(1956, 2, 2), 282), "13911112222", VILLAGE_A1,
                            groups=("disabled",))
    family = account_login(client, wechat, "o-cao")
    client.post("/api/v1/me/residents", headers=family, json={
        "name": "曹桂芝", "id_number": resident.id_number, "phone": "13911112222", "relation": "parent"})
    doctor = county.headers(client, "doctor_a")
    contract = client.post("/api/v1/contracts", headers=family, json={
        "resident_id": resident.id, "team_id": county.teams["a"].id, "package_codes": ["basic", "elderly"]})
    client.post(f"/api/v1/contracts/{contract.get_json()['id']}/approve", headers=doctor, json={})
    base = f"/api/v1/residents/{resident.id}"
    client.post(f"{base}/conditions", headers=doctor, json={"disease": "hypertension", "diagnosed_on": "2018-03-01",
                                                             "registered_on": "2019-01-10"})
    client.post(f"{base}/conditions", headers=doctor, json={"disease": "diabetes", "diagnosed_on": "2022-09-01",
                                                             "registered_on": "2022-09-15"})
    for day, sbp, dbp in (("2026-01-10", 148, 88), ("2026-04-01", 165, 95)):
        client.post(f"{base}/follow-ups", headers=doctor, json={
            "disease": "hypertension", "visited_on": day, "method": "clinic", "sbp": sbp, "dbp": dbp,
            "heart_rate": 76, "weight_kg": 61.5, "height_cm": 158})
    client.post(f"{base}/follow-ups", headers=doctor, json={
        "disease": "diabetes", "visited_on": "2026-04-01", "method": "home", "fasting_glucose": 7.8,
        "temperature_c": 36.6})
    return {"resident": resident, "family": family, "doctor": doctor, "county": county}


def test_the_account_reads_the_whole_record(client, patient):
    response = client.get(f"/api/v1/residents/{patient['resident'].id}/health-record", headers=patient["family"])
    assert response.status_code == 200
    record = response.get_json()
    assert record["resident"]["id_number"].count("*") == 8 and record["resident"]["phone"] == "139****2222"
    assert record["groups"] == ["diabetes", "disabled", "elderly_65", "hypertension"]
    assert record["contract"]["status"] == "active" and record["contract"]["package_codes"] == ["basic", "elderly"]
    assert record["team"]["name"] == "平安镇家医一队" and record["team"]["leader"]["name"] == "王医生"
    assert {c["disease"] for c in record["conditions"]} == {"hypertension", "diabetes"}
    assert [f["visited_on"] for f in record["follow_ups"]][:1] == ["2026-04-01"] and len(record["follow_ups"]) == 3
    assert record["exams"] == []
    assert record["next_follow_ups"] == [
        {"disease": "diabetes", "due_on": "2026-04-15", "days_overdue": 0, "urgent": False},
        {"disease": "hypertension", "due_on": "2026-04-15", "days_overdue": 0, "urgent": False},
    ]
    text = response.get_data(as_text=True)
    assert patient["resident"].id_number not in text and "13911112222" not in text


def test_the_fhir_bundle_validates_and_carries_the_codes(client, patient):
    response = client.get(f"/api/v1/residents/{patient['resident'].id}/health-record/fhir",
                          headers=patient["family"])
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate_json(response.get_data())
    assert bundle.type == "collection"
    resources = [e.resource for e in bundle.entry]
    kinds = [r.get_resource_type() for r in resources]
    assert kinds.count("Patient") == 1 and kinds.count("Condition") == 2 and kinds.count("Appointment") == 2
    patient_resource = resources[kinds.index("Patient")]
    assert patient_resource.gender == "female" and str(patient_resource.birthDate) == "1956-02-02"
    assert "*" in patient_resource.identifier[0].value
    codes = {}
    for observation in (r for r in resources if r.get_resource_type() == "Observation"):
        codes.setdefault(observation.code.coding[0].code, []).append(observation)
    assert {"85354-9", "8867-4", "1558-6", "29463-7"} <= set(codes)
    panel = codes["85354-9"][0]
    assert {c.code.coding[0].code: c.valueQuantity.value for c in panel.component} in (
        {"8480-6": 148, "8462-4": 88}, {"8480-6": 165, "8462-4": 95})
    glucose = codes["1558-6"][0].valueQuantity
    assert (glucose.unit, float(glucose.value)) == ("mg/dL", 140.5)
    conditions = {r.code.coding[0].code for r in resources if r.get_resource_type() == "Condition"}
    assert conditions == {"I10", "E11"}
    text = response.get_data(as_text=True)
    assert patient["resident"].id_number not in text and "13911112222" not in text


def test_the_account_sees_the_doctors_read_in_its_access_log(client, patient):
    resident_id = patient["resident"].id
    clock.freeze(clock.parse_moment("2026-04-15T10:00:00+08:00"))
    assert client.get(f"/api/v1/residents/{resident_id}/health-record", headers=patient["doctor"]).status_code == 200
    clock.freeze(clock.parse_moment("2026-04-15T11:00:00+08:00"))
    client.get(f"/api/v1/residents/{resident_id}/health-record/fhir", headers=patient["family"])
    log = client.get(f"/api/v1/residents/{resident_id}/access-log", headers=patient["family"]).get_json()["items"]
    assert (log[0]["action"], log[0]["actor"]["kind"]) == ("GET /api/v1/residents/{resident_id}/health-record/fhir",
                                                           "account")
    assert log[1] == {"at": "2026-04-15T10:00:00+08:00", "action": "GET /api/v1/residents/{resident_id}/health-record",
                      "actor": {"kind": "staff", "name": "王医生", "institution": "平安镇卫生院"}}


@pytest.mark.parametrize("who, status", [("doctor_a", 200), ("inst_admin", 200), ("county_admin", 200),
                                         ("doctor_b", 404), ("other_county_admin", 404)])
def test_who_may_read_the_record(client, patient, who, status):
    headers = patient["county"].headers(client, who)
    for suffix in ("", "/fhir"):
        response = client.get(f"/api/v1/residents/{patient['resident'].id}/health-record{suffix}", headers=headers)
        assert response.status_code == status
        if status == 404:
            assert "曹桂芝" not in response.get_data(as_text=True)


def test_a_stranger_account_gets_404(client, patient, wechat):
    stranger = account_login(client, wechat, "o-stranger")
    assert client.get(f"/api/v1/residents/{patient['resident'].id}/health-record", headers=stranger).status_code == 404


def test_a_record_without_contract_or_conditions(client, county):
    resident = add_resident("冯远", id_number_for(date(1990, 1, 1), 291), None, VILLAGE_B1)
    record = client.get(f"/api/v1/residents/{resident.id}/health-record",
                        headers=county.headers(client, "doctor_b")).get_json()
    assert (record["contract"], record["team"], record["conditions"], record["next_follow_ups"]) == (None, None, [], [])


def test_the_signers_and_the_team_are_named_from_the_team_the_record_loads(app, client, patient):
    """The visits were signed by a member of the resident's team: their names, and the contract's
    team name, come from the team the record loads with its members, not from statements of
    their own (backend.common.names_of). A signer outside the team is still read."""
    import sqlalchemy as sa

    from backend.common import names_of
    from backend.directory.models import Staff
    from backend.extensions import db

    seen: list[str] = []

    def note(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    url = f"/api/v1/residents/{patient['resident'].id}/health-record"
    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", note)
    try:
        record = client.get(url, headers=patient["family"]).get_json()
        assert {f["signed_by"]["name"] for f in record["follow_ups"]} == {"王医生"}
        assert record["contract"]["team"]["name"] == "平安镇家医一队"
        assert not [s for s in seen if s.startswith(("SELECT staff.id, staff.name ", "SELECT teams.id, teams.name "))]

        # Outside a record: a name not loaded is read, a loaded one is not read again, and one
        # expired since it was loaded is read again.
        doctor_a, doctor_b = (patient["county"].staff[k].id for k in ("doctor_a", "doctor_b"))
        db.session.expunge_all()
        seen.clear()
        assert names_of(Staff, [doctor_a]) == {doctor_a: "王医生"}
        assert len([s for s in seen if s.startswith("SELECT staff.id, staff.name ")]) == 1
        loaded = db.session.get(Staff, doctor_b)
        seen.clear()
        assert names_of(Staff, [doctor_b]) == {doctor_b: "刘医生"} and seen == []
        db.session.expire(loaded)
        assert names_of(Staff, [doctor_b]) == {doctor_b: "刘医生"}
        assert [s.split(" FROM ")[0] for s in seen] == ["SELECT staff.id, staff.name"]
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", note)
