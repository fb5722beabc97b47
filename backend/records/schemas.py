from __future__ import annotations

from marshmallow import fields

from backend.common import Schema
from backend.contracts.schemas import ContractSchema
from backend.directory.schemas import TeamDetailSchema
from backend.exams.schemas import HealthCheckSchema
from backend.followups.schemas import ConditionSchema, FollowUpSchema, NextFollowUpSchema
from backend.fulfilment.schemas import CallSchema, DeliverySchema, FulfilmentSchema
from backend.residents.schemas import ResidentSchema


class HealthRecordSchema(Schema):
    resident = fields.Nested(ResidentSchema, required=True)
    groups = fields.List(fields.String(), required=True)
    contract = fields.Nested(ContractSchema, allow_none=True, required=True)
    team = fields.Nested(TeamDetailSchema, allow_none=True, required=True)
    conditions = fields.List(fields.Nested(ConditionSchema), required=True)
    follow_ups = fields.List(fields.Nested(FollowUpSchema), required=True,
                             metadata={"description": "最近50次，最近的在前"})
    exams = fields.List(fields.Nested(HealthCheckSchema), required=True,
                        metadata={"description": "最近10次健康体检，最近的在前"})
    next_follow_ups = fields.List(fields.Nested(NextFollowUpSchema), required=True)
    fulfilment = fields.Nested(FulfilmentSchema, allow_none=True, required=True,
                               metadata={"description": "当前签约的履约进度（签约生效后）"})
    services = fields.List(fields.Nested(DeliverySchema), required=True,
                           metadata={"description": "最近50次签约服务，最近的在前"})
    calls = fields.List(fields.Nested(CallSchema), required=True, metadata={"description": "电话记录，最近的在前"})
