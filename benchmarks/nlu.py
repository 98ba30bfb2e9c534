"""`make bench-nlu`: quality and speed of the NLU the bot serves.

One run measures, on this machine:
- held-out quality on the three held-out sets (tests/nlu/heldout_styles.yml,
  written separately in every style residents use; the first set
  tests/nlu/heldout.yml; and tests/nlu/blind.yml, written last and never
  used for a decision), per style: intent, kind and category accuracy;
  emergencies: act-at-once precision and recall, the share acted on or asked
  about; ordinary reports: the share acted on at once and the share asked
  about; the per-category confusion table of the styles set;
- training time: a full `rasa train --force` of the current inputs;
- model load time: from starting `rasa run` to its HTTP server answering;
- parse latency p50/p95/p99 over PARSES requests to `POST /model/parse`
  (one warm-up request excluded), sequential, on a kept-alive connection;
- the Rasa server's peak RSS (VmHWM) after the parses.

Results are printed and written to benchmarks/results/nlu.json.
    python -m benchmarks.nlu [--skip-train] [--parses 600]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.machine import machine, peak_rss_mb, percentile
from bot.model_store import ROOT, TRAIN_ARGS, model_path
from bot.nlu_eval import (
    BLIND,
    HELDOUT,
    HELDOUT_STYLES,
    STYLES,
    confusion_table,
    evaluate,
    load_examples,
    style_table,
)

RESULTS = ROOT / "benchmarks" / "results"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
# per style of the styles set: intent and category accuracy; over the whole
# set: emergencies acted on or asked about, ordinary reports acted on at
# once or asked about (issue: understand residents as they write)
TARGETS = {"intent_accuracy": 0.93, "category_accuracy": 0.90, "emergency_flagged": 0.98,
           "false_act": 0.05, "false_check": 0.15, "parse_p95_ms": 30.0}


def measure_training() -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.monotonic()
        subprocess.run([str(RASA), "train", *TRAIN_ARGS, "--out", out, "--force"],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
        return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model: Path, port: int, token: str) -> tuple[subprocess.Popen, float]:
    """Start `rasa run` and return it with the seconds it took to answer."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(RASA), "run", "--model", str(model), "--enable-api", f"--auth-token={token}",
         "--interface", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    while time.monotonic() - started < 300:
        if process.poll() is not None:
            raise RuntimeError("rasa run exited before answering")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/")
            if connection.getresponse().status == 200:
                return process, time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("rasa run did not answer within 300 s")


