"""The year's annual health checks (健康体检表) in the demo county.

Most residents aged 65 and over and most chronic patients under contract had one within their
contract term, the share varying with the township's diligence, as does how much of the optional
form was filled. A check agrees with what the follow-ups know of the patient: his height, weight,
habits and drugs, a fasting glucose and HbA1c of a diabetic's, blood pressure of a hypertensive's.
The sections are written as the API stores them (the JSON their schemas dump, with the BMI and
the self-care level computed).
"""
from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from backend import clock
from backend.contracts.models import Contract
from backend.demo.followups import Habits, bmi, habits_of, hba1c_for, target_weight
from backend.directory.models import Institution, Team
from backend.exams.models import HealthCheck
from backend.exams.schemas import SELF_CARE_LEVELS
from backend.extensions import db, new_id
from backend.followups.models import Condition, FollowUp
from backend.idempotency import fingerprint
from backend.residents.models import Resident
from backend.security.identity import age_on

PULSE = {"palpable": "symmetric", "weakened_both": "symmetric", "absent_both": "not_palpable",
         "weakened_left": "left_weak_or_absent", "absent_left": "left_weak_or_absent",
         "weakened_right": "right_weak_or_absent", "absent_right": "right_weak_or_absent"}
ECG_FINDINGS = ["窦性心动过缓", "ST-T改变", "左心室高电压", "房性早搏", "完全性右束支传导阻滞"]
ULTRASOUND_FINDINGS = ["脂肪肝", "胆囊结石", "肝囊肿", "胆囊息肉", "脂肪肝，胆囊壁毛糙"]
EXERCISE_KINDS = ["散步", "快走", "广场舞", "太极拳", "骑自行车"]
ADMISSIONS = [("肺炎", "呼吸内科"), ("冠心病、心绞痛", "心内科"), ("脑梗死", "神经内科"), ("胆囊结石", "普外科"),
              ("慢性阻塞性肺疾病急性加重", "呼吸内科")]
CONDITION_NAMES = {"hypertension": "高血压", "diabetes": "2型糖尿病"}


def _moment(day: date) -> datetime:
    # Never later than now: a record is not written in the future (the statistics' refresh reads
    # updated_at to find what changed since it last ran).
    return min(datetime.combine(day, time(8, 30), tzinfo=clock.CIVIL_TZ), clock.now())


def _self_care_level(score: int) -> str:
    return next(level for top, level in SELF_CARE_LEVELS if score <= top)


def _follow_ups() -> dict[tuple[str, str], list]:
    """Each patient's follow-ups by disease, in visit order: what a health check takes from them."""
    found: dict[tuple[str, str], list] = {}
    for visit in db.session.execute(sa.select(
            FollowUp.resident_id, FollowUp.disease, FollowUp.visited_on, FollowUp.sbp, FollowUp.dbp,
            FollowUp.fasting_glucose, FollowUp.height_cm, FollowUp.weight_kg, FollowUp.lifestyle,
            FollowUp.medications, FollowUp.insulin, FollowUp.medication_adherence, FollowUp.dorsalis_pedis_pulse,
    ).order_by(FollowUp.visited_on, FollowUp.id)):
        found.setdefault((visit.resident_id, visit.disease), []).append(visit)
    return found


def load_exams(rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(HealthCheck)):
        return  # loaded before
    conditions: dict[str, list[str]] = {}
    for resident_id, disease in db.session.execute(
            sa.select(Condition.resident_id, Condition.disease).where(Condition.deregistered_on.is_(None))
            .order_by(Condition.resident_id, Condition.disease)):
        conditions.setdefault(resident_id, []).append(disease)
    visits = _follow_ups()
    centres = dict(db.session.execute(sa.select(Team.id, Institution.name).join(Team.institution)).all())
    contracts = {c.resident_id: c for c in db.session.execute(
        sa.select(Contract.resident_id, Contract.team_id, Contract.doctor_id, Contract.start_date, Contract.end_date)
        .where(Contract.status == "active", Contract.start_date <= today))}
    diligence: dict[str, float] = {}
    for resident in db.session.execute(sa.select(Resident.id, Resident.birth_date, Resident.sex, Resident.region_code)
                                       .order_by(Resident.id_number_index)):
        contract = contracts.get(resident.id)
        if contract is None:
            continue
        diseases = conditions.get(resident.id, [])
        if age_on(resident.birth_date, today) < 65 and not diseases:
            continue
        share = diligence.setdefault(resident.region_code[:9], rng.uniform(0.65, 0.95))
        if rng.random() >= share:
            continue
        span = (min(contract.end_date, today) - contract.start_date).days
        checked = contract.start_date + timedelta(days=rng.randint(0, span))
        history = {d: [v for v in visits.get((resident.id, d), []) if v.visited_on <= checked] for d in diseases}
        maker = _Check(rng, resident, checked, diseases, history, thorough=0.5 + 0.5 * share,
                       centre=centres.get(contract.team_id))
        body = maker.body()
        db.session.add(maker.record(body, contract))
    db.session.flush()


