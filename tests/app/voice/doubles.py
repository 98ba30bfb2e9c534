"""Test doubles for the voice gateway: a scripted recognizer, a tone speaker, a Rasa REST channel.

- ``ScriptedModel``: stands in for the speech model. Each utterance the
  client "says" (audio above a threshold, ended by ``end_silence_s`` of
  silence) is recognised as the next text of its script: a partial at the
  start of the utterance (when the text is not empty), the final at its end.
- ``ToneSpeaker``: "speaks" a text as a tone of 20 ms per character (one
  frame per character), and records what it was asked to say.
- ``RasaDouble``: Rasa's REST channel on 127.0.0.1 (aiohttp): records
  ``(sender, message)`` and answers scripted replies.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from voice.audio import FRAME_BYTES, FRAME_SECONDS, rms, tone

VOICED_RMS = 500.0


@dataclass(frozen=True)
class Heard:
    """The shape of ``voice.asr.AsrEvent``."""

    kind: str  # "partial" | "final"
    text: str


class ScriptedRecognizer:
    def __init__(self, model: ScriptedModel, end_silence_s: float) -> None:
        self._model = model
        self._end_silence_s = end_silence_s
        self._text: str | None = None  # the utterance being heard
        self._silent_s = 0.0
        self.grammar: list[str] | None = None
        self.fed_bytes = 0
        self.closed = False

    async def feed(self, pcm: bytes) -> list[Heard]:
        self.fed_bytes += len(pcm)
        events: list[Heard] = []
        for start in range(0, len(pcm), FRAME_BYTES):
            voiced = rms(pcm[start:start + FRAME_BYTES]) > VOICED_RMS
            if voiced:
                self._silent_s = 0.0
                if self._text is None:
                    self._text = self._model.next_text()
                    if self._text:
                        events.append(Heard("partial", self._text[:2]))
            elif self._text is not None:
                self._silent_s += FRAME_SECONDS
                if self._silent_s >= self._end_silence_s - 1e-9:
                    events.append(Heard("final", self._text))
                    self._text = None
        return events

    async def flush(self) -> Heard | None:
        text, self._text = self._text, None
        return None if text is None else Heard("final", text)

    def set_grammar(self, phrases: list[str] | None) -> None:
        self.grammar = phrases
        self._model.grammars.append(phrases)

    def reset(self) -> None:
        self._text = None

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._model.closed += 1


class ScriptedModel:
    def __init__(self, *texts: str, vocabulary: set[str] | None = None) -> None:
        self.script: deque[str] = deque(texts)
        #: characters the model knows (None: all); a phrase with another is missing
        self.vocabulary = vocabulary
        self.grammars: list[list[str] | None] = []
        self.checked: list[list[str]] = []
        self._recognizers: list[weakref.ref[ScriptedRecognizer]] = []
        self.made = 0
        self.closed = 0

    def say(self, *texts: str) -> None:
        """What the caller's next utterances are recognised as."""
        self.script.extend(texts)

    def next_text(self) -> str:
        return self.script.popleft() if self.script else "嗯"

    def check_phrases(self, phrases: list[str]) -> tuple[list[str], list[str]]:
        self.checked.append(list(phrases))
        if self.vocabulary is None:
            return list(phrases), []
        usable = [p for p in phrases if set(p) <= self.vocabulary]
        missing = sorted({c for p in phrases for c in p if c not in self.vocabulary})
        return usable, missing

    def recognizer(self, sample_rate: int = 8000, *, end_silence_s: float,
                   max_utterance_s: float) -> ScriptedRecognizer:
        recognizer = ScriptedRecognizer(self, end_silence_s)
        self._recognizers.append(weakref.ref(recognizer))
        self.made += 1
        return recognizer

    @property
    def live_recognizers(self) -> int:
        return sum(1 for ref in self._recognizers if ref() is not None)


class ToneSpeaker:
    SECONDS_PER_CHAR = FRAME_SECONDS

    def __init__(self) -> None:
        self.spoken: list[str] = []

    async def speak(self, text: str) -> bytes:
        self.spoken.append(text)
        return tone(len(text) * self.SECONDS_PER_CHAR, 440.0)

    @classmethod
    def frames_for(cls, text: str) -> int:
        return len(text)


Replies = list[dict[str, Any]]


class RasaDouble:
    """Rasa's REST channel: ``replies[text]`` (or ``respond(sender, text)``) answers each message."""

    GREETING = "您好，这里是社区服务热线。请说说您要反映什么问题。"

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        #: each message's ``metadata`` (None when it had none), in order
        self.metadata: list[dict[str, Any] | None] = []
        self.replies: dict[str, Replies] = {"/greet": [{"text": self.GREETING}]}
        self.respond: Callable[[str, str], Replies] | None = None
        self.status = 200
        self.received = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def answer(self, text: str, *replies: dict[str, Any]) -> None:
        self.replies[text] = list(replies)

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender, text = body["sender"], body["message"]
        self.messages.append((sender, text))
        self.metadata.append(body.get("metadata"))
        self.received.set()
        if self.status != 200:
            return web.Response(status=self.status)
        if text in self.replies:
            replies = self.replies[text]
        elif self.respond is not None:
            replies = self.respond(sender, text)
        else:
            replies = [{"text": f"好的，您说的是：{text}。"}]
        return web.json_response([{"recipient_id": sender, **r} for r in replies])

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def texts_from(self, sender: str) -> list[str]:
        return [text for s, text in self.messages if s == sender]
