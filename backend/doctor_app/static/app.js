/* 家医工作台: the family-doctor team's phone app over /api/v1. It computes no rule of its own:
 * classifications, due dates and what a contract owes come from the server. What it adds is the
 * phone's part: the work list and the due residents' cards kept for reading offline, and a queue
 * of entries made on the phone, each with the id made here, sent in order when the network
 * returns (a resend of the same id and body is answered with the stored record, so each entry is
 * stored once). */
import * as store from "./store.js";
import * as forms from "./forms.js";
import * as L from "./labels.js";

const { h } = forms;
const API = "/api/v1";
const RETRY_MS = 30000;
const SENT_KEPT_DAYS = 7;
const $ = (id) => document.getElementById(id);
const state = { session: null, flushing: false, card: null, syncing: false };

// --- small helpers -------------------------------------------------------------------------

function today() {
  // The service's civil date (Asia/Shanghai), as the server reckons "today".
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((n) => n.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const shortDate = (iso) => (iso ? iso.slice(5, 10).replace("-", "月") + "日" : "");
const moment = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "");

function status(text, isError = false) {
  $("status").textContent = text || "";
  $("status").classList.toggle("error", isError);
}

function list(node, items, render, empty) {
  node.replaceChildren(...(items.length ? items.map(render) : [h("li", { class: "empty" }, empty)]));
}

function tokenExpired(token) {
  try {
    const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return payload.exp * 1000 <= Date.now();
  } catch (e) {
    return true;
  }
}

// --- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  /* status 0: no network. body: the API's envelope {code, message, errors}. */
  constructor(status, body) {
    super((body && body.message) || (status ? `请求失败（${status}）` : "无网络连接"));
    this.status = status;
    this.body = body || { code: status ? "http_" + status : "offline", message: this.message };
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (state.session) headers.Authorization = "Bearer " + state.session.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    showNetwork(false);
    throw new ApiError(0, null);
  }
  showNetwork(true);
  let data = null;
  try { data = await response.json(); } catch (e) { /* no JSON body */ }
  if (response.status === 401 && state.session) askPassword();
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

// --- network state -------------------------------------------------------------------------

function showNetwork(online) {
  const net = $("net");
  net.textContent = online ? "在线" : "离线";
  net.classList.toggle("offline", !online);
  net.classList.toggle("online", online);
  $("offline-banner").hidden = online || !state.session;
}

window.addEventListener("online", () => { showNetwork(true); if (state.session) sync(); });
window.addEventListener("offline", () => showNetwork(false));

// --- session -------------------------------------------------------------------------------

async function logIn(username, password) {
  const { data } = await api("/auth/staff/login", { method: "POST", body: { username, password } });
  const session = { token: data.access_token, staff: data.staff, username };
  await store.put("session", session, "current");
  state.session = session;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  $("login-button").disabled = true;
  try {
    await logIn($("username").value.trim(), $("password").value);
    $("password").value = "";
    if (!state.session.staff.roles.includes("doctor") || !state.session.staff.team_ids.length) {
      await store.wipe();
      state.session = null;
      $("login-error").textContent = "此账号不是家庭医生团队成员，无法使用工作台";
      return;
    }
    location.hash = "#today";
    route();
    sync();
  } catch (error) {
    $("login-error").textContent = error.status === 401 ? "用户名或密码错误"
      : error.status === 0 ? "无网络连接：首次登录需要联网" : error.message;
  } finally {
    $("login-button").disabled = false;
  }
});

function askPassword() {
  if (!state.session || !$("relogin").hidden) return;
  $("relogin-username").value = state.session.username;
  $("relogin-password").value = "";
  $("relogin-error").textContent = "";
  $("relogin").hidden = false;
  $("relogin-password").focus();
}

$("relogin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await logIn(state.session.username, $("relogin-password").value);
    $("relogin").hidden = true;
    sync();
  } catch (error) {
    $("relogin-error").textContent = error.status === 401 ? "密码错误" : error.message;
  }
});
$("relogin-later").addEventListener("click", () => { $("relogin").hidden = true; });

