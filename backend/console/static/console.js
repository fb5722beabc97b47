/* 家医监管台: the county console. Reads /api/v1/stats/* with the staff member's token and
 * draws what it gets; it computes no indicator of its own. */
(function () {
  "use strict";

  const API = "/api/v1";
  const TOKEN_KEY = "jiayi.console.token";
  const REFERENCE = 0.65; // national target for standardized management (2025)
  const GROUPS = {
    elderly_65: "65岁及以上老年人", child_0_6: "0-6岁儿童", hypertension: "高血压患者",
    diabetes: "2型糖尿病患者", pregnant: "孕产妇", severe_mental_disorder: "严重精神障碍患者",
    tuberculosis: "肺结核患者", disabled: "残疾人", poverty_relief: "脱贫人口",
    special_family_planning: "计划生育特殊家庭",
  };
  const CSV_KINDS = {
    contracts: { label: "签约覆盖", path: (q) => "/stats/contracts?" + q },
    hypertension: { label: "高血压管理", path: (q) => "/stats/chronic?disease=hypertension&" + q },
    diabetes: { label: "糖尿病管理", path: (q) => "/stats/chronic?disease=diabetes&" + q },
    teams: { label: "团队", path: (q) => "/stats/teams?" + q },
    fulfilment: { label: "履约", path: (q) => "/stats/fulfilment?" + q },
    calls: { label: "电话随访", path: (q) => "/stats/calls?" + callQuery(q) },
  };
  const TRENDS = [
    ["coverage_rate", "签约覆盖率"],
    ["hypertension_standardized_rate", "高血压规范管理率"],
    ["diabetes_standardized_rate", "糖尿病规范管理率"],
  ];

  const $ = (id) => document.getElementById(id);
  const state = { token: sessionStorage.getItem(TOKEN_KEY), path: [], asOf: null, charts: {} };

  // --- formatting -------------------------------------------------------------------------
  const pct = (rate) => (rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%");
  const num = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"));
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    });
    children.forEach((c) => node.append(c));
    return node;
  }

  // --- API ----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || "请求失败（" + status + "）");
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: options.accept || "application/json" }, options.headers);
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const response = await fetch(API + path, Object.assign({}, options, { headers }));
    if (response.status === 401) {
      showLogin("登录已过期，请重新登录");
      throw new ApiError(401, null);
    }
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (e) { /* not JSON */ }
      throw new ApiError(response.status, body);
    }
    return options.accept === "text/csv" ? response.blob() : response.json();
  }

  function callQuery(q) {
    // The 30 days up to the date shown.
    const params = new URLSearchParams(q);
    const to = params.get("as_of");
    params.delete("as_of");
    if (to) {
      const from = new Date(to + "T00:00:00Z");
      from.setUTCDate(from.getUTCDate() - 29);
      params.set("from", from.toISOString().slice(0, 10));
      params.set("to", to);
    }
    return params.toString();
  }

  function query() {
    const current = state.path[state.path.length - 1];
    const params = new URLSearchParams();
    if (current) params.set("region_code", current.code);
    if (state.asOf) params.set("as_of", state.asOf);
    return params.toString();
  }

  // --- log in and out -------------------------------------------------------------------------
  function showLogin(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    $("console").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("username").focus();
  }

  async function logIn(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    $("login-button").disabled = true;
    try {
      const response = await fetch(API + "/auth/staff/login", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username: $("username").value.trim(), password: $("password").value }),
      });
      const body = await response.json().catch(() => null);
      if (!response.ok) {
        const message = response.status === 429 ? "尝试次数过多，请稍后再试"
          : (body && body.message) || "登录失败";
        $("login-error").textContent = message;
        return;
      }
      state.token = body.access_token;
      sessionStorage.setItem(TOKEN_KEY, state.token);
      $("password").value = "";
      await start();
    } finally {
      $("login-button").disabled = false;
    }
  }

  async function start() {
    const me = await api("/me");
    const roles = me.roles || [];
    if (!roles.includes("county_admin") && !roles.includes("institution_admin")) {
      showLogin("该账号没有查看统计的权限（需县级或机构管理员）");
      return;
    }
    $("who").textContent = me.name + (me.institution_name ? "（" + me.institution_name + "）" : "");
    $("login").hidden = true;
    $("console").hidden = false;
    state.path = [];
    state.asOf = null;
    await load();
  }

  // --- loading ----------------------------------------------------------------------------------
  let loading = 0; // only the latest load draws: a slow answer to an earlier click is dropped

  async function load() {
    const mine = ++loading;
    setStatus("正在加载…");
    try {
      const q = query();
      const contracts = await api("/stats/contracts?" + q);
      // The first answer names the region the account sees and the server's today.
      if (!state.path.length) state.path = [contracts.region];
      if (!state.asOf) {
        state.asOf = contracts.as_of;
        $("as-of").value = contracts.as_of;
        $("as-of").max = contracts.as_of;
      }
      const rest = query();
      const month = state.asOf.slice(0, 7);
      const [hypertension, diabetes, teams, fulfilment, calls, ...trends] = await Promise.all([
        api("/stats/chronic?disease=hypertension&" + rest),
        api("/stats/chronic?disease=diabetes&" + rest),
        api("/stats/teams?" + rest),
        api("/stats/fulfilment?" + rest),
        api("/stats/calls?" + callQuery(rest)),
        ...TRENDS.map(([metric]) => api("/stats/trend?metric=" + metric + "&to=" + month +
                                        "&region_code=" + encodeURIComponent(contracts.region.code))),
      ]);
      if (mine !== loading) return;
      render({ contracts, hypertension, diabetes, teams, fulfilment, calls, trends });
      setStatus("数据截至 " + state.asOf + "，" + contracts.region.name + freshness(contracts));
    } catch (error) {
      if (mine === loading && error.status !== 401) setStatus(error.message, true);
    }
  }

  // When the figures were computed: the reporting tables' refresh, or this request (live).
  function freshness(stats) {
    if (stats.source !== "rollup") return "（实时计算）";
    const at = new Date(stats.computed_at).toLocaleString("zh-CN", {
      timeZone: "Asia/Shanghai", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
    });
    return "（统计报表更新于 " + at + "）";
  }

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "status error" : "status";
  }

  // --- drawing ----------------------------------------------------------------------------------
  function render(data) {
    renderBreadcrumb();
    renderCards(data);
    renderGroups(data.contracts);
    renderItems(data.fulfilment);
    renderBars(data);
    renderTrend(data.trends);
    renderTeams(data.teams, data.fulfilment, data.calls);
  }

  function renderBreadcrumb() {
    const nav = $("breadcrumb");
    nav.replaceChildren();
    state.path.forEach((region, i) => {
      if (i) nav.append(el("span", { class: "sep" }, "›"));
      if (i === state.path.length - 1) {
        nav.append(el("span", { class: "current", "data-code": region.code }, region.name));
      } else {
        const link = el("a", { href: "#", "data-code": region.code }, region.name);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          state.path = state.path.slice(0, i + 1);
          load();
        });
        nav.append(link);
      }
    });
  }

  function keyPopulation(groups) {
    // Summed over the groups with a known population (a person may be in several groups).
    let population = 0, contracted = 0;
    Object.values(groups).forEach((g) => {
      if (g.population) { population += g.population; contracted += g.contracted; }
    });
    return { rate: population ? contracted / population : null, population, contracted };
  }

  function card(id, label, rate, detail, reference) {
    const classes = ["card"];
    if (reference !== undefined && rate !== null && rate !== undefined) {
      classes.push(rate >= reference ? "met" : "below");
    }
    return el("div", { class: classes.join(" "), "data-card": id },
      el("div", { class: "label" }, label),
      el("div", { class: "value" }, pct(rate)),
      el("div", { class: "detail" }, detail));
  }

  function renderCards({ contracts, hypertension, diabetes, fulfilment }) {
    const key = keyPopulation(contracts.groups);
    $("cards").replaceChildren(
      card("coverage", "签约覆盖率", contracts.coverage_rate,
           num(contracts.contracted) + " / " + num(contracts.population) + " 人"),
      card("fulfilment", "履约率", fulfilment.fulfilment_rate,
           num(fulfilment.on_track + fulfilment.complete) + " / " + num(fulfilment.contracted) + " 人"),
      card("key", "重点人群签约率", key.rate, num(key.contracted) + " / " + num(key.population) + " 人次"),
      card("renewal", "续约率", contracts.renewal_rate,
           num(contracts.renewed) + " / " + num(contracts.renewal_due) + " 份到期"),
      card("ht-standardized", "高血压规范管理率", hypertension.standardized_rate,
           num(hypertension.standardized) + " / " + num(hypertension.managed) + " 人 · 目标65%", REFERENCE),
      card("ht-controlled", "高血压控制率", hypertension.control_rate,
           num(hypertension.controlled) + " / " + num(hypertension.managed) + " 人"),
      card("dm-standardized", "糖尿病规范管理率", diabetes.standardized_rate,
           num(diabetes.standardized) + " / " + num(diabetes.managed) + " 人 · 目标65%", REFERENCE),
      card("dm-controlled", "糖尿病控制率", diabetes.control_rate,
           num(diabetes.controlled) + " / " + num(diabetes.managed) + " 人"));
  }

  function renderGroups(contracts) {
    const body = $("groups").tBodies[0];
    body.replaceChildren(...Object.keys(GROUPS).filter((g) => contracts.groups[g]).map((g) => {
      const row = contracts.groups[g];
      return el("tr", { "data-group": g },
        el("td", {}, GROUPS[g]), el("td", { class: "num" }, num(row.population)),
        el("td", { class: "num" }, num(row.contracted)), el("td", { class: "num" }, pct(row.rate)));
    }));
  }

  function renderItems(fulfilment) {
    $("items").tBodies[0].replaceChildren(...fulfilment.items.map((i) => el("tr", { "data-item": i.code },
      el("td", {}, i.name), el("td", { class: "num" }, num(i.contracts)),
      el("td", { class: "num" }, num(i.owed_by_today)), el("td", { class: "num" }, num(i.delivered_of_owed_by_today)),
      el("td", { class: "num" }, pct(i.delivery_rate)))));
  }

  function showTab(name) {
    ["groups", "items"].forEach((tab) => {
      $(tab).hidden = tab !== name;
      $("tab-" + tab).classList.toggle("active", tab === name);
      $("tab-" + tab).setAttribute("aria-selected", String(tab === name));
    });
  }

  function chart(id) {
    if (!state.charts[id]) {
      state.charts[id] = echarts.init($(id), null, { renderer: "svg", locale: "ZH" });
      window.addEventListener("resize", () => state.charts[id].resize());
    }
    return state.charts[id];
  }

  const percentAxis = { type: "value", min: 0, max: 1, axisLabel: { formatter: (v) => Math.round(v * 100) + "%" } };
  const referenceLine = {
    silent: true, symbol: "none", lineStyle: { color: "#d9822b", type: "dashed" },
    label: { formatter: "国家目标 65%", color: "#d9822b", position: "insideEndTop" }, data: [{ yAxis: REFERENCE }],
  };

  function renderBars({ contracts, hypertension, diabetes }) {
    const children = contracts.children;
    const level = children.length ? children[0].region.level : null;
    $("bars-title").textContent = level === "village" ? "各村（社区）" : level === "township" ? "各乡镇（街道）" : "各下级区划";
    $("bars-empty").hidden = children.length > 0;
    $("bars").hidden = children.length === 0;
    if (!children.length) return;
    const byCode = (stats) => Object.fromEntries(stats.children.map((c) => [c.region.code, c]));
    const ht = byCode(hypertension), dm = byCode(diabetes);
    const codes = children.map((c) => c.region.code);
    const names = children.map((c) => c.region.name);
    const bars = chart("bars");
    bars.setOption({
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: pct },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 48 },
      xAxis: { type: "category", data: names, triggerEvent: true, axisLabel: { interval: 0, rotate: names.length > 8 ? 30 : 0 } },
      yAxis: percentAxis,
      series: [
        { name: "签约覆盖率", type: "bar", data: children.map((c) => c.coverage_rate) },
        { name: "高血压规范管理率", type: "bar", data: codes.map((c) => ht[c] ? ht[c].standardized_rate : null),
          markLine: referenceLine },
        { name: "糖尿病规范管理率", type: "bar", data: codes.map((c) => dm[c] ? dm[c].standardized_rate : null) },
      ],
    }, true);
    bars.resize(); // it may have been hidden (a village has no children)
    bars.off("click");
    bars.on("click", (params) => {
      const index = params.componentType === "xAxis" ? names.indexOf(params.value) : params.dataIndex;
      if (index >= 0) drillInto(children[index].region);
    });
  }

  function drillInto(region) {
    state.path.push(region);
    load();
  }

  function renderTrend(trends) {
    const months = trends[0] ? trends[0].points.map((p) => p.month) : [];
    chart("trend").setOption({
      animation: false,
      tooltip: { trigger: "axis", valueFormatter: pct },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 28 },
      xAxis: { type: "category", data: months },
      yAxis: percentAxis,
      series: trends.map((t, i) => ({
        name: TRENDS[i][1], type: "line", data: t.points.map((p) => p.value),
        markLine: i === 1 ? referenceLine : undefined,
      })),
    }, true);
  }

  function renderTeams(teams, fulfilment, calls) {
    const body = $("teams").tBodies[0];
    if (!teams.items.length) {
      body.replaceChildren(el("tr", {}, el("td", { colSpan: 8, class: "empty" }, "本区划没有团队")));
      return;
    }
    const rates = Object.fromEntries(fulfilment.teams.map((t) => [t.team.id, t.fulfilment_rate]));
    const called = Object.fromEntries(calls.teams.filter((t) => t.team).map((t) => [t.team.id, t.calls]));
    body.replaceChildren(...teams.items.map((t) => el("tr", { "data-team": t.team.id },
      el("td", {}, t.team.name), el("td", {}, t.institution.name),
      el("td", { class: "num" }, num(t.contracted) + " / " + num(t.capacity)),
      el("td", { class: "num" }, pct(t.utilization_rate)),
      el("td", { class: "num" }, pct(rates[t.team.id])),
      el("td", { class: "num" }, num(t.pending)),
      el("td", { class: "num" }, num(t.overdue_follow_ups)),
      el("td", { class: "num" }, num(called[t.team.id] || 0)))));
  }

  // --- CSV ----------------------------------------------------------------------------------------
  async function download() {
    const kind = CSV_KINDS[$("csv-kind").value];
    try {
      const blob = await api(kind.path(query()), { accept: "text/csv" });
      const region = state.path[state.path.length - 1];
      const link = el("a", { href: URL.createObjectURL(blob),
                             download: region.name + "-" + kind.label + "-" + state.asOf + ".csv" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      if (error.status !== 401) setStatus(error.message, true);
    }
  }

  // --- wiring -------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", logIn);
    $("logout").addEventListener("click", () => showLogin(""));
    $("download").addEventListener("click", download);
    $("tab-groups").addEventListener("click", () => showTab("groups"));
    $("tab-items").addEventListener("click", () => showTab("items"));
    $("as-of").addEventListener("change", () => {
      if ($("as-of").value) { state.asOf = $("as-of").value; load(); }
    });
    if (state.token) start().catch(() => showLogin(""));
    else showLogin("");
  });
})();
