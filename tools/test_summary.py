"""The last lines `make test` prints: each side's counts, then every failure with its message.

The two sides run at once and their output comes in blocks, so a failure of
the first to finish is far from the end of a long log; this repeats, at the
very end, what failed and why (from the JUnit XML each pytest run writes),
and what was skipped.

    python3 tools/test_summary.py .test-results
"""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

#: characters of a failure's message (the assertion and its explanation) that are printed
MESSAGE_CHARS = 2000


def summarize(results: Path) -> tuple[list[str], bool]:
    """The summary's lines, and whether every run that left a report passed."""
    lines: list[str] = []
    passed = True
    reports = sorted(results.glob("*.xml")) if results.is_dir() else []
    if not reports:
        return [f"no test reports in {results}"], False
    for report in reports:
        try:
            root = ET.parse(report).getroot()
        except ET.ParseError as error:
            lines.append(f"{report.stem}: unreadable report ({error})")
            passed = False
            continue
        cases = root.iter("testcase")
        counts = {"tests": 0, "failed": 0, "skipped": 0}
        bad: list[str] = []
        skipped: list[str] = []
        for case in cases:
            counts["tests"] += 1
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            for kind in ("failure", "error"):
                for element in case.findall(kind):
                    counts["failed"] += 1
                    message = (element.get("message") or element.text or "").strip()
                    bad.append(f"  {kind.upper()} {name}\n    " + message[:MESSAGE_CHARS]
                               .replace("\n", "\n    "))
            for element in case.findall("skipped"):
                counts["skipped"] += 1
                skipped.append(f"  SKIPPED {name}: {(element.get('message') or '').strip()}")
        passed = passed and counts["failed"] == 0
        lines.append(f"{report.stem}: {counts['tests']} tests, {counts['failed']} failed, "
                     f"{counts['skipped']} skipped")
        lines.extend(bad)
        lines.extend(skipped)
    return lines, passed


def main(argv: list[str]) -> int:
    results = Path(argv[1] if len(argv) > 1 else ".test-results")
    lines, passed = summarize(results)
    print("\n== test summary " + "=" * 60)
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
