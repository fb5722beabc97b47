/* zh-CN names of the API's codes (backend/followups/rules.py, backend/fulfilment). */
export const DISEASES = { hypertension: "高血压", diabetes: "2型糖尿病" };
export const CLASSIFICATIONS = {
  controlled: "控制满意", uncontrolled: "控制不满意", adverse_reaction: "药物不良反应", complication: "并发症",
};
export const METHODS = { clinic: "门诊", home: "家庭", phone: "电话", online: "线上", group: "集体活动" };
export const ADHERENCE = { regular: "规律", intermittent: "间断", none: "不服药" };
export const COMPLICATIONS = { none: "无", new: "新发", worse: "加重" };
export const SYMPTOMS = {
  none: "无症状", dizziness: "头晕", headache: "头痛", severe_headache: "剧烈头痛", tinnitus: "耳鸣",
  nosebleed: "鼻出血", chest_pain: "胸痛", palpitation: "心悸", dyspnea: "呼吸困难", limb_numbness: "四肢发麻",
  edema: "下肢水肿", vomiting: "恶心呕吐", blurred_vision: "视物模糊（急）", consciousness_change: "意识改变",
  polydipsia: "多饮", polyuria: "多尿", weight_loss: "体重下降", blurred_vision_mild: "视力模糊",
  infection: "感染", slow_healing: "伤口难愈合", ketone_breath: "呼气有烂苹果味", deep_breathing: "深大呼吸",
  vision_loss: "视力骤降", abdominal_pain: "腹痛",
};
export const SALT = { light: "轻", medium: "中", heavy: "重" };
export const GOOD_FAIR_POOR = { good: "良好", fair: "一般", poor: "差" };
export const HYPOGLYCEMIA = { none: "无", occasional: "偶尔", frequent: "频繁" };
export const PULSES = {
  palpable: "触及正常", weakened_both: "减弱（双侧）", weakened_left: "减弱（左侧）", weakened_right: "减弱（右侧）",
  absent_both: "消失（双侧）", absent_left: "消失（左侧）", absent_right: "消失（右侧）",
};
export const DOSE_UNITS = {
  mg: "mg", g: "g", ug: "μg", ml: "ml", iu: "IU", tablet: "片", capsule: "粒", sachet: "袋",
};
export const ROUTES = {
  oral: "口服", subcutaneous: "皮下注射", intramuscular: "肌内注射", intravenous: "静脉",
  inhaled: "吸入", topical: "外用", sublingual: "舌下",
};
export const CALL_OUTCOMES = {
  reached_will_visit: "答应来诊", reached_declined: "拒绝", no_answer: "无人接听",
  wrong_number: "号码错误", moved_away: "已迁出", died: "已死亡",
};
export const SEX = { male: "男", female: "女" };
export const CONTRACT_STATUS = {
  pending: "待审核", active: "生效中", rejected: "已拒绝", cancelled: "已取消", terminated: "已解约", expired: "已到期",
};
export const FULFILMENT_STATUS = { on_track: "按进度", behind: "落后", complete: "已完成" };
export const GROUPS = {
  elderly_65: "65岁及以上", child_0_6: "0-6岁儿童", hypertension: "高血压", diabetes: "糖尿病",
  pregnant: "孕产妇", severe_mental_disorder: "严重精神障碍", tuberculosis: "肺结核", disabled: "残疾人",
  poverty_relief: "脱贫人口", special_family_planning: "计生特殊家庭",
};
export const KINDS = { follow_up: "随访", service: "服务登记", call: "电话结果" };
