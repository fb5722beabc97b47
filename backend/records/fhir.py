"""The health record as a FHIR R4 Bundle (collection): Patient, Condition, Observation,
MedicationStatement, ServiceRequest (referrals), Appointment.

Codes: ICD-10 for the diagnoses, LOINC for the vital signs (blood-pressure panel 85354-9 with
systolic 8480-6 and diastolic 8462-4, heart rate 8867-4, fasting glucose 1558-6, body weight
29463-7, body height 8302-2, body temperature 8310-5, BMI 39156-5, HbA1c 4548-4), SNOMED CT for the
routes of administration and the referral category, UCUM for units; lines of the national forms
that no LOINC code says (lifestyle now and target, the dorsalis pedis pulse, the target
weight) carry Jiayi's own codes (urn:jiayi:code) with the form's wording. Identifiers leave
masked, as everywhere.
"""
from __future__ import annotations

from backend.exams.fhir import health_check_entries
from backend.followups.models import Condition
from backend.records.fhir_parts import (
    GLUCOSE_MG_PER_MMOL, JIAYI, LOINC, OBSERVATION_CATEGORY, SNOMED, UCUM, medication_statement,
)
from backend.records.fhir_parts import coding as _coding

ICD10 = "http://hl7.org/fhir/sid/icd-10"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"

DIAGNOSES = {
    "hypertension": ("I10", "原发性高血压"),
    "diabetes": ("E11", "2型糖尿病"),
}
DISEASE_NAMES = {"hypertension": "高血压", "diabetes": "2型糖尿病"}


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _entry(resource: dict) -> dict:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _patient(resident: dict) -> dict:
    patient = {
        "resourceType": "Patient",
        "id": resident["id"],
        "identifier": [{"system": "urn:jiayi:resident-id-number:masked", "value": resident["id_number"]}],
        "name": [{"text": resident["name"]}],
        "gender": resident["sex"],
        "birthDate": resident["birth_date"].isoformat(),
    }
    if resident.get("phone"):
        patient["telecom"] = [{"system": "phone", "value": resident["phone"], "use": "mobile"}]
    if resident.get("region_name") or resident.get("address"):
        patient["address"] = [{"text": " ".join(x for x in (resident.get("region_name"), resident.get("address")) if x)}]
    return patient


def _condition(condition: Condition, patient_ref: dict) -> dict:
    code, display = DIAGNOSES[condition.disease]
    active = condition.deregistered_on is None
    resource = {
        "resourceType": "Condition",
        "id": condition.id,
        "clinicalStatus": _coding(CONDITION_CLINICAL, "active" if active else "inactive",
                                  "Active" if active else "Inactive"),
        "category": [_coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": _coding(ICD10, code, display),
        "subject": patient_ref,
        "onsetDateTime": condition.diagnosed_on.isoformat(),
        "recordedDate": condition.registered_on.isoformat(),
    }
    if not active:
        resource["abatementDateTime"] = condition.deregistered_on.isoformat()
    return resource


def _vital(follow_up: dict, suffix: str, code: str, display: str, patient_ref: dict, system: str = LOINC,
           category: str = "vital-signs", **value) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"{follow_up['id']}-{suffix}",
        "status": "final",
        "category": [_coding(OBSERVATION_CATEGORY, category, CATEGORY_NAMES[category])],
        "code": _coding(system, code, display),
        "subject": patient_ref,
        "effectiveDateTime": follow_up["visited_on"].isoformat(),
        **value,
    }


CATEGORY_NAMES = {"vital-signs": "Vital Signs", "laboratory": "Laboratory", "exam": "Exam",
                  "social-history": "Social History", "survey": "Survey"}
# Readings of the form with a LOINC code: (field, id suffix, code, display, unit, category).
FORM_QUANTITIES = [
    ("heart_rate", "hr", "8867-4", "Heart rate", "/min", "vital-signs"),
    ("weight_kg", "weight", "29463-7", "Body weight", "kg", "vital-signs"),
    ("height_cm", "height", "8302-2", "Body height", "cm", "vital-signs"),
    ("bmi", "bmi", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "vital-signs"),
    ("temperature_c", "temp", "8310-5", "Body temperature", "Cel", "vital-signs"),
    ("hba1c", "hba1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", "laboratory"),
]
# Lines of the form no LOINC code says as the form does: Jiayi's own codes, with the text.
# field: (id suffix, the form's wording, unit); ids stay within FHIR's 64 characters.
LIFESTYLE = {
    "cigarettes_per_day": ("smoking", "日吸烟量（支）", "/d"),
    "alcohol_liang_per_day": ("alcohol", "日饮酒量（两）", "/d"),
    "exercise_times_per_week": ("exercise-times", "运动（次/周）", "/wk"),
    "exercise_minutes": ("exercise-minutes", "运动（分钟/次）", "min"),
    "staple_food_g_per_day": ("staple-food", "主食（克/天）", "g/d"),
    "salt": ("salt", "摄盐情况", None),
}
PULSES = {"palpable": "触及正常", "weakened_both": "减弱（双侧）", "weakened_left": "减弱（左侧）",
          "weakened_right": "减弱（右侧）", "absent_both": "消失（双侧）", "absent_left": "消失（左侧）",
          "absent_right": "消失（右侧）"}

