"""tools/test_summary.py: the end of `make test` repeats each failure with its message."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.test_summary import summarize

ROOT = Path(__file__).resolve().parents[2]


def test_a_real_pytest_reports_failure_message_and_skip_reason(tmp_path):
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_demo.py").write_text(
        "import pytest\n"
        "def test_ok():\n    assert 1\n"
        "def test_bad():\n    assert 2 + 2 == 5, 'the sum is off'\n"
        "def test_skipped():\n    pytest.skip('no server here')\n", encoding="utf-8")
    results = tmp_path / "results"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests),
                    f"--junitxml={results / 'demo.xml'}"], cwd=tmp_path, capture_output=True,
                   check=False)
    lines, passed = summarize(results)
    text = "\n".join(lines)
    assert not passed
    assert lines[0] == "demo: 3 tests, 1 failed, 1 skipped", text
    assert "FAILURE t.test_demo::test_bad" in text and "the sum is off" in text, text
    assert "SKIPPED t.test_demo::test_skipped: no server here" in text, text


def test_no_report_is_not_a_pass(tmp_path):
    lines, passed = summarize(tmp_path / "missing")
    assert not passed and "no test reports" in lines[0]


def test_the_command_exits_non_zero_on_a_failure(tmp_path):
    (tmp_path / "side.xml").write_text(
        '<testsuites><testsuite><testcase classname="m" name="t">'
        '<failure message="AssertionError: boom">trace</failure></testcase>'
        '</testsuite></testsuites>', encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "test_summary.py"), str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "FAILURE m::t" in done.stdout and "AssertionError: boom" in done.stdout