class _Check:
    """One resident's health check, section by section."""

    def __init__(self, rng, resident, checked, diseases, history, thorough, centre):
        self.rng, self.resident, self.checked, self.diseases = rng, resident, checked, diseases
        self.age = age_on(resident.birth_date, checked)
        self.elderly = self.age >= 65
        self.male = resident.sex == "male"
        self.thorough = thorough
        self.centre = centre
        self.last = {d: visits[-1] for d, visits in history.items() if visits}
        self.habits = self._habits()
        self.abnormal: list[str] = []

    def filled(self) -> bool:
        return self.rng.random() < self.thorough

    def _habits(self) -> Habits:
        """The follow-ups' picture of the patient where they have one, else a fresh one."""
        habits = habits_of(self.rng, self.resident.sex)
        for visit in self.last.values():
            if visit.height_cm:
                habits.height_cm = int(visit.height_cm)
            if visit.weight_kg:
                habits.weight_kg = visit.weight_kg
            lines = visit.lifestyle or {}
            for key, attr in (("cigarettes_per_day", "cigarettes"), ("alcohol_liang_per_day", "alcohol_liang"),
                              ("exercise_times_per_week", "exercise_times"), ("exercise_minutes", "exercise_minutes"),
                              ("salt", "salt")):
                if key in lines:
                    setattr(habits, attr, lines[key]["now"])
        return habits

    def body(self) -> dict:
        body = {"checked_on": self.checked, "symptoms": self._symptoms(), "general": self._general(),
                "lifestyle": self._lifestyle(), "organ_function": self._organ_function(),
                "physical_exam": self._physical_exam(), "auxiliary": self._auxiliary(),
                "health_problems": self._health_problems(), "hospital_history": self._hospital_history(),
                "medications": self._medications(), "vaccinations": self._vaccinations()}
        body["guidance"] = self._guidance(body)
        body["evaluation"] = {"normal": not self.abnormal, "abnormal": self.abnormal[:10]}
        return body

    def record(self, body: dict, contract: sa.Row) -> HealthCheck:
        general = dict(body["general"])
        general["bmi"] = bmi(general.get("weight_kg"), general.get("height_cm"))
        if general["bmi"] is None:
            del general["bmi"]
        if general.get("self_care_score") is not None:
            general["self_care_level"] = _self_care_level(general["self_care_score"])
        arms = general.get("blood_pressure") or {}
        arm = arms.get("left") or arms.get("right") or {}
        heart = body["physical_exam"].get("heart") or {}
        listed = {name: [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in item.items()}
                         for item in body[name]] for name in ("hospital_history", "medications", "vaccinations")}
        return HealthCheck(
            id=new_id(), resident_id=self.resident.id, checked_on=self.checked, recorded_by_id=contract.doctor_id,
            team_id=contract.team_id, body_hash=fingerprint(self.resident.id, body),
            sbp=arm.get("sbp"), dbp=arm.get("dbp"), heart_rate=heart.get("rate", general.get("pulse_rate")),
            weight_kg=general.get("weight_kg"), height_cm=general.get("height_cm"), bmi=general.get("bmi"),
            waist_cm=general.get("waist_cm"), fasting_glucose=body["auxiliary"].get("fasting_glucose"),
            symptoms=body["symptoms"], general=general, lifestyle=body["lifestyle"],
            organ_function=body["organ_function"], physical_exam=body["physical_exam"],
            auxiliary=body["auxiliary"], health_problems=body["health_problems"], evaluation=body["evaluation"],
            guidance=body["guidance"], **listed, created_at=_moment(self.checked), updated_at=_moment(self.checked))

    def _symptoms(self) -> list[str]:
        rng = self.rng
        if rng.random() < 0.75:
            return ["none"]
        pool = ["dizziness", "fatigue", "joint_pain", "constipation", "tinnitus", "blurred_vision"]
        if "hypertension" in self.diseases:
            pool += ["headache", "dizziness"]
        if "diabetes" in self.diseases:
            pool += ["polydipsia", "polyuria", "limb_numbness"]
        return sorted(set(rng.sample(pool, rng.randint(1, 2))))

    def _blood_pressure(self) -> dict:
        rng = self.rng
        visit = self.last.get("hypertension")
        if visit is not None and visit.sbp is not None:
            sbp, dbp = visit.sbp + rng.randint(-8, 8), visit.dbp + rng.randint(-5, 5)
        elif "hypertension" in self.diseases:
            sbp, dbp = int(rng.gauss(142, 14)), int(rng.gauss(86, 8))
        else:
            sbp, dbp = int(rng.gauss(124 + max(self.age - 50, 0) * 0.4, 10)), int(rng.gauss(78, 7))
        sbp, dbp = max(sbp, 95), max(min(dbp, sbp - 25), 55)
        right_sbp, right_dbp = sbp + rng.randint(-6, 6), dbp + rng.randint(-4, 4)
        limit = 150 if self.elderly else 140
        if sbp >= limit or dbp >= 90:
            self.abnormal.append(f"血压偏高（{sbp}/{dbp}mmHg）")
        return {"left": {"sbp": sbp, "dbp": dbp}, "right": {"sbp": right_sbp, "dbp": min(right_dbp, right_sbp - 25)}}

    def _general(self) -> dict:
        rng, habits = self.rng, self.habits
        self.pulse = int(rng.gauss(75, 8))
        weight = round(habits.weight_kg + rng.gauss(0, 1.0), 1)
        waist = round((84 if self.male else 79) + (bmi(weight, habits.height_cm) - 24) * 2.5 + rng.gauss(0, 4))
        general = {"temperature_c": round(rng.gauss(36.5, 0.2), 1), "pulse_rate": self.pulse,
                   "respiratory_rate": rng.randint(16, 20), "blood_pressure": self._blood_pressure(),
                   "height_cm": float(habits.height_cm), "weight_kg": weight, "waist_cm": float(waist)}
        self.bmi = bmi(weight, habits.height_cm)
        if self.bmi >= 28:  # overweight is a risk factor to control (see the guidance), obesity a finding
            self.abnormal.append(f"肥胖（BMI {self.bmi}）")
        if not self.elderly:
            return general
        general["health_self_assessment"] = rng.choices(
            ["satisfied", "fairly_satisfied", "unclear", "fairly_unsatisfied", "unsatisfied"], [35, 40, 15, 8, 2])[0]
        general["self_care_score"] = rng.choices([0, rng.randint(1, 3), rng.randint(4, 8), rng.randint(9, 18),
                                                  rng.randint(19, 30)], [75, 12, 8, 4, 1])[0]
        if general["self_care_score"] > 3:
            self.abnormal.append(f"生活自理能力评估 {general['self_care_score']} 分")
        if rng.random() < 0.08:
            general["cognition"] = {"screen": "positive", "mmse_score": rng.randint(18, 26)}
            self.abnormal.append(f"认知功能粗筛阳性（MMSE {general['cognition']['mmse_score']} 分）")
        else:
            general["cognition"] = {"screen": "negative"}
        if rng.random() < 0.06:
            general["emotion"] = {"screen": "positive", "gds_score": rng.randint(5, 10)}
            self.abnormal.append(f"情感状态粗筛阳性（GDS {general['emotion']['gds_score']} 分）")
        else:
            general["emotion"] = {"screen": "negative"}
        return general

    def _lifestyle(self) -> dict:
        rng, habits = self.rng, self.habits
        times = habits.exercise_times
        frequency = "daily" if times >= 5 else "weekly" if times >= 1 else rng.choice(["occasional", "never"])
        exercise = {"frequency": frequency}
        if frequency != "never":
            exercise |= {"minutes_per_session": habits.exercise_minutes or 20, "years": float(rng.randint(1, 20)),
                         "kind": rng.choice(EXERCISE_KINDS)}
        diet = ["salty"] if habits.salt == "heavy" else ["balanced"]
        if rng.random() < 0.2:
            diet.append(rng.choice(["oily", "meat"]))
        if "diabetes" in self.diseases and rng.random() < 0.1:
            diet.append("sweet")
        start = rng.randint(16, 25)
        if habits.cigarettes:
            smoking = {"status": "current", "cigarettes_per_day": int(habits.cigarettes), "start_age": start}
        elif self.male and rng.random() < 0.12:
            smoking = {"status": "former", "start_age": start, "quit_age": rng.randint(start + 5, max(self.age, start + 5))}
        else:
            smoking = {"status": "never"}
        if habits.alcohol_liang:
            drinking = {"frequency": "daily" if habits.alcohol_liang >= 2 else "often",
                        "liang_per_day": float(habits.alcohol_liang), "quit": False, "start_age": rng.randint(18, 25),
                        "drunk_in_past_year": rng.random() < 0.15,
                        "kinds": ["liquor"] if rng.random() < 0.7 else ["liquor", "beer"]}
        else:
            drinking = {"frequency": rng.choice(["never"] * 4 + ["occasional"]), "kinds": []}
        lifestyle = {"exercise": exercise, "diet": diet, "smoking": smoking, "drinking": drinking}
        if self.filled():
            if self.resident.region_code[6:9] >= "100" and rng.random() < 0.06:  # a farming township
                lifestyle["occupational_exposure"] = {
                    "exposed": True, "occupation": "农民", "years": float(rng.randint(10, 40)),
                    "hazards": [{"kind": "chemical", "name": "农药", "protected": True, "protection": "戴口罩、手套"}]}
            else:
                lifestyle["occupational_exposure"] = {"exposed": False, "hazards": []}
        return lifestyle

    def _organ_function(self) -> dict:
        rng = self.rng
        organ = {"lips": "rosy", "pharynx": "no_congestion", "motor_function": "able" if rng.random() < 0.96 else "unable",
                 "hearing": "clear" if not self.elderly or rng.random() < 0.85 else "unclear_or_none"}
        if self.elderly:
            organ["dentition"] = rng.choices([["normal"], ["missing"], ["denture"], ["missing", "denture"], ["caries"]],
                                             [25, 35, 20, 15, 5])[0]
        else:
            organ["dentition"] = ["normal"] if rng.random() < 0.8 else ["caries"]
        if organ["dentition"] != ["normal"] and self.filled():
            organ["dentition_detail"] = rng.choice(["左下6、7", "右上5、6", "上颌全口义齿", "左上7，右下6"])
        if self.filled():
            top = 1.0 if not self.elderly else 0.8
            organ["vision"] = {"left": round(rng.uniform(0.3, top), 1), "right": round(rng.uniform(0.3, top), 1)}
        return organ

    def _physical_exam(self) -> dict:
        rng = self.rng
        rhythm = "regular" if rng.random() < 0.95 else "irregular"
        exam = {"skin": "normal", "sclera": "normal", "lymph_nodes": "not_palpable",
                "lungs": {"barrel_chest": False, "breath_sounds": "normal", "rales": "none"},
                "heart": {"rate": self.pulse, "rhythm": rhythm, "murmur": False},
                "abdomen": {"tenderness": False, "mass": False, "hepatomegaly": False, "splenomegaly": False,
                            "shifting_dullness": False},
                "lower_limb_edema": "none" if rng.random() < 0.97 else "bilateral_symmetric"}
        if rhythm == "irregular":
            self.abnormal.append("心律不齐")
        if exam["lower_limb_edema"] != "none":
            self.abnormal.append("双下肢轻度水肿")
        visit = self.last.get("diabetes")
        pulse = visit.dorsalis_pedis_pulse if visit is not None else None
        exam["dorsalis_pedis_pulse"] = PULSE.get(pulse or "palpable")
        if exam["dorsalis_pedis_pulse"] != "symmetric":
            self.abnormal.append("足背动脉搏动减弱")
        if "diabetes" in self.diseases and self.filled():
            if rng.random() < 0.1:
                exam["fundus"] = {"result": "abnormal", "detail": "视网膜散在微血管瘤"}
                self.abnormal.append("眼底：视网膜散在微血管瘤")
            else:
                exam["fundus"] = {"result": "normal"}
        exam["breasts"] = ["normal"] if not self.male and self.filled() else []
        return exam

    def _glucose(self) -> float:
        rng = self.rng
        if "diabetes" not in self.diseases:
            value = round(min(max(rng.gauss(5.3, 0.5), 3.9), 6.9), 1)
            if value >= 6.1:
                self.abnormal.append(f"空腹血糖受损（{value}mmol/L）")
            return value
        visit = self.last.get("diabetes")
        base = visit.fasting_glucose if visit is not None and visit.fasting_glucose else rng.gauss(7.6, 1.5)
        value = round(min(max(base + rng.gauss(0, 0.5), 4.4), 20.0), 1)
        if value >= 7.0:
            self.abnormal.append(f"血糖控制不佳（空腹血糖{value}mmol/L）")
        return value

    def _auxiliary(self) -> dict:
        rng = self.rng
        glucose = self._glucose()
        urine_glucose = "-" if glucose < 10 else rng.choice(["+", "++"])
        auxiliary = {
            "blood_routine": {"hemoglobin": float(round(rng.gauss(138 if self.male else 126, 10))),
                              "wbc": round(min(max(rng.gauss(6.2, 1.3), 3.5), 11), 1),
                              "platelets": float(round(min(max(rng.gauss(215, 45), 100), 400)))},
            "urine_routine": {"protein": "-" if rng.random() < 0.96 else "+", "glucose": urine_glucose,
                              "ketone": "-", "occult_blood": "-" if rng.random() < 0.95 else "±"},
            "fasting_glucose": glucose,
        }
        hemoglobin = auxiliary["blood_routine"]["hemoglobin"]
        if hemoglobin < (120 if self.male else 110):
            self.abnormal.append(f"血红蛋白偏低（{hemoglobin:g}g/L）")
        if auxiliary["urine_routine"]["protein"] != "-":
            self.abnormal.append("尿蛋白（+）")
        if rng.random() < 0.85:
            auxiliary["ecg"] = {"result": "normal"}
        else:
            finding = rng.choice(ECG_FINDINGS)
            auxiliary["ecg"] = {"result": "abnormal", "detail": finding}
            self.abnormal.append(f"心电图：{finding}")
        if "diabetes" in self.diseases:
            auxiliary["hba1c"] = hba1c_for(glucose, rng)
        if self.filled():
            alt = round(min(max(rng.gauss(22, 8), 6), 90))
            total = round(min(max(rng.gauss(13, 4), 4), 30), 1)
            auxiliary["liver_function"] = {"alt": float(alt), "ast": float(round(min(max(rng.gauss(24, 7), 8), 80))),
                                           "albumin": round(rng.gauss(42, 3), 1), "total_bilirubin": total,
                                           "direct_bilirubin": round(min(total * 0.3, max(rng.gauss(4, 1.2), 1)), 1)}
            if alt > 40:
                self.abnormal.append(f"谷丙转氨酶偏高（{alt}U/L）")
        if self.filled():
            creatinine = round(min(max(rng.gauss(80 if self.male else 62, 14), 40), 160))
            auxiliary["kidney_function"] = {"creatinine": float(creatinine), "urea": round(rng.gauss(5.6, 1.2), 1),
                                            "potassium": round(rng.gauss(4.1, 0.3), 1),
                                            "sodium": round(rng.gauss(140, 2), 1)}
            if creatinine > (133 if self.male else 115):
                self.abnormal.append(f"血肌酐偏高（{creatinine}μmol/L）")
        if self.filled():
            cholesterol = round(min(max(rng.gauss(5.0, 0.9), 2.8), 8.5), 2)
            triglycerides = round(min(max(rng.gauss(1.6, 0.6), 0.4), 5.0), 2)
            auxiliary["blood_lipids"] = {"total_cholesterol": cholesterol, "triglycerides": triglycerides,
                                         "ldl_cholesterol": round(min(max(cholesterol * 0.58 + rng.gauss(0, 0.3), 1.0),
                                                                      6.0), 2),
                                         "hdl_cholesterol": round(min(max(rng.gauss(1.3, 0.25), 0.6), 2.5), 2)}
            if cholesterol >= 6.2 or triglycerides >= 2.3:
                self.abnormal.append(f"血脂异常（总胆固醇{cholesterol}mmol/L，甘油三酯{triglycerides}mmol/L）")
        if self.filled():
            if rng.random() < 0.8:
                auxiliary["abdominal_ultrasound"] = {"result": "normal"}
            else:
                finding = rng.choice(ULTRASOUND_FINDINGS)
                auxiliary["abdominal_ultrasound"] = {"result": "abnormal", "detail": finding}
                self.abnormal.append(f"腹部B超：{finding}")
        return auxiliary

    def _health_problems(self) -> dict:
        rng = self.rng
        problems = {key: ["none"] for key in ("cerebrovascular", "kidney", "heart", "vascular", "eye",
                                              "nervous_system", "other_systems")}
        if "hypertension" in self.diseases and rng.random() < 0.05:
            problems["cerebrovascular"] = ["ischemic_stroke"]
        if self.diseases and rng.random() < 0.05:
            problems["heart"] = [rng.choice(["angina", "chronic_heart_failure"])]
        if "diabetes" in self.diseases and rng.random() < 0.05:
            problems["kidney"] = ["diabetic_nephropathy"]
        if self.elderly and rng.random() < 0.15:
            problems["eye"] = ["cataract"]
        if self.diseases:
            problems["other_systems"] = ["other"]
            problems["detail"] = "、".join(CONDITION_NAMES[d] for d in self.diseases)
        return problems

    def _hospital_history(self) -> list[dict]:
        rng = self.rng
        if rng.random() >= 0.07:
            return []
        reason, department = rng.choice(ADMISSIONS)
        started = self.checked - timedelta(days=rng.randint(30, 330))
        return [{"kind": "admission", "started_on": started, "ended_on": started + timedelta(days=rng.randint(5, 14)),
                 "reason": reason, "institution": f"白城市洮北区人民医院{department}"}]

    def _medications(self) -> list[dict]:
        rows = []
        for visit in self.last.values():
            adherence = visit.medication_adherence
            rows += [{**drug, "adherence": adherence} if adherence else dict(drug) for drug in visit.medications or []]
            if visit.insulin:
                twice = "早、晚" in (visit.insulin.get("usage") or "")
                units = visit.insulin.get("units_per_day") or 10
                rows.append({"name": visit.insulin["type"], "times_per_day": 2 if twice else 1,
                             "dose": float(units / 2 if twice else units), "unit": "iu", "route": "subcutaneous",
                             **({"adherence": adherence} if adherence else {})})
        return rows[:20]

    def _vaccinations(self) -> list[dict]:
        rng = self.rng
        given = []
        if self.elderly and rng.random() < 0.2:
            given.append({"name": "流感疫苗", "vaccinated_on": self.checked - timedelta(days=rng.randint(20, 300)),
                          "institution": self.centre or "白城市洮北区疾病预防控制中心"})
        if self.elderly and rng.random() < 0.05:
            given.append({"name": "23价肺炎球菌多糖疫苗",
                          "vaccinated_on": self.checked - timedelta(days=rng.randint(20, 300)),
                          "institution": self.centre or "白城市洮北区疾病预防控制中心"})
        return given

    def _guidance(self, body: dict) -> dict:
        codes = []
        if self.diseases:
            codes.append("include_in_chronic_management")
        if self.abnormal:
            codes.append("recheck")
        factors = []
        lifestyle = body["lifestyle"]
        if lifestyle["smoking"]["status"] == "current":
            factors.append("quit_smoking")
        if lifestyle["drinking"]["frequency"] in ("often", "daily"):
            factors.append("healthy_drinking")
        if set(lifestyle["diet"]) & {"salty", "oily", "sweet", "meat"} or self.diseases:
            factors.append("diet")
        if lifestyle["exercise"]["frequency"] in ("occasional", "never"):
            factors.append("exercise")
        guidance: dict = {"codes": codes}
        if self.bmi >= 24:
            factors.append("weight_loss")
            guidance["target_weight_kg"] = target_weight(self.habits)
        if self.elderly and self.rng.random() < 0.5:
            factors.append("vaccination")
            guidance["vaccines"] = "流感疫苗、肺炎球菌疫苗"
        guidance["risk_factors"] = factors
        return guidance
