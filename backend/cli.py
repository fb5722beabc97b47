"""Operator commands: `flask --app wsgi <command>`."""
from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask

from backend.extensions import api, db

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "api_docs" / "openapi.json"
# The kinds of records `import` and `import-template` take, in the order a county imports them.
IMPORT_KINDS = ["residents", "conditions", "contracts", "follow-ups"]


def openapi_text() -> str:
    return json.dumps(api.spec.to_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def register(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", required=True)
    @click.option("--password", required=True)
    @click.option("--name", required=True)
    @click.option("--region-code", default=None, help="limit the admin to this region and below")
    def create_admin(username: str, password: str, name: str, region_code: str | None):
        """Create a county_admin (the first one is made this way)."""
        from backend.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
        from backend.directory.models import Region, Staff

        if len(password) < MIN_PASSWORD_LENGTH:
            raise click.ClickException(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
        if db.session.scalar(sa.select(Staff.id).where(Staff.username == username)):
            raise click.ClickException(f"username {username} already exists")
        if region_code and db.session.get(Region, region_code) is None:
            raise click.ClickException(f"region {region_code} does not exist")
        staff = Staff(username=username, password_hash=hash_password(password), name=name,
                      title="admin", roles=["county_admin"], region_code=region_code)
        db.session.add(staff)
        db.session.commit()
        click.echo(f"county_admin {username} created ({staff.id})")

    @app.cli.command("demo-data")
    @click.option("--seed", default=20251, show_default=True, type=int)
    def demo_data(seed: int):
        """Load the demo county (洮北区, 白城市, 吉林省) and print the demo logins."""
        from backend.demo import load_demo

        logins = load_demo(seed)
        click.echo("Demo staff logins (POST /api/v1/auth/staff/login):")
        width = max(len(login["username"]) for login in logins["staff"])
        for login in logins["staff"]:
            click.echo(f"  {login['username']:<{width}} {login['password']:<16} {login['roles']:<18} {login['who']}")
        click.echo("Demo mini-program logins (POST /api/v1/auth/wechat/login through the demo WeChat):")
        for login in logins["wechat"]:
            click.echo(f"  code {login['code']:<22} {login['who']}")

    @app.cli.command("run-job")
    @click.argument("name")
    @click.option("--now", "now_text", default=None, help="ISO 8601 moment to run at (default: now)")
    def run_job(name: str, now_text: str | None):
        """Run one scheduled job once, at the given moment (recorded in job_runs)."""
        from backend import clock
        from scheduled.jobs import JOBS, run_recorded

        if name not in JOBS:
            raise click.ClickException(f"unknown job {name}; jobs: {', '.join(sorted(JOBS))}")
        try:
            moment = clock.parse_moment(now_text) if now_text else clock.now()
        except ValueError:
            raise click.ClickException("--now must be an ISO 8601 moment, e.g. 2026-11-23T02:00:00+08:00") from None
        with clock.frozen_at(moment):
            run = run_recorded(name, clock.now(), "cli")
        click.echo(json.dumps({"job": name, "now": moment.isoformat(), "counts": run.counts}, ensure_ascii=False))

    @app.cli.command("scheduler")
    @click.option("--poll-seconds", default=5.0, show_default=True, help="how often a follower checks the lead")
    @click.option("--now", "now_text", default=None,
                  help="ISO 8601 moment to hold the clock at (drills and tests; default: the real time)")
    def scheduler(poll_seconds: float, now_text: str | None):
        """The scheduler process: waits for the lead, then runs the jobs until stopped."""
        import signal
        import threading

        from backend import clock
        from scheduled.runner import SCHEDULE, holder_name, run

        if now_text:
            try:
                clock.freeze(clock.parse_moment(now_text))
            except ValueError:
                raise click.ClickException("--now must be an ISO 8601 moment, e.g. 2026-06-10T07:30:00+08:00") from None
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        click.echo(f"scheduler {holder_name()}: " + ", ".join(name for name, _ in SCHEDULE), err=True)
        run(app, stop, poll_seconds)

    @app.cli.command("rotate-keys")
    @click.option("--batch-size", default=500, show_default=True, type=int)
    def rotate_keys(batch_size: int):
        """Re-encrypt personal fields under the newest key of JIAYI_FIELD_KEYS."""
        from backend.security.rotation import rotate_all

        for column, rotated in rotate_all(batch_size).items():
            click.echo(f"{column}: {rotated} re-encrypted")

    @app.cli.command("import")
    @click.argument("kind", type=click.Choice(IMPORT_KINDS))
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="check every row and report, write nothing")
    @click.option("--region-code", default=None, help="the villages the file may name lie in this region (default: all)")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="where the rejected rows go, as CSV (default: FILE.errors.csv)")
    def import_file(kind: str, file: Path, dry_run: bool, region_code: str | None, report_path: Path | None):
        """Import a county's records from an .xlsx or .csv file (a record already on file is skipped)."""
        from backend.imports import service
        from backend.imports.files import SpreadsheetError, estimate_rows

        report_path = report_path or file.with_name(file.name + ".errors.csv")
        _audit_shown_on_stderr()
        # Recorded in import_runs as the API's imports are: who ran it, when, with what result.
        run = service.record_run(kind, file, dry_run=dry_run, region_code=region_code,
                                 actor=f"cli:{getpass.getuser()}")
        try:
            with click.progressbar(length=estimate_rows(file) or 1, label="导入" if not dry_run else "检查",
                                   file=sys.stderr) as bar:
                done = 0

                def progress(read: int) -> None:
                    nonlocal done
                    bar.update(read - done)
                    done = read

                report = service.execute(run.id, file, on_progress=progress)
        except SpreadsheetError as error:
            raise click.ClickException(error.message) from None
        write_report(report, report_path)
        counts = report.counts()
        click.echo(("试运行，未写入任何数据。" if dry_run else "")
                   + f"读取 {counts['read']} 行：导入 {counts['imported']}，已在档 {counts['already_on_file']}，"
                   + f"拒绝 {counts['rejected']}")
        if report.unknown_columns:
            click.echo("未识别的列（已忽略）：" + "、".join(report.unknown_columns))
        click.echo(f"被拒绝的行见 {report_path}")
        click.echo(json.dumps({"kind": kind, "dry_run": dry_run, **counts}, ensure_ascii=False))

    @app.cli.command("import-template")
    @click.argument("kind", type=click.Choice(IMPORT_KINDS))
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path), required=False)
    def import_template(kind: str, path: Path | None):
        """Write the template of a kind of import: .xlsx (with a sheet of allowed values) or .csv."""
        from backend.imports.columns import KINDS
        from backend.imports.template import help_rows, write_template

        path = path or Path(f"{kind}-template.xlsx")
        write_template(kind, path)
        click.echo(f"wrote {path}")
        if path.suffix.lower() == ".csv":  # a CSV has no second sheet: the allowed values are shown here
            for row in help_rows(KINDS[kind])[1:]:
                click.echo("  " + "：".join(row[:1]) + f"（{row[1]}）{row[2]}")

    @app.cli.command("import-demo-files")
    @click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--residents", default=200, show_default=True, type=click.IntRange(1, 100000),
                  help="how many new residents the files hold")
    @click.option("--seed", default=2025, show_default=True, type=int)
    def import_demo_files(directory: Path, residents: int, seed: int):
        """Write files to try `import` on: new residents of the demo county and their records."""
        from backend.imports.demo import FILES, NotLoaded, write_demo_files

        try:
            written = write_demo_files(directory, residents, seed)
        except NotLoaded as error:
            raise click.ClickException(str(error)) from None
        for kind, name in FILES.items():
            click.echo(f"wrote {directory / name}: {written.rows[kind]} 行，其中 {written.bad[kind]} 行有意写错")
        click.echo("按顺序导入（每个文件先加 --dry-run 试运行，查看 文件名.errors.csv；后面的文件要等前面的导入后才能检查）：")
        for kind, name in FILES.items():
            click.echo(f"  flask --app wsgi import {kind} {directory / name} --region-code 220802000000")

    @app.cli.command("rollup")
    @click.option("--full", is_flag=True, help="recompute every kept day, frozen month ends included")
    @click.option("--region-code", default=None, help="only the counties under this region (default: all)")
    def rollup_command(full: bool, region_code: str | None):
        """Bring the statistics' reporting tables up to date (what the scheduler's
        refresh-statistics job does); --full rebuilds them, past months included."""
        from backend.directory.regions import InvalidRegionCode, level_of
        from backend.stats import rollup

        if region_code is not None:
            try:
                level_of(region_code)
            except InvalidRegionCode:
                raise click.ClickException("--region-code must be a 12-digit region code") from None
        counts = rollup.refresh(full=full, region_code=region_code)
        if counts.get("skipped"):
            raise click.ClickException("another refresh of the statistics is running; try again when it ends")
        click.echo(json.dumps(counts, ensure_ascii=False))

    @app.cli.command("openapi")
    @click.option("--check", is_flag=True, help="fail when api_docs/openapi.json differs from the code")
    @click.option("--output", type=click.Path(path_type=Path), default=OPENAPI_FILE, show_default=True)
    def openapi(check: bool, output: Path):
        """Write the OpenAPI description generated from the code."""
        text = openapi_text()
        if check:
            if not output.exists() or output.read_text(encoding="utf-8") != text:
                click.echo(f"{output} is stale: run `flask --app wsgi openapi`", err=True)
                sys.exit(1)
            click.echo(f"{output} is up to date")
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


def write_report(report, path: Path) -> None:
    """The rejected rows (and unknown columns) as CSV for Excel: UTF-8 with a byte-order mark."""
    from backend.imports.report import csv_chunks, lines_of

    with path.open("w", encoding="utf-8", newline="") as out:
        for chunk in csv_chunks(lines_of(report)):
            out.write(chunk)


def _audit_shown_on_stderr() -> None:
    """The import's audit line reaches stderr when nothing configured the audit log (a command
    run by hand has no logging set-up; under a configured set-up its handlers take it)."""
    import logging

    audit = logging.getLogger("jiayi.audit")
    if audit.isEnabledFor(logging.INFO) and audit.hasHandlers():
        return
    audit.setLevel(logging.INFO)
    if not audit.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        audit.addHandler(handler)
