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

blp = Blueprint("sync", __name__, description="Changes in a team's scope since a cursor, for offline clients")


@blp.route("/sync/teams/<string:team_id>")
@require(kinds=("staff", "account"))
@blp.arguments(s.SyncQuerySchema, location="query")
@blp.response(200, s.SyncPageSchema)
@blp.alt_response(403, description="不是该团队的成员")
@blp.alt_response(404, description="团队不存在")
def sync_team(args, team_id):
    """团队离线同步：游标之后团队服务范围内的变更（居民、慢病、随访、签约、服务、电话）与删除，分页"""
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
