"""Every branch of the national follow-up rules (domain-rules.md), one row each."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from backend.followups.rules import Previous, Thresholds, Visit, classify, counted_pregnant, first_due_on

DAY = date(2026, 5, 1)
IN_14 = DAY + timedelta(days=14)
IN_90 = DAY + timedelta(days=90)
WAS_OK = Previous(on_target=True, adverse_reaction=False)
WAS_HIGH = Previous(on_target=False, adverse_reaction=False)
WAS_ADVERSE = Previous(on_target=True, adverse_reaction=True)


def htn(sbp, dbp, **kw):
    return Visit(disease="hypertension", visited_on=DAY, sbp=sbp, dbp=dbp, **kw)


def dm(fpg, **kw):
    return Visit(disease="diabetes", visited_on=DAY, fasting_glucose=fpg, **kw)


# (name, visit, age, previous, pregnant) -> (classification, refer, urgent, reasons, next due)
CASES = [
    # Hypertension: targets by age
    ("htn controlled under 140/90", htn(138, 88), 50, None, False, ("controlled", False, False, [], IN_90)),
    ("htn 140 systolic is not under target", htn(140, 80), 50, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("htn 90 diastolic is not under target", htn(130, 90), 50, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("htn 148/88 controlled at 70 (target 150/90)", htn(148, 88), 70, None, False, ("controlled", False, False, [], IN_90)),
    ("htn 148/88 uncontrolled at 64", htn(148, 88), 64, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("htn 150/80 uncontrolled at 65", htn(150, 80), 65, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("htn 149/89 controlled from the 65th birthday", htn(149, 89), 65, None, False, ("controlled", False, False, [], IN_90)),
    # Two consecutive
    ("htn uncontrolled after a controlled visit", htn(160, 95), 50, WAS_OK, False, ("uncontrolled", False, False, [], IN_14)),
    ("htn uncontrolled twice: refer", htn(165, 95), 70, WAS_HIGH, False,
     ("uncontrolled", True, False, ["two_consecutive_uncontrolled"], IN_14)),
    ("htn controlled after uncontrolled", htn(130, 80), 50, WAS_HIGH, False, ("controlled", False, False, [], IN_90)),
    ("htn adverse reaction first time", htn(130, 80, adverse_reaction=True), 50, WAS_OK, False,
     ("adverse_reaction", False, False, [], IN_14)),
    ("htn adverse reaction twice: refer", htn(130, 80, adverse_reaction=True), 50, WAS_ADVERSE, False,
     ("adverse_reaction", True, False, ["two_consecutive_adverse_reaction"], IN_14)),
    ("htn new complication: refer", htn(130, 80, complication="new"), 50, None, False,
     ("complication", True, False, ["complication_new"], IN_14)),
    ("htn worse complication: refer", htn(130, 80, complication="worse"), 50, None, False,
     ("complication", True, False, ["complication_worse"], IN_14)),
    # Hypertension urgent referral triggers
    ("htn sbp 180", htn(180, 100), 50, None, False, ("uncontrolled", True, True, ["sbp_ge_180"], IN_14)),
    ("htn sbp 179 is not urgent", htn(179, 100), 50, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("htn dbp 110", htn(170, 110), 50, None, False, ("uncontrolled", True, True, ["dbp_ge_110"], IN_14)),
    ("htn both", htn(200, 120), 50, None, False, ("uncontrolled", True, True, ["sbp_ge_180", "dbp_ge_110"], IN_14)),
    *[(f"htn symptom {s}", htn(130, 80, symptoms=(s,)), 50, None, False,
       ("controlled", True, True, [f"symptom_{s}"], IN_14))
      for s in ("consciousness_change", "severe_headache", "vomiting", "blurred_vision", "chest_pain",
                "palpitation", "dyspnea")],
    ("htn a diabetes symptom is not urgent for hypertension", htn(130, 80, symptoms=("ketone_breath",)), 50, None,
     False, ("controlled", False, False, [], IN_90)),
    ("htn pregnant above 140/90", htn(142, 85), 30, None, True,
     ("uncontrolled", True, True, ["pregnant_bp_gt_140_90"], IN_14)),
    ("htn pregnant diastolic above 90", htn(135, 92), 30, None, True,
     ("uncontrolled", True, True, ["pregnant_bp_gt_140_90"], IN_14)),
    ("htn pregnant at 140/90 exactly is not urgent", htn(140, 90), 30, None, True,
     ("uncontrolled", False, False, [], IN_14)),
    ("htn urgent and second uncontrolled", htn(185, 100), 50, WAS_HIGH, False,
     ("uncontrolled", True, True, ["sbp_ge_180", "two_consecutive_uncontrolled"], IN_14)),
    # Diabetes
    ("dm controlled under 7.0", dm(6.9), 50, None, False, ("controlled", False, False, [], IN_90)),
    ("dm 7.0 is uncontrolled", dm(7.0), 50, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("dm uncontrolled twice: refer", dm(9.2), 50, WAS_HIGH, False,
     ("uncontrolled", True, False, ["two_consecutive_uncontrolled"], IN_14)),
    ("dm adverse twice: refer", dm(6.0, adverse_reaction=True), 50, WAS_ADVERSE, False,
     ("adverse_reaction", True, False, ["two_consecutive_adverse_reaction"], IN_14)),
    ("dm new complication", dm(6.0, complication="new"), 50, None, False,
     ("complication", True, False, ["complication_new"], IN_14)),
    ("dm glucose 16.7", dm(16.7), 50, None, False, ("uncontrolled", True, True, ["glucose_ge_16_7"], IN_14)),
    ("dm glucose 16.6 is not urgent", dm(16.6), 50, None, False, ("uncontrolled", False, False, [], IN_14)),
    ("dm glucose 3.9", dm(3.9), 50, None, False, ("controlled", True, True, ["glucose_le_3_9"], IN_14)),
    ("dm glucose 4.0 is not urgent", dm(4.0), 50, None, False, ("controlled", False, False, [], IN_90)),
    ("dm sbp 180", dm(6.0, sbp=180, dbp=90), 50, None, False, ("controlled", True, True, ["sbp_ge_180"], IN_14)),
    ("dm dbp 110", dm(6.0, sbp=170, dbp=110), 50, None, False, ("controlled", True, True, ["dbp_ge_110"], IN_14)),
    ("dm heart rate 101", dm(6.0, heart_rate=101), 50, None, False,
     ("controlled", True, True, ["heart_rate_gt_100"], IN_14)),
    ("dm heart rate 100 is not urgent", dm(6.0, heart_rate=100), 50, None, False, ("controlled", False, False, [], IN_90)),
    ("dm temperature 39.1", dm(6.0, temperature_c=39.1), 50, None, False,
     ("controlled", True, True, ["temperature_gt_39"], IN_14)),
    ("dm temperature 39.0 is not urgent", dm(6.0, temperature_c=39.0), 50, None, False,
     ("controlled", False, False, [], IN_90)),
    *[(f"dm symptom {s}", dm(6.0, symptoms=(s,)), 50, None, False, ("controlled", True, True, [f"symptom_{s}"], IN_14))
      for s in ("consciousness_change", "ketone_breath", "deep_breathing", "vision_loss", "vomiting",
                "abdominal_pain")],
    ("dm a hypertension symptom is not urgent for diabetes", dm(6.0, symptoms=("chest_pain",)), 50, None, False,
     ("controlled", False, False, [], IN_90)),
    ("dm age does not change the target", dm(7.5), 80, None, False, ("uncontrolled", False, False, [], IN_14)),
]


@pytest.mark.parametrize("visit, age, previous, pregnant, expected",
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_classification(visit, age, previous, pregnant, expected):
    outcome = classify(visit, age, previous, pregnant)
    assert (outcome.classification, outcome.refer, outcome.urgent_referral, outcome.referral_reasons,
            outcome.next_due_on) == expected


@pytest.mark.parametrize("visit, age, previous", [case[1:4] for case in CASES], ids=[case[0] for case in CASES])
@pytest.mark.parametrize("pregnant", [False, True])
def test_an_outcome_shows_the_pregnancy_it_counted(visit, age, previous, pregnant):
    """A stored visit classified again (a late entry before it) takes the pregnancy its outcome
    shows, not today's tags: classified with it, the visit gets the same outcome back."""
    outcome = classify(visit, age, previous, pregnant)
    assert classify(visit, age, previous, counted_pregnant(outcome.referral_reasons)) == outcome


def test_the_controlled_interval_is_configurable():
    outcome = classify(htn(120, 80), 50, None, t=Thresholds(controlled_interval_days=60))
    assert outcome.next_due_on == DAY + timedelta(days=60)


def test_first_visit_is_due_two_weeks_after_registration():
    assert first_due_on(date(2026, 12, 25)) == date(2027, 1, 8)
