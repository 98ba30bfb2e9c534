"""The custom graph components, trained and loaded through Rasa's own storage."""
from __future__ import annotations

import textwrap

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message

from bot.components.entity_assembler import EntityAssembler
from bot.components.report_classifier import ReportClassifier

DATA = textwrap.dedent("""
    version: "3.1"
    nlu:
    - intent: report_incident
      metadata: {category: incident.water, emergency: false}
      examples: |
        - 下水道堵了
        - 家里停水两天了
        - 水管爆了水漫出来
        - 污水井冒水臭得很
    - intent: report_incident
      metadata: {category: incident.safety, emergency: true}
      examples: |
        - 楼道着火了浓烟很大
        - 厨房燃气泄漏了有人头晕
    - intent: report_dispute
      metadata: {category: dispute.neighbor, emergency: false}
      examples: |
        - 楼上半夜噪音太吵
        - 邻居装修天天扰民
        - 对门占用楼道堆杂物
    - intent: greet
      examples: |
        - 你好
        - 在吗
    - lookup: emergency_cue
      examples: |
        - 着火了
""")


@pytest.fixture()
def storage(tmp_path):
    return LocalModelStorage(tmp_path)


def context():
    return ExecutionContext(GraphSchema({}), "test")


def tokenized(messages):
    tokenizer = JiebaTokenizer.create(JiebaTokenizer.get_default_config(), None, None, context())
    for message in messages:
        tokenizer.process([message])
    return messages


def parsed(text, intent, ranking=()):
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.9},
                            "intent_ranking": list(ranking)})
    return tokenized([message])[0]


def test_report_classifier_trains_persists_loads_and_labels(storage):
    training_data = RasaYAMLReader().reads(DATA)
    tokenized(training_data.training_examples)
    resource = Resource("report_classifier")
    config = {**ReportClassifier.get_default_config(), "C": 50.0}
    ReportClassifier.create(config, storage, resource, context()).train(training_data)

    loaded = ReportClassifier.load(config, storage, resource, context())
    water = parsed("下水道又堵了", "report_incident",
                   [{"name": "report_incident", "confidence": 0.9},
                    {"name": "report_dispute", "confidence": 0.1}])
    fire = parsed("三楼着火了", "report_incident")
    hello = parsed("你好", "greet")
    loaded.process([water, fire, hello])

    assert water.get("category")["name"] == "incident.water"
    assert water.get("category")["kind"] == "incident"
    assert water.get("emergency")["flag"] is False
    assert fire.get("emergency")["flag"] is True
    assert fire.get("emergency")["cues"] == ["着火了"]
    assert hello.get("category")["name"] is None
    # the two properties reach Rasa's parse output
    assert {"category", "emergency"} <= set(water.as_dict(only_output_properties=True))


def test_report_classifier_aligns_the_intent_with_a_clear_category(storage):
    training_data = RasaYAMLReader().reads(DATA)
    tokenized(training_data.training_examples)
    resource = Resource("report_classifier")
    classifier = ReportClassifier.create(
        {**ReportClassifier.get_default_config(), "C": 50.0}, storage, resource, context())
    classifier.train(training_data)
    message = parsed("下水道堵了污水冒出来", "report_dispute",
                     [{"name": "report_dispute", "confidence": 0.52},
                      {"name": "report_incident", "confidence": 0.48}])
    classifier.process([message])
    assert message.get("category")["name"] == "incident.water"
    assert message.get("intent")["name"] == "report_incident"


def test_entity_assembler_merges_a_place_into_one_location():
    text = "我住在幸福里小区3号楼2单元，楼上漏水，电话13812345678"
    start = text.index("幸福里小区")
    phone = text.index("138")
    message = Message(data={"text": text, "entities": [
        {"entity": "location", "start": start, "end": start + 5, "value": "幸福里小区",
         "extractor": "DIETClassifier", "confidence_entity": 0.9},
        {"entity": "location", "start": start + 5, "end": start + 7, "value": "3号",
         "extractor": "DIETClassifier", "confidence_entity": 0.6},
        {"entity": "phone", "start": phone, "end": phone + 11, "value": "13812345678",
         "extractor": "DIETClassifier"},
        {"entity": "phone", "start": phone, "end": phone + 11, "value": "13812345678",
         "extractor": "RegexEntityExtractor"},
    ]})
    EntityAssembler.create({}, None, None, context()).process([message])
    entities = message.get("entities")
    assert [(e["entity"], e["value"]) for e in entities] == [
        ("location", "幸福里小区3号楼2单元"), ("phone", "13812345678")]
    assert entities[1]["extractor"] == "RegexEntityExtractor"
    assert entities[0]["processors"] == ["EntityAssembler"]
