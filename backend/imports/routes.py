"""POST /admin/imports (the upload, answered 202 with the run), GET /admin/imports[/{id}] (the
audit trail and a run's progress), GET /admin/imports/{id}/report (the refused rows, CSV or xlsx)."""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, current_app, request, stream_with_context
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict

from backend.auth.principal import current_principal, require
from backend.common import PageArgs, page_of, paginate
from backend.errors import DomainError
from backend.imports import report
from backend.imports import schemas as s
from backend.imports import service

class _UploadParser(FlaskParser):
    """A multipart upload's form fields and its file read as one set of arguments (documented as
    one multipart/form-data body)."""

    def load_files(self, req, schema):
        return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)


class _Blueprint(Blueprint):
    ARGUMENTS_PARSER = _UploadParser()


blp = _Blueprint("imports", __name__, description="批量导入县里已有的档案（county_admin；institution_admin 限本机构）")

ADMINS = ("county_admin", "institution_admin")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REPORT_DOC = {"responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}},
                                                XLSX: {"schema": {"type": "string", "format": "binary"}}}}}}


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


@blp.before_request
def _upload_limit():
    """An upload over the limit is refused from its Content-Length, before it is read; a body
    sent without one is cut off at the limit."""
    if request.endpoint != f"{blp.name}.upload":
        return
    limit = current_app.config["JIAYI"].import_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"文件过大（上限 {limit // (1024 * 1024)} MiB），请拆分后分批导入")
    request.max_content_length = limit


def run_view(run) -> dict:
    view = {c: getattr(run, c) for c in (
        "id", "kind", "file_name", "file_size", "dry_run", "region_code", "source", "actor", "status", "error",
        "rows_estimated", "rows_read", "imported", "already_on_file", "rejected", "unknown_columns",
        "created_at", "started_at", "finished_at")}
    if service.stalled(run):
        view.update(status="failed", error=service.STALLED)
    return {**view,
        "submitted_by": {"id": run.submitted_by_id, "name": run.actor} if run.submitted_by_id else None,
        "report_url": f"/api/v1/admin/imports/{run.id}/report"}


@blp.route("/imports", methods=["POST"], endpoint="upload")
@require(*ADMINS)
@blp.arguments(s.ImportUploadSchema, location="files")
@blp.response(202, s.ImportRunSchema)
@blp.alt_response(413, description="文件超过上限（payload_too_large），未读取")
def upload(form):
    """上传一个 .xlsx/.csv 文件导入（或 dry_run 只检查）：立即答复 202 和导入记录，导入在后台进行，
    用 GET /admin/imports/{id} 查看进度与结果"""
    principal = current_principal()
    run = service.submit(principal, principal.name, form["kind"], form["file"], form["dry_run"], form["region_code"])
    return run_view(run)


@blp.route("/imports", methods=["GET"])
@require(*ADMINS)
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_of(s.ImportRunSchema))
def list_runs(args):
    """导入记录（谁在何时导入了哪个文件、结果如何），最近的在前"""
    page = paginate(service.runs_query(current_principal()), args["page"], args["page_size"])
    page["items"] = [run_view(r) for r in page["items"]]
    return page


@blp.route("/imports/<string:run_id>", methods=["GET"])
@require(*ADMINS)
@blp.response(200, s.ImportRunSchema)
def get_run(run_id):
    """一次导入的进度与结果"""
    return run_view(service.visible_run(current_principal(), run_id))


@blp.route("/imports/<string:run_id>/report", methods=["GET"])
@require(*ADMINS)
@blp.arguments(s.ReportArgsSchema, location="query")
@blp.doc(**REPORT_DOC)
def get_report(args, run_id):
    """被拒绝的行：行号、列、值（个人信息已脱敏）、原因；CSV（Excel 可直接打开）或 xlsx"""
    run = service.visible_run(current_principal(), run_id)
    # Read whole before the answer streams: the request's session is gone by then.
    lines = service.report_lines(run.id)
    stem = quote(f"{run.file_name.rsplit('.', 1)[0]}-导入报告")
    if args["format"] == "xlsx" or request.accept_mimetypes.best == XLSX:
        return Response(report.xlsx_bytes(lines), mimetype=XLSX, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{stem}.xlsx"})
    return Response(stream_with_context(report.csv_chunks(lines)), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{stem}.csv"})
