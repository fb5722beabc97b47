"""The county console in a real browser: Debian's Chromium, driven by Playwright, against the
app served on loopback with the demo county. Screenshots are kept in tests/screenshots/."""
from __future__ import annotations

import os
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser import CHROMIUM, FLAGS
from tests.factories import login, served

SHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "jiayi-demo-2025"

if not os.path.exists(CHROMIUM):
    if os.environ.get("JIAYI_REQUIRE_BROWSER"):
        raise RuntimeError("Chromium is required for the console tests: apt-get install chromium")
    pytest.skip("no Chromium here (.ci/run installs Debian's chromium)", allow_module_level=True)


@pytest.fixture
def server(app):
    """The test's app over real HTTP, with the demo county loaded."""
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    result = app.test_cli_runner().invoke(args=["rollup"])  # as make demo does: the reporting tables
    assert result.exit_code == 0, result.output
    with served(app) as url:
        yield url


@pytest.fixture
def page(server, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                      accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server + "/console/")
        yield page
        assert errors == [], errors
        context.close()
        browser.close()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")


def pct(rate) -> str:
    """As the page writes it: JavaScript's toFixed(1), which rounds an exact half up (90.25 → 90.3)
    where Python's format would round it to even."""
    if rate is None:
        return "—"
    return f"{Decimal(rate * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def card(page, name: str) -> tuple[str, str]:
    node = page.locator(f"[data-card={name}]")
    return node.locator(".value").inner_text(), node.locator(".detail").inner_text()


def shown_region(page) -> str:
    return page.locator("#breadcrumb .current").inner_text()


def expect_figures(page, client, headers, region_code: str) -> dict:
    """The cards show what the API answers for the region."""
    contracts = client.get(f"/api/v1/stats/contracts?region_code={region_code}", headers=headers).get_json()
    chronic = {d: client.get(f"/api/v1/stats/chronic?disease={d}&region_code={region_code}", headers=headers)
               .get_json() for d in ("hypertension", "diabetes")}
    # Locator waits (not wait_for_function, which evaluates a string: the page's CSP forbids that).
    expect(page.locator("#breadcrumb .current")).to_have_attribute("data-code", region_code)
    expect(page.locator("#status")).to_have_text(re.compile(r"^数据截至"))
    # Whether the figures are the reporting tables' (today, month ends) or computed for the page.
    expect(page.locator("#status")).to_contain_text(
        "统计报表更新于" if contracts["source"] == "rollup" else "实时计算")
    assert card(page, "coverage") == (pct(contracts["coverage_rate"]),
                                      f"{contracts['contracted']:,} / {contracts['population']:,} 人")
    assert card(page, "renewal")[0] == pct(contracts["renewal_rate"])
    ht, dm = chronic["hypertension"], chronic["diabetes"]
    assert card(page, "ht-standardized") == (pct(ht["standardized_rate"]),
                                             f"{ht['standardized']:,} / {ht['managed']:,} 人 · 目标65%")
    assert card(page, "ht-controlled")[0] == pct(ht["control_rate"])
    assert card(page, "dm-standardized")[0] == pct(dm["standardized_rate"])
    assert card(page, "dm-controlled")[0] == pct(dm["control_rate"])
    assert page.locator("#groups tr[data-group=elderly_65] td").nth(3).inner_text() == \
        pct(contracts["groups"]["elderly_65"]["rate"])
    fulfilment = client.get(f"/api/v1/stats/fulfilment?region_code={region_code}", headers=headers).get_json()
    assert card(page, "fulfilment") == (
        pct(fulfilment["fulfilment_rate"]),
        f"{fulfilment['on_track'] + fulfilment['complete']:,} / {fulfilment['contracted']:,} 人")
    return contracts


