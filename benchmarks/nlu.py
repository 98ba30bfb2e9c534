"""`make bench-nlu`: quality and speed of the NLU the bot serves.

One run measures, on this machine:
- held-out quality: intent accuracy and macro-F1, category accuracy and
  macro-F1, emergency recall and precision, the per-category confusion table;
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
import shutil
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
from bot.nlu_eval import confusion_table, evaluate, load_examples

RESULTS = ROOT / "benchmarks" / "results"
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
TARGETS = {"intent_macro_f1": 0.95, "category_accuracy": 0.93,
           "emergency_recall": 1.0, "parse_p95_ms": 30.0}


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
        [str(RASA), "run", "--model", str(model), "--enable-api", "--auth-token", token,
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-train", action="store_true", help="do not measure training time")
    parser.add_argument("--parses", type=int, default=600)
    args = parser.parse_args(argv)

    model = model_path()
    if not model.exists():
        sys.exit(f"error: {model.name} is missing: run `make model`")
    examples = load_examples()

    from bot.nlu_runtime import load_agent
    quality = evaluate(load_agent(model), examples)

    training_s = None if args.skip_train else measure_training()

    token, port = secrets.token_urlsafe(16), free_port()
    process, load_s = serve(model, port, token)
    try:
        latencies = parse_latencies(port, token, [e.text for e in examples], args.parses)
        rss = peak_rss_mb(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)

    result = {
        "benchmark": "nlu",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": model.name,
        "heldout_examples": quality["examples"],
        "intent_accuracy": round(quality["intent_accuracy"], 4),
        "intent_macro_f1": round(quality["intent_macro_f1"], 4),
        "category_accuracy": round(quality["category_accuracy"], 4),
        "category_macro_f1": round(quality["category_macro_f1"], 4),
        "emergencies": quality["emergencies"],
        "emergency_recall": round(quality["emergency_recall"], 4),
        "emergency_precision": round(quality["emergency_precision"], 4),
        "category_labels": quality["category_labels"],
        "category_confusion": quality["category_confusion"],
        "training_s": None if training_s is None else round(training_s, 1),
        "model_load_s": round(load_s, 1),
        "parses": len(latencies),
        "parse_p50_ms": round(percentile(latencies, 50), 2),
        "parse_p95_ms": round(percentile(latencies, 95), 2),
        "parse_p99_ms": round(percentile(latencies, 99), 2),
        "rasa_peak_rss_mb": rss,
        "targets": TARGETS,
        "errors": quality["errors"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "nlu.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(report(result, quality))
    return 0


def report(result: dict, quality: dict) -> str:
    def row(name, value, target=None, higher=True):
        if target is None:
            return f"  {name:24} {value}"
        ok = value >= target if higher else value <= target
        return f"  {name:24} {value:<10} target {'>=' if higher else '<='} {target}  {'ok' if ok else 'MISSED'}"

    m = result["machine"]
    lines = [
        f"NLU benchmark, {result['when']}, {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB",
        f"model {result['model']}, held-out set of {result['heldout_examples']} messages",
        row("intent accuracy", result["intent_accuracy"]),
        row("intent macro-F1", result["intent_macro_f1"], TARGETS["intent_macro_f1"]),
        row("category accuracy", result["category_accuracy"], TARGETS["category_accuracy"]),
        row("category macro-F1", result["category_macro_f1"]),
        row("emergency recall", result["emergency_recall"], TARGETS["emergency_recall"]),
        row("emergency precision", result["emergency_precision"]),
        row("training time (s)", result["training_s"]),
        row("model load time (s)", result["model_load_s"]),
        row(f"parse p50 (ms, n={result['parses']})", result["parse_p50_ms"]),
        row("parse p95 (ms)", result["parse_p95_ms"], TARGETS["parse_p95_ms"], higher=False),
        row("parse p99 (ms)", result["parse_p99_ms"]),
        row("Rasa peak RSS (MiB)", result["rasa_peak_rss_mb"]),
        "category confusion (rows: true, columns: predicted):",
        confusion_table(quality),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
