"""The whole national follow-up form (高血压/2型糖尿病患者随访服务记录表) through the HTTP API:
every field stored and read back, each field's bounds and allowed values, the referral section,
and the form in the FHIR export."""
from __future__ import annotations

import copy
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle

from backend import clock
from backend.extensions import db
from backend.followups.models import FollowUp
from backend.referrals.models import Referral
from tests.factories import VILLAGE_A1, add_resident, id_number_for

LOINC = "http://loinc.org"


@pytest.fixture
def patient(client, county):
    """A 62-year-old with both diseases registered, in team A's township, contracted with team A."""
    clock.freeze(clock.parse_moment("2026-05-20T09:00:00+08:00"))
    resident = add_resident("孙凤琴", id_number_for(date(1964, 3, 8), 318), "13933334444", VILLAGE_A1)
    doctor = county.headers(client, "doctor_a")
    base = f"/api/v1/residents/{resident.id}"
    for disease in ("hypertension", "diabetes"):
        response = client.post(f"{base}/conditions", headers=doctor,
                               json={"disease": disease, "diagnosed_on": "2019-04-01", "registered_on": "2019-04-10"})
        assert response.status_code == 201
    return {"resident": resident, "doctor": doctor, "base": base, "county": county}


def diabetes_form(county) -> dict:
    """A diabetes visit with every line of the national form filled."""
    return {
        "id": str(uuid.uuid4()),
        "disease": "diabetes", "visited_on": "2026-05-18", "method": "home",
        "symptoms": ["polydipsia", "polyuria"], "symptoms_other": "夜尿增多",
        "sbp": 136, "dbp": 82, "heart_rate": 78, "weight_kg": 70.0, "height_cm": 165.0, "target_weight_kg": 65.0,
        "temperature_c": 36.5, "dorsalis_pedis_pulse": "weakened_left", "other_signs": "双下肢轻度水肿",
        "lifestyle": {
            "cigarettes_per_day": {"now": 10, "target": 0},
            "alcohol_liang_per_day": {"now": 1.5, "target": 0.5},
            "exercise_times_per_week": {"now": 3, "target": 5},
            "exercise_minutes": {"now": 20, "target": 30},
            "salt": {"now": "heavy", "target": "light"},
            "staple_food_g_per_day": {"now": 400, "target": 300},
            "psychological_adjustment": "fair", "compliance": "good",
        },
        "fasting_glucose": 8.2, "hba1c": 7.6, "hba1c_on": "2026-05-10", "other_exams": "尿微量白蛋白 25 mg/L",
        "medication_adherence": "intermittent", "adverse_reaction": True, "adverse_reaction_detail": "胃肠不适",
        "hypoglycemia": "occasional", "complication": "none",
        "medications": [
            {"name": "盐酸二甲双胍片", "times_per_day": 3, "dose": 0.5, "unit": "g", "route": "oral"},
            {"name": "阿卡波糖片", "times_per_day": 3, "dose": 50, "unit": "mg", "route": "oral"},
        ],
        "insulin": {"type": "甘精胰岛素", "usage": "睡前皮下注射", "units_per_day": 12},
        "referral": {"reason": "血糖控制不满意，调整治疗方案", "institution_id": county.institutions["hospital"].id,
                     "department": "内分泌科"},
        "notes": "嘱监测血糖",
    }


