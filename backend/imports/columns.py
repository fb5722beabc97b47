"""The columns of each kind of import, headed as the national health-file forms name them."""
from __future__ import annotations

from dataclasses import dataclass

from backend.residents.models import STAFF_SET_GROUPS
from backend.stats.export import GROUP_NAMES


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

KINDS = {"residents": RESIDENTS}
