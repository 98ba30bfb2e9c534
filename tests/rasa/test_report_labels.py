"""The pure decision rules behind the ReportClassifier."""
from bot.components.report_labels import (
    ACT,
    CHECK,
    NONE,
    EmergencyThresholds,
    best_incident,
    choose_thresholds,
    decide_category,
    emergency_label,
    emergency_level,
    find_cues,
)


def ranking(dispute: float, incident: float):
    return [{"name": "report_dispute", "confidence": dispute},
            {"name": "report_incident", "confidence": incident}]


PROBS = {"dispute.neighbor": 0.2, "incident.water": 0.7, "incident.facility": 0.05, "none": 0.05}


def test_report_intent_gets_the_best_category_weighted_by_kind():
    decision = decide_category(PROBS, "report_incident", ranking(0.1, 0.9))
    assert (decision.category, decision.kind, decision.intent) == (
        "incident.water", "incident", "report_incident")
    assert 0.5 < decision.confidence <= 1.0


def test_the_category_model_chooses_the_kind_by_default():
    decision = decide_category(PROBS, "report_dispute", ranking(0.98, 0.02))
    assert (decision.category, decision.intent) == ("incident.water", "report_incident")


def test_a_confident_intent_outweighs_a_lukewarm_category_when_weighed():
    decision = decide_category(PROBS, "report_dispute", ranking(0.98, 0.02), kind_weight=1.0)
    assert decision.category == "dispute.neighbor"
    assert decision.intent == "report_dispute"


def test_a_confident_category_corrects_a_hesitant_intent():
    decision = decide_category(PROBS, "report_dispute", ranking(0.55, 0.45), kind_weight=1.0)
    assert decision.category == "incident.water"
    assert decision.intent == "report_incident"


def test_non_report_intents_get_no_category():
    for intent in ("greet", "check_status", "out_of_scope", None):
        decision = decide_category(PROBS, intent, [])
        assert decision.category is None and decision.kind is None


def test_inform_gets_a_category_only_on_strong_evidence():
    assert decide_category(PROBS, "inform", []).category == "incident.water"
    weak = {"incident.water": 0.4, "dispute.neighbor": 0.3, "none": 0.3}
    assert decide_category(weak, "inform", []).category is None


def test_ranking_lists_the_top_three_categories_without_none():
    decision = decide_category(PROBS, "report_incident", ranking(0.1, 0.9))
    assert [c for c, _ in decision.ranking] == ["incident.water", "dispute.neighbor", "incident.facility"]


CUES = ["着火了", "煤气泄漏", "塌了", "拿刀"]


def test_cues_are_found_in_running_text():
    assert find_cues("快来人三楼着火了", CUES) == ["着火了"]
    assert find_cues("他拿刀在楼道里追人，楼上塌了", CUES) == ["拿刀", "塌了"]


def test_worries_and_hypotheticals_are_not_cues():
    for text in ("消防通道堵了，万一着火了消防车进不来", "墙裂了，怕哪天塌了", "要是煤气泄漏怎么办"):
        assert find_cues(text, CUES) == [], text


def test_a_worry_in_an_earlier_clause_does_not_hide_a_real_cue():
    assert find_cues("一直怕出事，现在真的着火了", CUES) == ["着火了"]


T = EmergencyThresholds(act=0.7, check=0.3)


def test_the_model_decides_act_now_and_ask_first():
    assert emergency_level(0.9, 0.95, [], T) == ACT
    assert emergency_level(0.4, 0.5, [], T) == CHECK
    assert emergency_level(0.1, 0.2, [], T) == NONE


def test_a_cue_alone_asks_first_but_never_acts():
    assert emergency_level(0.1, 0.1, ["着火了"], T) == CHECK
    assert emergency_level(0.9, 0.9, ["着火了"], T) == ACT


def test_non_report_intents_are_asked_about_on_a_cue_at_most():
    assert emergency_level(0.9, 0.95, [], T, intent="cancel_report") == NONE
    assert emergency_level(0.1, 0.1, ["着火了"], T, intent="greet") == CHECK
    assert emergency_level(0.9, 0.95, [], T, intent="report_incident") == ACT
    assert emergency_level(0.9, 0.95, [], T, intent="other_request") == ACT
    assert emergency_level(0.9, 0.95, [], T, intent="inform") == ACT


