"""Speech synthesis for the phone line: text in, 8 kHz 16-bit mono PCM out.

``spoken()`` turns a reply into what should be said (numbers digit by digit,
times as 点/分, no symbols read aloud). ``EspeakSpeaker`` runs espeak-ng once
per sentence group, parses its WAV and resamples it to the line's 8 kHz with a
windowed-sinc polyphase filter (espeak writes 22050 Hz; dropping samples would
fold its 4-11 kHz content back into the band people hear). ``CachedSpeaker``
keeps rendered sentences, renders the fixed prompts once at start-up and
synthesises a sentence once however many calls ask for it at the same moment.

espeak-ng 1.51's ``cmn`` voice reads most characters as English-spelled pinyin
("好" as "hao two"; espeak-ng issue #1236), so the default voice is
``cmn-latn-pinyin``, which reads them in Mandarin.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import shutil
import struct
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol

import numpy as np
from scipy.signal import resample_poly

from voice.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_VOICE = "cmn-latn-pinyin"
DEFAULT_RATE_WPM = 130  # espeak's default is 175: slower for elderly listeners
_PEAK = 30000.0  # about -0.8 dBFS


class SpeechSynthesisError(RuntimeError):
    """espeak-ng is missing, failed, timed out or wrote no usable audio."""


class Speaker(Protocol):
    """Anything that says a text as 8 kHz, 16-bit little-endian mono PCM.

    A speaker may also offer ``parts(text)``: the pieces to synthesise one after
    the other so that playing can start with the first (``speech_parts``);
    without it the player asks for whole texts."""

    async def speak(self, text: str) -> bytes: ...


# ------------------------------------------------------------------ what is said

_DIGIT_WORDS = "零一二三四五六七八九"
_PHONE_DIGIT_WORDS = "零幺二三四五六七八九"  # 幺: how 1 is read in numbers on the phone
_TO_ASCII_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})

# a number followed by one of these is a quantity, read as a number ("1500元")
_QUANTITY_UNITS = ("元", "块", "角", "万", "千", "百", "亿", "米", "公里", "千米", "平方", "立方",
                   "公斤", "千克", "斤", "吨", "升", "个", "人", "位", "名", "户", "家", "件",
                   "条", "辆", "棵", "只", "天", "周", "小时", "分钟", "秒", "岁", "次", "倍",
                   "度", "多", "余")

_TIME = r"(?<![\d.])([01]?\d|2[0-3])[:：]([0-5]\d)(?![\d:：])"
_TIME_RANGE_RE = re.compile(_TIME + r"\s*[-~～—–－至]\s*" + _TIME)
_TIME_RE = re.compile(_TIME)
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?=\s*年)")
_PERCENT_RE = re.compile(r"(\d+(?:\.\d+)?)\s*[%％]")
_DECIMAL_RE = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER_RANGE_RE = re.compile(r"(?<=\d)\s*[~～]\s*(?=\d)")
_NUMBER_DASH_RE = re.compile(r"(?<!\d)(\d+)\s*[-－–]\s*(\d+)(?!\d)")
_DIGIT_RUN_RE = re.compile(r"\d{3,}")
_KEY_RE = re.compile(r"([*＊#＃])号?")
_QUOTE_PAIR_RE = re.compile(r"[”’」』]\s*[“‘「『]")

_ASCII_PAUSES = {",": "，", ";": "；", "!": "！", "?": "？", ":": "，", "：": "，",
                 "(": "，", ")": "，", "（": "，", "）": "，", "[": "，", "]": "，",
                 "【": "，", "】": "，", "〔": "，", "〕": "，", "—": "，", "–": "，",
                 "\n": "。", "\r": " "}
_PAUSES = "，、；。！？…"
_PAUSE_RANK = {"、": 0, "，": 1, "；": 2, "…": 3, "。": 4, "！": 4, "？": 4}
_KEEP_RE = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z0-9\s" + _PAUSES + "]")
_PAUSE_RUN_RE = re.compile(r"[\s" + _PAUSES + r"]*[" + _PAUSES + r"][\s" + _PAUSES + r"]*")


def _digits(run: str, words: str = _PHONE_DIGIT_WORDS) -> str:
    return " ".join(words[int(d)] for d in run)


def _read_digit_run(match: re.Match[str]) -> str:
    run = match.group(0)
    rest = match.string[match.end():]
    if rest.lstrip().startswith(_QUANTITY_UNITS):
        return run  # a quantity: espeak reads 1500 as 一千五百
    if rest[:1] == "点" and rest[1:2] and rest[1:2] in _DIGIT_WORDS:
        return run  # the whole part of a decimal (made by the step before)
    if len(run) == 11 and run[0] == "1":  # a mobile number, grouped 3-4-4 as people say it
        return "，".join(_digits(part) for part in (run[:3], run[3:7], run[7:]))
    return _digits(run)


def _clock(hour: str, minute: str) -> str:
    hour = str(int(hour))
    if minute == "00":
        return f"{hour}点"
    if minute[0] == "0":
        return f"{hour}点零{minute[1]}分"
    return f"{hour}点{minute}分"


def _dash(match: re.Match[str]) -> str:
    left, right = match.group(1), match.group(2)
    if len(left) <= 2 and len(right) <= 2:
        return f"{left}杠{right}"  # an address: "12-3号" is 十二杠三号
    return f"{left}，{right}"  # a phone number or code in parts: a short pause


def _pause_run(match: re.Match[str]) -> str:
    marks = [c for c in match.group(0) if c in _PAUSES]
    best = max(marks, key=lambda c: _PAUSE_RANK[c])
    return "……" if best == "…" else best


def spoken(text: str) -> str:
    """What is said for ``text``: the words espeak-ng should read, nothing it would misread.

    Runs of three or more digits are read one by one, with 幺 for 1
    ("工单号 48082800" → "工单号 四 八 零 八 二 八 零 零"), except a year or a
    quantity ("1500元"); "23:19" becomes "23点19分"; quotes, brackets, colons,
    slashes and other symbols are dropped or become a pause; Chinese pauses
    (，、；。！？…) stay. Applying it twice changes nothing more.
    """
    text = text.translate(_TO_ASCII_DIGITS)
    text = _TIME_RANGE_RE.sub(lambda m: f"{_clock(m[1], m[2])}到{_clock(m[3], m[4])}", text)
    text = _TIME_RE.sub(lambda m: _clock(m[1], m[2]), text)
    text = _ISO_DATE_RE.sub(lambda m: f"{m[1]}年{int(m[2])}月{int(m[3])}日", text)
    text = _YEAR_RE.sub(lambda m: "".join(_DIGIT_WORDS[int(d)] for d in m[1]), text)
    text = _PERCENT_RE.sub(lambda m: f"百分之{m[1]}", text)
    text = _THOUSANDS_RE.sub("", text)
    text = _DECIMAL_RE.sub(lambda m: f"{m[1]}点{''.join(_DIGIT_WORDS[int(d)] for d in m[2])}",
                           text)
    text = _NUMBER_RANGE_RE.sub("到", text)
    text = _NUMBER_DASH_RE.sub(_dash, text)
    text = _DIGIT_RUN_RE.sub(_read_digit_run, text)
    text = _KEY_RE.sub(lambda m: "星号" if m[1] in "*＊" else "井号", text)
    text = text.replace("&", "和").replace("＆", "和")
    text = _QUOTE_PAIR_RE.sub("、", text)  # “路灯坏了”“楼上漏水”: two examples, a pause between
    text = text.replace("...", "…").replace(".", "。")
    for mark, pause in _ASCII_PAUSES.items():
        text = text.replace(mark, pause)
    text = _KEEP_RE.sub(" ", text)
    text = _PAUSE_RUN_RE.sub(_pause_run, text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.lstrip(_PAUSES + " ").rstrip("，、 ")


# ------------------------------------------------------------------ long texts

_SENTENCE_END_RE = re.compile(r"(?<=[。！？；…])")
_CLAUSE_END_RE = re.compile(r"(?<=[，、])")


def split_for_speech(text: str, max_chars: int) -> list[str]:
    """``text`` in parts of at most ``max_chars``, cut after sentence ends, else after commas."""
    if len(text) <= max_chars:
        return [text] if text else []
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, max_chars):
        if current and len(current) + len(piece) > max_chars:
            parts.append(current)
            current = ""
        current += piece
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


#: The first part of a reply the player synthesises on its own (its first sentence,
#: cut at commas beyond this), so the caller hears it while the rest is synthesised.
FIRST_PART_CHARS = 24
#: The later parts: sentences grouped up to this length.
PART_CHARS = 60


def speech_parts(text: str) -> list[str]:
    """``text`` as the parts a player synthesises one after the other (``Speaker.parts``):
    the first sentence alone (cut after commas beyond ``FIRST_PART_CHARS``), then the
    rest in groups of sentences of up to ``PART_CHARS``."""
    sentences = [s for s in _SENTENCE_END_RE.split(text.strip()) if s.strip()]
    if not sentences:
        return []
    return (split_for_speech(sentences[0].strip(), FIRST_PART_CHARS)
            + split_for_speech("".join(sentences[1:]).strip(), PART_CHARS))


def _pieces(text: str, max_chars: int) -> Iterable[str]:
    for sentence in _SENTENCE_END_RE.split(text):
        if len(sentence) <= max_chars:
            yield sentence
            continue
        for clause in _CLAUSE_END_RE.split(sentence):
            for start in range(0, len(clause), max_chars):  # no punctuation at all: hard cuts
                yield clause[start:start + max_chars]


# ------------------------------------------------------------------ WAV and resampling

def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """The samples (float, mono) and sample rate of a 16-bit PCM WAV.

    espeak-ng writing to a pipe cannot seek back, so its RIFF and data sizes
    are placeholders (0x7ffff000): the data chunk runs to the end of what was read.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechSynthesisError("espeak-ng did not write a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, body)
        elif chunk_id == b"data":
            if fmt is None:
                raise SpeechSynthesisError("WAV data before its format")
            encoding, channels, rate, _, _, bits = fmt
            if encoding != 1 or bits != 16 or channels < 1:
                raise SpeechSynthesisError(f"unexpected WAV format {encoding}/{bits} bits")
            payload = data[body:min(body + size, len(data))]
            payload = payload[:len(payload) - len(payload) % (2 * channels)]
            samples = np.frombuffer(payload, dtype="<i2").astype(np.float64)
            if channels > 1:
                samples = samples.reshape(-1, channels).mean(axis=1)
            return samples, rate
        pos = body + size + (size & 1)
    raise SpeechSynthesisError("WAV without audio data")


@lru_cache(maxsize=8)
def _polyphase_filter(up: int, down: int, taps_per_phase: int) -> np.ndarray:
    """A Kaiser-windowed sinc low-pass at the lower Nyquist, as ``(up, taps)`` phases.

    Designed at the upsampled rate, the cut-off at 0.9 of the lower Nyquist
    frequency: for 22050 → 8000 Hz with 160 taps per phase, flat to 3.3 kHz
    (-0.4 dB at 3.4 kHz, the telephone band) and more than 80 dB down from
    4 kHz on, where it would alias.
    """
    half = taps_per_phase // 2
    length = 2 * half * up + 1
    n = np.arange(length) - half * up
    nyquist = 0.5 / max(up, down)  # cycles per upsampled sample
    cutoff = 0.9 * nyquist  # for 8 kHz: pass to ~3.4 kHz, stop by 4 kHz
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.kaiser(length, 8.0)
    h *= up / h.sum()  # unity gain at DC after zero-stuffing
    h = np.concatenate([h, np.zeros((half * 2 + 1) * up - length)])
    return h.reshape(2 * half + 1, up).T.copy()


def resample(samples: np.ndarray, src_rate: int, dst_rate: int,
             taps_per_phase: int = 160) -> np.ndarray:
    """``samples`` at ``dst_rate``: rational polyphase resampling with an anti-aliasing low-pass.

    The filter of ``_polyphase_filter``, applied by scipy's ``resample_poly``
    (compiled ``upfirdn``): a reply's 15 s of espeak audio take tens of
    milliseconds instead of a third of a second of numpy gathering, which
    six calls at once paid on the way to their first reply audio.
    """
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.float64)
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    n_out = (samples.size * up) // down
    taps = _centred_filter(up, down, taps_per_phase)
    out = resample_poly(samples.astype(np.float64), up, down, window=taps)
    return out[:n_out]


