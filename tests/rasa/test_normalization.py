"""Text normalisation before the tokenizer (bot/components/normalization.py)
and the component that applies it to training examples and messages."""
from __future__ import annotations

import pytest

from bot.components.normalization import looks_like_transcript, normalize


@pytest.mark.parametrize("raw, expected", [
    # traditional characters, Taiwan and Hong Kong forms
    ("樓上天天半夜裝修，吵得睡不著覺", "楼上天天半夜装修，吵得睡不着觉"),
    ("衞生間漏水", "卫生间漏水"),
    ("社區門口的垃圾車沒來", "社区门口的垃圾车没来"),
    # full-width letters and digits; punctuation stays as typed
    ("３號樓ＡＢ棟門口", "3号楼AB栋门口"),
    ("幸福里小区３号楼，路灯坏了！", "幸福里小区3号楼，路灯坏了！"),
    # a speech transcript: the word breaks go, numbers read out become digits
    ("喂 那个 我 家 楼上 漏水 了", "喂那个我家楼上漏水了"),
    ("三 号 楼 二 单元 门口 着火 了", "三号楼二单元门口着火了"),
    ("我 的 电话 是 幺 三 八 一 二 三 四 五 六 七 八", "我的电话是13812345678"),
    ("工单 号 是 七 三 九 二 零 四 一 六", "工单号是73920416"),
    ("3 号 楼 的 灯 坏 了", "3号楼的灯坏了"),
    # typed text keeps its spaces (they separate clauses), collapsed
    ("小区里有个井盖碎了一角  我拿纸箱先挡上了", "小区里有个井盖碎了一角 我拿纸箱先挡上了"),
    ("尊敬的领导：\n\n您好！我是石门村村民。", "尊敬的领导： 您好！我是石门村村民。"),
    # simplified text is left alone
    ("幸福里小区3号楼的路灯坏了，干部说后面着火了", "幸福里小区3号楼的路灯坏了，干部说后面着火了"),
    ("", ""),
])
def test_normalize(raw, expected):
    assert normalize(raw).text == expected


def test_short_numbers_stay_words():
    assert normalize("三 号 楼 五 楼").text == "三号楼五楼"
    assert normalize("一二三四五六").text == "一二三四五六"


def test_transcripts_are_told_from_typed_text():
    assert looks_like_transcript("喂 你好 我 要 反映 个 事")
    assert not looks_like_transcript("路灯坏了 晚上很黑 你们快来")  # long stretches
    assert not looks_like_transcript("喂 你好，我 要 反映")  # punctuation: typed
    assert not looks_like_transcript("hello there my friend")


def test_entity_spans_follow_the_text():
    raw = "喂 那个 幸福 里 小区 三 号 楼 的 电梯 坏 了"
    result = normalize(raw)
    start = raw.index("幸福")
    end = raw.index("楼") + 1
    span = result.span(start, end)
    assert span is not None
    assert result.text[span[0]:span[1]] == "幸福里小区三号楼"


def test_a_span_of_dropped_characters_is_gone():
    result = normalize("喂 你 好 啊")  # a transcript: its spaces go
    assert result.text == "喂你好啊"
    assert result.span(1, 2) is None


def test_the_component_rewrites_training_examples_and_their_entities():
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.components.text_normalizer import TextNormalizer

    text = "喂 幸福 里 小区 電梯 壞 了"
    start, end = text.index("幸福"), text.index("小区") + 2
    example = Message(data={"text": text, "intent": "report_incident", "entities": [
        {"entity": "location", "start": start, "end": end, "value": text[start:end]}]})
    TextNormalizer().process_training_data(TrainingData([example]))
    assert example.get("text") == "喂幸福里小区电梯坏了"
    [entity] = example.get("entities")
    assert (entity["start"], entity["end"], entity["value"]) == (1, 6, "幸福里小区")

    message = Message(data={"text": "３號樓著火了"})
    TextNormalizer().process([message])
    assert message.get("text") == "3号楼着火了"
