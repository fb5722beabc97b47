"""The annual health check (健康体检表) through the HTTP API: the form read back field by field,
each section's ranges and codes, resends, who may record and read, and how a check counts
toward the contract's health-check item, the health record, FHIR and the county's figures."""
from __future__ import annotations

import copy
import uuid
from datetime import date

import pytest
from fhir.resources.R4B.bundle import Bundle

from backend import clock
from backend.directory.models import Population
from backend.exams.models import HealthCheck
from backend.extensions import db
from tests.factories import COUNTY, VILLAGE_A1, VILLAGE_B1, account_login, add_resident, id_number_for

ITEMS = [
    {"code": "health_check_65", "name": "老年人年度健康体检", "per_year": 1, "eligible_groups": ["elderly_65"],
     "health_check": True},
    {"code": "bp_follow_up", "name": "高血压随访", "per_year": 4, "eligible_groups": ["hypertension"],
     "follow_up_disease": "hypertension"},
    {"code": "health_education", "name": "健康教育", "per_year": 2, "eligible_groups": []},
]

# Every section of the form filled in, as a doctor's app would send it.
FORM = {
    "checked_on": "2026-04-10",
    "symptoms": ["dizziness", "blurred_vision", "other"],
    "symptoms_other": "夜间口干",
    "general": {
        "temperature_c": 36.6, "pulse_rate": 78, "respiratory_rate": 18,
        "blood_pressure": {"left": {"sbp": 152, "dbp": 88}, "right": {"sbp": 148, "dbp": 86}},
        "height_cm": 158.0, "weight_kg": 64.5, "waist_cm": 88.0,
        "health_self_assessment": "fairly_satisfied", "self_care_score": 5,
        "cognition": {"screen": "positive", "mmse_score": 26}, "emotion": {"screen": "negative"},
    },
    "lifestyle": {
        "exercise": {"frequency": "daily", "minutes_per_session": 40, "years": 10, "kind": "散步"},
        "diet": ["balanced", "salty"],
        "smoking": {"status": "former", "cigarettes_per_day": 10, "start_age": 20, "quit_age": 55},
        "drinking": {"frequency": "occasional", "liang_per_day": 1.5, "quit": False, "start_age": 30,
                     "drunk_in_past_year": False, "kinds": ["liquor", "beer"]},
        "occupational_exposure": {"exposed": True, "occupation": "农民", "years": 40,
                                  "hazards": [{"kind": "chemical", "name": "农药", "protected": False}]},
    },
    "organ_function": {
        "lips": "rosy", "dentition": ["missing", "denture"], "dentition_detail": "左下6缺失",
        "pharynx": "no_congestion", "vision": {"left": 0.6, "right": 0.8, "corrected_left": 1.0},
        "hearing": "clear", "motor_function": "able",
    },
    "physical_exam": {
        "fundus": {"result": "abnormal", "detail": "动脉硬化Ⅰ期"}, "skin": "normal", "sclera": "normal",
        "lymph_nodes": "not_palpable",
        "lungs": {"barrel_chest": False, "breath_sounds": "normal", "rales": "none"},
        "heart": {"rate": 76, "rhythm": "regular", "murmur": False},
        "abdomen": {"tenderness": False, "mass": False, "hepatomegaly": False, "splenomegaly": False,
                    "shifting_dullness": False},
        "lower_limb_edema": "none", "dorsalis_pedis_pulse": "symmetric", "anal_exam": "normal",
        "breasts": ["normal"],
        "gynaecology": {"vulva": {"result": "normal"}, "cervix": {"result": "normal"}},
        "other": "无",
    },
    "auxiliary": {
        "blood_routine": {"hemoglobin": 128, "wbc": 6.2, "platelets": 210},
        "urine_routine": {"protein": "-", "glucose": "±", "ketone": "-", "occult_blood": "+"},
        "fasting_glucose": 6.8,
        "ecg": {"result": "abnormal", "detail": "窦性心律，ST段压低"},
        "urine_microalbumin": 2.5, "fecal_occult_blood": "negative", "hba1c": 6.4, "hbsag": "negative",
        "liver_function": {"alt": 22, "ast": 25, "albumin": 42, "total_bilirubin": 12.5, "direct_bilirubin": 3.1},
        "kidney_function": {"creatinine": 78, "urea": 5.6, "potassium": 4.1, "sodium": 140},
        "blood_lipids": {"total_cholesterol": 5.6, "triglycerides": 1.9, "ldl_cholesterol": 3.4,
                         "hdl_cholesterol": 1.2},
        "chest_xray": {"result": "normal"}, "abdominal_ultrasound": {"result": "abnormal", "detail": "脂肪肝"},
        "other_ultrasound": {"result": "normal"}, "cervical_smear": {"result": "normal"},
        "other": "颈动脉B超：斑块",
    },
    "health_problems": {
        "cerebrovascular": ["none"], "kidney": ["none"], "heart": ["angina"], "vascular": ["none"],
        "eye": ["cataract"], "nervous_system": ["none"], "other_systems": ["none"],
    },
    "hospital_history": [{"kind": "admission", "started_on": "2025-11-02", "ended_on": "2025-11-12",
                          "reason": "心绞痛", "institution": "洮北区人民医院心内科", "record_number": "Z20251102"}],
    "medications": [
        {"name": "硝苯地平控释片", "times_per_day": 1, "dose": 30, "unit": "mg", "route": "oral",
         "adherence": "regular"},
        {"name": "阿司匹林肠溶片", "times_per_day": 1, "dose": 100, "unit": "mg", "route": "oral",
         "adherence": "intermittent"},
    ],
    "vaccinations": [{"name": "流感疫苗", "vaccinated_on": "2025-10-15", "institution": "平安镇卫生院"}],
    "evaluation": {"normal": False, "abnormal": ["血压偏高", "脂肪肝"]},
    "guidance": {"codes": ["include_in_chronic_management", "recheck"],
                 "risk_factors": ["diet", "weight_loss", "vaccination"], "target_weight_kg": 60,
                 "vaccines": "肺炎球菌疫苗"},
}


