"""GET /api/v1/sync/teams/{team_id}: what changed in the team's scope since a cursor."""
from __future__ import annotations

import gzip

import orjson
from flask import Response, current_app, request
from flask_smorest import Blueprint

from backend.auth.principal import current_principal, require
from backend.security.audit import current_action
from backend.sync import schemas as s
from backend.sync import service

GZIP_FROM_BYTES, GZIP_LEVEL = 1024, 6

blp = Blueprint("sync", __name__, description="团队离线同步：游标之后团队服务范围内的变更与删除")


@blp.route("/sync/teams/<string:team_id>")
@require(kinds=("staff",))
@blp.arguments(s.SyncQuerySchema, location="query")
@blp.response(200, s.SyncPageSchema)
@blp.alt_response(403, description="不是该团队的成员")
@blp.alt_response(404, description="团队不存在")
def sync_team(args, team_id):
    """团队离线同步：游标之后团队服务范围内的变更（居民、慢病、随访、签约、服务、电话）与删除，分页

    仅本团队成员可调用。不带 cursor 为首次完整同步；逐页带上返回的 cursor，直到 has_more 为 false，
    保存最后的 cursor 供下次增量同步。变更按种类（居民在前）再按 id 排序，客户端按 (kind, id) 覆盖写入；
    下次同步从本次开始时刻前 60 秒起，晚提交的记录不会遗漏，重复送达无害。removals 中的居民：删除该居民及其全部记录；
    签约：删除该签约。对返回的居民写访问记录。支持 Accept-Encoding: gzip。
    """
    page = service.sync_page(current_principal(), team_id, args.get("cursor"), args["limit"], current_action())
    # Pages of hundreds of records: built ready for JSON by the service (SyncPageSchema documents
    # them) and serialized by orjson; gzipped for a client that takes it (a first sync over a
    # village's mobile network is a tenth of the bytes).
    body = orjson.dumps(page) + b"\n"
    response = Response(body, mimetype=current_app.json.mimetype)
    response.vary.add("Accept-Encoding")
    if request.accept_encodings["gzip"] and len(body) > GZIP_FROM_BYTES:
        response.set_data(gzip.compress(body, compresslevel=GZIP_LEVEL))
        response.content_encoding = "gzip"
    return response
