"""The single error envelope: {"code", "message", "errors"?} for every failure.

Services raise DomainError subclasses; HTTP errors from Flask, webargs, the JWT
and rate-limit extensions and anything unhandled are mapped here, so a client
never sees another shape, a stack trace or SQL.
"""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("jiayi.errors")


class DomainError(Exception):
    """An expected failure of a domain operation, carrying its status and code."""

    status = 400
    code = "bad_request"
    message = "请求无法处理"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 errors: dict | None = None, status: int | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if code:
            self.code = code
        if status:
            self.status = status
        self.errors = errors


class ValidationFailed(DomainError):
    """422 with the fields named: {"field": ["why", ...]}."""

    status = 422
    code = "validation_error"
    message = "请求数据有误"

    def __init__(self, errors: dict, message: str | None = None, *, code: str | None = None):
        super().__init__(message, code=code, errors=errors)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "资源不存在"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "与现有数据冲突"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "无权执行此操作"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    message = "请先登录"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    message = "服务暂不可用，请稍后再试"


HTTP_CODES = {
    400: ("bad_request", "请求格式有误"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    406: ("not_acceptable", "不支持所请求的响应格式"),
    409: ("conflict", "与现有数据冲突"),
    413: ("payload_too_large", "请求体过大（上限 1 MiB）"),
    415: ("unsupported_media_type", "请求体须为 JSON"),
    422: ("validation_error", "请求数据有误"),
    429: ("too_many_attempts", "尝试次数过多，请稍后再试"),
    500: ("internal_error", "服务器内部错误"),
    503: ("service_unavailable", "服务暂不可用，请稍后再试"),
}

# marshmallow and webargs speak English; the clients show these messages to people in zh-CN.
MESSAGES_ZH = {
    "Missing data for required field.": "必填字段",
    "Unknown field.": "未知字段",
    "Field may not be null.": "不能为空",
    "Not a valid string.": "应为字符串",
    "Not a valid integer.": "应为整数",
    "Not a valid number.": "应为数字",
    "Not a valid boolean.": "应为布尔值",
    "Not a valid list.": "应为列表",
    "Not a valid mapping type.": "应为对象",
    "Not a valid date.": "应为 YYYY-MM-DD 格式的日期",
    "Not a valid datetime.": "应为 ISO 8601 时间",
    "Not a valid UUID.": "应为 UUID",
    "Invalid input type.": "输入类型有误",
    "Invalid value.": "取值无效",
    "Shorter than minimum length 1.": "不能为空",
}


def _translate(message: str) -> str:
    if message in MESSAGES_ZH:
        return MESSAGES_ZH[message]
    if message.startswith("Must be one of:"):
        return "取值须为：" + message.removeprefix("Must be one of:").strip().rstrip(".")
    if message.startswith("Must be greater than or equal to") and "less than or equal to" in message:
        low, high = message.removeprefix("Must be greater than or equal to ").rstrip(".").split(
            " and less than or equal to "
        )
        return f"须在 {low} 到 {high} 之间"
    if message.startswith("Must be greater than or equal to"):
        return "须不小于 " + message.removeprefix("Must be greater than or equal to").strip().rstrip(".")
    if message.startswith("Must be less than or equal to"):
        return "须不大于 " + message.removeprefix("Must be less than or equal to").strip().rstrip(".")
    if message.startswith("Longer than maximum length"):
        return "长度不能超过 " + message.removeprefix("Longer than maximum length").strip().rstrip(".")
    if message.startswith("Length must be between"):
        return "长度须在 " + message.removeprefix("Length must be between").strip().rstrip(".").replace(" and ", " 到 ") + " 之间"
    if message.startswith("Shorter than minimum length"):
        return "长度不能少于 " + message.removeprefix("Shorter than minimum length").strip().rstrip(".")
    return message


def translate_messages(messages):
    """Translate marshmallow's nested message structure, keeping its shape."""
    if isinstance(messages, dict):
        return {key: translate_messages(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [translate_messages(value) for value in messages]
    if isinstance(messages, str):
        return _translate(messages)
    return messages


def flatten_locations(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {...}, "query": {...}}); clients want fields."""
    errors: dict = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            for field, why in fields.items():
                _collect(errors, "body" if field == "_schema" else str(field), why)
        else:
            errors.setdefault(location, []).extend(fields if isinstance(fields, list) else [fields])
    return translate_messages(errors)


def _collect(errors: dict, key: str, why) -> None:
    """A nested schema's field under its dotted path ("lifestyle.salt.now", "medications.0.dose"),
    so that every key of ``errors`` names one field; a list of plain values or a mapping stays
    one field ("symptoms", "groups"), whichever of its entries was wrong."""
    if isinstance(why, dict) and not _entries_of_one_field(why):
        for part, inner in why.items():
            _collect(errors, key if part == "_schema" else f"{key}.{part}", inner)
    else:
        errors.setdefault(key, []).extend(_messages(why))


def _messages(why) -> list:
    if isinstance(why, dict):
        return [m for inner in why.values() for m in _messages(inner)]
    if isinstance(why, list):
        return [m for inner in why for m in _messages(inner)]
    return [why]


def _entries_of_one_field(why: dict) -> bool:
    """marshmallow's messages for the entries of a List of plain values ({0: [..]}) or of a
    Dict ({"entry": {"key": [..], "value": [..]}})."""
    return all((isinstance(part, int) and isinstance(inner, list))
               or (isinstance(inner, dict) and set(inner) <= {"key", "value"}) for part, inner in why.items())


def envelope(status: int, code: str, message: str, errors: dict | None = None, headers=None):
    body = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    if headers:
        for key, value in headers.items():
            response.headers[key] = value
    return response


def http_error_response(error: HTTPException):
    status = error.code or 500
    code, message = HTTP_CODES.get(status, ("http_error", error.name))
    data = getattr(error, "data", None) or {}
    errors = None
    headers = dict(data.get("headers") or {})
    if status == 422 and "messages" in data:
        errors = flatten_locations(data["messages"])
    elif status == 422:
        errors = {}
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        # flask-limiter's own headers (Retry-After) travel on its response.
        limit_response = error.get_response()
        for key in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            if key in limit_response.headers:
                headers[key] = limit_response.headers[key]
    if status >= 500 and status != 503:
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled %s", type(original).__name__, exc_info=original)
        code, message = HTTP_CODES[500]
        status = 500
    return envelope(status, code, message, errors, headers)


def domain_error_response(error: DomainError):
    return envelope(error.status, error.code, error.message, error.errors)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error_response)
    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(Exception)
    def unhandled(error: Exception):
        # Logged by type and traceback only: request bodies may hold personal data.
        log.error("unhandled %s", type(error).__name__, exc_info=error)
        return envelope(500, *HTTP_CODES[500])

    @app.errorhandler(ma.ValidationError)
    def schema_error(error: ma.ValidationError):
        messages = error.messages if isinstance(error.messages, dict) else {"body": error.messages}
        return envelope(422, "validation_error", HTTP_CODES[422][1], translate_messages(messages))

    del unhandled, schema_error


class ErrorSchema(ma.Schema):
    """The error envelope, for the OpenAPI description."""

    code = ma.fields.String(required=True, metadata={"description": "machine-readable code"})
    message = ma.fields.String(required=True, metadata={"description": "readable message, zh-CN"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "field -> reasons (validation errors only)"},
    )


__all__ = [
    "Conflict", "DomainError", "ErrorSchema", "Forbidden", "InternalServerError", "NotFound",
    "ServiceUnavailable", "Unauthorized", "ValidationFailed", "register_error_handlers",
]
