from __future__ import annotations

import re
from datetime import date

import marshmallow as ma
from marshmallow import fields, validate

from backend.common import RefSchema, Schema
from backend.directory.schemas import RegionCode
from backend.followups.rules import DISEASES
from backend.fulfilment.models import OUTCOMES
from backend.stats.service import TREND_METRICS

Rate = lambda **kw: fields.Float(allow_none=True, metadata={"description": "0 到 1，4 位小数；分母为 0 时为 null"}, **kw)  # noqa: E731


class StatsArgs(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    region_code = RegionCode(metadata={"description": "默认：调用者管辖的区划"})
    source = fields.String(validate=validate.OneOf(("live",)), metadata={
        "description": "live：不读统计报表，按当前记录实时计算（较慢，县级数秒）；默认读统计报表，无快照的日期实时计算"})


class AsOfArgs(StatsArgs):
    as_of = fields.Date(metadata={"description": "截至日期，默认今天"})


class ChronicArgs(AsOfArgs):
    disease = fields.String(load_default="hypertension", validate=validate.OneOf(DISEASES))
    year = fields.Integer(validate=validate.Range(min=2000, max=2100), metadata={"description": "默认今年"})


class Month(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(r"\d{4}-\d{2}", text) or not 1 <= int(text[5:]) <= 12:
            raise ma.ValidationError("应为 YYYY-MM 格式的月份")
        return date(int(text[:4]), int(text[5:]), 1)


class TrendArgs(StatsArgs):
    metric = fields.String(required=True, validate=validate.OneOf(TREND_METRICS))
    from_ = Month(data_key="from", metadata={"description": "起始月份 YYYY-MM，默认12个月前"})
    to = Month(metadata={"description": "结束月份 YYYY-MM，默认本月"})


SOURCES = ("rollup", "live", "mixed")


class Freshness(Schema):
    computed_at = fields.DateTime(required=True, metadata={
        "description": "这些数字的计算时刻：来自统计报表（rollup）时为该报表的刷新时刻，实时计算（live）时为本次请求"})
    source = fields.String(required=True, validate=validate.OneOf(SOURCES), metadata={
        "description": "rollup：统计报表（每县每日快照，月末冻结）；live：实时计算；mixed：趋势中两者都有"})


class RegionRefSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    level = fields.String(required=True)


class GroupStatSchema(Schema):
    population = fields.Integer(allow_none=True)
    contracted = fields.Integer(required=True)
    rate = Rate()


class ContractStatsBase(Schema):
    region = fields.Nested(RegionRefSchema, required=True)
    as_of = fields.Date(required=True)
    population = fields.Integer(allow_none=True, metadata={"description": "常住人口（该年度）"})
    contracted = fields.Integer(required=True)
    coverage_rate = Rate()
    groups = fields.Dict(keys=fields.String(), values=fields.Nested(GroupStatSchema), required=True)
    elderly_health_checked = fields.Integer(required=True, metadata={
        "description": "截至日期为65岁及以上、当年（至截至日期）做过健康体检的居民数"})
    elderly_health_management_rate = fields.Float(allow_none=True, metadata={
        "description": "老年人健康管理率 = elderly_health_checked ÷ 当年65岁及以上常住人口；"
                       "0 到 1，4 位小数；分母为 0 时为 null"})
    renewal_due = fields.Integer(required=True, metadata={"description": "此前12个月内到期的签约数"})
    renewed = fields.Integer(required=True)
    renewal_rate = Rate()


class ContractStatsSchema(ContractStatsBase, Freshness):
    children = fields.List(fields.Nested(ContractStatsBase), required=True)


class ChronicStatsBase(Schema):
    region = fields.Nested(RegionRefSchema, required=True)
    year = fields.Integer(required=True)
    as_of = fields.Date(required=True)
    disease = fields.String(required=True)
    managed = fields.Integer(required=True)
    standardized = fields.Integer(required=True)
    standardized_rate = Rate()
    controlled = fields.Integer(required=True)
    control_rate = Rate()
    overdue = fields.Integer(required=True)
    health_checked = fields.Integer(required=True, metadata={"description": "当年（至截至日期）做过健康体检的管理患者数"})


class ChronicStatsSchema(ChronicStatsBase, Freshness):
    children = fields.List(fields.Nested(ChronicStatsBase), required=True)


class TeamStatSchema(Schema):
    team = fields.Nested(RefSchema, required=True)
    institution = fields.Nested(RefSchema, required=True)
    contracted = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    utilization_rate = Rate()
    pending = fields.Integer(required=True)
    overdue_follow_ups = fields.Integer(required=True)


class TeamStatsSchema(Freshness):
    region = fields.Nested(RegionRefSchema, required=True)
    as_of = fields.Date(required=True)
    items = fields.List(fields.Nested(TeamStatSchema), required=True)


class TrendPointSchema(Freshness):
    month = fields.String(required=True)
    as_of = fields.Date(required=True)
    value = fields.Float(allow_none=True)


class TrendSchema(Freshness):
    region = fields.Nested(RegionRefSchema, required=True)
    metric = fields.String(required=True)
    points = fields.List(fields.Nested(TrendPointSchema), required=True)


class CallArgs(StatsArgs):
    from_ = fields.Date(data_key="from", metadata={"description": "起始日期，默认30天前"})
    to = fields.Date(metadata={"description": "结束日期（含），默认今天"})


class FulfilmentBlockSchema(Schema):
    contracted = fields.Integer(required=True)
    on_track = fields.Integer(required=True)
    complete = fields.Integer(required=True)
    behind = fields.Integer(required=True)
    fulfilment_rate = Rate()


class FulfilmentRegionSchema(FulfilmentBlockSchema):
    region = fields.Nested(RegionRefSchema, required=True)
    as_of = fields.Date(required=True)


class ItemDeliverySchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    contracts = fields.Integer(required=True)
    owed = fields.Integer(required=True)
    owed_by_today = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    delivered_of_owed_by_today = fields.Integer(required=True)
    delivery_rate = Rate()


class FulfilmentTeamSchema(FulfilmentBlockSchema):
    team = fields.Nested(RefSchema, required=True)
    institution = fields.Nested(RefSchema, required=True)


class FulfilmentStatsSchema(FulfilmentRegionSchema, Freshness):
    items = fields.List(fields.Nested(ItemDeliverySchema), required=True)
    children = fields.List(fields.Nested(FulfilmentRegionSchema), required=True)
    teams = fields.List(fields.Nested(FulfilmentTeamSchema), required=True)


# One count per call outcome, in the order the calls domain defines them.
OutcomeCountsSchema = Schema.from_dict({o: fields.Integer(required=True) for o in OUTCOMES},
                                       name="OutcomeCountsSchema")


class TeamCallsSchema(Schema):
    team = fields.Nested(RefSchema, allow_none=True, required=True)
    calls = fields.Integer(required=True)
    outcomes = fields.Nested(OutcomeCountsSchema, required=True)


class CallStatsSchema(Freshness):
    region = fields.Nested(RegionRefSchema, required=True)
    from_ = fields.Date(data_key="from", attribute="from", required=True)
    to = fields.Date(required=True)
    calls = fields.Integer(required=True)
    outcomes = fields.Nested(OutcomeCountsSchema, required=True)
    teams = fields.List(fields.Nested(TeamCallsSchema), required=True)
