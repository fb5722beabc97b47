"""Hypertension and diabetes patients of the demo county and a year of their follow-ups.

Prevalence rises with age as in north-eastern China; each township has its own diligence
(how often a scheduled visit happens), so standardized-management rates differ between
townships, some under the 65 % target; each patient has a propensity to be controlled.
Visits are classified by the same rules the API applies.

Each visit carries the whole national form (随访服务记录表) as a diligent team fills it: a patient
keeps his height, habits and drugs from visit to visit, the drugs changing now and then after an
uncontrolled visit or when the county hospital answers a referral. A less diligent township leaves
more of the optional fields empty. The form's details come from a random stream of their own, so
that the visits and their classifications do not depend on them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

import sqlalchemy as sa

from backend import clock
from backend.demo.directory import team_finder
from backend.directory.models import Institution, Staff, Team
from backend.extensions import db, new_id
from backend.followups import rules
from backend.followups.models import Condition, FollowUp
from backend.idempotency import fingerprint
from backend.referrals.models import Referral
from backend.residents.models import Resident
from backend.security.identity import age_on

# (lowest age, hypertension prevalence, diabetes prevalence) among registered patients.
PREVALENCE = [(35, 0.06, 0.02), (45, 0.16, 0.05), (55, 0.27, 0.09), (65, 0.40, 0.13)]
METHODS = ["clinic"] * 13 + ["home"] * 5 + ["phone", "online"]


class Drug(NamedTuple):
    name: str
    dose: float
    unit: str
    times_per_day: int
    kind: str  # two drugs of a kind are not combined
    share: int  # how often it is the first drug
    adverse: str  # the reaction a patient may have to it


# Drugs of China's primary care, as a township health centre prescribes them.
DRUGS = {
    "hypertension": [
        Drug("苯磺酸氨氯地平片", 5, "mg", 1, "ccb", 30, "踝部水肿"),
        Drug("硝苯地平缓释片", 20, "mg", 2, "ccb", 20, "面部潮红、头痛"),
        Drug("厄贝沙坦片", 150, "mg", 1, "arb", 15, "头晕"),
        Drug("缬沙坦胶囊", 80, "mg", 1, "arb", 15, "头晕、乏力"),
        Drug("美托洛尔缓释片", 47.5, "mg", 1, "beta_blocker", 10, "乏力、心率偏慢"),
        Drug("氢氯噻嗪片", 12.5, "mg", 1, "diuretic", 5, "乏力，复查血钾偏低"),
        Drug("吲达帕胺片", 2.5, "mg", 1, "diuretic", 5, "口干、乏力"),
    ],
    "diabetes": [
        Drug("盐酸二甲双胍片", 0.5, "g", 3, "biguanide", 80, "恶心、腹泻"),
        Drug("格列美脲片", 2, "mg", 1, "sulfonylurea", 8, "心慌、出汗（低血糖反应）"),
        Drug("阿卡波糖片", 50, "mg", 3, "glucosidase", 8, "腹胀、排气增多"),
        Drug("西格列汀片", 100, "mg", 1, "dpp4", 4, "鼻塞、咽痛"),
    ],
}
INSULINS = [("甘精胰岛素", "每晚睡前皮下注射", 10, 24), ("门冬胰岛素30", "早、晚餐前皮下注射", 20, 40)]
DEPARTMENT = {"hypertension": "心内科", "diabetes": "内分泌科"}
# Symptoms that do not call for an urgent referral, by disease.
MILD_SYMPTOMS = {"hypertension": ["dizziness", "headache", "tinnitus", "dizziness", "nosebleed"],
                 "diabetes": ["polydipsia", "polyuria", "blurred_vision_mild", "limb_numbness", "weight_loss"]}
OTHER_SYMPTOMS = ["乏力", "失眠", "夜尿增多", "颈部发紧", "食欲减退"]
OTHER_SIGNS = {"hypertension": ["双下肢轻度水肿", "心律不齐", "颈部可闻及血管杂音", "眼睑轻度水肿"],
               "diabetes": ["双下肢轻度水肿", "足部皮肤干燥、皲裂", "双足趾甲增厚", "双下肢皮肤色素沉着"]}
OTHER_EXAMS = {
    "hypertension": ["心电图：窦性心律，大致正常心电图", "血钾 4.1mmol/L，血肌酐 78μmol/L", "尿常规：尿蛋白阴性",
                     "血脂：总胆固醇 5.6mmol/L，甘油三酯 1.9mmol/L", "心电图：左心室高电压"],
    "diabetes": ["尿常规：尿糖（+），尿蛋白阴性", "餐后2小时血糖 11.2mmol/L", "血脂：低密度脂蛋白胆固醇 3.2mmol/L",
                 "眼底检查：未见明显异常", "尿微量白蛋白/肌酐比值 25mg/g"],
}
# The form's fields a visit may leave empty. The empty columns are set too, so that the visits
# share their columns and go to the database in a few many-row inserts (the JSON ones are left
# out: set to None they would hold a JSON null, not the SQL NULL of a field never filled).
UNFILLED = {name: None for name in (
    "sbp", "dbp", "fasting_glucose", "height_cm", "target_weight_kg", "symptoms_other", "dorsalis_pedis_pulse",
    "other_signs", "hba1c", "hba1c_on", "other_exams", "adverse_reaction_detail", "hypoglycemia")} \
    | {"symptoms": [], "medications": []}
PULSES = [("palpable", 86), ("weakened_both", 7), ("weakened_left", 2), ("weakened_right", 2), ("absent_both", 1),
          ("absent_left", 1), ("absent_right", 1)]


def _prevalence(age: int) -> tuple[float, float]:
    found = (0.0, 0.0)
    for low, htn, dm in PREVALENCE:
        if age >= low:
            found = (htn, dm)
    return found


def _reading(rng: random.Random, disease: str, controlled: bool, age: int) -> dict:
    if disease == "hypertension":
        if controlled:
            sbp_cap = 149 if age >= 65 else 139
            sbp, dbp = min(int(rng.gauss(128, 8)), sbp_cap), min(int(rng.gauss(79, 5)), 89)
        else:
            sbp, dbp = int(rng.gauss(158, 11)), int(rng.gauss(95, 7))
            if rng.random() < 0.03:
                sbp, dbp = rng.randint(180, 200), rng.randint(100, 115)
        sbp, dbp = max(sbp, 95), max(dbp, 55)
        return {"sbp": sbp, "dbp": min(dbp, sbp - 20), "heart_rate": int(rng.gauss(76, 8))}
    fpg = rng.gauss(6.1, 0.4) if controlled else rng.gauss(8.9, 1.4)
    if not controlled and rng.random() < 0.02:
        fpg = rng.uniform(16.7, 19.0)
    return {"fasting_glucose": round(min(max(fpg, 4.2), 25.0), 1), "heart_rate": int(rng.gauss(78, 8))}


def bmi(weight_kg: float | None, height_cm: float | None) -> float | None:
    """Weight over the square of height in metres, to one decimal, as the API computes it."""
    if weight_kg is None or height_cm is None:
        return None
    return round(weight_kg / (height_cm / 100) ** 2, 1)


def hba1c_for(fasting_glucose: float, rng: random.Random) -> float:
    """An HbA1c (%) consistent with the fasting glucose (the ADAG relation), with some scatter."""
    return round(min(max((fasting_glucose * 18 + 46.7) / 28.7 + rng.gauss(0, 0.4), 4.5), 14.0), 1)


@dataclass
class Habits:
    """What a resident is like, whatever the disease a form is for."""

    height_cm: int
    weight_kg: float
    cigarettes: int
    alcohol_liang: float
    exercise_times: int
    exercise_minutes: int
    salt: str
    staple_g: int
    psychology: str


def habits_of(rng: random.Random, sex: str) -> Habits:
    male = sex == "male"
    height = round(rng.gauss(169, 6) if male else rng.gauss(158, 5.5))
    weight = round(min(max(rng.gauss(24.3, 3.0), 18.5), 35.0) * (height / 100) ** 2, 1)
    smoker = rng.random() < (0.25 if male else 0.02)
    drinker = rng.random() < (0.3 if male else 0.03)
    exercise = rng.choice([0, 0, 1, 2, 3, 3, 5, 7])
    return Habits(
        height_cm=height, weight_kg=weight, cigarettes=rng.choice([5, 10, 10, 15, 20, 20, 30]) if smoker else 0,
        alcohol_liang=rng.choice([1.0, 1.5, 2.0, 2.0, 3.0, 4.0]) if drinker else 0.0,
        exercise_times=exercise, exercise_minutes=rng.choice([20, 30, 30, 40, 60]) if exercise else 0,
        salt=rng.choices(["light", "medium", "heavy"], [15, 45, 40])[0],
        staple_g=rng.choice([250, 300, 350, 400, 400, 450, 500]),
        psychology=rng.choices(["good", "fair", "poor"], [80, 17, 3])[0],
    )


def target_weight(habits: Habits) -> float:
    """The weight the doctor agrees with an overweight patient: under BMI 24, a few kilos at a time."""
    if bmi(habits.weight_kg, habits.height_cm) < 24:
        return float(round(habits.weight_kg))
    return float(max(round(habits.weight_kg) - 5, round(23.9 * (habits.height_cm / 100) ** 2)))


def lifestyle_of(habits: Habits, disease: str, adherence: str | None) -> dict:
    """The lifestyle lines of the form, each now and the target agreed for the next visit."""
    cigarettes, alcohol = habits.cigarettes, habits.alcohol_liang
    lines = {
        "cigarettes_per_day": {"now": cigarettes, "target": 0 if cigarettes <= 10 else cigarettes // 2},
        "alcohol_liang_per_day": {"now": alcohol, "target": min(alcohol, 1.0) if alcohol > 2 else 0.0},
        "exercise_times_per_week": {"now": habits.exercise_times, "target": max(habits.exercise_times, 5)},
        "exercise_minutes": {"now": habits.exercise_minutes, "target": max(habits.exercise_minutes, 30)},
    }
    if disease == "hypertension":
        lines["salt"] = {"now": habits.salt, "target": "light"}
    else:
        lines["staple_food_g_per_day"] = {"now": habits.staple_g, "target": min(habits.staple_g, 300)}
    lines["psychological_adjustment"] = habits.psychology
    lines["compliance"] = {"regular": "good", "intermittent": "fair", "none": "poor", None: "fair"}[adherence]
    return lines


def medication_rows(drugs: list[Drug]) -> list[dict]:
    return [{"name": d.name, "dose": d.dose, "unit": d.unit, "times_per_day": d.times_per_day, "route": "oral"}
            for d in drugs]


def _dose_text(drug: Drug) -> str:
    return f"{drug.name.removesuffix('片').removesuffix('胶囊')}{drug.dose:g}{drug.unit} " \
           f"{ {1: 'qd', 2: 'bid', 3: 'tid'}[drug.times_per_day]}"


def reason_text(disease: str, codes: list[str]) -> str:
    """The referral reasons of the rules, as a doctor writes them on the form."""
    measure = "血压" if disease == "hypertension" else "血糖"
    fixed = {"two_consecutive_uncontrolled": f"连续两次随访{measure}控制不满意",
             "two_consecutive_adverse_reaction": "连续两次出现药物不良反应",
             "complication_new": "出现新的并发症", "complication_worse": "原有并发症加重"}
    parts = []
    for code in codes:
        number = code.rsplit("_", 1)[-1]
        if code in fixed:
            parts.append(fixed[code])
        elif code.startswith("sbp_ge_"):
            parts.append(f"收缩压≥{number}mmHg")
        elif code.startswith("dbp_ge_"):
            parts.append(f"舒张压≥{number}mmHg")
        elif code.startswith(("glucose_ge_", "glucose_le_")):
            value = code.split("_", 2)[2].replace("_", ".")
            parts.append(f"空腹血糖{'≥' if '_ge_' in code else '≤'}{value}mmol/L")
        elif code.startswith("heart_rate_gt_"):
            parts.append(f"心率>{number}次/分")
        elif code.startswith("temperature_gt_"):
            parts.append(f"体温>{code.removeprefix('temperature_gt_').replace('_', '.')}℃")
        elif code.startswith("pregnant_bp_gt_"):
            sbp, dbp = code.removeprefix("pregnant_bp_gt_").split("_")
            parts.append(f"妊娠期血压>{sbp}/{dbp}mmHg")
        elif code.startswith("symptom_"):
            parts.append("出现危急症状")
    return "；".join(dict.fromkeys(parts)) or "病情需上级医院诊治"


@dataclass
class Treatment:
    """A patient's drugs for one disease, as the last visit left them."""

    drugs: list[Drug]
    insulin: dict | None = None
    pulse: str | None = None  # dorsalis pedis, diabetes
    hba1c_on: date | None = None
    # The county hospital's change to the drugs, in force from the day it returned the referral.
    change: tuple[date, list[Drug], dict | None] | None = field(default=None)


