"""The health check form (健康体检表, 国家基本公共卫生服务规范第三版), section by section.

Each section is a nested schema; every reading has its plausible range and its unit in the
field's description, and a choice is one of the form's codes. A section is stored as the JSON
its schema dumps, so a record reads back exactly as it was entered (plus what is computed)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from backend.common import ClientId, PageArgs, RefSchema, Schema, Timestamp
from backend.followups.rules import ADHERENCE
from backend.followups.schemas import MedicationSchema

SYMPTOMS = (
    "none", "headache", "dizziness", "palpitation", "chest_tightness", "chest_pain", "chronic_cough",
    "expectoration", "dyspnea", "polydipsia", "polyuria", "weight_loss", "fatigue", "joint_pain",
    "blurred_vision", "limb_numbness", "urgent_urination", "painful_urination", "constipation", "diarrhea",
    "nausea_vomiting", "vertigo", "tinnitus", "breast_pain", "other",
)
SELF_ASSESSMENT = ("satisfied", "fairly_satisfied", "unclear", "fairly_unsatisfied", "unsatisfied")
# 老年人生活自理能力评估表: the sum of five items (进餐 0–5, 梳洗 0–7, 穿衣 0–5, 如厕 0–10, 活动 0–10).
SELF_CARE_MAX = 37
SELF_CARE_LEVELS = ((3, "independent"), (8, "mild_dependence"), (18, "moderate_dependence"),
                    (SELF_CARE_MAX, "dependent"))
SCREEN = ("negative", "positive")
EXERCISE_FREQUENCY = ("daily", "weekly", "occasional", "never")
DIET = ("balanced", "meat", "vegetarian", "salty", "oily", "sweet")
SMOKING = ("never", "former", "current")
DRINKING_FREQUENCY = ("never", "occasional", "often", "daily")
DRINK_KINDS = ("liquor", "beer", "wine", "yellow_wine", "other")
HAZARDS = ("dust", "radioactive", "physical", "chemical", "other")
LIPS = ("rosy", "pale", "cyanotic", "chapped", "herpes")
DENTITION = ("normal", "missing", "caries", "denture")
PHARYNX = ("no_congestion", "congestion", "lymphoid_hyperplasia")
HEARING = ("clear", "unclear_or_none")
MOTOR = ("able", "unable")
NORMAL_ABNORMAL = ("normal", "abnormal")
SKIN = ("normal", "flushed", "pale", "cyanotic", "jaundiced", "pigmented", "other")
SCLERA = ("normal", "jaundiced", "congested", "other")
LYMPH_NODES = ("not_palpable", "supraclavicular", "axillary", "other")
RALES = ("none", "dry", "wet", "other")
RHYTHM = ("regular", "irregular", "absolutely_irregular")
EDEMA = ("none", "unilateral", "bilateral_asymmetric", "bilateral_symmetric")
DORSALIS_PEDIS = ("not_palpable", "symmetric", "left_weak_or_absent", "right_weak_or_absent")
ANAL_EXAM = ("normal", "tenderness", "enlarged_prostate", "mass", "other")
BREASTS = ("normal", "mastectomy", "abnormal_lactation", "mass", "other")
URINE_GRADES = ("-", "±", "+", "++", "+++", "++++")
PROBLEMS = {
    "cerebrovascular": ("none", "ischemic_stroke", "cerebral_hemorrhage", "subarachnoid_hemorrhage",
                        "transient_ischemic_attack", "other"),
    "kidney": ("none", "diabetic_nephropathy", "renal_failure", "acute_nephritis", "chronic_nephritis", "other"),
    "heart": ("none", "myocardial_infarction", "angina", "coronary_revascularization", "chronic_heart_failure",
              "precordial_pain", "other"),
    "vascular": ("none", "dissecting_aneurysm", "arterial_occlusive_disease", "other"),
    "eye": ("none", "retinal_hemorrhage_or_exudate", "papilledema", "cataract", "other"),
    "nervous_system": ("none", "other"),
    "other_systems": ("none", "other"),
}
HOSPITAL_STAY = ("admission", "home_bed")
GUIDANCE = ("include_in_chronic_management", "recheck", "refer")
RISK_FACTORS = ("quit_smoking", "healthy_drinking", "diet", "exercise", "weight_loss", "vaccination", "other")


def _range(low, high):
    return validate.Range(min=low, max=high, error=f"须在 {low} 到 {high} 之间")


def _one_of(choices):
    return validate.OneOf(choices, error="须为以下之一：" + "、".join(choices))


def _text(length: int, description: str | None = None, **kwargs):
    metadata = {"description": description} if description else {}
    return fields.String(allow_none=True, validate=validate.Length(max=length, error=f"最多 {length} 个字"),
                         metadata=metadata, **kwargs)


def _number(low, high, description: str):
    return fields.Float(allow_none=True, validate=_range(low, high), metadata={"description": description})


def _integer(low, high, description: str):
    return fields.Integer(strict=True, allow_none=True, validate=_range(low, high),
                          metadata={"description": description})


def _choice(choices, description: str):
    return fields.String(allow_none=True, validate=_one_of(choices),
                         metadata={"description": description + "：" + "|".join(choices)})


def _codes(choices, description: str, most: int | None = None):
    return fields.List(fields.String(validate=_one_of(choices)), load_default=list,
                       validate=[validate.Length(max=most or len(choices)), _distinct],
                       metadata={"description": description + "：" + "|".join(choices)})


def _distinct(values: list) -> None:
    if len(values) != len(set(values)):
        raise ma.ValidationError("不能重复")


def _alone(values: list, code: str = "none") -> None:
    if code in values and len(values) > 1:
        raise ma.ValidationError(f"{code} 不能与其他选项同时选择")


class Day(fields.Date):
    """A date; read back from a stored section, where it is already text."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, str):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