def test_the_county_admin_sees_the_api_figures_drills_to_a_village_and_downloads_the_csv(page, client):
    headers = login(client, "county-admin", PASSWORD)
    log_in(page, "county-admin")
    county = expect_figures(page, client, headers, "220802000000")
    assert shown_region(page) == county["region"]["name"]
    teams = client.get("/api/v1/stats/teams", headers=headers).get_json()["items"]
    assert page.locator("#teams tbody tr").count() == len(teams)
    calls = client.get("/api/v1/stats/calls", headers=headers).get_json()
    shown_calls = sum(int(n) for n in page.locator("#teams tbody tr td:nth-child(8)").all_inner_texts())
    assert shown_calls == sum(t["calls"] for t in calls["teams"] if t["team"]) and shown_calls > 0
    # The second tab of the groups panel: each service item's delivery rate.
    page.click("#tab-items")
    items = client.get("/api/v1/stats/fulfilment", headers=headers).get_json()["items"]
    health_education = next(i for i in items if i["code"] == "health_education")
    assert page.locator("#items tr[data-item=health_education] td").nth(4).inner_text() == \
        pct(health_education["delivery_rate"])
    page.click("#tab-groups")
    page.screenshot(path=str(SHOTS / "console-county.png"))

    # Click the township's label on the bar chart: its villages and teams.
    township = max(county["children"], key=lambda c: c["contracted"])["region"]
    page.locator("#bars text", has_text=township["name"]).first.click()
    figures = expect_figures(page, client, headers, township["code"])
    assert page.locator("#breadcrumb a").all_inner_texts() == [county["region"]["name"]]
    assert page.locator("#bars-title").inner_text() == "各村（社区）"
    page.screenshot(path=str(SHOTS / "console-township.png"))

    village = figures["children"][0]["region"]
    page.locator("#bars text", has_text=village["name"]).first.click()
    expect_figures(page, client, headers, village["code"])
    assert page.locator("#bars-empty").is_visible()
    assert page.locator("#breadcrumb a").all_inner_texts() == [county["region"]["name"], township["name"]]
    page.screenshot(path=str(SHOTS / "console-village.png"))

    # The CSV of what is shown is the API's CSV for the same region and date.
    page.select_option("#csv-kind", "hypertension")
    with page.expect_download() as download:
        page.click("#download")
    saved = download.value.path()
    expected = client.get(f"/api/v1/stats/chronic?disease=hypertension&region_code={village['code']}&as_of="
                          + page.input_value("#as-of"), headers={**headers, "Accept": "text/csv"})
    assert Path(saved).read_bytes() == expected.data
    assert download.value.suggested_filename.endswith(".csv") and village["name"] in download.value.suggested_filename

    page.select_option("#csv-kind", "fulfilment")
    with page.expect_download() as download:
        page.click("#download")
    expected = client.get(f"/api/v1/stats/fulfilment?region_code={village['code']}&as_of="
                          + page.input_value("#as-of"), headers={**headers, "Accept": "text/csv"})
    assert Path(download.value.path()).read_bytes() == expected.data

    # Back up by the breadcrumb.
    page.locator("#breadcrumb a", has_text=county["region"]["name"]).click()
    expect_figures(page, client, headers, "220802000000")


def test_an_earlier_date_shows_the_figures_as_of_that_date(page, client):
    headers = login(client, "county-admin", PASSWORD)
    log_in(page, "county-admin")
    expect_figures(page, client, headers, "220802000000")
    earlier = client.get("/api/v1/stats/contracts?as_of=2026-06-30", headers=headers).get_json()
    page.fill("#as-of", "2026-06-30")
    page.dispatch_event("#as-of", "change")
    expect(page.locator("#status")).to_have_text(re.compile(r"^数据截至 2026-06-30"))
    assert card(page, "coverage")[0] == pct(earlier["coverage_rate"])


def test_wrong_passwords_and_accounts_without_statistics_are_turned_away(page):
    log_in(page, "county-admin", "not-the-password")
    expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
    assert page.locator("#console").is_hidden()

    log_in(page, "t03-doctor1")
    expect(page.locator("#login-error")).to_contain_text("没有查看统计的权限")
    assert page.locator("#console").is_hidden()


def test_a_township_admin_sees_only_its_township(page, client):
    headers = login(client, "t03-admin", PASSWORD)
    own = client.get("/api/v1/stats/contracts", headers=headers).get_json()
    log_in(page, "t03-admin")
    expect_figures(page, client, headers, own["region"]["code"])
    assert page.locator("#breadcrumb a").count() == 0
    page.screenshot(path=str(SHOTS / "console-township-admin.png"))