$("logout").addEventListener("click", async () => {
  const unsent = (await store.all("queue")).filter((e) => e.status !== "sent").length;
  if (unsent && !confirm(`还有 ${unsent} 条记录没有发送到服务器。退出会把它们从手机上删除，确定退出吗？`)) return;
  await store.wipe();
  state.session = null;
  // A fresh page: nothing shown of the residents stays in the document either.
  location.replace("/app/");
});

// --- syncing: push the queue, then pull the lists and the due residents' cards ------------

async function sync() {
  if (state.syncing || !state.session) return;
  state.syncing = true;
  $("refresh").disabled = true;
  try {
    await flush();
    if (!$("relogin").hidden) return;
    status("正在同步…");
    await loadLists();
    status("");
    if (current() === "today") renderToday();
    await prefetchCards();
    // Rounds completed, for whoever waits on one (the browser tests).
    document.body.dataset.syncs = Number(document.body.dataset.syncs || 0) + 1;
  } catch (error) {
    status(error.status === 0 ? "" : "同步失败：" + error.message, error.status !== 0);
  } finally {
    state.syncing = false;
    $("refresh").disabled = false;
    renderQueueBadge();
  }
}

$("refresh").addEventListener("click", () => sync());

async function loadLists() {
  const teams = state.session.staff.team_ids;
  const [overdue, week] = await Promise.all(["overdue", "week"].map((window) =>
    api(`/follow-ups/due?scope=team&window=${window}&page_size=100`)));
  const pending = [];
  const behind = [];
  for (const team of teams) {
    pending.push(...(await api(`/teams/${team}/contracts?status=pending&page_size=100`)).data.items);
    behind.push(...(await api(`/teams/${team}/fulfilment?kind=behind&page_size=100`)).data.items);
  }
  await store.put("lists", {
    loaded_at: new Date().toISOString(), due: [...overdue.data.items, ...week.data.items], pending, behind,
  }, "today");
}

/* The cards of the residents on the due list and the call list, for reading offline. */
async function prefetchCards() {
  const lists = await store.get("lists", "today");
  if (!lists) return;
  const ids = [...new Set(lists.due.map((item) => item.resident.id))];
  const cards = {};
  let done = 0;
  for (const id of ids) {
    try {
      cards[id] = (await api(`/residents/${id}/health-record`)).data;
    } catch (error) {
      if (error.status === 0 || error.status === 401) return; // keep the cards already kept
    }
    done += 1;
    status(`正在保存居民档案以便离线查看（${done}/${ids.length}）`);
  }
  await store.keepCards(cards);
  status(`已保存 ${ids.length} 位待随访居民的档案，离线也可查看`);
}

// --- the queue -----------------------------------------------------------------------------

const PATHS = {
  follow_up: (rid) => `/residents/${rid}/follow-ups`,
  service: (rid) => `/residents/${rid}/services`,
  call: (rid) => `/residents/${rid}/calls`,
};

async function enqueue(kind, resident, body) {
  const entry = {
    id: body.id, kind, resident_id: resident.id, resident_name: resident.name, body,
    status: "waiting", made_at: new Date().toISOString(),
  };
  entry.seq = await store.put("queue", entry);
  renderQueueBadge();
  flush().then(afterFlush);
  return entry;
}

/* Send what waits, oldest first; a refusal (4xx) is kept with its reason to correct, and the
 * next entries go on; no network, an expired login or a server failure stops the round and
 * keeps the rest for the next one. Only one round at a time, across tabs too. */
async function flush() {
  if (!state.session) return 0;
  if (state.flushing) {
    // An entry made during a round goes out in the round after it.
    state.again = true;
    return 0;
  }
  state.flushing = true;
  let sent = 0;
  try {
    const round = () => sendWaiting();
    sent = await (navigator.locks ? navigator.locks.request("jiayi-app-queue", round) : round());
    return sent;
  } finally {
    state.flushing = false;
    renderQueueBadge();
    if (current() === "queue") renderQueue();
    if (state.again) {
      // (whether or not this round sent anything: the entry made during it waits for none)
      state.again = false;
      setTimeout(() => flush().then(afterFlush), 0);
    }
  }
}

