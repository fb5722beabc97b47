"""The county console's statistics, as JSON or (Accept: text/csv) as CSV."""
from __future__ import annotations

from datetime import date, timedelta

from flask import request
from flask_smorest import Blueprint

from backend import clock
from backend.auth.principal import current_principal, require
from backend.errors import ValidationFailed
from backend.stats import export, fulfilment, rollup, service
from backend.stats import schemas as s

blp = Blueprint("stats", __name__, description="统计：签约覆盖、续约、慢病规范管理与控制（JSON 或 CSV）")
READERS = ("county_admin", "institution_admin")
CSV_DOC = {"responses": {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}}


def fresh(stats: dict, source) -> dict:
    """The statistics with when and from what they were computed."""
    return {**stats, "computed_at": source.computed_at, "source": source.name}


def answer(stats: dict, to_csv):
    """JSON, or CSV for Excel; the CSV says how fresh it is in its headers."""
    if not wants_csv():
        return stats
    response = to_csv(stats)
    response.headers["X-Computed-At"] = stats["computed_at"].isoformat()
    response.headers["X-Stats-Source"] = stats["source"]
    return response


def wants_csv() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv" \
        and request.accept_mimetypes["text/csv"] > request.accept_mimetypes["application/json"]


def _area(args) -> service.Area:
    principal = current_principal()
    code = args.get("region_code") or service.default_region(principal)
    service.ensure_may_read(principal, code)
    return service.area(code)


def _sources(args):
    """Where each day's figures come from: the reporting tables where they hold the day, or
    (source=live) the records themselves."""
    if args.get("source") == "live":
        return lambda a, days, cells=None: {day: service.Live() for day in days}
    return rollup.sources_for


def _source(args):
    sources = _sources(args)
    return lambda a, day: sources(a, [day])[day]


def _as_of(args) -> date:
    today = clock.today()
    day = args.get("as_of") or today
    if day > today:
        raise ValidationFailed({"as_of": ["不能晚于今天"]})
    return day


@blp.route("/stats/contracts")
@require(*READERS)
@blp.arguments(s.AsOfArgs, location="query")
@blp.response(200, s.ContractStatsSchema)
@blp.doc(**CSV_DOC)
def contract_stats(args):
    """签约覆盖率、重点人群签约率、续约率（含下级区划）"""
    a, day = _area(args), _as_of(args)
    source = _source(args)(a, day)
    return answer(fresh(service.contract_stats(a, day, source), source), export.contracts_csv)


@blp.route("/stats/chronic")
@require(*READERS)
@blp.arguments(s.ChronicArgs, location="query")
@blp.response(200, s.ChronicStatsSchema)
@blp.doc(**CSV_DOC)
def chronic_stats(args):
    """高血压、糖尿病的管理人数、规范管理率、控制率、逾期（含下级区划）"""
    today = clock.today()
    year = args.get("year") or (args["as_of"].year if args.get("as_of") else today.year)
    day = args.get("as_of") or (today if year == today.year else date(year, 12, 31))
    if day.year != year:
        raise ValidationFailed({"as_of": [f"须在 {year} 年内"]})
    if day > today:
        raise ValidationFailed({"year" if "as_of" not in args else "as_of": ["不能晚于今天"]})
    a = _area(args)
    source = _source(args)(a, day)
    return answer(fresh(service.chronic_stats(a, args["disease"], year, day, source), source), export.chronic_csv)


@blp.route("/stats/teams")
@require(*READERS)
@blp.arguments(s.AsOfArgs, location="query")
@blp.response(200, s.TeamStatsSchema)
@blp.doc(**CSV_DOC)
def team_stats(args):
    """各团队：签约人数与上限、待审核签约、逾期随访"""
    a, day = _area(args), _as_of(args)
    region = service.region_ref(a.region)
    source = _source(args)(a, day)
    stats = fresh({"region": region, "as_of": day, "items": service.team_stats(a, day, source)}, source)
    return answer(stats, lambda st: export.teams_csv(region, st["items"]))


@blp.route("/stats/trend")
@require(*READERS)
@blp.arguments(s.TrendArgs, location="query")
@blp.response(200, s.TrendSchema)
@blp.doc(**CSV_DOC)
def trend(args):
    """按月的指标序列（每月末，本月至今天）"""
    today = clock.today()
    last = args.get("to") or today.replace(day=1)
    first = args.get("from_") or date(last.year - 1 if last.month < 12 else last.year, last.month % 12 + 1, 1)
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    if months < 1:
        raise ValidationFailed({"from": ["起始月份不能晚于结束月份"]})
    if months > service.MAX_MONTHS:
        raise ValidationFailed({"from": [f"最多 {service.MAX_MONTHS} 个月"]})
    series = service.trend(_area(args), args["metric"], first, last, today, _sources(args))
    return answer(series, export.trend_csv)


@blp.route("/stats/fulfilment")
@require(*READERS)
@blp.arguments(s.AsOfArgs, location="query")
@blp.response(200, s.FulfilmentStatsSchema)
@blp.doc(**CSV_DOC)
def fulfilment_stats(args):
    """履约率（按进度或已完成的签约居民 ÷ 签约居民）、各服务项目提供率，按下级区划与团队"""
    a, day = _area(args), _as_of(args)
    source = _source(args)(a, day)
    return answer(fresh(fulfilment.fulfilment_stats(a, day, source), source), export.fulfilment_csv)


@blp.route("/stats/calls")
@require(*READERS)
@blp.arguments(s.CallArgs, location="query")
@blp.response(200, s.CallStatsSchema)
@blp.doc(**CSV_DOC)
def call_stats(args):
    """电话随访：各团队通话次数与结果"""
    today = clock.today()
    last = args.get("to") or today
    first = args.get("from_") or last - timedelta(days=29)
    if last > today:
        raise ValidationFailed({"to": ["不能晚于今天"]})
    if first > last:
        raise ValidationFailed({"from": ["起始日期不能晚于结束日期"]})
    if (last - first).days > 366:
        raise ValidationFailed({"from": ["最多一年"]})
    # Calls are counted from the calls themselves: a month's are a few thousand rows per county.
    stats = fresh(fulfilment.call_stats(_area(args), first, last), service.Live())
    return answer(stats, export.calls_csv)
