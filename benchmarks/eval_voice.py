"""`make eval-voice`: Chinese speech recognition on the labelled Mandarin clips.

One run measures, with a Chinese Vosk model and the line's own recognizer
(``voice.asr``: clips streamed in 20 ms frames, the gateway's endpointing):
- character error rate on ``../shared/audio/zh`` (refs.tsv), for the 16 kHz
  and the 8 kHz (phone-band) versions, per clip and overall: character edits
  over reference characters, punctuation and spaces removed;
- end to end on the ``tts_*`` clips (domain sentences): the share whose
  transcript the served NLU (``bot/classify.py``, run in .venv-rasa) gives the
  intent, the category, and both, that it gives the clip's reference text
  (and the category share over the clips whose reference has a category).

Results are printed and written to benchmarks/results/eval_voice.json.
    python -m benchmarks.eval_voice [--model PATH] [--clips DIR] [--no-classify]

The model: --model, else VOSK_MODEL_PATH, else models/vosk/<a model folder>
(``make vosk-model``). Without one it says so and exits 2.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import time
import unicodedata
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.machine import machine
from bot.model_store import model_path as nlu_model_path
from voice.asr import ModelMissing, SpeechModel, join_words

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "audio" / "zh"
RESULTS = ROOT / "benchmarks" / "results" / "eval_voice.json"
VOSK_MODELS = ROOT / "models" / "vosk"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
RATES = {"16k": 16000, "8k": 8000}
#: The gateway's defaults (voice/settings.py).
END_SILENCE_S = 1.2
MAX_UTTERANCE_S = 30.0
FRAME_S = 0.02
TAIL_S = 1.5  # silence after each clip, so the endpointer can close it
DOMAIN_PREFIX = "tts_"
#: A Chinese model knows these words; a model that does not is flagged in the results.
CHINESE_WORDS = ("的", "是", "我")


class NoModel(Exception):
    """No Chinese Vosk model to evaluate."""


class ClassifierUnavailable(Exception):
    """The served NLU could not classify the transcripts."""


@dataclass(frozen=True)
class Clip:
    id: str
    text: str
    source: str
    files: dict[str, Path] = field(default_factory=dict)  # "16k"/"8k" -> wav


def discover_clips(folder: Path) -> list[Clip]:
    """The clips listed in ``refs.tsv`` that have at least one wav, in its order."""
    refs = folder / "refs.tsv"
    if not refs.is_file():
        raise FileNotFoundError(f"no refs.tsv in {folder}")
    clips = []
    with refs.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            clip_id = (row.get("id") or "").strip()
            if not clip_id:
                continue
            files = {key: folder / key / f"{clip_id}.wav" for key in RATES}
            files = {key: path for key, path in files.items() if path.is_file()}
            if files:
                clips.append(Clip(clip_id, (row.get("text") or "").strip(),
                                  (row.get("source") or "").strip(), files))
    return clips


def normalise(text: str) -> str:
    """What CER compares: NFKC, without punctuation, spaces and control characters."""
    return "".join(char for char in unicodedata.normalize("NFKC", text)
                   if not unicodedata.category(char).startswith(("P", "Z", "C")))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, char_b in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                           previous + (char_a != char_b))
    return row[-1]


def cer(reference: str, hypothesis: str) -> tuple[int, int]:
    """(character edits, reference characters), both texts normalised."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    return edit_distance(ref, hyp), len(ref)


def find_model(explicit: Path | None, environment: str | None, models: Path = VOSK_MODELS) -> Path:
    """The model folder to evaluate; raises ``NoModel`` saying where it looked."""
    if explicit is not None:
        return explicit
    if environment and environment.strip():
        return Path(environment.strip())
    if models.is_dir():
        for folder in sorted(models.iterdir()):
            if (folder / "am" / "final.mdl").is_file() or (folder / "final.mdl").is_file():
                return folder
    raise NoModel(f"no Chinese Vosk model: --model, VOSK_MODEL_PATH and {models} give none; "
                  "run `make vosk-model` (or set VOSK_MODEL_PATH) first")