async function sendWaiting() {
  if (tokenExpired(state.session.token)) {
    const waiting = (await store.all("queue")).some((e) => e.status === "waiting");
    if (waiting && navigator.onLine) askPassword();
    return 0;
  }
  let sent = 0;
  const seqs = (await store.all("queue")).filter((e) => e.status === "waiting").map((e) => e.seq).sort((a, b) => a - b);
  for (const seq of seqs) {
    const entry = await store.get("queue", seq);
    if (!entry || entry.status !== "waiting") continue;
    try {
      const { data } = await api(PATHS[entry.kind](entry.resident_id), { method: "POST", body: entry.body });
      entry.status = "sent";
      entry.sent_at = new Date().toISOString();
      entry.result = summary(entry.kind, data);
      delete entry.error;
      sent += 1;
    } catch (error) {
      if (error.status === 0 || error.status === 401 || error.status === 429 || error.status >= 500) break;
      entry.status = "refused";
      entry.error = error.body;
    }
    await store.put("queue", entry);
  }
  return sent;
}

function summary(kind, data) {
  if (kind === "follow_up") {
    return { classification: data.classification, refer: data.refer, urgent_referral: data.urgent_referral,
             next_due_on: data.next_due_on };
  }
  return kind === "call" ? { outcome: data.outcome } : { item_code: data.item_code };
}

async function afterFlush(sent) {
  if (sent && navigator.onLine && !state.syncing) {
    // The due list and the cards move with what was recorded.
    try { await loadLists(); await prefetchCards(); status(""); } catch (e) { /* next sync */ }
    if (current() === "today") renderToday();
    if (current() === "card" && state.card) openCard(state.card);
  }
}

setInterval(() => {
  if (state.session && navigator.onLine) flush().then(afterFlush);
}, RETRY_MS);

/* Sent entries stay in view for a week (the server has them), then leave the phone. */
async function forgetOldSent() {
  const before = Date.now() - SENT_KEPT_DAYS * 86400000;
  for (const entry of await store.all("queue")) {
    if (entry.status === "sent" && Date.parse(entry.sent_at) < before) await store.del("queue", entry.seq);
  }
}

async function renderQueueBadge() {
  if (!state.session) return;
  const unsent = (await store.all("queue")).filter((e) => e.status !== "sent").length;
  $("queue-badge").textContent = unsent;
  $("queue-badge").hidden = unsent === 0;
}

function entryTitle(entry) {
  const b = entry.body;
  if (entry.kind === "follow_up") {
    const bp = b.sbp ? ` 血压 ${b.sbp}/${b.dbp}` : "";
    const fpg = b.fasting_glucose ? ` 空腹血糖 ${b.fasting_glucose}` : "";
    return `${L.DISEASES[b.disease]}随访 ${b.visited_on}${bp}${fpg}`;
  }
  if (entry.kind === "call") return `电话：${L.CALL_OUTCOMES[b.outcome]}`;
  return `服务：${b.item_code} ${b.delivered_on}`;
}

function reasonOf(entry) {
  const error = entry.error;
  const lines = [error.message || "服务器拒收"];
  for (const [field, why] of Object.entries(error.errors || {})) {
    lines.push(`${forms.labelOf(FORMS[entry.kind].fields, field)}：${[].concat(why).join("；")}`);
  }
  return lines.join("\n");
}