def test_every_field_of_the_form_reads_back_through_the_api_and_fhir(client, patient):
    county, base, doctor = patient["county"], patient["base"], patient["doctor"]
    form = diabetes_form(county)
    created = client.post(f"{base}/follow-ups", headers=doctor, json=form)
    assert created.status_code == 201, created.get_json()
    listed = client.get(f"{base}/follow-ups?disease=diabetes", headers=doctor).get_json()["items"]
    record = client.get(f"{base}/health-record", headers=doctor).get_json()["follow_ups"]
    for body in (created.get_json(), listed[0], record[0]):
        for name, value in form.items():
            if name != "referral":
                assert body[name] == value, name
        assert body["referral"]["reason"] == form["referral"]["reason"]
        assert body["referral"]["department"] == "内分泌科"
        assert body["referral"]["institution"] == {"id": county.institutions["hospital"].id, "name": "洮北区人民医院"}
        assert (body["referral"]["status"], body["referral"]["result"]) == ("referred", None)
        assert body["bmi"] == 25.7 and body["target_bmi"] == 23.9  # 70 / 1.65², 65 / 1.65²
        assert body["classification"] == "adverse_reaction"
        assert body["signed_by"] == {"id": county.staff["doctor_a"].id, "name": "王医生"}
        assert body["next_due_on"] == "2026-06-01"

    fhir = client.get(f"{base}/health-record/fhir", headers=doctor).get_json()
    Bundle.model_validate(fhir)
    resources = [e["resource"] for e in fhir["entry"]]
    observations = {r["id"].removeprefix(form["id"] + "-"): r for r in resources
                    if r["resourceType"] == "Observation" and r["id"].startswith(form["id"])}
    assert observations["bmi"]["code"]["coding"][0]["code"] == "39156-5"
    assert observations["bmi"]["valueQuantity"]["value"] == 25.7
    assert observations["hba1c"]["code"]["coding"][0] == {"system": LOINC, "code": "4548-4",
                                                         "display": "Hemoglobin A1c/Hemoglobin.total in Blood"}
    assert observations["hba1c"]["effectiveDateTime"] == "2026-05-10"
    assert observations["smoking-now"]["valueQuantity"]["value"] == 10
    assert observations["salt-target"]["valueString"] == "light"
    assert observations["pedal-pulse"]["valueCodeableConcept"]["coding"][0]["code"] == "weakened_left"
    statements = [r for r in resources if r["resourceType"] == "MedicationStatement"]
    assert [s["medicationCodeableConcept"]["text"] for s in statements] == ["盐酸二甲双胍片", "阿卡波糖片", "甘精胰岛素"]
    metformin = statements[0]["dosage"][0]
    assert metformin["timing"]["repeat"]["frequency"] == 3 and metformin["doseAndRate"][0]["doseQuantity"]["value"] == 0.5
    assert metformin["route"]["coding"][0]["code"] == "26643006"
    (request,) = [r for r in resources if r["resourceType"] == "ServiceRequest"]
    assert request["status"] == "active" and request["performer"] == [{"display": "洮北区人民医院"}]


def test_a_hypertension_form_reads_back_and_optional_fields_stay_empty(client, patient):
    body = {"disease": "hypertension", "visited_on": "2026-05-19", "method": "clinic", "sbp": 132, "dbp": 84,
            "lifestyle": {"salt": {"now": "medium", "target": "light"}, "compliance": "good"},
            "medications": [{"name": "苯磺酸氨氯地平片", "times_per_day": 1, "dose": 5, "unit": "mg", "route": "oral"}]}
    stored = client.post(f"{patient['base']}/follow-ups", headers=patient["doctor"], json=body).get_json()
    assert stored["lifestyle"] == body["lifestyle"] and stored["medications"] == body["medications"]
    assert (stored["bmi"], stored["insulin"], stored["referral"], stored["hba1c"]) == (None, None, None, None)
    assert stored["next_due_on"] == "2026-08-17"  # controlled and not referred: the quarter


