"""Imports through the API: the upload kept on disk, the run recorded in import_runs (the audit
trail: who imported which file, when, with what result), and the file imported in the
background, one batch at a time, its progress and report readable while it runs."""
from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from flask import Flask, current_app
from werkzeug.datastructures import FileStorage

from backend import clock
from backend.auth.principal import Principal
from backend.directory.models import Institution
from backend.directory.regions import is_within, prefix_of
from backend.errors import Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.imports.files import SpreadsheetError, estimate_rows
from backend.imports.models import ImportRejection, ImportRun
from backend.imports.report import lines_of
from backend.imports.runner import Report
from backend.unit_of_work import unit_of_work

log = logging.getLogger("jiayi.imports")

SUFFIXES = (".xlsx", ".csv")
# A run records its progress after every batch; one silent this long lost its process (a
# restart, a worker recycled): it is shown as failed, and the same file can simply be run again.
STALL = timedelta(minutes=15)
STALLED = "导入中断（服务进程已停止），已导入的批次保留，可重新导入同一文件"
_threads: set[threading.Thread] = set()
_threads_lock = threading.Lock()


def upload_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_scope(principal: Principal, region_code: str | None) -> tuple[str | None, str | None]:
    """(the region the file's villages must lie in, the importer's institution). A county_admin
    imports inside its region (the whole deployment when it has none), an institution_admin
    inside its institution's; a narrower region_code narrows it further."""
    if principal.has_role("county_admin"):
        scope, institution_id = principal.region_code, None
    elif principal.has_role("institution_admin") and principal.institution_id:
        institution = db.session.get(Institution, principal.institution_id)
        scope, institution_id = institution.region_code, institution.id
    else:
        raise Forbidden("只有县级管理员或机构管理员可以导入")
    if region_code is None:
        return scope, institution_id
    if scope is not None and not is_within(region_code, scope):
        raise Forbidden("超出管辖范围")
    return region_code, institution_id


def submit(principal: Principal, username: str, kind: str, upload: FileStorage, dry_run: bool,
           region_code: str | None) -> ImportRun:
    """Keep the upload and start its import; the run as recorded (status queued)."""
    region, institution_id = import_scope(principal, region_code)
    name = os.path.basename(upload.filename or "").strip()
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationFailed({"file": ["只接受 .xlsx 或 .csv 文件"]})
    run = ImportRun(kind=kind, file_name=name[-255:], file_size=0, dry_run=dry_run, region_code=region,
                    source="api", submitted_by_id=principal.id, institution_id=institution_id,
                    actor=username, status="queued")
    db.session.add(run)
    db.session.flush()  # the id names the file on disk
    path = upload_dir() / f"{run.id}{suffix}"
    upload.save(path)
    try:
        run.file_size = path.stat().st_size
        if run.file_size == 0:
            raise ValidationFailed({"file": ["文件是空的"]})
        run.rows_estimated = estimate_rows(path)
        with unit_of_work(keep_loaded=True):
            pass
    except BaseException:
        db.session.rollback()
        path.unlink(missing_ok=True)
        raise
    start(current_app._get_current_object(), run.id, path)
    return run


def start(app: Flask, run_id: str, path: Path) -> None:
    thread = threading.Thread(target=_execute_in, args=(app, run_id, path), name=f"import-{run_id}", daemon=True)
    with _threads_lock:
        _threads.add(thread)
    thread.start()


def wait_for_imports(timeout: float | None = None) -> bool:
    """Wait for the imports running in this process (a graceful stop, a test); True when none is left."""
    with _threads_lock:
        running = list(_threads)
    for thread in running:
        thread.join(timeout)
    return not any(t.is_alive() for t in running)


def _execute_in(app: Flask, run_id: str, path: Path) -> None:
    try:
        with app.app_context():
            try:
                execute(run_id, path)
            except Exception:  # noqa: BLE001  recorded on the run by execute
                pass
            finally:
                db.session.remove()
    finally:
        path.unlink(missing_ok=True)  # residents' data does not stay on the server's disk
        with _threads_lock:
            _threads.discard(threading.current_thread())