async function renderQueue() {
  const entries = (await store.all("queue")).sort((a, b) => a.seq - b.seq);
  const row = (entry) => {
    const li = h("li", { "data-entry": entry.id, "data-status": entry.status },
      h("div", { class: "line" }, h("span", { class: "name" }, entry.resident_name),
        h("span", { class: "meta" }, L.KINDS[entry.kind])),
      h("div", { class: "meta" }, entryTitle(entry)));
    if (entry.status === "refused") {
      li.append(h("p", { class: "reason" }, reasonOf(entry)));
      const fix = h("button", { type: "button", class: "fix" }, "修改后重发");
      fix.addEventListener("click", () => { location.hash = `#edit/${entry.seq}`; });
      li.append(h("div", { class: "actions" }, fix));
    } else if (entry.status === "sent" && entry.result) {
      const r = entry.result;
      const text = entry.kind === "follow_up"
        ? `已登记：${L.CLASSIFICATIONS[r.classification] || r.classification}${r.urgent_referral ? "，紧急转诊" : r.refer ? "，建议转诊" : ""}，下次随访 ${r.next_due_on}`
        : "已登记";
      li.append(h("div", { class: "meta result" }, text + " · " + moment(entry.sent_at)));
    } else {
      li.append(h("div", { class: "meta" }, "录入于 " + moment(entry.made_at)));
    }
    return li;
  };
  const of = (s) => entries.filter((e) => e.status === s);
  list($("refused"), of("refused"), row, "没有被退回的记录");
  list($("waiting"), of("waiting"), row, "没有等待发送的记录");
  list($("sent"), of("sent").reverse(), row, "还没有发送过记录");
  $("refused-count").textContent = of("refused").length || "";
  $("waiting-count").textContent = of("waiting").length || "";
  $("sent-count").textContent = of("sent").length || "";
}

$("send-now").addEventListener("click", () => flush().then(afterFlush));

// --- today ---------------------------------------------------------------------------------

function dueText(item) {
  if (item.days_overdue > 0) return `逾期 ${item.days_overdue} 天`;
  return item.due_on === today() ? "今天到期" : shortDate(item.due_on) + "到期";
}

