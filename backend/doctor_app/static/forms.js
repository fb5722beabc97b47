/* The entry forms: the national follow-up record (高血压/2型糖尿病患者随访服务记录表) with the
 * fields and ranges of the API's schema (backend/followups/schemas.py), the service delivery
 * and the call outcome. Each form is declared once; building it, reading it back into the API's
 * body, filling it from a queued body and checking it all follow the declaration.
 * What needs the server's clock or records (a visit date not after today, in Asia/Shanghai) is
 * left to the server: a refusal comes back to the queue with its reason, to correct. */
import * as L from "./labels.js";

const int = (low, high) => ({ type: "int", min: low, max: high });
const num = (low, high, step = "0.1") => ({ type: "float", min: low, max: high, step });
const text = (max) => ({ type: "text", max });
const choice = (options) => ({ type: "select", options });
const nowTarget = (field) => [{ ...field, part: "now" }, { ...field, part: "target" }];

const DIABETES = "diabetes";
const HYPERTENSION = "hypertension";

/* name: the body's path ("lifestyle.salt" with part now/target); only: one disease's form. */
export const FOLLOW_UP = [
  { section: "随访" },
  { name: "visited_on", label: "随访日期", type: "date", required: true },
  { name: "method", label: "随访方式", ...choice({ clinic: "门诊", home: "家庭", phone: "电话", online: "线上" }), required: true },
  { section: "症状" },
  { name: "symptoms", label: "症状", type: "checks", options: L.SYMPTOMS, max: 20 },
  { name: "symptoms_other", label: "其他症状", ...text(200) },
  { section: "体征" },
  { name: "sbp", label: "收缩压 mmHg", ...int(50, 300), requiredFor: HYPERTENSION },
  { name: "dbp", label: "舒张压 mmHg", ...int(30, 200), requiredFor: HYPERTENSION },
  { name: "heart_rate", label: "心率 次/分", ...int(20, 250) },
  { name: "weight_kg", label: "体重 kg", ...num(2, 300) },
  { name: "target_weight_kg", label: "目标体重 kg", ...num(2, 300) },
  { name: "height_cm", label: "身高 cm", ...num(40, 250) },
  { name: "temperature_c", label: "体温 ℃", ...num(30, 45) },
  { name: "dorsalis_pedis_pulse", label: "足背动脉搏动", ...choice(L.PULSES), only: DIABETES },
  { name: "other_signs", label: "其他体征", ...text(200) },
  { section: "生活方式指导（目前 / 目标）" },
  { name: "lifestyle.cigarettes_per_day", label: "日吸烟量 支", pair: nowTarget(int(0, 100)) },
  { name: "lifestyle.alcohol_liang_per_day", label: "日饮酒量 两", pair: nowTarget(num(0, 50)) },
  { name: "lifestyle.exercise_times_per_week", label: "运动 次/周", pair: nowTarget(int(0, 21)) },
  { name: "lifestyle.exercise_minutes", label: "运动 分钟/次", pair: nowTarget(int(0, 600)) },
  { name: "lifestyle.salt", label: "摄盐情况", pair: nowTarget(choice(L.SALT)), only: HYPERTENSION },
  { name: "lifestyle.staple_food_g_per_day", label: "主食 克/天", pair: nowTarget(int(0, 2000)), only: DIABETES },
  { name: "lifestyle.psychological_adjustment", label: "心理调整", ...choice(L.GOOD_FAIR_POOR) },
  { name: "lifestyle.compliance", label: "遵医行为", ...choice(L.GOOD_FAIR_POOR) },
  { section: "辅助检查" },
  { name: "fasting_glucose", label: "空腹血糖 mmol/L", ...num(1.0, 40.0), requiredFor: DIABETES },
  { name: "hba1c", label: "糖化血红蛋白 %", ...num(3.0, 20.0) },
  { name: "hba1c_on", label: "糖化血红蛋白检查日期", type: "date" },
  { name: "other_exams", label: "其他检查", ...text(500) },
  { section: "用药与评价" },
  { name: "medication_adherence", label: "服药依从性", ...choice(L.ADHERENCE) },
  { name: "adverse_reaction", label: "药物不良反应", type: "bool" },
  { name: "adverse_reaction_detail", label: "不良反应表现", ...text(200) },
  { name: "hypoglycemia", label: "低血糖反应", ...choice(L.HYPOGLYCEMIA), only: DIABETES },
  { name: "complication", label: "并发症", ...choice(L.COMPLICATIONS), fallback: "none" },
  { name: "medications", label: "用药情况", type: "medications", max: 10 },
  { name: "insulin.type", label: "胰岛素种类", ...text(50), only: DIABETES },
  { name: "insulin.usage", label: "胰岛素用法", ...text(100), only: DIABETES },
  { name: "insulin.units_per_day", label: "胰岛素日用量 单位", ...num(0, 300), only: DIABETES },
  { section: "转诊（填写即建立转诊记录）" },
  { name: "referral.reason", label: "转诊原因", ...text(200) },
  { name: "referral.institution_name", label: "转入机构", ...text(100) },
  { name: "referral.department", label: "科别", ...text(50) },
  { section: "备注" },
  { name: "notes", label: "备注", type: "textarea", max: 2000 },
];