class CheckFindingSchema(Schema):
    """A result that is normal or abnormal, with what was abnormal."""

    result = fields.String(required=True, validate=_one_of(NORMAL_ABNORMAL),
                           metadata={"description": "normal|abnormal"})
    detail = _text(200, "异常所见")


# 一般状况

class CheckBloodPressureSchema(Schema):
    sbp = fields.Integer(strict=True, required=True, validate=_range(50, 300), metadata={"description": "收缩压 mmHg"})
    dbp = fields.Integer(strict=True, required=True, validate=_range(30, 200), metadata={"description": "舒张压 mmHg"})

    @validates_schema
    def _below_systolic(self, data, **kwargs):
        if "sbp" in data and "dbp" in data and data["dbp"] >= data["sbp"]:
            raise ma.ValidationError("舒张压须低于收缩压", "dbp")


class CheckBloodPressureArmsSchema(Schema):
    left = fields.Nested(CheckBloodPressureSchema, allow_none=True, metadata={"description": "左侧"})
    right = fields.Nested(CheckBloodPressureSchema, allow_none=True, metadata={"description": "右侧"})


class CheckCognitionSchema(Schema):
    screen = fields.String(required=True, validate=_one_of(SCREEN), metadata={"description": "老年人认知功能粗筛"})
    mmse_score = _integer(0, 30, "粗筛阳性时的简易智力状态检查（MMSE）总分")

    @validates_schema
    def _score_when_positive(self, data, **kwargs):
        if data.get("screen") == "negative" and data.get("mmse_score") is not None:
            raise ma.ValidationError("粗筛阴性时不填总分", "mmse_score")


class CheckEmotionSchema(Schema):
    screen = fields.String(required=True, validate=_one_of(SCREEN), metadata={"description": "老年人情感状态粗筛"})
    gds_score = _integer(0, 15, "粗筛阳性时的老年人抑郁评分（GDS-15）总分")

    @validates_schema
    def _score_when_positive(self, data, **kwargs):
        if data.get("screen") == "negative" and data.get("gds_score") is not None:
            raise ma.ValidationError("粗筛阴性时不填总分", "gds_score")