def at(moment: str) -> None:
    clock.freeze(clock.parse_moment(moment))


@pytest.fixture
def world(client, wechat, county):
    """An elderly hypertensive resident of 平安村 signed with team A on 2026-03-02 (a year's term),
    bound to a family account; a neighbour of another township."""
    at("2026-03-02T09:00:00+08:00")
    county.packages["basic"].items = ITEMS
    db.session.commit()
    elder = add_resident("高玉兰", id_number_for(date(1956, 1, 20), 262), "13900001111", VILLAGE_A1)
    far = add_resident("鲁大成", id_number_for(date(1955, 1, 1), 281), "13900003333", VILLAGE_B1)
    doctor = county.headers(client, "doctor_a")
    family = account_login(client, wechat, "o-gao")
    assert client.post("/api/v1/me/residents", headers=family, json={
        "name": "高玉兰", "id_number": elder.id_number, "phone": "13900001111", "relation": "parent"}).status_code == 201
    assert client.post(f"/api/v1/residents/{elder.id}/conditions", headers=doctor,
                       json={"disease": "hypertension", "diagnosed_on": "2020-05-01"}).status_code == 201
    created = client.post("/api/v1/contracts", headers=doctor, json={
        "resident_id": elder.id, "team_id": county.teams["a"].id, "package_codes": ["basic"]})
    contract = client.post(f"/api/v1/contracts/{created.get_json()['id']}/approve", headers=doctor,
                           json={"start_date": "2026-03-02"}).get_json()
    at("2026-04-10T10:00:00+08:00")
    return {"county": county, "elder": elder, "far": far, "doctor": doctor, "family": family, "contract": contract}


def record(client, headers, resident, body=None, **changes):
    payload = {"id": str(uuid.uuid4()), **copy.deepcopy(body if body is not None else FORM), **changes}
    return client.post(f"/api/v1/residents/{resident.id}/health-checks", headers=headers, json=payload)


