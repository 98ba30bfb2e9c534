"""`make classify`: one JSON object per input line, whatever the line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.nlu_runtime import MAX_CHARS

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"text", "intent", "confidence", "category", "kind", "emergency", "emergency_check"}

LINES = [
    "楼道里着火了，浓烟很大，快派人来".encode(),
    b"",
    ("路灯坏了" * 2500).encode(),          # 10,000 characters
    "😀😀🙏🔥".encode(),
    b"What is the weather like tomorrow?",
    "hello 我家下水道堵了 help".encode(),
    b"\xff\xfe broken bytes \xc3",
    b"   \t  ",
    "工资拖欠三个月了老板不给".encode(),
    "\x00\x01控制字符".encode(),
    "隔壁独居的王大爷两天没见出门了，敲门也没人应".encode(),
    "咨询一下城乡居民养老保险一年交多少钱".encode(),
    "樓上天天半夜裝修，吵得睡不著覺".encode(),
]


@pytest.fixture(scope="module")
def records():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.classify"], cwd=ROOT, env=env,
        input=b"\n".join(LINES) + b"\n", capture_output=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    lines = result.stdout.decode("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_every_line_gets_exactly_one_valid_object(records):
    assert len(records) == len(LINES)
    for record in records:
        assert KEYS <= set(record)
        assert record["intent"] is None or isinstance(record["intent"], str)
        assert isinstance(record["confidence"], float) and 0.0 <= record["confidence"] <= 1.0
        assert record["kind"] in (None, "dispute", "incident", "request")
        assert isinstance(record["emergency"], bool)
        assert isinstance(record["emergency_check"], bool)
        assert not (record["emergency"] and record["emergency_check"])
        if record["category"] is None:
            assert record["kind"] is None
        else:
            assert record["category"].split(".")[0] == record["kind"]


def test_reports_are_classified_with_category_kind_and_emergency(records):
    fire, labor = records[0], records[8]
    assert (fire["intent"], fire["kind"], fire["category"], fire["emergency"]) == (
        "report_incident", "incident", "incident.safety", True)
    assert (labor["intent"], labor["category"], labor["emergency"]) == (
        "report_dispute", "dispute.labor", False)


def test_possible_danger_asks_first_and_requests_are_their_own_kind(records):
    alone, question, traditional = records[10], records[11], records[12]
    assert (alone["emergency"], alone["emergency_check"], alone["kind"]) == (False, True, "incident")
    assert (question["intent"], question["category"]) == ("other_request", "request.consult")
    assert (traditional["intent"], traditional["category"]) == ("report_dispute", "dispute.neighbor")


def test_empty_and_blank_lines_get_an_empty_record(records):
    for record in (records[1], records[7]):
        assert record["text"] == "" and record["intent"] is None and record["category"] is None


def test_overlong_lines_are_truncated_to_the_documented_limit(records):
    long = records[2]
    assert long["truncated"] is True and len(long["text"]) == MAX_CHARS
    assert all(not r["truncated"] for i, r in enumerate(records) if i != 2)


def test_odd_text_is_not_taken_for_a_report(records):
    for record in (records[3], records[4]):
        assert record["category"] is None and record["emergency"] is False
    assert "\ufffd" in records[6]["text"]      # undecodable bytes were replaced
    assert "\x00" not in records[9]["text"]