class CheckGeneralSchema(Schema):
    """一般状况"""

    temperature_c = _number(30, 45, "体温 ℃")
    pulse_rate = _integer(20, 250, "脉率 次/分")
    respiratory_rate = _integer(5, 60, "呼吸频率 次/分")
    blood_pressure = fields.Nested(CheckBloodPressureArmsSchema, allow_none=True,
                                   metadata={"description": "血压 mmHg；左侧（仅有右侧时为右侧）计入汇总"})
    height_cm = _number(40, 250, "身高 cm")
    weight_kg = _number(2, 300, "体重 kg")
    waist_cm = _number(30, 200, "腰围 cm")
    bmi = fields.Float(dump_only=True, allow_none=True, metadata={"description": "体质指数 kg/m²，由身高体重计算"})
    health_self_assessment = _choice(SELF_ASSESSMENT, "老年人健康状态自我评估")
    self_care_score = _integer(0, SELF_CARE_MAX, "老年人生活自理能力自我评估总分")
    self_care_level = fields.String(
        dump_only=True, allow_none=True,
        metadata={"description": "由总分计算：independent 可自理（0–3）、mild_dependence 轻度依赖（4–8）、"
                                 "moderate_dependence 中度依赖（9–18）、dependent 不能自理（≥19）"})
    cognition = fields.Nested(CheckCognitionSchema, allow_none=True, metadata={"description": "老年人认知功能"})
    emotion = fields.Nested(CheckEmotionSchema, allow_none=True, metadata={"description": "老年人情感状态"})


# 生活方式

class CheckExerciseSchema(Schema):
    frequency = fields.String(required=True, validate=_one_of(EXERCISE_FREQUENCY),
                              metadata={"description": "锻炼频率：daily 每天、weekly 每周一次以上、occasional 偶尔、never 不锻炼"})
    minutes_per_session = _integer(0, 600, "每次锻炼时间 分钟")
    years = _number(0, 100, "坚持锻炼时间 年")
    kind = _text(100, "锻炼方式")


class CheckSmokingSchema(Schema):
    status = fields.String(required=True, validate=_one_of(SMOKING),
                           metadata={"description": "吸烟状况：never 从不吸烟、former 已戒烟、current 吸烟"})
    cigarettes_per_day = _integer(0, 100, "日吸烟量 支")
    start_age = _integer(0, 120, "开始吸烟年龄 岁")
    quit_age = _integer(0, 120, "戒烟年龄 岁")

    @validates_schema
    def _ages(self, data, **kwargs):
        if data.get("quit_age") is not None and data.get("status") != "former":
            raise ma.ValidationError("仅已戒烟者填写戒烟年龄", "quit_age")
        if None not in (data.get("start_age"), data.get("quit_age")) and data["quit_age"] < data["start_age"]:
            raise ma.ValidationError("戒烟年龄不能小于开始吸烟年龄", "quit_age")


class CheckDrinkingSchema(Schema):
    frequency = fields.String(required=True, validate=_one_of(DRINKING_FREQUENCY),
                              metadata={"description": "饮酒频率：never 从不、occasional 偶尔、often 经常、daily 每天"})
    liang_per_day = _number(0, 50, "日饮酒量 两（1两白酒约50 ml）")
    quit = fields.Boolean(allow_none=True, metadata={"description": "是否戒酒"})
    quit_age = _integer(0, 120, "戒酒年龄 岁")
    start_age = _integer(0, 120, "开始饮酒年龄 岁")
    drunk_in_past_year = fields.Boolean(allow_none=True, metadata={"description": "近一年内是否曾醉酒"})
    kinds = _codes(DRINK_KINDS, "饮酒种类")

    @validates_schema
    def _ages(self, data, **kwargs):
        if data.get("quit_age") is not None and not data.get("quit"):
            raise ma.ValidationError("仅已戒酒者填写戒酒年龄", "quit_age")
        if None not in (data.get("start_age"), data.get("quit_age")) and data["quit_age"] < data["start_age"]:
            raise ma.ValidationError("戒酒年龄不能小于开始饮酒年龄", "quit_age")


class CheckHazardSchema(Schema):
    kind = fields.String(required=True, validate=_one_of(HAZARDS),
                         metadata={"description": "dust 粉尘、radioactive 放射物质、physical 物理因素、chemical 化学物质、other 其他"})
    name = _text(50, "毒物名称")
    protected = fields.Boolean(allow_none=True, metadata={"description": "有无防护措施"})
    protection = _text(100, "防护措施")


class CheckOccupationalExposureSchema(Schema):
    exposed = fields.Boolean(required=True, metadata={"description": "有无职业病危害因素接触史"})
    occupation = _text(50, "工种")
    years = _number(0, 80, "从业时间 年")
    hazards = fields.List(fields.Nested(CheckHazardSchema), load_default=list, validate=validate.Length(max=10))

    @validates_schema
    def _only_when_exposed(self, data, **kwargs):
        if data.get("exposed") is False and data.get("hazards"):
            raise ma.ValidationError("无接触史时不填毒物种类", "hazards")


