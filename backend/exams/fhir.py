"""A health check as FHIR R4 resources: an Observation per reading, a DiagnosticReport grouping
them with the evaluation as its conclusion, and a MedicationStatement per medication.

Readings with a LOINC code carry it (vital signs; glucose, HbA1c, blood routine, liver and kidney
function, lipids); LOINC's mass-concentration codes get the value converted from the SI unit the
form records, as the follow-ups' glucose is. The form's other items carry a local code
(``urn:jiayi:code``) and their text. Ids derive from the check's id (``{check id}-bmi``)."""
from __future__ import annotations

from datetime import date

from backend.records.fhir_parts import (
    GLUCOSE_MG_PER_MMOL, JIAYI as LOCAL, LOINC, OBSERVATION_CATEGORY, UCUM, medication_statement,
)
from backend.records.fhir_parts import coding as _coding

VITAL, LAB, EXAM, SURVEY = ("vital-signs", "Vital Signs"), ("laboratory", "Laboratory"), \
    ("exam", "Exam"), ("survey", "Survey")

# SI unit → the mass concentration LOINC's code means: factor to multiply by.
CREATININE_MG_DL_PER_UMOL = 113.12 / 10_000
UREA_NITROGEN_MG_DL_PER_MMOL = 2.8014  # two nitrogen atoms of 14.007 g/mol, per dL
BILIRUBIN_MG_DL_PER_UMOL = 584.66 / 10_000
CHOLESTEROL_MG_PER_MMOL = 38.67
TRIGLYCERIDE_MG_PER_MMOL = 88.57

# (section path, suffix, LOINC code, display, category, unit, factor to the unit)
LOINC_READINGS = [
    (("general", "temperature_c"), "temp", "8310-5", "Body temperature", VITAL, "Cel", 1),
    (("general", "respiratory_rate"), "rr", "9279-1", "Respiratory rate", VITAL, "/min", 1),
    (("general", "height_cm"), "height", "8302-2", "Body height", VITAL, "cm", 1),
    (("general", "weight_kg"), "weight", "29463-7", "Body weight", VITAL, "kg", 1),
    (("general", "waist_cm"), "waist", "8280-0", "Waist Circumference at umbilicus by Tape measure", VITAL, "cm", 1),
    (("general", "bmi"), "bmi", "39156-5", "Body mass index (BMI) [Ratio]", VITAL, "kg/m2", 1),
    (("auxiliary", "fasting_glucose"), "glucose", "1558-6", "Fasting glucose [Mass/volume] in Serum or Plasma",
     LAB, "mg/dL", GLUCOSE_MG_PER_MMOL),
    (("auxiliary", "hba1c"), "hba1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", LAB, "%", 1),
    (("auxiliary", "blood_routine", "hemoglobin"), "hgb", "718-7", "Hemoglobin [Mass/volume] in Blood",
     LAB, "g/L", 1),
    (("auxiliary", "blood_routine", "wbc"), "wbc", "6690-2", "Leukocytes [#/volume] in Blood by Automated count",
     LAB, "10*9/L", 1),
    (("auxiliary", "blood_routine", "platelets"), "plt", "777-3",
     "Platelets [#/volume] in Blood by Automated count", LAB, "10*9/L", 1),
    (("auxiliary", "liver_function", "alt"), "alt", "1742-6",
     "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", LAB, "U/L", 1),
    (("auxiliary", "liver_function", "ast"), "ast", "1920-8",
     "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", LAB, "U/L", 1),
    (("auxiliary", "liver_function", "albumin"), "alb", "1751-7", "Albumin [Mass/volume] in Serum or Plasma",
     LAB, "g/L", 1),
    (("auxiliary", "liver_function", "total_bilirubin"), "tbil", "1975-2",
     "Bilirubin.total [Mass/volume] in Serum or Plasma", LAB, "mg/dL", BILIRUBIN_MG_DL_PER_UMOL),
    (("auxiliary", "kidney_function", "creatinine"), "creat", "2160-0",
     "Creatinine [Mass/volume] in Serum or Plasma", LAB, "mg/dL", CREATININE_MG_DL_PER_UMOL),
    (("auxiliary", "kidney_function", "urea"), "bun", "3094-0",
     "Urea nitrogen [Mass/volume] in Serum or Plasma", LAB, "mg/dL", UREA_NITROGEN_MG_DL_PER_MMOL),
    (("auxiliary", "kidney_function", "potassium"), "k", "2823-3", "Potassium [Moles/volume] in Serum or Plasma",
     LAB, "mmol/L", 1),
    (("auxiliary", "kidney_function", "sodium"), "na", "2951-2", "Sodium [Moles/volume] in Serum or Plasma",
     LAB, "mmol/L", 1),
    (("auxiliary", "blood_lipids", "total_cholesterol"), "chol", "2093-3",
     "Cholesterol [Mass/volume] in Serum or Plasma", LAB, "mg/dL", CHOLESTEROL_MG_PER_MMOL),
    (("auxiliary", "blood_lipids", "triglycerides"), "tg", "2571-8",
     "Triglyceride [Mass/volume] in Serum or Plasma", LAB, "mg/dL", TRIGLYCERIDE_MG_PER_MMOL),
    (("auxiliary", "blood_lipids", "hdl_cholesterol"), "hdl", "2085-9",
     "Cholesterol in HDL [Mass/volume] in Serum or Plasma", LAB, "mg/dL", CHOLESTEROL_MG_PER_MMOL),
    (("auxiliary", "blood_lipids", "ldl_cholesterol"), "ldl", "13457-7",
     "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", LAB, "mg/dL", CHOLESTEROL_MG_PER_MMOL),
]

