"""The pure decision rules behind the ReportClassifier."""
from bot.components.report_labels import decide_category, find_cues, is_emergency


def ranking(dispute: float, incident: float):
    return [{"name": "report_dispute", "confidence": dispute},
            {"name": "report_incident", "confidence": incident}]


PROBS = {"dispute.neighbor": 0.2, "incident.water": 0.7, "incident.facility": 0.05, "none": 0.05}


def test_report_intent_gets_the_best_category_weighted_by_kind():
    decision = decide_category(PROBS, "report_incident", ranking(0.1, 0.9))
    assert (decision.category, decision.kind, decision.intent) == (
        "incident.water", "incident", "report_incident")
    assert 0.5 < decision.confidence <= 1.0


def test_a_confident_intent_outweighs_a_lukewarm_category():
    decision = decide_category(PROBS, "report_dispute", ranking(0.98, 0.02))
    assert decision.category == "dispute.neighbor"
    assert decision.intent == "report_dispute"


def test_a_confident_category_corrects_a_hesitant_intent():
    decision = decide_category(PROBS, "report_dispute", ranking(0.55, 0.45))
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


def test_emergency_when_the_model_or_a_cue_says_so():
    assert is_emergency(0.9, [], 0.5)
    assert is_emergency(0.1, ["着火了"], 0.5)
    assert not is_emergency(0.2, [], 0.5)


def test_non_report_intents_are_flagged_only_by_cues():
    assert not is_emergency(0.9, [], 0.5, intent="cancel_report")
    assert is_emergency(0.1, ["着火了"], 0.5, intent="greet")
    assert is_emergency(0.9, [], 0.5, intent="report_incident")
    assert is_emergency(0.9, [], 0.5, intent="inform")


def test_threshold_favours_recall_and_counts_cues():
    from bot.components.report_labels import choose_threshold

    probabilities = [0.9, 0.6, 0.35, 0.3, 0.2, 0.1, 0.05]
    labels = [True, True, True, False, False, False, True]
    judged = [True] * 7
    no_cues = [False] * 7
    # recall-weighted F2 prefers catching the 0.35 emergency at the cost of one false alarm
    assert choose_threshold(probabilities, labels, judged, no_cues) <= 0.35
    # the last emergency is caught by a cue, so the threshold need not drop to 0.05
    cues = [False] * 6 + [True]
    assert 0.05 < choose_threshold(probabilities, labels, judged, cues) <= 0.35