def test_thresholds_keep_false_alarms_rare_and_catch_every_emergency():
    p_act = [0.95, 0.8, 0.5, 0.2, 0.6, 0.3, 0.1, 0.05, 0.02, 0.01]
    p_danger = [0.99, 0.9, 0.8, 0.6, 0.7, 0.5, 0.2, 0.1, 0.05, 0.02]
    levels = [ACT, ACT, ACT, ACT] + [NONE] * 6
    chosen = choose_thresholds(p_act, p_danger, levels, [False] * 10, max_false_act=0.0)
    # no ordinary report acted on: act above the highest ordinary P(act)
    assert chosen.act > 0.6
    # every emergency at least asked about: check at or below the lowest P(danger)
    assert chosen.check <= 0.6
    assert all(a >= chosen.act or d >= chosen.check
               for a, d, level in zip(p_act, p_danger, levels, strict=False) if level == ACT)


def test_a_cue_lets_the_check_threshold_stay_higher():
    p_act = [0.95, 0.2, 0.5, 0.3]
    p_danger = [0.99, 0.1, 0.6, 0.4]
    levels = [ACT, ACT, NONE, NONE]
    without = choose_thresholds(p_act, p_danger, levels, [False] * 4)
    with_cue = choose_thresholds(p_act, p_danger, levels, [False, True, False, False])
    assert without.check <= 0.1 < with_cue.check


def test_training_labels_read_as_levels():
    assert emergency_label(True) == ACT
    assert emergency_label("check") == CHECK
    assert emergency_label(False) == NONE
    assert emergency_label(None) == NONE


def test_a_whole_report_hidden_in_another_intent_becomes_that_report():
    probs = {"request.complaint": 0.8, "dispute.property": 0.1, "none": 0.1}
    decision = decide_category(probs, "cancel_report", [], content_chars=12)
    assert (decision.category, decision.intent) == ("request.complaint", "other_request")
    decision = decide_category(probs, "affirm", [], content_chars=12)
    assert decision.intent == "other_request"


def test_a_real_cancellation_or_a_short_answer_stays():
    cancel = {"request.complaint": 0.2, "none": 0.8}
    assert decide_category(cancel, "cancel_report", [], content_chars=10).intent is None
    assert decide_category(PROBS, "affirm", [], content_chars=2).intent is None
    assert decide_category(PROBS, "check_status", [], content_chars=20).intent is None


def test_requests_are_a_kind_of_their_own():
    probs = {"request.consult": 0.7, "incident.water": 0.2, "none": 0.1}
    ranking3 = [{"name": "other_request", "confidence": 0.8},
                {"name": "report_incident", "confidence": 0.2}]
    decision = decide_category(probs, "other_request", ranking3)
    assert (decision.category, decision.kind, decision.intent) == (
        "request.consult", "request", "other_request")


def test_an_emergency_is_filed_as_the_best_incident():
    probs = {"dispute.family": 0.6, "incident.care": 0.3, "incident.order": 0.05, "none": 0.05}
    assert best_incident(probs) == "incident.care"
    assert best_incident({"dispute.family": 1.0}) is None


def test_past_events_are_not_cues():
    assert find_cues("上个月三楼着火了，现在楼道还是黑的", CUES) == []


def test_a_cancellation_that_names_the_own_report_stays_one():
    probs = {"incident.facility": 0.8, "none": 0.2}
    text = "我刚才报的那个楼道灯的事撤销吧"
    assert decide_category(probs, "cancel_report", [], content_chars=12, text=text).intent is None
    fee = "这种乱收费应该取消"
    assert decide_category(probs, "cancel_report", [], content_chars=8, text=fee).intent == "report_incident"


def test_a_contentless_answer_is_never_acted_on():
    assert emergency_level(0.9, 0.95, [], T, intent="inform", content_chars=3) == NONE
    assert emergency_level(0.9, 0.95, [], T, intent="report_incident", content_chars=3) == ACT