class CheckLifestyleSchema(Schema):
    """生活方式"""

    exercise = fields.Nested(CheckExerciseSchema, allow_none=True, metadata={"description": "体育锻炼"})
    diet = fields.List(fields.String(validate=_one_of(DIET)), load_default=list,
                       validate=[validate.Length(max=len(DIET)), _distinct],
                       metadata={"description": "饮食习惯：balanced 荤素均衡、meat 荤食为主、vegetarian 素食为主、"
                                                "salty 嗜盐、oily 嗜油、sweet 嗜糖"})
    smoking = fields.Nested(CheckSmokingSchema, allow_none=True, metadata={"description": "吸烟情况"})
    drinking = fields.Nested(CheckDrinkingSchema, allow_none=True, metadata={"description": "饮酒情况"})
    occupational_exposure = fields.Nested(CheckOccupationalExposureSchema, allow_none=True,
                                          metadata={"description": "职业病危害因素接触史"})


# 脏器功能

class CheckVisionSchema(Schema):
    left = _number(0.0, 2.0, "左眼视力（小数记录）")
    right = _number(0.0, 2.0, "右眼视力")
    corrected_left = _number(0.0, 2.0, "矫正视力 左眼")
    corrected_right = _number(0.0, 2.0, "矫正视力 右眼")


class CheckOrganFunctionSchema(Schema):
    """脏器功能"""

    lips = _choice(LIPS, "口唇")
    dentition = fields.List(fields.String(validate=_one_of(DENTITION)), load_default=list,
                            validate=[validate.Length(max=len(DENTITION)), _distinct, lambda v: _alone(v, "normal")],
                            metadata={"description": "齿列：normal 正常、missing 缺齿、caries 龋齿、denture 义齿"})
    dentition_detail = _text(100, "缺齿、龋齿、义齿的牙位")
    pharynx = _choice(PHARYNX, "咽部")
    vision = fields.Nested(CheckVisionSchema, allow_none=True, metadata={"description": "视力"})
    hearing = _choice(HEARING, "听力：clear 听见、unclear_or_none 听不清或无法听见")
    motor_function = _choice(MOTOR, "运动功能：able 可顺利完成、unable 无法独立完成其中任何一个动作")


# 查体

class CheckLungsSchema(Schema):
    barrel_chest = fields.Boolean(allow_none=True, metadata={"description": "桶状胸"})
    breath_sounds = _choice(NORMAL_ABNORMAL, "呼吸音")
    breath_sounds_detail = _text(100, "呼吸音异常所见")
    rales = _choice(RALES, "罗音：none 无、dry 干罗音、wet 湿罗音、other 其他")


class CheckHeartSchema(Schema):
    rate = _integer(20, 250, "心率 次/分")
    rhythm = _choice(RHYTHM, "心律：regular 齐、irregular 不齐、absolutely_irregular 绝对不齐")
    murmur = fields.Boolean(allow_none=True, metadata={"description": "杂音"})
    murmur_detail = _text(100, "杂音所见")


class CheckAbdomenSchema(Schema):
    tenderness = fields.Boolean(allow_none=True, metadata={"description": "压痛"})
    mass = fields.Boolean(allow_none=True, metadata={"description": "包块"})
    hepatomegaly = fields.Boolean(allow_none=True, metadata={"description": "肝大"})
    splenomegaly = fields.Boolean(allow_none=True, metadata={"description": "脾大"})
    shifting_dullness = fields.Boolean(allow_none=True, metadata={"description": "移动性浊音"})
    detail = _text(200, "腹部异常所见")


class CheckGynaecologySchema(Schema):
    vulva = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "外阴"})
    vagina = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "阴道"})
    cervix = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "宫颈"})
    uterus = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "宫体"})
    adnexa = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "附件"})


