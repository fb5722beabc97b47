from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from backend.common import Schema, Timestamp
from backend.sync.service import DEFAULT_LIMIT, KINDS, MAX_LIMIT


class SyncQuerySchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE  # as the list endpoints' query strings

    cursor = fields.String(validate=validate.Length(min=1, max=2000),
                           metadata={"description": "上一页返回的 cursor；不带则从头完整同步"})
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT),
                           metadata={"description": f"本页最多条数（变更与删除合计），1 到 {MAX_LIMIT}"})


class ChangeSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    id = fields.String(required=True)
    updated_at = Timestamp(required=True)
    data = fields.Dict(required=True, metadata={
        "description": "与对应 GET 接口的条目同形：resident 同 GET /residents/{id}（掩码），condition 同 "
                       "GET /residents/{id}/conditions，follow_up 同 GET /residents/{id}/follow-ups，contract 同 "
                       "GET /residents/{id}/contracts，service 同 GET /residents/{id}/services，call 同 "
                       "GET /residents/{id}/calls"})


class RemovalSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("resident", "contract")))
    id = fields.String(required=True)
    reason = fields.String(required=True, metadata={
        "description": "resident: moved_out|moved_away|died|contract_ended（删除该居民及其全部记录）；"
                       "contract: rejected|cancelled|terminated|expired"})


class SyncPageSchema(Schema):
    team_id = fields.String(required=True)
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    removals = fields.List(fields.Nested(RemovalSchema), required=True)
    cursor = fields.String(required=True, metadata={"description": "下一次请求带上；has_more 为 false 时保存到下次增量同步"})
    has_more = fields.Boolean(required=True)
    server_time = Timestamp(required=True)