const MEDICATION = [
  { name: "name", label: "药名", ...text(50) },
  { name: "times_per_day", label: "每日次数", ...int(1, 6) },
  { name: "dose", label: "每次剂量", ...num(0, 5000, "any"), exclusiveMin: true },
  { name: "unit", label: "单位", ...choice(L.DOSE_UNITS) },
  { name: "route", label: "途径", ...choice(L.ROUTES) },
];

export const SERVICE = [
  { name: "item_code", label: "服务项目", type: "select", options: {}, required: true },
  { name: "delivered_on", label: "服务日期", type: "date", required: true },
  { name: "method", label: "服务方式", ...choice(L.METHODS), required: true },
  { name: "notes", label: "备注", type: "textarea", max: 500 },
];

export const CALL = [
  { name: "outcome", label: "电话结果", type: "radios", options: L.CALL_OUTCOMES, required: true },
  { name: "notes", label: "备注", type: "textarea", max: 500 },
];

// --- building ------------------------------------------------------------------------------

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-") || k === "for" || k === "aria-label") node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

const inputId = (name, part) => "f-" + name.replace(/\./g, "-") + (part ? "-" + part : "");

function control(field, name, part) {
  const id = inputId(name, part);
  if (field.type === "select") {
    const select = h("select", { id, name: id });
    select.append(h("option", { value: "" }, "—"));
    for (const [code, label] of Object.entries(field.options)) select.append(h("option", { value: code }, label));
    return select;
  }
  if (field.type === "textarea") return h("textarea", { id, name: id, maxLength: field.max, rows: 2 });
  if (field.type === "date") return h("input", { id, name: id, type: "date" });
  if (field.type === "text") return h("input", { id, name: id, maxLength: field.max });
  return h("input", {
    id, name: id, type: "number", inputMode: field.type === "int" ? "numeric" : "decimal",
    step: field.type === "int" ? "1" : field.step, min: field.min, max: field.max,
  });
}

function row(field, disease) {
  const hidden = field.only && field.only !== disease;
  const wrap = h("div", { class: "field", "data-field": field.name, hidden });
  const required = field.required || (field.requiredFor && field.requiredFor === disease);
  const label = h("label", { for: inputId(field.name, field.pair ? "now" : "") }, field.label + (required ? " *" : ""));
  if (field.type === "checks") {
    const box = h("div", { class: "checks", id: inputId(field.name) });
    for (const [code, text] of Object.entries(field.options)) {
      box.append(h("label", { class: "check" }, h("input", { type: "checkbox", value: code, name: field.name }), text));
    }
    wrap.append(h("span", { class: "label" }, field.label), box);
  } else if (field.type === "radios") {
    const box = h("div", { class: "radios", id: inputId(field.name) });
    for (const [code, text] of Object.entries(field.options)) {
      box.append(h("label", { class: "radio" }, h("input", { type: "radio", value: code, name: field.name }), text));
    }
    wrap.append(h("span", { class: "label" }, field.label + " *"), box);
  } else if (field.type === "bool") {
    wrap.append(h("label", { class: "check" }, h("input", { type: "checkbox", id: inputId(field.name) }), field.label));
  } else if (field.type === "medications") {
    const list = h("div", { class: "medications", id: inputId(field.name) });
    const add = h("button", { type: "button", class: "secondary", id: "add-medication" }, "添加药物");
    add.addEventListener("click", () => { if (list.children.length < field.max) list.append(medicationRow()); });
    wrap.append(h("span", { class: "label" }, field.label), list, add);
  } else if (field.pair) {
    wrap.append(label, h("div", { class: "pair" },
      h("span", {}, "目前"), control(field.pair[0], field.name, "now"),
      h("span", {}, "目标"), control(field.pair[1], field.name, "target")));
  } else {
    wrap.append(label, control(field, field.name));
  }
  wrap.append(h("p", { class: "field-error", role: "alert" }));
  return wrap;
}