# Items without a LOINC code we are sure of: (section path, suffix, local code, text, category, unit or None).
LOCAL_QUANTITIES = [
    (("general", "pulse_rate"), "pulse", "pulse_rate", "脉率", VITAL, "/min"),
    (("auxiliary", "urine_microalbumin"), "malb", "urine_microalbumin", "尿微量白蛋白", LAB, "mg/dL"),
    (("auxiliary", "liver_function", "direct_bilirubin"), "dbil", "direct_bilirubin", "结合胆红素", LAB, "umol/L"),
    (("organ_function", "vision", "left"), "vision-l", "vision_left", "左眼视力", EXAM, "1"),
    (("organ_function", "vision", "right"), "vision-r", "vision_right", "右眼视力", EXAM, "1"),
    (("general", "self_care_score"), "self-care", "self_care_score", "老年人生活自理能力评估总分", SURVEY, "{score}"),
    (("general", "cognition", "mmse_score"), "mmse", "mmse_score", "简易智力状态检查总分", SURVEY, "{score}"),
    (("general", "emotion", "gds_score"), "gds", "gds_score", "老年人抑郁评分总分", SURVEY, "{score}"),
]
LOCAL_TEXTS = [
    (("auxiliary", "urine_routine", "protein"), "u-pro", "urine_protein", "尿蛋白", LAB),
    (("auxiliary", "urine_routine", "glucose"), "u-glu", "urine_glucose", "尿糖", LAB),
    (("auxiliary", "urine_routine", "ketone"), "u-ket", "urine_ketone", "尿酮体", LAB),
    (("auxiliary", "urine_routine", "occult_blood"), "u-bld", "urine_occult_blood", "尿潜血", LAB),
    (("auxiliary", "fecal_occult_blood"), "fob", "fecal_occult_blood", "大便潜血", LAB),
    (("auxiliary", "hbsag"), "hbsag", "hbsag", "乙型肝炎表面抗原", LAB),
    (("auxiliary", "ecg"), "ecg", "ecg", "心电图", EXAM),
    (("auxiliary", "chest_xray"), "cxr", "chest_xray", "胸部X线片", EXAM),
    (("auxiliary", "abdominal_ultrasound"), "abd-us", "abdominal_ultrasound", "腹部B超", EXAM),
    (("auxiliary", "other_ultrasound"), "other-us", "other_ultrasound", "其他B超", EXAM),
    (("auxiliary", "cervical_smear"), "pap", "cervical_smear", "宫颈涂片", LAB),
    (("physical_exam", "fundus"), "fundus", "fundus", "眼底", EXAM),
    (("general", "health_self_assessment"), "self-assess", "health_self_assessment", "老年人健康状态自我评估", SURVEY),
]
ANSWERS = {"normal": "正常", "abnormal": "异常", "negative": "阴性", "positive": "阳性",
           "satisfied": "满意", "fairly_satisfied": "基本满意", "unclear": "说不清楚",
           "fairly_unsatisfied": "不太满意", "unsatisfied": "不满意"}


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _field(check, name: str):
    return check[name] if isinstance(check, dict) else getattr(check, name)