async function renderToday() {
  const staff = state.session.staff;
  $("who").textContent = `${staff.name} · ${staff.institution_name || ""}`;
  const lists = await store.get("lists", "today");
  const queue = await store.all("queue");
  const waitingFor = (rid, disease) => queue.some((e) => e.status !== "sent" && e.resident_id === rid
    && (disease === undefined || e.body.disease === disease));
  if (!lists) {
    $("loaded-at").textContent = navigator.onLine ? "正在加载…" : "手机上还没有保存工作清单，请联网后同步";
    return;
  }
  $("loaded-at").textContent = "清单更新于 " + moment(lists.loaded_at);
  const due = lists.due;
  list($("due"), due, (item) => h("li", { "data-resident": item.resident.id, "data-disease": item.disease },
    h("a", { class: "row", href: "#card/" + item.resident.id },
      h("div", { class: "line" }, h("span", { class: "name" }, item.resident.name),
        h("span", { class: item.days_overdue > 0 ? "meta overdue" : "meta" }, dueText(item))),
      h("div", {},
        h("span", { class: "tag" }, L.DISEASES[item.disease]),
        item.urgent ? h("span", { class: "tag warn" }, "紧急") : "",
        waitingFor(item.resident.id, item.disease) ? h("span", { class: "tag wait" }, "已录入待发送") : "",
        h("span", { class: "meta" }, `${item.resident.region || ""} · ${item.resident.age}岁`)),
      item.last ? h("div", { class: "meta" }, `上次 ${item.last.visited_on}：${L.CLASSIFICATIONS[item.last.classification] || ""}`
        + (item.last.sbp ? ` ${item.last.sbp}/${item.last.dbp}` : "") + (item.last.fasting_glucose ? ` 血糖 ${item.last.fasting_glucose}` : "")) : "")),
  "今天没有待随访的居民");
  $("due-count").textContent = due.length;

  const callItems = [...new Map(due.filter((i) => i.needs_call).map((i) => [i.resident.id, i])).values()];
  list($("calls"), callItems, (item) => {
    const li = h("li", { "data-resident": item.resident.id },
      h("div", { class: "line" }, h("a", { href: "#card/" + item.resident.id, class: "name" }, item.resident.name),
        h("span", { class: "meta" }, `${item.resident.phone || "无电话"}${item.resident.phone_wrong ? "（号码有误）" : ""}`)),
      h("div", { class: "meta" }, `${L.DISEASES[item.disease]} · ${dueText(item)}`
        + (item.last_call ? ` · 上次电话：${L.CALL_OUTCOMES[item.last_call.outcome]}` : "")));
    const actions = h("div", { class: "actions" });
    for (const outcome of ["reached_will_visit", "no_answer", "reached_declined", "wrong_number"]) {
      const button = h("button", { type: "button", class: "secondary", "data-outcome": outcome }, L.CALL_OUTCOMES[outcome]);
      button.addEventListener("click", async () => {
        await enqueue("call", item.resident, { id: uuid(), outcome, called_at: new Date().toISOString() });
        status(`已记录 ${item.resident.name}：${L.CALL_OUTCOMES[outcome]}`);
        li.remove();
      });
      actions.append(button);
    }
    const more = h("a", { href: "#call/" + item.resident.id, class: "meta" }, "其他结果…");
    li.append(actions, more);
    return li;
  }, "没有需要电话通知的居民");
  $("calls-count").textContent = callItems.length;

  list($("pending"), lists.pending, (contract) => {
    const r = contract.resident || {};
    const li = h("li", { "data-contract": contract.id },
      h("div", { class: "line" }, h("span", { class: "name" }, r.name || ""),
        h("span", { class: "meta" }, `${L.SEX[r.sex] || ""} ${r.age ?? ""}岁`)),
      h("div", { class: "meta" }, `${r.region_name || ""} · ${(contract.packages || []).map((p) => p.name).join("、")}`
        + ` · 申请于 ${shortDate(contract.created_at)}`));
    const approve = h("button", { type: "button", class: "approve" }, "审核通过");
    approve.addEventListener("click", async () => {
      approve.disabled = true;
      try {
        await api(`/contracts/${contract.id}/approve`, { method: "POST", body: {} });
        status(`已通过 ${r.name} 的签约申请`);
        lists.pending = lists.pending.filter((c) => c.id !== contract.id);
        await store.put("lists", lists, "today");
        li.remove();
      } catch (error) {
        approve.disabled = false;
        status(error.status === 0 ? "审核需要联网，请联网后再试" : "审核失败：" + error.message, true);
      }
    });
    li.append(h("div", { class: "actions" }, approve));
    return li;
  }, "没有待审核的签约");
  $("pending-count").textContent = lists.pending.length;

  list($("behind"), lists.behind, (item) => h("li", { "data-resident": item.resident.id },
    h("a", { class: "row", href: "#card/" + item.resident.id },
      h("div", { class: "line" }, h("span", { class: "name" }, item.resident.name),
        h("span", { class: "meta" }, `落后 ${item.behind_by} 次`)),
      h("div", { class: "meta" }, `${item.resident.region || ""} · 尚欠：`
        + item.items.filter((i) => i.behind_by > 0).map((i) => `${i.name}${i.behind_by}次`).join("、")))),
  "没有履约落后的居民");
  $("behind-count").textContent = lists.behind.length;
}

// --- search --------------------------------------------------------------------------------

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  $("search-hint").textContent = "";
  let residents;
  try {
    residents = (await api(`/residents?q=${encodeURIComponent(q)}&page_size=50`)).data.items;
  } catch (error) {
    if (error.status !== 0) { $("search-hint").textContent = error.message; return; }
    // Offline: among the cards kept on the phone, by name.
    residents = (await store.all("cards")).map((c) => c.resident).filter((r) => r.name.includes(q));
    $("search-hint").textContent = "离线：只在手机上保存的档案中按姓名查找";
  }
  list($("results"), residents, (r) => h("li", { "data-resident": r.id },
    h("a", { class: "row", href: "#card/" + r.id },
      h("div", { class: "line" }, h("span", { class: "name" }, r.name),
        h("span", { class: "meta" }, `${L.SEX[r.sex] || ""} ${r.age ?? ""}岁`)),
      h("div", { class: "meta" }, `${r.region_name || r.region?.name || ""} · ${r.id_number}`))),
  "没有找到居民（只能查找本团队服务范围内的居民）");
});