function medicationRow(values = {}) {
  const line = h("div", { class: "medication" });
  for (const field of MEDICATION) {
    const input = control(field, "medication-" + field.name);
    input.removeAttribute("id");
    input.dataset.part = field.name;
    input.setAttribute("aria-label", field.label);
    input.placeholder = field.label;
    if (values[field.name] !== undefined && values[field.name] !== null) input.value = values[field.name];
    line.append(input);
  }
  const remove = h("button", { type: "button", class: "link" }, "删除");
  remove.addEventListener("click", () => line.remove());
  line.append(remove);
  return line;
}

/* The form's fields into ``form`` (a <form>), for one disease (or none). */
export function build(form, fields, disease) {
  const body = h("div", { class: "fields" });
  for (const field of fields) {
    if (field.section) {
      const only = field.only && field.only !== disease;
      body.append(h("h3", { class: "section", hidden: only }, field.section));
    } else {
      body.append(row(field, disease));
    }
  }
  form.append(body);
}

/* Show only the chosen disease's fields (the diabetes-only ones for diabetes). */
export function showDisease(form, fields, disease) {
  for (const field of fields) {
    if (!field.name) continue;
    const node = form.querySelector(`[data-field="${field.name}"]`);
    node.hidden = Boolean(field.only && field.only !== disease);
    const label = node.querySelector("label[for]");
    if (label && (field.requiredFor || field.required)) {
      label.textContent = field.label + (field.required || (field.requiredFor && field.requiredFor === disease) ? " *" : "");
    }
  }
}

// --- reading and checking ------------------------------------------------------------------

function readValue(field, input) {
  const raw = input.value.trim();
  if (raw === "") return undefined;
  if (field.type === "int") return /^-?\d+$/.test(raw) ? Number(raw) : NaN;
  if (field.type === "float") return Number(raw);
  return raw;
}

function setPath(body, path, value) {
  const parts = path.split(".");
  let node = body;
  for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
  node[parts[parts.length - 1]] = value;
}

function getPath(body, path) {
  return path.split(".").reduce((node, part) => (node == null ? undefined : node[part]), body);
}

function checkNumber(field, value) {
  if (value === undefined) return null;
  if (Number.isNaN(value)) return field.type === "int" ? "应为整数" : "应为数字";
  if (field.exclusiveMin && value <= field.min) return `须大于 ${field.min} 且不超过 ${field.max}`;
  if (value < field.min || value > field.max) return `须在 ${field.min} 到 ${field.max} 之间`;
  return null;
}

/* The API's body from the form, and the problems found ({field path: [why]}); only the fields
 * of the chosen disease's form are read. */
