"""The village doctor's work app (/app/) on a phone-sized Debian Chromium driven by Playwright,
against the app served on loopback with the demo county: offline work, the queue sent once, a
refusal corrected, a second phone of the team, and logout leaving nothing behind. Screenshots
of each screen are kept in tests/screenshots/app-*.png."""
from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from backend import clock
from backend.extensions import db
from backend.followups.models import FollowUp
from backend.fulfilment.models import Call, ServiceDelivery
from tests.browser import CHROMIUM, FLAGS
from tests.factories import login, served

SHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "jiayi-demo-2025"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}

if not os.path.exists(CHROMIUM):
    if os.environ.get("JIAYI_REQUIRE_BROWSER"):
        raise RuntimeError("Chromium is required for the app's browser tests: apt-get install chromium")
    pytest.skip("no Chromium here (.ci/run installs Debian's chromium)", allow_module_level=True)


class Recorder:
    """The app as WSGI, noting every path asked of it, so a test can tell that a page opened
    with no request reaching the server."""

    def __init__(self, app):
        self.app, self.paths, self.lock = app, [], threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.paths.append(environ.get("PATH_INFO", ""))
        return self.app(environ, start_response)


@pytest.fixture
def server(app):
    """The test's app over real HTTP, with the demo county loaded."""
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    recorder = Recorder(app)
    with served(recorder) as url:
        yield url, recorder


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser, server):
    """A new phone: its own context (storage, service worker), at the app's address. Page
    errors of every phone fail the test."""
    url, _ = server
    errors: list[str] = []
    contexts = []

    def open_phone():
        context = browser.new_context(**PHONE)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/app/")
        return context, page

    yield open_phone
    for context in contexts:
        context.close()
    assert errors == [], errors


def log_in(page, username: str = "t03-v1", password: str = PASSWORD) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-button")
    expect(page.locator("#due li[data-resident]").first).to_be_visible()