def checks(client, headers, resident):
    response = client.get(f"/api/v1/residents/{resident.id}/health-checks", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def names(errors: dict, path: str) -> bool:
    """The 422 names the field at ``path`` (dotted), whether its errors come nested or by path."""
    if any(key == path or key.startswith(path + ".") for key in errors):
        return True
    node = errors
    for part in path.split("."):
        if isinstance(node, list):
            node = next((item for item in node if isinstance(item, dict)), None)
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


# The form, read back

def test_the_whole_form_reads_back_field_by_field(client, world):
    response = record(client, world["doctor"], world["elder"])
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()
    listed = checks(client, world["family"], world["elder"])
    assert listed["total"] == 1 and listed["items"][0] == stored

    computed = {"general": {"bmi": 25.8, "self_care_level": "mild_dependence"}}
    for section, sent in FORM.items():
        expected = {**sent, **computed.get(section, {})} if isinstance(sent, dict) else sent
        assert stored[section] == expected, section
    assert stored["team_id"] == world["county"].teams["a"].id
    assert stored["recorded_by"] == {"id": world["county"].staff["doctor_a"].id, "name": "王医生"}

    row = db.session.get(HealthCheck, stored["id"])
    # The summary columns: the left arm, the heart rate of the examination, the glucose.
    assert (row.sbp, row.dbp, row.heart_rate, row.weight_kg, row.height_cm, row.bmi, row.waist_cm,
            row.fasting_glucose) == (152, 88, 76, 64.5, 158.0, 25.8, 88.0, 6.8)


def test_the_right_arm_goes_to_the_columns_when_only_it_was_taken(client, world):
    body = {"checked_on": "2026-04-10", "general": {"blood_pressure": {"right": {"sbp": 138, "dbp": 84}},
                                                    "pulse_rate": 70}}
    response = record(client, world["doctor"], world["elder"], body)
    assert response.status_code == 201, response.get_json()
    row = db.session.get(HealthCheck, response.get_json()["id"])
    assert (row.sbp, row.dbp, row.heart_rate, row.bmi) == (138, 84, 70, None)
    assert response.get_json()["evaluation"] is None and response.get_json()["medications"] == []


def test_a_minimal_check_is_only_its_date(client, world):
    response = record(client, world["doctor"], world["elder"], {"checked_on": "2026-04-10"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["general"] == {} and response.get_json()["symptoms"] == []


def test_the_list_is_latest_first_and_paginated(client, world):
    for day in ("2026-03-05", "2026-04-08", "2026-03-20"):
        assert record(client, world["doctor"], world["elder"], {"checked_on": day}).status_code == 201
    page = client.get(f"/api/v1/residents/{world['elder'].id}/health-checks?page=1&page_size=2",
                      headers=world["doctor"]).get_json()
    assert [c["checked_on"] for c in page["items"]] == ["2026-04-08", "2026-03-20"] and page["total"] == 3


# Bounds and codes, section by section: each bad value is a 422 naming its field.

def _with(path: str, value) -> dict:
    body = copy.deepcopy(FORM)
    node = body
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = value
    return body


BAD = [
    ("checked_on", "2026-04-11", "checked_on"),  # tomorrow
    ("checked_on", "1956-01-19", "checked_on"),  # before birth
    ("symptoms", ["fever"], "symptoms"),
    ("symptoms", ["none", "headache"], "symptoms"),
    ("symptoms_other", "字" * 201, "symptoms_other"),
    ("general.temperature_c", 29.9, "general.temperature_c"),
    ("general.temperature_c", 45.1, "general.temperature_c"),
    ("general.pulse_rate", 19, "general.pulse_rate"),
    ("general.pulse_rate", 251, "general.pulse_rate"),
    ("general.pulse_rate", 70.5, "general.pulse_rate"),
    ("general.respiratory_rate", 4, "general.respiratory_rate"),
    ("general.respiratory_rate", 61, "general.respiratory_rate"),
    ("general.blood_pressure.left.sbp", 49, "general.blood_pressure.left.sbp"),
    ("general.blood_pressure.left.sbp", 301, "general.blood_pressure.left.sbp"),
    ("general.blood_pressure.right.dbp", 29, "general.blood_pressure.right.dbp"),
    ("general.blood_pressure.right.dbp", 201, "general.blood_pressure.right.dbp"),
    ("general.blood_pressure.left", {"sbp": 120, "dbp": 120}, "general.blood_pressure.left.dbp"),
    ("general.blood_pressure.left", {"sbp": 120}, "general.blood_pressure.left.dbp"),
    ("general.height_cm", 39, "general.height_cm"),
    ("general.height_cm", 251, "general.height_cm"),
    ("general.weight_kg", 1.9, "general.weight_kg"),
    ("general.weight_kg", 301, "general.weight_kg"),
    ("general.waist_cm", 29, "general.waist_cm"),
    ("general.waist_cm", 201, "general.waist_cm"),
    ("general.bmi", 22.0, "general.bmi"),  # computed, never sent
    ("general.health_self_assessment", "happy", "general.health_self_assessment"),
    ("general.self_care_score", -1, "general.self_care_score"),
    ("general.self_care_score", 38, "general.self_care_score"),
    ("general.cognition", {"screen": "positive", "mmse_score": 31}, "general.cognition.mmse_score"),
    ("general.cognition", {"screen": "negative", "mmse_score": 20}, "general.cognition.mmse_score"),
    ("general.cognition", {"screen": "unclear"}, "general.cognition.screen"),
    ("general.emotion", {"screen": "positive", "gds_score": 16}, "general.emotion.gds_score"),
    ("general.mood", "good", "general.mood"),  # unknown field
    ("lifestyle.exercise.frequency", "sometimes", "lifestyle.exercise.frequency"),
    ("lifestyle.exercise.minutes_per_session", 601, "lifestyle.exercise.minutes_per_session"),
    ("lifestyle.exercise.years", 101, "lifestyle.exercise.years"),
    ("lifestyle.diet", ["spicy"], "lifestyle.diet"),
    ("lifestyle.diet", ["salty", "salty"], "lifestyle.diet"),
    ("lifestyle.smoking.status", "heavy", "lifestyle.smoking.status"),
    ("lifestyle.smoking.cigarettes_per_day", 101, "lifestyle.smoking.cigarettes_per_day"),
    ("lifestyle.smoking", {"status": "current", "quit_age": 50}, "lifestyle.smoking.quit_age"),
    ("lifestyle.smoking", {"status": "former", "start_age": 40, "quit_age": 30}, "lifestyle.smoking.quit_age"),
    ("lifestyle.drinking.frequency", "weekly", "lifestyle.drinking.frequency"),
    ("lifestyle.drinking.liang_per_day", 51, "lifestyle.drinking.liang_per_day"),
    ("lifestyle.drinking.kinds", ["whisky"], "lifestyle.drinking.kinds"),
    ("lifestyle.drinking", {"frequency": "never", "quit_age": 60}, "lifestyle.drinking.quit_age"),
    ("lifestyle.occupational_exposure", {"exposed": False, "hazards": [{"kind": "dust"}]},
     "lifestyle.occupational_exposure.hazards"),
    ("lifestyle.occupational_exposure.hazards", [{"kind": "noise"}], "lifestyle.occupational_exposure.hazards.0.kind"),
    ("organ_function.lips", "blue", "organ_function.lips"),
    ("organ_function.dentition", ["normal", "caries"], "organ_function.dentition"),
    ("organ_function.pharynx", "red", "organ_function.pharynx"),
    ("organ_function.vision.left", 2.1, "organ_function.vision.left"),
    ("organ_function.vision.corrected_right", -0.1, "organ_function.vision.corrected_right"),
    ("organ_function.hearing", "deaf", "organ_function.hearing"),
    ("organ_function.motor_function", "weak", "organ_function.motor_function"),
    ("physical_exam.fundus", {"result": "bad"}, "physical_exam.fundus.result"),
    ("physical_exam.skin", "blue", "physical_exam.skin"),
    ("physical_exam.sclera", "white", "physical_exam.sclera"),
    ("physical_exam.lymph_nodes", "neck", "physical_exam.lymph_nodes"),
    ("physical_exam.lungs.rales", "crackles", "physical_exam.lungs.rales"),
    ("physical_exam.lungs.barrel_chest", "maybe", "physical_exam.lungs.barrel_chest"),
    ("physical_exam.heart.rate", 19, "physical_exam.heart.rate"),
    ("physical_exam.heart.rate", 251, "physical_exam.heart.rate"),
    ("physical_exam.heart.rhythm", "fast", "physical_exam.heart.rhythm"),
    ("physical_exam.abdomen.mass", "some", "physical_exam.abdomen.mass"),
    ("physical_exam.lower_limb_edema", "severe", "physical_exam.lower_limb_edema"),
    ("physical_exam.dorsalis_pedis_pulse", "weak", "physical_exam.dorsalis_pedis_pulse"),
    ("physical_exam.anal_exam", "bleeding", "physical_exam.anal_exam"),
    ("physical_exam.breasts", ["normal", "mass"], "physical_exam.breasts"),
    ("physical_exam.gynaecology.uterus", {"result": "large"}, "physical_exam.gynaecology.uterus.result"),
    ("auxiliary.blood_routine.hemoglobin", 19, "auxiliary.blood_routine.hemoglobin"),
    ("auxiliary.blood_routine.hemoglobin", 251, "auxiliary.blood_routine.hemoglobin"),
    ("auxiliary.blood_routine.wbc", 0.05, "auxiliary.blood_routine.wbc"),
    ("auxiliary.blood_routine.wbc", 101, "auxiliary.blood_routine.wbc"),
    ("auxiliary.blood_routine.platelets", 0.5, "auxiliary.blood_routine.platelets"),
    ("auxiliary.blood_routine.platelets", 2001, "auxiliary.blood_routine.platelets"),
    ("auxiliary.urine_routine.protein", "+++++", "auxiliary.urine_routine.protein"),
    ("auxiliary.urine_routine.occult_blood", "positive", "auxiliary.urine_routine.occult_blood"),
    ("auxiliary.fasting_glucose", 0.9, "auxiliary.fasting_glucose"),
    ("auxiliary.fasting_glucose", 40.1, "auxiliary.fasting_glucose"),
    ("auxiliary.ecg", {"result": "fine"}, "auxiliary.ecg.result"),
    ("auxiliary.urine_microalbumin", -1, "auxiliary.urine_microalbumin"),
    ("auxiliary.fecal_occult_blood", "+", "auxiliary.fecal_occult_blood"),
    ("auxiliary.hba1c", 2.9, "auxiliary.hba1c"),
    ("auxiliary.hba1c", 20.1, "auxiliary.hba1c"),
    ("auxiliary.hbsag", "+", "auxiliary.hbsag"),
    ("auxiliary.liver_function.alt", 5001, "auxiliary.liver_function.alt"),
    ("auxiliary.liver_function.ast", -1, "auxiliary.liver_function.ast"),
    ("auxiliary.liver_function.albumin", 4, "auxiliary.liver_function.albumin"),
    ("auxiliary.liver_function.albumin", 81, "auxiliary.liver_function.albumin"),
    ("auxiliary.liver_function.total_bilirubin", 1001, "auxiliary.liver_function.total_bilirubin"),
    ("auxiliary.liver_function", {"total_bilirubin": 10, "direct_bilirubin": 12},
     "auxiliary.liver_function.direct_bilirubin"),
    ("auxiliary.kidney_function.creatinine", 9, "auxiliary.kidney_function.creatinine"),
    ("auxiliary.kidney_function.creatinine", 3001, "auxiliary.kidney_function.creatinine"),
    ("auxiliary.kidney_function.urea", 0.4, "auxiliary.kidney_function.urea"),
    ("auxiliary.kidney_function.potassium", 10.5, "auxiliary.kidney_function.potassium"),
    ("auxiliary.kidney_function.sodium", 99, "auxiliary.kidney_function.sodium"),
    ("auxiliary.kidney_function.sodium", 181, "auxiliary.kidney_function.sodium"),
    ("auxiliary.blood_lipids.total_cholesterol", 31, "auxiliary.blood_lipids.total_cholesterol"),
    ("auxiliary.blood_lipids.hdl_cholesterol", -0.1, "auxiliary.blood_lipids.hdl_cholesterol"),
    ("auxiliary.chest_xray", {"result": "clear"}, "auxiliary.chest_xray.result"),
    ("auxiliary.cervical_smear", {"result": "abnormal", "detail": "字" * 201}, "auxiliary.cervical_smear.detail"),
    ("health_problems.cerebrovascular", ["none", "ischemic_stroke"], "health_problems.cerebrovascular"),
    ("health_problems.heart", ["heart_attack"], "health_problems.heart"),
    ("health_problems.eye", ["glaucoma"], "health_problems.eye"),
    ("hospital_history", [{"kind": "admission", "started_on": "2025-02-01", "ended_on": "2025-01-01"}],
     "hospital_history.0.ended_on"),
    ("hospital_history", [{"kind": "ward", "started_on": "2025-02-01"}], "hospital_history.0.kind"),
    ("hospital_history", [{"kind": "home_bed", "started_on": "2026-05-01"}], "hospital_history.0.started_on"),
    ("medications", [{"name": ""}], "medications.0.name"),
    ("medications", [{"name": "二甲双胍", "times_per_day": 7}], "medications.0.times_per_day"),
    ("medications", [{"name": "二甲双胍", "dose": 0}], "medications.0.dose"),
    ("medications", [{"name": "二甲双胍", "unit": "drop"}], "medications.0.unit"),
    ("medications", [{"name": "二甲双胍", "route": "nasal"}], "medications.0.route"),
    ("medications", [{"name": "二甲双胍", "adherence": "sometimes"}], "medications.0.adherence"),
    ("vaccinations", [{"vaccinated_on": "2025-10-15"}], "vaccinations.0.name"),
    ("vaccinations", [{"name": "流感疫苗", "vaccinated_on": "2026-05-01"}], "vaccinations.0.vaccinated_on"),
    ("evaluation", {"normal": True, "abnormal": ["血压偏高"]}, "evaluation.abnormal"),
    ("evaluation", {"normal": False}, "evaluation.abnormal"),
    ("evaluation", {"abnormal": ["血压偏高"]}, "evaluation.normal"),
    ("guidance.codes", ["admit"], "guidance.codes"),
    ("guidance.risk_factors", ["sleep"], "guidance.risk_factors"),
    ("guidance", {"risk_factors": ["diet"], "target_weight_kg": 60}, "guidance.target_weight_kg"),
    ("guidance.target_weight_kg", 301, "guidance.target_weight_kg"),
    ("comments", "x", "comments"),  # unknown field
]


@pytest.mark.parametrize(("path", "value", "named"), BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_an_implausible_or_unknown_value_is_422_naming_the_field(client, world, path, value, named):
    response = record(client, world["doctor"], world["elder"], _with(path, value))
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert names(body["errors"], named), body["errors"]


GOOD = [
    ("general.temperature_c", 30), ("general.temperature_c", 45),
    ("general.blood_pressure.left", {"sbp": 300, "dbp": 200}), ("general.blood_pressure.left", {"sbp": 50, "dbp": 30}),
    ("general.self_care_score", 0), ("general.self_care_score", 37),
    ("general.cognition", {"screen": "positive", "mmse_score": 0}),
    ("general.emotion", {"screen": "positive", "gds_score": 15}),
    ("lifestyle.exercise", {"frequency": "never"}), ("lifestyle.smoking", {"status": "never"}),
    ("lifestyle.drinking", {"frequency": "daily", "liang_per_day": 50, "quit": True, "quit_age": 70}),
    ("organ_function.vision", {"left": 0.0, "right": 2.0}),
    ("auxiliary.urine_routine", {"protein": "++++", "glucose": "±"}),
    ("auxiliary.fasting_glucose", 1.0), ("auxiliary.fasting_glucose", 40.0),
    ("auxiliary.hba1c", 3), ("auxiliary.hba1c", 20),
    ("auxiliary.blood_routine", {"hemoglobin": 20, "wbc": 0.1, "platelets": 2000}),
    ("auxiliary.kidney_function", {"creatinine": 3000, "urea": 0.5, "potassium": 1, "sodium": 180}),
    ("health_problems.nervous_system", ["other"]),
    ("evaluation", {"normal": True}),
    ("hospital_history", [{"kind": "home_bed", "started_on": "2026-04-01"}]),
    ("checked_on", "1956-01-20"),
]


@pytest.mark.parametrize(("path", "value"), GOOD, ids=[f"{p}={v!r}"[:60] for p, v in GOOD])
def test_the_limits_and_every_code_of_the_form_are_accepted(client, world, path, value):
    body = _with(path, value)
    if path == "checked_on":  # a check on the day of birth predates the history on file
        body.update(hospital_history=[], vaccinations=[])
    response = record(client, world["doctor"], world["elder"], body)
    assert response.status_code == 201, response.get_json()


def test_the_self_care_score_gives_its_level():
    from backend.exams.schemas import self_care_level

    assert [self_care_level(n) for n in (0, 3, 4, 8, 9, 18, 19, 37, None)] == [
        "independent", "independent", "mild_dependence", "mild_dependence", "moderate_dependence",
        "moderate_dependence", "dependent", "dependent", None]


# Resends

def test_a_resend_answers_the_stored_check_and_another_body_under_its_id_is_a_conflict(client, world):
    check_id = str(uuid.uuid4())
    first = record(client, world["doctor"], world["elder"], id=check_id)
    assert first.status_code == 201
    again = record(client, world["doctor"], world["elder"], id=check_id)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    other = record(client, world["doctor"], world["elder"], id=check_id, symptoms=["none"])
    assert other.status_code == 409 and other.get_json()["code"] == "id_conflict"
    assert checks(client, world["doctor"], world["elder"])["total"] == 1


# Who may record and read

@pytest.mark.parametrize(("who", "status"), [
    ("doctor_a", 201), ("village_doctor", 201), ("doctor_b", 404), ("doctor_other", 404),
    ("county_admin", 403), ("inst_admin", 403),
])
def test_who_may_record_a_check(client, world, who, status):
    response = record(client, world["county"].headers(client, who), world["elder"])
    assert response.status_code == status, response.get_json()


def test_a_doctor_outside_the_scope_gets_404_for_a_resident_elsewhere(client, world):
    assert record(client, world["doctor"], world["far"], {"checked_on": "2026-04-10"}).status_code == 404


def test_the_resident_s_account_may_read_but_not_record(client, world, wechat):
    assert record(client, world["family"], world["elder"]).status_code == 403
    assert record(client, world["doctor"], world["elder"]).status_code == 201
    assert checks(client, world["family"], world["elder"])["total"] == 1
    stranger = account_login(client, wechat, "o-stranger")
    assert client.get(f"/api/v1/residents/{world['elder'].id}/health-checks", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/residents/{world['far'].id}/health-checks",
                      headers=world["doctor"]).status_code == 404


def test_reading_the_checks_is_in_the_access_log(client, world):
    checks(client, world["doctor"], world["elder"])
    log = client.get(f"/api/v1/residents/{world['elder'].id}/access-log", headers=world["family"]).get_json()
    assert "GET /api/v1/residents/{resident_id}/health-checks" in [e["action"] for e in log["items"]]


def test_a_member_of_another_team_records_it_for_its_own_team(client, world):
    """The team is the contract's when the recorder is in it, else the recorder's first team."""
    body = {"checked_on": "2026-04-10"}
    team_b = world["county"].teams["b"]
    far = world["far"]
    response = record(client, world["county"].headers(client, "doctor_b"), far, body)
    assert response.status_code == 201 and response.get_json()["team_id"] == team_b.id


# Fulfilment, the health record, FHIR and the county's figures

def _item(view: dict, code: str) -> dict:
    return next(i for i in view["items"] if i["code"] == code)


def test_a_check_counts_toward_the_contract_s_health_check_item_once_per_day(client, world):
    elder, doctor, contract_id = world["elder"], world["doctor"], world["contract"]["id"]
    before = client.get(f"/api/v1/contracts/{contract_id}/fulfilment", headers=doctor).get_json()
    assert (_item(before, "health_check_65")["delivered"], _item(before, "health_check_65")["counted_from"]) == \
        (0, "health_checks")

    check_id = str(uuid.uuid4())
    assert record(client, doctor, elder, id=check_id).status_code == 201
    assert record(client, doctor, elder, id=check_id).status_code == 200  # a resend
    assert record(client, doctor, elder).status_code == 201  # the same day entered twice

    view = client.get(f"/api/v1/contracts/{contract_id}/fulfilment", headers=world["family"]).get_json()
    item = _item(view, "health_check_65")
    assert (item["owed"], item["delivered"], item["remaining"], item["counted_from"]) == (1, 1, 0, "health_checks")

    health_record = client.get(f"/api/v1/residents/{elder.id}/health-record", headers=world["family"]).get_json()
    assert _item(health_record["fulfilment"], "health_check_65")["delivered"] == 1
    assert len(health_record["exams"]) == 2
    assert health_record["exams"][0]["checked_on"] == "2026-04-10"
    assert health_record["exams"][0]["general"]["bmi"] == 25.8

    # The county's grouped figures count the same.
    stats = client.get("/api/v1/stats/fulfilment", headers=world["county"].headers(client, "county_admin")).get_json()
    assert _item(stats, "health_check_65")["delivered"] == 1


def test_a_check_before_the_term_does_not_count(client, world):
    assert record(client, world["doctor"], world["elder"], {"checked_on": "2026-03-01"}).status_code == 201
    view = client.get(f"/api/v1/contracts/{world['contract']['id']}/fulfilment", headers=world["doctor"]).get_json()
    assert _item(view, "health_check_65")["delivered"] == 0


def test_the_health_check_item_cannot_be_recorded_as_a_service(client, world):
    response = client.post(f"/api/v1/residents/{world['elder'].id}/services", headers=world["doctor"], json={
        "item_code": "health_check_65", "delivered_on": "2026-04-10", "method": "clinic"})
    assert response.status_code == 422
    assert "健康体检" in response.get_json()["errors"]["item_code"][0]


@pytest.mark.parametrize("items", [
    [{"code": "hc_a", "name": "体检甲", "health_check": True}, {"code": "hc_b", "name": "体检乙", "health_check": True}],
    [{"code": "hc_a", "name": "体检甲", "health_check": True, "follow_up_disease": "hypertension"}],
])
def test_a_package_has_at_most_one_health_check_item(client, world, items):
    response = client.post("/api/v1/admin/service-packages", headers=world["county"].headers(client, "county_admin"),
                           json={"code": "extra", "name": "附加包", "kind": "personalized", "price_fen": 100,
                                 "funding": {"public_health_fen": 0, "insurance_fen": 0, "self_pay_fen": 100},
                                 "items": items})
    assert response.status_code == 422 and names(response.get_json()["errors"], "items")


def test_the_fhir_bundle_carries_the_check_and_still_validates(client, world):
    check_id = record(client, world["doctor"], world["elder"]).get_json()["id"]
    response = client.get(f"/api/v1/residents/{world['elder'].id}/health-record/fhir", headers=world["family"])
    assert response.status_code == 200
    bundle = Bundle.model_validate_json(response.get_data())
    resources = [e.resource for e in bundle.entry]
    mine = {r.id: r for r in resources if r.id.startswith(check_id)}
    codes = {r.code.coding[0].code: r for r in mine.values() if r.get_resource_type() == "Observation"}
    assert {"39156-5", "8280-0", "9279-1", "8867-4", "85354-9", "29463-7", "8302-2", "8310-5", "1558-6", "4548-4",
            "718-7", "6690-2", "777-3", "1742-6", "1920-8", "1751-7", "1975-2", "2160-0", "3094-0", "2823-3",
            "2951-2", "2093-3", "2571-8", "2085-9", "13457-7"} <= set(codes)
    assert float(codes["39156-5"].valueQuantity.value) == 25.8
    assert (codes["1558-6"].valueQuantity.unit, float(codes["1558-6"].valueQuantity.value)) == ("mg/dL", 122.51)
    assert mine[f"{check_id}-bmi"] is codes["39156-5"]
    panel = mine[f"{check_id}-bp"]
    assert [float(c.valueQuantity.value) for c in panel.component] == [152, 88]
    report = mine[f"{check_id}-report"]
    assert report.get_resource_type() == "DiagnosticReport" and report.conclusion == "有异常：血压偏高；脂肪肝"
    assert len(report.result) == sum(1 for r in mine.values() if r.get_resource_type() == "Observation")
    statements = [r for r in mine.values() if r.get_resource_type() == "MedicationStatement"]
    assert sorted(s.medicationCodeableConcept.text for s in statements) == ["硝苯地平控释片", "阿司匹林肠溶片"]
    local = [r for r in mine.values() if r.get_resource_type() == "Observation"
             and r.code.coding[0].system == "urn:jiayi:code"]
    assert {r.code.coding[0].code for r in local} >= {"urine_protein", "ecg", "pulse_rate", "mmse_score"}


def test_the_elderly_health_management_rate_and_the_patients_checked(client, world):
    county = world["county"]
    # A 70-year-old checked this year, one checked last year only, and an adult checked: one elder in all.
    assert record(client, world["doctor"], world["elder"], {"checked_on": "2026-04-01"}).status_code == 201
    old = add_resident("马秀英", id_number_for(date(1950, 3, 3), 301), "13900004444", VILLAGE_A1)
    young = add_resident("马小兵", id_number_for(date(1985, 3, 3), 311), "13900005555", VILLAGE_A1)
    assert record(client, world["doctor"], old, {"checked_on": "2025-12-20"}).status_code == 201
    assert record(client, world["doctor"], young, {"checked_on": "2026-04-02"}).status_code == 201
    db.session.add(Population(region_code=COUNTY, year=2026, resident_population=100, groups={"elderly_65": 4}))
    db.session.commit()

    admin = county.headers(client, "county_admin")
    stats = client.get("/api/v1/stats/contracts", headers=admin).get_json()
    assert (stats["elderly_health_checked"], stats["elderly_health_management_rate"]) == (1, 0.25)
    township = next(c for c in stats["children"] if c["region"]["code"] == "220802100000")
    assert township["elderly_health_checked"] == 1 and township["elderly_health_management_rate"] is None
    before = client.get("/api/v1/stats/contracts?as_of=2026-03-31", headers=admin).get_json()
    assert before["elderly_health_checked"] == 0

    csv = client.get("/api/v1/stats/contracts", headers={**admin, "Accept": "text/csv"}).get_data().decode("utf-8-sig")
    header, county_row = [line.split(",") for line in csv.splitlines()[:2]]
    assert county_row[header.index("老年人健康管理率")] == "0.25"

    chronic = client.get("/api/v1/stats/chronic?disease=hypertension", headers=admin).get_json()
    assert (chronic["managed"], chronic["health_checked"]) == (1, 1)
    last_year = client.get("/api/v1/stats/chronic?disease=hypertension&year=2025", headers=admin).get_json()
    assert last_year["health_checked"] == 0