class CheckPhysicalExamSchema(Schema):
    """查体"""

    fundus = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "眼底"})
    skin = _choice(SKIN, "皮肤")
    sclera = _choice(SCLERA, "巩膜")
    lymph_nodes = _choice(LYMPH_NODES, "淋巴结")
    lungs = fields.Nested(CheckLungsSchema, allow_none=True, metadata={"description": "肺"})
    heart = fields.Nested(CheckHeartSchema, allow_none=True, metadata={"description": "心脏"})
    abdomen = fields.Nested(CheckAbdomenSchema, allow_none=True, metadata={"description": "腹部"})
    lower_limb_edema = _choice(EDEMA, "下肢水肿")
    dorsalis_pedis_pulse = _choice(DORSALIS_PEDIS, "足背动脉搏动")
    anal_exam = _choice(ANAL_EXAM, "肛门指诊")
    breasts = fields.List(fields.String(validate=_one_of(BREASTS)), load_default=list,
                          validate=[validate.Length(max=len(BREASTS)), _distinct, lambda v: _alone(v, "normal")],
                          metadata={"description": "乳腺：" + "|".join(BREASTS)})
    gynaecology = fields.Nested(CheckGynaecologySchema, allow_none=True, metadata={"description": "妇科"})
    other = _text(500, "其他查体所见")


# 辅助检查

class CheckBloodRoutineSchema(Schema):
    hemoglobin = _number(20, 250, "血红蛋白 g/L")
    wbc = _number(0.1, 100, "白细胞 ×10⁹/L")
    platelets = _number(1, 2000, "血小板 ×10⁹/L")
    other = _text(200, "其他")


def _urine_grade(description: str):
    return fields.String(allow_none=True, validate=_one_of(URINE_GRADES),
                         metadata={"description": description + "：" + "|".join(URINE_GRADES)})


class CheckUrineRoutineSchema(Schema):
    protein = _urine_grade("尿蛋白")
    glucose = _urine_grade("尿糖")
    ketone = _urine_grade("尿酮体")
    occult_blood = _urine_grade("尿潜血")
    other = _text(200, "其他")


class CheckLiverFunctionSchema(Schema):
    alt = _number(0, 5000, "血清谷丙转氨酶 U/L")
    ast = _number(0, 5000, "血清谷草转氨酶 U/L")
    albumin = _number(5, 80, "白蛋白 g/L")
    total_bilirubin = _number(0, 1000, "总胆红素 μmol/L")
    direct_bilirubin = _number(0, 1000, "结合胆红素 μmol/L")

    @validates_schema
    def _direct_within_total(self, data, **kwargs):
        total, direct = data.get("total_bilirubin"), data.get("direct_bilirubin")
        if total is not None and direct is not None and direct > total:
            raise ma.ValidationError("结合胆红素不能高于总胆红素", "direct_bilirubin")


class CheckKidneyFunctionSchema(Schema):
    creatinine = _number(10, 3000, "血清肌酐 μmol/L")
    urea = _number(0.5, 100, "血尿素 mmol/L")
    potassium = _number(1, 10, "血钾浓度 mmol/L")
    sodium = _number(100, 180, "血钠浓度 mmol/L")


class CheckBloodLipidsSchema(Schema):
    total_cholesterol = _number(0, 30, "总胆固醇 mmol/L")
    triglycerides = _number(0, 30, "甘油三酯 mmol/L")
    ldl_cholesterol = _number(0, 30, "血清低密度脂蛋白胆固醇 mmol/L")
    hdl_cholesterol = _number(0, 30, "血清高密度脂蛋白胆固醇 mmol/L")


class CheckAuxiliarySchema(Schema):
    """辅助检查"""

    blood_routine = fields.Nested(CheckBloodRoutineSchema, allow_none=True, metadata={"description": "血常规"})
    urine_routine = fields.Nested(CheckUrineRoutineSchema, allow_none=True, metadata={"description": "尿常规"})
    fasting_glucose = _number(1.0, 40.0, "空腹血糖 mmol/L")
    ecg = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "心电图"})
    urine_microalbumin = _number(0, 1000, "尿微量白蛋白 mg/dL")
    fecal_occult_blood = _choice(SCREEN, "大便潜血")
    hba1c = _number(3, 20, "糖化血红蛋白 %")
    hbsag = _choice(SCREEN, "乙型肝炎表面抗原")
    liver_function = fields.Nested(CheckLiverFunctionSchema, allow_none=True, metadata={"description": "肝功能"})
    kidney_function = fields.Nested(CheckKidneyFunctionSchema, allow_none=True, metadata={"description": "肾功能"})
    blood_lipids = fields.Nested(CheckBloodLipidsSchema, allow_none=True, metadata={"description": "血脂"})
    chest_xray = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "胸部X线片"})
    abdominal_ultrasound = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "腹部B超"})
    other_ultrasound = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "其他B超"})
    cervical_smear = fields.Nested(CheckFindingSchema, allow_none=True, metadata={"description": "宫颈涂片"})
    other = _text(500, "其他检查")


