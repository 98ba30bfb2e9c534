"""矛盾激化风险: the score, its reasons and the level, from threats and the dispute's history."""

from __future__ import annotations

from dataclasses import replace

from integrations.workorders.domain.dispute_risk import DisputeFacts, explain_risk, score_dispute
from integrations.workorders.domain.warning_rules import DisputeRiskRules
from integrations.workorders.domain.warnings import Level

RULES = DisputeRiskRules()
CALM = DisputeFacts(texts=("楼上每天晚上拍球，吵得睡不着",), same_place_disputes=0, reopened=0,
                    co_reporters=0, waited_hours=2.0)


def test_an_ordinary_dispute_scores_nothing():
    s = score_dispute(CALM, RULES)
    assert (s.score, s.reasons, s.level) == (0, (), None)


def test_an_explicit_threat_alone_reaches_the_threshold():
    s = score_dispute(replace(CALM, texts=("楼上又吵，我跟他拼了",)), RULES)
    assert s.score == 60 and s.level is Level.WARNING
    assert [(r.code, r.points, r.text) for r in s.reasons] == [
        ("threat", 60, "描述中有暴力威胁“跟他拼了”")]


def test_a_threat_in_a_later_note_and_a_repeated_place_is_urgent():
    facts = replace(CALM, texts=("楼上漏水到我家", "物业不管，我跟他拼了"), same_place_disputes=2)
    s = score_dispute(facts, RULES)
    assert s.score == 80 and s.level is Level.URGENT
    assert [r.text for r in s.reasons] == ["后续反映中有暴力威胁“跟他拼了”", "同一地点180天内第3次纠纷"]
    assert explain_risk(s, area_name="阳光花园社区", category_name="邻里纠纷", number="12345678") == (
        "阳光花园社区 邻里纠纷 工单12345678 风险分80："
        "后续反映中有暴力威胁“跟他拼了”；同一地点180天内第3次纠纷。")


def test_negated_feared_and_joking_threats_do_not_raise_the_score():
    for text in ("我没想打他", "万一他动手怎么办", "我说要弄死他，开玩笑的"):
        s = score_dispute(replace(CALM, texts=(text,)), RULES)
        assert s.level is None and s.score <= RULES.worry_points, text
    worry = score_dispute(replace(CALM, texts=("怕他会打人",)), RULES)
    assert [(r.code, r.points, r.text) for r in worry.reasons] == [
        ("worry", 10, "居民担心冲突升级（“打人”）")]


def test_several_threats_count_the_strongest_in_full_and_are_capped():
    s = score_dispute(replace(CALM, texts=("他拿刀说要砍死我，还说要烧我家", "他还说不想活了")), RULES)
    assert s.score == RULES.threat_max
    assert {r.code for r in s.reasons} == {"threat", "self_harm"}
    assert sum(r.points for r in s.reasons) == RULES.threat_max
    self_harm = score_dispute(replace(CALM, texts=("我不想活了",)), RULES)
    assert self_harm.reasons[0].text == "描述中有轻生言语“不想活了”"
    assert self_harm.level is Level.WARNING


def test_history_alone_can_reach_the_threshold():
    facts = replace(CALM, same_place_disputes=5, reopened=2, co_reporters=1, waited_hours=30)
    s = score_dispute(facts, RULES)
    assert [(r.code, r.points) for r in s.reasons] == [("repeat", 30), ("reopened", 30),
                                                        ("co_reporters", 5)]
    assert s.score == 65 and s.level is Level.WARNING
    assert "居民评价不满意后已重新办理2次" in [r.text for r in s.reasons]
    assert "另有1位居民反映同一纠纷" in [r.text for r in s.reasons]


def test_waiting_counts_per_full_day_beyond_the_grace():
    assert score_dispute(replace(CALM, waited_hours=71), RULES).score == 0
    waited = score_dispute(replace(CALM, waited_hours=48 + 24 * 2 + 5), RULES)
    assert [(r.code, r.points, r.text) for r in waited.reasons] == [("waiting", 10, "已等待4天仍未办结")]
    assert score_dispute(replace(CALM, waited_hours=24 * 30), RULES).score == RULES.wait_max


def test_the_score_never_passes_100_and_rules_move_the_levels():
    facts = DisputeFacts(texts=("我要弄死他",), same_place_disputes=9, reopened=9, co_reporters=9,
                         waited_hours=24 * 30)
    assert score_dispute(facts, RULES).score == 100
    strict = DisputeRiskRules(threshold=30, urgent_at=40)
    assert score_dispute(replace(CALM, texts=("你给我等着",)), strict).level is Level.WARNING
    assert score_dispute(replace(CALM, texts=("让他好看",)), strict).level is Level.URGENT
    assert explain_risk(score_dispute(CALM, RULES), area_name="阳光社区", category_name="邻里纠纷",
                        number="1") == "阳光社区 邻里纠纷 工单1 风险分0。"
