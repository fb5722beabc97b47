"""The columns of each kind of import, headed as the national health-file forms name them."""
from __future__ import annotations

from dataclasses import dataclass

from backend.followups import rules
from backend.residents.models import STAFF_SET_GROUPS
from backend.stats.export import DISEASES, GROUP_NAMES


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    required: bool
    allowed: str  # what the template's second sheet says may be written
    example: str
    personal: bool = False  # masked in the error report


SEX_NAMES = {"男": "male", "女": "female"}
# Only the tags staff set by hand can be imported; age and chronic-condition groups are derived.
GROUP_CODES = {GROUP_NAMES[g]: g for g in STAFF_SET_GROUPS}
GROUP_SEPARATORS = "、,，;；"

RESIDENTS = (
    Column("姓名", "name", True, "1至50个字", "刘桂兰"),
    Column("性别", "sex", True, "男、女（须与身份证号一致）", "女"),
    Column("出生日期", "birth_date", True, "YYYY-MM-DD、YYYY/M/D 或 Excel 日期（须与身份证号一致）", "1958-03-09"),
    Column("身份证号", "id_number", True, "18位居民身份证号（GB 11643，含校验位）；请把该列设为文本格式",
           "220802195803094726", personal=True),
    Column("联系电话", "phone", False, "以1开头的11位手机号，可为空", "13604361234", personal=True),
    Column("现住址", "address", False, "至多200个字，可为空", "平安村二组"),
    Column("行政区划代码", "region_code", True, "12位统计用区划代码，须为村（社区）一级，且在导入范围内",
           "220802100001"),
    Column("重点人群", "groups", False,
           "可为空；多个用“、”或“,”分隔：" + "、".join(GROUP_CODES), "脱贫人口"),
)

# The coded answers of the national forms, by the words a provincial system writes; the
# system's own codes (hypertension, clinic, ...) are taken too.
DISEASE_CODES = {name: code for code, name in DISEASES.items()} | {"糖尿病": "diabetes", "原发性高血压": "hypertension"}
METHOD_CODES = {"门诊": "clinic", "家庭": "home", "家庭访视": "home", "电话": "phone", "网络": "online", "在线": "online"}
ADHERENCE_CODES = {"规律": "regular", "间断": "intermittent", "不服药": "none"}
COMPLICATION_CODES = {"无": "none", "新发": "new", "加重": "worse"}
YES_NO = {"有": True, "是": True, "无": False, "否": False}
HYPOGLYCEMIA_CODES = {"无": "none", "偶尔": "occasional", "频繁": "frequent"}
SYMPTOM_CODES = {
    "无症状": "none", "意识改变": "consciousness_change", "剧烈头痛": "severe_headache", "恶心呕吐": "vomiting",
    "视物模糊": "blurred_vision", "胸闷胸痛": "chest_pain", "心悸": "palpitation", "呼吸困难": "dyspnea",
    "呼气有烂苹果味": "ketone_breath", "深大呼吸": "deep_breathing", "视力骤降": "vision_loss", "腹痛": "abdominal_pain",
    "头晕": "dizziness", "头痛": "headache", "耳鸣": "tinnitus", "鼻衄出血不止": "nosebleed", "四肢发麻": "limb_numbness",
    "下肢水肿": "edema", "多饮": "polydipsia", "多尿": "polyuria", "体重明显下降": "weight_loss",
    "视力模糊": "blurred_vision_mild", "感染": "infection", "伤口愈合慢": "slow_healing",
}
assert set(SYMPTOM_CODES.values()) == set(rules.SYMPTOMS)
LIST_SEPARATORS = "、,，;；"


def _names(codes: dict) -> str:
    return "、".join(codes)


_ID_NUMBER = Column("身份证号", "id_number", True, "居民的18位身份证号，居民须已建档且在导入范围内",
                    "220802195803094726", personal=True)
_DISEASE = Column("疾病", "disease", True, "高血压、2型糖尿病", "高血压")

CONDITIONS = (
    _ID_NUMBER,
    _DISEASE,
    Column("确诊日期", "diagnosed_on", True, "YYYY-MM-DD、YYYY/M/D 或 Excel 日期；不晚于今天、不早于出生日期",
           "2019-05-20"),
    Column("管理日期", "registered_on", False, "纳入管理的日期，同上格式；不早于确诊日期，可为空（默认今天）",
           "2019-06-01"),
)

CONTRACTS = (
    _ID_NUMBER,
    Column("签约团队", "team", True, "团队名称（与系统中一致）或团队 id；须服务居民所在的村（社区）", "平台镇家庭医生一队"),
    Column("服务包", "package_codes", True, "服务包代码或名称，多个用“；”或“,”分隔；须为该团队提供的服务包",
           "basic"),
    Column("签约日期", "signed_on", True, "YYYY-MM-DD、YYYY/M/D 或 Excel 日期；不晚于今天", "2025-03-01"),
    Column("开始日期", "start_date", False, "服务开始日期，同上格式；不早于签约日期、不晚于签约后90天；可为空（即签约日期）",
           "2025-03-01"),
    Column("签约医生", "doctor", False, "团队成员的姓名（同名时填其 id），可为空", ""),
)

FOLLOW_UPS = (
    _ID_NUMBER,
    _DISEASE,
    Column("随访日期", "visited_on", True, "YYYY-MM-DD、YYYY/M/D 或 Excel 日期；不晚于今天、不早于确诊日期",
           "2025-04-10"),
    Column("随访方式", "method", True, _names(METHOD_CODES), "门诊"),
    Column("症状", "symptoms", False, "可为空；多个用“、”分隔：" + _names(SYMPTOM_CODES), "头晕"),
    Column("其他症状", "symptoms_other", False, "至多200个字", ""),
    Column("收缩压", "sbp", False, "mmHg，50至300的整数；高血压随访必填", "150"),
    Column("舒张压", "dbp", False, "mmHg，30至200的整数，须低于收缩压；高血压随访必填", "95"),
    Column("体重", "weight_kg", False, "kg，2至300", "68"),
    Column("目标体重", "target_weight_kg", False, "kg，2至300", "65"),
    Column("身高", "height_cm", False, "cm，40至250", "165"),
    Column("心率", "heart_rate", False, "次/分钟，20至250的整数", "78"),
    Column("空腹血糖", "fasting_glucose", False, "mmol/L，1.0至40.0；糖尿病随访必填", ""),
    Column("糖化血红蛋白", "hba1c", False, "%，3.0至20.0（糖尿病）", ""),
    Column("检查日期", "hba1c_on", False, "糖化血红蛋白的检查日期，不晚于随访日期", ""),
    Column("服药依从性", "medication_adherence", False, _names(ADHERENCE_CODES), "规律"),
    Column("药物不良反应", "adverse_reaction", False, "有、无（默认无）", "无"),
    Column("不良反应表现", "adverse_reaction_detail", False, "有不良反应时填写，至多200个字", ""),
    Column("低血糖反应", "hypoglycemia", False, _names(HYPOGLYCEMIA_CODES) + "（仅糖尿病）", ""),
    Column("并发症", "complication", False, "无、新发、加重（默认无）", "无"),
    Column("备注", "notes", False, "至多2000个字", ""),
)

KINDS = {"residents": RESIDENTS, "conditions": CONDITIONS, "contracts": CONTRACTS, "follow-ups": FOLLOW_UPS}