// --- the resident card ---------------------------------------------------------------------

async function loadCard(rid) {
  try {
    const card = (await api(`/residents/${rid}/health-record`)).data;
    if (await store.get("cards", rid)) await store.put("cards", card, rid);
    return { card, offline: false };
  } catch (error) {
    if (error.status !== 0) throw error;
    const card = await store.get("cards", rid);
    if (!card) throw new ApiError(0, { message: "离线：手机上没有保存这位居民的档案" });
    return { card, offline: true };
  }
}

async function openCard(rid) {
  state.card = rid;
  const view = $("card");
  view.replaceChildren(h("p", { class: "hint" }, "正在打开…"));
  let loaded;
  try {
    loaded = await loadCard(rid);
  } catch (error) {
    view.replaceChildren(h("p", { class: "error" }, error.message));
    return;
  }
  if (state.card !== rid) return;
  const { card } = loaded;
  const r = card.resident;
  const queue = (await store.all("queue")).filter((e) => e.resident_id === rid && e.status !== "sent");
  // The card keeps the number masked; 拨打 asks the server for it (logged as a read of the
  // resident) and hands it straight to the phone's dialer, never to the phone's storage.
  const phone = r.phone
    ? h("span", {}, r.phone, " ", h("button", { type: "button", class: "secondary small", id: "dial",
      "data-action": "dial", onclick: (event) => dial(rid, event.currentTarget) }, "拨打"))
    : h("span", {}, "无");
  const active = card.conditions.filter((c) => !c.deregistered_on);
  const head = h("div", { class: "card-head", "data-resident": rid },
    h("div", { class: "line" }, h("span", { class: "name" }, r.name),
      h("span", { class: "meta" }, `${L.SEX[r.sex] || ""} ${r.age ?? ""}岁`)),
    h("div", {}, ...card.groups.map((g) => h("span", { class: "tag" }, L.GROUPS[g] || g))),
    h("dl", {},
      h("dt", {}, "身份证"), h("dd", { class: "id-number" }, r.id_number),
      h("dt", {}, "电话"), h("dd", { class: "phone" }, phone),
      h("dt", {}, "住址"), h("dd", {}, [r.region_name, r.address].filter(Boolean).join(" ")),
      h("dt", {}, "签约"), h("dd", {}, card.contract
        ? `${L.CONTRACT_STATUS[card.contract.status]} ${card.contract.start_date || ""}至${card.contract.end_date || ""}`
        : "未签约"),
      h("dt", {}, "慢病"), h("dd", { class: "conditions" }, active.length
        ? active.map((c) => `${L.DISEASES[c.disease]}（下次随访 ${c.next_due_on}）`).join("；") : "无")));
  if (loaded.offline) head.append(h("p", { class: "hint" }, "离线：显示的是手机上保存的档案"));

  const actions = h("div", { class: "card-actions" });
  for (const c of active) {
    actions.append(h("a", { href: `#follow-up/${rid}/${c.disease}` },
      h("button", { type: "button", "data-action": "follow-up-" + c.disease }, `${L.DISEASES[c.disease]}随访`)));
  }
  if (card.fulfilment) {
    actions.append(h("a", { href: "#service/" + rid }, h("button", { type: "button", class: "secondary", "data-action": "service" }, "服务登记")));
  }
  actions.append(h("a", { href: "#call/" + rid }, h("button", { type: "button", class: "secondary", "data-action": "call" }, "电话结果")));

  const waiting = h("ul", { class: "list", id: "card-queue" });
  list(waiting, queue, (e) => h("li", {}, h("span", { class: "tag wait" }, e.status === "refused" ? "被退回" : "待发送"),
    entryTitle(e)), "");
  const visits = h("ul", { class: "list", id: "visits" });
  list(visits, card.follow_ups.slice(0, 6), (f) => h("li", { "data-follow-up": f.id },
    h("div", { class: "line" }, h("span", {}, `${f.visited_on} ${L.DISEASES[f.disease]}`),
      h("span", { class: f.classification === "controlled" ? "tag" : "tag warn" }, L.CLASSIFICATIONS[f.classification])),
    h("div", { class: "meta" }, [f.sbp ? `血压 ${f.sbp}/${f.dbp}` : "", f.fasting_glucose ? `空腹血糖 ${f.fasting_glucose}` : "",
      L.METHODS[f.method], f.urgent_referral ? "紧急转诊" : f.refer ? "建议转诊" : ""].filter(Boolean).join(" · "))),
  "还没有随访记录");
  const owed = h("ul", { class: "list", id: "owed" });
  const items = card.fulfilment ? card.fulfilment.items.filter((i) => i.remaining > 0) : [];
  list(owed, items, (i) => h("li", { "data-item": i.code },
    h("div", { class: "line" }, h("span", {}, i.name), h("span", { class: i.behind_by ? "tag warn" : "tag" },
      i.behind_by ? `落后 ${i.behind_by} 次` : "按进度")),
    h("div", { class: "meta" }, `应提供 ${i.owed} 次，已提供 ${i.delivered} 次，尚欠 ${i.remaining} 次`)),
  card.fulfilment ? "签约服务已全部完成" : "没有生效中的签约");
  const calls = h("ul", { class: "list", id: "calls-made" });
  list(calls, (card.calls || []).slice(0, 3), (c) => h("li", { class: "meta", "data-call": c.id },
    `${moment(c.called_at)} ${L.CALL_OUTCOMES[c.outcome] || c.outcome}`), "没有电话记录");

  view.replaceChildren(head, actions,
    ...(queue.length ? [h("h2", {}, "手机上未发送的记录"), waiting] : []),
    h("h2", {}, "最近随访"), visits,
    h("h2", {}, "签约服务尚欠" + (card.fulfilment ? `（${FULFILMENT_LABEL(card.fulfilment.status)}）` : "")), owed,
    h("h2", {}, "电话记录"), calls);
}