export function read(form, fields, disease) {
  const body = {};
  const errors = {};
  const fail = (name, why) => { (errors[name] = errors[name] || []).push(why); };
  for (const field of fields) {
    if (!field.name || (field.only && field.only !== disease)) continue;
    const required = field.required || (field.requiredFor && field.requiredFor === disease);
    if (field.type === "checks") {
      const codes = [...form.querySelectorAll(`input[name="${field.name}"]:checked`)].map((i) => i.value);
      if (codes.length) body[field.name] = codes;
    } else if (field.type === "radios") {
      const chosen = form.querySelector(`input[name="${field.name}"]:checked`);
      if (chosen) body[field.name] = chosen.value;
      else if (required) fail(field.name, "必填字段");
    } else if (field.type === "bool") {
      body[field.name] = form.querySelector("#" + inputId(field.name)).checked;
    } else if (field.type === "medications") {
      const lines = [];
      for (const line of form.querySelectorAll(".medication")) {
        const medication = {};
        for (const part of MEDICATION) {
          const value = readValue(part, line.querySelector(`[data-part="${part.name}"]`));
          if (value === undefined) continue;
          const why = part.type === "int" || part.type === "float" ? checkNumber(part, value) : null;
          if (why) fail(`${field.name}.${lines.length}.${part.name}`, why);
          medication[part.name] = value;
        }
        if (Object.keys(medication).length === 0) continue;
        if (!medication.name) fail(`${field.name}.${lines.length}.name`, "请填写药名");
        lines.push(medication);
      }
      if (lines.length) body[field.name] = lines;
    } else if (field.pair) {
      for (const [index, part] of ["now", "target"].entries()) {
        const value = readValue(field.pair[index], form.querySelector("#" + inputId(field.name, part)));
        if (value === undefined) continue;
        const why = checkNumber(field.pair[index], value);
        if (field.pair[index].type !== "select" && why) fail(field.name, why);
        setPath(body, `${field.name}.${part}`, value);
      }
    } else {
      const value = readValue(field, form.querySelector("#" + inputId(field.name)));
      if (value === undefined) {
        if (required) fail(field.name, field.requiredFor === HYPERTENSION ? "高血压随访须填写血压"
          : field.requiredFor === DIABETES ? "糖尿病随访须填写空腹血糖" : "必填字段");
        else if (field.fallback) body[field.name] = field.fallback;
        continue;
      }
      if (field.type === "int" || field.type === "float") {
        const why = checkNumber(field, value);
        if (why) fail(field.name, why);
      }
      setPath(body, field.name, value);
    }
  }
  if (body.sbp !== undefined && body.dbp !== undefined && body.dbp >= body.sbp) fail("dbp", "舒张压须低于收缩压");
  if (body.adverse_reaction_detail && !body.adverse_reaction) fail("adverse_reaction_detail", "未勾选药物不良反应时不填写表现");
  if (body.hba1c_on && body.hba1c === undefined) fail("hba1c_on", "未填写糖化血红蛋白时不填写检查日期");
  if (body.insulin && !body.insulin.type) fail("insulin.type", "请填写胰岛素种类");
  if (body.referral && !body.referral.reason) fail("referral.reason", "请填写转诊原因");
  if (body.referral && !body.referral.institution_name) fail("referral.institution_name", "请填写转入机构");
  return { body, errors };
}

/* Fill the form from a body (a queued entry being corrected). */
export function fill(form, fields, body) {
  for (const field of fields) {
    if (!field.name) continue;
    const value = getPath(body, field.name);
    if (value === undefined || value === null) continue;
    if (field.type === "checks") {
      for (const box of form.querySelectorAll(`input[name="${field.name}"]`)) box.checked = value.includes(box.value);
    } else if (field.type === "radios") {
      const box = form.querySelector(`input[name="${field.name}"][value="${value}"]`);
      if (box) box.checked = true;
    } else if (field.type === "bool") {
      form.querySelector("#" + inputId(field.name)).checked = Boolean(value);
    } else if (field.type === "medications") {
      const list = form.querySelector("#" + inputId(field.name));
      for (const medication of value) list.append(medicationRow(medication));
    } else if (field.pair) {
      for (const part of ["now", "target"]) {
        if (value[part] !== undefined && value[part] !== null) form.querySelector("#" + inputId(field.name, part)).value = value[part];
      }
    } else {
      form.querySelector("#" + inputId(field.name)).value = value;
    }
  }
}

/* Show each problem under its field ("medications.0.dose" under the medications); problems
 * of fields the form does not show go to ``rest``. */
export function showErrors(form, errors, rest) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
  const unplaced = [];
  for (const [name, why] of Object.entries(errors || {})) {
    let node = form.querySelector(`[data-field="${name}"]`);
    const parts = name.split(".");
    while (!node && parts.length > 1) {
      parts.pop();
      node = form.querySelector(`[data-field="${parts.join(".")}"]`);
    }
    const text = (Array.isArray(why) ? why : [why]).join("；");
    if (node && !node.hidden) {
      node.classList.add("invalid");
      node.querySelector(".field-error").textContent = text;
    } else {
      unplaced.push(name + "：" + text);
    }
  }
  if (rest) rest.textContent = unplaced.join("\n");
  const first = form.querySelector(".field.invalid");
  if (first) first.scrollIntoView({ block: "center" });
}

/* The form's label for a field path of the API's errors ("lifestyle.salt.now", "medications.0.dose"). */
export function labelOf(fields, path) {
  const field = fields.find((f) => f.name && (path === f.name || path.startsWith(f.name + ".")));
  if (!field) return path;
  const rest = path.slice(field.name.length + 1);
  if (field.type === "medications" && rest) {
    const [index, part] = rest.split(".");
    const named = MEDICATION.find((m) => m.name === part);
    return `${field.label}第${Number(index) + 1}条${named ? " " + named.label : ""}`;
  }
  if (field.pair && rest) return `${field.label}（${rest === "target" ? "目标" : "目前"}）`;
  return field.label;
}