# Each field's bounds: a value just outside is refused with the field named (its path in the
# body), the bound itself is taken.
BOUNDS = [
    # (path in the body, refused, accepted)
    (("target_weight_kg",), 1.9, 2),
    (("target_weight_kg",), 300.1, 300),
    (("hba1c",), 2.9, 3.0),
    (("hba1c",), 20.1, 20.0),
    (("lifestyle", "cigarettes_per_day", "now"), -1, 0),
    (("lifestyle", "cigarettes_per_day", "target"), 101, 100),
    (("lifestyle", "alcohol_liang_per_day", "now"), 50.5, 50),
    (("lifestyle", "exercise_times_per_week", "now"), 22, 21),
    (("lifestyle", "exercise_minutes", "target"), 601, 600),
    (("lifestyle", "staple_food_g_per_day", "now"), 2001, 2000),
    (("lifestyle", "salt", "now"), "salty", "heavy"),
    (("lifestyle", "psychological_adjustment"), "bad", "poor"),
    (("lifestyle", "compliance"), "excellent", "good"),
    (("dorsalis_pedis_pulse",), "weak", "absent_both"),
    (("hypoglycemia",), "often", "frequent"),
    (("medications", 0, "times_per_day"), 7, 6),
    (("medications", 0, "times_per_day"), 0, 1),
    (("medications", 0, "dose"), 0, 0.01),
    (("medications", 0, "dose"), 5001, 5000),
    (("medications", 0, "unit"), "mmol", "iu"),
    (("medications", 0, "route"), "rectal", "sublingual"),
    (("medications", 0, "name"), "", "药"),
    (("medications", 0, "name"), "药" * 51, "药" * 50),
    (("insulin", "units_per_day"), 301, 300),
    (("insulin", "type"), "", "门冬胰岛素30"),
    (("symptoms_other",), "症" * 201, "症" * 200),
    (("other_signs",), "征" * 201, "征" * 200),
    (("other_exams",), "查" * 501, "查" * 500),
    (("adverse_reaction_detail",), "痛" * 201, "痛" * 200),
    (("referral", "reason"), "", "血压控制不满意"),
    (("referral", "department"), "科" * 51, "心内科"),
]


def _with(body: dict, path: tuple, value) -> dict:
    body = copy.deepcopy(body)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def _named(path: tuple) -> str:
    """The key a nested field's messages are under: its dotted path."""
    return ".".join(map(str, path))


