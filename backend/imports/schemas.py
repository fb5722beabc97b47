"""Requests and answers of the import endpoints."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.common import RefSchema, Timestamp
from backend.directory.schemas import RegionCode
from backend.imports.columns import KINDS


class ImportUploadSchema(Schema):
    """The multipart upload: the file and, beside it, what to do with it."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": ".xlsx 或 .csv（UTF-8 或 GB18030）"})
    kind = fields.String(required=True, validate=validate.OneOf(tuple(KINDS)),
                         metadata={"description": "residents 居民健康档案, conditions 慢病登记, contracts 签约, follow-ups 随访"})
    dry_run = fields.Boolean(load_default=False, metadata={"description": "true：只检查并出报告，不写入"})
    region_code = RegionCode(load_default=None, metadata={"description": "文件中的村须在此区划内（默认：导入人的管辖范围）"})


class ImportRunSchema(Schema):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    file_name = fields.String(required=True)
    file_size = fields.Integer(required=True)
    dry_run = fields.Boolean(required=True)
    region_code = fields.String(allow_none=True)
    source = fields.String(required=True, metadata={"description": "api 上传, cli 命令行"})
    submitted_by = fields.Nested(RefSchema, allow_none=True, metadata={"description": "上传的工作人员（命令行导入为 null）"})
    actor = fields.String(required=True, metadata={"description": "导入人：工作人员姓名，或 cli:系统用户"})
    status = fields.String(required=True, metadata={"description": "queued 排队, running 导入中, succeeded 完成, failed 失败"})
    error = fields.String(allow_none=True, metadata={"description": "整个文件无法导入时的原因"})
    rows_estimated = fields.Integer(allow_none=True)
    rows_read = fields.Integer(required=True)
    imported = fields.Integer(required=True, metadata={"description": "试运行时：将导入的行数"})
    already_on_file = fields.Integer(required=True)
    rejected = fields.Integer(required=True)
    unknown_columns = fields.List(fields.String(), required=True)
    report_url = fields.String(required=True, metadata={"description": "被拒绝的行：CSV（Accept: text/csv 或 ?format=csv）或 ?format=xlsx"})
    created_at = Timestamp(required=True)
    started_at = Timestamp(allow_none=True)
    finished_at = Timestamp(allow_none=True)


class ReportArgsSchema(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))