async function dial(rid, button) {
  button.disabled = true;
  try {
    const { data } = await api(`/residents/${rid}/dial`, { method: "POST" });
    const link = h("a", { href: data.tel, id: "dial-link", class: "dial" }, `拨打 ${data.phone}`);
    button.replaceWith(link);
    link.click();
  } catch (error) {
    button.disabled = false;
    status(error.status === 0 ? "离线：联网后才能取号拨打" : error.message, true);
  }
}

const FULFILMENT_LABEL = (s) => L.FULFILMENT_STATUS[s] || s;

// --- the entry forms -----------------------------------------------------------------------

const FORMS = {
  follow_up: { fields: forms.FOLLOW_UP, title: (b) => `${L.DISEASES[b.disease]}患者随访` },
  service: { fields: forms.SERVICE, title: () => "签约服务登记" },
  call: { fields: forms.CALL, title: () => "电话随访结果" },
};

async function residentFor(rid) {
  const card = await store.get("cards", rid);
  if (card) return card;
  try { return (await api(`/residents/${rid}/health-record`)).data; } catch (e) { return null; }
}

/* A new entry (kind, resident, disease) or a refused one to correct (its queue seq). */
async function openForm(kind, rid, disease, seq) {
  let entry = null;
  if (seq !== undefined) {
    entry = await store.get("queue", Number(seq));
    if (!entry) { location.hash = "#queue"; return; }
    kind = entry.kind;
    rid = entry.resident_id;
    disease = entry.body.disease;
  }
  const card = await residentFor(rid);
  const resident = card ? card.resident : { id: rid, name: entry ? entry.resident_name : "" };
  const { fields, title } = FORMS[kind];
  const form = $("entry-form");
  form.replaceChildren();
  form.dataset.kind = kind;
  $("entry-title").textContent = title({ disease });
  $("entry-resident").textContent = `${resident.name}${resident.age ? " · " + resident.age + "岁" : ""}`
    + (entry ? " · 修改被退回的记录" : "");
  if (kind === "service") {
    const services = card && card.fulfilment ? card.fulfilment.items.filter((i) => i.counted_from === "services") : [];
    fields[0].options = Object.fromEntries(services.map((i) => [i.code, `${i.name}（尚欠 ${i.remaining} 次）`]));
  }
  forms.build(form, fields, disease);
  const rest = h("p", { class: "error", id: "entry-error", role: "alert" });
  const save = h("button", { type: "submit", id: "save" }, entry ? "保存并重发" : "保存");
  const cancel = h("button", { type: "button", class: "secondary" }, "取消");
  cancel.addEventListener("click", () => history.back());
  form.append(rest, h("div", { class: "form-buttons" }, cancel, save));
  if (entry) {
    forms.fill(form, fields, entry.body);
    forms.showErrors(form, entry.error && entry.error.errors, rest);
    if (!entry.error.errors) rest.textContent = entry.error.message;
  } else {
    const dated = { follow_up: "visited_on", service: "delivered_on" }[kind];
    if (dated) form.querySelector("#f-" + dated).value = today();
  }
  form.onsubmit = async (event) => {
    event.preventDefault();
    const { body, errors } = forms.read(form, fields, disease);
    if (Object.keys(errors).length) { forms.showErrors(form, errors, rest); return; }
    if (kind === "follow_up") body.disease = disease;
    if (kind === "call") body.called_at = entry ? entry.body.called_at : new Date().toISOString();
    save.disabled = true;
    if (entry) {
      // The server stored nothing under a refused entry's id, so the corrected body may keep it,
      // except when it was refused for holding another body under that id.
      body.id = entry.error && entry.error.code === "id_conflict" ? uuid() : entry.id;
      Object.assign(entry, { id: body.id, body, status: "waiting", corrected_at: new Date().toISOString() });
      delete entry.error;
      await store.put("queue", entry);
      flush().then(afterFlush);
      location.hash = "#queue";
    } else {
      body.id = uuid();
      await enqueue(kind, resident, body);
      status(navigator.onLine ? "已保存，正在发送" : "已保存在手机上，联网后自动发送");
      location.hash = "#card/" + rid;
    }
    save.disabled = false;
  };
}