@pytest.mark.parametrize("path,refused,accepted", BOUNDS, ids=lambda v: _named(v) if isinstance(v, tuple) else None)
def test_each_field_is_checked_and_named(client, patient, path, refused, accepted):
    form = diabetes_form(patient["county"])
    del form["id"]
    url = f"{patient['base']}/follow-ups"
    bad = client.post(url, headers=patient["doctor"], json=_with(form, path, refused))
    assert bad.status_code == 422, bad.get_json()
    assert list(bad.get_json()["errors"]) == [_named(path)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0
    good = client.post(url, headers=patient["doctor"], json=_with(form, path, accepted))
    assert good.status_code == 201, good.get_json()


@pytest.mark.parametrize("change,field", [
    ({"disease": "hypertension", "sbp": 150, "dbp": 90, "fasting_glucose": None}, "dorsalis_pedis_pulse"),
    ({"adverse_reaction": False}, "adverse_reaction_detail"),
    ({"hba1c_on": "2026-05-19"}, "hba1c_on"),  # after the visit
    ({"hba1c": None}, "hba1c_on"),
    ({"referral": {"reason": "复查", "institution_id": "no-such-institution"}}, "referral.institution_id"),
    ({"referral": {"reason": "复查"}}, "referral.institution_name"),
    ({"lifestyle": {"smoking": {"now": 1}}}, "lifestyle.smoking"),
    ({"medications": [{"name": "药"}] * 11}, "medications"),
])
def test_fields_that_contradict_the_visit_are_refused(client, patient, change, field):
    form = {**diabetes_form(patient["county"]), **change}
    response = client.post(f"{patient['base']}/follow-ups", headers=patient["doctor"], json=form)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert field in errors, errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 0


def test_a_hypertension_visit_names_each_diabetes_only_field(client, patient):
    body = {"disease": "hypertension", "visited_on": "2026-05-19", "method": "clinic", "sbp": 150, "dbp": 90,
            "hypoglycemia": "none", "insulin": {"type": "甘精胰岛素"}}
    errors = client.post(f"{patient['base']}/follow-ups", headers=patient["doctor"], json=body).get_json()["errors"]
    assert set(errors) == {"hypoglycemia", "insulin"}


def test_a_referral_at_a_controlled_visit_brings_the_next_visit_within_two_weeks(client, patient):
    county = patient["county"]
    body = {"disease": "hypertension", "visited_on": "2026-05-20", "method": "clinic", "sbp": 128, "dbp": 80,
            "referral": {"reason": "心电图异常待查", "institution_name": "白城市中心医院", "department": "心内科"}}
    stored = client.post(f"{patient['base']}/follow-ups", headers=patient["doctor"], json=body).get_json()
    assert (stored["classification"], stored["refer"], stored["next_due_on"]) == ("controlled", False, "2026-06-03")
    referral = db.session.scalar(sa.select(Referral))
    assert (referral.follow_up_id, referral.status, referral.to_institution_id, referral.to_institution_name) == \
        (stored["id"], "referred", None, "白城市中心医院")
    assert referral.team_id is None or referral.team_id in {t.id for t in county.teams.values()}
    assert referral.referred_on == date(2026, 5, 20) and referral.urgent is False
    due = client.get(f"{patient['base']}/conditions", headers=patient["doctor"]).get_json()
    assert {c["disease"]: c["next_due_on"] for c in due}["hypertension"] == "2026-06-03"


def test_the_referral_is_made_once_for_a_resend_and_named_team_from_the_contract(client, patient):
    county, doctor = patient["county"], patient["doctor"]
    family_contract = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": patient["resident"].id, "team_id": county.teams["a"].id, "package_codes": ["basic"]})
    assert family_contract.status_code in (201, 200), family_contract.get_json()
    form = diabetes_form(county)
    assert client.post(f"{patient['base']}/follow-ups", headers=doctor, json=form).status_code == 201
    again = client.post(f"{patient['base']}/follow-ups", headers=doctor, json=form)
    assert again.status_code == 200 and again.get_json()["referral"]["status"] == "referred"
    (referral,) = db.session.scalars(sa.select(Referral)).all()
    assert referral.team_id == county.teams["a"].id and referral.urgent is False
    other = client.post(f"{patient['base']}/follow-ups", headers=doctor, json={**form, "notes": "改了"})
    assert other.status_code == 409 and other.get_json()["code"] == "id_conflict"


def test_an_urgent_referral_is_marked_urgent(client, patient):
    body = {"disease": "hypertension", "visited_on": "2026-05-20", "method": "home", "sbp": 186, "dbp": 112,
            "referral": {"reason": "血压≥180/110，紧急转诊", "institution_id": patient["county"].institutions["hospital"].id,
                         "department": "急诊科"}}
    stored = client.post(f"{patient['base']}/follow-ups", headers=patient["doctor"], json=body).get_json()
    assert stored["urgent_referral"] is True and stored["referral"]["urgent"] is True
    assert stored["next_due_on"] == "2026-06-03"


def test_a_back_dated_visit_keeps_a_later_referral_within_two_weeks(client, patient):
    """Classified again after a late entry, a referred visit keeps its two-week follow-up."""
    doctor, url = patient["doctor"], f"{patient['base']}/follow-ups"
    referred = client.post(url, headers=doctor, json={
        "disease": "hypertension", "visited_on": "2026-05-20", "method": "clinic", "sbp": 130, "dbp": 80,
        "referral": {"reason": "复查心电图", "institution_name": "白城市中心医院"}}).get_json()
    assert referred["next_due_on"] == "2026-06-03"
    client.post(url, headers=doctor, json={"disease": "hypertension", "visited_on": "2026-05-01",
                                          "method": "clinic", "sbp": 128, "dbp": 78})
    listed = client.get(f"{url}?disease=hypertension", headers=doctor).get_json()["items"]
    assert [(f["visited_on"], f["next_due_on"]) for f in listed] == [("2026-05-20", "2026-06-03"),
                                                                      ("2026-05-01", "2026-07-30")]
