"""`make classify < messages.txt`: one JSON object per input line on stdout.

    {"text": ..., "intent": ..., "confidence": ..., "category": ... or null,
     "kind": "dispute" | "incident" | null, "emergency": true | false,
     "entities": [...], "truncated": false}

It uses the model the bot serves (the one keyed on the current inputs). Logs go
to stderr; stdout carries only the records, one per line, flushed as they come.
A line is never fatal: undecodable bytes are replaced, empty lines give an
empty record, text past MAX_CHARS characters is cut and marked truncated.
"""
from __future__ import annotations

import json
import logging
import os
import sys

from bot.nlu_runtime import EMPTY, MAX_CHARS, classify, load_agent


def main() -> int:
    # Keep stdout for the records: whatever Rasa or TensorFlow print goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    try:
        agent = load_agent()
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"classifier ready (texts are cut at {MAX_CHARS} characters)", file=sys.stderr)

    for raw in sys.stdin.buffer:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            record = classify(agent, text)
        except Exception as error:  # a bad line must not end the run
            logging.exception("could not classify a line")
            record = {"text": text[:MAX_CHARS], **EMPTY,
                      "truncated": len(text) > MAX_CHARS, "error": type(error).__name__}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