def record_run(kind: str, path: Path, *, dry_run: bool, region_code: str | None, actor: str,
               source: str = "cli") -> ImportRun:
    """Record an import the command line is about to run (the API records its own at upload)."""
    run = ImportRun(kind=kind, file_name=path.name[-255:], file_size=path.stat().st_size, dry_run=dry_run,
                    region_code=region_code, source=source, actor=actor[:64], status="queued")
    with unit_of_work(keep_loaded=True) as session:
        session.add(run)
    return run


def execute(run_id: str, path: Path, on_progress: Callable[[int], None] | None = None) -> Report:
    """Run the import of a recorded run and record how it went: its counts and refused rows, or
    why the file could not be imported (re-raised for the caller)."""
    from backend.imports import importer_of

    run = db.session.get(ImportRun, run_id)
    run.status, run.started_at = "running", clock.utcnow()
    db.session.commit()
    kind, dry_run, region, name, actor = run.kind, run.dry_run, run.region_code, run.file_name, run.actor

    def progress(read: int) -> None:
        db.session.execute(sa.update(ImportRun).where(ImportRun.id == run_id)
                           .values(rows_read=read, updated_at=clock.utcnow()))
        db.session.commit()
        if on_progress:
            on_progress(read)

    try:
        report = importer_of(kind)(path, dry_run=dry_run, region_code=region, file_name=name, actor=actor,
                                   on_progress=progress)
    except SpreadsheetError as error:
        db.session.rollback()
        finish(run_id, "failed", error=error.message)
        raise
    except Exception as error:
        db.session.rollback()
        log.error("import %s failed: %s", run_id, type(error).__name__)  # nothing personal in the log
        finish(run_id, "failed", error="导入中断：服务器内部错误，已导入的批次保留，可重新导入同一文件")
        raise
    finish(run_id, "succeeded", report=report)
    return report


def finish(run_id: str, status: str, *, report: Report | None = None, error: str | None = None) -> None:
    values: dict = {"status": status, "error": error, "finished_at": clock.utcnow(), "updated_at": clock.utcnow()}
    if report is not None:
        values.update(report.counts(), rows_read=report.read, unknown_columns=report.unknown_columns)
        values.pop("read")
        rows = [{"run_id": run_id, "seq": n, "row": row, "column": column[:64], "value": value[:255] or None,
                 "reason": reason[:255]} for n, (row, column, value, reason) in enumerate(lines_of(report))]
        for start_at in range(0, len(rows), 5000):
            db.session.execute(sa.insert(ImportRejection), rows[start_at:start_at + 5000])
    db.session.execute(sa.update(ImportRun).where(ImportRun.id == run_id).values(**values))
    db.session.commit()


def stalled(run: ImportRun) -> bool:
    return run.status in ("queued", "running") and run.updated_at < clock.utcnow() - STALL


def visible_run(principal: Principal, run_id: str) -> ImportRun:
    run = db.session.get(ImportRun, run_id)
    if run is None or not may_see(principal, run):
        raise NotFound("导入记录不存在")
    return run


def may_see(principal: Principal, run: ImportRun) -> bool:
    if principal.has_role("county_admin"):
        return principal.region_code is None or (run.region_code is not None
                                                 and is_within(run.region_code, principal.region_code))
    return principal.has_role("institution_admin") and run.institution_id == principal.institution_id


def runs_query(principal: Principal) -> sa.Select:
    """The runs an admin may see, newest first: a county_admin's inside its region, an
    institution_admin's of its institution."""
    statement = sa.select(ImportRun).order_by(ImportRun.created_at.desc(), ImportRun.id)
    if principal.has_role("county_admin"):
        if principal.region_code is not None:
            statement = statement.where(ImportRun.region_code.startswith(prefix_of(principal.region_code)))
        return statement
    return statement.where(ImportRun.institution_id == principal.institution_id)


def report_lines(run_id: str) -> list[tuple[int, str, str, str]]:
    """A run's report as plain (row, column, value, reason) lines, in the report's order."""
    return [(row, column, value or "", reason) for row, column, value, reason in db.session.execute(
        sa.select(ImportRejection.row, ImportRejection.column, ImportRejection.value, ImportRejection.reason)
        .where(ImportRejection.run_id == run_id).order_by(ImportRejection.seq))]
