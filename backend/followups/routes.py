"""Chronic conditions, follow-up visits and the doctors' due lists."""
from __future__ import annotations

import orjson
from flask import Response, current_app
from flask_smorest import Blueprint

from backend import clock
from backend.auth.principal import current_principal, require
from backend.common import page_of, paginate
from backend.followups import schemas as s
from backend.followups import service
from backend.fulfilment.service import off_call_list
from backend.residents import scope
from backend.security.audit import current_action
from backend.security.identity import age_on

blp = Blueprint("followups", __name__, description="慢病管理：登记、随访、待随访清单")

ANYONE = ("staff", "account")


@blp.route("/residents/<string:resident_id>/conditions", methods=["POST"])
@require("doctor")
@blp.arguments(s.ConditionCreateSchema)
@blp.response(201, s.ConditionSchema)
@blp.alt_response(409, description="已登记（condition_exists）")
def register_condition(data, resident_id):
    """登记高血压或2型糖尿病，纳入管理（首次随访14天内到期）"""
    return service.register_condition(current_principal(), resident_id, data)


@blp.route("/residents/<string:resident_id>/conditions", methods=["GET"])
@require(kinds=ANYONE)
@blp.response(200, s.ConditionSchema(many=True))
def list_conditions(resident_id):
    """居民的慢病登记（含已撤销的）"""
    principal = current_principal()
    resident = scope.read_resident(principal, resident_id, current_action())
    return service.conditions_of(resident.id)


@blp.route("/residents/<string:resident_id>/conditions/<string:condition_id>/deregister", methods=["POST"])
@require("doctor")
@blp.arguments(s.DeregisterSchema)
@blp.response(200, s.ConditionSchema)
def deregister_condition(data, resident_id, condition_id):
    """撤销管理（死亡、迁出、排除诊断），保留历史"""
    return service.deregister_condition(current_principal(), resident_id, condition_id, data)


@blp.route("/residents/<string:resident_id>/follow-ups", methods=["POST"])
# Every statement of a visit reads or writes by key: planned once per connection.
@require("doctor", generic_plans=True)
@blp.arguments(s.FollowUpCreateSchema)
@blp.response(201, s.FollowUpSchema)
@blp.alt_response(200, schema=s.FollowUpSchema, description="同一 id、同一内容的重发：原记录")
@blp.alt_response(409, description="同一 id、不同内容（id_conflict）")
def record_follow_up(data, resident_id):
    """录入一次随访：按国家规范分类并确定下次随访日期"""
    principal = current_principal()
    follow_up, created = service.record_follow_up(principal, resident_id, data)
    return service.follow_up_views([follow_up], signer=principal)[0], 201 if created else 200


@blp.route("/residents/<string:resident_id>/follow-ups", methods=["GET"])
@require(kinds=ANYONE)
@blp.arguments(s.FollowUpQuerySchema, location="query")
@blp.response(200, page_of(s.FollowUpSchema))
def list_follow_ups(args, resident_id):
    """居民的随访记录，最近的在前"""
    principal = current_principal()
    resident = scope.read_resident(principal, resident_id, current_action())
    page = paginate(service.follow_ups_of(resident.id, args.get("disease")), args["page"], args["page_size"])
    page["items"] = service.follow_up_views(page["items"])
    return page


@blp.route("/follow-ups/due")
# The page carries its scope in its text, so one plan per connection and scope serves every day
# and page; it and its access log are one statement (service.due_page): no transaction to hold.
@require("doctor", generic_plans=True, autocommit=True)
@blp.arguments(s.DueQuerySchema, location="query")
@blp.response(200, page_of(s.DueItemSchema))
def due_list(args):
    """待随访清单：紧急转诊的在前，其次逾期最久的"""
    principal = current_principal()
    page = service.due_page(principal, args["scope"], args["window"], args["page"], args["page_size"],
                            current_action())
    page["items"] = due_items(page["items"])
    # The doctors' busiest read: its items are built ready for JSON here instead of dumped field
    # by field through DueItemSchema, which still documents them (tests hold the two equal), and
    # serialized by orjson (a page of fifty in a fifteenth of the time of the json module).
    return Response(orjson.dumps(page) + b"\n", mimetype=current_app.json.mimetype)


def due_items(rows) -> list[dict]:
    """The items of a due-list page, as DueItemSchema would dump them, in its field order."""
    today, now = clock.today(), clock.now()
    items = []
    # Each row is read as a dict: fifty rows' twenty-odd fields by attribute cost more than
    # building the items themselves.
    fields = rows[0]._fields if rows else ()
    for row in (dict(zip(fields, values)) for values in rows):
        items.append({
            "condition_id": row["id"],
            "resident": {"id": row["resident_id"], "name": row["name"], "phone": row["phone_shown"],
                         "region": row["region_name"], "region_code": row["region_code"],
                         "age": age_on(row["birth_date"], today), "phone_wrong": row["phone_wrong"]},
            "disease": row["disease"],
            "due_on": row["next_due_on"].isoformat(),
            "days_overdue": max(0, (today - row["next_due_on"]).days),
            "urgent": row["urgent"],
            "last": None if row["last_follow_up_id"] is None or row["visited_on"] is None else {
                "id": row["last_follow_up_id"], "visited_on": row["visited_on"].isoformat(),
                "classification": row["classification"], "sbp": row["sbp"], "dbp": row["dbp"],
                "fasting_glucose": row["fasting_glucose"], "refer": row["refer"],
                "urgent_referral": row["urgent_referral"]},
            "reminder": {"status": row["reminder_status"] or "none", "at": _moment(row["reminder_at"])},
            "needs_call": bool(row["reminder_needs_call"])
            and not off_call_list(row["last_call_outcome"], row["last_called_at"], now),
            "last_call": None if row["last_call_outcome"] is None else {
                "outcome": row["last_call_outcome"], "called_at": _moment(row["last_called_at"])},
        })
    return items


def _moment(value):
    return None if value is None else clock.to_civil(value).isoformat()
