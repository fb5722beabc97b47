"""The health record as a FHIR R4 Bundle (collection): Patient, Condition, Observation, Appointment.

Codes: ICD-10 for the diagnoses, LOINC for the vital signs (blood-pressure panel 85354-9 with
systolic 8480-6 and diastolic 8462-4, heart rate 8867-4, fasting glucose 1558-6, body weight
29463-7, body height 8302-2, body temperature 8310-5), UCUM for units. Identifiers leave
masked, as everywhere.
"""
from __future__ import annotations

from backend.followups.models import Condition, FollowUp

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
# 1 mmol/L of glucose is 18.016 mg/dL; LOINC 1558-6 is the mass concentration.
GLUCOSE_MG_PER_MMOL = 18.016

DIAGNOSES = {
    "hypertension": ("I10", "原发性高血压"),
    "diabetes": ("E11", "2型糖尿病"),
}
DISEASE_NAMES = {"hypertension": "高血压", "diabetes": "2型糖尿病"}


def _coding(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


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


def _vital(follow_up: FollowUp, suffix: str, code: str, display: str, patient_ref: dict, **value) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"{follow_up.id}-{suffix}",
        "status": "final",
        "category": [_coding(OBSERVATION_CATEGORY, "vital-signs" if suffix != "glucose" else "laboratory",
                             "Vital Signs" if suffix != "glucose" else "Laboratory")],
        "code": _coding(LOINC, code, display),
        "subject": patient_ref,
        "effectiveDateTime": follow_up.visited_on.isoformat(),
        **value,
    }


def _observations(follow_up: FollowUp, patient_ref: dict) -> list[dict]:
    out = []
    if follow_up.sbp is not None and follow_up.dbp is not None:
        out.append(_vital(follow_up, "bp", "85354-9", "Blood pressure panel", patient_ref, component=[
            {"code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
             "valueQuantity": _quantity(follow_up.sbp, "mm[Hg]")},
            {"code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
             "valueQuantity": _quantity(follow_up.dbp, "mm[Hg]")},
        ]))
    if follow_up.heart_rate is not None:
        out.append(_vital(follow_up, "hr", "8867-4", "Heart rate", patient_ref,
                          valueQuantity=_quantity(follow_up.heart_rate, "/min")))
    if follow_up.fasting_glucose is not None:
        out.append(_vital(follow_up, "glucose", "1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma",
                          patient_ref, valueQuantity=_quantity(
                              round(follow_up.fasting_glucose * GLUCOSE_MG_PER_MMOL, 1), "mg/dL")))
    if follow_up.weight_kg is not None:
        out.append(_vital(follow_up, "weight", "29463-7", "Body weight", patient_ref,
                          valueQuantity=_quantity(follow_up.weight_kg, "kg")))
    if follow_up.height_cm is not None:
        out.append(_vital(follow_up, "height", "8302-2", "Body height", patient_ref,
                          valueQuantity=_quantity(follow_up.height_cm, "cm")))
    if follow_up.temperature_c is not None:
        out.append(_vital(follow_up, "temp", "8310-5", "Body temperature", patient_ref,
                          valueQuantity=_quantity(follow_up.temperature_c, "Cel")))
    return out


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
    active = {c.disease: c.id for c in record["conditions"] if c.deregistered_on is None}
    entries += [_entry(_appointment(n, active[n["disease"]], patient_ref)) for n in record["next_follow_ups"]]
    return {"resourceType": "Bundle", "id": f"health-record-{resident['id']}", "type": "collection",
            "timestamp": timestamp, "entry": entries}