# 现存主要健康问题

def _problems(key: str, description: str):
    choices = PROBLEMS[key]
    return fields.List(fields.String(validate=_one_of(choices)), load_default=list,
                       validate=[validate.Length(max=len(choices)), _distinct, _alone],
                       metadata={"description": description + "：" + "|".join(choices)})


class CheckHealthProblemsSchema(Schema):
    """现存主要健康问题"""

    cerebrovascular = _problems("cerebrovascular", "脑血管疾病")
    kidney = _problems("kidney", "肾脏疾病")
    heart = _problems("heart", "心脏疾病")
    vascular = _problems("vascular", "血管疾病")
    eye = _problems("eye", "眼部疾病")
    nervous_system = _problems("nervous_system", "神经系统疾病")
    other_systems = _problems("other_systems", "其他系统疾病")
    detail = _text(500, "选择“其他”时的说明")


class CheckHospitalStaySchema(Schema):
    """住院治疗情况：住院史或家庭病床史"""

    kind = fields.String(required=True, validate=_one_of(HOSPITAL_STAY),
                         metadata={"description": "admission 住院、home_bed 家庭病床"})
    started_on = Day(required=True, metadata={"description": "入院（建床）日期"})
    ended_on = Day(allow_none=True, metadata={"description": "出院（撤床）日期"})
    reason = _text(200, "原因")
    institution = _text(100, "医疗机构及科室名称")
    record_number = _text(50, "病案号")

    @validates_schema
    def _order(self, data, **kwargs):
        if data.get("ended_on") and data.get("started_on") and data["ended_on"] < data["started_on"]:
            raise ma.ValidationError("出院日期不能早于入院日期", "ended_on")


class CheckMedicationSchema(MedicationSchema):
    """主要用药情况：随访表的用药一行，加服药依从性"""

    adherence = _choice(ADHERENCE, "服药依从性：regular 规律、intermittent 间断、none 不服药")


class CheckVaccinationSchema(Schema):
    """非免疫规划预防接种史"""

    name = fields.String(required=True, validate=validate.Length(min=1, max=50, error="须为 1 到 50 个字"))
    vaccinated_on = Day(allow_none=True, metadata={"description": "接种日期"})
    institution = _text(100, "接种机构")


class CheckEvaluationSchema(Schema):
    """健康评价"""

    normal = fields.Boolean(required=True, metadata={"description": "体检无异常"})
    abnormal = fields.List(fields.String(validate=validate.Length(min=1, max=200, error="须为 1 到 200 个字")),
                           load_default=list, validate=validate.Length(max=10), metadata={"description": "异常项"})

    @validates_schema
    def _consistent(self, data, **kwargs):
        if data.get("normal") and data.get("abnormal"):
            raise ma.ValidationError("体检无异常时不填异常项", "abnormal")
        if data.get("normal") is False and not data.get("abnormal"):
            raise ma.ValidationError("有异常时须填写异常项", "abnormal")


class CheckGuidanceSchema(Schema):
    """健康指导与危险因素控制"""

    codes = _codes(GUIDANCE, "健康指导：include_in_chronic_management 纳入慢性病患者健康管理、recheck 建议复查、"
                             "refer 建议转诊")
    risk_factors = _codes(RISK_FACTORS, "危险因素控制：quit_smoking 戒烟、healthy_drinking 健康饮酒、diet 饮食、"
                                        "exercise 锻炼、weight_loss 减体重、vaccination 建议接种疫苗、other 其他")
    target_weight_kg = _number(2, 300, "减体重目标 kg")
    vaccines = _text(100, "建议接种的疫苗")
    other = _text(200, "其他危险因素控制")

    @validates_schema
    def _details(self, data, **kwargs):
        factors = data.get("risk_factors") or []
        if data.get("target_weight_kg") is not None and "weight_loss" not in factors:
            raise ma.ValidationError("选择减体重时填写目标体重", "target_weight_kg")


