"""The statistics as CSV for Excel: UTF-8 with a byte-order mark, Chinese headers, a row per region."""
from __future__ import annotations

import csv
import io

from flask import Response

from backend.directory.models import GROUPS

LEVELS = {"province": "省", "city": "市", "county": "县（区）", "township": "乡镇（街道）", "village": "村（社区）"}
GROUP_NAMES = {
    "elderly_65": "65岁及以上老年人", "child_0_6": "0-6岁儿童", "hypertension": "高血压患者",
    "diabetes": "2型糖尿病患者", "pregnant": "孕产妇", "severe_mental_disorder": "严重精神障碍患者",
    "tuberculosis": "肺结核患者", "disabled": "残疾人", "poverty_relief": "脱贫人口",
    "special_family_planning": "计划生育特殊家庭",
}
DISEASES = {"hypertension": "高血压", "diabetes": "2型糖尿病"}
METRICS = {
    "contracted": "签约人数", "coverage_rate": "签约覆盖率", "renewal_rate": "续约率",
    "hypertension_standardized_rate": "高血压规范管理率", "hypertension_control_rate": "高血压控制率",
    "diabetes_standardized_rate": "糖尿病规范管理率", "diabetes_control_rate": "糖尿病控制率",
}


def _blank(value):
    return "" if value is None else value


def csv_response(header: list[str], rows: list[list], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[_blank(v) for v in row] for row in rows])
    body = "\ufeff" + buffer.getvalue()
    response = Response(body.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    return response


def _region_cells(block: dict) -> list:
    region = block["region"]
    return [region["code"], region["name"], LEVELS[region["level"]]]


def contracts_csv(stats: dict) -> Response:
    header = ["区划代码", "区划名称", "层级", "截至日期", "常住人口", "签约人数", "签约覆盖率"]
    for g in GROUPS:
        name = GROUP_NAMES[g]
        header += [f"{name}人数", f"{name}签约人数", f"{name}签约率"]
    header += ["65岁及以上老年人健康体检人数", "老年人健康管理率", "到期合同数", "已续约数", "续约率"]
    rows = []
    for block in [stats, *stats["children"]]:
        row = _region_cells(block) + [block["as_of"].isoformat(), block["population"], block["contracted"],
                                      block["coverage_rate"]]
        for g in GROUPS:
            group = block["groups"][g]
            row += [group["population"], group["contracted"], group["rate"]]
        row += [block["elderly_health_checked"], block["elderly_health_management_rate"],
                block["renewal_due"], block["renewed"], block["renewal_rate"]]
        rows.append(row)
    return csv_response(header, rows, f"contracts-{stats['region']['code']}-{stats['as_of']}.csv")


def chronic_csv(stats: dict) -> Response:
    header = ["区划代码", "区划名称", "层级", "年度", "截至日期", "病种", "管理人数", "规范管理人数", "规范管理率",
              "控制满意人数", "控制率", "逾期未随访人数", "当年健康体检人数"]
    rows = [_region_cells(b) + [b["year"], b["as_of"].isoformat(), DISEASES[b["disease"]], b["managed"],
                                b["standardized"], b["standardized_rate"], b["controlled"], b["control_rate"],
                                b["overdue"], b["health_checked"]]
            for b in [stats, *stats["children"]]]
    return csv_response(header, rows, f"chronic-{stats['disease']}-{stats['region']['code']}-{stats['year']}.csv")


def teams_csv(region: dict, rows: list[dict]) -> Response:
    header = ["团队", "所属机构", "签约人数", "签约上限", "使用率", "待审核签约", "逾期随访"]
    data = [[r["team"]["name"], r["institution"]["name"], r["contracted"], r["capacity"], r["utilization_rate"],
             r["pending"], r["overdue_follow_ups"]] for r in rows]
    return csv_response(header, data, f"teams-{region['code']}.csv")


def trend_csv(series: dict) -> Response:
    header = ["月份", "截至日期", METRICS[series["metric"]]]
    rows = [[p["month"], p["as_of"].isoformat(), p["value"]] for p in series["points"]]
    return csv_response(header, rows, f"trend-{series['metric']}-{series['region']['code']}.csv")


STATUSES = {"contracted": "签约居民", "on_track": "按进度", "complete": "已完成", "behind": "落后",
            "fulfilment_rate": "履约率"}
OUTCOMES = {"reached_will_visit": "答应来诊", "reached_declined": "拒绝", "no_answer": "无人接听",
            "wrong_number": "号码错误", "moved_away": "迁出", "died": "死亡"}


def fulfilment_csv(stats: dict) -> Response:
    """One row per region (the region, then its children), then one per team and one per item."""
    header = ["类别", "代码", "名称", "截至日期", *STATUSES.values()]
    rows = [["区划", *_region_cells(b)[:2], b["as_of"].isoformat(), *(b[k] for k in STATUSES)]
            for b in [stats, *stats["children"]]]
    rows += [["团队", t["team"]["id"], t["team"]["name"], stats["as_of"].isoformat(), *(t[k] for k in STATUSES)]
             for t in stats["teams"]]
    rows.append([])
    rows.append(["服务项目", "项目代码", "项目名称", "签约数", "应提供次数", "截至当日应提供", "已提供",
                 "截至当日已提供", "提供率"])
    rows += [["服务项目", i["code"], i["name"], i["contracts"], i["owed"], i["owed_by_today"], i["delivered"],
              i["delivered_of_owed_by_today"], i["delivery_rate"]] for i in stats["items"]]
    return csv_response(header, rows, f"fulfilment-{stats['region']['code']}-{stats['as_of']}.csv")


def calls_csv(stats: dict) -> Response:
    header = ["团队", "起始日期", "结束日期", "通话次数", *OUTCOMES.values()]
    period = [stats["from"].isoformat(), stats["to"].isoformat()]
    rows = [[t["team"]["name"] if t["team"] else "（未归属团队）", *period, t["calls"],
             *(t["outcomes"][k] for k in OUTCOMES)] for t in stats["teams"]]
    rows.append(["合计", *period, stats["calls"], *(stats["outcomes"][k] for k in OUTCOMES)])
    return csv_response(header, rows, f"calls-{stats['region']['code']}-{stats['from']}-{stats['to']}.csv")