def _first_drugs(rng: random.Random, disease: str) -> list[Drug]:
    drugs = DRUGS[disease]
    first = rng.choices(drugs, [d.share for d in drugs])[0]
    chosen = [first]
    if rng.random() < (0.35 if disease == "hypertension" else 0.4):
        chosen.append(rng.choice([d for d in drugs if d.kind != first.kind]))
    return chosen


def _added(rng: random.Random, disease: str, drugs: list[Drug], most: int = 3) -> Drug | None:
    """A drug of another kind to add, up to ``most`` drugs (a township team adds up to two)."""
    kinds = {d.kind for d in drugs}
    candidates = [d for d in DRUGS[disease] if d.kind not in kinds]
    return rng.choice(candidates) if candidates and len(drugs) < most else None


def _insulin(rng: random.Random) -> dict:
    kind, usage, low, high = rng.choice(INSULINS)
    return {"type": kind, "usage": usage, "units_per_day": rng.randint(low // 2, high // 2) * 2}


class Forms:
    """Fills the national form of each visit and the referrals of the visits the rules refer."""

    def __init__(self, rng: random.Random, today: date):
        self.rng = rng
        self.today = today
        self.hospital = db.session.scalar(
            sa.select(Institution).where(Institution.kind == "county_hospital").order_by(Institution.name))
        doctors = {s.username: s.id for s in db.session.scalars(
            sa.select(Staff).where(Staff.username.in_(["hospital-doctor1", "hospital-doctor2"])))}
        self.receiver = {"hypertension": doctors.get("hospital-doctor1"),
                         "diabetes": doctors.get("hospital-doctor2", doctors.get("hospital-doctor1"))}
        self.habits: dict[str, Habits] = {}

    def treatment(self, resident: Resident, disease: str) -> Treatment:
        if resident.id not in self.habits:
            self.habits[resident.id] = habits_of(self.rng, resident.sex)
        rng = self.rng
        treatment = Treatment(drugs=_first_drugs(rng, disease))
        if disease == "diabetes":
            treatment.pulse = rng.choices([p for p, _ in PULSES], [w for _, w in PULSES])[0]
            if rng.random() < 0.1:
                treatment.insulin = _insulin(rng)
        return treatment

    def visit(self, resident: Resident, disease: str, treatment: Treatment, visit: dict, thorough: float,
              controlled: bool) -> dict:
        """The rest of the form of one visit (the request body's fields), given its readings."""
        rng = self.rng
        habits = self.habits[resident.id]
        visited, face_to_face = visit["visited_on"], visit["method"] in rules.FACE_TO_FACE
        if treatment.change and treatment.change[0] <= visited:
            treatment.drugs, treatment.insulin = treatment.change[1], treatment.change[2]
            treatment.change = None

        def filled(share: float = 1.0) -> bool:
            return rng.random() < thorough * share + (1 - share)

        form: dict = {"weight_kg": round(habits.weight_kg + rng.gauss(0, 0.8), 1)}
        if filled():
            form["height_cm"] = float(habits.height_cm)
        if filled():
            form["target_weight_kg"] = target_weight(habits)
        if filled():
            felt = rng.random() < (0.05 if controlled else 0.5)
            form["symptoms"] = sorted(set(rng.sample(MILD_SYMPTOMS[disease], rng.randint(1, 2)))) if felt \
                else ["none"]
        if rng.random() < 0.03:
            form["symptoms_other"] = rng.choice(OTHER_SYMPTOMS)
        if disease == "diabetes" and face_to_face and filled():
            form["dorsalis_pedis_pulse"] = treatment.pulse
        if face_to_face and rng.random() < 0.05:
            form["other_signs"] = rng.choice(OTHER_SIGNS[disease])
        lines = lifestyle_of(habits, disease, visit.get("medication_adherence"))
        lifestyle = {key: value for key, value in lines.items() if filled()}
        if lifestyle:
            form["lifestyle"] = lifestyle
        if disease == "diabetes" and face_to_face and (
                treatment.hba1c_on is None or (visited - treatment.hba1c_on).days >= 150) and filled():
            treatment.hba1c_on = visited - timedelta(days=rng.randint(0, 5))
            form["hba1c"], form["hba1c_on"] = hba1c_for(visit["fasting_glucose"], rng), treatment.hba1c_on
        if face_to_face and rng.random() < 0.06:
            form["other_exams"] = rng.choice(OTHER_EXAMS[disease])
        if visit["adverse_reaction"]:
            culprit = rng.choice(treatment.drugs)
            form["adverse_reaction_detail"] = f"服用{culprit.name}后{culprit.adverse}"
            if rng.random() < 0.6:  # the doctor swaps the drug at once
                substitutes = [d for d in DRUGS[disease] if d.kind not in {x.kind for x in treatment.drugs}]
                if substitutes:
                    treatment.drugs = [d if d is not culprit else rng.choice(substitutes) for d in treatment.drugs]
        if disease == "diabetes" and filled():
            risky = treatment.insulin or any(d.kind == "sulfonylurea" for d in treatment.drugs)
            form["hypoglycemia"] = rng.choices(["none", "occasional", "frequent"],
                                               [70, 25, 5] if risky else [93, 6, 1])[0]
        return form

    def prescribe(self, form: dict, disease: str, treatment: Treatment, outcome: rules.Outcome,
                  thorough: float) -> None:
        """The drugs the visit leaves the patient with: now and then one more after an uncontrolled
        visit the doctor does not refer (a referred patient's drugs are the hospital's to change)."""
        rng = self.rng
        if not outcome.on_target and not outcome.refer and rng.random() < 0.25:
            extra = _added(rng, disease, treatment.drugs, most=2)
            if extra:
                treatment.drugs = [*treatment.drugs, extra]
        if rng.random() < 0.7 + 0.3 * thorough:
            form["medications"] = medication_rows(treatment.drugs)
        if treatment.insulin and rng.random() < 0.7 + 0.3 * thorough:
            form["insulin"] = dict(treatment.insulin)

    def referral_section(self, disease: str, reasons: list[str]) -> dict:
        return {"reason": reason_text(disease, reasons), "institution_id": self.hospital.id,
                "institution_name": self.hospital.name, "department": DEPARTMENT[disease]}

    def referral(self, follow_up: FollowUp, team_id: str | None, treatment: Treatment) -> Referral:
        """The referral of a visit, as far as the county hospital has got with it by today."""
        rng, disease, referred = self.rng, follow_up.disease, follow_up.visited_on
        section = follow_up.referral
        row = Referral(
            id=new_id(), follow_up_id=follow_up.id, resident_id=follow_up.resident_id, disease=disease,
            urgent=follow_up.urgent_referral, reason=section["reason"], to_institution_id=section["institution_id"],
            to_institution_name=section["institution_name"], department=section["department"],
            referred_on=referred, referred_by_id=follow_up.recorded_by_id, team_id=team_id, status="referred",
            created_at=_moment(referred, 10), updated_at=_moment(referred, 10))
        if not follow_up.urgent_referral and rng.random() < 0.06:
            # The patient never went: two weeks on, the team closes the referral itself.
            closed = referred + timedelta(days=14)
            if closed <= self.today:
                row.status, row.returned_on, row.result_by_id = "returned", closed, follow_up.recorded_by_id
                row.result = "患者未到上级医院就诊，经电话随访后由团队结案，继续社区管理"
                row.updated_at = _moment(closed, 16)
            return row
        received = referred + timedelta(days=0 if follow_up.urgent_referral else rng.randint(1, 3))
        returned = received + timedelta(days=rng.randint(3, 10) if follow_up.urgent_referral else rng.randint(1, 6))
        if received <= self.today:
            row.status, row.received_on, row.received_by_id = "received", received, self.receiver[disease]
            row.updated_at = _moment(received, 9)
        if returned <= self.today:
            result, diagnosis, drugs, insulin = self._result(follow_up, treatment)
            row.status, row.returned_on, row.result, row.diagnosis = "returned", returned, result, diagnosis
            row.result_by_id, row.updated_at = self.receiver[disease], _moment(returned, 15)
            treatment.change = (returned, drugs, insulin)
        return row

    def _result(self, follow_up: FollowUp, treatment: Treatment) -> tuple[str, str, list[Drug], dict | None]:
        """What the hospital found and did: (result, diagnosis, the drugs and insulin from then on)."""
        rng, disease, reasons = self.rng, follow_up.disease, follow_up.referral_reasons
        drugs, insulin = list(treatment.drugs), treatment.insulin
        plan = "降压" if disease == "hypertension" else "降糖"
        if any(r.startswith("two_consecutive_adverse") for r in reasons) or follow_up.adverse_reaction:
            culprit = rng.choice(drugs)
            substitutes = [d for d in DRUGS[disease] if d.kind not in {x.kind for x in drugs}]
            if substitutes:
                new = rng.choice(substitutes)
                drugs = [d if d is not culprit else new for d in drugs]
                change = f"停用{culprit.name}，改用{_dose_text(new)}"
            else:
                drugs = [d for d in drugs if d is not culprit]
                change = f"停用{culprit.name}"
            return (f"考虑药物不良反应，调整{plan}方案：{change}，1周后社区复查", "药物不良反应", drugs, insulin)
        extra = _added(rng, disease, drugs)
        kin = [(d, k) for d in drugs for k in DRUGS[disease] if k.kind == d.kind and k != d]
        if extra is not None:
            drugs = [*drugs, extra]
            change = f"加用{_dose_text(extra)}"
        elif disease == "diabetes" and insulin is None and rng.random() < 0.15:
            insulin = {"type": "甘精胰岛素", "usage": "每晚睡前皮下注射", "units_per_day": 10}
            change = "起始甘精胰岛素10U每晚睡前皮下注射，监测空腹血糖，每3天调整2U"
        elif disease == "diabetes" and insulin is not None and rng.random() < 0.5:
            insulin = {**insulin, "units_per_day": min(insulin["units_per_day"] + 4, 60)}
            change = f"{insulin['type']}加量至每日{insulin['units_per_day']:g}U"
        elif disease == "diabetes":
            change = "维持原方案，加强饮食控制及运动，监测空腹及餐后血糖"
        elif kin:
            old, new = rng.choice(kin)
            drugs = [new if d is old else d for d in drugs]
            change = f"{old.name}换为{_dose_text(new)}"
        else:
            change = "完善检查排除继发性高血压，维持原方案，强调规律服药、低盐饮食"
        if follow_up.complication in ("new", "worse"):
            diagnosis = rng.choice(["高血压性心脏病", "高血压肾损害"] if disease == "hypertension"
                                   else ["2型糖尿病性周围神经病变", "2型糖尿病性视网膜病变", "2型糖尿病肾病"])
            return (f"完善相关检查，诊断{diagnosis}；调整{plan}方案：{change}，2周后社区复查，专科门诊定期随诊",
                    diagnosis, drugs, insulin)
        if follow_up.urgent_referral:
            if disease == "hypertension":
                return (f"急诊予静脉降压治疗，血压降至{rng.randint(140, 155)}/{rng.randint(85, 95)}mmHg，"
                        f"排除急性靶器官损害；调整降压方案：{change}，出院后1周社区复查",
                        "高血压3级（很高危）", drugs, insulin)
            return (f"急诊予补液、小剂量胰岛素降糖，血糖平稳后出院；调整降糖方案：{change}，1周后社区复查",
                    "2型糖尿病伴高血糖状态", drugs, insulin)
        diagnosis = rng.choice(["原发性高血压2级（高危）", "原发性高血压2级（中危）", "原发性高血压1级（高危）"]) \
            if disease == "hypertension" else "2型糖尿病（血糖控制不佳）"
        return f"调整{plan}方案：{change}，2周后社区复查", diagnosis, drugs, insulin


def _moment(day: date, hour: int) -> datetime:
    # Never later than now: a record is not written in the future (the statistics' refresh reads
    # updated_at to find what changed since it last ran).
    return min(datetime.combine(day, time(hour, 0), tzinfo=clock.CIVIL_TZ), clock.now())


def load_follow_ups(rng: random.Random, forms_rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(Condition)):
        return  # loaded before
    serving_team = team_finder(list(db.session.scalars(sa.select(Team).order_by(Team.name))))
    forms = Forms(forms_rng, today)
    diligence = {}  # per township: the chance a due visit happens
    residents = list(db.session.scalars(sa.select(Resident).order_by(Resident.id_number_index)))
    for resident in residents:
        age = age_on(resident.birth_date, today)
        htn_p, dm_p = _prevalence(age)
        team = serving_team(resident.region_code)
        township = resident.region_code[:9]
        if township not in diligence:
            diligence[township] = rng.uniform(0.55, 0.92)
        doctors = [m.staff_id for m in team.members] if team else [None]
        for disease, p in (("hypertension", htn_p), ("diabetes", dm_p)):
            if rng.random() >= p:
                continue
            _patient(rng, forms, resident, disease, age, today, diligence[township], doctors,
                     team.id if team else None)
    db.session.flush()


def _patient(rng, forms, resident, disease, age, today, diligence, doctors, team_id) -> None:
    diagnosed = today - timedelta(days=rng.randint(30, 365 * 12))
    if rng.random() < 0.15:  # taken into management during the last year
        registered = today - timedelta(days=rng.randint(15, 360))
        diagnosed = min(diagnosed, registered)
    else:
        registered = diagnosed + timedelta(days=rng.randint(0, 60))
        registered = min(registered, today - timedelta(days=400))
        diagnosed = min(diagnosed, registered)
    condition = Condition(id=new_id(), resident_id=resident.id, disease=disease, diagnosed_on=diagnosed,
                          registered_on=registered, registered_by_id=doctors[0],
                          next_due_on=rules.first_due_on(registered))
    db.session.add(condition)
    control = rng.uniform(0.15, 0.8)  # this patient's chance of a visit on target
    treatment = forms.treatment(resident, disease)
    # A diligent team fills nearly every optional field; a lax one leaves a fifth of them empty.
    thorough = 0.55 + 0.45 * diligence
    window_start = today - timedelta(days=365)
    due = condition.next_due_on if registered >= window_start else window_start + timedelta(days=rng.randint(0, 60))
    previous = None
    last = None
    while due <= today:
        if rng.random() > diligence:
            # Missed: the patient turns up weeks later, or not before today (then overdue).
            due = due + timedelta(days=rng.randint(20, 70))
            continue
        visited = min(due + timedelta(days=rng.randint(-10, 2)), today)
        controlled = rng.random() < control
        reading = _reading(rng, disease, controlled, age)
        data = {"disease": disease, "visited_on": visited, "method": rng.choice(METHODS),
                "adverse_reaction": rng.random() < 0.02, "complication": "new" if rng.random() < 0.01 else "none",
                "medication_adherence": rng.choice(["regular"] * 6 + ["intermittent"] * 3 + ["none"]), **reading}
        recorder = rng.choice(doctors)
        data |= forms.visit(resident, disease, treatment, data, thorough, controlled)
        outcome = rules.classify(rules.Visit(
            disease=disease, visited_on=visited, sbp=data.get("sbp"), dbp=data.get("dbp"),
            heart_rate=data.get("heart_rate"), fasting_glucose=data.get("fasting_glucose"),
            adverse_reaction=data["adverse_reaction"], complication=data["complication"],
            symptoms=tuple(data.get("symptoms", ())),
        ), age_on(resident.birth_date, visited), previous)
        forms.prescribe(data, disease, treatment, outcome, thorough)
        if outcome.refer:
            data["referral"] = forms.referral_section(disease, outcome.referral_reasons)
        last = FollowUp(id=new_id(), resident_id=resident.id, condition_id=condition.id,
                        recorded_by_id=recorder, body_hash=fingerprint(resident.id, data),
                        classification=outcome.classification, on_target=outcome.on_target, refer=outcome.refer,
                        urgent_referral=outcome.urgent_referral, referral_reasons=outcome.referral_reasons,
                        next_due_on=outcome.next_due_on, bmi=bmi(data["weight_kg"], data.get("height_cm")),
                        target_bmi=bmi(data.get("target_weight_kg"), data.get("height_cm")),
                        **{**UNFILLED, **data})
        db.session.add(last)
        if outcome.refer:
            db.session.add(forms.referral(last, team_id, treatment))
        previous = rules.Previous(on_target=outcome.on_target, adverse_reaction=data["adverse_reaction"])
        due = outcome.next_due_on
    if last is not None:
        condition.next_due_on, condition.last_follow_up_id = last.next_due_on, last.id
        condition.last_visited_on, condition.urgent = last.visited_on, last.urgent_referral
