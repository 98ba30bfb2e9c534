"""Checks on the held-out set by writing style (tests/nlu/heldout_styles.yml)
itself, not on a model: it loads as Rasa NLU data, every block is labelled as
notes/labels.md asks, the quotas the set was written to hold, and no example is
an exact or near copy of another. (A comparison with the training data lives
elsewhere.)"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STYLES_FILE = ROOT / "tests" / "nlu" / "heldout_styles.yml"
TAXONOMY = ROOT / "taxonomy.yml"

STYLES = ("chat", "headline", "letter", "transcript", "traditional")
MIN_PER_STYLE = {"chat": 100, "headline": 100, "letter": 70, "transcript": 100, "traditional": 100}
KIND_OF_INTENT = {"report_dispute": "dispute", "report_incident": "incident", "other_request": "request"}
CHAT_TURNS = ("cancel_report", "check_status", "request_human", "greet", "thank")
# emergency -> incident category by the danger (labels.md)
EMERGENCY_CATEGORIES = {"incident.safety", "incident.order", "incident.care", "incident.water"}
CANCEL_WORDS = re.compile("取消|撤销|撤回|撤銷|撤消")
OPENERS = re.compile(r"^(是的|好的|对|對|嗯)")
PUNCT = re.compile(r"[^\w\s]")
FULLWIDTH_ALNUM = re.compile("[０-９Ａ-Ｚａ-ｚ]")
# characters that exist only in simplified writing (their traditional forms differ)
SIMPLIFIED_ONLY = set(
    "个们楼来门镇区没说车县业领请导还电费这恳礼两调开给现时过边经发问学长动关桥帮谢办为"
    "东头让从会员议间钱补点场进坏园报组对邻灯处单条书养块资烟满记题诉协烧话号线医复湾偿"
    "证双岭装销设亲饭墙应务带枫岁担尽刚维盖买转卫换妈积临织绿离断库当乱顶结见黄贴栋涨卖"
    "伤吗红层辆独续规与沟连骂别风赶厕缴联争强难")


def squeeze(text: str) -> str:
    """Text without punctuation, symbols and whitespace (for copy checks)."""
    return re.sub(r"[\W_]+", "", text)


def bigrams(text: str) -> set:
    s = squeeze(text)
    return {s[i:i + 2] for i in range(len(s) - 1)}


@pytest.fixture(scope="module")
def examples():
    from rasa.shared.nlu.constants import METADATA, METADATA_INTENT
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(STYLES_FILE))
    rows = []
    for message in data.intent_examples:
        meta = (message.get(METADATA) or {}).get(METADATA_INTENT) or {}
        rows.append({
            "text": message.get("text"),
            "intent": message.get("intent"),
            "category": meta.get("category"),
            "emergency": meta.get("emergency"),
            "alarming": meta.get("alarming", False),
            "style": meta.get("style"),
            "keys": set(meta),
            "entities": message.get("entities") or [],
        })
    return rows


@pytest.fixture(scope="module")
def raw_lines():
    """Example lines as written (entity markup kept), keyed by style."""
    blocks = yaml.safe_load(STYLES_FILE.read_text(encoding="utf-8"))["nlu"]
    lines = []
    for block in blocks:
        for line in block["examples"].splitlines():
            if line.startswith("- "):
                lines.append((block["metadata"]["style"], block["intent"], line[2:]))
    return lines


@pytest.fixture(scope="module")
def categories():
    return set(yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))["categories"])


def reports(examples):
    return [e for e in examples if e["intent"] in KIND_OF_INTENT]


def test_the_set_loads_and_has_at_least_520_messages(examples, raw_lines):
    assert len(examples) >= 520
    assert len(examples) == len(raw_lines)


def test_every_block_has_style_emergency_and_the_right_category(examples, categories):
    for e in examples:
        assert e["style"] in STYLES, e
        assert e["emergency"] in (True, False), e  # held-out: no `check`
        assert e["keys"] <= {"category", "emergency", "style", "alarming"}, e
        if e["intent"] in KIND_OF_INTENT:
            assert e["category"] in categories, e
            assert e["category"].split(".")[0] == KIND_OF_INTENT[e["intent"]], e
        else:
            assert e["intent"] in CHAT_TURNS, e
            assert e["category"] is None and e["emergency"] is False, e


def test_styles_reach_their_counts(examples):
    per_style = Counter(e["style"] for e in reports(examples))
    for style, least in MIN_PER_STYLE.items():
        assert per_style[style] >= least, (style, per_style[style])


def test_every_category_appears_in_every_style_roughly_balanced(examples, categories):
    for style in STYLES:
        counts = Counter(e["category"] for e in reports(examples) if e["style"] == style)
        assert set(counts) == categories, (style, categories - set(counts))
        assert max(counts.values()) <= 2.5 * min(counts.values()), (style, counts)


def test_other_requests_include_cancel_words_about_fees_and_rules(examples):
    requests = [e for e in examples if e["intent"] == "other_request"]
    assert len(requests) >= 90
    with_cancel = [e for e in requests if CANCEL_WORDS.search(e["text"])]
    assert len(with_cancel) >= 10
    assert {e["category"] for e in with_cancel} <= {"request.complaint", "request.suggest"}
    assert len({e["style"] for e in with_cancel}) == len(STYLES)


def test_emergencies_are_incidents_chosen_by_the_danger(examples):
    emergencies = [e for e in examples if e["emergency"] is True]
    assert len(emergencies) >= 60
    for e in emergencies:
        assert e["intent"] == "report_incident", e
        assert e["category"] in EMERGENCY_CATEGORIES, e
        assert not e["alarming"], e
    assert {e["category"] for e in emergencies} == EMERGENCY_CATEGORIES
    assert {e["style"] for e in emergencies} == set(STYLES)


def test_alarming_non_emergencies_spread_over_styles_and_categories(examples):
    alarming = [e for e in examples if e["alarming"]]
    assert len(alarming) >= 110
    assert all(e["alarming"] is True and e["emergency"] is False for e in alarming)
    assert all(e["intent"] in KIND_OF_INTENT for e in alarming)
    per_style = Counter(e["style"] for e in alarming)
    assert set(per_style) == set(STYLES) and min(per_style.values()) >= 10, per_style
    assert len({e["category"] for e in alarming}) >= 10


def test_openers_and_complaint_headlines(examples, raw_lines):
    openers = [e for e in reports(examples) if OPENERS.match(e["text"])]
    place_first = [line for style, intent, line in raw_lines
                   if intent in KIND_OF_INTENT and line.startswith("[")]
    assert len(openers) + len(place_first) >= 15
    assert len(openers) >= 8 and len(place_first) >= 8
    complaint_headlines = [e for e in examples if e["style"] == "headline"
                           and e["intent"] in ("report_dispute", "report_incident")
                           and e["text"].startswith("投诉")]
    assert len(complaint_headlines) >= 10


def test_chat_has_non_report_turns(examples):
    turns = Counter(e["intent"] for e in examples if e["intent"] in CHAT_TURNS)
    assert set(turns) == set(CHAT_TURNS)
    assert sum(turns.values()) >= 20
    assert all(e["style"] == "chat" for e in examples if e["intent"] in CHAT_TURNS)
    cancels = [e["text"] for e in examples if e["intent"] == "cancel_report"]
    assert all(re.search("撤|取消|销|不用处理", t) for t in cancels)


def test_entities_are_places(examples):
    entities = [ent for e in examples for ent in e["entities"]]
    assert entities and all(ent["entity"] == "location" for ent in entities)
    for e in examples:
        for ent in e["entities"]:
            assert e["text"][ent["start"]:ent["end"]] == ent["value"]


def test_no_exact_duplicates(examples):
    seen = {}
    for e in examples:
        key = squeeze(e["text"])
        assert key not in seen, (seen.get(key), e["text"])
        seen[key] = e["text"]


def test_no_near_copies(examples):
    grams = [(e["text"], bigrams(e["text"])) for e in examples]
    close = []
    for (a, ga), (b, gb) in itertools.combinations(grams, 2):
        if ga and gb and len(ga & gb) / len(ga | gb) >= 0.8:
            close.append((a, b))
    assert not close, close[:5]


def test_transcripts_look_like_speech_recognition(examples, raw_lines):
    lines = [e["text"] for e in examples if e["style"] == "transcript"]
    for text in lines:
        assert not PUNCT.search(text), text
        assert not re.search(r"[0-9０-９]", text), text
        assert not re.search(r"[A-Za-zＡ-Ｚａ-ｚ]", text), text
        assert "  " not in text and text == text.strip(), text
        assert len(text.split(" ")) >= 4, text
    fillers = [t for t in lines if re.search(r"(^| )(那个|就是|嗯|啊|喂)( |$)", t)]
    assert len(fillers) >= 0.8 * len(lines)
    for style, _, line in raw_lines:  # entity markup itself is the only bracket
        if style == "transcript":
            assert not PUNCT.search(re.sub(r"\[[^\]]+\]\(location\)", "", line)), line


def test_letters_are_one_line_formal_letters(examples):
    letters = [e["text"] for e in examples if e["style"] == "letter"]
    for text in letters:
        assert "\n" not in text and "  " not in text, text
        assert text.startswith("尊敬的"), text
        assert " " in text, text  # paragraphs separated by single spaces
        assert len(re.findall("[。！？]", text)) >= 3, text
        assert re.search("此致|敬礼|为盼|谢谢|感谢|答复|盼复|考虑|不胜感激", text[-25:]), text
    with_place = [e for e in examples if e["style"] == "letter"
                  and any(re.search("县.+镇.+村", ent["value"]) for ent in e["entities"])]
    assert len(with_place) == len(letters)


def test_traditional_is_written_in_traditional_characters(examples):
    lines = [e["text"] for e in examples if e["style"] == "traditional"]
    for text in lines:
        assert not SIMPLIFIED_ONLY & set(text), (text, SIMPLIFIED_ONLY & set(text))
    full_width = [t for t in lines if FULLWIDTH_ALNUM.search(t)]
    assert len(full_width) >= 0.25 * len(lines), len(full_width)