// --- routing -------------------------------------------------------------------------------

const VIEWS = ["login", "today", "search", "card", "entry", "queue"];

function current() {
  return (location.hash.slice(1).split("/")[0]) || "today";
}

function show(view) {
  for (const name of VIEWS) $(name).hidden = name !== view;
  $("tabs").hidden = view === "login";
  for (const tab of document.querySelectorAll("#tabs a")) tab.classList.toggle("current", tab.dataset.tab === view);
  window.scrollTo(0, 0);
}

async function route() {
  if (!state.session) {
    show("login");
    $("offline-banner").hidden = true;
    return;
  }
  showNetwork(navigator.onLine);
  const [name, a, b] = location.hash.slice(1).split("/");
  if (name === "card" && a) { show("card"); openCard(a); return; }
  state.card = null;
  if (name === "follow-up" && a && b) { show("entry"); openForm("follow_up", a, b); return; }
  if (name === "service" && a) { show("entry"); openForm("service", a); return; }
  if (name === "call" && a) { show("entry"); openForm("call", a); return; }
  if (name === "edit" && a) { show("entry"); openForm(null, null, null, a); return; }
  if (name === "search") { show("search"); return; }
  if (name === "queue") { show("queue"); renderQueue(); return; }
  show("today");
  renderToday();
}

window.addEventListener("hashchange", route);

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => { /* runs without */ });
  }
  state.session = (await store.get("session", "current")) || null;
  await route();
  if (state.session) {
    await forgetOldSent();
    renderQueueBadge();
    if (navigator.onLine) sync();
  }
}

start();