def read_wav(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path)) as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit mono")
        return wav.getframerate(), wav.readframes(wav.getnframes())


async def transcribe(model: SpeechModel, rate: int, pcm: bytes) -> str:
    """What the line's recognizer makes of ``pcm``: all finals of the clip, joined."""
    recognizer = model.recognizer(rate, end_silence_s=END_SILENCE_S, max_utterance_s=MAX_UTTERANCE_S)
    frame = 2 * round(rate * FRAME_S)
    audio = pcm + bytes(2 * round(rate * TAIL_S))
    texts = []
    for start in range(0, len(audio), frame):
        texts += [e.text for e in await recognizer.feed(audio[start:start + frame]) if e.kind == "final"]
    last = await recognizer.flush()
    if last is not None:
        texts.append(last.text)
    return join_words(" ".join(texts).split())


async def transcribe_all(model: SpeechModel, clips: list[Clip], parallel: int) -> dict[tuple[str, str], str]:
    """Every clip at every rate, ``parallel`` at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(clip: Clip, key: str) -> tuple[tuple[str, str], str]:
        async with gate:
            rate, pcm = read_wav(clip.files[key])
            return (clip.id, key), await transcribe(model, rate, pcm)

    jobs = [one(clip, key) for clip in clips for key in RATES if key in clip.files]
    return dict(await asyncio.gather(*jobs))


def cer_report(clips: list[Clip], transcripts: dict[tuple[str, str], str]) -> dict:
    report = {}
    for key in RATES:
        per_clip, edits, chars = {}, 0, 0
        for clip in clips:
            if (clip.id, key) not in transcripts:
                continue
            hyp = transcripts[clip.id, key]
            clip_edits, clip_chars = cer(clip.text, hyp)
            edits, chars = edits + clip_edits, chars + clip_chars
            per_clip[clip.id] = {"reference": clip.text, "transcript": hyp,
                                 "cer": round(clip_edits / clip_chars, 4) if clip_chars else None}
        report[key] = {"cer": round(edits / chars, 4) if chars else None,
                       "edits": edits, "reference_chars": chars, "clips": per_clip}
    return report


def classify(texts: list[str]) -> list[dict]:
    """The served NLU's record for each text (``make classify``, one process)."""
    if not RASA_PYTHON.exists():
        raise ClassifierUnavailable(f"{RASA_PYTHON} is missing: run `make venvs`")
    if not nlu_model_path().exists():
        raise ClassifierUnavailable(f"the bot's model {nlu_model_path().name} is missing: run `make model`")
    lines = "".join(" ".join(t.split()) + "\n" for t in texts)
    done = subprocess.run([str(RASA_PYTHON), "-m", "bot.classify"], input=lines, cwd=ROOT,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false"})
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or len(records) != len(texts):
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ClassifierUnavailable(f"bot.classify exited {done.returncode} with {len(records)} of "
                                    f"{len(texts)} records: {tail}")
    return records


def intent_report(clips: list[Clip], transcripts: dict[tuple[str, str], str]) -> dict:
    """Intent and category of each domain clip's transcript against its reference's."""
    domain = [clip for clip in clips if clip.id.startswith(DOMAIN_PREFIX)]
    keys = [key for key in RATES if any((c.id, key) in transcripts for c in domain)]
    texts = [clip.text for clip in domain] + [transcripts[c.id, k] for k in keys for c in domain
                                              if (c.id, k) in transcripts]
    records = iter(classify(texts))
    expected = {clip.id: next(records) for clip in domain}
    report: dict = {"clips": len(domain),
                    "expected": {cid: {"intent": r["intent"], "category": r["category"]}
                                 for cid, r in expected.items()}}
    for key in keys:
        per_clip = {}
        for clip in domain:
            if (clip.id, key) not in transcripts:
                continue
            got, want = next(records), expected[clip.id]
            per_clip[clip.id] = {"transcript": transcripts[clip.id, key], "intent": got["intent"],
                                 "category": got["category"],
                                 "intent_ok": got["intent"] == want["intent"],
                                 "category_ok": got["category"] == want["category"]}
        n = len(per_clip) or 1
        # yes/no answers have no category: any transcript without one "gets it right"
        reports = [cid for cid in per_clip if expected[cid]["category"] is not None]
        report[key] = {
            "intent_accuracy": round(sum(c["intent_ok"] for c in per_clip.values()) / n, 4),
            "category_accuracy": round(sum(c["category_ok"] for c in per_clip.values()) / n, 4),
            "both_accuracy": round(sum(c["intent_ok"] and c["category_ok"]
                                       for c in per_clip.values()) / n, 4),
            "category_accuracy_with_category": (
                round(sum(per_clip[cid]["category_ok"] for cid in reports) / len(reports), 4)
                if reports else None),
            "clips": per_clip}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.eval_voice",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path,
                        help="a Vosk model folder (default: VOSK_MODEL_PATH, models/vosk/)")
    parser.add_argument("--clips", type=Path, default=CLIPS)
    parser.add_argument("--no-classify", action="store_true", help="character error rate only")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    try:
        folder = find_model(args.model, os.environ.get("VOSK_MODEL_PATH"), VOSK_MODELS)
        model = SpeechModel.load(folder)
    except (NoModel, ModelMissing) as exc:
        print(f"eval-voice: {exc}", file=sys.stderr)
        return 2
    try:
        clips = discover_clips(args.clips)
    except FileNotFoundError as exc:
        print(f"eval-voice: {exc}", file=sys.stderr)
        return 2
    if not clips:
        print(f"eval-voice: no clips in {args.clips}", file=sys.stderr)
        return 2

    chinese = all(model.has_word(word) for word in CHINESE_WORDS)
    if not chinese:
        print(f"eval-voice: warning: {folder} lacks common Chinese words ({', '.join(CHINESE_WORDS)}): "
              "not a Chinese model, the numbers below test the harness, not Mandarin accuracy",
              file=sys.stderr)
    audio_s = sum(len(pcm) / (2 * rate) for clip in clips
                  for rate, pcm in map(read_wav, clip.files.values()))
    started = time.monotonic()
    try:
        transcripts = asyncio.run(transcribe_all(model, clips, max(1, args.parallel)))
    finally:
        model.close()
    decode_s = time.monotonic() - started

    result: dict = {
        "benchmark": "eval_voice",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": folder.name if folder.name != "model" else f"{folder.parent.name}/{folder.name}",
        "chinese_model": chinese,
        "clips_dir": str(args.clips),
        "clips": len(clips),
        "settings": {"end_silence_s": END_SILENCE_S, "frame_s": FRAME_S, "parallel": args.parallel},
        "audio_s": round(audio_s, 2),
        "decode_s": round(decode_s, 2),
        "cer": cer_report(clips, transcripts),
    }
    code = 0
    if args.no_classify:
        result["intent"] = {"skipped": "--no-classify"}
    else:
        try:
            result["intent"] = intent_report(clips, transcripts)
        except ClassifierUnavailable as exc:
            result["intent"] = {"error": str(exc)}
            print(f"eval-voice: intents not measured: {exc}", file=sys.stderr)
            code = 1

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"model {result['model']}: {len(clips)} clips, {audio_s:.1f} s of audio (all rates) "
          f"decoded in {decode_s:.1f} s")
    for key in RATES:
        print(f"  CER {key}: {result['cer'][key]['cer']}")
    for key in RATES:
        if key in result["intent"]:
            r = result["intent"][key]
            print(f"  tts_* {key}: intent {r['intent_accuracy']}, category {r['category_accuracy']} "
                  f"({r['category_accuracy_with_category']} where the reference has one), "
                  f"both {r['both_accuracy']}")
    print(f"written to {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
