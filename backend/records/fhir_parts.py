"""What every part of the health record's FHIR export shares: code systems and the
MedicationStatement of one line of a form's medications."""
from __future__ import annotations

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
JIAYI = "urn:jiayi:code"  # lines of the national forms no standard code says as the form does
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# 1 mmol/L of glucose is 18.016 mg/dL; LOINC 1558-6 is the mass concentration.
GLUCOSE_MG_PER_MMOL = 18.016
ROUTES = {"oral": ("26643006", "Oral route"), "subcutaneous": ("34206005", "Subcutaneous route"),
          "intramuscular": ("78421000", "Intramuscular route"), "intravenous": ("47625008", "Intravenous route"),
          "inhaled": ("447694001", "Respiratory tract route"), "topical": ("6064005", "Topical route"),
          "sublingual": ("37839007", "Sublingual route")}
ADHERENCE = {"regular": "规律", "intermittent": "间断", "none": "不服药"}


def coding(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def medication_statement(resource_id: str, line: dict, patient_ref: dict, day: str) -> dict:
    """One medication line ({"name", "times_per_day", "dose", "unit", "route"}, an insulin line
    {"type", "usage", "units_per_day"}, a health check's line with its "adherence") as a
    MedicationStatement asserted on ``day``: taken unless the patient does not take it."""
    dosage: dict = {}
    text = [line["usage"]] if line.get("usage") else []
    if line.get("times_per_day"):
        dosage["timing"] = {"repeat": {"frequency": line["times_per_day"], "period": 1, "periodUnit": "d"}}
        text.append(f"每日{line['times_per_day']}次")
    if line.get("dose") is not None:
        dosage["doseAndRate"] = [{"doseQuantity": {"value": line["dose"], "unit": line.get("unit") or ""}}]
        text.append(f"每次{line['dose']:g}{line.get('unit') or ''}")
    if line.get("units_per_day") is not None:
        dosage["doseAndRate"] = [{"doseQuantity": {"value": line["units_per_day"], "unit": "[iU]/d",
                                                   "system": UCUM, "code": "[iU]/d"}}]
        text.append(f"每日{line['units_per_day']:g}单位")
    if line.get("route"):
        dosage["route"] = coding(SNOMED, *ROUTES[line["route"]])
    if text:
        dosage["text"] = "，".join(text)
    statement = {
        "resourceType": "MedicationStatement",
        "id": resource_id,
        "status": "not-taken" if line.get("adherence") == "none" else "active",
        "medicationCodeableConcept": {"text": line.get("name") or line.get("type")},
        "subject": patient_ref,
        "effectiveDateTime": day,
        "dateAsserted": day,
    }
    if dosage:
        statement["dosage"] = [dosage]
    if line.get("adherence"):
        statement["note"] = [{"text": "服药依从性：" + ADHERENCE[line["adherence"]]}]
    return statement