@lru_cache(maxsize=8)
def _centred_filter(up: int, down: int, taps_per_phase: int) -> np.ndarray:
    """``_polyphase_filter``'s taps as one filter at the upsampled rate, centred, for
    ``resample_poly`` (which multiplies by ``up`` itself)."""
    half = taps_per_phase // 2
    length = 2 * half * up + 1
    phases = _polyphase_filter(up, down, taps_per_phase)
    return phases.T.reshape(-1)[:length] / up


def to_pcm16(samples: np.ndarray) -> bytes:
    return np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()


def _trim_silence(samples: np.ndarray, rate: int, keep_head_s: float = 0.05,
                  keep_tail_s: float = 0.2, threshold: float = 64.0) -> np.ndarray:
    """Cut espeak's leading and trailing silence down to a short margin."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if loud.size == 0:
        return samples[:0]
    start = max(0, loud[0] - int(keep_head_s * rate))
    end = min(samples.size, loud[-1] + 1 + int(keep_tail_s * rate))
    return samples[start:end]


# ------------------------------------------------------------------ espeak-ng

class EspeakSpeaker:
    """Speech from the espeak-ng command, one process per part, 8 kHz PCM out.

    ``speak()`` applies ``spoken()`` first. A text longer than ``max_chars``
    is cut at sentence ends into parts of at most ``part_chars``, synthesised
    in turn and joined with ``pause_s`` of silence; what lies beyond
    ``max_chars`` is left out.
    """

    def __init__(self, rate_wpm: int = DEFAULT_RATE_WPM, voice: str = DEFAULT_VOICE,
                 executable: str = "espeak-ng", pitch: int | None = None, *,
                 timeout_s: float = 15.0, part_chars: int = 120, max_chars: int = 1000,
                 pause_s: float = 0.3, sample_rate: int = SAMPLE_RATE) -> None:
        if not 80 <= rate_wpm <= 450:
            raise ValueError("rate_wpm must be within espeak-ng's 80..450")
        if pitch is not None and not 0 <= pitch <= 99:
            raise ValueError("pitch must be within 0..99")
        self.rate_wpm = rate_wpm
        self.voice = voice
        self.executable = executable
        self.pitch = pitch
        self.timeout_s = timeout_s
        self.part_chars = part_chars
        self.max_chars = max_chars
        self.pause_s = pause_s
        self.sample_rate = sample_rate
        #: espeak-ng processes started so far (tests, metrics)
        self.processes_started = 0

    async def speak(self, text: str) -> bytes:
        said = spoken(text)
        if len(said) > self.max_chars:
            log.warning("text of %d characters cut to %d for speech", len(said), self.max_chars)
            said = said[:self.max_chars]
            end = max(said.rfind(mark) for mark in "。！？；")
            if end >= self.max_chars // 2:  # stop at the end of a sentence
                said = said[:end + 1]
        pause = np.zeros(int(self.pause_s * self.sample_rate))
        pieces: list[np.ndarray] = []
        for part in split_for_speech(said, self.part_chars):
            audio = await self._synthesize(part)
            if audio.size:
                if pieces:
                    pieces.append(pause)
                pieces.append(audio)
        return to_pcm16(np.concatenate(pieces)) if pieces else b""

    def parts(self, text: str) -> list[str]:
        return speech_parts(text)

    def _command(self) -> list[str]:
        path = shutil.which(self.executable)
        if path is None:
            raise SpeechSynthesisError(
                f"text-to-speech program {self.executable!r} not found: install the "
                "espeak-ng package (make voice-deps, or apt-get install espeak-ng)")
        command = [path, "-v", self.voice, "-s", str(self.rate_wpm), "-b", "1",
                   "--stdin", "--stdout"]
        if self.pitch is not None:
            command += ["-p", str(self.pitch)]
        return command

    async def _synthesize(self, text: str) -> np.ndarray:
        command = self._command()
        try:
            process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise SpeechSynthesisError(f"could not start {command[0]}: {exc}") from exc
        self.processes_started += 1
        try:
            out, err = await asyncio.wait_for(
                process.communicate(text.encode("utf-8") + b"\n"), self.timeout_s)
        except TimeoutError:
            raise SpeechSynthesisError(
                f"espeak-ng took longer than {self.timeout_s:g} s") from None
        finally:
            if process.returncode is None:  # timed out or cancelled: no orphan left behind
                process.kill()
                await process.wait()
        message = err.decode("utf-8", "replace").strip()
        if process.returncode != 0:
            raise SpeechSynthesisError(
                f"espeak-ng failed (exit {process.returncode}, voice {self.voice!r})"
                + (f": {message}" if message else ""))
        # tens of milliseconds of numpy: off the event loop, which paces the calls' audio
        audio = await asyncio.to_thread(self._decode, out)
        if audio.size == 0:
            raise SpeechSynthesisError("espeak-ng wrote no audio"
                                       + (f": {message}" if message else ""))
        return audio

    def _decode(self, wav: bytes) -> np.ndarray:
        samples, rate = parse_wav(wav)
        audio = _trim_silence(resample(samples, rate, self.sample_rate), self.sample_rate)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > _PEAK:  # espeak peaks near full scale; the filter's ripple would clip
            audio *= _PEAK / peak
        return audio


# ------------------------------------------------------------------ cache

class CachedSpeaker:
    """Keeps what ``inner`` rendered, by text; the least recently used goes first.

    Texts rendered by ``warm()`` (the fixed prompts) are kept for good and do
    not count towards ``max_items``. Concurrent requests for the same text
    that is not yet cached share one synthesis; a failure is not cached.
    """

    def __init__(self, inner: Speaker, max_items: int = 256, *, warm_concurrency: int = 2) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.inner = inner
        self.max_items = max_items
        self.warm_concurrency = warm_concurrency
        self.hits = 0
        self.misses = 0
        self._pinned: dict[str, bytes] = {}
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, asyncio.Task[bytes]] = {}

    def __len__(self) -> int:
        return len(self._pinned) + len(self._recent)

    def parts(self, text: str) -> list[str]:
        """The inner speaker's parts of ``text`` (the whole text if it has none)."""
        split = getattr(self.inner, "parts", None)
        return split(text) if split is not None else [text]

    async def speak(self, text: str) -> bytes:
        cached = self._lookup(text)
        if cached is not None:
            self.hits += 1
            return cached
        task = self._pending.get(text)
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self.inner.speak(text))
            self._pending[text] = task
            task.add_done_callback(lambda done: self._settle(text, done))
        # shielded: a caller who hangs up does not cancel the others' synthesis
        return await asyncio.shield(task)

    async def warm(self, texts: Iterable[str]) -> None:
        """Render ``texts`` once each, a few at a time, and keep them for good.

        Raises the first ``SpeechSynthesisError`` after all were tried.
        """
        unique = list(dict.fromkeys(texts))
        gate = asyncio.Semaphore(self.warm_concurrency)

        async def render(text: str) -> None:
            async with gate:
                pcm = await self.speak(text)
            self._recent.pop(text, None)
            self._pinned[text] = pcm

        results = await asyncio.gather(*(render(t) for t in unique), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _lookup(self, text: str) -> bytes | None:
        if text in self._pinned:
            return self._pinned[text]
        if text in self._recent:
            self._recent.move_to_end(text)
            return self._recent[text]
        return None

    def _settle(self, text: str, task: asyncio.Task[bytes]) -> None:
        self._pending.pop(text, None)
        if task.cancelled() or task.exception() is not None:
            return
        if text in self._pinned:
            return
        self._recent[text] = task.result()
        self._recent.move_to_end(text)
        while len(self._recent) > self.max_items:
            self._recent.popitem(last=False)