def _at(section: dict, path: tuple[str, ...]):
    value = section
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _observation(check_id: str, day: str, suffix: str, code: dict, category: tuple[str, str],
                 patient_ref: dict, **value) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"{check_id}-{suffix}",
        "status": "final",
        "category": [_coding(OBSERVATION_CATEGORY, *category)],
        "code": code,
        "subject": patient_ref,
        "effectiveDateTime": day,
        **value,
    }


def _observations(check, patient_ref: dict) -> list[dict]:
    check_id, day = _field(check, "id"), _day(_field(check, "checked_on"))
    sections = {name: _field(check, name) or {} for name in ("general", "auxiliary", "organ_function",
                                                             "physical_exam")}
    out = []
    arms = sections["general"].get("blood_pressure") or {}
    for arm, suffix, side in (("left", "bp", "左侧"), ("right", "bp-right", "右侧")):
        reading = arms.get(arm)
        if reading:
            out.append(_observation(check_id, day, suffix, _coding(LOINC, "85354-9", "Blood pressure panel"),
                                    VITAL, patient_ref, bodySite={"text": side + "上臂"}, component=[
                {"code": _coding(LOINC, "8480-6", "Systolic blood pressure"),
                 "valueQuantity": _quantity(reading["sbp"], "mm[Hg]")},
                {"code": _coding(LOINC, "8462-4", "Diastolic blood pressure"),
                 "valueQuantity": _quantity(reading["dbp"], "mm[Hg]")},
            ]))
    heart_rate = _at(sections["physical_exam"], ("heart", "rate"))
    if heart_rate is not None:
        out.append(_observation(check_id, day, "hr", _coding(LOINC, "8867-4", "Heart rate"), VITAL, patient_ref,
                                valueQuantity=_quantity(heart_rate, "/min")))
    for path, suffix, code, display, category, unit, factor in LOINC_READINGS:
        value = _at(sections[path[0]], path[1:])
        if value is not None:
            shown = value if factor == 1 else round(value * factor, 2)
            out.append(_observation(check_id, day, suffix, _coding(LOINC, code, display), category, patient_ref,
                                    valueQuantity=_quantity(shown, unit)))
    for path, suffix, code, text, category, unit in LOCAL_QUANTITIES:
        value = _at(sections[path[0]], path[1:])
        if value is not None:
            out.append(_observation(check_id, day, suffix, _coding(LOCAL, code, text), category, patient_ref,
                                    valueQuantity=_quantity(value, unit)))
    for path, suffix, code, text, category in LOCAL_TEXTS:
        value = _at(sections[path[0]], path[1:])
        if isinstance(value, dict):  # a finding: normal, or abnormal with what was seen
            value = ANSWERS[value["result"]] + (f"：{value['detail']}" if value.get("detail") else "")
        if value:
            out.append(_observation(check_id, day, suffix, _coding(LOCAL, code, text), category, patient_ref,
                                    valueString=ANSWERS.get(value, value)))
    return out


def _conclusion(evaluation: dict | None) -> str | None:
    if not evaluation:
        return None
    if evaluation.get("normal"):
        return "体检无异常"
    return "有异常：" + "；".join(evaluation.get("abnormal") or [])


def _report(check, observations: list[dict], patient_ref: dict) -> dict:
    report = {
        "resourceType": "DiagnosticReport",
        "id": f"{_field(check, 'id')}-report",
        "status": "final",
        "code": _coding(LOCAL, "health_check", "健康体检"),
        "subject": patient_ref,
        "effectiveDateTime": _day(_field(check, "checked_on")),
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
    }
    conclusion = _conclusion(_field(check, "evaluation"))
    if conclusion:
        report["conclusion"] = conclusion
    return report


def _day(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def health_check_entries(check, patient_ref: dict) -> list[dict]:
    """The check (a HealthCheck, or its view as the health record holds it) as FHIR resources."""
    observations = _observations(check, patient_ref)
    day = _day(_field(check, "checked_on"))
    medications = [medication_statement(f"{_field(check, 'id')}-med-{n}", item, patient_ref, day)
                   for n, item in enumerate(_field(check, "medications") or [], start=1)]
    return [*observations, _report(check, observations, patient_ref), *medications]