def parse_latencies(port: int, token: str, texts: list[str], count: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    path = f"/model/parse?token={token}"
    headers = {"Content-Type": "application/json"}

    def parse(text: str) -> None:
        connection.request("POST", path, body=json.dumps({"text": text}).encode(), headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/model/parse answered {response.status}: {body[:200]!r}")

    parse(texts[0])  # warm-up, not counted
    latencies = []
    for i in range(count):
        started = time.perf_counter()
        parse(texts[i % len(texts)])
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-train", action="store_true", help="do not measure training time")
    parser.add_argument("--parses", type=int, default=600)
    args = parser.parse_args(argv)

    model = model_path()
    if not model.exists():
        sys.exit(f"error: {model.name} is missing: run `make model`")
    styles_set, first_set = load_examples(HELDOUT_STYLES), load_examples(HELDOUT)
    blind_set = load_examples(BLIND)

    from bot.nlu_runtime import load_agent
    agent = load_agent(model)
    styles = evaluate(agent, styles_set)
    first = evaluate(agent, first_set)
    blind = evaluate(agent, blind_set)

    training_s = None if args.skip_train else measure_training()

    token, port = secrets.token_urlsafe(16), free_port()
    process, load_s = serve(model, port, token)
    try:
        texts = [e.text for e in styles_set + first_set + blind_set]
        latencies = parse_latencies(port, token, texts, max(args.parses, len(texts)))
        rss = peak_rss_mb(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    def figures(quality: dict) -> dict:
        keep = ("examples", "intent_accuracy", "intent_macro_f1", "reports", "kind_accuracy",
                "category_accuracy", "category_macro_f1", "emergencies", "ordinary_reports",
                "alarming_reports", "emergency_recall", "emergency_precision",
                "emergency_flagged", "emergency_kind_accuracy", "false_act", "false_check",
                "alarming_false_act", "alarming_false_check")
        return {k: round(v, 4) if isinstance(v, float) else v
                for k, v in quality.items() if k in keep}

    result = {
        "benchmark": "nlu",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": model.name,
        "styles_set": {**figures(styles),
                       "by_style": {k: figures(v) for k, v in styles["styles"].items()},
                       "category_labels": styles["category_labels"],
                       "category_confusion": styles["category_confusion"]},
        "first_set": figures(first),
        "blind_set": {**figures(blind),
                      "by_style": {k: figures(v) for k, v in blind["styles"].items()}},
        "training_s": None if training_s is None else round(training_s, 1),
        "model_load_s": round(load_s, 1),
        "parses": len(latencies),
        "parse_p50_ms": round(percentile(latencies, 50), 2),
        "parse_p95_ms": round(percentile(latencies, 95), 2),
        "parse_p99_ms": round(percentile(latencies, 99), 2),
        "rasa_peak_rss_mb": rss,
        "targets": TARGETS,
        "errors": styles["errors"] + first["errors"] + blind["errors"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "nlu.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(report(result, styles, first, blind))
    return 0


def verdict(value, target, higher=True) -> str:
    if value is None:
        return "-"
    ok = value >= target if higher else value <= target
    return f"{value:.3f} ({'>=' if higher else '<='} {target} {'ok' if ok else 'MISSED'})"


def report(result: dict, styles: dict, first: dict, blind: dict) -> str:
    m = result["machine"]
    lines = [
        f"NLU benchmark, {result['when']}, {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB",
        f"model {result['model']}",
        "",
        f"held-out set in every style (tests/nlu/heldout_styles.yml, {styles['examples']} messages; "
        f"{styles['emergencies']} emergencies, {styles['ordinary_reports']} ordinary reports of "
        f"which {styles['alarming_reports']} sound alarming):",
        style_table(styles),
        "",
        f"first held-out set (tests/nlu/heldout.yml, {first['examples']} chat messages):",
        style_table({k: v for k, v in first.items() if k != "styles"}),
        "",
        f"blind set (tests/nlu/blind.yml, {blind['examples']} messages written last by someone who saw "
        "no data, no other set and no model output; no decision was taken on it):",
        style_table(blind),
        "",
        "columns: intent/kind/category accuracy; act P/R = precision/recall of acting at once on "
        "emergencies; flagged = emergencies acted on or asked about; act/ord, check/ord = ordinary "
        "reports acted on at once / asked about",
        "targets (styles set):",
    ]
    for style in STYLES:
        row = styles["styles"].get(style)
        if row:
            lines.append(f"  {style:12} intent {verdict(row['intent_accuracy'], TARGETS['intent_accuracy'])}"
                         f"  category {verdict(row['category_accuracy'], TARGETS['category_accuracy'])}")
    lines += [
        "  emergencies acted on or asked about  "
        + verdict(styles['emergency_flagged'], TARGETS['emergency_flagged']),
        "  ordinary reports acted on at once    "
        + verdict(styles['false_act'], TARGETS['false_act'], higher=False),
        "  ordinary reports asked about         "
        + verdict(styles['false_check'], TARGETS['false_check'], higher=False),
        f"  emergencies filed as incidents       {styles['emergency_kind_accuracy']:.3f}",
        "",
        f"  training time (s)        {result['training_s']}",
        f"  model load time (s)      {result['model_load_s']}",
        f"  parse p50 (ms, n={result['parses']}) {result['parse_p50_ms']}",
        "  parse p95 (ms)           "
        + verdict(result['parse_p95_ms'], TARGETS['parse_p95_ms'], higher=False),
        f"  parse p99 (ms)           {result['parse_p99_ms']}",
        f"  Rasa peak RSS (MiB)      {result['rasa_peak_rss_mb']}",
        "category confusion, styles set (rows: true, columns: predicted):",
        confusion_table(styles),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