def _observations(follow_up: dict, patient_ref: dict) -> list[dict]:
    out = []
    if follow_up["sbp"] is not None and follow_up["dbp"] is not None:
        out.append(_vital(follow_up, "bp", "85354-9", "Blood pressure panel", patient_ref, component=[
            {"code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
             "valueQuantity": _quantity(follow_up["sbp"], "mm[Hg]")},
            {"code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
             "valueQuantity": _quantity(follow_up["dbp"], "mm[Hg]")},
        ]))
    if follow_up["fasting_glucose"] is not None:
        out.append(_vital(follow_up, "glucose", "1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma",
                          patient_ref, category="laboratory", valueQuantity=_quantity(
                              round(follow_up["fasting_glucose"] * GLUCOSE_MG_PER_MMOL, 1), "mg/dL")))
    for name, suffix, code, display, unit, category in FORM_QUANTITIES:
        if follow_up[name] is not None:
            observation = _vital(follow_up, suffix, code, display, patient_ref, category=category,
                                 valueQuantity=_quantity(follow_up[name], unit))
            if name == "hba1c" and follow_up["hba1c_on"] is not None:
                observation["effectiveDateTime"] = follow_up["hba1c_on"].isoformat()
            out.append(observation)
    if follow_up["target_weight_kg"] is not None:
        out.append(_vital(follow_up, "target-weight", "target-weight", "目标体重", patient_ref, system=JIAYI,
                          valueQuantity=_quantity(follow_up["target_weight_kg"], "kg")))
    if follow_up["dorsalis_pedis_pulse"] is not None:
        out.append(_vital(follow_up, "pedal-pulse", "dorsalis-pedis-pulse", "足背动脉搏动", patient_ref,
                          system=JIAYI, category="exam",
                          valueCodeableConcept=_coding(JIAYI, follow_up["dorsalis_pedis_pulse"],
                                                       PULSES[follow_up["dorsalis_pedis_pulse"]])))
    for name, (suffix, display, unit) in LIFESTYLE.items():
        line = (follow_up["lifestyle"] or {}).get(name) or {}
        for when in ("now", "target"):
            value = line.get(when)
            if value is None:
                continue
            text = f"{display}{'目标' if when == 'target' else ''}"
            shown = {"valueQuantity": _quantity(value, unit)} if unit else {"valueString": value}
            out.append(_vital(follow_up, f"{suffix}-{when}", f"{name}.{when}", text, patient_ref, system=JIAYI,
                              category="social-history", **shown))
    for name, display in (("psychological_adjustment", "心理调整"), ("compliance", "遵医行为")):
        value = (follow_up["lifestyle"] or {}).get(name)
        if value is not None:
            out.append(_vital(follow_up, name.split("_")[0], name, display, patient_ref, system=JIAYI,
                              category="survey", valueString=value))
    return out


def _medication_statements(follow_up: dict, patient_ref: dict) -> list[dict]:
    """The visit's medications (and insulin) as MedicationStatements: active on the visit day."""
    lines = [(str(i), m) for i, m in enumerate(follow_up["medications"] or [])]
    if follow_up["insulin"]:
        lines.append(("insulin", follow_up["insulin"]))
    day = follow_up["visited_on"].isoformat()
    return [medication_statement(f"{follow_up['id']}-med-{index}", line, patient_ref, day) for index, line in lines]


def _service_request(follow_up: dict, patient_ref: dict) -> list[dict]:
    """A visit's referral as a ServiceRequest: active until the receiving institution's result
    came back (then completed, the result in its note)."""
    referral = follow_up["referral"]
    if referral is None:
        return []
    resource = {
        "resourceType": "ServiceRequest",
        "id": referral["id"],
        "status": "completed" if referral["status"] == "returned" else "active",
        "intent": "order",
        "category": [_coding(SNOMED, "3457005", "Patient referral")],
        "priority": "urgent" if referral["urgent"] else "routine",
        "code": {"text": f"转诊：{referral['department'] or referral['institution']['name']}"},
        "subject": patient_ref,
        "authoredOn": follow_up["visited_on"].isoformat(),
        "performer": [{"display": referral["institution"]["name"]}],
        "reasonCode": [{"text": referral["reason"]}],
    }
    if referral["result"]:
        resource["note"] = [{"text": referral["result"]}]
    return [resource]


def _appointment(next_visit: dict, condition_id: str, patient_ref: dict) -> dict:
    day = next_visit["due_on"].isoformat()
    return {
        "resourceType": "Appointment",
        "id": f"{condition_id}-next",
        "status": "proposed",
        "description": f"{DISEASE_NAMES[next_visit['disease']]}随访",
        "requestedPeriod": [{"start": day, "end": day}],
        "participant": [{"actor": patient_ref, "status": "needs-action"}],
    }


def bundle(record: dict, timestamp: str) -> dict:
    resident = record["resident"]
    patient_ref = {"reference": f"urn:uuid:{resident['id']}", "display": resident["name"]}
    entries = [_entry(_patient(resident))]
    entries += [_entry(_condition(c, patient_ref)) for c in record["conditions"]]
    for follow_up in record["follow_ups"]:
        entries += [_entry(o) for o in _observations(follow_up, patient_ref)]
        entries += [_entry(m) for m in _medication_statements(follow_up, patient_ref)]
        entries += [_entry(r) for r in _service_request(follow_up, patient_ref)]
    for check in record["exams"]:
        entries += [_entry(r) for r in health_check_entries(check, patient_ref)]
    active = {c.disease: c.id for c in record["conditions"] if c.deregistered_on is None}
    entries += [_entry(_appointment(n, active[n["disease"]], patient_ref)) for n in record["next_follow_ups"]]
    return {"resourceType": "Bundle", "id": f"health-record-{resident['id']}", "type": "collection",
            "timestamp": timestamp, "entry": entries}
