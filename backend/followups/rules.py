"""Follow-up classification by the national basic public health service specification
(国家基本公共卫生服务规范, 3rd edition): hypertension and type 2 diabetes.

Pure functions: a visit's readings and the previous visit in, the classification, the
referral flags with their reasons and the next due date out. Numbers a county may set
differently live in ``Thresholds``; the defaults are those of domain-rules.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

DISEASES = ("hypertension", "diabetes")
METHODS = ("clinic", "home", "phone", "online")
FACE_TO_FACE = ("clinic", "home")
ADHERENCE = ("regular", "intermittent", "none")
COMPLICATIONS = ("none", "new", "worse")
CLASSIFICATIONS = ("controlled", "uncontrolled", "adverse_reaction", "complication")
# The coded answers of the rest of the national follow-up forms.
SALT = ("light", "medium", "heavy")
GOOD_FAIR_POOR = ("good", "fair", "poor")
HYPOGLYCEMIA = ("none", "occasional", "frequent")
PULSES = ("palpable", "weakened_both", "weakened_left", "weakened_right", "absent_both", "absent_left",
          "absent_right")
DOSE_UNITS = ("mg", "g", "ug", "ml", "iu", "tablet", "capsule", "sachet")
ROUTES = ("oral", "subcutaneous", "intramuscular", "intravenous", "inhaled", "topical", "sublingual")
# Fields of the forms that belong to one disease's form only.
DIABETES_ONLY = ("dorsalis_pedis_pulse", "hypoglycemia", "insulin")

HYPERTENSION_URGENT_SYMPTOMS = ("consciousness_change", "severe_headache", "vomiting", "blurred_vision",
                                "chest_pain", "palpitation", "dyspnea")
DIABETES_URGENT_SYMPTOMS = ("consciousness_change", "ketone_breath", "deep_breathing", "vision_loss",
                            "vomiting", "abdominal_pain")
SYMPTOMS = tuple(dict.fromkeys(HYPERTENSION_URGENT_SYMPTOMS + DIABETES_URGENT_SYMPTOMS + (
    "dizziness", "headache", "tinnitus", "nosebleed", "limb_numbness", "edema", "polydipsia", "polyuria",
    "weight_loss", "blurred_vision_mild", "infection", "slow_healing", "none",
)))


@dataclass(frozen=True)
class Thresholds:
    bp_target: tuple[int, int] = (140, 90)
    bp_target_elderly: tuple[int, int] = (150, 90)
    elderly_age: int = 65
    urgent_sbp: int = 180
    urgent_dbp: int = 110
    pregnant_bp: tuple[int, int] = (140, 90)
    fpg_target: float = 7.0
    urgent_fpg_high: float = 16.7
    urgent_fpg_low: float = 3.9
    urgent_heart_rate: int = 100
    urgent_temperature: float = 39.0
    controlled_interval_days: int = 90
    follow_up_interval_days: int = 14
    first_visit_days: int = 14


DEFAULT = Thresholds()


@dataclass(frozen=True)
class Visit:
    disease: str
    visited_on: date
    sbp: int | None = None
    dbp: int | None = None
    heart_rate: int | None = None
    temperature_c: float | None = None
    fasting_glucose: float | None = None
    adverse_reaction: bool = False
    complication: str = "none"
    symptoms: tuple[str, ...] = ()
    # The doctor referred the patient at this visit (the form's referral section).
    referred: bool = False


@dataclass(frozen=True)
class Previous:
    """What the rules need of the visit before: was it on target, was there an adverse reaction."""

    on_target: bool
    adverse_reaction: bool


@dataclass(frozen=True)
class Outcome:
    classification: str
    on_target: bool
    refer: bool
    urgent_referral: bool
    referral_reasons: list[str] = field(default_factory=list)
    next_due_on: date | None = None


def _fmt(value: float) -> str:
    return str(value).replace(".", "_")


def bp_target(age: int, t: Thresholds = DEFAULT) -> tuple[int, int]:
    return t.bp_target_elderly if age >= t.elderly_age else t.bp_target


def on_target(visit: Visit, age: int, t: Thresholds = DEFAULT) -> bool:
    """Below target: both BP numbers under it (hypertension), fasting glucose under 7.0 (diabetes)."""
    if visit.disease == "hypertension":
        sbp_target, dbp_target = bp_target(age, t)
        return visit.sbp < sbp_target and visit.dbp < dbp_target
    return visit.fasting_glucose < t.fpg_target


def urgent_reasons(visit: Visit, pregnant: bool, t: Thresholds = DEFAULT) -> list[str]:
    reasons = []
    if visit.sbp is not None and visit.sbp >= t.urgent_sbp:
        reasons.append(f"sbp_ge_{t.urgent_sbp}")
    if visit.dbp is not None and visit.dbp >= t.urgent_dbp:
        reasons.append(f"dbp_ge_{t.urgent_dbp}")
    if visit.disease == "hypertension":
        symptoms = HYPERTENSION_URGENT_SYMPTOMS
        high_sbp, high_dbp = t.pregnant_bp
        if pregnant and (visit.sbp > high_sbp or visit.dbp > high_dbp):
            reasons.append(f"pregnant_bp_gt_{high_sbp}_{high_dbp}")
    else:
        symptoms = DIABETES_URGENT_SYMPTOMS
        if visit.fasting_glucose >= t.urgent_fpg_high:
            reasons.append(f"glucose_ge_{_fmt(t.urgent_fpg_high)}")
        if visit.fasting_glucose <= t.urgent_fpg_low:
            reasons.append(f"glucose_le_{_fmt(t.urgent_fpg_low)}")
        if visit.heart_rate is not None and visit.heart_rate > t.urgent_heart_rate:
            reasons.append(f"heart_rate_gt_{t.urgent_heart_rate}")
        if visit.temperature_c is not None and visit.temperature_c > t.urgent_temperature:
            reasons.append(f"temperature_gt_{_fmt(t.urgent_temperature).removesuffix('_0')}")
    reasons += [f"symptom_{s}" for s in visit.symptoms if s in symptoms]
    return reasons


def counted_pregnant(referral_reasons: list[str]) -> bool:
    """Whether an outcome counted the patient as pregnant or breastfeeding: its reasons say so
    whenever that changed it (the pregnancy reason is the only one it adds)."""
    return any(reason.startswith("pregnant_bp_gt_") for reason in referral_reasons)


def classify(visit: Visit, age: int, previous: Previous | None, pregnant: bool = False,
             t: Thresholds = DEFAULT) -> Outcome:
    target = on_target(visit, age, t)
    if visit.complication in ("new", "worse"):
        classification = "complication"
    elif visit.adverse_reaction:
        classification = "adverse_reaction"
    else:
        classification = "controlled" if target else "uncontrolled"

    urgent = urgent_reasons(visit, pregnant, t)
    refer_reasons = []
    if previous is not None and not target and not previous.on_target:
        refer_reasons.append("two_consecutive_uncontrolled")
    if previous is not None and visit.adverse_reaction and previous.adverse_reaction:
        refer_reasons.append("two_consecutive_adverse_reaction")
    if visit.complication in ("new", "worse"):
        refer_reasons.append(f"complication_{visit.complication}")

    interval = t.controlled_interval_days
    # A referral, whether the rules ask for it or the doctor judged it needed, is followed up
    # within two weeks.
    if urgent or refer_reasons or visit.referred or classification != "controlled":
        interval = t.follow_up_interval_days
    return Outcome(
        classification=classification,
        on_target=target,
        refer=bool(urgent or refer_reasons),
        urgent_referral=bool(urgent),
        referral_reasons=urgent + refer_reasons,
        next_due_on=visit.visited_on + timedelta(days=interval),
    )


def bmi(weight_kg: float | None, height_cm: float | None) -> float | None:
    """Body mass index (kg/m²) to one decimal, when both are known."""
    if weight_kg is None or height_cm is None:
        return None
    return round(weight_kg / (height_cm / 100) ** 2, 1)


def first_due_on(registered_on: date, t: Thresholds = DEFAULT) -> date:
    """Right after registration the first visit is due within 14 days."""
    return registered_on + timedelta(days=t.first_visit_days)