def until(page, script: str, timeout: float = 15) -> object:
    """Poll a page expression until it is truthy (wait_for_function evaluates a string, which the
    app's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(script)
        if value or time.monotonic() > deadline:
            assert value, script
            return value
        page.wait_for_timeout(100)


def synced(page, rounds: int = 1) -> None:
    """The work list loaded and the due residents' cards kept on the phone, ``rounds`` times
    since the page opened."""
    expect(page.locator("body")).to_have_attribute("data-syncs", str(rounds), timeout=30000)
    expect(page.locator("#status")).to_contain_text("已保存")


def due_items(client, headers) -> list[dict]:
    items = []
    for window in ("overdue", "week"):
        items += client.get(f"/api/v1/follow-ups/due?scope=team&window={window}&page_size=100",
                            headers=headers).get_json()["items"]
    return items


def stored(model, **where) -> list:
    db.session.remove()
    return list(db.session.scalars(sa.select(model).filter_by(**where)))


def fill_follow_up(page, values: dict) -> None:
    for field, value in values.items():
        if field == "method":
            page.select_option("#f-method", value)
        else:
            page.fill(f"#f-{field}", str(value))


def storage_of(page) -> dict:
    """What the phone's browser holds for the app: IndexedDB databases with their stores' record
    counts, Cache Storage entries, web storage."""
    return page.evaluate("""async () => {
        const databases = {};
        for (const info of await indexedDB.databases()) {
            const db = await new Promise((ok, fail) => {
                const request = indexedDB.open(info.name);
                request.onsuccess = () => ok(request.result);
                request.onerror = () => fail(request.error);
            });
            const stores = {};
            for (const name of db.objectStoreNames) {
                stores[name] = await new Promise((ok) => {
                    const request = db.transaction(name).objectStore(name).count();
                    request.onsuccess = () => ok(request.result);
                });
            }
            db.close();
            databases[info.name] = stores;
        }
        const caches_ = {};
        for (const name of await caches.keys()) {
            caches_[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname);
        }
        return {databases, caches: caches_, local: localStorage.length, session: sessionStorage.length};
    }""")


def test_a_day_worked_offline_reaches_the_server_once_and_a_refusal_is_corrected(server, phone, client):
    url, recorder = server
    headers = login(client, "t03-v1", PASSWORD)
    due = due_items(client, headers)
    # A resident with a phone on record, so that the card shows it masked (some have none).
    hypertensive = next(i for i in due if i["disease"] == "hypertension" and i["resident"]["phone"])
    diabetic = next(i for i in due if i["disease"] == "diabetes" and i["resident"]["id"] != hypertensive["resident"]["id"])
    called = next(i for i in due if i["resident"]["id"] not in (hypertensive["resident"]["id"], diabetic["resident"]["id"]))
    ht_id, dm_id, call_id = (i["resident"]["id"] for i in (hypertensive, diabetic, called))
    before = {rid: len(stored(FollowUp, resident_id=rid)) for rid in (ht_id, dm_id)}
    calls_before = {c.id for c in stored(Call, resident_id=call_id)}

    # The second phone of the team logs in first, and keeps the list and cards as they are now.
    other_context, other = phone()
    log_in(other, "t03-doctor1")
    synced(other)

    context, page = phone()
    page.screenshot(path=str(SHOTS / "app-login.png"))
    log_in(page)
    synced(page)
    assert until(page, "navigator.serviceWorker.ready.then(() => !!navigator.serviceWorker.controller)")
    assert page.locator(f"#due li[data-resident='{ht_id}']").count() >= 1
    page.screenshot(path=str(SHOTS / "app-today.png"))

    # No network: the app opens from the phone, shell and list, and nothing reaches the server.
    context.set_offline(True)
    asked = len(recorder.paths)
    page.reload()
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.locator(f"#due li[data-resident='{ht_id}']").first).to_be_visible()
    expect(page.locator("#net")).to_have_text("离线")
    page.screenshot(path=str(SHOTS / "app-offline.png"))

    # The hypertension card, read from the phone.
    page.locator(f"#due li[data-resident='{ht_id}'][data-disease=hypertension] a").first.click()
    expect(page.locator(".card-head")).to_contain_text(hypertensive["resident"]["name"])
    id_number = page.locator(".card-head .id-number").inner_text()
    assert len(id_number) == 18 and id_number[6:14] == "********"
    assert "*" in page.locator(".card-head .phone").inner_text()
    page.screenshot(path=str(SHOTS / "app-card.png"), full_page=True)
    page.click("[data-action=follow-up-hypertension]")
    assert page.locator("[data-field=dorsalis_pedis_pulse]").is_hidden()
    assert page.locator("[data-field=hypoglycemia]").is_hidden()
    fill_follow_up(page, {"method": "home", "sbp": 128, "dbp": 78, "heart_rate": 72})
    page.click("#save")
    expect(page.locator(".card-head")).to_be_visible()
    expect(page.locator("#card-queue")).to_contain_text("待发送")

    # The diabetes visit, dated tomorrow by mistake: the server is the one to refuse it.
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    page.goto(f"{url}/app/#follow-up/{dm_id}/diabetes")
    expect(page.locator("#f-fasting_glucose")).to_be_visible()
    assert page.locator("[data-field=dorsalis_pedis_pulse]").is_visible()
    assert page.locator("[data-field=hypoglycemia]").is_visible()
    fill_follow_up(page, {"visited_on": tomorrow, "method": "clinic", "fasting_glucose": 9.1})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "app-follow-up-form.png"))
    page.click("#save")
    expect(page.locator(".card-head")).to_be_visible()

    # A call outcome.
    page.goto(f"{url}/app/#call/{call_id}")
    page.check("input[name=outcome][value=no_answer]")
    page.fill("#f-notes", "下午再打")
    page.click("#save")
    expect(page.locator(".card-head")).to_be_visible()

    page.click("#tabs a[data-tab=queue]")
    expect(page.locator("#waiting li[data-status=waiting]")).to_have_count(3)
    # Offline emulation holds for the page and for the service worker's own fetches (the shell
    # came from its cache); only Chromium's update check of the worker script itself, made by the
    # browser outside the emulated conditions, may still get through.
    assert [p for p in recorder.paths[asked:] if p != "/app/sw.js"] == []

    # The network returns: the queue goes out on its own, in order; the future date comes back.
    context.set_offline(False)
    expect(page.locator("#sent li[data-status=sent]")).to_have_count(2, timeout=20000)
    refused = page.locator("#refused li[data-status=refused]")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("随访日期不能晚于今天")
    page.screenshot(path=str(SHOTS / "app-queue.png"), full_page=True)

    refused.locator("button.fix").click()
    expect(page.locator("[data-field=visited_on] .field-error")).to_contain_text("随访日期不能晚于今天")
    assert page.input_value("#f-fasting_glucose") == "9.1"
    page.fill("#f-visited_on", clock.today().isoformat())
    page.click("#save")
    expect(page.locator("#sent li[data-status=sent]")).to_have_count(3, timeout=20000)
    expect(page.locator("#refused li[data-status=refused]")).to_have_count(0)
    expect(page.locator("#waiting li[data-status=waiting]")).to_have_count(0)

    # Each entry on the server once, classified by the server's rules.
    queued = {e["kind"]: e for e in page.evaluate("""() => new Promise((ok) => {
        const open = indexedDB.open("jiayi-app");
        open.onsuccess = () => {
            const request = open.result.transaction("queue").objectStore("queue").getAll();
            request.onsuccess = () => { ok(request.result); open.result.close(); };
        };
    })""") if e["kind"] != "follow_up" or e["body"]["disease"] == "hypertension"}
    visits = {rid: stored(FollowUp, resident_id=rid) for rid in (ht_id, dm_id)}
    assert {rid: len(v) for rid, v in visits.items()} == {rid: n + 1 for rid, n in before.items()}
    ht_visit = next(v for v in visits[ht_id] if v.id == queued["follow_up"]["id"])
    assert (ht_visit.classification, ht_visit.sbp, ht_visit.dbp) == ("controlled", 128, 78)
    dm_visit = max(visits[dm_id], key=lambda v: v.created_at)
    assert (dm_visit.classification, dm_visit.fasting_glucose, dm_visit.visited_on) == \
        ("uncontrolled", 9.1, clock.today())
    calls = [c for c in stored(Call, resident_id=call_id) if c.id not in calls_before]
    assert [(c.id, c.outcome, c.notes) for c in calls] == [(queued["call"]["id"], "no_answer", "下午再打")]
    sent = page.locator("#sent li[data-status=sent] .result")
    expect(sent.filter(has_text="控制满意")).to_have_count(1)
    expect(sent.filter(has_text="控制不满意")).to_have_count(1)

    # The second phone syncs: the visited residents have left its due list, and the called one's
    # card, kept for reading offline, holds the call.
    other.click("#tabs a[data-tab=today]")
    other.click("#refresh")
    synced(other, 2)
    expect(other.locator(f"#due li[data-resident='{ht_id}']")).to_have_count(0)
    other_context.set_offline(True)
    other.goto(f"{url}/app/#card/{call_id}")
    expect(other.locator(".card-head")).to_contain_text("离线")
    expect(other.locator(f"#calls-made li[data-call='{calls[0].id}']")).to_contain_text("无人接听")
    other_context.set_offline(False)
    other.goto(f"{url}/app/#card/{ht_id}")
    expect(other.locator(f"#visits li[data-follow-up='{ht_visit.id}']")).to_contain_text("控制满意")

    # Logging out leaves no resident data on the phone: the shell's cache only.
    names = [hypertensive["resident"]["name"], diabetic["resident"]["name"], called["resident"]["name"]]
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    left = storage_of(page)
    assert all(sum(stores.values()) == 0 for stores in left["databases"].values()), left
    assert list(left["caches"]) and all(name.startswith("jiayi-app-shell-") for name in left["caches"]), left
    assert not any(path.startswith("/api/") for paths in left["caches"].values() for path in paths), left
    assert (left["local"], left["session"]) == (0, 0)
    text = page.content()
    assert not any(name in text for name in names)
    page.reload()
    expect(page.locator("#login")).to_be_visible()


def test_a_login_that_expired_offline_asks_for_the_password_and_the_queue_waits(server, phone, client, app):
    url, _ = server
    headers = login(client, "t03-v1", PASSWORD)
    resident = due_items(client, headers)[0]["resident"]
    earlier = {c.id for c in stored(Call, resident_id=resident["id"])}

    def new_calls(outcome):
        return [c for c in stored(Call, resident_id=resident["id"], outcome=outcome) if c.id not in earlier]

    # Tokens of this phone's first login live 20 seconds.
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=20)
    context, page = phone()
    logged_in_at = time.monotonic()
    log_in(page)
    app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(hours=2)
    synced(page)

    context.set_offline(True)
    page.goto(f"{url}/app/#call/{resident['id']}")
    page.check("input[name=outcome][value=reached_will_visit]")
    page.click("#save")
    expect(page.locator(".card-head")).to_be_visible()

    # Logging out with an entry unsent asks first; saying no keeps everything.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#logout")
    page.click("#tabs a[data-tab=queue]")
    expect(page.locator("#waiting li[data-status=waiting]")).to_have_count(1)

    page.wait_for_timeout(max(0, 21 - (time.monotonic() - logged_in_at)) * 1000)
    context.set_offline(False)
    expect(page.locator("#relogin")).to_be_visible(timeout=15000)
    expect(page.locator("#relogin-username")).to_have_value("t03-v1")
    expect(page.locator("#waiting li[data-status=waiting]")).to_have_count(1)
    assert new_calls("reached_will_visit") == []
    page.fill("#relogin-password", "not-the-password")
    page.click("#relogin-button")
    expect(page.locator("#relogin-error")).to_have_text("密码错误")
    page.fill("#relogin-password", PASSWORD)
    page.click("#relogin-button")
    expect(page.locator("#relogin")).to_be_hidden()
    expect(page.locator("#sent li[data-status=sent]")).to_have_count(1, timeout=20000)
    assert len(new_calls("reached_will_visit")) == 1

    # An entry still unsent when the doctor insists on logging out is discarded with the rest.
    context.set_offline(True)
    page.goto(f"{url}/app/#call/{resident['id']}")
    page.check("input[name=outcome][value=reached_declined]")
    page.click("#save")
    expect(page.locator(".card-head")).to_be_visible()
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    assert "1 条记录没有发送" in asked[0]
    left = storage_of(page)
    assert all(sum(stores.values()) == 0 for stores in left["databases"].values()), left
    context.set_offline(False)
    assert new_calls("reached_declined") == []


def test_the_shell_is_served_revalidated_under_a_policy_that_allows_only_its_own_files(client):
    page = client.get("/app/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-cache"
    policy = page.headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "worker-src 'self'", "manifest-src 'self'",
                      "connect-src 'self'"):
        assert directive in policy
    assert "unsafe" not in policy and "http" not in policy
    assert client.get("/app").headers["Location"].endswith("/app/")
    worker = client.get("/app/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Cache-Control"] == "no-cache"
    manifest = client.get("/app/manifest.webmanifest")
    assert manifest.mimetype == "application/manifest+json"
    app_manifest = manifest.get_json(force=True)
    assert (app_manifest["scope"], app_manifest["start_url"], app_manifest["lang"]) == ("/app/", "/app/", "zh-CN")
    sizes = set()
    for icon in app_manifest["icons"]:
        answer = client.get(icon["src"])
        assert answer.status_code == 200 and answer.data.startswith(b"\x89PNG")
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
    # Every file the worker keeps for offline use is there; nothing of the API is among them.
    shell = worker.get_data(as_text=True).split("const SHELL = [")[1].split("];")[0]
    paths = [line.strip().strip('",') for line in shell.splitlines() if line.strip().startswith('"')]
    assert paths and not any(p.startswith("/api/") for p in paths)
    assert all(client.get(p).status_code == 200 for p in paths)
    assert client.get("/app/static/../__init__.py").status_code == 404


def test_a_pending_sign_up_is_approved_and_a_resident_of_the_area_found(server, phone, client):
    from backend.contracts.models import Contract

    headers = login(client, "t03-v1", PASSWORD)
    team_id = client.get("/api/v1/me", headers=headers).get_json()["team_ids"][0]
    pending = client.get(f"/api/v1/teams/{team_id}/contracts?status=pending", headers=headers).get_json()["items"]
    assert pending, "the demo team has sign-ups to approve"
    _, page = phone()
    log_in(page)
    synced(page)
    row = page.locator(f"#pending li[data-contract='{pending[0]['id']}']")
    expect(row).to_contain_text(pending[0]["resident"]["name"])
    row.locator("button.approve").click()
    expect(row).to_have_count(0)
    approved = stored(Contract, id=pending[0]["id"])[0]
    assert (approved.status, approved.start_date) == ("active", clock.today())

    page.click("#tabs a[data-tab=search]")
    name = pending[0]["resident"]["name"]
    page.fill("#q", name)
    page.click("#search-form button")
    found = page.locator(f"#results li[data-resident='{pending[0]['resident_id']}']")
    expect(found).to_contain_text(name)
    assert "********" in found.inner_text()
    found.locator("a").click()
    expect(page.locator(".card-head")).to_contain_text("生效中")

    # A service of the new contract, recorded online: sent at once, stored once.
    page.click("[data-action=service]")
    # The form is built once the card is read back from the phone's store: wait for its items.
    items = page.locator("#f-item_code option[value]:not([value=''])")
    expect(items.first).to_be_attached()
    item_code = items.first.get_attribute("value")
    page.select_option("#f-item_code", item_code)
    page.select_option("#f-method", "home")
    page.click("#save")
    page.click("#tabs a[data-tab=queue]")
    expect(page.locator("#sent li[data-status=sent]")).to_have_count(1, timeout=20000)
    deliveries = stored(ServiceDelivery, resident_id=pending[0]["resident_id"], item_code=item_code)
    assert [(d.delivered_on, d.method) for d in deliveries] == [(clock.today(), "home")]


def test_the_call_list_shows_unreached_residents_and_a_call_is_dialled_from_the_card(server, phone, client):
    """The call list holds the residents a reminder did not reach; the card shows the number
    masked; 拨打 fetches it for the dialer (a logged read) and the phone does not keep it."""
    from backend.residents.models import Resident
    from backend.security.models import AccessLog

    headers = login(client, "t03-v1", PASSWORD)
    on_list = [i for i in due_items(client, headers) if i["needs_call"]]
    assert on_list, "the demo county has reminders that did not reach their residents"
    target = next(i["resident"] for i in on_list if i["resident"]["phone"])
    _, page = phone()
    log_in(page)
    synced(page)
    row = page.locator(f"#calls li[data-resident='{target['id']}']")
    expect(row).to_contain_text(target["name"])
    assert page.locator("#calls-count").inner_text() == str(len({i["resident"]["id"] for i in on_list}))

    # Dial from the card: the full number goes to the dialer's link only.
    row.locator("a.name").click()
    expect(page.locator(".card-head")).to_contain_text(target["name"])
    assert "*" in page.locator(".card-head .phone").inner_text()
    page.click("#dial")
    resident = stored(Resident, id=target["id"])[0]
    expect(page.locator("#dial-link")).to_have_attribute("href", f"tel:{resident.phone}")
    assert stored(AccessLog, resident_id=target["id"], action="POST /api/v1/residents/{resident_id}/dial")
    kept = page.evaluate("""async () => {
        const db = await new Promise((ok) => { const r = indexedDB.open("jiayi-app"); r.onsuccess = () => ok(r.result); });
        const names = [...db.objectStoreNames];
        const all = [];
        for (const name of names) {
            all.push(...await new Promise((ok) => {
                const r = db.transaction(name).objectStore(name).getAll(); r.onsuccess = () => ok(r.result); }));
        }
        db.close();
        return JSON.stringify(all);
    }""")
    assert resident.phone not in kept  # the number is not kept on the phone