SECTIONS = {
    "general": CheckGeneralSchema, "lifestyle": CheckLifestyleSchema, "organ_function": CheckOrganFunctionSchema,
    "physical_exam": CheckPhysicalExamSchema, "auxiliary": CheckAuxiliarySchema,
    "health_problems": CheckHealthProblemsSchema, "evaluation": CheckEvaluationSchema, "guidance": CheckGuidanceSchema,
}
LISTS = {"hospital_history": CheckHospitalStaySchema, "medications": CheckMedicationSchema,
         "vaccinations": CheckVaccinationSchema}


class HealthCheckCreateSchema(Schema):
    id = ClientId(metadata={"description": "客户端生成的 UUID；重发同一内容得到原记录"})
    checked_on = fields.Date(required=True, metadata={"description": "体检日期，不晚于今天、不早于出生日期"})
    symptoms = fields.List(fields.String(validate=_one_of(SYMPTOMS)), load_default=list,
                           validate=[validate.Length(max=len(SYMPTOMS)), _distinct, _alone],
                           metadata={"description": "症状：" + "|".join(SYMPTOMS)})
    symptoms_other = _text(200, "其他症状")
    general = fields.Nested(CheckGeneralSchema, load_default=dict)
    lifestyle = fields.Nested(CheckLifestyleSchema, load_default=dict)
    organ_function = fields.Nested(CheckOrganFunctionSchema, load_default=dict)
    physical_exam = fields.Nested(CheckPhysicalExamSchema, load_default=dict)
    auxiliary = fields.Nested(CheckAuxiliarySchema, load_default=dict)
    health_problems = fields.Nested(CheckHealthProblemsSchema, load_default=dict)
    hospital_history = fields.List(fields.Nested(CheckHospitalStaySchema), load_default=list,
                                   validate=validate.Length(max=20), metadata={"description": "住院史与家庭病床史"})
    medications = fields.List(fields.Nested(CheckMedicationSchema), load_default=list,
                              validate=validate.Length(max=20), metadata={"description": "主要用药情况"})
    vaccinations = fields.List(fields.Nested(CheckVaccinationSchema), load_default=list,
                               validate=validate.Length(max=20), metadata={"description": "非免疫规划预防接种史"})
    evaluation = fields.Nested(CheckEvaluationSchema, allow_none=True, load_default=None,
                               metadata={"description": "健康评价；未评价时省略"})
    guidance = fields.Nested(CheckGuidanceSchema, load_default=dict)


class HealthCheckSchema(Schema):
    id = fields.String(required=True)
    resident_id = fields.String(required=True)
    checked_on = fields.Date(required=True)
    team_id = fields.String(allow_none=True, metadata={"description": "体检的团队"})
    recorded_by = fields.Nested(RefSchema, allow_none=True, metadata={"description": "录入的医生"})
    symptoms = fields.List(fields.String(), required=True)
    symptoms_other = fields.String(allow_none=True)
    general = fields.Nested(CheckGeneralSchema, required=True)
    lifestyle = fields.Nested(CheckLifestyleSchema, required=True)
    organ_function = fields.Nested(CheckOrganFunctionSchema, required=True)
    physical_exam = fields.Nested(CheckPhysicalExamSchema, required=True)
    auxiliary = fields.Nested(CheckAuxiliarySchema, required=True)
    health_problems = fields.Nested(CheckHealthProblemsSchema, required=True)
    hospital_history = fields.List(fields.Nested(CheckHospitalStaySchema), required=True)
    medications = fields.List(fields.Nested(CheckMedicationSchema), required=True)
    vaccinations = fields.List(fields.Nested(CheckVaccinationSchema), required=True)
    evaluation = fields.Nested(CheckEvaluationSchema, allow_none=True)
    guidance = fields.Nested(CheckGuidanceSchema, required=True)
    created_at = Timestamp()


class HealthCheckQuerySchema(PageArgs):
    pass


def self_care_level(score: int | None) -> str | None:
    if score is None:
        return None
    return next(level for top, level in SELF_CARE_LEVELS if score <= top)


def first_arm(general: dict) -> dict | None:
    """The reading the summary columns keep: the left arm, or the right when only it was taken."""
    arms = general.get("blood_pressure") or {}
    return arms.get("left") or arms.get("right")


def stored(schema: type[Schema], value) -> dict | list | None:
    """A section as it is stored: the JSON its schema dumps (dates as text)."""
    if value is None:
        return None
    if isinstance(value, list):
        return schema(many=True).dump(value)
    return schema().dump(value)

